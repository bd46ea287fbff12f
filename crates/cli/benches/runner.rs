//! Runner benchmark: module load time and warm request latency for the Rust hello
//! guest and the JS SDK guest, in process and over HTTP through `edgeplay serve` —
//! and through `viceroy serve` when Viceroy is on PATH.
//!
//! Run with `scripts/bench.sh` (builds the guests and the release binary first).
//! Prints a Markdown table for the README.

mod common;

use common::{guests_dir, http_get, median, which};
use edgeplay_cli::driver::run_request;
use edgeplay_cli::platform::native_platform;
use edgeplay_host::{DownstreamRequest, Engine, ExecOptions, ServiceConfig};
use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn p90(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[(v.len() * 9 / 10).min(v.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

/// Load time with a fresh engine each time (no module cache).
fn bench_load(wasm: &[u8], n: usize) -> Duration {
    let times = (0..n)
        .map(|_| {
            let engine = Engine::new(native_platform());
            let t = Instant::now();
            engine.load(wasm).expect("guest loads");
            t.elapsed()
        })
        .collect();
    median(times)
}

/// Warm in-process request latency: engine and module loaded once.
fn bench_requests(wasm: &[u8], n: usize) -> (Duration, Duration) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let engine = Arc::new(Engine::new(native_platform()));
    let guest = engine.load(wasm).unwrap();
    let config = Arc::new(ServiceConfig::default());
    let mut times = Vec::new();
    for i in 0..n + 3 {
        let t = Instant::now();
        let r = rt.block_on(run_request(
            &engine,
            guest.clone(),
            config.clone(),
            DownstreamRequest::new("GET", "/"),
            ExecOptions {
                trace: true,
                ..ExecOptions::default()
            },
        ));
        assert_eq!(r.response.status, 200, "{:?}", r.response.error);
        if i >= 3 {
            times.push(t.elapsed());
        }
    }
    (median(times.clone()), p90(times))
}

/// Start a server (`<bin> serve <wasm> --addr 127.0.0.1:PORT`), time until it answers,
/// then time `n` sequential requests.
fn bench_server(
    bin: &str,
    args: &[&str],
    wasm: &Path,
    port: u16,
    n: usize,
) -> Option<(Duration, Duration, Duration)> {
    let addr = format!("127.0.0.1:{port}");
    let t0 = Instant::now();
    let mut child = Command::new(bin)
        .args(args)
        .arg(wasm)
        .args(["--addr", &addr])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || for _ in BufReader::new(out).lines() {});
    // Ready when the first request answers.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if TcpStream::connect(&addr).is_ok() && http_get(&addr, "/") == 200 {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let first = t0.elapsed();
    let times: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            assert_eq!(http_get(&addr, "/"), 200);
            t.elapsed()
        })
        .collect();
    let _ = child.kill();
    let _ = child.wait();
    Some((first, median(times.clone()), p90(times)))
}

fn main() {
    // `cargo bench` passes --bench; ignore arguments.
    let dir = guests_dir();
    let edgeplay = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/release/edgeplay");
    let edgeplay =
        std::env::var("EDGEPLAY_BIN").unwrap_or_else(|_| edgeplay.to_string_lossy().into_owned());
    let viceroy = which("viceroy");
    println!("| guest | runtime | module load | first answer (process start → 200) | warm request p50 | warm request p90 |");
    println!("|---|---|---:|---:|---:|---:|");
    for (name, file) in [
        ("Rust hello", "hello.wasm"),
        ("JS SDK hello", "js-app.wasm"),
    ] {
        let path = dir.join(file);
        let wasm = match std::fs::read(&path) {
            Ok(w) => w,
            Err(e) => {
                eprintln!("{}: {e} (run scripts/build-guests.sh)", path.display());
                continue;
            }
        };
        let load = bench_load(&wasm, 15);
        let (p50, p90v) = bench_requests(&wasm, 50);
        println!(
            "| {name} ({} KiB) | edgeplay, in process | {} | | {} | {} |",
            wasm.len() / 1024,
            ms(load),
            ms(p50),
            ms(p90v)
        );
        if let Some((first, p50, p90v)) = bench_server(&edgeplay, &["serve"], &path, 17676, 50) {
            println!(
                "| {name} | edgeplay serve (HTTP) | | {} | {} | {} |",
                ms(first),
                ms(p50),
                ms(p90v)
            );
        }
        match &viceroy {
            Some(v) => match bench_server(v, &["serve"], &path, 17677, 50) {
                Some((first, p50, p90v)) => println!(
                    "| {name} | viceroy serve (HTTP) | | {} | {} | {} |",
                    ms(first),
                    ms(p50),
                    ms(p90v)
                ),
                None => println!("| {name} | viceroy serve (HTTP) | | did not answer | | |"),
            },
            None => eprintln!("viceroy is not on PATH: no Viceroy column"),
        }
    }
}
