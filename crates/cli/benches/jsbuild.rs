//! JS build benchmark: `edgeplay build` (the core's build: engine initialisation under
//! wasmi, snapshot, Wizer's rewrite) beside `js-compute-runtime` (esbuild + Wizer on
//! wasmtime), for a hello app and `tests/js/app.js`; and what starting a request from
//! the snapshot (b) costs beside loading the written module (a).
//!
//! `cargo bench -p edgeplay-cli --bench jsbuild` (needs the JS SDK in
//! `~/.cache/edgeplay/js`: `tests/js/build.sh` installs it). Prints a Markdown table.

#[allow(dead_code)] // guests_dir: the other benches use it
mod common;

use common::median;
use edgeplay_cli::driver::run_request;
use edgeplay_cli::platform::native_platform;
use edgeplay_host::jsbuild::{BuildOptions, JsEngine, Source};
use edgeplay_host::{DownstreamRequest, Engine, ExecOptions, Guest, ServiceConfig};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const HELLO: &str = "addEventListener(\"fetch\", (e) => e.respondWith(new Response(\"hello\")));\n";

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn sdk() -> PathBuf {
    let home = std::env::var("HOME").expect("HOME");
    let p = PathBuf::from(home).join(".cache/edgeplay/js");
    assert!(
        p.join("node_modules/@fastly/js-compute/fastly.wasm")
            .is_file(),
        "the JS SDK is not in {}: run tests/js/build.sh",
        p.display()
    );
    p
}

struct Row {
    engine: Duration,
    init: Duration,
    write: Duration,
    total: Duration,
}

/// The core's build, from the engine's bytes to the module's, a fresh engine each time.
fn ours(engine_wasm: &[u8], source: &Source, n: usize) -> Row {
    let mut rows = Vec::new();
    for _ in 0..n {
        let engine = Engine::new(native_platform());
        let t0 = Instant::now();
        let js = JsEngine::new(&engine, engine_wasm).unwrap();
        let t1 = Instant::now();
        let built = js.build(&engine, source, &BuildOptions::default()).unwrap();
        let t2 = Instant::now();
        let wasm = js.write_module(&built.snapshot).unwrap();
        let t3 = Instant::now();
        assert!(wasm.len() > 1_000_000);
        rows.push((t1 - t0, t2 - t1, t3 - t2, t3 - t0));
    }
    Row {
        engine: median(rows.iter().map(|r| r.0).collect()),
        init: median(rows.iter().map(|r| r.1).collect()),
        write: median(rows.iter().map(|r| r.2).collect()),
        total: median(rows.iter().map(|r| r.3).collect()),
    }
}

/// A warm rebuild: the engine prepared and compiled once (the tab's case).
fn ours_warm(engine_wasm: &[u8], source: &Source, n: usize) -> Duration {
    let engine = Engine::new(native_platform());
    let js = JsEngine::new(&engine, engine_wasm).unwrap();
    js.build(&engine, source, &BuildOptions::default()).unwrap();
    median(
        (0..n)
            .map(|_| {
                let t = Instant::now();
                js.build(&engine, source, &BuildOptions::default()).unwrap();
                t.elapsed()
            })
            .collect(),
    )
}

/// `js-compute-runtime APP OUT` run from the SDK's directory (as tests/js/build.sh).
fn theirs(sdk: &Path, app: &Path, n: usize) -> Duration {
    let out = std::env::temp_dir().join(format!("edgeplay-bench-{}.wasm", std::process::id()));
    let run = || {
        let t = Instant::now();
        let s = Command::new(sdk.join("node_modules/.bin/js-compute-runtime"))
            .arg(app)
            .arg(&out)
            .current_dir(sdk)
            .output()
            .expect("run js-compute-runtime");
        assert!(s.status.success(), "{}", String::from_utf8_lossy(&s.stderr));
        t.elapsed()
    };
    run(); // warm Wizer's compilation cache
    median((0..n).map(|_| run()).collect())
}

fn first_request(engine: &Engine, guest: Arc<Guest>) -> Duration {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let t = Instant::now();
    let r = rt.block_on(run_request(
        engine,
        guest,
        Arc::new(ServiceConfig::default()),
        DownstreamRequest::new("GET", "/"),
        ExecOptions::default(),
    ));
    assert_eq!(r.response.status, 200, "{:?}", r.response.error);
    t.elapsed()
}

fn main() {
    let sdk = sdk();
    let engine_wasm =
        std::fs::read(sdk.join("node_modules/@fastly/js-compute/fastly.wasm")).unwrap();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let app_js = root.join("tests/js/app.js");
    let hello_js = std::env::temp_dir().join("edgeplay-bench-hello.js");
    std::fs::write(&hello_js, HELLO).unwrap();
    let n = 5;

    println!("| app | edgeplay build (engine + init + module) | warm rebuild (engine compiled) | js-compute-runtime (warm) |");
    println!("|---|---:|---:|---:|");
    for (name, path) in [("hello", &hello_js), ("tests/js/app.js", &app_js)] {
        let source = Source::single("app.js", std::fs::read(path).unwrap());
        let r = ours(&engine_wasm, &source, n);
        let warm = ours_warm(&engine_wasm, &source, n);
        let t = theirs(&sdk, path, 3);
        println!(
            "| {name} | **{}** ({} + {} + {}) | {} | {} |",
            ms(r.total),
            ms(r.engine),
            ms(r.init),
            ms(r.write),
            ms(warm),
            ms(t)
        );
    }

    // (a) vs (b): what the first request after a build costs.
    let source = Source::single("app.js", HELLO);
    let engine = Engine::new(native_platform());
    let js = JsEngine::new(&engine, &engine_wasm).unwrap();
    let built = js
        .build(&engine, &source, &BuildOptions::default())
        .unwrap();
    let wasm = js.write_module(&built.snapshot).unwrap();
    let snap = Arc::new(built.snapshot);
    let b = median(
        (0..n)
            .map(|_| first_request(&engine, js.guest_for(snap.clone()).unwrap()))
            .collect(),
    );
    let a = median(
        (0..n)
            .map(|_| {
                let fresh = Engine::new(native_platform());
                let t = Instant::now();
                let g = fresh.load(&wasm).unwrap();
                first_request(&fresh, g);
                t.elapsed()
            })
            .collect(),
    );
    println!();
    println!("| after a build, hello's first request | time |");
    println!("|---|---:|");
    println!(
        "| (a) load the written module ({} KiB), then run | {} |",
        wasm.len() / 1024,
        ms(a)
    );
    println!(
        "| (b) start from the snapshot ({} KiB of memory) | {} |",
        snap.memory.len() / 1024,
        ms(b)
    );
}
