//! A synchronous test driver: runs a guest to the end, completing outside work at once
//! (sleeps finish immediately), and collects what a user would see.
#![allow(dead_code)]

use edgeplay_host::{
    Collected, DownstreamRequest, Engine, ExecOptions, Execution, FinalResponse, Outcome, Platform,
    Poll, ServiceConfig, TraceEvent, WorkKind, WorkResult,
};
use std::sync::Arc;

/// What one request produced.
pub struct Run {
    pub collected: Collected,
    pub outcome: Outcome,
    pub trace: Vec<TraceEvent>,
    pub response: FinalResponse,
}

impl Run {
    /// Trace events of one hostcall, `module::name`.
    pub fn calls(&self, qualified: &str) -> Vec<&TraceEvent> {
        self.trace
            .iter()
            .filter(|e| e.qualified_name() == qualified)
            .collect()
    }
    /// The status name of the first call of `module::name`.
    pub fn status_of(&self, qualified: &str) -> Option<String> {
        self.calls(qualified)
            .first()
            .and_then(|e| e.status.as_ref().map(|s| s.to_string()))
    }
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.response.body).into_owned()
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.collected.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.collected.stderr).into_owned()
    }
}

pub fn engine() -> Engine {
    Engine::new(Platform::deterministic())
}

/// Run WAT text with the default config.
pub fn run_wat(wat: &str, req: DownstreamRequest) -> Run {
    let wasm = wat::parse_str(wat).expect("valid WAT");
    run_wasm(&engine(), &wasm, ServiceConfig::default(), req)
}

/// Run a wasm module to the end.
pub fn run_wasm(
    engine: &Engine,
    wasm: &[u8],
    config: ServiceConfig,
    req: DownstreamRequest,
) -> Run {
    run_with(engine, wasm, config, req, ExecOptions::default())
}

/// Run with explicit options.
pub fn run_with(
    engine: &Engine,
    wasm: &[u8],
    config: ServiceConfig,
    req: DownstreamRequest,
    opts: ExecOptions,
) -> Run {
    let guest = engine.load(wasm).expect("guest loads");
    let mut exec = Execution::new(engine, guest, Arc::new(config), req, "0".repeat(32), opts)
        .expect("guest instantiates");
    let mut collected = Collected::default();
    let mut idle = 0;
    let outcome = loop {
        let p = exec.run();
        collected.absorb(exec.take_outputs());
        match p {
            Poll::Done(o) => break o,
            Poll::Yielded => idle = 0,
            Poll::Blocked => {
                let work = exec.take_work();
                if work.is_empty() {
                    idle += 1;
                    assert!(idle < 3, "guest blocked with no outside work pending");
                }
                for w in work {
                    match w.kind {
                        WorkKind::Sleep { .. } => exec.complete(w.id, WorkResult::Slept),
                        WorkKind::Fetch(req) => exec.complete(w.id, fetch(&req)),
                    }
                }
            }
        }
    };
    let trace = exec.take_trace();
    let response = collected.final_response(&outcome);
    Run {
        collected,
        outcome,
        trace,
        response,
    }
}

/// The test driver's origin: nothing is reachable unless a test answers fetches itself.
fn fetch(req: &edgeplay_host::FetchRequest) -> WorkResult {
    WorkResult::FetchFailed(edgeplay_host::FetchError {
        kind: edgeplay_host::FetchErrorKind::ConnectionRefused,
        message: format!("the test driver has no network ({})", req.url),
    })
}
