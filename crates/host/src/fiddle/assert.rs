//! Assertions in Fastly Fiddle's test syntax, one per line:
//!
//! ```text
//! [label] TARGET OPERATOR VALUE
//! ```
//!
//! evaluated over a [`RunRecord`]. `docs/fiddle.md` lists the targets, the
//! operators, how values are written and how `fnName` maps to edgeplay's trace.

use super::record::RunRecord;
use crate::trace::{ArgValue, EventKind, TraceEvent};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A syntax error, with the (1-based) line it is on.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// The line, from 1.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// What an assertion tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// `clientFetch.status`
    ClientStatus,
    /// `clientFetch.req`: request line, headers and body.
    ClientReq,
    /// `clientFetch.resp`: status line and headers.
    ClientResp,
    /// `clientFetch.bodyPreview`
    ClientBodyPreview,
    /// `clientFetch.bodyBytesReceived`
    ClientBodyBytes,
    /// `clientFetch.complete`
    ClientComplete,
    /// `originFetches.count()`
    OriginCount,
    /// `originFetches[i].FIELD` (`req`, `resp`, `status`, `backend`, `url`, `method`)
    Origin {
        /// The index, from 0.
        index: usize,
        /// The field.
        field: String,
    },
    /// `events.where(fnName=NAME).count()`
    EventCount {
        /// The `fnName`.
        fn_name: String,
    },
    /// `events.where(fnName=NAME)[n].ATTR` (`attribs.` before ATTR is optional)
    EventAttr {
        /// The `fnName`.
        fn_name: String,
        /// The index among the matching events, from 0.
        index: usize,
        /// The attribute.
        attr: String,
    },
}

/// A comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operator {
    /// `is`
    Is,
    /// `isNot`
    IsNot,
    /// `includes`
    Includes,
    /// `notIncludes`
    NotIncludes,
    /// `matches` (a regular expression)
    Matches,
    /// `isAtLeast`
    IsAtLeast,
    /// `isAtMost`
    IsAtMost,
    /// `isMoreThan`
    IsMoreThan,
    /// `isLessThan`
    IsLessThan,
    /// `startsWith`
    StartsWith,
    /// `endsWith`
    EndsWith,
}

const OPERATORS: &[(&str, Operator)] = &[
    ("is", Operator::Is),
    ("isNot", Operator::IsNot),
    ("includes", Operator::Includes),
    ("notIncludes", Operator::NotIncludes),
    ("matches", Operator::Matches),
    ("isAtLeast", Operator::IsAtLeast),
    ("isAtMost", Operator::IsAtMost),
    ("isMoreThan", Operator::IsMoreThan),
    ("isLessThan", Operator::IsLessThan),
    ("startsWith", Operator::StartsWith),
    ("endsWith", Operator::EndsWith),
];

/// The value an assertion compares with.
#[derive(Clone, Debug)]
pub enum Expected {
    /// A string (`"…"` with JSON escapes, `'…'`, or a bare word).
    Str(String),
    /// A number.
    Num(f64),
    /// `true` or `false`.
    Bool(bool),
    /// A regular expression (`matches`): `/pattern/flags` or a string.
    Regex(regex::Regex, String),
}

impl PartialEq for Expected {
    fn eq(&self, other: &Self) -> bool {
        self.to_string() == other.to_string()
    }
}

impl fmt::Display for Expected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expected::Str(s) => write!(f, "{}", quote(s)),
            Expected::Num(n) => write!(f, "{}", num(*n)),
            Expected::Bool(b) => write!(f, "{b}"),
            Expected::Regex(_, src) => write!(f, "{src}"),
        }
    }
}

/// One parsed assertion.
#[derive(Clone, Debug, PartialEq)]
pub struct Assertion {
    /// Its line in the text, from 1.
    pub line: usize,
    /// The label, if one was given.
    pub label: Option<String>,
    /// The assertion without its label, as written.
    pub text: String,
    /// What it tests.
    pub target: Target,
    /// The comparison.
    pub op: Operator,
    /// The value compared with.
    pub expected: Expected,
}

impl Assertion {
    /// What a report calls it: the label, or the assertion's text.
    pub fn name(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.text)
    }
}

/// The result of one assertion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AssertionResult {
    /// Its line, from 1.
    pub line: usize,
    /// The label, or the assertion's text.
    pub name: String,
    /// The assertion without its label, as written.
    pub text: String,
    /// Whether it held.
    pub pass: bool,
    /// What was expected (`is 200`, `includes "x-foo: bar"`).
    pub expected: String,
    /// What the run had (`404`, `"HTTP/1.1 200 OK\n…"`, `(absent: …)`).
    pub actual: String,
}

/// Parse assertion text: one per line; blank lines and lines starting with `#` or
/// `//` are skipped. The first error is returned with its line.
pub fn parse_assertions(text: &str) -> Result<Vec<Assertion>, ParseError> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("//") {
            continue;
        }
        out.push(parse_line(line, i + 1)?);
    }
    Ok(out)
}

/// Parse every line, keeping going after errors: the assertions that parse, and an
/// error for each line that does not (for an editor that marks every bad line).
pub fn parse_assertions_all(text: &str) -> (Vec<Assertion>, Vec<ParseError>) {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("//") {
            continue;
        }
        match parse_line(line, i + 1) {
            Ok(a) => ok.push(a),
            Err(e) => errors.push(e),
        }
    }
    (ok, errors)
}

fn parse_line(line: &str, n: usize) -> Result<Assertion, ParseError> {
    let err = |message: String| ParseError { line: n, message };
    let (label, rest) = if let Some(r) = line.strip_prefix('[') {
        let end = r
            .find(']')
            .ok_or_else(|| err("the label's `[` has no closing `]`".into()))?;
        (Some(r[..end].trim().to_string()), r[end + 1..].trim_start())
    } else {
        (None, line)
    };
    let (target_text, rest) = split_word(rest);
    if target_text.is_empty() {
        return Err(err("expected TARGET OPERATOR VALUE after the label".into()));
    }
    let target = parse_target(target_text).map_err(err)?;
    let (op_text, value_text) = split_word(rest);
    if op_text.is_empty() {
        return Err(err(format!(
            "expected an operator after `{target_text}` (one of {})",
            operator_names()
        )));
    }
    let op = OPERATORS
        .iter()
        .find(|(name, _)| *name == op_text)
        .map(|(_, o)| *o)
        .ok_or_else(|| {
            err(format!(
                "unknown operator `{op_text}` (expected one of {})",
                operator_names()
            ))
        })?;
    let value_text = value_text.trim();
    if value_text.is_empty() {
        return Err(err(format!("expected a value after `{op_text}`")));
    }
    let expected = parse_value(value_text, op).map_err(err)?;
    Ok(Assertion {
        line: n,
        label,
        text: rest_without_label(line),
        target,
        op,
        expected,
    })
}

fn rest_without_label(line: &str) -> String {
    match line
        .strip_prefix('[')
        .and_then(|r| r.find(']').map(|e| &r[e + 1..]))
    {
        Some(rest) => rest.trim().to_string(),
        None => line.to_string(),
    }
}

fn operator_names() -> String {
    OPERATORS
        .iter()
        .map(|(n, _)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The first whitespace-separated word, and the rest (leading space trimmed).
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim_start();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim_start()),
        None => (s, ""),
    }
}

fn parse_index(s: &str) -> Result<usize, String> {
    s.parse()
        .map_err(|_| format!("`[{s}]` is not an index (expected a number from 0)"))
}

fn parse_target(t: &str) -> Result<Target, String> {
    if let Some(field) = t.strip_prefix("clientFetch.") {
        return Ok(match field {
            "status" => Target::ClientStatus,
            "req" => Target::ClientReq,
            "resp" => Target::ClientResp,
            "bodyPreview" => Target::ClientBodyPreview,
            "bodyBytesReceived" => Target::ClientBodyBytes,
            "complete" => Target::ClientComplete,
            other => return Err(format!(
                "unknown target `clientFetch.{other}` (expected status, req, resp, bodyPreview, bodyBytesReceived or complete)"
            )),
        });
    }
    if t == "originFetches.count()" {
        return Ok(Target::OriginCount);
    }
    if let Some(r) = t.strip_prefix("originFetches[") {
        let (idx, field) = r
            .split_once("].")
            .ok_or_else(|| format!("expected `originFetches[i].FIELD`, found `{t}`"))?;
        let index = parse_index(idx)?;
        if !matches!(
            field,
            "req" | "resp" | "status" | "backend" | "url" | "method"
        ) {
            return Err(format!(
                "unknown target `originFetches[{idx}].{field}` (expected req, resp, status, backend, url or method)"
            ));
        }
        return Ok(Target::Origin {
            index,
            field: field.into(),
        });
    }
    if let Some(r) = t.strip_prefix("events.where(") {
        let (cond, after) = r
            .split_once(')')
            .ok_or_else(|| format!("`events.where(` has no closing `)` in `{t}`"))?;
        let fn_name = cond
            .trim()
            .strip_prefix("fnName")
            .and_then(|c| c.trim_start().strip_prefix('='))
            .map(|c| c.trim().trim_matches(|q| q == '"' || q == '\''))
            .filter(|c| !c.is_empty())
            .ok_or_else(|| {
                format!("expected `events.where(fnName=NAME)`, found `events.where({cond})`")
            })?
            .to_string();
        if after == ".count()" {
            return Ok(Target::EventCount { fn_name });
        }
        let r = after.strip_prefix('[').ok_or_else(|| {
            format!("expected `.count()` or `[n].ATTR` after `events.where(fnName={fn_name})`")
        })?;
        let (idx, attr) = r
            .split_once("].")
            .ok_or_else(|| format!("expected `[n].ATTR` after `events.where(fnName={fn_name})`"))?;
        let index = parse_index(idx)?;
        let attr = attr.strip_prefix("attribs.").unwrap_or(attr);
        if attr.is_empty() {
            return Err("expected an attribute name after `.`".into());
        }
        return Ok(Target::EventAttr {
            fn_name,
            index,
            attr: attr.into(),
        });
    }
    Err(format!(
        "unknown target `{t}` (expected clientFetch.…, originFetches…, or events.where(fnName=…)…)"
    ))
}

fn parse_value(v: &str, op: Operator) -> Result<Expected, String> {
    if op == Operator::Matches {
        let (pattern, flags, src) = if let Some(body) = v.strip_prefix('/') {
            let end = body
                .rfind('/')
                .ok_or_else(|| format!("the regular expression `{v}` has no closing `/`"))?;
            (body[..end].to_string(), &body[end + 1..], v.to_string())
        } else {
            let s = match parse_value(v, Operator::Is)? {
                Expected::Str(s) => s,
                other => other.to_string(),
            };
            (s, "", v.to_string())
        };
        let mut b = regex::RegexBuilder::new(&pattern);
        for f in flags.chars() {
            match f {
                'i' => b.case_insensitive(true),
                'm' => b.multi_line(true),
                's' => b.dot_matches_new_line(true),
                'g' | 'u' => &mut b,
                other => {
                    return Err(format!(
                        "unknown regular expression flag `{other}` (i, m, s)"
                    ))
                }
            };
        }
        b.size_limit(1 << 20);
        let re = b
            .build()
            .map_err(|e| format!("invalid regular expression: {e}"))?;
        return Ok(Expected::Regex(re, src));
    }
    if v.starts_with('"') {
        return serde_json::from_str::<String>(v)
            .map(Expected::Str)
            .map_err(|e| format!("invalid string {v}: {e}"));
    }
    if let Some(inner) = v.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        return Ok(Expected::Str(inner.to_string()));
    }
    match v {
        "true" => return Ok(Expected::Bool(true)),
        "false" => return Ok(Expected::Bool(false)),
        _ => {}
    }
    if let Some(n) = parse_number(v) {
        return Ok(Expected::Num(n));
    }
    Ok(Expected::Str(v.to_string()))
}

fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() || s.eq_ignore_ascii_case("nan") || s.to_ascii_lowercase().contains("inf") {
        return None;
    }
    s.parse::<f64>().ok()
}

/// What a target had in a run.
#[derive(Clone, Debug, PartialEq)]
enum Actual {
    Str(String),
    Num(f64),
    Bool(bool),
    /// The target does not exist in this run (why).
    Absent(String),
}

impl Actual {
    fn text(&self) -> String {
        match self {
            Actual::Str(s) => s.clone(),
            Actual::Num(n) => num(*n),
            Actual::Bool(b) => b.to_string(),
            Actual::Absent(_) => String::new(),
        }
    }

    fn number(&self) -> Option<f64> {
        match self {
            Actual::Num(n) => Some(*n),
            Actual::Str(s) => parse_number(s),
            _ => None,
        }
    }

    fn show(&self) -> String {
        match self {
            Actual::Str(s) => quote(&cut(s, 500)),
            Actual::Absent(why) => format!("(absent: {why})"),
            other => other.text(),
        }
    }
}

fn cut(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn num(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// The events `fnName` selects, in call order (see `docs/fiddle.md`): `fetch` or
/// `backend` the backend requests, `log` the log lines, `module::name` exactly that
/// import, and any other name the hostcalls (or lifecycle events) of that name in
/// any module.
pub fn select_events<'a>(events: &'a [TraceEvent], fn_name: &str) -> Vec<&'a TraceEvent> {
    events
        .iter()
        .filter(|e| match fn_name {
            "fetch" | "backend" => e.kind == EventKind::Work && e.module == "backend",
            "log" => e.kind == EventKind::Log,
            q if q.contains("::") => e.qualified_name() == q,
            name => e.name == name && e.kind != EventKind::Work && e.kind != EventKind::Log,
        })
        .collect()
}

fn arg_actual(v: &ArgValue) -> Actual {
    match v {
        ArgValue::Int(i) => Actual::Num(*i as f64),
        ArgValue::Str(s) | ArgValue::Enum(s) => Actual::Str(s.clone()),
        ArgValue::Flags(f) => Actual::Str(f.join("|")),
        ArgValue::List(l) => Actual::Str(l.join(", ")),
        other => Actual::Str(other.display()),
    }
}

fn event_attr(e: &TraceEvent, attr: &str) -> Actual {
    if let Some(v) = e.arg(attr).or_else(|| e.result(attr)) {
        return arg_actual(v);
    }
    let some_str = |s: Option<&str>| match s {
        Some(s) => Actual::Str(s.to_string()),
        None => Actual::Absent(format!("event #{} has no {attr}", e.seq)),
    };
    match attr {
        "fnName" | "name" => Actual::Str(e.name.to_string()),
        "module" => Actual::Str(e.module.to_string()),
        "status" => some_str(e.status.as_deref()),
        "code" => match e.code {
            Some(c) => Actual::Num(f64::from(c)),
            None => Actual::Absent(format!("event #{} returned no code", e.seq)),
        },
        "note" => some_str(e.note.as_deref()),
        "unsupported" => Actual::Bool(e.unsupported),
        "seq" => Actual::Num(e.seq as f64),
        "startUs" | "start_us" => Actual::Num(e.start_us),
        "durationUs" | "dur_us" => Actual::Num(e.dur_us),
        "fuel" => Actual::Num(e.fuel as f64),
        _ => {
            let mut names: Vec<String> = e
                .args
                .iter()
                .chain(e.results.iter())
                .map(|(n, _)| n.to_string())
                .collect();
            names.dedup();
            Actual::Absent(format!(
                "event #{} ({}) has no attribute {attr:?}; it has {}",
                e.seq,
                e.qualified_name(),
                if names.is_empty() {
                    "only name, module, status, code, note, seq, startUs, durationUs".to_string()
                } else {
                    names.join(", ")
                }
            ))
        }
    }
}

fn actual(target: &Target, r: &RunRecord) -> Actual {
    match target {
        Target::ClientStatus => Actual::Num(f64::from(r.status)),
        Target::ClientReq => Actual::Str(r.req_text()),
        Target::ClientResp => Actual::Str(r.resp_text()),
        Target::ClientBodyPreview => Actual::Str(r.body_preview()),
        Target::ClientBodyBytes => Actual::Num(r.body.len() as f64),
        Target::ClientComplete => Actual::Bool(r.complete()),
        Target::OriginCount => Actual::Num(r.origin_fetches.len() as f64),
        Target::Origin { index, field } => match r.origin_fetches.get(*index) {
            None => Actual::Absent(format!(
                "there were {} origin fetches",
                r.origin_fetches.len()
            )),
            Some(o) => match field.as_str() {
                "req" => Actual::Str(o.req_text()),
                "resp" => Actual::Str(o.resp_text()),
                "status" => match o.status {
                    Some(s) => Actual::Num(f64::from(s)),
                    None => Actual::Absent(format!(
                        "the fetch got no response ({})",
                        o.error.as_deref().unwrap_or("no status")
                    )),
                },
                "backend" => Actual::Str(o.backend.clone()),
                "url" => Actual::Str(o.url.clone()),
                _ => Actual::Str(o.method.clone()),
            },
        },
        Target::EventCount { fn_name } => {
            Actual::Num(select_events(&r.events, fn_name).len() as f64)
        }
        Target::EventAttr {
            fn_name,
            index,
            attr,
        } => {
            let evs = select_events(&r.events, fn_name);
            match evs.get(*index) {
                Some(e) => event_attr(e, attr),
                None => Actual::Absent(format!(
                    "there were {} events with fnName={fn_name}",
                    evs.len()
                )),
            }
        }
    }
}

/// True for the targets that are header blocks (names lowercased).
fn is_header_block(t: &Target) -> bool {
    match t {
        Target::ClientReq | Target::ClientResp => true,
        Target::Origin { field, .. } => field == "req" || field == "resp",
        _ => false,
    }
}

/// The expected text, with a header name (`Name: value`) lowercased for header blocks.
fn expected_text(a: &Assertion) -> String {
    let s = match &a.expected {
        Expected::Str(s) => s.clone(),
        other => other.to_string(),
    };
    if is_header_block(&a.target) {
        if let Some((name, rest)) = s.split_once(':') {
            return format!("{}:{rest}", name.to_ascii_lowercase());
        }
    }
    s
}

/// `includes` for `a`: in a header block, text with no `:` (a header name, a word of
/// the status line) is found in any case.
fn includes(a: &Assertion, text: &str) -> bool {
    let e = expected_text(a);
    if is_header_block(&a.target) && !e.contains(':') {
        return text.to_lowercase().contains(&e.to_lowercase());
    }
    text.contains(&e)
}

fn holds(a: &Assertion, act: &Actual) -> bool {
    if let Actual::Absent(_) = act {
        return a.op == Operator::IsNot;
    }
    let text = act.text();
    match a.op {
        Operator::Is | Operator::IsNot => {
            let eq = match (&a.expected, act) {
                (Expected::Num(e), a) => a.number() == Some(*e),
                (Expected::Bool(e), Actual::Bool(b)) => e == b,
                (Expected::Str(e), Actual::Num(n)) => parse_number(e) == Some(*n),
                (Expected::Str(e), _) => *e == text,
                (e, _) => e.to_string() == text,
            };
            eq == (a.op == Operator::Is)
        }
        Operator::Includes => includes(a, &text),
        Operator::NotIncludes => !includes(a, &text),
        Operator::StartsWith => text.starts_with(&expected_text(a)),
        Operator::EndsWith => text.ends_with(&expected_text(a)),
        Operator::Matches => match &a.expected {
            Expected::Regex(re, _) => re.is_match(&text),
            _ => false,
        },
        Operator::IsAtLeast | Operator::IsAtMost | Operator::IsMoreThan | Operator::IsLessThan => {
            let e = match &a.expected {
                Expected::Num(n) => Some(*n),
                Expected::Str(s) => parse_number(s),
                _ => None,
            };
            match (act.number(), e) {
                (Some(x), Some(e)) => match a.op {
                    Operator::IsAtLeast => x >= e,
                    Operator::IsAtMost => x <= e,
                    Operator::IsMoreThan => x > e,
                    _ => x < e,
                },
                _ => false,
            }
        }
    }
}

fn op_name(op: Operator) -> &'static str {
    OPERATORS
        .iter()
        .find(|(_, o)| *o == op)
        .map(|(n, _)| *n)
        .unwrap_or("?")
}

/// Parse `text` and evaluate it over `record` in one step.
pub fn check(text: &str, record: &RunRecord) -> Result<Vec<AssertionResult>, ParseError> {
    parse_assertions(text).map(|a| evaluate(&a, record))
}

/// Evaluate each assertion over one run.
pub fn evaluate(assertions: &[Assertion], record: &RunRecord) -> Vec<AssertionResult> {
    assertions
        .iter()
        .map(|a| {
            let act = actual(&a.target, record);
            let pass = holds(a, &act);
            let mut actual = act.show();
            let numeric = matches!(
                a.op,
                Operator::IsAtLeast
                    | Operator::IsAtMost
                    | Operator::IsMoreThan
                    | Operator::IsLessThan
            );
            if numeric && !matches!(act, Actual::Absent(_)) && act.number().is_none() {
                actual.push_str(" (not a number)");
            }
            AssertionResult {
                line: a.line,
                name: a.name().to_string(),
                text: a.text.clone(),
                pass,
                expected: format!("{} {}", op_name(a.op), a.expected),
                actual,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::FinalResponse;
    use crate::http::{DownstreamRequest, Headers};

    fn run() -> RunRecord {
        let mut headers = Headers::new();
        headers.insert("content-type", b"text/plain");
        headers.insert("x-foo", b"bar");
        let resp = FinalResponse {
            status: 200,
            headers,
            body: b"hello, visitor 3".to_vec(),
            error: None,
        };
        let mut send = TraceEvent::new(1, EventKind::Hostcall, "fastly_http_req", "send");
        send.args
            .push(("backend".into(), ArgValue::Str("origin".into())));
        send.status = Some("ok".into());
        send.code = Some(0);
        let mut log = TraceEvent::new(2, EventKind::Log, "log", "stdout");
        log.args.push(("line".into(), ArgValue::Str("hi".into())));
        let mut fetch = TraceEvent::new(3, EventKind::Work, "backend", "origin");
        fetch
            .args
            .push(("method".into(), ArgValue::Str("GET".into())));
        fetch
            .args
            .push(("url".into(), ArgValue::Str("http://o.test/a".into())));
        fetch
            .args
            .push(("cache".into(), ArgValue::Enum("MISS".into())));
        fetch.args.push(("status".into(), ArgValue::Int(201)));
        fetch.status = Some("ok".into());
        let trace = vec![send, log, fetch];
        RunRecord::new(&DownstreamRequest::new("GET", "/?a=1"), &resp, trace)
    }

    fn check(text: &str) -> Vec<AssertionResult> {
        evaluate(&parse_assertions(text).unwrap(), &run())
    }

    fn passes(line: &str) -> bool {
        let r = check(line);
        assert_eq!(r.len(), 1, "{line}");
        r[0].pass
    }

    #[test]
    fn client_fetch_targets() {
        assert!(passes("clientFetch.status is 200"));
        assert!(passes("clientFetch.status is \"200\""));
        assert!(!passes("clientFetch.status is 404"));
        assert!(passes("clientFetch.status isNot 404"));
        assert!(passes("clientFetch.status isAtLeast 200"));
        assert!(passes("clientFetch.status isLessThan 300"));
        assert!(!passes("clientFetch.status isMoreThan 200"));
        assert!(passes("clientFetch.status isAtMost 200"));
        assert!(passes(r#"clientFetch.resp includes "x-foo: bar""#));
        assert!(
            passes(r#"clientFetch.resp includes "X-Foo: bar""#),
            "header names ignore case"
        );
        assert!(
            !passes(r#"clientFetch.resp includes "x-foo: BAR""#),
            "values do not"
        );
        assert!(passes(r#"clientFetch.resp notIncludes "x-bar""#));
        assert!(
            passes(r#"clientFetch.resp includes "X-Foo""#),
            "a name alone, any case"
        );
        assert!(passes(r#"clientFetch.resp notIncludes "X-Bar""#));
        assert!(passes(r#"clientFetch.resp startsWith "HTTP/1.1 200 OK""#));
        assert!(passes(r#"clientFetch.req startsWith "GET /?a=1 HTTP/1.1""#));
        assert!(passes("clientFetch.bodyPreview matches /visitor \\d+$/"));
        assert!(passes("clientFetch.bodyPreview matches /^HELLO/i"));
        assert!(passes(r#"clientFetch.bodyPreview matches "^hello""#));
        assert!(passes("clientFetch.bodyPreview endsWith '3'"));
        assert!(passes("clientFetch.bodyPreview includes visitor"));
        assert!(passes("clientFetch.bodyBytesReceived is 16"));
        assert!(passes("clientFetch.complete is true"));
    }

    #[test]
    fn origin_and_event_targets() {
        assert!(passes("originFetches.count() is 1"));
        assert!(passes("originFetches[0].status is 201"));
        assert!(passes(r#"originFetches[0].req is "GET http://o.test/a""#));
        assert!(passes(r#"originFetches[0].resp includes "201 Created""#));
        assert!(passes(r#"originFetches[0].backend is "origin""#));
        assert!(passes("events.where(fnName=send).count() is 1"));
        assert!(passes(
            "events.where(fnName=fastly_http_req::send).count() is 1"
        ));
        assert!(passes(
            r#"events.where(fnName=send)[0].backend is "origin""#
        ));
        assert!(passes(
            r#"events.where(fnName=send)[0].attribs.status is "ok""#
        ));
        assert!(passes("events.where(fnName=send)[0].code is 0"));
        assert!(passes("events.where(fnName=fetch)[0].status is 201"));
        assert!(passes(r#"events.where(fnName=fetch)[0].cache is "MISS""#));
        assert!(passes(r#"events.where(fnName=log)[0].line is "hi""#));
        assert!(passes("events.where(fnName=lookup).count() is 0"));
    }

    #[test]
    fn results_show_expected_and_actual() {
        let r = check("[the status] clientFetch.status is 404\nclientFetch.resp includes \"nope\"");
        assert_eq!(r[0].name, "the status");
        assert_eq!(r[0].text, "clientFetch.status is 404");
        assert!(!r[0].pass);
        assert_eq!(r[0].expected, "is 404");
        assert_eq!(r[0].actual, "200");
        assert_eq!(r[0].line, 1);
        assert_eq!(r[1].name, "clientFetch.resp includes \"nope\"");
        assert_eq!(r[1].expected, "includes \"nope\"");
        assert!(
            r[1].actual.starts_with("\"HTTP/1.1 200 OK\\n"),
            "{}",
            r[1].actual
        );
        assert_eq!(r[1].line, 2);
    }

    #[test]
    fn absent_targets_fail_and_say_why() {
        let r = check("originFetches[3].status is 200\nevents.where(fnName=send)[0].nope is 1\nevents.where(fnName=send)[5].code isNot 1");
        assert!(!r[0].pass);
        assert_eq!(r[0].actual, "(absent: there were 1 origin fetches)");
        assert!(!r[1].pass);
        assert!(
            r[1].actual
                .contains("has no attribute \"nope\"; it has backend"),
            "{}",
            r[1].actual
        );
        assert!(r[2].pass, "an absent value is not 1");
        let r = check("clientFetch.bodyPreview isMoreThan 3");
        assert!(!r[0].pass);
        assert!(r[0].actual.ends_with("(not a number)"), "{}", r[0].actual);
    }

    #[test]
    fn parse_errors_name_their_line() {
        let cases = [
            (
                "clientFetch.status is 200\n\nclientFetch.nope is 1",
                3,
                "unknown target `clientFetch.nope`",
            ),
            (
                "clientFetch.status equals 200",
                1,
                "unknown operator `equals`",
            ),
            ("clientFetch.status is", 1, "expected a value after `is`"),
            ("clientFetch.status", 1, "expected an operator"),
            ("[label clientFetch.status is 1", 1, "no closing `]`"),
            (
                "# comment\noriginFetches[x].status is 1",
                2,
                "is not an index",
            ),
            (
                "events.where(name=x).count() is 1",
                1,
                "expected `events.where(fnName=NAME)`",
            ),
            (
                "clientFetch.bodyPreview matches /(/",
                1,
                "invalid regular expression",
            ),
            (
                "clientFetch.bodyPreview matches /a/q",
                1,
                "unknown regular expression flag",
            ),
            (
                "clientFetch.bodyPreview is \"unterminated",
                1,
                "invalid string",
            ),
            ("whatever.x is 1", 1, "unknown target"),
        ];
        for (text, line, msg) in cases {
            let e = parse_assertions(text).unwrap_err();
            assert_eq!(e.line, line, "{text}: {e}");
            assert!(e.message.contains(msg), "{text}: {e}");
            assert!(e.to_string().starts_with(&format!("line {line}: ")));
        }
    }

    #[test]
    fn every_bad_line_can_be_reported() {
        let (ok, errors) = parse_assertions_all(
            "clientFetch.status is 200\nbogus\nclientFetch.status isNot 1\nclientFetch.status nope 1",
        );
        assert_eq!(ok.len(), 2);
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 4]);
    }

    #[test]
    fn blank_lines_and_comments_are_skipped() {
        let a = parse_assertions("\n  # note\n// also\n clientFetch.status is 200 \n").unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].line, 4);
    }
}
