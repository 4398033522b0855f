//! Integration tests: the real daemon, a real socket, real HTTP.

mod cache;
mod common;
mod deliveries;
mod import_links;
mod smoke;
mod sync;
mod webhook;
mod world;
