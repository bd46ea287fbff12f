//! The execution's limits: the CPU budget, the heap limit, argv.

mod common;
use common::*;
use edgeplay_host::{DownstreamRequest, ExecOptions, Exit, ServiceConfig};

const LOOP_FOREVER: &str = r#"
(module
  (memory (export "memory") 1)
  (func (export "_start") (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l))))
"#;

/// Run `wasm` (`GET /`, the default configuration) with `opts`.
fn run_opts(wasm: &[u8], opts: ExecOptions) -> Run {
    run_with(
        &engine(),
        wasm,
        ServiceConfig::default(),
        DownstreamRequest::new("GET", "/"),
        opts,
    )
}

#[test]
fn a_runaway_guest_is_stopped_by_the_cpu_limit() {
    let wasm = wat::parse_str(LOOP_FOREVER).unwrap();
    let opts = ExecOptions {
        cpu_limit_ms: Some(5),
        slice_fuel: 1_000_000,
        ..ExecOptions::default()
    };
    let run = run_opts(&wasm, opts);
    assert_eq!(run.outcome.exit, Exit::CpuLimit { limit_ms: 5 });
    assert_eq!(run.response.status, 500);
    assert!(run.body_text().contains("CPU limit"), "{}", run.body_text());
    // Stopped within one slice of the budget.
    let budget = 5 * edgeplay_host::exec::DEFAULT_FUEL_PER_CPU_MS;
    assert!(
        run.outcome.fuel <= budget,
        "{} > {budget}",
        run.outcome.fuel
    );
}

#[test]
fn a_run_the_platforms_cpu_limit_stopped_shows_its_cpu_gauge_over() {
    let wasm = wat::parse_str(LOOP_FOREVER).unwrap();
    let opts = ExecOptions {
        cpu_limit_ms: Some(50),
        fuel_per_cpu_ms: 1_000,
        // A slice that does not divide the budget: the last one is cut short.
        slice_fuel: 7_777,
        ..ExecOptions::default()
    };
    let run = run_opts(&wasm, opts);
    assert_eq!(run.outcome.exit, Exit::CpuLimit { limit_ms: 50 });
    assert_eq!(run.usage.cpu_limit_hit_ms, Some(50));
    let gauges = edgeplay_host::limits::gauges(&run.usage, 1_000, 0, 0);
    assert!(gauges[0].over, "{gauges:?}");
    assert!(
        edgeplay_host::limits::gauges_text(&gauges)
            .contains("OVER: the platform stops the execution"),
        "{}",
        edgeplay_host::limits::gauges_text(&gauges)
    );
}

#[test]
fn a_tiny_cpu_limit_still_ends_the_guest() {
    // A budget smaller than one basic block must end in CpuLimit, never spin.
    let wasm = wat::parse_str(LOOP_FOREVER).unwrap();
    let opts = ExecOptions {
        cpu_limit_ms: Some(1),
        fuel_per_cpu_ms: 1,
        ..ExecOptions::default()
    };
    let run = run_opts(&wasm, opts);
    assert_eq!(run.outcome.exit, Exit::CpuLimit { limit_ms: 1 });
}

#[test]
fn memory_grow_fails_past_the_heap_limit() {
    // Grows by 1 MiB (16 pages) until memory.grow answers -1, then exits with
    // the number of MiB it reached, less 100 (WASI exit codes stay below 126).
    let wat = r#"
(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $mib i32)
    (block $done
      (loop $l
        (br_if $done (i32.eq (memory.grow (i32.const 16)) (i32.const -1)))
        (local.set $mib (i32.add (local.get $mib) (i32.const 1)))
        (br $l)))
    (call $exit (i32.sub (local.get $mib) (i32.const 100)))))
"#;
    let run = run_wat(wat, DownstreamRequest::new("GET", "/"));
    // 1 page to start, then 1 MiB steps: 127 steps fit under 128 MiB (exit code = MiB - 100).
    assert_eq!(run.outcome.exit, Exit::Exit(27));
}

#[test]
fn translation_of_big_functions_is_not_charged_as_guest_cpu() {
    // A function with a large body that runs few instructions: its fuel must stay small.
    let mut body = String::new();
    for _ in 0..20_000 {
        body.push_str("(local.set $x (i32.add (local.get $x) (i32.const 1)))\n");
    }
    let wat = format!(
        "(module (memory (export \"memory\") 1)
           (func $big (param $run i32) (local $x i32)
             (if (local.get $run) (then {body})))
           (func (export \"_start\") (call $big (i32.const 0))))"
    );
    let run = run_wat(&wat, DownstreamRequest::new("GET", "/"));
    assert_eq!(run.outcome.exit, Exit::Returned);
    assert!(
        run.outcome.fuel < 1_000,
        "translation was charged: {} fuel",
        run.outcome.fuel
    );
}

#[test]
fn argv_can_be_set_for_run() {
    let wat = r#"
(module
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (drop (call $sizes (i32.const 0) (i32.const 4)))
    (call $exit (i32.load (i32.const 0)))))
"#;
    let wasm = wat::parse_str(wat).unwrap();
    let default = run_wasm(
        &engine(),
        &wasm,
        ServiceConfig::default(),
        DownstreamRequest::new("GET", "/"),
    );
    assert_eq!(
        default.outcome.exit,
        Exit::Exit(1),
        "argv defaults to [\"compute-app\"]"
    );
    let opts = ExecOptions {
        args: Some(vec!["app".into(), "a".into(), "b".into()]),
        ..ExecOptions::default()
    };
    let run = run_opts(&wasm, opts);
    assert_eq!(run.outcome.exit, Exit::Exit(3));
}

#[test]
fn modules_are_cached_by_content_hash() {
    let engine = engine();
    let wasm = wat::parse_str(LOOP_FOREVER).unwrap();
    let first = engine.load(&wasm).unwrap();
    let second = engine.load(&wasm).unwrap();
    assert!(!first.info.cached);
    assert!(second.info.cached, "the same bytes load from the cache");
    assert_eq!(first.info.sha256, second.info.sha256);
    let mut other = wasm.clone();
    other.extend_from_slice(&[0, 5, 4, b'n', b'o', b'p', b'e']); // an extra custom section "nope"
    let third = engine.load(&other).unwrap();
    assert!(!third.info.cached, "different bytes are a different module");
}
