//! Validation of a connect request (`POST /v1/integrations`), done before any
//! request reaches Jira, and the integration it creates.

use super::oauth;
use crate::domain::{Integration, IntegrationStatus, PROVIDER_JIRA_SERVER};

pub const MAX_CONSUMER_KEY: usize = 200;
pub const MAX_NAME: usize = 200;
pub const MAX_EXTERNAL_ID: usize = 64;

/// Where Jira sends the browser after authorisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackKind {
    /// `{public_url}/extensions/jira-server/oauth/callback`
    Web,
    /// `oob`: Jira shows the verifier, the operator posts it to
    /// `POST /v1/integrations/{id}/verifier`.
    Oob,
}

/// A validated connect request.
#[derive(Clone)]
pub struct ConnectRequest {
    pub name: String,
    pub base_url: String,
    pub consumer_key: String,
    pub private_key_pem: String,
    pub verify_ssl: bool,
    pub callback: CallbackKind,
    pub external_id: String,
}

impl std::fmt::Debug for ConnectRequest {
    // Never print the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectRequest")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("consumer_key", &self.consumer_key)
            .field("verify_ssl", &self.verify_ssl)
            .field("callback", &self.callback)
            .field("external_id", &self.external_id)
            .finish_non_exhaustive()
    }
}

/// `base_url` needs an http(s) scheme and a host; it loses trailing `/`.
/// Returns the cleaned URL and its hostname.
pub fn validate_base_url(raw: &str) -> Result<(String, String), String> {
    let trimmed = raw.trim().trim_end_matches('/');
    let bad = || {
        format!(
            "base_url must be an absolute http:// or https:// URL such as https://jira.example.org (got `{}`)",
            raw.chars().take(200).collect::<String>()
        )
    };
    if trimmed.is_empty() {
        return Err(bad());
    }
    let u = url::Url::parse(trimmed).map_err(|_| bad())?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(bad());
    }
    let host = match u.host_str() {
        Some(h) if !h.is_empty() => h.to_ascii_lowercase(),
        _ => return Err(bad()),
    };
    if u.query().is_some() || u.fragment().is_some() {
        return Err("base_url must not carry a query or a fragment".into());
    }
    if !u.username().is_empty() || u.password().is_some() {
        return Err("base_url must not carry credentials".into());
    }
    Ok((trimmed.to_string(), host))
}

/// `"<hostname of base_url>:<consumer_key>"` cut to 64 characters.
pub fn external_id(host: &str, consumer_key: &str) -> String {
    format!("{host}:{consumer_key}")
        .chars()
        .take(MAX_EXTERNAL_ID)
        .collect()
}

/// Validate every field of a connect request. The error is the 400 message.
pub fn validate(
    name: Option<&str>,
    base_url: &str,
    consumer_key: &str,
    private_key_pem: &str,
    verify_ssl: Option<bool>,
    callback: Option<&str>,
) -> Result<ConnectRequest, String> {
    let (base_url, host) = validate_base_url(base_url)?;
    let consumer_key = consumer_key.trim();
    if consumer_key.is_empty() {
        return Err("consumer_key must not be empty".into());
    }
    if consumer_key.chars().count() > MAX_CONSUMER_KEY {
        return Err(format!(
            "consumer_key is longer than {MAX_CONSUMER_KEY} characters"
        ));
    }
    oauth::parse_private_key(private_key_pem).map_err(|e| format!("private_key_pem: {e}"))?;
    let callback = match callback {
        None | Some("web") => CallbackKind::Web,
        Some("oob") => CallbackKind::Oob,
        Some(other) => {
            return Err(format!(
                "callback must be \"web\" or \"oob\" (got \"{}\")",
                other.chars().take(50).collect::<String>()
            ))
        }
    };
    let name = match name.map(str::trim) {
        Some(n) if n.chars().count() > MAX_NAME => {
            return Err(format!("name is longer than {MAX_NAME} characters"))
        }
        Some(n) if !n.is_empty() => n.to_string(),
        _ => host.clone(),
    };
    Ok(ConnectRequest {
        name,
        external_id: external_id(&host, consumer_key),
        base_url,
        consumer_key: consumer_key.to_string(),
        private_key_pem: private_key_pem.trim().to_string() + "\n",
        verify_ssl: verify_ssl.unwrap_or(true),
        callback,
    })
}

/// 32 random bytes, hex.
pub fn new_webhook_secret() -> String {
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

/// The pending integration a connect request creates (or, for a restarted
/// handshake, the fields it replaces on the pending one).
pub fn pending_integration(req: &ConnectRequest, previous: Option<Integration>) -> Integration {
    let now = chrono::Utc::now().timestamp_millis();
    let base = previous.unwrap_or_else(|| Integration {
        id: 0,
        provider: PROVIDER_JIRA_SERVER.into(),
        external_id: req.external_id.clone(),
        name: String::new(),
        base_url: String::new(),
        verify_ssl: true,
        consumer_key: String::new(),
        private_key: String::new(),
        access_token: String::new(),
        access_token_secret: String::new(),
        webhook_secret: new_webhook_secret(),
        status: IntegrationStatus::Pending,
        last_error: None,
        webhook: None,
        date_added: now,
    });
    Integration {
        name: req.name.clone(),
        base_url: req.base_url.clone(),
        verify_ssl: req.verify_ssl,
        consumer_key: req.consumer_key.clone(),
        private_key: req.private_key_pem.clone(),
        access_token: String::new(),
        access_token_secret: String::new(),
        status: IntegrationStatus::Pending,
        last_error: None,
        ..base
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pem() -> String {
        std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/jira_pkcs8.pem"
        ))
        .unwrap()
    }

    #[test]
    fn base_url_rules() {
        assert_eq!(
            validate_base_url("https://Jira.Example.org/jira//").unwrap(),
            (
                "https://Jira.Example.org/jira".into(),
                "jira.example.org".into()
            )
        );
        assert_eq!(
            validate_base_url("http://127.0.0.1:8090/").unwrap().1,
            "127.0.0.1"
        );
        for bad in [
            "",
            "jira.example.org",
            "ftp://x.org",
            "https://",
            "http://x.org/?a=b",
            "/x",
        ] {
            assert!(validate_base_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn external_id_is_cut_to_64() {
        assert_eq!(
            external_id("jira.example.org", "key"),
            "jira.example.org:key"
        );
        let long = external_id("jira.example.org", &"k".repeat(100));
        assert_eq!(long.chars().count(), 64);
        assert!(long.starts_with("jira.example.org:kkk"));
    }

    #[test]
    fn validate_checks_everything() {
        let p = pem();
        let ok = validate(None, "https://jira.example.org/", " key ", &p, None, None).unwrap();
        assert_eq!(ok.base_url, "https://jira.example.org");
        assert_eq!(ok.external_id, "jira.example.org:key");
        assert_eq!(ok.name, "jira.example.org");
        assert!(ok.verify_ssl);
        assert_eq!(ok.callback, CallbackKind::Web);
        assert!(!format!("{ok:?}").contains("PRIVATE"));
        let oob = validate(Some("J"), "http://j", "k", &p, Some(false), Some("oob")).unwrap();
        assert_eq!(
            (oob.callback, oob.verify_ssl, oob.name.as_str()),
            (CallbackKind::Oob, false, "J")
        );
        assert!(
            validate(None, "https://j", &"k".repeat(201), &p, None, None)
                .unwrap_err()
                .contains("200")
        );
        assert!(validate(None, "https://j", &"k".repeat(200), &p, None, None).is_ok());
        assert!(validate(None, "https://j", "", &p, None, None).is_err());
        assert!(validate(None, "https://j", "k", "nope", None, None)
            .unwrap_err()
            .starts_with("private_key_pem"));
        assert!(validate(None, "https://j", "k", &p, None, Some("mail")).is_err());
    }

    #[test]
    fn webhook_secret_is_32_bytes_hex() {
        let a = new_webhook_secret();
        assert_eq!(a.len(), 64);
        assert!(hex::decode(&a).is_ok());
        assert_ne!(a, new_webhook_secret());
    }
}
