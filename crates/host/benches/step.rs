//! What step-through costs when it does not pause: a WAT guest making 100,000 cheap
//! hostcalls (`fastly_http_req::version_get`) in one execution, run with step mode
//! off (`ExecOptions::step = None`, what every run without Step does) and with
//! breakpoints set that the guest never hits (`send`, `kv`, `cache`, `status` and a
//! module it does not call), alternately, with the trace on (as the tab runs) and
//! off (as `serve` runs). Medians of alternating rounds, and the ratio.
//!
//! `cargo bench -p edgeplay-host --bench step`.

use edgeplay_host::step::{Breakpoint, StepPolicy};
use edgeplay_host::{
    DownstreamRequest, Engine, ExecOptions, Execution, Platform, Poll, Service, ServiceConfig,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    let guest = engine.load(wasm).expect("guest loads");
    let opts = ExecOptions {
        trace,
        step,
        slice_fuel: u64::MAX / 8,
        ..ExecOptions::default()
    };
    let t = Instant::now();
    let mut exec = Execution::new(
        engine,
        guest,
        service.clone(),
        DownstreamRequest::new("GET", "/"),
        "0".repeat(32),
        opts,
    )
    .expect("guest instantiates");
    loop {
        let p = exec.run();
        exec.take_outputs();
        match p {
            Poll::Done(o) => {
                assert_eq!(o.exit, edgeplay_host::Exit::Returned, "{o:?}");
                return t.elapsed();
            }
            Poll::Paused => panic!("a breakpoint that should not be hit paused the guest"),
            _ => {}
        }
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
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
    println!("Step-through when it does not pause ({CALLS} hostcalls per run, medians of {ROUNDS} alternating rounds)");
    println!("| trace | step off | breakpoints set, not hit | ratio |");
    println!("|---|---:|---:|---:|");
    for trace in [true, false] {
        // Warm up both paths once.
        run(&engine, &wasm, &service, trace, None);
        run(&engine, &wasm, &service, trace, Some(unhit.clone()));
        let (mut off, mut set) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            off.push(run(&engine, &wasm, &service, trace, None));
            set.push(run(&engine, &wasm, &service, trace, Some(unhit.clone())));
        }
        let (off, set) = (median(off), median(set));
        println!(
            "| {} | {:.1} ms ({:.0} ns/call) | {:.1} ms ({:.0} ns/call) | {:.3} |",
            if trace { "on" } else { "off" },
            off.as_secs_f64() * 1e3,
            off.as_secs_f64() * 1e9 / CALLS as f64,
            set.as_secs_f64() * 1e3,
            set.as_secs_f64() * 1e9 / CALLS as f64,
            set.as_secs_f64() / off.as_secs_f64()
        );
    }
}
