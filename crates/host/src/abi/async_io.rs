//! `fastly_async_io`: waiting on async items — and the waiting machinery every
//! blocking backend call shares (`send`, `pending_req_wait`/`select`,
//! `send_downstream_pending`).
//!
//! Async items live in one number space ([`Session::async_items`], numbered from the
//! body table so a body handle can never be mistaken for one): pending backend
//! requests and request promises now, KV and cache operations later. As in Viceroy, a
//! body handle may also be given to `select`/`is_ready`; edgeplay's bodies are
//! in memory, so a body is always ready. A request promise is ready at once (edgeplay
//! runs one request per instance: no further request comes).
//!
//! - `is_ready(h)`: 1 or 0; an unknown handle is BADF. A guest that spins on
//!   `is_ready` (or `pending_req_poll`) yields to the driver each time it hears "not
//!   yet", so the work it waits for makes progress.
//! - `select(handles, timeout_ms)`: the index of a ready item; when several are ready,
//!   the one that finished first. If none is ready the guest is suspended until one
//!   is; with a non-zero timeout a sleep races the items and `u32::MAX` means the
//!   timeout won. No handles and timeout 0 is INVAL (the platform's and Viceroy's
//!   rule); no handles with a timeout just sleeps.
//! - A wait that can never finish (every item is a streaming request to a mock or an
//!   unreliable backend whose body is still open: those answer from the whole body, so
//!   their upload is buffered and sent on close) answers ERROR with a note instead of
//!   hanging. A streaming upload to any other backend is already under way (it streams
//!   as the guest writes it), so waiting on it waits for the response.

use super::send::{self, Outs};
use super::{Cx, Fault, HostResult, Registry};
use crate::memory::GuestMem;
use crate::session::{AsyncItem, Blocked, PendingState, Session, WorkId, WorkKind, YieldNow};
use crate::status::Status;
use crate::trace::{ArgValue, HandleKind, TraceEvent};
use std::borrow::Cow;

/// The invalid handle sentinel the ABI uses for every handle kind.
pub const INVALID_HANDLE: u32 = 0xFFFF_FFFE;

/// Most handles `select` takes (`fastly_shared::MAX_PENDING_REQS`).
pub const MAX_SELECT_HANDLES: u32 = 16_384;

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

    fn annotate(&mut self, ev: &mut TraceEvent) {
        for (n, v) in self.results.drain(..) {
            ev.results.push((Cow::Borrowed(n), v));
        }
        if let Some(n) = self.note.take() {
            ev.note = Some(n);
        }
    }
}

/// How a wait finishes once an item is ready (or its timeout is over).
pub(crate) enum Finish {
    /// Take the ready pending request and hand its response to the guest
    /// (`send*`, `pending_req_wait*`, `pending_req_select*`).
    Take {
        /// Where the handles (and the error detail) go.
        outs: Outs,
        /// For `pending_req_select*`: where the index goes. A failed request then
        /// answers OK with invalid handles (and the detail tag), as Viceroy and the SDK expect.
        done_index_out: Option<u32>,
    },
    /// `async_io.select`: write the index (`u32::MAX` on timeout).
    Index {
        /// Where the index goes.
        out: u32,
    },
    /// `send_downstream_pending`: send the response (or an error response) downstream.
    Downstream,
}

impl Finish {
    fn run(
        &self,
        mem: &mut GuestMem<'_>,
        s: &mut Session,
        handles: &[u32],
        index: Option<usize>,
    ) -> Completion {
        match (self, index) {
            (Finish::Index { out }, None) => match mem.write_u32(*out, u32::MAX) {
                Ok(()) => Completion {
                    code: Status::OK.0,
                    results: vec![("index", ArgValue::Int(i64::from(u32::MAX)))],
                    note: Some("timed out: no item was ready in time".into()),
                },
                Err(e) => Completion::status(Status::INVAL).with_note(e.to_string()),
            },
            (Finish::Index { out }, Some(i)) => {
                let Ok(idx) = u32::try_from(i) else {
                    return Completion::status(Status::ERROR);
                };
                match mem.write_u32(*out, idx) {
                    Ok(()) => Completion {
                        code: Status::OK.0,
                        results: vec![("index", ArgValue::Int(i64::from(idx)))],
                        note: None,
                    },
                    Err(e) => Completion::status(Status::INVAL).with_note(e.to_string()),
                }
            }
            (_, None) => Completion::status(Status::ERROR),
            (
                Finish::Take {
                    outs,
                    done_index_out,
                },
                Some(i),
            ) => {
                let Some(&h) = handles.get(i) else {
                    return Completion::status(Status::ERROR);
                };
                let mut pre = Vec::new();
                if let Some(out) = done_index_out {
                    let idx = u32::try_from(i).unwrap_or(u32::MAX);
                    if let Err(e) = mem.write_u32(*out, idx) {
                        return Completion::status(Status::INVAL).with_note(e.to_string());
                    }
                    pre.push(("done_index", ArgValue::Int(i64::from(idx))));
                }
                let mut c = send::deliver(mem, s, h, outs, done_index_out.is_some());
                pre.append(&mut c.results);
                c.results = pre;
                c
            }
            (Finish::Downstream, Some(i)) => match handles.get(i) {
                Some(&h) => send::deliver_downstream(s, h),
                None => Completion::status(Status::ERROR),
            },
        }
    }
}

/// The order in which `h` became ready (0: ready from the start), or `None` if it is not.
fn ready_order(s: &Session, h: u32) -> Option<u64> {
    match s.async_items.get(&h) {
        Some(AsyncItem::Pending(p)) => match p.state {
            PendingState::Done { order, .. } => Some(order),
            _ => None,
        },
        Some(AsyncItem::RequestPromise) => Some(0),
        None => s.bodies.contains(h).then_some(0),
    }
}

/// The index of the ready handle that finished first, if any.
fn ready_index(s: &Session, handles: &[u32]) -> Option<usize> {
    handles
        .iter()
        .enumerate()
        .filter_map(|(i, h)| ready_order(s, *h).map(|o| (o, i)))
        .min()
        .map(|(_, i)| i)
}

/// True when some handle waits for driver work (so waiting can end).
fn can_progress(s: &Session, handles: &[u32]) -> bool {
    handles.iter().any(|h| {
        matches!(
            s.async_items.get(h),
            Some(AsyncItem::Pending(p)) if matches!(p.state, PendingState::InFlight { .. })
        )
    })
}

/// A call suspended until one of its handles is ready (or its timeout sleep is over).
pub(crate) struct Waiting {
    handles: Vec<u32>,
    sleep: Option<WorkId>,
    finish: Finish,
    done: Option<Completion>,
}

impl Blocked for Waiting {
    fn poll(&mut self, mem: &mut GuestMem<'_>, s: &mut Session) -> Option<i32> {
        let index = match ready_index(s, &self.handles) {
            Some(i) => {
                if let Some(w) = self.sleep {
                    if s.finished_work.remove(&w).is_none() {
                        s.forgotten_work.insert(w);
                    }
                }
                Some(i)
            }
            None => match self.sleep {
                Some(w) if s.finished_work.remove(&w).is_some() => None,
                _ => return None,
            },
        };
        let c = self.finish.run(mem, s, &self.handles, index);
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

/// Finish now when a handle is ready; otherwise suspend the guest until one is (or the
/// `timeout_ms` sleep, if any, is over).
pub(crate) fn wait(
    cx: &mut Cx<'_>,
    handles: Vec<u32>,
    timeout_ms: Option<u32>,
    finish: Finish,
) -> HostResult {
    if let Some(i) = ready_index(cx.s, &handles) {
        let c = finish.run(&mut cx.mem, cx.s, &handles, Some(i));
        let downstream = matches!(finish, Finish::Downstream) && c.code == Status::OK.0;
        let code = c.into_cx(cx)?;
        if downstream {
            // Hand control to the driver so it forwards the response at once.
            return cx.suspend(Box::new(YieldNow(code)));
        }
        return Ok(code);
    }
    if timeout_ms.is_none() && !can_progress(cx.s, &handles) {
        cx.note(
            "this wait can never end: the request's streaming body is still open, and a mock or unreliable backend answers only once http_body.close has sent the whole body",
        );
        return Err(Status::ERROR.into());
    }
    let sleep = timeout_ms.map(|ms| {
        cx.s.start_work(WorkKind::Sleep {
            ns: u64::from(ms) * 1_000_000,
        })
    });
    cx.suspend(Box::new(Waiting {
        handles,
        sleep,
        finish,
        done: None,
    }))
}

/// Read a list of `len` u32 handles at `ptr`.
pub(crate) fn read_handles(cx: &mut Cx<'_>, ptr: u32, len: u32) -> HostResult<Vec<u32>> {
    let bytes = u64::from(len) * 4;
    let n = u32::try_from(bytes).map_err(|_| {
        Fault::Mem(crate::memory::MemError::OutOfBounds {
            ptr,
            len: bytes,
            size: cx.mem.size(),
        })
    })?;
    let raw = cx.mem.read_bytes(ptr, n)?;
    Ok(raw
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

/// True when `h` is an async item or a body (what `select`/`is_ready` accept).
fn is_async_handle(s: &Session, h: u32) -> bool {
    s.async_items.contains_key(&h) || s.bodies.contains(h)
}

fn handle_list(handles: &[u32]) -> ArgValue {
    ArgValue::List(handles.iter().map(|h| h.to_string()).collect())
}

/// Link `fastly_async_io` and its legacy `env.xqd_async_io_*` twins.
pub(crate) fn link(reg: &mut Registry) -> Result<(), wasmi::errors::LinkerError> {
    crate::hostcalls! { reg;
        ["fastly_async_io" :: "select", "env" :: "xqd_async_io_select"]
        fn(cx, handles: u32, handles_len: u32, timeout_ms: u32, done_index_out: u32) -> i32 {
            if handles_len == 0 && timeout_ms == 0 {
                cx.note("no handles and no timeout: nothing to wait for");
                return Err(Status::INVAL.into());
            }
            if handles_len > MAX_SELECT_HANDLES {
                cx.note(format!("more than {MAX_SELECT_HANDLES} handles"));
                return Err(Status::INVAL.into());
            }
            let list = read_handles(cx, handles, handles_len)?;
            cx.arg("handles", handle_list(&list));
            if let Some(bad) = list.iter().find(|h| !is_async_handle(cx.s, **h)) {
                cx.note(format!("{bad} is not an async item"));
                return Err(Status::BADF.into());
            }
            let timeout = (timeout_ms > 0).then_some(timeout_ms);
            wait(cx, list, timeout, Finish::Index { out: done_index_out })
        }

        ["fastly_async_io" :: "is_ready", "env" :: "xqd_async_io_is_ready"]
        fn(cx, handle: u32, is_ready_out: u32) -> i32 {
            cx.handle_arg("handle", HandleKind::AsyncItem, handle);
            if !is_async_handle(cx.s, handle) {
                return Err(Status::BADF.into());
            }
            let ready = ready_order(cx.s, handle).is_some();
            cx.mem.write_u32(is_ready_out, u32::from(ready))?;
            cx.result("is_ready", ArgValue::Int(i64::from(ready)));
            if !ready {
                // Let the driver run the work this item waits for.
                return cx.suspend(Box::new(YieldNow(Status::OK.0)));
            }
            Ok(Status::OK.0)
        }
    }
    Ok(())
}
