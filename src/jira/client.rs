//! The Jira Server / DC HTTP client: the OAuth 1.0a handshake (request
//! token, authorize URL, access token), `serverInfo` and the webhook
//! registration. One client per integration (its own timeout and TLS
//! verification setting). Every request is signed with RSA-SHA1.

use super::oauth::{self, Credentials};
use super::response::{jira_message, parse_form, source_chain};
use rsa::RsaPrivateKey;
use std::collections::BTreeMap;
use std::time::Duration;

pub const REQUEST_TOKEN_PATH: &str = "/plugins/servlet/oauth/request-token";
pub const AUTHORIZE_PATH: &str = "/plugins/servlet/oauth/authorize";
pub const ACCESS_TOKEN_PATH: &str = "/plugins/servlet/oauth/access-token";
pub const SERVER_INFO_PATH: &str = "/rest/api/2/serverInfo";
pub const WEBHOOK_PATH: &str = "/rest/webhooks/1.0/webhook";
/// Jira 10 and later.
pub const WEBHOOK_PATH_V10: &str = "/rest/jira-webhook/1.0/webhooks";
pub const WEBHOOK_NAME: &str = "synclink issue sync";
/// Where the browser comes back to after authorising.
pub const CALLBACK_PATH: &str = "/extensions/jira-server/oauth/callback";

mod error;
mod rest;
pub use error::JiraError;
pub use rest::{parse_statuses, JiraUser, Refusal, PROJECT_PATH, STATUS_PATH};

/// The result of a webhook registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// Path of the Jira endpoint used.
    pub endpoint: String,
    pub status: u16,
    /// Jira's `self` URL of the new webhook, when it sent one.
    pub jira_webhook: Option<String>,
}

pub struct JiraClient {
    base_url: String,
    consumer_key: String,
    key: RsaPrivateKey,
    http: reqwest::Client,
    timeout_secs: u64,
}

/// A transport or HTTP failure, before it is given its context.
struct Failure {
    status: Option<u16>,
    message: String,
}

impl JiraClient {
    pub fn new(
        base_url: &str,
        consumer_key: &str,
        private_key_pem: &str,
        verify_ssl: bool,
        timeout_secs: u64,
    ) -> Result<JiraClient, JiraError> {
        let key = oauth::parse_private_key(private_key_pem)
            .map_err(|e| JiraError::BadKey(e.to_string()))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(timeout_secs))
            .connect_timeout(Duration::from_secs(timeout_secs))
            .danger_accept_invalid_certs(!verify_ssl)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("synclink/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| JiraError::BadUrl(format!("cannot build the HTTP client: {e}")))?;
        Ok(JiraClient {
            base_url: base_url.trim_end_matches('/').to_string(),
            consumer_key: consumer_key.to_string(),
            key,
            http,
            timeout_secs,
        })
    }

    fn url(&self, path: &str) -> Result<url::Url, JiraError> {
        url::Url::parse(&format!("{}{}", self.base_url, path))
            .map_err(|e| JiraError::BadUrl(e.to_string()))
    }

    fn transport(&self, e: reqwest::Error) -> Failure {
        let message = if e.is_timeout() {
            format!("no answer within {} s (timed out)", self.timeout_secs)
        } else if e.is_connect() {
            format!("cannot connect to Jira: {}", source_chain(&e))
        } else {
            format!("request failed: {}", source_chain(&e))
        };
        Failure {
            status: None,
            message,
        }
    }

    /// Send a signed POST with a form body (the OAuth endpoints) and return
    /// the body of a 2xx answer.
    async fn signed_form_post(
        &self,
        path: &str,
        token: Option<&str>,
        extra_oauth: &[(&str, &str)],
    ) -> Result<String, Failure> {
        let url = self.url(path).map_err(|e| Failure {
            status: None,
            message: e.to_string(),
        })?;
        let auth = self.auth(token, "POST", &url, extra_oauth)?;
        let resp = self
            .http
            .post(url)
            .header(reqwest::header::AUTHORIZATION, auth)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body("")
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        self.read(resp).await
    }

    fn auth(
        &self,
        token: Option<&str>,
        method: &str,
        url: &url::Url,
        extra_oauth: &[(&str, &str)],
    ) -> Result<String, Failure> {
        let creds = Credentials {
            consumer_key: &self.consumer_key,
            key: &self.key,
            token,
        };
        oauth::authorization_header(&creds, method, url, extra_oauth, &[]).map_err(|e| Failure {
            status: None,
            message: e.to_string(),
        })
    }

    /// The body of an answer of the handshake, serverInfo or the webhook
    /// registration, read up to [`rest::MAX_ANSWER_BYTES`] like every REST
    /// answer ([`read_capped`]).
    async fn read(&self, mut resp: reqwest::Response) -> Result<String, Failure> {
        let status = resp.status();
        let text = match read_capped(&mut resp).await {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(Capped::Transport(e)) => return Err(self.transport(e)),
            Err(Capped::TooLarge) => {
                return Err(Failure {
                    status: Some(status.as_u16()),
                    message: too_large(),
                })
            }
        };
        if status.is_success() {
            Ok(text)
        } else {
            Err(Failure {
                status: Some(status.as_u16()),
                message: jira_message(&text),
            })
        }
    }

    /// Step 1: a request token and its secret.
    pub async fn request_token(&self, callback: &str) -> Result<(String, String), JiraError> {
        let body = self
            .signed_form_post(REQUEST_TOKEN_PATH, None, &[("oauth_callback", callback)])
            .await
            .map_err(|f| JiraError::RequestToken {
                status: f.status,
                message: f.message,
            })?;
        let map = parse_form(&body);
        match (map.get("oauth_token"), map.get("oauth_token_secret")) {
            (Some(t), Some(s)) if !t.is_empty() && !s.is_empty() => Ok((t.clone(), s.clone())),
            _ => Err(JiraError::MissingOAuthToken),
        }
    }

    /// Step 2: where the Jira admin authorises the request token.
    pub fn authorize_url(&self, request_token: &str) -> String {
        format!(
            "{}{}?oauth_token={}",
            self.base_url,
            AUTHORIZE_PATH,
            oauth::percent_encode(request_token)
        )
    }

    /// Step 3: exchange the authorised request token for an access token.
    /// Without a verifier nothing is sent. The answer is parsed into a map
    /// (`oauth_token`, `oauth_token_secret` and whatever else Jira sends).
    pub async fn get_access_token(
        &self,
        request_token: &str,
        _request_token_secret: &str,
        verifier: Option<&str>,
    ) -> Result<BTreeMap<String, String>, JiraError> {
        // RSA-SHA1 does not use the token secret (RFC 5849 section 3.4.3);
        // HMAC-SHA1 would.
        let verifier = match verifier.map(str::trim) {
            Some(v) if !v.is_empty() && v != "denied" => v,
            _ => return Err(JiraError::MissingVerifier),
        };
        let body = self
            .signed_form_post(
                ACCESS_TOKEN_PATH,
                Some(request_token),
                &[("oauth_verifier", verifier)],
            )
            .await;
        let body = match body {
            Ok(b) => b,
            Err(f) => {
                return Err(JiraError::AccessToken {
                    status: f.status,
                    message: f.message,
                })
            }
        };
        let map = parse_form(&body);
        if let Some(p) = map.get("oauth_problem") {
            return Err(JiraError::AccessToken {
                status: None,
                message: format!("Jira reported oauth_problem \"{p}\""),
            });
        }
        match (map.get("oauth_token"), map.get("oauth_token_secret")) {
            (Some(t), Some(s)) if !t.is_empty() && !s.is_empty() => Ok(map),
            _ => Err(JiraError::AccessToken {
                status: None,
                message: "Missing oauth_token".into(),
            }),
        }
    }

    /// `GET /rest/api/2/serverInfo`, signed: Jira's `versionNumbers`.
    pub async fn server_info(&self, access_token: &str) -> Result<Vec<u64>, JiraError> {
        let fail = |f: Failure| JiraError::Webhook {
            status: f.status,
            message: format!("Could not read the Jira version: {}", f.message),
        };
        let url = self.url(SERVER_INFO_PATH)?;
        let auth = self
            .auth(Some(access_token), "GET", &url, &[])
            .map_err(fail)?;
        let resp = self
            .http
            .get(url)
            .header(reqwest::header::AUTHORIZATION, auth)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| fail(self.transport(e)))?;
        let text = self.read(resp).await.map_err(fail)?;
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|_| JiraError::Webhook {
            status: None,
            message: "Could not read the Jira version: serverInfo is not JSON".into(),
        })?;
        let nums: Vec<u64> = v["versionNumbers"]
            .as_array()
            .map(|a| a.iter().filter_map(|n| n.as_u64()).collect())
            .unwrap_or_default();
        if nums.is_empty() {
            return Err(JiraError::Webhook {
                status: None,
                message: "Could not read the Jira version: serverInfo has no versionNumbers".into(),
            });
        }
        Ok(nums)
    }

    /// Register the issue webhook, on the endpoint that fits Jira's version.
    pub async fn register_webhook(
        &self,
        access_token: &str,
        public_url: &str,
        external_id: &str,
        webhook_secret: &str,
    ) -> Result<Registered, JiraError> {
        let version = self.server_info(access_token).await?;
        let endpoint = webhook_endpoint(&version);
        let jwt =
            super::jwt::mint(external_id, webhook_secret).map_err(|e| JiraError::Webhook {
                status: None,
                message: e.to_string(),
            })?;
        let body = serde_json::json!({
            "name": WEBHOOK_NAME,
            "url": webhook_url(public_url, &jwt),
            "events": ["jira:issue_created", "jira:issue_updated"],
        });
        let fail = |f: Failure| JiraError::Webhook {
            status: f.status,
            message: f.message,
        };
        let url = self.url(endpoint)?;
        let auth = self
            .auth(Some(access_token), "POST", &url, &[])
            .map_err(fail)?;
        let resp = self
            .http
            .post(url)
            .header(reqwest::header::AUTHORIZATION, auth)
            .header(reqwest::header::ACCEPT, "application/json")
            .json(&body)
            .send()
            .await
            .map_err(|e| fail(self.transport(e)))?;
        let status = resp.status().as_u16();
        let text = self.read(resp).await.map_err(fail)?;
        let jira_webhook = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v["self"].as_str().map(str::to_string));
        Ok(Registered {
            endpoint: endpoint.to_string(),
            status,
            jira_webhook,
        })
    }
}

/// Why an answer was not read whole.
enum Capped {
    /// The connection failed (or timed out) before its end.
    Transport(reqwest::Error),
    /// More than [`rest::MAX_ANSWER_BYTES`].
    TooLarge,
}

/// Read an answer's body, at most [`rest::MAX_ANSWER_BYTES`]: a huge or
/// endless answer (a broken proxy, a hostile server at Jira's address) is
/// refused when it passes the limit, never buffered whole.
async fn read_capped(resp: &mut reqwest::Response) -> Result<Vec<u8>, Capped> {
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(Capped::Transport)? {
        if body.len() + chunk.len() > rest::MAX_ANSWER_BYTES {
            return Err(Capped::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn too_large() -> String {
    format!("the answer is larger than {} bytes", rest::MAX_ANSWER_BYTES)
}

/// `{public_url}/extensions/jira-server/issue-updated/{jwt}`.
pub fn webhook_url(public_url: &str, jwt: &str) -> String {
    format!(
        "{}/extensions/jira-server/issue-updated/{}",
        public_url.trim_end_matches('/'),
        jwt
    )
}

/// `{public_url}/extensions/jira-server/oauth/callback`.
pub fn callback_url(public_url: &str) -> String {
    format!("{}{}", public_url.trim_end_matches('/'), CALLBACK_PATH)
}

/// The webhook endpoint for a Jira version (`versionNumbers`).
pub fn webhook_endpoint(version: &[u64]) -> &'static str {
    if version.first().copied().unwrap_or(0) >= 10 {
        WEBHOOK_PATH_V10
    } else {
        WEBHOOK_PATH
    }
}

#[cfg(test)]
mod tests;
