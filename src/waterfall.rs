//! The backend waterfall's model: one row per backend fetch, on a time axis shared by
//! every row (from the start of the execution to its last trace event).
//!
//! The core records each backend fetch as a trace event (kind `work`, module
//! `backend`, name = the backend; arguments `method`, `url`, `status`, `bytes`,
//! `mock`, `headers_not_sent`; results `first_byte_us` and `end_us`, µs from the
//! fetch's start; status `ok`, a failure kind, or `abandoned`; the failure message and
//! the driver's notes as the event's note: see `edgeplay_host::backends`). This module
//! turns those events into rows with their positions on the axis and their labels, so
//! the component (`src/ui/waterfall.rs`) only binds them. Platform-neutral.
//!
//! KV store operations are rows too, beside the fetches: the core records each one,
//! from its `lookup`/`insert`/`delete`/`list` to its `*_wait`, as a `work` event of
//! module `kv` (name = the store; arguments `op`, `key` or `prefix`, `mode`; status
//! `found`, `ok`, or the `kv_error` name: see `edgeplay_host::abi::kv_store`).
//!
//! The cache shows twice: a backend fetch's `cache` argument (`HIT`, `MISS`, `PASS`,
//! `STALE`, `COLLAPSED`: how the readthrough cache answered it) is the row's
//! [`FetchRow::cache`], and the cache's own work spans (`work` events of module
//! `cache`: name = the operation; arguments such as `key`, `url`, `op`; their status)
//! are rows of their own, like KV operations.

use crate::format;
use edgeplay_host::trace::{ArgValue, EventKind};
use edgeplay_host::TraceEvent;

/// How a fetch ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FetchEnd {
    /// A response came back (whatever its status).
    Answered,
    /// The fetch failed: the failure kind (`browser_blocked`, `http_response_timeout`, ...).
    Failed(String),
    /// The guest ended before the fetch finished, or never sent it.
    Abandoned,
}

/// One backend fetch on the waterfall.
#[derive(Clone, Debug, PartialEq)]
pub struct FetchRow {
    /// The trace event's sequence number (a click selects it).
    pub seq: u64,
    /// The backend's name.
    pub backend: String,
    /// Method.
    pub method: String,
    /// The URL as it went on the wire.
    pub url: String,
    /// Response status, when there was a response.
    pub status: Option<u16>,
    /// Response body bytes as received, when there was a response.
    pub bytes: Option<u64>,
    /// `static` or `echo` for a mock backend.
    pub mock: Option<String>,
    /// When the request started (µs since the execution started).
    pub start_us: f64,
    /// When the response head arrived (µs since the execution started).
    pub first_byte_us: f64,
    /// When the fetch ended (µs since the execution started).
    pub end_us: f64,
    /// How it ended.
    pub end: FetchEnd,
    /// The failure message and the driver's notes (the event's note).
    pub note: Option<String>,
    /// Request headers the driver could not send (a browser forbids `Host`, ...).
    pub headers_not_sent: Vec<String>,
    /// For a KV store operation, how it ended (`found`, `not_found`, `ok`, a
    /// `kv_error` name); `None` for a backend fetch.
    pub kv: Option<String>,
    /// For a backend fetch, how the cache answered it (`HIT`, `MISS`, `PASS`, `STALE`,
    /// `COLLAPSED`), when the trace says.
    pub cache: Option<String>,
    /// For a cache work span, how it ended (its status); `None` otherwise.
    pub cache_op: Option<String>,
    /// True for a backend fetch answered from a recording (`ToWorker::Replay`): no
    /// network (its note carries `fiddle::REPLAYED_NOTE`).
    pub replayed: bool,
}

/// Every backend fetch of an execution, on one time axis.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Waterfall {
    /// The axis length: from the start of the execution to its last event (µs).
    pub span_us: f64,
    /// The fetches, in the order they started.
    pub rows: Vec<FetchRow>,
}

fn int_arg(v: Option<&ArgValue>) -> Option<i64> {
    match v {
        Some(ArgValue::Int(i)) => Some(*i),
        _ => None,
    }
}

fn text_arg(v: Option<&ArgValue>) -> Option<String> {
    match v {
        Some(ArgValue::Str(s) | ArgValue::Enum(s)) => Some(s.clone()),
        _ => None,
    }
}

fn finite(x: f64) -> f64 {
    if x.is_finite() {
        x.max(0.0)
    } else {
        0.0
    }
}

impl FetchRow {
    /// The row for a backend fetch or KV operation event; `None` for any other event.
    pub fn from_event(e: &TraceEvent) -> Option<FetchRow> {
        if e.kind == EventKind::Work && e.module == "kv" {
            return Some(FetchRow::from_kv_event(e));
        }
        if e.kind == EventKind::Work && e.module == "cache" {
            return Some(FetchRow::from_cache_event(e));
        }
        if e.kind != EventKind::Work || e.module != "backend" {
            return None;
        }
        let start_us = finite(e.start_us);
        let end_us = start_us + finite(e.dur_us);
        let first_byte_us = int_arg(e.result("first_byte_us"))
            .map(|fb| (start_us + fb.max(0) as f64).min(end_us))
            .unwrap_or(end_us);
        let status = int_arg(e.arg("status")).and_then(|s| u16::try_from(s).ok());
        let end = match e.status.as_deref() {
            Some("abandoned") => FetchEnd::Abandoned,
            Some("ok") | None if status.is_some() => FetchEnd::Answered,
            Some(kind) => FetchEnd::Failed(kind.to_string()),
            None => FetchEnd::Abandoned,
        };
        let headers_not_sent = match e.arg("headers_not_sent") {
            Some(ArgValue::List(l)) => l.clone(),
            _ => Vec::new(),
        };
        Some(FetchRow {
            seq: e.seq,
            backend: e.name.to_string(),
            method: text_arg(e.arg("method")).unwrap_or_default(),
            url: text_arg(e.arg("url")).unwrap_or_default(),
            status,
            bytes: int_arg(e.arg("bytes")).and_then(|b| u64::try_from(b).ok()),
            mock: text_arg(e.arg("mock")),
            start_us,
            first_byte_us,
            end_us,
            end,
            note: e.note.clone(),
            headers_not_sent,
            kv: None,
            cache: crate::cache_view::fetch_outcome(e),
            cache_op: None,
            replayed: e
                .note
                .as_deref()
                .is_some_and(|n| n.contains(edgeplay_host::fiddle::REPLAYED_NOTE)),
        })
    }

    /// The row of a cache work span: `cache <operation>`, what it was about (the URL
    /// or the key), its status.
    fn from_cache_event(e: &TraceEvent) -> FetchRow {
        let start_us = finite(e.start_us);
        let end_us = start_us + finite(e.dur_us);
        let result = e.status.as_deref().unwrap_or("ok").to_string();
        let target = text_arg(e.arg("url"))
            .or_else(|| text_arg(e.arg("key")))
            .or_else(|| match e.arg("key") {
                Some(ArgValue::Bytes { preview, .. }) => Some(preview.clone()),
                _ => None,
            })
            .or_else(|| text_arg(e.arg("surrogate_key")))
            .unwrap_or_default();
        let op = text_arg(e.arg("op")).unwrap_or_default();
        // A purge is named after its surrogate key (the target): the row names the op.
        let name = if e.arg("surrogate_key").is_some() && !op.is_empty() {
            op.clone()
        } else {
            e.name.to_string()
        };
        FetchRow {
            seq: e.seq,
            backend: format!("cache {name}"),
            method: op,
            url: target,
            status: None,
            bytes: int_arg(e.arg("bytes")).and_then(|b| u64::try_from(b).ok()),
            mock: None,
            start_us,
            first_byte_us: end_us,
            end_us,
            end: FetchEnd::Answered,
            note: e.note.clone(),
            headers_not_sent: Vec::new(),
            kv: None,
            cache: text_arg(e.arg("cache")).map(|c| c.to_ascii_uppercase()),
            cache_op: Some(result),
            replayed: false,
        }
    }

    /// The row of a KV operation: `KV <store>`, the operation and its key (or
    /// `prefix*`), its result as the status.
    fn from_kv_event(e: &TraceEvent) -> FetchRow {
        let start_us = finite(e.start_us);
        let end_us = start_us + finite(e.dur_us);
        let result = e.status.as_deref().unwrap_or("abandoned").to_string();
        let end = match result.as_str() {
            "found" | "not_found" | "ok" => FetchEnd::Answered,
            "abandoned" => FetchEnd::Abandoned,
            other => FetchEnd::Failed(other.to_string()),
        };
        let target = match (text_arg(e.arg("key")), text_arg(e.arg("prefix"))) {
            (Some(k), _) => k,
            (None, Some(p)) => format!("{p}*"),
            (None, None) => "*".to_string(),
        };
        FetchRow {
            seq: e.seq,
            backend: format!("KV {}", e.name),
            method: text_arg(e.arg("op")).unwrap_or_default(),
            url: target,
            status: None,
            bytes: None,
            mock: None,
            start_us,
            first_byte_us: end_us,
            end_us,
            end,
            note: e.note.clone(),
            headers_not_sent: Vec::new(),
            kv: Some(result),
            cache: None,
            cache_op: None,
            replayed: false,
        }
    }

    /// True when the fetch failed or was abandoned.
    pub fn failed(&self) -> bool {
        self.end != FetchEnd::Answered
    }

    /// The status column: `200`, or the failure kind, or `abandoned`.
    pub fn status_label(&self) -> String {
        if let Some(result) = self.kv.as_ref().or(self.cache_op.as_ref()) {
            return result.clone();
        }
        match (&self.end, self.status) {
            (FetchEnd::Answered, Some(s)) => s.to_string(),
            (FetchEnd::Failed(kind), _) => kind.clone(),
            _ => "abandoned".into(),
        }
    }

    /// The body size, when there was a response.
    pub fn bytes_label(&self) -> String {
        self.bytes
            .map(|b| format::size(usize::try_from(b).unwrap_or(usize::MAX)))
            .unwrap_or_default()
    }

    /// `GET http://127.0.0.1:8080/path`.
    pub fn request_label(&self) -> String {
        format!("{} {}", self.method, self.url).trim().to_string()
    }

    /// `cache HIT` for a fetch the cache answered (or `MISS`, ...), else empty.
    pub fn cache_label(&self) -> String {
        match (&self.cache, &self.cache_op) {
            (Some(c), None) => format!("cache {c}"),
            (Some(c), Some(_)) => c.clone(),
            _ => String::new(),
        }
    }

    /// `mock (static)` for a mock backend, else empty.
    pub fn mock_label(&self) -> String {
        self.mock
            .as_ref()
            .map(|m| format!("mock ({m})"))
            .unwrap_or_default()
    }

    /// `301.2 ms (first byte 300.1 ms)`: the fetch's duration and time to first byte.
    pub fn timing_label(&self) -> String {
        let total = (self.end_us - self.start_us) / 1000.0;
        if self.failed() {
            return format::millis(total);
        }
        let fb = (self.first_byte_us - self.start_us) / 1000.0;
        if self.end_us - self.first_byte_us < 1.0 {
            // All at once (a mock, a tiny body): the first byte is the end.
            return format::millis(total);
        }
        format!(
            "{} (first byte {})",
            format::millis(total),
            format::millis(fb)
        )
    }

    /// `not sent: host, connection (...)` when the driver could not send some headers;
    /// `cdn-loop`, which the tab leaves out of a simple cross-origin request (it would
    /// cost a CORS preflight), is named with its own reason.
    pub fn not_sent_label(&self) -> String {
        let (loop_header, page): (Vec<&String>, Vec<&String>) = self
            .headers_not_sent
            .iter()
            .partition(|n| n.eq_ignore_ascii_case("cdn-loop"));
        let mut parts = Vec::new();
        if !page.is_empty() {
            let names: Vec<&str> = page.iter().map(|s| s.as_str()).collect();
            parts.push(format!(
                "{} (a page may not set these headers; the browser sets its own)",
                names.join(", ")
            ));
        }
        if !loop_header.is_empty() {
            parts.push(
                "cdn-loop (on this simple cross-origin request it would cost a CORS preflight)"
                    .to_string(),
            );
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("not sent: {}", parts.join("; "))
        }
    }

    /// The hover text of the bar: start, first byte, end.
    pub fn bar_title(&self) -> String {
        format!(
            "{}: start {}, first byte {}, end {} (since the execution started)",
            self.backend,
            format::millis(self.start_us / 1000.0),
            format::millis(self.first_byte_us / 1000.0),
            format::millis(self.end_us / 1000.0)
        )
    }

    /// The row's CSS classes: `wf-row`, plus `kv`, `cache-op`, `hit`, `mock`,
    /// `replayed`, `failed`.
    pub fn class(&self) -> String {
        let mut c = String::from("wf-row");
        if self.kv.is_some() {
            c.push_str(" kv");
        }
        if self.cache_op.is_some() {
            c.push_str(" cache-op");
        }
        if self.cache.as_deref() == Some("HIT") && self.cache_op.is_none() {
            c.push_str(" hit");
        }
        if self.mock.is_some() {
            c.push_str(" mock");
        }
        if self.replayed {
            c.push_str(" replayed");
        }
        if self.failed() {
            c.push_str(" failed");
        }
        c
    }
}

/// Where a bar sits on the track, in percent of the axis.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BarGeometry {
    /// Left edge (the request's start).
    pub left: f64,
    /// Width of the whole bar (start to end).
    pub width: f64,
    /// Width of the waiting part (start to first byte), in percent of the bar.
    pub wait: f64,
}

/// The narrowest bar drawn (percent of the track), so an instant fetch stays visible.
const MIN_BAR_PERCENT: f64 = 0.4;

impl BarGeometry {
    /// `left: 12.5%; width: 40%` for the bar.
    pub fn bar_style(&self) -> String {
        format!("left: {:.3}%; width: {:.3}%", self.left, self.width)
    }

    /// `width: 80%` for the waiting part inside the bar.
    pub fn wait_style(&self) -> String {
        format!("width: {:.3}%", self.wait)
    }
}

impl Waterfall {
    /// The waterfall of a trace (events in any order).
    pub fn from_trace(trace: &[TraceEvent]) -> Waterfall {
        let mut rows: Vec<FetchRow> = trace.iter().filter_map(FetchRow::from_event).collect();
        rows.sort_by(|a, b| a.start_us.total_cmp(&b.start_us).then(a.seq.cmp(&b.seq)));
        let last_event = trace
            .iter()
            .map(|e| finite(e.start_us) + finite(e.dur_us))
            .fold(0.0, f64::max);
        let last_fetch = rows.iter().map(|r| r.end_us).fold(0.0, f64::max);
        Waterfall {
            span_us: last_event.max(last_fetch).max(1.0),
            rows,
        }
    }

    /// True when there is no fetch to draw.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Where `row`'s bar goes on the track.
    pub fn geometry(&self, row: &FetchRow) -> BarGeometry {
        let pct = |us: f64| (us / self.span_us * 100.0).clamp(0.0, 100.0);
        let left = pct(row.start_us).min(100.0 - MIN_BAR_PERCENT);
        let width = (pct(row.end_us) - pct(row.start_us)).max(MIN_BAR_PERCENT);
        let dur = row.end_us - row.start_us;
        let wait = if dur > 0.0 {
            ((row.first_byte_us - row.start_us) / dur * 100.0).clamp(0.0, 100.0)
        } else {
            100.0
        };
        BarGeometry { left, width, wait }
    }

    /// Tick marks on the axis: (percent, label), at round steps, 0 and the end included
    /// (a step too close to the end is left out, so labels do not collide).
    pub fn ticks(&self) -> Vec<(f64, String)> {
        let span_ms = self.span_us / 1000.0;
        let step = nice_step(span_ms / 4.0);
        let mut ticks = Vec::new();
        let mut t = 0.0;
        while t < span_ms * 0.8 && ticks.len() < 12 {
            let label = if t == 0.0 {
                "0".to_string()
            } else {
                format::millis(t)
            };
            ticks.push((t / span_ms * 100.0, label));
            t += step;
        }
        ticks.push((100.0, format::millis(span_ms)));
        ticks
    }

    /// `2 backend fetches over 400.1 ms · up to 2 at once` (and `· 3 KV operations`
    /// when there were some).
    pub fn summary(&self) -> String {
        let kv = self.rows.iter().filter(|r| r.kv.is_some()).count();
        let cache_ops = self.rows.iter().filter(|r| r.cache_op.is_some()).count();
        let n = self.rows.len() - kv - cache_ops;
        let overlap = self.max_parallel();
        let mut s = format!(
            "{n} backend fetch{} over {}",
            if n == 1 { "" } else { "es" },
            format::millis(self.span_us / 1000.0)
        );
        if kv > 0 {
            s.push_str(&format!(
                " · {kv} KV operation{}",
                if kv == 1 { "" } else { "s" }
            ));
        }
        let hits = self
            .rows
            .iter()
            .filter(|r| r.cache_op.is_none() && r.cache.as_deref() == Some("HIT"))
            .count();
        if hits > 0 {
            s.push_str(&format!(" · {hits} from the cache"));
        }
        if cache_ops > 0 {
            s.push_str(&format!(
                " · {cache_ops} cache operation{}",
                if cache_ops == 1 { "" } else { "s" }
            ));
        }
        if overlap > 1 {
            s.push_str(&format!(" · up to {overlap} at once"));
        }
        s
    }

    /// The most fetches in flight at the same moment.
    pub fn max_parallel(&self) -> usize {
        let mut edges: Vec<(f64, i32)> = Vec::new();
        for r in &self.rows {
            edges.push((r.start_us, 1));
            edges.push((r.end_us, -1));
        }
        // Ends before starts at the same instant: touching bars do not overlap.
        edges.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let (mut now, mut most) = (0i32, 0i32);
        for (_, d) in edges {
            now += d;
            most = most.max(now);
        }
        usize::try_from(most).unwrap_or(0)
    }
}

/// A round step (1, 2 or 5 × 10^k ms) at least `raw` ms.
fn nice_step(raw: f64) -> f64 {
    if !raw.is_finite() || raw <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * mag >= raw {
            return m * mag;
        }
    }
    10.0 * mag
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn fetch_event(seq: u64, name: &str, start_ms: f64, dur_ms: f64) -> TraceEvent {
        let mut e = TraceEvent::new(seq, EventKind::Work, "backend", name.to_string());
        e.start_us = start_ms * 1000.0;
        e.dur_us = dur_ms * 1000.0;
        e.args
            .push((Cow::Borrowed("method"), ArgValue::Str("GET".into())));
        e.args.push((
            Cow::Borrowed("url"),
            ArgValue::Str(format!("http://{name}.example/")),
        ));
        e.args.push((Cow::Borrowed("status"), ArgValue::Int(200)));
        e.args.push((Cow::Borrowed("bytes"), ArgValue::Int(2048)));
        e.results.push((
            Cow::Borrowed("first_byte_us"),
            ArgValue::Int((dur_ms * 900.0) as i64),
        ));
        e.results.push((
            Cow::Borrowed("end_us"),
            ArgValue::Int((dur_ms * 1000.0) as i64),
        ));
        e.status = Some(Cow::Borrowed("ok"));
        e
    }

    #[test]
    fn parallel_fetches_overlap_on_one_axis() {
        let mut call = TraceEvent::new(0, EventKind::Hostcall, "fastly_http_req", "send_async");
        call.start_us = 100.0;
        let mut end = TraceEvent::new(
            9,
            EventKind::Hostcall,
            "fastly_http_resp",
            "send_downstream",
        );
        end.start_us = 400_000.0;
        end.dur_us = 100.0;
        let trace = vec![
            call,
            fetch_event(5, "b", 1.2, 20.0),
            fetch_event(4, "a", 1.0, 300.0),
            end,
        ];
        let w = Waterfall::from_trace(&trace);
        assert_eq!(w.rows.len(), 2);
        assert_eq!(w.rows[0].backend, "a", "in the order they started");
        assert_eq!(w.span_us, 400_100.0);
        assert_eq!(w.max_parallel(), 2);
        assert!(w.summary().contains("up to 2 at once"), "{}", w.summary());
        let a = &w.rows[0];
        assert_eq!(a.end_us, 301_000.0);
        assert_eq!(a.first_byte_us, 1000.0 + 270_000.0);
        assert_eq!(a.status_label(), "200");
        assert_eq!(a.bytes_label(), "2.0 KiB");
        assert_eq!(a.request_label(), "GET http://a.example/");
        assert!(!a.failed());
        let g = w.geometry(a);
        assert!((g.left - 0.25).abs() < 0.01, "{g:?}");
        assert!((g.width - 75.0).abs() < 0.1, "{g:?}");
        assert!((g.wait - 90.0).abs() < 0.01, "{g:?}");
        assert!(g.bar_style().starts_with("left: 0.2"));
        let ticks = w.ticks();
        assert_eq!(ticks.first().map(|t| t.0), Some(0.0));
        assert_eq!(ticks.last().map(|t| t.0), Some(100.0));
        assert!(ticks.len() >= 3 && ticks.len() <= 7, "{ticks:?}");
    }

    #[test]
    fn failures_mocks_and_unsent_headers_are_labelled() {
        let mut e = fetch_event(1, "origin", 0.5, 3.0);
        e.args.retain(|(n, _)| n != "status" && n != "bytes");
        e.results.retain(|(n, _)| n == "end_us");
        e.results.push((
            Cow::Borrowed("error"),
            ArgValue::Enum("browser_blocked".into()),
        ));
        e.status = Some(Cow::Borrowed("browser_blocked"));
        e.note = Some("backend `origin`: ... This may be CORS ...".into());
        e.args.push((
            Cow::Borrowed("headers_not_sent"),
            ArgValue::List(vec!["host".into(), "connection".into()]),
        ));
        let row = FetchRow::from_event(&e).unwrap();
        assert!(row.failed());
        assert_eq!(row.status_label(), "browser_blocked");
        assert_eq!(row.bytes_label(), "");
        assert_eq!(row.first_byte_us, row.end_us);
        assert!(row
            .not_sent_label()
            .starts_with("not sent: host, connection ("));
        let mut with_loop = row.clone();
        with_loop.headers_not_sent.push("cdn-loop".into());
        let label = with_loop.not_sent_label();
        assert!(label.starts_with("not sent: host, connection ("), "{label}");
        assert!(
            label.ends_with(
                "; cdn-loop (on this simple cross-origin request it would cost a CORS preflight)"
            ),
            "{label}"
        );
        with_loop.headers_not_sent = vec!["cdn-loop".into()];
        assert!(with_loop
            .not_sent_label()
            .starts_with("not sent: cdn-loop ("));
        assert_eq!(row.class(), "wf-row failed");
        assert!(row.note.as_deref().unwrap().contains("CORS"));

        let mut m = fetch_event(2, "a", 0.0, 0.0);
        m.args
            .push((Cow::Borrowed("mock"), ArgValue::Enum("static".into())));
        let row = FetchRow::from_event(&m).unwrap();
        assert_eq!(row.mock_label(), "mock (static)");
        // A mock answers all at once: the first byte is the end (to the µs the core
        // records), and the time says so once.
        let mut d = fetch_event(5, "a", 1.0, 150.0);
        d.start_us = 1000.4;
        d.results = vec![
            (Cow::Borrowed("first_byte_us"), ArgValue::Int(150_000)),
            (Cow::Borrowed("end_us"), ArgValue::Int(150_000)),
        ];
        let at_once = FetchRow::from_event(&d).unwrap();
        assert_eq!(at_once.timing_label(), "150.0 ms");
        let split = FetchRow::from_event(&fetch_event(6, "a", 1.0, 100.0)).unwrap();
        assert_eq!(split.timing_label(), "100.0 ms (first byte 90.0 ms)");
        assert_eq!(row.class(), "wf-row mock");
        assert!(!row.replayed);
        let mut r = fetch_event(7, "origin", 0.0, 1.0);
        r.note = Some(edgeplay_host::fiddle::REPLAYED_NOTE.into());
        let replayed = FetchRow::from_event(&r).unwrap();
        assert!(replayed.replayed);
        assert_eq!(replayed.class(), "wf-row replayed");
        let w = Waterfall::from_trace(&[m]);
        assert_eq!(w.span_us, 1.0, "an empty span never divides by zero");
        let g = w.geometry(&w.rows[0]);
        assert!(g.width >= MIN_BAR_PERCENT && g.left + g.width <= 100.0 + 1e-9);

        let mut ab = TraceEvent::new(3, EventKind::Work, "backend", "slow");
        ab.dur_us = f64::NAN;
        ab.status = Some(Cow::Borrowed("abandoned"));
        let row = FetchRow::from_event(&ab).unwrap();
        assert_eq!(row.status_label(), "abandoned");
        assert!(row.failed());

        let other = TraceEvent::new(4, EventKind::Work, "sleep", "x");
        assert!(FetchRow::from_event(&other).is_none());
        assert!(Waterfall::from_trace(&[other]).is_empty());
    }

    #[test]
    fn kv_operations_are_rows_beside_fetches() {
        let mut e = TraceEvent::new(7, EventKind::Work, "kv", "store".to_string());
        e.start_us = 1000.0;
        e.dur_us = 250.0;
        e.args
            .push((Cow::Borrowed("op"), ArgValue::Enum("lookup".into())));
        e.args
            .push((Cow::Borrowed("key"), ArgValue::Str("greeting".into())));
        e.status = Some(Cow::Borrowed("not_found"));
        let row = FetchRow::from_event(&e).unwrap();
        assert_eq!(row.backend, "KV store");
        assert_eq!(row.request_label(), "lookup greeting");
        assert_eq!(row.status_label(), "not_found");
        assert!(!row.failed(), "a miss is an answer");
        assert_eq!(row.class(), "wf-row kv");
        assert_eq!(row.end_us, 1250.0);
        let mut l = TraceEvent::new(8, EventKind::Work, "kv", "store".to_string());
        l.args
            .push((Cow::Borrowed("op"), ArgValue::Enum("insert".into())));
        l.args
            .push((Cow::Borrowed("key"), ArgValue::Str("k".into())));
        l.status = Some(Cow::Borrowed("precondition_failed"));
        let failed = FetchRow::from_event(&l).unwrap();
        assert!(failed.failed());
        assert_eq!(failed.status_label(), "precondition_failed");
        let w = Waterfall::from_trace(&[e, l, fetch_event(9, "origin", 0.0, 5.0)]);
        assert_eq!(w.rows.len(), 3);
        assert!(
            w.summary().starts_with("1 backend fetch over")
                && w.summary().contains("· 2 KV operations"),
            "{}",
            w.summary()
        );
    }

    #[test]
    fn cache_outcomes_mark_fetches_and_cache_spans_are_rows() {
        let mut hit = fetch_event(1, "origin", 0.0, 1.0);
        hit.args
            .push((Cow::Borrowed("cache"), ArgValue::Enum("HIT".into())));
        let row = FetchRow::from_event(&hit).unwrap();
        assert_eq!(row.cache.as_deref(), Some("HIT"));
        assert_eq!(row.cache_label(), "cache HIT");
        assert_eq!(row.class(), "wf-row hit");
        let plain = FetchRow::from_event(&fetch_event(2, "origin", 0.0, 1.0)).unwrap();
        assert_eq!(
            (plain.cache.clone(), plain.cache_label()),
            (None, String::new())
        );
        let mut span = TraceEvent::new(3, EventKind::Work, "cache", "lookup".to_string());
        span.start_us = 100.0;
        span.dur_us = 20.0;
        span.args.push((
            Cow::Borrowed("url"),
            ArgValue::Str("http://origin.example/a".into()),
        ));
        span.args
            .push((Cow::Borrowed("cache"), ArgValue::Enum("miss".into())));
        span.status = Some(Cow::Borrowed("not_found"));
        let op = FetchRow::from_event(&span).unwrap();
        assert_eq!(op.backend, "cache lookup");
        assert_eq!(op.request_label(), "http://origin.example/a");
        assert_eq!(op.status_label(), "not_found");
        assert_eq!(op.cache_label(), "MISS");
        assert!(!op.failed());
        assert_eq!(op.class(), "wf-row cache-op");
        let mut purge = TraceEvent::new(4, EventKind::Work, "cache", "news".to_string());
        purge
            .args
            .push((Cow::Borrowed("op"), ArgValue::Enum("soft_purge".into())));
        purge
            .args
            .push((Cow::Borrowed("surrogate_key"), ArgValue::Str("news".into())));
        purge.status = Some(Cow::Borrowed("ok"));
        let p = FetchRow::from_event(&purge).unwrap();
        assert_eq!(
            (
                p.backend.as_str(),
                p.request_label().as_str(),
                p.status_label().as_str()
            ),
            ("cache soft_purge", "soft_purge news", "ok")
        );
        let w = Waterfall::from_trace(&[hit, span]);
        assert_eq!(
            w.summary(),
            "1 backend fetch over 1.00 ms · 1 from the cache · 1 cache operation · up to 2 at once"
        );
    }

    #[test]
    fn steps_are_round() {
        assert_eq!(nice_step(0.3), 0.5);
        assert_eq!(nice_step(75.0), 100.0);
        assert_eq!(nice_step(12.0), 20.0);
        assert_eq!(nice_step(0.0), 1.0);
        assert_eq!(nice_step(f64::NAN), 1.0);
    }
}
