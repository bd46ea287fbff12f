//! The bounds on what a guest can make the host hold ([`edgeplay_host::limits`]): each
//! is reached by a guest that tries to pass it, and answered with a clear error.

mod common;

use common::{config, engine, get, le_words, run_wat, run_with, BYTE_LOG, LIMITEXCEEDED, OK};
use edgeplay_host::limits::{
    MAX_BUFFERED_BODY_BYTES, MAX_HEADERS_PER_MESSAGE, MAX_HEADER_BYTES, MAX_LOG_LINES,
    MAX_TRACE_EVENTS, MAX_URL_BYTES,
};
use edgeplay_host::trace::EventKind;
use edgeplay_host::{ExecOptions, ServiceConfig};

const HTTPHEADTOOLARGE: i32 = 11;

const IMPORTS: &str = r#"
  (import "fastly_http_req" "new" (func $req_new (param i32) (result i32)))
  (import "fastly_http_req" "header_append" (func $req_append (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "header_insert" (func $req_insert (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "uri_set" (func $req_uri_set (param i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "new" (func $resp_new (param i32) (result i32)))
  (import "fastly_http_resp" "send_downstream" (func $resp_send (param i32 i32 i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (import "fastly_http_body" "write" (func $body_write (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_body" "close" (func $body_close (param i32) (result i32)))
  (import "fastly_http_req" "version_get" (func $version_get (param i32 i32) (result i32)))
  (import "fastly_dictionary" "open" (func $dict_open (param i32 i32 i32) (result i32)))
  (import "fastly_dictionary" "get" (func $dict_get (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
"#;

/// A guest whose `_start` is `body` (with the byte log and 20 pages of memory: the
/// log's two, and a zeroed megabyte at 0x10000 to write from).
fn guest(body: &str) -> String {
    let log = BYTE_LOG.replace(
        "(memory (export \"memory\") 2)",
        "(memory (export \"memory\") 20)",
    );
    format!("(module {IMPORTS} {log} (func (export \"_start\") (local $i i32) (local $s i32) {body} (call $finish)))")
}

/// The notes of every call of `qualified` that has one.
fn notes(run: &common::Run, qualified: &str) -> Vec<String> {
    run.calls(qualified)
        .iter()
        .filter_map(|e| e.note.clone())
        .collect()
}

#[test]
fn host_side_bodies_stop_at_their_bound_with_a_clear_error() {
    // Write 1 MiB at a time into one body until a write fails: the status and the
    // number of writes that succeeded.
    let run = run_wat(
        &guest(
            r#"
        (drop (call $body_new (i32.const 0x100)))
        (block $out (loop $again
          (local.set $s (call $body_write (i32.load (i32.const 0x100)) (i32.const 0x10000)
            (i32.const 0x100000) (i32.const 0) (i32.const 0x104)))
          (br_if $out (local.get $s))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $out (i32.gt_u (local.get $i) (i32.const 10000)))
          (br $again)))
        (call $rec (local.get $s))
        (call $rec (local.get $i))
        ;; Closing the body frees its share: the response's body fits again.
        (call $rec (call $body_close (i32.load (i32.const 0x100))))"#,
        ),
        get("/"),
    );
    let log = le_words(&run.response.body);
    assert_eq!(log[0], LIMITEXCEEDED, "{log:?}");
    // Every megabyte up to the bound fits (the byte log's own body is not counted yet).
    assert_eq!(log[1] as usize, MAX_BUFFERED_BODY_BYTES >> 20);
    assert_eq!(log[2], OK);
    let notes = notes(&run, "fastly_http_body::write");
    assert!(
        notes
            .iter()
            .any(|n| n.contains("host-side bodies limit") && n.contains("256 MiB")),
        "{notes:?}"
    );
}

#[test]
fn a_header_a_message_and_a_url_stop_at_the_platform_bounds() {
    // One header of the platform's 69 KB fits, one byte more does not; a message takes
    // MAX_HEADERS_PER_MESSAGE headers; a URL takes 8192 bytes.
    let big = MAX_HEADER_BYTES - 1; // the name "a" takes the last byte
    let body = format!(
        r#"
        (memory.fill (i32.const 0x10000) (i32.const 0x61) (i32.const 0x20000))
        (drop (call $req_new (i32.const 0x100)))
        (call $rec (call $req_insert (i32.load (i32.const 0x100)) (i32.const 0x10000) (i32.const 1) (i32.const 0x10000) (i32.const {big})))
        (call $rec (call $req_insert (i32.load (i32.const 0x100)) (i32.const 0x10000) (i32.const 1) (i32.const 0x10000) (i32.const {over})))
        (drop (call $req_new (i32.const 0x104)))
        (block $out (loop $again
          (local.set $s (call $req_append (i32.load (i32.const 0x104)) (i32.const 0x10000) (i32.const 1) (i32.const 0x10000) (i32.const 1)))
          (br_if $out (local.get $s))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $out (i32.gt_u (local.get $i) (i32.const 5000)))
          (br $again)))
        (call $rec (local.get $s))
        (call $rec (local.get $i))
        ;; "http://a/aaaa…": 8192 bytes, then 8193.
        (i32.store (i32.const 0x30000) (i32.const 0x70747468))
        (i32.store (i32.const 0x30004) (i32.const 0x612f2f3a))
        (i32.store8 (i32.const 0x30008) (i32.const 0x2f))
        (memory.fill (i32.const 0x30009) (i32.const 0x61) (i32.const 0x4000))
        (call $rec (call $req_uri_set (i32.load (i32.const 0x100)) (i32.const 0x30000) (i32.const {url})))
        (call $rec (call $req_uri_set (i32.load (i32.const 0x100)) (i32.const 0x30000) (i32.const {url_over})))"#,
        over = big + 1,
        url = MAX_URL_BYTES,
        url_over = MAX_URL_BYTES + 1,
    );
    let run = run_wat(&guest(&body), get("/"));
    let log = le_words(&run.response.body);
    assert_eq!(
        log,
        [
            OK,
            HTTPHEADTOOLARGE,
            HTTPHEADTOOLARGE,
            MAX_HEADERS_PER_MESSAGE as i32,
            OK,
            HTTPHEADTOOLARGE
        ]
    );
    let notes = notes(&run, "fastly_http_req::header_insert");
    assert!(notes.iter().any(|n| n.contains("69 KB")), "{notes:?}");
    let notes = self::notes(&run, "fastly_http_req::header_append");
    assert!(
        notes.iter().any(|n| n.contains("at most 1000 headers")),
        "{notes:?}"
    );
    let notes = self::notes(&run, "fastly_http_req::uri_set");
    assert!(
        notes.iter().any(|n| n.contains("at most 8192 bytes")),
        "{notes:?}"
    );
}

#[test]
fn the_trace_keeps_its_bound_and_says_how_many_events_it_left_out() {
    let n = MAX_TRACE_EVENTS + 500;
    let body = format!(
        r#"
        (block $out (loop $again
          (drop (call $version_get (i32.const 0) (i32.const 0x100)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $out (i32.ge_u (local.get $i) (i32.const {n})))
          (br $again)))"#
    );
    let run = run_wat(&guest(&body), get("/"));
    assert_eq!(run.response.status, 200);
    let hostcalls = run
        .trace
        .iter()
        .filter(|e| e.kind == EventKind::Hostcall)
        .count();
    assert!(hostcalls <= MAX_TRACE_EVENTS, "{hostcalls}");
    let cut = run
        .trace
        .iter()
        .find(|e| e.name == "trace-truncated")
        .expect("a trace-truncated event");
    let note = cut.note.clone().unwrap_or_default();
    assert!(note.contains("at most 100000 events"), "{note}");
    // The guest's later calls (its response) are the ones left out, and counted.
    assert!(note.contains(" later events were not recorded"), "{note}");
    // The end of the execution is always recorded.
    assert!(run.trace.iter().any(|e| e.name == "end"));
}

#[test]
fn logs_keep_their_bound_and_one_line_says_what_was_dropped() {
    let n = MAX_LOG_LINES + 5;
    let body = format!(
        r#"
        (i32.store (i32.const 0x200) (i32.const 0x0a6f6869)) ;; "iho\n"
        (i32.store (i32.const 0x210) (i32.const 0x200))
        (i32.store (i32.const 0x214) (i32.const 4))
        (block $out (loop $again
          (drop (call $fd_write (i32.const 1) (i32.const 0x210) (i32.const 1) (i32.const 0x218)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $out (i32.ge_u (local.get $i) (i32.const {n})))
          (br $again)))"#
    );
    let run = run_wat(&guest(&body), get("/"));
    assert_eq!(run.stdout().lines().count(), MAX_LOG_LINES);
    assert!(
        run.stderr()
            .contains("edgeplay: 5 more log lines dropped: an execution keeps at most 10000 lines"),
        "{}",
        run.stderr()
    );
}

/// A guest that looks `settings/key` up 17 times and records each status.
fn lookups() -> String {
    guest(
        r#"
        (i32.store (i32.const 0x200) (i32.const 0x74746573)) ;; "sett"
        (i32.store (i32.const 0x204) (i32.const 0x73676e69)) ;; "ings"
        (i32.store (i32.const 0x208) (i32.const 0x0079656b)) ;; "key"
        (drop (call $dict_open (i32.const 0x200) (i32.const 8) (i32.const 0x210)))
        (block $out (loop $again
          (call $rec (call $dict_get (i32.load (i32.const 0x210)) (i32.const 0x208) (i32.const 3)
            (i32.const 0x300) (i32.const 64) (i32.const 0x214)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $out (i32.ge_u (local.get $i) (i32.const 17)))
          (br $again)))"#,
    )
}

fn settings() -> ServiceConfig {
    config(
        r#"
        [local_server.config_stores.settings]
        format = "inline-toml"
        [local_server.config_stores.settings.contents]
        key = "value"
        "#,
    )
}

#[test]
fn dictionary_lookups_are_limited_under_production_limits_only() {
    let wasm = wat::parse_str(lookups()).unwrap();
    let limited = ExecOptions {
        dictionary_lookups: Some(16),
        ..ExecOptions::default()
    };
    let run = run_with(&engine(), &wasm, settings(), get("/"), limited);
    let log = le_words(&run.response.body);
    assert_eq!(log[..16], [OK; 16]);
    assert_eq!(log[16], LIMITEXCEEDED);
    let notes = notes(&run, "fastly_dictionary::get");
    assert!(
        notes
            .iter()
            .any(|n| n.contains("at most 16 dictionary lookups")),
        "{notes:?}"
    );
    // Without production limits (Viceroy's way) every lookup answers.
    let run = run_with(
        &engine(),
        &wasm,
        settings(),
        get("/"),
        ExecOptions::default(),
    );
    assert_eq!(le_words(&run.response.body), [OK; 17]);
}

#[test]
fn a_stack_past_the_platforms_one_megabyte_traps() {
    // Frames of 20,000 i64 locals (160 KB or more each): ten of them pass 1 MB, far below
    // the call-depth limit; two fit.
    let wat = |depth: u32| {
        r#"(module (memory (export "memory") 1)
        (func $big (param $n i32) LOCALS
          (if (local.get $n) (then (call $big (i32.sub (local.get $n) (i32.const 1))))))
        (func (export "_start") (call $big (i32.const DEPTH))))"#
            .replace("LOCALS", &"(local i64)".repeat(20_000))
            .replace("DEPTH", &depth.to_string())
    };
    let run = run_wat(&wat(1), get("/"));
    assert!(run.outcome.exit.is_success(), "{:?}", run.outcome.exit);
    let run = run_wat(&wat(10), get("/"));
    let err = run.outcome.exit.error_message().unwrap_or_default();
    assert!(err.contains("stack"), "{err}");
    assert_eq!(run.response.status, 500);
}
