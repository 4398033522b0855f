//! Integration tests: the real daemon, a real socket, real HTTP.

mod common;
mod daemon_config;
mod directory;
mod ids;
mod project_delete;
mod projects;
mod smoke;
