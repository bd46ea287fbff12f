//! The platform's HTTP caching rules: which requests use the readthrough cache, their
//! cache key, whether a backend response is stored and for how long
//! ([`response_policy`]), what a cache override changes ([`apply_override`]), and
//! what the guest sees of a stored response ([`for_guest`]).
//!
//! The rules, from Fastly's caching guidance (restated in the project's platform
//! notes):
//!
//! - Only `GET` and `HEAD` requests are looked up; a `HEAD` may be answered by a
//!   stored `GET` response, but only a `GET` miss stores what it fetched (edgeplay's
//!   choice: a `HEAD` response has no body to store).
//! - The cache key is the SHA-256 of the URL and the Host the request goes out with.
//! - Freshness: `Surrogate-Control: max-age` over `Cache-Control: s-maxage` over
//!   `Cache-Control: max-age` over `Expires` (against `Date`, else now), else the
//!   platform's default TTL ([`DEFAULT_TTL_S`]). `stale-while-revalidate` and
//!   `stale-if-error` come from `Surrogate-Control` over `Cache-Control`. The
//!   response's `Age` is its initial age.
//! - Stored only for the statuses the platform caches ([`CACHEABLE_STATUSES`]) and
//!   never with `Cache-Control: private` or `no-store`, a `Set-Cookie`, or
//!   `Vary: *`. An uncacheable response stays uncacheable: a TTL override has no
//!   effect on it.
//! - `Vary` names the request headers that select a variant.
//! - `Surrogate-Key` (space separated) gives the surrogate keys purges use.
//! - `Surrogate-Control` is removed from what the guest sees.

use super::WriteOptions;
use crate::http::{CacheOverride, Headers};
use sha2::{Digest, Sha256};

/// The platform's TTL when a response gives none (Fastly's fallback TTL).
pub const DEFAULT_TTL_S: u64 = 3600;

/// Statuses the platform stores by default.
pub const CACHEABLE_STATUSES: [u16; 7] = [200, 203, 300, 301, 302, 404, 410];

const NS: u64 = 1_000_000_000;

/// `cache_override_tag` bits.
pub mod tag {
    /// Do not use the cache at all.
    pub const PASS: u32 = 1;
    /// `ttl` replaces the response's freshness lifetime.
    pub const TTL: u32 = 1 << 1;
    /// `swr` replaces its stale-while-revalidate window.
    pub const SWR: u32 = 1 << 2;
    /// Mark the object sensitive (PCI).
    pub const PCI: u32 = 1 << 3;
}

/// True when a request with `method` goes through the readthrough cache.
pub fn method_is_cacheable(method: &str) -> bool {
    method.eq_ignore_ascii_case("GET") || method.eq_ignore_ascii_case("HEAD")
}

/// The readthrough cache key of a request to `url` with `host`: SHA-256 of both (the
/// 32 bytes the HTTP cache API's suggested key is, too).
pub fn readthrough_key(url: &str, host: &str) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(url.as_bytes());
    h.update([0]);
    h.update(host.to_ascii_lowercase().as_bytes());
    h.finalize().to_vec()
}

/// The cache key of a request as the guest built it: [`readthrough_key`] of its URL
/// and its `Host` header (else the URL's authority). The HTTP cache API's lookups and
/// `get_suggested_cache_key` use it; the readthrough cache must use it too so both
/// find one another's objects.
pub fn request_key(uri: &str, headers: &Headers) -> Vec<u8> {
    let host = match headers.get("host") {
        Some(h) => String::from_utf8_lossy(h).into_owned(),
        None => uri
            .parse::<http::Uri>()
            .ok()
            .and_then(|u| u.authority().map(|a| a.as_str().to_string()))
            .unwrap_or_default(),
    };
    readthrough_key(uri, &host)
}

/// One header's comma-separated directives, lower-cased names (`max-age=60` →
/// `("max-age", Some("60"))`).
pub fn directives(headers: &Headers, name: &str) -> Vec<(String, Option<String>)> {
    headers
        .get_all(name)
        .iter()
        .flat_map(|v| {
            String::from_utf8_lossy(v)
                .split(',')
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .filter_map(|d| {
            let d = d.trim();
            if d.is_empty() {
                return None;
            }
            Some(match d.split_once('=') {
                Some((k, v)) => (
                    k.trim().to_ascii_lowercase(),
                    Some(v.trim().trim_matches('"').to_string()),
                ),
                None => (d.to_ascii_lowercase(), None),
            })
        })
        .collect()
}

fn seconds(dirs: &[(String, Option<String>)], name: &str) -> Option<u64> {
    dirs.iter()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| v.as_deref()?.parse::<u64>().ok())
}

fn has(dirs: &[(String, Option<String>)], name: &str) -> bool {
    dirs.iter().any(|(k, _)| k == name)
}

/// What the rules say about one backend response.
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// `Err(why)` when the response must not be stored.
    pub storable: Result<(), String>,
    /// Where the freshness lifetime came from (`surrogate-control max-age`, …).
    pub ttl_source: &'static str,
    /// The object's write options (freshness, vary rule, surrogate keys).
    pub opts: WriteOptions,
}

/// The storage decision and freshness of a response with `status` and `headers`,
/// received at `now` (unix ns).
pub fn response_policy(status: u16, headers: &Headers, now: u64) -> Policy {
    let sc = directives(headers, "surrogate-control");
    let cc = directives(headers, "cache-control");
    let (max_age, source) = if let Some(s) = seconds(&sc, "max-age") {
        (s, "surrogate-control max-age")
    } else if let Some(s) = seconds(&cc, "s-maxage") {
        (s, "cache-control s-maxage")
    } else if let Some(s) = seconds(&cc, "max-age") {
        (s, "cache-control max-age")
    } else if let Some(s) = expires_in(headers, now) {
        (s, "expires")
    } else {
        (DEFAULT_TTL_S, "default ttl")
    };
    let window = |name: &str| {
        seconds(&sc, name)
            .or_else(|| seconds(&cc, name))
            .unwrap_or(0)
    };
    let vary: Vec<String> = directives(headers, "vary")
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let storable = if !CACHEABLE_STATUSES.contains(&status) {
        Err(format!("status {status} is not one the platform caches"))
    } else if has(&cc, "private") {
        Err("cache-control: private".into())
    } else if has(&cc, "no-store") || has(&sc, "no-store") {
        Err("cache-control: no-store".into())
    } else if headers.get("set-cookie").is_some() {
        Err("the response sets a cookie (set-cookie)".into())
    } else if vary.iter().any(|v| v == "*") {
        Err("vary: *".into())
    } else if vary.len() > super::MAX_VARY_HEADERS {
        Err(format!(
            "vary names {} headers; the platform allows {}",
            vary.len(),
            super::MAX_VARY_HEADERS
        ))
    } else {
        Ok(())
    };
    let age_s = headers
        .get("age")
        .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse::<u64>().ok())
        .unwrap_or(0);
    let surrogate_keys = headers
        .get_all("surrogate-key")
        .iter()
        .flat_map(|v| {
            String::from_utf8_lossy(v)
                .split_ascii_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect();
    Policy {
        storable,
        ttl_source: source,
        opts: WriteOptions {
            max_age_ns: max_age.saturating_mul(NS),
            initial_age_ns: age_s.saturating_mul(NS),
            swr_ns: window("stale-while-revalidate").saturating_mul(NS),
            sie_ns: window("stale-if-error").saturating_mul(NS),
            vary_rule: vary,
            surrogate_keys,
            ..WriteOptions::default()
        },
    }
}

/// Seconds from `Date` (else `now`) to `Expires`; an unparsable `Expires` means
/// already expired (RFC 9111).
fn expires_in(headers: &Headers, now: u64) -> Option<u64> {
    let exp = headers.get("expires")?;
    let Some(exp) = parse_date(exp) else {
        return Some(0);
    };
    let base = headers.get("date").and_then(parse_date).unwrap_or(now / NS);
    Some(exp.saturating_sub(base))
}

/// An HTTP date as unix seconds.
fn parse_date(v: &[u8]) -> Option<u64> {
    let t = httpdate::parse_http_date(std::str::from_utf8(v).ok()?.trim()).ok()?;
    t.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// Apply a request's cache override to `policy`. The TTL replaces the lifetime (and the
/// initial age, as the platform's override counts from the fetch); it has no effect on
/// a response that is not storable. Returns notes on what changed or was void.
pub fn apply_override(policy: &mut Policy, ov: &CacheOverride) -> Vec<String> {
    let mut notes = Vec::new();
    if ov.tag & (tag::TTL | tag::SWR) != 0 {
        if let Err(why) = &policy.storable {
            notes.push(format!(
                "the cache override has no effect: the response is not cacheable ({why})"
            ));
            return notes;
        }
    }
    if ov.tag & tag::TTL != 0 {
        policy.opts.max_age_ns = u64::from(ov.ttl) * NS;
        policy.opts.initial_age_ns = 0;
        policy.ttl_source = "cache override ttl";
        notes.push(format!("ttl {} s from the cache override", ov.ttl));
    }
    if ov.tag & tag::SWR != 0 {
        policy.opts.swr_ns = u64::from(ov.swr) * NS;
        notes.push(format!(
            "stale-while-revalidate {} s from the cache override",
            ov.swr
        ));
    }
    if ov.tag & tag::PCI != 0 {
        policy.opts.sensitive = true;
    }
    if let Some(keys) = &ov.surrogate_keys {
        policy.opts.surrogate_keys = keys.split_ascii_whitespace().map(str::to_string).collect();
    }
    notes
}

/// The headers of a stored response freshened by a `304 Not Modified`: the 304's
/// headers replace the stored ones of the same name, except the framing and
/// encoding of the stored body (`content-length`, `transfer-encoding`,
/// `content-encoding`), which the 304 does not describe.
pub fn freshened_headers(stored: &Headers, not_modified: &Headers) -> Headers {
    let mut headers = stored.clone();
    for name in not_modified.names() {
        if matches!(
            name.as_str(),
            "content-length" | "transfer-encoding" | "content-encoding"
        ) {
            continue;
        }
        let values = not_modified
            .get_all(&name)
            .iter()
            .map(|v| v.to_vec())
            .collect();
        headers.set_all(&name, values);
    }
    headers
}

/// The response headers a guest sees for a stored (or just fetched) response:
/// `Surrogate-Control` removed, and for a hit `Age` set to the object's age.
pub fn for_guest(headers: &Headers, age_s: Option<u64>) -> Headers {
    let mut h = headers.clone();
    h.remove("surrogate-control");
    if let Some(age) = age_s {
        h.insert("age", age.to_string());
    }
    h
}

/// A stored response as the client's request asks for it: a `Range: bytes=...`
/// request for one range of a whole `200` gets `206 Partial Content` with that range
/// and `Content-Range` (RFC 9110 §14), an unsatisfiable one `416` with
/// `Content-Range: bytes */LEN`. A malformed `Range`, several ranges, another unit,
/// an `If-Range` that does not name the stored `ETag`, or a status other than 200
/// leave the response whole (a server may ignore `Range`). Returns the status, the
/// headers and the body.
pub fn for_client_range(
    request: &Headers,
    status: u16,
    headers: Headers,
    body: Vec<u8>,
) -> (u16, Headers, Vec<u8>) {
    let Some(range) = request
        .get("range")
        .and_then(|v| std::str::from_utf8(v).ok())
    else {
        return (status, headers, body);
    };
    if status != 200 {
        return (status, headers, body);
    }
    if let Some(if_range) = request.get("if-range") {
        if headers.get("etag") != Some(if_range) {
            return (status, headers, body);
        }
    }
    let Ok(parsed) = http_range_header::parse_range_header(range.trim()) else {
        return (status, headers, body);
    };
    if parsed.ranges.len() != 1 {
        return (status, headers, body);
    }
    let len = body.len() as u64;
    let mut headers = headers;
    headers.remove("content-length");
    match parsed.validate(len) {
        Ok(r) => {
            let (start, end) = (*r[0].start(), *r[0].end());
            headers.insert("content-range", format!("bytes {start}-{end}/{len}"));
            let part = body[start as usize..=end as usize].to_vec();
            (206, headers, part)
        }
        // A suffix longer than the object is the whole object (RFC 9110 §14.1.2).
        Err(http_range_header::RangeUnsatisfiableError::FileSuffixOutOfBounds) => {
            (status, headers, body)
        }
        Err(_) => {
            headers.insert("content-range", format!("bytes */{len}"));
            (416, headers, Vec::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_request_gets_its_range_or_416_or_the_whole_object() {
        let body = b"0123456789".to_vec();
        let stored = h(&[("etag", "\"v1\""), ("content-length", "10")]);
        let ask = |pairs: &[(&str, &str)], status: u16| {
            let (st, hd, b) = for_client_range(&h(pairs), status, stored.clone(), body.clone());
            let cr = hd
                .get("content-range")
                .map(|v| String::from_utf8_lossy(v).into_owned());
            (st, String::from_utf8(b).unwrap(), cr)
        };
        let range = |r: &str| ask(&[("range", r)], 200);
        assert_eq!(
            range("bytes=2-4"),
            (206, "234".into(), Some("bytes 2-4/10".into()))
        );
        assert_eq!(
            range("bytes=7-"),
            (206, "789".into(), Some("bytes 7-9/10".into()))
        );
        assert_eq!(
            range("bytes=-3"),
            (206, "789".into(), Some("bytes 7-9/10".into()))
        );
        assert_eq!(
            range("bytes=8-100"),
            (206, "89".into(), Some("bytes 8-9/10".into()))
        );
        assert_eq!(
            range("bytes=20-30"),
            (416, "".into(), Some("bytes */10".into()))
        );
        // Left whole: a suffix past the start, malformed, several ranges, another unit.
        for r in ["bytes=-20", "bytes=x-1", "bytes=0-1,4-5", "items=0-1"] {
            assert_eq!(range(r), (200, "0123456789".into(), None), "{r}");
        }
        assert_eq!(ask(&[], 200).0, 200);
        assert_eq!(ask(&[("range", "bytes=0-1")], 404).0, 404);
        // If-Range: only for the stored ETag.
        assert_eq!(
            ask(&[("range", "bytes=0-1"), ("if-range", "\"v1\"")], 200).0,
            206
        );
        assert_eq!(
            ask(&[("range", "bytes=0-1"), ("if-range", "\"v0\"")], 200).0,
            200
        );
        let (_, hd, _) = for_client_range(&h(&[("range", "bytes=0-1")]), 200, stored, body);
        assert!(
            hd.get("content-length").is_none(),
            "the framing follows the part"
        );
    }

    fn h(pairs: &[(&str, &str)]) -> Headers {
        let mut h = Headers::new();
        for (k, v) in pairs {
            h.append(k, *v);
        }
        h
    }

    fn ttl(pairs: &[(&str, &str)]) -> (u64, &'static str) {
        let p = response_policy(200, &h(pairs), 1_700_000_000 * NS);
        (p.opts.max_age_ns / NS, p.ttl_source)
    }

    #[test]
    fn freshness_comes_from_the_first_header_that_gives_it() {
        assert_eq!(
            ttl(&[
                ("surrogate-control", "max-age=500"),
                ("cache-control", "s-maxage=300, max-age=10")
            ]),
            (500, "surrogate-control max-age")
        );
        assert_eq!(
            ttl(&[("cache-control", "s-maxage=300, max-age=0")]),
            (300, "cache-control s-maxage")
        );
        assert_eq!(
            ttl(&[("cache-control", "public, max-age=60")]),
            (60, "cache-control max-age")
        );
        assert_eq!(
            ttl(&[
                ("date", "Tue, 14 Nov 2023 22:13:20 GMT"),
                ("expires", "Tue, 14 Nov 2023 22:15:20 GMT")
            ]),
            (120, "expires")
        );
        assert_eq!(ttl(&[("expires", "garbage")]), (0, "expires"));
        assert_eq!(ttl(&[]), (DEFAULT_TTL_S, "default ttl"));
    }

    #[test]
    fn what_is_not_stored_and_why() {
        let not = |status, pairs: &[(&str, &str)]| {
            response_policy(status, &h(pairs), 0).storable.unwrap_err()
        };
        assert!(not(500, &[]).contains("500"));
        assert!(not(200, &[("cache-control", "private, max-age=60")]).contains("private"));
        assert!(not(200, &[("cache-control", "no-store")]).contains("no-store"));
        assert!(not(200, &[("set-cookie", "a=b")]).contains("cookie"));
        assert!(not(200, &[("vary", "*")]).contains('*'));
        for s in CACHEABLE_STATUSES {
            assert!(response_policy(s, &Headers::new(), 0).storable.is_ok());
        }
    }

    #[test]
    fn windows_vary_age_and_surrogate_keys() {
        let p = response_policy(
            200,
            &h(&[
                (
                    "cache-control",
                    "max-age=10, stale-while-revalidate=20, stale-if-error=30",
                ),
                ("surrogate-control", "stale-while-revalidate=40"),
                ("age", "4"),
                ("vary", "Accept-Encoding, X-Lang"),
                ("surrogate-key", "a  b"),
                ("surrogate-key", "c"),
            ]),
            0,
        );
        assert_eq!(p.opts.swr_ns, 40 * NS);
        assert_eq!(p.opts.sie_ns, 30 * NS);
        assert_eq!(p.opts.initial_age_ns, 4 * NS);
        assert_eq!(p.opts.vary_rule, vec!["accept-encoding", "x-lang"]);
        assert_eq!(p.opts.surrogate_keys, vec!["a", "b", "c"]);
    }

    #[test]
    fn an_override_sets_the_ttl_only_of_what_may_be_stored() {
        let ov = CacheOverride {
            tag: tag::TTL | tag::SWR,
            ttl: 30,
            swr: 5,
            surrogate_keys: Some("x y".into()),
            ..CacheOverride::default()
        };
        let mut p = response_policy(
            200,
            &h(&[("cache-control", "max-age=600"), ("age", "9")]),
            0,
        );
        apply_override(&mut p, &ov);
        assert_eq!(
            (p.opts.max_age_ns, p.opts.initial_age_ns, p.opts.swr_ns),
            (30 * NS, 0, 5 * NS)
        );
        assert_eq!(p.opts.surrogate_keys, vec!["x", "y"]);
        let mut p = response_policy(200, &h(&[("cache-control", "private")]), 0);
        let notes = apply_override(&mut p, &ov);
        assert!(p.storable.is_err());
        assert!(notes[0].contains("no effect"), "{notes:?}");
    }

    #[test]
    fn a_request_key_takes_the_host_header_else_the_url_authority() {
        let url = "http://example.com/a?b";
        assert_eq!(
            request_key(url, &Headers::new()),
            readthrough_key(url, "example.com")
        );
        assert_eq!(
            request_key(url, &h(&[("host", "Other.example")])),
            readthrough_key(url, "other.example")
        );
        assert_eq!(request_key(url, &Headers::new()).len(), 32);
    }

    #[test]
    fn a_304_freshens_the_stored_headers_but_not_the_bodys_framing() {
        let stored = h(&[
            ("etag", "\"1\""),
            ("cache-control", "max-age=1"),
            ("content-length", "5"),
        ]);
        let nm = h(&[
            ("cache-control", "max-age=99"),
            ("content-length", "0"),
            ("x-new", "y"),
        ]);
        let f = freshened_headers(&stored, &nm);
        assert_eq!(f.get("cache-control"), Some(&b"max-age=99"[..]));
        assert_eq!(f.get("content-length"), Some(&b"5"[..]));
        assert_eq!(f.get("etag"), Some(&b"\"1\""[..]));
        assert_eq!(f.get("x-new"), Some(&b"y"[..]));
    }

    #[test]
    fn the_guest_never_sees_surrogate_control() {
        let g = for_guest(
            &h(&[("surrogate-control", "max-age=9"), ("x", "1")]),
            Some(7),
        );
        assert_eq!(g.get("surrogate-control"), None);
        assert_eq!(g.get("age"), Some(&b"7"[..]));
        assert_eq!(g.get("x"), Some(&b"1"[..]));
    }
}
