//! The Jira protocol: the webhook JWT, OAuth 1.0a RSA-SHA1 signing, the HTTP
//! client and the connect request's rules. No store access and no actors:
//! the handshake that uses them is a service of the `JiraActor`
//! (`crate::actors::jira`).

pub mod client;
pub mod connect;
pub mod jwt;
pub mod oauth;
pub mod response;
