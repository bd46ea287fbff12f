//! Waiting until a cache key's collapsing claim is free, without blocking the host:
//! the request-collapsing wait that core cache transactions (`abi/cache.rs`) use, and
//! that the readthrough cache can use for its collapsed misses.
//!
//! Another execution of the service holds the claim ([`crate::cache::collapse`]); it
//! releases it when it inserts, cancels or ends, and nothing tells this execution
//! when. So the waiting call is suspended with a short re-check timer: a
//! [`WorkKind::Sleep`] of [`RECHECK_NS`], which every driver (native, browser, the
//! blocking test driver) already performs. Each time it is over the key is checked
//! again; once the claim is free the waiter's continuation runs, and it may find the
//! key claimed again (a third execution was quicker) and keep waiting.
//!
//! - [`Recheck`]: the re-check timer alone, for a wait that has other things to
//!   watch (`async_io.select` on a cache busy handle, in `abi/wait.rs`).
//! - [`wait_for_claim`]: suspend the calling hostcall until `key` is free and its
//!   continuation says it is finished.

use super::wait::Completion;
use super::{Cx, HostResult};
use crate::memory::GuestMem;
use crate::session::{Blocked, Session, WorkId, WorkKind};
use crate::trace::TraceEvent;

/// How often a waiter looks at the claim again: 5 ms.
pub const RECHECK_NS: u64 = 5_000_000;

/// A re-check timer: a short sleep, restarted each time it is over.
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

/// What a waiter does once the claim is free: `Some` finishes the call (memory writes
/// done), `None` keeps waiting (the key was claimed again).
pub(crate) type Then = Box<dyn FnMut(&mut GuestMem<'_>, &mut Session) -> Option<Completion> + Send>;

/// A call suspended until another execution's claim on `key` is released.
struct UntilFree {
    key: Vec<u8>,
    recheck: Option<Recheck>,
    then: Then,
    done: Option<Completion>,
}

impl Blocked for UntilFree {
    fn poll(&mut self, mem: &mut GuestMem<'_>, s: &mut Session) -> Option<i32> {
        let due = self.recheck.as_mut().is_some_and(|r| r.due(s));
        if !due {
            return None;
        }
        if s.claims.busy(&self.key) {
            return None;
        }
        let c = (self.then)(mem, s)?;
        if let Some(r) = self.recheck.take() {
            r.stop(s);
        }
        let code = c.code;
        self.done = Some(c);
        Some(code)
    }

    fn annotate(&mut self, ev: &mut TraceEvent) {
        if let Some(c) = self.done.as_mut() {
            c.annotate(ev);
        }
    }
}

/// Suspend the calling hostcall until no other execution holds `key`'s claim and
/// `then` finishes the call (it runs at each re-check that finds the key free).
pub(crate) fn wait_for_claim(cx: &mut Cx<'_>, key: Vec<u8>, then: Then) -> HostResult {
    let recheck = Some(Recheck::start(cx.s));
    cx.suspend(Box::new(UntilFree {
        key,
        recheck,
        then,
        done: None,
    }))
}
