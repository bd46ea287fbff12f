//! Backend fetches in the browser: a [`FetchRequest`] from the core becomes a `fetch()`.
//!
//! The core has already shaped the request (backend URL, host, framing); this adapter
//! only performs it, within what a page may do:
//!
//! - headers the browser does not let a page set (`Host`, `Connection`,
//!   `Content-Length`, `Sec-*`, ...) are left out, and listed in the result
//!   (`headers_not_sent`: the core shows them on the fetch's trace event);
//! - the request is a CORS request without credentials and without the HTTP cache;
//! - when `fetch` rejects, the page cannot tell a CORS refusal from a refused
//!   connection, so the failure is [`FetchErrorKind::BrowserBlocked`] with a message
//!   that says so, names the backend and the page's origin, and suggests a mock backend;
//! - the response headers are the ones CORS lets the page read.

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
        WorkResult::Slept | WorkResult::Sent | WorkResult::BodyChunk { .. } => &[],
    }
}

/// The Logs panel's note for request headers a fetch did not send (`None` for none).
pub fn not_sent_note(backend: &str, names: &[String]) -> Option<String> {
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
        WorkResult::Slept | WorkResult::Sent | WorkResult::BodyChunk { .. } => &[],
    }
}

/// True for a request header name a page may not set (the Fetch standard's forbidden
/// request headers).
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
        "via",
    ];
    FORBIDDEN.contains(&n.as_str()) || n.starts_with("proxy-") || n.starts_with("sec-")
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
pub async fn fetch(req: FetchRequest) -> WorkResult {
    let mut notes = Vec::new();
    let mut skipped: Vec<String> = Vec::new();
    let origin = page_origin();
    let t0 = now_ms();
    let fail = |kind: FetchErrorKind, message: String, notes: Vec<String>, skipped: Vec<String>| {
        WorkResult::FetchFailed(FetchError {
            kind,
            message,
            headers_not_sent: skipped,
            notes,
        })
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
    for (name, value) in req.headers.iter() {
        if is_forbidden_header(name) {
            if !skipped.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                skipped.push(name.to_string());
            }
            continue;
        }
        let value = String::from_utf8_lossy(value);
        if let Err(e) = headers.append(name, &value) {
            if !refused.iter().any(|s| s.eq_ignore_ascii_case(name)) {
                refused.push(name.to_string());
            }
            notes.push(format!(
                "backend `{}`: the browser refused header `{name}` ({}); it was not sent",
                req.backend,
                js_error(&e)
            ));
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
    WorkResult::Fetched(Box::new(FetchResponse {
        status: response.status(),
        headers: resp_headers,
        body,
        remote_addr: None,
        first_byte_us: (first_byte_ms * 1000.0) as u64,
        end_us: (end_ms * 1000.0) as u64,
        headers_not_sent: skipped,
        notes,
    }))
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
