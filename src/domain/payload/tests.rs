//! Unit tests of payload parsing. Each goes through the bytes parser and
//! checks it agrees with the `Value` reference on the same input.

use super::*;
use serde_json::{json, Value};

/// `parse_bytes` of the JSON text of `v`, checked against the reference.
fn parse(v: &Value) -> Result<Payload, PayloadError> {
    let new = parse_bytes(v.to_string().as_bytes());
    assert_eq!(new, reference::parse(v).map_err(BodyError::Invalid), "{v}");
    new.map_err(|e| match e {
        BodyError::Invalid(e) => e,
        e => panic!("{e}"),
    })
}

/// `facts_bytes` of the JSON text of `v`, checked against the reference.
fn facts(v: &Value) -> Facts {
    let new = facts_bytes(v.to_string().as_bytes());
    assert_eq!(new, reference::facts(v), "{v}");
    new
}

fn parse_text(body: &str) -> Result<Payload, String> {
    parse_bytes(body.as_bytes()).map_err(|e| e.to_string())
}

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
    let bob = || Action::MissingAssigneeEmail(Some("bob".into()));
    for (a, want) in [
        (json!({"name": "bob"}), bob()),
        (json!({"name": "bob", "emailAddress": ""}), bob()),
        (
            json!({"accountId": "5b10ac8d82e05b22cc7d4ef5"}),
            Action::MissingAssigneeEmail(Some("5b10ac8d82e05b22cc7d4ef5".into())),
        ),
        (json!({"name": "", "accountId": "bob"}), bob()),
        (
            json!({"name": "x\u{0}y"}),
            Action::MissingAssigneeEmail(None),
        ),
        (json!({"name": 7}), Action::MissingAssigneeEmail(None)),
        // Longer than any name an operator could link: no account, no look-up.
        (
            json!({"name": "x".repeat(256)}),
            Action::MissingAssigneeEmail(None),
        ),
        (json!({"name": " bob"}), Action::MissingAssigneeEmail(None)),
        (
            json!({"emailAddress": ""}),
            Action::MissingAssigneeEmail(None),
        ),
        (
            json!({"emailAddress": null}),
            Action::MissingAssigneeEmail(None),
        ),
    ] {
        assert_eq!(
            parse(&assignee_delivery(a.clone())).unwrap().action,
            want,
            "{a}"
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
    let v = json!({"changelog": {"id": 1, "items": [{"field": "priority"}]}});
    let p = parse(&v).unwrap();
    assert_eq!(p.action, Action::NotAnAssigneeChange);
    assert_eq!(p.status, None);
    assert_eq!(p.key, None);
    assert_eq!(p.timestamp, None);
}

#[test]
fn the_status_item_and_the_current_category_are_read() {
    let v = json!({
        "issue": {"key": "APP-1", "fields": {"status": {"id": "10001",
                  "statusCategory": {"key": "done"}}}},
        "changelog": {"id": "7", "items": [
            {"field": "resolution", "from": null, "to": "10000"},
            {"field": "status", "fieldId": "status", "from": "3", "to": "10001"}
        ]}
    });
    let p = parse(&v).unwrap();
    assert_eq!(p.action, Action::NotAnAssigneeChange, "no assignee part");
    assert_eq!(
        p.status,
        Some(StatusItem {
            from: Some("3".into()),
            to: Some("10001".into())
        })
    );
    assert_eq!(p.status_category.as_deref(), Some("done"));
    // Named only by fieldId (translated `field`), ids as numbers, and the
    // last status item wins.
    let v = json!({
        "issue": {"key": "APP-1"},
        "changelog": {"items": [
            {"field": "Статус", "fieldId": "status", "from": 1, "to": 2},
            {"field": "Статус", "fieldId": "status", "from": 2, "to": 3}
        ]}
    });
    let p = parse(&v).unwrap();
    assert_eq!(
        p.status,
        Some(StatusItem {
            from: Some("2".into()),
            to: Some("3".into())
        })
    );
    assert_eq!(p.status_category, None);
    // A status change needs the issue key, like an assignee change.
    let v = json!({"changelog": {"items": [{"field": "status", "to": "3"}]}});
    assert!(parse(&v)
        .unwrap_err()
        .0
        .contains("a status change needs `issue.key`"));
    // Both parts in one delivery.
    let p = parse(&fixture("issue_assigned_and_status.json")).unwrap();
    assert!(matches!(p.action, Action::Assign(_)));
    assert_eq!(p.status.unwrap().to.as_deref(), Some("3"));
    assert_eq!(p.status_category.as_deref(), Some("indeterminate"));
}

fn fixture(name: &str) -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jira/");
    serde_json::from_str(&std::fs::read_to_string(format!("{path}{name}")).unwrap()).unwrap()
}

#[test]
fn bad_requests_name_what_is_missing() {
    let e = parse(&json!({"changelog": {"id": 1}})).unwrap_err();
    assert!(e.0.contains("changelog.items"), "{e}");
    let e = parse(&json!({"changelog": {"items": {"field": "assignee"}}})).unwrap_err();
    assert!(e.0.contains("changelog.items"), "{e}");
    let e = parse(&json!({"changelog": {"items": [{"field": "status"}, "assignee"]}})).unwrap_err();
    assert!(e.0.contains("changelog.items[1]"), "{e}");
    let e = parse(&json!({"changelog": {"items": [{"field": "assignee"}]}})).unwrap_err();
    assert!(e.0.contains("issue.key"), "{e}");
    let e = parse(&json!({"issue": {"key": ""}, "changelog": {"items": [{"field": "assignee"}]}}))
        .unwrap_err();
    assert!(e.0.contains("issue.key"), "{e}");
    let e = parse(&json!([1, 2])).unwrap_err();
    assert!(e.0.contains("object"), "{e}");
    let e = parse(&json!({"changelog": "x"})).unwrap_err();
    assert!(e.0.contains("changelog"), "{e}");
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

#[test]
fn escaped_strings_are_unescaped() {
    let body = r#"{"issue": {"key": "BEN\u0043H-1", "fields": {"assignee":
        {"emailAddress": "b\u006fb@example.org"}}},
        "changelog": {"id": "1\u0030", "items": [{"field": "assign\u0065e"}]}}"#;
    let p = parse_text(body).unwrap();
    assert_eq!(p.key.as_deref(), Some("BENCH-1"));
    assert_eq!(p.changelog_id.as_deref(), Some("10"));
    assert_eq!(p.action, Action::Assign("bob@example.org".into()));
    // Escaped object keys match too.
    let body = r#"{"is\u0073ue": {"k\u0065y": "A-1"}, "timestamp": 5}"#;
    let p = parse_text(body).unwrap();
    assert_eq!((p.key.as_deref(), p.timestamp), (Some("A-1"), Some(5)));
    assert_eq!(
        facts_bytes(body.as_bytes()),
        (Some("A-1".into()), None, Some(5))
    );
}

#[test]
fn duplicate_keys_last_one_wins_like_a_value() {
    let body = r#"{"issue": {"key": 5}, "issue": {"key": "A-1", "key": "A-2"},
        "changelog": {"items": [{"field": "assignee", "field": "status"}]},
        "timestamp": "x", "timestamp": 9}"#;
    let p = parse_text(body).unwrap();
    assert_eq!(p.key.as_deref(), Some("A-2"));
    assert_eq!(p.timestamp, Some(9));
    assert_eq!(p.action, Action::NotAnAssigneeChange);
    let v: Value = serde_json::from_str(body).unwrap();
    assert_eq!(Ok(p), reference::parse(&v));
    // A later `changelog` replaces the earlier one entirely.
    let body = r#"{"changelog": {"id": 1, "items": []}, "changelog": {}}"#;
    assert_eq!(parse_text(body).unwrap().action, Action::MissingChangelog);
    assert_eq!(facts_bytes(body.as_bytes()), (None, None, None));
}

#[test]
fn numbers_as_changelog_ids_print_like_serde_json() {
    let id = |raw: &str| {
        let body = format!(r#"{{"changelog": {{"id": {raw}, "items": []}}}}"#);
        let p = parse_text(&body).unwrap().changelog_id;
        assert_eq!(p, facts_bytes(body.as_bytes()).1, "{raw}");
        p.unwrap()
    };
    assert_eq!(id("12345"), "12345");
    assert_eq!(id("-7"), "-7");
    assert_eq!(id("12345.0"), "12345.0");
    assert_eq!(id("1e3"), "1000.0");
    assert_eq!(id("-0"), "-0.0");
    assert_eq!(id("18446744073709551615"), "18446744073709551615");
}

#[test]
fn not_json_reasons_are_serde_jsons() {
    for body in [
        "",
        "{",
        "nope",
        "{\"issue\": {\"key\": \"A-1\"}} x",
        "{\"a\": 1,}",
        // Things serde_json's skip-only fast path would let through.
        "{\"user\": \"\\ud800\"}",
        "{\"user\": 1e400}",
        &format!("{{\"user\": {}{}}}", "[".repeat(200), "]".repeat(200)),
    ] {
        let want = serde_json::from_str::<Value>(body).unwrap_err();
        assert_eq!(
            parse_text(body).unwrap_err(),
            format!("the body is not JSON: {want}"),
            "{body}"
        );
        assert_eq!(facts_bytes(body.as_bytes()), (None, None, None));
    }
    let bytes = b"{\"user\": \"\xff\"}";
    assert!(matches!(parse_bytes(bytes), Err(BodyError::NotJson(_))));
}

#[test]
fn top_level_non_objects_are_refused() {
    for body in ["[]", "null", "1", "\"x\"", "true"] {
        assert_eq!(
            parse_text(body).unwrap_err(),
            "the delivery must be a JSON object"
        );
    }
}

#[test]
fn malformed_issue_or_fields_are_refused_not_read_as_no_assignee() {
    // Each of these used to be read as "no assignee" and unassigned every
    // linked group with a 200.
    for fields in [json!("x"), json!([]), json!(null), json!(7)] {
        let mut v = assignee_delivery(json!({"emailAddress": "a@b.org"}));
        v["issue"]["fields"] = fields.clone();
        let e = parse(&v).unwrap_err();
        assert_eq!(e.0, "`issue.fields` must be an object", "{fields}");
    }
    for issue in [json!("x"), json!([]), json!(null), json!(true)] {
        let mut v = assignee_delivery(json!(null));
        v["issue"] = issue.clone();
        let e = parse(&v).unwrap_err();
        assert_eq!(e.0, "`issue` must be an object", "{issue}");
    }
    for assignee in [json!("bob"), json!([]), json!(1), json!(false)] {
        let e = parse(&assignee_delivery(assignee.clone())).unwrap_err();
        assert_eq!(
            e.0, "`issue.fields.assignee` must be an object or null",
            "{assignee}"
        );
    }
    // Even beside a change of another field: a malformed delivery is refused.
    let v = json!({"issue": {"key": "A-1", "fields": "x"},
                   "changelog": {"items": [{"field": "status"}]}});
    assert_eq!(parse(&v).unwrap_err().0, "`issue.fields` must be an object");
    // Absent is not malformed: no fields at all still means no assignee.
    let v = json!({"issue": {"key": "A-1"}, "changelog": {"items": [{"field": "assignee"}]}});
    assert_eq!(parse(&v).unwrap().action, Action::Unassign);
    // Without a changelog nothing is read beyond it (missing-changelog).
    let v = json!({"issue": "x"});
    assert_eq!(parse(&v).unwrap().action, Action::MissingChangelog);
}

#[test]
fn a_timestamp_that_is_not_an_integer_is_absent_and_flagged() {
    for ts in [
        json!("soon"),
        json!(1.5),
        json!(true),
        json!({}),
        json!("1e3"),
    ] {
        let mut v = assignee_delivery(json!({"emailAddress": "a@b.org"}));
        v["timestamp"] = ts.clone();
        let p = parse(&v).unwrap();
        assert_eq!(p.timestamp, None, "{ts}");
        assert!(p.bad_timestamp, "{ts}");
        assert_eq!(p.action, Action::Assign("a@b.org".into()), "{ts}");
        // And a delivery without a changelog is still just that.
        let p = parse(&json!({"timestamp": ts.clone()})).unwrap();
        assert_eq!(p.action, Action::MissingChangelog, "{ts}");
        assert!(p.bad_timestamp, "{ts}");
    }
    for (ts, want) in [(json!(1000), 1000), (json!("1764344651000"), 1764344651000)] {
        let mut v = assignee_delivery(json!(null));
        v["timestamp"] = ts;
        let p = parse(&v).unwrap();
        assert_eq!((p.timestamp, p.bad_timestamp), (Some(want), false));
    }
    let mut v = assignee_delivery(json!(null));
    v["timestamp"] = json!(null);
    assert!(!parse(&v).unwrap().bad_timestamp, "null is absent, not bad");
}

#[test]
fn an_item_named_only_by_field_id_counts() {
    // Newer Jira: `fieldId` is the stable name; `field` may be translated.
    let mut v = assignee_delivery(json!({"emailAddress": "a@b.org"}));
    v["changelog"]["items"] = json!([{"field": "Исполнитель", "fieldId": "assignee"}]);
    assert_eq!(parse(&v).unwrap().action, Action::Assign("a@b.org".into()));
    v["changelog"]["items"] = json!([{"fieldId": "assignee"}]);
    assert_eq!(parse(&v).unwrap().action, Action::Assign("a@b.org".into()));
    v["changelog"]["items"] = json!([{"field": "assignee", "fieldId": "other"}]);
    assert_eq!(parse(&v).unwrap().action, Action::Assign("a@b.org".into()));
    v["changelog"]["items"] = json!([{"field": "Статус", "fieldId": "status"}]);
    assert_eq!(parse(&v).unwrap().action, Action::NotAnAssigneeChange);
}

#[test]
fn a_key_item_is_a_move_from_the_old_key_to_the_new_one() {
    let moved = |items: Value, key: Option<&str>| {
        let mut v = json!({"timestamp": 5, "changelog": {"id": "9", "items": items}});
        if let Some(k) = key {
            v["issue"] = json!({"key": k, "fields": {}});
        }
        parse(&v)
    };
    // As Jira writes it: the keys in fromString / toString.
    let p = moved(
        json!([{"field": "Key", "fieldtype": "jira", "from": null, "fromString": "app-1",
                "to": null, "toString": "OPS-7"}]),
        Some("OPS-7"),
    )
    .unwrap();
    assert_eq!(p.moved, Some(("APP-1".into(), "OPS-7".into())));
    assert_eq!(p.action, Action::NotAnAssigneeChange);
    assert_eq!(p.key.as_deref(), Some("OPS-7"));
    // No issue.key: the new key is the delivery's.
    let p = moved(
        json!([{"field": "Key", "from": "APP-1", "to": "OPS-7"}]),
        None,
    )
    .unwrap();
    assert_eq!(p.key.as_deref(), Some("OPS-7"));
    // With an assignee change too.
    let p = moved(
        json!([{"field": "Key", "fromString": "APP-1", "toString": "OPS-7"},
               {"field": "assignee", "to": "bob"}]),
        Some("OPS-7"),
    )
    .unwrap();
    assert_eq!(p.action, Action::Unassign);
    assert!(p.moved.is_some());
    // The same key (case folded) is no move; fieldId "Key" is not the field.
    let p = moved(
        json!([{"field": "Key", "fromString": "ops-7", "toString": "OPS-7"}]),
        None,
    )
    .unwrap();
    assert_eq!(p.moved, None);
    let p = moved(
        json!([{"fieldId": "Key", "fromString": "A-1", "toString": "B-1"}]),
        None,
    )
    .unwrap();
    assert_eq!(p.moved, None);
    // A Key item without two keys, or with a key no link could hold: 400.
    for items in [
        json!([{"field": "Key", "fromString": "APP-1"}]),
        json!([{"field": "Key", "toString": "APP-1", "fromString": ""}]),
        json!([{"field": "Key", "fromString": "APP 1", "toString": "OPS-7"}]),
        json!([{"field": "Key", "fromString": "APP-1", "toString": "x".repeat(300)}]),
    ] {
        let e = moved(items.clone(), Some("OPS-7")).unwrap_err().0;
        assert!(e.contains("`Key` item"), "{items}: {e}");
    }
}
