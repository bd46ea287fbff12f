//! edgeplay beside Viceroy in one run: for each guest, both servers are started fresh
//! and timed from process start to their first 200, then warm requests go to one and
//! the other alternately (a batch each per round), so that whatever else the machine
//! does weighs on both alike. Three rounds; medians over all rounds and the ratio
//! edgeplay / Viceroy (below 1: edgeplay is faster).
//!
//! Run with `scripts/bench.sh side-by-side` (Viceroy must be on PATH; `EDGEPLAY_BIN`
//! names the runner, by default the release build). `ROUNDS` and `REQUESTS` (per
//! round and server) change the counts.

mod common;

use common::{guests_dir, http_get, median, spawn_serve, which, Server};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// (label, guest file, request path).
const SET: &[(&str, &str, &str)] = &[
    ("Rust hello", "hello.wasm", "/"),
    ("JS SDK hello", "js-app.wasm", "/"),
    ("Rust SHA-256 of 10 MiB", "cpu.wasm", "/?n=10"),
    ("JS SDK fib(25)", "js-app.wasm", "/fib/25"),
];

/// Start `bin serve wasm` on `port`; the server and the time from the spawn to the
/// first 200 on `path`.
fn start(bin: &str, wasm: &Path, port: u16, path: &str) -> (Server, Duration) {
    let addr = format!("127.0.0.1:{port}");
    let t0 = Instant::now();
    let server = spawn_serve(bin, wasm, &addr);
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if TcpStream::connect(&addr).is_ok() && http_get(&addr, path) == 200 {
            return (server, t0.elapsed());
        }
        assert!(
            Instant::now() < deadline,
            "{bin} did not answer {path} on {addr}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// `n` sequential requests for `path` on `addr` (a new connection each), their times.
fn requests(addr: &str, path: &str, n: usize) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let t = Instant::now();
            assert_eq!(http_get(addr, path), 200, "{addr}{path}");
            t.elapsed()
        })
        .collect()
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn ratio(a: Duration, b: Duration) -> String {
    format!("{:.2}×", a.as_secs_f64() / b.as_secs_f64().max(1e-9))
}

fn count(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

fn main() {
    let dir = guests_dir();
    let edgeplay = std::env::var("EDGEPLAY_BIN").unwrap_or_else(|_| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../target/release/edgeplay")
            .to_string_lossy()
            .into_owned()
    });
    let Some(viceroy) = which("viceroy") else {
        eprintln!("viceroy is not on PATH: `cargo install viceroy --locked` (a long build), then run this again");
        std::process::exit(1);
    };
    let version = Command::new(&viceroy)
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let rounds = count("ROUNDS", 3);
    let n = count("REQUESTS", 20);
    println!(
        "edgeplay ({edgeplay}) beside {version}: {rounds} rounds; per round each server starts fresh, then {n} warm requests each, alternately in batches of 5\n"
    );
    println!("| guest | edgeplay first answer | Viceroy first answer | ratio | edgeplay warm p50 | Viceroy warm p50 | ratio |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (label, file, path) in SET {
        let wasm = dir.join(file);
        assert!(
            wasm.is_file(),
            "{} is missing: run scripts/build-guests.sh",
            wasm.display()
        );
        let (mut first_e, mut first_v, mut warm_e, mut warm_v) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            // Alternate which one starts first.
            let (e, v) = if round % 2 == 0 {
                let e = start(&edgeplay, &wasm, 17780, path);
                let v = start(&viceroy, &wasm, 17781, path);
                (e, v)
            } else {
                let v = start(&viceroy, &wasm, 17781, path);
                let e = start(&edgeplay, &wasm, 17780, path);
                (e, v)
            };
            first_e.push(e.1);
            first_v.push(v.1);
            // Warm both (the first answer was one), then alternate in batches.
            requests("127.0.0.1:17780", path, 3);
            requests("127.0.0.1:17781", path, 3);
            let mut left = n;
            while left > 0 {
                let k = left.min(5);
                warm_e.extend(requests("127.0.0.1:17780", path, k));
                warm_v.extend(requests("127.0.0.1:17781", path, k));
                left -= k;
            }
        }
        let (fe, fv, we, wv) = (
            median(first_e),
            median(first_v),
            median(warm_e),
            median(warm_v),
        );
        println!(
            "| {label} | {} | {} | {} | {} | {} | {} |",
            ms(fe),
            ms(fv),
            ratio(fe, fv),
            ms(we),
            ms(wv),
            ratio(we, wv)
        );
    }
}
