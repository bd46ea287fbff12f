//! What the host benchmarks share: starting one execution of a guest and driving it
//! to its end (sleeps answered at once; no backend requests), and medians.

#![allow(dead_code)] // each benchmark uses what it needs

use edgeplay_host::{
    DownstreamRequest, Engine, ExecOptions, Execution, Guest, Outcome, Poll, Service, WorkKind,
    WorkResult,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Options for a benchmark run: `trace` as asked, one fuel slice for the whole run.
pub fn opts(trace: bool) -> ExecOptions {
    ExecOptions {
        trace,
        slice_fuel: u64::MAX / 8,
        ..ExecOptions::default()
    }
}

/// A fresh execution of `wasm` for `GET url`. The engine loads the guest (from its
/// cache after the first time: that lookup hashes the module, so time [`run_guest`]
/// where load time must stay out).
pub fn start(
    engine: &Engine,
    wasm: &[u8],
    service: impl Into<Service>,
    url: &str,
    opts: ExecOptions,
) -> Execution {
    let guest = engine.load(wasm).expect("guest loads");
    start_guest(engine, guest, service, url, opts)
}

/// A fresh execution of a loaded `guest` for `GET url`.
pub fn start_guest(
    engine: &Engine,
    guest: Arc<Guest>,
    service: impl Into<Service>,
    url: &str,
    opts: ExecOptions,
) -> Execution {
    Execution::new(
        engine,
        guest,
        service,
        DownstreamRequest::new("GET", url),
        "0".repeat(32),
        opts,
    )
    .expect("guest instantiates")
}

/// Load `wasm`, then time one execution of it to its end (instantiation included,
/// load excluded): the time and the outcome.
pub fn run_guest(
    engine: &Engine,
    wasm: &[u8],
    service: impl Into<Service>,
    url: &str,
    opts: ExecOptions,
) -> (Duration, Outcome, Execution) {
    let guest = engine.load(wasm).expect("guest loads");
    let t = Instant::now();
    let mut exec = start_guest(engine, guest, service, url, opts);
    let o = finish(&mut exec);
    (t.elapsed(), o, exec)
}

/// Drive `exec` to its end; a pause (step-through) is a failure of the benchmark.
pub fn finish(exec: &mut Execution) -> Outcome {
    loop {
        let p = exec.run();
        exec.take_outputs();
        match p {
            Poll::Done(o) => return o,
            Poll::Yielded => {}
            Poll::Paused => panic!("the guest paused: the benchmark sets no breakpoint it hits"),
            Poll::Blocked => {
                for w in exec.take_work() {
                    match w.kind {
                        WorkKind::Sleep { .. } => exec.complete(w.id, WorkResult::Slept),
                        _ => panic!("the benchmark guests send no backend requests"),
                    }
                }
            }
        }
    }
}

/// The median of `v`.
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The median of `n` runs of `f`.
pub fn median_of(mut f: impl FnMut() -> Duration, n: usize) -> Duration {
    median((0..n).map(|_| f()).collect())
}
