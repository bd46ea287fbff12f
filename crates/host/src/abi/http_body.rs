//! `fastly_http_body`: bodies the guest holds — the downstream request body, bodies it
//! builds, and the streaming downstream response body.
//!
//! An ordinary body is an in-memory buffer: `read` takes from the front (0 bytes is the
//! end), `write` adds to the back or the front, `append` moves another body's bytes and
//! trailers onto the end and consumes it. A backend response whose gzip would not
//! decompress ends in an error ([`Body::error`]): the read after its last good byte
//! answers ERROR (once; then the end), as in Viceroy. After `http_resp.send_downstream(..,
//! streaming=1)` the body handle becomes the streaming response body
//! ([`BodySink::Downstream`]): every write or append becomes an [`Output::BodyChunk`]
//! (and the guest yields so the driver can forward it at once), `close` ends the
//! response ([`Output::BodyEnd`]) and `abandon` aborts it ([`Output::BodyAbort`]), again
//! with a yield, so the client has the whole response while the guest works on.
//!
//! The upload body of `send_async_streaming` to an origin ([`BodySink::UploadStream`])
//! is write-only too: its fetch is already under way, every write or append becomes a
//! [`crate::WorkKind::FetchBodyChunk`], and the call waits until the platform has taken
//! the bytes (so an origin that does not read stops the guest's writes),
//! `close` a [`crate::WorkKind::FetchBodyEnd`] and `abandon` an aborted end, so the
//! origin sees an incomplete body. To a mock or unreliable backend
//! ([`BodySink::Upload`]) the upload is buffered: writes and appends add to it, and
//! `close` hands the whole body to its pending request, which only then starts
//! (`abandon` fails the request). See [`super::send`].
//!
//! The body of a core cache insert ([`BodySink::CacheInsert`]) is write-only too:
//! writes and appends go to the object being inserted, where its readers take them at
//! once (a backend body still arriving may be appended; its close drains it),
//! `close` stores the object and `abandon` stores nothing (see [`super::cache`]). A
//! body that reads an insert still being written ([`crate::session::CacheTail`])
//! takes the writer's next bytes when a read has used up what it holds, and waits
//! for them when the writer is another execution.
//!
//! As in Viceroy: a streaming body cannot be read, front-written or appended from
//! (BADF), nor have its trailers read (INVAL); trailers of any other body can be read
//! only once a read has reached its end (AGAIN before that, also for a body the guest
//! created); `known_length` answers NONE for a streaming body. Unlike Viceroy, which
//! only knows the length of bodies that came over HTTP with one, edgeplay knows the
//! length of every in-memory body.

use super::headers::{self, Owner};
use super::{Cx, Fault, HostResult, Registry};
use crate::http::Output;
use crate::memory::GuestMem;
use crate::memory::MemError;
use crate::session::{Blocked, Body, BodySink, Session, WorkId, WorkKind, WorkResult, YieldNow};
use crate::status::Status;
use crate::trace::{ArgValue, HandleKind};

/// Record a body handle argument and check it is live (BADF otherwise).
fn body_mut<'a>(cx: &'a mut Cx<'_>, name: &'static str, h: u32) -> HostResult<&'a mut Body> {
    cx.handle_arg(name, HandleKind::Body, h);
    cx.s.http
        .bodies
        .get_mut(h)
        .ok_or(Fault::Status(Status::BADF.0))
}

/// BADF unless the body is live and an ordinary (non-streaming) body.
fn buffer_body(cx: &mut Cx<'_>, name: &'static str, h: u32, what: &str) -> HostResult<()> {
    if body_mut(cx, name, h)?.sink.is_streaming() {
        cx.note(format!(
            "a streaming body cannot be {what}: it only accepts writes to the back"
        ));
        return Err(Status::BADF.into());
    }
    Ok(())
}

/// Fail with INVAL unless `ptr..ptr+len` lies in guest memory.
fn check_range(cx: &Cx<'_>, ptr: u32, len: u32) -> HostResult<()> {
    if ptr as u64 + len as u64 > cx.mem.size() as u64 {
        return Err(Fault::Mem(MemError::OutOfBounds {
            ptr,
            len: len as u64,
            size: cx.mem.size(),
        }));
    }
    Ok(())
}

/// Send bytes down the streaming response and yield so the driver forwards them now.
pub(crate) fn stream_chunk(cx: &mut Cx<'_>, bytes: Vec<u8>) -> HostResult {
    if bytes.is_empty() {
        return Ok(Status::OK.0);
    }
    cx.s.emit(Output::BodyChunk(bytes));
    cx.suspend(Box::new(YieldNow(Status::OK.0)))
}

/// Send bytes of a streaming upload to its fetch, and wait until the platform has
/// taken them: an origin that stops reading stops the guest's writes (backpressure).
fn upload_chunk(cx: &mut Cx<'_>, fetch: WorkId, bytes: Vec<u8>) -> HostResult {
    if bytes.is_empty() {
        return Ok(Status::OK.0);
    }
    let work = cx.s.start_work(WorkKind::FetchBodyChunk { fetch, bytes });
    cx.suspend(Box::new(ChunkTaken { work, failed: None }))
}

/// A write to a streaming upload, waiting for the platform to take its bytes.
struct ChunkTaken {
    work: WorkId,
    failed: Option<String>,
}

impl Blocked for ChunkTaken {
    fn poll(&mut self, _: &mut GuestMem<'_>, s: &mut Session) -> Option<i32> {
        match s.work.take_result(self.work)? {
            // The request failed: the upload takes no more bytes.
            WorkResult::FetchFailed(e) => {
                self.failed = Some(format!(
                    "the upload takes no more bytes: the request failed: {}",
                    e.message
                ));
                Some(Status::ERROR.0)
            }
            _ => Some(Status::OK.0),
        }
    }

    fn annotate(&mut self, ev: &mut crate::trace::TraceEvent) {
        if let Some(n) = self.failed.take() {
            ev.note = Some(n);
        }
    }
}

/// End the body of a streaming upload (`abandoned`: cut it off) and yield.
fn upload_end(cx: &mut Cx<'_>, fetch: WorkId, abandoned: bool) -> HostResult {
    cx.s.start_work(WorkKind::FetchBodyEnd { fetch, abandoned });
    cx.suspend(Box::new(YieldNow(Status::OK.0)))
}

/// Start reading the next bytes of a backend body that is still arriving (once per
/// body at a time), and suspend the read until they come.
fn pull(cx: &mut Cx<'_>, body: u32, buf: u32, buf_len: u32, nread_out: u32) -> HostResult {
    let Some(b) = cx.s.http.bodies.get_mut(body) else {
        return Err(Status::BADF.into());
    };
    let Some(mut incoming) = b.incoming else {
        return Err(Status::ERROR.into());
    };
    let read = match incoming.read {
        Some(r) => r,
        None => {
            let r = cx.s.start_work(WorkKind::FetchBodyRead {
                fetch: incoming.fetch,
            });
            incoming.read = Some(r);
            if let Some(b) = cx.s.http.bodies.get_mut(body) {
                b.incoming = Some(incoming);
            }
            r
        }
    };
    cx.suspend(Box::new(Pulling {
        body,
        read,
        buf,
        buf_len,
        nread_out,
        note: None,
        nread: 0,
    }))
}

/// A read waiting for the next bytes of a backend body.
struct Pulling {
    body: u32,
    read: WorkId,
    buf: u32,
    buf_len: u32,
    nread_out: u32,
    note: Option<String>,
    nread: usize,
}

impl Pulling {
    /// Give the guest what the body has now.
    fn deliver(&mut self, mem: &mut GuestMem<'_>, s: &mut Session) -> Option<i32> {
        let b = s.http.bodies.get_mut(self.body)?;
        let chunk = b.read_up_to(self.buf_len as usize);
        let n = chunk.len();
        if mem.write(self.buf, &chunk).is_err() || mem.write_u32(self.nread_out, n as u32).is_err()
        {
            return Some(Status::INVAL.0);
        }
        self.nread = n;
        if n == 0 {
            self.note = Some("end of body".into());
        }
        Some(Status::OK.0)
    }
}

impl Blocked for Pulling {
    fn poll(&mut self, mem: &mut GuestMem<'_>, s: &mut Session) -> Option<i32> {
        let result = s.work.take_result(self.read)?;
        let b = s.http.bodies.get_mut(self.body)?;
        let fetch = b.incoming.map(|i| i.fetch);
        match result {
            WorkResult::BodyChunk { bytes, end } => {
                let n = bytes.len();
                if !s.admit_body_bytes(n) {
                    // Past the bound the rest is not read: the body ends in an error.
                    let b = s.http.bodies.get_mut(self.body)?;
                    b.incoming = None;
                    b.known_length = None;
                    let note = format!(
                        "the backend body is cut off: {}",
                        Session::body_limit_note()
                    );
                    if b.remaining().is_empty() {
                        self.note = Some(note);
                        return Some(Status::ERROR.0);
                    }
                    b.error = Some(note);
                    return self.deliver(mem, s);
                }
                let b = s.http.bodies.get_mut(self.body)?;
                b.data.extend_from_slice(&bytes);
                b.incoming = match (end, fetch) {
                    (false, Some(fetch)) => Some(crate::session::Incoming { fetch, read: None }),
                    _ => None,
                };
                if bytes.is_empty() && !end {
                    // Nothing yet: ask again.
                    let read = s.start_work(WorkKind::FetchBodyRead { fetch: fetch? });
                    if let Some(b) = s.http.bodies.get_mut(self.body) {
                        b.incoming = fetch.map(|fetch| crate::session::Incoming {
                            fetch,
                            read: Some(read),
                        });
                    }
                    self.read = read;
                    return None;
                }
            }
            WorkResult::FetchFailed(e) => {
                b.incoming = None;
                b.known_length = None;
                if b.remaining().is_empty() {
                    self.note = Some(format!("the backend body broke off: {}", e.message));
                    return Some(Status::ERROR.0);
                }
                b.error = Some(format!("the backend body broke off: {}", e.message));
            }
            _ => {
                b.incoming = None;
                self.note = Some("internal error: a body read got another answer".into());
                return Some(Status::ERROR.0);
            }
        }
        self.deliver(mem, s)
    }

    fn annotate(&mut self, ev: &mut crate::trace::TraceEvent) {
        ev.results
            .push(("nread".into(), ArgValue::Int(self.nread as i64)));
        if let Some(n) = self.note.take() {
            ev.note = Some(n);
        }
    }
}

/// Readiness checks of the trailer getters: streaming → INVAL, not read to the end → AGAIN.
fn trailers_readable(cx: &mut Cx<'_>, h: u32) -> HostResult<()> {
    let b = body_mut(cx, "body", h)?;
    if b.sink.is_streaming() {
        cx.note("trailers of a streaming body cannot be read");
        return Err(Status::INVAL.into());
    }
    if !b.trailers_ready {
        cx.note("trailers are available once the body has been read to its end");
        return Err(Status::AGAIN.into());
    }
    Ok(())
}

/// Link the `fastly_http_body` hostcalls, and their legacy `env.xqd_*` twins whose
/// signature is the same.
pub(crate) fn link(reg: &mut Registry) -> Result<(), wasmi::errors::LinkerError> {
    super::hostcalls! { reg;
        ["fastly_http_body" :: "new", "env" :: "xqd_body_new"]
        fn(cx, body_out: u32) -> i32 {
            let h = cx.s.http.bodies.insert(Body::buffer(Vec::new()))
                .ok_or(Fault::Status(Status::LIMITEXCEEDED.0))?;
            if let Err(e) = cx.mem.write_u32(body_out, h) {
                cx.s.http.bodies.take(h);
                return Err(e.into());
            }
            cx.handle_result("handle", HandleKind::Body, h);
            Ok(Status::OK.0)
        }

        ["fastly_http_body" :: "read", "env" :: "xqd_body_read"]
        fn(cx, body: u32, buf: u32, buf_len: u32, nread_out: u32) -> i32 {
            buffer_body(cx, "body", body, "read")?;
            check_range(cx, buf, buf_len)?;
            let b = body_mut(cx, "body", body)?;
            if b.remaining().is_empty() && b.cache_tail.is_some() && buf_len > 0 {
                // A cached object still being inserted: take what the writer has, or
                // wait for it.
                return super::cache::read_tail(cx, body, buf, buf_len, nread_out);
            }
            let b = body_mut(cx, "body", body)?;
            if b.remaining().is_empty() && b.incoming.is_some() && buf_len > 0 {
                // A backend body still arriving: wait for its next bytes.
                return pull(cx, body, buf, buf_len, nread_out);
            }
            let b = body_mut(cx, "body", body)?;
            if b.remaining().is_empty() {
                if let Some(why) = b.error.take() {
                    cx.note(why);
                    return Err(Status::ERROR.into());
                }
            }
            let n = {
                let b = body_mut(cx, "body", body)?;
                b.remaining().len().min(buf_len as usize)
            };
            cx.mem.write_u32(nread_out, n as u32)?;
            let b = cx.s.http.bodies.get_mut(body).ok_or(Fault::Status(Status::BADF.0))?;
            let chunk = b.read_up_to(n);
            cx.mem.write(buf, &chunk)?;
            cx.result("nread", ArgValue::Int(n as i64));
            if n == 0 {
                cx.note("end of body");
            }
            Ok(Status::OK.0)
        }

        ["fastly_http_body" :: "write", "env" :: "xqd_body_write"]
        fn(cx, body: u32, buf: u32, buf_len: u32, end: u32, nwritten_out: u32) -> i32 {
            let sink = body_mut(cx, "body", body)?.sink;
            let end_name = match end {
                0 => "back",
                1 => "front",
                _ => "invalid",
            };
            cx.arg("end", ArgValue::Enum(end_name.into()));
            if end > 1 {
                return Err(Status::INVAL.into());
            }
            let bytes = cx.bytes_arg("data", buf, buf_len)?;
            let n = bytes.len();
            if sink.is_streaming() && end == 1 {
                cx.note("cannot write to the front of a streaming body");
                return Err(Status::BADF.into());
            }
            if sink == BodySink::Downstream {
                cx.mem.write_u32(nwritten_out, n as u32)?;
                cx.result("nwritten", ArgValue::Int(n as i64));
                return stream_chunk(cx, bytes);
            }
            if let BodySink::UploadStream(fetch) = sink {
                cx.mem.write_u32(nwritten_out, n as u32)?;
                cx.result("nwritten", ArgValue::Int(n as i64));
                return upload_chunk(cx, fetch, bytes);
            }
            if let BodySink::CacheInsert(id) = sink {
                // Readers of the object being inserted get the bytes at once.
                if !super::cache::insert_fits(cx.s, id, n) {
                    cx.note(format!("a cached object holds at most {} bytes (the platform's 100 MB)", crate::cache::MAX_OBJECT_BYTES));
                    return Err(Status::LIMITEXCEEDED.into());
                }
                super::cache::insert_write(cx.s, id, &bytes);
                cx.mem.write_u32(nwritten_out, n as u32)?;
                cx.result("nwritten", ArgValue::Int(n as i64));
                return Ok(Status::OK.0);
            }
            if !cx.s.admit_body_bytes(n) {
                cx.note(Session::body_limit_note());
                return Err(Status::LIMITEXCEEDED.into());
            }
            cx.mem.write_u32(nwritten_out, n as u32)?;
            let b = body_mut(cx, "body", body)?;
            let pos = b.pos.min(b.data.len());
            b.data.drain(..pos);
            b.pos = 0;
            if end == 1 {
                b.data.splice(0..0, bytes);
            } else {
                b.data.extend_from_slice(&bytes);
            }
            b.known_length = b.known_length.map(|l| l.saturating_add(n as u64));
            cx.result("nwritten", ArgValue::Int(n as i64));
            Ok(Status::OK.0)
        }

        ["fastly_http_body" :: "append", "env" :: "xqd_body_append"]
        fn(cx, dst: u32, src: u32) -> i32 {
            let dst_sink = body_mut(cx, "dst", dst)?.sink;
            buffer_body(cx, "src", src, "appended to another body")?;
            if dst == src {
                cx.note("cannot append a body to itself");
                return Err(Status::BADF.into());
            }
            let incoming = cx.s.http.bodies.get(src).and_then(|b| b.incoming);
            let dst_incoming = cx.s.http.bodies.get(dst).and_then(|b| b.incoming);
            if incoming.is_some() && (dst_incoming.is_some() || matches!(dst_sink, BodySink::Upload(_) | BodySink::UploadStream(_))) {
                cx.note("this backend body is still arriving: it can be appended only to an ordinary body or the streaming response");
                return Err(Status::ERROR.into());
            }
            let mut from = cx.s.http.bodies.take(src).ok_or(Fault::Status(Status::BADF.0))?;
            let bytes = from.take_remaining();
            let to = cx.s.http.bodies.get_mut(dst).ok_or(Fault::Status(Status::BADF.0))?;
            for (n, v) in from.trailers.iter() {
                to.trailers.append(n, v);
            }
            if dst_sink == BodySink::Downstream {
                if let Some(i) = incoming {
                    // Forwarded as it arrives, after what came already.
                    if !bytes.is_empty() {
                        cx.s.emit(Output::BodyChunk(bytes));
                    }
                    cx.s.pipe_downstream(i.fetch, false);
                    return cx.suspend(Box::new(YieldNow(Status::OK.0)));
                }
                return stream_chunk(cx, bytes);
            }
            if let BodySink::UploadStream(fetch) = dst_sink {
                return upload_chunk(cx, fetch, bytes);
            }
            if let BodySink::CacheInsert(id) = dst_sink {
                // Readers of the object being inserted get the bytes at once (the rest
                // of a backend body still arriving, when its close drains it).
                super::cache::insert_write(cx.s, id, &bytes);
                if let (Some(i), Some(to)) = (incoming, cx.s.http.bodies.get_mut(dst)) {
                    to.incoming = Some(i);
                }
                return Ok(Status::OK.0);
            }
            let pos = to.pos.min(to.data.len());
            to.data.drain(..pos);
            to.pos = 0;
            to.known_length = match (to.known_length, from.known_length) {
                (Some(a), Some(_)) => Some(a.saturating_add(bytes.len() as u64)),
                _ => None,
            };
            to.data.extend_from_slice(&bytes);
            // The rest of a backend body still arriving now arrives into `dst`.
            if incoming.is_some() {
                to.incoming = incoming;
                to.known_length = None;
            }
            // An error `src` ends in now ends `dst` (after the bytes of both).
            if from.error.is_some() {
                to.error = to.error.take().or(from.error);
            }
            Ok(Status::OK.0)
        }

        ["fastly_http_body" :: "close", "env" :: "xqd_body_close", "env" :: "xqd_body_close_downstream"]
        fn(cx, body: u32) -> i32 {
            cx.handle_arg("body", HandleKind::Body, body);
            let mut b = cx.s.http.bodies.take(body).ok_or(Fault::Status(Status::BADF.0))?;
            if b.sink == BodySink::Downstream {
                cx.s.emit(Output::BodyEnd);
                cx.note("the streaming response is complete");
                return cx.suspend(Box::new(YieldNow(Status::OK.0)));
            }
            if let BodySink::UploadStream(fetch) = b.sink {
                cx.note("the streaming upload is complete");
                return upload_end(cx, fetch, false);
            }
            if let BodySink::CacheInsert(id) = b.sink {
                return super::cache::insert_body_closed(cx, id, b);
            }
            if b.sink == BodySink::HttpCacheInsert {
                return super::http_cache::insert_body_closed(cx, body, b);
            }
            if let BodySink::Upload(pending) = b.sink {
                let bytes = b.take_remaining();
                cx.note(format!("the streaming upload is complete ({} bytes): the request is sent now", bytes.len()));
                super::send::upload_closed(cx.s, pending, bytes);
            }
            Ok(Status::OK.0)
        }

        ["fastly_http_body" :: "abandon", "env" :: "xqd_body_abandon"]
        fn(cx, body: u32) -> i32 {
            cx.handle_arg("body", HandleKind::Body, body);
            let b = cx.s.http.bodies.take(body).ok_or(Fault::Status(Status::BADF.0))?;
            if b.sink == BodySink::Downstream {
                cx.s.emit(Output::BodyAbort);
                cx.note("the streaming response was abandoned: the client sees an incomplete body");
                return cx.suspend(Box::new(YieldNow(Status::OK.0)));
            }
            if let BodySink::UploadStream(fetch) = b.sink {
                cx.note("the streaming upload was abandoned: the origin sees an incomplete body");
                return upload_end(cx, fetch, true);
            }
            if let BodySink::CacheInsert(id) = b.sink {
                return super::cache::insert_body_abandoned(cx, id);
            }
            if b.sink == BodySink::HttpCacheInsert {
                cx.note("the cache insert was abandoned: nothing is stored");
                super::http_cache::insert_body_abandoned(cx.s, body);
                return Ok(Status::OK.0);
            }
            if let BodySink::Upload(pending) = b.sink {
                cx.note("the streaming upload was abandoned: its request fails");
                super::send::upload_abandoned(cx.s, pending);
            }
            Ok(Status::OK.0)
        }

        ["fastly_http_body" :: "known_length", "env" :: "xqd_body_known_length"]
        fn(cx, body: u32, length_out: u32) -> i32 {
            let b = body_mut(cx, "body", body)?;
            let len = match (b.sink, b.known_length) {
                (BodySink::Buffer, Some(l)) => l,
                _ => return Err(Status::NONE.into()),
            };
            cx.mem.write_u64(length_out, len)?;
            cx.result("length", ArgValue::Int(i64::try_from(len).unwrap_or(i64::MAX)));
            Ok(Status::OK.0)
        }

        ["fastly_http_body" :: "trailer_append", "env" :: "xqd_body_trailer_append"]
        fn(cx, body: u32, name_ptr: u32, name_len: u32, value_ptr: u32, value_len: u32) -> i32 {
            headers::insert_or_append(cx, Owner::Trailers(body), name_ptr, name_len, value_ptr, value_len, true)
        }

        ["fastly_http_body" :: "trailer_names_get", "env" :: "xqd_body_trailer_names_get"]
        fn(cx, body: u32, buf: u32, buf_len: u32, cursor: u32, ending_cursor_out: u32, nwritten_out: u32) -> i32 {
            trailers_readable(cx, body)?;
            headers::names_get(cx, Owner::Trailers(body), buf, buf_len, cursor, ending_cursor_out, nwritten_out)
        }

        ["fastly_http_body" :: "trailer_value_get", "env" :: "xqd_body_trailer_value_get"]
        fn(cx, body: u32, name_ptr: u32, name_len: u32, value: u32, value_max_len: u32, nwritten_out: u32) -> i32 {
            trailers_readable(cx, body)?;
            headers::value_get(cx, Owner::Trailers(body), name_ptr, name_len, value, value_max_len, nwritten_out)
        }

        ["fastly_http_body" :: "trailer_values_get", "env" :: "xqd_body_trailer_values_get"]
        fn(cx, body: u32, name_ptr: u32, name_len: u32, buf: u32, buf_len: u32, cursor: u32, ending_cursor_out: u32, nwritten_out: u32) -> i32 {
            trailers_readable(cx, body)?;
            headers::values_get(cx, Owner::Trailers(body), name_ptr, name_len, buf, buf_len, cursor, ending_cursor_out, nwritten_out)
        }
    }
    Ok(())
}
