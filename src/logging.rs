//! slog setup. Conventions (docs/LOGGING.md): the message is a lowercase,
//! dash-separated event name from the spec (`"token-validation-error"`);
//! everything else is a structured field; secrets and whole tokens never
//! appear in any field.

use crate::config::{LogConfig, LogFormat, LogLevel};
use slog::{o, Drain, Logger};

/// Keeps the async drain alive; dropping it flushes pending records.
pub struct LogGuard(#[allow(dead_code)] Option<slog_async::AsyncGuard>);

fn level(l: LogLevel) -> slog::Level {
    match l {
        LogLevel::Critical => slog::Level::Critical,
        LogLevel::Error => slog::Level::Error,
        LogLevel::Warning => slog::Level::Warning,
        LogLevel::Info => slog::Level::Info,
        LogLevel::Debug => slog::Level::Debug,
        LogLevel::Trace => slog::Level::Trace,
    }
}

/// The `level` of a JSON record: the same words as the `log.level` setting
/// (`critical`, `error`, `warning`, `info`, `debug`, `trace`).
pub fn level_name(l: slog::Level) -> &'static str {
    match l {
        slog::Level::Critical => "critical",
        slog::Level::Error => "error",
        slog::Level::Warning => "warning",
        slog::Level::Info => "info",
        slog::Level::Debug => "debug",
        slog::Level::Trace => "trace",
    }
}

/// The `ts` of a JSON record: RFC 3339 in UTC with microseconds
/// (`2026-01-31T12:00:00.123456Z`).
pub fn ts_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Build the root logger: JSON lines (msg, level, ts + fields) or terminal
/// format, on standard error, through an async drain.
pub fn init(cfg: &LogConfig) -> (Logger, LogGuard) {
    let lvl = level(cfg.level);
    let (drain, guard) = match cfg.format {
        LogFormat::Json => {
            let json = slog_json::Json::new(std::io::stderr())
                .add_key_value(o!(
                    "ts" => slog::FnValue(|_: &slog::Record| ts_now()),
                    "level" => slog::FnValue(|r: &slog::Record| level_name(r.level())),
                    "msg" => slog::PushFnValue(|r: &slog::Record, ser| ser.emit(r.msg())),
                ))
                .set_flush(true)
                .build()
                .fuse();
            slog_async::Async::new(json.filter_level(lvl).fuse())
                .chan_size(8192)
                .overflow_strategy(slog_async::OverflowStrategy::DropAndReport)
                .build_with_guard()
        }
        LogFormat::Term => {
            let decorator = slog_term::TermDecorator::new().stderr().build();
            let term = slog_term::FullFormat::new(decorator).build().fuse();
            slog_async::Async::new(term.filter_level(lvl).fuse())
                .chan_size(8192)
                .overflow_strategy(slog_async::OverflowStrategy::DropAndReport)
                .build_with_guard()
        }
    };
    let log = Logger::root(drain.fuse(), o!("service" => "synclink"));
    (log, LogGuard(Some(guard)))
}

/// A logger that drops everything (unit tests).
pub fn discard() -> Logger {
    Logger::root(slog::Discard, o!())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_names_match_the_config_words() {
        for (cfg, name) in [
            (LogLevel::Critical, "critical"),
            (LogLevel::Error, "error"),
            (LogLevel::Warning, "warning"),
            (LogLevel::Info, "info"),
            (LogLevel::Debug, "debug"),
            (LogLevel::Trace, "trace"),
        ] {
            assert_eq!(level_name(level(cfg)), name);
            let as_toml: LogConfig = toml::from_str(&format!("level = \"{name}\"")).unwrap();
            assert_eq!(as_toml.level, cfg);
        }
        let ts = ts_now();
        assert!(ts.ends_with('Z'), "{ts}");
        assert!(chrono::DateTime::parse_from_rfc3339(&ts).is_ok(), "{ts}");
    }
}
