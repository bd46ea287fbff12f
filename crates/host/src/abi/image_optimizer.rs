//! `fastly_image_optimizer`: `transform_image_optimizer_request` (and Fastlike's
//! legacy `env.xqd_image_optimizer_transform_request`), Image Optimizer run locally.
//!
//! `transform_image_optimizer_request(req, body, backend, mask, config, error_detail,
//! resp_out, body_out)`: the request (its handle stays live: the Rust SDK closes it
//! afterwards, though the witx calls it consumed) is sent to the backend as the origin
//! image request — its URL without the Image Optimizer parameters, unless
//! `preserve_query_string_on_origin_request` — through the same async fetch path as
//! `send` (not through the readthrough cache: the platform caches the transformed
//! image, not this fetch), answered whole; when the response arrives the image is
//! transformed ([`crate::image_opt`]) and the guest gets the result as from `send`.
//! The options are the request URL's Image Optimizer query parameters and the SDK's
//! `sdk_claims_opts` (`mask` bit 1, a query string in the `config` struct: pointer and
//! length), which take precedence over query parameters of the same name. The body
//! handle may be invalid (the Rust SDK passes none); a live one is consumed and sent.
//!
//! Statuses: a bad request handle BADF; an unknown backend INVAL; the reserved or an
//! unknown mask bit INVAL; malformed options answer a 400 response (the platform's
//! strict parsing), as does an image the transform refuses; a failed origin fetch
//! ERROR (as `send`). `error_detail` (tag@0) is set to `ok` (1) when the call answers
//! a response. Viceroy stubs this call (UNSUPPORTED).

use super::wait::{self, Finish, Outs};
use super::{Cx, Fault, HostResult, Registry};
use crate::backends;
use crate::image_opt::Options;
use crate::session::{Body, FetchMeta, PendingRequest, ResponseParts};
use crate::status::Status;
use crate::trace::{ArgValue, HandleKind};

/// `image_optimizer_transform_config_options` bits.
const RESERVED: u32 = 1 << 0;
const SDK_CLAIMS_OPTS: u32 = 1 << 1;

/// `image_optimizer_error_tag::ok`.
const TAG_OK: u32 = 1;

/// Answer at once with a plain-text response (malformed options).
fn answer_now(cx: &mut Cx<'_>, status: u16, text: String, outs: &Outs) -> HostResult {
    let mut parts = ResponseParts::empty();
    parts.status = status;
    parts
        .headers
        .insert("content-type", "text/plain; charset=utf-8");
    let limit = Fault::Status(Status::LIMITEXCEEDED.0);
    let rh = cx.s.http.responses.insert(parts).ok_or(limit)?;
    let Some(bh) = cx.s.http.bodies.insert(Body::buffer(text.into_bytes())) else {
        cx.s.http.responses.take(rh);
        return Err(Status::LIMITEXCEEDED.into());
    };
    cx.mem.write_u32(outs.resp_out, rh)?;
    cx.mem.write_u32(outs.body_out, bh)?;
    cx.handle_result("resp", HandleKind::Response, rh);
    cx.handle_result("body", HandleKind::Body, bh);
    cx.result("status", ArgValue::Int(i64::from(status)));
    Ok(Status::OK.0)
}

#[allow(clippy::too_many_arguments)]
fn transform_request(
    cx: &mut Cx<'_>,
    req: u32,
    body: u32,
    backend_ptr: u32,
    backend_len: u32,
    mask: u32,
    config: u32,
    detail: u32,
    resp_out: u32,
    body_out: u32,
) -> HostResult {
    cx.handle_arg("req", HandleKind::Request, req);
    cx.handle_arg("body", HandleKind::Body, body);
    cx.mem.slice(resp_out, 4)?;
    cx.mem.slice(body_out, 4)?;
    cx.mem.slice(detail, 4)?;
    let name = cx.str_arg("backend", backend_ptr, backend_len)?;
    if mask & RESERVED != 0 || mask & !(RESERVED | SDK_CLAIMS_OPTS) != 0 {
        cx.note("the reserved or an unknown option bit is set");
        return Err(Status::INVAL.into());
    }
    let uri = match cx.s.http.requests.get(req) {
        Some(r) => r.uri.clone(),
        None => return Err(Status::BADF.into()),
    };
    let claims = if mask & SDK_CLAIMS_OPTS != 0 {
        let raw = cx.mem.read_bytes(config, 8)?;
        let (p, len) = (super::field(&raw, 0), super::field(&raw, 4));
        Some(cx.str_arg("sdk_claims_opts", p, len)?)
    } else {
        None
    };
    let backend = match crate::pending::resolve_checked(cx.s, &name) {
        Ok(b) => b,
        Err(why) => {
            cx.note(why);
            return Err(Status::INVAL.into());
        }
    };
    if cx.s.pending.backend_requests >= backends::MAX_BACKEND_REQUESTS {
        cx.note(format!(
            "the platform allows {} backend requests per client request; this is one more",
            backends::MAX_BACKEND_REQUESTS
        ));
        return Err(Status::LIMITEXCEEDED.into());
    }
    // The request handle stays the guest's: the Rust SDK closes it after the call
    // (the witx says it is consumed; a host that took it would fail that close).
    let Some(mut parts) = cx.s.http.requests.get(req).cloned() else {
        return Err(Status::BADF.into());
    };
    let bytes = match cx.s.http.bodies.get(body) {
        Some(b) if !b.sink.is_streaming() && b.incoming.is_none() => {
            cx.s.http
                .bodies
                .take(body)
                .map(|mut b| b.take_remaining())
                .unwrap_or_default()
        }
        _ => Vec::new(),
    };
    let outs = Outs {
        detail: None,
        resp_out,
        body_out,
    };
    cx.mem.write_u32(detail, TAG_OK)?;
    let opts = match Options::for_request(&uri, claims.as_deref()) {
        Ok(o) => o,
        Err(e) => {
            cx.note(format!("malformed Image Optimizer options: {e}"));
            return answer_now(cx, 400, format!("Image Optimizer: {e}"), &outs);
        }
    };
    if opts.region.is_none() {
        cx.note("no region given (the SDK requires one; edgeplay transforms here)");
    }
    parts.uri = opts.origin_url(&parts.uri);
    let accept = parts
        .headers
        .get("accept")
        .or_else(|| cx.s.downstream.request.headers.get("accept"))
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default();
    let h =
        cx.s.http
            .bodies
            .reserve()
            .ok_or(Fault::Status(Status::LIMITEXCEEDED.0))?;
    cx.s.pending.backend_requests += 1;
    let (mut fetch, notes) = backends::build_fetch(&backend, &parts, bytes);
    // The transform needs the whole image.
    fetch.stream_response = false;
    cx.arg("url", ArgValue::Str(fetch.url.clone()));
    let mut meta = FetchMeta::new(fetch.method.clone(), fetch.url.clone(), 0.0, notes);
    meta.auto_decompress = parts.auto_decompress;
    let state = crate::pending::start(cx.s, h, &backend, fetch, &mut meta);
    cx.s.pending
        .async_items
        .insert(h, PendingRequest::item(backend.name.clone(), state, meta));
    wait::wait(
        cx,
        vec![h],
        None,
        Finish::Image {
            outs,
            opts: Box::new(opts),
            accept,
        },
    )
}

/// Link `fastly_image_optimizer` and its legacy name.
pub(crate) fn link(reg: &mut Registry) -> Result<(), wasmi::errors::LinkerError> {
    super::hostcalls! { reg;
        ["fastly_image_optimizer" :: "transform_image_optimizer_request", "env" :: "xqd_image_optimizer_transform_request"]
        fn(cx, req: u32, body: u32, backend: u32, backend_len: u32, options_mask: u32, options: u32, error_detail: u32, resp_out: u32, body_out: u32) -> i32 {
            transform_request(cx, req, body, backend, backend_len, options_mask, options, error_detail, resp_out, body_out)
        }
    }
    Ok(())
}
