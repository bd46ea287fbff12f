//! The native async driver: runs an [`Execution`] on the tokio runtime.
//!
//! The guest runs in fuel slices on the calling task ([`Execution::run`]); between
//! slices the task yields so other requests progress. Outside work the guest asks for
//! ([`Execution::take_work`]) becomes tokio tasks in a [`JoinSet`] owned by the loop
//! (a sleep is `tokio::time::sleep`); while the guest is blocked the loop awaits the
//! next one to finish, hands its result in ([`Execution::complete`]) and resumes the
//! guest. Nothing blocks a thread per guest: an [`Execution`] is `Send`, so a driven
//! execution is an ordinary task on the multi-threaded runtime.

use edgeplay_host::collect::FinalResponse;
use edgeplay_host::exec::StartError;
use edgeplay_host::{
    Collected, DownstreamRequest, Engine, ExecOptions, Execution, Exit, Guest, Outcome, Output,
    Poll, ServiceConfig, TraceEvent, Work, WorkId, WorkKind, WorkResult,
};
use std::collections::HashMap;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::Context;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

pub use edgeplay_host::exec::viceroy_request_id;

/// Drive `exec` to its end, passing every output to `on_output` as soon as the slice
/// that produced it returns. Returns how it ended and the trace.
pub async fn drive(exec: Execution, on_output: impl FnMut(Output)) -> (Outcome, Vec<TraceEvent>) {
    drive_until(exec, on_output, std::future::pending()).await
}

/// Like [`drive`], but stops the guest ([`Execution::stop`]) when `stop` completes: it
/// is checked between fuel slices and while the guest waits for outside work.
pub async fn drive_until(
    mut exec: Execution,
    mut on_output: impl FnMut(Output),
    stop: impl Future<Output = ()>,
) -> (Outcome, Vec<TraceEvent>) {
    let mut stop = pin!(stop);
    let mut work: JoinSet<(WorkId, WorkResult)> = JoinSet::new();
    let mut uploads: Uploads = HashMap::new();
    loop {
        if poll_once(stop.as_mut()) {
            return stopped(&mut exec, None, &mut on_output);
        }
        let poll = exec.run();
        for w in exec.take_work() {
            start_work(&mut work, &mut uploads, w);
        }
        for o in exec.take_outputs() {
            on_output(o);
        }
        match poll {
            Poll::Done(outcome) => return finish(&mut exec, outcome, &mut on_output),
            Poll::Yielded => {
                if let Err(message) = complete_finished(&mut exec, &mut work) {
                    return stopped(&mut exec, Some(message), &mut on_output);
                }
                tokio::task::yield_now().await;
            }
            Poll::Blocked => {
                let next = tokio::select! {
                    biased;
                    _ = stop.as_mut() => {
                        return stopped(&mut exec, None, &mut on_output);
                    }
                    next = work.join_next() => next,
                };
                let result = match next {
                    Some(Ok((id, result))) => {
                        exec.complete(id, result);
                        complete_finished(&mut exec, &mut work)
                    }
                    Some(Err(e)) => Err(format!("internal error: outside work failed: {e}")),
                    None => Err(
                        "internal error: the guest is waiting, but no outside work is under way"
                            .to_string(),
                    ),
                };
                if let Err(message) = result {
                    return stopped(&mut exec, Some(message), &mut on_output);
                }
            }
        }
    }
}

/// Hand in every result that is already there, without waiting.
fn complete_finished(
    exec: &mut Execution,
    work: &mut JoinSet<(WorkId, WorkResult)>,
) -> Result<(), String> {
    while let Some(res) = work.try_join_next() {
        match res {
            Ok((id, result)) => exec.complete(id, result),
            Err(e) => return Err(format!("internal error: outside work failed: {e}")),
        }
    }
    Ok(())
}

/// The body channels of streaming uploads under way, by the work id of their fetch.
type Uploads = HashMap<WorkId, crate::fetch::UploadSender>;

/// Start one piece of outside work as a task; pass a streaming upload's body chunks
/// and end to its fetch (fire-and-forget work: never completed).
fn start_work(set: &mut JoinSet<(WorkId, WorkResult)>, uploads: &mut Uploads, w: Work) {
    use crate::fetch::UploadMsg;
    let id = w.id;
    match w.kind {
        WorkKind::Fetch(req) if req.body_stream => {
            let mut req = *req;
            let (tx, body) = crate::fetch::upload_channel(std::mem::take(&mut req.body));
            uploads.insert(id, tx);
            set.spawn(async move { (id, crate::fetch::fetch_streaming(req, body).await) });
        }
        WorkKind::FetchBodyChunk { fetch, bytes } => {
            if let Some(tx) = uploads.get(&fetch) {
                // The fetch may be over (the origin answered early): then nobody reads.
                let _ = tx.send(UploadMsg::Data(bytes.into()));
            }
        }
        WorkKind::FetchBodyEnd { fetch, abandoned } => {
            if let Some(tx) = uploads.remove(&fetch) {
                let _ = tx.send(if abandoned {
                    UploadMsg::Abort
                } else {
                    UploadMsg::End
                });
            }
        }
        WorkKind::Sleep { ns } => {
            set.spawn(async move {
                tokio::time::sleep(Duration::from_nanos(ns)).await;
                (id, WorkResult::Slept)
            });
        }
        WorkKind::Fetch(req) => {
            set.spawn(async move { (id, crate::fetch::fetch(*req).await) });
        }
    }
}

/// Stop the execution; with a message, the outcome becomes a trap with that message
/// (a driver failure the user should see), else it stays [`Exit::Stopped`].
fn exec_stop(exec: &mut Execution, message: Option<String>) -> Outcome {
    let mut outcome = exec.stop();
    if let Some(message) = message {
        outcome.exit = Exit::Trap {
            message,
            backtrace: Vec::new(),
        };
    }
    outcome
}

fn stopped(
    exec: &mut Execution,
    message: Option<String>,
    on_output: &mut impl FnMut(Output),
) -> (Outcome, Vec<TraceEvent>) {
    let outcome = exec_stop(exec, message);
    finish(exec, outcome, on_output)
}

fn finish(
    exec: &mut Execution,
    outcome: Outcome,
    on_output: &mut impl FnMut(Output),
) -> (Outcome, Vec<TraceEvent>) {
    for o in exec.take_outputs() {
        on_output(o);
    }
    (outcome, exec.take_trace())
}

/// Poll a future once without a real waker; true when it is ready.
fn poll_once<F: Future<Output = ()>>(f: std::pin::Pin<&mut F>) -> bool {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    f.poll(&mut cx).is_ready()
}

/// Everything one request produced, collected (what `edgeplay request` prints).
#[derive(Debug, Clone)]
pub struct RequestResult {
    /// The outputs, collected.
    pub collected: Collected,
    /// How the execution ended.
    pub outcome: Outcome,
    /// The response a client gets (the guest's, or Viceroy's 500/empty 200).
    pub response: FinalResponse,
    /// The trace.
    pub trace: Vec<TraceEvent>,
    /// Wall-clock microseconds from instantiation to the end of the execution.
    pub run_us: u64,
}

/// An outcome for an execution that could not start.
pub fn start_failure(e: &StartError) -> Outcome {
    Outcome {
        exit: Exit::Trap {
            message: e.to_string(),
            backtrace: Vec::new(),
        },
        fuel: 0,
        cpu_ms_estimate: 0.0,
    }
}

/// Run one downstream request to its end and collect everything it produced. The
/// request gets Viceroy's first request id (`000…0`).
pub async fn run_request(
    engine: &Engine,
    guest: Arc<Guest>,
    config: Arc<ServiceConfig>,
    request: DownstreamRequest,
    opts: ExecOptions,
) -> RequestResult {
    run_request_with(engine, guest, config, request, opts, |_| {}).await
}

/// [`run_request`], also showing each output to `observe` as it arrives (e.g. to print
/// guest logs live).
pub async fn run_request_with(
    engine: &Engine,
    guest: Arc<Guest>,
    config: Arc<ServiceConfig>,
    request: DownstreamRequest,
    opts: ExecOptions,
    mut observe: impl FnMut(&Output),
) -> RequestResult {
    let t0 = Instant::now();
    let mut collected = Collected::default();
    if edgeplay_host::backends::loop_detected(&request) {
        // The platform answers a looping request without running the guest.
        collected.absorb(edgeplay_host::collect::loop_detected_outputs());
        return RequestResult {
            collected,
            outcome: Outcome {
                exit: Exit::Returned,
                fuel: 0,
                cpu_ms_estimate: 0.0,
            },
            response: FinalResponse::loop_detected(),
            trace: Vec::new(),
            run_us: 0,
        };
    }
    let (outcome, trace) =
        match Execution::new(engine, guest, config, request, viceroy_request_id(0), opts) {
            Ok(exec) => {
                drive(exec, |o| {
                    observe(&o);
                    collected.absorb(vec![o]);
                })
                .await
            }
            Err(e) => (start_failure(&e), Vec::new()),
        };
    let run_us = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
    let response = collected.final_response(&outcome);
    RequestResult {
        collected,
        outcome,
        response,
        trace,
        run_us,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>() {}

    #[test]
    fn an_execution_can_move_between_threads() {
        assert_send::<Execution>();
        assert_send::<Arc<Engine>>();
        assert_send::<Arc<Guest>>();
    }

    /// A guest that sleeps `ms` with WASI `poll_oneoff`, then returns.
    fn sleeper(ms: u64) -> Vec<u8> {
        wat::parse_str(format!(
            r#"(module
              (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
              (memory (export "memory") 1)
              (func (export "_start")
                (i32.store8 (i32.const 8) (i32.const 0))
                (i32.store (i32.const 16) (i32.const 1))
                (i64.store (i32.const 24) (i64.const {ns}))
                (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 128)))))"#,
            ns = ms * 1_000_000
        ))
        .unwrap()
    }

    fn start(engine: &Engine, wasm: &[u8]) -> Execution {
        let guest = engine.load(wasm).unwrap();
        Execution::new(
            engine,
            guest,
            Arc::default(),
            DownstreamRequest::new("GET", "/"),
            viceroy_request_id(0),
            ExecOptions::default(),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn sleeps_are_performed_by_the_runtime() {
        let engine = Engine::new(crate::platform::native_platform());
        let (outcome, trace) = drive(start(&engine, &sleeper(5)), |_| {}).await;
        assert_eq!(outcome.exit, Exit::Returned);
        assert!(trace.iter().any(|e| e.name == "poll_oneoff"));
    }

    #[tokio::test]
    async fn a_stop_ends_a_waiting_guest() {
        let engine = Engine::new(crate::platform::native_platform());
        let exec = start(&engine, &sleeper(3_600_000));
        let stop = tokio::time::sleep(Duration::from_millis(10));
        let (outcome, _) = drive_until(exec, |_| {}, stop).await;
        assert_eq!(outcome.exit, Exit::Stopped);
    }

    #[tokio::test]
    async fn run_request_collects_a_trap_as_a_500() {
        let engine = Engine::new(crate::platform::native_platform());
        let wasm = wat::parse_str(r#"(module (func (export "_start") unreachable))"#).unwrap();
        let guest = engine.load(&wasm).unwrap();
        let r = run_request(
            &engine,
            guest,
            Arc::default(),
            DownstreamRequest::new("GET", "/"),
            ExecOptions::default(),
        )
        .await;
        assert_eq!(r.response.status, 500);
        assert!(r.response.error.unwrap().contains("unreachable"));
    }

    #[test]
    fn request_ids_are_viceroys() {
        assert_eq!(viceroy_request_id(0), "0".repeat(32));
        assert_eq!(viceroy_request_id(255), format!("{}ff", "0".repeat(30)));
    }
}
