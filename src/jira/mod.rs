//! Everything that speaks Jira: the webhook JWT, OAuth 1.0a RSA-SHA1 signing
//! and the HTTP client.

pub mod client;
pub mod connect;
pub mod handshake;
pub mod jwt;
pub mod oauth;
pub mod response;
