//! What the run profile costs per hostcall: a guest that makes 200 000 cheap hostcalls
//! (`fastly_compute_runtime::get_vcpu_ms`) from three nested functions, timed with
//! tracing off (no profile), tracing on without a shadow stack (heap samples only),
//! and tracing on with one (heap and stack samples).
//! `cargo bench -p edgeplay-host --bench profile`.

mod common;

use edgeplay_host::{Engine, EngineOptions, Platform, ServiceConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CALLS: u32 = 200_000;

const GUEST: &str = r#"(module
  (import "fastly_compute_runtime" "get_vcpu_ms" (func $vcpu (param i32) (result i32)))
  (memory (export "memory") 1)
  (func $call (drop (call $vcpu (i32.const 16))))
  (func $inner (param $n i32)
    (loop $l
      (call $call)
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (local.get $n))))
  (func $outer (param $n i32) (call $inner (local.get $n)))
  (func (export "_start") (call $outer (i32.const 200000))))"#;

/// The run's time, the profile's build time, and the hostcalls it counted.
fn run(engine: &Engine, wasm: &[u8], trace: bool) -> (Duration, Duration, usize) {
    let (ran, _, mut exec) = common::run_guest(
        engine,
        wasm,
        Arc::new(ServiceConfig::default()),
        "http://localhost/",
        common::opts(trace),
    );
    let trace = exec.take_trace();
    let t = Instant::now();
    let profile = exec.profile(&trace);
    (ran, t.elapsed(), profile.hostcalls as usize)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let wasm = wat::parse_str(GUEST).expect("valid WAT");
    for (label, backtraces, trace) in [
        ("tracing off", true, false),
        ("tracing on, no shadow stack", false, true),
        ("tracing on, shadow stack (profile with stacks)", true, true),
    ] {
        let engine = Engine::with_options(
            Platform::deterministic(),
            EngineOptions {
                backtraces,
                ..EngineOptions::default()
            },
        );
        let runs: Vec<_> = (0..5).map(|_| run(&engine, &wasm, trace)).collect();
        let calls = runs[0].2;
        let build = common::median(runs.iter().map(|r| r.1).collect());
        let t = common::median(runs.into_iter().map(|r| r.0).collect());
        println!(
            "| {label} | {:.1} ms | {:.0} ns per hostcall | {calls} traced | profile built in {:.1} ms |",
            t.as_secs_f64() * 1000.0,
            t.as_secs_f64() * 1e9 / f64::from(CALLS),
            build.as_secs_f64() * 1000.0
        );
    }
}
