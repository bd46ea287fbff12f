//! The module loader the tab and the runner share: header checks, validation, the
//! backtrace instrumentation, the name section, instantiation and a short run.
//! Inputs: arbitrary bytes and mutated real guests (the corpus is seeded with the
//! test guests); an input starting with `S` is instead the seed of a valid module
//! (wasm-smith), which reaches the instrumentation with modules wasmi accepts.
#![no_main]

use arbitrary::Unstructured;
use edgeplay_host::driver::blocking;
use edgeplay_host::{DownstreamRequest, Driver, Engine, ExecOptions, Platform, ServiceConfig};
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;
use std::sync::Arc;

thread_local! {
    // The engine caches every module it loads: a new one every so often keeps the
    // cache (and the fuzzer's memory) bounded.
    static ENGINE: RefCell<(Engine, u32)> = RefCell::new((Engine::new(Platform::deterministic()), 0));
}

fn smith(data: &[u8]) -> Option<Vec<u8>> {
    let mut u = Unstructured::new(data);
    let mut config: wasm_smith::Config = u.arbitrary().ok()?;
    // What wasmi implements (no GC, threads, exceptions, component model).
    config.gc_enabled = false;
    config.threads_enabled = false;
    config.exceptions_enabled = false;
    config.memory64_enabled = false;
    config.max_memory32_bytes = 1 << 24;
    config.max_memories = config.max_memories.min(2);
    let module = wasm_smith::Module::new(config, &mut u).ok()?;
    Some(module.to_bytes())
}

fuzz_target!(|data: &[u8]| {
    let wasm = match data.strip_prefix(b"S") {
        Some(seed) => match smith(seed) {
            Some(w) => w,
            None => return,
        },
        None => data.to_vec(),
    };
    ENGINE.with(|e| {
        let mut e = e.borrow_mut();
        e.1 += 1;
        if e.1 > 200 {
            *e = (Engine::new(Platform::deterministic()), 0);
        }
        let engine = &e.0;
        let Ok(guest) = engine.load(&wasm) else {
            return;
        };
        let opts = ExecOptions {
            cpu_limit_ms: Some(5),
            heap_limit: 32 << 20,
            ..ExecOptions::default()
        };
        let Ok(driver) = Driver::start(
            engine,
            guest,
            Arc::new(ServiceConfig::default()),
            DownstreamRequest::new("GET", "http://fuzz.test/"),
            "0".repeat(32),
            opts,
            blocking::CAPABILITIES,
        ) else {
            return;
        };
        let ran = blocking::run(driver, blocking::refuse);
        let _ = ran.outcome.exit.error_message();
    });
});
