//! Two runs side by side: what differs between them — status, headers, body, logs —
//! and their hostcall traces aligned call by call (the same call in both, one only
//! in the first or the second, or the same call with other arguments or another
//! status), with the first divergence marked. `edgeplay diff a.json b.json` reads
//! two `edgeplay request --json` outputs ([`RunView::from_request_json`]); the tab's
//! run history builds [`RunView`]s from its own records ([`RunView::from_run`]).
//!
//! Arguments that are guest addresses or buffer sizes (`*_ptr`, `*_len`, `*_out`,
//! `buf`) are left out of the comparison: they move when a string's length does,
//! while the decoded values beside them (`name="x-foo"`) say what changed.

use crate::trace::TraceEvent;
use serde::Serialize;
use serde_json::Value;
use similar::{capture_diff_slices, Algorithm, DiffOp};

/// One run, as the comparison sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunView {
    /// The response status.
    pub status: u16,
    /// The response headers, in order (names lower-cased).
    pub headers: Vec<(String, String)>,
    /// The response body as text (lossy for binary bodies).
    pub body: String,
    /// Log lines (endpoint lines, stdout, stderr), in order.
    pub logs: Vec<String>,
    /// The trace: hostcalls and backend requests, in order.
    pub calls: Vec<CallView>,
}

/// One trace event, as the comparison sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallView {
    /// `module::name` (`backend::origin` for a backend request).
    pub call: String,
    /// Its arguments that are values, not addresses (`name=value, ...`).
    pub args: String,
    /// Its status (`ok`, `inval`, ...; empty when it has none).
    pub status: String,
}

/// A line of a text compared line by line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "op", content = "line", rename_all = "snake_case")]
pub enum Line {
    /// In both.
    Same(String),
    /// Only in the first.
    Removed(String),
    /// Only in the second.
    Added(String),
}

/// A header whose values differ.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HeaderChange {
    /// The header name.
    pub name: String,
    /// Its values in the first run (`None`: absent).
    pub a: Option<String>,
    /// Its values in the second run.
    pub b: Option<String>,
}

/// How a trace step compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// The same call with the same arguments and status.
    Same,
    /// The same call with other arguments or another status.
    Changed,
    /// Only in the first run.
    Removed,
    /// Only in the second run.
    Added,
}

/// One step of the aligned traces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Step {
    /// How it compares.
    pub kind: StepKind,
    /// `module::name`.
    pub call: String,
    /// Its index in the first run's trace.
    pub a: Option<usize>,
    /// Its index in the second run's trace.
    pub b: Option<usize>,
    /// For a changed call: what changed (`status ok → inval; args ... → ...`).
    pub detail: Option<String>,
}

/// What differs between two runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RunDiff {
    /// The statuses, when they differ.
    pub status: Option<(u16, u16)>,
    /// Headers whose values differ.
    pub headers: Vec<HeaderChange>,
    /// The bodies line by line, when they differ.
    pub body: Vec<Line>,
    /// The logs line by line, when they differ.
    pub logs: Vec<Line>,
    /// The traces aligned.
    pub trace: Vec<Step>,
    /// The index (in `trace`) of the first step that is not the same.
    pub first_divergence: Option<usize>,
}

/// Whether an argument is an address or a size rather than a value (left out of
/// the comparison; the tab's diff view leaves it out of what it shows too).
pub fn is_address(name: &str) -> bool {
    name.ends_with("_ptr")
        || name.ends_with("_len")
        || name.ends_with("_out")
        || matches!(name, "buf" | "ptr" | "len" | "cursor")
}

fn value_text(v: &Value) -> String {
    match v.get("value").unwrap_or(v) {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

impl RunView {
    /// The run an `edgeplay request --json` output describes.
    pub fn from_request_json(v: &Value) -> Result<RunView, String> {
        let status = v
            .get("status")
            .and_then(Value::as_u64)
            .ok_or("not an `edgeplay request --json` output: no status")?;
        let headers = v
            .get("headers")
            .and_then(Value::as_array)
            .map(|hs| {
                hs.iter()
                    .filter_map(|h| {
                        let (n, val) = (h.get(0)?.as_str()?, h.get(1)?.as_str()?);
                        Some((n.to_ascii_lowercase(), val.to_string()))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut logs: Vec<String> = v
            .get("logs")
            .and_then(Value::as_array)
            .map(|ls| {
                ls.iter()
                    .map(|l| match l {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        for stream in ["stdout", "stderr"] {
            if let Some(text) = v.get(stream).and_then(Value::as_str) {
                logs.extend(text.lines().map(|l| format!("{stream}: {l}")));
            }
        }
        let calls = v
            .get("trace")
            .and_then(Value::as_array)
            .map(|evs| evs.iter().map(call_view).collect())
            .unwrap_or_default();
        Ok(RunView {
            status: u16::try_from(status).map_err(|_| format!("status {status} is not HTTP"))?,
            headers,
            body: v
                .get("body")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            logs,
            calls,
        })
    }
}

impl RunView {
    /// The run a driver holds as values (the tab's run history): the response's
    /// `status`, `headers` (names lower-cased here) and `body` (as text, lossy), its
    /// log lines as they should be compared (`source: line`) and its trace. The trace
    /// is read exactly as [`RunView::from_request_json`] reads a `--json` trace, so
    /// the tab and `edgeplay diff` compare the same way.
    pub fn from_run(
        status: u16,
        headers: &[(String, String)],
        body: &[u8],
        logs: Vec<String>,
        trace: &[TraceEvent],
    ) -> RunView {
        RunView {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
                .collect(),
            body: String::from_utf8_lossy(body).into_owned(),
            logs,
            calls: trace
                .iter()
                .map(|e| {
                    serde_json::to_value(e).map_or_else(|_| CallView::default(), |v| call_view(&v))
                })
                .collect(),
        }
    }
}

fn call_view(e: &Value) -> CallView {
    let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default();
    let args = e
        .get("args")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|pair| {
                    let name = pair.get(0)?.as_str()?;
                    let value = pair.get(1)?;
                    (!is_address(name)).then(|| format!("{name}={}", value_text(value)))
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    CallView {
        call: format!("{}::{}", s("module"), s("name")),
        args,
        status: s("status").to_string(),
    }
}

/// One position of two aligned sequences.
enum Pair {
    /// `a[i]` and `b[j]` line up.
    Both(usize, usize),
    /// `a[i]` has no partner.
    OnlyA(usize),
    /// `b[j]` has no partner.
    OnlyB(usize),
}

/// `a` and `b` aligned (Myers): equal runs pair up, the rest is only in one of them
/// (a replaced run: its old items, then its new ones).
fn aligned<T: Eq + std::hash::Hash + Ord>(a: &[T], b: &[T]) -> Vec<Pair> {
    let mut out = Vec::new();
    for op in capture_diff_slices(Algorithm::Myers, a, b) {
        let (_, old, new) = op.as_tag_tuple();
        if matches!(op, DiffOp::Equal { .. }) {
            out.extend(old.zip(new).map(|(i, j)| Pair::Both(i, j)));
        } else {
            out.extend(old.map(Pair::OnlyA));
            out.extend(new.map(Pair::OnlyB));
        }
    }
    out
}

/// Two texts line by line (empty when they are equal).
fn lines(a: &[String], b: &[String]) -> Vec<Line> {
    if a == b {
        return Vec::new();
    }
    aligned(a, b)
        .into_iter()
        .map(|p| match p {
            Pair::Both(i, _) => Line::Same(a[i].clone()),
            Pair::OnlyA(i) => Line::Removed(a[i].clone()),
            Pair::OnlyB(j) => Line::Added(b[j].clone()),
        })
        .collect()
}

fn header_changes(a: &[(String, String)], b: &[(String, String)]) -> Vec<HeaderChange> {
    let values = |hs: &[(String, String)], name: &str| {
        let v: Vec<&str> = hs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect();
        (!v.is_empty()).then(|| v.join(", "))
    };
    let mut names: Vec<&str> = a.iter().chain(b).map(|(n, _)| n.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .filter_map(|n| {
            let (va, vb) = (values(a, n), values(b, n));
            (va != vb).then(|| HeaderChange {
                name: n.to_string(),
                a: va,
                b: vb,
            })
        })
        .collect()
}

/// `s`, cut to about `max` characters (a long argument in a one-line summary).
fn shorten(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn compare(a: &CallView, b: &CallView) -> Option<String> {
    let mut what = Vec::new();
    if a.status != b.status {
        what.push(format!("status {} → {}", a.status, b.status));
    }
    if a.args != b.args {
        // Where they start to differ, so a long argument's change is in view.
        let skip = a
            .args
            .char_indices()
            .zip(b.args.chars())
            .find(|((_, x), y)| x != y)
            .map_or(0, |((i, _), _)| i);
        let mut from = a.args[..skip].rfind(", ").map_or(0, |i| i + 2);
        if skip - from > 40 {
            // The two are byte-equal before `skip`: a char boundary of one is the other's.
            from = (skip - 40..skip)
                .find(|i| a.args.is_char_boundary(*i))
                .unwrap_or(skip);
        }
        let cut = |s: &str| {
            let tail = s.get(from..).unwrap_or(s);
            let lead = if from > 0 { "…" } else { "" };
            format!("{lead}{}", shorten(tail, 120))
        };
        what.push(format!("args {} → {}", cut(&a.args), cut(&b.args)));
    }
    (!what.is_empty()).then(|| what.join("; "))
}

fn align(a: &[CallView], b: &[CallView]) -> Vec<Step> {
    let ka: Vec<&str> = a.iter().map(|c| c.call.as_str()).collect();
    let kb: Vec<&str> = b.iter().map(|c| c.call.as_str()).collect();
    let step = |kind, call: &CallView, a, b, detail| Step {
        kind,
        call: call.call.clone(),
        a,
        b,
        detail,
    };
    aligned(&ka, &kb)
        .into_iter()
        .map(|p| match p {
            Pair::Both(i, j) => {
                let detail = compare(&a[i], &b[j]);
                let kind = if detail.is_some() {
                    StepKind::Changed
                } else {
                    StepKind::Same
                };
                step(kind, &a[i], Some(i), Some(j), detail)
            }
            Pair::OnlyA(i) => step(StepKind::Removed, &a[i], Some(i), None, None),
            Pair::OnlyB(j) => step(StepKind::Added, &b[j], None, Some(j), None),
        })
        .collect()
}

/// Compare two runs.
pub fn diff(a: &RunView, b: &RunView) -> RunDiff {
    let body_lines = |r: &RunView| r.body.lines().map(str::to_string).collect::<Vec<_>>();
    let trace = align(&a.calls, &b.calls);
    let first_divergence = trace.iter().position(|s| s.kind != StepKind::Same);
    RunDiff {
        status: (a.status != b.status).then_some((a.status, b.status)),
        headers: header_changes(&a.headers, &b.headers),
        body: lines(&body_lines(a), &body_lines(b)),
        logs: lines(&a.logs, &b.logs),
        trace,
        first_divergence,
    }
}

impl RunDiff {
    /// True when the runs do not differ in anything compared.
    pub fn is_empty(&self) -> bool {
        self.status.is_none()
            && self.headers.is_empty()
            && self.body.is_empty()
            && self.logs.is_empty()
            && self.first_divergence.is_none()
    }

    /// The differences as text, as `edgeplay diff` prints them.
    pub fn to_text(&self) -> String {
        if self.is_empty() {
            return "the runs do not differ\n".to_string();
        }
        let mut out = String::new();
        if let Some((a, b)) = self.status {
            out.push_str(&format!("status: {a} → {b}\n"));
        }
        for h in &self.headers {
            let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(absent)".into());
            out.push_str(&format!(
                "header {}: {} → {}\n",
                h.name,
                show(&h.a),
                show(&h.b)
            ));
        }
        let text = |title: &str, ls: &[Line], out: &mut String| {
            if ls.is_empty() {
                return;
            }
            out.push_str(&format!("{title}:\n"));
            for l in ls {
                match l {
                    Line::Same(s) => out.push_str(&format!("  {s}\n")),
                    Line::Removed(s) => out.push_str(&format!("- {s}\n")),
                    Line::Added(s) => out.push_str(&format!("+ {s}\n")),
                }
            }
        };
        text("body", &self.body, &mut out);
        text("logs", &self.logs, &mut out);
        if let Some(first) = self.first_divergence {
            let s = &self.trace[first];
            let at = |i: Option<usize>| i.map_or("-".to_string(), |i| (i + 1).to_string());
            out.push_str(&format!(
                "trace: first divergence at call {} of the first run, {} of the second: {} {}{}\n",
                at(s.a),
                at(s.b),
                match s.kind {
                    StepKind::Changed => "changed",
                    StepKind::Removed => "only in the first",
                    StepKind::Added => "only in the second",
                    StepKind::Same => "same",
                },
                s.call,
                s.detail
                    .as_ref()
                    .map(|d| format!(" ({d})"))
                    .unwrap_or_default()
            ));
            for s in self.trace.iter().filter(|s| s.kind != StepKind::Same) {
                let mark = match s.kind {
                    StepKind::Changed => '~',
                    StepKind::Removed => '-',
                    StepKind::Added => '+',
                    StepKind::Same => ' ',
                };
                out.push_str(&format!(
                    "{mark} {}{}\n",
                    s.call,
                    s.detail
                        .as_ref()
                        .map(|d| format!(": {d}"))
                        .unwrap_or_default()
                ));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(c: &str, args: &str, status: &str) -> CallView {
        CallView {
            call: c.into(),
            args: args.into(),
            status: status.into(),
        }
    }

    #[test]
    fn the_same_run_does_not_differ() {
        let r = RunView {
            status: 200,
            headers: vec![("a".into(), "1".into())],
            body: "x".into(),
            logs: vec!["l".into()],
            calls: vec![call("m::f", "x=1", "ok")],
        };
        let d = diff(&r, &r);
        assert!(d.is_empty());
        assert_eq!(d.to_text(), "the runs do not differ\n");
    }

    #[test]
    fn traces_align_by_call_and_the_first_divergence_is_named() {
        let a = RunView {
            status: 200,
            headers: vec![("x-a".into(), "1".into()), ("same".into(), "s".into())],
            body: "one\ntwo\n".into(),
            calls: vec![
                call("abi::init", "", "ok"),
                call("req::header_insert", "name=\"x-a\"", "ok"),
                call("resp::send", "", "ok"),
            ],
            ..RunView::default()
        };
        let b = RunView {
            status: 404,
            headers: vec![("same".into(), "s".into()), ("x-b".into(), "2".into())],
            body: "one\nthree\n".into(),
            calls: vec![
                call("abi::init", "", "ok"),
                call("req::header_insert", "name=\"x-b\"", "inval"),
                call("log::write", "", "ok"),
                call("resp::send", "", "ok"),
            ],
            ..RunView::default()
        };
        let d = diff(&a, &b);
        assert_eq!(d.status, Some((200, 404)));
        let names: Vec<_> = d.headers.iter().map(|h| h.name.as_str()).collect();
        assert_eq!(names, ["x-a", "x-b"]);
        assert_eq!(
            d.body,
            [
                Line::Same("one".into()),
                Line::Removed("two".into()),
                Line::Added("three".into())
            ]
        );
        let kinds: Vec<_> = d.trace.iter().map(|s| s.kind).collect();
        assert_eq!(
            kinds,
            [
                StepKind::Same,
                StepKind::Changed,
                StepKind::Added,
                StepKind::Same
            ]
        );
        assert_eq!(d.first_divergence, Some(1));
        let text = d.to_text();
        assert!(text.contains("first divergence at call 2 of the first run, 2 of the second: changed req::header_insert (status ok → inval; args name=\"x-a\" → name=\"x-b\")"), "{text}");
        assert!(text.contains("+ log::write"), "{text}");
    }

    #[test]
    fn request_json_is_read_and_addresses_are_left_out() {
        let v: Value = serde_json::from_str(
            r#"{"status":200,"headers":[["X-A","1"]],"body":"b","logs":["l"],"stdout":"o\n","stderr":"",
                "trace":[{"module":"m","name":"f","status":"ok","args":[["name_ptr",{"type":"int","value":5}],["name",{"type":"str","value":"x"}]]}]}"#,
        )
        .unwrap();
        let r = RunView::from_request_json(&v).unwrap();
        assert_eq!(r.headers, [("x-a".to_string(), "1".to_string())]);
        assert_eq!(r.logs, ["l", "stdout: o"]);
        assert_eq!(r.calls, [call("m::f", "name=\"x\"", "ok")]);
        assert!(RunView::from_request_json(&serde_json::json!({"x": 1})).is_err());
    }

    #[test]
    fn a_run_held_as_values_reads_as_its_json_does() {
        use crate::trace::{ArgValue, EventKind, HandleKind};
        let mut e = TraceEvent::new(0, EventKind::Hostcall, "fastly_http_resp", "header_append");
        e.args = vec![
            (
                "h".into(),
                ArgValue::Handle {
                    kind: HandleKind::Response,
                    handle: 1,
                },
            ),
            ("name_ptr".into(), ArgValue::Int(1024)),
            ("name".into(), ArgValue::Str("x-a".into())),
            ("value".into(), ArgValue::Str("one".into())),
        ];
        e.status = Some("ok".into());
        let trace = vec![e];
        let headers = vec![("X-A".to_string(), "one".to_string())];
        let held = RunView::from_run(200, &headers, b"hi", vec!["stdout: l".into()], &trace);
        let json = serde_json::json!({
            "status": 200, "headers": [["X-A", "one"]], "body": "hi", "stdout": "l\n",
            "trace": trace,
        });
        assert_eq!(held, RunView::from_request_json(&json).unwrap());
        assert_eq!(
            held.calls[0].args,
            "h={\"handle\":1,\"kind\":\"response\"}, name=\"x-a\", value=\"one\""
        );
    }
}
