//! Configuration: embedded defaults, TOML file, validation.
//!
//! Every key of SPEC section 2 lives here. Unknown keys are rejected by serde
//! (`deny_unknown_fields`), and `validate` checks the ranges serde cannot.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Parse(String),
    #[error("invalid value for `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub http: HttpConfig,
    pub admin: AdminConfig,
    pub storage: StorageConfig,
    pub ids: IdsConfig,
    pub cache: CacheConfig,
    pub jira: JiraConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    pub listen: String,
    pub public_url: String,
    pub max_body_bytes: usize,
    pub metrics: bool,
    /// Webhook deliveries allowed in flight before new ones get 503 + Retry-After.
    pub max_inflight: usize,
    /// Seconds a graceful shutdown waits for in-flight requests.
    pub shutdown_timeout_secs: u64,
    /// Seconds a webhook body may take to arrive whole (else 408).
    pub body_timeout_secs: u64,
    /// Worker threads of the public listener; 0 picks [`HttpConfig::workers`].
    pub workers: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            public_url: "http://127.0.0.1:8080".into(),
            max_body_bytes: 1_048_576,
            metrics: true,
            max_inflight: 1024,
            shutdown_timeout_secs: 30,
            body_timeout_secs: 10,
            workers: 0,
        }
    }
}

/// The most public-listener workers `http.workers` may ask for.
pub const MAX_HTTP_WORKERS: usize = 256;

impl HttpConfig {
    /// The public listener's worker threads: `http.workers`, or when it is 0
    /// one fewer than the CPUs this process may run on, and at least one.
    /// The single writer (`SyncActor`) is busy for every delivery and needs a
    /// core of its own: on 2 cores, two workers beside it cost 15-20% more CPU
    /// per delivery than one (bench/ANALYSIS.md, eighth round).
    pub fn workers(&self) -> usize {
        match self.workers {
            0 => auto_workers(std::thread::available_parallelism().map_or(1, |n| n.get())),
            n => n,
        }
    }
}

/// `http.workers = 0` on a machine with `cpus` CPUs.
fn auto_workers(cpus: usize) -> usize {
    cpus.saturating_sub(1).clamp(1, MAX_HTTP_WORKERS)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminConfig {
    pub socket: PathBuf,
    pub socket_mode: String,
}

impl Default for AdminConfig {
    fn default() -> Self {
        Self {
            socket: PathBuf::from("./synclink.sock"),
            socket_mode: "0600".into(),
        }
    }
}

impl AdminConfig {
    /// The socket mode parsed as octal (validated in [`Config::validate`]).
    pub fn mode(&self) -> u32 {
        u32::from_str_radix(self.socket_mode.trim_start_matches("0o"), 8).unwrap_or(0o600)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    Sync,
    Async,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    pub path: PathBuf,
    pub durability: Durability,
    pub flush_interval_ms: u64,
    pub delivery_log_max: usize,
    /// Activities older than this many days are removed (hourly, or ten
    /// times per retention period when that is shorter); 0 keeps them all.
    /// A fraction of a day is allowed (0.5 = 12 hours).
    pub activity_retention_days: f64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            path: PathBuf::from("./synclink-data"),
            durability: Durability::Sync,
            flush_interval_ms: 200,
            delivery_log_max: 100_000,
            activity_retention_days: 0.0,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdsConfig {
    pub use_snowflake: bool,
    pub region_id: u16,
    pub version_id: u8,
    pub epoch: String,
    pub max_retries: u32,
}

impl Default for IdsConfig {
    fn default() -> Self {
        Self {
            use_snowflake: true,
            region_id: 0,
            version_id: 1,
            epoch: "2022-08-08T00:00:00Z".into(),
            max_retries: 5,
        }
    }
}

impl IdsConfig {
    /// Epoch as UNIX seconds (validated in [`Config::validate`]).
    pub fn epoch_secs(&self) -> i64 {
        chrono::DateTime::parse_from_rfc3339(&self.epoch)
            .map(|d| d.timestamp())
            .unwrap_or(1_659_916_800)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheConfig {
    pub ttl_secs: u64,
    pub negative_ttl_secs: u64,
    pub max_entries: u64,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            ttl_secs: 86_400,
            negative_ttl_secs: 60,
            max_entries: 100_000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JiraConfig {
    pub timeout_secs: u64,
    pub pending_ttl_secs: u64,
    /// Two-way sync and reconcile (SPEC sections 10 and 11). Read and
    /// validated today so that a configuration written for them loads;
    /// the features that use them are not built yet (docs/API.md).
    pub status_refresh_secs: u64,
    pub outbound_max_in_flight: usize,
    pub outbound_max_backoff_secs: u64,
    pub outbound_give_up_secs: u64,
    pub reconcile_interval_secs: u64,
    pub reconcile_overlap_secs: u64,
    pub reconcile_first_lookback_secs: u64,
}

impl Default for JiraConfig {
    fn default() -> Self {
        Self {
            timeout_secs: 10,
            pending_ttl_secs: 900,
            status_refresh_secs: 3600,
            outbound_max_in_flight: 4,
            outbound_max_backoff_secs: 300,
            outbound_give_up_secs: 86_400,
            reconcile_interval_secs: 300,
            reconcile_overlap_secs: 120,
            reconcile_first_lookback_secs: 86_400,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Term,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Critical,
    Error,
    Warning,
    Info,
    Debug,
    Trace,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub format: LogFormat,
    pub level: LogLevel,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Json,
            level: LogLevel::Info,
        }
    }
}

impl Config {
    /// Parse TOML text and validate it.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        if let Some(key) = first_unknown_key(text) {
            return Err(ConfigError::Parse(format!(
                "unknown key `{key}` (see config.toml.example for every key)"
            )));
        }
        let cfg: Config = toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Load from a file, or the embedded defaults when `path` is `None`.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        match path {
            None => {
                let cfg = Config::default();
                cfg.validate()?;
                Ok(cfg)
            }
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|source| ConfigError::Read {
                    path: p.to_path_buf(),
                    source,
                })?;
                Config::from_toml(&text)
            }
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        fn bad(key: &'static str, reason: impl Into<String>) -> Result<(), ConfigError> {
            Err(ConfigError::Invalid {
                key,
                reason: reason.into(),
            })
        }
        if self.http.listen.parse::<std::net::SocketAddr>().is_err() {
            return bad("http.listen", "expected HOST:PORT with an IP address");
        }
        match url::Url::parse(&self.http.public_url) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
            _ => return bad("http.public_url", "expected an http:// or https:// URL"),
        }
        if self.http.max_body_bytes == 0 {
            return bad("http.max_body_bytes", "must be greater than 0");
        }
        if self.http.max_inflight == 0 {
            return bad("http.max_inflight", "must be greater than 0");
        }
        if self.http.body_timeout_secs == 0 {
            return bad("http.body_timeout_secs", "must be greater than 0");
        }
        if self.http.workers > MAX_HTTP_WORKERS {
            return bad(
                "http.workers",
                format!("must be within 0..{MAX_HTTP_WORKERS} (0: one fewer than the CPUs)"),
            );
        }
        if self.jira.status_refresh_secs == 0 {
            return bad("jira.status_refresh_secs", "must be greater than 0");
        }
        if self.jira.outbound_max_in_flight == 0 {
            return bad("jira.outbound_max_in_flight", "must be greater than 0");
        }
        if self.jira.outbound_max_backoff_secs == 0 {
            return bad("jira.outbound_max_backoff_secs", "must be greater than 0");
        }
        let m = self.admin.socket_mode.trim_start_matches("0o");
        match u32::from_str_radix(m, 8) {
            Ok(v) if v <= 0o777 && !m.is_empty() => {}
            _ => {
                return bad(
                    "admin.socket_mode",
                    "expected an octal mode such as \"0600\"",
                )
            }
        }
        if self.admin.socket.as_os_str().is_empty() {
            return bad("admin.socket", "must not be empty");
        }
        if self.storage.path.as_os_str().is_empty() {
            return bad("storage.path", "must not be empty");
        }
        if self.storage.flush_interval_ms == 0 {
            return bad("storage.flush_interval_ms", "must be greater than 0");
        }
        let days = self.storage.activity_retention_days;
        if !(0.0..=36_500.0).contains(&days) {
            return bad(
                "storage.activity_retention_days",
                "must be a number of days from 0 to 36500 (0 keeps every activity)",
            );
        }
        if self.storage.delivery_log_max == 0 {
            return bad("storage.delivery_log_max", "must be greater than 0");
        }
        if self.ids.region_id > 4095 {
            return bad("ids.region_id", "must be within 0..4095");
        }
        if self.ids.version_id > 31 {
            return bad("ids.version_id", "must be within 0..31");
        }
        match chrono::DateTime::parse_from_rfc3339(&self.ids.epoch) {
            Ok(d) if d.timestamp() <= chrono::Utc::now().timestamp() => {}
            Ok(_) => return bad("ids.epoch", "must not be in the future"),
            Err(e) => return bad("ids.epoch", format!("expected RFC 3339: {e}")),
        }
        if self.cache.max_entries == 0 {
            return bad("cache.max_entries", "must be greater than 0");
        }
        if self.jira.timeout_secs == 0 {
            return bad("jira.timeout_secs", "must be greater than 0");
        }
        if self.jira.pending_ttl_secs == 0 {
            return bad("jira.pending_ttl_secs", "must be greater than 0");
        }
        Ok(())
    }
}

/// The first key of `text` (dotted, e.g. `ids.use_snowflak`) that the
/// configuration does not know; `None` when all are known or the text is not
/// TOML (the typed parse reports that).
fn first_unknown_key(text: &str) -> Option<String> {
    fn walk(given: &toml::Table, known: &toml::Table, prefix: &str) -> Option<String> {
        for (k, v) in given {
            let path = format!("{prefix}{k}");
            match (known.get(k), v) {
                (None, _) => return Some(path),
                (Some(toml::Value::Table(kt)), toml::Value::Table(gt)) => {
                    if let Some(p) = walk(gt, kt, &format!("{path}.")) {
                        return Some(p);
                    }
                }
                _ => {}
            }
        }
        None
    }
    let given: toml::Table = toml::from_str(text).ok()?;
    let known = toml::Table::try_from(Config::default()).ok()?;
    walk(&given, &known, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let c = Config::load(None).unwrap();
        assert_eq!(c.http.listen, "127.0.0.1:8080");
        assert_eq!(c.admin.mode(), 0o600);
        assert_eq!(c.storage.durability, Durability::Sync);
        assert_eq!(c.ids.epoch_secs(), 1_659_916_800);
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::from_toml("[http]\nlisten = \"127.0.0.1:1\"\nbogus = 1\n").unwrap_err();
        assert!(err.to_string().contains("bogus"), "{err}");
        assert!(err.to_string().contains("`http.bogus`"), "{err}");
        let err = Config::from_toml("[nope]\n").unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        let err = Config::from_toml("[ids]\nuse_snowflak = true\n").unwrap_err();
        assert!(err.to_string().contains("`ids.use_snowflak`"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        for (toml, key) in [
            ("[ids]\nregion_id = 4096", "ids.region_id"),
            ("[ids]\nversion_id = 32", "ids.version_id"),
            ("[admin]\nsocket_mode = \"9\"", "admin.socket_mode"),
            ("[http]\nlisten = \"nope\"", "http.listen"),
            ("[ids]\nepoch = \"yesterday\"", "ids.epoch"),
            ("[http]\nworkers = 257", "http.workers"),
        ] {
            let err = Config::from_toml(toml).unwrap_err().to_string();
            assert!(err.contains(key), "{toml}: {err}");
        }
        let err = Config::from_toml("[storage]\ndurability = \"maybe\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("durability"), "{err}");
    }

    #[test]
    fn workers_leave_the_writer_a_core() {
        assert_eq!(auto_workers(1), 1);
        assert_eq!(auto_workers(2), 1);
        assert_eq!(auto_workers(8), 7);
        assert_eq!(auto_workers(10_000), MAX_HTTP_WORKERS);
        let c = Config::from_toml("[http]\nworkers = 3").unwrap();
        assert_eq!(c.http.workers(), 3);
        let cpus = std::thread::available_parallelism().unwrap().get();
        assert_eq!(Config::default().http.workers(), auto_workers(cpus));
    }

    #[test]
    fn example_file_parses_and_matches_defaults() {
        let text = include_str!("../config.toml.example");
        let c = Config::from_toml(text).unwrap();
        let d = Config::default();
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            serde_json::to_value(&d).unwrap()
        );
    }
}
