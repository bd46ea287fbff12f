//! The null platform: a blocking driver with no network, no timers and no threads,
//! for tests and tools. It runs a [`Driver`] to the end on the calling thread:
//! sleeps finish at once, fetches are answered by an `origin` function, and a `pick`
//! function chooses which outstanding piece of work finishes next, so a test can
//! complete work in any order.
//!
//! Streaming uploads are streamed, as natively ([`Capabilities::NATIVE`] is the usual
//! choice): the origin sees the body as sent so far, and answers a streaming upload
//! before its body ends only when the guest waits for it.

use super::{Capabilities, Driver, Step};
use crate::http::Output;
use crate::outcome::Outcome;
use crate::step::{PendingCall, Resume};
use crate::trace::TraceEvent;
use crate::work::{FetchError, FetchErrorKind, FetchRequest, Work, WorkKind, WorkResult};
use std::collections::{HashMap, HashSet};

/// Steps after which the blocking driver gives up on a guest that never ends (a guest
/// that spins without a CPU limit).
pub const MAX_STEPS: u64 = 1_000_000;

/// What a blocking run produced.
#[derive(Debug)]
pub struct Ran {
    /// How it ended.
    pub outcome: Outcome,
    /// Every output, in order.
    pub outputs: Vec<Output>,
    /// The trace.
    pub trace: Vec<TraceEvent>,
    /// Every fetch the guest made, in the order it was started; a streaming upload's
    /// body is what had been sent when the origin answered (or the run ended).
    pub fetches: Vec<FetchRequest>,
    /// The run's profile (`None` when the guest never ran).
    pub profile: Option<crate::profile::Profile>,
    /// What it used of the platform's limits.
    pub usage: crate::limits::Usage,
}

/// The default origin: nothing is reachable.
pub fn refuse(req: &FetchRequest) -> WorkResult {
    WorkResult::FetchFailed(FetchError {
        kind: FetchErrorKind::ConnectionRefused,
        message: format!("the blocking driver has no network ({})", req.url),
        headers_not_sent: Vec::new(),
        notes: Vec::new(),
    })
}

/// Run `driver` to its end with fetches answered by `origin`, finishing the oldest
/// outstanding work first.
pub fn run(driver: Driver, origin: impl FnMut(&FetchRequest) -> WorkResult) -> Ran {
    run_picking(driver, origin, |_| 0)
}

/// Run `driver` to its end. Whenever the guest waits (or goes on with work
/// outstanding), `pick` chooses which outstanding piece finishes next: an index into
/// the list, in the order the work was started. An index past the end finishes
/// nothing when the guest can go on, and the last piece when it waits.
pub fn run_picking(
    driver: Driver,
    origin: impl FnMut(&FetchRequest) -> WorkResult,
    pick: impl FnMut(&[Work]) -> usize,
) -> Ran {
    run_stepping(driver, origin, pick, |_, _| Resume::RunToEnd)
}

/// Like [`run_picking`], for a stepping execution ([`crate::step`]): whenever the
/// guest pauses, `on_pause` sees the paused call and the trace so far and says how to
/// go on.
pub fn run_stepping(
    mut driver: Driver,
    mut origin: impl FnMut(&FetchRequest) -> WorkResult,
    mut pick: impl FnMut(&[Work]) -> usize,
    mut on_pause: impl FnMut(&PendingCall, &[TraceEvent]) -> Resume,
) -> Ran {
    let mut outputs = Vec::new();
    let mut trace = Vec::new();
    let mut outstanding: Vec<Work> = Vec::new();
    let mut fetches: Vec<FetchRequest> = Vec::new();
    // Streaming uploads: fetch id -> index in `fetches`, and whether the body ended.
    let mut uploads: HashMap<u64, (usize, bool)> = HashMap::new();
    let mut abandoned: HashSet<u64> = HashSet::new();
    let mut steps = 0u64;
    let outcome = loop {
        let step = driver.step();
        outputs.extend(driver.take_outputs());
        trace.extend(driver.take_trace());
        for w in driver.take_work() {
            match &w.kind {
                WorkKind::Fetch(f) => {
                    if f.body_stream {
                        uploads.insert(w.id, (fetches.len(), false));
                    }
                    fetches.push((**f).clone());
                }
                WorkKind::FetchBodyChunk { fetch, bytes } => {
                    if let Some((i, false)) = uploads.get(fetch) {
                        fetches[*i].body.extend_from_slice(bytes);
                    }
                    // The origin takes every byte at once.
                    driver.complete(w.id, WorkResult::Sent);
                    continue;
                }
                WorkKind::FetchBodyEnd {
                    fetch,
                    abandoned: cut,
                } => {
                    if let Some(u) = uploads.get_mut(fetch) {
                        u.1 = true;
                        if *cut {
                            abandoned.insert(*fetch);
                        }
                    }
                    continue;
                }
                WorkKind::Sleep { .. }
                | WorkKind::FetchBodyRead { .. }
                | WorkKind::NextRequest { .. } => {}
            }
            outstanding.push(w);
        }
        let waiting = match step {
            Step::Done(o) => break o,
            Step::Paused(call) => {
                let how = on_pause(&call, &trace);
                driver.resume(how);
                continue;
            }
            Step::Wait => true,
            Step::Continue => false,
        };
        steps += 1;
        if steps >= MAX_STEPS {
            let message = format!("the blocking driver gave up after {MAX_STEPS} steps");
            let o = driver.stop(Some(message));
            outputs.extend(driver.take_outputs());
            trace.extend(driver.take_trace());
            break o;
        }
        if outstanding.is_empty() {
            continue;
        }
        let i = pick(&outstanding);
        if i >= outstanding.len() && !waiting {
            continue;
        }
        let i = i.min(outstanding.len() - 1);
        // An origin answers a streaming upload early only when the guest waits.
        let open = uploads.get(&outstanding[i].id).is_some_and(|u| !u.1);
        if open && !waiting {
            continue;
        }
        let w = outstanding.remove(i);
        let result = match &w.kind {
            WorkKind::Fetch(_) if abandoned.contains(&w.id) => {
                WorkResult::FetchFailed(FetchError {
                    kind: FetchErrorKind::InternalError,
                    message: "the request body was abandoned".into(),
                    headers_not_sent: Vec::new(),
                    notes: Vec::new(),
                })
            }
            // The origin sees the body as sent so far.
            WorkKind::Fetch(_) if uploads.contains_key(&w.id) => origin(&fetches[uploads[&w.id].0]),
            WorkKind::Fetch(f) => origin(f),
            // The origin answers whole bodies: a read finds the end.
            WorkKind::FetchBodyRead { .. } => WorkResult::BodyChunk {
                bytes: Vec::new(),
                end: true,
            },
            // No further request comes to a blocking run.
            WorkKind::NextRequest { .. } => WorkResult::NextRequest(None),
            _ => WorkResult::Slept,
        };
        driver.complete(w.id, result);
    };
    outputs.extend(driver.take_outputs());
    trace.extend(driver.take_trace());
    let profile = driver.profile(&trace);
    let usage = driver.execution().map(|e| e.usage()).unwrap_or_default();
    Ran {
        outcome,
        outputs,
        trace,
        fetches,
        profile,
        usage,
    }
}

/// The capabilities a blocking run usually has: those of the native runner.
pub const CAPABILITIES: Capabilities = Capabilities::NATIVE;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Engine;
    use crate::exec::ExecOptions;
    use crate::http::DownstreamRequest;
    use crate::outcome::Exit;
    use crate::platform::Platform;
    use std::sync::Arc;

    fn start(engine: &Engine, wat: &str, req: DownstreamRequest, caps: Capabilities) -> Driver {
        let wasm = wat::parse_str(wat).unwrap();
        let guest = engine.load(&wasm).unwrap();
        Driver::start(
            engine,
            guest,
            Arc::new(crate::config::ServiceConfig::default()),
            req,
            "0".repeat(32),
            ExecOptions::default(),
            caps,
        )
        .unwrap()
    }

    const SLEEPER: &str = r#"(module
      (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "_start")
        (i32.store8 (i32.const 8) (i32.const 0))
        (i32.store (i32.const 16) (i32.const 1))
        (i64.store (i32.const 24) (i64.const 5000000))
        (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))))"#;

    #[test]
    fn sleeps_finish_at_once() {
        let engine = Engine::new(Platform::deterministic());
        let d = start(
            &engine,
            SLEEPER,
            DownstreamRequest::new("GET", "/"),
            CAPABILITIES,
        );
        let ran = run(d, refuse);
        assert_eq!(ran.outcome.exit, Exit::Returned);
        assert!(ran.trace.iter().any(|e| e.name == "poll_oneoff"));
    }

    #[test]
    fn a_looping_request_is_answered_without_the_guest() {
        let engine = Engine::new(Platform::deterministic());
        let mut req = DownstreamRequest::new("GET", "/");
        for _ in 0..crate::backends::MAX_LOOP_HOPS {
            crate::backends::add_loop_token(&mut req.headers);
        }
        let d = start(&engine, SLEEPER, req, CAPABILITIES);
        assert!(d.answered_without_guest());
        let ran = run(d, refuse);
        assert_eq!(ran.outcome.exit, Exit::Returned);
        assert!(ran.trace.is_empty(), "the guest never ran");
        match &ran.outputs[0] {
            Output::Response(head) => assert_eq!(head.status, 508),
            other => panic!("expected a response head, got {other:?}"),
        }
    }

    #[test]
    fn a_guest_waiting_on_nothing_stops_with_a_message() {
        // `select` on a sleep-free wait that never ends cannot happen through the ABI,
        // so stop a driver by hand instead and check the message reaches the outcome.
        let engine = Engine::new(Platform::deterministic());
        let mut d = start(
            &engine,
            SLEEPER,
            DownstreamRequest::new("GET", "/"),
            CAPABILITIES,
        );
        let o = d.stop(Some("why".into()));
        assert!(matches!(o.exit, Exit::Trap { ref message, .. } if message == "why"));
        assert_eq!(d.step(), Step::Done(o), "a stopped driver stays done");
    }
}
