//! The backend requests of one downstream request: which backend a name means
//! (configured or registered by the guest), starting a request (mock and unreliable
//! backends are answered here, anything else becomes driver work), and settling it
//! when its work completes: gzip auto-decompression and the backend trace event the
//! waterfall draws. What the request looks like on the wire is decided by
//! [`crate::backends`]; this module holds the per-request bookkeeping. KV operations
//! get their waterfall span here too ([`kv_span`]).

pub(crate) mod readthrough;

use crate::backends::{error_kind_name, gunzip, mock_answer, simulated_failure, Backend};
use crate::session::{FetchMeta, KvOp, KvPending, PendingState, Session};
use crate::trace::{ArgValue, EventKind};
use crate::work::{
    BackendResponse, FetchErrorKind, FetchRequest, SendFailure, WorkId, WorkKind, WorkResult,
};
use std::borrow::Cow;

/// The backend called `name`: a configured one, else one the guest registered.
pub fn resolve(s: &Session, name: &str) -> Option<Backend> {
    resolve_checked(s, name).ok()
}

/// Like [`resolve`], with the reason when there is no usable backend of that name.
pub fn resolve_checked(s: &Session, name: &str) -> Result<Backend, String> {
    if let Some(c) = s.config.backends.get(name) {
        return Backend::from_config(name, c)
            .map_err(|e| format!("backend {name:?} is misconfigured: {e}"));
    }
    if let Some(b) = s.pending.dynamic_backends.get(name) {
        return Ok(b.clone());
    }
    let known = names(s);
    Err(if known.is_empty() {
        format!("no backend named {name:?}: none is configured")
    } else {
        format!("no backend named {name:?} (backends: {})", known.join(", "))
    })
}

/// True when a backend called `name` exists (configured or registered).
pub fn exists(s: &Session, name: &str) -> bool {
    s.config.backends.contains_key(name) || s.pending.dynamic_backends.contains_key(name)
}

/// The names of every backend, for error notes.
pub fn names(s: &Session) -> Vec<String> {
    s.config
        .backends
        .keys()
        .chain(s.pending.dynamic_backends.keys())
        .cloned()
        .collect()
}

/// A draw from the platform's random source: true when the request reaches the origin.
fn reaches(s: &Session, percent: u8) -> bool {
    if percent >= 100 {
        return true;
    }
    let mut b = [0u8; 4];
    s.platform.random.fill(&mut b);
    (u32::from_le_bytes(b) % 100) < u32::from(percent)
}

/// Start `fetch` to `backend` for the pending request `h` (already numbered): a mock or
/// a dropped request is answered at once (or after the mock's delay); anything else
/// becomes driver work. Returns the pending request's state.
pub(crate) fn start(
    s: &mut Session,
    h: u32,
    backend: &Backend,
    fetch: FetchRequest,
    meta: &mut FetchMeta,
) -> PendingState {
    meta.start_us = s.elapsed_us();
    s.tracer.recorder_mut().headers(
        || format!("backend request {}", backend.name),
        &fetch.headers,
    );
    if let Some(p) = backend.reachable_percent {
        if !reaches(s, p) {
            meta.notes.push(format!(
                "simulated failure: reachable_percent = {p}, this request did not reach the origin"
            ));
            let resp = simulated_failure(p);
            let mut result = Ok(resp);
            readthrough::after_fetch(s, h, &mut result, meta);
            record_event(s, &backend.name, meta, &result, 0, 0);
            return done(s, result);
        }
    }
    if let Some(mock) = &backend.mock {
        meta.mock = Some(if mock.echo { "echo" } else { "static" });
        let answer = mock_answer(mock, &fetch);
        let fbt = backend.effective_first_byte_timeout_ms();
        let (delay_ms, result) = if mock.delay_ms > fbt {
            (
                fbt,
                Err(SendFailure {
                    kind: FetchErrorKind::HttpResponseTimeout,
                    message: format!(
                        "the mock answers after {} ms, past the first-byte timeout of {fbt} ms",
                        mock.delay_ms
                    ),
                }),
            )
        } else {
            (mock.delay_ms, Ok(answer))
        };
        if delay_ms == 0 {
            let mut result = result;
            readthrough::after_fetch(s, h, &mut result, meta);
            let result = finish_response(result, meta);
            record_event(s, &backend.name, meta, &result, 0, 0);
            return done(s, result);
        }
        let work = s.start_work(WorkKind::Sleep {
            ns: u64::from(delay_ms) * 1_000_000,
        });
        s.pending.fetch_work.insert(work, h);
        return PendingState::InFlight {
            work,
            canned: Some(Box::new(result)),
        };
    }
    let work = s.start_work(WorkKind::Fetch(Box::new(fetch)));
    s.pending.fetch_work.insert(work, h);
    PendingState::InFlight { work, canned: None }
}

pub(crate) fn done(s: &mut Session, result: Result<BackendResponse, SendFailure>) -> PendingState {
    s.pending.done_counter += 1;
    PendingState::Done {
        result: Box::new(result),
        order: s.pending.done_counter,
    }
}

/// Decompress a response when the request asked for it and it is gzip.
pub(crate) fn finish_response(
    result: Result<BackendResponse, SendFailure>,
    meta: &mut FetchMeta,
) -> Result<BackendResponse, SendFailure> {
    let mut resp = result?;
    if meta.auto_decompress & 1 == 0 {
        return Ok(resp);
    }
    let gzip = resp
        .headers
        .get("content-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case(b"gzip") || v.eq_ignore_ascii_case(b"x-gzip"));
    if !gzip {
        return Ok(resp);
    }
    let compressed = resp.body.len();
    resp.body = match gunzip(&resp.body) {
        Ok(b) => {
            meta.notes.push(format!(
                "gzip body decompressed: {compressed} -> {} bytes",
                b.len()
            ));
            b
        }
        Err((b, why)) => {
            let why = format!(
                "the gzip body could not be decompressed after {} bytes: {why}",
                b.len()
            );
            meta.notes
                .push(format!("{why}; the guest reads those bytes, then an error"));
            resp.body_error = Some(why);
            b
        }
    };
    resp.headers.remove("content-encoding");
    resp.headers.remove("content-length");
    Ok(resp)
}

/// One trace event for a finished backend fetch.
pub(crate) fn record_event(
    s: &mut Session,
    backend: &str,
    meta: &FetchMeta,
    result: &Result<BackendResponse, SendFailure>,
    first_byte_us: u64,
    end_us: u64,
) {
    let mut ev = s.event(EventKind::Work, "backend", backend.to_string());
    ev.start_us = meta.start_us;
    let end = if end_us > 0 {
        end_us as f64
    } else {
        (s.elapsed_us() - meta.start_us).max(0.0)
    };
    ev.dur_us = end;
    ev.args
        .push((Cow::Borrowed("method"), ArgValue::Str(meta.method.clone())));
    ev.args
        .push((Cow::Borrowed("url"), ArgValue::Str(meta.url.clone())));
    if let Some(m) = meta.mock {
        ev.args
            .push((Cow::Borrowed("mock"), ArgValue::Enum(m.to_string())));
    }
    if let Some(c) = meta.cache {
        ev.args
            .push((Cow::Borrowed("cache"), ArgValue::Enum(c.to_string())));
    }
    if !meta.headers_not_sent.is_empty() {
        ev.args.push((
            Cow::Borrowed("headers_not_sent"),
            ArgValue::List(meta.headers_not_sent.clone()),
        ));
    }
    let first = if first_byte_us > 0 {
        first_byte_us as f64
    } else {
        end
    };
    match result {
        Ok(r) => {
            s.tracer
                .recorder_mut()
                .headers(|| format!("backend response {backend}"), &r.headers);
            ev.args
                .push((Cow::Borrowed("status"), ArgValue::Int(i64::from(r.status))));
            ev.args.push((
                Cow::Borrowed("bytes"),
                ArgValue::Int(i64::try_from(r.body.len()).unwrap_or(i64::MAX)),
            ));
            ev.status = Some(Cow::Borrowed("ok"));
        }
        Err(f) => {
            ev.results.push((
                Cow::Borrowed("error"),
                ArgValue::Enum(error_kind_name(f.kind).to_string()),
            ));
            ev.status = Some(Cow::Borrowed(error_kind_name(f.kind)));
        }
    }
    for (name, v) in &meta.cache_results {
        ev.results.push((Cow::Borrowed(*name), ArgValue::Int(*v)));
    }
    ev.results
        .push((Cow::Borrowed("first_byte_us"), ArgValue::Int(first as i64)));
    ev.results
        .push((Cow::Borrowed("end_us"), ArgValue::Int(end as i64)));
    let mut notes = meta.notes.clone();
    if let Err(f) = result {
        notes.insert(0, f.message.clone());
    }
    if !notes.is_empty() {
        ev.note = Some(notes.join("; "));
    }
    s.push_event(ev);
}

/// Finish the pending request `h` with the result of its work.
/// The response of a fetch, as the pending request keeps it; `stream`: the fetch
/// whose body is still arriving. Returns it with the first-byte and end times.
fn fetched(
    meta: &mut FetchMeta,
    r: crate::work::FetchResponse,
    stream: Option<WorkId>,
) -> (Result<BackendResponse, SendFailure>, u64, u64) {
    meta.headers_not_sent = r.headers_not_sent;
    meta.notes.extend(r.notes);
    if stream.is_some() {
        meta.notes.push(format!(
            "the body streams: {} bytes came with the head, the rest arrives as the guest reads it",
            r.body.len()
        ));
    }
    (
        Ok(BackendResponse {
            status: r.status,
            headers: r.headers,
            body: r.body,
            body_error: None,
            stream,
            remote_addr: r.remote_addr,
        }),
        r.first_byte_us,
        r.end_us,
    )
}

pub(crate) fn settle(s: &mut Session, h: u32, id: WorkId, result: WorkResult) {
    if readthrough::is_collapsing(s, h) {
        readthrough::poll(s, h);
        return;
    }
    let Some(crate::session::AsyncItem::Pending(p)) = s.pending.async_items.get_mut(&h) else {
        return;
    };
    let canned = match &mut p.state {
        PendingState::InFlight { canned, .. } => canned.take(),
        _ => return,
    };
    let mut meta = p.meta.clone();
    let backend = p.backend.clone();
    let (outcome, first_byte_us, end_us) = match (canned, result) {
        (Some(c), _) => (*c, 0, 0),
        (None, WorkResult::Fetched(r)) => fetched(&mut meta, *r, None),
        (None, WorkResult::FetchedHead(r)) => fetched(&mut meta, *r, Some(id)),
        (None, WorkResult::FetchFailed(e)) => {
            meta.headers_not_sent = e.headers_not_sent;
            meta.notes.extend(e.notes);
            (
                Err(SendFailure {
                    kind: e.kind,
                    message: e.message,
                }),
                0,
                0,
            )
        }
        (
            None,
            WorkResult::Slept
            | WorkResult::Sent
            | WorkResult::BodyChunk { .. }
            | WorkResult::NextRequest(_),
        ) => (
            Err(SendFailure {
                kind: FetchErrorKind::InternalError,
                message: "internal error: the driver answered a fetch with something else".into(),
            }),
            0,
            0,
        ),
    };
    let mut outcome = outcome;
    readthrough::after_fetch(s, h, &mut outcome, &mut meta);
    // The trace shows the response as received (bytes on the wire); the guest gets it
    // decompressed when it asked.
    let received = outcome.clone();
    let outcome = finish_response(outcome, &mut meta);
    record_event(s, &backend, &meta, &received, first_byte_us, end_us);
    let state = done(s, outcome);
    if let Some(crate::session::AsyncItem::Pending(p)) = s.pending.async_items.get_mut(&h) {
        p.state = state;
        p.meta = meta;
    }
}

/// The span of a KV operation: a `kv` work event (name = the store) from the
/// operation's start to now, with its `op`, `key` or `prefix`, `mode`, the list's
/// `count`, and its outcome as the status.
pub(crate) fn kv_span(s: &mut Session, p: &KvPending, note: Option<String>) {
    let outcome = p.op.outcome();
    let mut ev = s.event(EventKind::Work, "kv", p.store.clone());
    ev.start_us = p.start_us;
    ev.dur_us = (s.elapsed_us() - p.start_us).max(0.0);
    ev.args
        .push((Cow::Borrowed("op"), ArgValue::Enum(p.op.name().to_string())));
    match &p.op {
        KvOp::Lookup { key, .. } | KvOp::Delete { key, .. } => {
            ev.args
                .push((Cow::Borrowed("key"), ArgValue::Str(key.clone())));
        }
        KvOp::Insert { key, mode, .. } => {
            ev.args
                .push((Cow::Borrowed("key"), ArgValue::Str(key.clone())));
            ev.args.push((
                Cow::Borrowed("mode"),
                ArgValue::Enum(mode.name().to_string()),
            ));
        }
        KvOp::List { prefix, result } => {
            if let Some(pfx) = prefix {
                ev.args
                    .push((Cow::Borrowed("prefix"), ArgValue::Str(pfx.clone())));
            }
            if let Ok(page) = result {
                ev.results.push((
                    Cow::Borrowed("count"),
                    ArgValue::Int(page.keys.len() as i64),
                ));
            }
        }
    }
    ev.status = Some(Cow::Borrowed(outcome));
    ev.note = note;
    s.push_event(ev);
}

/// Record trace events for backend requests the guest left unfinished when it ended,
/// and the spans of KV operations it never waited for (done all the same: a write
/// happened when it started).
pub(crate) fn note_unfinished(s: &mut Session) {
    let kv: Vec<u32> = s
        .pending
        .async_items
        .iter()
        .filter(|(_, i)| matches!(i, crate::session::AsyncItem::Kv(_)))
        .map(|(h, _)| *h)
        .collect();
    for h in kv {
        if let Some(crate::session::AsyncItem::Kv(p)) = s.pending.async_items.remove(&h) {
            let note = "the guest never waited for this operation (it was done when it started)";
            kv_span(s, &p, Some(note.to_string()));
        }
    }
    let mut notes = Vec::new();
    for item in s.pending.async_items.values() {
        if let crate::session::AsyncItem::Pending(p) = item {
            let why = match p.state {
                PendingState::InFlight { .. } => {
                    "the guest ended before this backend request finished"
                }
                PendingState::AwaitingBody { .. } => {
                    "the guest ended without closing the streaming request body: the request was never sent"
                }
                PendingState::Done { .. } => continue,
            };
            notes.push((p.backend.clone(), p.meta.clone(), why));
        }
    }
    for (backend, meta, why) in notes {
        let mut ev = s.event(EventKind::Work, "backend", backend);
        ev.start_us = meta.start_us;
        ev.dur_us = (s.elapsed_us() - meta.start_us).max(0.0);
        ev.args
            .push((Cow::Borrowed("method"), ArgValue::Str(meta.method)));
        ev.args
            .push((Cow::Borrowed("url"), ArgValue::Str(meta.url)));
        ev.status = Some(Cow::Borrowed("abandoned"));
        ev.note = Some(why.to_string());
        s.push_event(ev);
    }
}

/// Transform the finished Image Optimizer request `h`'s origin image in place, as
/// `opts` asks ([`crate::image_opt::transform`]), before the guest gets it: a 2xx
/// image becomes the transformed one (its `Content-Type`, `Content-Length` and
/// `Fastly-IO-Info`), a transform error a 400 with the reason (the platform's answer);
/// anything else passes through. Returns a note for the trace.
pub(crate) fn image_transform(
    s: &mut Session,
    h: u32,
    opts: &crate::image_opt::Options,
    accept: &str,
) -> String {
    let Some(crate::session::AsyncItem::Pending(p)) = s.pending.async_items.get_mut(&h) else {
        return String::new();
    };
    let PendingState::Done { result, .. } = &mut p.state else {
        return String::new();
    };
    let Ok(resp) = result.as_mut() else {
        return "the origin request failed: nothing to transform".into();
    };
    if !(200..300).contains(&resp.status) || resp.stream.is_some() {
        return format!(
            "the origin answered {}: passed through untransformed",
            resp.status
        );
    }
    let mut note = match crate::image_opt::transform(&resp.body, opts, accept) {
        Ok(t) => {
            resp.headers.insert("content-type", t.content_type);
            resp.headers.insert("fastly-io-info", t.info.as_bytes());
            let n = format!("Image Optimizer: {}", t.info);
            resp.body = t.body;
            n
        }
        Err(e) => {
            resp.status = 400;
            resp.headers = crate::http::Headers::new();
            resp.headers
                .insert("content-type", "text/plain; charset=utf-8");
            resp.body = format!("Image Optimizer: {e}").into_bytes();
            format!("Image Optimizer answered 400: {e}")
        }
    };
    resp.headers.remove("content-encoding");
    resp.headers
        .insert("content-length", resp.body.len().to_string());
    if !opts.ignored.is_empty() {
        note.push_str(&format!(
            "; accepted, no effect locally: {}",
            opts.ignored.join(", ")
        ));
    }
    note
}
