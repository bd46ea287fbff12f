//! The trace: one event per hostcall, plus events for logs and outside work.
//!
//! The web app draws it; `edgeplay request --json` prints it; [`to_chrome_trace`]
//! exports it to the Chrome/Perfetto trace-event JSON format.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// What kind of handle a number is, for decoded trace arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HandleKind {
    /// `request_handle`
    Request,
    /// `response_handle`
    Response,
    /// `body_handle`
    Body,
    /// `pending_request_handle`
    PendingRequest,
    /// `request_promise_handle`
    RequestPromise,
    /// `endpoint_handle`
    Endpoint,
    /// `dictionary_handle` / `config_store_handle`
    Dictionary,
    /// `secret_store_handle`
    SecretStore,
    /// `secret_handle`
    Secret,
    /// `kv_store_handle`
    KvStore,
    /// any async item
    AsyncItem,
    /// WASI file descriptor
    Fd,
    /// other handle kinds
    Other,
}

/// A decoded hostcall argument or result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum ArgValue {
    /// A plain integer (or a raw pointer/length).
    Int(i64),
    /// A handle with its kind.
    Handle {
        /// The handle's kind.
        kind: HandleKind,
        /// The handle number.
        handle: u32,
    },
    /// Text read from or written to guest memory.
    Str(String),
    /// Bytes that are not text: their length and a short hex preview.
    Bytes {
        /// Total length.
        len: usize,
        /// Up to 32 bytes, hex.
        preview: String,
    },
    /// Flag bits by name.
    Flags(Vec<String>),
    /// An enum value by name.
    Enum(String),
    /// A list of values (e.g. NUL-separated header values).
    List(Vec<String>),
}

impl ArgValue {
    /// Text when the bytes are UTF-8, else a [`ArgValue::Bytes`] preview. Long text is cut at 1 KiB.
    pub fn text_or_bytes(bytes: &[u8]) -> ArgValue {
        match std::str::from_utf8(bytes) {
            Ok(s) if s.len() <= 1024 => ArgValue::Str(s.to_owned()),
            Ok(s) => {
                let mut cut = 1024;
                while !s.is_char_boundary(cut) {
                    cut -= 1;
                }
                ArgValue::Str(format!("{}… ({} bytes)", &s[..cut], s.len()))
            }
            Err(_) => ArgValue::bytes(bytes),
        }
    }

    /// A bytes preview.
    pub fn bytes(bytes: &[u8]) -> ArgValue {
        let preview: String = bytes.iter().take(32).map(|b| format!("{b:02x}")).collect();
        ArgValue::Bytes {
            len: bytes.len(),
            preview,
        }
    }

    /// A short human rendering, as the trace panel and the CLI show it.
    pub fn display(&self) -> String {
        match self {
            ArgValue::Int(i) => i.to_string(),
            ArgValue::Handle { kind, handle } => format!("{kind:?}#{handle}").to_lowercase(),
            ArgValue::Str(s) => format!("{s:?}"),
            ArgValue::Bytes { len, preview } => format!("<{len} bytes {preview}>"),
            ArgValue::Flags(f) => f.join("|"),
            ArgValue::Enum(e) => e.clone(),
            ArgValue::List(l) => format!("{l:?}"),
        }
    }
}

/// What an event records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A guest import was called.
    Hostcall,
    /// A log line (stdout, stderr, or a named endpoint).
    Log,
    /// Outside work the driver performed (a sleep, a backend fetch, ...).
    Work,
    /// The execution itself (start, trap, exit, CPU limit).
    Lifecycle,
}

/// One trace event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceEvent {
    /// Sequence number, from 0, in call order.
    pub seq: u64,
    /// What the event records.
    pub kind: EventKind,
    /// Start, in microseconds since the execution started.
    pub start_us: f64,
    /// Duration in microseconds (for a call the guest was suspended in, until it resumed).
    pub dur_us: f64,
    /// Guest import module (`fastly_http_req`, `wasi_snapshot_preview1`, ...) or event source.
    pub module: Cow<'static, str>,
    /// Import name (`header_insert`, ...) or event name.
    pub name: Cow<'static, str>,
    /// Decoded arguments, in order.
    pub args: Vec<(Cow<'static, str>, ArgValue)>,
    /// Values the call wrote back (handles created, lengths, ...).
    pub results: Vec<(Cow<'static, str>, ArgValue)>,
    /// The returned status by name (`ok`, `inval`, WASI `badf`, ...), if the call returns one.
    pub status: Option<Cow<'static, str>>,
    /// The returned status code.
    pub code: Option<i32>,
    /// Bytes read from guest memory.
    pub bytes_read: u64,
    /// Bytes written to guest memory.
    pub bytes_written: u64,
    /// Guest fuel used since the previous event.
    pub fuel: u64,
    /// True when the host does not emulate this import yet.
    pub unsupported: bool,
    /// A human note (why a call failed, what the host did).
    pub note: Option<String>,
}

impl TraceEvent {
    /// A new event with empty details.
    pub fn new(
        seq: u64,
        kind: EventKind,
        module: impl Into<Cow<'static, str>>,
        name: impl Into<Cow<'static, str>>,
    ) -> Self {
        TraceEvent {
            seq,
            kind,
            start_us: 0.0,
            dur_us: 0.0,
            module: module.into(),
            name: name.into(),
            args: Vec::new(),
            results: Vec::new(),
            status: None,
            code: None,
            bytes_read: 0,
            bytes_written: 0,
            fuel: 0,
            unsupported: false,
            note: None,
        }
    }

    /// `module::name`, as the trace panel's `data-hostcall` shows it.
    pub fn qualified_name(&self) -> String {
        format!("{}::{}", self.module, self.name)
    }

    /// The argument named `name`, if recorded.
    pub fn arg(&self, name: &str) -> Option<&ArgValue> {
        self.args.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// The result named `name`, if recorded.
    pub fn result(&self, name: &str) -> Option<&ArgValue> {
        self.results.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// One line for logs: `fastly_http_req::header_insert(req=request#1, name="x") -> ok`.
    pub fn summary(&self) -> String {
        let args: Vec<String> = self
            .args
            .iter()
            .map(|(n, v)| format!("{n}={}", v.display()))
            .collect();
        let mut s = format!("{}::{}({})", self.module, self.name, args.join(", "));
        if let Some(st) = &self.status {
            s.push_str(" -> ");
            s.push_str(st);
        }
        if !self.results.is_empty() {
            let results: Vec<String> = self
                .results
                .iter()
                .map(|(n, v)| format!("{n}={}", v.display()))
                .collect();
            s.push_str(&format!(" {{{}}}", results.join(", ")));
        }
        if self.unsupported {
            s.push_str(" [unsupported]");
        }
        s
    }
}

/// Export events to the Chrome/Perfetto trace-event JSON format (complete events, `ph: "X"`).
pub fn to_chrome_trace(events: &[TraceEvent]) -> serde_json::Value {
    let evs: Vec<serde_json::Value> = events
        .iter()
        .map(|e| {
            let mut args = serde_json::Map::new();
            for (n, v) in &e.args {
                args.insert(n.to_string(), serde_json::Value::String(v.display()));
            }
            if let Some(st) = &e.status {
                args.insert("status".into(), serde_json::Value::String(st.to_string()));
            }
            serde_json::json!({
                "name": e.qualified_name(),
                "cat": format!("{:?}", e.kind).to_lowercase(),
                "ph": "X",
                "ts": e.start_us,
                "dur": e.dur_us,
                "pid": 1,
                "tid": 1,
                "args": args,
            })
        })
        .collect();
    serde_json::json!({ "traceEvents": evs, "displayTimeUnit": "ms" })
}
