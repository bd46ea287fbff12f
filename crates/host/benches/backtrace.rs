//! What backtrace instrumentation costs: run time of call-heavy and loop-heavy guests,
//! fuel, and load time of a big guest, with and without instrumentation.
//!
//! `cargo bench -p edgeplay-host --bench backtrace`. Optional inputs (skipped when absent):
//! - `tests/guests/target/wasm32-wasip1/release/cpu.wasm` (`cd tests/guests && cargo build --release --target wasm32-wasip1`)
//! - `$EDGEPLAY_JS_WASM`, default `/tmp/js-app.wasm` (`bash tests/js/build.sh /tmp/js-app.wasm`)

mod common;

use edgeplay_host::{Engine, EngineOptions, Outcome, Platform, ServiceConfig};
use std::sync::Arc;
use std::time::{Duration, Instant};

const FIB: &str = r#"(module
    (func $fib (param $n i32) (result i32)
        (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
            (then (local.get $n))
            (else (i32.add
                (call $fib (i32.sub (local.get $n) (i32.const 1)))
                (call $fib (i32.sub (local.get $n) (i32.const 2)))))))
    (func $start (export "_start")
        (if (i32.ne (call $fib (i32.const 27)) (i32.const 196418)) (then unreachable))))"#;

/// A loop with no calls: what most hot code in real guests looks like.
const LOOP: &str = r#"(module
    (memory 1)
    (func $start (export "_start") (local $i i32) (local $acc i32)
        (loop $l
            (local.set $acc (i32.add (local.get $acc)
                (i32.load (i32.and (local.get $i) (i32.const 0xfffc)))))
            (i32.store (i32.and (local.get $acc) (i32.const 0xfffc)) (local.get $i))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br_if $l (i32.lt_u (local.get $i) (i32.const 3000000))))))"#;

fn engine(backtraces: bool) -> Engine {
    Engine::with_options(
        Platform::deterministic(),
        EngineOptions {
            backtraces,
            ..EngineOptions::default()
        },
    )
}

fn run_once(engine: &Engine, wasm: &[u8], url: &str) -> Outcome {
    let mut exec = common::start(
        engine,
        wasm,
        Arc::new(ServiceConfig::default()),
        url,
        common::opts(false),
    );
    common::finish(&mut exec)
}

/// Median of `n` timed runs after one warm-up; returns (median, outcome of the last run).
fn time_runs(engine: &Engine, wasm: &[u8], url: &str, n: usize) -> (Duration, Outcome) {
    let mut outcome = run_once(engine, wasm, url);
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        outcome = run_once(engine, wasm, url);
        times.push(t.elapsed());
    }
    times.sort();
    (times[n / 2], outcome)
}

fn compare(label: &str, wasm: &[u8], url: &str, n: usize) {
    let (off, off_outcome) = time_runs(&engine(false), wasm, url, n);
    let (on, on_outcome) = time_runs(&engine(true), wasm, url, n);
    println!(
        "{label}: off {:.1} ms, on {:.1} ms: {:+.1}% time; fuel {} -> {} ({:+.1}%); exit {:?} / {:?}",
        off.as_secs_f64() * 1e3,
        on.as_secs_f64() * 1e3,
        (on.as_secs_f64() / off.as_secs_f64() - 1.0) * 100.0,
        off_outcome.fuel,
        on_outcome.fuel,
        (on_outcome.fuel as f64 / off_outcome.fuel as f64 - 1.0) * 100.0,
        off_outcome.exit,
        on_outcome.exit,
    );
}

fn load_cost(label: &str, wasm: &[u8]) {
    let n = 5;
    let instrument = common::median_of(
        || {
            let t = Instant::now();
            let out = edgeplay_host::backtrace::instrument(wasm).expect("instruments");
            let d = t.elapsed();
            drop(out);
            d
        },
        n,
    );
    let load = |backtraces: bool| {
        common::median_of(
            || {
                // A fresh engine each time: no cache hit.
                let e = engine(backtraces);
                let t = Instant::now();
                let g = e.load(wasm).expect("loads");
                assert_eq!(g.info.backtraces, backtraces);
                t.elapsed()
            },
            n,
        )
    };
    let (off, on) = (load(false), load(true));
    let grown = edgeplay_host::backtrace::instrument(wasm)
        .map(|w| w.len())
        .unwrap_or(0);
    println!(
        "{label} load ({:.1} MB -> {:.1} MB instrumented): off {:.1} ms, on {:.1} ms ({:+.1}%); instrument() alone {:.1} ms",
        wasm.len() as f64 / 1e6,
        grown as f64 / 1e6,
        off.as_secs_f64() * 1e3,
        on.as_secs_f64() * 1e3,
        (on.as_secs_f64() / off.as_secs_f64() - 1.0) * 100.0,
        instrument.as_secs_f64() * 1e3,
    );
}

fn main() {
    // `cargo test --benches` runs this with `--bench` absent: keep that quick.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let fib = wat::parse_str(FIB).expect("valid WAT");
    compare("fib(27), call-heavy", &fib, "http://localhost/", 7);
    let lp = wat::parse_str(LOOP).expect("valid WAT");
    compare("loop, no calls", &lp, "http://localhost/", 7);

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let cpu = root.join("tests/guests/target/wasm32-wasip1/release/cpu.wasm");
    match std::fs::read(&cpu) {
        Ok(wasm) => {
            compare(
                "cpu.wasm ?n=3 (sha256 of 1 MiB)",
                &wasm,
                "http://localhost/?n=3",
                5,
            );
            load_cost("cpu.wasm", &wasm);
        }
        Err(_) => println!("{} not built: skipped", cpu.display()),
    }
    let js = std::env::var("EDGEPLAY_JS_WASM").unwrap_or_else(|_| "/tmp/js-app.wasm".into());
    match std::fs::read(&js) {
        Ok(wasm) => {
            load_cost("JS guest", &wasm);
            compare("JS guest GET / (hello)", &wasm, "http://localhost/", 5);
        }
        Err(_) => println!("{js} not found: skipped"),
    }
}
