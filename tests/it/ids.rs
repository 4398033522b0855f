//! Snowflake IDs through the admin API, and their monotonicity across restarts.

use crate::common::*;
use serde_json::json;

fn new_id(a: &Admin) -> u64 {
    let (s, v) = a.post("/v1/ids", json!({}));
    assert_eq!(s, 200, "{v}");
    v["id"].as_u64().unwrap()
}

#[test]
fn issue_and_decode() {
    let d = Daemon::start_with("[ids]\nregion_id = 7\nversion_id = 2\n", &[]);
    let a = d.admin();
    let ids: Vec<u64> = (0..40).map(|_| new_id(&a)).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    for id in &ids {
        assert!(*id < 1 << 53);
        // version 2 = 0b00010, stored bit-reversed: 0b01000.
        assert_eq!(id >> 48, 0b01000, "{id}");
        assert_eq!((id >> 4) & 0xfff, 7);
    }
    let v = a.must_get(&format!("/v1/ids/{}", ids[0]));
    assert_eq!(v["id"], ids[0]);
    assert_eq!(v["version"], 2);
    assert_eq!(v["region"], 7);
    assert_eq!(v["seconds"], (ids[0] >> 16) & 0xffff_ffff);
    assert_eq!(v["sequence"], ids[0] & 0xf);
    let ts = chrono::DateTime::parse_from_rfc3339(v["timestamp"].as_str().unwrap()).unwrap();
    let epoch = chrono::DateTime::parse_from_rfc3339("2022-08-08T00:00:00Z").unwrap();
    assert_eq!(
        (ts - epoch).num_seconds(),
        v["seconds"].as_i64().unwrap(),
        "{v}"
    );
    // Not in the far future: within the generator's 300 s + reservation.
    let now = chrono::Utc::now();
    assert!((ts.with_timezone(&chrono::Utc) - now).num_seconds().abs() < 3_600);

    let metrics = d.metrics_text();
    assert!(
        metrics.lines().any(|l| l == "synclink_ids_issued_total 40"),
        "{metrics}"
    );
}

#[test]
fn decode_a_known_id_and_errors() {
    let d = Daemon::start();
    let a = d.admin();
    // version 1 (bits 10000), 1 s after the epoch, region 1, sequence 1.
    let id: u64 = (16 << 48) | (1 << 16) | (1 << 4) | 1;
    let v = a.must_get(&format!("/v1/ids/{id}"));
    assert_eq!(
        v,
        json!({"id": id, "version": 1, "seconds": 1,
               "timestamp": "2022-08-08T00:00:01.000Z", "region": 1, "sequence": 1})
    );
    assert_error(&a.get("/v1/ids/9007199254740992"), 400, "bad_request");
    assert_error(&a.get("/v1/ids/abc"), 400, "bad_request");
    assert_error(&a.get("/v1/ids/-5"), 400, "bad_request");
}

#[test]
fn ids_and_data_survive_restarts_and_keep_increasing() {
    let mut d = Daemon::start();
    let a = d.admin();
    let org = a.must_post("/v1/orgs", json!({"slug": "o", "name": "O"}), 201)["id"].clone();
    let p1 = a.must_post("/v1/projects", json!({"org": org, "name": "One"}), 201);
    let mut last = new_id(&a).max(p1["id"].as_u64().unwrap());

    // Graceful restart.
    assert!(d.stop().success());
    d.restart();
    let a = d.admin();
    assert_eq!(a.must_get(&format!("/v1/projects/{}", p1["id"])), p1);
    let p2 = a.must_post("/v1/projects", json!({"org": org, "name": "One"}), 201);
    assert_ne!(p2["slug"], "one", "the slug index survived");
    let next = p2["id"].as_u64().unwrap();
    assert!(next > last, "{next} > {last}");
    last = new_id(&a).max(next);
    assert!(last > next);

    // kill -9: the high-water mark was on disk before any ID was handed out.
    d.kill9();
    d.restart();
    let a = d.admin();
    for _ in 0..20 {
        let id = new_id(&a);
        assert!(id > last, "{id} > {last}");
        last = id;
    }
    let p3 = a.must_post("/v1/projects", json!({"org": org, "name": "Three"}), 201);
    assert!(p3["id"].as_u64().unwrap() > last);
    assert_eq!(
        a.must_get(&format!("/v1/projects?org={org}"))
            .as_array()
            .unwrap()
            .len(),
        3
    );
}
