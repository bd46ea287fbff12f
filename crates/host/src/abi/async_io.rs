//! `fastly_async_io`: waiting on async items — and the waiting machinery every
//! blocking backend call shares (`send`, `pending_req_wait`/`select`,
//! `send_downstream_pending`).
//!
//! Async items live in one number space ([`Session::async_items`], numbered from the
//! body table so a body handle can never be mistaken for one): pending backend
//! requests, request promises, KV operations (ready at once), core cache busy
//! handles and HTTP cache handles (ready once no other execution holds their key's
//! claim: a wait on one re-checks on a short timer, see `super::claim`). As in Viceroy, a
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

use super::wait::{read_handles, ready_order, wait, Finish, MAX_SELECT_HANDLES};
use super::Registry;
use crate::session::{Session, YieldNow};
use crate::status::Status;
use crate::trace::{ArgValue, HandleKind};

/// True when `h` is an async item or a body (what `select`/`is_ready` accept).
fn is_async_handle(s: &Session, h: u32) -> bool {
    s.pending.async_items.contains_key(&h) || s.http.bodies.contains(h)
}

fn handle_list(handles: &[u32]) -> ArgValue {
    ArgValue::List(handles.iter().map(|h| h.to_string()).collect())
}

/// Link `fastly_async_io` and its legacy `env.xqd_async_io_*` twins.
pub(crate) fn link(reg: &mut Registry) -> Result<(), wasmi::errors::LinkerError> {
    super::hostcalls! { reg;
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
