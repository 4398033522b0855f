//! Tests of [`super`] (`src/jira/client.rs`).

use super::*;

#[test]
fn endpoint_by_version() {
    assert_eq!(webhook_endpoint(&[9, 12, 3]), WEBHOOK_PATH);
    assert_eq!(webhook_endpoint(&[10, 0, 0]), WEBHOOK_PATH_V10);
    assert_eq!(webhook_endpoint(&[11]), WEBHOOK_PATH_V10);
    assert_eq!(webhook_endpoint(&[]), WEBHOOK_PATH);
}

#[test]
fn error_texts_follow_the_spec() {
    let e = JiraError::RequestToken {
        status: Some(503),
        message: "down".into(),
    };
    assert_eq!(
        e.to_string(),
        "Could not fetch a request token from Jira. down (Jira answered HTTP 503)"
    );
    assert_eq!(
        JiraError::Webhook {
            status: Some(403),
            message: "No".into()
        }
        .to_string(),
        "Could not create issue webhook in Jira. No (Jira answered HTTP 403)"
    );
    assert_eq!(
        JiraError::MissingVerifier.to_string(),
        "Missing OAuth token verifier"
    );
}

#[test]
fn urls() {
    assert_eq!(
        webhook_url("http://h:1/", "a.b.c"),
        "http://h:1/extensions/jira-server/issue-updated/a.b.c"
    );
    assert_eq!(
        callback_url("https://s.example.org"),
        "https://s.example.org/extensions/jira-server/oauth/callback"
    );
}

#[tokio::test]
async fn no_verifier_means_no_request() {
    let pem = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/jira_pkcs1.pem"
    ))
    .unwrap();
    // Port 9 (discard) on loopback: any request would fail differently.
    let c = JiraClient::new("http://127.0.0.1:9", "k", &pem, true, 1).unwrap();
    for v in [None, Some(""), Some("denied")] {
        assert_eq!(
            c.get_access_token("t", "s", v).await,
            Err(JiraError::MissingVerifier)
        );
    }
    assert_eq!(
        c.authorize_url("a b"),
        "http://127.0.0.1:9/plugins/servlet/oauth/authorize?oauth_token=a%20b"
    );
}
