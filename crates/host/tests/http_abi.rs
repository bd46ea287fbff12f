//! The HTTP hostcalls (`fastly_http_req`, `fastly_http_resp`, `fastly_http_body`,
//! `fastly_http_downstream`) pinned with hand-written WAT guests: the ABI rules that are
//! easy to get wrong (BUFLEN with the needed length, cursors, missing header → INVAL,
//! bad handles → BADF, bad pointers → INVAL and never a panic), and what a user sees of
//! a response the guest sends, whole or streamed.
//!
//! Most guests report through a byte log: `$rec` appends an i32 (a status or an
//! out-value), `$rec_bytes` appends raw bytes, and `$finish` sends the log as the body
//! of a 200 response, which the test compares with the expected [`Log`] (both in
//! `common`).

mod common;

use common::{
    assert_log, assert_returned, engine, get, run_sdk, run_wat, start, statuses, Log, AGAIN, BADF,
    BUFLEN, BYTE_LOG, ERROR, HTTPINVALID, INVAL, LIMITEXCEEDED, NONE, OK, UNSUPPORTED,
};
use edgeplay_host::trace::ArgValue;
use edgeplay_host::{DownstreamRequest, ExecOptions, Exit, Output, Poll, ServiceConfig};

/// The imports every guest here shares (the byte log, [`BYTE_LOG`], follows them).
const IMPORTS: &str = r#"
  (import "fastly_http_req" "body_downstream_get" (func $req_downstream (param i32 i32) (result i32)))
  (import "fastly_http_req" "new" (func $req_new (param i32) (result i32)))
  (import "fastly_http_req" "close" (func $req_close (param i32) (result i32)))
  (import "fastly_http_req" "header_names_get" (func $req_names (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "header_value_get" (func $req_value (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "header_values_get" (func $req_values (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "header_values_set" (func $req_values_set (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "header_insert" (func $req_insert (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "header_append" (func $req_append (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "header_remove" (func $req_remove (param i32 i32 i32) (result i32)))
  (import "fastly_http_req" "method_get" (func $req_method_get (param i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "method_set" (func $req_method_set (param i32 i32 i32) (result i32)))
  (import "fastly_http_req" "uri_get" (func $req_uri_get (param i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "uri_set" (func $req_uri_set (param i32 i32 i32) (result i32)))
  (import "fastly_http_req" "version_get" (func $req_version_get (param i32 i32) (result i32)))
  (import "fastly_http_req" "version_set" (func $req_version_set (param i32 i32) (result i32)))
  (import "fastly_http_req" "cache_override_set" (func $req_cache (param i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "cache_override_v2_set" (func $req_cache_v2 (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "cache_override_v3_set" (func $req_cache_v3 (param i32 i32 i32) (result i32)))
  (import "fastly_http_req" "downstream_client_ip_addr" (func $req_client_ip (param i32 i32) (result i32)))
  (import "fastly_http_req" "original_header_count" (func $req_orig_count (param i32) (result i32)))
  (import "env" "xqd_req_header_insert" (func $xqd_req_insert (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "new" (func $resp_new (param i32) (result i32)))
  (import "fastly_http_resp" "close" (func $resp_close (param i32) (result i32)))
  (import "fastly_http_resp" "status_get" (func $resp_status_get (param i32 i32) (result i32)))
  (import "fastly_http_resp" "status_set" (func $resp_status_set (param i32 i32) (result i32)))
  (import "fastly_http_resp" "header_insert" (func $resp_insert (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "header_append" (func $resp_append (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "send_downstream" (func $resp_send (param i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "http_keepalive_mode_set" (func $resp_keepalive (param i32 i32) (result i32)))
  (import "fastly_http_resp" "framing_headers_mode_set" (func $resp_framing (param i32 i32) (result i32)))
  (import "fastly_http_resp" "version_set" (func $resp_version_set (param i32 i32) (result i32)))
  (import "fastly_http_resp" "get_addr_dest_ip" (func $resp_dest_ip (param i32 i32 i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (import "fastly_http_body" "write" (func $body_write (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_body" "read" (func $body_read (param i32 i32 i32 i32) (result i32)))
  (import "fastly_http_body" "append" (func $body_append (param i32 i32) (result i32)))
  (import "fastly_http_body" "close" (func $body_close (param i32) (result i32)))
  (import "fastly_http_body" "abandon" (func $body_abandon (param i32) (result i32)))
  (import "fastly_http_body" "known_length" (func $body_len (param i32 i32) (result i32)))
  (import "fastly_http_body" "trailer_append" (func $trailer_append (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_body" "trailer_names_get" (func $trailer_names (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_body" "trailer_value_get" (func $trailer_value (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_body" "trailer_values_get" (func $trailer_values (param i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_downstream" "next_request" (func $next_req (param i32 i32 i32) (result i32)))
  (import "fastly_http_downstream" "next_request_wait" (func $next_req_wait (param i32 i32 i32) (result i32)))
  (import "fastly_http_downstream" "next_request_abandon" (func $next_req_abandon (param i32) (result i32)))
  (import "fastly_http_downstream" "downstream_client_ip_addr" (func $ds_client_ip (param i32 i32 i32) (result i32)))
  (import "fastly_http_downstream" "downstream_server_ip_addr" (func $ds_server_ip (param i32 i32 i32) (result i32)))
  (import "fastly_http_downstream" "downstream_tls_ja3_md5" (func $ds_ja3 (param i32 i32 i32) (result i32)))
  (import "fastly_http_downstream" "downstream_tls_protocol" (func $ds_tls_protocol (param i32 i32 i32 i32) (result i32)))
  (import "fastly_http_downstream" "downstream_bot_analyzed" (func $ds_bot_analyzed (param i32 i32) (result i32)))
  (import "fastly_http_downstream" "downstream_bot_name" (func $ds_bot_name (param i32 i32 i32 i32) (result i32)))
  (import "fastly_http_downstream" "downstream_client_request_id" (func $ds_request_id (param i32 i32 i32 i32) (result i32)))
  (import "fastly_http_downstream" "downstream_compliance_region" (func $ds_region (param i32 i32 i32 i32) (result i32)))
  (import "fastly_http_downstream" "downstream_original_header_names" (func $ds_orig_names (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_downstream" "downstream_original_header_count" (func $ds_orig_count (param i32 i32) (result i32)))
  (import "fastly_http_downstream" "downstream_client_ddos_detected" (func $ds_ddos (param i32 i32) (result i32)))
  (import "fastly_http_downstream" "downstream_resvpnproxy_is_anonymous" (func $ds_vpn (param i32 i32) (result i32)))
  (import "fastly_http_downstream" "fastly_key_is_valid" (func $ds_key_valid (param i32 i32) (result i32)))
"#;

/// A module: the imports and the byte log, then `body` (data segments and the `_start`
/// export).
fn guest(body: &str) -> String {
    format!("(module\n{IMPORTS}\n{BYTE_LOG}\n{body}\n)")
}

#[test]
fn header_value_get_buflen_missing_and_invalid_name() {
    let wat = guest(
        r#"
  (data (i32.const 0x100) "x-test")
  (data (i32.const 0x110) "x-nope")
  (data (i32.const 0x120) "bad name")
  (func (export "_start") (local $req i32)
    (call $rec (call $req_downstream (i32.const 0x1000) (i32.const 0x1004)))
    (local.set $req (i32.load (i32.const 0x1000)))
    ;; 3 bytes is too small for "hello-world": BUFLEN and the needed length.
    (call $rec (call $req_value (local.get $req) (i32.const 0x100) (i32.const 6) (i32.const 0x2000) (i32.const 3) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec (call $req_value (local.get $req) (i32.const 0x100) (i32.const 6) (i32.const 0x2000) (i32.const 64) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec_bytes (i32.const 0x2000) (i32.const 11))
    ;; A missing header is INVAL (the SDK reads it as None); a bad name HTTPINVALID.
    (call $rec (call $req_value (local.get $req) (i32.const 0x110) (i32.const 6) (i32.const 0x2000) (i32.const 64) (i32.const 0x1008)))
    (call $rec (call $req_value (local.get $req) (i32.const 0x120) (i32.const 8) (i32.const 0x2000) (i32.const 64) (i32.const 0x1008)))
    (call $finish))
"#,
    );
    let run = run_wat(&wat, get("/").with_header("X-Test", "hello-world"));
    assert_log(
        &run,
        Log::default()
            .i(OK)
            .i(BUFLEN)
            .i(11)
            .i(OK)
            .i(11)
            .b(b"hello-world")
            .i(INVAL)
            .i(HTTPINVALID),
    );
    assert_eq!(
        run.statuses("fastly_http_req::header_value_get"),
        ["buflen", "ok", "inval", "httpinvalid"]
    );
    let ok_call = run.calls("fastly_http_req::header_value_get")[1];
    assert_eq!(ok_call.arg("name"), Some(&ArgValue::Str("x-test".into())));
    assert_eq!(
        ok_call.result("value"),
        Some(&ArgValue::Str("hello-world".into()))
    );
    assert!(matches!(ok_call.arg("req"), Some(ArgValue::Handle { .. })));
}

#[test]
fn header_names_are_paginated_with_a_cursor() {
    let wat = guest(
        r#"
  (func (export "_start") (local $req i32)
    (drop (call $req_downstream (i32.const 0x1000) (i32.const 0x1004)))
    (local.set $req (i32.load (i32.const 0x1000)))
    ;; 7 bytes: "host\0a\0" fits, "bb\0" does not: cursor 2.
    (call $rec (call $req_names (local.get $req) (i32.const 0x2000) (i32.const 7) (i32.const 0) (i32.const 0x1010) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec_i64_at (i32.const 0x1010))
    (call $rec_bytes (i32.const 0x2000) (i32.const 7))
    ;; From cursor 2: "bb\0ccc\0", done (-1).
    (call $rec (call $req_names (local.get $req) (i32.const 0x2000) (i32.const 7) (i32.const 2) (i32.const 0x1010) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec_i64_at (i32.const 0x1010))
    (call $rec_bytes (i32.const 0x2000) (i32.const 7))
    ;; Not one item fits: BUFLEN with the first item's length + 1.
    (call $rec (call $req_names (local.get $req) (i32.const 0x2000) (i32.const 2) (i32.const 0) (i32.const 0x1010) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    ;; Past the end: nothing, done.
    (call $rec (call $req_names (local.get $req) (i32.const 0x2000) (i32.const 64) (i32.const 4) (i32.const 0x1010) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec_i64_at (i32.const 0x1010))
    (call $finish))
"#,
    );
    let req = get("/")
        .with_header("a", "1")
        .with_header("bb", "2")
        .with_header("ccc", "3");
    let run = run_wat(&wat, req);
    assert_log(
        &run,
        Log::default()
            .i(OK)
            .i(7)
            .i(2)
            .b(b"host\0a\0")
            .i(OK)
            .i(7)
            .i(-1)
            .b(b"bb\0ccc\0")
            .i(BUFLEN)
            .i(5)
            .i(OK)
            .i(0)
            .i(-1),
    );
}

#[test]
fn header_values_set_takes_a_nul_terminated_list_and_values_get_paginates() {
    let wat = guest(
        r#"
  (data (i32.const 0x100) "x-multi")
  (data (i32.const 0x110) "one\00two\00three\00")
  (data (i32.const 0x130) "bad\0avalue\00")
  (data (i32.const 0x140) "x-none")
  (func (export "_start") (local $req i32)
    (call $rec (call $req_new (i32.const 0x1000)))
    (local.set $req (i32.load (i32.const 0x1000)))
    (call $rec (call $req_values_set (local.get $req) (i32.const 0x100) (i32.const 7) (i32.const 0x110) (i32.const 14)))
    ;; 8 bytes: "one\0two\0", next is index 2.
    (call $rec (call $req_values (local.get $req) (i32.const 0x100) (i32.const 7) (i32.const 0x2000) (i32.const 8) (i32.const 0) (i32.const 0x1010) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec_i64_at (i32.const 0x1010))
    (call $rec_bytes (i32.const 0x2000) (i32.const 8))
    (call $rec (call $req_values (local.get $req) (i32.const 0x100) (i32.const 7) (i32.const 0x2000) (i32.const 8) (i32.const 2) (i32.const 0x1010) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec_i64_at (i32.const 0x1010))
    (call $rec_bytes (i32.const 0x2000) (i32.const 6))
    ;; No such header: OK, nothing written, done.
    (call $rec (call $req_values (local.get $req) (i32.const 0x140) (i32.const 6) (i32.const 0x2000) (i32.const 64) (i32.const 0) (i32.const 0x1010) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec_i64_at (i32.const 0x1010))
    ;; A value with a newline is refused and the old values stay.
    (call $rec (call $req_values_set (local.get $req) (i32.const 0x100) (i32.const 7) (i32.const 0x130) (i32.const 10)))
    (call $rec (call $req_value (local.get $req) (i32.const 0x100) (i32.const 7) (i32.const 0x2000) (i32.const 64) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec_bytes (i32.const 0x2000) (i32.const 3))
    (call $finish))
"#,
    );
    let run = run_wat(&wat, get("/"));
    assert_log(
        &run,
        Log::default()
            .i(OK)
            .i(OK)
            .i(OK)
            .i(8)
            .i(2)
            .b(b"one\0two\0")
            .i(OK)
            .i(6)
            .i(-1)
            .b(b"three\0")
            .i(OK)
            .i(0)
            .i(-1)
            .i(HTTPINVALID)
            .i(OK)
            .i(3)
            .b(b"one"),
    );
    let set = run.calls("fastly_http_req::header_values_set")[0];
    assert_eq!(
        set.arg("values"),
        Some(&ArgValue::List(vec![
            "one".into(),
            "two".into(),
            "three".into()
        ]))
    );
}

#[test]
fn insert_append_and_remove_with_an_absent_header_being_inval() {
    let wat = guest(
        r#"
  (data (i32.const 0x100) "X-A")
  (data (i32.const 0x108) "1")
  (data (i32.const 0x10c) "2")
  (data (i32.const 0x110) "3")
  (func (export "_start") (local $req i32)
    (drop (call $req_new (i32.const 0x1000)))
    (local.set $req (i32.load (i32.const 0x1000)))
    (call $rec (call $req_append (local.get $req) (i32.const 0x100) (i32.const 3) (i32.const 0x108) (i32.const 1)))
    (call $rec (call $req_append (local.get $req) (i32.const 0x100) (i32.const 3) (i32.const 0x10c) (i32.const 1)))
    (call $rec (call $req_values (local.get $req) (i32.const 0x100) (i32.const 3) (i32.const 0x2000) (i32.const 64) (i32.const 0) (i32.const 0x1010) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec_bytes (i32.const 0x2000) (i32.const 4))
    ;; The legacy env.xqd_* twin is the same call.
    (call $rec (call $xqd_req_insert (local.get $req) (i32.const 0x100) (i32.const 3) (i32.const 0x110) (i32.const 1)))
    (call $rec (call $req_values (local.get $req) (i32.const 0x100) (i32.const 3) (i32.const 0x2000) (i32.const 64) (i32.const 0) (i32.const 0x1010) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec_bytes (i32.const 0x2000) (i32.const 2))
    ;; Names are lowercased.
    (call $rec (call $req_names (local.get $req) (i32.const 0x2000) (i32.const 64) (i32.const 0) (i32.const 0x1010) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec_bytes (i32.const 0x2000) (i32.const 4))
    (call $rec (call $req_remove (local.get $req) (i32.const 0x100) (i32.const 3)))
    (call $rec (call $req_remove (local.get $req) (i32.const 0x100) (i32.const 3)))
    (call $finish))
"#,
    );
    let run = run_wat(&wat, get("/"));
    assert_log(
        &run,
        Log::default()
            .i(OK)
            .i(OK)
            .i(OK)
            .i(4)
            .b(b"1\x002\0")
            .i(OK)
            .i(OK)
            .i(2)
            .b(b"3\0")
            .i(OK)
            .i(4)
            .b(b"x-a\0")
            .i(OK)
            .i(INVAL),
    );
    assert_eq!(
        run.statuses("fastly_http_req::header_remove"),
        ["ok", "inval"]
    );
    assert_eq!(run.statuses("env::xqd_req_header_insert"), ["ok"]);
}

#[test]
fn invalid_and_stale_handles_are_badf() {
    let wat = guest(
        r#"
  (data (i32.const 0x100) "x-test")
  (func (export "_start") (local $req i32)
    (call $rec (call $req_value (i32.const 999) (i32.const 0x100) (i32.const 6) (i32.const 0x2000) (i32.const 64) (i32.const 0x1008)))
    (call $rec (call $req_close (i32.const 999)))
    (call $rec (call $body_read (i32.const 12345) (i32.const 0x2000) (i32.const 16) (i32.const 0x1008)))
    ;; 0xFFFF_FFFE is the invalid sentinel of every handle kind.
    (call $rec (call $resp_status_set (i32.const -2) (i32.const 200)))
    (call $rec (call $body_write (i32.const -2) (i32.const 0x100) (i32.const 1) (i32.const 0) (i32.const 0x1008)))
    (call $rec (call $resp_send (i32.const -2) (i32.const -2) (i32.const 0)))
    (call $rec (call $body_append (i32.const -2) (i32.const -2)))
    (call $rec (call $trailer_names (i32.const 77) (i32.const 0x2000) (i32.const 64) (i32.const 0) (i32.const 0x1010) (i32.const 0x1008)))
    ;; A closed request is stale.
    (drop (call $req_new (i32.const 0x1000)))
    (local.set $req (i32.load (i32.const 0x1000)))
    (call $rec (call $req_close (local.get $req)))
    (call $rec (call $req_close (local.get $req)))
    (call $rec (call $req_insert (local.get $req) (i32.const 0x100) (i32.const 6) (i32.const 0x100) (i32.const 6)))
    (call $rec (call $ds_client_ip (i32.const 777) (i32.const 0x2000) (i32.const 0x1008)))
    (call $rec (call $next_req_abandon (i32.const 5)))
    (call $rec (call $resp_dest_ip (i32.const 5) (i32.const 0x2000) (i32.const 0x1008)))
    (call $finish))
"#,
    );
    let run = run_wat(&wat, get("/"));
    assert_log(
        &run,
        Log::default()
            .i(BADF)
            .i(BADF)
            .i(BADF)
            .i(BADF)
            .i(BADF)
            .i(BADF)
            .i(BADF)
            .i(BADF)
            .i(OK)
            .i(BADF)
            .i(BADF)
            .i(BADF)
            .i(BADF)
            .i(BADF),
    );
    assert_eq!(
        run.status_of("fastly_http_req::header_value_get")
            .as_deref(),
        Some("badf")
    );
}

#[test]
fn out_of_bounds_pointers_and_huge_lengths_are_inval_never_a_panic() {
    let wat = guest(
        r#"
  (data (i32.const 0x100) "x-a")
  (data (i32.const 0x108) "v")
  (data (i32.const 0x120) "\ff\fe")
  (data (i32.const 0x130) "abc")
  (func (export "_start") (local $req i32) (local $body i32) (local $resp i32)
    (call $rec (call $req_downstream (i32.const -16) (i32.const 0x1004)))
    (call $rec (call $req_new (i32.const -16)))
    (call $rec (call $req_new (i32.const 0x1000)))
    (local.set $req (i32.load (i32.const 0x1000)))
    (call $rec (call $req_insert (local.get $req) (i32.const -16) (i32.const 4) (i32.const 0x108) (i32.const 1)))
    (call $rec (call $req_insert (local.get $req) (i32.const 0x100) (i32.const 0x7fffffff) (i32.const 0x108) (i32.const 1)))
    (call $rec (call $req_insert (local.get $req) (i32.const 0x100) (i32.const 3) (i32.const 0x108) (i32.const -1)))
    (call $rec (call $req_insert (local.get $req) (i32.const 0x100) (i32.const 3) (i32.const 0x108) (i32.const 1)))
    (call $rec (call $req_value (local.get $req) (i32.const 0x100) (i32.const 3) (i32.const -16) (i32.const 64) (i32.const 0x1008)))
    (call $rec (call $req_value (local.get $req) (i32.const 0x100) (i32.const 3) (i32.const 0x2000) (i32.const 64) (i32.const -16)))
    (call $rec (call $req_names (local.get $req) (i32.const 0x2000) (i32.const 64) (i32.const 0) (i32.const 0x1010) (i32.const -16)))
    (call $rec (call $req_names (local.get $req) (i32.const -16) (i32.const 64) (i32.const 0) (i32.const 0x1010) (i32.const 0x1008)))
    (call $rec (call $req_values_set (local.get $req) (i32.const 0x100) (i32.const 3) (i32.const 0x108) (i32.const -1)))
    (call $rec (call $req_method_get (local.get $req) (i32.const -16) (i32.const 64) (i32.const 0x1008)))
    ;; Not UTF-8, not a token: HTTPINVALID.
    (call $rec (call $req_method_set (local.get $req) (i32.const 0x120) (i32.const 2)))
    (call $rec (call $req_version_set (local.get $req) (i32.const 9)))
    (call $rec (call $req_cache_v3 (local.get $req) (i32.const 2) (i32.const -16)))
    (drop (call $body_new (i32.const 0x1004)))
    (local.set $body (i32.load (i32.const 0x1004)))
    (drop (call $body_write (local.get $body) (i32.const 0x130) (i32.const 3) (i32.const 0) (i32.const 0x1008)))
    (call $rec (call $body_read (local.get $body) (i32.const -16) (i32.const 16) (i32.const 0x1008)))
    (call $rec (call $body_read (local.get $body) (i32.const 0x2000) (i32.const -1) (i32.const 0x1008)))
    (call $rec (call $body_write (local.get $body) (i32.const -16) (i32.const 4) (i32.const 0) (i32.const 0x1008)))
    (call $rec (call $body_write (local.get $body) (i32.const 0x130) (i32.const 1) (i32.const 7) (i32.const 0x1008)))
    (call $rec (call $body_len (local.get $body) (i32.const -4)))
    ;; The body is intact: 3 bytes.
    (call $rec (call $body_read (local.get $body) (i32.const 0x2000) (i32.const 16) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (drop (call $resp_new (i32.const 0x100c)))
    (local.set $resp (i32.load (i32.const 0x100c)))
    (call $rec (call $resp_status_get (local.get $resp) (i32.const -1)))
    (call $rec (call $resp_status_set (local.get $resp) (i32.const 99)))
    (call $rec (call $resp_status_set (local.get $resp) (i32.const 70000)))
    (call $rec (call $resp_keepalive (local.get $resp) (i32.const 5)))
    (call $rec (call $next_req (i32.const 0) (i32.const -4) (i32.const 0x1010)))
    (call $finish))
"#,
    );
    let run = run_wat(&wat, get("/"));
    let mut want = Log::default();
    for v in [
        INVAL,
        INVAL,
        OK,
        INVAL,
        INVAL,
        INVAL,
        OK,
        INVAL,
        INVAL,
        INVAL,
        INVAL,
        INVAL,
        INVAL,
        HTTPINVALID,
        INVAL,
        INVAL,
        INVAL,
        INVAL,
        INVAL,
        INVAL,
        INVAL,
        OK,
        3,
        INVAL,
        INVAL,
        INVAL,
        INVAL,
        INVAL,
    ] {
        want = want.i(v);
    }
    assert_log(&run, want);
    let insert = run.calls("fastly_http_req::header_insert")[0];
    assert!(
        insert
            .note
            .as_deref()
            .unwrap_or("")
            .contains("outside guest memory"),
        "{insert:?}"
    );
}

#[test]
fn a_synthetic_response_reaches_the_user_whole() {
    let wat = guest(
        r#"
  (data (i32.const 0x100) "content-type")
  (data (i32.const 0x110) "text/plain")
  (data (i32.const 0x120) "x-multi")
  (data (i32.const 0x128) "a")
  (data (i32.const 0x12c) "b")
  (data (i32.const 0x140) "hello ")
  (data (i32.const 0x150) "world")
  (data (i32.const 0x160) ">> ")
  (func (export "_start") (local $resp i32) (local $body i32)
    (drop (call $resp_new (i32.const 0x1000)))
    (local.set $resp (i32.load (i32.const 0x1000)))
    (drop (call $resp_status_set (local.get $resp) (i32.const 201)))
    (drop (call $resp_status_get (local.get $resp) (i32.const 0x1020)))
    (drop (call $resp_insert (local.get $resp) (i32.const 0x100) (i32.const 12) (i32.const 0x110) (i32.const 10)))
    (drop (call $resp_append (local.get $resp) (i32.const 0x120) (i32.const 7) (i32.const 0x128) (i32.const 1)))
    (drop (call $resp_append (local.get $resp) (i32.const 0x120) (i32.const 7) (i32.const 0x12c) (i32.const 1)))
    (drop (call $resp_version_set (local.get $resp) (i32.const 2)))
    (drop (call $resp_framing (local.get $resp) (i32.const 0)))
    (drop (call $resp_keepalive (local.get $resp) (i32.const 0)))
    (drop (call $resp_dest_ip (local.get $resp) (i32.const 0x2000) (i32.const 0x1008)))
    (drop (call $body_new (i32.const 0x1004)))
    (local.set $body (i32.load (i32.const 0x1004)))
    (drop (call $body_write (local.get $body) (i32.const 0x140) (i32.const 6) (i32.const 0) (i32.const 0x1008)))
    (drop (call $body_write (local.get $body) (i32.const 0x150) (i32.const 5) (i32.const 0) (i32.const 0x1008)))
    (drop (call $body_write (local.get $body) (i32.const 0x160) (i32.const 3) (i32.const 1) (i32.const 0x1008)))
    (drop (call $resp_send (local.get $resp) (local.get $body) (i32.const 0)))
    ;; Both handles are consumed.
    (drop (call $body_write (local.get $body) (i32.const 0x140) (i32.const 6) (i32.const 0) (i32.const 0x1008)))
    (drop (call $resp_status_set (local.get $resp) (i32.const 404)))
    ;; A second response is an error.
    (drop (call $resp_new (i32.const 0x1010)))
    (drop (call $body_new (i32.const 0x1014)))
    (drop (call $resp_send (i32.load (i32.const 0x1010)) (i32.load (i32.const 0x1014)) (i32.const 0))))
"#,
    );
    let run = run_wat(&wat, get("/"));
    assert_eq!(run.outcome.exit, Exit::Returned);
    assert_eq!(run.response.status, 201);
    assert_eq!(
        run.response.headers.get("content-type"),
        Some(&b"text/plain"[..])
    );
    assert_eq!(
        run.response.headers.get_all("x-multi"),
        vec![&b"a"[..], &b"b"[..]]
    );
    assert_eq!(run.body_text(), ">> hello world");
    assert_eq!(run.collected.chunks, 1);
    assert!(run.collected.body_complete);
    let head = run.collected.head.as_ref().expect("a head");
    assert!(!head.streaming);
    assert_eq!(
        run.statuses("fastly_http_resp::send_downstream"),
        ["ok", "error"]
    );
    assert_eq!(
        run.statuses("fastly_http_body::write"),
        ["ok", "ok", "ok", "badf"]
    );
    assert_eq!(run.statuses("fastly_http_resp::status_set"), ["ok", "badf"]);
    assert_eq!(
        run.calls("fastly_http_resp::status_get")[0].result("status"),
        Some(&ArgValue::Int(201))
    );
    assert_eq!(
        run.status_of("fastly_http_resp::http_keepalive_mode_set")
            .as_deref(),
        Some("ok")
    );
    assert_eq!(
        run.status_of("fastly_http_resp::get_addr_dest_ip")
            .as_deref(),
        Some("none")
    );
}

/// A guest that sets `framing_headers_mode` to `mode`, appends `headers`, and sends
/// `body` whole (or streams it: head first, then one write and `close`).
fn framing_guest(mode: u32, headers: &[(&str, &str)], body: &str, streaming: bool) -> String {
    let mut data = String::new();
    let mut calls = String::new();
    for (i, (n, v)) in headers.iter().enumerate() {
        let (np, vp) = (0x100 + i * 0x80, 0x140 + i * 0x80);
        data.push_str(&format!(
            "  (data (i32.const {np}) \"{n}\")\n  (data (i32.const {vp}) \"{v}\")\n"
        ));
        calls.push_str(&format!(
            "    (drop (call $resp_append (local.get $resp) (i32.const {np}) (i32.const {}) (i32.const {vp}) (i32.const {})))\n",
            n.len(),
            v.len()
        ));
    }
    let write = format!(
        "(drop (call $body_write (local.get $body) (i32.const 0x800) (i32.const {}) (i32.const 0) (i32.const 0x1008)))",
        body.len()
    );
    let send = if streaming {
        format!("(drop (call $resp_send (local.get $resp) (local.get $body) (i32.const 1)))\n    {write}\n    (drop (call $body_close (local.get $body)))")
    } else {
        format!("{write}\n    (drop (call $resp_send (local.get $resp) (local.get $body) (i32.const 0)))")
    };
    guest(&format!(
        r#"
{data}  (data (i32.const 0x800) "{body}")
  (func (export "_start") (local $resp i32) (local $body i32)
    (drop (call $resp_new (i32.const 0x1000)))
    (local.set $resp (i32.load (i32.const 0x1000)))
    (drop (call $resp_framing (local.get $resp) (i32.const {mode})))
{calls}    (drop (call $body_new (i32.const 0x1004)))
    (local.set $body (i32.load (i32.const 0x1004)))
    {send})
"#
    ))
}

/// Run a [`framing_guest`]: the head the guest sent, the response the client gets, and
/// the note on `send_downstream`.
fn framed(
    mode: u32,
    headers: &[(&str, &str)],
    body: &str,
    streaming: bool,
) -> (
    edgeplay_host::ResponseHead,
    edgeplay_host::FinalResponse,
    String,
) {
    let run = run_wat(&framing_guest(mode, headers, body, streaming), get("/"));
    assert_eq!(run.outcome.exit, Exit::Returned);
    let note = run.calls("fastly_http_resp::send_downstream")[0]
        .note
        .clone()
        .unwrap_or_default();
    (run.collected.head.clone().unwrap(), run.response, note)
}

fn header<'a>(r: &'a edgeplay_host::FinalResponse, name: &str) -> Vec<&'a str> {
    r.headers
        .get_all(name)
        .into_iter()
        .map(|v| std::str::from_utf8(v).unwrap())
        .collect()
}

#[test]
fn automatic_framing_replaces_the_guests_framing_headers() {
    // As the platform documents FramingHeadersMode::Automatic (and Viceroy does): the
    // guest's content-length and transfer-encoding are discarded; a whole body gets
    // its real length.
    let guest_says = [("content-length", "1"), ("transfer-encoding", "chunked")];
    let (head, r, _) = framed(0, &guest_says, "meow", false);
    assert!(head.headers.get("content-length").is_none());
    assert!(head.headers.get("transfer-encoding").is_none());
    assert_eq!(head.framing(), edgeplay_host::collect::Framing::Automatic);
    assert_eq!(header(&r, "content-length"), ["4"]);
    assert!(header(&r, "transfer-encoding").is_empty());
    assert_eq!(r.body, b"meow");
    // Streamed: chunked, whatever length the guest claimed.
    let (head, r, _) = framed(0, &[("content-length", "1")], "meow", true);
    assert!(head.headers.get("content-length").is_none());
    assert_eq!(header(&r, "transfer-encoding"), ["chunked"]);
    assert!(header(&r, "content-length").is_empty());
    assert_eq!(r.body, b"meow");
    // Nothing set: the same.
    let (_, r, _) = framed(0, &[], "meow", false);
    assert_eq!(header(&r, "content-length"), ["4"]);
}

#[test]
fn manual_framing_keeps_a_valid_content_length() {
    // The JS SDK's override-content-length fixture: manualFramingHeaders with a
    // streamed body and content-length 4; production answers content-length: 4.
    let (head, r, note) = framed(1, &[("content-length", "4")], "meow", true);
    assert_eq!(head.framing(), edgeplay_host::collect::Framing::Length(4));
    assert_eq!(header(&r, "content-length"), ["4"]);
    assert!(header(&r, "transfer-encoding").is_empty());
    assert_eq!(r.body, b"meow");
    assert!(!note.contains("falls back"), "{note}");
    // Whole, matching.
    let (_, r, note) = framed(1, &[("content-length", "4")], "meow", false);
    assert_eq!(
        (header(&r, "content-length"), &r.body[..]),
        (vec!["4"], &b"meow"[..])
    );
    assert!(note.is_empty(), "{note}");
    // Too long a body is cut at the content-length.
    let (_, r, note) = framed(1, &[("content-length", "2")], "meow", false);
    assert_eq!(
        (header(&r, "content-length"), &r.body[..]),
        (vec!["2"], &b"me"[..])
    );
    assert!(note.contains("the client gets the first 2"), "{note}");
    // Too short a body: the connection ends early; the client has what was sent.
    let (_, r, note) = framed(1, &[("content-length", "9")], "meow", false);
    assert_eq!(
        (header(&r, "content-length"), &r.body[..]),
        (vec!["9"], &b"meow"[..])
    );
    assert!(note.contains("connection is closed"), "{note}");
    // A streamed body longer than the content-length is cut as well.
    let (_, r, _) = framed(1, &[("content-length", "3")], "meow", true);
    assert_eq!(r.body, b"meo");
}

#[test]
fn manual_framing_keeps_chunked_and_falls_back_when_invalid() {
    let (head, r, _) = framed(1, &[("transfer-encoding", "chunked")], "meow", false);
    assert_eq!(head.framing(), edgeplay_host::collect::Framing::Chunked);
    assert_eq!(header(&r, "transfer-encoding"), ["chunked"]);
    assert!(header(&r, "content-length").is_empty());
    // Both: chunked wins and the content-length goes (RFC 9112 §6.1).
    let both = [("content-length", "4"), ("transfer-encoding", "chunked")];
    let (head, r, note) = framed(1, &both, "meow", false);
    assert!(head.headers.get("content-length").is_none());
    assert_eq!(header(&r, "transfer-encoding"), ["chunked"]);
    assert!(note.contains("content-length dropped"), "{note}");
    // Invalid manual framing falls back to automatic, as Viceroy, with a note.
    for (headers, why) in [
        (
            &[("content-length", "four")][..],
            "malformed content-length",
        ),
        (
            &[("content-length", "4"), ("content-length", "4")][..],
            "malformed content-length",
        ),
        (
            &[("transfer-encoding", "gzip")][..],
            "unsupported transfer-encoding",
        ),
        (&[][..], "neither content-length nor transfer-encoding"),
    ] {
        let (head, r, note) = framed(1, headers, "meow", false);
        assert_eq!(head.framing(), edgeplay_host::collect::Framing::Automatic);
        assert_eq!(header(&r, "content-length"), ["4"], "{headers:?}");
        assert!(header(&r, "transfer-encoding").is_empty(), "{headers:?}");
        assert!(
            note.contains("falls back to automatic") && note.contains(why),
            "{headers:?}: {note}"
        );
    }
}

/// Streaming guest: a buffered prefix, then three writes, then `close` (or `abandon`).
fn streaming_guest(finish: &str) -> String {
    guest(&format!(
        r#"
  (data (i32.const 0x100) "head;")
  (data (i32.const 0x108) "a")
  (data (i32.const 0x10c) "b")
  (data (i32.const 0x110) "c")
  (func (export "_start") (local $resp i32) (local $body i32)
    (drop (call $resp_new (i32.const 0x1000)))
    (local.set $resp (i32.load (i32.const 0x1000)))
    (drop (call $body_new (i32.const 0x1004)))
    (local.set $body (i32.load (i32.const 0x1004)))
    (drop (call $body_write (local.get $body) (i32.const 0x100) (i32.const 5) (i32.const 0) (i32.const 0x1008)))
    (drop (call $resp_send (local.get $resp) (local.get $body) (i32.const 1)))
    (drop (call $body_write (local.get $body) (i32.const 0x108) (i32.const 1) (i32.const 0) (i32.const 0x1008)))
    (drop (call $body_write (local.get $body) (i32.const 0x10c) (i32.const 1) (i32.const 0) (i32.const 0x1008)))
    (drop (call $body_write (local.get $body) (i32.const 0x110) (i32.const 1) (i32.const 0) (i32.const 0x1008)))
    ;; A streaming body only takes writes to the back.
    (drop (call $body_write (local.get $body) (i32.const 0x108) (i32.const 1) (i32.const 1) (i32.const 0x1008)))
    (drop (call $body_read (local.get $body) (i32.const 0x2000) (i32.const 16) (i32.const 0x1008)))
    (drop (call $body_len (local.get $body) (i32.const 0x1010)))
    (drop (call {finish} (local.get $body)))
    (drop (call $body_write (local.get $body) (i32.const 0x108) (i32.const 1) (i32.const 0) (i32.const 0x1008))))
"#
    ))
}

#[test]
fn a_streamed_response_arrives_chunk_by_chunk_and_ends_on_close() {
    let engine = engine();
    let wasm = wat::parse_str(streaming_guest("$body_close")).unwrap();
    let mut exec = start(
        &engine,
        &wasm,
        ServiceConfig::default(),
        get("/"),
        ExecOptions::default(),
    );
    // Each run() returns after a yield: collect what each slice produced.
    let mut batches: Vec<Vec<Output>> = Vec::new();
    let mut trace = Vec::new();
    let outcome = loop {
        let p = exec.run();
        batches.push(exec.take_outputs());
        trace.extend(exec.take_trace());
        match p {
            Poll::Done(o) => break o,
            Poll::Yielded => {}
            Poll::Blocked | Poll::Paused => panic!("nothing here waits for outside work"),
        }
    };
    assert_eq!(outcome.exit, Exit::Returned);
    let batches: Vec<Vec<Output>> = batches.into_iter().filter(|b| !b.is_empty()).collect();
    let chunk = |s: &str| Output::BodyChunk(s.as_bytes().to_vec());
    assert!(
        matches!(&batches[0][0], Output::Response(h) if h.streaming && h.status == 200),
        "{batches:?}"
    );
    assert_eq!(batches[0][1..], [chunk("head;")]);
    assert_eq!(batches[1], [chunk("a")]);
    assert_eq!(batches[2], [chunk("b")]);
    assert_eq!(batches[3], [chunk("c")]);
    assert_eq!(batches[4], [Output::BodyEnd]);
    assert_eq!(batches.len(), 5);
    let st = |name: &str| statuses(&trace, name);
    assert_eq!(
        st("fastly_http_body::write"),
        ["ok", "ok", "ok", "ok", "badf", "badf"]
    );
    assert_eq!(st("fastly_http_body::read"), ["badf"]);
    assert_eq!(st("fastly_http_body::known_length"), ["none"]);
    assert_eq!(st("fastly_http_body::close"), ["ok"]);

    // The same through the test driver: what the user sees.
    let run = run_wat(&streaming_guest("$body_close"), get("/"));
    assert_eq!(run.body_text(), "head;abc");
    assert_eq!(run.collected.chunks, 4);
    assert!(run.collected.body_complete);
    assert!(!run.collected.body_aborted);
}

#[test]
fn abandoning_a_streamed_response_aborts_it() {
    let run = run_wat(&streaming_guest("$body_abandon"), get("/"));
    assert_eq!(run.body_text(), "head;abc");
    assert!(run.collected.body_aborted);
    assert!(!run.collected.body_complete);
    assert_eq!(
        run.status_of("fastly_http_body::abandon").as_deref(),
        Some("ok")
    );
}

#[test]
fn a_guest_that_ends_with_its_stream_open_cuts_the_response_off() {
    // The same guest without the final close: the client must see an incomplete body.
    let wat =
        streaming_guest("$body_close").replace("(drop (call $body_close (local.get $body)))", "");
    let run = run_wat(&wat, get("/"));
    // The write that followed the close in the original guest still streams.
    assert_eq!(run.body_text(), "head;abca");
    assert!(run.collected.body_aborted);
    assert!(!run.collected.body_complete);
    assert!(run.trace.iter().any(|e| e.name == "stream-cut"));
}

#[test]
fn the_downstream_body_reads_to_eof_and_a_second_fetch_gives_the_same_handles() {
    let wat = guest(
        r#"
  (func (export "_start") (local $body i32)
    (call $rec (call $req_downstream (i32.const 0x1000) (i32.const 0x1004)))
    (local.set $body (i32.load (i32.const 0x1004)))
    (call $rec (call $body_len (local.get $body) (i32.const 0x1010)))
    (call $rec_i64_at (i32.const 0x1010))
    (call $rec (call $body_read (local.get $body) (i32.const 0x2000) (i32.const 4) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec_bytes (i32.const 0x2000) (i32.const 4))
    (call $rec (call $body_read (local.get $body) (i32.const 0x2000) (i32.const 4) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec_bytes (i32.const 0x2000) (i32.const 4))
    (call $rec (call $body_read (local.get $body) (i32.const 0x2000) (i32.const 4) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec_bytes (i32.const 0x2000) (i32.const 2))
    ;; End of body: 0 bytes, again and again.
    (call $rec (call $body_read (local.get $body) (i32.const 0x2000) (i32.const 4) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec (call $body_read (local.get $body) (i32.const 0x2000) (i32.const 4) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    ;; Fetching the client request again answers the same handles.
    (call $rec (call $req_downstream (i32.const 0x1020) (i32.const 0x1024)))
    (call $rec (i32.eq (i32.load (i32.const 0x1000)) (i32.load (i32.const 0x1020))))
    (call $rec (i32.eq (i32.load (i32.const 0x1004)) (i32.load (i32.const 0x1024))))
    (call $finish))
"#,
    );
    let run = run_wat(
        &wat,
        DownstreamRequest::new("POST", "/upload").with_body("0123456789"),
    );
    assert_log(
        &run,
        Log::default()
            .i(OK)
            .i(OK)
            .i(10)
            .i(OK)
            .i(4)
            .b(b"0123")
            .i(OK)
            .i(4)
            .b(b"4567")
            .i(OK)
            .i(2)
            .b(b"89")
            .i(OK)
            .i(0)
            .i(OK)
            .i(0)
            .i(OK)
            .i(1)
            .i(1),
    );
}

#[test]
fn body_write_front_and_back_append_and_known_length() {
    let wat = guest(
        r#"
  (data (i32.const 0x100) "world")
  (data (i32.const 0x108) "hello ")
  (data (i32.const 0x110) "foo")
  (data (i32.const 0x118) "bar")
  (data (i32.const 0x120) "x-t")
  (data (i32.const 0x128) "v")
  (func (export "_start") (local $a i32) (local $b i32) (local $c i32)
    (drop (call $body_new (i32.const 0x1000)))
    (local.set $a (i32.load (i32.const 0x1000)))
    (call $rec (call $body_write (local.get $a) (i32.const 0x100) (i32.const 5) (i32.const 0) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec (call $body_write (local.get $a) (i32.const 0x108) (i32.const 6) (i32.const 1) (i32.const 0x1008)))
    (call $rec (call $body_len (local.get $a) (i32.const 0x1010)))
    (call $rec_i64_at (i32.const 0x1010))
    (call $rec (call $body_read (local.get $a) (i32.const 0x2000) (i32.const 64) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec_bytes (i32.const 0x2000) (i32.const 11))
    ;; append(b, c) moves c's bytes and trailers onto b and consumes c.
    (drop (call $body_new (i32.const 0x1000)))
    (local.set $b (i32.load (i32.const 0x1000)))
    (drop (call $body_new (i32.const 0x1000)))
    (local.set $c (i32.load (i32.const 0x1000)))
    (drop (call $body_write (local.get $b) (i32.const 0x110) (i32.const 3) (i32.const 0) (i32.const 0x1008)))
    (drop (call $body_write (local.get $c) (i32.const 0x118) (i32.const 3) (i32.const 0) (i32.const 0x1008)))
    (drop (call $trailer_append (local.get $c) (i32.const 0x120) (i32.const 3) (i32.const 0x128) (i32.const 1)))
    (call $rec (call $body_append (local.get $b) (local.get $c)))
    (call $rec (call $body_read (local.get $c) (i32.const 0x2000) (i32.const 64) (i32.const 0x1008)))
    (call $rec (call $body_append (local.get $b) (local.get $b)))
    (call $rec (call $body_len (local.get $b) (i32.const 0x1010)))
    (call $rec_i64_at (i32.const 0x1010))
    (call $rec (call $body_read (local.get $b) (i32.const 0x2000) (i32.const 64) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec_bytes (i32.const 0x2000) (i32.const 6))
    (call $rec (call $body_read (local.get $b) (i32.const 0x2000) (i32.const 64) (i32.const 0x1008)))
    (call $rec (call $trailer_value (local.get $b) (i32.const 0x120) (i32.const 3) (i32.const 0x2000) (i32.const 64) (i32.const 0x1008)))
    (call $rec_bytes (i32.const 0x2000) (i32.const 1))
    (call $rec (call $body_close (local.get $b)))
    (call $rec (call $body_close (local.get $b)))
    (call $finish))
"#,
    );
    let run = run_wat(&wat, get("/"));
    assert_log(
        &run,
        Log::default()
            .i(OK)
            .i(5)
            .i(OK)
            .i(OK)
            .i(11)
            .i(OK)
            .i(11)
            .b(b"hello world")
            .i(OK)
            .i(BADF)
            .i(BADF)
            .i(OK)
            .i(6)
            .i(OK)
            .i(6)
            .b(b"foobar")
            .i(OK)
            .i(OK)
            .b(b"v")
            .i(OK)
            .i(BADF),
    );
}

#[test]
fn trailers_are_readable_once_the_body_was_read_to_its_end() {
    let wat = guest(
        r#"
  (data (i32.const 0x100) "data")
  (data (i32.const 0x108) "x-t")
  (data (i32.const 0x10c) "X-T")
  (data (i32.const 0x110) "v1")
  (data (i32.const 0x114) "v2")
  (data (i32.const 0x118) "x-u")
  (data (i32.const 0x11c) "w")
  (data (i32.const 0x120) "bad name")
  (data (i32.const 0x130) "x-none")
  (func (export "_start") (local $b i32) (local $e i32)
    (drop (call $body_new (i32.const 0x1000)))
    (local.set $b (i32.load (i32.const 0x1000)))
    (drop (call $body_write (local.get $b) (i32.const 0x100) (i32.const 4) (i32.const 0) (i32.const 0x1008)))
    (call $rec (call $trailer_append (local.get $b) (i32.const 0x108) (i32.const 3) (i32.const 0x110) (i32.const 2)))
    (call $rec (call $trailer_append (local.get $b) (i32.const 0x10c) (i32.const 3) (i32.const 0x114) (i32.const 2)))
    (call $rec (call $trailer_append (local.get $b) (i32.const 0x118) (i32.const 3) (i32.const 0x11c) (i32.const 1)))
    (call $rec (call $trailer_append (local.get $b) (i32.const 0x120) (i32.const 8) (i32.const 0x11c) (i32.const 1)))
    ;; Not read to the end yet: AGAIN.
    (call $rec (call $trailer_names (local.get $b) (i32.const 0x2000) (i32.const 64) (i32.const 0) (i32.const 0x1010) (i32.const 0x1008)))
    (call $rec (call $trailer_value (local.get $b) (i32.const 0x108) (i32.const 3) (i32.const 0x2000) (i32.const 64) (i32.const 0x1008)))
    (call $rec (call $body_read (local.get $b) (i32.const 0x2000) (i32.const 64) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec (call $trailer_names (local.get $b) (i32.const 0x2000) (i32.const 64) (i32.const 0) (i32.const 0x1010) (i32.const 0x1008)))
    (call $rec (call $body_read (local.get $b) (i32.const 0x2000) (i32.const 64) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec (call $trailer_names (local.get $b) (i32.const 0x2000) (i32.const 64) (i32.const 0) (i32.const 0x1010) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec_i64_at (i32.const 0x1010))
    (call $rec_bytes (i32.const 0x2000) (i32.const 8))
    (call $rec (call $trailer_value (local.get $b) (i32.const 0x108) (i32.const 3) (i32.const 0x2000) (i32.const 64) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec_bytes (i32.const 0x2000) (i32.const 2))
    (call $rec (call $trailer_value (local.get $b) (i32.const 0x130) (i32.const 6) (i32.const 0x2000) (i32.const 64) (i32.const 0x1008)))
    (call $rec (call $trailer_values (local.get $b) (i32.const 0x108) (i32.const 3) (i32.const 0x2000) (i32.const 64) (i32.const 0) (i32.const 0x1010) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec_bytes (i32.const 0x2000) (i32.const 6))
    ;; A fresh empty body has not been read to its end either (as in Viceroy).
    (drop (call $body_new (i32.const 0x1000)))
    (local.set $e (i32.load (i32.const 0x1000)))
    (call $rec (call $trailer_names (local.get $e) (i32.const 0x2000) (i32.const 64) (i32.const 0) (i32.const 0x1010) (i32.const 0x1008)))
    (call $finish))
"#,
    );
    let run = run_wat(&wat, get("/"));
    assert_log(
        &run,
        Log::default()
            .i(OK)
            .i(OK)
            .i(OK)
            .i(HTTPINVALID)
            .i(AGAIN)
            .i(AGAIN)
            .i(OK)
            .i(4)
            .i(AGAIN)
            .i(OK)
            .i(0)
            .i(OK)
            .i(8)
            .i(-1)
            .b(b"x-t\0x-u\0")
            .i(OK)
            .i(2)
            .b(b"v1")
            .i(INVAL)
            .i(OK)
            .i(6)
            .b(b"v1\0v2\0")
            .i(AGAIN),
    );
    assert_eq!(
        run.status_of("fastly_http_body::trailer_names_get")
            .as_deref(),
        Some("again")
    );
}

#[test]
fn next_request_gives_a_promise_and_waiting_on_it_answers_none() {
    let wat = guest(
        r#"
  (func (export "_start") (local $p i32) (local $q i32)
    (call $rec (call $next_req (i32.const 0) (i32.const 0x1000) (i32.const 0x1010)))
    (local.set $p (i32.load (i32.const 0x1010)))
    ;; One pending promise at a time; unknown option bits are INVAL.
    (call $rec (call $next_req (i32.const 0) (i32.const 0x1000) (i32.const 0x1014)))
    (call $rec (call $next_req (i32.const 4) (i32.const 0x1000) (i32.const 0x1014)))
    ;; The current request has not been answered yet.
    (call $rec (call $next_req_wait (local.get $p) (i32.const 0x1020) (i32.const 0x1024)))
    (call $finish)
    ;; Answered: no further request comes to this instance.
    (drop (call $next_req_wait (local.get $p) (i32.const 0x1020) (i32.const 0x1024)))
    (drop (call $next_req_abandon (local.get $p)))
    (drop (call $next_req (i32.const 2) (i32.const 0x1000) (i32.const 0x1018)))
    (drop (call $next_req_abandon (i32.load (i32.const 0x1018)))))
"#,
    );
    let run = run_wat(&wat, get("/"));
    assert_log(
        &run,
        Log::default()
            .i(OK)
            .i(LIMITEXCEEDED)
            .i(INVAL)
            .i(UNSUPPORTED),
    );
    assert_eq!(
        run.statuses("fastly_http_downstream::next_request_wait"),
        ["unsupported", "none"]
    );
    assert_eq!(
        run.statuses("fastly_http_downstream::next_request_abandon"),
        ["badf", "ok"]
    );
    assert_eq!(
        run.statuses("fastly_http_downstream::next_request"),
        ["ok", "limitexceeded", "inval", "ok"]
    );
}

/// Downstream metadata guest: IPs, TLS, bot detection, request id, region, original names.
const METADATA_GUEST: &str = r#"
  (func (export "_start") (local $req i32) (local $other i32)
    (drop (call $req_downstream (i32.const 0x1000) (i32.const 0x1004)))
    (local.set $req (i32.load (i32.const 0x1000)))
    (call $rec (call $ds_client_ip (local.get $req) (i32.const 0x2000) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec_bytes (i32.const 0x2000) (i32.load (i32.const 0x1008)))
    (call $rec (call $ds_server_ip (local.get $req) (i32.const 0x2000) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec (call $req_client_ip (i32.const 0x2000) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec (call $ds_ja3 (local.get $req) (i32.const 0x2000) (i32.const 0x1008)))
    (call $rec (call $ds_tls_protocol (local.get $req) (i32.const 0x2000) (i32.const 64) (i32.const 0x1008)))
    (call $rec (call $ds_vpn (local.get $req) (i32.const 0x1008)))
    (call $rec (call $ds_bot_analyzed (local.get $req) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec (call $ds_bot_name (local.get $req) (i32.const 0x2000) (i32.const 64) (i32.const 0x1008)))
    (call $rec (call $ds_request_id (local.get $req) (i32.const 0x2000) (i32.const 64) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec (call $ds_region (local.get $req) (i32.const 0x2000) (i32.const 64) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec_bytes (i32.const 0x2000) (i32.const 4))
    (call $rec (call $ds_orig_count (local.get $req) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec (call $req_orig_count (i32.const 0x100c)))
    (call $rec_at (i32.const 0x100c))
    (call $rec (call $ds_orig_names (local.get $req) (i32.const 0x2000) (i32.const 64) (i32.const 0) (i32.const 0x1010) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec_bytes (i32.const 0x2000) (i32.load (i32.const 0x1008)))
    (call $rec (call $ds_ddos (local.get $req) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec (call $ds_key_valid (local.get $req) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    ;; A request the guest made has no downstream metadata.
    (drop (call $req_new (i32.const 0x1020)))
    (local.set $other (i32.load (i32.const 0x1020)))
    (call $rec (call $ds_client_ip (local.get $other) (i32.const 0x2000) (i32.const 0x1008)))
    ;; The metadata outlives the request handle itself.
    (drop (call $req_close (local.get $req)))
    (call $rec (call $ds_client_ip (local.get $req) (i32.const 0x2000) (i32.const 0x1008)))
    (call $finish))
"#;

#[test]
fn downstream_metadata_matches_viceroy_defaults() {
    let run = run_wat(
        &guest(METADATA_GUEST),
        get("/")
            .with_header("X-Custom", "1")
            .with_header("x-custom", "2"),
    );
    assert_log(
        &run,
        Log::default()
            .i(OK)
            .i(4)
            .b(&[127, 0, 0, 1])
            .i(OK)
            .i(4)
            .i(OK)
            .i(4)
            .i(NONE)
            .i(NONE)
            .i(NONE)
            .i(OK)
            .i(0)
            .i(NONE)
            .i(OK)
            .i(32)
            .i(OK)
            .i(4)
            .b(b"none")
            .i(OK)
            .i(3)
            .i(OK)
            .i(3)
            .i(OK)
            .i(14)
            .b(b"host\0X-Custom\0")
            .i(OK)
            .i(0)
            .i(OK)
            .i(0)
            .i(ERROR)
            .i(OK),
    );
    assert_eq!(
        run.status_of("fastly_http_downstream::downstream_tls_ja3_md5")
            .as_deref(),
        Some("none")
    );
}

#[test]
fn downstream_ip_getters_write_16_octets_for_ipv6_and_bot_headers_are_read() {
    let mut req = get("/")
        .with_header("x-fastly-bot-analyzed", "true")
        .with_header("x-fastly-bot-name", "GoogleBot");
    req.client_ip = "2001:db8::1".parse().unwrap();
    let run = run_wat(&guest(METADATA_GUEST), req);
    let body = &run.response.body;
    // status, nwritten, then the 16 octets.
    assert_eq!(&body[0..8], &[0, 0, 0, 0, 16, 0, 0, 0]);
    assert_eq!(
        &body[8..24],
        &"2001:db8::1"
            .parse::<std::net::Ipv6Addr>()
            .unwrap()
            .octets()
    );
    let analyzed = run.calls("fastly_http_downstream::downstream_bot_analyzed")[0];
    assert_eq!(analyzed.result("analyzed"), Some(&ArgValue::Int(1)));
    let name = run.calls("fastly_http_downstream::downstream_bot_name")[0];
    assert_eq!(
        name.result("name"),
        Some(&ArgValue::Str("GoogleBot".into()))
    );
}

#[test]
fn method_uri_version_and_cache_override_are_validated_and_traced() {
    let wat = guest(
        r#"
  (data (i32.const 0x100) "PURGE")
  (data (i32.const 0x108) "BAD METHOD")
  (data (i32.const 0x120) "https://example.com/x?y=1")
  (data (i32.const 0x140) "http://exa mple.com/")
  (data (i32.const 0x160) "key1 key2")
  ;; struct cache_override: ttl 60, swr 10, surrogate keys 0x160/9, lookup timeout 0
  (data (i32.const 0x180) "\3c\00\00\00\0a\00\00\00\60\01\00\00\09\00\00\00\00\00\00\00")
  (func (export "_start") (local $req i32)
    (drop (call $req_new (i32.const 0x1000)))
    (local.set $req (i32.load (i32.const 0x1000)))
    (call $rec (call $req_method_get (local.get $req) (i32.const 0x2000) (i32.const 64) (i32.const 0x1008)))
    (call $rec_bytes (i32.const 0x2000) (i32.load (i32.const 0x1008)))
    (call $rec (call $req_method_set (local.get $req) (i32.const 0x100) (i32.const 5)))
    (call $rec (call $req_method_set (local.get $req) (i32.const 0x108) (i32.const 10)))
    (call $rec (call $req_method_get (local.get $req) (i32.const 0x2000) (i32.const 2) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec (call $req_uri_get (local.get $req) (i32.const 0x2000) (i32.const 64) (i32.const 0x1008)))
    (call $rec_bytes (i32.const 0x2000) (i32.load (i32.const 0x1008)))
    (call $rec (call $req_uri_set (local.get $req) (i32.const 0x120) (i32.const 25)))
    (call $rec (call $req_uri_set (local.get $req) (i32.const 0x140) (i32.const 20)))
    (call $rec (call $req_uri_get (local.get $req) (i32.const 0x2000) (i32.const 64) (i32.const 0x1008)))
    (call $rec_bytes (i32.const 0x2000) (i32.load (i32.const 0x1008)))
    (call $rec (call $req_version_get (local.get $req) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec (call $req_version_set (local.get $req) (i32.const 3)))
    (call $rec (call $req_version_get (local.get $req) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $rec (call $req_cache_v2 (local.get $req) (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0)))
    (call $rec (call $req_cache_v3 (local.get $req) (i32.const 6) (i32.const 0x180)))
    (call $rec (call $req_cache (local.get $req) (i32.const 0x40) (i32.const 0) (i32.const 0)))
    (call $finish))
"#,
    );
    let run = run_wat(&wat, get("/"));
    assert_log(
        &run,
        Log::default()
            .i(OK)
            .b(b"GET")
            .i(OK)
            .i(HTTPINVALID)
            .i(BUFLEN)
            .i(5)
            .i(OK)
            .b(b"/")
            .i(OK)
            .i(HTTPINVALID)
            .i(OK)
            .b(b"https://example.com/x?y=1")
            .i(OK)
            .i(2)
            .i(OK)
            .i(OK)
            .i(3)
            .i(OK)
            .i(OK)
            .i(INVAL),
    );
    let v2 = run.calls("fastly_http_req::cache_override_v2_set")[0];
    assert_eq!(v2.arg("tag"), Some(&ArgValue::Flags(vec!["pass".into()])));
    let v3 = run.calls("fastly_http_req::cache_override_v3_set")[0];
    assert_eq!(
        v3.arg("tag"),
        Some(&ArgValue::Flags(vec![
            "ttl".into(),
            "stale_while_revalidate".into()
        ]))
    );
    assert_eq!(v3.arg("ttl"), Some(&ArgValue::Int(60)));
    assert_eq!(
        v3.arg("surrogate_keys"),
        Some(&ArgValue::Str("key1 key2".into()))
    );
    let version = run.calls("fastly_http_req::version_get")[1];
    assert_eq!(
        version.result("version"),
        Some(&ArgValue::Enum("HTTP/2".into()))
    );
}

#[test]
fn the_sdk_hello_guest_answers() {
    let run = run_sdk("hello", get("/"));
    assert_returned(&run);
    assert_eq!(run.response.status, 200);
    assert_eq!(run.response.headers.get("x-edgeplay"), Some(&b"hello"[..]));
    assert_eq!(run.body_text(), "Hello from edgeplay!\n");
}

#[test]
fn the_sdk_echo_guest_sees_the_request() {
    let req = DownstreamRequest::new("POST", "/path?q=1")
        .with_header("x-echo-a", "1")
        .with_header("x-echo-a", "2")
        .with_body("ping");
    let run = run_sdk("echo", req);
    assert_returned(&run);
    assert_eq!(run.response.status, 200);
    assert_eq!(
        run.response.headers.get_all("x-echo-a"),
        vec![&b"1"[..], &b"2"[..]]
    );
    assert_eq!(run.response.headers.get("x-body-len"), Some(&b"4"[..]));
    let doc: serde_json::Value = serde_json::from_slice(&run.response.body).expect("JSON");
    assert_eq!(doc["method"], "POST");
    assert_eq!(doc["path"], "/path");
    assert_eq!(doc["body"], "ping");
}
