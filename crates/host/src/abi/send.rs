//! `fastly_http_req` sending: `send`, `send_v2`, `send_v3`, `send_async`,
//! `send_async_v2`, `send_async_streaming`, the `pending_req_*` calls and
//! `register_dynamic_backend` (its body is in [`super::backend`]), with their legacy
//! `env.xqd_*` twins; plus the pieces `fastly_http_resp.send_downstream_pending` and
//! `fastly_http_body.close`/`abandon` (of a streaming upload) use.
//!
//! How a send goes (the async boundary between the core and its driver; see
//! docs/architecture.md):
//!
//! 1. The request and body handles are consumed (as in Viceroy, also when the backend
//!    turns out to be unknown, which is INVAL), and [`backends::build_fetch`] makes
//!    the wire request.
//! 2. The request becomes a pending request (an async item): a mock backend or a
//!    dropped request of an unreliable backend is answered at once; anything else is
//!    driver work ([`crate::WorkKind::Fetch`]). `send_async*` return its handle
//!    without suspending, so several fetches run at once.
//! 3. The blocking calls (`send*`, `pending_req_wait*`, `pending_req_select*`)
//!    suspend the guest until the driver completes the fetch
//!    (`async_io::wait`). `pending_req_poll*` never waits.
//!
//! Statuses, as in Viceroy: a bad handle is BADF; an unknown backend INVAL; a failed
//! fetch ERROR (HTTPINVALID for a response that is not HTTP, HTTPINCOMPLETE for a cut
//! one). Unlike Viceroy, which leaves `send_error_detail` untouched, the `_v2`/`_v3`
//! calls fill it as the platform does: `tag` (1 = ok; `connection_refused`,
//! `http_response_timeout`, ... for a failure; `destination_not_found` for an unknown
//! backend) and a `mask` with every bit cleared, as edgeplay fills none of the optional
//! fields. `pending_req_select*` answer OK for a failed request, with invalid handles
//! (and the tag, for `_v2`), as Viceroy and the SDK expect.
//!
//! Limits: the platform's 32 backend requests per client request (the 33rd send
//! answers LIMITEXCEEDED without consuming its handles); Viceroy has no such limit.
//!
//! `send_async_streaming` (and `send_async_v2` with `streaming = 1`) keep the body
//! handle writable, and the upload streams: the fetch starts at once with the bytes
//! written so far ([`crate::FetchRequest::body_stream`]), each later write goes to the
//! driver as a [`crate::WorkKind::FetchBodyChunk`], and `http_body.close` (or
//! `abandon`, which aborts the request) ends it with a
//! [`crate::WorkKind::FetchBodyEnd`]. The native runner sends the head at once and each
//! chunk as it is written; only the browser's driver buffers the upload (a page cannot
//! stream a request body) and sends it whole on close (the driver core does it:
//! [`crate::driver`]). A mock or an unreliable backend answers from the whole body, so
//! for those the core buffers the upload and starts the fetch on close; waiting for
//! such a request before closing its body would never end, so it answers ERROR with a
//! note.
//!
//! `pending_req_header_insert/append/remove(h, ..., target)` queue header changes for
//! the response when it arrives (`target` 0: both, 1: the response, 2: the error
//! response `send_downstream_pending` makes), applied as Viceroy does: removals, then
//! insertions, then appends; removing an absent header is OK.

use super::headers::{read_name, read_value};
use super::wait::{self, deliver, write_detail, Finish, Outs, INVALID_HANDLE, MAX_SELECT_HANDLES};
use super::{Cx, Fault, HostResult, Registry};
use crate::backends;
use crate::session::{
    AsyncItem, BodySink, FetchErrorKind, FetchMeta, PendingRequest, PendingState, SendFailure,
    Session,
};
use crate::status::Status;
use crate::trace::{ArgValue, HandleKind};

/// Validate and consume the request and body of a send, and start the pending request.
/// Returns its async handle. `streaming` keeps the body writable as the upload;
/// `host_cache`: the send goes through the readthrough cache (all but the uncached
/// `send_v3` and `send_async_v2`).
#[allow(clippy::too_many_arguments)]
fn begin_send(
    cx: &mut Cx<'_>,
    req: u32,
    body: u32,
    backend_ptr: u32,
    backend_len: u32,
    streaming: bool,
    detail: Option<u32>,
    host_cache: bool,
) -> HostResult<u32> {
    cx.handle_arg("req", HandleKind::Request, req);
    cx.handle_arg("body", HandleKind::Body, body);
    let name = cx.str_arg("backend", backend_ptr, backend_len)?;
    if !cx.s.http.requests.contains(req) {
        return Err(Status::BADF.into());
    }
    match cx.s.http.bodies.get(body) {
        None => return Err(Status::BADF.into()),
        Some(b) if b.sink.is_streaming() => {
            cx.note("a streaming body cannot be sent as a request body");
            return Err(Status::BADF.into());
        }
        Some(b) if b.incoming.is_some() && streaming => {
            cx.note("a backend body still arriving cannot be a streaming upload's body");
            return Err(Status::BADF.into());
        }
        Some(_) => {}
    }
    if let Some(p) = detail {
        // Check the error-detail struct is in guest memory before sending anything.
        cx.mem.slice(p, 20)?;
    }
    if cx.s.pending.backend_requests >= backends::MAX_BACKEND_REQUESTS {
        cx.note(format!(
            "the platform allows {} backend requests per client request; this is one more",
            backends::MAX_BACKEND_REQUESTS
        ));
        return Err(Status::LIMITEXCEEDED.into());
    }
    let parts =
        cx.s.http
            .requests
            .take(req)
            .ok_or(Fault::Status(Status::BADF.0))?;
    let (bytes, incoming) = if streaming {
        (Vec::new(), None)
    } else {
        let mut b =
            cx.s.http
                .bodies
                .take(body)
                .ok_or(Fault::Status(Status::BADF.0))?;
        (b.take_remaining(), b.incoming)
    };
    let backend = match crate::pending::resolve_checked(cx.s, &name) {
        Ok(b) => b,
        Err(why) => {
            cx.note(why);
            write_detail(&mut cx.mem, detail, backends::tag::DESTINATION_NOT_FOUND)?;
            return Err(Status::INVAL.into());
        }
    };
    if incoming.is_some() && (backend.mock.is_some() || backend.reachable_percent.is_some()) {
        cx.note("a mock or unreliable backend answers from a whole body; this backend body is still arriving: read it to its end first");
        return Err(Status::ERROR.into());
    }
    let h =
        cx.s.http
            .bodies
            .reserve()
            .ok_or(Fault::Status(Status::LIMITEXCEEDED.0))?;
    cx.s.pending.backend_requests += 1;
    let (fetch, notes) = backends::build_fetch(&backend, &parts, bytes);
    let mut meta = FetchMeta::new(fetch.method.clone(), fetch.url.clone(), 0.0, notes);
    meta.auto_decompress = parts.auto_decompress;
    cx.arg("url", ArgValue::Str(fetch.url.clone()));
    if let Some(how) = cx.s.pending.guest_cache_sends.remove(&req) {
        // The guest's own HTTP cache transaction sends this request (uncached here).
        use crate::pending::readthrough::outcome;
        meta.cache = Some(how);
        meta.notes.push(
            match how {
                outcome::PASS => "cache: pass (the guest's HTTP cache path sends this request uncached)",
                outcome::STALE => "cache: background revalidation by the guest's HTTP cache transaction (stale-while-revalidate)",
                _ => "cache: miss; the guest's HTTP cache transaction inserts the response",
            }
            .into(),
        );
    }
    if host_cache && (streaming || incoming.is_some()) {
        meta.cache = Some(crate::pending::readthrough::outcome::PASS);
        meta.notes
            .push("cache: pass (a streaming request body does not use the cache)".into());
    }
    // A mock or an unreliable backend answers from the whole body: its upload is
    // buffered until the guest closes it. A real origin gets the head now and the body
    // as the guest writes it.
    let buffered = backend.mock.is_some() || backend.reachable_percent.is_some();
    let state = if let Some(i) = incoming {
        // A backend body still arriving is forwarded as it comes: a streaming upload.
        let mut fetch = fetch;
        fetch.body_stream = true;
        let state = crate::pending::start(cx.s, h, &backend, fetch, &mut meta);
        if let PendingState::InFlight { work, .. } = state {
            cx.s.pipe(i.fetch, crate::session::PipeTo::Upload { fetch: work });
        }
        meta.notes.push(
            "the request body is a backend body still arriving: it streams to this backend as it comes"
                .into(),
        );
        state
    } else if streaming && !buffered {
        let mut fetch = fetch;
        fetch.body_stream = true;
        if let Some(b) = cx.s.http.bodies.get_mut(body) {
            fetch.body = b.take_remaining();
        }
        let state = crate::pending::start(cx.s, h, &backend, fetch, &mut meta);
        if let Some(b) = cx.s.http.bodies.get_mut(body) {
            b.sink = match state {
                PendingState::InFlight { work, .. } => BodySink::UploadStream(work),
                _ => BodySink::Upload(h),
            };
            b.known_length = None;
        }
        meta.notes.push(
            "streaming upload: the request head is sent now and the body streams as the guest writes it"
                .into(),
        );
        state
    } else if streaming {
        meta.start_us = cx.s.elapsed_us();
        if let Some(b) = cx.s.http.bodies.get_mut(body) {
            b.sink = BodySink::Upload(h);
            b.known_length = None;
        }
        meta.notes
            .push("streaming upload: edgeplay sends the request when the body is closed".into());
        PendingState::AwaitingBody {
            fetch: Box::new(fetch),
            body,
            backend: Box::new(backend.clone()),
        }
    } else if host_cache {
        crate::pending::readthrough::start(cx.s, h, &backend, fetch, &parts, &mut meta)
    } else {
        crate::pending::start(cx.s, h, &backend, fetch, &mut meta)
    };
    if !meta.notes.is_empty() {
        cx.note(meta.notes.join("; "));
    }
    cx.s.pending
        .async_items
        .insert(h, PendingRequest::item(backend.name.clone(), state, meta));
    Ok(h)
}

/// Suspend until one of the pending requests `handles` is done, then take it and give
/// the guest its response (see [`Finish::Take`]; `done_index_out` for `select`).
fn wait_and_take(
    cx: &mut Cx<'_>,
    handles: Vec<u32>,
    detail: Option<u32>,
    resp_out: u32,
    body_out: u32,
    done_index_out: Option<u32>,
) -> HostResult {
    let outs = Outs {
        detail,
        resp_out,
        body_out,
    };
    wait::wait(
        cx,
        handles,
        None,
        Finish::Take {
            outs,
            done_index_out,
        },
    )
}

/// A blocking send: start it, then wait for it.
#[allow(clippy::too_many_arguments)]
fn send(
    cx: &mut Cx<'_>,
    req: u32,
    body: u32,
    backend_ptr: u32,
    backend_len: u32,
    detail: Option<u32>,
    resp_out: u32,
    body_out: u32,
    host_cache: bool,
) -> HostResult {
    // Bad out-pointers fail before anything is sent.
    cx.mem.slice(resp_out, 4)?;
    cx.mem.slice(body_out, 4)?;
    let h = begin_send(
        cx,
        req,
        body,
        backend_ptr,
        backend_len,
        false,
        detail,
        host_cache,
    )?;
    wait_and_take(cx, vec![h], detail, resp_out, body_out, None)
}

/// `send_async*`: start the send and return the pending request handle;
/// `host_cache`: through the readthrough cache (all but `send_async_v2`).
#[allow(clippy::too_many_arguments)]
fn send_async(
    cx: &mut Cx<'_>,
    req: u32,
    body: u32,
    backend_ptr: u32,
    backend_len: u32,
    streaming: bool,
    handle_out: u32,
    host_cache: bool,
) -> HostResult {
    cx.mem.slice(handle_out, 4)?;
    let h = begin_send(
        cx,
        req,
        body,
        backend_ptr,
        backend_len,
        streaming,
        None,
        host_cache,
    )?;
    cx.mem.write_u32(handle_out, h)?;
    cx.handle_result("pending", HandleKind::PendingRequest, h);
    Ok(Status::OK.0)
}

/// Record a pending-request handle argument and check it names a pending request.
fn pending_arg(cx: &mut Cx<'_>, h: u32) -> HostResult<()> {
    cx.handle_arg("pending", HandleKind::PendingRequest, h);
    match cx.s.pending.async_items.get(&h) {
        Some(AsyncItem::Pending(_)) => Ok(()),
        Some(other) => {
            cx.note(format!("handle {h} is a {}", other.kind_name()));
            Err(Status::BADF.into())
        }
        None => Err(Status::BADF.into()),
    }
}

/// The pending request behind `h` (checked by [`pending_arg`]).
fn pending_mut<'a>(cx: &'a mut Cx<'_>, h: u32) -> HostResult<&'a mut PendingRequest> {
    match cx.s.pending.async_items.get_mut(&h) {
        Some(AsyncItem::Pending(p)) => Ok(p),
        _ => Err(Status::BADF.into()),
    }
}

/// `pending_req_poll*`: the response if the request is done, else `is_done = 0` (and a
/// yield, so a polling guest lets the driver work).
fn poll(
    cx: &mut Cx<'_>,
    h: u32,
    detail: Option<u32>,
    is_done_out: u32,
    resp_out: u32,
    body_out: u32,
) -> HostResult {
    pending_arg(cx, h)?;
    let done = matches!(pending_mut(cx, h)?.state, PendingState::Done { .. });
    if !done {
        cx.mem.write_u32(is_done_out, 0)?;
        cx.mem.write_u32(resp_out, INVALID_HANDLE)?;
        cx.mem.write_u32(body_out, INVALID_HANDLE)?;
        cx.result("is_done", ArgValue::Int(0));
        return cx.suspend(Box::new(crate::session::YieldNow(Status::OK.0)));
    }
    cx.mem.write_u32(is_done_out, 1)?;
    cx.result("is_done", ArgValue::Int(1));
    let outs = Outs {
        detail,
        resp_out,
        body_out,
    };
    deliver(&mut cx.mem, cx.s, h, &outs, false).into_cx(cx)
}

/// `pending_req_wait*`.
fn wait(cx: &mut Cx<'_>, h: u32, detail: Option<u32>, resp_out: u32, body_out: u32) -> HostResult {
    pending_arg(cx, h)?;
    wait_and_take(cx, vec![h], detail, resp_out, body_out, None)
}

/// `pending_req_select*`.
#[allow(clippy::too_many_arguments)]
fn select(
    cx: &mut Cx<'_>,
    handles: u32,
    handles_len: u32,
    detail: Option<u32>,
    done_index_out: u32,
    resp_out: u32,
    body_out: u32,
) -> HostResult {
    if handles_len == 0 || handles_len > MAX_SELECT_HANDLES {
        cx.note(format!(
            "select takes 1 to {MAX_SELECT_HANDLES} pending requests"
        ));
        return Err(Status::INVAL.into());
    }
    let list = wait::read_handles(cx, handles, handles_len)?;
    cx.arg(
        "handles",
        ArgValue::List(list.iter().map(|h| h.to_string()).collect()),
    );
    for h in &list {
        if !matches!(cx.s.pending.async_items.get(h), Some(AsyncItem::Pending(_))) {
            cx.note(format!("{h} is not a pending request"));
            return Err(Status::BADF.into());
        }
    }
    wait_and_take(cx, list, detail, resp_out, body_out, Some(done_index_out))
}

/// Which queued header list(s) a `pending_req_header_*` call changes.
fn targets(cx: &mut Cx<'_>, target: u32) -> HostResult<(bool, bool)> {
    let (resp, err, name) = match target {
        0 => (true, true, "any"),
        1 => (true, false, "response"),
        2 => (false, true, "error"),
        _ => {
            cx.arg("target", ArgValue::Enum(format!("invalid({target})")));
            return Err(Status::INVAL.into());
        }
    };
    cx.arg("target", ArgValue::Enum(name.into()));
    Ok((resp, err))
}

/// `pending_req_header_insert` / `append`.
#[allow(clippy::too_many_arguments)]
fn pending_header_set(
    cx: &mut Cx<'_>,
    h: u32,
    name_ptr: u32,
    name_len: u32,
    value_ptr: u32,
    value_len: u32,
    target: u32,
    append: bool,
) -> HostResult {
    pending_arg(cx, h)?;
    let (resp, err) = targets(cx, target)?;
    let name = read_name(cx, name_ptr, name_len)?;
    let value = read_value(cx, value_ptr, value_len)?;
    let p = pending_mut(cx, h)?;
    for (on, list) in [(resp, &mut p.on_response), (err, &mut p.on_error)] {
        if on {
            if append {
                list.append(&name, value.clone());
            } else {
                list.insert(&name, value.clone());
            }
        }
    }
    Ok(Status::OK.0)
}

/// `fastly_http_body.close` of a streaming upload: the body is complete, send the request.
pub(crate) fn upload_closed(s: &mut Session, h: u32, bytes: Vec<u8>) {
    let Some(AsyncItem::Pending(p)) = s.pending.async_items.get_mut(&h) else {
        return;
    };
    let placeholder = PendingState::InFlight {
        work: 0,
        canned: None,
    };
    let PendingState::AwaitingBody {
        mut fetch, backend, ..
    } = std::mem::replace(&mut p.state, placeholder)
    else {
        return;
    };
    let mut meta = p.meta.clone();
    fetch.body = bytes;
    let state = crate::pending::start(s, h, &backend, *fetch, &mut meta);
    if let Some(AsyncItem::Pending(p)) = s.pending.async_items.get_mut(&h) {
        p.state = state;
        p.meta = meta;
    }
}

/// `fastly_http_body.abandon` of a streaming upload: the request fails.
pub(crate) fn upload_abandoned(s: &mut Session, h: u32) {
    let Some(AsyncItem::Pending(p)) = s.pending.async_items.get_mut(&h) else {
        return;
    };
    if !matches!(p.state, PendingState::AwaitingBody { .. }) {
        return;
    }
    s.pending.done_counter += 1;
    let order = s.pending.done_counter;
    if let Some(AsyncItem::Pending(p)) = s.pending.async_items.get_mut(&h) {
        p.state = PendingState::Done {
            result: Box::new(Err(SendFailure {
                kind: FetchErrorKind::InternalError,
                message: "the guest abandoned the streaming request body; the request was not sent"
                    .into(),
            })),
            order,
        };
    }
}

/// Link the sending hostcalls of `fastly_http_req` and their legacy twins.
pub(crate) fn link(reg: &mut Registry) -> Result<(), wasmi::errors::LinkerError> {
    super::hostcalls! { reg;
        ["fastly_http_req" :: "send", "env" :: "xqd_req_send"]
        fn(cx, req: u32, body: u32, backend_ptr: u32, backend_len: u32, resp_out: u32, body_out: u32) -> i32 {
            send(cx, req, body, backend_ptr, backend_len, None, resp_out, body_out, true)
        }

        ["fastly_http_req" :: "send_v2", "env" :: "xqd_req_send_v2"]
        fn(cx, req: u32, body: u32, backend_ptr: u32, backend_len: u32, error_detail: u32, resp_out: u32, body_out: u32) -> i32 {
            send(cx, req, body, backend_ptr, backend_len, Some(error_detail), resp_out, body_out, true)
        }

        ["fastly_http_req" :: "send_v3", "env" :: "xqd_req_send_v3"]
        fn(cx, req: u32, body: u32, backend_ptr: u32, backend_len: u32, error_detail: u32, resp_out: u32, body_out: u32) -> i32 {
            // No host-side caching: the guest runs the HTTP cache itself.
            send(cx, req, body, backend_ptr, backend_len, Some(error_detail), resp_out, body_out, false)
        }

        ["fastly_http_req" :: "send_async", "env" :: "xqd_req_send_async"]
        fn(cx, req: u32, body: u32, backend_ptr: u32, backend_len: u32, pending_out: u32) -> i32 {
            send_async(cx, req, body, backend_ptr, backend_len, false, pending_out, true)
        }

        ["fastly_http_req" :: "send_async_streaming", "env" :: "xqd_req_send_async_streaming"]
        fn(cx, req: u32, body: u32, backend_ptr: u32, backend_len: u32, pending_out: u32) -> i32 {
            send_async(cx, req, body, backend_ptr, backend_len, true, pending_out, true)
        }

        ["fastly_http_req" :: "send_async_v2", "env" :: "xqd_req_send_async_v2"]
        fn(cx, req: u32, body: u32, backend_ptr: u32, backend_len: u32, streaming: u32, pending_out: u32) -> i32 {
            cx.arg("streaming", ArgValue::Enum(if streaming == 1 { "streaming" } else { "whole" }.into()));
            // The SDKs' uncached send (`send_async_without_caching`): no host-side caching.
            send_async(cx, req, body, backend_ptr, backend_len, streaming == 1, pending_out, false)
        }

        ["fastly_http_req" :: "pending_req_poll", "env" :: "xqd_pending_req_poll"]
        fn(cx, pending: u32, is_done_out: u32, resp_out: u32, body_out: u32) -> i32 {
            poll(cx, pending, None, is_done_out, resp_out, body_out)
        }

        ["fastly_http_req" :: "pending_req_poll_v2", "env" :: "xqd_pending_req_poll_v2"]
        fn(cx, pending: u32, error_detail: u32, is_done_out: u32, resp_out: u32, body_out: u32) -> i32 {
            poll(cx, pending, Some(error_detail), is_done_out, resp_out, body_out)
        }

        ["fastly_http_req" :: "pending_req_wait", "env" :: "xqd_pending_req_wait"]
        fn(cx, pending: u32, resp_out: u32, body_out: u32) -> i32 {
            wait(cx, pending, None, resp_out, body_out)
        }

        ["fastly_http_req" :: "pending_req_wait_v2", "env" :: "xqd_pending_req_wait_v2"]
        fn(cx, pending: u32, error_detail: u32, resp_out: u32, body_out: u32) -> i32 {
            wait(cx, pending, Some(error_detail), resp_out, body_out)
        }

        ["fastly_http_req" :: "pending_req_select", "env" :: "xqd_pending_req_select"]
        fn(cx, handles: u32, handles_len: u32, done_index_out: u32, resp_out: u32, body_out: u32) -> i32 {
            select(cx, handles, handles_len, None, done_index_out, resp_out, body_out)
        }

        ["fastly_http_req" :: "pending_req_select_v2", "env" :: "xqd_pending_req_select_v2"]
        fn(cx, handles: u32, handles_len: u32, error_detail: u32, done_index_out: u32, resp_out: u32, body_out: u32) -> i32 {
            select(cx, handles, handles_len, Some(error_detail), done_index_out, resp_out, body_out)
        }

        ["fastly_http_req" :: "pending_req_header_insert"]
        fn(cx, pending: u32, name_ptr: u32, name_len: u32, value_ptr: u32, value_len: u32, target: u32) -> i32 {
            pending_header_set(cx, pending, name_ptr, name_len, value_ptr, value_len, target, false)
        }

        ["fastly_http_req" :: "pending_req_header_append"]
        fn(cx, pending: u32, name_ptr: u32, name_len: u32, value_ptr: u32, value_len: u32, target: u32) -> i32 {
            pending_header_set(cx, pending, name_ptr, name_len, value_ptr, value_len, target, true)
        }

        ["fastly_http_req" :: "pending_req_header_remove"]
        fn(cx, pending: u32, name_ptr: u32, name_len: u32, target: u32) -> i32 {
            pending_arg(cx, pending)?;
            let (resp, err) = targets(cx, target)?;
            let name = read_name(cx, name_ptr, name_len)?;
            let p = pending_mut(cx, pending)?;
            if resp {
                p.on_response.remove(&name);
            }
            if err {
                p.on_error.remove(&name);
            }
            Ok(Status::OK.0)
        }

        ["fastly_http_req" :: "register_dynamic_backend", "env" :: "xqd_req_register_dynamic_backend"]
        fn(cx, name_ptr: u32, name_len: u32, target_ptr: u32, target_len: u32, options_mask: u32, config: u32) -> i32 {
            super::backend::register_dynamic_backend(cx, name_ptr, name_len, target_ptr, target_len, options_mask, config)
        }
    }
    Ok(())
}
