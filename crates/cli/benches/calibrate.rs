//! Calibrating the CPU estimate: for a reference set of guests (Rust, JS and Go;
//! CPU-bound and memory-bound), the wasm fuel edgeplay counts against the CPU time
//! Viceroy's compiled code (wasmtime/Cranelift, the platform's closest proxy) takes.
//!
//! Viceroy's CPU per request is measured as its warm request latency (`viceroy serve`,
//! median of 15 after 3 warm-ups, one request at a time on loopback) minus the same
//! for the Rust hello guest (the HTTP and instantiation floor). Fuel is what one
//! in-process run of the same request uses. The fuel per CPU millisecond that makes
//! the estimate never exceed Viceroy's time on the set is the largest of the
//! per-guest ratios; the table shows each guest's ratio and the estimate/Viceroy
//! band at the constant in use ([`edgeplay_host::limits::DEFAULT_FUEL_PER_CPU_MS`]).
//!
//! Run with `scripts/bench.sh calibrate` (without Viceroy on PATH it prints the fuel and
//! the estimate only).

mod common;

use common::{guests_dir, http_get, median, spawn_serve, which, Server};
use edgeplay_cli::driver::run_request;
use edgeplay_cli::platform::native_platform;
use edgeplay_host::limits::DEFAULT_FUEL_PER_CPU_MS;
use edgeplay_host::{DownstreamRequest, Engine, ExecOptions, ServiceConfig};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// (label, guest file, request path, kind).
const SET: &[(&str, &str, &str, &str)] = &[
    ("Rust hello", "hello.wasm", "/", "floor"),
    ("Rust SHA-256 of 5 MiB", "cpu.wasm", "/?n=5", "CPU-bound"),
    ("Rust SHA-256 of 20 MiB", "cpu.wasm", "/?n=20", "CPU-bound"),
    (
        "Rust heap, 32 MiB in 64 steps",
        "heap.wasm",
        "/?steps=64",
        "memory-bound",
    ),
    ("JS hello", "js-app.wasm", "/", "JS engine"),
    ("JS fib(10)", "js-app.wasm", "/fib/10", "CPU-bound"),
    ("JS fib(20)", "js-app.wasm", "/fib/20", "CPU-bound"),
    ("Go hello", "go-app.wasm", "/", "Go runtime"),
];

/// `viceroy serve wasm` on `port`, once it answers.
fn viceroy(bin: &str, wasm: &Path, port: u16) -> Server {
    let addr = format!("127.0.0.1:{port}");
    let server = spawn_serve(bin, wasm, &addr);
    let deadline = Instant::now() + Duration::from_secs(300);
    while TcpStream::connect(&addr).is_err() {
        assert!(Instant::now() < deadline, "viceroy did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    server
}

/// Median warm latency of `path`, in ms.
fn latency_ms(addr: &str, path: &str) -> f64 {
    for _ in 0..3 {
        http_get(addr, path);
    }
    let times = (0..15)
        .map(|_| {
            let t = Instant::now();
            assert_eq!(http_get(addr, path), 200, "{path}");
            t.elapsed()
        })
        .collect();
    median(times).as_secs_f64() * 1000.0
}

/// The fuel one in-process run of `path` uses.
fn fuel(engine: &Arc<Engine>, wasm: &[u8], path: &str) -> u64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let guest = engine.load(wasm).expect("guest loads");
    let r = rt.block_on(run_request(
        engine,
        guest,
        Arc::new(ServiceConfig::default()),
        DownstreamRequest::new("GET", &format!("http://127.0.0.1{path}")),
        ExecOptions {
            trace: false,
            ..ExecOptions::default()
        },
    ));
    assert_eq!(r.response.status, 200, "{path}: {:?}", r.response.error);
    r.outcome.fuel
}

fn main() {
    let dir = guests_dir();
    let bin = which("viceroy");
    let engine = Arc::new(Engine::new(native_platform()));
    let floor = bin.as_ref().map(|bin| {
        let _v = viceroy(bin, &dir.join("hello.wasm"), 17690);
        latency_ms("127.0.0.1:17690", "/")
    });
    match floor {
        Some(f) => println!("Viceroy's floor (Rust hello, warm, HTTP on loopback): {f:.2} ms\n"),
        None => println!(
            "viceroy is not on PATH: fuel and the estimate only, nothing to calibrate against\n"
        ),
    }
    println!("| guest | kind | fuel | Viceroy CPU (latency − floor) | fuel per ms | estimate now | estimate / Viceroy |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    let mut ratios = Vec::new();
    for (i, (label, file, path, kind)) in SET.iter().enumerate() {
        let wasm_path = dir.join(file);
        let wasm = std::fs::read(&wasm_path).expect("guest built (scripts/build-guests.sh)");
        let f = fuel(&engine, &wasm, path);
        let estimate = f as f64 / DEFAULT_FUEL_PER_CPU_MS as f64;
        let (Some(bin), Some(floor)) = (&bin, floor) else {
            println!(
                "| {label} | {kind} | {:.1} M | — | — | {estimate:.2} ms | — |",
                f as f64 / 1e6
            );
            continue;
        };
        let port = 17691 + i as u16;
        let v = viceroy(bin, &wasm_path, port);
        let cpu = (latency_ms(&format!("127.0.0.1:{port}"), path) - floor).max(0.01);
        drop(v);
        let per_ms = f as f64 / cpu;
        if *kind != "floor" {
            ratios.push((per_ms, estimate / cpu));
        }
        println!(
            "| {label} | {kind} | {:.1} M | {cpu:.2} ms | {:.2} M | {estimate:.2} ms | {:.2} |",
            f as f64 / 1e6,
            per_ms / 1e6,
            estimate / cpu
        );
    }
    if ratios.is_empty() {
        return;
    }
    let max = ratios.iter().map(|r| r.0).fold(0.0, f64::max);
    let (lo, hi) = ratios
        .iter()
        .map(|r| r.1)
        .fold((f64::MAX, 0.0f64), |(lo, hi), r| (lo.min(r), hi.max(r)));
    println!(
        "\nLargest fuel per Viceroy CPU ms on the set: {:.2} M (the constant never overestimates with at least this); in use: {:.2} M, estimate / Viceroy {lo:.2}…{hi:.2}",
        max / 1e6,
        DEFAULT_FUEL_PER_CPU_MS as f64 / 1e6
    );
}
