//! The Jira client's error: what failed, with Jira's status and message
//! when Jira answered.

/// A failure talking to Jira. `status` is Jira's HTTP status when it answered;
/// `message` is Jira's message (or what went wrong on the way).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum JiraError {
    #[error("invalid private key: {0}")]
    BadKey(String),
    #[error("invalid Jira URL: {0}")]
    BadUrl(String),
    #[error("Could not fetch a request token from Jira. {}", why(*.status, .message))]
    RequestToken {
        status: Option<u16>,
        message: String,
    },
    #[error("Missing oauth_token")]
    MissingOAuthToken,
    #[error("Missing OAuth token verifier")]
    MissingVerifier,
    #[error("Could not fetch an access token from Jira. {}", why(*.status, .message))]
    AccessToken {
        status: Option<u16>,
        message: String,
    },
    #[error("Could not create issue webhook in Jira. {}", why(*.status, .message))]
    Webhook {
        status: Option<u16>,
        message: String,
    },
    /// A REST call beyond the handshake (`what`: "read the statuses", ...).
    #[error("Could not {what} in Jira. {}", why(*.status, .message))]
    Rest {
        what: &'static str,
        status: Option<u16>,
        message: String,
    },
}

/// A failure that Jira (or the way to it) caused is `Upstream`, with Jira's
/// status and the step; a bad key, URL or missing verifier is the caller's.
impl From<JiraError> for crate::error::Error {
    fn from(e: JiraError) -> Self {
        use crate::error::{Error, UpstreamStep};
        let step = match &e {
            JiraError::RequestToken { .. } | JiraError::MissingOAuthToken => {
                UpstreamStep::RequestToken
            }
            JiraError::AccessToken { .. } => UpstreamStep::AccessToken,
            JiraError::Webhook { .. } => UpstreamStep::Webhook,
            _ => UpstreamStep::Other,
        };
        if e.is_upstream() {
            Error::Upstream {
                message: e.to_string(),
                jira_status: e.status(),
                step,
            }
        } else {
            Error::BadRequest(e.to_string())
        }
    }
}

fn why(status: Option<u16>, message: &str) -> String {
    match status {
        Some(s) if message.is_empty() => format!("Jira answered HTTP {s}"),
        Some(s) => format!("{message} (Jira answered HTTP {s})"),
        None => message.to_string(),
    }
}

impl JiraError {
    /// Jira's HTTP status, when Jira answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            JiraError::RequestToken { status, .. }
            | JiraError::AccessToken { status, .. }
            | JiraError::Webhook { status, .. }
            | JiraError::Rest { status, .. } => *status,
            _ => None,
        }
    }

    /// Jira's message (or the transport failure), without the prefix.
    pub fn jira_message(&self) -> Option<&str> {
        match self {
            JiraError::RequestToken { message, .. }
            | JiraError::AccessToken { message, .. }
            | JiraError::Webhook { message, .. }
            | JiraError::Rest { message, .. } => Some(message),
            _ => None,
        }
    }

    /// True for failures of Jira or of the way to it (502 on the admin API).
    pub fn is_upstream(&self) -> bool {
        matches!(
            self,
            JiraError::RequestToken { .. }
                | JiraError::MissingOAuthToken
                | JiraError::AccessToken { .. }
                | JiraError::Webhook { .. }
                | JiraError::Rest { .. }
        )
    }
}
