//! Every hostcall with fuzzed arguments over a live session: the guest
//! (`edgeplay_fuzz::hostcall_guest_wat`) runs its downstream body as a program of
//! calls to every import of the ABI catalog, with argument values and guest memory
//! contents from the input, against a service with one of every store. Any host
//! panic is a crash; the guest must end with a returned, exited, trapped or
//! CPU-limited outcome.
#![no_main]

use edgeplay_host::driver::blocking;
use edgeplay_host::{
    DownstreamRequest, Driver, Engine, ExecOptions, Guest, Platform, Service, ServiceConfig,
};
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};

struct World {
    engine: Engine,
    guest: Arc<Guest>,
    config: Arc<ServiceConfig>,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let engine = Engine::new(Platform::deterministic());
        let wasm = wat::parse_str(edgeplay_fuzz::hostcall_guest_wat()).expect("the guest's WAT");
        let guest = engine.load(&wasm).expect("the hostcall guest loads");
        World {
            engine,
            guest,
            config: Arc::new(edgeplay_fuzz::service_config()),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let w = world();
    let req = DownstreamRequest::new("POST", "http://fuzz.test/p?q=1")
        .with_header("host", "fuzz.test")
        .with_header("content-type", "application/octet-stream")
        .with_body(data.to_vec());
    let opts = ExecOptions {
        cpu_limit_ms: Some(50),
        ..ExecOptions::default()
    };
    // A fresh service each run: state from one input must not change the next's.
    let service = Service::new(w.config.clone());
    let Ok(driver) = Driver::start(
        &w.engine,
        w.guest.clone(),
        service,
        req,
        "0".repeat(32),
        opts,
        blocking::CAPABILITIES,
    ) else {
        panic!("the hostcall guest failed to start");
    };
    let ran = blocking::run(driver, blocking::refuse);
    for e in &ran.trace {
        let _ = e.summary();
    }
});
