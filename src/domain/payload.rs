//! Jira webhook payload parsing (SPEC section 4, steps 4 and 5).
//!
//! Reads the body bytes straight into the few values used (`doc.rs`): unknown
//! fields are skipped without being stored, and every structural problem
//! becomes a [`PayloadError`] naming what is missing, instead of a crash. The
//! verdict is the one a `serde_json::Value` walk gives (`reference.rs`, kept
//! for the tests), for every input (`equivalence.rs`).

mod doc;
#[cfg(test)]
mod equivalence;
#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;

use doc::{Top, Val};

/// What a delivery asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// No `changelog`, or a null / empty-object one.
    MissingChangelog,
    /// A changelog without an `assignee` item.
    NotAnAssigneeChange,
    /// An assignee change whose new assignee has no (visible) email address;
    /// with the account's `name` (else its `accountId`) when the delivery
    /// gives one that a Jira user link may map (SPEC section 11).
    MissingAssigneeEmail(Option<String>),
    /// The issue was unassigned.
    Unassign,
    /// The issue was assigned to the user with this email.
    Assign(String),
}

impl Action {
    /// True for the actions that take part in ordering and duplicate checks.
    pub fn is_assignee_change(&self) -> bool {
        matches!(
            self,
            Action::MissingAssigneeEmail(_) | Action::Unassign | Action::Assign(_)
        )
    }
}

/// The status item of a changelog: Jira's status ids before and after.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusItem {
    pub from: Option<String>,
    pub to: Option<String>,
}

/// A parsed delivery: the facts the delivery log keeps plus the action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload {
    /// `issue.key`, when present (always present for an assignee change).
    pub key: Option<String>,
    /// `changelog.id` as a string (Jira sends a string or a number).
    pub changelog_id: Option<String>,
    /// `timestamp` (ms since the epoch).
    pub timestamp: Option<i64>,
    /// A `timestamp` was there but is not an integer: it is treated as
    /// absent (the caller logs it).
    pub bad_timestamp: bool,
    /// The assignee part.
    pub action: Action,
    /// The status part: the last changelog item naming `status`.
    pub status: Option<StatusItem>,
    /// `issue.fields.status.statusCategory.key`, when the delivery carries it
    /// (the category of the status the issue is in now).
    pub status_category: Option<String>,
    /// A `Key` item: the issue moved from the first key to the second
    /// (SPEC section 4 step 5c), both checked and upper-cased.
    pub moved: Option<(String, String)>,
}

/// A delivery Jira should not have sent: answered 400 with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PayloadError(pub String);

/// Why [`parse_bytes`] refused a body (answered 400 with its `Display`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Not JSON at all: serde_json's message (with line and column).
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    /// JSON, but not a delivery Jira should have sent.
    #[error(transparent)]
    Invalid(#[from] PayloadError),
}

fn bad(msg: impl Into<String>) -> PayloadError {
    PayloadError(msg.into())
}

/// Longest issue key and changelog id accepted (Jira's are far shorter);
/// anything longer is refused rather than cut.
pub const MAX_KEY_LEN: usize = 255;

/// Longest assignee email accepted (RFC 5321 allows 254).
pub const MAX_EMAIL_LEN: usize = 320;

/// An issue key: 1 to 255 bytes, no whitespace, control characters or `/`
/// (the rule of `POST /v1/links`, so every key that can be linked passes).
pub fn check_issue_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(format!("must be 1 to {MAX_KEY_LEN} characters"));
    }
    if key
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '/')
    {
        return Err("must not hold whitespace, control characters or `/`".into());
    }
    Ok(())
}

/// An issue key as links and delivery state store it: upper-cased (ASCII),
/// so that keys match case-insensitively (`tes-41` is Jira's `TES-41`).
/// Borrows when the key is upper case already (Jira's always are).
pub fn normalize_issue_key(key: &str) -> std::borrow::Cow<'_, str> {
    if key.bytes().any(|b| b.is_ascii_lowercase()) {
        std::borrow::Cow::Owned(key.to_ascii_uppercase())
    } else {
        std::borrow::Cow::Borrowed(key)
    }
}

/// Facts of a delivery: `issue.key`, `changelog.id`, `timestamp`.
pub type Facts = (Option<String>, Option<String>, Option<i64>);

/// Best-effort facts of any body for the delivery log (key, changelog id,
/// timestamp), ignoring whatever is malformed; nothing when the body is not
/// JSON. Used when a delivery is refused (bad token, bad request) so
/// operators still see which issue it was about.
pub fn facts_bytes(body: &[u8]) -> Facts {
    match serde_json::from_slice::<Val<Top>>(body) {
        Ok(Val::Object(top)) => facts_of(&top),
        _ => Facts::default(),
    }
}

fn facts_of(top: &Top) -> Facts {
    let sane = |s: &str| !s.is_empty() && s.len() <= MAX_KEY_LEN;
    let key = match Val::object(&top.issue).and_then(|i| i.key.as_ref()) {
        Some(Val::Str(k)) if sane(k) => Some(k.to_string()),
        _ => None,
    };
    let changelog_id = match Val::object(&top.changelog).and_then(|c| c.id.as_ref()) {
        Some(Val::Str(s)) if sane(s) => Some(s.to_string()),
        Some(Val::Num(n)) => Some(n.to_string()),
        _ => None,
    };
    let timestamp = match &top.timestamp {
        Some(Val::Num(n)) => n.as_i64(),
        _ => None,
    };
    (key, changelog_id, timestamp)
}

/// Parse a delivery body.
pub fn parse_bytes(body: &[u8]) -> Result<Payload, BodyError> {
    match serde_json::from_slice::<Val<Top>>(body) {
        Ok(Val::Object(top)) => Ok(payload_of(&top)?),
        Ok(_) => Err(bad("the delivery must be a JSON object").into()),
        Err(e) => Err(BodyError::NotJson(e.to_string())),
    }
}

/// The rules, in the order that decides which error wins.
fn payload_of(top: &Top) -> Result<Payload, PayloadError> {
    let issue = Val::object(&top.issue);
    let key = match issue.and_then(|i| i.key.as_ref()) {
        None | Some(Val::Null) => None,
        Some(Val::Str(s)) if !s.trim().is_empty() => Some(s.to_string()),
        Some(Val::Str(_)) => None,
        Some(_) => return Err(bad("`issue.key` must be a string")),
    };
    // A timestamp that is not an integer is treated as absent.
    let (timestamp, bad_timestamp) = match &top.timestamp {
        None | Some(Val::Null) => (None, false),
        Some(Val::Num(n)) => (n.as_i64(), n.as_i64().is_none()),
        Some(Val::Str(s)) => match s.trim().parse::<i64>() {
            Ok(t) => (Some(t), false),
            Err(_) => (None, true),
        },
        Some(_) => (None, true),
    };
    let changelog = match &top.changelog {
        None | Some(Val::Null) => None,
        Some(Val::Object(c)) if !c.any_key => None,
        Some(Val::Object(c)) => Some(c),
        Some(_) => return Err(bad("`changelog` must be an object")),
    };
    let Some(changelog) = changelog else {
        return Ok(Payload {
            key,
            changelog_id: None,
            timestamp,
            bad_timestamp,
            action: Action::MissingChangelog,
            status: None,
            status_category: None,
            moved: None,
        });
    };
    let changelog_id = match &changelog.id {
        None | Some(Val::Null) => None,
        Some(Val::Str(s)) if s.is_empty() => None,
        Some(Val::Str(s)) if s.len() > MAX_KEY_LEN => {
            return Err(bad(format!(
                "`changelog.id` is longer than {MAX_KEY_LEN} characters"
            )))
        }
        Some(Val::Str(s)) => Some(s.to_string()),
        Some(Val::Num(n)) => Some(n.to_string()),
        Some(_) => return Err(bad("`changelog.id` must be a string or a number")),
    };
    let items = match &changelog.items {
        Some(Val::Array(items)) => items,
        None | Some(Val::Null) => return Err(bad("`changelog.items` is missing")),
        Some(_) => return Err(bad("`changelog.items` must be an array")),
    };
    if let Some(i) = items.first_non_object {
        return Err(bad(format!("`changelog.items[{i}]` is not an object")));
    }
    // A malformed delivery never changes a group: `issue`, `issue.fields`
    // and the assignee, when present, must have their shapes.
    match &top.issue {
        None | Some(Val::Object(_)) => {}
        Some(_) => return Err(bad("`issue` must be an object")),
    }
    match issue.and_then(|i| i.fields.as_ref()) {
        None | Some(Val::Object(_)) => {}
        Some(_) => return Err(bad("`issue.fields` must be an object")),
    }
    match issue
        .and_then(|i| Val::object(&i.fields))
        .and_then(|f| f.assignee.as_ref())
    {
        None | Some(Val::Null) | Some(Val::Object(_)) => {}
        Some(_) => return Err(bad("`issue.fields.assignee` must be an object or null")),
    }
    let moved = moved_keys(items.moved.clone())?;
    let fields = issue.and_then(|i| Val::object(&i.fields));
    let status_category = match fields
        .and_then(|f| Val::object(&f.status))
        .and_then(|s| Val::object(&s.category))
        .and_then(|c| c.key.as_ref())
    {
        Some(Val::Str(k)) => Some(k.to_string()),
        _ => None,
    };
    let mut p = Payload {
        key,
        changelog_id,
        timestamp,
        bad_timestamp,
        action: Action::NotAnAssigneeChange,
        status: items.status.clone(),
        status_category,
        moved,
    };
    if !items.assignee && p.status.is_none() && p.moved.is_none() {
        return Ok(p);
    }
    if let (None, Some((_, to))) = (&p.key, &p.moved) {
        p.key = Some(to.clone());
    }
    match &p.key {
        None if items.assignee => {
            return Err(bad(
                "an assignee change needs `issue.key`, and the delivery has none",
            ))
        }
        None => {
            return Err(bad(
                "a status change needs `issue.key`, and the delivery has none",
            ))
        }
        Some(k) => check_issue_key(k).map_err(|e| bad(format!("`issue.key` {e}")))?,
    }
    if !items.assignee {
        return Ok(p);
    }
    p.action = match fields.and_then(|f| f.assignee.as_ref()) {
        None | Some(Val::Null) => Action::Unassign,
        Some(Val::Object(a)) => match &a.email {
            Some(Val::Str(e)) if e.trim().len() > MAX_EMAIL_LEN => {
                return Err(bad(format!(
                    "`issue.fields.assignee.emailAddress` is longer than {MAX_EMAIL_LEN} characters"
                )))
            }
            Some(Val::Str(e)) if !e.trim().is_empty() => Action::Assign(e.trim().to_string()),
            _ => Action::MissingAssigneeEmail(jira_account(
                a.name.as_ref().and_then(Val::str),
                a.account_id.as_ref().and_then(Val::str),
            )),
        },
        Some(_) => unreachable!("the assignee's shape was checked above"),
    };
    Ok(p)
}

/// A `Key` item's old and new key: both must be issue keys; a move to the
/// same key (case folded) is no move.
pub fn moved_keys(
    item: Option<(Option<String>, Option<String>)>,
) -> Result<Option<(String, String)>, PayloadError> {
    let Some((from, to)) = item else {
        return Ok(None);
    };
    let (Some(from), Some(to)) = (from, to) else {
        return Err(bad(
            "a `Key` item (the issue moved) needs `fromString` and `toString`: the old and the new \
             issue key",
        ));
    };
    for (what, k) in [("fromString", &from), ("toString", &to)] {
        check_issue_key(k).map_err(|e| bad(format!("the `Key` item's `{what}` {e}")))?;
    }
    let (from, to) = (
        normalize_issue_key(&from).into_owned(),
        normalize_issue_key(&to).into_owned(),
    );
    Ok((from != to).then_some((from, to)))
}

/// The Jira account of an assignee without an email: its `name`, else its
/// `accountId`, when it is one an operator could have linked
/// ([`crate::domain::check_jira_user`]); anything else is no account.
pub fn jira_account(name: Option<&str>, account_id: Option<&str>) -> Option<String> {
    [name, account_id]
        .into_iter()
        .flatten()
        .find(|n| crate::domain::check_jira_user(n).is_ok())
        .map(str::to_string)
}
