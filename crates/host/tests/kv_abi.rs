//! `fastly_kv_store` and the legacy `fastly_object_store`, as a WAT guest sees them:
//! every status and `kv_error`, hostile arguments, the async items, the trace, and the
//! service state shared between requests.

mod common;

use common::{
    assert_returned, config, engine, expect, summaries, Run, BADF, BUFLEN, ERROR, INVAL, NONE, OK,
};
use edgeplay_host::driver::blocking;
use edgeplay_host::platform::{FixedClock, SeededRandom};
use edgeplay_host::trace::{ArgValue, EventKind};
use edgeplay_host::{DownstreamRequest, Engine, ExecOptions, Platform, Service};
use std::sync::Arc;

/// `kv_error` values.
const KV_OK: i32 = 1;
const KV_BAD_REQUEST: i32 = 2;
const KV_NOT_FOUND: i32 = 3;
const KV_PRECONDITION_FAILED: i32 = 4;
const KV_PAYLOAD_TOO_LARGE: i32 = 5;
const INVALID_HANDLE: i32 = 0xFFFF_FFFEu32 as i32;

const IMPORTS: &str = r#"
  (import "fastly_kv_store" "open" (func $kv_open (param i32 i32 i32) (result i32)))
  (import "fastly_kv_store" "open_v2" (func $kv_open_v2 (param i32 i32 i32) (result i32)))
  (import "fastly_kv_store" "lookup" (func $kv_lookup (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_kv_store" "lookup_v2" (func $kv_lookup_v2 (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_kv_store" "lookup_wait" (func $kv_lookup_wait (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_kv_store" "lookup_wait_v2" (func $kv_lookup_wait_v2 (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_kv_store" "insert" (func $kv_insert (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_kv_store" "insert_wait" (func $kv_insert_wait (param i32 i32) (result i32)))
  (import "fastly_kv_store" "delete" (func $kv_delete (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_kv_store" "delete_wait" (func $kv_delete_wait (param i32 i32) (result i32)))
  (import "fastly_kv_store" "list" (func $kv_list (param i32 i32 i32 i32) (result i32)))
  (import "fastly_kv_store" "list_wait" (func $kv_list_wait (param i32 i32 i32) (result i32)))
  (import "fastly_object_store" "open" (func $os_open (param i32 i32 i32) (result i32)))
  (import "fastly_object_store" "lookup" (func $os_lookup (param i32 i32 i32 i32) (result i32)))
  (import "fastly_object_store" "lookup_async" (func $os_lookup_async (param i32 i32 i32 i32) (result i32)))
  (import "fastly_object_store" "pending_lookup_wait" (func $os_lookup_wait (param i32 i32) (result i32)))
  (import "fastly_object_store" "insert" (func $os_insert (param i32 i32 i32 i32) (result i32)))
  (import "fastly_object_store" "insert_async" (func $os_insert_async (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_object_store" "pending_insert_wait" (func $os_insert_wait (param i32 i32) (result i32)))
  (import "fastly_object_store" "delete_async" (func $os_delete_async (param i32 i32 i32 i32) (result i32)))
  (import "fastly_object_store" "pending_delete_wait" (func $os_delete_wait (param i32) (result i32)))
  (import "fastly_async_io" "select" (func $select (param i32 i32 i32 i32) (result i32)))
  (import "fastly_async_io" "is_ready" (func $is_ready (param i32 i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (import "fastly_http_body" "write" (func $body_write (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_body" "read" (func $body_read (param i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "new" (func $req_new (param i32) (result i32)))
  (import "fastly_http_req" "send" (func $req_send (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "new" (func $resp_new (param i32) (result i32)))
  (import "fastly_http_resp" "send_downstream" (func $resp_send (param i32 i32 i32) (result i32)))
"#;

/// Memory, strings and helpers. Strings: 0x100 "store", 0x110 "nope", 0x120 "seeded",
/// 0x140 "fresh", 0x150 "a#b", 0x160 "v1", 0x170 "more", 0x180 "p/", 0x190 "other".
/// Slots: 0x1000 store, 0x1004 pending, 0x1008 body, 0x100c nwritten, 0x1010
/// generation (8 bytes), 0x1018 kv_error, 0x101c new body, 0x1020 scratch, 0x1024
/// response. 0x2000 metadata buffer, 0x3000 insert config, 0x3100 list config,
/// 0x4000 zeros (long metadata), 0x5000 a body read buffer.
const PRELUDE: &str = r#"
  (memory (export "memory") 2)
  (data (i32.const 0x100) "store")
  (data (i32.const 0x110) "nope")
  (data (i32.const 0x120) "seeded")
  (data (i32.const 0x140) "fresh")
  (data (i32.const 0x150) "a#b")
  (data (i32.const 0x160) "v1")
  (data (i32.const 0x170) "more")
  (data (i32.const 0x180) "p/")
  (data (i32.const 0x190) "other")
  (func $open (result i32) (call $kv_open (i32.const 0x100) (i32.const 5) (i32.const 0x1000)))
  (func $store (result i32) (i32.load (i32.const 0x1000)))
  (func $pending (result i32) (i32.load (i32.const 0x1004)))
  (func $kverr (result i32) (i32.load (i32.const 0x1018)))
  (func $nwritten (result i32) (i32.load (i32.const 0x100c)))
  (func $gen (result i32) (i32.wrap_i64 (i64.load (i32.const 0x1010))))
  (func $body (result i32) (i32.load (i32.const 0x1008)))
  (func $lookup (param $k i32) (param $n i32) (result i32)
    (call $kv_lookup (call $store) (local.get $k) (local.get $n) (i32.const 0) (i32.const 0) (i32.const 0x1004)))
  (func $wait (result i32)
    (call $kv_lookup_wait_v2 (call $pending) (i32.const 0x1008) (i32.const 0x2000) (i32.const 100)
      (i32.const 0x100c) (i32.const 0x1010) (i32.const 0x1018)))
  (func $body_of (param $p i32) (param $n i32) (result i32)
    (drop (call $body_new (i32.const 0x101c)))
    (drop (call $body_write (i32.load (i32.const 0x101c)) (local.get $p) (local.get $n) (i32.const 0) (i32.const 0x1020)))
    (i32.load (i32.const 0x101c)))
  (func $config (param $mode i32) (param $meta i32) (param $meta_len i32) (param $ttl i32) (param $gen i64)
    (i32.store (i32.const 0x3000) (local.get $mode))
    (i32.store (i32.const 0x3008) (local.get $meta))
    (i32.store (i32.const 0x300c) (local.get $meta_len))
    (i32.store (i32.const 0x3010) (local.get $ttl))
    (i64.store (i32.const 0x3018) (local.get $gen)))
  (func $insert (param $k i32) (param $n i32) (param $v i32) (param $vn i32) (param $mask i32) (result i32)
    (call $kv_insert (call $store) (local.get $k) (local.get $n) (call $body_of (local.get $v) (local.get $vn))
      (local.get $mask) (i32.const 0x3000) (i32.const 0x1004)))
  (func $insert_wait (result i32) (call $kv_insert_wait (call $pending) (i32.const 0x1018)))
  (func $delete (param $k i32) (param $n i32) (result i32)
    (call $kv_delete (call $store) (local.get $k) (local.get $n) (i32.const 0) (i32.const 0) (i32.const 0x1004)))
  (func $delete_wait (result i32) (call $kv_delete_wait (call $pending) (i32.const 0x1018)))
  (func $list_config (param $mode i32) (param $cursor i32) (param $cursor_len i32) (param $limit i32) (param $prefix i32) (param $prefix_len i32)
    (i32.store (i32.const 0x3100) (local.get $mode))
    (i32.store (i32.const 0x3104) (local.get $cursor))
    (i32.store (i32.const 0x3108) (local.get $cursor_len))
    (i32.store (i32.const 0x310c) (local.get $limit))
    (i32.store (i32.const 0x3110) (local.get $prefix))
    (i32.store (i32.const 0x3114) (local.get $prefix_len)))
  (func $list (param $mask i32) (result i32)
    (call $kv_list (call $store) (local.get $mask) (i32.const 0x3100) (i32.const 0x1004)))
  (func $list_wait (result i32) (call $kv_list_wait (call $pending) (i32.const 0x1008) (i32.const 0x1018)))
  ;; Answer with this body.
  (func $send (param $b i32)
    (drop (call $resp_new (i32.const 0x1024)))
    (drop (call $resp_send (i32.load (i32.const 0x1024)) (local.get $b) (i32.const 0))))
  ;; Answer with the text at `p`.
  (func $say (param $p i32) (param $n i32) (call $send (call $body_of (local.get $p) (local.get $n))))
"#;

const STORES: &str = r#"
[local_server.kv_stores]
store = [
  { key = "seeded", data = "hello", metadata = "meta-1" },
  { key = "p/1", data = "one" },
  { key = "p/2", data = "two" },
  { key = "p/3", data = "three" },
  { key = "q", data = "q" },
]
other = []
"#;

fn wasm(body: &str) -> Vec<u8> {
    let text = format!("(module {IMPORTS} {PRELUDE} (func (export \"_start\") {body}))");
    wat::parse_str(text).expect("valid WAT")
}

/// Run `wasm` once against `service`.
fn run_in(engine: &Engine, wasm: &[u8], service: &Service) -> Run {
    run_in_with(engine, wasm, service, blocking::refuse)
}

/// [`run_in`] with fetches answered by `origin`.
fn run_in_with(
    engine: &Engine,
    wasm: &[u8],
    service: &Service,
    origin: impl FnMut(&edgeplay_host::FetchRequest) -> edgeplay_host::WorkResult,
) -> Run {
    common::run_driven(
        engine,
        wasm,
        service.clone(),
        DownstreamRequest::new("GET", "/"),
        ExecOptions::default(),
        origin,
        |_| 0,
    )
}

/// Run `body` once with the [`STORES`] configuration; it must return normally.
fn run(body: &str) -> Run {
    let service = Service::from(config(STORES));
    let r = run_in(&engine(), &wasm(body), &service);
    assert_returned(&r);
    r
}

#[test]
fn open_known_unknown_and_hostile_names() {
    let r = run(&[
        expect("(call $open)", OK),
        expect(
            "(call $kv_open_v2 (i32.const 0x190) (i32.const 5) (i32.const 0x1020))",
            OK,
        ),
        expect(
            "(call $kv_open (i32.const 0x110) (i32.const 4) (i32.const 0x1020))",
            INVAL,
        ),
        expect(
            "(call $kv_open (i32.const 0x100) (i32.const 0) (i32.const 0x1020))",
            INVAL,
        ),
        expect(
            "(call $kv_open (i32.const 0xfff0) (i32.const 0x7fffffff) (i32.const 0x1020))",
            INVAL,
        ),
        expect(
            "(call $kv_open (i32.const 0x100) (i32.const 5) (i32.const 0x1fffe))",
            INVAL,
        ),
        expect(
            "(call $os_open (i32.const 0x100) (i32.const 5) (i32.const 0x1020))",
            OK,
        ),
        "(call $say (i32.const 0x100) (i32.const 5))".into(),
    ]
    .concat());
    assert_eq!(r.body_text(), "store");
    let opens = r.calls("fastly_kv_store::open");
    assert_eq!(opens[0].arg("name"), Some(&ArgValue::Str("store".into())));
    assert!(
        opens[1]
            .note
            .as_deref()
            .unwrap_or("")
            .contains("no KV store named \"nope\""),
        "{:?}",
        opens[1].note
    );
}

#[test]
fn lookup_of_a_seeded_key_gives_value_metadata_and_generation() {
    let r = run(&[
        expect("(call $open)", OK),
        expect("(call $lookup (i32.const 0x120) (i32.const 6))", OK),
        expect("(call $wait)", OK),
        expect("(call $kverr)", KV_OK),
        expect("(call $nwritten)", 6),
        expect("(i32.load (i32.const 0x2000))", i32::from_le_bytes(*b"meta")),
        expect("(call $gen)", 1),
        // The 32-bit wait gives the same generation.
        expect("(call $lookup (i32.const 0x120) (i32.const 6))", OK),
        expect("(call $kv_lookup_wait (call $pending) (i32.const 0x1028) (i32.const 0x2000) (i32.const 100) (i32.const 0x100c) (i32.const 0x1030) (i32.const 0x1018))", OK),
        expect("(i32.load (i32.const 0x1030))", 1),
        expect("(call $kverr)", KV_OK),
        "(call $send (call $body))".into(),
    ]
    .concat());
    assert_eq!(r.body_text(), "hello");
    let wait = &r.calls("fastly_kv_store::lookup_wait_v2")[0];
    assert_eq!(wait.result("result"), Some(&ArgValue::Enum("found".into())));
    assert_eq!(wait.arg("key"), Some(&ArgValue::Str("seeded".into())));
    assert_eq!(wait.result("generation"), Some(&ArgValue::Int(1)));
    assert_eq!(wait.result("metadata_len"), Some(&ArgValue::Int(6)));
    let lookup = &r.calls("fastly_kv_store::lookup")[0];
    assert_eq!(lookup.arg("key"), Some(&ArgValue::Str("seeded".into())));
    assert_eq!(
        lookup.arg("store_name"),
        Some(&ArgValue::Str("store".into()))
    );
}

#[test]
fn a_miss_is_ok_with_not_found_and_metadata_too_long_is_buflen() {
    let r = run(&[
        expect("(call $open)", OK),
        expect("(call $lookup (i32.const 0x140) (i32.const 5))", OK),
        expect("(call $wait)", OK),
        expect("(call $kverr)", KV_NOT_FOUND),
        expect("(call $body)", INVALID_HANDLE),
        // Metadata longer than the buffer: BUFLEN and the length; the lookup stays.
        expect("(call $lookup (i32.const 0x120) (i32.const 6))", OK),
        expect("(call $kv_lookup_wait_v2 (call $pending) (i32.const 0x1008) (i32.const 0x2000) (i32.const 3) (i32.const 0x100c) (i32.const 0x1010) (i32.const 0x1018))", BUFLEN),
        expect("(call $nwritten)", 6),
        expect("(call $wait)", OK),
        expect("(call $kverr)", KV_OK),
        "(call $send (call $body))".into(),
    ]
    .concat());
    assert_eq!(r.body_text(), "hello");
    let waits = r.calls("fastly_kv_store::lookup_wait_v2");
    assert_eq!(
        waits[0].result("result"),
        Some(&ArgValue::Enum("not_found".into()))
    );
    assert_eq!(waits[1].result("needed"), Some(&ArgValue::Int(6)));
}

#[test]
fn bad_handles_keys_masks_and_pointers_are_statuses() {
    let r = run(&[
        expect("(call $open)", OK),
        // A bad store handle, a store handle that is not open.
        expect("(call $kv_lookup (i32.const 77) (i32.const 0x120) (i32.const 6) (i32.const 0) (i32.const 0) (i32.const 0x1004))", BADF),
        expect("(call $kv_delete (i32.const -2) (i32.const 0x120) (i32.const 6) (i32.const 0) (i32.const 0) (i32.const 0x1004))", BADF),
        expect("(call $kv_list (i32.const 77) (i32.const 0) (i32.const 0x3100) (i32.const 0x1004))", BADF),
        // Keys: out of bounds, huge, empty, against the rules.
        expect("(call $lookup (i32.const 0x1fff0) (i32.const 100))", INVAL),
        expect("(call $lookup (i32.const 0x120) (i32.const -1))", INVAL),
        expect("(call $lookup (i32.const 0x120) (i32.const 0))", INVAL),
        expect("(call $lookup (i32.const 0x150) (i32.const 3))", INVAL),
        expect("(call $delete (i32.const 0x150) (i32.const 3))", INVAL),
        // Option bits the ABI does not define.
        expect("(call $kv_lookup (call $store) (i32.const 0x120) (i32.const 6) (i32.const 2) (i32.const 0) (i32.const 0x1004))", INVAL),
        expect("(call $kv_delete (call $store) (i32.const 0x120) (i32.const 6) (i32.const 4) (i32.const 0) (i32.const 0x1004))", INVAL),
        // The reserved bit is accepted.
        expect("(call $kv_lookup (call $store) (i32.const 0x120) (i32.const 6) (i32.const 1) (i32.const 0) (i32.const 0x1004))", OK),
        // A bad out-pointer: INVAL, nothing started.
        expect("(call $kv_lookup (call $store) (i32.const 0x120) (i32.const 6) (i32.const 0) (i32.const 0) (i32.const 0x1fffe))", INVAL),
        // Waits: a bad handle, a body handle, the wrong kind (the item stays).
        expect("(call $kv_lookup_wait_v2 (i32.const 999) (i32.const 0x1008) (i32.const 0x2000) (i32.const 100) (i32.const 0x100c) (i32.const 0x1010) (i32.const 0x1018))", BADF),
        expect("(call $kv_insert_wait (call $pending) (i32.const 0x1018))", BADF),
        expect("(call $kv_delete_wait (call $pending) (i32.const 0x1018))", BADF),
        expect("(call $kv_list_wait (call $pending) (i32.const 0x1008) (i32.const 0x1018))", BADF),
        expect("(call $kv_insert_wait (call $body_of (i32.const 0x160) (i32.const 2)) (i32.const 0x1018))", BADF),
        // A bad out-pointer in the wait: INVAL, and the lookup stays pending.
        expect("(call $kv_lookup_wait_v2 (call $pending) (i32.const 0x1fffe) (i32.const 0x2000) (i32.const 100) (i32.const 0x100c) (i32.const 0x1010) (i32.const 0x1018))", INVAL),
        expect("(call $kv_lookup_wait_v2 (call $pending) (i32.const 0x1008) (i32.const 0x2000) (i32.const 100) (i32.const 0x100c) (i32.const 0x1010) (i32.const 0x1fffe))", INVAL),
        expect("(call $wait)", OK),
        expect("(call $kverr)", KV_OK),
        // Waiting twice: BADF.
        expect("(call $wait)", BADF),
        "(call $send (call $body))".into(),
    ]
    .concat());
    assert_eq!(r.body_text(), "hello");
    assert_eq!(
        r.statuses("fastly_kv_store::lookup_wait_v2"),
        ["badf", "inval", "inval", "ok", "badf"]
    );
}

#[test]
fn insert_modes_metadata_generations_and_limits() {
    let r = run(&[
        expect("(call $open)", OK),
        // Overwrite (mask 0: defaults) a new key.
        "(call $config (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i64.const 0))".into(),
        expect("(call $insert (i32.const 0x140) (i32.const 5) (i32.const 0x160) (i32.const 2) (i32.const 0))", OK),
        expect("(call $insert_wait)", OK),
        expect("(call $kverr)", KV_OK),
        // Add on the existing key: precondition failed.
        "(call $config (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0) (i64.const 0))".into(),
        expect("(call $insert (i32.const 0x140) (i32.const 5) (i32.const 0x160) (i32.const 2) (i32.const 0))", OK),
        expect("(call $insert_wait)", OK),
        expect("(call $kverr)", KV_PRECONDITION_FAILED),
        // Append with metadata ("v1" at 0x160, 2 bytes) and background_fetch.
        "(call $config (i32.const 2) (i32.const 0x160) (i32.const 2) (i32.const 0) (i64.const 0))".into(),
        expect("(call $insert (i32.const 0x140) (i32.const 5) (i32.const 0x170) (i32.const 4) (i32.const 10))", OK),
        expect("(call $insert_wait)", OK),
        expect("(call $kverr)", KV_OK),
        // Its generation...
        expect("(call $lookup (i32.const 0x140) (i32.const 5))", OK),
        expect("(call $wait)", OK),
        expect("(call $nwritten)", 2),
        "(i64.store (i32.const 0x3018) (i64.load (i32.const 0x1010)))".into(),
        // ...does not match plus one, matches itself (prepend, bit 5).
        "(i32.store (i32.const 0x3000) (i32.const 3))".into(),
        "(i64.store (i32.const 0x3018) (i64.add (i64.load (i32.const 0x1010)) (i64.const 1)))".into(),
        expect("(call $insert (i32.const 0x140) (i32.const 5) (i32.const 0x170) (i32.const 4) (i32.const 32))", OK),
        expect("(call $insert_wait)", OK),
        expect("(call $kverr)", KV_PRECONDITION_FAILED),
        "(i64.store (i32.const 0x3018) (i64.load (i32.const 0x1010)))".into(),
        expect("(call $insert (i32.const 0x140) (i32.const 5) (i32.const 0x160) (i32.const 2) (i32.const 32))", OK),
        expect("(call $insert_wait)", OK),
        expect("(call $kverr)", KV_OK),
        // Metadata over 2000 bytes: payload too large.
        "(call $config (i32.const 0) (i32.const 0x4000) (i32.const 2001) (i32.const 0) (i64.const 0))".into(),
        expect("(call $insert (i32.const 0x170) (i32.const 4) (i32.const 0x160) (i32.const 2) (i32.const 8))", OK),
        expect("(call $insert_wait)", OK),
        expect("(call $kverr)", KV_PAYLOAD_TOO_LARGE),
        // Refused before anything happens: an unknown mode, undefined bits, an empty
        // metadata string, metadata out of bounds, a config out of bounds, a bad body.
        "(call $config (i32.const 9) (i32.const 0) (i32.const 0) (i32.const 0) (i64.const 0))".into(),
        expect("(call $insert (i32.const 0x170) (i32.const 4) (i32.const 0x160) (i32.const 2) (i32.const 0))", INVAL),
        "(call $config (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i64.const 0))".into(),
        expect("(call $insert (i32.const 0x170) (i32.const 4) (i32.const 0x160) (i32.const 2) (i32.const 64))", INVAL),
        expect("(call $insert (i32.const 0x170) (i32.const 4) (i32.const 0x160) (i32.const 2) (i32.const 8))", INVAL),
        "(call $config (i32.const 0) (i32.const 0x1fff0) (i32.const 100) (i32.const 0) (i64.const 0))".into(),
        expect("(call $insert (i32.const 0x170) (i32.const 4) (i32.const 0x160) (i32.const 2) (i32.const 8))", INVAL),
        expect("(call $kv_insert (call $store) (i32.const 0x170) (i32.const 4) (call $body_of (i32.const 0x160) (i32.const 2)) (i32.const 0) (i32.const 0x1fff0) (i32.const 0x1004))", INVAL),
        expect("(call $kv_insert (call $store) (i32.const 0x170) (i32.const 4) (i32.const 12345) (i32.const 0) (i32.const 0x3000) (i32.const 0x1004))", BADF),
        expect("(call $insert (i32.const 0x150) (i32.const 3) (i32.const 0x160) (i32.const 2) (i32.const 0))", INVAL),
        // The value body is consumed by the insert.
        "(drop (call $body_of (i32.const 0x160) (i32.const 2)))".into(),
        expect("(call $kv_insert (call $store) (i32.const 0x170) (i32.const 4) (i32.load (i32.const 0x101c)) (i32.const 0) (i32.const 0x3000) (i32.const 0x1004))", OK),
        expect("(call $body_write (i32.load (i32.const 0x101c)) (i32.const 0x160) (i32.const 2) (i32.const 0) (i32.const 0x1020))", BADF),
        // "fresh": v1, then "more" appended, then v1 prepended (without metadata).
        expect("(call $lookup (i32.const 0x140) (i32.const 5))", OK),
        expect("(call $wait)", OK),
        expect("(call $nwritten)", 0),
        "(call $send (call $body))".into(),
    ]
    .concat());
    assert_eq!(r.body_text(), "v1v1more");
    let inserts = r.calls("fastly_kv_store::insert");
    assert_eq!(
        inserts[0].arg("mode"),
        Some(&ArgValue::Enum("overwrite".into()))
    );
    assert_eq!(inserts[2].arg("metadata_len"), Some(&ArgValue::Int(2)));
    assert_eq!(
        inserts[2].arg("options"),
        Some(&ArgValue::Flags(vec![
            "background_fetch".into(),
            "metadata".into()
        ]))
    );
    assert!(inserts[3].arg("if_generation_match").is_some());
    let waits: Vec<_> = r
        .calls("fastly_kv_store::insert_wait")
        .iter()
        .map(|e| e.result("result").map(ArgValue::display))
        .collect();
    assert_eq!(
        waits,
        [
            Some("ok".into()),
            Some("precondition_failed".into()),
            Some("ok".into()),
            Some("precondition_failed".into()),
            Some("ok".into()),
            Some("payload_too_large".into()),
        ]
    );
}

#[test]
fn delete_then_delete_again_is_not_found() {
    let r = run(&[
        expect("(call $open)", OK),
        expect("(call $delete (i32.const 0x120) (i32.const 6))", OK),
        expect("(call $delete_wait)", OK),
        expect("(call $kverr)", KV_OK),
        expect("(call $delete (i32.const 0x120) (i32.const 6))", OK),
        expect("(call $delete_wait)", OK),
        expect("(call $kverr)", KV_NOT_FOUND),
        expect("(call $lookup (i32.const 0x120) (i32.const 6))", OK),
        expect("(call $wait)", OK),
        expect("(call $kverr)", KV_NOT_FOUND),
        "(call $say (i32.const 0x110) (i32.const 4))".into(),
    ]
    .concat());
    assert_eq!(r.body_text(), "nope");
}

/// A list page as the guest got it: the JSON body `body` answers with.
fn list_body(setup: &str, mask: i32) -> Run {
    run(&[
        expect("(call $open)", OK),
        setup.to_string(),
        expect(&format!("(call $list (i32.const {mask}))"), OK),
        expect("(call $list_wait)", OK),
        expect("(call $kverr)", KV_OK),
        "(call $send (call $body))".into(),
    ]
    .concat())
}

#[test]
fn list_pages_with_prefix_limit_and_cursor() {
    let all = list_body(
        "(call $list_config (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))",
        0,
    );
    assert_eq!(
        all.body_text(),
        r#"{"data":["p/1","p/2","p/3","q","seeded"],"meta":{"limit":1000}}"#
    );
    // Prefix "p/", limit 2, eventual consistency (accepted, ignored).
    let page = list_body(
        "(call $list_config (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 2) (i32.const 0x180) (i32.const 2))",
        4 | 8,
    );
    assert_eq!(
        page.body_text(),
        r#"{"data":["p/1","p/2"],"meta":{"limit":2,"prefix":"p/","next_cursor":"cC8y"}}"#
    );
    let list = &page.calls("fastly_kv_store::list")[0];
    assert_eq!(list.arg("prefix"), Some(&ArgValue::Str("p/".into())));
    assert_eq!(list.arg("limit"), Some(&ArgValue::Int(2)));
    assert_eq!(list.arg("mode"), Some(&ArgValue::Enum("eventual".into())));
    assert_eq!(list.result("count"), Some(&ArgValue::Int(2)));
    assert_eq!(
        list.result("next_cursor"),
        Some(&ArgValue::Str("cC8y".into()))
    );
    // The cursor ("cC8y" = base64 "p/2", written at 0x1f0) continues the listing.
    let rest = list_body(
        r#"(i32.store (i32.const 0x1f0) (i32.const 0x79384363))
           (call $list_config (i32.const 0) (i32.const 0x1f0) (i32.const 4) (i32.const 2) (i32.const 0x180) (i32.const 2))"#,
        2 | 4 | 8,
    );
    assert_eq!(
        rest.body_text(),
        r#"{"data":["p/3"],"meta":{"limit":2,"prefix":"p/"}}"#
    );
    assert_eq!(
        rest.calls("fastly_kv_store::list")[0].arg("cursor"),
        Some(&ArgValue::Str("cC8y".into()))
    );
}

#[test]
fn list_errors() {
    let r = run(&[
        expect("(call $open)", OK),
        // An unknown mode, undefined bits, empty cursor and prefix strings, a config
        // out of bounds.
        "(call $list_config (i32.const 2) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))".into(),
        expect("(call $list (i32.const 0))", INVAL),
        "(call $list_config (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))".into(),
        expect("(call $list (i32.const 16))", INVAL),
        expect("(call $list (i32.const 2))", INVAL),
        expect("(call $list (i32.const 8))", INVAL),
        expect("(call $kv_list (call $store) (i32.const 0) (i32.const 0x1fff0) (i32.const 0x1004))", INVAL),
        // A cursor that is not base64: bad_request at the wait, and no body.
        "(call $list_config (i32.const 0) (i32.const 0x150) (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 0))".into(),
        expect("(call $list (i32.const 2))", OK),
        expect("(call $list_wait)", OK),
        expect("(call $kverr)", KV_BAD_REQUEST),
        expect("(call $body)", INVALID_HANDLE),
        "(call $say (i32.const 0x110) (i32.const 4))".into(),
    ]
    .concat());
    assert_eq!(r.body_text(), "nope");
}

#[test]
fn pending_operations_are_ready_async_items() {
    let r = run(&[
        expect("(call $open)", OK),
        expect("(call $lookup (i32.const 0x120) (i32.const 6))", OK),
        expect("(call $is_ready (call $pending) (i32.const 0x1020))", OK),
        expect("(i32.load (i32.const 0x1020))", 1),
        // select over a delete and the lookup: the first ready one.
        "(i32.store (i32.const 0x1040) (call $pending))".into(),
        expect("(call $delete (i32.const 0x140) (i32.const 5))", OK),
        "(i32.store (i32.const 0x1044) (call $pending))".into(),
        expect(
            "(call $select (i32.const 0x1040) (i32.const 2) (i32.const 0) (i32.const 0x1020))",
            OK,
        ),
        expect("(i32.load (i32.const 0x1020))", 0),
        // A select does not use the items up.
        "(i32.store (i32.const 0x1004) (i32.load (i32.const 0x1040)))".into(),
        expect("(call $wait)", OK),
        "(i32.store (i32.const 0x1004) (i32.load (i32.const 0x1044)))".into(),
        expect("(call $delete_wait)", OK),
        expect("(call $kverr)", KV_NOT_FOUND),
        "(call $send (call $body))".into(),
    ]
    .concat());
    assert_eq!(r.body_text(), "hello");
}

#[test]
fn the_legacy_object_store_module() {
    let r = run(&[
        expect("(call $os_open (i32.const 0x100) (i32.const 5) (i32.const 0x1000))", OK),
        expect("(call $os_open (i32.const 0x110) (i32.const 4) (i32.const 0x1020))", INVAL),
        // Blocking lookup: a hit gives a body, a miss OK with the invalid handle.
        expect("(call $os_lookup (call $store) (i32.const 0x140) (i32.const 5) (i32.const 0x1008))", OK),
        expect("(call $body)", INVALID_HANDLE),
        // A bad key is ERROR here; a bad handle BADF.
        expect("(call $os_lookup (call $store) (i32.const 0x150) (i32.const 3) (i32.const 0x1008))", ERROR),
        expect("(call $os_lookup (i32.const 77) (i32.const 0x120) (i32.const 6) (i32.const 0x1008))", BADF),
        // Blocking insert, async insert with fastly-sys's kv_error_out.
        expect("(call $os_insert (call $store) (i32.const 0x140) (i32.const 5) (call $body_of (i32.const 0x160) (i32.const 2)))", OK),
        expect("(call $os_insert_async (call $store) (i32.const 0x170) (i32.const 4) (call $body_of (i32.const 0x170) (i32.const 4)) (i32.const 0x1004))", OK),
        expect("(call $os_insert_wait (call $pending) (i32.const 0x1018))", OK),
        expect("(call $kverr)", KV_OK),
        expect("(call $os_insert_wait (call $pending) (i32.const 0x1018))", BADF),
        // Async lookup, waited for with either module's wait.
        expect("(call $os_lookup_async (call $store) (i32.const 0x170) (i32.const 4) (i32.const 0x1004))", OK),
        expect("(call $wait)", OK),
        expect("(call $kverr)", KV_OK),
        expect("(call $os_lookup_async (call $store) (i32.const 0x140) (i32.const 5) (i32.const 0x1004))", OK),
        expect("(call $os_lookup_wait (call $pending) (i32.const 0x1008))", OK),
        // Delete: OK, then NONE.
        expect("(call $os_delete_async (call $store) (i32.const 0x170) (i32.const 4) (i32.const 0x1004))", OK),
        expect("(call $os_delete_wait (call $pending))", OK),
        expect("(call $os_delete_async (call $store) (i32.const 0x170) (i32.const 4) (i32.const 0x1004))", OK),
        expect("(call $os_delete_wait (call $pending))", NONE),
        expect("(call $os_delete_wait (i32.const 999))", BADF),
        "(call $send (call $body))".into(),
    ]
    .concat());
    assert_eq!(r.body_text(), "v1");
}

#[test]
fn each_operation_is_a_span_on_the_trace() {
    let r = run(&[
        expect("(call $open)", OK),
        expect("(call $lookup (i32.const 0x120) (i32.const 6))", OK),
        expect("(call $wait)", OK),
        "(call $list_config (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0x180) (i32.const 2))".into(),
        expect("(call $list (i32.const 8))", OK),
        expect("(call $list_wait)", OK),
        "(call $send (call $body))".into(),
    ]
    .concat());
    let spans: Vec<_> = r
        .trace
        .iter()
        .filter(|e| e.kind == EventKind::Work && e.module == "kv")
        .collect();
    assert_eq!(spans.len(), 2, "{}", summaries(&r));
    assert_eq!(spans[0].name, "store");
    assert_eq!(spans[0].arg("op"), Some(&ArgValue::Enum("lookup".into())));
    assert_eq!(spans[0].arg("key"), Some(&ArgValue::Str("seeded".into())));
    assert_eq!(spans[0].status.as_deref(), Some("found"));
    assert!(spans[0].dur_us > 0.0);
    let lookup = &r.calls("fastly_kv_store::lookup")[0];
    assert!(spans[0].start_us >= lookup.start_us);
    assert_eq!(spans[1].arg("op"), Some(&ArgValue::Enum("list".into())));
    assert_eq!(spans[1].arg("prefix"), Some(&ArgValue::Str("p/".into())));
    assert_eq!(spans[1].result("count"), Some(&ArgValue::Int(3)));
    assert_eq!(spans[1].status.as_deref(), Some("ok"));
}

/// A platform whose clock the test moves.
fn clocked() -> (Engine, Arc<FixedClock>) {
    let clock = Arc::new(FixedClock::default());
    let platform = Platform {
        clock: clock.clone(),
        random: Arc::new(SeededRandom::new(7)),
        validator: None,
    };
    (Engine::new(platform), clock)
}

#[test]
fn state_is_shared_between_requests_and_ttls_expire_with_the_clock() {
    let (engine, clock) = clocked();
    let service = Service::from(config(STORES));
    // Request 1 writes "fresh" = "v1" with a 10 s TTL, and "more" for good.
    let write = wasm(&[
        expect("(call $open)", OK),
        "(call $config (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 10) (i64.const 0))".into(),
        expect("(call $insert (i32.const 0x140) (i32.const 5) (i32.const 0x160) (i32.const 2) (i32.const 16))", OK),
        expect("(call $insert_wait)", OK),
        expect("(call $kverr)", KV_OK),
        expect("(call $insert (i32.const 0x170) (i32.const 4) (i32.const 0x170) (i32.const 4) (i32.const 0))", OK),
        "(call $say (i32.const 0x160) (i32.const 2))".into(),
    ]
    .concat());
    let r = run_in(&engine, &write, &service);
    assert_returned(&r);
    let ttl = &r.calls("fastly_kv_store::insert")[0];
    assert_eq!(ttl.arg("ttl_sec"), Some(&ArgValue::Int(10)));
    // Request 2 reads them back.
    let read = |key: (u32, u32)| {
        wasm(&[
            expect("(call $open)", OK),
            expect(&format!("(call $lookup (i32.const {}) (i32.const {}))", key.0, key.1), OK),
            expect("(call $wait)", OK),
            "(if (i32.eq (call $kverr) (i32.const 1)) (then (call $send (call $body))) (else (call $say (i32.const 0x110) (i32.const 4))))".into(),
        ]
        .concat())
    };
    let fresh = read((0x140, 5));
    let r = run_in(&engine, &fresh, &service);
    assert_returned(&r);
    assert_eq!(
        r.body_text(),
        "v1",
        "a write in one request is read by the next"
    );
    clock.advance(9_000_000_000);
    assert_eq!(run_in(&engine, &fresh, &service).body_text(), "v1");
    clock.advance(1_000_000_000);
    assert_eq!(
        run_in(&engine, &fresh, &service).body_text(),
        "nope",
        "expired after 10 s"
    );
    assert_eq!(
        run_in(&engine, &read((0x170, 4)), &service).body_text(),
        "more"
    );
    // A fresh service starts from the seed again.
    let other = Service::from(config(STORES));
    assert_eq!(
        run_in(&engine, &read((0x170, 4)), &other).body_text(),
        "nope"
    );
    assert_eq!(
        run_in(&engine, &read((0x120, 6)), &other).body_text(),
        "hello"
    );
}

#[test]
fn seeding_keeps_what_requests_wrote() {
    let service = Service::from(config(STORES));
    let engine = engine();
    let overwrite = wasm(&[
        expect("(call $open)", OK),
        "(call $config (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i64.const 0))".into(),
        expect("(call $insert (i32.const 0x120) (i32.const 6) (i32.const 0x170) (i32.const 4) (i32.const 0))", OK),
        "(call $say (i32.const 0x160) (i32.const 2))".into(),
    ]
    .concat());
    assert_returned(&run_in(&engine, &overwrite, &service));
    let read = wasm(
        &[
            expect("(call $open)", OK),
            expect("(call $lookup (i32.const 0x120) (i32.const 6))", OK),
            expect("(call $wait)", OK),
            expect("(call $gen)", 2),
            "(call $send (call $body))".into(),
        ]
        .concat(),
    );
    let r = run_in(&engine, &read, &service);
    assert_returned(&r);
    assert_eq!(r.body_text(), "more", "the next request does not re-seed");
    // The entry is in the storage as the engine documents it.
    let stored = service.state.lock().get(b"kv/store\0seeded").unwrap();
    let entry = edgeplay_host::kv::Entry::decode(&stored).unwrap();
    assert_eq!(entry.value, b"more");
    assert!(entry.metadata.is_empty());
}

#[test]
fn an_operation_never_waited_for_is_done_and_still_a_span() {
    let service = Service::from(config(STORES));
    let engine = engine();
    let fire_and_forget = wasm(&[
        expect("(call $open)", OK),
        "(call $config (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i64.const 0))".into(),
        expect("(call $insert (i32.const 0x140) (i32.const 5) (i32.const 0x160) (i32.const 2) (i32.const 0))", OK),
        "(call $say (i32.const 0x160) (i32.const 2))".into(),
    ]
    .concat());
    let r = run_in(&engine, &fire_and_forget, &service);
    assert_returned(&r);
    let span = r
        .trace
        .iter()
        .find(|e| e.kind == EventKind::Work && e.module == "kv")
        .expect("a kv span");
    assert_eq!(span.arg("op"), Some(&ArgValue::Enum("insert".into())));
    assert_eq!(span.status.as_deref(), Some("ok"));
    assert!(span.note.as_deref().unwrap().contains("never waited"));
    let stored = service.state.lock().get(b"kv/store\0fresh").unwrap();
    assert_eq!(
        edgeplay_host::kv::Entry::decode(&stored).unwrap().value,
        b"v1"
    );
}

#[test]
fn a_backend_body_still_arriving_is_stored_whole() {
    let toml =
        format!("{STORES}\n[local_server.backends.origin]\nurl = \"http://127.0.0.1:9000\"\n");
    let service = Service::from(config(&toml));
    // The origin answers with its head and the first bytes; the rest arrives through
    // body reads (the test driver's reads find the end).
    let origin = |_: &edgeplay_host::FetchRequest| {
        edgeplay_host::WorkResult::FetchedHead(Box::new(edgeplay_host::FetchResponse {
            status: 200,
            headers: edgeplay_host::Headers::new(),
            body: b"from the origin".to_vec(),
            remote_addr: None,
            first_byte_us: 10,
            end_us: 20,
            headers_not_sent: Vec::new(),
            notes: Vec::new(),
        }))
    };
    let send = "(call $req_new (i32.const 0x1030)) drop
        (call $body_new (i32.const 0x1034)) drop
        (i32.store (i32.const 0x1f0) (i32.const 0x6769726f)) (i32.store16 (i32.const 0x1f4) (i32.const 0x6e69))";
    let wat = wasm(&[
        expect("(call $open)", OK),
        send.to_string(),
        expect("(call $req_send (i32.load (i32.const 0x1030)) (i32.load (i32.const 0x1034)) (i32.const 0x1f0) (i32.const 6) (i32.const 0x1038) (i32.const 0x103c))", OK),
        "(call $config (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i64.const 0))".into(),
        expect("(call $kv_insert (call $store) (i32.const 0x140) (i32.const 5) (i32.load (i32.const 0x103c)) (i32.const 0) (i32.const 0x3000) (i32.const 0x1004))", OK),
        expect("(call $insert_wait)", OK),
        expect("(call $kverr)", KV_OK),
        // The legacy blocking insert waits the same way.
        "(call $req_new (i32.const 0x1030)) drop (call $body_new (i32.const 0x1034)) drop".into(),
        expect("(call $req_send (i32.load (i32.const 0x1030)) (i32.load (i32.const 0x1034)) (i32.const 0x1f0) (i32.const 6) (i32.const 0x1038) (i32.const 0x103c))", OK),
        expect("(call $os_insert (call $store) (i32.const 0x170) (i32.const 4) (i32.load (i32.const 0x103c)))", OK),
        expect("(call $lookup (i32.const 0x140) (i32.const 5))", OK),
        expect("(call $wait)", OK),
        "(call $send (call $body))".into(),
    ]
    .concat());
    let r = run_in_with(&engine(), &wat, &service, origin);
    assert_returned(&r);
    assert_eq!(r.body_text(), "from the origin");
    let insert = &r.calls("fastly_kv_store::insert")[0];
    assert!(
        insert.note.as_deref().unwrap().contains("still arriving"),
        "{:?}",
        insert.note
    );
    assert_eq!(insert.result("value_len"), Some(&ArgValue::Int(15)));
    let stored = service.state.lock().get(b"kv/store\0more").unwrap();
    assert_eq!(
        edgeplay_host::kv::Entry::decode(&stored).unwrap().value,
        b"from the origin"
    );
}
