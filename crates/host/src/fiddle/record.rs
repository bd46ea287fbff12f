//! What one request's run left, as assertions see it: platform-neutral, built from
//! what every driver already has (the downstream request, the [`FinalResponse`] and
//! the trace), so the runner and the tab evaluate the same record.

use crate::collect::FinalResponse;
use crate::http::DownstreamRequest;
use crate::trace::{ArgValue, EventKind, TraceEvent};
use serde::{Deserialize, Serialize};

/// How much of the body `clientFetch.bodyPreview` shows.
pub const BODY_PREVIEW_BYTES: usize = 8 * 1024;

/// One request's run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The request's method.
    pub method: String,
    /// The request's absolute URL.
    pub url: String,
    /// The request's headers, in order.
    pub request_headers: Vec<(String, String)>,
    /// The request's body.
    pub request_body: Vec<u8>,
    /// The response status.
    pub status: u16,
    /// The response headers, in order (names lowercased).
    pub headers: Vec<(String, String)>,
    /// The response body.
    pub body: Vec<u8>,
    /// The error a user saw (trap, CPU limit, …), if any.
    pub error: Option<String>,
    /// The requests that reached a backend, in the order they ended.
    pub origin_fetches: Vec<OriginFetch>,
    /// The trace, in call order.
    pub events: Vec<TraceEvent>,
}

/// One backend request that reached its origin (a mock backend counts; a
/// readthrough cache hit, a stale answer or a collapsed wait does not).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OriginFetch {
    /// The backend's name.
    pub backend: String,
    /// The method sent.
    pub method: String,
    /// The URL sent.
    pub url: String,
    /// The origin's status, when it answered.
    pub status: Option<u16>,
    /// Why it failed (`connection_refused`, `abandoned`, …), when it did.
    pub error: Option<String>,
}

impl RunRecord {
    /// The record of `request`'s run that answered `response` and left `trace`.
    pub fn new(
        request: &DownstreamRequest,
        response: &FinalResponse,
        mut trace: Vec<TraceEvent>,
    ) -> RunRecord {
        trace.sort_by_key(|e| e.seq);
        let origin_fetches = trace.iter().filter_map(origin_fetch).collect();
        RunRecord {
            method: request.method.clone(),
            url: request.url.clone(),
            request_headers: text_headers(request.headers.iter()),
            request_body: request.body.clone(),
            status: response.status,
            headers: text_headers(response.headers.iter()),
            body: response.body.clone(),
            error: response.error.clone(),
            origin_fetches,
            events: trace,
        }
    }

    /// True when the response was delivered whole (no trap, CPU limit or stop).
    pub fn complete(&self) -> bool {
        self.error.is_none()
    }

    /// `clientFetch.req`: the request line, headers, a blank line and the body.
    pub fn req_text(&self) -> String {
        let path = path_of(&self.url);
        let mut s = format!("{} {path} HTTP/1.1\n", self.method);
        for (n, v) in &self.request_headers {
            s.push_str(&format!("{n}: {v}\n"));
        }
        s.push('\n');
        s.push_str(&String::from_utf8_lossy(&self.request_body));
        s
    }

    /// `clientFetch.resp`: the status line and headers (no body), names lowercased.
    pub fn resp_text(&self) -> String {
        let reason = http::StatusCode::from_u16(self.status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        let mut s = format!("HTTP/1.1 {} {reason}", self.status)
            .trim_end()
            .to_string();
        s.push('\n');
        for (n, v) in &self.headers {
            s.push_str(&format!("{n}: {v}\n"));
        }
        s
    }

    /// `clientFetch.bodyPreview`: the body's first [`BODY_PREVIEW_BYTES`], as text.
    pub fn body_preview(&self) -> String {
        let n = self.body.len().min(BODY_PREVIEW_BYTES);
        String::from_utf8_lossy(&self.body[..n]).into_owned()
    }
}

impl OriginFetch {
    /// `originFetches[i].req`: `METHOD URL` (the trace keeps no backend headers).
    pub fn req_text(&self) -> String {
        format!("{} {}", self.method, self.url)
    }

    /// `originFetches[i].resp`: the origin's status line, or the error.
    pub fn resp_text(&self) -> String {
        match (self.status, &self.error) {
            (Some(s), _) => {
                let reason = http::StatusCode::from_u16(s)
                    .ok()
                    .and_then(|c| c.canonical_reason())
                    .unwrap_or("");
                format!("HTTP/1.1 {s} {reason}").trim_end().to_string()
            }
            (None, Some(e)) => e.clone(),
            (None, None) => String::new(),
        }
    }
}

/// The path and query of an absolute URL (the URL itself if it has none).
fn path_of(url: &str) -> &str {
    match url.find("://") {
        Some(i) => {
            let rest = &url[i + 3..];
            match rest.find('/') {
                Some(j) => &rest[j..],
                None => "/",
            }
        }
        None => url,
    }
}

fn text_headers<'a>(h: impl Iterator<Item = (&'a str, &'a [u8])>) -> Vec<(String, String)> {
    h.map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v).into_owned()))
        .collect()
}

/// The origin fetch a backend work event records, if it reached the origin.
fn origin_fetch(e: &TraceEvent) -> Option<OriginFetch> {
    if e.kind != EventKind::Work || e.module != "backend" {
        return None;
    }
    if let Some(ArgValue::Enum(c)) = e.arg("cache") {
        if matches!(c.as_str(), "HIT" | "STALE" | "COLLAPSED") {
            return None;
        }
    }
    let text = |name: &str| match e.arg(name) {
        Some(ArgValue::Str(s)) | Some(ArgValue::Enum(s)) => s.clone(),
        _ => String::new(),
    };
    let status = match e.arg("status") {
        Some(ArgValue::Int(s)) => u16::try_from(*s).ok(),
        _ => None,
    };
    let error = match e.status.as_deref() {
        Some("ok") | None => None,
        Some(other) => Some(other.to_string()),
    };
    Some(OriginFetch {
        backend: e.name.to_string(),
        method: text("method"),
        url: text("url"),
        status,
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Headers;

    /// A backend work event as `pending::record_event` records one.
    pub(crate) fn backend_event(
        seq: u64,
        backend: &str,
        status: i64,
        cache: Option<&str>,
    ) -> TraceEvent {
        let mut e = TraceEvent::new(seq, EventKind::Work, "backend", backend.to_string());
        e.args.push(("method".into(), ArgValue::Str("GET".into())));
        e.args
            .push(("url".into(), ArgValue::Str("http://origin.test/x".into())));
        if let Some(c) = cache {
            e.args.push(("cache".into(), ArgValue::Enum(c.into())));
        }
        e.args.push(("status".into(), ArgValue::Int(status)));
        e.status = Some("ok".into());
        e
    }

    #[test]
    fn a_record_shows_the_request_response_and_origin_fetches() {
        let req = DownstreamRequest::new("POST", "/a?b=1").with_header("x-in", b"1");
        let mut headers = Headers::new();
        headers.insert("x-foo", b"bar");
        let resp = FinalResponse {
            status: 404,
            headers,
            body: b"not here".to_vec(),
            error: None,
        };
        let trace = vec![
            backend_event(3, "origin", 200, Some("HIT")),
            backend_event(1, "origin", 503, Some("MISS")),
            TraceEvent::new(0, EventKind::Hostcall, "fastly_http_req", "send"),
        ];
        let r = RunRecord::new(&req, &resp, trace);
        assert_eq!(r.events[0].seq, 0, "sorted by seq");
        assert_eq!(r.resp_text(), "HTTP/1.1 404 Not Found\nx-foo: bar\n");
        assert!(
            r.req_text().starts_with("POST /a?b=1 HTTP/1.1\n"),
            "{}",
            r.req_text()
        );
        assert!(r.req_text().contains("x-in: 1\n"));
        assert_eq!(r.body_preview(), "not here");
        assert!(r.complete());
        assert_eq!(r.origin_fetches.len(), 1, "the cache hit reached no origin");
        assert_eq!(r.origin_fetches[0].status, Some(503));
        assert_eq!(
            r.origin_fetches[0].resp_text(),
            "HTTP/1.1 503 Service Unavailable"
        );
        assert_eq!(r.origin_fetches[0].req_text(), "GET http://origin.test/x");
    }
}
