//! `fastly_http_resp`: responses the guest builds, and sending one downstream.
//!
//! `send_downstream(resp, body, streaming)` consumes the response handle and emits
//! [`Output::Response`]. With `streaming = 0` it also consumes the body and emits it
//! whole ([`Output::BodyChunk`], [`Output::BodyEnd`]). With `streaming = 1` the body
//! handle stays live as the streaming response body: bytes already in it go out as a
//! first chunk, and later writes are streamed (see [`super::http_body`]). Either way the
//! guest yields right after, so the driver forwards the head at once.
//!
//! As in Viceroy: a second response answers ERROR; a 1xx status other than 103 answers
//! INVAL; a 103 Early Hints response is accepted and a final response can still
//! follow; `status_set` outside 100..=999 answers INVAL;
//! `get_addr_dest_ip`/`_port` answer NONE (a response the guest made has no backend
//! connection). Unlike Viceroy, which answers UNSUPPORTED to
//! `http_keepalive_mode_set(no_keepalive)`, edgeplay accepts both modes, as the
//! platform does.
//!
//! The response's `framing_headers_mode` applies as it is sent
//! ([`crate::collect::apply_response_framing`]): automatic framing drops the guest's
//! `content-length` and `transfer-encoding`; manual framing keeps valid ones, and the
//! trace notes a fallback or a `content-length` that does not match a whole body.
//!
//! A 103 sent with `send_downstream`, and Fastlike's `send_informational_response(resp,
//! status)` (any 1xx but 101; the handle stays live), emit [`Output::Informational`]:
//! `serve` writes it to an HTTP/1.1 client before the final response (Viceroy and
//! Fastlike log and drop it), `request --json` lists it under `informational`.
//!
//! `send_downstream_pending(pending)` sends a pending backend request's response
//! downstream when it arrives (an error response, 502 or 504, if the request fails,
//! as Viceroy). Viceroy lets the guest go on at once and forwards the response in the
//! background; edgeplay's drivers stop at the guest's end, so the guest waits in this
//! call until the response is there (see `send::deliver_downstream`).
//!
//! `get_addr_dest_ip`/`_port` answer the backend address of a response that came from
//! a backend over the network (when the driver knows it), NONE otherwise (a response
//! the guest made, a mock's). Viceroy answers only for requests sent with a `pass`
//! cache override, as the platform does; edgeplay answers for every backend response.

use super::headers::{self, Owner};
use super::http_req::framing_mode_name;
use super::{Cx, Fault, HostResult, Registry};
use crate::collect::{apply_response_framing, Framing};
use crate::http::{HttpVersion, Output, ResponseHead};
use crate::session::{AsyncItem, BodySink, PendingState, ResponseParts, YieldNow};
use crate::status::Status;
use crate::trace::{ArgValue, HandleKind};

/// Record a response handle argument and check it is live (BADF otherwise).
fn resp_mut<'a>(cx: &'a mut Cx<'_>, h: u32) -> HostResult<&'a mut ResponseParts> {
    cx.handle_arg("resp", HandleKind::Response, h);
    cx.s.http
        .responses
        .get_mut(h)
        .ok_or(Fault::Status(Status::BADF.0))
}

/// Emit an informational response: its status and headers, no body.
fn emit_informational(cx: &mut Cx<'_>, status: u16, headers: &crate::http::Headers) {
    let mut headers = headers.clone();
    headers.remove("content-length");
    headers.remove("transfer-encoding");
    cx.s.emit(Output::Informational(ResponseHead {
        status,
        version: HttpVersion::Http11,
        headers,
        streaming: false,
    }));
    cx.note(format!(
        "informational {status} sent before the final response (`serve` writes it on an HTTP/1.1 connection; `request --json` lists it)"
    ));
}

/// `send_informational_response(resp, status)` (Fastlike's call): send `resp`'s
/// headers with `status`, a 1xx other than 101, before the final response. The
/// response handle stays the guest's (as in Fastlike). INVAL for another status,
/// ERROR once the final response was sent.
fn send_informational(cx: &mut Cx<'_>, resp: u32, status: u32) -> HostResult {
    let headers = resp_mut(cx, resp)?.headers.clone();
    cx.arg("status", ArgValue::Int(i64::from(status)));
    let status = match u16::try_from(status) {
        Ok(s) if (100..200).contains(&s) && s != 101 => s,
        _ => {
            cx.note("an informational response is a 1xx status other than 101");
            return Err(Status::INVAL.into());
        }
    };
    if cx.s.response_sent {
        cx.note("the final response was already sent downstream");
        return Err(Status::ERROR.into());
    }
    emit_informational(cx, status, &headers);
    Ok(Status::OK.0)
}

/// `send_downstream`: see the module documentation.
fn send_downstream(cx: &mut Cx<'_>, resp: u32, body: u32, streaming: u32) -> HostResult {
    resp_mut(cx, resp)?;
    cx.handle_arg("body", HandleKind::Body, body);
    let streaming = streaming == 1;
    cx.arg(
        "streaming",
        ArgValue::Enum(if streaming { "streaming" } else { "whole" }.into()),
    );
    let body_sink = match cx.s.http.bodies.get(body) {
        Some(b) => b.sink,
        None => return Err(Status::BADF.into()),
    };
    if body_sink == BodySink::Downstream {
        cx.note("this body is already the streaming response body");
        return Err(Status::BADF.into());
    }
    if body_sink.is_streaming() {
        cx.note("this body is the streaming upload of a backend request");
        return Err(Status::BADF.into());
    }
    // From here on both handles are consumed, whatever the outcome (as in Viceroy).
    let parts =
        cx.s.http
            .responses
            .take(resp)
            .ok_or(Fault::Status(Status::BADF.0))?;
    cx.arg("status", ArgValue::Int(parts.status as i64));
    if parts.status == 103 {
        cx.s.http.bodies.take(body);
        if cx.s.response_sent {
            cx.note("a response was already sent downstream");
            return Err(Status::ERROR.into());
        }
        emit_informational(cx, parts.status, &parts.headers);
        return Ok(Status::OK.0);
    }
    if (100..200).contains(&parts.status) {
        cx.s.http.bodies.take(body);
        cx.note("only 103 may be sent as an informational response");
        return Err(Status::INVAL.into());
    }
    if cx.s.response_sent {
        cx.s.http.bodies.take(body);
        cx.note("a response was already sent downstream");
        return Err(Status::ERROR.into());
    }
    cx.s.response_sent = true;
    let mut headers = parts.headers;
    let mut notes: Vec<String> = Vec::new();
    notes.extend(apply_response_framing(&mut headers, parts.framing_mode));
    let head = ResponseHead {
        status: parts.status,
        version: parts.version,
        headers,
        streaming,
    };
    let framing = head.framing();
    cx.s.emit(Output::Response(head));
    if streaming {
        let b =
            cx.s.http
                .bodies
                .get_mut(body)
                .ok_or(Fault::Status(Status::BADF.0))?;
        let buffered = b.take_remaining();
        b.data.clear();
        b.pos = 0;
        b.sink = BodySink::Downstream;
        b.known_length = None;
        let incoming = b.incoming.take();
        if !buffered.is_empty() {
            cx.s.emit(Output::BodyChunk(buffered));
        }
        if let Some(i) = incoming {
            // The rest of a backend body goes on arriving; the guest may write after it.
            cx.s.pipe_downstream(i.fetch, false);
        }
        notes.push("streaming: the body handle stays writable until close or abandon".into());
    } else {
        let mut b =
            cx.s.http
                .bodies
                .take(body)
                .ok_or(Fault::Status(Status::BADF.0))?;
        let bytes = b.take_remaining();
        if let Framing::Length(n) = framing {
            let len = bytes.len() as u64;
            if len > n {
                notes.push(format!("manual framing: content-length {n} but the body has {len} bytes: the client gets the first {n}"));
            } else if len < n {
                notes.push(format!("manual framing: content-length {n} but the body has {len} bytes: the connection is closed after them"));
            }
        }
        if !bytes.is_empty() {
            cx.s.emit(Output::BodyChunk(bytes));
        }
        match b.incoming {
            // A backend body still arriving: forwarded as it comes, while the guest goes on.
            Some(i) => {
                cx.s.pipe_downstream(i.fetch, true);
                notes.push("the backend body is forwarded as it arrives".into());
            }
            None => cx.s.emit(Output::BodyEnd),
        }
    }
    if !notes.is_empty() {
        cx.note(notes.join("; "));
    }
    cx.suspend(Box::new(YieldNow(Status::OK.0)))
}

/// Link the `fastly_http_resp` hostcalls, and their legacy `env.xqd_*` twins whose
/// signature is the same.
pub(crate) fn link(reg: &mut Registry) -> Result<(), wasmi::errors::LinkerError> {
    super::hostcalls! { reg;
        ["fastly_http_resp" :: "new", "env" :: "xqd_resp_new"]
        fn(cx, resp_out: u32) -> i32 {
            let h = cx.s.http.responses.insert(ResponseParts::empty())
                .ok_or(Fault::Status(Status::LIMITEXCEEDED.0))?;
            if let Err(e) = cx.mem.write_u32(resp_out, h) {
                cx.s.http.responses.take(h);
                return Err(e.into());
            }
            cx.handle_result("handle", HandleKind::Response, h);
            Ok(Status::OK.0)
        }

        ["fastly_http_resp" :: "close", "env" :: "xqd_resp_close"]
        fn(cx, resp: u32) -> i32 {
            cx.handle_arg("resp", HandleKind::Response, resp);
            match cx.s.http.responses.take(resp) {
                Some(_) => Ok(Status::OK.0),
                None => Err(Status::BADF.into()),
            }
        }

        ["fastly_http_resp" :: "status_get", "env" :: "xqd_resp_status_get"]
        fn(cx, resp: u32, status_out: u32) -> i32 {
            let st = resp_mut(cx, resp)?.status;
            cx.mem.write_u16(status_out, st)?;
            cx.result("status", ArgValue::Int(st as i64));
            Ok(Status::OK.0)
        }

        ["fastly_http_resp" :: "status_set", "env" :: "xqd_resp_status_set"]
        fn(cx, resp: u32, status: u32) -> i32 {
            resp_mut(cx, resp)?;
            let Some(st) = u16::try_from(status).ok().filter(|s| (100..=999).contains(s)) else {
                cx.note(format!("{status} is not a status code (100..=999)"));
                return Err(Status::INVAL.into());
            };
            resp_mut(cx, resp)?.status = st;
            Ok(Status::OK.0)
        }

        ["fastly_http_resp" :: "version_get", "env" :: "xqd_resp_version_get"]
        fn(cx, resp: u32, version_out: u32) -> i32 {
            let v = resp_mut(cx, resp)?.version;
            cx.mem.write_u32(version_out, v as u32)?;
            cx.result("version", ArgValue::Enum(v.as_str().into()));
            Ok(Status::OK.0)
        }

        ["fastly_http_resp" :: "version_set", "env" :: "xqd_resp_version_set"]
        fn(cx, resp: u32, version: u32) -> i32 {
            resp_mut(cx, resp)?;
            let Some(v) = HttpVersion::from_abi(version) else {
                cx.arg("version", ArgValue::Enum(format!("invalid({version})")));
                return Err(Status::INVAL.into());
            };
            cx.arg("version", ArgValue::Enum(v.as_str().into()));
            resp_mut(cx, resp)?.version = v;
            Ok(Status::OK.0)
        }

        ["fastly_http_resp" :: "header_names_get", "env" :: "xqd_resp_header_names_get"]
        fn(cx, resp: u32, buf: u32, buf_len: u32, cursor: u32, ending_cursor_out: u32, nwritten_out: u32) -> i32 {
            headers::names_get(cx, Owner::Response(resp), buf, buf_len, cursor, ending_cursor_out, nwritten_out)
        }

        ["fastly_http_resp" :: "header_value_get", "env" :: "xqd_resp_header_value_get"]
        fn(cx, resp: u32, name_ptr: u32, name_len: u32, value: u32, value_max_len: u32, nwritten_out: u32) -> i32 {
            headers::value_get(cx, Owner::Response(resp), name_ptr, name_len, value, value_max_len, nwritten_out)
        }

        ["fastly_http_resp" :: "header_values_get", "env" :: "xqd_resp_header_values_get"]
        fn(cx, resp: u32, name_ptr: u32, name_len: u32, buf: u32, buf_len: u32, cursor: u32, ending_cursor_out: u32, nwritten_out: u32) -> i32 {
            headers::values_get(cx, Owner::Response(resp), name_ptr, name_len, buf, buf_len, cursor, ending_cursor_out, nwritten_out)
        }

        ["fastly_http_resp" :: "header_values_set", "env" :: "xqd_resp_header_values_set"]
        fn(cx, resp: u32, name_ptr: u32, name_len: u32, values_ptr: u32, values_len: u32) -> i32 {
            headers::values_set(cx, Owner::Response(resp), name_ptr, name_len, values_ptr, values_len)
        }

        ["fastly_http_resp" :: "header_insert", "env" :: "xqd_resp_header_insert"]
        fn(cx, resp: u32, name_ptr: u32, name_len: u32, value_ptr: u32, value_len: u32) -> i32 {
            headers::insert_or_append(cx, Owner::Response(resp), name_ptr, name_len, value_ptr, value_len, false)
        }

        ["fastly_http_resp" :: "header_append", "env" :: "xqd_resp_header_append"]
        fn(cx, resp: u32, name_ptr: u32, name_len: u32, value_ptr: u32, value_len: u32) -> i32 {
            headers::insert_or_append(cx, Owner::Response(resp), name_ptr, name_len, value_ptr, value_len, true)
        }

        ["fastly_http_resp" :: "header_remove", "env" :: "xqd_resp_header_remove"]
        fn(cx, resp: u32, name_ptr: u32, name_len: u32) -> i32 {
            headers::remove(cx, Owner::Response(resp), name_ptr, name_len)
        }

        ["fastly_http_resp" :: "framing_headers_mode_set", "env" :: "xqd_resp_framing_headers_mode_set"]
        fn(cx, resp: u32, mode: u32) -> i32 {
            resp_mut(cx, resp)?;
            cx.arg("mode", ArgValue::Enum(framing_mode_name(mode)));
            if mode > 1 {
                return Err(Status::INVAL.into());
            }
            resp_mut(cx, resp)?.framing_mode = mode;
            Ok(Status::OK.0)
        }

        ["fastly_http_resp" :: "http_keepalive_mode_set", "env" :: "xqd_resp_http_keepalive_mode_set"]
        fn(cx, resp: u32, mode: u32) -> i32 {
            resp_mut(cx, resp)?;
            let name = match mode {
                0 => "automatic".to_string(),
                1 => "no_keepalive".to_string(),
                n => format!("invalid({n})"),
            };
            cx.arg("mode", ArgValue::Enum(name));
            if mode > 1 {
                return Err(Status::INVAL.into());
            }
            resp_mut(cx, resp)?.keepalive_mode = mode;
            Ok(Status::OK.0)
        }

        ["fastly_http_resp" :: "send_downstream", "env" :: "xqd_resp_send_downstream"]
        fn(cx, resp: u32, body: u32, streaming: u32) -> i32 {
            send_downstream(cx, resp, body, streaming)
        }

        ["fastly_http_resp" :: "get_addr_dest_ip", "env" :: "xqd_resp_get_addr_dest_ip"]
        fn(cx, resp: u32, addr_out: u32, nwritten_out: u32) -> i32 {
            let Some(addr) = resp_mut(cx, resp)?.remote_addr else {
                cx.note("this response did not come from a backend connection");
                return Err(Status::NONE.into());
            };
            super::http_downstream::write_ip(cx, addr.ip(), addr_out, nwritten_out)
        }

        ["fastly_http_resp" :: "get_addr_dest_port", "env" :: "xqd_resp_get_addr_dest_port"]
        fn(cx, resp: u32, port_out: u32) -> i32 {
            let Some(addr) = resp_mut(cx, resp)?.remote_addr else {
                cx.note("this response did not come from a backend connection");
                return Err(Status::NONE.into());
            };
            cx.mem.write_u16(port_out, addr.port())?;
            cx.result("port", ArgValue::Int(i64::from(addr.port())));
            Ok(Status::OK.0)
        }

        ["fastly_http_resp" :: "send_informational_response"]
        fn(cx, resp: u32, status: u32) -> i32 {
            send_informational(cx, resp, status)
        }

        ["fastly_http_resp" :: "send_downstream_pending"]
        fn(cx, pending: u32) -> i32 {
            cx.handle_arg("pending", HandleKind::PendingRequest, pending);
            let state = match cx.s.pending.async_items.get(&pending) {
                Some(AsyncItem::Pending(p)) => &p.state,
                _ => return Err(Status::BADF.into()),
            };
            if matches!(state, PendingState::AwaitingBody { .. }) {
                cx.note("the request's streaming body is still open: close it first");
                return Err(Status::ERROR.into());
            }
            if cx.s.response_sent {
                cx.note("a response was already sent downstream");
                return Err(Status::ERROR.into());
            }
            super::wait::wait(cx, vec![pending], None, super::wait::Finish::Downstream)
        }
    }
    Ok(())
}
