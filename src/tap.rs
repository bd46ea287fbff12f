//! Recording and replaying backend exchanges in the tab: the twin of the runner's
//! `--record DIR` / `--replay DIR` (`crates/cli/src/tap.rs`), per worker instead of
//! per process. Platform-neutral (natively tested); the worker asks it about every
//! backend fetch that would go to the network.
//!
//! - **Replay.** [`ToWorker::Replay`](crate::protocol::ToWorker::Replay) gives the
//!   worker recordings; it keeps one [`Replayer`] for every run that follows (a
//!   fiddle's "Run all" replays its exchanges in the recorded order across its
//!   requests, as the runner does), until the next `Replay` message (which rewinds,
//!   or with `None` turns replaying off). A replayed fetch never reaches `fetch`; a
//!   fetch nothing matches fails as a refused connection (the runner's error).
//! - **Record.** A run with `record` keeps what reached the network: each whole
//!   response ([`Recording::of_bounded`]), its body cut at
//!   [`MAX_TAB_RECORDED_BODY_BYTES`], every body of the run together at most
//!   [`MAX_TAB_RECORDED_TOTAL_BYTES`] (an exchange that does not fit is left out
//!   whole). What was cut or left out is counted ([`LeftOut`]). Mock backends,
//!   cache hits, fetches to the service itself and replayed exchanges never reach
//!   the network, so they are not recorded; nor are failed fetches.

use edgeplay_host::fiddle::{Recording, Replayer};
use edgeplay_host::{FetchRequest, FetchResponse, WorkResult};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::rc::Rc;

/// The largest body one recorded exchange keeps in the tab (the rest is cut).
pub const MAX_TAB_RECORDED_BODY_BYTES: usize = 256 * 1024;

/// The most body bytes one run's recordings keep together (exchanges past it are
/// left out).
pub const MAX_TAB_RECORDED_TOTAL_BYTES: usize = 1 << 20;

/// What a run's recording did not keep.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeftOut {
    /// Exchanges recorded with a cut body (each has `body_cut` > 0).
    pub cut: u32,
    /// Body bytes cut from them.
    pub cut_bytes: u64,
    /// Exchanges not recorded at all (the run's total was reached).
    pub omitted: u32,
    /// Body bytes of those exchanges.
    pub omitted_bytes: u64,
}

impl LeftOut {
    /// True when everything was kept.
    pub fn is_nothing(&self) -> bool {
        *self == LeftOut::default()
    }

    /// A sentence for people ("2 responses cut by 300 KiB, 1 left out (2 MiB)"),
    /// empty when nothing was left out.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.cut > 0 {
            parts.push(format!(
                "{} response bod{} cut ({} bytes left out)",
                self.cut,
                if self.cut == 1 { "y" } else { "ies" },
                self.cut_bytes
            ));
        }
        if self.omitted > 0 {
            parts.push(format!(
                "{} exchange{} not recorded ({} body bytes): the run's recordings keep at most {} bytes",
                self.omitted,
                if self.omitted == 1 { "" } else { "s" },
                self.omitted_bytes,
                MAX_TAB_RECORDED_TOTAL_BYTES
            ));
        }
        parts.join("; ")
    }
}

/// The exchanges one run recorded, within the bounds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recorder {
    recordings: Vec<Recording>,
    kept_bytes: usize,
    left_out: LeftOut,
    max_body: usize,
    max_total: usize,
}

impl Recorder {
    /// A recorder with the tab's bounds.
    pub fn new() -> Recorder {
        Recorder::with_bounds(MAX_TAB_RECORDED_BODY_BYTES, MAX_TAB_RECORDED_TOTAL_BYTES)
    }

    /// A recorder that cuts bodies at `max_body` and keeps at most `max_total` body
    /// bytes in all.
    pub fn with_bounds(max_body: usize, max_total: usize) -> Recorder {
        Recorder {
            max_body,
            max_total,
            ..Recorder::default()
        }
    }

    /// Keep the exchange of `req` answered by `resp` (cut, or left out, as the
    /// bounds say).
    pub fn keep(&mut self, req: &FetchRequest, resp: &FetchResponse) {
        let kept = resp.body.len().min(self.max_body);
        if self.kept_bytes + kept > self.max_total {
            self.left_out.omitted += 1;
            self.left_out.omitted_bytes += resp.body.len() as u64;
            return;
        }
        let rec = Recording::of_bounded(req, resp, self.max_body);
        if rec.body_cut > 0 {
            self.left_out.cut += 1;
            self.left_out.cut_bytes += rec.body_cut;
        }
        self.kept_bytes += kept;
        self.recordings.push(rec);
    }

    /// What was recorded, in the order the exchanges completed, and what was not.
    pub fn finish(self) -> (Vec<Recording>, LeftOut) {
        (self.recordings, self.left_out)
    }
}

/// What a run does with backend exchanges: shared by the run and the nested runs
/// of its service calling itself.
#[derive(Default)]
pub struct RunTap {
    /// Answer fetches from these recordings (the worker's, shared across runs).
    pub replay: Option<Rc<RefCell<Replayer>>>,
    /// Record what reached the network.
    pub record: Option<RefCell<Recorder>>,
}

impl RunTap {
    /// A tap that replays from `replay` (when given) and records (when `record`).
    pub fn new(replay: Option<Rc<RefCell<Replayer>>>, record: bool) -> RunTap {
        RunTap {
            replay,
            record: record.then(|| RefCell::new(Recorder::new())),
        }
    }

    /// The replayed answer to `req` (`None`: not replaying, go to the network), and
    /// the note for the Logs panel.
    pub fn replayed(&self, req: &FetchRequest) -> Option<(WorkResult, String)> {
        let replayer = self.replay.as_ref()?;
        let answer = replayer.borrow_mut().answer(req);
        Some(match answer {
            Ok(resp) => (
                WorkResult::Fetched(Box::new(resp)),
                format!(
                    "backend `{}`: {} {} replayed from a recording (no network)",
                    req.backend, req.method, req.url
                ),
            ),
            Err(e) => {
                let note = format!(
                    "backend `{}`: {}: it fails as a refused connection, as under `edgeplay --replay`",
                    req.backend, e.message
                );
                (WorkResult::FetchFailed(e), note)
            }
        })
    }

    /// True when the run records.
    pub fn records(&self) -> bool {
        self.record.is_some()
    }

    /// Keep a fetch's result when recording (only whole responses are kept).
    pub fn keep(&self, req: &FetchRequest, result: &WorkResult) {
        if let (Some(r), WorkResult::Fetched(resp)) = (&self.record, result) {
            r.borrow_mut().keep(req, resp);
        }
    }

    /// The run's recordings and what was left out (`None` when it did not record).
    pub fn take_recorded(&self) -> Option<(Vec<Recording>, LeftOut)> {
        let r = self.record.as_ref()?;
        Some(std::mem::take(&mut *r.borrow_mut()).finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeplay_host::{FetchErrorKind, Headers};

    fn resp(body: &[u8]) -> FetchResponse {
        FetchResponse {
            status: 200,
            headers: Headers::new(),
            body: body.to_vec(),
            remote_addr: None,
            first_byte_us: 3,
            end_us: 4,
            headers_not_sent: Vec::new(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn bodies_are_cut_and_a_run_past_its_total_leaves_exchanges_out() {
        let req = FetchRequest::get("o", "http://o.test/a");
        let mut r = Recorder::with_bounds(4, 10);
        r.keep(&req, &resp(b"abc")); // 3 kept
        r.keep(&req, &resp(b"abcdefgh")); // cut to 4: 7 kept
        r.keep(&req, &resp(b"abcdef")); // 4 more would make 11 > 10: left out
        r.keep(&req, &resp(b"xyz")); // 10: fits
        let (recs, left) = r.finish();
        assert_eq!(recs.len(), 3);
        assert_eq!(recs[1].body_cut, 4);
        assert_eq!(recs[1].response().body, b"abcd");
        assert_eq!(recs[2].response().body, b"xyz");
        assert_eq!(
            left,
            LeftOut {
                cut: 1,
                cut_bytes: 4,
                omitted: 1,
                omitted_bytes: 6
            }
        );
        let said = left.describe();
        assert!(
            said.contains("1 response body cut (4 bytes left out)"),
            "{said}"
        );
        assert!(
            said.contains("1 exchange not recorded (6 body bytes)"),
            "{said}"
        );
        assert!(LeftOut::default().is_nothing());
        assert_eq!(LeftOut::default().describe(), "");
    }

    #[test]
    fn the_tab_s_bounds_are_the_documented_ones() {
        let req = FetchRequest::get("o", "http://o.test/");
        let tap = RunTap::new(None, true);
        tap.keep(
            &req,
            &WorkResult::Fetched(Box::new(resp(&vec![1; 300 * 1024]))),
        );
        for _ in 0..4 {
            tap.keep(
                &req,
                &WorkResult::Fetched(Box::new(resp(&vec![2; 256 * 1024]))),
            );
        }
        let (recs, left) = tap.take_recorded().unwrap();
        // 256 KiB kept of the first, then three whole ones reach 1 MiB; the fifth is out.
        assert_eq!(recs.len(), 4);
        assert_eq!(left.cut, 1);
        assert_eq!(left.cut_bytes, 44 * 1024);
        assert_eq!((left.omitted, left.omitted_bytes), (1, 256 * 1024));
        assert!(RunTap::new(None, false).take_recorded().is_none());
    }

    #[test]
    fn replay_goes_on_across_runs_and_a_miss_is_a_refused_connection() {
        let a = FetchRequest::get("origin", "http://o.test/a");
        let rec = |body: &[u8]| Recording::of(&a, &resp(body));
        let shared = Rc::new(RefCell::new(Replayer::new(vec![rec(b"one"), rec(b"two")])));
        let body = |tap: &RunTap| match tap.replayed(&a).unwrap().0 {
            WorkResult::Fetched(r) => r.body,
            other => panic!("{other:?}"),
        };
        // Two runs share the worker's replayer: the second gets the second exchange.
        assert_eq!(body(&RunTap::new(Some(shared.clone()), false)), b"one");
        let second = RunTap::new(Some(shared.clone()), false);
        assert_eq!(body(&second), b"two");
        assert_eq!(body(&second), b"two", "the last one repeats");
        let (miss, note) = second
            .replayed(&FetchRequest::get("origin", "http://o.test/b"))
            .unwrap();
        let WorkResult::FetchFailed(e) = miss else {
            panic!("{miss:?}")
        };
        assert_eq!(e.kind, FetchErrorKind::ConnectionRefused);
        assert!(
            note.starts_with("backend `origin`: no recording of GET http://o.test/b"),
            "{note}"
        );
        assert!(RunTap::new(None, false).replayed(&a).is_none());
        // A replayed exchange is not recorded again by a tap that records.
        let both = RunTap::new(Some(shared), true);
        let (replayed, note) = both.replayed(&a).unwrap();
        assert!(note.contains("GET http://o.test/a replayed from a recording"));
        assert!(matches!(replayed, WorkResult::Fetched(_)));
        assert_eq!(both.take_recorded().unwrap().0.len(), 0);
    }
}
