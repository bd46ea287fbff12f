//! The core's JS build on a small stand-in engine (WAT): the WASI view it runs under,
//! the snapshot, Wizer's rewrite (a) and starting from the snapshot (b). The real
//! engine is tested end to end in the workspace's `tests/jsbuild.rs`.

use edgeplay_host::collect::Collected;
use edgeplay_host::driver::blocking;
use edgeplay_host::jsbuild::{BuildError, BuildOptions, JsEngine, Source};
use edgeplay_host::{DownstreamRequest, Driver, Engine, ExecOptions, Guest, ServiceConfig};
use std::sync::Arc;

/// `wizer.initialize` reads stdin (the script's path) to 1024, opens that file through
/// the preopened directory and reads it to 2048, reads `$GREETING` from the
/// environment to 4096, and leaves the lengths in globals. `wizer.resume` writes the
/// three to stdout. `_initialize` sets a marker global, as a reactor's constructor would.
const ENGINE: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $environ_sizes (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (import "fastly_http_req" "body_downstream_get" (func $downstream (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $path_len (mut i32) (i32.const 0))
  (global $file_len (mut i32) (i32.const 0))
  (global $env_len (mut i32) (i32.const 0))
  (global $marker (mut i64) (i64.const 0))
  (global $answer i32 (i32.const 42))
  (data (i32.const 8000) "original data")
  (func (export "_initialize") (global.set $marker (i64.const 0x1122334455)))
  (func $read (param $fd i32) (param $at i32) (result i32)
    ;; iovec at 0: buf=$at len=512; nread at 8
    (i32.store (i32.const 0) (local.get $at))
    (i32.store (i32.const 4) (i32.const 512))
    (if (call $fd_read (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))
      (then (call $exit (i32.const 3))))
    (i32.load (i32.const 8)))
  (func (export "wizer.initialize")
    (local $fd i32)
    (global.set $path_len (i32.sub (call $read (i32.const 0) (i32.const 1024)) (i32.const 1)))
    ;; "/app/" is the preopen (fd 3): open the rest relative to it.
    (if (call $prestat (i32.const 3) (i32.const 16)) (then (call $exit (i32.const 4))))
    (if (call $path_open (i32.const 3) (i32.const 0) (i32.const 1029) (i32.sub (global.get $path_len) (i32.const 5))
          (i32.const 0) (i64.const 2) (i64.const 0) (i32.const 0) (i32.const 24))
      (then (call $exit (i32.const 5))))
    (global.set $file_len (call $read (i32.load (i32.const 24)) (i32.const 2048)))
    ;; "THROW" as the source: write a message to stderr and exit 1, as the engine does.
    (if (i32.eq (i32.load (i32.const 2048)) (i32.const 0x4f524854))
      (then
        (i32.store (i32.const 0) (i32.const 2048))
        (i32.store (i32.const 4) (global.get $file_len))
        (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
        (call $exit (i32.const 1))))
    ;; "FASTLY": call an ABI import during initialisation.
    (if (i32.eq (i32.load (i32.const 2048)) (i32.const 0x54534146))
      (then (drop (call $downstream (i32.const 0) (i32.const 4)))))
    (if (call $environ_sizes (i32.const 32) (i32.const 36)) (then (call $exit (i32.const 6))))
    (if (call $environ_get (i32.const 40) (i32.const 4096)) (then (call $exit (i32.const 7))))
    (global.set $env_len (i32.sub (i32.load (i32.const 36)) (i32.const 1)))
    ;; Clear what the data segment wrote: a snapshot keeps zeros too.
    (memory.fill (i32.const 8000) (i32.const 0) (i32.const 13)))
  (func $out (param $at i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $at))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "wizer.resume")
    (call $out (i32.const 1024) (global.get $path_len))
    (call $out (i32.const 2048) (global.get $file_len))
    (call $out (i32.const 4096) (global.get $env_len))
    (call $out (i32.const 8000) (i32.const 13))
    (if (i64.ne (global.get $marker) (i64.const 0x1122334455)) (then unreachable)))
)"#;

fn engine() -> Engine {
    Engine::new(edgeplay_host::Platform::deterministic())
}

fn opts() -> BuildOptions {
    BuildOptions {
        env: vec![("GREETING".into(), "hi".into())],
        ..BuildOptions::default()
    }
}

fn run(engine: &Engine, guest: Arc<Guest>) -> Collected {
    let driver = Driver::start(
        engine,
        guest,
        ServiceConfig::default(),
        DownstreamRequest::new("GET", "http://localhost/"),
        "0".repeat(32),
        ExecOptions::default(),
        blocking::CAPABILITIES,
    )
    .expect("instantiates");
    let ran = blocking::run(driver, blocking::refuse);
    let mut c = Collected::default();
    c.absorb(ran.outputs);
    c
}

#[test]
fn a_build_then_its_module_and_its_snapshot_run_the_same() {
    let wasm = wat::parse_str(ENGINE).unwrap();
    let e = engine();
    let js = JsEngine::new(&e, &wasm).unwrap();
    let built = js
        .build(&e, &Source::single("app.js", "SOURCE"), &opts())
        .unwrap();
    assert_eq!(built.snapshot.pages(), 1);
    assert!(
        built.wasi_calls.contains_key("path_open"),
        "{:?}",
        built.wasi_calls
    );
    let expected = "/app/app.jsSOURCEGREETING=hi\0\0\0\0\0\0\0\0\0\0\0\0\0";
    // (a) the rewritten module, loaded as any guest.
    let module = js.write_module(&built.snapshot).unwrap();
    let out = run(&e, e.load(&module).unwrap());
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    // (b) the compiled engine started from the snapshot.
    let snap = Arc::new(built.snapshot);
    let out = run(&e, js.guest_for(snap.clone()).unwrap());
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    // Twice: each request starts from the snapshot, not from the previous one.
    let out = run(&e, js.guest_for(snap.clone()).unwrap());
    assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    // A snapshot belongs to its engine.
    let other = JsEngine::new(
        &e,
        &wat::parse_str(ENGINE.replace("0x1122334455", "7")).unwrap(),
    )
    .unwrap();
    let err = other.guest_for(snap).unwrap_err();
    assert!(err.to_string().contains("another engine"), "{err}");
}

#[test]
fn the_rewrite_drops_the_init_exports_and_keeps_the_rest() {
    let wasm = wat::parse_str(ENGINE).unwrap();
    let e = engine();
    let js = JsEngine::new(&e, &wasm).unwrap();
    let built = js
        .build(&e, &Source::single("app.js", "x"), &opts())
        .unwrap();
    let module = js.write_module(&built.snapshot).unwrap();
    let mut exports = Vec::new();
    let mut data = 0;
    for p in wasmparser::Parser::new(0).parse_all(&module) {
        match p.unwrap() {
            wasmparser::Payload::ExportSection(r) => {
                exports = r.into_iter().map(|e| e.unwrap().name.to_string()).collect()
            }
            wasmparser::Payload::DataSection(r) => data = r.count(),
            wasmparser::Payload::StartSection { .. } => panic!("a start section"),
            _ => {}
        }
    }
    assert_eq!(exports, vec!["memory", "_start"]);
    // The stdin line, the file, the environment and the iovecs: a few runs.
    assert!((1..10).contains(&data), "{data} segments");
    wasmparser::Validator::new().validate_all(&module).unwrap();
}

#[test]
fn an_exit_is_a_script_error_with_the_engines_message() {
    let wasm = wat::parse_str(ENGINE).unwrap();
    let e = engine();
    let js = JsEngine::new(&e, &wasm).unwrap();
    let err = js
        .build(
            &e,
            &Source::single("app.js", "THROW at app.js:3:7 oops"),
            &opts(),
        )
        .unwrap_err();
    let BuildError::Script(s) = err else {
        panic!("{err:?}")
    };
    assert_eq!((s.line, s.column, s.exit_code), (Some(3), Some(7), 1));
    assert!(s.message.contains("oops"));
}

#[test]
fn a_fastly_call_at_init_names_the_import() {
    let wasm = wat::parse_str(ENGINE).unwrap();
    let e = engine();
    let js = JsEngine::new(&e, &wasm).unwrap();
    let err = js
        .build(&e, &Source::single("app.js", "FASTLY"), &opts())
        .unwrap_err();
    assert!(
        matches!(&err, BuildError::FastlyCall { import, .. } if import == "fastly_http_req::body_downstream_get"),
        "{err:?}"
    );
    assert!(err.to_string().contains("only while handling a request"));
}

#[test]
fn a_missing_file_and_an_endless_loop_are_bounded_errors() {
    let wasm = wat::parse_str(ENGINE).unwrap();
    let e = engine();
    let js = JsEngine::new(&e, &wasm).unwrap();
    let mut src = Source::single("app.js", "x");
    src.main = "other.js".into();
    // path_open fails: the stand-in exits 5.
    assert!(matches!(
        js.build(&e, &src, &opts()),
        Err(BuildError::Script(s)) if s.exit_code == 5
    ));
    let spin = wat::parse_str(
        r#"(module (memory (export "memory") 1)
        (func (export "wizer.initialize") (loop (br 0)))
        (func (export "wizer.resume")))"#,
    )
    .unwrap();
    let js = JsEngine::new(&e, &spin).unwrap();
    let o = BuildOptions {
        fuel: 1_000_000,
        ..opts()
    };
    assert!(matches!(
        js.build(&e, &Source::single("app.js", ""), &o),
        Err(BuildError::Budget { fuel: 1_000_000 })
    ));
}

#[test]
fn a_module_that_is_not_an_engine_is_refused() {
    let e = engine();
    let hello = wat::parse_str(r#"(module (memory (export "memory") 1) (func (export "_start")))"#)
        .unwrap();
    let err = JsEngine::new(&e, &hello).unwrap_err();
    assert!(err.to_string().contains("wizer.initialize"), "{err}");
}

/// `wizer.initialize` makes one WASI call with hostile arguments and exits with its
/// errno: the view answers EFAULT, it never panics.
fn exit_code_of(call: &str) -> i32 {
    let wat = format!(
        r#"(module
        (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "environ_get" (func $environ_get (param i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat (param i32 i32) (result i32)))
        (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
        (memory (export "memory") 1)
        (func (export "wizer.initialize") (call $exit {call}))
        (func (export "wizer.resume")))"#
    );
    let e = engine();
    let js = JsEngine::new(&e, &wat::parse_str(wat).unwrap()).unwrap();
    match js.build(&e, &Source::single("app.js", ""), &opts()) {
        Err(BuildError::Script(s)) => s.exit_code,
        other => panic!("{other:?}"),
    }
}

#[test]
fn hostile_pointers_and_lengths_are_efault() {
    const EFAULT: i32 = 21;
    for call in [
        "(call $fd_write (i32.const 1) (i32.const -8) (i32.const 2) (i32.const 0))",
        "(call $fd_read (i32.const 0) (i32.const -4) (i32.const 1) (i32.const 0))",
        "(call $random_get (i32.const 16) (i32.const -1))",
        "(call $environ_get (i32.const -2) (i32.const -2))",
        "(call $poll (i32.const -40) (i32.const 0) (i32.const 3) (i32.const 0))",
        "(call $prestat (i32.const 3) (i32.const -2))",
    ] {
        assert_eq!(exit_code_of(call), EFAULT, "{call}");
    }
}
