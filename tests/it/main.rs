//! Integration tests: the real daemon, a real socket, real HTTP.

mod common;
mod ops;
mod smoke;
