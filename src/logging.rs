//! slog setup. Conventions (docs/LOGGING.md): the message is a lowercase,
//! dash-separated event name from the spec (`"token-validation-error"`);
//! everything else is a structured field; secrets and whole tokens never
//! appear in any field.

use crate::config::{LogConfig, LogFormat, LogLevel};
use slog::{o, Drain, Logger};
use std::io;
use std::sync::{Arc, Mutex};

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
            let json = JsonLines::new(std::io::stderr(), stderr_is_journal()).fuse();
            slog_async::Async::new(json)
                .chan_size(8192)
                .overflow_strategy(slog_async::OverflowStrategy::DropAndReport)
                .build_with_guard()
        }
        LogFormat::Term => {
            let decorator = slog_term::TermDecorator::new().stderr().build();
            let term = slog_term::FullFormat::new(decorator).build().fuse();
            slog_async::Async::new(term)
                .chan_size(8192)
                .overflow_strategy(slog_async::OverflowStrategy::DropAndReport)
                .build_with_guard()
        }
    };
    // Filter before the channel: a record below the level costs a compare,
    // not a copy of its fields to the logging thread.
    let log = Logger::root(drain.filter_level(lvl).fuse(), o!("service" => "synclink"));
    (log, LogGuard(Some(guard)))
}

/// The syslog priority of a level (`<N>` line prefix for journald).
pub fn syslog_priority(l: slog::Level) -> u8 {
    match l {
        slog::Level::Critical => 2,
        slog::Level::Error => 3,
        slog::Level::Warning => 4,
        slog::Level::Info => 6,
        slog::Level::Debug | slog::Level::Trace => 7,
    }
}

/// True when standard error is the journal stream systemd connected
/// (`JOURNAL_STREAM` names its device and inode), not a pipe or terminal
/// that merely inherited the variable.
fn stderr_is_journal() -> bool {
    let Ok(v) = std::env::var("JOURNAL_STREAM") else {
        return false;
    };
    let Some((dev, ino)) = v.split_once(':') else {
        return false;
    };
    let (Ok(dev), Ok(ino)) = (dev.parse::<u64>(), ino.parse::<u64>()) else {
        return false;
    };
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    let Ok(fd) = io::stderr().as_fd().try_clone_to_owned() else {
        return false;
    };
    match std::fs::File::from(fd).metadata() {
        Ok(m) => m.dev() == dev && m.ino() == ino,
        Err(_) => false,
    }
}

/// Where slog_json serializes one record before it is written out whole.
#[derive(Clone, Default)]
struct RecordBuf(Arc<Mutex<Vec<u8>>>);

impl io::Write for RecordBuf {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// JSON lines: one object per record (`msg`, `level`, `ts` + fields),
/// written with a single `write` so lines never interleave. Under journald
/// each line starts with the syslog priority (`<4>{...}`): journald strips
/// it and files the line at that priority (`journalctl -p warning` works).
pub struct JsonLines<W: io::Write> {
    json: slog_json::Json<RecordBuf>,
    buf: RecordBuf,
    out: Mutex<W>,
    journald: bool,
}

impl<W: io::Write> JsonLines<W> {
    pub fn new(out: W, journald: bool) -> JsonLines<W> {
        let buf = RecordBuf::default();
        let json = slog_json::Json::new(buf.clone())
            .add_key_value(o!(
                "ts" => slog::FnValue(|_: &slog::Record| ts_now()),
                "level" => slog::FnValue(|r: &slog::Record| level_name(r.level())),
                "msg" => slog::PushFnValue(|r: &slog::Record, ser| ser.emit(r.msg())),
            ))
            .build();
        JsonLines {
            json,
            buf,
            out: Mutex::new(out),
            journald,
        }
    }
}

impl<W: io::Write> Drain for JsonLines<W> {
    type Ok = ();
    type Err = io::Error;

    fn log(&self, record: &slog::Record, values: &slog::OwnedKVList) -> io::Result<()> {
        let result = self.json.log(record, values);
        let mut buf = self.buf.0.lock().unwrap_or_else(|e| e.into_inner());
        let record_bytes = std::mem::take(&mut *buf);
        drop(buf);
        result?;
        let mut line = Vec::with_capacity(record_bytes.len() + 3);
        if self.journald {
            line.extend_from_slice(format!("<{}>", syslog_priority(record.level())).as_bytes());
        }
        line.extend_from_slice(&record_bytes);
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        out.write_all(&line)?;
        out.flush()
    }
}

/// A logger that drops everything (unit tests).
/// Most bytes of what a client sent (a path, a method, a header, a token's
/// claim) that a log record carries.
pub const CLIENT_TEXT_MAX: usize = 1024;

/// `text` as a log record may carry it: cut to [`CLIENT_TEXT_MAX`] bytes (on
/// a character boundary), saying how long it was.
pub fn clip(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= CLIENT_TEXT_MAX {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut end = CLIENT_TEXT_MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}... ({} bytes in all)", &text[..end], text.len()))
}

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

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn lines(journald: bool) -> Vec<String> {
        let sink = Sink::default();
        let log = Logger::root(
            Mutex::new(JsonLines::new(sink.clone(), journald)).fuse(),
            o!("service" => "synclink"),
        );
        let child = log.new(o!("request_id" => "abc"));
        slog::warn!(child, "token-validation-error"; "reason" => "bad signature");
        slog::info!(log, "ready"; "startup_ms" => 12u64);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn json_lines_carry_msg_level_ts_and_fields() {
        let l = lines(false);
        assert_eq!(l.len(), 2, "{l:?}");
        let v: serde_json::Value = serde_json::from_str(&l[0]).unwrap();
        assert_eq!(v["msg"], "token-validation-error");
        assert_eq!(v["level"], "warning");
        assert_eq!(v["reason"], "bad signature");
        assert_eq!(v["request_id"], "abc");
        assert_eq!(v["service"], "synclink");
        assert!(chrono::DateTime::parse_from_rfc3339(v["ts"].as_str().unwrap()).is_ok());
        let v: serde_json::Value = serde_json::from_str(&l[1]).unwrap();
        assert_eq!(
            (v["msg"].as_str(), v["level"].as_str()),
            (Some("ready"), Some("info"))
        );
        assert!(
            v.get("request_id").is_none(),
            "context of another logger leaked"
        );
    }

    #[test]
    fn under_journald_lines_start_with_the_priority() {
        let l = lines(true);
        assert!(l[0].starts_with("<4>{"), "{}", l[0]);
        assert!(l[1].starts_with("<6>{"), "{}", l[1]);
        let v: serde_json::Value = serde_json::from_str(&l[0][3..]).unwrap();
        assert_eq!(v["level"], "warning");
    }

    #[test]
    fn client_text_is_clipped_to_1_kib() {
        assert_eq!(super::clip("GET"), "GET");
        let long = "x".repeat(60_000);
        let c = super::clip(&long);
        assert!(c.len() < super::CLIENT_TEXT_MAX + 40, "{}", c.len());
        assert!(c.ends_with("(60000 bytes in all)"), "{c}");
        // Never cut inside a character.
        let wide = "é".repeat(1000);
        let c = super::clip(&wide);
        assert!(c.starts_with(&"é".repeat(512)), "{c}");
    }
}
