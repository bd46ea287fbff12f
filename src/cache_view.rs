//! What the Cache inspector shows, platform-neutral (tested natively): one
//! [`CacheRow`] per cached object with its labels, a body as text or hex, and what a
//! run's trace says about the cache ([`CacheOutcomes`]: how its backend fetches were
//! answered).
//!
//! The objects come from the worker (`StoreOp::CacheList`, the cache engine's
//! `cache::list`) with the worker's clock, so ages and TTLs count to the moment
//! they were listed.

use crate::format;
use crate::protocol::CachedObject;
use edgeplay_host::cache::Kind;
use edgeplay_host::trace::{ArgValue, EventKind};
use edgeplay_host::TraceEvent;

const NS: f64 = 1e9;

/// One cached object as the inspector lists it.
#[derive(Clone, Debug, PartialEq)]
pub struct CacheRow {
    /// Its id (`<key hash>/<variant hash>`): what its body and removal are asked by.
    pub id: String,
    /// The cache key: the text when it is printable UTF-8, else hex.
    pub key: String,
    /// True when `key` is the key's text (not hex).
    pub key_is_text: bool,
    /// Which API stored it: `http` (readthrough or HTTP cache) or `core`.
    pub kind: &'static str,
    /// The request URL (HTTP objects).
    pub url: Option<String>,
    /// The vary rule and the values that select this variant (`accept-encoding:
    /// gzip`, `(absent)` for a header the request did not have); empty: no vary rule.
    pub variant: Vec<(String, String)>,
    /// Age in seconds.
    pub age_s: f64,
    /// Seconds of freshness left (negative once stale).
    pub ttl_left_s: f64,
    /// Stale-while-revalidate window, seconds.
    pub swr_s: f64,
    /// Stale-if-error window, seconds.
    pub sie_s: f64,
    /// `fresh`, `stale` (within stale-while-revalidate), `stale-if-error` (usable only
    /// when the origin fails) or `expired`.
    pub state: &'static str,
    /// Soft-purged.
    pub purged: bool,
    /// Lookups that found it.
    pub hits: u64,
    /// Body bytes.
    pub size: u64,
    /// Surrogate keys.
    pub surrogate_keys: Vec<String>,
    /// The stored response's status (HTTP objects).
    pub status: Option<u16>,
    /// The stored response's headers, as text.
    pub headers: Vec<(String, String)>,
    /// The core cache's user metadata, as text or hex (empty: none).
    pub user_metadata: String,
    /// Marked sensitive (PCI).
    pub sensitive: bool,
}

/// `text` when `bytes` are printable UTF-8 (no control characters), else hex.
pub fn text_or_hex(bytes: &[u8]) -> (String, bool) {
    match std::str::from_utf8(bytes) {
        Ok(s) if !s.is_empty() && !s.chars().any(char::is_control) => (s.to_string(), true),
        _ => (bytes.iter().map(|b| format!("{b:02x}")).collect(), false),
    }
}

impl CacheRow {
    /// The row of `obj` at `now_unix_ns`.
    pub fn new(obj: &CachedObject, now_unix_ns: u64) -> CacheRow {
        let m = &obj.meta;
        let (key, key_is_text) = text_or_hex(&m.key);
        let f = m.freshness(now_unix_ns);
        let state = if f.fresh {
            "fresh"
        } else if f.within_swr {
            "stale"
        } else if f.usable_if_error {
            "stale-if-error"
        } else {
            "expired"
        };
        let (status, headers) = match &m.response {
            Some(r) => (
                Some(r.status),
                r.headers
                    .iter()
                    .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v).into_owned()))
                    .collect(),
            ),
            None => (None, Vec::new()),
        };
        CacheRow {
            id: obj.id.clone(),
            key,
            key_is_text,
            kind: match m.kind {
                Kind::Http => "http",
                Kind::Core => "core",
            },
            url: m.url.clone(),
            variant: m
                .vary
                .iter()
                .map(|(n, v)| (n.clone(), v.clone().unwrap_or_else(|| "(absent)".into())))
                .collect(),
            age_s: m.age_ns(now_unix_ns) as f64 / NS,
            ttl_left_s: m.ttl_left_s(now_unix_ns),
            swr_s: m.swr_ns as f64 / NS,
            sie_s: m.sie_ns as f64 / NS,
            state,
            purged: m.purged_stale,
            hits: m.hits,
            size: m.size,
            surrogate_keys: m.surrogate_keys.clone(),
            status,
            headers,
            user_metadata: if m.user_metadata.is_empty() {
                String::new()
            } else {
                text_or_hex(&m.user_metadata).0
            },
            sensitive: m.sensitive,
        }
    }

    /// The rows of a listing, most recently stored first.
    pub fn list(objects: &[CachedObject], now_unix_ns: u64) -> Vec<CacheRow> {
        let mut objs: Vec<&CachedObject> = objects.iter().collect();
        objs.sort_by(|a, b| {
            b.meta
                .inserted_ns
                .cmp(&a.meta.inserted_ns)
                .then(a.id.cmp(&b.id))
        });
        objs.into_iter()
            .map(|o| CacheRow::new(o, now_unix_ns))
            .collect()
    }

    /// `accept-encoding: gzip; accept-language: (absent)`, or `any request` without a
    /// vary rule.
    pub fn variant_label(&self) -> String {
        if self.variant.is_empty() {
            return "any request (no vary)".into();
        }
        self.variant
            .iter()
            .map(|(n, v)| format!("{n}: {v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// `age 12 s · fresh for 48 s more` (or `stale for 3 s`).
    pub fn freshness_label(&self) -> String {
        let age = format!("age {}", seconds(self.age_s));
        let left = if self.purged {
            "soft-purged".to_string()
        } else if self.ttl_left_s > 0.0 {
            format!("TTL left {}", seconds(self.ttl_left_s))
        } else {
            format!("stale for {}", seconds(-self.ttl_left_s))
        };
        format!("{age} · {left} · {}", self.state)
    }

    /// `SWR 30 s · SIE 0 s`.
    pub fn windows_label(&self) -> String {
        format!("SWR {} · SIE {}", seconds(self.swr_s), seconds(self.sie_s))
    }

    /// `200 · 3 headers` for an HTTP object, else empty.
    pub fn response_label(&self) -> String {
        match self.status {
            Some(s) => format!(
                "{s} · {} header{}",
                self.headers.len(),
                if self.headers.len() == 1 { "" } else { "s" }
            ),
            None => String::new(),
        }
    }

    /// The body size.
    pub fn size_label(&self) -> String {
        format::size(usize::try_from(self.size).unwrap_or(usize::MAX))
    }
}

/// Whole seconds (tenths under ten seconds).
fn seconds(s: f64) -> String {
    let s = if s.is_finite() { s.max(0.0) } else { 0.0 };
    if s == 0.0 {
        "0 s".to_string()
    } else if s < 10.0 {
        format!("{s:.1} s")
    } else {
        format!("{s:.0} s")
    }
}

/// `3 objects · 12.0 KiB`.
pub fn totals_label(rows: &[CacheRow]) -> String {
    let bytes: u64 = rows.iter().map(|r| r.size).sum();
    format!(
        "{} object{} · {}",
        rows.len(),
        if rows.len() == 1 { "" } else { "s" },
        format::size(usize::try_from(bytes).unwrap_or(usize::MAX))
    )
}

/// A cached body as the inspector shows it: its text when UTF-8, else a hex dump.
pub fn body_text(body: &[u8]) -> (String, bool) {
    match std::str::from_utf8(body) {
        Ok(s) => (s.to_string(), true),
        Err(_) => (format::hex_dump(body, 64 * 1024), false),
    }
}

/// How a run's backend fetches were answered: the `cache` argument of each `backend`
/// work event (`HIT`, `MISS`, `PASS`, `STALE`, `COLLAPSED`), in the trace's order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CacheOutcomes {
    /// Backend fetches in the trace.
    pub fetches: usize,
    /// Their `cache` outcomes (a fetch without one is not counted here).
    pub outcomes: Vec<String>,
}

/// The `cache` outcome of a backend work event, if it has one.
pub fn fetch_outcome(e: &TraceEvent) -> Option<String> {
    e.args.iter().find_map(|(n, v)| match v {
        ArgValue::Enum(s) | ArgValue::Str(s) if n == "cache" => Some(s.to_ascii_uppercase()),
        _ => None,
    })
}

impl CacheOutcomes {
    /// What `trace` says.
    pub fn from_trace(trace: &[TraceEvent]) -> CacheOutcomes {
        let mut out = CacheOutcomes::default();
        for e in trace
            .iter()
            .filter(|e| e.kind == EventKind::Work && e.module == "backend")
        {
            out.fetches += 1;
            if let Some(o) = fetch_outcome(e) {
                out.outcomes.push(o);
            }
        }
        out
    }

    /// True when the run made backend requests and the cache answered every one of
    /// them: no origin was contacted.
    pub fn all_hit(&self) -> bool {
        self.fetches > 0
            && self.outcomes.len() == self.fetches
            && self.outcomes.iter().all(|o| o == "HIT")
    }

    /// `served from the cache: 2 backend requests were HITs, no origin was contacted`
    /// when every fetch was a hit; `cache: 1 HIT, 1 MISS` when some were; `None` when
    /// the trace says nothing of the cache.
    pub fn label(&self) -> Option<String> {
        if self.outcomes.is_empty() {
            return None;
        }
        if self.all_hit() {
            return Some(format!(
                "served from the cache: {} backend request{} answered by the cache (HIT), no origin contacted",
                self.fetches,
                if self.fetches == 1 { "" } else { "s" }
            ));
        }
        let mut counts: Vec<(String, usize)> = Vec::new();
        for o in &self.outcomes {
            match counts.iter_mut().find(|(n, _)| n == o) {
                Some((_, c)) => *c += 1,
                None => counts.push((o.clone(), 1)),
            }
        }
        Some(format!(
            "cache: {}",
            counts
                .iter()
                .map(|(n, c)| format!("{c} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeplay_host::cache::{self, Limits, StoredResponse, WriteOptions};
    use edgeplay_host::http::Headers;
    use edgeplay_host::storage::MemoryStorage;
    use std::borrow::Cow;

    const S: u64 = 1_000_000_000;

    fn objects(st: &MemoryStorage) -> Vec<CachedObject> {
        cache::list(st)
            .into_iter()
            .map(|f| CachedObject {
                id: f.id,
                meta: f.meta,
            })
            .collect()
    }

    #[test]
    fn a_row_has_key_url_variant_freshness_windows_hits_size_and_the_response() {
        let mut st = MemoryStorage::new();
        let mut headers = Headers::new();
        headers.insert("content-type", "text/plain");
        headers.insert("surrogate-key", "news all");
        let mut request = Headers::new();
        request.insert("accept-encoding", "gzip");
        let opts = WriteOptions {
            max_age_ns: 60 * S,
            initial_age_ns: 5 * S,
            swr_ns: 30 * S,
            sie_ns: 300 * S,
            vary_rule: vec!["Accept-Encoding".into(), "Accept-Language".into()],
            request_headers: request.clone(),
            surrogate_keys: vec!["news".into(), "all".into()],
            response: Some((
                StoredResponse {
                    status: 200,
                    headers,
                },
                "http://origin.example/a".into(),
            )),
            ..WriteOptions::default()
        };
        let key = cache::policy::readthrough_key("http://origin.example/a", "origin.example");
        let mut f = cache::insert(
            &mut st,
            &key,
            opts,
            b"hello".to_vec(),
            100 * S,
            Limits::default(),
        )
        .unwrap();
        cache::record_hit(&mut st, &mut f, 101 * S);
        let core = WriteOptions {
            max_age_ns: 10 * S,
            user_metadata: b"meta".to_vec(),
            ..WriteOptions::default()
        };
        cache::insert(
            &mut st,
            b"my key",
            core,
            vec![0xff],
            90 * S,
            Limits::default(),
        )
        .unwrap();

        let rows = CacheRow::list(&objects(&st), 110 * S);
        assert_eq!(rows.len(), 2);
        let http = &rows[0];
        assert_eq!(http.kind, "http", "the most recently stored first");
        assert!(!http.key_is_text);
        assert_eq!(http.key.len(), 64, "a binary key is hex: {}", http.key);
        assert_eq!(http.url.as_deref(), Some("http://origin.example/a"));
        assert_eq!(
            http.variant_label(),
            "accept-encoding: gzip; accept-language: (absent)"
        );
        assert_eq!(http.freshness_label(), "age 15 s · TTL left 45 s · fresh");
        assert_eq!(http.windows_label(), "SWR 30 s · SIE 300 s");
        assert_eq!((http.hits, http.size), (1, 5));
        assert_eq!(http.surrogate_keys, ["news", "all"]);
        assert_eq!(http.response_label(), "200 · 2 headers");
        assert_eq!(
            http.headers[0],
            ("content-type".into(), "text/plain".into())
        );

        let core = &rows[1];
        assert_eq!(
            (core.kind, core.key.as_str(), core.key_is_text),
            ("core", "my key", true)
        );
        assert_eq!(core.variant_label(), "any request (no vary)");
        assert_eq!(core.user_metadata, "meta");
        assert_eq!(
            core.freshness_label(),
            "age 20 s · stale for 10 s · expired"
        );
        assert_eq!(core.response_label(), "");
        assert_eq!(totals_label(&rows), "2 objects · 6 B");

        cache::purge_surrogate_key(&mut st, "news", true, 111 * S);
        let soft = CacheRow::list(&objects(&st), 112 * S);
        assert_eq!(soft[0].state, "stale");
        assert!(soft[0].freshness_label().contains("soft-purged"));
    }

    #[test]
    fn keys_and_bodies_are_text_when_they_are_text() {
        assert_eq!(text_or_hex(b"abc"), ("abc".to_string(), true));
        assert_eq!(text_or_hex(b"a\nb"), ("610a62".to_string(), false));
        assert_eq!(text_or_hex(&[0xff, 1]), ("ff01".to_string(), false));
        assert_eq!(body_text(b"hi\n"), ("hi\n".to_string(), true));
        let (hex, text) = body_text(&[0xff, 0, 1]);
        assert!(!text && hex.contains("ff 00 01"), "{hex}");
    }

    fn backend(seq: u64, cache: Option<&str>) -> TraceEvent {
        let mut e = TraceEvent::new(seq, EventKind::Work, "backend", "origin");
        if let Some(c) = cache {
            e.args
                .push((Cow::Borrowed("cache"), ArgValue::Enum(c.to_string())));
        }
        e
    }

    #[test]
    fn the_trace_says_when_the_cache_answered_without_the_origin() {
        let hits = CacheOutcomes::from_trace(&[backend(1, Some("HIT")), backend(2, Some("HIT"))]);
        assert!(hits.all_hit());
        assert!(hits
            .label()
            .unwrap()
            .starts_with("served from the cache: 2 backend requests"));
        let mixed = CacheOutcomes::from_trace(&[
            backend(1, Some("HIT")),
            backend(2, Some("MISS")),
            backend(3, Some("MISS")),
        ]);
        assert!(!mixed.all_hit());
        assert_eq!(mixed.label().as_deref(), Some("cache: 1 HIT, 2 MISS"));
        let unknown = CacheOutcomes::from_trace(&[backend(1, None)]);
        assert!(!unknown.all_hit());
        assert_eq!(
            unknown.label(),
            None,
            "a trace without cache outcomes says nothing"
        );
        let partly = CacheOutcomes::from_trace(&[backend(1, Some("HIT")), backend(2, None)]);
        assert!(
            !partly.all_hit(),
            "a fetch the cache did not answer reached an origin"
        );
        assert!(!CacheOutcomes::from_trace(&[]).all_hit());
    }
}
