//! Run history in the tab, the pure half (platform-neutral, natively tested): what
//! one kept run holds ([`HistoryRecord`]), how records are keyed per fiddle and
//! trimmed to the last [`KEEP`], the History panel's rows ([`Row`]) and the diff
//! view of two runs ([`DiffView`]), built on the core's comparison
//! ([`edgeplay_host::rundiff`]: the same one `edgeplay diff` prints).
//!
//! **A fiddle** is the open workspace entry (its id: the page is always one entry,
//! see `crate::workspace`); when the page has none (the workspace could not be
//! opened) runs are kept under [`NO_ENTRY`]. Its runs' keys are
//! `FIDDLE \u{1f} ID`, and an ID is the run's time (ms since the Unix epoch, 15
//! digits) and a page counter, so keys sort in the order the runs were kept and one
//! key range ([`range`]) holds exactly one fiddle's runs.
//!
//! **Stored** as JSON text (`crate::history_db`): a record that does not parse, or
//! has another [`VERSION`], is skipped when listing (counted, never a panic) and
//! goes when trimming passes it.

use edgeplay_host::fiddle::RunRecord;
use edgeplay_host::rundiff::{self, Line, RunView, StepKind};
use edgeplay_host::TraceEvent;
use serde::{Deserialize, Serialize};

/// Runs kept per fiddle.
pub const KEEP: usize = 50;
/// The record format's version.
pub const VERSION: u32 = 1;
/// Bytes of a body kept (a longer one is cut; [`HistoryRecord::body_len`] says how long it was).
pub const MAX_BODY: usize = 256 * 1024;
/// Trace events kept (the rest are counted in [`HistoryRecord::events_left_out`]).
pub const MAX_EVENTS: usize = 5000;
/// Trace rows a diff view shows at most.
pub const MAX_TRACE_ROWS: usize = 2000;
/// The fiddle runs are kept under when the page has no workspace entry.
pub const NO_ENTRY: &str = "";
const SEP: char = '\u{1f}';

/// One log line of a kept run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// `stdout`, `stderr`, an endpoint's name, or `edgeplay` for the playground's notes.
    pub source: String,
    /// The line.
    pub line: String,
}

/// A kept run's times, as the page showed them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunTimings {
    /// Worker: instantiate (ms).
    pub instantiate_ms: Option<f64>,
    /// Run start to response head (ms).
    pub first_byte_ms: Option<f64>,
    /// Run start to the end (ms).
    pub run_ms: Option<f64>,
    /// The Run click to the answer on screen (ms).
    pub wall_ms: Option<f64>,
    /// The platform CPU time estimate (ms).
    pub cpu_ms_estimate: Option<f64>,
    /// Guest fuel used.
    pub fuel: Option<u64>,
}

/// One kept run: its request, response, logs, trace and timings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryRecord {
    /// The format's version ([`VERSION`]).
    pub version: u32,
    /// The run's id ([`new_id`]).
    pub id: String,
    /// The fiddle it belongs to (a workspace entry's id, or [`NO_ENTRY`]).
    pub fiddle: String,
    /// When it ended (ms since the Unix epoch).
    pub at_ms: f64,
    /// The request's method.
    pub method: String,
    /// The request's URL.
    pub url: String,
    /// The request's headers, in order.
    pub request_headers: Vec<(String, String)>,
    /// The request's body as text (lossy, cut at [`MAX_BODY`]).
    pub request_body: String,
    /// The response status.
    pub status: u16,
    /// The response headers, in order.
    pub headers: Vec<(String, String)>,
    /// The response body as text (lossy, cut at [`MAX_BODY`]).
    pub body: String,
    /// The response body's whole length in bytes.
    pub body_len: usize,
    /// The error the page showed (trap, CPU limit, ...), if any.
    pub error: Option<String>,
    /// The log lines, in order.
    pub logs: Vec<LogLine>,
    /// The trace, in call order (at most [`MAX_EVENTS`]).
    pub trace: Vec<TraceEvent>,
    /// Trace events not kept.
    pub events_left_out: usize,
    /// The times.
    pub timings: RunTimings,
}

/// `bytes` as text (lossy), cut to at most `max` bytes (a character cut in two at
/// the end shows as U+FFFD).
fn text_of(bytes: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(max)]).into_owned()
}

impl HistoryRecord {
    /// The record of a finished run (`run`: what assertions read; `logs`, `timings`:
    /// what the page showed), kept for `fiddle` under `id`, ended at `at_ms`.
    pub fn new(
        fiddle: &str,
        id: String,
        at_ms: f64,
        run: &RunRecord,
        logs: Vec<LogLine>,
        timings: RunTimings,
    ) -> HistoryRecord {
        let mut trace = run.events.clone();
        let events_left_out = trace.len().saturating_sub(MAX_EVENTS);
        trace.truncate(MAX_EVENTS);
        HistoryRecord {
            version: VERSION,
            id,
            fiddle: fiddle.to_string(),
            at_ms,
            method: run.method.clone(),
            url: run.url.clone(),
            request_headers: run.request_headers.clone(),
            request_body: text_of(&run.request_body, MAX_BODY),
            status: run.status,
            headers: run.headers.clone(),
            body: text_of(&run.body, MAX_BODY),
            body_len: run.body.len(),
            error: run.error.clone(),
            logs,
            trace,
            events_left_out,
            timings,
        }
    }

    /// Its IndexedDB key ([`key`]).
    pub fn key(&self) -> String {
        key(&self.fiddle, &self.id)
    }

    /// As stored.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A stored record read back: an error for one that does not parse or is of
    /// another version.
    pub fn from_json(text: &str) -> Result<HistoryRecord, String> {
        #[derive(Deserialize)]
        struct Version {
            version: u32,
        }
        let v: Version =
            serde_json::from_str(text).map_err(|e| format!("not a run record: {e}"))?;
        if v.version != VERSION {
            return Err(format!(
                "a run record of version {} (this page reads {VERSION})",
                v.version
            ));
        }
        serde_json::from_str(text).map_err(|e| format!("not a run record: {e}"))
    }

    /// The request's path and query.
    pub fn path(&self) -> &str {
        match self.url.find("://") {
            Some(i) => {
                let rest = &self.url[i + 3..];
                rest.find('/').map_or("/", |j| &rest[j..])
            }
            None => &self.url,
        }
    }

    /// The run as the comparison sees it (log lines as `source: line`).
    pub fn run_view(&self) -> RunView {
        let logs = self
            .logs
            .iter()
            .map(|l| format!("{}: {}", l.source, l.line))
            .collect();
        RunView::from_run(
            self.status,
            &self.headers,
            self.body.as_bytes(),
            logs,
            &self.trace,
        )
    }
}

/// The IndexedDB key of the run `id` of `fiddle`.
pub fn key(fiddle: &str, id: &str) -> String {
    format!("{fiddle}{SEP}{id}")
}

/// The key range (lower, upper, both included) that holds exactly `fiddle`'s runs.
pub fn range(fiddle: &str) -> (String, String) {
    (format!("{fiddle}{SEP}"), format!("{fiddle}{SEP}\u{ffff}"))
}

/// A run id: the time (ms since the Unix epoch, 15 digits) and a counter, so ids
/// sort as the runs were kept.
pub fn new_id(at_ms: f64, counter: u32) -> String {
    format!("{:015}-{:04}", at_ms.max(0.0) as u64, counter % 10_000)
}

/// The keys to delete so that only the last `keep` of `keys` (one fiddle's) stay.
pub fn to_trim(keys: &[String], keep: usize) -> Vec<String> {
    let mut sorted = keys.to_vec();
    sorted.sort();
    let n = sorted.len().saturating_sub(keep);
    sorted.truncate(n);
    sorted
}

/// Kept runs read back, newest first, with how many stored records did not read.
pub fn read_all<'a>(texts: impl IntoIterator<Item = &'a str>) -> (Vec<HistoryRecord>, usize) {
    let mut skipped = 0;
    let mut out = Vec::new();
    for t in texts {
        match HistoryRecord::from_json(t) {
            Ok(r) => out.push(r),
            Err(_) => skipped += 1,
        }
    }
    out.sort_by(|a, b| b.id.cmp(&a.id));
    (out, skipped)
}

/// A History panel row.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// The run's id (`data-run-id`).
    pub id: String,
    /// When it ran (local `HH:MM:SS`).
    pub time: String,
    /// `METHOD /path`.
    pub request: String,
    /// The response status.
    pub status: u16,
    /// How long it ran.
    pub duration: String,
    /// The error it ended with, if any.
    pub error: Option<String>,
}

/// `HH:MM:SS` of `at_ms` in a zone `offset_min` minutes behind UTC (JavaScript's
/// `getTimezoneOffset`).
pub fn clock(at_ms: f64, offset_min: f64) -> String {
    let secs = ((at_ms / 1000.0) - offset_min * 60.0).floor() as i64;
    let day = secs.rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", day / 3600, day / 60 % 60, day % 60)
}

/// A duration for people (`—` when unknown).
pub fn millis(ms: Option<f64>) -> String {
    ms.map_or_else(|| "—".to_string(), crate::format::millis)
}

impl Row {
    /// The row of `r` (times in a zone `offset_min` minutes behind UTC).
    pub fn of(r: &HistoryRecord, offset_min: f64) -> Row {
        Row {
            id: r.id.clone(),
            time: clock(r.at_ms, offset_min),
            request: format!("{} {}", r.method, r.path()),
            status: r.status,
            duration: millis(r.timings.run_ms.or(r.timings.wall_ms)),
            error: r.error.clone(),
        }
    }
}

/// How a header row of the diff compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Only in the second run.
    Added,
    /// Only in the first run.
    Removed,
    /// In both, with other values.
    Changed,
}

impl Change {
    /// Its CSS class / `data-change`.
    pub fn class(self) -> &'static str {
        match self {
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Changed => "changed",
        }
    }
}

/// A header that differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderRow {
    /// The name.
    pub name: String,
    /// Its values in the first run (`None`: absent).
    pub a: Option<String>,
    /// Its values in the second run.
    pub b: Option<String>,
    /// How it compares.
    pub change: Change,
}

/// One step of the aligned traces, as the diff view shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceRow {
    /// How it compares.
    pub kind: StepKind,
    /// `module::name`.
    pub call: String,
    /// Its number in the first run's trace (from 1).
    pub a_n: Option<usize>,
    /// Its number in the second run's trace (from 1).
    pub b_n: Option<usize>,
    /// Its arguments and status in the first run.
    pub a: Option<String>,
    /// Its arguments and status in the second run.
    pub b: Option<String>,
    /// What changed, for a changed call.
    pub detail: Option<String>,
    /// It is the first step that is not the same.
    pub first: bool,
}

/// The CSS class / `data-kind` of a trace step.
pub fn kind_class(k: StepKind) -> &'static str {
    match k {
        StepKind::Same => "same",
        StepKind::Changed => "changed",
        StepKind::Removed => "removed",
        StepKind::Added => "added",
    }
}

/// One timing compared.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimingRow {
    /// What it is.
    pub label: &'static str,
    /// The first run's.
    pub a: String,
    /// The second run's.
    pub b: String,
    /// The second minus the first (`+1.2 ms`), when both are known.
    pub delta: String,
}

/// Two kept runs side by side.
#[derive(Clone, Debug, PartialEq)]
pub struct DiffView {
    /// The first run's row.
    pub a: Row,
    /// The second run's row.
    pub b: Row,
    /// Request headers that differ (what the user changed between the runs).
    pub request_headers: Vec<HeaderRow>,
    /// The request bodies line by line, when they differ.
    pub request_body: Vec<Line>,
    /// The statuses, when they differ.
    pub status: Option<(u16, u16)>,
    /// Response headers that differ.
    pub headers: Vec<HeaderRow>,
    /// The response bodies line by line (empty: the same).
    pub body: Vec<Line>,
    /// The logs line by line (empty: the same).
    pub logs: Vec<Line>,
    /// The traces aligned (at most [`MAX_TRACE_ROWS`]).
    pub trace: Vec<TraceRow>,
    /// Steps not shown.
    pub trace_left_out: usize,
    /// The first divergence's step: its call and what differs, for the summary.
    pub first_divergence: Option<TraceRow>,
    /// The timings side by side.
    pub timings: Vec<TimingRow>,
}

fn header_rows(changes: Vec<rundiff::HeaderChange>) -> Vec<HeaderRow> {
    changes
        .into_iter()
        .map(|h| HeaderRow {
            change: match (&h.a, &h.b) {
                (None, _) => Change::Added,
                (_, None) => Change::Removed,
                _ => Change::Changed,
            },
            name: h.name,
            a: h.a,
            b: h.b,
        })
        .collect()
}

/// What a trace step shows of an event: the arguments compared (as the trace panel
/// shows values: `body#1`, `"x-foo"`) and the status.
pub fn event_text(e: &TraceEvent) -> String {
    let args = e
        .args
        .iter()
        .filter(|(n, _)| !rundiff::is_address(n))
        .map(|(n, v)| format!("{n}={}", v.display()))
        .collect::<Vec<_>>()
        .join(", ");
    match (args.is_empty(), e.status.as_deref()) {
        (true, None) => String::new(),
        (false, None) => args,
        (true, Some(s)) => format!("→ {s}"),
        (false, Some(s)) => format!("{args} → {s}"),
    }
}

fn timing_rows(a: &RunTimings, b: &RunTimings) -> Vec<TimingRow> {
    let ms = |label, x: Option<f64>, y: Option<f64>| TimingRow {
        label,
        a: millis(x),
        b: millis(y),
        delta: match (x, y) {
            (Some(x), Some(y)) => {
                let d = y - x;
                format!(
                    "{}{}",
                    if d >= 0.0 { "+" } else { "−" },
                    crate::format::millis(d.abs())
                )
            }
            _ => String::new(),
        },
    };
    let fuel = |x: Option<u64>| x.map_or_else(|| "—".to_string(), |f| f.to_string());
    vec![
        ms("instantiate", a.instantiate_ms, b.instantiate_ms),
        ms("first byte", a.first_byte_ms, b.first_byte_ms),
        ms("run", a.run_ms, b.run_ms),
        ms("on screen", a.wall_ms, b.wall_ms),
        ms("CPU (estimate)", a.cpu_ms_estimate, b.cpu_ms_estimate),
        TimingRow {
            label: "fuel",
            a: fuel(a.fuel),
            b: fuel(b.fuel),
            delta: match (a.fuel, b.fuel) {
                (Some(x), Some(y)) if y >= x => format!("+{}", y - x),
                (Some(x), Some(y)) => format!("−{}", x - y),
                _ => String::new(),
            },
        },
    ]
}

impl DiffView {
    /// `a` and `b` compared (times in a zone `offset_min` minutes behind UTC).
    pub fn of(a: &HistoryRecord, b: &HistoryRecord, offset_min: f64) -> DiffView {
        // The views' calls are the traces' events one for one.
        let d = rundiff::diff(&a.run_view(), &b.run_view());
        let requests = rundiff::diff(
            &RunView {
                headers: RunView::from_run(0, &a.request_headers, &[], Vec::new(), &[]).headers,
                body: a.request_body.clone(),
                ..RunView::default()
            },
            &RunView {
                headers: RunView::from_run(0, &b.request_headers, &[], Vec::new(), &[]).headers,
                body: b.request_body.clone(),
                ..RunView::default()
            },
        );
        let first = d.first_divergence;
        let trace: Vec<TraceRow> = d
            .trace
            .iter()
            .enumerate()
            .map(|(i, s)| TraceRow {
                kind: s.kind,
                call: s.call.clone(),
                a_n: s.a.map(|i| i + 1),
                b_n: s.b.map(|j| j + 1),
                a: s.a.and_then(|i| a.trace.get(i)).map(event_text),
                b: s.b.and_then(|j| b.trace.get(j)).map(event_text),
                detail: s.detail.clone(),
                first: Some(i) == first,
            })
            .collect();
        let first_divergence = first.and_then(|i| trace.get(i).cloned());
        // The rows shown: from a little before the first divergence when the trace
        // is longer than a view holds, so the divergence is always in it.
        let start = match first {
            Some(i) if trace.len() > MAX_TRACE_ROWS => i.saturating_sub(10),
            _ => 0,
        };
        let shown: Vec<TraceRow> = trace
            .iter()
            .skip(start)
            .take(MAX_TRACE_ROWS)
            .cloned()
            .collect();
        DiffView {
            a: Row::of(a, offset_min),
            b: Row::of(b, offset_min),
            request_headers: header_rows(requests.headers),
            request_body: requests.body,
            status: d.status,
            headers: header_rows(d.headers),
            body: d.body,
            logs: d.logs,
            trace_left_out: trace.len() - shown.len(),
            trace: shown,
            first_divergence,
            timings: timing_rows(&a.timings, &b.timings),
        }
    }

    /// One line saying where the traces first differ.
    pub fn divergence_text(&self) -> String {
        let Some(s) = &self.first_divergence else {
            return "The traces are the same call for call.".to_string();
        };
        let at = |n: Option<usize>| n.map_or("—".to_string(), |n| format!("#{n}"));
        let what = match s.kind {
            StepKind::Changed => "changed",
            StepKind::Removed => "only in the first run",
            StepKind::Added => "only in the second run",
            StepKind::Same => "the same",
        };
        format!(
            "First divergence: {} ({} in the first run, {} in the second) — {what}{}",
            s.call,
            at(s.a_n),
            at(s.b_n),
            s.detail
                .as_ref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        )
    }
}

/// The CSS class / `data-op` of a compared line, and its mark.
pub fn line_parts(l: &Line) -> (&'static str, &'static str, &str) {
    match l {
        Line::Same(s) => ("same", " ", s),
        Line::Removed(s) => ("removed", "−", s),
        Line::Added(s) => ("added", "+", s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeplay_host::trace::{ArgValue, EventKind};

    fn event(seq: u64, name: &'static str, value: &str) -> TraceEvent {
        let mut e = TraceEvent::new(seq, EventKind::Hostcall, "fastly_http_resp", name);
        e.args = vec![("value".into(), ArgValue::Str(value.into()))];
        e.status = Some("ok".into());
        e
    }

    fn record(id: &str, demo: &str, run_ms: f64) -> HistoryRecord {
        let run = RunRecord {
            method: "POST".into(),
            url: "http://127.0.0.1:7676/echo?lang=en".into(),
            request_headers: vec![("x-echo-demo".into(), demo.into())],
            request_body: b"{}".to_vec(),
            status: 200,
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("x-echo-demo".into(), demo.into()),
            ],
            body: format!("{{\n  \"demo\": \"{demo}\"\n}}\n").into_bytes(),
            error: None,
            origin_fetches: Vec::new(),
            events: vec![
                event(0, "new", ""),
                event(1, "header_append", demo),
                event(2, "send_downstream", ""),
            ],
        };
        HistoryRecord::new(
            "entry1",
            id.into(),
            1_700_000_000_000.0,
            &run,
            vec![LogLine {
                source: "stdout".into(),
                line: format!("demo {demo}"),
            }],
            RunTimings {
                run_ms: Some(run_ms),
                fuel: Some(100),
                ..RunTimings::default()
            },
        )
    }

    #[test]
    fn a_record_reads_back_and_damaged_or_old_ones_do_not() {
        let r = record("000000000000001-0001", "one", 2.0);
        assert_eq!(HistoryRecord::from_json(&r.to_json()).unwrap(), r);
        for bad in [
            "",
            "null",
            "[1,2]",
            "{\"version\":1}",
            "{\"version\":\"x\"}",
            &r.to_json().replace("\"version\":1", "\"version\":0"),
            &r.to_json()[..40],
        ] {
            assert!(HistoryRecord::from_json(bad).is_err(), "{bad}");
        }
        let good = r.to_json();
        let (read, skipped) = read_all(["garbage", good.as_str(), "{}"]);
        assert_eq!((read.len(), skipped), (1, 2));
    }

    #[test]
    fn only_the_last_fifty_of_a_fiddle_are_kept() {
        let keys: Vec<String> = (0..57)
            .rev()
            .map(|i| key("entry1", &new_id(1_700_000_000_000.0 + i as f64, i)))
            .collect();
        let gone = to_trim(&keys, KEEP);
        assert_eq!(gone.len(), 7);
        // The oldest go: the first seven runs.
        let oldest: Vec<String> = (0..7)
            .map(|i| key("entry1", &new_id(1_700_000_000_000.0 + i as f64, i)))
            .collect();
        assert_eq!(gone, oldest);
        assert!(to_trim(&keys[..50], KEEP).is_empty());
        // Ids sort as time does, past a digit more.
        assert!(new_id(999.0, 9) < new_id(1000.0, 0));
        // One fiddle's range holds its keys and no other fiddle's.
        let (lo, hi) = range("entry1");
        assert!(keys.iter().all(|k| lo <= *k && *k <= hi));
        for other in [key("entry", "1"), key("entry10", "1"), key("", "1")] {
            assert!(!(lo <= other && other <= hi), "{other:?}");
        }
    }

    #[test]
    fn a_row_shows_time_request_status_and_duration() {
        let r = record("x", "one", 1.5);
        let row = Row::of(&r, 0.0);
        assert_eq!(row.request, "POST /echo?lang=en");
        assert_eq!(row.status, 200);
        assert_eq!(row.time, "22:13:20");
        assert_eq!(row.duration, crate::format::millis(1.5));
        assert_eq!(clock(0.0, -60.0), "01:00:00");
        assert_eq!(clock(0.0, 60.0), "23:00:00");
    }

    #[test]
    fn two_runs_diff_headers_body_logs_trace_and_timings() {
        let (a, b) = (record("1", "one", 2.0), record("2", "two", 3.0));
        let d = DiffView::of(&a, &b, 0.0);
        assert_eq!(d.status, None);
        assert_eq!(
            d.headers,
            [HeaderRow {
                name: "x-echo-demo".into(),
                a: Some("one".into()),
                b: Some("two".into()),
                change: Change::Changed
            }]
        );
        assert_eq!(d.request_headers.len(), 1);
        assert!(d.request_body.is_empty());
        assert!(d.body.contains(&Line::Added("  \"demo\": \"two\"".into())));
        assert_eq!(
            d.logs,
            [
                Line::Removed("stdout: demo one".into()),
                Line::Added("stdout: demo two".into())
            ]
        );
        let kinds: Vec<_> = d.trace.iter().map(|t| t.kind).collect();
        assert_eq!(kinds, [StepKind::Same, StepKind::Changed, StepKind::Same]);
        let first = d.first_divergence.clone().unwrap();
        assert_eq!(first.call, "fastly_http_resp::header_append");
        assert!(d.trace[1].first && !d.trace[0].first);
        assert_eq!(d.trace[1].a.as_deref(), Some("value=\"one\" → ok"));
        assert!(
            d.divergence_text().contains(
                "fastly_http_resp::header_append (#2 in the first run, #2 in the second) — changed"
            ),
            "{}",
            d.divergence_text()
        );
        let run = d.timings.iter().find(|t| t.label == "run").unwrap();
        assert_eq!(run.delta, format!("+{}", crate::format::millis(1.0)));
        let fuel = d.timings.iter().find(|t| t.label == "fuel").unwrap();
        assert_eq!((fuel.a.as_str(), fuel.delta.as_str()), ("100", "+0"));

        // A header only one run has; a call only one run made.
        let mut c = record("3", "one", 2.0);
        c.headers.push(("x-new".into(), "1".into()));
        c.trace.insert(1, event(9, "header_insert", "x"));
        let d = DiffView::of(&a, &c, 0.0);
        assert_eq!(d.headers[0].change, Change::Added);
        assert_eq!(DiffView::of(&c, &a, 0.0).headers[0].change, Change::Removed);
        let first = d.first_divergence.unwrap();
        assert_eq!(
            (first.kind, first.a_n, first.b_n),
            (StepKind::Added, None, Some(2))
        );
        assert!(DiffView::of(&a, &a, 0.0).first_divergence.is_none());
    }

    #[test]
    fn a_step_shows_values_not_addresses() {
        use edgeplay_host::trace::HandleKind;
        let mut e = event(0, "header_append", "v");
        e.args.insert(
            0,
            (
                "h".into(),
                ArgValue::Handle {
                    kind: HandleKind::Response,
                    handle: 1,
                },
            ),
        );
        e.args.push(("value_len".into(), ArgValue::Int(1)));
        assert_eq!(event_text(&e), "h=response#1, value=\"v\" → ok");
        e.status = None;
        e.args.clear();
        assert_eq!(event_text(&e), "");
    }

    #[test]
    fn long_bodies_and_traces_are_cut() {
        let mut r = record("1", "one", 1.0);
        let mut run = RunRecord {
            body: vec![b'x'; MAX_BODY + 10],
            ..RunRecord {
                method: r.method.clone(),
                url: r.url.clone(),
                request_headers: Vec::new(),
                request_body: Vec::new(),
                status: 200,
                headers: Vec::new(),
                body: Vec::new(),
                error: None,
                origin_fetches: Vec::new(),
                events: Vec::new(),
            }
        };
        run.events = (0..MAX_EVENTS as u64 + 3)
            .map(|i| event(i, "new", ""))
            .collect();
        r = HistoryRecord::new(
            "f",
            "1".into(),
            0.0,
            &run,
            Vec::new(),
            RunTimings::default(),
        );
        assert_eq!((r.body.len(), r.body_len), (MAX_BODY, MAX_BODY + 10));
        assert_eq!((r.trace.len(), r.events_left_out), (MAX_EVENTS, 3));
    }
}
