//! The browser adapters, tested in headless Chromium with wasm-bindgen-test:
//! the clock, the random source, the worker messages as JS values, the backend
//! fetch adapter (against a CORS origin the harness serves on 127.0.0.1) with the
//! CORS safelist that decides where `cdn-loop` goes, sleeps, the driver loop, and a
//! service calling itself (served by the worker, 508 at the sixth pass), and the
//! service state in IndexedDB shared between tabs (`persist`), recording and
//! replaying backend exchanges (`tap`, and the worker's messages for them), a
//! service state per workspace entry (`state_name`, `state_db`) and the workspace
//! store (`workspace`). Native builds compile this file to nothing.
//!
//! scripts/test.sh runs it: it starts `tests/e2e/cors-server.mjs`, then
//! `EDGEPLAY_TEST_ORIGIN=http://127.0.0.1:PORT CHROMEDRIVER=/usr/bin/chromedriver
//!  cargo test --target wasm32-unknown-unknown --test browser`.
#![cfg(target_arch = "wasm32")]

use edgeplay_host::fiddle::{Fiddle, Recording, Replayer, REPLAYED_NOTE};
use edgeplay_host::platform::{Clock, Random};
use edgeplay_host::storage::Change;
use edgeplay_host::trace::{ArgValue, EventKind, HandleKind};
use edgeplay_host::{
    Capabilities, DownstreamRequest, Driver, Engine, ExecOptions, Execution, Exit, FetchErrorKind,
    FetchRequest, Headers, Service, TraceEvent, WorkResult,
};
use edgeplay_web::fetch::{self, fetch as browser_fetch, page_origin};
use edgeplay_web::persist::{Persist, StateEvent};
use edgeplay_web::platform::{browser_platform, BrowserClock, BrowserRandom};
use edgeplay_web::protocol::{
    js, FromWorker, RequestSpec, RunRequest, StoreAnswer, StoreOp, ToWorker, WireOutput,
};
use edgeplay_web::state_db;
use edgeplay_web::storage::open_db;
use edgeplay_web::tap::{LeftOut, RunTap};
use edgeplay_web::worker::{handle, store_request, Itself, Sink, State as WorkerState};
use edgeplay_web::workspace::{current, set_current, GuestFile, Listing, Workspace};
use serde_bytes::ByteBuf;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// The CORS origin the harness serves (compile-time: set by scripts/test.sh).
const ORIGIN: Option<&str> = option_env!("EDGEPLAY_TEST_ORIGIN");

/// The CORS test origin scripts/test.sh starts; a test that needs it fails without it.
fn origin() -> &'static str {
    ORIGIN.expect("EDGEPLAY_TEST_ORIGIN is not set: run these tests through scripts/test.sh")
}

#[wasm_bindgen_test]
fn the_clock_is_monotonic_and_the_wall_clock_is_now() {
    let c = BrowserClock;
    let mut last = c.monotonic_ns();
    for _ in 0..10_000 {
        let now = c.monotonic_ns();
        assert!(now >= last, "monotonic time went back: {last} -> {now}");
        last = now;
    }
    let wall_ms = c.unix_ns() as f64 / 1e6;
    assert!((wall_ms - js_sys::Date::now()).abs() < 60_000.0);
    assert!(c.unix_ns() > 1_577_836_800_000_000_000, "after 2020");
}

#[wasm_bindgen_test]
fn random_fills_big_buffers() {
    // More than getRandomValues' 64 KiB limit per call.
    let mut a = vec![0u8; 200_000];
    let mut b = vec![0u8; 200_000];
    BrowserRandom.fill(&mut a);
    BrowserRandom.fill(&mut b);
    assert_ne!(a, b);
    let zeros = a.iter().filter(|x| **x == 0).count();
    assert!(zeros < 2_000, "{zeros} zero bytes in 200000");
    assert!(
        a[150_000..].iter().any(|x| *x != 0),
        "the tail is filled too"
    );
}

#[wasm_bindgen_test]
fn messages_roundtrip_as_js_values() {
    let load = ToWorker::Load {
        load_id: 3,
        name: "x.wasm".into(),
        wasm: vec![0, 97, 115, 109, 1, 0, 0, 0],
    };
    let v = js::encode(&load).unwrap();
    // Bytes travel as a Uint8Array, not as an array of numbers.
    let inner = js_sys::Reflect::get(&v, &"Load".into()).unwrap();
    let wasm = js_sys::Reflect::get(&inner, &"wasm".into()).unwrap();
    assert!(wasm.is_instance_of::<js_sys::Uint8Array>());
    assert_eq!(js::decode::<ToWorker>(v).unwrap(), load);

    let mut ev = TraceEvent::new(9, EventKind::Hostcall, "fastly_http_req", "header_insert");
    ev.args.push((
        "req".into(),
        ArgValue::Handle {
            kind: HandleKind::Request,
            handle: 1,
        },
    ));
    // Any i64 a guest passes must survive (it is a BigInt beyond 2^53).
    ev.args.push(("big".into(), ArgValue::Int(i64::MIN)));
    ev.args.push(("name".into(), ArgValue::Str("x-ü".into())));
    ev.status = Some("ok".into());
    ev.fuel = u64::MAX / 3;
    let progress = FromWorker::Progress {
        run_id: 1,
        outputs: vec![
            WireOutput::BodyChunk(vec![1, 2, 3]),
            WireOutput::Log {
                endpoint: "e".into(),
                line: "l".into(),
            },
        ],
        trace: vec![ev],
        at_ms: 1.5,
    };
    let v = js::encode(&progress).unwrap();
    // What postMessage does to it: a structured clone.
    let cloned = structured_clone(&v);
    assert_eq!(js::decode::<FromWorker>(cloned).unwrap(), progress);
}

fn structured_clone(v: &wasm_bindgen::JsValue) -> wasm_bindgen::JsValue {
    let f = js_sys::Reflect::get(&js_sys::global(), &"structuredClone".into())
        .unwrap()
        .unchecked_into::<js_sys::Function>();
    f.call1(&wasm_bindgen::JsValue::UNDEFINED, v).unwrap()
}

#[wasm_bindgen_test]
fn forbidden_headers_are_recognised() {
    for h in [
        "Host",
        "connection",
        "Content-Length",
        "sec-fetch-mode",
        "Proxy-Authorization",
        "User-Agent",
    ] {
        assert!(fetch::is_forbidden_header(h), "{h}");
    }
    for h in ["x-custom", "content-type", "authorization", "accept"] {
        assert!(!fetch::is_forbidden_header(h), "{h}");
    }
}

fn request(url: String, method: &str, body: &[u8]) -> FetchRequest {
    let mut headers = Headers::new();
    headers.append("host", "origin.example");
    headers.append("connection", "close");
    headers.append("x-test", "one");
    headers.append("x-test", "two");
    headers.append("content-type", "text/plain");
    // As the core sets it on every backend request.
    headers.append("cdn-loop", "edgeplay");
    FetchRequest {
        method: method.into(),
        headers,
        body: body.to_vec(),
        ..FetchRequest::get("origin_0", &url)
    }
}

#[wasm_bindgen_test]
async fn fetch_sends_method_headers_and_body_and_notes_what_it_skips() {
    let origin = origin();
    let got = browser_fetch(request(format!("{origin}/echo?q=1"), "POST", b"hello body")).await;
    let WorkResult::Fetched(resp) = &got else {
        panic!("fetch failed: {got:?}");
    };
    assert_eq!(resp.status, 200);
    assert_eq!(resp.headers.get("x-echo"), Some(&b"yes"[..]));
    assert!(resp.first_byte_us <= resp.end_us);
    let doc: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(doc["method"], "POST");
    assert_eq!(doc["url"], "/echo?q=1");
    assert_eq!(doc["body"], "hello body");
    assert_eq!(doc["headers"]["x-test"], "one, two");
    assert_eq!(doc["headers"]["content-type"], "text/plain");
    // The browser sets Host itself: the page cannot.
    assert_ne!(doc["headers"]["host"], "origin.example");
    // `x-test` needs a CORS preflight anyway, so `cdn-loop` costs nothing and is sent.
    assert_eq!(doc["headers"]["cdn-loop"], "edgeplay");
    // The result lists the headers not sent (the core puts them on the trace event),
    // and the Logs panel's note names them and the backend.
    let not_sent = fetch::headers_not_sent_of(&got);
    assert_eq!(not_sent, ["host", "connection"]);
    let note = fetch::not_sent_note("origin_0", not_sent).unwrap();
    assert!(
        note.contains("`host`") && note.contains("`connection`"),
        "{note}"
    );
    assert!(note.contains("origin_0"), "{note}");
    assert_eq!(fetch::not_sent_note("origin_0", &[]), None);
}

#[wasm_bindgen_test]
async fn a_backends_tls_options_and_grpc_are_noted_as_not_applied() {
    let origin = origin();
    let mut req = request(format!("{origin}/echo"), "GET", b"");
    req.connect = Some(Box::new(edgeplay_host::ConnectOptions {
        ca_cert: Some("-----BEGIN CERTIFICATE-----".into()),
        cert_host: Some("origin.test".into()),
        grpc: true,
        ..Default::default()
    }));
    let got = browser_fetch(req).await;
    let WorkResult::Fetched(resp) = &got else {
        panic!("fetch failed: {got:?}");
    };
    // The fetch still goes out (the browser's own way); its notes say what was not applied.
    assert_eq!(resp.status, 200);
    let note = fetch::notes_of(&got)
        .iter()
        .find(|n| n.contains("not applied"))
        .unwrap_or_else(|| panic!("no note in {:?}", fetch::notes_of(&got)));
    assert!(
        note.contains("origin_0") && note.contains("ca_cert, cert_host, grpc"),
        "{note}"
    );
    // A backend without options gets no such note.
    let plain = browser_fetch(request(format!("{origin}/echo"), "GET", b"")).await;
    assert!(
        !fetch::notes_of(&plain)
            .iter()
            .any(|n| n.contains("not applied")),
        "{:?}",
        fetch::notes_of(&plain)
    );
}

#[wasm_bindgen_test]
fn the_cors_safelist_follows_the_fetch_standard() {
    for m in ["GET", "HEAD", "POST", "get", "post"] {
        assert!(fetch::is_cors_safelisted_method(m), "{m}");
    }
    for m in ["PUT", "DELETE", "PATCH", "OPTIONS", "PURGE"] {
        assert!(!fetch::is_cors_safelisted_method(m), "{m}");
    }
    let safe: &[(&str, &str)] = &[
        ("accept", "*/*"),
        ("Accept", "text/html, application/json;q=0.9"),
        ("accept-language", "en-GB, fr;q=0.5"),
        ("content-language", "de-DE"),
        ("content-type", "text/plain"),
        ("Content-Type", "text/plain; charset=utf-8"),
        ("content-type", "application/x-www-form-urlencoded"),
        ("content-type", "multipart/form-data; boundary=x"),
        ("content-type", " TEXT/Plain "),
        ("range", "bytes=0-"),
        ("range", "bytes=10-20"),
    ];
    for (n, v) in safe {
        assert!(
            fetch::is_cors_safelisted_header(n, v.as_bytes()),
            "{n}: {v}"
        );
    }
    let long = "a".repeat(129);
    let not_safe: &[(&str, &str)] = &[
        ("x-custom", "1"),
        ("cdn-loop", "edgeplay"),
        ("authorization", "Bearer x"),
        ("user-agent", "edgeplay"),
        ("accept", "text/html (x)"),
        ("accept", "a\"b"),
        ("accept", &long),
        ("accept-language", "en_GB"),
        ("content-language", "de/DE"),
        ("content-type", "application/json"),
        ("content-type", "text/html"),
        ("content-type", "text/plain; charset=\"utf-8\""),
        ("content-type", "text"),
        ("content-type", "text/plain, text/plain"),
        ("range", "bytes=-500"),
        ("range", "bytes=5-1"),
        ("range", "bytes=0-1,3-4"),
        ("range", "items=0-1"),
    ];
    for (n, v) in not_safe {
        assert!(
            !fetch::is_cors_safelisted_header(n, v.as_bytes()),
            "{n}: {v}"
        );
    }

    let none: &[(&str, &str)] = &[];
    assert!(!fetch::needs_preflight("GET", none));
    assert!(!fetch::needs_preflight(
        "POST",
        &[("content-type", "text/plain"), ("accept", "*/*")]
    ));
    assert!(fetch::needs_preflight("PUT", none));
    assert!(fetch::needs_preflight("GET", &[("x-test", "1")]));
    assert!(fetch::needs_preflight(
        "POST",
        &[("content-type", "application/json")]
    ));
    assert_eq!(
        fetch::cors_unsafe_header_names(&[
            ("X-B", "1"),
            ("accept", "*/*"),
            ("x-a", "2"),
            ("x-b", "3")
        ]),
        ["x-a", "x-b"]
    );
    // A name's values are combined as the browser sends them.
    assert_eq!(
        fetch::cors_unsafe_header_names(&[
            ("content-type", "text/plain"),
            ("Content-Type", "text/plain")
        ]),
        ["content-type"]
    );
    // Combined, a name's values count against the 128-byte limit together (what
    // Chromium checks; stricter than the standard's per-entry rule and its 1024-byte
    // total, which combined values of at most 128 bytes each can never reach).
    let v = "a".repeat(60);
    let two = [("accept", v.as_str()), ("accept", v.as_str())];
    assert!(fetch::cors_unsafe_header_names(&two[..1]).is_empty());
    assert!(
        fetch::cors_unsafe_header_names(&two).is_empty(),
        "122 bytes"
    );
    let three = [
        ("accept", v.as_str()),
        ("Accept", v.as_str()),
        ("accept", "abcde"),
    ];
    assert_eq!(
        fetch::cors_unsafe_header_names(&three),
        ["accept"],
        "129 bytes"
    );
    let w = "a".repeat(64);
    assert_eq!(
        fetch::cors_unsafe_header_names(&[("accept", w.as_str()), ("accept", w.as_str())]),
        ["accept"],
        "130 bytes"
    );

    // `cdn-loop` goes where it costs no preflight: the page's own origin, or a request
    // that needs one anyway.
    let page = page_origin();
    let other = "http://127.0.0.1:9";
    assert!(fetch::cdn_loop_costs_nothing(
        &page,
        &format!("{page}/x"),
        "GET",
        none
    ));
    assert!(fetch::cdn_loop_costs_nothing(
        &page,
        &format!("{page}/x"),
        "PUT",
        none
    ));
    assert!(!fetch::cdn_loop_costs_nothing(
        &page,
        &format!("{other}/x"),
        "GET",
        none
    ));
    assert!(!fetch::cdn_loop_costs_nothing(
        &page,
        &format!("{other}/x"),
        "POST",
        &[("content-type", "text/plain")]
    ));
    assert!(fetch::cdn_loop_costs_nothing(
        &page,
        &format!("{other}/x"),
        "DELETE",
        none
    ));
    assert!(fetch::cdn_loop_costs_nothing(
        &page,
        &format!("{other}/x"),
        "GET",
        &[("x-test", "1")]
    ));
}

/// A GET as the core builds it: `host`, `cdn-loop`, and the given headers.
fn simple_get(url: String, extra: &[(&str, &str)]) -> FetchRequest {
    let mut req = request(url, "GET", b"");
    req.headers = Headers::new();
    req.headers.append("host", "origin.example");
    req.headers.append("accept", "*/*");
    for (n, v) in extra {
        req.headers.append(n, *v);
    }
    req.headers.append("cdn-loop", "edgeplay");
    req
}

#[wasm_bindgen_test]
async fn a_simple_cross_origin_fetch_leaves_cdn_loop_out_and_says_so() {
    let origin = origin();
    // /simple allows simple requests only: with cdn-loop this would need a preflight,
    // which it refuses.
    // (Chromium sends its own user-agent whatever the page sets: it does not count.)
    let got = browser_fetch(simple_get(
        format!("{origin}/simple/a"),
        &[("user-agent", "guest-agent/1")],
    ))
    .await;
    let WorkResult::Fetched(resp) = &got else {
        panic!("a simple request must succeed: {got:?}");
    };
    assert_eq!(resp.status, 200);
    let doc: serde_json::Value = serde_json::from_slice(&resp.body).unwrap();
    assert_eq!(doc["url"], "/simple/a");
    assert_eq!(doc["headers"]["accept"], "*/*");
    assert!(doc["headers"].get("cdn-loop").is_none(), "{doc}");
    assert_ne!(doc["headers"]["user-agent"], "guest-agent/1");
    assert_eq!(
        fetch::headers_not_sent_of(&got),
        ["host", "user-agent", "cdn-loop"]
    );
    let notes = fetch::notes_of(&got);
    assert!(
        notes.iter().any(|n| n.contains("`cdn-loop` not sent")
            && n.contains("preflight")
            && n.contains("origin_0")),
        "{notes:?}"
    );
    // The Logs panel's note on headers a page may not set leaves cdn-loop to its own note.
    let note = fetch::not_sent_note("origin_0", fetch::headers_not_sent_of(&got)).unwrap();
    assert!(
        note.contains("`host`") && !note.contains("cdn-loop"),
        "{note}"
    );

    // The same origin refuses what needs a preflight: that is what cdn-loop would cost.
    let got = browser_fetch(simple_get(format!("{origin}/simple/b"), &[("x-test", "1")])).await;
    let WorkResult::FetchFailed(e) = &got else {
        panic!("/simple refuses preflights: {got:?}");
    };
    assert_eq!(e.kind, FetchErrorKind::BrowserBlocked);
    // Needing a preflight anyway, the request carried cdn-loop (not listed as not sent).
    assert_eq!(e.headers_not_sent, ["host"]);
}

#[wasm_bindgen_test]
async fn a_fetch_to_the_pages_own_origin_sends_cdn_loop() {
    let page = page_origin();
    let got = browser_fetch(simple_get(
        format!("{page}/edgeplay-same-origin-probe"),
        &[],
    ))
    .await;
    // Whatever the test server answers, the fetch is same-origin: no CORS, cdn-loop sent.
    assert!(matches!(got, WorkResult::Fetched(_)), "{got:?}");
    assert_eq!(fetch::headers_not_sent_of(&got), ["host"]);
    assert!(!fetch::notes_of(&got).iter().any(|n| n.contains("cdn-loop")));
}

#[wasm_bindgen_test]
async fn a_get_with_a_body_drops_the_body_and_says_so() {
    let origin = origin();
    let got = browser_fetch(request(format!("{origin}/echo"), "GET", b"ignored")).await;
    assert!(matches!(got, WorkResult::Fetched(_)), "{got:?}");
    assert!(fetch::notes_of(&got)
        .iter()
        .any(|n| n.contains("cannot send a body with GET")));
}

#[wasm_bindgen_test]
async fn a_cors_refusal_is_browser_blocked_with_a_useful_message() {
    let origin = origin();
    let got = browser_fetch(request(format!("{origin}/nocors"), "GET", b"")).await;
    let WorkResult::FetchFailed(e) = got else {
        panic!("a response without CORS headers must not be readable: {got:?}");
    };
    assert_eq!(e.kind, FetchErrorKind::BrowserBlocked);
    for want in [
        "origin_0",
        "CORS",
        &page_origin(),
        "mock backend",
        "/nocors",
    ] {
        assert!(e.message.contains(want), "{want} missing in: {}", e.message);
    }
}

#[wasm_bindgen_test]
async fn a_refused_connection_is_reported_the_same_way() {
    let got = browser_fetch(request("http://127.0.0.1:9/".into(), "GET", b"")).await;
    let WorkResult::FetchFailed(e) = got else {
        panic!("nothing listens on port 9: {got:?}");
    };
    assert_eq!(e.kind, FetchErrorKind::BrowserBlocked);
    assert!(e.message.contains("may be CORS"), "{}", e.message);
}

#[wasm_bindgen_test]
async fn a_slow_origin_hits_the_first_byte_timeout() {
    let origin = origin();
    let mut req = request(format!("{origin}/slow"), "GET", b"");
    req.first_byte_timeout_ms = Some(200);
    let t0 = js_sys::Date::now();
    let got = browser_fetch(req).await;
    let WorkResult::FetchFailed(e) = got else {
        panic!("expected a timeout: {got:?}");
    };
    assert_eq!(e.kind, FetchErrorKind::HttpResponseTimeout);
    assert!(js_sys::Date::now() - t0 < 2_500.0);
}

#[wasm_bindgen_test]
async fn sleep_waits_at_least_as_long_as_asked() {
    let t0 = js_sys::Date::now();
    fetch::sleep_ms(30.0).await;
    assert!(js_sys::Date::now() - t0 >= 29.0);
}

/// A guest that sleeps 20 ms (WASI `poll_oneoff`), then writes "slept\n" to stdout.
const SLEEPER: &str = r#"(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 512) "slept\n")
  (func (export "_start")
    (i32.store8 (i32.const 8) (i32.const 0))
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const 20000000))
    (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))
    (i32.store (i32.const 256) (i32.const 512))
    (i32.store (i32.const 260) (i32.const 6))
    (drop (call $write (i32.const 1) (i32.const 256) (i32.const 1) (i32.const 300)))))"#;

#[wasm_bindgen_test]
async fn the_driver_performs_sleeps_and_streams_outputs() {
    let engine = Engine::new(browser_platform());
    let guest = engine.load(&wat::parse_str(SLEEPER).unwrap()).unwrap();
    let exec = Execution::new(
        &engine,
        guest,
        Arc::default(),
        DownstreamRequest::new("GET", "/"),
        "0".repeat(32),
        ExecOptions::default(),
    )
    .unwrap();
    let exec = Driver::new(exec, Capabilities::BROWSER);
    let seen: Rc<RefCell<Vec<FromWorker>>> = Rc::default();
    let sink = seen.clone();
    let t0 = js_sys::Date::now();
    let (outcome, profile, _) = edgeplay_web::worker::drive(
        exec,
        5,
        Rc::new(move |m| sink.borrow_mut().push(m.clone())),
        None,
    )
    .await;
    assert_eq!(outcome.exit, Exit::Returned);
    assert!(js_sys::Date::now() - t0 >= 19.0, "the sleep was performed");
    // The profile counts the sleep as waiting on I/O, not as guest or hostcall time.
    let time = profile.expect("the guest ran").time;
    assert!(time.io_wait_us >= 19_000.0, "{time:?}");
    let seen = seen.borrow();
    let mut stdout = Vec::new();
    let mut calls = Vec::new();
    for m in seen.iter() {
        let FromWorker::Progress {
            run_id,
            outputs,
            trace,
            ..
        } = m
        else {
            continue;
        };
        assert_eq!(*run_id, 5);
        for o in outputs {
            if let WireOutput::Stdout(b) = o {
                stdout.extend_from_slice(b);
            }
        }
        calls.extend(trace.iter().map(|e| e.qualified_name()));
    }
    assert_eq!(stdout, b"slept\n");
    assert!(
        calls.contains(&"wasi_snapshot_preview1::poll_oneoff".to_string()),
        "{calls:?}"
    );
    assert!(calls.contains(&"wasi_snapshot_preview1::fd_write".to_string()));
}

#[wasm_bindgen_test]
async fn the_cpu_limit_stops_a_spinning_guest() {
    let engine = Engine::new(browser_platform());
    let wasm = wat::parse_str(
        r#"(module (memory (export "memory") 1) (func (export "_start") (loop br 0)))"#,
    )
    .unwrap();
    let guest = engine.load(&wasm).unwrap();
    let exec = Execution::new(
        &engine,
        guest,
        Arc::default(),
        DownstreamRequest::new("GET", "/"),
        "0".repeat(32),
        ExecOptions {
            cpu_limit_ms: Some(5),
            ..ExecOptions::default()
        },
    )
    .unwrap();
    let exec = Driver::new(exec, Capabilities::BROWSER);
    let (outcome, _, _) = edgeplay_web::worker::drive(exec, 1, Rc::new(|_| {}), None).await;
    assert_eq!(outcome.exit, Exit::CpuLimit { limit_ms: 5 });
}

/// A guest for the self-call tests: it forwards the downstream request to the backend
/// `self` and answers with what came back, except that a request which came through
/// the service already (it carries `cdn-loop`) is answered 203 at once — unless it
/// carries `x-runaway`, which makes every pass forward.
const SELF_CALLER: &str = r#"(module
  (import "fastly_http_req" "body_downstream_get" (func $downstream (param i32 i32) (result i32)))
  (import "fastly_http_req" "header_value_get" (func $value (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "send" (func $send (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "new" (func $resp_new (param i32) (result i32)))
  (import "fastly_http_resp" "status_set" (func $status_set (param i32 i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (import "fastly_http_resp" "send_downstream" (func $send_downstream (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "self")
  (data (i32.const 120) "x-runaway")
  (data (i32.const 140) "cdn-loop")
  (func $has (param $name i32) (param $len i32) (result i32)
    (i32.eqz (call $value (i32.load (i32.const 0)) (local.get $name) (local.get $len)
      (i32.const 1000) (i32.const 1000) (i32.const 16))))
  (func (export "_start")
    (drop (call $downstream (i32.const 0) (i32.const 4)))
    (if (i32.and
          (call $has (i32.const 140) (i32.const 8))
          (i32.eqz (call $has (i32.const 120) (i32.const 9))))
      (then
        (drop (call $resp_new (i32.const 8)))
        (drop (call $status_set (i32.load (i32.const 8)) (i32.const 203)))
        (drop (call $body_new (i32.const 12))))
      (else
        (drop (call $send (i32.load (i32.const 0)) (i32.load (i32.const 4))
          (i32.const 100) (i32.const 4) (i32.const 8) (i32.const 12)))))
    (drop (call $send_downstream (i32.load (i32.const 8)) (i32.load (i32.const 12)) (i32.const 0)))))"#;

/// What a drive produced: the collected outputs, the trace, and the notices.
#[derive(Default)]
struct Seen {
    got: edgeplay_host::Collected,
    trace: Vec<TraceEvent>,
    notices: Vec<String>,
}

/// Run SELF_CALLER for `request` in a service whose backend `self` is the service's
/// own address, as the worker does.
async fn run_self_caller(request: DownstreamRequest) -> (Exit, Seen) {
    let engine = Rc::new(Engine::new(browser_platform()));
    let guest = engine.load(&wat::parse_str(SELF_CALLER).unwrap()).unwrap();
    let config = edgeplay_web::request::parse_config(
        "[local_server.backends.self]\nurl = \"http://127.0.0.1:7676\"\n",
    )
    .unwrap();
    let service = Service::new(Arc::new(config));
    let opts = ExecOptions::default();
    let itself = Itself::new(
        engine.clone(),
        guest.clone(),
        service.clone(),
        opts.clone(),
        &request.url,
    );
    let driver = Driver::start(
        &engine,
        guest,
        service,
        request,
        "0".repeat(32),
        opts,
        Capabilities::BROWSER,
    )
    .unwrap();
    let seen: Rc<RefCell<Seen>> = Rc::default();
    let sink = seen.clone();
    let (outcome, _, _) = edgeplay_web::worker::drive(
        driver,
        7,
        Rc::new(move |m| {
            let mut s = sink.borrow_mut();
            match m {
                FromWorker::Progress { outputs, trace, .. } => {
                    s.got
                        .absorb(outputs.iter().cloned().map(Into::into).collect());
                    s.trace.extend(trace.iter().cloned());
                }
                FromWorker::Notice { message, .. } => s.notices.push(message.clone()),
                _ => {}
            }
        }),
        Some(Rc::new(itself)),
    )
    .await;
    let seen = Rc::try_unwrap(seen).ok().unwrap().into_inner();
    (outcome.exit, seen)
}

fn backend_events(seen: &Seen) -> Vec<&TraceEvent> {
    seen.trace
        .iter()
        .filter(|e| e.qualified_name() == "backend::self")
        .collect()
}

#[wasm_bindgen_test]
async fn a_fetch_to_the_service_itself_runs_the_guest_again() {
    let (exit, seen) = run_self_caller(DownstreamRequest::new("GET", "/hello")).await;
    assert_eq!(exit, Exit::Returned);
    // Pass 2 saw cdn-loop and answered 203; pass 1 forwarded that.
    assert_eq!(seen.got.head.as_ref().map(|h| h.status), Some(203));
    let events = backend_events(&seen);
    assert_eq!(events.len(), 1);
    let note = events[0].note.as_deref().unwrap_or_default();
    assert!(
        note.contains("served by this service itself, pass 2"),
        "{note}"
    );
    assert!(note.contains("answered 203"), "{note}");
    assert!(
        seen.notices.iter().any(|n| n.contains("pass 2")),
        "{:?}",
        seen.notices
    );
}

#[wasm_bindgen_test]
async fn a_runaway_self_call_ends_in_508_at_the_sixth_pass() {
    let request = DownstreamRequest::new("GET", "/").with_header("x-runaway", "1");
    let (exit, seen) = run_self_caller(request).await;
    assert_eq!(exit, Exit::Returned);
    let head = seen.got.head.as_ref().expect("a response");
    assert_eq!(head.status, 508);
    assert!(String::from_utf8_lossy(&seen.got.body).contains("Loop detected"));
    let events = backend_events(&seen);
    assert_eq!(events.len(), 1, "the nested passes' traces stay out");
    let note = events[0].note.as_deref().unwrap_or_default();
    assert!(
        note.contains("served by this service itself, pass 2"),
        "{note}"
    );
    // Every pass's fetch said who served it; the sixth was answered without the guest.
    for pass in 2..=6 {
        assert!(
            seen.notices
                .iter()
                .any(|n| n.contains(&format!("served by this service itself, pass {pass}"))),
            "pass {pass}: {:?}",
            seen.notices
        );
    }
    assert!(
        seen.notices
            .iter()
            .any(|n| n.contains("pass 6: answered 508 without running the guest")),
        "{:?}",
        seen.notices
    );
    assert!(!seen.notices.iter().any(|n| n.contains("pass 7")));
}

#[wasm_bindgen_test]
async fn a_fetch_elsewhere_is_not_served_by_the_service() {
    let engine = Rc::new(Engine::new(browser_platform()));
    let guest = engine.load(&wat::parse_str(SELF_CALLER).unwrap()).unwrap();
    let itself = Itself::new(
        engine,
        guest,
        Service::default(),
        ExecOptions::default(),
        "http://127.0.0.1:7676/x",
    );
    assert!(itself.serves("http://127.0.0.1:7676/other?q=1"));
    assert!(!itself.serves("http://127.0.0.1:7677/"));
    assert!(!itself.serves("http://localhost:7676/"));
    assert!(!itself.serves(&format!("{}/x", page_origin())));
}

/// A request that may stream its response, to `path` of the test origin.
fn streaming(path: &str, between_ms: Option<u32>) -> FetchRequest {
    let mut r = request(format!("{}{path}", origin()), "GET", b"");
    r.stream_response = true;
    r.between_bytes_timeout_ms = between_ms;
    r
}

/// Read a streaming body to its end (or failure): the chunks, and the failure.
async fn read_all(mut reader: Option<fetch::BodyReader>) -> (Vec<String>, Option<FetchErrorKind>) {
    let mut chunks = Vec::new();
    while let Some(r) = reader.take() {
        let (result, rest) = r.read().await;
        match result {
            WorkResult::BodyChunk { bytes, end } => {
                if !bytes.is_empty() {
                    chunks.push(String::from_utf8_lossy(&bytes).into_owned());
                }
                assert_eq!(end, rest.is_none());
                if end {
                    break;
                }
            }
            WorkResult::FetchFailed(e) => return (chunks, Some(e.kind)),
            other => panic!("unexpected {other:?}"),
        }
        reader = rest;
    }
    (chunks, None)
}

#[wasm_bindgen_test]
async fn a_response_body_streams_from_the_head_on() {
    let (head, reader) = fetch::fetch_with(streaming("/trickle", None)).await;
    let WorkResult::FetchedHead(h) = head else {
        panic!("expected the head first, got {head:?}");
    };
    assert_eq!(h.status, 200);
    assert!(h.body.is_empty());
    let (chunks, failed) = read_all(reader).await;
    assert_eq!(failed, None);
    assert_eq!(chunks.concat(), "hello world");
    assert!(chunks.len() >= 2, "the body came in pieces: {chunks:?}");
}

#[wasm_bindgen_test]
async fn a_stalled_response_body_fails_the_read_at_the_between_bytes_timeout() {
    let (head, reader) = fetch::fetch_with(streaming("/stall", Some(300))).await;
    assert!(matches!(head, WorkResult::FetchedHead(_)), "{head:?}");
    let (chunks, failed) = read_all(reader).await;
    assert_eq!(chunks.concat(), "hello");
    assert_eq!(failed, Some(FetchErrorKind::HttpResponseTimeout));
}

#[wasm_bindgen_test]
async fn a_fetch_that_may_not_stream_reads_the_whole_body() {
    let mut req = streaming("/trickle", None);
    req.stream_response = false;
    let (whole, reader) = fetch::fetch_with(req).await;
    assert!(reader.is_none());
    let WorkResult::Fetched(r) = whole else {
        panic!("expected a whole response, got {whole:?}");
    };
    assert_eq!(r.body, b"hello world");
}

// ---- The service state in IndexedDB, shared between tabs (src/persist.rs) ----

/// A database and channel name no other test uses.
fn fresh_name(what: &str) -> String {
    format!("edgeplay-test-{what}-{}", js_sys::Math::random())
}

fn put(p: &Persist, key: &str, value: &str) {
    p.state
        .lock()
        .put(key.as_bytes(), value.as_bytes().to_vec());
}

fn get(p: &Persist, key: &str) -> Option<String> {
    p.state
        .lock()
        .get(key.as_bytes())
        .map(|v| String::from_utf8(v).unwrap())
}

/// Wait (up to 5 s) until `check` holds.
async fn eventually(what: &str, check: impl Fn() -> bool) {
    for _ in 0..250 {
        if check() {
            return;
        }
        fetch::sleep_ms(20.0).await;
    }
    panic!("{what}: not within 5 s");
}

#[wasm_bindgen_test]
async fn state_committed_is_loaded_by_the_next_worker_life() {
    let (db, ch) = (fresh_name("db"), fresh_name("ch"));
    let (p1, report) = Persist::open(&db, &ch).await;
    assert!(p1.is_durable(), "{:?}", report.not_durable);
    assert_eq!(report.keys, 0);
    put(&p1, "kv/s\0a", "1");
    put(&p1, "kv/s\0b", "2");
    p1.flush();
    p1.state.lock().delete(b"kv/s\0b");
    put(&p1, "kv/s\0c", "3");
    p1.flush();
    p1.settled().await.expect("the writes commit");
    // A worker terminated now (Stop) loses nothing: the next one loads it all.
    drop(p1);
    let (p2, report) = Persist::open(&db, &ch).await;
    assert_eq!((report.keys, report.skipped), (2, 0));
    assert_eq!(get(&p2, "kv/s\0a").as_deref(), Some("1"));
    assert_eq!(get(&p2, "kv/s\0b"), None, "the delete was stored too");
    assert_eq!(get(&p2, "kv/s\0c").as_deref(), Some("3"));
    assert!(
        p2.state.take_journal().is_empty(),
        "loaded entries are not written back"
    );
}

#[wasm_bindgen_test]
async fn state_a_record_that_is_not_bytes_is_skipped_and_kept() {
    let (db, ch) = (fresh_name("db"), fresh_name("ch"));
    let raw = open_db(&db).await.unwrap();
    state_db::put_raw(&raw, &"a string key".into(), &"not bytes".into())
        .await
        .unwrap();
    state_db::put_raw(
        &raw,
        &js_sys::Uint8Array::from(&b"kv/s\0ok"[..]).into(),
        &js_sys::Uint8Array::from(&b"fine"[..]).into(),
    )
    .await
    .unwrap();
    raw.close();
    let (p, report) = Persist::open(&db, &ch).await;
    assert_eq!((report.keys, report.skipped), (1, 1));
    assert_eq!(get(&p, "kv/s\0ok").as_deref(), Some("fine"));
    put(&p, "kv/s\0new", "x");
    p.flush();
    p.settled().await.unwrap();
    drop(p);
    let (_p, report) = Persist::open(&db, &ch).await;
    assert_eq!(
        (report.keys, report.skipped),
        (2, 1),
        "the damaged record is still there, untouched"
    );
}

#[wasm_bindgen_test]
async fn state_two_tabs_see_each_others_writes_and_agree_on_the_last_writer() {
    let (db, ch) = (fresh_name("db"), fresh_name("ch"));
    let (a, _) = Persist::open(&db, &ch).await;
    let (b, _) = Persist::open(&db, &ch).await;
    let seen_remote = Rc::new(RefCell::new(Vec::<Vec<u8>>::new()));
    let seen = seen_remote.clone();
    b.on_event(move |ev| {
        if let StateEvent::Changed { keys, remote: true } = ev {
            seen.borrow_mut().extend(keys);
        }
    });
    put(&a, "kv/s\0from-a", "1");
    a.flush();
    put(&b, "kv/s\0from-b", "2");
    b.flush();
    a.settled().await.unwrap();
    b.settled().await.unwrap();
    eventually("b sees a's write", || get(&b, "kv/s\0from-a").is_some()).await;
    eventually("a sees b's write", || get(&a, "kv/s\0from-b").is_some()).await;
    assert!(seen_remote.borrow().contains(&b"kv/s\0from-a".to_vec()));
    assert!(
        b.state.take_journal().is_empty() && a.state.take_journal().is_empty(),
        "applied, not journaled: nothing echoes back"
    );
    // Both write one key at the same moment: both end with what IndexedDB kept.
    put(&a, "kv/s\0same", "a");
    a.flush();
    put(&b, "kv/s\0same", "b");
    b.flush();
    a.settled().await.unwrap();
    b.settled().await.unwrap();
    let raw = open_db(&db).await.unwrap();
    let stored = state_db::read(&raw, &[b"kv/s\0same".to_vec()])
        .await
        .unwrap();
    raw.close();
    let Change::Put { value, .. } = &stored[0] else {
        panic!("the key is stored: {stored:?}")
    };
    let winner = String::from_utf8(value.clone()).unwrap();
    eventually("both tabs agree with IndexedDB", || {
        get(&a, "kv/s\0same").as_deref() == Some(&winner)
            && get(&b, "kv/s\0same").as_deref() == Some(&winner)
    })
    .await;
    // A delete travels too.
    a.state.lock().delete(b"kv/s\0from-b");
    a.flush();
    a.settled().await.unwrap();
    eventually("b sees the delete", || get(&b, "kv/s\0from-b").is_none()).await;
}

#[wasm_bindgen_test]
async fn state_the_panel_s_edits_are_answered_once_durable() {
    let (db, ch) = (fresh_name("db"), fresh_name("ch"));
    let (p, _) = Persist::open(&db, &ch).await;
    let key = ByteBuf::from(b"kv/s\0k".to_vec());
    let reply = store_request(
        p.clone(),
        7,
        StoreOp::Put {
            key: key.clone(),
            value: ByteBuf::from(b"v".to_vec()),
        },
    )
    .await;
    assert_eq!(
        reply,
        FromWorker::StoreReply {
            req_id: 7,
            result: Ok(StoreAnswer::Done { changed: 1 })
        }
    );
    // Answered: so already in IndexedDB.
    let raw = open_db(&db).await.unwrap();
    let stored = state_db::read(&raw, &[key.to_vec()]).await.unwrap();
    raw.close();
    assert_eq!(
        stored,
        [Change::Put {
            key: key.to_vec(),
            value: b"v".to_vec()
        }]
    );
    let bad = store_request(
        p.clone(),
        8,
        StoreOp::Reset {
            config_toml: "not = [toml".into(),
        },
    )
    .await;
    assert!(
        matches!(&bad, FromWorker::StoreReply { result: Err(e), .. } if e.contains("does not validate")),
        "{bad:?}"
    );
    assert_eq!(get(&p, "kv/s\0k").as_deref(), Some("v"), "nothing was lost");
}

// ---- Recordings in the tab: replaying and recording backend exchanges (src/tap.rs) ----

/// Run SELF_CALLER as a forwarder: the downstream request `path` goes to the
/// backend `self` at `backend_url` (not the service's own origin), with `tap`.
async fn forward(backend_url: &str, path: &str, tap: Rc<RunTap>) -> Seen {
    let engine = Rc::new(Engine::new(browser_platform()));
    let guest = engine.load(&wat::parse_str(SELF_CALLER).unwrap()).unwrap();
    let config = edgeplay_web::request::parse_config(&format!(
        "[local_server.backends.self]\nurl = \"{backend_url}\"\n"
    ))
    .unwrap();
    let service = Service::new(Arc::new(config));
    let request = DownstreamRequest::new("GET", &format!("http://127.0.0.1:7676{path}"));
    let itself = Itself::new(
        engine.clone(),
        guest.clone(),
        service.clone(),
        ExecOptions::default(),
        &request.url,
    )
    .with_tap(tap);
    let driver = Driver::start(
        &engine,
        guest,
        service,
        request,
        "0".repeat(32),
        ExecOptions::default(),
        Capabilities::BROWSER,
    )
    .unwrap();
    let seen: Rc<RefCell<Seen>> = Rc::default();
    let sink = seen.clone();
    edgeplay_web::worker::drive(
        driver,
        9,
        Rc::new(move |m| {
            let mut s = sink.borrow_mut();
            match m {
                FromWorker::Progress { outputs, trace, .. } => {
                    s.got
                        .absorb(outputs.iter().cloned().map(Into::into).collect());
                    s.trace.extend(trace.iter().cloned());
                }
                FromWorker::Notice { message, .. } => s.notices.push(message.clone()),
                _ => {}
            }
        }),
        Some(Rc::new(itself)),
    )
    .await;
    Rc::try_unwrap(seen).ok().unwrap().into_inner()
}

fn body_text(seen: &Seen) -> String {
    String::from_utf8_lossy(&seen.got.body).into_owned()
}

/// Record one run of `path` against the test origin: its recordings.
async fn record(path: &str) -> (Seen, Vec<Recording>, LeftOut) {
    let tap = Rc::new(RunTap::new(None, true));
    let seen = forward(origin(), path, tap.clone()).await;
    let (recordings, left_out) = tap.take_recorded().expect("the run recorded");
    (seen, recordings, left_out)
}

fn replaying(recordings: Vec<Recording>) -> Rc<RefCell<Replayer>> {
    Rc::new(RefCell::new(Replayer::new(recordings)))
}

#[wasm_bindgen_test]
async fn a_recorded_run_replays_with_no_network_and_the_same_response() {
    let path = format!("/cached/rec-{}", js_sys::Math::random());
    let (live, recordings, left_out) = record(&path).await;
    let expected = format!("origin hit 1 for {path}");
    assert_eq!(body_text(&live), expected);
    assert!(left_out.is_nothing(), "{left_out:?}");
    assert_eq!(recordings.len(), 1, "{recordings:?}");
    let r = &recordings[0];
    assert_eq!(
        (r.backend.as_str(), r.method.as_str(), r.status),
        ("self", "GET", 200)
    );
    assert_eq!(r.url, format!("{}{path}", origin()));
    assert_eq!(r.response().body, expected.as_bytes());
    assert!(r.end_us >= r.first_byte_us);

    // Replayed against the same origin: the origin is not asked (its count stays 1).
    let tap = Rc::new(RunTap::new(Some(replaying(recordings.clone())), false));
    let again = forward(origin(), &path, tap).await;
    assert_eq!(body_text(&again), expected);
    assert_eq!(again.got.head.as_ref().map(|h| h.status), Some(200));
    let events = backend_events(&again);
    assert_eq!(events.len(), 1);
    let note = events[0].note.as_deref().unwrap_or_default();
    assert!(note.contains(REPLAYED_NOTE), "{note}");
    assert!(
        again.notices.iter().any(|n| n
            == &format!(
                "backend `self`: GET {}{path} replayed from a recording (no network)",
                origin()
            )),
        "{:?}",
        again.notices
    );
    let row = edgeplay_web::waterfall::FetchRow::from_event(events[0]).unwrap();
    assert!(row.replayed && row.class().contains("replayed"));
    let live = forward(origin(), &path, Rc::default()).await;
    assert_eq!(
        body_text(&live),
        format!("origin hit 2 for {path}"),
        "the replay never reached the origin"
    );

    // The origin moved to a closed port: the recordings (their URLs moved the same
    // way) still answer, the same response, offline.
    let closed = "http://127.0.0.1:9";
    let moved: Vec<Recording> = recordings
        .into_iter()
        .map(|mut r| {
            r.url = r.url.replace(origin(), closed);
            r
        })
        .collect();
    let tap = Rc::new(RunTap::new(Some(replaying(moved)), false));
    let offline = forward(closed, &path, tap).await;
    assert_eq!(body_text(&offline), expected);
    assert_eq!(offline.got.head.as_ref().map(|h| h.status), Some(200));
}

#[wasm_bindgen_test]
async fn replay_goes_on_across_runs_in_the_recorded_order() {
    let path = format!("/cached/seq-{}", js_sys::Math::random());
    let (_, first, _) = record(&path).await;
    let (_, second, _) = record(&path).await;
    let shared = replaying([first, second].concat());
    // Three runs of one worker (a fiddle's "Run all"): the exchanges in order, then
    // the last one again.
    let mut bodies = Vec::new();
    for _ in 0..3 {
        let tap = Rc::new(RunTap::new(Some(shared.clone()), false));
        bodies.push(body_text(&forward(origin(), &path, tap).await));
    }
    assert_eq!(
        bodies,
        [
            format!("origin hit 1 for {path}"),
            format!("origin hit 2 for {path}"),
            format!("origin hit 2 for {path}"),
        ]
    );
}

#[wasm_bindgen_test]
async fn a_fetch_with_no_recording_fails_as_a_refused_connection() {
    let tap = Rc::new(RunTap::new(Some(replaying(Vec::new())), true));
    let seen = forward(origin(), "/echo/none", tap.clone()).await;
    let events = backend_events(&seen);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].status.as_deref(), Some("connection_refused"));
    let url = format!("{}/echo/none", origin());
    let note = events[0].note.as_deref().unwrap_or_default();
    assert!(
        note.contains(&format!("no recording of GET {url} for backend \"self\"")),
        "{note}"
    );
    assert!(
        seen.notices
            .iter()
            .any(|n| n.starts_with(&format!("backend `self`: no recording of GET {url}"))),
        "{:?}",
        seen.notices
    );
    // Nothing reached the network, so nothing was recorded.
    let (recordings, left_out) = tap.take_recorded().unwrap();
    assert!(recordings.is_empty() && left_out.is_nothing());
}

#[wasm_bindgen_test]
fn recorded_and_replay_messages_survive_postmessage() {
    let rec = Recording::of(
        &FetchRequest::get("o", "http://o.test/a"),
        &edgeplay_host::FetchResponse {
            status: 201,
            headers: Headers::new(),
            body: b"hi".to_vec(),
            remote_addr: None,
            first_byte_us: 1,
            end_us: 2,
            headers_not_sent: Vec::new(),
            notes: Vec::new(),
        },
    );
    let recorded = FromWorker::Recorded {
        run_id: 4,
        recordings: vec![rec.clone()],
        left_out: LeftOut {
            cut: 1,
            cut_bytes: 10,
            omitted: 2,
            omitted_bytes: 3_000_000,
        },
    };
    let v = structured_clone(&js::encode(&recorded).unwrap());
    assert_eq!(js::decode::<FromWorker>(v).unwrap(), recorded);
    let replay = ToWorker::Replay {
        recordings: Some(vec![rec]),
    };
    let v = structured_clone(&js::encode(&replay).unwrap());
    assert_eq!(js::decode::<ToWorker>(v).unwrap(), replay);
}

// ---- A service state per workspace entry (src/state_name.rs, state_db) ----

/// A state name no other test uses.
fn fresh_state(what: &str) -> String {
    format!("t-{what}-{}", (js_sys::Math::random() * 1e12) as u64)
}

#[wasm_bindgen_test]
async fn states_of_two_entries_are_isolated() {
    let (a, b) = (fresh_state("a"), fresh_state("b"));
    let (pa, report) = Persist::open_state(&a).await;
    assert!(pa.is_durable(), "{:?}", report.not_durable);
    let (pb, _) = Persist::open_state(&b).await;
    let seen_by_b = Rc::new(RefCell::new(0));
    let seen = seen_by_b.clone();
    pb.on_event(move |_| *seen.borrow_mut() += 1);
    put(&pa, "kv/s\0only-a", "1");
    pa.flush();
    pa.settled().await.unwrap();
    drop(pb);
    let (pb, report) = Persist::open_state(&b).await;
    assert_eq!(report.keys, 0, "b's database holds nothing of a's");
    assert_eq!(get(&pb, "kv/s\0only-a"), None);
    assert_eq!(
        *seen_by_b.borrow(),
        0,
        "b's channel heard nothing of a's write"
    );
    drop(pa);
    let (pa, report) = Persist::open_state(&a).await;
    assert_eq!(report.keys, 1);
    assert_eq!(get(&pa, "kv/s\0only-a").as_deref(), Some("1"));
    drop((pa, pb));
    state_db::delete_state(&a).await.unwrap();
    state_db::delete_state(&b).await.unwrap();
}

#[wasm_bindgen_test]
async fn a_state_copies_into_another_and_deletes() {
    let (a, c) = (fresh_state("src"), fresh_state("dup"));
    let (pa, _) = Persist::open_state(&a).await;
    put(&pa, "kv/s\0k1", "v1");
    put(&pa, "kv/s\0k2", "v2");
    pa.flush();
    pa.settled().await.unwrap();
    // A damaged record in the source is not copied (and stays in the source).
    let raw = open_db(&edgeplay_web::state_name::db_name(&a).unwrap())
        .await
        .unwrap();
    state_db::put_raw(&raw, &"bad key".into(), &"not bytes".into())
        .await
        .unwrap();
    raw.close();
    // The copy replaces what the target held.
    let (pc, _) = Persist::open_state(&c).await;
    put(&pc, "kv/s\0old", "gone");
    pc.flush();
    pc.settled().await.unwrap();
    drop(pc);
    assert_eq!(state_db::copy_state(&a, &c).await.unwrap(), 2);
    let (pc, report) = Persist::open_state(&c).await;
    assert_eq!((report.keys, report.skipped), (2, 0));
    assert_eq!(get(&pc, "kv/s\0k1").as_deref(), Some("v1"));
    assert_eq!(get(&pc, "kv/s\0old"), None);
    // The copy is its own: a write to it leaves the source alone.
    put(&pc, "kv/s\0k1", "changed");
    pc.flush();
    pc.settled().await.unwrap();
    drop((pa, pc));
    let (pa, report) = Persist::open_state(&a).await;
    assert_eq!((report.keys, report.skipped), (2, 1));
    assert_eq!(get(&pa, "kv/s\0k1").as_deref(), Some("v1"));
    drop(pa);
    assert!(state_db::copy_state(&a, &a).await.is_err());
    state_db::delete_state(&c).await.unwrap();
    let (pc, report) = Persist::open_state(&c).await;
    assert_eq!(report.keys, 0, "deleted");
    assert_eq!(get(&pc, "kv/s\0k2"), None);
    drop(pc);
    state_db::delete_state(&a).await.unwrap();
    state_db::delete_state(&c).await.unwrap();
}

#[wasm_bindgen_test]
async fn the_default_state_is_the_database_the_tab_always_had() {
    // What an existing user has: records in `edgeplay`'s `state` store.
    let key = format!("kv/s\0default-{}", js_sys::Math::random());
    let (old, _) = Persist::open(
        edgeplay_web::storage::DB_NAME,
        edgeplay_web::persist::CHANNEL,
    )
    .await;
    put(&old, &key, "kept");
    old.flush();
    old.settled().await.unwrap();
    drop(old);
    let (p, report) = Persist::open_state(edgeplay_web::state_name::DEFAULT_STATE).await;
    assert!(p.is_durable(), "{:?}", report.not_durable);
    assert_eq!(get(&p, &key).as_deref(), Some("kept"));
    p.state.lock().delete(key.as_bytes());
    p.flush();
    p.settled().await.unwrap();
    // A name that is not a state name works in memory and says why.
    let (m, report) = Persist::open_state("../edgeplay").await;
    assert!(!m.is_durable());
    assert!(report.not_durable.unwrap().contains("state name"));
}

// ---- The workspace: saved fiddles, each with its own state (src/workspace.rs) ----

async fn workspace() -> Workspace {
    Workspace::open_named(&fresh_name("ws")).await.unwrap()
}

fn a_fiddle(title: &str) -> Fiddle {
    Fiddle::from_json(&format!(
        r#"{{"version":1,"title":"{title}","guest":{{"kind":"example","name":"kv"}},
            "requests":[{{"path":"/?key=a"}}]}}"#
    ))
    .unwrap()
}

#[wasm_bindgen_test]
async fn workspace_saves_lists_and_reads_back_fiddles() {
    let ws = workspace().await;
    assert_eq!(ws.list().await.unwrap(), Listing::default());
    let f = a_fiddle("first");
    let guest = GuestFile {
        name: "mine.wasm".into(),
        bytes: vec![0, 97, 115, 109, 1, 0, 0, 0],
    };
    let one = ws.put(None, "First", &f, Some(&guest)).await.unwrap();
    assert_eq!(one.id.len(), 16);
    assert_eq!(one.state, one.id, "a new entry has a state of its own");
    assert_eq!(one.size, (f.to_json().len() + 8) as u64);
    assert_eq!(one.guest_name.as_deref(), Some("mine.wasm"));
    fetch::sleep_ms(5.0).await;
    let two = ws
        .put(None, "Second", &a_fiddle("second"), None)
        .await
        .unwrap();
    assert_ne!(one.id, two.id);
    let listing = ws.list().await.unwrap();
    assert_eq!(listing.skipped, 0);
    let names: Vec<&str> = listing.entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["Second", "First"], "most recently updated first");
    let got = ws.get(&one.id).await.unwrap().expect("saved");
    assert_eq!(got.meta, one);
    assert_eq!(got.fiddle().unwrap(), f);
    assert_eq!(got.guest, Some(guest));
    assert_eq!(ws.get("nothing-here").await.unwrap(), None);

    // An update keeps the id and the state; no guest file drops the stored one.
    fetch::sleep_ms(5.0).await;
    let changed = a_fiddle("first, changed");
    let again = ws
        .put(Some(&one.id), "First", &changed, None)
        .await
        .unwrap();
    assert_eq!(
        (again.id.as_str(), again.state.as_str()),
        (one.id.as_str(), one.state.as_str())
    );
    assert!(again.updated_ms > one.updated_ms);
    let got = ws.get(&one.id).await.unwrap().unwrap();
    assert_eq!(got.fiddle().unwrap(), changed);
    assert_eq!((got.guest, got.meta.guest_name), (None, None));
    assert_eq!(ws.list().await.unwrap().entries[0].id, one.id);

    // Rename.
    let renamed = ws.rename(&two.id, "Renamed").await.unwrap();
    assert_eq!(renamed.name, "Renamed");
    assert_eq!(ws.get(&two.id).await.unwrap().unwrap().meta.name, "Renamed");
    assert!(ws.rename("nothing-here", "x").await.is_err());

    // The current entry.
    set_current(Some(&two.id));
    assert_eq!(current().as_deref(), Some(two.id.as_str()));
    set_current(None);
    assert_eq!(current(), None);
}

#[wasm_bindgen_test]
async fn workspace_duplicate_copies_the_state_and_delete_removes_it() {
    let ws = workspace().await;
    let f = a_fiddle("kv");
    let orig = ws.put(None, "Visits", &f, None).await.unwrap();
    let (p, _) = Persist::open_state(&orig.state).await;
    put(&p, "kv/playground\0name", "you");
    p.flush();
    p.settled().await.unwrap();
    drop(p);

    let dup = ws.duplicate(&orig.id, None).await.unwrap();
    assert_eq!(dup.name, "Visits (copy)");
    assert_ne!(dup.id, orig.id);
    assert_eq!(dup.state, dup.id);
    assert_eq!(ws.get(&dup.id).await.unwrap().unwrap().fiddle().unwrap(), f);
    let (pd, report) = Persist::open_state(&dup.state).await;
    assert_eq!(report.keys, 1);
    assert_eq!(get(&pd, "kv/playground\0name").as_deref(), Some("you"));
    put(&pd, "kv/playground\0name", "copy");
    pd.flush();
    pd.settled().await.unwrap();
    drop(pd);
    let (p, _) = Persist::open_state(&orig.state).await;
    assert_eq!(
        get(&p, "kv/playground\0name").as_deref(),
        Some("you"),
        "the original's own"
    );
    drop(p);
    let named = ws.duplicate(&orig.id, Some("Other")).await.unwrap();
    assert_eq!(named.name, "Other");

    set_current(Some(&dup.id));
    ws.delete(&dup.id).await.unwrap();
    assert_eq!(ws.get(&dup.id).await.unwrap(), None);
    assert!(!ws
        .list()
        .await
        .unwrap()
        .entries
        .iter()
        .any(|e| e.id == dup.id));
    assert_eq!(current(), None, "the deleted entry is no longer current");
    let (pd, report) = Persist::open_state(&dup.state).await;
    assert_eq!(report.keys, 0, "its state went with it");
    drop(pd);
    ws.delete(&dup.id).await.unwrap();
    assert!(ws.get(&orig.id).await.unwrap().is_some(), "the others stay");
    for e in ws.list().await.unwrap().entries {
        ws.delete(&e.id).await.unwrap();
    }
}

#[wasm_bindgen_test]
async fn workspace_damaged_records_are_skipped_and_kept() {
    let ws = workspace().await;
    let good = ws.put(None, "Good", &a_fiddle("good"), None).await.unwrap();
    ws.put_raw("meta", &"not-an-object".into(), &"just text".into())
        .await
        .unwrap();
    let wrong = js_sys::Object::new();
    js_sys::Reflect::set(&wrong, &"id".into(), &7.into()).unwrap();
    ws.put_raw("meta", &"wrong-fields".into(), &wrong)
        .await
        .unwrap();
    // A meta that reads but whose fiddle text is not text.
    let mut meta = good.clone();
    meta.id = "no-text".into();
    ws.put_raw("meta", &"no-text".into(), &js::encode(&meta).unwrap())
        .await
        .unwrap();
    ws.put_raw(
        "fiddles",
        &"no-text".into(),
        &js_sys::Uint8Array::new_with_length(3),
    )
    .await
    .unwrap();
    let listing = ws.list().await.unwrap();
    assert_eq!(listing.skipped, 2);
    let ids: Vec<&str> = listing.entries.iter().map(|e| e.id.as_str()).collect();
    assert!(
        ids.contains(&good.id.as_str()) && ids.contains(&"no-text"),
        "{ids:?}"
    );
    for id in ["not-an-object", "wrong-fields", "no-text"] {
        let e = ws.get(id).await.unwrap_err();
        assert!(e.contains("cannot be read back"), "{e}");
    }
    assert!(ws
        .put(Some("wrong-fields"), "x", &a_fiddle("x"), None)
        .await
        .is_err());
    assert!(ws.delete("wrong-fields").await.is_err());
    assert_eq!(
        ws.count_raw("meta").await.unwrap(),
        4,
        "nothing was deleted"
    );
    assert!(ws.get(&good.id).await.unwrap().is_some());
    ws.delete(&good.id).await.unwrap();
}

/// The body of run `run_id` as its `Progress` messages carried it.
fn run_body(seen: &[FromWorker], run_id: u32) -> String {
    let mut body = Vec::new();
    for m in seen {
        if let FromWorker::Progress {
            run_id: r, outputs, ..
        } = m
        {
            if *r == run_id {
                for o in outputs {
                    if let WireOutput::BodyChunk(b) = o {
                        body.extend_from_slice(b);
                    }
                }
            }
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

#[wasm_bindgen_test]
async fn the_worker_records_runs_and_replays_them_across_run_all() {
    let (persist, _) = Persist::open_state(&fresh_state("w")).await;
    let state = WorkerState::new(Rc::new(Engine::new(browser_platform())), Some(persist));
    let seen: Rc<RefCell<Vec<FromWorker>>> = Rc::default();
    let sink: Sink = {
        let seen = seen.clone();
        Rc::new(move |m: &FromWorker| seen.borrow_mut().push(m.clone()))
    };
    handle(
        &state,
        ToWorker::Load {
            load_id: 1,
            name: "forward.wasm".into(),
            wasm: wat::parse_str(SELF_CALLER).unwrap(),
        },
        sink.clone(),
    );
    let path = format!("/cached/worker-{}", js_sys::Math::random());
    let config = format!("[local_server.backends.self]\nurl = \"{}\"\n", origin());
    let run = |run_id: u32, record: bool| {
        let msg = ToWorker::Run(RunRequest {
            run_id,
            request: RequestSpec {
                method: "GET".into(),
                url: path.clone(),
                ..RequestSpec::default()
            },
            config_toml: config.clone(),
            cpu_limit_ms: None,
            // The origin's answer is cacheable: every run starts with an empty cache.
            fresh_cache: true,
            record,
            step: None,
            production_limits: true,
        });
        handle(&state, msg, sink.clone());
        let seen = seen.clone();
        async move {
            eventually(&format!("run {run_id} is done"), || {
                seen.borrow()
                    .iter()
                    .any(|m| matches!(m, FromWorker::Done { run_id: r, .. } if *r == run_id))
            })
            .await;
        }
    };
    let recorded = |run_id: u32| -> Vec<Recording> {
        let seen = seen.borrow();
        let at = |f: &dyn Fn(&FromWorker) -> bool| seen.iter().position(f);
        let rec = at(&|m| matches!(m, FromWorker::Recorded { run_id: r, .. } if *r == run_id));
        let done = at(&|m| matches!(m, FromWorker::Done { run_id: r, .. } if *r == run_id));
        assert!(rec.unwrap() < done.unwrap(), "Recorded comes before Done");
        match &seen[rec.unwrap()] {
            FromWorker::Recorded {
                recordings,
                left_out,
                ..
            } => {
                assert!(left_out.is_nothing());
                recordings.clone()
            }
            _ => unreachable!(),
        }
    };
    run(1, true).await;
    run(2, true).await;
    let hit = |n: u32| format!("origin hit {n} for {path}");
    assert_eq!(run_body(&seen.borrow(), 1), hit(1));
    assert_eq!(run_body(&seen.borrow(), 2), hit(2));
    let recordings = [recorded(1), recorded(2)].concat();
    assert_eq!(recordings.len(), 2);

    // "Run all" replayed: one Replay, then the runs, answered in the recorded order.
    handle(
        &state,
        ToWorker::Replay {
            recordings: Some(recordings.clone()),
        },
        sink.clone(),
    );
    for id in 3..=5 {
        run(id, true).await;
    }
    assert_eq!(run_body(&seen.borrow(), 3), hit(1));
    assert_eq!(run_body(&seen.borrow(), 4), hit(2));
    assert_eq!(run_body(&seen.borrow(), 5), hit(2), "the last one repeats");
    assert!(
        recorded(3).is_empty(),
        "a replayed exchange is not recorded"
    );
    // Replay again starts over.
    handle(
        &state,
        ToWorker::Replay {
            recordings: Some(recordings),
        },
        sink.clone(),
    );
    run(6, false).await;
    assert_eq!(run_body(&seen.borrow(), 6), hit(1));
    assert!(
        !seen
            .borrow()
            .iter()
            .any(|m| matches!(m, FromWorker::Recorded { run_id: 6, .. })),
        "a run that does not record posts no recordings"
    );
    // Back to the network: the origin counts on from where the recording left it.
    handle(&state, ToWorker::Replay { recordings: None }, sink.clone());
    run(7, false).await;
    assert_eq!(run_body(&seen.borrow(), 7), hit(3));
}
