//! Integration tests: the real daemon, a real socket, real HTTP.

mod common;
mod daemon_config;
mod directory;
mod ids;
mod projects;
mod smoke;
