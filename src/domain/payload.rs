//! Jira webhook payload parsing (SPEC section 4, steps 4 and 5).
//!
//! Works on a `serde_json::Value` so that unknown fields are ignored and every
//! structural problem becomes a [`PayloadError`] naming what is missing,
//! instead of a crash.

use serde_json::Value;

/// What a delivery asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// No `changelog`, or a null / empty-object one.
    MissingChangelog,
    /// A changelog without an `assignee` item.
    NotAnAssigneeChange,
    /// An assignee change whose new assignee has no (visible) email address.
    MissingAssigneeEmail,
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
            Action::MissingAssigneeEmail | Action::Unassign | Action::Assign(_)
        )
    }
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
    pub action: Action,
}

/// A delivery Jira should not have sent: answered 400 with this message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PayloadError(pub String);

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
    let timestamp = match obj.get("timestamp") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => match n.as_i64() {
            Some(t) => Some(t),
            None => return Err(bad("`timestamp` must be an integer (milliseconds)")),
        },
        Some(Value::String(s)) => match s.trim().parse::<i64>() {
            Ok(t) => Some(t),
            Err(_) => return Err(bad("`timestamp` must be an integer (milliseconds)")),
        },
        Some(_) => return Err(bad("`timestamp` must be an integer (milliseconds)")),
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
            action: Action::MissingChangelog,
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
    for (i, item) in items.iter().enumerate() {
        let Some(item) = item.as_object() else {
            return Err(bad(format!("`changelog.items[{i}]` is not an object")));
        };
        if item.get("field").and_then(Value::as_str) == Some("assignee") {
            assignee_change = true;
        }
    }
    let mut p = Payload {
        key,
        changelog_id,
        timestamp,
        action: Action::NotAnAssigneeChange,
    };
    if !assignee_change {
        return Ok(p);
    }
    match &p.key {
        None => {
            return Err(bad(
                "an assignee change needs `issue.key`, and the delivery has none",
            ))
        }
        Some(k) => check_issue_key(k).map_err(|e| bad(format!("`issue.key` {e}")))?,
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
            _ => Action::MissingAssigneeEmail,
        },
        Some(_) => return Err(bad("`issue.fields.assignee` must be an object or null")),
    };
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn assignee_delivery(assignee: Value) -> Value {
        json!({
            "timestamp": 1000,
            "webhookEvent": "jira:issue_updated",
            "issue": {"key": "APP-7", "fields": {"assignee": assignee}},
            "changelog": {"id": "5", "items": [{"field": "assignee"}]},
            "unknown": {"ignored": true}
        })
    }

    #[test]
    fn assign_with_email() {
        let p = parse(&assignee_delivery(json!({"emailAddress": "a@b.org"}))).unwrap();
        assert_eq!(p.action, Action::Assign("a@b.org".into()));
        assert_eq!(p.key.as_deref(), Some("APP-7"));
        assert_eq!(p.changelog_id.as_deref(), Some("5"));
        assert_eq!(p.timestamp, Some(1000));
    }

    #[test]
    fn unassign_when_null_or_absent() {
        assert_eq!(
            parse(&assignee_delivery(Value::Null)).unwrap().action,
            Action::Unassign
        );
        let mut v = assignee_delivery(Value::Null);
        v["issue"]["fields"]
            .as_object_mut()
            .unwrap()
            .remove("assignee");
        assert_eq!(parse(&v).unwrap().action, Action::Unassign);
    }

    #[test]
    fn missing_or_empty_email() {
        for a in [
            json!({"name": "bob"}),
            json!({"emailAddress": ""}),
            json!({"emailAddress": null}),
        ] {
            assert_eq!(
                parse(&assignee_delivery(a)).unwrap().action,
                Action::MissingAssigneeEmail
            );
        }
    }

    #[test]
    fn missing_changelog_variants() {
        for v in [
            json!({"issue": {"key": "A-1"}}),
            json!({"changelog": null}),
            json!({"changelog": {}}),
        ] {
            assert_eq!(parse(&v).unwrap().action, Action::MissingChangelog, "{v}");
        }
    }

    #[test]
    fn numeric_changelog_id() {
        let mut v = assignee_delivery(Value::Null);
        v["changelog"]["id"] = json!(10176);
        assert_eq!(parse(&v).unwrap().changelog_id.as_deref(), Some("10176"));
        v["changelog"]["id"] = json!([1]);
        assert!(parse(&v).unwrap_err().0.contains("changelog.id"));
    }

    #[test]
    fn not_an_assignee_change() {
        let v = json!({"changelog": {"id": 1, "items": [{"field": "status"}]}});
        let p = parse(&v).unwrap();
        assert_eq!(p.action, Action::NotAnAssigneeChange);
        assert_eq!(p.key, None);
        assert_eq!(p.timestamp, None);
    }

    #[test]
    fn bad_requests_name_what_is_missing() {
        let e = parse(&json!({"changelog": {"id": 1}})).unwrap_err();
        assert!(e.0.contains("changelog.items"), "{e}");
        let e = parse(&json!({"changelog": {"items": {"field": "assignee"}}})).unwrap_err();
        assert!(e.0.contains("changelog.items"), "{e}");
        let e =
            parse(&json!({"changelog": {"items": [{"field": "status"}, "assignee"]}})).unwrap_err();
        assert!(e.0.contains("changelog.items[1]"), "{e}");
        let e = parse(&json!({"changelog": {"items": [{"field": "assignee"}]}})).unwrap_err();
        assert!(e.0.contains("issue.key"), "{e}");
        let e =
            parse(&json!({"issue": {"key": ""}, "changelog": {"items": [{"field": "assignee"}]}}))
                .unwrap_err();
        assert!(e.0.contains("issue.key"), "{e}");
        let e = parse(&json!([1, 2])).unwrap_err();
        assert!(e.0.contains("object"), "{e}");
        let e = parse(&json!({"changelog": "x"})).unwrap_err();
        assert!(e.0.contains("changelog"), "{e}");
        let e = parse(&json!({"timestamp": "soon", "changelog": {}})).unwrap_err();
        assert!(e.0.contains("timestamp"), "{e}");
        let e = parse(&assignee_delivery(json!("bob"))).unwrap_err();
        assert!(e.0.contains("issue.fields.assignee"), "{e}");
    }

    #[test]
    fn oversized_or_odd_keys_ids_and_emails_are_refused_not_cut() {
        let mut v = assignee_delivery(json!({"emailAddress": "a@b.org"}));
        v["issue"]["key"] = json!("K".repeat(70_000));
        assert!(parse(&v).unwrap_err().0.contains("issue.key"));
        v["issue"]["key"] = json!("K".repeat(255));
        assert!(parse(&v).is_ok());
        for k in ["APP 1", "APP/1", "APP-1\n", "APP\u{0}1"] {
            v["issue"]["key"] = json!(k);
            assert!(parse(&v).unwrap_err().0.contains("issue.key"), "{k:?}");
        }
        v["issue"]["key"] = json!("APP-1");
        v["changelog"]["id"] = json!("9".repeat(256));
        assert!(parse(&v).unwrap_err().0.contains("changelog.id"));
        v["changelog"]["id"] = json!("1");
        v["issue"]["fields"]["assignee"]["emailAddress"] = json!("a".repeat(400));
        assert!(parse(&v).unwrap_err().0.contains("emailAddress"));
    }

    #[test]
    fn facts_are_best_effort() {
        let v = json!({"timestamp": 7, "issue": {"key": "A-1"}, "changelog": {"id": 3}});
        assert_eq!(facts(&v), (Some("A-1".into()), Some("3".into()), Some(7)));
        assert_eq!(facts(&json!([1])), (None, None, None));
        let v = json!({"timestamp": "x", "issue": {"key": 5}, "changelog": "y"});
        assert_eq!(facts(&v), (None, None, None));
    }

    #[test]
    fn assignee_change_among_other_items() {
        let v = json!({
            "issue": {"key": "A-1", "fields": {"assignee": {"emailAddress": " x@y.org "}}},
            "changelog": {"items": [{"field": "status"}, {"field": "assignee"}]}
        });
        let p = parse(&v).unwrap();
        assert_eq!(p.action, Action::Assign("x@y.org".into()));
        assert_eq!(p.changelog_id, None);
    }
}
