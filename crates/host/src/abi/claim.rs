//! Waiting until a cache key's collapsing claim is free, without blocking the host:
//! the request-collapsing wait that core cache transactions (`abi/cache.rs`) use, and
//! that the readthrough cache can use for its collapsed misses.
//!
//! Another execution of the service holds the claim ([`crate::cache::collapse`]); it
//! releases it when it inserts, cancels or ends, and nothing tells this execution
//! when. So the waiting call is suspended with a short re-check timer ([`Recheck`],
//! in `abi/wait.rs`: a `WorkKind::Sleep` of [`super::completion::RECHECK_NS`], which every
//! driver — native, browser, the blocking test driver — already performs). Each time
//! it is over the key is checked again; once the claim is free the waiter's
//! continuation runs, and it may find the key claimed again (a third execution was
//! quicker) and keep waiting.
//!
//! - [`wait_for_claim`]: suspend the calling hostcall until `key` is free and its
//!   continuation says it is finished ([`wait_until`]: until any condition).
//! - [`Recheck`] alone serves a wait that has other things to watch too
//!   (`async_io.select` on a cache busy handle, in `abi/wait.rs`).

use super::completion::{Completion, Done, Recheck};
use super::{Cx, HostResult};
use crate::memory::GuestMem;
use crate::session::{Blocked, Session};
use crate::trace::TraceEvent;

/// What a waiter does once the claim is free: `Some` finishes the call (memory writes
/// done), `None` keeps waiting (the key was claimed again).
pub(crate) type Then = Box<dyn FnMut(&mut GuestMem<'_>, &mut Session) -> Option<Completion> + Send>;

/// When a waiter looks again: at a re-check that finds this true.
pub(crate) type Ready = Box<dyn Fn(&Session) -> bool + Send>;

/// A call suspended until another execution's claim on `key` is released (or what
/// else its `ready` waits for).
struct UntilFree {
    ready: Ready,
    recheck: Option<Recheck>,
    then: Then,
    done: Done,
}

impl Blocked for UntilFree {
    fn poll(&mut self, mem: &mut GuestMem<'_>, s: &mut Session) -> Option<i32> {
        let due = self.recheck.as_mut().is_some_and(|r| r.due(s));
        if !due {
            return None;
        }
        if !(self.ready)(s) {
            return None;
        }
        let c = (self.then)(mem, s)?;
        if let Some(r) = self.recheck.take() {
            r.stop(s);
        }
        self.done.finish(c)
    }

    fn annotate(&mut self, ev: &mut TraceEvent) {
        self.done.annotate(ev);
    }
}

/// Suspend the calling hostcall until no other execution holds `key`'s claim and
/// `then` finishes the call (it runs at each re-check that finds the key free).
pub(crate) fn wait_for_claim(cx: &mut Cx<'_>, key: Vec<u8>, then: Then) -> HostResult {
    wait_until(cx, Box::new(move |s: &Session| !s.claims.busy(&key)), then)
}

/// Suspend the calling hostcall until `ready` (checked at each re-check) and `then`
/// finishes the call: a collapsing wait that may end before the claim is released
/// (a core cache transaction goes on once the holder's insert has started, to read
/// it as it is written).
pub(crate) fn wait_until(cx: &mut Cx<'_>, ready: Ready, then: Then) -> HostResult {
    let recheck = Some(Recheck::start(cx.s));
    cx.suspend(Box::new(UntilFree {
        ready,
        recheck,
        then,
        done: Done::default(),
    }))
}
