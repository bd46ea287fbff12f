//! End to end: `edgeplay build app.js -o app.wasm` (the core's JS build: the engine's
//! initialisation under wasmi, snapshot, Wizer's rewrite) answers like the JS SDK
//! CLI's build of the same source, and its failures are clear.
//!
//! The engine is the JS SDK's `fastly.wasm`, installed by `tests/js/build.sh` (which
//! the guest build runs); these tests fail, not skip, when it is missing.

mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The JS SDK's engine, where `tests/js/build.sh` installs it.
fn engine() -> PathBuf {
    // Building the guests installs the SDK (the CLI's js-app.wasm is built from it).
    guest("js-app");
    let cache = std::env::var_os("EDGEPLAY_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var("HOME").unwrap()).join(".cache/edgeplay"));
    let p = cache.join("js/node_modules/@fastly/js-compute/fastly.wasm");
    assert!(
        p.is_file(),
        "the JS SDK engine {} is missing: run tests/js/build.sh",
        p.display()
    );
    p
}

/// A temp file whose directory, with the 11 MB modules built there, is removed at the
/// end of the test.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some(dir) = self.0.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn scratch(name: &str, text: &str) -> (PathBuf, Scratch) {
    let p = temp_file(name, text);
    (p.clone(), Scratch(p))
}

/// `edgeplay build SRC -o OUT --engine ENGINE ARGS...` with its own build cache.
fn build(src: &Path, out: &Path, engine: &Path, args: &[&str]) -> Output {
    let cache = out.parent().unwrap().join("cache");
    Command::new(edgeplay_bin())
        .arg("build")
        .arg(src)
        .arg("-o")
        .arg(out)
        .arg("--engine")
        .arg(engine)
        .args(args)
        .env("EDGEPLAY_CACHE", cache)
        .output()
        .expect("run edgeplay build")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `edgeplay request --json WASM ARGS...`.
fn request(wasm: &Path, args: &[&str]) -> Value {
    let out = Command::new(edgeplay_bin())
        .arg("request")
        .arg(wasm)
        .arg("--json")
        .args(args)
        .output()
        .expect("run edgeplay request");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON from edgeplay request ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

const TOML: &str = r#"
name = "jsbuild-test"
[local_server.config_stores.settings]
format = "inline-toml"
[local_server.config_stores.settings.contents]
answer = "42"
[local_server.kv_stores]
store = [{ key = "seeded", data = "hello", metadata = "meta-1" }]
"#;

#[test]
fn the_built_module_answers_like_the_sdk_clis_build() {
    let engine = engine();
    let app = repo_root().join("tests/js/app.js");
    let (out, _rm) = scratch("ours.wasm", "");
    let o = build(&app, &out, &engine, &["--no-cache"]);
    assert!(o.status.success(), "edgeplay build failed: {}", stderr(&o));
    assert!(stderr(&o).contains("built "), "{}", stderr(&o));
    let cfg = temp_file("fastly.toml", TOML);
    let cfg = cfg.to_str().unwrap();
    let theirs = guest("js-app");
    for path in [
        "/",
        "/config/answer",
        "/config/nope",
        "/kv/store/seeded",
        "/kv/store/nope",
        "/kv-roundtrip/store",
        "/simple-cache/k?value=v",
        "/core-cache/k",
    ] {
        let a = request(&out, &["-C", cfg, path]);
        let b = request(&theirs, &["-C", cfg, path]);
        for field in ["status", "headers", "body"] {
            assert_eq!(
                a[field], b[field],
                "{path}: {field} differs\nours: {a}\ntheirs: {b}"
            );
        }
        assert_ne!(a["status"], 500, "{path}: {a}");
    }
    // The same module as the CLI's in shape: `_start` and no init exports.
    let wasm = std::fs::read(&out).unwrap();
    let exports = export_names(&wasm);
    assert_eq!(exports, export_names(&std::fs::read(&theirs).unwrap()));
    assert!(exports.contains(&"_start".to_string()), "{exports:?}");
    assert!(
        !exports
            .iter()
            .any(|e| e.starts_with("wizer.") || e == "_initialize"),
        "{exports:?}"
    );
}

/// The module's export names (a tiny section walker: enough for a test).
fn export_names(wasm: &[u8]) -> Vec<String> {
    fn leb(b: &[u8], at: &mut usize) -> u64 {
        let (mut v, mut shift) = (0u64, 0);
        loop {
            let byte = b[*at];
            *at += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return v;
            }
            shift += 7;
        }
    }
    let mut at = 8;
    while at < wasm.len() {
        let id = wasm[at];
        at += 1;
        let len = leb(wasm, &mut at) as usize;
        let end = at + len;
        if id == 7 {
            let mut p = at;
            let n = leb(wasm, &mut p);
            let mut names = Vec::new();
            for _ in 0..n {
                let l = leb(wasm, &mut p) as usize;
                names.push(String::from_utf8_lossy(&wasm[p..p + l]).into_owned());
                p += l;
                p += 1;
                leb(wasm, &mut p);
            }
            return names;
        }
        at = end;
    }
    Vec::new()
}

#[test]
fn a_syntax_error_names_its_line_and_column() {
    let engine = engine();
    let (src, _rm) = scratch(
        "broken.js",
        "addEventListener(\"fetch\", (e) => {\n  let x = ;\n});\n",
    );
    let o = build(&src, &src.with_extension("wasm"), &engine, &[]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("SyntaxError"), "{err}");
    assert!(err.contains("broken.js:2:11"), "{err}");
    assert!(!src.with_extension("wasm").exists());
}

#[test]
fn a_top_level_throw_is_a_build_error_with_the_engines_message() {
    let engine = engine();
    let (src, _rm) = scratch(
        "throws.js",
        "function f() { throw new Error(\"no config at start\"); }\nf();\n",
    );
    let o = build(&src, &src.with_extension("wasm"), &engine, &[]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("Error: no config at start"), "{err}");
    assert!(err.contains("throws.js:1:22"), "{err}");
}

#[test]
fn a_fastly_api_at_top_level_is_refused_by_the_engine() {
    let engine = engine();
    let (src, _rm) = scratch(
        "store.js",
        "import { ConfigStore } from \"fastly:config-store\";\nconst c = new ConfigStore(\"settings\");\n",
    );
    let o = build(&src, &src.with_extension("wasm"), &engine, &[]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(
        err.contains("can only be used during request handling"),
        "{err}"
    );
}

/// An engine stand-in (WAT) whose `wizer.initialize` calls a Fastly import, as an
/// engine that did not guard its builtins would.
const CALLS_FASTLY_AT_INIT: &str = r#"(module
  (import "fastly_config_store" "open" (func $open (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_initialize"))
  (func (export "wizer.initialize") (drop (call $open (i32.const 0) (i32.const 0) (i32.const 0))))
  (func (export "wizer.resume"))
)"#;

#[test]
fn a_fastly_call_during_initialisation_names_the_import() {
    let (standin, _rm_standin) = scratch("standin.wat", CALLS_FASTLY_AT_INIT);
    let (src, _rm) = scratch("app.js", "// anything\n");
    let o = build(&src, &src.with_extension("wasm"), &standin, &[]);
    assert!(!o.status.success());
    let err = stderr(&o);
    assert!(err.contains("`fastly_config_store::open`"), "{err}");
    assert!(err.contains("only while handling a request"), "{err}");
}

#[test]
fn builds_are_cached_by_engine_and_source() {
    let engine = engine();
    let (src, _rm) = scratch(
        "cached.js",
        "addEventListener(\"fetch\", (e) => e.respondWith(new Response(\"one\")));\n",
    );
    let out = src.with_extension("wasm");
    let first = build(&src, &out, &engine, &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(!stderr(&first).contains("(cached)"), "{}", stderr(&first));
    let bytes = std::fs::read(&out).unwrap();
    let again = build(&src, &out, &engine, &[]);
    assert!(stderr(&again).contains("(cached)"), "{}", stderr(&again));
    assert_eq!(std::fs::read(&out).unwrap(), bytes);
    assert_eq!(request(&out, &["/"])["body"], "one");
    // An edit is a new build.
    std::fs::write(
        &src,
        "addEventListener(\"fetch\", (e) => e.respondWith(new Response(\"two\")));\n",
    )
    .unwrap();
    let edited = build(&src, &out, &engine, &[]);
    assert!(!stderr(&edited).contains("(cached)"), "{}", stderr(&edited));
    assert_eq!(request(&out, &["/"])["body"], "two");
}

#[test]
fn a_missing_engine_says_how_to_get_it() {
    let (src, _rm) = scratch("app.js", "// anything\n");
    let o = Command::new(edgeplay_bin())
        .arg("build")
        .arg(&src)
        .arg("-o")
        .arg(src.with_extension("wasm"))
        .env("EDGEPLAY_JS_ENGINE", "")
        .env("EDGEPLAY_CACHE", "")
        .env("HOME", src.parent().unwrap())
        .current_dir(src.parent().unwrap())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("npm install @fastly/js-compute"),
        "{}",
        stderr(&o)
    );
}

fn respond(text: &str) -> String {
    format!("addEventListener(\"fetch\", (e) => e.respondWith(new Response(\"{text}\")));\n")
}

/// Poll `f` every 200 ms for up to 3 minutes (a debug build interprets slowly).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = std::time::Instant::now();
    while t0.elapsed() < std::time::Duration::from_secs(180) {
        if f() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

#[test]
fn serve_app_js_builds_it_and_watch_rebuilds_on_change() {
    engine();
    let (src, _rm) = scratch("watched.js", &respond("one"));
    let server = Server::start(&src, &["--watch"]);
    assert_eq!(server.request("GET", "/", &[], b"").text(), "one");
    std::fs::write(&src, respond("two")).unwrap();
    eventually("the rebuilt app", || {
        server.request("GET", "/", &[], b"").text() == "two"
    });
    // A broken edit is reported and the last good build keeps serving.
    std::fs::write(
        &src,
        "addEventListener(\"fetch\", (e) => {\n  let x = ;\n});\n",
    )
    .unwrap();
    eventually("the syntax error in the log", || {
        server.log().contains("SyntaxError")
    });
    assert!(server.log().contains("watched.js:2:11"), "{}", server.log());
    assert!(
        server.log().contains("still serving the previous version"),
        "{}",
        server.log()
    );
    assert_eq!(server.request("GET", "/", &[], b"").text(), "two");
}

#[test]
fn request_builds_a_js_app_given_as_input() {
    engine();
    let (src, _rm) = scratch("direct.js", &respond("direct"));
    let v = request(&src, &["/"]);
    assert_eq!(
        (v["status"].as_u64(), v["body"].as_str()),
        (Some(200), Some("direct")),
        "{v}"
    );
}

#[test]
fn the_core_api_builds_a_multi_file_app_whose_imports_resolve_in_its_files() {
    use edgeplay_host::jsbuild::{BuildOptions, JsEngine, Source};
    let wasm = std::fs::read(engine()).unwrap();
    let engine = edgeplay_host::Engine::new(edgeplay_host::Platform::deterministic());
    let js = JsEngine::new(&engine, &wasm).unwrap();
    let mut src = Source::single(
        "app.js",
        "import { greet } from \"./lib/greet.js\";\nconsole.log(\"init\", greet(\"build\"));\naddEventListener(\"fetch\", (e) => e.respondWith(new Response(greet(\"request\"))));\n",
    );
    src.files.insert(
        "lib/greet.js".into(),
        b"export function greet(who) { return `hello, ${who}`; }\n".to_vec(),
    );
    let built = js.build(&engine, &src, &BuildOptions::default()).unwrap();
    assert_eq!(built.stdout, "init hello, build\n");
    let out = std::env::temp_dir().join(format!("edgeplay-multi-{}.wasm", std::process::id()));
    std::fs::write(&out, js.write_module(&built.snapshot).unwrap()).unwrap();
    let v = request(&out, &["/"]);
    let _ = std::fs::remove_file(&out);
    assert_eq!(v["body"], "hello, request", "{v}");
}

#[test]
fn edgeplay_build_follows_relative_imports() {
    let engine = engine();
    let (src, _rm) = scratch(
        "main.js",
        "import { greet } from \"./lib/greet.js\";\naddEventListener(\"fetch\", (e) => e.respondWith(new Response(greet(\"cli\"))));\n",
    );
    let dir = src.parent().unwrap();
    std::fs::create_dir_all(dir.join("lib")).unwrap();
    std::fs::write(
        dir.join("lib/greet.js"),
        "import { punct } from \"../punct.js\";\nexport const greet = (who) => `hello, ${who}${punct}`;\n",
    )
    .unwrap();
    std::fs::write(dir.join("punct.js"), "export const punct = \"!\";\n").unwrap();
    let out = dir.join("main.wasm");
    let o = build(&src, &out, &engine, &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(request(&out, &["/"])["body"], "hello, cli!");
    // An edit of an imported file is a new build, not the cached one.
    std::fs::write(dir.join("punct.js"), "export const punct = \"?\";\n").unwrap();
    let o = build(&src, &out, &engine, &[]);
    assert!(!stderr(&o).contains("(cached)"), "{}", stderr(&o));
    assert_eq!(request(&out, &["/"])["body"], "hello, cli?");
}
