//! The outbox (SPEC section 10, outbound): local changes waiting to be
//! pushed to Jira, and the pure rules of retrying them.

use super::{Id, Millis};
use serde::{Deserialize, Serialize};

/// What an entry asks Jira to do to an issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxKind {
    Assign,
    Unassign,
    Resolve,
    Unresolve,
}

impl OutboxKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxKind::Assign => "assign",
            OutboxKind::Unassign => "unassign",
            OutboxKind::Resolve => "resolve",
            OutboxKind::Unresolve => "unresolve",
        }
    }

    /// The Jira field it changes: entries of one field replace each other.
    pub fn field(self) -> Field {
        match self {
            OutboxKind::Assign | OutboxKind::Unassign => Field::Assignee,
            OutboxKind::Resolve | OutboxKind::Unresolve => Field::Status,
        }
    }

    pub const ALL: [OutboxKind; 4] = [
        OutboxKind::Assign,
        OutboxKind::Unassign,
        OutboxKind::Resolve,
        OutboxKind::Unresolve,
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Assignee,
    Status,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutboxState {
    Pending,
    Done,
    Dead,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Done => "done",
            OutboxState::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<OutboxState> {
        [OutboxState::Pending, OutboxState::Done, OutboxState::Dead]
            .into_iter()
            .find(|o| o.as_str() == s)
    }
}

/// One change to push to one Jira issue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Assigned when it is written (ids grow: newer entries have larger ids).
    pub id: Id,
    pub integration: Id,
    /// The Jira issue key.
    pub key: String,
    pub kind: OutboxKind,
    /// The local user's email (`assign`).
    pub email: Option<String>,
    /// The local user (`assign`).
    pub user: Option<Id>,
    /// The group whose change it pushes.
    pub group: Id,
    pub created: Millis,
    pub attempts: u32,
    pub next_try: Millis,
    pub state: OutboxState,
    pub last_error: Option<String>,
}

/// How a try ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TryOutcome {
    /// Jira has the change (or already had it).
    Done,
    /// Try again later: connect error, timeout, 5xx, 429 (with Jira's
    /// `Retry-After`, seconds, when it gave one).
    Retry {
        error: String,
        retry_after: Option<u64>,
    },
    /// Jira refused the credentials (401 / 403): the entry waits, never
    /// dead on this alone; the integration's `last_error` says so.
    Refused {
        error: String,
        retry_after: Option<u64>,
    },
    /// Never going to work (another 4xx, no Jira user, no mapping, no
    /// transition): dead with this message.
    Dead { error: String },
}

/// The next try's delay, seconds, after `attempts` failed tries: 1 s
/// doubling up to `max` (`jira.outbound_max_backoff_secs`), with jitter
/// (`jitter` in 0..1 takes up to a quarter off), and never before Jira's
/// `Retry-After` (even beyond `max`).
pub fn backoff_secs(attempts: u32, max: u64, jitter: f64, retry_after: Option<u64>) -> f64 {
    let base = 2f64
        .powi(attempts.saturating_sub(1).min(30) as i32)
        .min(max as f64);
    let delay = base * (1.0 - 0.25 * jitter.clamp(0.0, 1.0));
    match retry_after {
        Some(r) => delay.max(r as f64),
        None => delay.max(1.0f64.min(max as f64)),
    }
}

/// Has an entry created at `created` been failing too long (`give_up`
/// seconds, `jira.outbound_give_up_secs`) by `now`?
pub fn given_up(created: Millis, now: Millis, give_up_secs: u64) -> bool {
    now.saturating_sub(created) > (give_up_secs as i64).saturating_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_one_second_up_to_the_max_with_jitter() {
        assert_eq!(backoff_secs(1, 300, 0.0, None), 1.0);
        assert_eq!(backoff_secs(2, 300, 0.0, None), 2.0);
        assert_eq!(backoff_secs(5, 300, 0.0, None), 16.0);
        assert_eq!(backoff_secs(20, 300, 0.0, None), 300.0);
        // Jitter takes up to a quarter off, never below 1 s.
        assert_eq!(backoff_secs(5, 300, 1.0, None), 12.0);
        assert_eq!(backoff_secs(1, 300, 1.0, None), 1.0);
        // Retry-After is honoured, even beyond the longest backoff.
        assert_eq!(backoff_secs(1, 300, 0.0, Some(30)), 30.0);
        assert_eq!(backoff_secs(1, 10, 0.0, Some(600)), 600.0);
    }

    #[test]
    fn entries_give_up_after_the_configured_time() {
        assert!(!given_up(0, 86_400_000, 86_400));
        assert!(given_up(0, 86_400_001, 86_400));
    }

    #[test]
    fn kinds_pair_into_fields() {
        assert_eq!(OutboxKind::Assign.field(), OutboxKind::Unassign.field());
        assert_eq!(OutboxKind::Resolve.field(), Field::Status);
        assert_ne!(OutboxKind::Assign.field(), OutboxKind::Resolve.field());
        assert_eq!(OutboxState::parse("dead"), Some(OutboxState::Dead));
        assert_eq!(OutboxState::parse("x"), None);
    }
}
