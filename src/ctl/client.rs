//! HTTP/1.1 + JSON over the admin Unix socket.

use serde_json::Value;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum CtlError {
    #[error("cannot reach synclinkd at {socket}: {reason}")]
    Connect { socket: String, reason: String },
    #[error("{message} ({code}, HTTP {status})")]
    Api {
        status: u16,
        code: String,
        message: String,
    },
    #[error("{0}")]
    Usage(String),
    /// The call worked but what it waited for failed (a reconcile run):
    /// `output` still goes to standard output.
    #[error("{message}")]
    Failed { output: String, message: String },
}

impl CtlError {
    /// Process exit code: 1 for an error answered by the daemon, 2 for bad
    /// usage, 3 when the daemon cannot be reached.
    pub fn exit_code(&self) -> u8 {
        match self {
            CtlError::Api { .. } | CtlError::Failed { .. } => 1,
            CtlError::Usage(_) => 2,
            CtlError::Connect { .. } => 3,
        }
    }
}

pub struct Client {
    http: reqwest::blocking::Client,
    socket: String,
}

impl Client {
    pub fn new(socket: &Path) -> Result<Client, CtlError> {
        let http = reqwest::blocking::Client::builder()
            .unix_socket(socket)
            .timeout(Duration::from_secs(120))
            .build()
            .map_err(|e| CtlError::Connect {
                socket: socket.display().to_string(),
                reason: e.to_string(),
            })?;
        Ok(Client {
            http,
            socket: socket.display().to_string(),
        })
    }

    /// Send a request; Ok(body) for 2xx (Null when empty), Err otherwise.
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, CtlError> {
        let url = format!("http://synclinkd{path}");
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut rb = self.http.request(method, url);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().map_err(|e| CtlError::Connect {
            socket: self.socket.clone(),
            reason: with_hint(&e),
        })?;
        let status = resp.status().as_u16();
        let text = resp.text().unwrap_or_default();
        let json: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok(json);
        }
        let code = json["error"]["code"]
            .as_str()
            .unwrap_or("error")
            .to_string();
        let message = json["error"]["message"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| {
                if text.is_empty() {
                    "no message".into()
                } else {
                    text
                }
            });
        Err(CtlError::Api {
            status,
            code,
            message,
        })
    }
}

/// The root cause, and what to do when it is a permission refusal on the
/// socket (the packaged unit gives it to user and group `synclink`).
fn with_hint(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    let mut denied = false;
    loop {
        if let Some(io) = cur.downcast_ref::<std::io::Error>() {
            denied |= io.kind() == std::io::ErrorKind::PermissionDenied;
        }
        match cur.source() {
            Some(next) => cur = next,
            None => break,
        }
    }
    let cause = root_cause(e);
    if denied {
        format!(
            "{cause}. The socket belongs to the service user: run synclinkctl with sudo, or as a \
             member of the `synclink` group (admin.socket_mode = \"0660\" in \
             /etc/synclink/config.toml; `sudo adduser $USER synclink`, then log in again)"
        )
    } else {
        cause
    }
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
