//! `fastly_http_downstream`: what the platform knows about the client request (client
//! and server address, request id, TLS, original header names, bot detection), and
//! the reusable-sandbox calls (`next_request*`).
//!
//! The metadata getters take a request handle. As in Viceroy, only the downstream
//! request handle (from `http_req.body_downstream_get`) carries metadata, and keeps it
//! after the request itself was sent or closed; another live request answers ERROR and
//! an unknown handle BADF. The legacy handle-less getters of `fastly_http_req` share
//! these bodies (pass `None`).
//!
//! Defaults follow Viceroy: a plain-HTTP connection, so every TLS getter, the
//! fingerprints and the proxy/VPN intelligence answer NONE; the compliance region is
//! `none`; DDoS detection says 0; bot detection reads the client's own
//! `x-fastly-bot-*` request headers (so a playground user can simulate it), and
//! `downstream_bot_analyzed` is 0 without them. `fastly_key_is_valid` is 1 when the
//! request's `fastly-key` header is one of `[local_server] fake_valid_fastly_keys`
//! (Viceroy's key; none by default).
//!
//! Reusable sandboxes: `next_request` gives a promise, and `next_request_wait` (once
//! the current response is out) asks the platform for a further downstream request
//! ([`WorkKind::NextRequest`]) when it reuses sandboxes (`edgeplay serve`); the guest
//! gets fresh request and body handles for it, and the metadata getters answer for it
//! from then on. As in Viceroy, an instance accepts at most
//! [`crate::limits::MAX_FURTHER_REQUESTS`] further requests and waits at most 10 s.
//! Elsewhere (the one-shot runner, the tab) and past the limits it answers NONE (no
//! further request): the guest ends and the next request gets a fresh instance.
//! `downstream_visits_this_service`/`_pop` count the visits of this request (the
//! witx's `num_hops`): 1 plus the times it already passed through this service, read
//! from edgeplay's `cdn-loop` tokens (the count loop detection uses); edgeplay is one
//! POP, so both answer the same (Viceroy: UNSUPPORTED).

use super::headers::write_str_out;
use super::{Cx, Fault, HostResult, Registry};
use crate::http::DownstreamRequest;
use crate::memory::GuestMem;
use crate::session::{AsyncItem, Blocked, Session};
use crate::status::Status;
use crate::trace::{ArgValue, EventKind, HandleKind, TraceEvent};
use crate::work::{WorkId, WorkKind, WorkResult};
use std::net::IpAddr;

/// The compliance region Viceroy reports for every request.
pub const COMPLIANCE_REGION: &str = "none";

/// `next_request_options_mask` bits this host knows: reserved (0) and timeout (1).
const NEXT_REQUEST_KNOWN_BITS: u32 = 0b11;

/// Check that `h` (or, for the legacy calls, `None`) names the downstream request and
/// record it. BADF for an unknown handle, ERROR for a request with no downstream metadata.
pub(crate) fn check_meta(cx: &mut Cx<'_>, h: Option<u32>) -> HostResult<()> {
    let Some(h) = h else { return Ok(()) };
    cx.handle_arg("req", HandleKind::Request, h);
    if cx.s.downstream.req_handle == Some(h) {
        return Ok(());
    }
    if cx.s.http.requests.contains(h) {
        cx.note("this request did not come from the client: it has no downstream metadata");
        return Err(Status::ERROR.into());
    }
    Err(Status::BADF.into())
}

/// A metadata value Viceroy does not have (TLS on a plain-HTTP connection, fingerprints,
/// proxy/VPN intelligence): NONE after the handle checks.
pub(crate) fn absent(cx: &mut Cx<'_>, h: Option<u32>, what: &str) -> HostResult {
    check_meta(cx, h)?;
    cx.note(format!(
        "{what}: not available for a plain-HTTP client connection"
    ));
    Err(Status::NONE.into())
}

/// Write an address as 4 or 16 octets and their count, recording it as `addr`.
pub(crate) fn write_ip(cx: &mut Cx<'_>, ip: IpAddr, out: u32, nwritten_out: u32) -> HostResult {
    let octets: Vec<u8> = match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    };
    cx.mem.write(out, &octets)?;
    cx.mem.write_u32(nwritten_out, octets.len() as u32)?;
    cx.result("addr", ArgValue::Str(ip.to_string()));
    Ok(Status::OK.0)
}

/// `downstream_client_ip_addr` / `downstream_server_ip_addr`: the address `which` picks
/// from the client request, as 4 or 16 octets and their count.
pub(crate) fn ip_addr(
    cx: &mut Cx<'_>,
    h: Option<u32>,
    which: fn(&DownstreamRequest) -> IpAddr,
    out: u32,
    nwritten_out: u32,
) -> HostResult {
    check_meta(cx, h)?;
    let ip = which(&cx.s.downstream.request);
    write_ip(cx, ip, out, nwritten_out)
}

/// `downstream_client_request_id`: the request id (32 hex digits).
pub(crate) fn request_id(
    cx: &mut Cx<'_>,
    h: Option<u32>,
    buf: u32,
    buf_len: u32,
    nwritten_out: u32,
) -> HostResult {
    check_meta(cx, h)?;
    let id = cx.s.downstream.request_id.clone();
    write_str_out(cx, "request_id", id.as_bytes(), buf, buf_len, nwritten_out)
}

/// `downstream_compliance_region`: `none`, as Viceroy answers.
pub(crate) fn compliance_region(
    cx: &mut Cx<'_>,
    h: Option<u32>,
    buf: u32,
    buf_len: u32,
    nwritten_out: u32,
) -> HostResult {
    check_meta(cx, h)?;
    write_str_out(
        cx,
        "region",
        COMPLIANCE_REGION.as_bytes(),
        buf,
        buf_len,
        nwritten_out,
    )
}

/// `downstream_client_ddos_detected`: always 0. Viceroy answers 0 without looking at the
/// handle, and so does edgeplay.
pub(crate) fn ddos_detected(cx: &mut Cx<'_>, h: Option<u32>, out: u32) -> HostResult {
    if let Some(h) = h {
        cx.handle_arg("req", HandleKind::Request, h);
    }
    cx.mem.write_u32(out, 0)?;
    cx.result("ddos_detected", ArgValue::Int(0));
    Ok(Status::OK.0)
}

/// `fastly_key_is_valid`: 1 when the request's `fastly-key` header is one of the
/// configured `fake_valid_fastly_keys`, as in Viceroy. With a handle, the request must
/// be live (BADF otherwise); without (the legacy call), it is the downstream request,
/// as the guest holds it now.
pub(crate) fn fastly_key_is_valid(cx: &mut Cx<'_>, h: Option<u32>, out: u32) -> HostResult {
    let original =
        cx.s.downstream
            .request
            .headers
            .get("fastly-key")
            .map(<[u8]>::to_vec);
    let key = match h {
        Some(h) => {
            cx.handle_arg("req", HandleKind::Request, h);
            match cx.s.http.requests.get(h) {
                Some(r) => r.headers.get("fastly-key").map(<[u8]>::to_vec),
                None => return Err(Status::BADF.into()),
            }
        }
        None => match cx
            .s
            .downstream
            .req_handle
            .and_then(|d| cx.s.http.requests.get(d))
        {
            Some(r) => r.headers.get("fastly-key").map(<[u8]>::to_vec),
            None => original,
        },
    };
    let valid = key.is_some_and(|k| {
        cx.s.config
            .fake_valid_fastly_keys
            .iter()
            .any(|v| v.as_bytes() == k.as_slice())
    });
    cx.mem.write_u32(out, u32::from(valid))?;
    cx.result("is_valid", ArgValue::Int(i64::from(valid)));
    if cx.s.config.fake_valid_fastly_keys.is_empty() {
        cx.note("no fake_valid_fastly_keys are configured");
    }
    Ok(Status::OK.0)
}

/// The original header names: as received, with their case, each name once.
fn original_names(cx: &Cx<'_>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for n in &cx.s.downstream.request.original_header_names {
        if !out.iter().any(|o| o.eq_ignore_ascii_case(n)) {
            out.push(n.clone());
        }
    }
    out
}

/// `downstream_original_header_names` (and the legacy `original_header_names_get`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn original_header_names(
    cx: &mut Cx<'_>,
    h: Option<u32>,
    buf: u32,
    buf_len: u32,
    cursor: u32,
    ending_cursor_out: u32,
    nwritten_out: u32,
) -> HostResult {
    check_meta(cx, h)?;
    let names = original_names(cx);
    Ok(cx
        .mem
        .write_multi(
            &names,
            buf,
            buf_len,
            cursor,
            ending_cursor_out,
            nwritten_out,
        )?
        .0)
}

/// `downstream_original_header_count`: header lines as received.
pub(crate) fn original_header_count(cx: &mut Cx<'_>, h: Option<u32>, out: u32) -> HostResult {
    check_meta(cx, h)?;
    let n = cx.s.downstream.request.original_header_names.len();
    let n = u32::try_from(n).unwrap_or(u32::MAX);
    cx.mem.write_u32(out, n)?;
    cx.result("count", ArgValue::Int(n as i64));
    Ok(Status::OK.0)
}

/// The client's `x-fastly-bot-*` header, as text.
fn bot_header(cx: &Cx<'_>, suffix: &str) -> Option<String> {
    let name = format!("x-fastly-bot-{suffix}");
    cx.s.downstream
        .request
        .headers
        .get(&name)
        .and_then(|v| std::str::from_utf8(v).ok())
        .map(str::to_owned)
}

/// A bot-detection flag: 1 when the header says `true`; `absent_is_none` answers NONE
/// when the header is missing (else 0).
fn bot_flag(cx: &mut Cx<'_>, h: u32, suffix: &str, out: u32, absent_is_none: bool) -> HostResult {
    check_meta(cx, Some(h))?;
    let v = match bot_header(cx, suffix) {
        Some(v) => u32::from(v == "true"),
        None if absent_is_none => {
            cx.note(format!(
                "no x-fastly-bot-{suffix} header on the client request"
            ));
            return Err(Status::NONE.into());
        }
        None => 0,
    };
    cx.mem.write_u32(out, v)?;
    cx.result(suffix_static(suffix), ArgValue::Int(v as i64));
    Ok(Status::OK.0)
}

fn suffix_static(suffix: &str) -> &'static str {
    match suffix {
        "analyzed" => "analyzed",
        "detected" => "detected",
        "verified" => "verified",
        _ => "value",
    }
}

/// A bot-detection string (`name`, `category`): NONE when the header is missing.
fn bot_text(
    cx: &mut Cx<'_>,
    h: u32,
    suffix: &'static str,
    buf: u32,
    buf_len: u32,
    nwritten_out: u32,
) -> HostResult {
    check_meta(cx, Some(h))?;
    let Some(v) = bot_header(cx, suffix) else {
        cx.note(format!(
            "no x-fastly-bot-{suffix} header on the client request"
        ));
        return Err(Status::NONE.into());
    };
    write_str_out(cx, suffix, v.as_bytes(), buf, buf_len, nwritten_out)
}

/// The `bot_category_kind` number of a category name (or number), as Viceroy maps it.
pub fn bot_category_kind(category: &str) -> Option<u32> {
    const KINDS: [&str; 15] = [
        "none",
        "suspected",
        "accessibility",
        "ai-crawler",
        "ai-fetcher",
        "content-fetcher",
        "monitoring-site-tools",
        "online-marketing",
        "page-preview",
        "platform-integration",
        "research",
        "search-engine-crawler",
        "search-engine-optimization",
        "security-tools",
        "headless",
    ];
    let c = category.to_ascii_lowercase();
    match KINDS.iter().position(|k| *k == c) {
        Some(i) => u32::try_from(i).ok(),
        None => c.parse().ok(),
    }
}

/// Consume a request-promise handle argument: BADF unless live.
fn take_promise(cx: &mut Cx<'_>, h: u32) -> HostResult<()> {
    cx.handle_arg("promise", HandleKind::RequestPromise, h);
    match cx.s.pending.async_items.get(&h) {
        Some(AsyncItem::RequestPromise) => {
            cx.s.pending.async_items.remove(&h);
            Ok(())
        }
        _ => Err(Status::BADF.into()),
    }
}

/// `next_request_wait` of a reusable sandbox, waiting for the platform's answer.
struct NextWait {
    work: WorkId,
    req_out: u32,
    body_out: u32,
    /// What the trace event gets once it is over: results and a note.
    results: Vec<(&'static str, ArgValue)>,
    note: Option<String>,
}

impl Blocked for NextWait {
    fn poll(&mut self, mem: &mut GuestMem<'_>, s: &mut Session) -> Option<i32> {
        let result = s.work.take_result(self.work)?;
        let next = match result {
            WorkResult::NextRequest(Some(n)) => *n,
            _ => {
                self.note = Some("no further request came (or the server has no room for another waiting instance): the guest should end".into());
                return Some(Status::NONE.0);
            }
        };
        let url = next.request.url.clone();
        let method = next.request.method.clone();
        let Some((req, body)) = s.begin_request(next) else {
            self.note = Some("the handle tables are full".into());
            return Some(Status::LIMITEXCEEDED.0);
        };
        if mem.write_u32(self.req_out, req).is_err() || mem.write_u32(self.body_out, body).is_err()
        {
            return Some(Status::ERROR.0);
        }
        let index = s.downstream.index;
        let sandbox = s.reuse.sandbox.clone();
        let request_id = s.downstream.request_id.clone();
        let mut ev = s.event(EventKind::Lifecycle, "edgeplay", "next-request");
        ev.args = vec![
            ("request".into(), ArgValue::Int(i64::from(index))),
            ("sandbox".into(), ArgValue::Str(sandbox.clone())),
            ("request_id".into(), ArgValue::Str(request_id.clone())),
        ];
        ev.note = Some(format!(
            "sandbox {sandbox} serves request {index} ({method} {url}) of this instance"
        ));
        s.push_event(ev);
        self.results = vec![
            (
                "req",
                ArgValue::Handle {
                    kind: HandleKind::Request,
                    handle: req,
                },
            ),
            (
                "body",
                ArgValue::Handle {
                    kind: HandleKind::Body,
                    handle: body,
                },
            ),
            ("request", ArgValue::Int(i64::from(index))),
            ("sandbox", ArgValue::Str(sandbox)),
            ("request_id", ArgValue::Str(request_id)),
        ];
        self.note = Some(format!("a further request: {method} {url}"));
        Some(Status::OK.0)
    }

    fn annotate(&mut self, ev: &mut TraceEvent) {
        for (name, v) in self.results.drain(..) {
            ev.results.push((name.into(), v));
        }
        if let Some(n) = self.note.take() {
            ev.note = Some(n);
        }
    }
}

/// `next_request_wait` once the promise is taken: NONE when the platform does not
/// reuse sandboxes or a limit is reached, else suspend until the platform answers.
fn next_request_wait(cx: &mut Cx<'_>, req_out: u32, body_out: u32) -> HostResult {
    if !cx.s.reuse.enabled {
        cx.note("edgeplay runs one request per instance here: no further request (`edgeplay serve` reuses sandboxes)");
        return Err(Status::NONE.into());
    }
    if cx.s.downstream.index >= crate::limits::MAX_FURTHER_REQUESTS {
        cx.note(format!(
            "this instance has served {} requests, the most one sandbox serves (as in Viceroy): no further request",
            crate::limits::MAX_FURTHER_REQUESTS + 1
        ));
        return Err(Status::NONE.into());
    }
    if cx.s.response_streaming() {
        cx.note("the response to the current request is still streaming: edgeplay hands a further request only once it is complete");
        return Err(Status::NONE.into());
    }
    let timeout_ms = cx.s.reuse.timeout_ms;
    let wait = crate::limits::next_request_wait_ms(timeout_ms);
    cx.note(format!("waiting up to {} ms for a further request", wait));
    let work = cx.s.start_work(WorkKind::NextRequest { timeout_ms });
    cx.suspend(Box::new(NextWait {
        work,
        req_out,
        body_out,
        results: Vec::new(),
        note: None,
    }))
}

/// Link the `fastly_http_downstream` hostcalls, and their legacy `env.xqd_*` twins whose
/// signature is the same.
pub(crate) fn link(reg: &mut Registry) -> Result<(), wasmi::errors::LinkerError> {
    super::hostcalls! { reg;
        ["fastly_http_downstream" :: "next_request", "env" :: "xqd_http_downstream_next_request"]
        fn(cx, options_mask: u32, options: u32, handle_out: u32) -> i32 {
            cx.arg("options_mask", ArgValue::Flags(next_request_flags(options_mask)));
            if options_mask & !NEXT_REQUEST_KNOWN_BITS != 0 {
                cx.note("unknown next_request option bits");
                return Err(Status::INVAL.into());
            }
            // Viceroy reads the whole record whatever the mask says.
            let timeout_ms = cx.mem.read_u64(options)?;
            if options_mask & 0b10 != 0 {
                cx.arg("timeout_ms", ArgValue::Int(timeout_ms as i64));
            }
            if cx.s.pending.async_items.values().any(|i| matches!(i, AsyncItem::RequestPromise)) {
                cx.note("a request promise is already pending");
                return Err(Status::LIMITEXCEEDED.into());
            }
            let h = cx.s.insert_async(AsyncItem::RequestPromise).ok_or(Fault::Status(Status::LIMITEXCEEDED.0))?;
            if let Err(e) = cx.mem.write_u32(handle_out, h) {
                cx.s.pending.async_items.remove(&h);
                return Err(e.into());
            }
            cx.handle_result("handle", HandleKind::RequestPromise, h);
            cx.s.reuse.timeout_ms = (options_mask & 0b10 != 0).then_some(timeout_ms);
            if !cx.s.reuse.enabled {
                cx.note("edgeplay runs one request per instance: no further request will arrive");
            }
            Ok(Status::OK.0)
        }

        ["fastly_http_downstream" :: "next_request_wait", "env" :: "xqd_http_downstream_next_request_wait"]
        fn(cx, promise: u32, req_out: u32, body_out: u32) -> i32 {
            cx.handle_arg("promise", HandleKind::RequestPromise, promise);
            if !cx.s.response_sent {
                cx.note("cannot accept another request before answering the current one");
                return Err(Status::UNSUPPORTED.into());
            }
            take_promise(cx, promise)?;
            next_request_wait(cx, req_out, body_out)
        }

        ["fastly_http_downstream" :: "next_request_abandon", "env" :: "xqd_http_downstream_next_request_abandon"]
        fn(cx, promise: u32) -> i32 {
            take_promise(cx, promise)?;
            Ok(Status::OK.0)
        }

        ["fastly_http_downstream" :: "downstream_original_header_names", "env" :: "xqd_http_downstream_original_header_names"]
        fn(cx, req: u32, buf: u32, buf_len: u32, cursor: u32, ending_cursor_out: u32, nwritten_out: u32) -> i32 {
            original_header_names(cx, Some(req), buf, buf_len, cursor, ending_cursor_out, nwritten_out)
        }

        ["fastly_http_downstream" :: "downstream_original_header_count", "env" :: "xqd_http_downstream_original_header_count"]
        fn(cx, req: u32, count_out: u32) -> i32 {
            original_header_count(cx, Some(req), count_out)
        }

        ["fastly_http_downstream" :: "downstream_client_ip_addr"]
        fn(cx, req: u32, addr_out: u32, nwritten_out: u32) -> i32 {
            ip_addr(cx, Some(req), |r| r.client_ip, addr_out, nwritten_out)
        }

        ["fastly_http_downstream" :: "downstream_server_ip_addr"]
        fn(cx, req: u32, addr_out: u32, nwritten_out: u32) -> i32 {
            ip_addr(cx, Some(req), |r| r.server_ip, addr_out, nwritten_out)
        }

        ["fastly_http_downstream" :: "downstream_client_request_id"]
        fn(cx, req: u32, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            request_id(cx, Some(req), buf, buf_len, nwritten_out)
        }

        ["fastly_http_downstream" :: "downstream_compliance_region"]
        fn(cx, req: u32, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            compliance_region(cx, Some(req), buf, buf_len, nwritten_out)
        }

        ["fastly_http_downstream" :: "downstream_client_ddos_detected"]
        fn(cx, req: u32, out: u32) -> i32 {
            ddos_detected(cx, Some(req), out)
        }

        ["fastly_http_downstream" :: "downstream_visits_this_service", "fastly_http_downstream" :: "downstream_visits_this_pop"]
        fn(cx, visits_out: u32) -> i32 {
            let visits = crate::backends::loop_hops(&cx.s.downstream.request.headers) + 1;
            let visits = u32::try_from(visits).unwrap_or(u32::MAX);
            cx.mem.write_u32(visits_out, visits)?;
            cx.result("visits", ArgValue::Int(i64::from(visits)));
            Ok(Status::OK.0)
        }

        ["fastly_http_downstream" :: "fastly_key_is_valid"]
        fn(cx, req: u32, out: u32) -> i32 {
            fastly_key_is_valid(cx, Some(req), out)
        }

        ["fastly_http_downstream" :: "downstream_client_h2_fingerprint", "env" :: "xqd_req_downstream_client_h2_fingerprint"]
        fn(cx, req: u32, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            absent(cx, Some(req), "HTTP/2 fingerprint")
        }

        ["fastly_http_downstream" :: "downstream_client_oh_fingerprint", "env" :: "xqd_req_downstream_client_oh_fingerprint"]
        fn(cx, req: u32, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            absent(cx, Some(req), "original-header fingerprint")
        }

        ["fastly_http_downstream" :: "downstream_tls_cipher_openssl_name"]
        fn(cx, req: u32, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            absent(cx, Some(req), "TLS cipher")
        }

        ["fastly_http_downstream" :: "downstream_tls_protocol"]
        fn(cx, req: u32, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            absent(cx, Some(req), "TLS protocol")
        }

        ["fastly_http_downstream" :: "downstream_tls_client_hello"]
        fn(cx, req: u32, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            absent(cx, Some(req), "TLS ClientHello")
        }

        ["fastly_http_downstream" :: "downstream_tls_client_servername", "env" :: "xqd_req_downstream_tls_client_servername"]
        fn(cx, req: u32, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            absent(cx, Some(req), "TLS SNI server name")
        }

        ["fastly_http_downstream" :: "downstream_tls_ja3_md5", "env" :: "xqd_req_downstream_tls_ja3_md5"]
        fn(cx, req: u32, out: u32, nwritten_out: u32) -> i32 {
            absent(cx, Some(req), "TLS JA3 MD5")
        }

        ["fastly_http_downstream" :: "downstream_tls_ja4", "env" :: "xqd_req_downstream_tls_ja4"]
        fn(cx, req: u32, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            absent(cx, Some(req), "TLS JA4")
        }

        ["fastly_http_downstream" :: "downstream_tls_raw_client_certificate", "env" :: "xqd_req_downstream_tls_raw_client_certificate"]
        fn(cx, req: u32, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            absent(cx, Some(req), "TLS client certificate")
        }

        ["fastly_http_downstream" :: "downstream_tls_client_cert_verify_result", "env" :: "xqd_req_downstream_tls_client_cert_verify_result"]
        fn(cx, req: u32, out: u32) -> i32 {
            absent(cx, Some(req), "TLS client certificate verification")
        }

        ["fastly_http_downstream" :: "downstream_bot_analyzed", "env" :: "xqd_http_downstream_bot_analyzed"]
        fn(cx, req: u32, out: u32) -> i32 {
            bot_flag(cx, req, "analyzed", out, false)
        }

        ["fastly_http_downstream" :: "downstream_bot_detected", "env" :: "xqd_http_downstream_bot_detected"]
        fn(cx, req: u32, out: u32) -> i32 {
            bot_flag(cx, req, "detected", out, false)
        }

        ["fastly_http_downstream" :: "downstream_bot_verified", "env" :: "xqd_http_downstream_bot_verified"]
        fn(cx, req: u32, out: u32) -> i32 {
            bot_flag(cx, req, "verified", out, true)
        }

        ["fastly_http_downstream" :: "downstream_bot_name", "env" :: "xqd_http_downstream_bot_name"]
        fn(cx, req: u32, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            bot_text(cx, req, "name", buf, buf_len, nwritten_out)
        }

        ["fastly_http_downstream" :: "downstream_bot_category", "env" :: "xqd_http_downstream_bot_category"]
        fn(cx, req: u32, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            bot_text(cx, req, "category", buf, buf_len, nwritten_out)
        }

        ["fastly_http_downstream" :: "downstream_bot_category_kind", "env" :: "xqd_http_downstream_bot_category_kind"]
        fn(cx, req: u32, out: u32) -> i32 {
            check_meta(cx, Some(req))?;
            let Some(kind) = bot_header(cx, "category").and_then(|c| bot_category_kind(&c)) else {
                cx.note("no (known) x-fastly-bot-category header on the client request");
                return Err(Status::NONE.into());
            };
            cx.mem.write_u32(out, kind)?;
            cx.result("kind", ArgValue::Int(kind as i64));
            Ok(Status::OK.0)
        }

        [
            "fastly_http_downstream" :: "downstream_resvpnproxy_is_anonymous",
            "fastly_http_downstream" :: "downstream_resvpnproxy_is_anonymous_vpn",
            "fastly_http_downstream" :: "downstream_resvpnproxy_is_hosting_provider",
            "fastly_http_downstream" :: "downstream_resvpnproxy_is_proxy_over_vpn",
            "fastly_http_downstream" :: "downstream_resvpnproxy_is_public_proxy",
            "fastly_http_downstream" :: "downstream_resvpnproxy_is_relay_proxy",
            "fastly_http_downstream" :: "downstream_resvpnproxy_is_residential_proxy",
            "fastly_http_downstream" :: "downstream_resvpnproxy_is_smart_dns_proxy",
            "fastly_http_downstream" :: "downstream_resvpnproxy_is_tor_exit_node",
            "fastly_http_downstream" :: "downstream_resvpnproxy_is_vpn_datacenter",
        ]
        fn(cx, req: u32, out: u32) -> i32 {
            absent(cx, Some(req), "proxy/VPN intelligence")
        }

        ["fastly_http_downstream" :: "downstream_resvpnproxy_vpn_service_name"]
        fn(cx, req: u32, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            absent(cx, Some(req), "proxy/VPN intelligence")
        }
    }
    Ok(())
}

/// `next_request_options_mask` bits by name.
fn next_request_flags(mask: u32) -> Vec<String> {
    let mut out = Vec::new();
    for bit in 0..32 {
        if mask & (1 << bit) != 0 {
            out.push(match bit {
                0 => "reserved".to_string(),
                1 => "timeout".to_string(),
                n => format!("bit{n}"),
            });
        }
    }
    out
}
