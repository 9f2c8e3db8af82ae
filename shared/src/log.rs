//! The one structured log line per request (CONTRACT.md §4).
//!
//! Lines are JSON objects with top-level fields, written whole to stdout (CloudWatch reads a
//! Lambda's stdout), so metric filters can match `$.event` and `$.path`. They carry no request or
//! response body, so no key or secret can reach them.

use serde::Serialize;
use std::io::Write;
use std::sync::Mutex;

/// The event names; metric filters and alarms are built on them, so they never change.
pub mod event {
    /// A 2xx answer.
    pub const SUCCESS: &str = "convex_http_success";
    /// A 400, 404, 405 or 413 answer.
    pub const INVALID_REQUEST: &str = "convex_http_invalid_request";
    /// A 5xx answer other than a missing admin token.
    pub const FAILURE: &str = "convex_http_failure";
    /// A 401 answer.
    pub const UNAUTHORIZED: &str = "convex_http_unauthorized";
    /// No admin token is configured.
    pub const MISSING_ADMIN_TOKEN: &str = "convex_http_missing_admin_token";
    /// The legacy `x-convex-admin-key` header was used.
    pub const ADMIN_HEADER_FALLBACK: &str = "convex_http_admin_header_fallback";
}

/// One log line. Fields that are `None` are left out.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LogLine<'a> {
    /// ISO-8601 time of the line.
    pub timestamp: String,
    /// `info`, `warn` or `error`.
    pub level: &'static str,
    /// One of [`event`].
    pub event: &'static str,
    /// The path as called.
    pub path: &'a str,
    /// The Convex function name, for calls through the function protocol.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub function: Option<&'a str>,
    /// The HTTP method.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<&'a str>,
    /// The HTTP status answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Time from receiving the request to having its answer, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// API Gateway's request id (or the dev server's).
    pub request_id: &'a str,
    /// The caller's IP address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<&'a str>,
    /// The caller's `User-Agent`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<&'a str>,
    /// The error message, for failed requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a str>,
}

/// Where log lines go.
pub trait LogSink: Send + Sync + 'static {
    /// Writes one complete line (without its newline).
    fn write_line(&self, line: &str);
}

/// Standard output, one `write` per line so concurrent lines never interleave.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stdout;

impl LogSink for Stdout {
    fn write_line(&self, line: &str) {
        let mut buf = Vec::with_capacity(line.len() + 1);
        buf.extend_from_slice(line.as_bytes());
        buf.push(b'\n');
        let _ = std::io::stdout().lock().write_all(&buf);
    }
}

/// Keeps lines in memory; for tests.
#[derive(Debug, Default)]
pub struct Memory(Mutex<Vec<String>>);

impl Memory {
    /// Every line written so far.
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Every line written so far, parsed.
    pub fn json(&self) -> Vec<serde_json::Value> {
        self.lines()
            .iter()
            .map(|l| serde_json::from_str(l).expect("log lines are JSON"))
            .collect()
    }
}

impl LogSink for Memory {
    fn write_line(&self, line: &str) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(line.to_owned());
    }
}

impl LogLine<'_> {
    /// Serializes the line and writes it to `sink`.
    pub fn emit(&self, sink: &dyn LogSink) {
        if let Ok(line) = serde_json::to_string(self) {
            sink.write_line(&line);
        }
    }
}

/// Sets up `tracing` for diagnostics beside the request lines: JSON on stderr (so stdout holds only
/// the request lines of the contract), at the level `RUST_LOG` names (`error`, `warn`, `info`,
/// `debug`, `trace`; `warn` when unset or unreadable). A plain level rather than an `EnvFilter`
/// keeps the regex engine out of the functions.
pub fn init_tracing() {
    let level = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| {
            v.trim()
                .parse::<tracing_subscriber::filter::LevelFilter>()
                .ok()
        })
        .unwrap_or(tracing_subscriber::filter::LevelFilter::WARN);
    let _ = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_target(false)
        .with_max_level(level)
        .with_writer(std::io::stderr)
        .try_init();
}
