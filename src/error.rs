//! The one error kind below the HTTP layer.
//!
//! The store, the actors and the services all answer with [`Error`]; each
//! variant says what kind of failure it is, never which HTTP status it gets.
//! `src/http/error.rs` is the only place that maps it to a status code (and
//! the only `ResponseError`). Protocol errors with more detail (the Jira
//! client's `JiraError`, the JWT's `JwtError`, the payload's `BodyError`)
//! stay where they are made and convert into it.

/// Which step of the Jira connection failed upstream (the OAuth callback
/// page gives a hint per step).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamStep {
    RequestToken,
    AccessToken,
    Webhook,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The request is malformed, or names something that exists but cannot
    /// be used this way.
    #[error("{0}")]
    BadRequest(String),
    /// This does not exist (`"group 7"`; shown as "group 7 not found").
    #[error("{0} not found")]
    NotFound(String),
    /// It exists already, or another request is working on it.
    #[error("{0}")]
    Conflict(String),
    /// The request body is larger than allowed.
    #[error("{0}")]
    TooLarge(String),
    /// The request body did not arrive in time.
    #[error("{0}")]
    Timeout(String),
    /// Jira (or the way to it) failed.
    #[error("{message}")]
    Upstream {
        message: String,
        /// Jira's HTTP status, when Jira answered.
        jira_status: Option<u16>,
        step: UpstreamStep,
    },
    /// Storage failed (sled, a record that does not decode): try again.
    #[error("{0}")]
    Storage(String),
    /// Busy, stopping, or an actor did not answer in time: try again.
    #[error("{0}")]
    Unavailable(String),
    /// A bug: a handler panicked (its actor was restarted).
    #[error("{0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn bad(msg: impl Into<String>) -> Error {
        Error::BadRequest(msg.into())
    }

    /// `what` does not exist: `Error::not_found(format!("group {id}"))`.
    pub fn not_found(what: impl Into<String>) -> Error {
        Error::NotFound(what.into())
    }
}
