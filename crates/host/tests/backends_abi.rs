//! Backends and asynchronous I/O, pinned with WAT guests and the SDK guests of
//! `tests/guests`: the send family, pending requests, `async_io`, dynamic backends,
//! every `fastly_backend` getter, mocks, unreliable backends, loop detection, and what
//! the core puts on the wire (URL, Host, `cdn-loop`, framing, timeouts). The fetches
//! are answered by closures (the test driver's origin); the runner's end-to-end tests
//! use real local origins.
//!
//! WAT guests report through a byte log, as in `http_abi.rs`: `$rec` appends an i32 and
//! `$finish` sends the log as a 200 response, compared with an expected `common::Log`.

mod common;

use common::{
    assert_log, config, engine, get, le_words, refuse, run_driven, run_with_origin, sdk_guest,
    summaries, Log, Run, BADF, BYTE_LOG, ERROR, HTTPINCOMPLETE, HTTPINVALID, INVAL, LIMITEXCEEDED,
    NONE, OK,
};
use edgeplay_host::backends::{self, loop_detected, LOOP_TOKEN};
use edgeplay_host::trace::{ArgValue, EventKind};
use edgeplay_host::{
    DownstreamRequest, Engine, ExecOptions, FetchError, FetchErrorKind, FetchRequest,
    FetchResponse, Headers, ServiceConfig, Work, WorkKind, WorkResult,
};
use std::io::Write;

const TAG_OK: i32 = 1;
const TAG_DESTINATION_NOT_FOUND: i32 = 4;
const TAG_CONNECTION_REFUSED: i32 = 7;
const TAG_HTTP_INCOMPLETE: i32 = 13;
const TAG_HTTP_RESPONSE_TIMEOUT: i32 = 16;
const TAG_HTTP_PROTOCOL_ERROR: i32 = 19;

/// The imports every guest here shares (the byte log, [`BYTE_LOG`], follows them).
const IMPORTS: &str = r#"
  (import "fastly_http_req" "body_downstream_get" (func $req_downstream (param i32 i32) (result i32)))
  (import "fastly_http_req" "new" (func $req_new (param i32) (result i32)))
  (import "fastly_http_req" "close" (func $req_close (param i32) (result i32)))
  (import "fastly_http_req" "uri_set" (func $req_uri_set (param i32 i32 i32) (result i32)))
  (import "fastly_http_req" "method_set" (func $req_method_set (param i32 i32 i32) (result i32)))
  (import "fastly_http_req" "header_insert" (func $req_insert (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "framing_headers_mode_set" (func $req_framing (param i32 i32) (result i32)))
  (import "fastly_http_req" "auto_decompress_response_set" (func $req_decompress (param i32 i32) (result i32)))
  (import "fastly_http_req" "fastly_key_is_valid" (func $key_valid (param i32) (result i32)))
  (import "fastly_http_req" "send" (func $send (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "send_v2" (func $send_v2 (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "send_v3" (func $send_v3 (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "send_async" (func $send_async (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "send_async_v2" (func $send_async_v2 (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "send_async_streaming" (func $send_async_streaming (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "pending_req_poll" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "pending_req_poll_v2" (func $poll_v2 (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "pending_req_wait" (func $wait (param i32 i32 i32) (result i32)))
  (import "fastly_http_req" "pending_req_wait_v2" (func $wait_v2 (param i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "pending_req_select" (func $select (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "pending_req_select_v2" (func $select_v2 (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "pending_req_header_insert" (func $pending_insert (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "pending_req_header_append" (func $pending_append (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "pending_req_header_remove" (func $pending_remove (param i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "register_dynamic_backend" (func $register (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "xqd_req_send" (func $xqd_send (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "new" (func $resp_new (param i32) (result i32)))
  (import "fastly_http_resp" "status_get" (func $resp_status (param i32 i32) (result i32)))
  (import "fastly_http_resp" "header_value_get" (func $resp_value (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "send_downstream" (func $resp_send (param i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "send_downstream_pending" (func $resp_send_pending (param i32) (result i32)))
  (import "fastly_http_resp" "get_addr_dest_ip" (func $resp_dest_ip (param i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "get_addr_dest_port" (func $resp_dest_port (param i32 i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (import "fastly_http_body" "write" (func $body_write (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_body" "read" (func $body_read (param i32 i32 i32 i32) (result i32)))
  (import "fastly_http_body" "close" (func $body_close (param i32) (result i32)))
  (import "fastly_http_body" "abandon" (func $body_abandon (param i32) (result i32)))
  (import "fastly_async_io" "select" (func $aselect (param i32 i32 i32 i32) (result i32)))
  (import "fastly_async_io" "is_ready" (func $is_ready (param i32 i32) (result i32)))
  (import "fastly_backend" "exists" (func $b_exists (param i32 i32 i32) (result i32)))
  (import "fastly_backend" "is_healthy" (func $b_healthy (param i32 i32 i32) (result i32)))
  (import "fastly_backend" "is_dynamic" (func $b_dynamic (param i32 i32 i32) (result i32)))
  (import "fastly_backend" "get_host" (func $b_host (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_backend" "get_override_host" (func $b_override (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_backend" "get_port" (func $b_port (param i32 i32 i32) (result i32)))
  (import "fastly_backend" "get_connect_timeout_ms" (func $b_connect (param i32 i32 i32) (result i32)))
  (import "fastly_backend" "get_first_byte_timeout_ms" (func $b_first (param i32 i32 i32) (result i32)))
  (import "fastly_backend" "get_between_bytes_timeout_ms" (func $b_between (param i32 i32 i32) (result i32)))
  (import "fastly_backend" "get_http_keepalive_time" (func $b_keepalive (param i32 i32 i32) (result i32)))
  (import "fastly_backend" "get_tcp_keepalive_enable" (func $b_tcp_enable (param i32 i32 i32) (result i32)))
  (import "fastly_backend" "get_tcp_keepalive_interval" (func $b_tcp_interval (param i32 i32 i32) (result i32)))
  (import "fastly_backend" "get_tcp_keepalive_probes" (func $b_tcp_probes (param i32 i32 i32) (result i32)))
  (import "fastly_backend" "get_tcp_keepalive_time" (func $b_tcp_time (param i32 i32 i32) (result i32)))
  (import "fastly_backend" "is_ssl" (func $b_ssl (param i32 i32 i32) (result i32)))
  (import "fastly_backend" "get_ssl_min_version" (func $b_ssl_min (param i32 i32 i32) (result i32)))
  (import "fastly_backend" "get_ssl_max_version" (func $b_ssl_max (param i32 i32 i32) (result i32)))
  (import "fastly_backend" "is_ipv6_preferred" (func $b_ipv6 (param i32 i32 i32) (result i32)))
  (import "fastly_backend" "get_max_connections" (func $b_max_conns (param i32 i32 i32) (result i32)))
  (import "fastly_backend" "get_max_use" (func $b_max_use (param i32 i32 i32) (result i32)))
  (import "fastly_backend" "get_max_lifetime_ms" (func $b_max_lifetime (param i32 i32 i32) (result i32)))
"#;

/// Helpers of the guests here, after the byte log.
const HELPERS: &str = r#"
  ;; Fill the send_error_detail at 0x1100 as the SDK does: tag 0, every mask bit set.
  (func $detail_reset
    (i32.store (i32.const 0x1100) (i32.const 0))
    (i32.store (i32.const 0x1104) (i32.const -1)))
  ;; A new request (GET http://example.com/path?q=1) and an empty body, at 0x1000/0x1004.
  (func $new_req
    (drop (call $req_new (i32.const 0x1000)))
    (drop (call $req_uri_set (i32.load (i32.const 0x1000)) (i32.const 0x40) (i32.const 27)))
    (drop (call $body_new (i32.const 0x1004))))
  ;; Read a response body (at most 4 KiB) into 0x4000; returns its length.
  (func $read_body (param $body i32) (result i32)
    (drop (call $body_read (local.get $body) (i32.const 0x4000) (i32.const 4096) (i32.const 0x1030)))
    (i32.load (i32.const 0x1030)))
  (data (i32.const 0x40) "http://example.com/path?q=1")
"#;

/// A module: the imports, the byte log and the helpers, then `body`.
fn guest(body: &str) -> Vec<u8> {
    wat::parse_str(format!(
        "(module\n{IMPORTS}\n{BYTE_LOG}\n{HELPERS}\n{body}\n)"
    ))
    .expect("valid WAT")
}

/// The guest's byte log as i32 words.
fn words(run: &Run) -> Vec<i32> {
    assert!(
        run.outcome.exit.is_success(),
        "guest failed: {:?}\n{}",
        run.outcome.exit,
        summaries(run)
    );
    le_words(&run.response.body)
}

fn origin_config() -> ServiceConfig {
    config(
        r#"
[local_server.backends.origin]
url = "http://127.0.0.1:9000/base"
"#,
    )
}

fn ok_response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> WorkResult {
    let mut h = Headers::new();
    for (n, v) in headers {
        h.append(n, *v);
    }
    WorkResult::Fetched(Box::new(FetchResponse {
        status,
        headers: h,
        body: body.to_vec(),
        remote_addr: Some("127.0.0.1:9000".parse().unwrap()),
        first_byte_us: 1500,
        end_us: 2500,
        headers_not_sent: Vec::new(),
        notes: Vec::new(),
    }))
}

fn failed(kind: FetchErrorKind) -> WorkResult {
    WorkResult::FetchFailed(FetchError {
        kind,
        message: format!("{kind:?} (test origin)"),
        headers_not_sent: Vec::new(),
        notes: Vec::new(),
    })
}

fn run(
    wasm: &[u8],
    cfg: ServiceConfig,
    req: DownstreamRequest,
    origin: impl FnMut(&FetchRequest) -> WorkResult,
) -> Run {
    run_with_origin(&engine(), wasm, cfg, req, ExecOptions::default(), origin)
}

/// A proxy in WAT: forwards the client request to backend `origin` with `send_v2` and
/// returns the response; on failure it answers the log `[status, tag, mask]`.
fn wat_proxy(extra: &str) -> Vec<u8> {
    guest(&format!(
        r#"
  (data (i32.const 0x100) "origin")
  (func (export "_start") (local $st i32)
    (drop (call $req_downstream (i32.const 0x1000) (i32.const 0x1004)))
    {extra}
    (call $detail_reset)
    (local.set $st (call $send_v2 (i32.load (i32.const 0x1000)) (i32.load (i32.const 0x1004))
      (i32.const 0x100) (i32.const 6) (i32.const 0x1100) (i32.const 0x1010) (i32.const 0x1014)))
    (if (i32.eqz (local.get $st))
      (then
        (drop (call $resp_send (i32.load (i32.const 0x1010)) (i32.load (i32.const 0x1014)) (i32.const 0))))
      (else
        (call $rec (local.get $st))
        (call $rec_at (i32.const 0x1100))
        (call $rec_at (i32.const 0x1104))
        (call $finish))))
"#
    ))
}

#[test]
fn a_forwarded_request_goes_to_the_backend_url_with_host_and_cdn_loop() {
    let req = DownstreamRequest::new("POST", "/path?q=1")
        .with_header("x-a", "1")
        .with_header("content-length", "4")
        .with_body("ping");
    let r = run(&wat_proxy(""), origin_config(), req, |_| {
        ok_response(201, &[("x-origin", "yes")], b"pong")
    });
    assert_eq!(r.response.status, 201, "{}", summaries(&r));
    assert_eq!(r.response.body, b"pong");
    assert_eq!(r.response.headers.get("x-origin"), Some(&b"yes"[..]));
    let f = &r.fetches[0];
    assert_eq!(f.backend, "origin");
    assert_eq!(f.method, "POST");
    assert_eq!(f.url, "http://127.0.0.1:9000/base/path?q=1");
    // As Viceroy: the client's own Host header goes on (no override_host).
    assert_eq!(f.headers.get("host"), Some(&b"127.0.0.1:7676"[..]));
    assert_eq!(f.headers.get("cdn-loop"), Some(LOOP_TOKEN.as_bytes()));
    assert_eq!(f.headers.get("x-a"), Some(&b"1"[..]));
    // Automatic framing: the driver frames the body.
    assert_eq!(f.headers.get("content-length"), None);
    assert_eq!(f.body, b"ping");
    assert_eq!(
        f.connect_timeout_ms,
        Some(backends::DEFAULT_CONNECT_TIMEOUT_MS)
    );
    assert_eq!(
        f.first_byte_timeout_ms,
        Some(backends::DEFAULT_FIRST_BYTE_TIMEOUT_MS)
    );
    assert_eq!(
        f.between_bytes_timeout_ms,
        Some(backends::DEFAULT_BETWEEN_BYTES_TIMEOUT_MS)
    );
}

#[test]
fn override_host_and_timeouts_come_from_the_backend() {
    let cfg = config(
        r#"
[local_server.backends.origin]
url = "https://127.0.0.1:9443/"
override_host = "www.example.org"
connect_timeout_ms = 250
first_byte_timeout_ms = 500
between_bytes_timeout_ms = 750
"#,
    );
    let req = get("/x").with_header("cdn-loop", "other-cdn");
    let r = run(&wat_proxy(""), cfg, req, |_| ok_response(200, &[], b""));
    let f = &r.fetches[0];
    assert_eq!(f.url, "https://127.0.0.1:9443/x");
    assert_eq!(f.headers.get("host"), Some(&b"www.example.org"[..]));
    assert_eq!(
        f.headers.get_all("cdn-loop"),
        vec![&b"other-cdn, edgeplay"[..]]
    );
    assert_eq!(f.connect_timeout_ms, Some(250));
    assert_eq!(f.first_byte_timeout_ms, Some(500));
    assert_eq!(f.between_bytes_timeout_ms, Some(750));
}

#[test]
fn a_new_request_without_host_uses_its_url_authority() {
    let wasm = guest(
        r#"
  (data (i32.const 0x100) "origin")
  (data (i32.const 0x110) "host")
  (data (i32.const 0x120) "set.example")
  (func (export "_start")
    (call $new_req)
    (call $rec (call $send (i32.load (i32.const 0x1000)) (i32.load (i32.const 0x1004))
      (i32.const 0x100) (i32.const 6) (i32.const 0x1010) (i32.const 0x1014)))
    (call $new_req)
    (drop (call $req_insert (i32.load (i32.const 0x1000)) (i32.const 0x110) (i32.const 4) (i32.const 0x120) (i32.const 11)))
    (call $rec (call $xqd_send (i32.load (i32.const 0x1000)) (i32.load (i32.const 0x1004))
      (i32.const 0x100) (i32.const 6) (i32.const 0x1010) (i32.const 0x1014)))
    (call $finish))
"#,
    );
    let r = run(&wasm, origin_config(), get("/"), |_| {
        ok_response(200, &[], b"")
    });
    assert_eq!(words(&r), vec![OK, OK]);
    assert_eq!(r.fetches[0].url, "http://127.0.0.1:9000/base/path?q=1");
    assert_eq!(r.fetches[0].headers.get("host"), Some(&b"example.com"[..]));
    assert_eq!(r.fetches[1].headers.get("host"), Some(&b"set.example"[..]));
}

/// Serve `req` with `wasm` whose backend `origin` is the service itself: every
/// fetch is served again, as the platform would route it back. Counts the passes
/// that ran the guest.
fn serve_self(wasm: &[u8], req: DownstreamRequest, passes: &std::cell::Cell<u32>) -> Run {
    run(wasm, origin_config(), req, |f| {
        let mut back = DownstreamRequest::new(&f.method, &f.url);
        for (n, v) in f.headers.iter() {
            back = back.with_header(n, v.to_vec());
        }
        if !loop_detected(&back) {
            passes.set(passes.get() + 1);
        }
        let inner = serve_self(wasm, back, passes);
        let mut h = Headers::new();
        for (n, v) in inner.response.headers.iter() {
            h.append(n, v.to_vec());
        }
        WorkResult::Fetched(Box::new(FetchResponse {
            status: inner.response.status,
            headers: h,
            body: inner.response.body,
            remote_addr: None,
            first_byte_us: 1,
            end_us: 2,
            headers_not_sent: Vec::new(),
            notes: Vec::new(),
        }))
    })
}

#[test]
fn a_service_may_call_itself_until_it_has_looped_too_often() {
    // As on the platform: each pass adds a token to cdn-loop, and only a request that
    // has passed through too often is refused — so a service may fetch itself.
    let passes = std::cell::Cell::new(1);
    let r = serve_self(&wat_proxy(""), get("/"), &passes);
    assert_eq!(r.response.status, 508);
    assert!(String::from_utf8_lossy(&r.response.body).contains("Loop detected"));
    assert_eq!(
        passes.get() as usize,
        backends::MAX_LOOP_HOPS,
        "the guest ran once per allowed pass, and not for the refused one"
    );
    assert!(!loop_detected(&get("/")));
    assert!(
        !loop_detected(&get("/").with_header("CDN-Loop", "fastly, edgeplay")),
        "one pass through the service is no loop"
    );
    let outputs = edgeplay_host::collect::loop_detected_outputs();
    assert_eq!(outputs.len(), 3);
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

#[test]
fn gzip_responses_are_decompressed_when_asked() {
    let zipped = gzip(b"hello, decompressed world");
    let len = zipped.len().to_string();
    let origin = |_: &FetchRequest| {
        ok_response(
            200,
            &[("content-encoding", "gzip"), ("content-length", &len)],
            &zipped,
        )
    };
    let asked = "(drop (call $req_decompress (i32.load (i32.const 0x1000)) (i32.const 1)))";
    let r = run(&wat_proxy(asked), origin_config(), get("/"), origin);
    assert_eq!(r.response.body, b"hello, decompressed world");
    assert_eq!(r.response.headers.get("content-encoding"), None);
    // The gzip length is gone; the client gets the decompressed body's length.
    assert_eq!(r.response.headers.get_all("content-length"), [&b"25"[..]]);
    let ev = backend_events(&r)[0];
    assert!(
        ev.note.as_deref().unwrap_or("").contains("decompressed"),
        "{:?}",
        ev.note
    );

    let r = run(&wat_proxy(""), origin_config(), get("/"), origin);
    assert_eq!(r.response.body, zipped);
    assert_eq!(
        r.response.headers.get("content-encoding"),
        Some(&b"gzip"[..])
    );
}

/// Asks for gzip decompression, sends to `origin`, reads the response body until a read
/// fails or ends, then reads once more. The log: `[send status, last read status,
/// bytes read before it, status and nread of the read after]`.
fn gunzip_reader() -> Vec<u8> {
    guest(
        r#"
  (data (i32.const 0x100) "origin")
  (func (export "_start") (local $st i32) (local $total i32)
    (call $new_req)
    (drop (call $req_decompress (i32.load (i32.const 0x1000)) (i32.const 1)))
    (call $rec (call $send (i32.load (i32.const 0x1000)) (i32.load (i32.const 0x1004))
      (i32.const 0x100) (i32.const 6) (i32.const 0x1010) (i32.const 0x1014)))
    (block $done
      (loop $next
        (local.set $st (call $body_read (i32.load (i32.const 0x1014)) (i32.const 0x4000) (i32.const 4096) (i32.const 0x1030)))
        (br_if $done (local.get $st))
        (br_if $done (i32.eqz (i32.load (i32.const 0x1030))))
        (local.set $total (i32.add (local.get $total) (i32.load (i32.const 0x1030))))
        (br $next)))
    (call $rec (local.get $st))
    (call $rec (local.get $total))
    (i32.store (i32.const 0x1030) (i32.const -1))
    (call $rec (call $body_read (i32.load (i32.const 0x1014)) (i32.const 0x4000) (i32.const 4096) (i32.const 0x1030)))
    (call $rec_at (i32.const 0x1030))
    (call $finish))
"#,
    )
}

#[test]
fn a_gzip_body_that_will_not_decompress_is_a_read_error() {
    let gzipped = |body: Vec<u8>| {
        move |_: &FetchRequest| ok_response(200, &[("content-encoding", "gzip")], &body)
    };
    // Not gzip at all: the first read is the error, not an empty body.
    let r = run(
        &gunzip_reader(),
        origin_config(),
        get("/"),
        gzipped(b"this is not gzip".to_vec()),
    );
    assert_log(&r, Log::default().words(&[OK, ERROR, 0, OK, 0]));
    let failed: Vec<_> = r
        .calls("fastly_http_body::read")
        .into_iter()
        .filter(|e| e.status.as_deref() == Some("error"))
        .collect();
    assert_eq!(failed.len(), 1, "{}", summaries(&r));
    let note = failed[0].note.as_deref().unwrap_or("");
    assert!(note.contains("could not be decompressed"), "{note}");

    // Cut off halfway: the bytes decoded before the cut arrive, then the error.
    let text: Vec<u8> = (0..60_000u32)
        .flat_map(|i| format!("{i} ").into_bytes())
        .collect();
    let mut cut = gzip(&text);
    cut.truncate(cut.len() / 2);
    let Err((decodable, _)) = backends::gunzip(&cut) else {
        panic!("half a gzip stream decompressed");
    };
    assert!(!decodable.is_empty() && decodable.len() < text.len());
    assert_eq!(decodable[..], text[..decodable.len()]);
    let r = run(&gunzip_reader(), origin_config(), get("/"), gzipped(cut));
    assert_log(
        &r,
        Log::default().words(&[OK, ERROR, decodable.len() as i32, OK, 0]),
    );
    let ev = backend_events(&r)[0];
    assert!(
        ev.note.as_deref().unwrap_or("").contains("then an error"),
        "{:?}",
        ev.note
    );
}

#[test]
fn framing_headers_are_kept_only_in_valid_manual_mode() {
    let manual = "(drop (call $req_framing (i32.load (i32.const 0x1000)) (i32.const 1)))";
    let req = || {
        DownstreamRequest::new("POST", "/")
            .with_header("content-length", "4")
            .with_body("ping")
    };
    let r = run(&wat_proxy(manual), origin_config(), req(), |_| {
        ok_response(200, &[], b"")
    });
    assert_eq!(r.fetches[0].headers.get("content-length"), Some(&b"4"[..]));
    let r = run(&wat_proxy(""), origin_config(), req(), |_| {
        ok_response(200, &[], b"")
    });
    assert_eq!(r.fetches[0].headers.get("content-length"), None);
    // Manual mode with a malformed content-length falls back to automatic, as Viceroy.
    let bad = DownstreamRequest::new("POST", "/")
        .with_header("content-length", "four")
        .with_body("ping");
    let r = run(&wat_proxy(manual), origin_config(), bad, |_| {
        ok_response(200, &[], b"")
    });
    assert_eq!(r.fetches[0].headers.get("content-length"), None);
    let send = r.calls("fastly_http_req::send_v2")[0];
    assert!(send.note.as_deref().unwrap_or("").contains("falls back"));
}

#[test]
fn an_unknown_backend_is_inval_with_destination_not_found() {
    let r = run(&wat_proxy(""), ServiceConfig::default(), get("/"), refuse);
    assert_eq!(words(&r), vec![INVAL, TAG_DESTINATION_NOT_FOUND, 0]);
    assert!(r.fetches.is_empty());
    let send = r.calls("fastly_http_req::send_v2")[0];
    assert!(send
        .note
        .as_deref()
        .unwrap_or("")
        .contains("no backend named"));
}

#[test]
fn failures_map_to_status_and_send_error_detail() {
    let cases = [
        (
            FetchErrorKind::ConnectionRefused,
            ERROR,
            TAG_CONNECTION_REFUSED,
        ),
        (
            FetchErrorKind::HttpResponseTimeout,
            ERROR,
            TAG_HTTP_RESPONSE_TIMEOUT,
        ),
        (
            FetchErrorKind::HttpProtocolError,
            HTTPINVALID,
            TAG_HTTP_PROTOCOL_ERROR,
        ),
        (
            FetchErrorKind::HttpIncompleteResponse,
            HTTPINCOMPLETE,
            TAG_HTTP_INCOMPLETE,
        ),
        (FetchErrorKind::ConnectionTimeout, ERROR, 9),
        (FetchErrorKind::DnsError, ERROR, 3),
        (FetchErrorKind::TlsCertificateError, ERROR, 11),
        (FetchErrorKind::BrowserBlocked, ERROR, 22),
        (FetchErrorKind::TlsConfigurationError, ERROR, 12),
        (FetchErrorKind::TlsAlertReceived, ERROR, 23),
        (FetchErrorKind::TlsProtocolError, ERROR, 24),
    ];
    for (kind, status, tag) in cases {
        let r = run(&wat_proxy(""), origin_config(), get("/"), |_| failed(kind));
        // The mask comes back cleared: edgeplay fills none of the optional fields.
        assert_eq!(words(&r), vec![status, tag, 0], "{kind:?}");
        let ev = backend_events(&r)[0];
        assert_eq!(
            ev.result("error"),
            Some(&ArgValue::Enum(backends::error_kind_name(kind).into()))
        );
    }
    // A successful send_v2 writes tag ok.
    let wasm = guest(
        r#"
  (data (i32.const 0x100) "origin")
  (func (export "_start")
    (call $new_req)
    (call $detail_reset)
    (call $rec (call $send_v3 (i32.load (i32.const 0x1000)) (i32.load (i32.const 0x1004))
      (i32.const 0x100) (i32.const 6) (i32.const 0x1100) (i32.const 0x1010) (i32.const 0x1014)))
    (call $rec_at (i32.const 0x1100))
    (call $rec_at (i32.const 0x1104))
    (call $finish))
"#,
    );
    let r = run(&wasm, origin_config(), get("/"), |_| {
        ok_response(200, &[], b"")
    });
    assert_eq!(words(&r), vec![OK, TAG_OK, 0]);
}

fn backend_events(r: &Run) -> Vec<&edgeplay_host::TraceEvent> {
    r.trace
        .iter()
        .filter(|e| e.kind == EventKind::Work && e.module == "backend")
        .collect()
}

#[test]
fn every_fetch_is_a_backend_trace_event_for_the_waterfall() {
    let r = run(&wat_proxy(""), origin_config(), get("/p"), |_| {
        ok_response(203, &[], b"12345")
    });
    let evs = backend_events(&r);
    assert_eq!(evs.len(), 1);
    let ev = evs[0];
    assert_eq!(ev.name, "origin");
    assert_eq!(ev.arg("method"), Some(&ArgValue::Str("GET".into())));
    assert_eq!(
        ev.arg("url"),
        Some(&ArgValue::Str("http://127.0.0.1:9000/base/p".into()))
    );
    assert_eq!(ev.arg("status"), Some(&ArgValue::Int(203)));
    assert_eq!(ev.arg("bytes"), Some(&ArgValue::Int(5)));
    assert_eq!(ev.result("first_byte_us"), Some(&ArgValue::Int(1500)));
    assert_eq!(ev.result("end_us"), Some(&ArgValue::Int(2500)));
    assert_eq!(ev.dur_us, 2500.0);
    let send = r.calls("fastly_http_req::send_v2")[0];
    assert!(ev.start_us >= send.start_us);
    assert!(matches!(send.result("resp"), Some(ArgValue::Handle { .. })));
    assert_eq!(send.result("status"), Some(&ArgValue::Int(203)));
}

#[test]
fn the_drivers_notes_and_unsent_headers_are_on_the_fetch_event() {
    // A browser driver cannot send `host` or `connection`, and says so.
    let r = run(&wat_proxy(""), origin_config(), get("/p"), |_| {
        let WorkResult::Fetched(mut resp) = ok_response(200, &[], b"ok") else {
            unreachable!()
        };
        resp.headers_not_sent = vec!["host".into(), "connection".into()];
        resp.notes = vec!["the browser followed a redirect".into()];
        WorkResult::Fetched(resp)
    });
    let ev = backend_events(&r)[0];
    assert_eq!(
        ev.arg("headers_not_sent"),
        Some(&ArgValue::List(vec!["host".into(), "connection".into()]))
    );
    assert!(ev
        .note
        .as_deref()
        .is_some_and(|n| n.contains("followed a redirect")));

    // A failed fetch keeps its message first, then the driver's notes.
    let r = run(&wat_proxy(""), origin_config(), get("/p"), |_| {
        WorkResult::FetchFailed(FetchError {
            kind: FetchErrorKind::BrowserBlocked,
            message: "this may be CORS".into(),
            headers_not_sent: vec!["host".into()],
            notes: vec!["a note".into()],
        })
    });
    let ev = backend_events(&r)[0];
    assert_eq!(ev.status.as_deref(), Some("browser_blocked"));
    assert_eq!(
        ev.arg("headers_not_sent"),
        Some(&ArgValue::List(vec!["host".into()]))
    );
    assert_eq!(ev.note.as_deref(), Some("this may be CORS; a note"));
}

#[test]
fn mock_backends_answer_without_the_network() {
    let cfg = config(
        r#"
[local_server.backends.origin]
mock = { status = 201, headers = { "content-type" = "application/json", "x-multi" = ["1", "2"] }, body = '{"ok":true}' }
"#,
    );
    let r = run(&wat_proxy(""), cfg, get("/"), |f| {
        panic!("the mock must not reach the driver: {}", f.url)
    });
    assert!(r.fetches.is_empty());
    assert_eq!(r.response.status, 201);
    assert_eq!(r.response.body, br#"{"ok":true}"#);
    assert_eq!(
        r.response.headers.get("content-type"),
        Some(&b"application/json"[..])
    );
    assert_eq!(r.response.headers.get_all("x-multi").len(), 2);
    assert_eq!(r.response.headers.get("content-length"), Some(&b"11"[..]));
    let ev = backend_events(&r)[0];
    assert_eq!(ev.arg("mock"), Some(&ArgValue::Enum("static".into())));
    assert_eq!(ev.arg("status"), Some(&ArgValue::Int(201)));
    assert_eq!(
        ev.arg("url"),
        Some(&ArgValue::Str("http://mock.invalid/".into()))
    );

    let cfg = config(
        r#"
[local_server.backends.origin]
url = "http://api.example/v1"
mock = "echo"
"#,
    );
    let req = DownstreamRequest::new("PUT", "/items?id=3")
        .with_header("content-type", "text/plain")
        .with_body("echo me");
    let r = run(&wat_proxy(""), cfg, req, |_| panic!("no driver work"));
    assert_eq!(r.response.status, 200);
    assert_eq!(r.response.body, b"echo me");
    let h = &r.response.headers;
    assert_eq!(h.get("x-echo-method"), Some(&b"PUT"[..]));
    assert_eq!(
        h.get("x-echo-url"),
        Some(&b"http://api.example/v1/items?id=3"[..])
    );
    assert_eq!(h.get("x-echo-host"), Some(&b"127.0.0.1:7676"[..]));
    assert_eq!(h.get("x-echo-header-cdn-loop"), Some(&b"edgeplay"[..]));
    assert_eq!(h.get("content-type"), Some(&b"text/plain"[..]));
}

#[test]
fn a_mock_delay_is_driver_work_and_can_time_out() {
    let cfg = config(
        r#"
[local_server.backends.origin]
mock = { body = "late", delay_ms = 40 }
[local_server.backends.slow]
mock = { echo = true, delay_ms = 900 }
first_byte_timeout_ms = 100
"#,
    );
    let mut sleeps = Vec::new();
    let r = run_driven(
        &engine(),
        &wat_proxy(""),
        cfg.clone(),
        get("/"),
        ExecOptions::default(),
        refuse,
        |w: &[Work]| {
            if let WorkKind::Sleep { ns } = w[0].kind {
                sleeps.push(ns);
            }
            0
        },
    );
    assert_eq!(r.response.body, b"late");
    assert_eq!(sleeps, vec![40_000_000]);
    let wasm = guest(
        r#"
  (data (i32.const 0x100) "slow")
  (func (export "_start")
    (call $new_req)
    (call $detail_reset)
    (call $rec (call $send_v2 (i32.load (i32.const 0x1000)) (i32.load (i32.const 0x1004))
      (i32.const 0x100) (i32.const 4) (i32.const 0x1100) (i32.const 0x1010) (i32.const 0x1014)))
    (call $rec_at (i32.const 0x1100))
    (call $finish))
"#,
    );
    let r = run(&wasm, cfg, get("/"), refuse);
    assert_eq!(words(&r), vec![ERROR, TAG_HTTP_RESPONSE_TIMEOUT]);
}

/// Two `send_async` to `a` and `b`, then `pending_req_select` over both: the log is
/// `[status a, status b, select status, done index, first body..., wait status, second body...]`.
fn select_guest() -> Vec<u8> {
    guest(
        r#"
  (data (i32.const 0x100) "a")
  (data (i32.const 0x101) "b")
  ;; The second request's own URL: one URL twice would be one cache key, and the
  ;; second send would wait for the first (request collapsing).
  (data (i32.const 0x140) "http://example.com/other")
  (func (export "_start") (local $pa i32) (local $pb i32) (local $n i32)
    (call $new_req)
    (call $rec (call $send_async (i32.load (i32.const 0x1000)) (i32.load (i32.const 0x1004))
      (i32.const 0x100) (i32.const 1) (i32.const 0x1020)))
    (local.set $pa (i32.load (i32.const 0x1020)))
    (call $new_req)
    (drop (call $req_uri_set (i32.load (i32.const 0x1000)) (i32.const 0x140) (i32.const 24)))
    (call $rec (call $send_async (i32.load (i32.const 0x1000)) (i32.load (i32.const 0x1004))
      (i32.const 0x101) (i32.const 1) (i32.const 0x1020)))
    (local.set $pb (i32.load (i32.const 0x1020)))
    (i32.store (i32.const 0x1200) (local.get $pa))
    (i32.store (i32.const 0x1204) (local.get $pb))
    (call $rec (call $select (i32.const 0x1200) (i32.const 2) (i32.const 0x1024) (i32.const 0x1010) (i32.const 0x1014)))
    (call $rec_at (i32.const 0x1024))
    (local.set $n (call $read_body (i32.load (i32.const 0x1014))))
    (call $rec_bytes (i32.const 0x4000) (local.get $n))
    ;; Wait for the other one.
    (if (i32.eqz (i32.load (i32.const 0x1024)))
      (then (call $rec (call $wait (local.get $pb) (i32.const 0x1010) (i32.const 0x1014))))
      (else (call $rec (call $wait (local.get $pa) (i32.const 0x1010) (i32.const 0x1014)))))
    (local.set $n (call $read_body (i32.load (i32.const 0x1014))))
    (call $rec_bytes (i32.const 0x4000) (local.get $n))
    (call $finish))
"#,
    )
}

fn ab_config() -> ServiceConfig {
    config(
        r#"
[local_server.backends.a]
url = "http://127.0.0.1:9001"
[local_server.backends.b]
url = "http://127.0.0.1:9002"
"#,
    )
}

/// Complete the fetch to `backend` first (when it is outstanding).
/// Finish `backend`'s fetch first: until it is under way nothing finishes while the
/// guest can still run (a guest that polls, as the SDK's cache lookups do, lets the
/// driver in before its second fetch starts).
fn finish_first(backend: &'static str) -> impl FnMut(&[Work]) -> usize {
    move |w: &[Work]| {
        w.iter()
            .position(|w| matches!(&w.kind, WorkKind::Fetch(f) if f.backend == backend))
            .unwrap_or(usize::MAX)
    }
}

fn body_is_backend(f: &FetchRequest) -> WorkResult {
    ok_response(200, &[], f.backend.as_bytes())
}

#[test]
fn pending_req_select_picks_the_first_to_finish() {
    let mut outstanding_at_first_pick = 0;
    let r = run_driven(
        &engine(),
        &select_guest(),
        ab_config(),
        get("/"),
        ExecOptions::default(),
        body_is_backend,
        |w: &[Work]| {
            if outstanding_at_first_pick == 0 {
                outstanding_at_first_pick = w.len();
            }
            finish_first("b")(w)
        },
    );
    // Both fetches were under way before either finished: send_async does not suspend.
    assert_eq!(outstanding_at_first_pick, 2);
    assert_log(
        &r,
        Log::default().words(&[OK, OK, OK, 1]).b(b"b").i(OK).b(b"a"),
    );

    let r = run_driven(
        &engine(),
        &select_guest(),
        ab_config(),
        get("/"),
        ExecOptions::default(),
        body_is_backend,
        finish_first("a"),
    );
    assert_log(
        &r,
        Log::default().words(&[OK, OK, OK, 0]).b(b"a").i(OK).b(b"b"),
    );
}

#[test]
fn a_failed_request_in_select_is_ok_with_invalid_handles() {
    let wasm = guest(
        r#"
  (data (i32.const 0x100) "a")
  (func (export "_start")
    (call $new_req)
    (drop (call $send_async (i32.load (i32.const 0x1000)) (i32.load (i32.const 0x1004))
      (i32.const 0x100) (i32.const 1) (i32.const 0x1200)))
    (call $detail_reset)
    (call $rec (call $select_v2 (i32.const 0x1200) (i32.const 1) (i32.const 0x1100) (i32.const 0x1024) (i32.const 0x1010) (i32.const 0x1014)))
    (call $rec_at (i32.const 0x1024))
    (call $rec_at (i32.const 0x1010))
    (call $rec_at (i32.const 0x1100))
    ;; No handles, too many handles, a handle that is not a pending request.
    (call $rec (call $select (i32.const 0x1200) (i32.const 0) (i32.const 0x1024) (i32.const 0x1010) (i32.const 0x1014)))
    (call $rec (call $select (i32.const 0x1200) (i32.const 100000) (i32.const 0x1024) (i32.const 0x1010) (i32.const 0x1014)))
    (i32.store (i32.const 0x1200) (i32.const 77777))
    (call $rec (call $select (i32.const 0x1200) (i32.const 1) (i32.const 0x1024) (i32.const 0x1010) (i32.const 0x1014)))
    (call $rec (call $select (i32.const 0xfffffff0) (i32.const 8) (i32.const 0x1024) (i32.const 0x1010) (i32.const 0x1014)))
    (call $finish))
"#,
    );
    let r = run(&wasm, ab_config(), get("/"), refuse);
    assert_eq!(
        words(&r),
        vec![
            OK,
            0,
            0xFFFF_FFFEu32 as i32,
            TAG_CONNECTION_REFUSED,
            INVAL,
            INVAL,
            BADF,
            INVAL
        ]
    );
}

#[test]
fn async_io_select_times_out_with_u32_max() {
    let wasm = guest(
        r#"
  (data (i32.const 0x100) "a")
  (func (export "_start") (local $p i32)
    (call $new_req)
    (drop (call $send_async (i32.load (i32.const 0x1000)) (i32.load (i32.const 0x1004))
      (i32.const 0x100) (i32.const 1) (i32.const 0x1200)))
    (local.set $p (i32.load (i32.const 0x1200)))
    (call $rec (call $is_ready (local.get $p) (i32.const 0x1024)))
    (call $rec_at (i32.const 0x1024))
    ;; 10 ms timeout: the driver finishes the sleep first.
    (call $rec (call $aselect (i32.const 0x1200) (i32.const 1) (i32.const 10) (i32.const 0x1024)))
    (call $rec_at (i32.const 0x1024))
    ;; No timeout: waits for the fetch.
    (call $rec (call $aselect (i32.const 0x1200) (i32.const 1) (i32.const 0) (i32.const 0x1024)))
    (call $rec_at (i32.const 0x1024))
    (call $rec (call $is_ready (local.get $p) (i32.const 0x1024)))
    (call $rec_at (i32.const 0x1024))
    ;; A body is always ready; no handles and no timeout is INVAL; a bogus handle BADF.
    (drop (call $body_new (i32.const 0x1204)))
    (call $rec (call $aselect (i32.const 0x1204) (i32.const 1) (i32.const 0) (i32.const 0x1024)))
    (call $rec_at (i32.const 0x1024))
    (call $rec (call $aselect (i32.const 0x1200) (i32.const 0) (i32.const 0) (i32.const 0x1024)))
    (i32.store (i32.const 0x1208) (i32.const 99999))
    (call $rec (call $aselect (i32.const 0x1208) (i32.const 1) (i32.const 0) (i32.const 0x1024)))
    (call $rec (call $is_ready (i32.const 99999) (i32.const 0x1024)))
    ;; No handles with a timeout just sleeps.
    (call $rec (call $aselect (i32.const 0x1200) (i32.const 0) (i32.const 5) (i32.const 0x1024)))
    (call $rec_at (i32.const 0x1024))
    ;; The request is still there: take it.
    (call $rec (call $wait (local.get $p) (i32.const 0x1010) (i32.const 0x1014)))
    (call $finish))
"#,
    );
    let r = run_driven(
        &engine(),
        &wasm,
        ab_config(),
        get("/"),
        ExecOptions::default(),
        body_is_backend,
        // Sleeps finish first; a fetch only when the guest waits for nothing else.
        |w: &[Work]| {
            w.iter()
                .position(|w| matches!(w.kind, WorkKind::Sleep { .. }))
                .unwrap_or(usize::MAX)
        },
    );
    let max = u32::MAX as i32;
    assert_eq!(
        words(&r),
        vec![OK, 0, OK, max, OK, 0, OK, 1, OK, 0, INVAL, BADF, BADF, OK, max, OK],
        "{}",
        summaries(&r)
    );
}

#[test]
fn the_33rd_backend_request_is_limit_exceeded() {
    let cfg = config(
        r#"
[local_server.backends.m]
mock = { body = "m" }
"#,
    );
    let wasm = guest(
        r#"
  (data (i32.const 0x100) "m")
  (func (export "_start") (local $i i32)
    (loop $l
      (call $new_req)
      (call $rec (call $send_async (i32.load (i32.const 0x1000)) (i32.load (i32.const 0x1004))
        (i32.const 0x100) (i32.const 1) (i32.const 0x1200)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 33))))
    ;; The handles of the refused send are not consumed.
    (call $rec (call $req_close (i32.load (i32.const 0x1000))))
    (call $finish))
"#,
    );
    let r = run(&wasm, cfg, get("/"), refuse);
    let mut want = vec![OK; 32];
    want.push(LIMITEXCEEDED);
    want.push(OK);
    assert_eq!(words(&r), want);
    let last = r.calls("fastly_http_req::send_async")[32];
    assert!(last
        .note
        .as_deref()
        .unwrap_or("")
        .contains("32 backend requests"));
}

/// `dynamic_backend_config` at 0x2000 (108 bytes), cleared.
const CLEAR_CONFIG: &str = "(memory.fill (i32.const 0x2000) (i32.const 0) (i32.const 108))";

#[test]
fn dynamic_backends_register_clash_and_are_used() {
    let wasm = guest(&format!(
        r#"
  (data (i32.const 0x100) "dyn")
  (data (i32.const 0x110) "127.0.0.1:9100")
  (data (i32.const 0x130) "dyn.example")
  (data (i32.const 0x140) "origin")
  (data (i32.const 0x150) "http://x")
  (func (export "_start")
    {CLEAR_CONFIG}
    ;; host_override (bit 1) and first_byte_timeout (bit 3).
    (i32.store (i32.const 0x2000) (i32.const 0x130))
    (i32.store (i32.const 0x2004) (i32.const 11))
    (i32.store (i32.const 0x200c) (i32.const 4321))
    (call $rec (call $register (i32.const 0x100) (i32.const 3) (i32.const 0x110) (i32.const 14) (i32.const 0xa) (i32.const 0x2000)))
    ;; The same name again, or a configured backend's name: ERROR (NameInUse).
    (call $rec (call $register (i32.const 0x100) (i32.const 3) (i32.const 0x110) (i32.const 14) (i32.const 0) (i32.const 0x2000)))
    (call $rec (call $register (i32.const 0x140) (i32.const 6) (i32.const 0x110) (i32.const 14) (i32.const 0) (i32.const 0x2000)))
    ;; The reserved bit, an unknown bit, an empty host override, a bad target, a bad config pointer.
    (call $rec (call $register (i32.const 0x130) (i32.const 3) (i32.const 0x110) (i32.const 14) (i32.const 1) (i32.const 0x2000)))
    (call $rec (call $register (i32.const 0x130) (i32.const 3) (i32.const 0x110) (i32.const 14) (i32.const 0x1000000) (i32.const 0x2000)))
    (i32.store (i32.const 0x2004) (i32.const 0))
    (call $rec (call $register (i32.const 0x130) (i32.const 3) (i32.const 0x110) (i32.const 14) (i32.const 2) (i32.const 0x2000)))
    (call $rec (call $register (i32.const 0x130) (i32.const 3) (i32.const 0x150) (i32.const 8) (i32.const 0) (i32.const 0x2000)))
    (call $rec (call $register (i32.const 0x130) (i32.const 3) (i32.const 0x110) (i32.const 14) (i32.const 0) (i32.const 0xffffffe0)))
    (call $rec (call $b_exists (i32.const 0x100) (i32.const 3) (i32.const 0x1024)))
    (call $rec_at (i32.const 0x1024))
    (call $rec (call $b_dynamic (i32.const 0x100) (i32.const 3) (i32.const 0x1024)))
    (call $rec_at (i32.const 0x1024))
    (call $rec (call $b_dynamic (i32.const 0x140) (i32.const 6) (i32.const 0x1024)))
    (call $rec_at (i32.const 0x1024))
    (call $new_req)
    (call $rec (call $send (i32.load (i32.const 0x1000)) (i32.load (i32.const 0x1004))
      (i32.const 0x100) (i32.const 3) (i32.const 0x1010) (i32.const 0x1014)))
    (call $finish))
"#
    ));
    let r = run(&wasm, origin_config(), get("/"), |_| {
        ok_response(200, &[], b"")
    });
    assert_eq!(
        words(&r),
        vec![OK, ERROR, ERROR, INVAL, INVAL, INVAL, INVAL, INVAL, OK, 1, OK, 1, OK, 0, OK],
        "{}",
        summaries(&r)
    );
    let f = &r.fetches[0];
    assert_eq!(f.backend, "dyn");
    assert_eq!(f.url, "http://127.0.0.1:9100/path?q=1");
    assert_eq!(f.headers.get("host"), Some(&b"dyn.example"[..]));
    assert_eq!(f.first_byte_timeout_ms, Some(4321));
}

#[test]
fn a_dynamic_backends_tls_options_and_grpc_go_with_its_fetches() {
    // use_ssl (5), ssl min/max (6, 7), cert_hostname (8), ca_cert (9), sni_hostname (11),
    // grpc (14); then a plain backend with grpc alone and an empty sni_hostname.
    let tls: u32 = (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 11) | (1 << 14);
    let plain: u32 = (1 << 8) | (1 << 11) | (1 << 14);
    let wasm = guest(&format!(
        r#"
  (data (i32.const 0x100) "tls")
  (data (i32.const 0x104) "h2c")
  (data (i32.const 0x110) "127.0.0.1:9100")
  (data (i32.const 0x130) "origin.test")
  (data (i32.const 0x140) "sni.example")
  (data (i32.const 0x150) "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
  (func (export "_start")
    {CLEAR_CONFIG}
    (i32.store (i32.const 0x2014) (i32.const 1))
    (i32.store (i32.const 0x2018) (i32.const 3))
    (i32.store (i32.const 0x201c) (i32.const 0x130))
    (i32.store (i32.const 0x2020) (i32.const 11))
    (i32.store (i32.const 0x2024) (i32.const 0x150))
    (i32.store (i32.const 0x2028) (i32.const 59))
    (i32.store (i32.const 0x2034) (i32.const 0x140))
    (i32.store (i32.const 0x2038) (i32.const 11))
    (call $rec (call $register (i32.const 0x100) (i32.const 3) (i32.const 0x110) (i32.const 14) (i32.const {tls}) (i32.const 0x2000)))
    (i32.store (i32.const 0x2038) (i32.const 0))
    (call $rec (call $register (i32.const 0x104) (i32.const 3) (i32.const 0x110) (i32.const 14) (i32.const {plain}) (i32.const 0x2000)))
    (call $new_req)
    (call $rec (call $send (i32.load (i32.const 0x1000)) (i32.load (i32.const 0x1004))
      (i32.const 0x100) (i32.const 3) (i32.const 0x1010) (i32.const 0x1014)))
    (call $new_req)
    (call $rec (call $send (i32.load (i32.const 0x1000)) (i32.load (i32.const 0x1004))
      (i32.const 0x104) (i32.const 3) (i32.const 0x1010) (i32.const 0x1014)))
    (call $finish))
"#
    ));
    let r = run(&wasm, origin_config(), get("/"), |_| {
        // Not stored, so the second send reaches the origin too.
        ok_response(200, &[("cache-control", "no-store")], b"")
    });
    assert_eq!(words(&r), vec![OK, OK, OK, OK], "{}", summaries(&r));
    let c = r.fetches[0].connect.as_deref().expect("TLS options");
    assert_eq!(r.fetches[0].url, "https://127.0.0.1:9100/path?q=1");
    assert_eq!(
        c.ca_cert.as_deref(),
        Some("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    );
    assert_eq!(c.cert_host.as_deref(), Some("origin.test"));
    assert_eq!(c.sni_hostname.as_deref(), Some("sni.example"));
    assert!(!c.no_sni);
    assert_eq!((c.min_version, c.max_version), (Some(1), Some(3)));
    assert!(c.grpc);
    assert_eq!((&c.client_cert, &c.client_key), (&None, &None));
    // Over plain http only gRPC applies: the TLS settings are dropped.
    let c = r.fetches[1].connect.as_deref().expect("gRPC");
    assert_eq!(r.fetches[1].url, "http://127.0.0.1:9100/path?q=1");
    assert_eq!(
        *c,
        edgeplay_host::ConnectOptions {
            grpc: true,
            ..Default::default()
        }
    );
}

#[test]
fn at_most_200_dynamic_backends() {
    let wasm = guest(&format!(
        r#"
  (data (i32.const 0x110) "127.0.0.1:9100")
  (func (export "_start") (local $i i32) (local $st i32)
    {CLEAR_CONFIG}
    (loop $l
      ;; Names "n000".."n200": a 4-byte name built from the counter.
      (i32.store8 (i32.const 0x300) (i32.const 110))
      (i32.store8 (i32.const 0x301) (i32.add (i32.const 48) (i32.div_u (local.get $i) (i32.const 100))))
      (i32.store8 (i32.const 0x302) (i32.add (i32.const 48) (i32.rem_u (i32.div_u (local.get $i) (i32.const 10)) (i32.const 10))))
      (i32.store8 (i32.const 0x303) (i32.add (i32.const 48) (i32.rem_u (local.get $i) (i32.const 10))))
      (local.set $st (call $register (i32.const 0x300) (i32.const 4) (i32.const 0x110) (i32.const 14) (i32.const 0) (i32.const 0x2000)))
      (if (local.get $st) (then (call $rec (local.get $i)) (call $rec (local.get $st))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.le_u (local.get $i) (i32.const 200))))
    (call $finish))
"#
    ));
    let r = run(&wasm, ServiceConfig::default(), get("/"), refuse);
    assert_eq!(words(&r), vec![200, LIMITEXCEEDED]);
}

/// The log: pairs, then port, host and override host.
fn getter_log(pairs: &[(i32, i32)], port: i32, host: &str, over: Option<&str>) -> Log {
    let log = pairs
        .iter()
        .fold(Log::default(), |log, &(s, v)| log.i(s).i(v))
        .words(&[OK, port])
        .i(OK)
        .b(host.as_bytes());
    match over {
        Some(o) => log.i(OK).b(o.as_bytes()),
        None => log.i(NONE),
    }
}

#[test]
fn every_backend_getter_answers_for_a_configured_backend() {
    let cfg = config(
        r#"
[local_server.backends.origin]
url = "https://origin.example:8443/api"
override_host = "www.example.org"
first_byte_timeout_ms = 2000
health = "unhealthy"
"#,
    );
    let wasm = getters_guest("origin", "");
    let r = run(&wasm, cfg, get("/"), refuse);
    let u = -7;
    let want = getter_log(
        &[
            (OK, 1),
            (OK, 2),
            (OK, 0),
            (OK, 1000),
            (OK, 2000),
            (OK, 10000),
            (OK, 0),
            (OK, 0),
            (OK, 0),
            (OK, 0),
            (OK, 0),
            (OK, 1),
            (NONE, u),
            (NONE, u),
            (OK, 1),
            (OK, 0),
            (OK, 0),
            (OK, 0),
        ],
        8443,
        "origin.example",
        Some("www.example.org"),
    );
    assert_log(&r, want);
}

/// A guest calling every getter on the backend `name` (after `setup`); it logs
/// `[status, value]` pairs, then port, host and override host.
fn getters_guest(name: &str, setup: &str) -> Vec<u8> {
    let len = name.len();
    let mut calls = String::new();
    for g in [
        "$b_exists",
        "$b_healthy",
        "$b_dynamic",
        "$b_connect",
        "$b_first",
        "$b_between",
        "$b_keepalive",
        "$b_tcp_enable",
        "$b_tcp_interval",
        "$b_tcp_probes",
        "$b_tcp_time",
        "$b_ssl",
        "$b_ssl_min",
        "$b_ssl_max",
        "$b_ipv6",
        "$b_max_conns",
        "$b_max_use",
        "$b_max_lifetime",
    ] {
        calls.push_str(&format!(
            "(i32.store (i32.const 0x1024) (i32.const -7))
    (call $rec (call {g} (i32.const 0x100) (i32.const {len}) (i32.const 0x1024)))
    (call $rec_at (i32.const 0x1024))\n    "
        ));
    }
    guest(&format!(
        r#"
  (data (i32.const 0x100) "{name}")
  (data (i32.const 0x110) "127.0.0.1:9200")
  (data (i32.const 0x130) "over.example")
  (func (export "_start")
    {setup}
    {calls}
    (call $rec (call $b_port (i32.const 0x100) (i32.const {len}) (i32.const 0x1028)))
    (call $rec_u16_at (i32.const 0x1028))
    (call $rec (call $b_host (i32.const 0x100) (i32.const {len}) (i32.const 0x3000) (i32.const 64) (i32.const 0x102c)))
    (call $rec_bytes (i32.const 0x3000) (i32.load (i32.const 0x102c)))
    (i32.store (i32.const 0x102c) (i32.const 0))
    (call $rec (call $b_override (i32.const 0x100) (i32.const {len}) (i32.const 0x3000) (i32.const 64) (i32.const 0x102c)))
    (call $rec_bytes (i32.const 0x3000) (i32.load (i32.const 0x102c)))
    (call $finish))
"#
    ))
}

#[test]
fn every_backend_getter_answers_for_a_dynamic_backend() {
    // use_ssl (5), ssl min/max (6, 7), keepalive (15), pooling limits (16),
    // prefer_ipv4 (17), host override (1), connect timeout (2).
    let mask: u32 =
        (1 << 1) | (1 << 2) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 15) | (1 << 16) | (1 << 17);
    let setup = format!(
        r#"{CLEAR_CONFIG}
    (i32.store (i32.const 0x2000) (i32.const 0x130))
    (i32.store (i32.const 0x2004) (i32.const 12))
    (i32.store (i32.const 0x2008) (i32.const 333))
    (i32.store (i32.const 0x2014) (i32.const 2))
    (i32.store (i32.const 0x2018) (i32.const 3))
    (i32.store (i32.const 0x2048) (i32.const 60000))
    (i32.store (i32.const 0x204c) (i32.const 1))
    (i32.store (i32.const 0x2050) (i32.const 10))
    (i32.store (i32.const 0x2054) (i32.const 4))
    (i32.store (i32.const 0x2058) (i32.const 300))
    (i32.store (i32.const 0x205c) (i32.const 50))
    (i32.store (i32.const 0x2060) (i32.const 100))
    (i32.store (i32.const 0x2064) (i32.const 90000))
    (call $rec (call $register (i32.const 0x100) (i32.const 3) (i32.const 0x110) (i32.const 14) (i32.const {mask}) (i32.const 0x2000)))"#
    );
    let wasm = getters_guest("dyn", &setup);
    let r = run(&wasm, ServiceConfig::default(), get("/"), refuse);
    // The registration's status, then the getters.
    let getters = getter_log(
        &[
            (OK, 1),
            (OK, 0),
            (OK, 1),
            (OK, 333),
            (OK, 15000),
            (OK, 10000),
            (OK, 60000),
            (OK, 1),
            (OK, 10),
            (OK, 4),
            (OK, 300),
            (OK, 1),
            (OK, 2),
            (OK, 3),
            (OK, 0),
            (OK, 50),
            (OK, 100),
            (OK, 90000),
        ],
        9200,
        "127.0.0.1",
        Some("over.example"),
    );
    assert_log(&r, Log::default().i(OK).b(&getters.0));
}

#[test]
fn backend_getters_of_an_unknown_backend_are_inval() {
    let wasm = getters_guest("nope", "");
    let r = run(&wasm, ServiceConfig::default(), get("/"), refuse);
    let u = -7;
    let mut pairs: Vec<(i32, i32)> = vec![(OK, 0)];
    pairs.extend(std::iter::repeat_n((INVAL, u), 17));
    let want = pairs
        .iter()
        .fold(Log::default(), |log, &(s, v)| log.i(s).i(v))
        .words(&[INVAL, 0, INVAL, INVAL]);
    assert_log(&r, want);
}

#[test]
fn an_unreliable_backend_drops_its_share_with_fastlike_502s() {
    let cfg = config(
        r#"
[local_server.backends.flaky]
url = "http://127.0.0.1:9300"
reachable_percent = 50
[local_server.backends.down]
url = "http://127.0.0.1:9301"
reachable_percent = 0
"#,
    );
    // 30 sends to `flaky` per request; the log counts the 502s and checks `down`.
    let wasm = guest(
        r#"
  (data (i32.const 0x100) "flaky")
  (data (i32.const 0x110) "down")
  (func (export "_start") (local $i i32) (local $n502 i32)
    (loop $l
      (call $new_req)
      (drop (call $send (i32.load (i32.const 0x1000)) (i32.load (i32.const 0x1004))
        (i32.const 0x100) (i32.const 5) (i32.const 0x1010) (i32.const 0x1014)))
      (drop (call $resp_status (i32.load (i32.const 0x1010)) (i32.const 0x1020)))
      (if (i32.eq (i32.load16_u (i32.const 0x1020)) (i32.const 502))
        (then (local.set $n502 (i32.add (local.get $n502) (i32.const 1)))))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 30))))
    (call $rec (local.get $n502))
    (call $new_req)
    (call $rec (call $send (i32.load (i32.const 0x1000)) (i32.load (i32.const 0x1004))
      (i32.const 0x110) (i32.const 4) (i32.const 0x1010) (i32.const 0x1014)))
    (drop (call $resp_status (i32.load (i32.const 0x1010)) (i32.const 0x1020)))
    (call $rec_u16_at (i32.const 0x1020))
    (call $rec_bytes (i32.const 0x4000) (call $read_body (i32.load (i32.const 0x1014))))
    (call $rec (call $b_healthy (i32.const 0x100) (i32.const 5) (i32.const 0x1024)))
    (call $rec_at (i32.const 0x1024))
    (call $rec (call $b_healthy (i32.const 0x110) (i32.const 4) (i32.const 0x1024)))
    (call $rec_at (i32.const 0x1024))
    (call $finish))
"#,
    );
    let engine = engine();
    let (mut dropped, mut total, mut reached) = (0, 0, 0);
    for _ in 0..10 {
        let r = run_with_origin(
            &engine,
            &wasm,
            cfg.clone(),
            get("/"),
            ExecOptions::default(),
            // Not stored, so every request that is not dropped reaches the origin.
            |_| ok_response(200, &[("cache-control", "no-store")], b"up"),
        );
        let body = &r.response.body;
        let n = i32::from_le_bytes(body[0..4].try_into().unwrap());
        let rest = &body[4..];
        let tail = Log::default()
            .words(&[OK, 502])
            .b(b"Backend request failed: simulated backend failure (uptime=0%)")
            .words(&[OK, 1, OK, 2]);
        assert_eq!(rest, &tail.0[..], "{}", summaries(&r));
        dropped += n;
        total += 30;
        reached += r.fetches.len() as i32;
        assert!(backend_events(&r).iter().any(|e| e
            .note
            .as_deref()
            .unwrap_or("")
            .contains("simulated failure")));
    }
    assert_eq!(reached + dropped, total);
    let share = dropped as f64 / total as f64;
    assert!(
        (0.35..=0.65).contains(&share),
        "dropped {dropped} of {total}"
    );
}

#[test]
fn pending_req_poll_then_queued_headers_apply() {
    let wasm = guest(
        r#"
  (data (i32.const 0x100) "a")
  (data (i32.const 0x110) "x-new")
  (data (i32.const 0x118) "x-keep")
  (data (i32.const 0x120) "x-remove")
  (data (i32.const 0x130) "v2")
  (func (export "_start") (local $p i32) (local $i i32)
    (call $new_req)
    (drop (call $send_async (i32.load (i32.const 0x1000)) (i32.load (i32.const 0x1004))
      (i32.const 0x100) (i32.const 1) (i32.const 0x1200)))
    (local.set $p (i32.load (i32.const 0x1200)))
    (call $rec (call $pending_insert (local.get $p) (i32.const 0x110) (i32.const 5) (i32.const 0x130) (i32.const 2) (i32.const 1)))
    (call $rec (call $pending_append (local.get $p) (i32.const 0x118) (i32.const 6) (i32.const 0x130) (i32.const 2) (i32.const 0)))
    (call $rec (call $pending_remove (local.get $p) (i32.const 0x120) (i32.const 8) (i32.const 1)))
    (call $rec (call $pending_remove (local.get $p) (i32.const 0x120) (i32.const 8) (i32.const 9)))
    (call $rec (call $pending_remove (i32.const 4242) (i32.const 0x120) (i32.const 8) (i32.const 0)))
    ;; The first poll finds it not done.
    (call $rec (call $poll (local.get $p) (i32.const 0x1024) (i32.const 0x1010) (i32.const 0x1014)))
    (call $rec_at (i32.const 0x1024))
    (call $rec_at (i32.const 0x1010))
    ;; Poll until done.
    (loop $l
      (drop (call $poll (local.get $p) (i32.const 0x1024) (i32.const 0x1010) (i32.const 0x1014)))
      (br_if $l (i32.eqz (i32.load (i32.const 0x1024)))))
    (drop (call $resp_send (i32.load (i32.const 0x1010)) (i32.load (i32.const 0x1014)) (i32.const 0))))
"#,
    );
    let r = run(&wasm, ab_config(), get("/"), |_| {
        ok_response(
            200,
            &[("x-keep", "v1"), ("x-remove", "gone"), ("x-new", "old")],
            b"polled",
        )
    });
    assert!(r.outcome.exit.is_success(), "{}", summaries(&r));
    assert_eq!(r.response.body, b"polled");
    let h = &r.response.headers;
    assert_eq!(h.get_all("x-keep"), vec![&b"v1"[..], &b"v2"[..]]);
    assert_eq!(h.get("x-new"), Some(&b"v2"[..]));
    assert_eq!(h.get("x-remove"), None);
    let first_poll = r.calls("fastly_http_req::pending_req_poll")[0];
    assert_eq!(first_poll.result("is_done"), Some(&ArgValue::Int(0)));
    let statuses: Vec<_> = r
        .calls("fastly_http_req::pending_req_header_remove")
        .iter()
        .map(|e| e.code)
        .collect();
    assert_eq!(statuses, vec![Some(OK), Some(INVAL), Some(BADF)]);
}

#[test]
fn a_streaming_upload_streams_its_body_to_the_origin() {
    let wasm = guest(
        r#"
  (data (i32.const 0x100) "a")
  (data (i32.const 0x110) "part1,part2")
  (func (export "_start") (local $p i32) (local $b i32) (local $p2 i32)
    (call $new_req)
    (local.set $b (i32.load (i32.const 0x1004)))
    (call $rec (call $send_async_streaming (i32.load (i32.const 0x1000)) (local.get $b)
      (i32.const 0x100) (i32.const 1) (i32.const 0x1200)))
    (local.set $p (i32.load (i32.const 0x1200)))
    (call $rec (call $body_write (local.get $b) (i32.const 0x110) (i32.const 6) (i32.const 0) (i32.const 0x1030)))
    (call $rec (call $body_write (local.get $b) (i32.const 0x116) (i32.const 5) (i32.const 0) (i32.const 0x1030)))
    ;; The upload body cannot be read.
    (call $rec (call $body_read (local.get $b) (i32.const 0x4000) (i32.const 10) (i32.const 0x1030)))
    (call $rec (call $body_close (local.get $b)))
    (call $rec (call $wait (local.get $p) (i32.const 0x1010) (i32.const 0x1014)))
    ;; Waiting before the body is closed works: the origin may answer early.
    (call $new_req)
    (local.set $b (i32.load (i32.const 0x1004)))
    (call $rec (call $send_async_v2 (i32.load (i32.const 0x1000)) (local.get $b)
      (i32.const 0x100) (i32.const 1) (i32.const 1) (i32.const 0x1200)))
    (local.set $p (i32.load (i32.const 0x1200)))
    (call $rec (call $body_write (local.get $b) (i32.const 0x110) (i32.const 6) (i32.const 0) (i32.const 0x1030)))
    (call $rec (call $wait (local.get $p) (i32.const 0x1010) (i32.const 0x1014)))
    (call $rec (call $body_close (local.get $b)))
    ;; An abandoned upload is cut off: its request fails.
    (call $new_req)
    (local.set $b (i32.load (i32.const 0x1004)))
    (call $rec (call $send_async_v2 (i32.load (i32.const 0x1000)) (local.get $b)
      (i32.const 0x100) (i32.const 1) (i32.const 1) (i32.const 0x1200)))
    (local.set $p2 (i32.load (i32.const 0x1200)))
    (call $rec (call $body_abandon (local.get $b)))
    (call $rec (call $wait (local.get $p2) (i32.const 0x1010) (i32.const 0x1014)))
    (call $finish))
"#,
    );
    let r = run(&wasm, ab_config(), get("/"), |f| {
        ok_response(200, &[], &f.body)
    });
    assert_eq!(
        words(&r),
        vec![OK, OK, OK, BADF, OK, OK, OK, OK, OK, OK, OK, OK, ERROR],
        "{}",
        summaries(&r)
    );
    assert_eq!(r.fetches.len(), 3);
    assert!(r.fetches.iter().all(|f| f.body_stream));
    assert_eq!(r.fetches[0].body, b"part1,part2");
    assert_eq!(r.fetches[1].body, b"part1,");
    assert_eq!(r.fetches[2].body, b"");
}

#[test]
fn send_downstream_pending_forwards_the_response_or_an_error() {
    let wasm = guest(
        r#"
  (data (i32.const 0x100) "a")
  (data (i32.const 0x110) "x-via")
  (data (i32.const 0x118) "pending")
  (func (export "_start") (local $p i32)
    (call $new_req)
    (drop (call $send_async (i32.load (i32.const 0x1000)) (i32.load (i32.const 0x1004))
      (i32.const 0x100) (i32.const 1) (i32.const 0x1200)))
    (local.set $p (i32.load (i32.const 0x1200)))
    (drop (call $pending_insert (local.get $p) (i32.const 0x110) (i32.const 5) (i32.const 0x118) (i32.const 7) (i32.const 0)))
    (drop (call $resp_send_pending (local.get $p)))
    ;; A second response is an error; the handle is gone.
    (drop (call $resp_send_pending (local.get $p))))
"#,
    );
    // The origin's framing headers do not reach the client: the body is framed anew
    // (automatic framing, as Viceroy).
    let r = run(&wasm, ab_config(), get("/"), |_| {
        ok_response(
            206,
            &[("content-length", "99"), ("transfer-encoding", "chunked")],
            b"from the origin",
        )
    });
    assert_eq!(r.response.status, 206);
    assert_eq!(r.response.body, b"from the origin");
    assert_eq!(r.response.headers.get("x-via"), Some(&b"pending"[..]));
    assert_eq!(r.response.headers.get_all("content-length"), [&b"15"[..]]);
    assert_eq!(r.response.headers.get("transfer-encoding"), None);
    let calls = r.calls("fastly_http_resp::send_downstream_pending");
    assert_eq!(calls[0].code, Some(OK));
    assert_eq!(calls[1].code, Some(BADF));

    let r = run(&wasm, ab_config(), get("/"), |_| {
        failed(FetchErrorKind::HttpResponseTimeout)
    });
    assert_eq!(r.response.status, 504);
    assert_eq!(r.response.headers.get("x-via"), Some(&b"pending"[..]));
    assert!(String::from_utf8_lossy(&r.response.body).contains("HttpResponseTimeout"));
}

#[test]
fn a_backend_response_knows_its_address() {
    let wasm = guest(
        r#"
  (data (i32.const 0x100) "a")
  (func (export "_start") (local $resp i32)
    (call $new_req)
    (drop (call $send (i32.load (i32.const 0x1000)) (i32.load (i32.const 0x1004))
      (i32.const 0x100) (i32.const 1) (i32.const 0x1010) (i32.const 0x1014)))
    (local.set $resp (i32.load (i32.const 0x1010)))
    (call $rec (call $resp_dest_ip (local.get $resp) (i32.const 0x1040) (i32.const 0x1050)))
    (call $rec_at (i32.const 0x1050))
    (call $rec_bytes (i32.const 0x1040) (i32.const 4))
    (call $rec (call $resp_dest_port (local.get $resp) (i32.const 0x1054)))
    (call $rec_u16_at (i32.const 0x1054))
    (call $finish))
"#,
    );
    let r = run(&wasm, ab_config(), get("/"), |_| ok_response(200, &[], b""));
    assert_log(
        &r,
        Log::default()
            .words(&[OK, 4])
            .b(&[127, 0, 0, 1])
            .words(&[OK, 9000]),
    );
}

#[test]
fn fastly_key_is_valid_checks_the_configured_fake_keys() {
    let cfg = config("[local_server]\nfake_valid_fastly_keys = [\"k1\", \"k2\"]\n");
    let wasm = guest(
        r#"
  (func (export "_start")
    (call $rec (call $key_valid (i32.const 0x1024)))
    (call $rec_at (i32.const 0x1024))
    (call $finish))
"#,
    );
    for (key, want) in [(Some("k2"), 1), (Some("k3"), 0), (None, 0)] {
        let mut req = get("/");
        if let Some(k) = key {
            req = req.with_header("fastly-key", k);
        }
        let r = run(&wasm, cfg.clone(), req, refuse);
        assert_eq!(words(&r), vec![OK, want], "{key:?}");
    }
}

#[test]
fn hostile_arguments_never_panic() {
    let wasm = guest(
        r#"
  (data (i32.const 0x100) "a")
  (func (export "_start")
    (call $new_req)
    ;; Backend name out of memory; request and body handles that do not exist.
    (call $rec (call $send (i32.load (i32.const 0x1000)) (i32.load (i32.const 0x1004))
      (i32.const 0xfffffff0) (i32.const 100) (i32.const 0x1010) (i32.const 0x1014)))
    (call $rec (call $send (i32.const 999) (i32.load (i32.const 0x1004))
      (i32.const 0x100) (i32.const 1) (i32.const 0x1010) (i32.const 0x1014)))
    (call $rec (call $send_v2 (i32.load (i32.const 0x1000)) (i32.load (i32.const 0x1004))
      (i32.const 0x100) (i32.const 1) (i32.const 0xfffffff0) (i32.const 0x1010) (i32.const 0x1014)))
    (call $rec (call $send_async (i32.load (i32.const 0x1000)) (i32.load (i32.const 0x1004))
      (i32.const 0x100) (i32.const 1) (i32.const 0xffffffff)))
    (call $rec (call $poll (i32.const 12345) (i32.const 0x1024) (i32.const 0x1010) (i32.const 0x1014)))
    (call $rec (call $wait_v2 (i32.const 12345) (i32.const 0x1100) (i32.const 0x1010) (i32.const 0x1014)))
    (call $rec (call $poll_v2 (i32.load (i32.const 0x1004)) (i32.const 0x1100) (i32.const 0x1024) (i32.const 0x1010) (i32.const 0x1014)))
    (call $rec (call $aselect (i32.const 0x1200) (i32.const 0x40000000) (i32.const 0) (i32.const 0x1024)))
    (call $rec (call $resp_send_pending (i32.const 5)))
    (call $rec (call $register (i32.const 0xffffffff) (i32.const 9) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
    (call $finish))
"#,
    );
    let r = run(&wasm, ab_config(), get("/"), refuse);
    assert_eq!(
        words(&r),
        vec![INVAL, BADF, INVAL, INVAL, BADF, BADF, BADF, INVAL, BADF, INVAL],
        "{}",
        summaries(&r)
    );
}

#[test]
fn config_extensions_parse_with_line_numbered_errors() {
    let c = config(
        r#"
[local_server]
fake_valid_fastly_keys = ["abc"]
[local_server.backends.flaky]
url = "http://127.0.0.1:9000"
reachable_percent = 50
health = "Healthy"
[local_server.backends.api]
mock = { status = 404, body = "nope", delay_ms = 5 }
[local_server.backends.echo]
mock = "echo"
"#,
    );
    assert_eq!(c.fake_valid_fastly_keys, vec!["abc".to_string()]);
    let f = &c.backends["flaky"];
    assert_eq!(f.reachable_percent, Some(50));
    assert_eq!(
        f.health,
        Some(edgeplay_host::config::BackendHealth::Healthy)
    );
    let m = c.backends["api"].mock.as_ref().unwrap();
    assert_eq!(
        (m.status, m.body.as_str(), m.delay_ms, m.echo),
        (404, "nope", 5, false)
    );
    assert!(c.backends["echo"].mock.as_ref().unwrap().echo);
    assert_eq!(c.backends["echo"].url, "");

    let err = |text: &str| {
        ServiceConfig::from_toml_str(text, "fastly.toml", &|p| Err(p.to_string())).unwrap_err()
    };
    let e = err("[local_server.backends.x]\nurl = \"http://a\"\nreachable_percent = 101\n");
    assert_eq!(e.line, Some(3));
    assert!(e.message.contains("percentage"), "{e}");
    let e = err("[local_server.backends.x]\nmock = \"mirror\"\n");
    assert_eq!(e.line, Some(2));
    let e = err("[local_server.backends.x]\nmock = { status = 200, colour = \"red\" }\n");
    assert!(e.message.contains("unknown key `colour`"), "{e}");
    let e = err("[local_server.backends.x]\nmock = { echo = true, body = \"b\" }\n");
    assert!(e.message.contains("echo mock"), "{e}");
    let e = err("[local_server.backends.x]\nmock = { headers = { \"bad name\" = \"v\" } }\n");
    assert!(e.message.contains("header name"), "{e}");
    let e = err("[local_server.backends.x]\nurl = \"127.0.0.1:8080\"\n");
    assert!(e.message.contains("no scheme"), "{e}");
    assert_eq!(e.line, Some(2));
    let e = err("[local_server.backends.x]\nurl = \"http://a\"\nhealth = \"meh\"\n");
    assert_eq!(e.line, Some(3));
    let e = err("[local_server]\nfake_valid_fastly_keys = [1]\n");
    assert_eq!(e.line, Some(2));
}

// ---- SDK guests (tests/guests) ----

fn sdk_run(
    engine: &Engine,
    name: &str,
    cfg: ServiceConfig,
    req: DownstreamRequest,
    origin: impl FnMut(&FetchRequest) -> WorkResult,
) -> Run {
    run_with_origin(
        engine,
        &sdk_guest(name),
        cfg,
        req,
        ExecOptions::default(),
        origin,
    )
}

#[test]
fn the_sdk_proxy_forwards_and_decompresses() {
    let zipped = gzip(b"unzipped by the host");
    let r = sdk_run(
        &engine(),
        "proxy",
        origin_config(),
        DownstreamRequest::new("POST", "/p?gzip=1")
            .with_header("x-client", "c")
            .with_body("up"),
        |f| {
            assert_eq!(f.url, "http://127.0.0.1:9000/base/p?gzip=1");
            assert_eq!(f.body, b"up");
            assert_eq!(f.headers.get("x-client"), Some(&b"c"[..]));
            ok_response(200, &[("content-encoding", "gzip")], &zipped)
        },
    );
    assert_eq!(
        r.outcome.exit,
        edgeplay_host::Exit::Returned,
        "{}",
        summaries(&r)
    );
    assert_eq!(r.response.body, b"unzipped by the host");
}

#[test]
fn the_sdk_fanout_guest_selects_the_first_to_finish() {
    let wasm = sdk_guest("fanout");
    for first in ["a", "b"] {
        let r = run_driven(
            &engine(),
            &wasm,
            ab_config(),
            get("/"),
            ExecOptions::default(),
            |f| ok_response(200, &[], format!("body-{}", f.backend).as_bytes()),
            finish_first(first),
        );
        assert_eq!(
            String::from_utf8_lossy(&r.response.body),
            format!("first={first}\na=body-a\nb=body-b\n"),
            "{}",
            summaries(&r)
        );
    }
}

#[test]
fn the_sdk_dynamic_guest_registers_and_fetches() {
    let engine = engine();
    let r = sdk_run(
        &engine,
        "dynamic",
        origin_config(),
        get("/?name=dyn&target=127.0.0.1:9400&host=dyn.example&path=/hello"),
        |f| {
            assert_eq!(f.url, "http://127.0.0.1:9400/hello");
            assert_eq!(f.headers.get("host"), Some(&b"dyn.example"[..]));
            assert_eq!(f.connect_timeout_ms, Some(1234));
            assert_eq!(f.first_byte_timeout_ms, Some(5678));
            ok_response(200, &[], b"dynamic!")
        },
    );
    assert_eq!(
        String::from_utf8_lossy(&r.response.body),
        "backend=dyn dynamic=true status=200 body=dynamic!\n",
        "{}",
        summaries(&r)
    );
    let r = sdk_run(
        &engine,
        "dynamic",
        origin_config(),
        get("/?name=dyn&twice=1"),
        refuse,
    );
    assert_eq!(r.response.status, 409);
    assert_eq!(
        String::from_utf8_lossy(&r.response.body),
        "register again: NameInUse\n"
    );
    let r = sdk_run(
        &engine,
        "dynamic",
        origin_config(),
        get("/?name=origin"),
        refuse,
    );
    assert_eq!(
        String::from_utf8_lossy(&r.response.body),
        "register: NameInUse\n"
    );
}

#[test]
fn the_sdk_backend_info_guest_reads_every_getter() {
    let cfg = config(
        r#"
[local_server.backends.origin]
url = "https://origin.example/"
override_host = "www.example.org"
between_bytes_timeout_ms = 3000
reachable_percent = 100
"#,
    );
    let r = sdk_run(&engine(), "backend_info", cfg, get("/?name=origin"), refuse);
    assert_eq!(r.response.status, 200, "{}", summaries(&r));
    let doc: serde_json::Value = serde_json::from_slice(&r.response.body).expect("JSON");
    assert_eq!(doc["exists"], true);
    assert_eq!(doc["is_dynamic"], false);
    assert_eq!(doc["host"], "origin.example");
    assert_eq!(doc["override_host"], "www.example.org");
    assert_eq!(doc["port"], 443);
    assert_eq!(doc["is_ssl"], true);
    assert_eq!(doc["connect_timeout_ms"], 1000);
    assert_eq!(doc["first_byte_timeout_ms"], 15000);
    assert_eq!(doc["between_bytes_timeout_ms"], 3000);
    assert_eq!(doc["ssl_min"], serde_json::Value::Null);
    assert_eq!(doc["health"], "Healthy");
}

#[test]
fn the_sdk_send_error_guest_sees_each_cause() {
    let engine = engine();
    let cases: [(&str, WorkResult, &str); 3] = [
        (
            "missing",
            ok_response(200, &[], b""),
            "cause=DestinationNotFound\n",
        ),
        (
            "origin",
            failed(FetchErrorKind::ConnectionRefused),
            "cause=ConnectionRefused\n",
        ),
        (
            "origin",
            failed(FetchErrorKind::HttpResponseTimeout),
            "cause=HttpResponseTimeout\n",
        ),
    ];
    for (backend, result, want) in cases {
        let r = sdk_run(
            &engine,
            "send_error",
            origin_config(),
            get(&format!("/?backend={backend}")),
            |_| result.clone(),
        );
        assert_eq!(
            String::from_utf8_lossy(&r.response.body),
            want,
            "{}",
            summaries(&r)
        );
    }
}

#[test]
fn a_platform_that_cannot_stream_uploads_gets_the_body_whole_on_close() {
    // As in the tab (Capabilities::BROWSER): the driver core buffers the chunks — each
    // write is taken at once — and hands the fetch over whole when the body closes.
    let wasm = guest(
        r#"
  (data (i32.const 0x100) "a")
  (data (i32.const 0x110) "part1,part2")
  (func (export "_start") (local $p i32) (local $b i32)
    (call $new_req)
    (local.set $b (i32.load (i32.const 0x1004)))
    (call $rec (call $send_async_streaming (i32.load (i32.const 0x1000)) (local.get $b)
      (i32.const 0x100) (i32.const 1) (i32.const 0x1200)))
    (local.set $p (i32.load (i32.const 0x1200)))
    (call $rec (call $body_write (local.get $b) (i32.const 0x110) (i32.const 6) (i32.const 0) (i32.const 0x1030)))
    (call $rec (call $body_write (local.get $b) (i32.const 0x116) (i32.const 5) (i32.const 0) (i32.const 0x1030)))
    (call $rec (call $body_close (local.get $b)))
    (call $rec (call $wait (local.get $p) (i32.const 0x1010) (i32.const 0x1014)))
    (call $finish))
"#,
    );
    let engine = engine();
    let driver = edgeplay_host::Driver::start(
        &engine,
        engine.load(&wasm).unwrap(),
        ab_config(),
        get("/"),
        "0".repeat(32),
        ExecOptions::default(),
        edgeplay_host::Capabilities::BROWSER,
    )
    .unwrap();
    let ran = edgeplay_host::driver::blocking::run(driver, |f| ok_response(200, &[], &f.body));
    assert!(ran.outcome.exit.is_success(), "{:?}", ran.outcome);
    assert_eq!(ran.fetches.len(), 1);
    assert!(!ran.fetches[0].body_stream, "handed over whole");
    assert_eq!(ran.fetches[0].body, b"part1,part2");
    let fetch = ran
        .trace
        .iter()
        .find(|e| e.module == "backend")
        .expect("a backend event");
    assert!(
        fetch
            .note
            .as_deref()
            .unwrap_or("")
            .contains("sent it whole"),
        "{:?}",
        fetch.note
    );
}
