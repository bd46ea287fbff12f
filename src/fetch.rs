//! Backend fetches in the browser: a [`FetchRequest`] from the core becomes a `fetch()`.
//!
//! The core has already shaped the request (backend URL, host, framing); this adapter
//! only performs it, within what a page may do:
//!
//! - headers the browser does not let a page set (`Host`, `Connection`,
//!   `Content-Length`, `Sec-*`, ...) are left out, and listed in the result
//!   (`headers_not_sent`: the core shows them on the fetch's trace event);
//! - the core's loop-detection header (`cdn-loop: edgeplay`) is sent only where it
//!   costs no CORS preflight: to the page's own origin, or on a request that needs a
//!   preflight anyway ([`needs_preflight`]). On a simple cross-origin request it would
//!   force a preflight, which an origin that allows simple requests only refuses, so it
//!   is left out and the result says so. The tab does not need it to detect a loop: a
//!   fetch to the service's own origin never gets here (the worker serves it by running
//!   the guest again, counting the passes in `cdn-loop`);
//! - the request is a CORS request without credentials and without the HTTP cache;
//! - when `fetch` rejects, the page cannot tell a CORS refusal from a refused
//!   connection, so the failure is [`FetchErrorKind::BrowserBlocked`] with a message
//!   that says so, names the backend and the page's origin, and suggests a mock backend;
//! - the response headers are the ones CORS lets the page read;
//! - a backend's TLS options (`ca_cert`, client certificate, `cert_hostname`,
//!   `sni_hostname`, version range) and gRPC (HTTP/2) cannot be applied by a page:
//!   the browser makes the connection with its own trust store, SNI and protocol
//!   choice, and the fetch carries a note that says so ([`connect_options_note`]).

use crate::platform::now_ms;
use edgeplay_host::{FetchError, FetchErrorKind, FetchRequest, FetchResponse, Headers, WorkResult};
use js_sys::{Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

#[wasm_bindgen]
extern "C" {
    /// `fetch` of whichever global scope runs this (page or worker).
    #[wasm_bindgen(js_name = fetch)]
    fn global_fetch(input: &web_sys::Request) -> Promise;
}

/// How long a fetch may wait for the response head when the backend sets no timeout.
pub const DEFAULT_FIRST_BYTE_TIMEOUT_MS: u32 = 15_000;

/// The notes a fetch's result carries (what the adapter changed or could not do), for
/// the Logs panel; the core puts them on the fetch's trace event too.
pub fn notes_of(result: &WorkResult) -> &[String] {
    match result {
        WorkResult::Fetched(r) | WorkResult::FetchedHead(r) => &r.notes,
        WorkResult::FetchFailed(e) => &e.notes,
        WorkResult::Slept
        | WorkResult::Sent
        | WorkResult::BodyChunk { .. }
        | WorkResult::NextRequest(_) => &[],
    }
}

/// The Logs panel's note for request headers a fetch did not send (`None` for none).
/// `cdn-loop` is left out of it: the fetch's own note says why it was not sent.
pub fn not_sent_note(backend: &str, names: &[String]) -> Option<String> {
    let names: Vec<&String> = names
        .iter()
        .filter(|n| !n.eq_ignore_ascii_case(CDN_LOOP))
        .collect();
    if names.is_empty() {
        return None;
    }
    let list = names
        .iter()
        .map(|s| format!("`{s}`"))
        .collect::<Vec<_>>()
        .join(", ");
    Some(format!(
        "backend `{backend}`: not sent: {list}. The browser does not let a page set these headers; it sets its own (not as the guest set them)"
    ))
}

/// The request headers a fetch's result says were not sent.
pub fn headers_not_sent_of(result: &WorkResult) -> &[String] {
    match result {
        WorkResult::Fetched(r) | WorkResult::FetchedHead(r) => &r.headers_not_sent,
        WorkResult::FetchFailed(e) => &e.headers_not_sent,
        WorkResult::Slept
        | WorkResult::Sent
        | WorkResult::BodyChunk { .. }
        | WorkResult::NextRequest(_) => &[],
    }
}

/// True for a request header name a page may not set (the Fetch standard's forbidden
/// request headers, and `user-agent`: the standard allows it since 2015, but Chromium
/// still sends its own in its place, so it is not sent as the guest set it — and
/// counting it for the preflight rule would send `cdn-loop` where it costs one).
pub fn is_forbidden_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    const FORBIDDEN: &[&str] = &[
        "accept-charset",
        "accept-encoding",
        "access-control-request-headers",
        "access-control-request-method",
        "connection",
        "content-length",
        "cookie",
        "cookie2",
        "date",
        "dnt",
        "expect",
        "host",
        "keep-alive",
        "origin",
        "referer",
        "set-cookie",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "user-agent",
        "via",
    ];
    FORBIDDEN.contains(&n.as_str()) || n.starts_with("proxy-") || n.starts_with("sec-")
}

/// The core's loop-detection header (`edgeplay_host::backends::add_loop_token`).
pub const CDN_LOOP: &str = "cdn-loop";

/// The note on a fetch that left `cdn-loop` out.
pub fn cdn_loop_not_sent_note(backend: &str) -> String {
    format!(
        "backend `{backend}`: `cdn-loop` not sent: it is not a CORS-safelisted header, so on this \
         simple cross-origin request it would have forced a CORS preflight, which an origin that \
         allows simple requests only refuses. The tab detects loops without it: a fetch to the \
         service's own origin is served by the service itself"
    )
}

/// The note on a fetch whose backend sets connection options the browser cannot apply
/// (`None` when it sets none).
pub fn connect_options_note(req: &FetchRequest) -> Option<String> {
    let c = req.connect.as_deref()?;
    let names = c.set_names();
    if names.is_empty() {
        return None;
    }
    Some(format!(
        "backend `{}`: {} not applied: the browser makes the connection itself (its own \
         trust store, SNI, TLS versions and HTTP version); the native runner (`edgeplay \
         serve`) applies them",
        req.backend,
        names.join(", ")
    ))
}

/// True for a method a cross-origin request may use without a CORS preflight (the
/// Fetch standard's CORS-safelisted methods; `fetch` normalizes their case).
pub fn is_cors_safelisted_method(method: &str) -> bool {
    ["GET", "HEAD", "POST"]
        .iter()
        .any(|m| m.eq_ignore_ascii_case(method))
}

/// The Fetch standard's CORS-unsafe request-header bytes.
fn is_cors_unsafe_byte(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b"\"():<>?@[\\]{}\x7f".contains(&b)
}

/// True for a header token character (RFC 9110).
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The essence (`type/subtype`, lowercased) of a MIME type, `None` when it does not
/// parse (the Fetch standard's "parse a MIME type", without the parameters).
fn mime_essence(value: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(value).ok()?;
    let head = text.split(';').next()?;
    let head = head.trim_matches([' ', '\t', '\r', '\n']);
    let (ty, sub) = head.split_once('/')?;
    let sub = sub.trim_end_matches([' ', '\t', '\r', '\n']);
    let token = |s: &str| !s.is_empty() && s.bytes().all(is_token_byte);
    (token(ty) && token(sub)).then(|| format!("{ty}/{sub}").to_ascii_lowercase())
}

/// True for a `range` value the Fetch standard safelists: one `bytes=start-[end]` range
/// with a start (a suffix range `bytes=-500` is not safelisted).
fn is_simple_range(value: &[u8]) -> bool {
    let Some(rest) = value
        .get(..6)
        .filter(|p| p.eq_ignore_ascii_case(b"bytes="))
        .map(|_| &value[6..])
    else {
        return false;
    };
    let Some(dash) = rest.iter().position(|b| *b == b'-') else {
        return false;
    };
    let (start, end) = (&rest[..dash], &rest[dash + 1..]);
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    if start.is_empty() || !digits(start) || !digits(end) {
        return false;
    }
    if end.is_empty() {
        return true;
    }
    let num = |s: &[u8]| std::str::from_utf8(s).ok()?.parse::<u128>().ok();
    matches!((num(start), num(end)), (Some(a), Some(b)) if a <= b)
}

/// True for a request header (name and whole value) a cross-origin request may carry
/// without a CORS preflight: the Fetch standard's CORS-safelisted request-headers
/// (`accept`, `accept-language`, `content-language`, `content-type` with a form or
/// plain-text essence, a simple `range`; each value at most 128 bytes).
pub fn is_cors_safelisted_header(name: &str, value: &[u8]) -> bool {
    if value.len() > 128 {
        return false;
    }
    match name.to_ascii_lowercase().as_str() {
        "accept" => !value.iter().any(|b| is_cors_unsafe_byte(*b)),
        "accept-language" | "content-language" => value
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || b" *,-.;=".contains(b)),
        "content-type" => {
            !value.iter().any(|b| is_cors_unsafe_byte(*b))
                && mime_essence(value).is_some_and(|e| {
                    matches!(
                        e.as_str(),
                        "application/x-www-form-urlencoded" | "multipart/form-data" | "text/plain"
                    )
                })
        }
        "range" => is_simple_range(value),
        _ => false,
    }
}

/// The headers among `headers` (the ones the page sets) that make a cross-origin
/// request need a CORS preflight: the Fetch standard's CORS-unsafe request-header
/// names — the headers that are not safelisted, and all of them once the safelisted
/// values add up to more than 1024 bytes. A name's values are checked combined with
/// `, `, as Chromium checks and sends them (the standard checks each entry; combined is
/// never less strict). Lowercased, sorted, each once.
pub fn cors_unsafe_header_names<N: AsRef<str>, V: AsRef<[u8]>>(headers: &[(N, V)]) -> Vec<String> {
    let mut combined: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, value) in headers {
        let name = name.as_ref().to_ascii_lowercase();
        let value = value.as_ref();
        match combined.iter_mut().find(|(n, _)| *n == name) {
            Some((_, v)) => {
                v.extend_from_slice(b", ");
                v.extend_from_slice(value);
            }
            None => combined.push((name, value.to_vec())),
        }
    }
    let mut unsafe_names = Vec::new();
    let mut safelisted = Vec::new();
    let mut safelisted_bytes = 0;
    for (name, value) in combined {
        if is_cors_safelisted_header(&name, &value) {
            safelisted_bytes += value.len();
            safelisted.push(name);
        } else {
            unsafe_names.push(name);
        }
    }
    if safelisted_bytes > 1024 {
        unsafe_names.extend(safelisted);
    }
    unsafe_names.sort();
    unsafe_names.dedup();
    unsafe_names
}

/// True when a cross-origin `fetch` with this method and these headers (the ones the
/// page sets) needs a CORS preflight (Fetch standard: a method that is not safelisted,
/// or any CORS-unsafe request-header name). A `Uint8Array` body, as the adapter sends
/// it, never needs one.
pub fn needs_preflight<N: AsRef<str>, V: AsRef<[u8]>>(method: &str, headers: &[(N, V)]) -> bool {
    !is_cors_safelisted_method(method) || !cors_unsafe_header_names(headers).is_empty()
}

/// True when a fetch from a page at `page_origin` may carry `cdn-loop` without paying
/// a CORS preflight for it: the request goes to the page's own origin (no CORS at all),
/// or it needs a preflight anyway ([`needs_preflight`]; `headers` are the ones the page
/// sets besides `cdn-loop`).
pub fn cdn_loop_costs_nothing<N: AsRef<str>, V: AsRef<[u8]>>(
    page_origin: &str,
    url: &str,
    method: &str,
    headers: &[(N, V)],
) -> bool {
    crate::request::same_origin(page_origin, url) || needs_preflight(method, headers)
}

/// The page's origin (`http://127.0.0.1:8080`), on the page or in a worker.
pub fn page_origin() -> String {
    js_sys::Reflect::get(&js_sys::global(), &"location".into())
        .and_then(|l| js_sys::Reflect::get(&l, &"origin".into()))
        .ok()
        .and_then(|o| o.as_string())
        .unwrap_or_else(|| "this page".into())
}

/// The message for a fetch the browser refused.
pub fn blocked_message(backend: &str, url: &str, origin: &str, detail: &str) -> String {
    format!(
        "backend `{backend}`: the browser could not fetch {url} from the page at {origin} ({detail}). \
         This may be CORS: a page may only read a response from another origin when it answers with \
         `Access-Control-Allow-Origin` for {origin} (and answers the preflight for non-simple requests); \
         from inside a page a CORS refusal looks exactly like a refused connection. Serve the origin with \
         CORS headers, or point the backend at a mock backend that does."
    )
}

/// Perform one backend request. The result carries the headers the browser would not
/// send and the adapter's notes ([`FetchResponse::notes`], [`FetchError::notes`]).
pub async fn fetch(mut req: FetchRequest) -> WorkResult {
    req.stream_response = false;
    fetch_with(req).await.0
}

/// [`fetch`], but when the request allows it ([`FetchRequest::stream_response`]) the
/// answer comes at the response head ([`WorkResult::FetchedHead`]) and the body is
/// read on from the returned [`BodyReader`], as the platform streams it.
pub async fn fetch_with(req: FetchRequest) -> (WorkResult, Option<BodyReader>) {
    // On the fetch's trace event and in the Logs panel, like every adapter note.
    let mut notes: Vec<String> = connect_options_note(&req).into_iter().collect();
    let mut skipped: Vec<String> = Vec::new();
    let origin = page_origin();
    let t0 = now_ms();
    let stream_response = req.stream_response;
    let fail = |kind: FetchErrorKind, message: String, notes: Vec<String>, skipped: Vec<String>| {
        let failed = WorkResult::FetchFailed(FetchError {
            kind,
            message,
            headers_not_sent: skipped,
            notes,
        });
        (failed, None)
    };

    let headers = match web_sys::Headers::new() {
        Ok(h) => h,
        Err(e) => {
            return fail(
                FetchErrorKind::InternalError,
                format!("backend `{}`: {}", req.backend, js_error(&e)),
                notes,
                skipped,
            )
        }
    };
    let mut refused: Vec<String> = Vec::new();
    // What the page sets (for the preflight rule), and `cdn-loop`, decided last.
    let mut set: Vec<(String, Vec<u8>)> = Vec::new();
    let mut cdn_loop: Vec<(String, Vec<u8>)> = Vec::new();
    let mut append = |name: &str, value: &[u8], notes: &mut Vec<String>| -> bool {
        let text = String::from_utf8_lossy(value);
        match headers.append(name, &text) {
            Ok(()) => true,
            Err(e) => {
                if !refused.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                    refused.push(name.to_string());
                }
                notes.push(format!(
                    "backend `{}`: the browser refused header `{name}` ({}); it was not sent",
                    req.backend,
                    js_error(&e)
                ));
                false
            }
        }
    };
    for (name, value) in req.headers.iter() {
        if is_forbidden_header(name) {
            if !skipped.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                skipped.push(name.to_string());
            }
            continue;
        }
        if name.eq_ignore_ascii_case(CDN_LOOP) {
            cdn_loop.push((name.to_string(), value.to_vec()));
            continue;
        }
        if append(name, value, &mut notes) {
            set.push((name.to_string(), value.to_vec()));
        }
    }
    if !cdn_loop.is_empty() {
        if cdn_loop_costs_nothing(&origin, &req.url, &req.method, &set) {
            for (name, value) in &cdn_loop {
                append(name, value, &mut notes);
            }
        } else {
            skipped.push(cdn_loop[0].0.clone());
            notes.push(cdn_loop_not_sent_note(&req.backend));
        }
    }
    for name in refused {
        if !skipped.iter().any(|s| s.eq_ignore_ascii_case(&name)) {
            skipped.push(name);
        }
    }

    let init = web_sys::RequestInit::new();
    init.set_method(&req.method);
    init.set_headers_headers(&headers);
    init.set_mode(web_sys::RequestMode::Cors);
    init.set_credentials(web_sys::RequestCredentials::Omit);
    init.set_cache(web_sys::RequestCache::NoStore);
    init.set_redirect(web_sys::RequestRedirect::Follow);
    let bodiless = matches!(req.method.to_ascii_uppercase().as_str(), "GET" | "HEAD");
    if !req.body.is_empty() {
        if bodiless {
            notes.push(format!(
                "backend `{}`: the browser cannot send a body with {}; {} body bytes were dropped",
                req.backend,
                req.method,
                req.body.len()
            ));
        } else {
            let body = Uint8Array::from(req.body.as_slice());
            init.set_body(&body);
        }
    }
    let controller = web_sys::AbortController::new().ok();
    if let Some(c) = &controller {
        init.set_signal(Some(&c.signal()));
    }
    let request = match web_sys::Request::new_with_str_and_init(&req.url, &init) {
        Ok(r) => r,
        Err(e) => {
            return fail(
                FetchErrorKind::InternalError,
                format!(
                    "backend `{}`: the browser rejected the request to {}: {}",
                    req.backend,
                    req.url,
                    js_error(&e)
                ),
                notes,
                skipped,
            )
        }
    };

    // Abort when the response head takes too long.
    let timeout_ms = req
        .connect_timeout_ms
        .unwrap_or(0)
        .saturating_add(
            req.first_byte_timeout_ms
                .unwrap_or(DEFAULT_FIRST_BYTE_TIMEOUT_MS),
        )
        .min(i32::MAX as u32);
    let timer = controller.as_ref().map(|c| {
        let c = c.clone();
        let cb = Closure::once_into_js(move || c.abort());
        set_timeout(&cb, timeout_ms as i32)
    });

    let response = JsFuture::from(global_fetch(&request)).await;
    let first_byte_ms = now_ms() - t0;
    if let Some(t) = timer {
        clear_timeout(t);
    }
    let response: web_sys::Response = match response.and_then(|r| r.dyn_into()) {
        Ok(r) => r,
        Err(e) => {
            let detail = js_error(&e);
            let aborted = controller.as_ref().is_some_and(|c| c.signal().aborted());
            if aborted {
                return fail(
                    FetchErrorKind::HttpResponseTimeout,
                    format!(
                        "backend `{}`: no response from {} within {timeout_ms} ms",
                        req.backend, req.url
                    ),
                    notes,
                    skipped,
                );
            }
            return fail(
                FetchErrorKind::BrowserBlocked,
                blocked_message(&req.backend, &req.url, &origin, &detail),
                notes,
                skipped,
            );
        }
    };
    if response.redirected() {
        notes.push(format!(
            "backend `{}`: the browser followed a redirect to {}; the guest sees the final response (Compute hands the redirect itself to the guest)",
            req.backend,
            response.url()
        ));
    }
    let mut resp_headers = Headers::new();
    if let Ok(Some(iter)) = js_sys::try_iter(&response.headers()) {
        for entry in iter.flatten() {
            let pair: js_sys::Array = entry.unchecked_into();
            if let (Some(n), Some(v)) = (pair.get(0).as_string(), pair.get(1).as_string()) {
                resp_headers.append(&n, v.into_bytes());
            }
        }
    }
    if stream_response {
        if let Some(stream) = response.body() {
            if let Ok(reader) = js_sys::Reflect::get(&stream, &"getReader".into())
                .and_then(|f| f.dyn_into::<js_sys::Function>())
                .and_then(|f| f.call0(&stream))
            {
                let head = FetchResponse {
                    status: response.status(),
                    headers: resp_headers,
                    body: Vec::new(),
                    remote_addr: None,
                    first_byte_us: (first_byte_ms * 1000.0) as u64,
                    end_us: (first_byte_ms * 1000.0) as u64,
                    headers_not_sent: skipped,
                    notes,
                };
                let reader = BodyReader {
                    reader,
                    between_ms: req
                        .between_bytes_timeout_ms
                        .filter(|&ms| ms > 0)
                        .unwrap_or(edgeplay_host::backends::DEFAULT_BETWEEN_BYTES_TIMEOUT_MS),
                    received: 0,
                    what: format!("backend `{}` ({} {})", req.backend, req.method, req.url),
                };
                return (WorkResult::FetchedHead(Box::new(head)), Some(reader));
            }
        }
    }
    let body = match response.array_buffer() {
        Ok(p) => match JsFuture::from(p).await {
            Ok(buf) => Uint8Array::new(&buf).to_vec(),
            Err(e) => {
                return fail(
                    FetchErrorKind::HttpIncompleteResponse,
                    format!(
                        "backend `{}`: the response body from {} ended early: {}",
                        req.backend,
                        req.url,
                        js_error(&e)
                    ),
                    notes,
                    skipped,
                )
            }
        },
        Err(e) => {
            return fail(
                FetchErrorKind::InternalError,
                format!("backend `{}`: {}", req.backend, js_error(&e)),
                notes,
                skipped,
            )
        }
    };
    let end_ms = now_ms() - t0;
    let whole = WorkResult::Fetched(Box::new(FetchResponse {
        status: response.status(),
        headers: resp_headers,
        body,
        remote_addr: None,
        first_byte_us: (first_byte_ms * 1000.0) as u64,
        end_us: (end_ms * 1000.0) as u64,
        headers_not_sent: skipped,
        notes,
    }));
    (whole, None)
}

/// The rest of a response body that streams, read from its `ReadableStream`.
pub struct BodyReader {
    reader: JsValue,
    between_ms: u32,
    received: usize,
    what: String,
}

impl BodyReader {
    /// The next bytes: [`WorkResult::BodyChunk`] (with `end` once the body is
    /// complete), or [`WorkResult::FetchFailed`] when the stream errors or pauses
    /// longer than the between-bytes timeout. The reader comes back when more follows.
    pub async fn read(mut self) -> (WorkResult, Option<BodyReader>) {
        loop {
            let read = js_sys::Reflect::get(&self.reader, &"read".into())
                .and_then(|f| f.dyn_into::<js_sys::Function>())
                .and_then(|f| f.call0(&self.reader))
                .and_then(|p| p.dyn_into::<Promise>());
            let read = match read {
                Ok(p) => p,
                Err(e) => {
                    return (
                        self.failed(FetchErrorKind::InternalError, js_error(&e)),
                        None,
                    )
                }
            };
            let ms = self.between_ms.min(i32::MAX as u32) as i32;
            let timeout = Promise::new(&mut |resolve, _| {
                set_timeout(&resolve, ms);
            });
            let race = Promise::race(&js_sys::Array::of2(&read, &timeout));
            let value = match JsFuture::from(race).await {
                Ok(v) => v,
                Err(e) => {
                    let why = format!(
                        "the response body broke off after {} bytes: {}",
                        self.received,
                        js_error(&e)
                    );
                    return (
                        self.failed(FetchErrorKind::HttpIncompleteResponse, why),
                        None,
                    );
                }
            };
            if value.is_undefined() {
                // The timer won.
                let _ = js_sys::Reflect::get(&self.reader, &"cancel".into())
                    .and_then(|f| f.dyn_into::<js_sys::Function>())
                    .and_then(|f| f.call0(&self.reader));
                let why = format!(
                    "the response body paused longer than the between-bytes timeout ({} ms) after {} bytes",
                    self.between_ms, self.received
                );
                return (self.failed(FetchErrorKind::HttpResponseTimeout, why), None);
            }
            let done = js_sys::Reflect::get(&value, &"done".into())
                .map(|d| d.is_truthy())
                .unwrap_or(true);
            if done {
                let end = WorkResult::BodyChunk {
                    bytes: Vec::new(),
                    end: true,
                };
                return (end, None);
            }
            let bytes = js_sys::Reflect::get(&value, &"value".into())
                .ok()
                .and_then(|v| v.dyn_into::<Uint8Array>().ok())
                .map(|a| a.to_vec())
                .unwrap_or_default();
            if bytes.is_empty() {
                continue;
            }
            self.received += bytes.len();
            let chunk = WorkResult::BodyChunk { bytes, end: false };
            return (chunk, Some(self));
        }
    }

    fn failed(&self, kind: FetchErrorKind, why: String) -> WorkResult {
        WorkResult::FetchFailed(FetchError {
            kind,
            message: format!("{}: {why}", self.what),
            headers_not_sent: Vec::new(),
            notes: Vec::new(),
        })
    }
}

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout_js(cb: &JsValue, ms: i32) -> JsValue;
    #[wasm_bindgen(js_name = clearTimeout)]
    fn clear_timeout_js(id: &JsValue);
}

/// `setTimeout` of the current global scope.
pub fn set_timeout(cb: &JsValue, ms: i32) -> JsValue {
    set_timeout_js(cb, ms)
}

/// `clearTimeout` of the current global scope.
pub fn clear_timeout(id: JsValue) {
    clear_timeout_js(&id)
}

/// A promise that resolves after `ms` milliseconds.
pub async fn sleep_ms(ms: f64) {
    let mut left = ms.max(0.0);
    loop {
        // setTimeout takes at most 2^31-1 ms.
        let step = left.min(i32::MAX as f64);
        let p = Promise::new(&mut |resolve, _| {
            set_timeout(&resolve, step.ceil() as i32);
        });
        let _ = JsFuture::from(p).await;
        left -= step;
        if left <= 0.0 {
            break;
        }
    }
}

/// A JS error as text.
pub fn js_error(e: &JsValue) -> String {
    if let Some(err) = e.dyn_ref::<js_sys::Error>() {
        return String::from(err.message());
    }
    e.as_string().unwrap_or_else(|| format!("{e:?}"))
}
