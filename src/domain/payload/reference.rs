//! The `serde_json::Value` implementation of payload parsing that
//! [`super::parse_bytes`] and [`super::facts_bytes`] replaced, kept verbatim
//! as the reference they are tested against (`equivalence.rs`) and measured
//! against (`examples/parse_bench.rs`, which includes this file). Not built
//! into the daemon.

use super::{
    check_issue_key, jira_account, moved_keys, Action, Payload, PayloadError, StatusItem,
    MAX_EMAIL_LEN, MAX_KEY_LEN,
};
use serde_json::Value;

fn bad(msg: impl Into<String>) -> PayloadError {
    PayloadError(msg.into())
}

/// Best-effort facts of any JSON body for the delivery log (key, changelog
/// id, timestamp), ignoring whatever is malformed. Used when a delivery is
/// refused (bad token, bad request) so operators still see which issue it was about.
pub fn facts(body: &Value) -> (Option<String>, Option<String>, Option<i64>) {
    let key = body
        .get("issue")
        .and_then(|i| i.get("key"))
        .and_then(Value::as_str)
        .filter(|k| !k.is_empty() && k.len() <= 255)
        .map(str::to_string);
    let changelog_id = match body.get("changelog").and_then(|c| c.get("id")) {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 255 => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let timestamp = body.get("timestamp").and_then(Value::as_i64);
    (key, changelog_id, timestamp)
}

/// Parse a delivery body (already decoded as JSON).
pub fn parse(body: &Value) -> Result<Payload, PayloadError> {
    let Some(obj) = body.as_object() else {
        return Err(bad("the delivery must be a JSON object"));
    };
    let key = match obj.get("issue").and_then(|i| i.get("key")) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.clone()),
        Some(Value::String(_)) => None,
        Some(_) => return Err(bad("`issue.key` must be a string")),
    };
    let (timestamp, bad_timestamp) = match obj.get("timestamp") {
        None | Some(Value::Null) => (None, false),
        Some(Value::Number(n)) => (n.as_i64(), n.as_i64().is_none()),
        Some(Value::String(s)) => match s.trim().parse::<i64>() {
            Ok(t) => (Some(t), false),
            Err(_) => (None, true),
        },
        Some(_) => (None, true),
    };
    let changelog = match obj.get("changelog") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) if m.is_empty() => None,
        Some(Value::Object(m)) => Some(m),
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
    let changelog_id = match changelog.get("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) if s.len() > MAX_KEY_LEN => {
            return Err(bad(format!(
                "`changelog.id` is longer than {MAX_KEY_LEN} characters"
            )))
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => return Err(bad("`changelog.id` must be a string or a number")),
    };
    let items = match changelog.get("items") {
        Some(Value::Array(items)) => items,
        None | Some(Value::Null) => return Err(bad("`changelog.items` is missing")),
        Some(_) => return Err(bad("`changelog.items` must be an array")),
    };
    let mut assignee_change = false;
    let mut status = None;
    let mut moved = None;
    let id_text = |v: Option<&Value>| match v {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    for (i, item) in items.iter().enumerate() {
        let Some(item) = item.as_object() else {
            return Err(bad(format!("`changelog.items[{i}]` is not an object")));
        };
        let names = |what: &str| {
            item.get("field").and_then(Value::as_str) == Some(what)
                || item.get("fieldId").and_then(Value::as_str) == Some(what)
        };
        if names("assignee") {
            assignee_change = true;
        }
        if item.get("field").and_then(Value::as_str) == Some("Key") {
            let text = |k: &str| match item.get(k) {
                Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                _ => None,
            };
            moved = Some((
                text("fromString").or(id_text(item.get("from"))),
                text("toString").or(id_text(item.get("to"))),
            ));
        }
        if names("status") {
            status = Some(StatusItem {
                from: id_text(item.get("from")),
                to: id_text(item.get("to")),
            });
        }
    }
    let issue = obj.get("issue");
    if issue.is_some_and(|i| !i.is_object()) {
        return Err(bad("`issue` must be an object"));
    }
    let fields = issue.and_then(|i| i.get("fields"));
    if fields.is_some_and(|f| !f.is_object()) {
        return Err(bad("`issue.fields` must be an object"));
    }
    if fields
        .and_then(|f| f.get("assignee"))
        .is_some_and(|a| !a.is_object() && !a.is_null())
    {
        return Err(bad("`issue.fields.assignee` must be an object or null"));
    }
    let moved = moved_keys(moved)?;
    let status_category = fields
        .and_then(|f| f.get("status"))
        .and_then(|s| s.get("statusCategory"))
        .and_then(|c| c.get("key"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut p = Payload {
        key,
        changelog_id,
        timestamp,
        bad_timestamp,
        action: Action::NotAnAssigneeChange,
        status,
        status_category,
        moved,
    };
    if !assignee_change && p.status.is_none() && p.moved.is_none() {
        return Ok(p);
    }
    if let (None, Some((_, to))) = (&p.key, &p.moved) {
        p.key = Some(to.clone());
    }
    match &p.key {
        None if assignee_change => {
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
    if !assignee_change {
        return Ok(p);
    }
    let assignee = body
        .get("issue")
        .and_then(|i| i.get("fields"))
        .and_then(|f| f.get("assignee"));
    p.action = match assignee {
        None | Some(Value::Null) => Action::Unassign,
        Some(Value::Object(a)) => match a.get("emailAddress") {
            Some(Value::String(e)) if e.trim().len() > MAX_EMAIL_LEN => {
                return Err(bad(format!(
                    "`issue.fields.assignee.emailAddress` is longer than {MAX_EMAIL_LEN} characters"
                )))
            }
            Some(Value::String(e)) if !e.trim().is_empty() => Action::Assign(e.trim().to_string()),
            _ => Action::MissingAssigneeEmail(jira_account(
                a.get("name").and_then(Value::as_str),
                a.get("accountId").and_then(Value::as_str),
            )),
        },
        Some(_) => return Err(bad("`issue.fields.assignee` must be an object or null")),
    };
    Ok(p)
}
