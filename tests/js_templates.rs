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
