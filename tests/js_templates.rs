//! The tab's JavaScript templates (`edgeplay_web::jsbuild_tab::TEMPLATES`) build and
//! answer with the tab's default `fastly.toml`: each goes through the runner
//! (`edgeplay request app.js`, which builds it with the core as the tab's worker
//! does) and its response and log line are what the template promises.
//!
//! The engine is the JS SDK's `fastly.wasm` (tests/js/build.sh installs it); these
//! tests fail, not skip, when it is missing.

mod common;
use common::*;
use edgeplay_web::examples::DEFAULT_CONFIG;
use edgeplay_web::jsbuild_tab::{template, TEMPLATES};
use serde_json::Value;
use std::process::Command;

/// `edgeplay request --json app.js /` for template `name` with the default config.
fn run(name: &str) -> Value {
    // Building the guests installs the SDK, whose engine the runner finds.
    guest("js-app");
    let t = template(name).unwrap_or_else(|| panic!("no template {name}"));
    let app = temp_file("app.js", t.source);
    let toml = app.with_file_name("fastly.toml");
    std::fs::write(&toml, DEFAULT_CONFIG).unwrap();
    let out = Command::new(edgeplay_bin())
        .arg("request")
        .arg(&app)
        .arg("/")
        .arg("-C")
        .arg(&toml)
        .arg("--json")
        .output()
        .expect("run edgeplay request");
    let _ = std::fs::remove_dir_all(app.parent().unwrap());
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{name}: no JSON from edgeplay request ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn check(name: &str, body: &str, stdout: &str) {
    let v = run(name);
    assert_eq!(v["status"], 200, "{name}: {v}");
    let got = v["body"].as_str().unwrap_or_default();
    assert!(got.contains(body), "{name}: body {got:?} lacks {body:?}");
    let out = v["stdout"].as_str().unwrap_or_default();
    assert!(
        out.contains(stdout),
        "{name}: stdout {out:?} lacks {stdout:?}"
    );
}

#[test]
fn every_template_is_tested_here() {
    let names: Vec<&str> = TEMPLATES.iter().map(|t| t.name).collect();
    assert_eq!(
        names,
        [
            "hello",
            "proxy",
            "config-store",
            "kv-store",
            "cache-override",
            "streaming"
        ]
    );
}

#[test]
fn hello_answers_and_logs_the_request() {
    check("hello", "Hello from JavaScript! You asked for /", "GET /");
}

#[test]
fn proxy_answers_with_the_mock_backends_body() {
    check(
        "proxy",
        "backend b said: fast answer from b",
        "backend b answered 200",
    );
}

#[test]
fn config_store_reads_the_default_configs_greeting() {
    check(
        "config-store",
        "greeting: Hello from the config store!",
        "settings.greeting",
    );
}

#[test]
fn kv_store_counts_a_first_visit() {
    check(
        "kv-store",
        "Hello from the KV store!\nvisits: 1",
        "visit number 1",
    );
}

#[test]
fn cache_override_fetches_the_slow_backend() {
    check("cache-override", "slow answer from a", "backend a: 200");
}

#[test]
fn streaming_sends_five_chunks() {
    check(
        "streaming",
        "chunk 1\nchunk 2\nchunk 3\nchunk 4\nchunk 5\n",
        "streaming 5 chunks",
    );
}

/// The JS SDK's engine, where `tests/js/build.sh` installs it.
fn engine_wasm() -> Vec<u8> {
    guest("js-app");
    let cache = std::env::var_os("EDGEPLAY_CACHE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/edgeplay")
        });
    let p = cache.join("js/node_modules/@fastly/js-compute/fastly.wasm");
    std::fs::read(&p).unwrap_or_else(|e| panic!("the JS SDK engine {}: {e}", p.display()))
}

/// The worker's builder (`jsbuild_tab::Builder`), natively: a build, the same source
/// again from the cache, a syntax error at its line and column, the module to
/// download, and the cache's bound.
#[test]
fn the_tabs_builder_caches_by_source_and_reports_errors_at_their_line() {
    use edgeplay_web::jsbuild_tab::{Builder, EngineManifest, MAX_CACHED_BUILDS};
    let engine = edgeplay_host::Engine::new(edgeplay_host::Platform::deterministic());
    let manifest = EngineManifest {
        package: "@fastly/js-compute".into(),
        version: "3.46.0".into(),
        file: "fastly.wasm".into(),
        size: 0,
    };
    let mut b = Builder::new(&engine, &engine_wasm(), manifest).unwrap();
    let hello = template("hello").unwrap().source;
    let first = b.build(&engine, "app.js", hello).unwrap();
    assert!(!first.cached);
    assert!(first.fuel > 0);
    let again = b.build(&engine, "app.js", hello).unwrap();
    assert!(again.cached);
    assert_eq!(again.key, first.key);

    let bad = "addEventListener(\"fetch\", () => {});\nconst x = ;\n";
    let err = b.build(&engine, "app.js", bad).unwrap_err();
    assert_eq!(
        (err.line, err.column),
        (Some(2), Some(11)),
        "{}",
        err.message
    );
    assert!(err.message.contains("SyntaxError"), "{}", err.message);

    // The deployable module is Wizer's output: a module that loads.
    let wasm = b.module(&first.key).unwrap();
    assert!(wasm.starts_with(b"\0asm"));
    engine.load(&wasm).expect("the written module loads");

    // The cache keeps the newest builds only.
    for i in 0..MAX_CACHED_BUILDS {
        let src = hello.replace("Hello from JavaScript!", &format!("Hello {i}"));
        assert!(!b.build(&engine, "app.js", &src).unwrap().cached);
    }
    assert!(b.module(&first.key).is_err());
    assert!(!b.build(&engine, "app.js", hello).unwrap().cached);
}
