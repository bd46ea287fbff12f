//! `fastly_acl` and `fastly_erl` as a guest sees them: every status, hostile
//! arguments, and rate counters and penalty boxes that keep counting across requests
//! of one service while the clock moves.

mod common;

use common::{
    assert_log, config, engine, run_wasm, summaries, Log, Run, BADF, BYTE_LOG, INVAL, NONE, OK,
};
use edgeplay_host::driver::blocking;
use edgeplay_host::platform::{FixedClock, SeededRandom};
use edgeplay_host::trace::ArgValue;
use edgeplay_host::{DownstreamRequest, Engine, ExecOptions, Platform, Service, ServiceConfig};
use std::sync::Arc;

const IMPORTS: &str = r#"
  (import "fastly_http_resp" "new" (func $resp_new (param i32) (result i32)))
  (import "fastly_http_resp" "send_downstream" (func $resp_send (param i32 i32 i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (import "fastly_http_body" "write" (func $body_write (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_body" "read" (func $body_read (param i32 i32 i32 i32) (result i32)))
  (import "fastly_acl" "open" (func $acl_open (param i32 i32 i32) (result i32)))
  (import "fastly_acl" "lookup" (func $acl_lookup (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "xqd_acl_open" (func $xqd_acl_open (param i32 i32 i32) (result i32)))
  (import "env" "xqd_acl_lookup" (func $xqd_acl_lookup (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_erl" "check_rate" (func $check_rate (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_erl" "ratecounter_increment" (func $rc_incr (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_erl" "ratecounter_lookup_rate" (func $rc_rate (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_erl" "ratecounter_lookup_count" (func $rc_count (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_erl" "penaltybox_add" (func $pb_add (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_erl" "penaltybox_has" (func $pb_has (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "xqd_erl_check_rate" (func $xqd_check_rate (param i32 i32 i32 i32 i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "xqd_erl_ratecounter_increment" (func $xqd_rc_incr (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "xqd_erl_ratecounter_lookup_rate" (func $xqd_rc_rate (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "xqd_erl_ratecounter_lookup_count" (func $xqd_rc_count (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "env" "xqd_erl_penaltybox_add" (func $xqd_pb_add (param i32 i32 i32 i32 i32) (result i32)))
  (import "env" "xqd_erl_penaltybox_has" (func $xqd_pb_has (param i32 i32 i32 i32 i32) (result i32)))
"#;

/// Names the guests use: "rc" at 0x100, "pb" at 0x110, entry "client" at 0x120, a
/// second entry "other" at 0x130, a non-UTF-8 name at 0x140, and 300 bytes of "x" at
/// 0x400 (an entry too long for the platform).
const NAMES: &str = r#"
  (data (i32.const 0x100) "rc")
  (data (i32.const 0x110) "pb")
  (data (i32.const 0x120) "client")
  (data (i32.const 0x130) "other")
  (data (i32.const 0x140) "\ff\fe")
"#;

fn guest(body: &str) -> Vec<u8> {
    let text = format!(
        "(module\n{IMPORTS}\n{BYTE_LOG}\n{NAMES}\n(func $fill (memory.fill (i32.const 0x400) (i32.const 120) (i32.const 300)))\n{body}\n)"
    );
    wat::parse_str(text).expect("valid WAT")
}

const ACL_TOML: &str = r#"
[local_server.acls]
blocklist = { entries = [
  { prefix = "192.0.2.0/24", action = "BLOCK" },
  { prefix = "192.0.2.128/25", action = "ALLOW" },
  { prefix = "2001:db8::/32", action = "BLOCK" },
] }
"#;

#[test]
fn acl_open_lookup_and_every_error_path() {
    let wasm = guest(
        r#"
  (data (i32.const 0x200) "blocklist")
  (data (i32.const 0x210) "nope")
  ;; 192.0.2.200, 192.0.2.1, 10.0.0.1, then 2001:db8::1.
  (data (i32.const 0x300) "\c0\00\02\c8")
  (data (i32.const 0x304) "\c0\00\02\01")
  (data (i32.const 0x308) "\0a\00\00\01")
  (data (i32.const 0x310) "\20\01\0d\b8\00\00\00\00\00\00\00\00\00\00\00\01")
  (func $read_body
    (call $rec (call $body_read (i32.load (i32.const 0x1004)) (i32.const 0x2000) (i32.const 256) (i32.const 0x100c)))
    (call $rec_at (i32.const 0x100c))
    (call $rec_bytes (i32.const 0x2000) (i32.load (i32.const 0x100c))))
  (func $lookup (param $ip i32) (param $len i32)
    (i32.store (i32.const 0x1004) (i32.const -1))
    (i32.store (i32.const 0x1008) (i32.const 0))
    (call $rec (call $acl_lookup (i32.load (i32.const 0x1000)) (local.get $ip) (local.get $len) (i32.const 0x1004) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008)))
  (func (export "_start")
    ;; Open: a configured ACL is OK, another name NONE.
    (call $rec (call $acl_open (i32.const 0x200) (i32.const 9) (i32.const 0x1000)))
    (call $rec (call $acl_open (i32.const 0x210) (i32.const 4) (i32.const 0x1010)))
    ;; The longest prefix wins: /25 ALLOW over /24 BLOCK.
    (call $lookup (i32.const 0x300) (i32.const 4))
    (call $read_body)
    (call $lookup (i32.const 0x304) (i32.const 4))
    (call $read_body)
    (call $lookup (i32.const 0x310) (i32.const 16))
    (call $read_body)
    ;; No match: OK, no_content, and the body handle is left alone.
    (call $lookup (i32.const 0x308) (i32.const 4))
    (call $rec_at (i32.const 0x1004))
    ;; A malformed address is INVAL, whatever its length.
    (call $rec (call $acl_lookup (i32.load (i32.const 0x1000)) (i32.const 0x300) (i32.const 5) (i32.const 0x1004) (i32.const 0x1008)))
    (call $rec (call $acl_lookup (i32.load (i32.const 0x1000)) (i32.const 0x300) (i32.const 0) (i32.const 0x1004) (i32.const 0x1008)))
    (call $rec (call $acl_lookup (i32.load (i32.const 0x1000)) (i32.const 0x300) (i32.const -1) (i32.const 0x1004) (i32.const 0x1008)))
    ;; Hostile pointers are INVAL; a bad handle BADF.
    (call $rec (call $acl_lookup (i32.load (i32.const 0x1000)) (i32.const 0x1fffe) (i32.const 4) (i32.const 0x1004) (i32.const 0x1008)))
    (call $rec (call $acl_lookup (i32.load (i32.const 0x1000)) (i32.const 0x300) (i32.const 4) (i32.const 0x1fffe) (i32.const 0x1008)))
    (call $rec (call $acl_lookup (i32.load (i32.const 0x1000)) (i32.const 0x300) (i32.const 4) (i32.const 0x1004) (i32.const -4)))
    (call $rec (call $acl_lookup (i32.load (i32.const 0x1000)) (i32.const 0x308) (i32.const 4) (i32.const 0x1004) (i32.const 0x1fffe)))
    (call $rec (call $acl_lookup (i32.const 99) (i32.const 0x300) (i32.const 4) (i32.const 0x1004) (i32.const 0x1008)))
    (call $rec (call $acl_lookup (i32.const -1) (i32.const 0x300) (i32.const 4) (i32.const 0x1004) (i32.const 0x1008)))
    (call $rec (call $acl_open (i32.const 0x1fff0) (i32.const 100) (i32.const 0x1010)))
    (call $rec (call $acl_open (i32.const 0x200) (i32.const -1) (i32.const 0x1010)))
    (call $rec (call $acl_open (i32.const 0x200) (i32.const 9) (i32.const 0x1fffe)))
    (call $rec (call $acl_open (i32.const 0x140) (i32.const 2) (i32.const 0x1010)))
    ;; The legacy names answer the same.
    (call $rec (call $xqd_acl_open (i32.const 0x200) (i32.const 9) (i32.const 0x1010)))
    (call $rec (call $xqd_acl_open (i32.const 0x210) (i32.const 4) (i32.const 0x1014)))
    (call $rec (call $xqd_acl_lookup (i32.load (i32.const 0x1010)) (i32.const 0x304) (i32.const 4) (i32.const 0x1004) (i32.const 0x1008)))
    (call $rec_at (i32.const 0x1008))
    (call $read_body)
    (call $rec (call $xqd_acl_lookup (i32.load (i32.const 0x1010)) (i32.const 0x300) (i32.const 3) (i32.const 0x1004) (i32.const 0x1008)))
    (call $finish))
"#,
    );
    let run = run_wasm(
        &engine(),
        &wasm,
        config(ACL_TOML),
        DownstreamRequest::new("GET", "/"),
    );
    let allow = br#"{"prefix":"192.0.2.128/25","action":"ALLOW"}"#;
    let block = br#"{"prefix":"192.0.2.0/24","action":"BLOCK"}"#;
    let block6 = br#"{"prefix":"2001:db8::/32","action":"BLOCK"}"#;
    let body = |log: Log, b: &[u8]| log.i(OK).i(b.len() as i32).b(b);
    let mut log = Log::default().i(OK).i(NONE);
    log = body(log.i(OK).i(1), allow);
    log = body(log.i(OK).i(1), block);
    log = body(log.i(OK).i(1), block6);
    log = log.i(OK).i(2).i(-1);
    log = log.words(&[INVAL, INVAL, INVAL]);
    log = log.words(&[INVAL, INVAL, INVAL, INVAL, BADF, BADF]);
    log = log.words(&[INVAL, INVAL, INVAL, INVAL]);
    log = log.i(OK).i(NONE).i(OK).i(1);
    log = body(log, block);
    log = log.i(INVAL);
    assert_log(&run, log);

    // The trace decodes the address and what matched.
    let lookups = run.calls("fastly_acl::lookup");
    let first = lookups[0];
    assert_eq!(first.arg("ip"), Some(&ArgValue::Str("192.0.2.200".into())));
    assert_eq!(
        first.arg("acl_name"),
        Some(&ArgValue::Str("blocklist".into()))
    );
    assert_eq!(
        first.result("acl_error"),
        Some(&ArgValue::Enum("ok".into()))
    );
    assert_eq!(
        first.result("prefix"),
        Some(&ArgValue::Str("192.0.2.128/25".into()))
    );
    assert_eq!(first.result("action"), Some(&ArgValue::Str("ALLOW".into())));
    let ipv6 = lookups[2];
    assert_eq!(ipv6.arg("ip"), Some(&ArgValue::Str("2001:db8::1".into())));
    let none = lookups[3];
    assert_eq!(
        none.result("acl_error"),
        Some(&ArgValue::Enum("no_content".into()))
    );
    assert!(
        none.note.as_deref().unwrap_or("").contains("10.0.0.1"),
        "{:?}",
        none.note
    );
    let opens = run.calls("fastly_acl::open");
    assert_eq!(opens[1].arg("name"), Some(&ArgValue::Str("nope".into())));
    assert!(opens[1]
        .note
        .as_deref()
        .unwrap_or("")
        .contains("[local_server.acls]"));
    assert!(
        run.trace.iter().all(|e| !e.unsupported),
        "{}",
        summaries(&run)
    );
}

#[test]
fn an_acl_file_in_fastlys_json_format_is_what_lookups_see() {
    let toml = "[local_server.acls]\nmy_acl = \"acl.json\"\n";
    let json = r#"{ "entries": [
        { "op": "create", "prefix": "1.2.3.0/24", "action": "BLOCK" },
        { "op": "update", "prefix": "1.2.3.4/32", "action": "allow" }
    ] }"#;
    let read = |p: &str| {
        if p.ends_with("acl.json") {
            Ok(json.to_string())
        } else {
            Err(format!("no file {p}"))
        }
    };
    let cfg = ServiceConfig::from_toml_str(toml, "fastly.toml", &read).expect("valid config");
    let wasm = guest(
        r#"
  (data (i32.const 0x200) "my_acl")
  (data (i32.const 0x300) "\01\02\03\04")
  (data (i32.const 0x304) "\01\02\03\05")
  (func (export "_start")
    (call $rec (call $acl_open (i32.const 0x200) (i32.const 6) (i32.const 0x1000)))
    (call $rec (call $acl_lookup (i32.load (i32.const 0x1000)) (i32.const 0x300) (i32.const 4) (i32.const 0x1004) (i32.const 0x1008)))
    (call $rec (call $body_read (i32.load (i32.const 0x1004)) (i32.const 0x2000) (i32.const 256) (i32.const 0x100c)))
    (call $rec_bytes (i32.const 0x2000) (i32.load (i32.const 0x100c)))
    (call $rec (call $acl_lookup (i32.load (i32.const 0x1000)) (i32.const 0x304) (i32.const 4) (i32.const 0x1004) (i32.const 0x1008)))
    (call $rec (call $body_read (i32.load (i32.const 0x1004)) (i32.const 0x2000) (i32.const 256) (i32.const 0x100c)))
    (call $rec_bytes (i32.const 0x2000) (i32.load (i32.const 0x100c)))
    (call $finish))
"#,
    );
    let run = run_wasm(&engine(), &wasm, cfg, DownstreamRequest::new("GET", "/"));
    assert_log(
        &run,
        Log::default()
            .words(&[OK, OK, OK])
            .b(br#"{"prefix":"1.2.3.4/32","action":"ALLOW"}"#)
            .words(&[OK, OK])
            .b(br#"{"prefix":"1.2.3.0/24","action":"BLOCK"}"#),
    );
}

#[test]
fn erl_statuses_and_hostile_arguments() {
    let wasm = guest(
        r#"
  (func (export "_start")
    (call $fill)
    ;; Increment "client" by 3, then look it up over every window and duration.
    (call $rec (call $rc_incr (i32.const 0x100) (i32.const 2) (i32.const 0x120) (i32.const 6) (i32.const 3)))
    (call $rec (call $rc_count (i32.const 0x100) (i32.const 2) (i32.const 0x120) (i32.const 6) (i32.const 10) (i32.const 0x1000)))
    (call $rec_at (i32.const 0x1000))
    (call $rec (call $rc_count (i32.const 0x100) (i32.const 2) (i32.const 0x120) (i32.const 6) (i32.const 60) (i32.const 0x1000)))
    (call $rec_at (i32.const 0x1000))
    (call $rec (call $rc_rate (i32.const 0x100) (i32.const 2) (i32.const 0x120) (i32.const 6) (i32.const 1) (i32.const 0x1000)))
    (call $rec_at (i32.const 0x1000))
    (call $rec (call $rc_rate (i32.const 0x100) (i32.const 2) (i32.const 0x120) (i32.const 6) (i32.const 10) (i32.const 0x1000)))
    (call $rec_at (i32.const 0x1000))
    ;; Another entry has counted nothing.
    (call $rec (call $rc_count (i32.const 0x100) (i32.const 2) (i32.const 0x130) (i32.const 5) (i32.const 60) (i32.const 0x1000)))
    (call $rec_at (i32.const 0x1000))
    ;; Windows other than 1/10/60 and durations other than 10..60 step 10: INVAL.
    (call $rec (call $rc_rate (i32.const 0x100) (i32.const 2) (i32.const 0x120) (i32.const 6) (i32.const 2) (i32.const 0x1000)))
    (call $rec (call $rc_rate (i32.const 0x100) (i32.const 2) (i32.const 0x120) (i32.const 6) (i32.const 0) (i32.const 0x1000)))
    (call $rec (call $rc_count (i32.const 0x100) (i32.const 2) (i32.const 0x120) (i32.const 6) (i32.const 15) (i32.const 0x1000)))
    (call $rec (call $rc_count (i32.const 0x100) (i32.const 2) (i32.const 0x120) (i32.const 6) (i32.const 1) (i32.const 0x1000)))
    (call $rec (call $check_rate (i32.const 0x100) (i32.const 2) (i32.const 0x120) (i32.const 6) (i32.const 1) (i32.const 30)
      (i32.const 10) (i32.const 0x110) (i32.const 2) (i32.const 60) (i32.const 0x1000)))
    ;; An entry over 256 bytes: INVAL; 256 bytes is fine.
    (call $rec (call $rc_incr (i32.const 0x100) (i32.const 2) (i32.const 0x400) (i32.const 257) (i32.const 1)))
    (call $rec (call $rc_incr (i32.const 0x100) (i32.const 2) (i32.const 0x400) (i32.const 256) (i32.const 1)))
    (call $rec (call $pb_add (i32.const 0x110) (i32.const 2) (i32.const 0x400) (i32.const 300) (i32.const 60)))
    ;; Penalty box: add, has, has for another entry.
    (call $rec (call $pb_add (i32.const 0x110) (i32.const 2) (i32.const 0x120) (i32.const 6) (i32.const 60)))
    (call $rec (call $pb_has (i32.const 0x110) (i32.const 2) (i32.const 0x120) (i32.const 6) (i32.const 0x1000)))
    (call $rec_at (i32.const 0x1000))
    (call $rec (call $pb_has (i32.const 0x110) (i32.const 2) (i32.const 0x130) (i32.const 5) (i32.const 0x1000)))
    (call $rec_at (i32.const 0x1000))
    ;; check_rate: "client" is in the box, so it is blocked; "other" is not.
    (call $rec (call $check_rate (i32.const 0x100) (i32.const 2) (i32.const 0x120) (i32.const 6) (i32.const 1) (i32.const 10)
      (i32.const 100) (i32.const 0x110) (i32.const 2) (i32.const 60) (i32.const 0x1000)))
    (call $rec_at (i32.const 0x1000))
    (call $rec (call $check_rate (i32.const 0x100) (i32.const 2) (i32.const 0x130) (i32.const 5) (i32.const 1) (i32.const 10)
      (i32.const 100) (i32.const 0x110) (i32.const 2) (i32.const 60) (i32.const 0x1000)))
    (call $rec_at (i32.const 0x1000))
    ;; Hostile pointers and lengths: INVAL, and nothing was counted.
    (call $rec (call $rc_incr (i32.const 0x1fff0) (i32.const 100) (i32.const 0x120) (i32.const 6) (i32.const 1)))
    (call $rec (call $rc_incr (i32.const 0x100) (i32.const 2) (i32.const 0x120) (i32.const -1) (i32.const 1)))
    (call $rec (call $rc_incr (i32.const 0x140) (i32.const 2) (i32.const 0x120) (i32.const 6) (i32.const 1)))
    (call $rec (call $rc_rate (i32.const 0x100) (i32.const 2) (i32.const 0x120) (i32.const 6) (i32.const 1) (i32.const 0x1fffe)))
    (call $rec (call $rc_count (i32.const 0x100) (i32.const 2) (i32.const 0x120) (i32.const 6) (i32.const 10) (i32.const -2)))
    (call $rec (call $pb_has (i32.const 0x110) (i32.const 2) (i32.const 0x120) (i32.const 6) (i32.const 0x1fffe)))
    (call $rec (call $pb_add (i32.const 0x110) (i32.const -1) (i32.const 0x120) (i32.const 6) (i32.const 60)))
    (call $rec (call $check_rate (i32.const 0x100) (i32.const 2) (i32.const 0x120) (i32.const 6) (i32.const 1000) (i32.const 10)
      (i32.const 100) (i32.const 0x110) (i32.const 2) (i32.const 60) (i32.const 0x1fffe)))
    (call $rec (call $check_rate (i32.const 0x100) (i32.const 2) (i32.const 0x120) (i32.const 6) (i32.const 1000) (i32.const 10)
      (i32.const 100) (i32.const 0x1fff0) (i32.const 100) (i32.const 60) (i32.const 0x1000)))
    (call $rec (call $rc_count (i32.const 0x100) (i32.const 2) (i32.const 0x120) (i32.const 6) (i32.const 60) (i32.const 0x1000)))
    (call $rec_at (i32.const 0x1000))
    ;; The legacy names answer the same.
    (call $rec (call $xqd_rc_incr (i32.const 0x100) (i32.const 2) (i32.const 0x120) (i32.const 6) (i32.const 10)))
    (call $rec (call $xqd_rc_count (i32.const 0x100) (i32.const 2) (i32.const 0x120) (i32.const 6) (i32.const 60) (i32.const 0x1000)))
    (call $rec_at (i32.const 0x1000))
    (call $rec (call $xqd_rc_rate (i32.const 0x100) (i32.const 2) (i32.const 0x120) (i32.const 6) (i32.const 60) (i32.const 0x1000)))
    (call $rec_at (i32.const 0x1000))
    (call $rec (call $xqd_rc_rate (i32.const 0x100) (i32.const 2) (i32.const 0x120) (i32.const 6) (i32.const 7) (i32.const 0x1000)))
    (call $rec (call $xqd_pb_add (i32.const 0x110) (i32.const 2) (i32.const 0x130) (i32.const 5) (i32.const 600)))
    (call $rec (call $xqd_pb_has (i32.const 0x110) (i32.const 2) (i32.const 0x130) (i32.const 5) (i32.const 0x1000)))
    (call $rec_at (i32.const 0x1000))
    (call $rec (call $xqd_check_rate (i32.const 0x100) (i32.const 2) (i32.const 0x130) (i32.const 5) (i32.const 1) (i32.const 10)
      (i32.const 100) (i32.const 0x110) (i32.const 2) (i32.const 60) (i32.const 0x1000)))
    (call $rec_at (i32.const 0x1000))
    (call $finish))
"#,
    );
    let run = run_wasm(
        &engine(),
        &wasm,
        ServiceConfig::default(),
        DownstreamRequest::new("GET", "/"),
    );
    let log = Log::default()
        .i(OK)
        .words(&[OK, 3, OK, 3, OK, 3, OK, 0, OK, 0])
        .words(&[INVAL, INVAL, INVAL, INVAL, INVAL])
        .words(&[INVAL, OK, INVAL])
        .words(&[OK, OK, 1, OK, 0])
        .words(&[OK, 1, OK, 0])
        .words(&[
            INVAL, INVAL, INVAL, INVAL, INVAL, INVAL, INVAL, INVAL, INVAL,
        ])
        // 3, then one check_rate each for "client": 4 in the last 60 s.
        .words(&[OK, 4])
        .words(&[OK, OK, 14, OK, 0, INVAL])
        .words(&[OK, OK, 1, OK, 1]);
    assert_log(&run, log);

    // The trace decodes names, entry, numbers and the decision.
    let checks = run.calls("fastly_erl::check_rate");
    let blocked = checks[1];
    assert_eq!(
        blocked.arg("rate_counter"),
        Some(&ArgValue::Str("rc".into()))
    );
    assert_eq!(blocked.arg("entry"), Some(&ArgValue::Str("client".into())));
    assert_eq!(
        blocked.arg("penalty_box"),
        Some(&ArgValue::Str("pb".into()))
    );
    assert_eq!(blocked.arg("window"), Some(&ArgValue::Int(10)));
    assert_eq!(blocked.arg("limit"), Some(&ArgValue::Int(100)));
    assert_eq!(blocked.arg("ttl"), Some(&ArgValue::Int(60)));
    assert_eq!(blocked.arg("delta"), Some(&ArgValue::Int(1)));
    assert_eq!(blocked.result("blocked"), Some(&ArgValue::Int(1)));
    assert_eq!(blocked.result("count"), Some(&ArgValue::Int(4)));
    assert!(
        blocked
            .note
            .as_deref()
            .unwrap_or("")
            .contains("in penalty box pb"),
        "{:?}",
        blocked.note
    );
    let passed = checks[2];
    assert_eq!(passed.result("blocked"), Some(&ArgValue::Int(0)));
    assert_eq!(passed.result("rate"), Some(&ArgValue::Str("0.10".into())));
    let bad_window = checks[0];
    assert!(bad_window
        .note
        .as_deref()
        .unwrap_or("")
        .contains("window 30"));
    let rates = run.calls("fastly_erl::ratecounter_lookup_rate");
    assert_eq!(rates[0].result("rate"), Some(&ArgValue::Int(3)));
    let adds = run.calls("env::xqd_erl_penaltybox_add");
    assert_eq!(adds[0].result("ttl_applied"), Some(&ArgValue::Int(600)));
    assert!(
        run.trace.iter().all(|e| !e.unsupported),
        "{}",
        summaries(&run)
    );
}

/// One service, one engine, a clock the test moves: requests share ERL state.
struct Svc {
    engine: Engine,
    clock: Arc<FixedClock>,
    service: Service,
}

impl Svc {
    fn new() -> Self {
        let clock = Arc::new(FixedClock::default());
        let platform = Platform {
            clock: clock.clone(),
            random: Arc::new(SeededRandom::new(7)),
            validator: None,
        };
        Svc {
            engine: Engine::new(platform),
            clock,
            service: Service::from(ServiceConfig::default()),
        }
    }

    fn advance_ms(&self, ms: u64) {
        self.clock.advance(ms * 1_000_000);
    }

    fn run(&self, wasm: &[u8]) -> Run {
        common::run_driven(
            &self.engine,
            wasm,
            self.service.clone(),
            DownstreamRequest::new("GET", "/"),
            ExecOptions::default(),
            blocking::refuse,
            |_| 0,
        )
    }
}

/// The log words of a run (every one an i32).
fn words(run: &Run) -> Vec<i32> {
    assert!(run.outcome.exit.is_success(), "{}", summaries(run));
    common::le_words(&run.response.body)
}

#[test]
fn check_rate_blocks_the_request_over_the_limit_until_the_ttl_ends() {
    // limit 1/s over 10 s, 2-minute penalty box (ttl 150 s truncates to 120 s).
    let check = guest(
        r#"
  (func (export "_start")
    (call $rec (call $check_rate (i32.const 0x100) (i32.const 2) (i32.const 0x120) (i32.const 6) (i32.const 1) (i32.const 10)
      (i32.const 1) (i32.const 0x110) (i32.const 2) (i32.const 150) (i32.const 0x1000)))
    (call $rec_at (i32.const 0x1000))
    (call $finish))
"#,
    );
    let peek = guest(
        r#"
  (func (export "_start")
    (drop (call $rc_count (i32.const 0x100) (i32.const 2) (i32.const 0x120) (i32.const 6) (i32.const 10) (i32.const 0x1000)))
    (call $rec_at (i32.const 0x1000))
    (drop (call $pb_has (i32.const 0x110) (i32.const 2) (i32.const 0x120) (i32.const 6) (i32.const 0x1000)))
    (call $rec_at (i32.const 0x1000))
    (call $finish))
"#,
    );
    let svc = Svc::new();
    // Ten requests 100 ms apart pass; the eleventh is over 10 in 10 s.
    for i in 1..=10 {
        assert_eq!(words(&svc.run(&check)), [OK, 0], "request {i} passes");
        svc.advance_ms(100);
    }
    let over = svc.run(&check);
    assert_eq!(words(&over), [OK, 1], "request 11 is blocked");
    let ev = over.calls("fastly_erl::check_rate")[0];
    assert_eq!(ev.result("ttl_applied"), Some(&ArgValue::Int(120)));
    assert_eq!(words(&svc.run(&peek)), [11, 1]);
    // A minute later the rate is back to nothing, but the entry is still boxed.
    svc.advance_ms(60_000);
    assert_eq!(words(&svc.run(&peek)), [0, 1]);
    assert_eq!(words(&svc.run(&check)), [OK, 1]);
    // It was boxed at 1 s for 120 s: still in at 120 s, out at 121 s, and passes.
    svc.advance_ms(59_000);
    assert_eq!(words(&svc.run(&peek)), [0, 1]);
    svc.advance_ms(1_000);
    assert_eq!(words(&svc.run(&peek)), [0, 0]);
    assert_eq!(words(&svc.run(&check)), [OK, 0]);
    assert_eq!(words(&svc.run(&peek)), [1, 0]);
}

#[test]
fn rates_and_counts_follow_the_windows_as_the_clock_moves() {
    let bump = guest(
        r#"
  (func (export "_start")
    (call $rec (call $rc_incr (i32.const 0x100) (i32.const 2) (i32.const 0x120) (i32.const 6) (i32.const 30)))
    (call $finish))
"#,
    );
    let peek = guest(
        r#"
  (func $rate (param $w i32)
    (drop (call $rc_rate (i32.const 0x100) (i32.const 2) (i32.const 0x120) (i32.const 6) (local.get $w) (i32.const 0x1000)))
    (call $rec_at (i32.const 0x1000)))
  (func $count (param $d i32)
    (drop (call $rc_count (i32.const 0x100) (i32.const 2) (i32.const 0x120) (i32.const 6) (local.get $d) (i32.const 0x1000)))
    (call $rec_at (i32.const 0x1000)))
  (func (export "_start")
    (call $rate (i32.const 1)) (call $rate (i32.const 10)) (call $rate (i32.const 60))
    (call $count (i32.const 10)) (call $count (i32.const 30)) (call $count (i32.const 60))
    (call $finish))
"#,
    );
    let svc = Svc::new();
    // 30 at 0 s, 30 more at 5 s.
    assert_eq!(words(&svc.run(&bump)), [OK]);
    // rate 1 s, 10 s, 60 s; count 10 s, 30 s, 60 s.
    assert_eq!(words(&svc.run(&peek)), [30, 3, 0, 30, 30, 30]);
    svc.advance_ms(5_000);
    assert_eq!(words(&svc.run(&bump)), [OK]);
    assert_eq!(words(&svc.run(&peek)), [30, 6, 1, 60, 60, 60]);
    // At 10 s the first second has left the 10 s window; the 1 s window is empty.
    svc.advance_ms(5_000);
    assert_eq!(words(&svc.run(&peek)), [0, 3, 1, 30, 60, 60]);
    // At 35 s only the 60 s window still holds both.
    svc.advance_ms(25_000);
    assert_eq!(words(&svc.run(&peek)), [0, 0, 1, 0, 0, 60]);
    // At 60 s the first 30 are gone; at 65 s everything is.
    svc.advance_ms(25_000);
    assert_eq!(words(&svc.run(&peek)), [0, 0, 0, 0, 0, 30]);
    svc.advance_ms(5_000);
    assert_eq!(words(&svc.run(&peek)), [0, 0, 0, 0, 0, 0]);
    // The state is bounded: the next increment pruned the old buckets away.
    assert_eq!(words(&svc.run(&bump)), [OK]);
    let state = svc.service.state.lock();
    let records = state.scan(b"erl/", None, 100);
    assert_eq!(records.len(), 1);
    match edgeplay_host::erl::decode(&records[0].0, &records[0].1).unwrap() {
        edgeplay_host::erl::Record::RateCounter {
            counter,
            entry,
            value,
        } => {
            assert_eq!((counter.as_str(), entry.as_str()), ("rc", "client"));
            assert_eq!(value.buckets.len(), 1);
            assert_eq!(value.buckets[0].1, 30);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn too_many_open_acls_is_limitexceeded() {
    let wasm = guest(
        r#"
  (data (i32.const 0x200) "blocklist")
  (func (export "_start") (local $n i32) (local $st i32)
    (loop $more
      (local.set $st (call $acl_open (i32.const 0x200) (i32.const 9) (i32.const 0x1000)))
      (if (i32.eqz (local.get $st))
        (then (local.set $n (i32.add (local.get $n) (i32.const 1))) (br $more))))
    (call $rec (local.get $n))
    (call $rec (local.get $st))
    (call $finish))
"#,
    );
    let run = run_wasm(
        &engine(),
        &wasm,
        config(ACL_TOML),
        DownstreamRequest::new("GET", "/"),
    );
    assert_log(&run, Log::default().i(65_536).i(common::LIMITEXCEEDED));
}
