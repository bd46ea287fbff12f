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
    /// `acl_handle`
    Acl,
    /// `kv_store_handle`
    KvStore,
    /// a pending KV lookup, insert, delete or list (an async item)
    KvPending,
    /// `cache_handle` (core cache)
    Cache,
    /// `cache_busy_handle` (an async item)
    CacheBusy,
    /// `cache_replace_handle`
    CacheReplace,
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

/// Secrets shorter than this are not hidden in the trace and logs (a 1-byte secret
/// would blank every such byte of every body).
pub const MIN_REDACTED_SECRET: usize = 4;

/// What stands in the trace and the logs for a secret's value.
pub const SECRET_MASK: &str = "<secret redacted>";

/// `data` with every occurrence of each of `secrets` (those of at least
/// [`MIN_REDACTED_SECRET`] bytes) replaced by [`SECRET_MASK`].
pub fn redact<'a, 's>(
    data: &'a [u8],
    secrets: impl IntoIterator<Item = &'s [u8]>,
) -> Cow<'a, [u8]> {
    let mut out: Cow<'a, [u8]> = Cow::Borrowed(data);
    for secret in secrets {
        if secret.len() < MIN_REDACTED_SECRET || out.len() < secret.len() {
            continue;
        }
        if !out.windows(secret.len()).any(|w| w == secret) {
            continue;
        }
        let mut next = Vec::with_capacity(out.len());
        let mut i = 0;
        while i < out.len() {
            if out[i..].starts_with(secret) {
                next.extend_from_slice(SECRET_MASK.as_bytes());
                i += secret.len();
            } else {
                next.push(out[i]);
                i += 1;
            }
        }
        out = Cow::Owned(next);
    }
    out
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

/// The process every exported event belongs to.
const CHROME_PID: u32 = 1;
/// The guest's own track: hostcalls, logs and lifecycle events.
const GUEST_TID: u32 = 1;

/// Export events to the Chrome/Perfetto trace-event JSON format, for
/// ui.perfetto.dev or `chrome://tracing`.
///
/// Every event is a complete event (`ph: "X"`). Hostcalls, logs and lifecycle events
/// are on the guest's track; outside work (a backend fetch, module `backend`; a KV
/// operation, module `kv`, from its start to its `*_wait`) runs
/// beside the guest and, under `send_async`, beside other fetches, so each goes on a
/// lane of its own: fetches that overlap in time get distinct lanes, and a lane is
/// reused once its fetch has ended. Tracks are named with `thread_name` metadata
/// events ("guest", "backend fetch 1", ...). An event's `args` holds its arguments
/// (`args`), its results (`results`), its status and note, so a click shows them.
pub fn to_chrome_trace(events: &[TraceEvent]) -> serde_json::Value {
    let (tids, lanes) = work_lanes(events);
    let mut evs: Vec<serde_json::Value> = Vec::with_capacity(events.len() + lanes.len() + 2);
    evs.push(serde_json::json!({
        "name": "process_name", "ph": "M", "pid": CHROME_PID, "tid": GUEST_TID,
        "args": { "name": "edgeplay" },
    }));
    let mut tracks = vec![(GUEST_TID, "guest".to_string())];
    tracks.extend(lanes);
    for (tid, name) in tracks {
        evs.push(serde_json::json!({
            "name": "thread_name", "ph": "M", "pid": CHROME_PID, "tid": tid,
            "args": { "name": name },
        }));
        evs.push(serde_json::json!({
            "name": "thread_sort_index", "ph": "M", "pid": CHROME_PID, "tid": tid,
            "args": { "sort_index": tid },
        }));
    }
    for (e, tid) in events.iter().zip(tids) {
        evs.push(serde_json::json!({
            "name": e.qualified_name(),
            "cat": format!("{:?}", e.kind).to_lowercase(),
            "ph": "X",
            "ts": e.start_us,
            "dur": e.dur_us,
            "pid": CHROME_PID,
            "tid": tid,
            "args": chrome_args(e),
        }));
    }
    serde_json::json!({ "traceEvents": evs, "displayTimeUnit": "ms" })
}

/// The track of each event (in event order), and the work lanes as (tid, name).
///
/// Work events are taken in start order; each goes on the first lane of its module
/// that is free by then (its last event ended at or before this one starts), or on a
/// new lane.
fn work_lanes(events: &[TraceEvent]) -> (Vec<u32>, Vec<(u32, String)>) {
    let mut tids = vec![GUEST_TID; events.len()];
    let mut work: Vec<usize> = (0..events.len())
        .filter(|&i| events[i].kind == EventKind::Work)
        .collect();
    work.sort_by(|&a, &b| {
        events[a]
            .start_us
            .total_cmp(&events[b].start_us)
            .then(events[a].seq.cmp(&events[b].seq))
    });
    // Per lane: its module, its tid, and when its last event ends.
    let mut lanes: Vec<(&str, u32, f64)> = Vec::new();
    let mut named = Vec::new();
    for i in work {
        let e = &events[i];
        let end = e.start_us + e.dur_us.max(0.0);
        let free = lanes
            .iter_mut()
            .find(|(m, _, busy_until)| *m == e.module && *busy_until <= e.start_us);
        let tid = match free {
            Some(lane) => {
                lane.2 = end;
                lane.1
            }
            None => {
                let tid = GUEST_TID + 1 + lanes.len() as u32;
                let n = lanes.iter().filter(|(m, _, _)| *m == e.module).count() + 1;
                let what = match &*e.module {
                    "backend" => "backend fetch",
                    "kv" => "KV operation",
                    other => other,
                };
                named.push((tid, format!("{what} {n}")));
                lanes.push((&e.module, tid, end));
                tid
            }
        };
        tids[i] = tid;
    }
    (tids, named)
}

/// A value as Perfetto shows it: numbers as numbers, text unquoted, lists as arrays.
fn chrome_value(v: &ArgValue) -> serde_json::Value {
    match v {
        ArgValue::Int(i) => serde_json::Value::from(*i),
        ArgValue::Str(s) | ArgValue::Enum(s) => serde_json::Value::String(s.clone()),
        ArgValue::List(l) => serde_json::Value::from(l.clone()),
        other => serde_json::Value::String(other.display()),
    }
}

/// Named values as a JSON object; a repeated name gets a `#2`, `#3`... suffix.
fn chrome_values(values: &[(Cow<'static, str>, ArgValue)]) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    for (n, v) in values {
        let mut key = n.to_string();
        let mut k = 1;
        while m.contains_key(&key) {
            k += 1;
            key = format!("{n}#{k}");
        }
        m.insert(key, chrome_value(v));
    }
    serde_json::Value::Object(m)
}

/// An event's `args`: its arguments and results (each an object), status, code, note
/// and the counters that are not zero.
fn chrome_args(e: &TraceEvent) -> serde_json::Value {
    let mut args = serde_json::Map::new();
    if !e.args.is_empty() {
        args.insert("args".into(), chrome_values(&e.args));
    }
    if !e.results.is_empty() {
        args.insert("results".into(), chrome_values(&e.results));
    }
    if let Some(st) = &e.status {
        args.insert("status".into(), serde_json::Value::String(st.to_string()));
    }
    if let Some(code) = e.code {
        args.insert("code".into(), code.into());
    }
    if let Some(note) = &e.note {
        args.insert("note".into(), serde_json::Value::String(note.clone()));
    }
    if e.unsupported {
        args.insert("unsupported".into(), true.into());
    }
    args.insert("seq".into(), e.seq.into());
    for (name, n) in [
        ("bytes_read", e.bytes_read),
        ("bytes_written", e.bytes_written),
        ("fuel", e.fuel),
    ] {
        if n > 0 {
            args.insert(name.into(), n.into());
        }
    }
    serde_json::Value::Object(args)
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_are_masked_wherever_they_appear_once_long_enough() {
        let secrets: [&[u8]; 2] = [b"s3cr3t", b"ab"];
        assert_eq!(
            redact(b"token=s3cr3t; again s3cr3ts3cr3t", secrets).as_ref(),
            b"token=<secret redacted>; again <secret redacted><secret redacted>".as_slice()
        );
        // Too short to hide, and nothing to hide: borrowed as it is.
        assert!(matches!(redact(b"abab", secrets), Cow::Borrowed(_)));
        assert!(matches!(redact(b"s3cr", secrets), Cow::Borrowed(_)));
    }

    use super::*;

    fn fetch(seq: u64, start_us: f64, dur_us: f64) -> TraceEvent {
        let mut e = TraceEvent::new(seq, EventKind::Work, "backend", "origin");
        e.start_us = start_us;
        e.dur_us = dur_us;
        e
    }

    fn hostcall(seq: u64, start_us: f64, name: &'static str) -> TraceEvent {
        let mut e = TraceEvent::new(seq, EventKind::Hostcall, "fastly_http_req", name);
        e.start_us = start_us;
        e.dur_us = 1.0;
        e
    }

    /// The exported complete events, in event order.
    fn complete(doc: &serde_json::Value) -> Vec<&serde_json::Value> {
        doc["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["ph"] == "X")
            .collect()
    }

    fn thread_names(doc: &serde_json::Value) -> Vec<(u64, String)> {
        doc["traceEvents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
            .map(|e| {
                (
                    e["tid"].as_u64().unwrap(),
                    e["args"]["name"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    #[test]
    fn overlapping_fetches_get_their_own_tracks() {
        // Two send_async fetches that overlap, settled out of start order, and the
        // guest's hostcalls meanwhile.
        let events = vec![
            hostcall(0, 0.0, "send_async"),
            hostcall(1, 5.0, "send_async"),
            fetch(3, 10.0, 100.0),
            fetch(2, 2.0, 50.0),
            hostcall(4, 120.0, "pending_req_wait"),
        ];
        let doc = to_chrome_trace(&events);
        let x = complete(&doc);
        assert_eq!(x.len(), events.len());
        let tid = |i: usize| x[i]["tid"].as_u64().unwrap();
        assert_eq!(
            [tid(0), tid(1), tid(4)],
            [1, 1, 1],
            "hostcalls on the guest"
        );
        assert_ne!(tid(2), 1);
        assert_ne!(tid(3), 1);
        assert_ne!(tid(2), tid(3), "overlapping fetches on distinct tracks");
        // The earlier-starting fetch took the first lane.
        let names = thread_names(&doc);
        assert!(names.contains(&(1, "guest".into())), "{names:?}");
        assert!(
            names.contains(&(tid(3), "backend fetch 1".into())),
            "{names:?}"
        );
        assert!(
            names.contains(&(tid(2), "backend fetch 2".into())),
            "{names:?}"
        );
        assert!(x.iter().all(|e| e["pid"] == 1));
    }

    #[test]
    fn sequential_fetches_share_a_track() {
        let events = vec![
            fetch(0, 0.0, 10.0),
            fetch(1, 10.0, 10.0),
            fetch(2, 30.0, 5.0),
            fetch(3, 31.0, 5.0),
        ];
        let doc = to_chrome_trace(&events);
        let x = complete(&doc);
        let tid = |i: usize| x[i]["tid"].as_u64().unwrap();
        assert_eq!(tid(0), tid(1), "one after the other: one lane");
        assert_eq!(tid(0), tid(2));
        assert_ne!(tid(2), tid(3), "overlapping: two lanes");
        assert_eq!(thread_names(&doc).len(), 3, "guest + two lanes");
    }

    #[test]
    fn args_carry_arguments_results_status_and_note() {
        let mut e = hostcall(7, 0.0, "send_async");
        e.args.push((
            "req".into(),
            ArgValue::Handle {
                kind: HandleKind::Request,
                handle: 2,
            },
        ));
        e.args
            .push(("backend".into(), ArgValue::Str("origin".into())));
        e.results.push((
            "pending".into(),
            ArgValue::Handle {
                kind: HandleKind::PendingRequest,
                handle: 3,
            },
        ));
        e.results.push(("len".into(), ArgValue::Int(42)));
        e.results.push(("len".into(), ArgValue::Int(43)));
        e.status = Some("ok".into());
        e.code = Some(0);
        e.note = Some("a note".into());
        e.fuel = 9;
        let mut f = fetch(8, 0.0, 3.0);
        f.args.push(("status".into(), ArgValue::Int(200)));
        f.status = Some("ok".into());
        let doc = to_chrome_trace(&[e, f]);
        let x = complete(&doc);
        let a = &x[0]["args"];
        assert_eq!(a["args"]["req"], "request#2");
        assert_eq!(a["args"]["backend"], "origin");
        assert_eq!(a["results"]["pending"], "pendingrequest#3");
        assert_eq!(a["results"]["len"], 42);
        assert_eq!(a["results"]["len#2"], 43);
        assert_eq!(a["status"], "ok");
        assert_eq!(a["code"], 0);
        assert_eq!(a["note"], "a note");
        assert_eq!(a["seq"], 7);
        assert_eq!(a["fuel"], 9);
        // A backend's HTTP status argument does not clash with the event's status.
        assert_eq!(x[1]["args"]["args"]["status"], 200);
        assert_eq!(x[1]["args"]["status"], "ok");
    }

    #[test]
    fn the_export_is_valid_trace_event_json() {
        let events = vec![hostcall(0, 0.0, "new"), fetch(1, 0.5, 2.0)];
        let text = to_chrome_trace(&events).to_string();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let all = doc["traceEvents"].as_array().unwrap();
        for e in all {
            assert!(e["ph"] == "X" || e["ph"] == "M", "{e}");
            assert!(e["pid"].is_u64() && e["tid"].is_u64(), "{e}");
            if e["ph"] == "X" {
                assert!(e["ts"].is_number() && e["dur"].is_number(), "{e}");
                assert!(e["name"].is_string() && e["args"].is_object(), "{e}");
            }
        }
        assert_eq!(complete(&doc).len(), 2);
        assert_eq!(doc["displayTimeUnit"], "ms");
        assert_eq!(
            to_chrome_trace(&[])["traceEvents"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
    }
}
