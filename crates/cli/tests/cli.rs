//! The `edgeplay` binary as a user runs it, on small guests written in WAT.

mod common;

use common::Server;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const EDGEPLAY: &str = env!("CARGO_BIN_EXE_edgeplay");

/// A fresh directory for one test's files.
fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "edgeplay-cli-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Compile `wat` into `dir/name.wasm`.
fn guest(dir: &Path, name: &str, wat: &str) -> PathBuf {
    let p = dir.join(format!("{name}.wasm"));
    std::fs::write(&p, wat::parse_str(wat).expect("test WAT is valid")).unwrap();
    p
}

fn edgeplay(args: &[&str]) -> Output {
    Command::new(EDGEPLAY)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("the edgeplay binary runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Imports and helpers every test guest shares. Memory layout: 0..64 scratch
/// (handles, lengths), 64..1024 data segments, 1024.. the downstream body.
const PRELUDE: &str = r#"
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "body_downstream_get" (func $body_downstream_get (param i32 i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (import "fastly_http_body" "read" (func $body_read (param i32 i32 i32 i32) (result i32)))
  (import "fastly_http_body" "write" (func $body_write (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_body" "close" (func $body_close (param i32) (result i32)))
  (import "fastly_http_body" "abandon" (func $body_abandon (param i32) (result i32)))
  (import "fastly_http_resp" "new" (func $resp_new (param i32) (result i32)))
  (import "fastly_http_resp" "status_set" (func $status_set (param i32 i32) (result i32)))
  (import "fastly_http_resp" "header_append" (func $header_append (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "send_downstream" (func $send_downstream (param i32 i32 i32) (result i32)))
  (import "fastly_log" "endpoint_get" (func $endpoint_get (param i32 i32 i32) (result i32)))
  (import "fastly_log" "write" (func $log_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)

  ;; write(fd, ptr, len) through one iovec at 48
  (func $print (param $fd i32) (param $ptr i32) (param $len i32)
    (i32.store (i32.const 48) (local.get $ptr))
    (i32.store (i32.const 52) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 48) (i32.const 1) (i32.const 56))))

  ;; sleep for $ms milliseconds with one relative monotonic clock subscription at 256
  (func $sleep (param $ms i64)
    (i64.store (i32.const 256) (i64.const 7))
    (i32.store8 (i32.const 264) (i32.const 0))
    (i32.store (i32.const 272) (i32.const 1))
    (i64.store (i32.const 280) (i64.mul (local.get $ms) (i64.const 1000000)))
    (i64.store (i32.const 288) (i64.const 0))
    (i32.store16 (i32.const 296) (i32.const 0))
    (drop (call $poll_oneoff (i32.const 256) (i32.const 320) (i32.const 1) (i32.const 60))))

  ;; a new response with $status; its handle is at 0, a new body's at 4
  (func $start_response (param $status i32)
    (drop (call $resp_new (i32.const 0)))
    (drop (call $status_set (i32.load (i32.const 0)) (local.get $status)))
    (drop (call $body_new (i32.const 4))))

  ;; append bytes to the body whose handle is at 4
  (func $write (param $ptr i32) (param $len i32)
    (drop (call $body_write (i32.load (i32.const 4)) (local.get $ptr) (local.get $len) (i32.const 0) (i32.const 8))))
"#;

fn module(body: &str) -> String {
    format!("(module {PRELUDE} {body})")
}

/// Echoes the downstream body after "hello ", with a header, stdout, stderr and a log line.
fn hello_wat() -> String {
    module(
        r#"
  (data (i32.const 64) "out line\n")
  (data (i32.const 80) "err line\n")
  (data (i32.const 96) "mylog")
  (data (i32.const 112) "hello log")
  (data (i32.const 128) "x-edgeplay")
  (data (i32.const 144) "yes")
  (data (i32.const 160) "hello ")
  (func (export "_start")
    (local $n i32)
    (call $print (i32.const 1) (i32.const 64) (i32.const 9))
    (call $print (i32.const 2) (i32.const 80) (i32.const 9))
    (drop (call $endpoint_get (i32.const 96) (i32.const 5) (i32.const 12)))
    (drop (call $log_write (i32.load (i32.const 12)) (i32.const 112) (i32.const 9) (i32.const 16)))
    (drop (call $body_downstream_get (i32.const 20) (i32.const 24)))
    (drop (call $body_read (i32.load (i32.const 24)) (i32.const 1024) (i32.const 4096) (i32.const 28)))
    (call $start_response (i32.const 201))
    (drop (call $header_append (i32.load (i32.const 0)) (i32.const 128) (i32.const 10) (i32.const 144) (i32.const 3)))
    (call $write (i32.const 160) (i32.const 6))
    (call $write (i32.const 1024) (i32.load (i32.const 28)))
    (drop (call $send_downstream (i32.load (i32.const 0)) (i32.load (i32.const 4)) (i32.const 0))))
"#,
    )
}

const TRAP_WAT: &str =
    r#"(module (memory (export "memory") 1) (func (export "_start") unreachable))"#;
const RETURN_WAT: &str = r#"(module (memory (export "memory") 1) (func (export "_start")))"#;

fn exit_wat(code: u32) -> String {
    module(&format!(
        r#"(func (export "_start") (call $proc_exit (i32.const {code})))"#
    ))
}

/// A body that is not UTF-8.
fn binary_wat() -> String {
    module(
        r#"
  (data (i32.const 64) "\ff\fe\00\01")
  (func (export "_start")
    (call $start_response (i32.const 200))
    (call $write (i32.const 64) (i32.const 4))
    (drop (call $send_downstream (i32.load (i32.const 0)) (i32.load (i32.const 4)) (i32.const 0))))
"#,
    )
}

/// A streaming response: "first\n" at once, then "second\n" after `ms`, then close (or
/// abandon).
fn streaming_wat(ms: u64, abandon: bool) -> String {
    let end = if abandon {
        "(drop (call $body_abandon (i32.load (i32.const 4))))"
    } else {
        "(drop (call $body_close (i32.load (i32.const 4))))"
    };
    module(&format!(
        r#"
  (data (i32.const 64) "first\n")
  (data (i32.const 80) "second\n")
  (func (export "_start")
    (call $start_response (i32.const 200))
    (drop (call $send_downstream (i32.load (i32.const 0)) (i32.load (i32.const 4)) (i32.const 1)))
    (call $write (i32.const 64) (i32.const 6))
    (call $sleep (i64.const {ms}))
    (call $write (i32.const 80) (i32.const 7))
    {end})
"#
    ))
}

// ---------------------------------------------------------------- request

#[test]
fn request_json_has_the_documented_shape() {
    let dir = temp_dir("json");
    let wasm = guest(&dir, "hello", &hello_wat());
    let out = edgeplay(&[
        "request",
        wasm.to_str().unwrap(),
        "--json",
        "-X",
        "PUT",
        "-H",
        "X-A: 1",
        "--data",
        "world",
        "/path?q=1",
    ]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(
        stdout.trim_end().lines().count(),
        1,
        "exactly one JSON object on one line: {stdout}"
    );
    let v: serde_json::Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    assert_eq!(v["status"], 201);
    let headers = v["headers"].as_array().unwrap();
    assert!(
        headers
            .iter()
            .any(|h| h[0] == "x-edgeplay" && h[1] == "yes"),
        "{headers:?}"
    );
    assert_eq!(v["body"], "hello world");
    assert!(v.get("body_base64").is_none());
    assert_eq!(
        v["logs"],
        serde_json::json!([{"endpoint": "mylog", "line": "hello log"}])
    );
    assert_eq!(v["stdout"], "out line\n");
    assert_eq!(v["stderr"], "err line\n");
    assert_eq!(v["error"], serde_json::Value::Null);
    let trace = v["trace"].as_array().unwrap();
    assert!(trace
        .iter()
        .any(|e| e["name"] == "send_downstream" && e["module"] == "fastly_http_resp"));
    assert!(v["timing"]["load_us"].is_u64());
    assert!(v["timing"]["run_us"].is_u64());
    // Where the load went, a phase each.
    let phases = &v["timing"]["load_phases"];
    for phase in [
        "hash_us",
        "instrument_us",
        "compile_us",
        "link_us",
        "names_us",
    ] {
        assert!(phases[phase].is_u64(), "{phase} in {phases}");
    }
    // Guest output is in the JSON, not printed beside it.
    assert!(!text(&out.stderr).contains("mylog ::"));
}

/// Two `send_async` fetches under way at once (to mocks `a` and `b`), both waited
/// for, then a third to `a` alone; answers "ok".
fn overlapping_fetches_wat() -> String {
    format!(
        r#"(module
  (import "fastly_http_req" "new" (func $req_new (param i32) (result i32)))
  (import "fastly_http_req" "send_async" (func $send_async (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "pending_req_wait" (func $wait (param i32 i32 i32) (result i32)))
  {PRELUDE}
  (data (i32.const 64) "ab")
  (data (i32.const 80) "ok")
  ;; send_async a fresh GET to the backend named by the byte at $name; pending handle at $out
  (func $fetch (param $name i32) (param $out i32)
    (drop (call $req_new (i32.const 16)))
    (drop (call $body_new (i32.const 20)))
    (drop (call $send_async (i32.load (i32.const 16)) (i32.load (i32.const 20))
      (local.get $name) (i32.const 1) (local.get $out))))
  (func (export "_start")
    (call $fetch (i32.const 64) (i32.const 24))
    (call $fetch (i32.const 65) (i32.const 28))
    (drop (call $wait (i32.load (i32.const 24)) (i32.const 32) (i32.const 36)))
    (drop (call $wait (i32.load (i32.const 28)) (i32.const 32) (i32.const 36)))
    (call $fetch (i32.const 64) (i32.const 24))
    (drop (call $wait (i32.load (i32.const 24)) (i32.const 32) (i32.const 36)))
    (call $start_response (i32.const 200))
    (call $write (i32.const 80) (i32.const 2))
    (drop (call $send_downstream (i32.load (i32.const 0)) (i32.load (i32.const 4)) (i32.const 0))))
)"#
    )
}

#[test]
fn trace_out_puts_overlapping_fetches_on_their_own_tracks() {
    let dir = temp_dir("traceout");
    let wasm = guest(&dir, "fetches", &overlapping_fetches_wat());
    let toml = dir.join("fastly.toml");
    std::fs::write(
        &toml,
        "[local_server.backends.a]\nmock = { body = \"A\", delay_ms = 60 }\n\
         [local_server.backends.b]\nmock = { body = \"B\", delay_ms = 60 }\n",
    )
    .unwrap();
    let trace = dir.join("trace.json");
    let out = edgeplay(&[
        "request",
        "-C",
        toml.to_str().unwrap(),
        "--trace-out",
        trace.to_str().unwrap(),
        "--json",
        wasm.to_str().unwrap(),
        "/",
    ]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["body"], "ok", "{v}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    let events = doc["traceEvents"].as_array().unwrap();
    let complete: Vec<_> = events.iter().filter(|e| e["ph"] == "X").collect();
    assert_eq!(complete.len(), v["trace"].as_array().unwrap().len());
    let tracks: Vec<(u64, &str)> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name")
        .map(|e| {
            (
                e["tid"].as_u64().unwrap(),
                e["args"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        tracks.iter().map(|t| t.1).collect::<Vec<_>>(),
        ["guest", "backend fetch 1", "backend fetch 2"],
        "two fetches at once need two lanes; the third reuses one"
    );
    let fetches: Vec<_> = complete.iter().filter(|e| e["cat"] == "work").collect();
    assert_eq!(fetches.len(), 3);
    let mut by_start = fetches.clone();
    by_start.sort_by(|a, b| {
        a["ts"]
            .as_f64()
            .unwrap()
            .total_cmp(&b["ts"].as_f64().unwrap())
    });
    let tid = |e: &serde_json::Value| e["tid"].as_u64().unwrap();
    assert_ne!(tid(by_start[0]), tid(by_start[1]), "a and b overlap");
    assert_eq!(
        tid(by_start[2]),
        tracks[1].0,
        "the third fetch reuses the free lane"
    );
    assert_eq!(by_start[0]["name"], "backend::a");
    assert_eq!(by_start[0]["args"]["args"]["method"], "GET");
    assert_eq!(by_start[0]["args"]["status"], "ok");
    // Hostcalls stay on the guest's track, with their results.
    let hostcalls: Vec<_> = complete.iter().filter(|e| e["cat"] == "hostcall").collect();
    assert!(hostcalls.iter().all(|e| tid(e) == tracks[0].0));
    let send = hostcalls
        .iter()
        .find(|e| e["name"] == "fastly_http_req::send_async")
        .unwrap();
    assert_eq!(send["args"]["args"]["backend"], "a", "{send}");
    assert!(
        send["args"]["results"]
            .as_object()
            .is_some_and(|r| !r.is_empty()),
        "{send}"
    );
}

#[test]
fn request_prints_the_response_like_curl_i() {
    let dir = temp_dir("text");
    let wasm = guest(&dir, "hello", &hello_wat());
    let out = edgeplay(&["request", wasm.to_str().unwrap(), "-d", "you", "/"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("HTTP/1.1 201 Created\n"), "{stdout}");
    assert!(stdout.contains("\nx-edgeplay: yes\n"), "{stdout}");
    assert!(stdout.ends_with("\n\nhello you"), "{stdout}");
    // The guest's own output goes to stderr, as Viceroy formats it.
    let stderr = text(&out.stderr);
    assert!(stderr.contains("out line\n"), "{stderr}");
    assert!(stderr.contains("err line\n"), "{stderr}");
    assert!(stderr.contains("mylog :: hello log\n"), "{stderr}");
}

#[test]
fn request_gives_binary_bodies_in_base64() {
    let dir = temp_dir("bin");
    let wasm = guest(&dir, "bin", &binary_wat());
    let out = edgeplay(&["request", wasm.to_str().unwrap(), "--json", "/"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["body_base64"], "//4AAQ==");
    assert!(v.get("body").is_none());
}

#[test]
fn request_on_a_trapping_guest_reports_the_error() {
    let dir = temp_dir("trapjson");
    let wasm = guest(&dir, "trap", TRAP_WAT);
    let out = edgeplay(&["request", wasm.to_str().unwrap(), "--json", "/"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], 500);
    let err = v["error"].as_str().expect("an error message");
    assert!(err.contains("unreachable"), "{err}");
    assert!(v["body"].as_str().unwrap().contains("unreachable"));
}

// ---------------------------------------------------------------- run

#[test]
fn run_passes_the_exit_code_through() {
    let dir = temp_dir("run");
    let ret = guest(&dir, "ret", RETURN_WAT);
    assert_eq!(
        edgeplay(&["run", ret.to_str().unwrap()]).status.code(),
        Some(0)
    );
    let four = guest(&dir, "four", &exit_wat(4));
    let out = edgeplay(&["run", four.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        out.stderr.is_empty(),
        "proc_exit is silent: {}",
        text(&out.stderr)
    );
    let zero = guest(&dir, "zero", &exit_wat(0));
    assert_eq!(
        edgeplay(&["run", zero.to_str().unwrap()]).status.code(),
        Some(0)
    );
}

#[test]
fn run_reports_a_trap_like_viceroy() {
    let dir = temp_dir("runtrap");
    let wasm = guest(&dir, "trap", TRAP_WAT);
    let out = edgeplay(&["run", wasm.to_str().unwrap()]);
    // 128 + SIGABRT, as Viceroy (wasmtime) exits on a trap.
    assert_eq!(out.status.code(), Some(134));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("ERROR") && stderr.contains("unreachable"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn run_prints_guest_output_as_viceroy_does() {
    let dir = temp_dir("runout");
    let wasm = guest(&dir, "hello", &hello_wat());
    let out = edgeplay(&["run", wasm.to_str().unwrap(), "--", "--some-arg"]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "out line\nmylog :: hello log\n");
    assert_eq!(text(&out.stderr), "err line\n");

    let out = edgeplay(&[
        "run",
        "--log-stdout",
        "--log-stderr",
        wasm.to_str().unwrap(),
    ]);
    assert_eq!(
        text(&out.stdout),
        "stdout :: out line\nstderr :: err line\nmylog :: hello log\n"
    );
    assert!(out.stderr.is_empty());
}

#[test]
fn viceroy_flags_are_accepted_with_a_warning() {
    let dir = temp_dir("compat");
    let wasm = guest(&dir, "ret", RETURN_WAT);
    let out = edgeplay(&["run", "--adapt", "--wasm-gc", wasm.to_str().unwrap()]);
    assert!(out.status.success(), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("WARN") && stdout.contains("ignoring `--adapt`"),
        "{stdout}"
    );
    assert!(
        stdout.contains("ignoring `--wasm-exceptions/--wasm-gc/--wasm-cm-gc`"),
        "{stdout}"
    );
}

/// A guest that calls an import outside the Compute ABI (`env::mystery`, two
/// results) and exits with 7 + its first result.
const MYSTERY_WAT: &str = r#"(module
  (import "env" "mystery" (func $m (param i32) (result i32 i64)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (call $m (i32.const 5))
    (drop)
    (i32.add (i32.const 7))
    (call $exit)))"#;

#[test]
fn unknown_import_behavior_is_honoured_as_viceroy_does() {
    let dir = temp_dir("unknown");
    let wasm = guest(&dir, "mystery", MYSTERY_WAT);
    let wasm = wasm.to_str().unwrap();
    // edgeplay's default, and `trap`: it loads, and calling the import traps, named.
    for args in [
        vec!["run", wasm],
        vec!["run", "--unknown-import-behavior", "trap", wasm],
    ] {
        let out = edgeplay(&args);
        assert_eq!(out.status.code(), Some(134), "{args:?}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(
                "the guest called `env::mystery`, which is not part of the Fastly Compute ABI"
            ),
            "{stderr}"
        );
    }
    // `link-error` (Viceroy's default): the guest does not load, and says why.
    let out = edgeplay(&["run", "--unknown-import-behavior=link-error", wasm]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("`env::mystery` is not part of the Fastly Compute ABI and --unknown-import-behavior is link-error"),
        "{stderr}"
    );
    // `zero-or-null`: the import answers zeros, so the guest exits with 7 + 0.
    let out = edgeplay(&["run", "--unknown-import-behavior=zero-or-null", wasm]);
    assert_eq!(out.status.code(), Some(7), "{}", text(&out.stderr));
    // `request` and `serve` take it too; a bad value is refused by name.
    let out = edgeplay(&["request", "--unknown-import-behavior=link-error", wasm]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("link-error"));
    let out = edgeplay(&["serve", "--unknown-import-behavior=bogus", wasm]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("expected link-error, trap or zero-or-null"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn text_format_guests_run() {
    let dir = temp_dir("wat");
    let p = dir.join("app.wat");
    std::fs::write(&p, exit_wat(3)).unwrap();
    assert_eq!(
        edgeplay(&["run", p.to_str().unwrap()]).status.code(),
        Some(3)
    );
}

// ---------------------------------------------------------------- bad input

fn assert_one_line_error(out: &Output, needle: &str) {
    assert_eq!(out.status.code(), Some(1), "stderr: {}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one error line: {stderr}");
    assert!(lines[0].contains("ERROR"), "{stderr}");
    assert!(lines[0].contains(needle), "expected {needle:?} in {stderr}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"));
}

#[test]
fn bad_inputs_give_one_clear_error() {
    let dir = temp_dir("bad");
    let missing = dir.join("missing.wasm");
    for cmd in ["run", "serve", "request"] {
        let out = edgeplay(&[cmd, missing.to_str().unwrap()]);
        assert_one_line_error(&out, "no such file or directory");
    }

    let not_wasm = dir.join("notes.txt");
    std::fs::write(&not_wasm, "hello, I am text").unwrap();
    assert_one_line_error(
        &edgeplay(&["run", not_wasm.to_str().unwrap()]),
        "not a WebAssembly module",
    );

    let bad_wat = dir.join("bad.wat");
    std::fs::write(&bad_wat, "(module (func (export \"_start\") (call $nope)))").unwrap();
    assert_one_line_error(
        &edgeplay(&["run", bad_wat.to_str().unwrap()]),
        "WebAssembly text",
    );

    let component = dir.join("component.wasm");
    std::fs::write(&component, b"\0asm\x0d\0\x01\0").unwrap();
    assert_one_line_error(
        &edgeplay(&["serve", component.to_str().unwrap()]),
        "component",
    );

    let wasm = guest(&dir, "ret", RETURN_WAT);
    let missing_toml = dir.join("nope.toml");
    assert_one_line_error(
        &edgeplay(&[
            "run",
            "-C",
            missing_toml.to_str().unwrap(),
            wasm.to_str().unwrap(),
        ]),
        "nope.toml",
    );
}

#[test]
fn a_bad_fastly_toml_is_one_clear_error() {
    let dir = temp_dir("badtoml");
    let wasm = guest(&dir, "ret", RETURN_WAT);
    let toml = dir.join("fastly.toml");
    std::fs::write(&toml, "[local_server\nthis is not toml").unwrap();
    assert_one_line_error(
        &edgeplay(&["run", "-C", toml.to_str().unwrap(), wasm.to_str().unwrap()]),
        "fastly.toml",
    );
}

// ---------------------------------------------------------------- coverage

#[test]
fn coverage_prints_a_markdown_table() {
    let out = edgeplay(&["coverage", "--markdown"]);
    assert!(out.status.success());
    let md = text(&out.stdout);
    let lines: Vec<&str> = md.lines().collect();
    assert!(
        lines[0].starts_with("| ABI group | emulated | unsupported"),
        "{md}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("| `http_req` | ")),
        "{md}"
    );
    assert!(
        lines
            .last()
            .unwrap()
            .starts_with("| **all 400 imports** | "),
        "{md}"
    );
}

// ---------------------------------------------------------------- serve

fn start_server(wasm: &Path, extra: &[&str]) -> Server {
    let mut cmd = Command::new(EDGEPLAY);
    cmd.arg("serve")
        .args(["--addr", "127.0.0.1:0"])
        .args(extra)
        .arg(wasm);
    let server = common::spawn_server(cmd);
    assert!(
        server.listening.contains(" INFO "),
        "a levelled tracing line: {}",
        server.listening
    );
    server
}

/// Send a request; returns the raw response (head and body) as the client read it,
/// and whether the connection ended cleanly.
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (String, bool) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: test.example\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut buf = Vec::new();
    let ok = s.read_to_end(&mut buf).is_ok();
    (text(&buf), ok)
}

#[test]
fn serve_answers_concurrent_requests() {
    let dir = temp_dir("serve");
    let wasm = guest(&dir, "hello", &hello_wat());
    let server = start_server(&wasm, &[]);
    let addr = server.addr;
    assert!(addr.ip().is_loopback() && addr.port() != 0);
    let handles: Vec<_> = (0..8)
        .map(|i| std::thread::spawn(move || http(addr, "POST", "/", &format!("n{i}"))))
        .collect();
    for (i, h) in handles.into_iter().enumerate() {
        let (resp, ok) = h.join().unwrap();
        assert!(ok);
        assert!(resp.starts_with("HTTP/1.1 201 Created\r\n"), "{resp}");
        assert!(resp.contains("\r\nx-edgeplay: yes\r\n"), "{resp}");
        assert!(
            resp.to_lowercase().contains("\r\ndate: "),
            "hyper adds date: {resp}"
        );
        assert!(resp.contains("\r\ncontent-length: "), "{resp}");
        assert!(resp.ends_with(&format!("\r\n\r\nhello n{i}")), "{resp}");
    }
    // Guest output is printed as Viceroy prints it.
    let mut seen = Vec::new();
    while seen
        .iter()
        .filter(|l: &&String| l.as_str() == "mylog :: hello log")
        .count()
        < 8
    {
        seen.push(
            server
                .lines
                .recv_timeout(Duration::from_secs(30))
                .expect("log lines"),
        );
    }
    assert!(seen.iter().any(|l| l == "out line"));
}

#[test]
fn serve_survives_a_trapping_guest() {
    let dir = temp_dir("servetrap");
    let wasm = guest(&dir, "trap", TRAP_WAT);
    let server = start_server(&wasm, &[]);
    for _ in 0..3 {
        let (resp, _) = http(server.addr, "GET", "/", "");
        assert!(
            resp.starts_with("HTTP/1.1 500 Internal Server Error\r\n"),
            "{resp}"
        );
        assert!(resp.contains("unreachable"), "{resp}");
    }
}

#[test]
fn serve_streams_and_serves_others_meanwhile() {
    let dir = temp_dir("stream");
    let wasm = guest(&dir, "stream", &streaming_wat(3_000, false));
    let server = start_server(&wasm, &[]);
    // The first response's head and first chunk arrive while its guest sleeps.
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !text(&got).contains("first\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "connection closed early: {}", text(&got));
        got.extend_from_slice(&buf[..n]);
    }
    let head = text(&got);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert!(!head.contains("second"), "{head}");
    // Meanwhile another request gets its own response head.
    let mut s2 = TcpStream::connect(server.addr).unwrap();
    s2.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(s2, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let n = s2.read(&mut buf).unwrap();
    assert!(text(&buf[..n]).starts_with("HTTP/1.1 200 OK\r\n"));
    // The first body completes with a proper last chunk.
    s.read_to_end(&mut got).unwrap();
    let all = text(&got);
    assert!(all.contains("second\n"), "{all}");
    assert!(all.ends_with("0\r\n\r\n"), "{all:?}");
}

#[test]
fn serve_ends_an_abandoned_body_as_incomplete() {
    let dir = temp_dir("abandon");
    let wasm = guest(&dir, "abandon", &streaming_wat(10, true));
    let server = start_server(&wasm, &[]);
    let (resp, _) = http(server.addr, "GET", "/", "");
    assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
    assert!(resp.contains("second\n"), "{resp}");
    assert!(!resp.ends_with("0\r\n\r\n"), "no last chunk: {resp:?}");
}

/// Answers "meow" with a `content-length` of its own, framed as the first byte of the
/// request body picks: `0` automatic, whole, `content-length: 1`; `1` manual, streamed,
/// `4`; `2` manual, whole, `2`; `3` manual, whole, `9`; `4` automatic, streamed, `1`.
fn framing_wat() -> String {
    format!(
        r#"(module
  (import "fastly_http_resp" "framing_headers_mode_set" (func $framing (param i32 i32) (result i32)))
  {PRELUDE}
  (data (i32.const 64) "content-length")
  (data (i32.const 80) "1   4   2   9   1")
  (data (i32.const 112) "meow")
  (func (export "_start") (local $case i32)
    (drop (call $body_downstream_get (i32.const 20) (i32.const 24)))
    (drop (call $body_read (i32.load (i32.const 24)) (i32.const 1024) (i32.const 16) (i32.const 28)))
    (local.set $case (i32.sub (i32.load8_u (i32.const 1024)) (i32.const 48)))
    (call $start_response (i32.const 200))
    (if (i32.and (i32.ge_u (local.get $case) (i32.const 1)) (i32.le_u (local.get $case) (i32.const 3)))
      (then (drop (call $framing (i32.load (i32.const 0)) (i32.const 1)))))
    (drop (call $header_append (i32.load (i32.const 0)) (i32.const 64) (i32.const 14)
      (i32.add (i32.const 80) (i32.mul (local.get $case) (i32.const 4))) (i32.const 1)))
    (if (i32.or (i32.eq (local.get $case) (i32.const 1)) (i32.eq (local.get $case) (i32.const 4)))
      (then
        (drop (call $send_downstream (i32.load (i32.const 0)) (i32.load (i32.const 4)) (i32.const 1)))
        (call $write (i32.const 112) (i32.const 4))
        (drop (call $body_close (i32.load (i32.const 4)))))
      (else
        (call $write (i32.const 112) (i32.const 4))
        (drop (call $send_downstream (i32.load (i32.const 0)) (i32.load (i32.const 4)) (i32.const 0))))))
)"#
    )
}

#[test]
fn serve_frames_a_guest_content_length_as_the_platform_does() {
    let dir = temp_dir("framing");
    let wasm = guest(&dir, "framing", &framing_wat());
    let server = start_server(&wasm, &[]);
    let get = |case: &str| {
        let (resp, _) = http(server.addr, "POST", "/", case);
        let (head, body) = resp
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("case {case}: {resp:?}"));
        (head.to_lowercase() + "\r\n", body.to_string())
    };
    // Automatic framing: the guest's content-length: 1 is replaced by the real one.
    let (head, body) = get("0");
    assert!(head.contains("\r\ncontent-length: 4\r\n"), "{head}");
    assert!(!head.contains("content-length: 1\r\n"), "{head}");
    assert_eq!(body, "meow");
    // ... and a streamed body is chunked.
    let (head, body) = get("4");
    assert!(
        head.contains("\r\ntransfer-encoding: chunked\r\n"),
        "{head}"
    );
    assert!(!head.contains("content-length"), "{head}");
    assert_eq!(body, "4\r\nmeow\r\n0\r\n\r\n");
    // Manual framing: a streamed body goes out with the guest's content-length, not
    // chunked (the JS SDK's override-content-length fixture).
    let (head, body) = get("1");
    assert!(head.contains("\r\ncontent-length: 4\r\n"), "{head}");
    assert!(!head.contains("transfer-encoding"), "{head}");
    assert_eq!(body, "meow");
    // A longer body is cut at the content-length.
    let (head, body) = get("2");
    assert!(head.contains("\r\ncontent-length: 2\r\n"), "{head}");
    assert_eq!(body, "me");
    // A shorter one ends the connection early: the client has 4 of 9 bytes.
    let (head, body) = get("3");
    assert!(head.contains("\r\ncontent-length: 9\r\n"), "{head}");
    assert_eq!(body, "meow");
    // The server goes on serving.
    assert_eq!(get("0").1, "meow");
}

#[cfg(unix)]
#[test]
fn serve_stops_cleanly_on_ctrl_c() {
    let dir = temp_dir("sigint");
    let wasm = guest(&dir, "hello", &hello_wat());
    let mut server = start_server(&wasm, &[]);
    let (resp, _) = http(server.addr, "GET", "/", "");
    assert!(resp.starts_with("HTTP/1.1 201"), "{resp}");
    let pid = server.child.id().to_string();
    let killed = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(killed.success());
    let status = server.child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "Ctrl-C ends the server with success"
    );
}

// ---------------------------------------------------------------- explain

#[test]
fn explain_prints_an_imports_card() {
    let out = edgeplay(&["explain", "fastly_http_req::send_v2", "--status", "error"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let card = text(&out.stdout);
    assert!(card.starts_with("fastly_http_req::send_v2\n"), "{card}");
    assert!(
        card.contains("Sends a request and its body to a named backend"),
        "{card}"
    );
    assert!(card.contains("\nArguments:\n  req_handle "), "{card}");
    assert!(card.lines().any(|l| l.starts_with("> error ")), "{card}");
    assert!(
        card.lines().any(|l| l.starts_with("  limitexceeded ")),
        "{card}"
    );
    assert!(card.contains("fastly::Request::send"), "{card}");
    assert!(
        card.contains("32 backend requests per client request"),
        "{card}"
    );
}

#[test]
fn explain_finds_a_bare_name_legacy_names_and_answers_json() {
    let out = edgeplay(&["card", "body_downstream_get"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("fastly_http_req::body_downstream_get\n"));

    let out = edgeplay(&["explain", "env.xqd_req_uri_get"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("Legacy name of fastly_http_req::uri_get."));

    let out = edgeplay(&["explain", "--json", "wasi_snapshot_preview1::fd_write"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(v["module"], "wasi_snapshot_preview1");
    assert_eq!(v["name"], "fd_write");
    assert_eq!(v["statuses"][0][0], "success");
}

#[test]
fn explain_of_an_unknown_or_ambiguous_import_exits_2() {
    let out = edgeplay(&["explain", "fastly_http_req::no_such_call"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("no import \"fastly_http_req::no_such_call\""));
    let out = edgeplay(&["explain", "lookup"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("fastly_kv_store::lookup") && err.contains("fastly_geo::lookup"),
        "{err}"
    );
}

// ---------------------------------------------------------------- limits

/// Sleeps 5 s (a `poll_oneoff`), then answers 200.
fn slow_wat() -> String {
    module(
        r#"
  (func (export "_start")
    (call $sleep (i64.const 5000))
    (call $start_response (i32.const 200))
    (drop (call $send_downstream (i32.load (i32.const 0)) (i32.load (i32.const 4)) (i32.const 0))))
"#,
    )
}

#[test]
fn the_wall_clock_limit_stops_a_guest_with_a_clear_error() {
    let dir = temp_dir("wall");
    let wasm = guest(&dir, "slow", &slow_wat());
    let out = edgeplay(&["request", wasm.to_str().unwrap(), "--wall-limit-ms", "300"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("wall-clock limit"), "{err}");
    assert!(err.contains("the platform allows 120 s"), "{err}");
    assert!(
        text(&out.stdout).starts_with("HTTP/1.1 500"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn limits_shows_what_a_run_used_of_each_production_limit() {
    let dir = temp_dir("gauges");
    let wasm = guest(&dir, "hello", &hello_wat());
    let out = edgeplay(&["request", wasm.to_str().unwrap(), "--limits"]);
    assert!(out.status.success());
    let err = text(&out.stderr);
    for name in [
        "cpu (estimated)",
        "heap",
        "backend requests",
        "dictionary lookups",
        "wall time",
        "package size",
    ] {
        assert!(err.contains(name), "{name}: {err}");
    }
    assert!(err.contains("of 50 ms"), "{err}");
    assert!(!err.contains("OVER"), "{err}");
    let out = edgeplay(&["request", wasm.to_str().unwrap(), "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let gauges = v["limits"].as_array().unwrap();
    assert_eq!(gauges.len(), 6);
    assert_eq!(gauges[1]["name"], "heap");
    assert_eq!(gauges[1]["used"], 0.065536); // one 64 KiB page, in MB
    assert_eq!(gauges[1]["limit"], 134.217728);
}

#[test]
fn production_limits_stop_a_runaway_guest_at_the_platforms_cpu_limit() {
    let dir = temp_dir("runaway");
    let wasm = guest(
        &dir,
        "spin",
        r#"(module (memory (export "memory") 1) (func (export "_start") (loop $l (br $l))))"#,
    );
    let out = edgeplay(&["request", wasm.to_str().unwrap(), "--production-limits"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("CPU limit") && err.contains("50 ms"), "{err}");
}

/// Answers "alive" to a request without a body; with one, runs `on_body` (which must
/// not return).
fn alive_unless_body_wat(on_body: &str) -> String {
    module(&format!(
        r#"
  (data (i32.const 160) "alive")
  (func (export "_start")
    (drop (call $body_downstream_get (i32.const 20) (i32.const 24)))
    (drop (call $body_read (i32.load (i32.const 24)) (i32.const 1024) (i32.const 4096) (i32.const 28)))
    (if (i32.load (i32.const 28)) (then {on_body}))
    (call $start_response (i32.const 200))
    (call $write (i32.const 160) (i32.const 5))
    (drop (call $send_downstream (i32.load (i32.const 0)) (i32.load (i32.const 4)) (i32.const 0))))
"#
    ))
}

/// With a body: grows its memory until the heap limit refuses, then traps.
fn hog_wat() -> String {
    alive_unless_body_wat(
        "(loop $grow (br_if $grow (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) unreachable",
    )
}

#[test]
fn serve_keeps_answering_while_guests_try_to_exhaust_memory() {
    let dir = temp_dir("hog");
    let wasm = guest(&dir, "hog", &hog_wat());
    let server = start_server(&wasm, &[]);
    let addr = server.addr;
    let hogs: Vec<_> = (0..3)
        .map(|_| std::thread::spawn(move || http(addr, "POST", "/", "more")))
        .collect();
    let (alive, ok) = http(addr, "GET", "/", "");
    assert!(
        ok && alive.starts_with("HTTP/1.1 200") && alive.ends_with("alive"),
        "{alive}"
    );
    for h in hogs {
        let (resp, _) = h.join().unwrap();
        assert!(resp.starts_with("HTTP/1.1 500"), "{resp}");
        assert!(resp.contains("unreachable"), "{resp}");
    }
    let (alive, _) = http(addr, "GET", "/", "");
    assert!(alive.ends_with("alive"), "{alive}");
}

#[test]
fn serve_refuses_a_request_body_past_its_buffer_with_413() {
    let dir = temp_dir("big-body");
    let wasm = guest(&dir, "hello", &hello_wat());
    let server = start_server(&wasm, &[]);
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let len: usize = (256 << 20) + 1;
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: test.example\r\nConnection: close\r\nContent-Length: {len}\r\n\r\n"
    )
    .unwrap();
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let chunk = vec![b'x'; 1 << 20];
        let mut left = len;
        while left > 0 {
            let n = left.min(chunk.len());
            if w.write_all(&chunk[..n]).is_err() {
                break; // the server answered and closed
            }
            left -= n;
        }
    });
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let resp = text(&buf);
    assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");
    assert!(resp.contains("at most 256 MiB"), "{resp}");
    let _ = writer.join();
}

/// Traps when the request has a body; answers "alive" otherwise.
fn trap_on_body_wat() -> String {
    alive_unless_body_wat("unreachable")
}

#[test]
fn serve_under_concurrent_load_with_a_guest_trapping_on_every_third_request() {
    let dir = temp_dir("third");
    let wasm = guest(&dir, "third", &trap_on_body_wat());
    let server = start_server(&wasm, &[]);
    let addr = server.addr;
    let workers: Vec<_> = (0..6)
        .map(|w| {
            std::thread::spawn(move || {
                (0..10)
                    .map(|i| {
                        let n = w * 10 + i;
                        let body = if n % 3 == 2 { "trap" } else { "" };
                        let (resp, ok) = http(addr, "POST", "/", body);
                        (n, resp, ok)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut counts = (0, 0);
    for w in workers {
        for (n, resp, ok) in w.join().unwrap() {
            assert!(ok, "request {n} ended cleanly");
            if n % 3 == 2 {
                assert!(resp.starts_with("HTTP/1.1 500"), "{n}: {resp}");
                counts.1 += 1;
            } else {
                assert!(
                    resp.starts_with("HTTP/1.1 200") && resp.ends_with("alive"),
                    "{n}: {resp}"
                );
                counts.0 += 1;
            }
        }
    }
    assert_eq!(counts, (40, 20));
}

#[test]
fn the_memory_pool_refuses_a_hog_past_it_and_serve_goes_on() {
    let dir = temp_dir("pool");
    let wasm = guest(&dir, "hog", &hog_wat());
    // 64 MiB for all requests at once: a hog is refused long before its own 128 MiB.
    let server = start_server(&wasm, &["--memory-limit-mb", "64", "-v"]);
    let (resp, _) = http(server.addr, "POST", "/", "more");
    assert!(resp.starts_with("HTTP/1.1 500"), "{resp}");
    // What it held is given back: the next requests get their memory.
    for _ in 0..3 {
        let (alive, _) = http(server.addr, "GET", "/", "");
        assert!(alive.ends_with("alive"), "{alive}");
    }
    let (resp, _) = http(server.addr, "POST", "/", "more");
    assert!(resp.starts_with("HTTP/1.1 500"), "{resp}");
    let log: Vec<String> = server.lines.try_iter().collect();
    assert!(
        log.iter().any(|l| l.contains(
            "the pool of guest heap all executions share (64 MiB, --memory-limit-mb) was used up"
        )),
        "{log:?}"
    );
}
