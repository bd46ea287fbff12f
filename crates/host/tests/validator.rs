//! A platform validator (the browser's `WebAssembly.validate` in the tab): the engine
//! leaves function bodies to wasmi's lazy mode, a refused module still gets the
//! interpreter's own error, and a body that got past a validator traps when called.

mod common;

use common::{assert_returned, run_wasm, sdk_guest};
use edgeplay_host::platform::Validator;
use edgeplay_host::{DownstreamRequest, Engine, Exit, LoadError, Platform, ServiceConfig};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// wasmparser's validator with wasmi's features, counting its calls.
#[derive(Default)]
struct Counting {
    calls: AtomicUsize,
}

impl Validator for Counting {
    fn validate(&self, wasm: &[u8]) -> bool {
        self.calls.fetch_add(1, Ordering::SeqCst);
        wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
            .validate_all(wasm)
            .is_ok()
    }
}

/// A validator that always answers `answer`.
struct Says(bool);

impl Validator for Says {
    fn validate(&self, _: &[u8]) -> bool {
        self.0
    }
}

fn engine_with(validator: Arc<dyn Validator>) -> Engine {
    Engine::new(Platform {
        validator: Some(validator),
        ..Platform::deterministic()
    })
}

fn req() -> DownstreamRequest {
    DownstreamRequest::new("GET", "http://localhost/")
}

/// `_start` calls `$bad` when `call_bad`; `$bad`'s body returns an i64 as an i32.
fn with_invalid_body(call_bad: bool) -> Vec<u8> {
    let call = if call_bad { "(drop (call $bad))" } else { "" };
    wat::parse_str(format!(
        r#"(module
  (memory (export "memory") 1)
  (func $bad (result i32) (i64.const 1))
  (func (export "_start") {call}))"#
    ))
    .expect("the text parses (wat does not check types)")
}

#[test]
fn with_a_platform_validator_the_sdk_guest_loads_and_answers() {
    let counting = Arc::new(Counting::default());
    let engine = engine_with(counting.clone());
    let wasm = sdk_guest("hello");
    let guest = engine.load(&wasm).expect("loads");
    assert!(
        guest.info.backtraces,
        "the instrumented module passed the validator"
    );
    assert_eq!(
        counting.calls.load(Ordering::SeqCst),
        1,
        "one validation per load"
    );
    let run = run_wasm(&engine, &wasm, ServiceConfig::default(), req());
    assert_returned(&run);
    assert_eq!(run.response.status, 200);
    // The same bytes again come from the module cache: no second validation.
    assert!(engine.load(&wasm).unwrap().info.cached);
    assert_eq!(counting.calls.load(Ordering::SeqCst), 1);
}

#[test]
fn a_module_the_validator_refuses_gets_the_interpreters_own_error() {
    let wasm = with_invalid_body(false);
    let plain = common::engine().load(&wasm).unwrap_err();
    let validated = engine_with(Arc::new(Counting::default()))
        .load(&wasm)
        .unwrap_err();
    assert!(matches!(validated, LoadError::Invalid(_)), "{validated:?}");
    assert_eq!(validated.to_string(), plain.to_string());
    assert!(
        validated.to_string().contains("type mismatch"),
        "{validated}"
    );
}

#[test]
fn a_validator_that_refuses_what_wasmi_accepts_does_not_block_the_guest() {
    let engine = engine_with(Arc::new(Says(false)));
    let wasm = sdk_guest("hello");
    let run = run_wasm(&engine, &wasm, ServiceConfig::default(), req());
    assert_returned(&run);
    assert_eq!(run.response.status, 200);
}

#[test]
fn a_body_that_got_past_a_validator_traps_when_called_and_not_before() {
    let engine = engine_with(Arc::new(Says(true)));
    // Never called: the guest runs to its end, as on an engine that compiles lazily.
    let run = run_wasm(
        &engine,
        &with_invalid_body(false),
        ServiceConfig::default(),
        req(),
    );
    assert_returned(&run);
    // Called: a trap naming the problem, never a panic.
    let run = run_wasm(
        &engine,
        &with_invalid_body(true),
        ServiceConfig::default(),
        req(),
    );
    match &run.outcome.exit {
        Exit::Trap { message, .. } => assert!(message.contains("type mismatch"), "{message}"),
        other => panic!("expected a trap, got {other:?}"),
    }
}
