//! The Fanout group of `fastly_http_req`: handing the client request to a proxy
//! instead of answering it.
//!
//! - `upgrade_websocket(backend)` (the oldest form), `redirect_to_websocket_proxy(backend)`
//!   and `redirect_to_websocket_proxy_v2(req, backend)`: the WebSocket proxy, which
//!   relays the upgraded client connection to the backend.
//! - `redirect_to_grip_proxy(backend)` and `redirect_to_grip_proxy_v2(req, backend)`:
//!   Fanout's GRIP proxy in front of the backend.
//!
//! The call records the handoff ([`Output::Handoff`]) and counts as the response:
//! a later `send_downstream` answers ERROR, as on the platform (the SDK documents that
//! no other response can follow). The platform answers the client when the guest ends.
//! The request sent on is the client's (the legacy calls) or the guest's request
//! `req` (the `_v2` calls: its method, path and headers), with the client's own
//! connection, WebSocket and framing headers kept (Viceroy's protected list), and
//! `Host` the backend's (its override, else its authority).
//!
//! Who performs it: `edgeplay serve`, which holds the client connection (see
//! `crates/cli/src/serve.rs`); every other driver answers 501 with the reason
//! ([`crate::http::Handoff::without_connection`]): the tab has no raw sockets, and
//! `request`/`run` have no client connection.
//!
//! Statuses: an unknown backend is INVAL (Viceroy accepts it and answers 500 when the
//! guest ends: edgeplay's choice, so the guest learns it); a `_v2` request handle
//! that is not live is BADF; a second handoff, or one after a response was sent,
//! ERROR; a name that is not UTF-8 INVAL.

use super::{Cx, HostResult, Registry};
use crate::http::{Handoff, HandoffKind, Headers, Output};
use crate::status::Status;
use crate::trace::{ArgValue, HandleKind};

/// Request headers the proxied request keeps from the client's, whatever the guest's
/// request says (Viceroy's list: connection and WebSocket control, framing, hop by hop).
const PROTECTED: &[&str] = &[
    "host",
    "connection",
    "sec-websocket-version",
    "sec-websocket-key",
    "upgrade",
    "pushpin-route",
    "content-length",
    "content-range",
    "expect",
    "fastly-ff",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "cdn-loop",
];

fn protected(name: &str) -> bool {
    PROTECTED.iter().any(|p| p.eq_ignore_ascii_case(name))
}

/// The path and query of an absolute or origin-form URL.
fn path_and_query(url: &str) -> String {
    match url.parse::<http::Uri>() {
        Ok(u) => u
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into()),
        Err(_) => "/".into(),
    }
}

/// Record a handoff of the client request (or of the guest's request `req`) to
/// `kind` through the backend named at `ptr`.
fn handoff(cx: &mut Cx<'_>, kind: HandoffKind, req: Option<u32>, ptr: u32, len: u32) -> HostResult {
    cx.arg("proxy", ArgValue::Enum(format!("{kind:?}")));
    let guest_req = match req {
        Some(h) => {
            cx.handle_arg("req", HandleKind::Request, h);
            match cx.s.http.requests.get(h) {
                Some(r) => Some(r.clone()),
                None => return Err(Status::BADF.into()),
            }
        }
        None => None,
    };
    let name = cx.str_arg("backend", ptr, len)?;
    let backend = match crate::pending::resolve_checked(cx.s, &name) {
        Ok(b) => b,
        Err(e) => {
            cx.note(e);
            return Err(Status::INVAL.into());
        }
    };
    if cx.s.response_sent {
        cx.note("a response was already sent downstream (or the request handed off)");
        return Err(Status::ERROR.into());
    }
    let client = &cx.s.downstream.request;
    let (method, url, mut headers) = match guest_req {
        Some(r) => {
            let mut headers = Headers::new();
            for (n, v) in client.headers.iter() {
                if protected(n) {
                    headers.append(n, v);
                }
            }
            for (n, v) in r.headers.iter() {
                if !protected(n) {
                    headers.append(n, v);
                }
            }
            (r.method, r.uri, headers)
        }
        None => (
            client.method.clone(),
            client.url.clone(),
            client.headers.clone(),
        ),
    };
    let host = backend
        .override_host
        .clone()
        .unwrap_or_else(|| backend.authority.clone());
    headers.insert("host", host.as_bytes());
    let h = Handoff {
        kind,
        backend: name.clone(),
        origin: format!("{}://{}:{}", backend.scheme, backend.host, backend.port),
        path_prefix: backend.path_prefix.clone(),
        host,
        method,
        path_and_query: path_and_query(&url),
        headers,
    };
    cx.note(format!(
        "handed to {} through backend {name:?} ({}); it answers the client when the guest ends (edgeplay serve only)",
        kind.label(),
        h.origin
    ));
    cx.s.response_sent = true;
    cx.s.emit(Output::Handoff(h));
    Ok(Status::OK.0)
}

/// Link the Fanout calls of `fastly_http_req`.
pub(crate) fn link(reg: &mut Registry) -> Result<(), wasmi::errors::LinkerError> {
    super::hostcalls! { reg;
        ["fastly_http_req" :: "upgrade_websocket", "fastly_http_req" :: "redirect_to_websocket_proxy"]
        fn(cx, backend: u32, backend_len: u32) -> i32 {
            handoff(cx, HandoffKind::WebSocket, None, backend, backend_len)
        }

        ["fastly_http_req" :: "redirect_to_websocket_proxy_v2"]
        fn(cx, req: u32, backend: u32, backend_len: u32) -> i32 {
            handoff(cx, HandoffKind::WebSocket, Some(req), backend, backend_len)
        }

        ["fastly_http_req" :: "redirect_to_grip_proxy"]
        fn(cx, backend: u32, backend_len: u32) -> i32 {
            handoff(cx, HandoffKind::Grip, None, backend, backend_len)
        }

        ["fastly_http_req" :: "redirect_to_grip_proxy_v2"]
        fn(cx, req: u32, backend: u32, backend_len: u32) -> i32 {
            handoff(cx, HandoffKind::Grip, Some(req), backend, backend_len)
        }
    }
    Ok(())
}
