//! Integration tests: the real daemon, a real socket, real HTTP.

mod common;
mod smoke;
mod cache;
mod deliveries;
mod import_links;
mod sync;
mod webhook;
