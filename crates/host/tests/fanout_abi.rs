//! The imports that were the last UNSUPPORTED ones, with WAT guests: the Fanout
//! handoffs (WebSocket, GRIP), informational (1xx) responses, the visit counters,
//! `on_behalf_of`, and the legacy shielding names. What `serve` does with a handoff
//! and a 103 on a real connection is in the runner's tests (`crates/cli/tests`).

mod common;

use common::{config, engine, expect, get, run_wasm, run_wat, BADF, ERROR, INVAL, OK, UNSUPPORTED};
use edgeplay_host::{HandoffKind, ServiceConfig};

const BACKENDS: &str = r#"
[local_server.backends.origin]
url = "http://127.0.0.1:9/prefix/"
override_host = "ws.example"
"#;

fn run_cfg(wat: &str, cfg: &str, req: edgeplay_host::DownstreamRequest) -> common::Run {
    let wasm = wat::parse_str(wat).expect("valid WAT");
    run_wasm(&engine(), &wasm, config(cfg), req)
}

/// A guest that fetches the client request, changes its path and a header, and hands
/// it off with the `_v2` call `call`; then tries to send a response (ERROR).
fn handoff_v2(call: &str, backend: &str) -> String {
    format!(
        r#"(module
  (import "fastly_http_req" "body_downstream_get" (func $ds (param i32 i32) (result i32)))
  (import "fastly_http_req" "uri_set" (func $uri_set (param i32 i32 i32) (result i32)))
  (import "fastly_http_req" "header_insert" (func $hins (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "{call}" (func $handoff (param i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "new" (func $resp_new (param i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (import "fastly_http_resp" "send_downstream" (func $send (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "http://edge.test/chat?room=1")
  (data (i32.const 200) "{backend}")
  (data (i32.const 300) "upgradex-guest")
  (func (export "_start")
    {ds}
    {uri}
    ;; The guest may not change the client's upgrade header; x-guest is its own.
    {hins_up}
    {hins}
    (if (i32.ne (call $handoff (i32.const 0xffff) (i32.const 200) (i32.const {blen})) (i32.const {badf}))
      (then unreachable))
    {handoff}
    {handoff_again}
    {resp_new}
    {body_new}
    {send}))"#,
        ds = expect("(call $ds (i32.const 0) (i32.const 4))", OK),
        uri = expect(
            "(call $uri_set (i32.load (i32.const 0)) (i32.const 100) (i32.const 28))",
            OK
        ),
        hins_up = expect(
            "(call $hins (i32.load (i32.const 0)) (i32.const 300) (i32.const 7) (i32.const 300) (i32.const 3))",
            OK
        ),
        hins = expect(
            "(call $hins (i32.load (i32.const 0)) (i32.const 307) (i32.const 7) (i32.const 300) (i32.const 3))",
            OK
        ),
        blen = backend.len(),
        badf = BADF,
        handoff = expect(
            &format!(
                "(call $handoff (i32.load (i32.const 0)) (i32.const 200) (i32.const {}))",
                backend.len()
            ),
            if backend == "origin" { OK } else { INVAL }
        ),
        handoff_again = if backend == "origin" {
            expect(
                "(call $handoff (i32.load (i32.const 0)) (i32.const 200) (i32.const 6))",
                ERROR,
            )
        } else {
            String::new()
        },
        resp_new = expect("(call $resp_new (i32.const 8))", OK),
        body_new = expect("(call $body_new (i32.const 12))", OK),
        send = expect(
            "(call $send (i32.load (i32.const 8)) (i32.load (i32.const 12)) (i32.const 0))",
            if backend == "origin" { ERROR } else { OK }
        ),
    )
}

fn websocket_request() -> edgeplay_host::DownstreamRequest {
    get("http://edge.test/")
        .with_header("Upgrade", "websocket")
        .with_header("Connection", "Upgrade")
        .with_header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
        .with_header("Sec-WebSocket-Version", "13")
}

#[test]
fn a_websocket_handoff_is_recorded_and_explained_without_a_connection() {
    let run = run_cfg(
        &handoff_v2("redirect_to_websocket_proxy_v2", "origin"),
        BACKENDS,
        websocket_request(),
    );
    common::assert_returned(&run);
    let h = run.collected.handoff.as_ref().expect("a handoff");
    assert_eq!(h.kind, HandoffKind::WebSocket);
    assert_eq!(h.backend, "origin");
    assert_eq!(h.origin, "http://127.0.0.1:9");
    assert_eq!(h.path_prefix, "/prefix/");
    assert_eq!(
        h.path_and_query, "/chat?room=1",
        "the guest's request's path"
    );
    assert_eq!(h.host, "ws.example", "the backend's override host");
    assert_eq!(h.headers.get("host"), Some(&b"ws.example"[..]));
    assert_eq!(
        h.headers.get("upgrade"),
        Some(&b"websocket"[..]),
        "the client's upgrade header is kept"
    );
    assert_eq!(h.headers.get("x-guest"), Some(&b"upg"[..]));
    assert_eq!(
        h.headers.get("sec-websocket-key"),
        Some(&b"dGhlIHNhbXBsZSBub25jZQ=="[..])
    );
    // Without the client's connection (request, run, the tab) the answer says why.
    assert_eq!(run.response.status, 501);
    let body = run.body_text();
    assert!(body.contains("the WebSocket proxy"), "{body}");
    assert!(body.contains("only `edgeplay serve`"), "{body}");
    assert!(body.contains("a browser tab has no raw sockets"), "{body}");
    assert_eq!(
        run.statuses("fastly_http_resp::send_downstream"),
        ["error"],
        "no response after a handoff"
    );
}

#[test]
fn an_unknown_backend_is_inval_and_the_guest_can_still_answer() {
    let run = run_cfg(
        &handoff_v2("redirect_to_grip_proxy_v2", "nope"),
        BACKENDS,
        get("http://edge.test/"),
    );
    common::assert_returned(&run);
    assert!(run.collected.handoff.is_none());
    assert_eq!(run.response.status, 200);
    let ev = run.calls("fastly_http_req::redirect_to_grip_proxy_v2");
    assert_eq!(ev[1].status.as_deref(), Some("inval"));
    assert!(ev[1]
        .note
        .as_deref()
        .unwrap_or("")
        .contains("no backend named \"nope\""));
}

#[test]
fn the_legacy_calls_hand_off_the_client_request() {
    for (call, kind) in [
        ("upgrade_websocket", HandoffKind::WebSocket),
        ("redirect_to_websocket_proxy", HandoffKind::WebSocket),
        ("redirect_to_grip_proxy", HandoffKind::Grip),
    ] {
        let wat = format!(
            r#"(module
  (import "fastly_http_req" "{call}" (func $h (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "origin")
  (func (export "_start") {}))"#,
            expect("(call $h (i32.const 0) (i32.const 6))", OK)
        );
        let run = run_cfg(&wat, BACKENDS, websocket_request());
        let h = run.collected.handoff.as_ref().expect("a handoff");
        assert_eq!(h.kind, kind, "{call}");
        assert_eq!(h.method, "GET");
        assert_eq!(h.path_and_query, "/");
        assert_eq!(h.headers.get("host"), Some(&b"ws.example"[..]));
        assert_eq!(run.response.status, 501, "{call}");
        if kind == HandoffKind::Grip {
            assert!(run.body_text().contains("the GRIP proxy (Fanout)"));
        }
    }
}

const INFORMATIONAL: &str = r#"(module
  (import "fastly_http_resp" "new" (func $resp_new (param i32) (result i32)))
  (import "fastly_http_resp" "header_append" (func $hdr (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "status_set" (func $status_set (param i32 i32) (result i32)))
  (import "fastly_http_resp" "send_informational_response" (func $info (param i32 i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (import "fastly_http_resp" "send_downstream" (func $send (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "link</style.css>; rel=preload")
  (func (export "_start")
"#;

#[test]
fn informational_responses_go_out_before_the_final_one() {
    let body = [
        expect("(call $resp_new (i32.const 0))", OK),
        expect(
            "(call $hdr (i32.load (i32.const 0)) (i32.const 100) (i32.const 4) (i32.const 104) (i32.const 25))",
            OK,
        ),
        expect("(call $info (i32.load (i32.const 0)) (i32.const 103))", OK),
        expect("(call $info (i32.load (i32.const 0)) (i32.const 101))", INVAL),
        expect("(call $info (i32.load (i32.const 0)) (i32.const 200))", INVAL),
        expect("(call $info (i32.load (i32.const 0)) (i32.const 99))", INVAL),
        expect("(call $info (i32.const 77) (i32.const 103))", BADF),
        // A 103 through send_downstream is one too.
        expect("(call $resp_new (i32.const 8))", OK),
        expect("(call $status_set (i32.load (i32.const 8)) (i32.const 103))", OK),
        expect("(call $body_new (i32.const 12))", OK),
        expect(
            "(call $send (i32.load (i32.const 8)) (i32.load (i32.const 12)) (i32.const 0))",
            OK,
        ),
        // The handle of send_informational_response is still the guest's: the final response.
        expect("(call $body_new (i32.const 16))", OK),
        expect(
            "(call $send (i32.load (i32.const 0)) (i32.load (i32.const 16)) (i32.const 0))",
            OK,
        ),
        expect("(call $resp_new (i32.const 20))", OK),
        expect("(call $info (i32.load (i32.const 20)) (i32.const 103))", ERROR),
    ]
    .concat();
    let run = run_wat(
        &format!("{INFORMATIONAL}{body}))"),
        get("http://edge.test/"),
    );
    common::assert_returned(&run);
    let statuses: Vec<u16> = run
        .collected
        .informational
        .iter()
        .map(|h| h.status)
        .collect();
    assert_eq!(statuses, [103, 103]);
    assert_eq!(
        run.collected.informational[0].headers.get("link"),
        Some(&b"</style.css>; rel=preload"[..])
    );
    assert_eq!(run.response.status, 200);
    assert_eq!(
        run.response.headers.get("link"),
        Some(&b"</style.css>; rel=preload"[..])
    );
}

#[test]
fn visits_count_this_requests_hops_through_the_service() {
    let wat = format!(
        r#"(module
  (import "fastly_http_downstream" "downstream_visits_this_service" (func $svc (param i32) (result i32)))
  (import "fastly_http_downstream" "downstream_visits_this_pop" (func $pop (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    {}{}
    (if (i32.ne (i32.load (i32.const 0)) (i32.load (i32.const 4))) (then unreachable))
    (call $exit (i32.load (i32.const 0)))))"#,
        expect("(call $svc (i32.const 0))", OK),
        expect("(call $pop (i32.const 4))", OK),
    );
    let first = run_wat(&wat, get("http://edge.test/"));
    assert_eq!(first.outcome.exit, edgeplay_host::Exit::Exit(1));
    let looped = get("http://edge.test/").with_header(
        "cdn-loop",
        format!("{tok}, {tok}", tok = edgeplay_host::backends::LOOP_TOKEN),
    );
    let third = run_wat(&wat, looped);
    assert_eq!(third.outcome.exit, edgeplay_host::Exit::Exit(3));
}

#[test]
fn on_behalf_of_accepts_this_service_only() {
    let wat = |service: &str, code: i32| {
        format!(
            r#"(module
  (import "fastly_http_req" "new" (func $new (param i32) (result i32)))
  (import "fastly_http_req" "on_behalf_of" (func $obo (param i32 i32 i32) (result i32)))
  (import "env" "xqd_req_on_behalf_of" (func $obo_legacy (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "{service}")
  (func (export "_start")
    {}{}{}{}))"#,
            expect("(call $new (i32.const 0))", OK),
            expect(
                &format!(
                    "(call $obo (i32.load (i32.const 0)) (i32.const 100) (i32.const {}))",
                    service.len()
                ),
                code
            ),
            expect(
                &format!(
                    "(call $obo_legacy (i32.load (i32.const 0)) (i32.const 100) (i32.const {}))",
                    service.len()
                ),
                code
            ),
            expect(
                "(call $obo (i32.const 55) (i32.const 100) (i32.const 1))",
                BADF
            ),
        )
    };
    let other = run_wasm(
        &engine(),
        &wat::parse_str(wat("another-service", UNSUPPORTED)).unwrap(),
        ServiceConfig::default(),
        get("http://edge.test/"),
    );
    common::assert_returned(&other);
    let note = other.calls("fastly_http_req::on_behalf_of")[0]
        .note
        .clone()
        .unwrap_or_default();
    assert!(note.contains("edgeplay runs one service"), "{note}");
    // This service's own id (FASTLY_SERVICE_ID, Viceroy's zeros) is fine.
    let own = run_wasm(
        &engine(),
        &wat::parse_str(wat("0000000000000000000000", OK)).unwrap(),
        ServiceConfig::default(),
        get("http://edge.test/"),
    );
    common::assert_returned(&own);
}

#[test]
fn the_legacy_shielding_names_answer_as_their_twins() {
    let wat = format!(
        r#"(module
  (import "env" "xqd_shield_info" (func $info (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "xqd_backend_for_shield" (func $bfs (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "here")
  (data (i32.const 16) "http://127.0.0.1:7676")
  (func (export "_start")
    {}{}{}))"#,
        expect(
            "(call $info (i32.const 0) (i32.const 4) (i32.const 100) (i32.const 200) (i32.const 96))",
            OK
        ),
        expect(
            "(call $info (i32.const 0) (i32.const 3) (i32.const 100) (i32.const 200) (i32.const 96))",
            INVAL
        ),
        expect(
            "(call $bfs (i32.const 16) (i32.const 21) (i32.const 0) (i32.const 0) (i32.const 400) (i32.const 200) (i32.const 92))",
            OK
        ),
    );
    let run = run_cfg(
        &wat,
        r#"
[local_server.shielding_sites]
here = "Local"
"#,
        get("http://edge.test/"),
    );
    common::assert_returned(&run);
    assert_eq!(run.statuses("env::xqd_shield_info"), ["ok", "inval"]);
}

#[test]
fn the_rust_sdk_hands_a_websocket_off() {
    let run = common::run_wasm(
        &engine(),
        &common::sdk_guest("websocket"),
        config(BACKENDS),
        websocket_request(),
    );
    common::assert_returned(&run);
    let h = run.collected.handoff.as_ref().expect("a handoff");
    assert_eq!(h.kind, HandoffKind::WebSocket);
    assert_eq!(h.backend, "origin");
    assert_eq!(
        run.statuses("fastly_http_req::redirect_to_websocket_proxy_v2"),
        ["ok"]
    );
    assert_eq!(
        run.response.status, 501,
        "no client connection in this driver"
    );
}
