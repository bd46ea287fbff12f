//! Concurrency benchmark: two slow local origins (200 ms each) fetched in parallel vs
//! in sequence by the native runner. Prints Markdown table rows with the ratio
//! (parallel time / sequential time; 0.5 is perfect overlap, 1.0 none).
//!
//! Two modes:
//! - **through a guest** (when the test guests are built, `scripts/build-guests.sh`):
//!   the `fanout` guest (`send_async` to backends `a` and `b`, then `select` and
//!   `wait`) run by the driver, against the `proxy` guest run twice (one `send` each);
//! - **`fetch()` directly**: the backend client alone, both fetches as tasks in a
//!   `JoinSet` (as the driver runs outside work) against one after the other.
//!
//! Run with `cargo bench -p edgeplay-cli --bench concurrency`.

mod common;

use common::{guests_dir, keepalive_origin, median};
use edgeplay_cli::driver::run_request;
use edgeplay_cli::fetch::fetch;
use edgeplay_cli::platform::native_platform;
use edgeplay_host::config::parse_backend_flag;
use edgeplay_host::{
    DownstreamRequest, Engine, ExecOptions, FetchRequest, Guest, Headers, ServiceConfig, WorkResult,
};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// How long each origin takes to answer.
const DELAY: Duration = Duration::from_millis(200);
/// Measured rounds per mode (after one warm-up round).
const ROUNDS: usize = 7;

/// An origin on 127.0.0.1 that answers every request after [`DELAY`] (keep-alive).
async fn slow_origin() -> SocketAddr {
    keepalive_origin(DELAY, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok").await
}

fn request(backend: &str, addr: SocketAddr) -> FetchRequest {
    let mut headers = Headers::new();
    headers.append("host", addr.to_string());
    FetchRequest {
        headers,
        ..FetchRequest::get(backend, &format!("http://{addr}/"))
    }
}

fn check(r: WorkResult) {
    match r {
        WorkResult::Fetched(resp) => assert_eq!(resp.status, 200),
        other => panic!("the fetch failed: {other:?}"),
    }
}

/// Both fetches at once, each its own task, as the driver runs them.
async fn parallel(a: SocketAddr, b: SocketAddr) -> Duration {
    let t = Instant::now();
    let mut set = JoinSet::new();
    set.spawn(fetch(request("slow_a", a)));
    set.spawn(fetch(request("slow_b", b)));
    while let Some(r) = set.join_next().await {
        check(r.expect("fetch task"));
    }
    t.elapsed()
}

/// One fetch after the other.
async fn sequential(a: SocketAddr, b: SocketAddr) -> Duration {
    let t = Instant::now();
    check(fetch(request("slow_a", a)).await);
    check(fetch(request("slow_b", b)).await);
    t.elapsed()
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// One downstream request through the driver; the time it took.
async fn run_guest(engine: &Engine, guest: &Arc<Guest>, config: &Arc<ServiceConfig>) -> Duration {
    let t = Instant::now();
    let r = run_request(
        engine,
        guest.clone(),
        config.clone(),
        DownstreamRequest::new("GET", "/"),
        ExecOptions::default(),
    )
    .await;
    let elapsed = t.elapsed();
    assert_eq!(
        r.response.status,
        200,
        "{:?} {}",
        r.response.error,
        String::from_utf8_lossy(&r.response.body)
    );
    elapsed
}

/// The guest mode: `fanout` (both backends at once) against `proxy` twice.
async fn through_guests(a: SocketAddr, b: SocketAddr) -> Option<(Duration, Duration)> {
    let dir = guests_dir();
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read(&path)
            .map_err(|e| eprintln!("{}: {e} (run scripts/build-guests.sh)", path.display()))
            .ok()
    };
    let (fanout, proxy) = (read("fanout.wasm")?, read("proxy.wasm")?);
    let engine = Engine::new(native_platform());
    let fanout = engine.load(&fanout).expect("fanout.wasm loads");
    let proxy = engine.load(&proxy).expect("proxy.wasm loads");
    let config = |flags: &[String]| {
        let mut c = ServiceConfig::default();
        for f in flags {
            let (name, backend) = parse_backend_flag(f).expect("backend flag");
            c.backends.insert(name, backend);
        }
        Arc::new(c)
    };
    let both = config(&[format!("a={a}"), format!("b={b}")]);
    let to_a = config(&[format!("origin={a}")]);
    let to_b = config(&[format!("origin={b}")]);
    // Warm-up (pooled connections, lazily compiled functions).
    run_guest(&engine, &fanout, &both).await;
    run_guest(&engine, &proxy, &to_a).await;
    run_guest(&engine, &proxy, &to_b).await;
    let mut par = Vec::new();
    let mut seq = Vec::new();
    for _ in 0..ROUNDS {
        par.push(run_guest(&engine, &fanout, &both).await);
        seq.push(run_guest(&engine, &proxy, &to_a).await + run_guest(&engine, &proxy, &to_b).await);
    }
    Some((median(par), median(seq)))
}

/// The direct mode: `fetch()` in parallel against in sequence.
async fn direct(a: SocketAddr, b: SocketAddr) -> (Duration, Duration) {
    // Warm-up: open the pooled connections.
    parallel(a, b).await;
    let mut par = Vec::new();
    let mut seq = Vec::new();
    for _ in 0..ROUNDS {
        par.push(parallel(a, b).await);
        seq.push(sequential(a, b).await);
    }
    (median(par), median(seq))
}

fn row(how: &str, (p, s): (Duration, Duration)) {
    let ratio = p.as_secs_f64() / s.as_secs_f64();
    println!("| {how} | {} | {} | **{ratio:.2}** |", ms(p), ms(s));
}

fn main() {
    // `cargo bench` passes --bench; ignore arguments.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async {
        let a = slow_origin().await;
        let b = slow_origin().await;
        eprintln!(
            "two origins on 127.0.0.1, each answering after {} ms; medians of {ROUNDS} rounds",
            DELAY.as_millis()
        );
        println!(
            "| two slow origins ({} ms each), native runner | parallel | sequential | ratio (0.50 = full overlap) |",
            DELAY.as_millis()
        );
        println!("|---|---:|---:|---:|");
        match through_guests(a, b).await {
            Some(t) => row(
                "guest: `fanout` (`send_async` ×2 + `select`) vs `proxy` (`send`) twice",
                t,
            ),
            None => eprintln!("test guests not found: guest mode skipped"),
        }
        row(
            "backend client alone: `fetch()` ×2 as tasks vs one after the other",
            direct(a, b).await,
        );
    });
}
