//! Cache benchmark: a readthrough cache hit against a miss to a local origin, through
//! the native runner's driver (the `readthrough` guest: one `send` to `origin`), and
//! what a service with 10,000 cached objects costs to load from a state directory.
//! Prints Markdown table rows.
//!
//! - **miss**: every request asks for a new path, so every `send` goes to the origin
//!   (a keep-alive origin on 127.0.0.1 that answers at once with `max-age=600`);
//! - **hit**: the same path again: answered from the cache with no fetch;
//! - **10,000 objects**: a state directory holding 10,000 cached 1 KiB objects,
//!   opened (read into memory) as `--state-dir` does at start.
//!
//! Run with `cargo bench -p edgeplay-cli --bench cache` (after
//! `scripts/build-guests.sh`).

mod common;

use common::{guests_dir, keepalive_origin, median};
use edgeplay_cli::driver::run_request;
use edgeplay_cli::platform::native_platform;
use edgeplay_cli::state::ServiceState;
use edgeplay_host::config::parse_backend_flag;
use edgeplay_host::{DownstreamRequest, Engine, ExecOptions, Service, ServiceConfig};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

const ROUNDS: usize = 200;

/// A keep-alive origin on 127.0.0.1 answering every request at once, cacheable.
async fn origin() -> SocketAddr {
    keepalive_origin(
        Duration::ZERO,
        b"HTTP/1.1 200 OK\r\ncache-control: max-age=600\r\ncontent-length: 11\r\n\r\nhello cache",
    )
    .await
}

fn us(d: Duration) -> String {
    format!("{:.0} µs", d.as_secs_f64() * 1e6)
}

async fn once(
    engine: &Engine,
    guest: &Arc<edgeplay_host::Guest>,
    service: &Service,
    path: &str,
) -> Duration {
    let t = Instant::now();
    let r = run_request(
        engine,
        guest.clone(),
        service.clone(),
        DownstreamRequest::new("GET", path),
        ExecOptions::default(),
    )
    .await;
    let d = t.elapsed();
    assert_eq!(r.response.status, 200, "{:?}", r.response.error);
    assert_eq!(r.response.body, b"hello cache");
    d
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let path = guests_dir().join("readthrough.wasm");
        let wasm = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (run scripts/build-guests.sh)", path.display()));
        let engine = Engine::new(native_platform());
        let guest = engine.load(&wasm).expect("readthrough.wasm loads");
        let addr = origin().await;
        let mut config = ServiceConfig::default();
        let (name, backend) = parse_backend_flag(&format!("origin={addr}")).expect("flag");
        config.backends.insert(name, backend);
        let service = Service::new(Arc::new(config));
        // Warm-up: pooled connection, lazily compiled functions, one stored object.
        once(&engine, &guest, &service, "/warm").await;
        once(&engine, &guest, &service, "/hot").await;
        let mut miss = Vec::new();
        let mut hit = Vec::new();
        for i in 0..ROUNDS {
            miss.push(once(&engine, &guest, &service, &format!("/miss/{i}")).await);
            hit.push(once(&engine, &guest, &service, "/hot").await);
        }
        let (m, h) = (median(miss), median(hit));
        println!(
            "| request through the `readthrough` guest, miss (local origin) | {} |",
            us(m)
        );
        println!("| same, hit (no fetch) | {} |", us(h));
        println!("| hit ÷ miss | {:.2} |", h.as_secs_f64() / m.as_secs_f64());

        // 10,000 objects in a state directory, then opened as a new process would.
        let dir = std::env::temp_dir().join(format!("edgeplay-bench-cache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let cfg = Arc::new(ServiceConfig::default());
        {
            let state = ServiceState::open(cfg.clone(), Some(&dir), false).expect("state dir");
            {
                let mut st = state.service.state.lock();
                for i in 0..10_000u32 {
                    let opts = edgeplay_host::cache::WriteOptions {
                        max_age_ns: 600_000_000_000,
                        surrogate_keys: vec![format!("k{}", i % 10)],
                        ..Default::default()
                    };
                    edgeplay_host::cache::insert(
                        &mut **st,
                        format!("key {i}").as_bytes(),
                        opts,
                        vec![b'x'; 1024],
                        1,
                        edgeplay_host::cache::Limits::default(),
                    );
                }
            }
            state.flush().expect("flush");
        }
        let mut open = Vec::new();
        for _ in 0..5 {
            let t = Instant::now();
            let state = ServiceState::open(cfg.clone(), Some(&dir), false).expect("state dir");
            open.push(t.elapsed());
            assert_eq!(
                edgeplay_host::cache::totals(&**state.service.state.lock()).0,
                10_000
            );
        }
        println!(
            "| open a state dir holding 10,000 cached objects (1 KiB each) | {:.0} ms |",
            median(open).as_secs_f64() * 1000.0
        );
        let _ = std::fs::remove_dir_all(&dir);
    });
}
