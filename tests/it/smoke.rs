use crate::common::*;
use serde_json::json;

#[test]
fn starts_serves_and_stops_cleanly() {
    let mut d = Daemon::start();
    let admin = d.admin();
    let st = admin.must_get("/v1/status");
    assert_eq!(st["version"], env!("CARGO_PKG_VERSION"));
    assert!(st["actors"]
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["alive"] == true));
    let org = admin.must_post("/v1/orgs", json!({"slug": "acme", "name": "Acme"}), 201);
    assert!(org["id"].as_u64().unwrap() > 0);
    assert_error(
        &admin.post("/v1/orgs", json!({"slug": "acme", "name": "x"})),
        409,
        "conflict",
    );
    assert_error(&admin.post_raw("/v1/orgs", "{nope"), 400, "bad_request");
    assert_error(
        &admin.post("/v1/orgs", json!({"name": "x"})),
        400,
        "bad_request",
    );
    assert_error(&admin.get("/v1/users/999"), 404, "not_found");
    let h = d.http().get(d.url("/healthz")).send().unwrap();
    assert_eq!(h.status().as_u16(), 200);
    assert!(d.stop().success());
    d.restart();
    let orgs = d.admin().must_get("/v1/orgs");
    assert_eq!(orgs[0]["slug"], "acme");
}

#[test]
fn socket_mode_follows_config() {
    use std::os::unix::fs::PermissionsExt;
    let d = Daemon::start();
    let mode = std::fs::metadata(&d.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let d2 = Daemon::start_with("[admin]\nsocket_mode = \"0660\"\n", &[]);
    let mode = std::fs::metadata(&d2.socket).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
}
