//! Rules for integration fields, shared by the import route and the OAuth
//! connect flow: base URL normalisation, the external id, field limits and
//! the webhook secret.

/// Longest `external_id` (the reference system's column width).
pub const EXTERNAL_ID_MAX: usize = 64;
/// Longest `consumer_key`.
pub const CONSUMER_KEY_MAX: usize = 200;

/// A base URL as stored: it needs an `http`/`https` scheme and a host, and
/// loses trailing `/`. Returns the normalised URL or the reason it is bad.
pub fn normalize_base_url(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    if s.is_empty() {
        return Err("`base_url` must not be empty".into());
    }
    let u = url::Url::parse(s).map_err(|e| {
        format!("`base_url` must be an absolute URL with a scheme (http:// or https://): {e}")
    })?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err(format!(
            "`base_url` must use http or https, not `{}`",
            u.scheme()
        ));
    }
    if u.host_str().is_none_or(|h| h.is_empty()) {
        return Err("`base_url` has no host".into());
    }
    if u.query().is_some() || u.fragment().is_some() {
        return Err("`base_url` must not carry a query or a fragment".into());
    }
    Ok(s.trim_end_matches('/').to_string())
}

/// The host name of a (normalised) base URL.
pub fn hostname(base_url: &str) -> Option<String> {
    url::Url::parse(base_url)
        .ok()
        .and_then(|u| u.host_str().map(|h| h.to_string()))
}

/// `"<hostname of base_url>:<consumer_key>"` cut to 64 characters: the
/// reference system's rule, so tokens it minted stay valid.
pub fn external_id(base_url: &str, consumer_key: &str) -> String {
    let host = hostname(base_url).unwrap_or_default();
    format!("{host}:{consumer_key}")
        .chars()
        .take(EXTERNAL_ID_MAX)
        .collect()
}

/// `consumer_key`: 1 to 200 characters.
pub fn check_consumer_key(key: &str) -> Result<(), String> {
    if key.trim().is_empty() {
        return Err("`consumer_key` must not be empty".into());
    }
    if key.chars().count() > CONSUMER_KEY_MAX {
        return Err(format!(
            "`consumer_key` must be at most {CONSUMER_KEY_MAX} characters"
        ));
    }
    Ok(())
}

/// An explicit `external_id`: 1 to 64 characters, no control characters.
pub fn check_external_id(id: &str) -> Result<(), String> {
    if id.trim().is_empty() {
        return Err("`external_id` must not be empty".into());
    }
    if id.chars().count() > EXTERNAL_ID_MAX {
        return Err(format!(
            "`external_id` must be at most {EXTERNAL_ID_MAX} characters"
        ));
    }
    if id.chars().any(char::is_control) {
        return Err("`external_id` must not hold control characters".into());
    }
    Ok(())
}

/// A webhook secret brought from elsewhere: 1 to 1024 characters. It was
/// chosen by the system being replaced (the reference system's are 32 hex
/// characters), so any non-empty value is taken as it is: refusing a short
/// one would only break the tokens Jira already holds.
pub fn check_webhook_secret(s: &str) -> Result<(), String> {
    let n = s.chars().count();
    if !(1..=1024).contains(&n) || s.trim().is_empty() {
        return Err("`webhook_secret` must be 1 to 1024 characters, not blank".into());
    }
    Ok(())
}

/// A fresh webhook secret: 32 random bytes, hex.
pub fn new_webhook_secret() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// A `jira_server` integration for unit tests: pending, webhook secret
/// `"s"`, no credentials; tests change what they need with struct update.
#[cfg(test)]
pub(crate) fn sample(external_id: &str) -> super::Integration {
    super::Integration {
        id: 0,
        provider: super::PROVIDER_JIRA_SERVER.into(),
        external_id: external_id.into(),
        name: "J".into(),
        base_url: "https://j".into(),
        verify_ssl: true,
        consumer_key: "k".into(),
        private_key: "pem".into(),
        access_token: String::new(),
        access_token_secret: String::new(),
        webhook_secret: "s".into(),
        status: super::IntegrationStatus::Pending,
        last_error: None,
        webhook: None,
        date_added: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_rules() {
        assert_eq!(
            normalize_base_url("https://jira.example.org/").unwrap(),
            "https://jira.example.org"
        );
        assert_eq!(
            normalize_base_url(" https://jira.example.org/jira// ").unwrap(),
            "https://jira.example.org/jira"
        );
        assert!(normalize_base_url("jira.example.org").is_err());
        assert!(normalize_base_url("ftp://jira.example.org").is_err());
        assert!(normalize_base_url("").is_err());
        assert!(normalize_base_url("https://jira.example.org/?a=1").is_err());
    }

    #[test]
    fn external_id_rule() {
        assert_eq!(
            external_id("https://Jira.Example.org:8443/jira", "synclink"),
            "jira.example.org:synclink"
        );
        let long = "k".repeat(100);
        let id = external_id("https://jira.example.org", &long);
        assert_eq!(id.chars().count(), 64);
        assert!(id.starts_with("jira.example.org:kkk"));
    }

    #[test]
    fn field_limits() {
        assert!(check_consumer_key("").is_err());
        assert!(check_consumer_key(&"x".repeat(201)).is_err());
        check_consumer_key(&"x".repeat(200)).unwrap();
        assert!(check_external_id(&"x".repeat(65)).is_err());
        assert!(check_external_id("a\nb").is_err());
        check_external_id("jira.example.org:key").unwrap();
        check_webhook_secret("short").unwrap();
        assert!(check_webhook_secret("").is_err());
        assert!(check_webhook_secret("  ").is_err());
        assert!(check_webhook_secret(&"x".repeat(1025)).is_err());
        let s = new_webhook_secret();
        assert_eq!(s.len(), 64);
        check_webhook_secret(&s).unwrap();
    }
}
