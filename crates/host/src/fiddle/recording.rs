//! Recorded backend exchanges, and replaying them as mock backends.
//!
//! A [`Recording`] is one backend request (backend, method, URL) and the response
//! it got (status, headers, body, timing). A [`Replayer`] answers a backend request
//! from recordings matched by backend, method and URL: the recordings of one key
//! are replayed in the order they were made, and the last one keeps answering once
//! they are used up. A request nothing matches fails as a refused connection with
//! a message that says so. The runner keeps recordings in a directory
//! (`--record DIR`, `--replay DIR`); a fiddle may carry them (`recordings`), bounded
//! by [`MAX_RECORDED_BODY_BYTES`] per body.

use crate::http::Headers;
use crate::work::{FetchError, FetchErrorKind, FetchRequest, FetchResponse};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The largest body a recording keeps whole; a longer one is cut (and says so).
pub const MAX_RECORDED_BODY_BYTES: usize = 1 << 20;

/// The note a replayed response carries (the fetch's trace event shows it).
pub const REPLAYED_NOTE: &str = "replayed from a recording";

/// One backend exchange.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recording {
    /// The backend's name.
    pub backend: String,
    /// The request's method.
    pub method: String,
    /// The request's URL.
    pub url: String,
    /// The response's status.
    pub status: u16,
    /// The response's headers, in order.
    #[serde(default)]
    pub headers: Vec<(String, String)>,
    /// The response body, base64.
    #[serde(default)]
    pub body: String,
    /// How many body bytes were left out (the body was longer than the bound).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub body_cut: u64,
    /// Microseconds from the start of the fetch to the response head.
    #[serde(default)]
    pub first_byte_us: u64,
    /// Microseconds from the start of the fetch to the end of the body.
    #[serde(default)]
    pub end_us: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Recording {
    /// The recording of `req` answered by `resp` (a body over
    /// [`MAX_RECORDED_BODY_BYTES`] is cut, and `body_cut` says how much).
    pub fn of(req: &FetchRequest, resp: &FetchResponse) -> Recording {
        Recording::of_bounded(req, resp, MAX_RECORDED_BODY_BYTES)
    }

    /// [`Recording::of`] with a body bound of its own (`max_body` bytes; the tab
    /// keeps less than the runner).
    pub fn of_bounded(req: &FetchRequest, resp: &FetchResponse, max_body: usize) -> Recording {
        let keep = resp.body.len().min(max_body);
        Recording {
            backend: req.backend.clone(),
            method: req.method.clone(),
            url: req.url.clone(),
            status: resp.status,
            headers: resp
                .headers
                .iter()
                .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v).into_owned()))
                .collect(),
            body: base64::engine::general_purpose::STANDARD.encode(&resp.body[..keep]),
            body_cut: (resp.body.len() - keep) as u64,
            first_byte_us: resp.first_byte_us,
            end_us: resp.end_us,
        }
    }

    /// True when this recording answers `req` (same backend, method and URL).
    pub fn matches(&self, req: &FetchRequest) -> bool {
        self.backend == req.backend && self.method == req.method && self.url == req.url
    }

    /// The response to replay.
    pub fn response(&self) -> FetchResponse {
        let mut headers = Headers::new();
        for (n, v) in &self.headers {
            headers.append(n, v.as_bytes());
        }
        let body = base64::engine::general_purpose::STANDARD
            .decode(&self.body)
            .unwrap_or_default();
        FetchResponse {
            status: self.status,
            headers,
            body,
            remote_addr: None,
            first_byte_us: self.first_byte_us,
            end_us: self.end_us,
            headers_not_sent: Vec::new(),
            notes: vec![REPLAYED_NOTE.into()],
        }
    }
}

/// Answers backend requests from recordings.
#[derive(Clone, Debug, Default)]
pub struct Replayer {
    recordings: Vec<Recording>,
    /// Per (backend, method, URL): how many of its recordings were replayed.
    used: HashMap<(String, String, String), usize>,
}

impl Replayer {
    /// A replayer over `recordings`, in the order they were made.
    pub fn new(recordings: Vec<Recording>) -> Replayer {
        Replayer {
            recordings,
            used: HashMap::new(),
        }
    }

    /// How many recordings it holds.
    pub fn len(&self) -> usize {
        self.recordings.len()
    }

    /// True when it holds none.
    pub fn is_empty(&self) -> bool {
        self.recordings.is_empty()
    }

    /// The answer to `req`: the next recording of its backend, method and URL (the
    /// last one again once they are used up), or a refused connection.
    pub fn answer(&mut self, req: &FetchRequest) -> Result<FetchResponse, FetchError> {
        let matching: Vec<&Recording> = self.recordings.iter().filter(|r| r.matches(req)).collect();
        if matching.is_empty() {
            return Err(FetchError {
                kind: FetchErrorKind::ConnectionRefused,
                message: format!(
                    "no recording of {} {} for backend {:?} to replay",
                    req.method, req.url, req.backend
                ),
                headers_not_sent: Vec::new(),
                notes: Vec::new(),
            });
        }
        let key = (req.backend.clone(), req.method.clone(), req.url.clone());
        let n = self.used.entry(key).or_insert(0);
        let r = matching[(*n).min(matching.len() - 1)];
        *n += 1;
        Ok(r.response())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(backend: &str, url: &str) -> FetchRequest {
        FetchRequest::get(backend, url)
    }

    fn resp(status: u16, body: &[u8]) -> FetchResponse {
        let mut headers = Headers::new();
        headers.append("x-a", b"1");
        FetchResponse {
            status,
            headers,
            body: body.to_vec(),
            remote_addr: None,
            first_byte_us: 5,
            end_us: 9,
            headers_not_sent: Vec::new(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn recordings_replay_in_order_by_backend_method_and_url() {
        let a = req("origin", "http://o.test/a");
        let mut r = Replayer::new(vec![
            Recording::of(&a, &resp(200, b"first")),
            Recording::of(&req("other", "http://o.test/a"), &resp(201, b"other")),
            Recording::of(&a, &resp(304, b"second")),
        ]);
        assert_eq!(r.answer(&a).unwrap().body, b"first");
        let second = r.answer(&a).unwrap();
        assert_eq!((second.status, second.body), (304, b"second".to_vec()));
        assert_eq!(r.answer(&a).unwrap().status, 304, "the last one repeats");
        let o = r.answer(&req("other", "http://o.test/a")).unwrap();
        assert_eq!(o.status, 201);
        assert_eq!(o.headers.get("x-a"), Some(&b"1"[..]));
        assert_eq!((o.first_byte_us, o.end_us), (5, 9));
        let e = r.answer(&req("origin", "http://o.test/b")).unwrap_err();
        assert_eq!(e.kind, FetchErrorKind::ConnectionRefused);
        assert!(
            e.message.contains("no recording of GET http://o.test/b"),
            "{}",
            e.message
        );
    }

    #[test]
    fn long_bodies_are_cut_and_say_so() {
        let big = vec![b'x'; MAX_RECORDED_BODY_BYTES + 10];
        let rec = Recording::of(&req("o", "http://o.test/"), &resp(200, &big));
        assert_eq!(rec.body_cut, 10);
        assert_eq!(rec.response().body.len(), MAX_RECORDED_BODY_BYTES);
        let json = serde_json::to_string(&rec).unwrap();
        assert_eq!(serde_json::from_str::<Recording>(&json).unwrap(), rec);
        let small = Recording::of_bounded(&req("o", "http://o.test/"), &resp(200, b"abcdef"), 4);
        assert_eq!(
            (small.body_cut, small.response().body),
            (2, b"abcd".to_vec())
        );
        assert_eq!(small.response().notes, [REPLAYED_NOTE]);
    }
}
