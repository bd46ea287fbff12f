//! A synchronous test driver: runs a guest to the end, completing outside work one
//! piece at a time (sleeps finish immediately; fetches are answered by an origin
//! closure, or refused), and collects what a user would see.
#![allow(dead_code)]

use edgeplay_host::{
    Collected, DownstreamRequest, Engine, ExecOptions, Execution, FetchRequest, FinalResponse,
    Outcome, Platform, Poll, ServiceConfig, TraceEvent, Work, WorkKind, WorkResult,
};
use std::sync::Arc;

/// What one request produced.
pub struct Run {
    pub collected: Collected,
    pub outcome: Outcome,
    pub trace: Vec<TraceEvent>,
    pub response: FinalResponse,
    /// Every fetch the driver was asked to perform, in the order it was asked.
    pub fetches: Vec<FetchRequest>,
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

/// Run with explicit options (fetches are refused: the test driver has no network).
pub fn run_with(
    engine: &Engine,
    wasm: &[u8],
    config: ServiceConfig,
    req: DownstreamRequest,
    opts: ExecOptions,
) -> Run {
    run_with_origin(engine, wasm, config, req, opts, refuse)
}

/// Run with fetches answered by `origin`, completing outside work first come, first
/// served.
pub fn run_with_origin(
    engine: &Engine,
    wasm: &[u8],
    config: ServiceConfig,
    req: DownstreamRequest,
    opts: ExecOptions,
    origin: impl FnMut(&FetchRequest) -> WorkResult,
) -> Run {
    run_driven(engine, wasm, config, req, opts, origin, |_| 0)
}

/// The most general driver: fetches are answered by `origin`; whenever the guest waits
/// (or yields with work outstanding), `pick` chooses which outstanding piece of work
/// finishes next (an index into the list, in the order the work was started), so a
/// test can complete work in any order. An index past the end finishes nothing when
/// the guest only yielded, and the last piece when it waits.
pub fn run_driven(
    engine: &Engine,
    wasm: &[u8],
    config: ServiceConfig,
    req: DownstreamRequest,
    opts: ExecOptions,
    mut origin: impl FnMut(&FetchRequest) -> WorkResult,
    mut pick: impl FnMut(&[Work]) -> usize,
) -> Run {
    let guest = engine.load(wasm).expect("guest loads");
    let mut exec = Execution::new(engine, guest, Arc::new(config), req, "0".repeat(32), opts)
        .expect("guest instantiates");
    let mut collected = Collected::default();
    let mut outstanding: Vec<Work> = Vec::new();
    let mut fetches = Vec::new();
    let mut idle = 0;
    let mut spins = 0u64;
    let outcome = loop {
        let p = exec.run();
        collected.absorb(exec.take_outputs());
        for w in exec.take_work() {
            if let WorkKind::Fetch(f) = &w.kind {
                fetches.push((**f).clone());
            }
            outstanding.push(w);
        }
        match p {
            Poll::Done(o) => break o,
            Poll::Yielded => {
                idle = 0;
                spins += 1;
                assert!(spins < 1_000_000, "guest keeps yielding");
            }
            Poll::Blocked => {
                if outstanding.is_empty() {
                    idle += 1;
                    assert!(idle < 3, "guest blocked with no outside work pending");
                }
            }
        }
        if !outstanding.is_empty() {
            let i = pick(&outstanding);
            if i >= outstanding.len() && p == Poll::Yielded {
                continue;
            }
            let i = i.min(outstanding.len() - 1);
            let w = outstanding.remove(i);
            let result = match &w.kind {
                WorkKind::Sleep { .. } => WorkResult::Slept,
                WorkKind::Fetch(f) => origin(f),
            };
            exec.complete(w.id, result);
        }
    };
    let trace = exec.take_trace();
    let response = collected.final_response(&outcome);
    Run {
        collected,
        outcome,
        trace,
        response,
        fetches,
    }
}

/// The default origin: nothing is reachable unless a test answers fetches itself.
pub fn refuse(req: &FetchRequest) -> WorkResult {
    WorkResult::FetchFailed(edgeplay_host::FetchError {
        kind: edgeplay_host::FetchErrorKind::ConnectionRefused,
        message: format!("the test driver has no network ({})", req.url),
    })
}
