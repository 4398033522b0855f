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

/// Build the root logger: JSON lines (msg, level, ts + fields) or terminal
/// format, on standard error, through an async drain.
pub fn init(cfg: &LogConfig) -> (Logger, LogGuard) {
    let lvl = level(cfg.level);
    let (drain, guard) = match cfg.format {
        LogFormat::Json => {
            let json = slog_json::Json::new(std::io::stderr())
                .add_default_keys()
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
