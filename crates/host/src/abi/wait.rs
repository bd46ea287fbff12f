//! The waiting machinery every blocking call shares: `send`, `pending_req_wait*`,
//! `pending_req_select*`, `async_io.select` and `send_downstream_pending` finish at
//! once when an item is ready, or suspend the guest ([`wait`]) until one is (or a
//! timeout sleep is over); [`deliver`] then hands a finished backend request's
//! response (or its failure) to the guest. The hostcall modules (`send`, `async_io`)
//! build on this; it imports neither. A cache busy handle waiting for another
//! execution's claim is re-checked on a short timer (`super::claim`). What a
//! finished call hands back ([`Completion`]) lives in `super::completion`, below
//! this module and the cache modules whose items it waits on.

use super::{Cx, Fault, HostResult};
use crate::backends;
use crate::http::{HttpVersion, Output, ResponseHead};
use crate::memory::GuestMem;
use crate::session::{
    AsyncItem, Blocked, Body, PendingState, ResponseParts, Session, WorkId, WorkKind, YieldNow,
};
use crate::status::Status;
use crate::trace::{ArgValue, HandleKind, TraceEvent};

pub(crate) use super::completion::{Completion, Done, Recheck, INVALID_HANDLE};

/// Most handles `select` takes (`fastly_shared::MAX_PENDING_REQS`).
pub const MAX_SELECT_HANDLES: u32 = 16_384;

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
    /// `transform_image_optimizer_request`: transform the origin image
    /// ([`crate::pending::image_transform`]), then hand the response to the guest as
    /// [`Finish::Take`] does.
    Image {
        /// Where the handles go.
        outs: Outs,
        /// The transform.
        opts: Box<crate::image_opt::Options>,
        /// The `Accept` header `format=auto` reads.
        accept: String,
    },
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
                let mut c = deliver(mem, s, h, outs, done_index_out.is_some());
                pre.append(&mut c.results);
                c.results = pre;
                c
            }
            (Finish::Image { outs, opts, accept }, Some(i)) => {
                let Some(&h) = handles.get(i) else {
                    return Completion::status(Status::ERROR);
                };
                let note = crate::pending::image_transform(s, h, opts, accept);
                let mut c = deliver(mem, s, h, outs, false);
                if !note.is_empty() {
                    c.note = Some(match c.note.take() {
                        Some(n) => format!("{note}; {n}"),
                        None => note,
                    });
                }
                c
            }
            (Finish::Downstream, Some(i)) => match handles.get(i) {
                Some(&h) => deliver_downstream(s, h),
                None => Completion::status(Status::ERROR),
            },
        }
    }
}

/// The order in which `h` became ready (0: ready from the start), or `None` if it is not.
pub(crate) fn ready_order(s: &Session, h: u32) -> Option<u64> {
    match s.pending.async_items.get(&h) {
        Some(AsyncItem::Pending(p)) => match p.state {
            PendingState::Done { order, .. } => Some(order),
            _ => None,
        },
        Some(AsyncItem::RequestPromise | AsyncItem::Kv(_)) => Some(0),
        // Ready once the lookup could proceed: resolved, or the key's claim is free.
        Some(AsyncItem::CacheBusy(b)) => super::cache::busy_ready(s, b).then_some(0),
        // Ready once the lookup could proceed: settled, or the key's claim is free.
        Some(AsyncItem::HttpCache(tx)) => super::http_cache::is_ready(s, tx).then_some(0),
        None => s.http.bodies.contains(h).then_some(0),
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
            s.pending.async_items.get(h),
            Some(AsyncItem::Pending(p)) if matches!(p.state, PendingState::InFlight { .. })
        ) || waits_for_claim(s, *h)
    })
}

/// True when `h` is a cache busy handle (core or HTTP cache) waiting for another
/// execution's claim: nothing
/// tells this execution when it is released, so a wait on it re-checks
/// ([`Recheck`]).
fn waits_for_claim(s: &Session, h: u32) -> bool {
    match s.pending.async_items.get(&h) {
        Some(AsyncItem::CacheBusy(b)) => super::cache::busy_waits_for_another(s, b),
        Some(AsyncItem::HttpCache(_)) => super::http_cache::waits_for_another_execution(s, h),
        _ => false,
    }
}

/// A call suspended until one of its handles is ready (or its timeout sleep is over).
pub(crate) struct Waiting {
    handles: Vec<u32>,
    sleep: Option<WorkId>,
    recheck: Option<Recheck>,
    finish: Finish,
    done: Done,
}

impl Blocked for Waiting {
    fn poll(&mut self, mem: &mut GuestMem<'_>, s: &mut Session) -> Option<i32> {
        if let Some(r) = self.recheck.as_mut() {
            r.due(s);
        }
        let index = match ready_index(s, &self.handles) {
            Some(i) => {
                if let Some(w) = self.sleep {
                    s.work.forget(w);
                }
                Some(i)
            }
            None => match self.sleep {
                Some(w) if s.work.take_result(w).is_some() => None,
                _ => return None,
            },
        };
        if let Some(r) = self.recheck.take() {
            r.stop(s);
        }
        let c = self.finish.run(mem, s, &self.handles, index);
        self.done.finish(c)
    }

    fn annotate(&mut self, ev: &mut TraceEvent) {
        self.done.annotate(ev);
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
    if ready_index(cx.s, &handles).is_none() && !can_progress(cx.s, &handles) {
        // An HTTP cache transaction waiting for another transaction of this execution:
        // only the guest could end that wait, and it is blocked in this one.
        let mut took = false;
        let mut took_core = false;
        for h in &handles {
            took |= super::http_cache::take_over_self_wait(cx.s, *h);
            took_core |= super::cache::take_over_self_wait(cx.s, *h);
        }
        if took {
            cx.note("an HTTP cache lookup waited for another transaction of this execution, which only the guest can finish: it takes the obligation to insert itself");
        }
        if took_core {
            cx.note("a core cache transaction waited for another transaction of this execution, which only the guest can finish: it takes the obligation to insert or update itself");
        }
    }
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
    let recheck = handles
        .iter()
        .any(|h| waits_for_claim(cx.s, *h))
        .then(|| Recheck::start(cx.s));
    cx.suspend(Box::new(Waiting {
        handles,
        sleep,
        recheck,
        finish,
        done: Done::default(),
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

/// Where a finished send writes its results.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Outs {
    /// `send_error_detail` pointer, for the `_v2`/`_v3` calls.
    pub detail: Option<u32>,
    /// Response handle out-pointer.
    pub resp_out: u32,
    /// Body handle out-pointer.
    pub body_out: u32,
}

/// Write `tag` and an all-clear mask to a `send_error_detail` (20 bytes: tag@0, mask@4).
pub(crate) fn write_detail(
    mem: &mut GuestMem<'_>,
    detail: Option<u32>,
    tag: u32,
) -> Result<(), Fault> {
    if let Some(p) = detail {
        let mut b = [0u8; 8];
        b[..4].copy_from_slice(&tag.to_le_bytes());
        mem.write(p, &b)?;
    }
    Ok(())
}

/// Take the finished pending request `h` and give the guest its response. With
/// `select_rules`, a failure answers OK with invalid handles.
pub(crate) fn deliver(
    mem: &mut GuestMem<'_>,
    s: &mut Session,
    h: u32,
    outs: &Outs,
    select_rules: bool,
) -> Completion {
    let Some(AsyncItem::Pending(p)) = s.pending.async_items.remove(&h) else {
        return Completion::status(Status::BADF);
    };
    let p = *p;
    let PendingState::Done { result, .. } = p.state else {
        s.pending
            .async_items
            .insert(h, AsyncItem::Pending(Box::new(p)));
        return Completion::status(Status::ERROR).with_note("internal error: request not finished");
    };
    match *result {
        Ok(mut resp) => {
            p.on_response.apply(&mut resp.headers);
            let status = resp.status;
            let length = content_length(&resp.headers);
            let parts = ResponseParts {
                status,
                version: HttpVersion::Http11,
                headers: resp.headers,
                framing_mode: 0,
                keepalive_mode: 0,
                remote_addr: resp.remote_addr,
            };
            let Some(rh) = s.http.responses.insert(parts) else {
                return Completion::status(Status::LIMITEXCEEDED);
            };
            let Some(bh) = s.http.bodies.insert(
                Body::buffer(resp.body)
                    .ending_in(resp.body_error)
                    .streaming_from(resp.stream, length),
            ) else {
                s.http.responses.take(rh);
                return Completion::status(Status::LIMITEXCEEDED);
            };
            let written = mem
                .write_u32(outs.resp_out, rh)
                .and_then(|()| mem.write_u32(outs.body_out, bh));
            if let Err(e) = written {
                s.http.responses.take(rh);
                s.http.bodies.take(bh);
                return Completion::status(Status::INVAL).with_note(e.to_string());
            }
            if let Err(Fault::Mem(e)) = write_detail(mem, outs.detail, backends::tag::OK) {
                return Completion::status(Status::INVAL).with_note(e.to_string());
            }
            Completion {
                code: Status::OK.0,
                results: vec![
                    (
                        "resp",
                        ArgValue::Handle {
                            kind: HandleKind::Response,
                            handle: rh,
                        },
                    ),
                    (
                        "body",
                        ArgValue::Handle {
                            kind: HandleKind::Body,
                            handle: bh,
                        },
                    ),
                    ("status", ArgValue::Int(i64::from(status))),
                ],
                note: None,
            }
        }
        Err(f) => {
            let tag = backends::send_error_tag(f.kind);
            if let Err(Fault::Mem(e)) = write_detail(mem, outs.detail, tag) {
                return Completion::status(Status::INVAL).with_note(e.to_string());
            }
            let mut results = vec![(
                "error",
                ArgValue::Enum(backends::error_kind_name(f.kind).to_string()),
            )];
            let code = if select_rules {
                let invalid = mem
                    .write_u32(outs.resp_out, INVALID_HANDLE)
                    .and_then(|()| mem.write_u32(outs.body_out, INVALID_HANDLE));
                if let Err(e) = invalid {
                    return Completion::status(Status::INVAL).with_note(e.to_string());
                }
                Status::OK.0
            } else {
                backends::send_error_status(f.kind).0
            };
            results.push(("send_error", ArgValue::Int(i64::from(tag))));
            Completion {
                code,
                results,
                note: Some(format!("backend {:?}: {}", p.backend, f.message)),
            }
        }
    }
}

/// `send_downstream_pending`: send the finished request's response downstream (its
/// queued `on_response` headers applied), or, when it failed, an error response (502,
/// or 504 for a timeout, as Viceroy) with the `on_error` headers.
pub(crate) fn deliver_downstream(s: &mut Session, h: u32) -> Completion {
    let Some(AsyncItem::Pending(p)) = s.pending.async_items.remove(&h) else {
        return Completion::status(Status::BADF);
    };
    let p = *p;
    let PendingState::Done { result, .. } = p.state else {
        return Completion::status(Status::ERROR).with_note("internal error: request not finished");
    };
    if s.response_sent {
        return Completion::status(Status::ERROR)
            .with_note("a response was already sent downstream");
    }
    let (status, mut headers, body, note, stream) = match *result {
        Ok(mut r) => {
            p.on_response.apply(&mut r.headers);
            (r.status, r.headers, r.body, None, r.stream)
        }
        Err(f) => {
            let mut headers = crate::http::Headers::new();
            headers.append("content-type", "text/plain; charset=utf-8");
            p.on_error.apply(&mut headers);
            let msg = format!("backend {:?}: {}", p.backend, f.message);
            (
                backends::error_response_status(f.kind),
                headers,
                format!("{msg}\n").into_bytes(),
                Some(msg),
                None,
            )
        }
    };
    // The client gets the body as the driver frames it (automatic framing, as Viceroy).
    crate::collect::apply_response_framing(&mut headers, 0);
    s.response_sent = true;
    s.emit(Output::Response(ResponseHead {
        status,
        version: HttpVersion::Http11,
        headers,
        streaming: false,
    }));
    if !body.is_empty() {
        s.emit(Output::BodyChunk(body));
    }
    match stream {
        // The rest of the body is forwarded as it arrives.
        Some(fetch) => s.pipe_downstream(fetch, true),
        None => s.emit(Output::BodyEnd),
    }
    Completion {
        code: Status::OK.0,
        results: vec![("status", ArgValue::Int(i64::from(status)))],
        note,
    }
}

/// The length a response announces (`content-length`), when valid.
pub(crate) fn content_length(headers: &crate::http::Headers) -> Option<u64> {
    let v = headers.get("content-length")?;
    std::str::from_utf8(v).ok()?.trim().parse().ok()
}
