//! The fake Jira's search and changelogs (what reconcile reads), over
//! signed HTTP and through its plain functions.

use crate::common::fake_jira::{
    data, now_ms, parse_jql, search_page, FakeJira, Issue, Item, CONSUMER_KEY,
};
use serde_json::Value;

/// A signed GET with an access token the fake knows: (status, JSON body).
fn signed_get(fake: &FakeJira, path_and_query: &str) -> (u16, Value) {
    fake.state()
        .access_tokens
        .insert("at-test".into(), "ats-test".into());
    let key = synclink::jira::oauth::parse_private_key(&data("jira_pkcs8.pem")).unwrap();
    let creds = synclink::jira::oauth::Credentials {
        consumer_key: CONSUMER_KEY,
        key: &key,
        token: Some("at-test"),
    };
    let url = url::Url::parse(&format!("{}{path_and_query}", fake.base_url())).unwrap();
    let auth = synclink::jira::oauth::authorization_header(&creds, "GET", &url, &[], &[]).unwrap();
    let resp = reqwest::blocking::Client::new()
        .get(url)
        .header("Authorization", auth)
        .send()
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().unwrap_or(Value::Null))
}

#[test]
fn jql_forms() {
    let (keys, minutes) =
        parse_jql(r#"project in (APP, TES) AND updated >= "-60m" ORDER BY updated ASC"#).unwrap();
    assert_eq!((keys, minutes), (vec!["APP".into(), "TES".into()], 60));
    let (keys, minutes) =
        parse_jql(r#"project in ("APP","TES")  AND updated >= "-5m" ORDER BY updated ASC"#)
            .unwrap();
    assert_eq!((keys, minutes), (vec!["APP".into(), "TES".into()], 5));
    for bad in [
        r#"project = APP AND updated >= "-60m" ORDER BY updated ASC"#,
        r#"project in (APP) AND updated >= "-60m""#,
        r#"project in ("APP) AND updated >= "-60m" ORDER BY updated ASC"#,
        r#"project in (APP) AND updated >= "-1h" ORDER BY updated ASC"#,
    ] {
        let why = parse_jql(bad).unwrap_err();
        assert!(why.starts_with("Error in the JQL Query:"), "{why}");
    }
}

#[test]
fn signed_search_pages_and_changelog() {
    let fake = FakeJira::start(&data("jira_pkcs8.pub.pem"));
    let now = now_ms();
    let moved;
    {
        let mut st = fake.state();
        st.issues.clear();
        st.search_page_max = 2;
        for (i, key) in ["APP-3", "TES-1", "APP-2"].iter().enumerate() {
            st.add_issue(key, Issue::new(&key[..3], "1", None));
            st.issues.get_mut(*key).unwrap().updated = now - 50_000 + i as i64;
        }
        // Outside the window and outside the projects.
        st.add_issue("APP-9", Issue::new("APP", "1", None));
        st.issues.get_mut("APP-9").unwrap().updated = now - 3_600_000;
        st.add_issue("OPS-1", Issue::new("OPS", "1", None));
        let a = st.reassign("APP-2", Some("bob"), now - 2_000);
        let b = st.set_status("APP-2", "10001", now - 1_000);
        assert_eq!((a, b), (20000, 20001));
        moved = st.move_issue("TES-1", "APP-7", now - 500);
    }
    let jql = "project in (APP, TES) AND updated >= \"-10m\" ORDER BY updated ASC";
    let q = |start: u64| {
        let qs: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("jql", jql)
            .append_pair("startAt", &start.to_string())
            .append_pair("maxResults", "50")
            .append_pair("expand", "changelog")
            .finish();
        format!("/rest/api/2/search?{qs}")
    };
    let (status, page0) = signed_get(&fake, &q(0));
    assert_eq!(status, 200, "{page0}");
    assert_eq!(
        (page0["maxResults"].as_u64(), page0["total"].as_u64()),
        (Some(2), Some(3))
    );
    assert_eq!(keys(&page0), ["APP-3", "APP-2"]);
    let app2 = &page0["issues"][1];
    assert_eq!(app2["fields"]["assignee"]["name"], "bob");
    assert_eq!(
        app2["fields"]["assignee"]["emailAddress"],
        "bob@example.org"
    );
    assert_eq!(app2["fields"]["status"]["statusCategory"]["key"], "done");
    let hist = &app2["changelog"]["histories"];
    assert_eq!(hist[0]["id"], "20000");
    assert_eq!(hist[0]["items"][0]["toString"], "Bob");
    assert_eq!(hist[1]["items"][0]["fromString"], "Open");
    assert_eq!(hist[1]["items"][0]["toString"], "Done");
    assert!(hist[1]["created"].as_str().unwrap().ends_with("+0000"));
    let (_, page1) = signed_get(&fake, &q(2));
    assert_eq!(keys(&page1), ["APP-7"]);
    let key_item = &page1["issues"][0]["changelog"]["histories"][0];
    assert_eq!(key_item["id"], moved.to_string());
    assert_eq!(key_item["items"][0]["fromString"], "TES-1");

    // The old key reads the moved issue, its full changelog.
    let (status, issue) = signed_get(&fake, "/rest/api/2/issue/TES-1?expand=changelog");
    assert_eq!(status, 200);
    assert_eq!(
        (
            issue["key"].as_str(),
            issue["fields"]["project"]["key"].as_str()
        ),
        (Some("APP-7"), Some("APP"))
    );
    assert_eq!(issue["changelog"]["total"], 1);
    {
        let st = fake.state();
        assert_eq!(st.issue_reads, ["APP-7"]);
        assert_eq!(
            st.searches,
            [(jql.to_string(), 0, 50), (jql.to_string(), 2, 50)]
        );
    }

    let (status, err) = signed_get(&fake, "/rest/api/2/search?jql=project%3DAPP");
    assert_eq!(status, 400);
    assert!(err["errorMessages"][0]
        .as_str()
        .unwrap()
        .starts_with("Error in the JQL Query"));
    fake.state().rest_down = Some(503);
    assert_eq!(signed_get(&fake, &q(0)).0, 503);
}

#[test]
fn search_knobs() {
    let fake = FakeJira::start(&data("jira_pkcs8.pub.pem"));
    let mut st = fake.state();
    let now = now_ms();
    st.issues.clear();
    for n in 1..=5 {
        let key = format!("APP-{n}");
        st.add_issue(&key, Issue::new("APP", "1", Some("alice")));
        st.change(
            &key,
            vec![
                Item::new("assignee", Some("alice"), None),
                Item::new("status", Some("1"), Some("3")),
            ],
            now - 10_000 + n,
        );
        st.reassign(&key, Some("bob"), now - 5_000 + n);
    }
    assert_eq!(st.issues["APP-1"].status, "3");
    let jql = r#"project in ("APP") AND updated >= "-1m" ORDER BY updated ASC"#;
    st.changelog_cut = Some(1);
    st.search_repeat_last = true;
    st.search_total_drift = 1;
    st.hide_emails = true;
    let p0 = search_page(&st, jql, 0, 2, "changelog").unwrap();
    let p1 = search_page(&st, jql, 2, 2, "changelog").unwrap();
    let p2 = search_page(&st, jql, 4, 2, "").unwrap();
    assert_eq!(keys(&p0), ["APP-1", "APP-2"]);
    assert_eq!(keys(&p1), ["APP-2", "APP-3"]);
    assert_eq!(keys(&p2), ["APP-4", "APP-5"]);
    assert_eq!([&p0["total"], &p1["total"], &p2["total"]], [5, 6, 7]);
    let cl = &p0["issues"][0]["changelog"];
    assert_eq!(
        (cl["maxResults"].as_u64(), cl["total"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(cl["histories"][0]["items"].as_array().unwrap().len(), 2);
    assert!(p2["issues"][0].get("changelog").is_none());
    assert!(p2["issues"][0]["fields"]["assignee"]
        .get("emailAddress")
        .is_none());
    // The single issue read is never cut.
    let full = st.issue_json("APP-1", true, None);
    assert_eq!(full["changelog"]["maxResults"], 2);
}

/// The issue keys of a search page, in order.
fn keys(page: &Value) -> Vec<String> {
    page["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["key"].as_str().unwrap().to_string())
        .collect()
}
