//! `wasi_snapshot_preview1` as a guest sees it: stdio, environment, arguments, clocks,
//! sleeping through `poll_oneoff`, `proc_exit`, the descriptors that do not exist, and
//! hostile pointers.

mod common;

use common::{assert_returned, expect, run_sdk, run_wat, start, summaries, Run, PRINT};
use edgeplay_host::{
    DownstreamRequest, ExecOptions, Exit, Poll, ServiceConfig, WorkKind, WorkResult,
};

/// Every WASI import, with the signatures of `wasi.tsv` ([`PRINT`] follows them).
const IMPORTS: &str = r#"
  (import "wasi_snapshot_preview1" "args_get" (func $args_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_res_get" (func $clock_res_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock_time_get (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_fdstat_get" (func $fd_fdstat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_fdstat_set_flags" (func $fd_fdstat_set_flags (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $fd_prestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name" (func $fd_prestat_dir_name (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_readdir" (func $fd_readdir (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_seek" (func $fd_seek (param i32 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_filestat_get" (func $path_filestat_get (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_remove_directory" (func $path_remove_directory (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_unlink_file" (func $path_unlink_file (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
"#;

/// A guest whose `_start` runs `body`, with `data` segments.
fn guest(data: &str, body: &str) -> String {
    format!("(module {IMPORTS} {PRINT} {data} (func (export \"_start\") {body}))")
}

fn run(data: &str, body: &str) -> Run {
    run_wat(&guest(data, body), DownstreamRequest::new("GET", "/"))
}

#[test]
fn fd_write_reaches_stdout_and_stderr() {
    let r = run(
        r#"(data (i32.const 100) "hello stdout\n") (data (i32.const 200) "oops on stderr\n")"#,
        &[
            "(i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 13))",
            &expect(
                "(call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))",
                0,
            ),
            &expect("(i32.load (i32.const 8))", 13),
            "(i32.store (i32.const 0) (i32.const 200)) (i32.store (i32.const 4) (i32.const 15))",
            &expect(
                "(call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8))",
                0,
            ),
            // An empty first iovec is skipped; only the first non-empty one is written.
            "(i32.store (i32.const 16) (i32.const 100)) (i32.store (i32.const 20) (i32.const 0))",
            "(i32.store (i32.const 24) (i32.const 100)) (i32.store (i32.const 28) (i32.const 5))",
            "(i32.store (i32.const 32) (i32.const 200)) (i32.store (i32.const 36) (i32.const 4))",
            &expect(
                "(call $fd_write (i32.const 1) (i32.const 16) (i32.const 3) (i32.const 8))",
                0,
            ),
            &expect("(i32.load (i32.const 8))", 5),
        ]
        .concat(),
    );
    assert_returned(&r);
    assert_eq!(r.stdout(), "hello stdout\nhello");
    assert_eq!(r.stderr(), "oops on stderr\n");
    let first = r.calls("wasi_snapshot_preview1::fd_write")[0];
    assert_eq!(first.status.as_deref(), Some("success"));
    assert_eq!(
        first.arg("text"),
        Some(&edgeplay_host::trace::ArgValue::Str(
            "hello stdout\n".into()
        ))
    );
}

#[test]
fn environ_and_args_are_viceroys() {
    let r = run(
        "",
        &[
            &expect("(call $environ_sizes_get (i32.const 16) (i32.const 20))", 0),
            &expect("(call $environ_get (i32.const 1024) (i32.const 4096))", 0),
            // The first pointer points at the start of the buffer.
            &expect("(i32.load (i32.const 1024))", 4096),
            "(call $print (i32.const 4096) (i32.load (i32.const 20)))",
            &expect("(call $args_sizes_get (i32.const 16) (i32.const 20))", 0),
            &expect("(i32.load (i32.const 16))", 1),
            &expect("(i32.load (i32.const 20))", 12),
            &expect("(call $args_get (i32.const 1024) (i32.const 8192))", 0),
            &expect("(i32.load (i32.const 1024))", 8192),
            "(call $print (i32.const 8192) (i32.load (i32.const 20)))",
        ]
        .concat(),
    );
    assert_returned(&r);
    let env: String = edgeplay_host::exec::default_env(&"0".repeat(32))
        .iter()
        .map(|(k, v)| format!("{k}={v}\0"))
        .collect();
    assert!(env.contains("FASTLY_HOSTNAME=localhost\0"));
    assert!(env.contains("FASTLY_POP=XXX\0"));
    assert!(env.contains("FASTLY_REGION=Somewhere\0"));
    assert!(env.contains("FASTLY_TRACE_ID=00000000000000000000000000000000\0"));
    assert_eq!(r.stdout(), format!("{env}compute-app\0"));
    // Viceroy's order, and its request id format (the request counter as 32 hex digits).
    assert!(r.stdout().starts_with(
        "FASTLY_CACHE_GENERATION=0\0FASTLY_CUSTOMER_ID=0000000000000000000000\0FASTLY_POP=XXX\0"
    ));
    assert_eq!(
        edgeplay_host::exec::viceroy_request_id(0),
        "00000000000000000000000000000000"
    );
    assert_eq!(
        edgeplay_host::exec::viceroy_request_id(26),
        "0000000000000000000000000000001a"
    );
}

#[test]
fn clocks_are_monotonic_and_cpu_clocks_are_badf() {
    let r = run(
        "",
        &[
            &expect("(call $clock_time_get (i32.const 1) (i64.const 0) (i32.const 32))", 0),
            &expect("(call $clock_time_get (i32.const 1) (i64.const 0) (i32.const 40))", 0),
            "(if (i64.le_u (i64.load (i32.const 40)) (i64.load (i32.const 32))) (then unreachable))",
            &expect("(call $clock_time_get (i32.const 0) (i64.const 0) (i32.const 48))", 0),
            // After 2023.
            "(if (i64.lt_u (i64.load (i32.const 48)) (i64.const 1700000000000000000)) (then unreachable))",
            &expect("(call $clock_time_get (i32.const 2) (i64.const 0) (i32.const 56))", 8),
            &expect("(call $clock_time_get (i32.const 3) (i64.const 0) (i32.const 56))", 8),
            &expect("(call $clock_time_get (i32.const 9) (i64.const 0) (i32.const 56))", 28),
            &expect("(call $clock_res_get (i32.const 1) (i32.const 64))", 0),
            "(if (i64.ne (i64.load (i32.const 64)) (i64.const 1000)) (then unreachable))",
            &expect("(call $clock_res_get (i32.const 0) (i32.const 64))", 0),
            &expect("(call $clock_res_get (i32.const 2) (i32.const 64))", 8),
            // random_get fills the buffer; two draws differ.
            &expect("(call $random_get (i32.const 200) (i32.const 16))", 0),
            &expect("(call $random_get (i32.const 216) (i32.const 16))", 0),
            "(if (i64.eq (i64.load (i32.const 200)) (i64.load (i32.const 216))) (then unreachable))",
        ]
        .concat(),
    );
    assert_returned(&r);
    let t = r.calls("wasi_snapshot_preview1::clock_time_get");
    assert_eq!(t[2].status.as_deref(), Some("success"));
    assert_eq!(t[3].status.as_deref(), Some("badf"));
}

/// Run a guest to the end, completing sleeps at once, and return the work it asked for.
fn run_collecting_work(wat: &str) -> (Run, Vec<WorkKind>) {
    let wasm = wat::parse_str(wat).expect("valid WAT");
    let mut exec = start(
        &common::engine(),
        &wasm,
        ServiceConfig::default(),
        DownstreamRequest::new("GET", "/"),
        ExecOptions::default(),
    );
    let mut collected = edgeplay_host::Collected::default();
    let mut seen = Vec::new();
    let outcome = loop {
        let p = exec.run();
        collected.absorb(exec.take_outputs());
        match p {
            Poll::Done(o) => break o,
            Poll::Yielded | Poll::Paused => {}
            Poll::Blocked => {
                let work = exec.take_work();
                assert!(!work.is_empty(), "blocked with no work");
                for w in work {
                    seen.push(w.kind.clone());
                    exec.complete(w.id, WorkResult::Slept);
                }
            }
        }
    };
    (Run::finish(&mut exec, collected, outcome, Vec::new()), seen)
}

/// WAT storing a clock subscription at `at`.
fn clock_sub(at: u32, userdata: u64, clock: u32, timeout: &str, flags: u32) -> String {
    format!(
        "(i64.store (i32.const {at}) (i64.const {userdata}))
         (i32.store8 (i32.const {}) (i32.const 0))
         (i32.store (i32.const {}) (i32.const {clock}))
         (i64.store (i32.const {}) {timeout})
         (i64.store (i32.const {}) (i64.const 0))
         (i32.store16 (i32.const {}) (i32.const {flags}))",
        at + 8,
        at + 16,
        at + 24,
        at + 32,
        at + 40
    )
}

/// WAT storing an fd subscription (`tag` 1 = read, 2 = write) at `at`.
fn fd_sub(at: u32, userdata: u64, tag: u32, fd: u32) -> String {
    format!(
        "(i64.store (i32.const {at}) (i64.const {userdata}))
         (i32.store8 (i32.const {}) (i32.const {tag}))
         (i32.store (i32.const {}) (i32.const {fd}))",
        at + 8,
        at + 16
    )
}

#[test]
fn poll_oneoff_sleeps_until_the_earliest_clock() {
    let body = [
        clock_sub(256, 7, 1, "(i64.const 50000000)", 0),
        clock_sub(304, 8, 0, "(i64.const 80000000)", 0),
        expect(
            "(call $poll_oneoff (i32.const 256) (i32.const 512) (i32.const 2) (i32.const 600))",
            0,
        ),
        expect("(i32.load (i32.const 600))", 1),
        "(if (i64.ne (i64.load (i32.const 512)) (i64.const 7)) (then unreachable))".into(),
        expect("(i32.load16_u (i32.const 520))", 0),
        expect("(i32.load8_u (i32.const 522))", 0),
    ]
    .concat();
    let (r, work) = run_collecting_work(&guest("", &body));
    assert_returned(&r);
    assert_eq!(work, vec![WorkKind::Sleep { ns: 50_000_000 }]);
    assert_eq!(
        r.status_of("wasi_snapshot_preview1::poll_oneoff")
            .as_deref(),
        Some("success")
    );
}

#[test]
fn poll_oneoff_absolute_deadline_sleeps_the_difference() {
    let body = [
        expect(
            "(call $clock_time_get (i32.const 1) (i64.const 0) (i32.const 32))",
            0,
        ),
        clock_sub(
            256,
            1,
            1,
            "(i64.add (i64.load (i32.const 32)) (i64.const 10000000))",
            1,
        ),
        expect(
            "(call $poll_oneoff (i32.const 256) (i32.const 512) (i32.const 1) (i32.const 600))",
            0,
        ),
        expect("(i32.load (i32.const 600))", 1),
    ]
    .concat();
    let (r, work) = run_collecting_work(&guest("", &body));
    assert_returned(&r);
    match work.as_slice() {
        [WorkKind::Sleep { ns }] => assert!(*ns > 9_000_000 && *ns <= 10_000_000, "{ns}"),
        other => panic!("expected one sleep, got {other:?}"),
    }
}

#[test]
fn poll_oneoff_returns_at_once_when_something_is_ready() {
    let body = [
        // A zero timeout is due at once.
        clock_sub(256, 3, 1, "(i64.const 0)", 0),
        expect(
            "(call $poll_oneoff (i32.const 256) (i32.const 512) (i32.const 1) (i32.const 600))",
            0,
        ),
        expect("(i32.load (i32.const 600))", 1),
        // stdout is always writable; the 1 s clock is not reported.
        clock_sub(256, 4, 1, "(i64.const 1000000000)", 0),
        fd_sub(304, 9, 2, 1),
        expect(
            "(call $poll_oneoff (i32.const 256) (i32.const 512) (i32.const 2) (i32.const 600))",
            0,
        ),
        expect("(i32.load (i32.const 600))", 1),
        "(if (i64.ne (i64.load (i32.const 512)) (i64.const 9)) (then unreachable))".into(),
        expect("(i32.load8_u (i32.const 522))", 2),
        // stdin can be read (at end of file).
        fd_sub(256, 5, 1, 0),
        expect(
            "(call $poll_oneoff (i32.const 256) (i32.const 512) (i32.const 1) (i32.const 600))",
            0,
        ),
        expect("(i32.load8_u (i32.const 522))", 1),
        // Invalid requests.
        expect(
            "(call $poll_oneoff (i32.const 256) (i32.const 512) (i32.const 0) (i32.const 600))",
            28,
        ),
        fd_sub(256, 5, 1, 1),
        expect(
            "(call $poll_oneoff (i32.const 256) (i32.const 512) (i32.const 1) (i32.const 600))",
            8,
        ),
        clock_sub(256, 4, 2, "(i64.const 10)", 0),
        expect(
            "(call $poll_oneoff (i32.const 256) (i32.const 512) (i32.const 1) (i32.const 600))",
            28,
        ),
        fd_sub(256, 5, 7, 1),
        expect(
            "(call $poll_oneoff (i32.const 256) (i32.const 512) (i32.const 1) (i32.const 600))",
            28,
        ),
    ]
    .concat();
    let (r, work) = run_collecting_work(&guest("", &body));
    assert_returned(&r);
    assert!(work.is_empty(), "nothing should have slept: {work:?}");
}

#[test]
fn proc_exit_ends_the_guest_with_its_code() {
    let r = run(
        r#"(data (i32.const 100) "before exit\n")"#,
        "(call $print (i32.const 100) (i32.const 12)) (call $proc_exit (i32.const 3)) unreachable",
    );
    assert_eq!(r.outcome.exit, Exit::Exit(3));
    assert_eq!(r.stdout(), "before exit\n");

    let r = run("", "(call $proc_exit (i32.const 0)) unreachable");
    assert_eq!(r.outcome.exit, Exit::Exit(0));
    assert!(r.outcome.exit.is_success());

    let r = run("", "(call $proc_exit (i32.const 126)) unreachable");
    match &r.outcome.exit {
        Exit::Trap { message, .. } => assert!(message.contains("exit status"), "{message}"),
        other => panic!("expected a trap, got {other:?}"),
    }
}

#[test]
fn descriptors_that_do_not_exist_answer_like_wasmtime() {
    let r = run(
        r#"(data (i32.const 100) "file.txt")"#,
        &[
            // stdin is at end of file.
            "(i32.store (i32.const 16) (i32.const 300)) (i32.store (i32.const 20) (i32.const 10))",
            &expect("(call $fd_read (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 24))", 0),
            &expect("(i32.load (i32.const 24))", 0),
            &expect("(call $fd_read (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24))", 8),
            &expect("(call $fd_write (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 24))", 8),
            &expect("(call $fd_write (i32.const 7) (i32.const 16) (i32.const 1) (i32.const 24))", 8),
            // stdio are character devices.
            &expect("(call $fd_fdstat_get (i32.const 1) (i32.const 64))", 0),
            &expect("(i32.load8_u (i32.const 64))", 2),
            "(if (i64.ne (i64.load (i32.const 72)) (i64.const 64)) (then unreachable))",
            &expect("(call $fd_fdstat_get (i32.const 0) (i32.const 64))", 0),
            "(if (i64.ne (i64.load (i32.const 72)) (i64.const 2)) (then unreachable))",
            &expect("(call $fd_fdstat_get (i32.const 5) (i32.const 64))", 8),
            &expect("(call $fd_fdstat_set_flags (i32.const 1) (i32.const 0))", 8),
            // No preopened directories.
            &expect("(call $fd_prestat_get (i32.const 3) (i32.const 64))", 8),
            &expect("(call $fd_prestat_dir_name (i32.const 3) (i32.const 64) (i32.const 8))", 8),
            &expect("(call $fd_readdir (i32.const 3) (i32.const 64) (i32.const 64) (i64.const 0) (i32.const 24))", 8),
            &expect("(call $path_open (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 8) (i32.const 0) (i64.const 0) (i64.const 0) (i32.const 0) (i32.const 24))", 8),
            &expect("(call $path_filestat_get (i32.const 3) (i32.const 0) (i32.const 100) (i32.const 8) (i32.const 64))", 8),
            &expect("(call $path_unlink_file (i32.const 3) (i32.const 100) (i32.const 8))", 8),
            &expect("(call $path_remove_directory (i32.const 3) (i32.const 100) (i32.const 8))", 8),
            // Streams cannot seek.
            &expect("(call $fd_seek (i32.const 1) (i64.const 0) (i32.const 0) (i32.const 24))", 70),
            &expect("(call $fd_seek (i32.const 9) (i64.const 0) (i32.const 0) (i32.const 24))", 8),
            &expect("(call $fd_close (i32.const 9))", 8),
            &expect("(call $fd_close (i32.const 1))", 0),
        ]
        .concat(),
    );
    assert_returned(&r);
    let open = r.calls("wasi_snapshot_preview1::path_open")[0];
    assert_eq!(
        open.arg("path"),
        Some(&edgeplay_host::trace::ArgValue::Str("file.txt".into()))
    );
    assert_eq!(open.status.as_deref(), Some("badf"));
}

#[test]
fn out_of_bounds_pointers_give_efault_and_never_panic() {
    let r = run(
        "",
        &[
            // The iovec array itself is outside memory.
            &expect("(call $fd_write (i32.const 1) (i32.const 0xFFFFFFF0) (i32.const 1) (i32.const 8))", 21),
            &expect("(call $fd_write (i32.const 1) (i32.const 0) (i32.const 0x7FFFFFFF) (i32.const 8))", 21),
            // An iovec points outside memory.
            "(i32.store (i32.const 0) (i32.const 65530)) (i32.store (i32.const 4) (i32.const 100))",
            &expect("(call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))", 21),
            // nwritten outside memory: nothing is written out.
            "(i32.store (i32.const 0) (i32.const 100)) (i32.store (i32.const 4) (i32.const 4))",
            &expect("(call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 65535))", 21),
            &expect("(call $fd_read (i32.const 0) (i32.const 0xFFFFFFFF) (i32.const 2) (i32.const 8))", 21),
            &expect("(call $environ_get (i32.const 65534) (i32.const 65000))", 21),
            &expect("(call $environ_get (i32.const 0) (i32.const 65530))", 21),
            &expect("(call $args_get (i32.const 0xFFFFFFFF) (i32.const 0))", 21),
            &expect("(call $environ_sizes_get (i32.const 65534) (i32.const 0))", 21),
            &expect("(call $random_get (i32.const 65000) (i32.const 0xFFFFFFFF))", 21),
            &expect("(call $clock_time_get (i32.const 1) (i64.const 0) (i32.const 65535))", 21),
            &expect("(call $clock_res_get (i32.const 1) (i32.const 0xFFFFFFFF))", 21),
            &expect("(call $fd_fdstat_get (i32.const 1) (i32.const 65530))", 21),
            &expect("(call $poll_oneoff (i32.const 65500) (i32.const 0) (i32.const 10) (i32.const 0))", 21),
            &expect("(call $poll_oneoff (i32.const 0) (i32.const 0) (i32.const 0x7FFFFFFF) (i32.const 0))", 21),
            // Events written outside memory.
            "(i64.store (i32.const 256) (i64.const 0)) (i32.store8 (i32.const 264) (i32.const 2)) (i32.store (i32.const 272) (i32.const 1))",
            &expect("(call $poll_oneoff (i32.const 256) (i32.const 65530) (i32.const 1) (i32.const 600))", 21),
        ]
        .concat(),
    );
    assert_returned(&r);
    assert_eq!(r.stdout(), "", "no output may escape a faulting call");
    let fault = r.calls("wasi_snapshot_preview1::fd_write")[0];
    assert_eq!(fault.status.as_deref(), Some("fault"));
    assert!(fault
        .note
        .as_deref()
        .unwrap_or("")
        .contains("outside guest memory"));
}

#[test]
fn sdk_env_guest_sees_viceroys_environment() {
    let r = run_sdk("env", DownstreamRequest::new("GET", "/"));
    let body = r.body_text();
    for line in [
        "FASTLY_CACHE_GENERATION=0",
        "FASTLY_CUSTOMER_ID=0000000000000000000000",
        "FASTLY_POP=XXX",
        "FASTLY_REGION=Somewhere",
        "FASTLY_SERVICE_ID=0000000000000000000000",
        "FASTLY_SERVICE_VERSION=0",
        "FASTLY_HOSTNAME=localhost",
        "FASTLY_IS_STAGING=0",
        "FASTLY_TRACE_ID=00000000000000000000000000000000",
        "args=[\"compute-app\"]",
    ] {
        assert!(
            body.contains(line),
            "missing {line:?} in:\n{body}\ntrace:\n{}",
            summaries(&r)
        );
    }
}

#[test]
fn sdk_sleep_guest_sleeps_through_poll_oneoff() {
    let r = run_sdk("sleep", DownstreamRequest::new("GET", "/?ms=20"));
    assert!(r.outcome.exit.is_success(), "trace:\n{}", summaries(&r));
    assert_eq!(
        r.status_of("wasi_snapshot_preview1::poll_oneoff")
            .as_deref(),
        Some("success"),
        "trace:\n{}",
        summaries(&r)
    );
    assert!(r.body_text().starts_with("slept "), "{}", r.body_text());
}

/// The 24 preview1 functions no Compute SDK imports (a Go `wasip1` runtime imports
/// several), with the witx signatures.
const OTHER_WASI: &str = r#"
  (import "wasi_snapshot_preview1" "sched_yield" (func $sched_yield (result i32)))
  (import "wasi_snapshot_preview1" "proc_raise" (func $proc_raise (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_get" (func $fd_filestat_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_tell" (func $fd_tell (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_pread" (func $fd_pread (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_pwrite" (func $fd_pwrite (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_advise" (func $fd_advise (param i32 i64 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_allocate" (func $fd_allocate (param i32 i64 i64) (result i32)))
  (import "wasi_snapshot_preview1" "fd_datasync" (func $fd_datasync (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_sync" (func $fd_sync (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_set_size" (func $fd_filestat_set_size (param i32 i64) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_set_times" (func $fd_filestat_set_times (param i32 i64 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_fdstat_set_rights" (func $fd_fdstat_set_rights (param i32 i64 i64) (result i32)))
  (import "wasi_snapshot_preview1" "fd_renumber" (func $fd_renumber (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_create_directory" (func $path_create_directory (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_filestat_set_times" (func $path_filestat_set_times (param i32 i32 i32 i32 i64 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_link" (func $path_link (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_readlink" (func $path_readlink (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_rename" (func $path_rename (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_symlink" (func $path_symlink (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_accept" (func $sock_accept (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_recv" (func $sock_recv (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_send" (func $sock_send (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sock_shutdown" (func $sock_shutdown (param i32 i32) (result i32)))
"#;

#[test]
fn every_other_preview1_function_answers_as_a_host_without_files_or_sockets() {
    use edgeplay_host::status::errno::{BADF, FAULT, NOTSOCK, NOTSUP, SPIPE, SUCCESS};
    let checks = [
        ("(call $sched_yield)", SUCCESS),
        ("(call $proc_raise (i32.const 9))", NOTSUP),
        // stdout is a character device; descriptor 3 does not exist.
        ("(call $fd_filestat_get (i32.const 1) (i32.const 0x400))", SUCCESS),
        ("(i32.load8_u (i32.const 0x410))", 2),
        ("(call $fd_filestat_get (i32.const 3) (i32.const 0x400))", BADF),
        ("(call $fd_filestat_get (i32.const 1) (i32.const -8))", FAULT),
        ("(call $fd_tell (i32.const 0) (i32.const 0x400))", SPIPE),
        ("(call $fd_tell (i32.const 7) (i32.const 0x400))", BADF),
        ("(call $fd_pread (i32.const 0) (i32.const 0) (i32.const 0) (i64.const 0) (i32.const 0x400))", SPIPE),
        ("(call $fd_pwrite (i32.const 1) (i32.const 0) (i32.const 0) (i64.const 0) (i32.const 0x400))", SPIPE),
        ("(call $fd_pwrite (i32.const 9) (i32.const 0) (i32.const 0) (i64.const 0) (i32.const 0x400))", BADF),
        ("(call $fd_advise (i32.const 1) (i64.const 0) (i64.const 0) (i32.const 0))", NOTSUP),
        ("(call $fd_allocate (i32.const 4) (i64.const 0) (i64.const -1))", BADF),
        ("(call $fd_datasync (i32.const 2))", NOTSUP),
        ("(call $fd_sync (i32.const -1))", BADF),
        ("(call $fd_filestat_set_size (i32.const 1) (i64.const 5))", NOTSUP),
        ("(call $fd_filestat_set_times (i32.const 5) (i64.const 0) (i64.const 0) (i32.const 0))", BADF),
        ("(call $fd_fdstat_set_rights (i32.const 0) (i64.const 0) (i64.const 0))", NOTSUP),
        ("(call $fd_renumber (i32.const 1) (i32.const 9))", BADF),
        ("(call $fd_renumber (i32.const 2) (i32.const 1))", NOTSUP),
        ("(call $path_create_directory (i32.const 3) (i32.const 0x500) (i32.const 3))", BADF),
        ("(call $path_filestat_set_times (i32.const 3) (i32.const 0) (i32.const 0x500) (i32.const 3) (i64.const 0) (i64.const 0) (i32.const 0))", BADF),
        ("(call $path_link (i32.const 3) (i32.const 0) (i32.const 0x500) (i32.const 3) (i32.const 3) (i32.const 0x500) (i32.const 3))", BADF),
        ("(call $path_readlink (i32.const 3) (i32.const 0x500) (i32.const 3) (i32.const 0x600) (i32.const 16) (i32.const 0x400))", BADF),
        ("(call $path_rename (i32.const 3) (i32.const 0x500) (i32.const 3) (i32.const 3) (i32.const 0x500) (i32.const 3))", BADF),
        // A hostile path pointer is not read past memory: still BADF (no directory).
        ("(call $path_symlink (i32.const -1) (i32.const -1) (i32.const 3) (i32.const -1) (i32.const 99))", BADF),
        ("(call $sock_accept (i32.const 0) (i32.const 0) (i32.const 0x400))", NOTSOCK),
        ("(call $sock_accept (i32.const 3) (i32.const 0) (i32.const 0x400))", BADF),
        ("(call $sock_recv (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0x400) (i32.const 0x404))", BADF),
        ("(call $sock_send (i32.const 1) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0x400))", NOTSOCK),
        ("(call $sock_shutdown (i32.const 3) (i32.const 2))", BADF),
    ];
    let body: String = checks
        .iter()
        .map(|(call, want)| expect(call, *want))
        .collect();
    let wat = format!(
        "(module {IMPORTS} {OTHER_WASI} {PRINT} (data (i32.const 0x500) \"dir\") (func (export \"_start\") {body}))"
    );
    let guest_bytes = wat::parse_str(&wat).expect("valid WAT");
    let engine = edgeplay_host::Engine::new(edgeplay_host::Platform::deterministic());
    let loaded = engine.load(&guest_bytes).expect("loads");
    assert!(
        loaded.info.unknown_imports.is_empty(),
        "every preview1 function is known: {:?}",
        loaded.info.unknown_imports
    );
    assert!(loaded
        .info
        .imports
        .iter()
        .filter(|i| i.module == "wasi_snapshot_preview1")
        .all(|i| i.support == "emulated"));
    let r = run_wat(&wat, DownstreamRequest::new("GET", "/"));
    assert_returned(&r);
    // Each call is a trace event with its status by name; none is marked unsupported.
    let yielded = r.calls("wasi_snapshot_preview1::sched_yield");
    assert_eq!(yielded[0].status.as_deref(), Some("success"));
    let sock = r.calls("wasi_snapshot_preview1::sock_send");
    assert_eq!(sock[0].status.as_deref(), Some("notsock"));
    assert!(r.trace.iter().all(|e| !e.unsupported), "{}", summaries(&r));
}
