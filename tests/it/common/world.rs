//! Shared setup for the sync tests: a small world (org, team, user,
//! project, group, integration, link) built through the admin API, and
//! webhook deliveries with tokens minted here by jsonwebtoken (never by the
//! daemon's code).

use crate::common::*;
use serde_json::{json, Value};

pub const SECRET: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
pub const EXT: &str = "jira.example.org:synclink";

/// What `setup` created.
#[derive(Debug, Clone, Copy)]
pub struct World {
    pub org: u64,
    pub team: u64,
    pub project: u64,
    pub group: u64,
    pub bob: u64,
    pub integration: u64,
}

pub fn id(v: &Value) -> u64 {
    v["id"].as_u64().unwrap_or_else(|| panic!("no id in {v}"))
}

pub fn org(d: &Daemon, slug: &str) -> u64 {
    id(&d
        .admin()
        .must_post("/v1/orgs", json!({"slug": slug, "name": slug}), 201))
}

pub fn team(d: &Daemon, org: u64, slug: &str) -> u64 {
    id(&d.admin().must_post(
        "/v1/teams",
        json!({"org": org, "slug": slug, "name": slug}),
        201,
    ))
}

pub fn user(d: &Daemon, name: &str, emails: Value) -> u64 {
    id(&d
        .admin()
        .must_post("/v1/users", json!({"name": name, "emails": emails}), 201))
}

pub fn member(d: &Daemon, team: u64, user: u64) {
    let (s, v) = d
        .admin()
        .post(&format!("/v1/teams/{team}/members"), json!({"user": user}));
    assert_eq!(s, 204, "{v}");
}

pub fn project(d: &Daemon, org: u64, name: &str, teams: &[u64]) -> u64 {
    id(&d.admin().must_post(
        "/v1/projects",
        json!({"org": org, "name": name, "teams": teams}),
        201,
    ))
}

pub fn group(d: &Daemon, project: u64) -> u64 {
    id(&d.admin().must_post(
        "/v1/groups",
        json!({"project": project, "title": "ZeroDivisionError"}),
        201,
    ))
}

pub fn link(d: &Daemon, group: u64, integration: u64, key: &str) {
    d.admin().must_post(
        "/v1/links",
        json!({"group": group, "integration": integration, "key": key}),
        201,
    );
}

pub fn install(d: &Daemon, integration: u64, org: u64, sync: bool) {
    d.admin().must_post(
        &format!("/v1/integrations/{integration}/installations"),
        json!({"org": org, "sync_inbound_assignee": sync}),
        201,
    );
}

pub fn import(d: &Daemon) -> u64 {
    id(&d.admin().must_post(
        "/v1/integrations/import",
        json!({"base_url": "https://jira.example.org/", "consumer_key": "synclink",
               "webhook_secret": SECRET}),
        201,
    ))
}

/// One org with a team holding bob (bob@example.org, verified), a project
/// of that team, a group linked to APP-1, and an installed integration
/// with inbound sync on.
pub fn setup(d: &Daemon) -> World {
    let integration = import(d);
    world_with(d, integration)
}

/// The world of [`setup`] around an integration that exists already.
pub fn world_with(d: &Daemon, integration: u64) -> World {
    let org = org(d, "acme");
    let team = team(d, org, "backend");
    let bob = user(
        d,
        "Bob",
        json!([{"email": "bob@example.org", "verified": true}]),
    );
    member(d, team, bob);
    let project = project(d, org, "Backend", &[team]);
    let group = group(d, project);
    install(d, integration, org, true);
    link(d, group, integration, "APP-1");
    World {
        org,
        team,
        project,
        group,
        bob,
        integration,
    }
}

/// An HS256 token `{"id": ext}` signed with `secret`.
pub fn token(ext: &str, secret: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"id": ext}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// An HS256 token with these claims, signed with [`SECRET`].
pub fn signed(claims: Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

/// The token of an integration's webhook URL (for one connected through
/// the handshake, whose secret the tests do not know).
pub fn webhook_token(d: &Daemon, integration: u64) -> String {
    let v = d
        .admin()
        .must_get(&format!("/v1/integrations/{integration}/webhook-url"));
    let url = v["url"].as_str().unwrap();
    url.rsplit('/').next().unwrap().to_string()
}

pub fn good_token() -> String {
    token(EXT, SECRET)
}

/// POST raw bytes to the webhook with `token`; returns status and JSON body.
pub fn deliver_bytes(d: &Daemon, token: &str, body: Vec<u8>) -> (u16, Value) {
    let r = d
        .http()
        .post(d.url(&format!("/extensions/jira-server/issue-updated/{token}")))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .expect("webhook request");
    let s = r.status().as_u16();
    (
        s,
        serde_json::from_str(&r.text().unwrap_or_default()).unwrap_or(Value::Null),
    )
}

pub fn deliver(d: &Daemon, token: &str, body: &Value) -> (u16, Value) {
    deliver_bytes(d, token, serde_json::to_vec(body).unwrap())
}

/// Deliver with the good token, expecting 200; returns the outcome.
pub fn deliver_ok(d: &Daemon, body: &Value) -> String {
    let (s, v) = deliver(d, &good_token(), body);
    assert_eq!(s, 200, "{v}");
    v["outcome"].as_str().unwrap_or_default().to_string()
}

/// A fixture with its changelog id, timestamp and key replaced.
pub fn variant(name: &str, changelog_id: &str, ts: i64, key: &str) -> Value {
    let mut v = fixture_json(name);
    v["changelog"]["id"] = json!(changelog_id);
    v["timestamp"] = json!(ts);
    v["issue"]["key"] = json!(key);
    v
}

/// A real delivery whose changelog changes neither the assignee nor the
/// status (the status fixture with its item renamed to `priority`).
pub fn other_field_delivery() -> Value {
    let mut v = fixture_json("issue_status_changed.json");
    v["changelog"]["items"] = json!([{"field": "priority", "fieldtype": "jira",
        "fieldId": "priority", "from": "3", "fromString": "Medium", "to": "2",
        "toString": "High"}]);
    v
}

/// An assignee delivery for `email` (None: unassigned).
pub fn assignee_delivery(email: Option<&str>, changelog_id: &str, ts: i64, key: &str) -> Value {
    match email {
        Some(e) => {
            let mut v = variant("issue_assigned.json", changelog_id, ts, key);
            v["issue"]["fields"]["assignee"]["emailAddress"] = json!(e);
            v
        }
        None => variant("issue_unassigned.json", changelog_id, ts, key),
    }
}

pub fn assignee_of(d: &Daemon, group: u64) -> Value {
    d.admin().must_get(&format!("/v1/groups/{group}"))["assignee"].clone()
}

pub fn activity(d: &Daemon, group: u64) -> Vec<Value> {
    d.admin()
        .must_get(&format!("/v1/groups/{group}/activity"))
        .as_array()
        .unwrap()
        .clone()
}

/// The newest delivery-log entry.
pub fn last_delivery(d: &Daemon) -> Value {
    d.admin().must_get("/v1/deliveries?limit=1")[0].clone()
}

pub fn metric(d: &Daemon, line_prefix: &str) -> f64 {
    let text = d.metrics_text();
    text.lines()
        .find(|l| l.starts_with(line_prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no metric {line_prefix} in\n{text}"))
}
