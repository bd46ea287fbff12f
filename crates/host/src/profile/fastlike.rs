//! The profile in Fastlike's native profile JSON (the `/r/{id}.json` document of
//! Fastlike's profiler, deep mode): the same field names and types, so tools that
//! read Fastlike's profiles read ours.
//!
//! How our data maps: `spans` are the traced hostcalls (bare import names, start and
//! duration in nanoseconds, the returned status as `rc`, the first four integer
//! arguments as `tag_slots`); `backend_calls` the backend fetches; `guest_active_nanos`
//! and `hostcall_nanos` the time split (waits for outside work are in neither); `deep`
//! the body byte totals, cache counts, header summaries (names canonical-cased, the
//! deny-listed ones shown as `<redacted>`, never values), the heap curve and store
//! accesses. `outcome` is `normal`, `trap` (a trap, a non-zero exit, the CPU limit)
//! or `ctx-canceled` (stopped).

use super::{HeaderSet, Profile};
use crate::trace::{ArgValue, EventKind, TraceEvent};
use serde::{Deserialize, Serialize};

/// Header names Fastlike never shows (their bytes still count).
pub const REDACTED_HEADERS: [&str; 7] = [
    "cookie",
    "set-cookie",
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "proxy-authenticate",
    "www-authenticate",
];

/// Fastlike's per-request trace document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// Request number.
    pub req_id: u64,
    /// First 8 bytes of the module's SHA-256, hex.
    pub module_id: String,
    /// Downstream method.
    pub method: String,
    /// Downstream URL.
    pub url: String,
    /// Downstream response status (0: none).
    pub status: i64,
    /// Start, RFC 3339.
    pub wall_start: String,
    /// Wall time.
    pub wall_nanos: i64,
    /// Guest time outside hostcalls.
    pub guest_active_nanos: i64,
    /// Time in hostcalls.
    pub hostcall_nanos: i64,
    /// Hostcalls.
    pub spans: Vec<SpanJson>,
    /// Backend fetches.
    pub backend_calls: Vec<BackendCall>,
    /// Spans left out.
    pub dropped: i64,
    /// Backend calls left out.
    pub dropped_backend_calls: i64,
    /// `normal`, `trap`, `panic`, `loop-fail`, `ctx-canceled`.
    pub outcome: String,
    /// Notes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Deep-mode metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deep: Option<Deep>,
}

/// One hostcall.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpanJson {
    /// Import name.
    pub name: String,
    /// Start.
    pub start_nanos: i64,
    /// Duration.
    pub duration_nanos: i64,
    /// Returned status.
    pub rc: i32,
    /// Call-specific integers.
    pub tag_slots: [i64; 4],
}

/// One backend fetch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackendCall {
    /// The fetch's number in the request.
    pub pending_id: u32,
    /// Backend name.
    pub name: String,
    /// Method.
    pub method: String,
    /// URL without userinfo or query.
    pub url_redacted: String,
    /// Start.
    pub started_nanos: i64,
    /// Duration.
    pub total_nanos: i64,
    /// Response status.
    pub status: i64,
    /// Request header bytes.
    pub req_header_bytes: i64,
    /// Response header bytes.
    pub resp_header_bytes: i64,
    /// `ok`, `network-error`, ...
    pub outcome: String,
}

/// Deep-mode metrics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Deep {
    /// Body bytes the guest read.
    pub body_read_bytes: i64,
    /// Body bytes the guest wrote.
    pub body_write_bytes: i64,
    /// Cache lookups.
    pub cache_lookups: i64,
    /// Cache inserts.
    pub cache_inserts: i64,
    /// Cache hits.
    pub cache_hits: i64,
    /// Cache misses.
    pub cache_misses: i64,
    /// Stale cache hits.
    pub cache_stale: i64,
    /// Downstream request headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub request_headers: Vec<HeaderSummary>,
    /// Downstream response headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub response_headers: Vec<HeaderSummary>,
    /// The wasm memory curve.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub heap_samples: Vec<HeapSampleJson>,
    /// Heap samples left out.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub heap_samples_dropped: i64,
    /// Store accesses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub store_access: Vec<StoreAccessJson>,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// One header name.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeaderSummary {
    /// Canonical name, or `<redacted>`.
    pub name: String,
    /// Lines.
    pub count: i64,
    /// Bytes.
    pub bytes: i64,
}

/// One heap sample.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeapSampleJson {
    /// Nanoseconds since the start.
    pub relative_nanos: i64,
    /// Wasm memory size.
    pub memory_bytes: i64,
}

/// One store's accesses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoreAccessJson {
    /// `kv`, `config`, `secret`, `dictionary`.
    pub kind: String,
    /// Store name.
    pub name: String,
    /// Accesses.
    pub count: i64,
}

fn ns(us: f64) -> i64 {
    (us * 1000.0).round() as i64
}

/// `Content-Type` for `content-type`.
fn canonical(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

fn summaries(set: Option<&HeaderSet>) -> Vec<HeaderSummary> {
    let Some(set) = set else { return Vec::new() };
    set.names
        .iter()
        .map(|h| HeaderSummary {
            name: if REDACTED_HEADERS.contains(&h.name.to_ascii_lowercase().as_str()) {
                "<redacted>".into()
            } else {
                canonical(&h.name)
            },
            count: i64::from(h.count),
            bytes: h.bytes as i64,
        })
        .collect()
}

/// The URL without userinfo and query string.
fn redact_url(url: &str) -> String {
    let no_query = url.split(['?', '#']).next().unwrap_or_default();
    match no_query.split_once("://") {
        Some((scheme, rest)) => {
            let (auth, path) = match rest.find('/') {
                Some(i) => rest.split_at(i),
                None => (rest, ""),
            };
            let host = auth.rsplit('@').next().unwrap_or(auth);
            format!("{scheme}://{host}{path}")
        }
        None => no_query.to_string(),
    }
}

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` for Unix nanoseconds.
pub fn rfc3339(unix_ns: u64) -> String {
    let secs = unix_ns / 1_000_000_000;
    let nanos = unix_ns % 1_000_000_000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The first four integer arguments of a hostcall (handles by number).
fn tag_slots(e: &TraceEvent) -> [i64; 4] {
    let mut out = [0; 4];
    let ints = e.args.iter().filter_map(|(_, v)| match v {
        ArgValue::Int(n) => Some(*n),
        ArgValue::Handle { handle, .. } => Some(i64::from(*handle)),
        _ => None,
    });
    for (slot, n) in out.iter_mut().zip(ints) {
        *slot = n;
    }
    out
}

/// Fastlike's profile JSON of a run: its `profile` and its trace `events`.
pub fn to_fastlike(profile: &Profile, events: &[TraceEvent]) -> Trace {
    let mut calls: Vec<&TraceEvent> = events
        .iter()
        .filter(|e| e.kind == EventKind::Hostcall)
        .collect();
    calls.sort_by_key(|e| e.seq);
    let spans = calls
        .iter()
        .map(|e| SpanJson {
            name: e.name.to_string(),
            start_nanos: ns(e.start_us),
            duration_nanos: ns(e.dur_us.max(0.0)),
            rc: e.code.unwrap_or(0),
            tag_slots: tag_slots(e),
        })
        .collect();
    let header_bytes = |label: String, nth: usize| {
        profile
            .headers
            .iter()
            .filter(|h| h.what == label)
            .nth(nth)
            .map_or(0, |h| h.bytes as i64)
    };
    let backend_calls = profile
        .fetches
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let nth = profile.fetches[..i]
                .iter()
                .filter(|g| g.backend == f.backend)
                .count();
            BackendCall {
                pending_id: i as u32 + 1,
                name: f.backend.clone(),
                method: f.method.clone(),
                url_redacted: redact_url(&f.url),
                started_nanos: ns(f.start_us),
                total_nanos: ns(f.dur_us.max(0.0)),
                status: i64::from(f.status),
                req_header_bytes: header_bytes(format!("backend request {}", f.backend), nth),
                resp_header_bytes: header_bytes(format!("backend response {}", f.backend), nth),
                outcome: if f.outcome == "ok" {
                    "ok".into()
                } else {
                    "network-error".into()
                },
            }
        })
        .collect();
    let set = |what: &str| profile.headers.iter().find(|h| h.what == what);
    let deep = Deep {
        body_read_bytes: profile.bodies.iter().map(|b| b.bytes_read as i64).sum(),
        body_write_bytes: profile.bodies.iter().map(|b| b.bytes_written as i64).sum(),
        cache_lookups: i64::from(profile.cache.lookups),
        cache_inserts: i64::from(profile.cache.inserts),
        cache_hits: i64::from(profile.cache.hits),
        cache_misses: i64::from(profile.cache.misses),
        cache_stale: i64::from(profile.cache.stale),
        request_headers: summaries(set("downstream request")),
        response_headers: summaries(set("downstream response")),
        heap_samples: profile
            .heap
            .iter()
            .map(|h| HeapSampleJson {
                relative_nanos: ns(h.at_us),
                memory_bytes: h.bytes as i64,
            })
            .collect(),
        heap_samples_dropped: i64::from(profile.heap_dropped),
        store_access: profile
            .stores
            .iter()
            .map(|s| StoreAccessJson {
                kind: s.kind.clone(),
                name: s.name.clone(),
                count: i64::from(s.count),
            })
            .collect(),
    };
    let id = &profile.run.request_id;
    let req_id = u64::from_str_radix(&id[id.len().saturating_sub(16)..], 16).unwrap_or(0);
    let outcome = match profile.outcome.as_str() {
        "normal" => "normal",
        "stopped" => "ctx-canceled",
        _ => "trap",
    };
    let mut notes = Vec::new();
    if !matches!(profile.outcome.as_str(), "normal" | "stopped") {
        notes.push(format!(
            "edgeplay: the guest ended with {}",
            profile.outcome
        ));
    }
    if profile.time.io_wait_us > 0.0 {
        notes.push(format!(
            "edgeplay: {} ns waiting on outside work are in neither guest_active_nanos nor hostcall_nanos",
            ns(profile.time.io_wait_us)
        ));
    }
    Trace {
        req_id,
        module_id: profile.run.module_sha256.chars().take(16).collect(),
        method: profile.run.method.clone(),
        url: profile.run.url.clone(),
        status: profile.status.map_or(0, i64::from),
        wall_start: rfc3339(profile.wall_start_ns),
        wall_nanos: ns(profile.time.wall_us),
        guest_active_nanos: ns(profile.time.guest_us),
        hostcall_nanos: ns(profile.time.hostcall_us),
        spans,
        backend_calls,
        dropped: 0,
        dropped_backend_calls: 0,
        outcome: outcome.into(),
        notes,
        deep: Some(deep),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_urls_and_names_are_rendered_as_fastlike_does() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(
            rfc3339(1_764_640_000_123_456_789),
            "2025-12-02T01:46:40.123456789Z"
        );
        assert_eq!(
            rfc3339(951_782_400_000_000_000),
            "2000-02-29T00:00:00.000000000Z"
        );
        assert_eq!(
            redact_url("https://user:pw@example.com:8443/a/b?token=1#x"),
            "https://example.com:8443/a/b"
        );
        assert_eq!(redact_url("http://h"), "http://h");
        assert_eq!(canonical("x-forwarded-for"), "X-Forwarded-For");
        assert_eq!(canonical("etag"), "Etag");
    }
}
