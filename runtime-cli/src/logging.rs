//! runc-shaped logs: `--log FILE` (default stderr), `--log-format text|json`.
//! JSON lines look like logrus's: `{"level":"error","msg":"...","time":"..."}`;
//! containerd reads the last `error` line of the file.

use std::fs::OpenOptions;
use std::io::Write;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// Where and how to log.
pub struct Logger {
    out: Mutex<Box<dyn Write + Send>>,
    json: bool,
    max: Level,
    pub to_file: bool,
}

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        } else {
            self.0.push_str(&format!(" {}={value:?}", field.name()));
        }
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.to_string();
        } else {
            self.0.push_str(&format!(" {}={value}", field.name()));
        }
    }
}

fn level_name(l: &Level) -> &'static str {
    match *l {
        Level::ERROR => "error",
        Level::WARN => "warning",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

impl Logger {
    /// Opens the log target. A log file is appended to, as runc does.
    pub fn new(path: Option<&str>, format: &str, debug: bool) -> std::io::Result<Logger> {
        let (out, to_file): (Box<dyn Write + Send>, bool) = match path {
            Some(p) if !p.is_empty() => (
                Box::new(OpenOptions::new().create(true).append(true).open(p)?),
                true,
            ),
            _ => (Box::new(std::io::stderr()), false),
        };
        Ok(Logger {
            out: Mutex::new(out),
            json: format == "json",
            max: if debug { Level::DEBUG } else { Level::WARN },
            to_file,
        })
    }

    /// Writes one record.
    pub fn write(&self, level: &Level, msg: &str) {
        let time = husk::unstable::rfc3339_nano(std::time::SystemTime::now());
        let line = if self.json {
            let v = serde_json::json!({"level": level_name(level), "msg": msg, "time": time});
            format!("{v}\n")
        } else {
            format!("time={time:?} level={} msg={msg:?}\n", level_name(level))
        };
        if let Ok(mut o) = self.out.lock() {
            let _ = o.write_all(line.as_bytes());
        }
    }
}

struct LogLayer(std::sync::Arc<Logger>);

impl<S: Subscriber> Layer<S> for LogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = event.metadata().level();
        if *level > self.0.max {
            return;
        }
        let mut m = Message(String::new());
        event.record(&mut m);
        self.0.write(level, &m.0);
    }
}

/// Installs the logger as the global tracing subscriber.
pub fn install(logger: std::sync::Arc<Logger>) {
    let _ = tracing_subscriber::registry()
        .with(LogLayer(logger))
        .try_init();
}

/// `--debug`: logs the phases of a command with their durations
/// (`run ID: start: 1.2ms`), as the library does for `create`'s phases
/// (`husk-conformance bench` reads both into its "where the time goes" table).
/// Reads the clock only when debug logging is on.
pub struct Phases<'a> {
    what: &'a str,
    id: &'a str,
    last: Option<std::time::Instant>,
}

impl<'a> Phases<'a> {
    /// Starts timing the phases of command `what` on container `id`.
    pub fn start(what: &'a str, id: &'a str) -> Self {
        let last = tracing::enabled!(Level::DEBUG).then(std::time::Instant::now);
        Phases { what, id, last }
    }

    /// Ends the current phase, named `phase`, and starts the next.
    pub fn done(&mut self, phase: &str) {
        if let Some(t) = self.last {
            let now = std::time::Instant::now();
            tracing::debug!("{} {}: {phase}: {:?}", self.what, self.id, now - t);
            self.last = Some(now);
        }
    }
}
