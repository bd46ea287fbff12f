//! What step-through costs when it does not pause: a WAT guest making 100,000 cheap
//! hostcalls (`fastly_http_req::version_get`) in one execution, run with step mode
//! off (`ExecOptions::step = None`, what every run without Step does) and with
//! breakpoints set that the guest never hits (`send`, `kv`, `cache`, `status` and a
//! module it does not call), alternately, with the trace on (as the tab runs) and
//! off (as `serve` runs); then whole requests of two real guests, the Rust and the
//! JS hello examples (from `$EDGEPLAY_GUESTS`, default `$CARGO_TARGET_DIR/guests/wasm`,
//! built by `scripts/build-guests.sh`). Medians of alternating rounds, and the ratio.
//!
//! `scripts/bench.sh step`, or `cargo bench -p edgeplay-host --bench step`.

mod common;

use edgeplay_host::step::{Breakpoint, StepPolicy};

use edgeplay_host::{Engine, ExecOptions, Platform, Service, ServiceConfig};
use std::sync::Arc;
use std::time::Duration;

const CALLS: usize = 100_000;
const ROUNDS: usize = 15;

fn guest(n: usize) -> Vec<u8> {
    let wat = format!(
        r#"(module
  (import "fastly_http_req" "body_downstream_get" (func $get (param i32 i32) (result i32)))
  (import "fastly_http_req" "version_get" (func $version (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start") (local $i i32)
    (if (call $get (i32.const 0x100) (i32.const 0x104)) (then unreachable))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (i32.const {n})))
      (if (call $version (i32.load (i32.const 0x100)) (i32.const 0x108)) (then unreachable))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $l)))))"#
    );
    wat::parse_str(wat).expect("valid WAT")
}

/// Run `wasm` once; its run time (instantiation included, load excluded).
fn run(
    engine: &Engine,
    wasm: &[u8],
    service: &Service,
    trace: bool,
    step: Option<StepPolicy>,
) -> Duration {
    let opts = ExecOptions {
        step,
        ..common::opts(trace)
    };
    let (t, o, _) = common::run_guest(engine, wasm, service.clone(), "/", opts);
    assert_eq!(o.exit, edgeplay_host::Exit::Returned, "{o:?}");
    t
}

/// A built example guest, or a clear stop.
fn example(name: &str) -> Vec<u8> {
    let dir = std::env::var("EDGEPLAY_GUESTS").unwrap_or_else(|_| {
        let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
        format!("{target}/guests/wasm")
    });
    let path = format!("{dir}/{name}.wasm");
    std::fs::read(&path)
        .unwrap_or_else(|e| panic!("{path}: {e} (build the guests: scripts/build-guests.sh)"))
}

fn main() {
    let engine = Engine::new(Platform::deterministic());
    let service = Service::new(Arc::new(ServiceConfig::default()));
    let wasm = guest(CALLS);
    let unhit = StepPolicy::at(vec![
        Breakpoint::Send,
        Breakpoint::Kv,
        Breakpoint::Cache,
        Breakpoint::Status,
        Breakpoint::Module("fastly_log".into()),
    ]);
    println!("Step-through when it does not pause (run time per execution, medians of {ROUNDS} alternating rounds)");
    println!("| guest | step off | breakpoints set, not hit | ratio |");
    println!("|---|---:|---:|---:|");
    let rust = example("hello");
    let js = example("js-app");
    let cases: [(&str, &[u8], bool); 4] = [
        ("100,000 `version_get`, trace on", &wasm, true),
        ("100,000 `version_get`, trace off", &wasm, false),
        ("Rust hello (a whole request), trace on", &rust, true),
        ("JS hello (a whole request), trace on", &js, true),
    ];
    for (label, wasm, trace) in cases {
        // Warm up both paths once (and load the guest into the engine's cache).
        run(&engine, wasm, &service, trace, None);
        run(&engine, wasm, &service, trace, Some(unhit.clone()));
        let (mut off, mut set) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            off.push(run(&engine, wasm, &service, trace, None));
            set.push(run(&engine, wasm, &service, trace, Some(unhit.clone())));
        }
        let (off, set) = (common::median(off), common::median(set));
        println!(
            "| {label} | {:.2} ms | {:.2} ms | {:.3} |",
            off.as_secs_f64() * 1e3,
            set.as_secs_f64() * 1e3,
            set.as_secs_f64() / off.as_secs_f64()
        );
    }
}
