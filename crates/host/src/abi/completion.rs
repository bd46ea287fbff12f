//! What a hostcall that finishes later hands back, shared by the waiting machinery
//! (`super::wait`) and the cache modules that suspend calls of their own
//! (`super::cache`, `super::http_cache`, `super::claim`): the [`Completion`] of a
//! call, the [`Done`] slot a suspended call keeps it in, the [`Recheck`] timer of a
//! wait nothing else announces, and the ABI's invalid handle. It imports none of
//! them, so they can all use it.

use super::{Cx, HostResult};
use crate::session::{Session, WorkId, WorkKind};
use crate::status::Status;
use crate::trace::{ArgValue, TraceEvent};
use std::borrow::Cow;

/// The invalid handle sentinel the ABI uses for every handle kind.
pub const INVALID_HANDLE: u32 = 0xFFFF_FFFE;

/// How often a wait on something no work will announce (another execution releasing
/// a cache key's claim) looks again: 5 ms.
pub const RECHECK_NS: u64 = 5_000_000;

/// A re-check timer: a short sleep, restarted each time it is over, so a wait on
/// another execution (see `super::claim`) always has work under way and is polled
/// again on every driver.
#[derive(Debug)]
pub(crate) struct Recheck(WorkId);

impl Recheck {
    /// Start the timer.
    pub fn start(s: &mut Session) -> Self {
        Recheck(s.start_work(WorkKind::Sleep { ns: RECHECK_NS }))
    }

    /// True when the timer went off since the last call (it is then restarted).
    pub fn due(&mut self, s: &mut Session) -> bool {
        if s.work.take_result(self.0).is_none() {
            return false;
        }
        self.0 = s.start_work(WorkKind::Sleep { ns: RECHECK_NS });
        true
    }

    /// Stop the timer (the wait is over).
    pub fn stop(self, s: &mut Session) {
        s.work.forget(self.0);
    }
}

/// What a finished call returns and adds to its trace event.
#[derive(Debug, Default)]
pub(crate) struct Completion {
    /// The status code.
    pub code: i32,
    /// Values written back.
    pub results: Vec<(&'static str, ArgValue)>,
    /// A note.
    pub note: Option<String>,
}

impl Completion {
    /// A bare status.
    pub fn status(s: Status) -> Self {
        Completion {
            code: s.0,
            ..Completion::default()
        }
    }

    /// With a note.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// Give the result to a call that finishes now.
    pub fn into_cx(self, cx: &mut Cx<'_>) -> HostResult {
        for (n, v) in self.results {
            cx.result(n, v);
        }
        if let Some(n) = self.note {
            cx.note(n);
        }
        Ok(self.code)
    }

    /// Add the results and note to a trace event that was left open (a suspended call).
    pub fn annotate(&mut self, ev: &mut TraceEvent) {
        for (n, v) in self.results.drain(..) {
            ev.results.push((Cow::Borrowed(n), v));
        }
        if let Some(n) = self.note.take() {
            ev.note = Some(n);
        }
    }
}

/// Where a suspended call keeps the [`Completion`] it finished with, until its trace
/// event is annotated: [`Done::finish`] in `Blocked::poll`, [`Done::annotate`] in
/// `Blocked::annotate`.
#[derive(Debug, Default)]
pub(crate) struct Done(Option<Completion>);

impl Done {
    /// Keep `c`; its code is the call's return value.
    pub fn finish(&mut self, c: Completion) -> Option<i32> {
        let code = c.code;
        self.0 = Some(c);
        Some(code)
    }

    /// Add the kept results and note to the call's trace event.
    pub fn annotate(&mut self, ev: &mut TraceEvent) {
        if let Some(c) = self.0.as_mut() {
            c.annotate(ev);
        }
    }
}
