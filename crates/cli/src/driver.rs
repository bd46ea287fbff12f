//! The native async driver: the tokio adapter of the core's [`Driver`].
//!
//! The guest runs in fuel slices on the calling task ([`Driver::step`]); between
//! slices the task yields so other requests progress. Outside work the guest asks for
//! ([`Driver::take_work`]) becomes tokio tasks in a [`JoinSet`] owned by the loop
//! (a sleep is `tokio::time::sleep`, a fetch `crate::fetch`, a streaming upload's
//! chunks go down its body channel); while the guest waits the loop awaits the next
//! task to finish, hands its result in ([`Driver::complete`]) and steps again.
//! Everything else — loop detection, what is in flight, failures — is the core's.
//! Nothing blocks a thread per guest: a [`Driver`] is `Send`, so a driven execution
//! is an ordinary task on the multi-threaded runtime.

use crate::fetch::ResponseStream;
use edgeplay_host::collect::FinalResponse;
use edgeplay_host::driver::{Capabilities, Driver, Step};
use edgeplay_host::exec::StartError;
use edgeplay_host::limits::Usage;
use edgeplay_host::profile::Profile;
use edgeplay_host::step::{PendingCall, Resume};
use edgeplay_host::{
    Collected, DownstreamRequest, Engine, ExecOptions, Exit, Guest, NextDownstream, Outcome,
    Output, Service, TraceEvent, Work, WorkId, WorkKind, WorkResult,
};
use std::collections::HashMap;
use std::future::Future;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::Context;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

pub use edgeplay_host::exec::viceroy_request_id;

/// Start one downstream request on the native platform: loop detection and
/// instantiation ([`Driver::start`]). `caps`: [`Capabilities::NATIVE`] for a one-shot
/// run (uploads stream), [`Capabilities::NATIVE_SERVER`] for `edgeplay serve`, where
/// the guest may also ask for further requests (reusable sandboxes; drive it with
/// [`drive_serving`] and a [`NextRequests`] source).
pub fn start(
    engine: &Engine,
    guest: Arc<Guest>,
    service: impl Into<Service>,
    request: DownstreamRequest,
    request_id: String,
    opts: ExecOptions,
    caps: Capabilities,
) -> Result<Driver, StartError> {
    Driver::start(engine, guest, service, request, request_id, opts, caps)
}

/// Where a reusable sandbox's further requests come from ([`WorkKind::NextRequest`]):
/// called with the guest's timeout, it resolves to the next request, or `None` when
/// none comes within [`edgeplay_host::driver::next_request_wait_ms`] (or the server
/// has no room for another waiting instance).
pub type NextRequests = Arc<
    dyn Fn(Option<u64>) -> Pin<Box<dyn Future<Output = Option<NextDownstream>> + Send>>
        + Send
        + Sync,
>;

/// Drive `driver` to its end, passing every output to `on_output` as soon as the slice
/// that produced it returns. Returns how it ended and the trace.
pub async fn drive(driver: Driver, on_output: impl FnMut(Output)) -> (Outcome, Vec<TraceEvent>) {
    drive_until(driver, on_output, std::future::pending()).await
}

/// Like [`drive`], but stops the guest ([`Driver::stop`]) when `stop` completes: it
/// is checked between fuel slices and while the guest waits for outside work.
pub async fn drive_until(
    driver: Driver,
    on_output: impl FnMut(Output),
    stop: impl Future<Output = ()>,
) -> (Outcome, Vec<TraceEvent>) {
    drive_stepping(driver, on_output, stop, None).await
}

/// What a stepping run's user says when the guest pauses ([`Step::Paused`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepAnswer {
    /// Go on ([`Driver::resume`]).
    Resume(Resume),
    /// Stop the guest now.
    Stop,
}

/// The user's side of a stepping run: shows each paused call and hands back answers.
pub struct StepUser {
    /// Shows a paused call (and prompts).
    pub show: Box<dyn FnMut(&PendingCall) + Send>,
    /// The answers, one per pause; a closed channel runs to the end.
    pub answers: tokio::sync::mpsc::UnboundedReceiver<StepAnswer>,
}

/// Like [`drive_until`]; when the guest pauses (a stepping execution,
/// [`edgeplay_host::step`]) `user` is shown the paused call and asked how to go on.
/// Without a user a pause runs on to the end.
pub async fn drive_stepping(
    driver: Driver,
    on_output: impl FnMut(Output),
    stop: impl Future<Output = ()>,
    user: Option<StepUser>,
) -> (Outcome, Vec<TraceEvent>) {
    let (outcome, trace, _, _) = drive_profiled(driver, on_output, stop, user).await;
    (outcome, trace)
}

/// Like [`drive_stepping`], also returning the run's profile
/// ([`edgeplay_host::profile`]; `None` when the guest never ran).
pub async fn drive_profiled(
    driver: Driver,
    on_output: impl FnMut(Output),
    stop: impl Future<Output = ()>,
    user: Option<StepUser>,
) -> Driven {
    drive_serving(driver, on_output, stop, user, None).await
}

/// Like [`drive_profiled`]; a guest that waits for a further request (a reusable
/// sandbox, started with [`start`] and [`Capabilities::NATIVE_SERVER`]) gets it from `next` (without a source:
/// none comes).
pub async fn drive_serving(
    mut driver: Driver,
    mut on_output: impl FnMut(Output),
    stop: impl Future<Output = ()>,
    mut user: Option<StepUser>,
    next: Option<NextRequests>,
) -> Driven {
    // The wall-clock limit stops the guest like the caller's `stop`, with its message.
    let wall = driver
        .execution()
        .and_then(|e| e.options().wall_limit_ms)
        .map(|ms| (ms, tokio::time::Instant::now() + Duration::from_millis(ms)));
    let mut stop = pin!(async move {
        match wall {
            Some((ms, at)) => tokio::select! {
                _ = stop => None,
                _ = tokio::time::sleep_until(at) => Some(wall_limit_message(ms)),
            },
            None => {
                stop.await;
                None
            }
        }
    });
    let mut tasks = Tasks {
        next,
        ..Tasks::default()
    };
    loop {
        if let Some(why) = poll_once(stop.as_mut()) {
            return stopped(&mut driver, why, &mut on_output);
        }
        let step = driver.step();
        for w in driver.take_work() {
            tasks.start(w);
        }
        for o in driver.take_outputs() {
            on_output(o);
        }
        match step {
            Step::Done(outcome) => return finish(&mut driver, outcome, &mut on_output),
            Step::Paused(call) => {
                let Some(user) = user.as_mut() else {
                    driver.resume(Resume::RunToEnd);
                    continue;
                };
                (user.show)(&call);
                let answer = tokio::select! {
                    biased;
                    why = stop.as_mut() => return stopped(&mut driver, why, &mut on_output),
                    a = user.answers.recv() => a.unwrap_or(StepAnswer::Resume(Resume::RunToEnd)),
                };
                match answer {
                    StepAnswer::Resume(how) => driver.resume(how),
                    StepAnswer::Stop => return stopped(&mut driver, None, &mut on_output),
                }
            }
            Step::Continue => {
                if let Err(message) = tasks.complete_finished(&mut driver) {
                    return stopped(&mut driver, Some(message), &mut on_output);
                }
                tokio::task::yield_now().await;
            }
            Step::Wait => {
                let next = tokio::select! {
                    biased;
                    why = stop.as_mut() => {
                        return stopped(&mut driver, why, &mut on_output);
                    }
                    next = tasks.set.join_next() => next,
                };
                let result = match next {
                    Some(Ok(done)) => {
                        tasks.hand_in(&mut driver, done);
                        tasks.complete_finished(&mut driver)
                    }
                    Some(Err(e)) => Err(format!("internal error: outside work failed: {e}")),
                    None => Err(edgeplay_host::driver::NOTHING_UNDER_WAY.to_string()),
                };
                if let Err(message) = result {
                    return stopped(&mut driver, Some(message), &mut on_output);
                }
            }
        }
    }
}

/// A finished task: the work, its result, and the response body stream it leaves
/// (a fetch answered with its head, or a read of a body that goes on), by fetch id.
type Finished = (WorkId, WorkResult, Option<(WorkId, ResponseStream)>);

/// A streaming upload under way: its body channel, and what its fetch sets when it is
/// over — `Some(None)` answered, `Some(Some(failure))` failed (the connection may still
/// hold the body, so a full channel never drains).
struct Upload {
    tx: crate::fetch::UploadSender,
    over: tokio::sync::watch::Receiver<Over>,
}

/// How a streaming upload's fetch ended, once it has.
type Over = Option<Option<edgeplay_host::FetchError>>;

/// What a chunk's write answers once its fetch is over.
fn chunk_result(over: &Over) -> WorkResult {
    match over {
        Some(Some(e)) => WorkResult::FetchFailed(e.clone()),
        _ => WorkResult::Sent,
    }
}

/// The platform work of one execution: tokio tasks, the streaming uploads and the
/// response bodies still streaming (by the work id of their fetch).
#[derive(Default)]
struct Tasks {
    set: JoinSet<Finished>,
    uploads: HashMap<WorkId, Upload>,
    streams: HashMap<WorkId, ResponseStream>,
    /// Where further requests come from (`edgeplay serve`).
    next: Option<NextRequests>,
}

impl Tasks {
    /// Hand in one finished task's result, keeping the stream it leaves.
    fn hand_in(&mut self, driver: &mut Driver, (id, result, stream): Finished) {
        if let Some((fetch, s)) = stream {
            self.streams.insert(fetch, s);
        }
        driver.complete(id, result);
    }

    /// Hand in every result that is already there, without waiting.
    fn complete_finished(&mut self, driver: &mut Driver) -> Result<(), String> {
        while let Some(res) = self.set.try_join_next() {
            match res {
                Ok(done) => self.hand_in(driver, done),
                Err(e) => return Err(format!("internal error: outside work failed: {e}")),
            }
        }
        Ok(())
    }

    /// Start one piece of outside work as a task; pass a streaming upload's body chunks
    /// (completed once taken) and end (never completed) to its fetch.
    fn start(&mut self, w: Work) {
        use crate::fetch::UploadMsg;
        let id = w.id;
        match w.kind {
            // `--replay DIR` (or a fiddle's recordings): answered from the recordings.
            WorkKind::Fetch(req) if crate::tap::replaying() => {
                let result = crate::tap::replay(&req);
                self.set.spawn(async move { (id, result, None) });
            }
            WorkKind::Fetch(req) if req.body_stream => {
                let mut req = *req;
                let (tx, body) = crate::fetch::upload_channel(std::mem::take(&mut req.body));
                let (over_tx, over) = tokio::sync::watch::channel(None);
                self.uploads.insert(id, Upload { tx, over });
                self.set.spawn(async move {
                    let result = crate::fetch::fetch_streaming(req, body).await;
                    let failure = match &result {
                        WorkResult::FetchFailed(e) => Some(e.clone()),
                        _ => None,
                    };
                    let _ = over_tx.send(Some(failure));
                    (id, result, None)
                });
            }
            WorkKind::FetchBodyChunk { fetch, bytes } => {
                // Taken once the upload's bounded channel has room: an origin that stops
                // reading holds the guest's write. The fetch may be over (the origin
                // answered early, or failed): then nobody reads and it is taken at once.
                let upload = self
                    .uploads
                    .get(&fetch)
                    .map(|u| (u.tx.clone(), u.over.clone()));
                self.set.spawn(async move {
                    let Some((tx, mut over)) = upload else {
                        return (id, WorkResult::Sent, None);
                    };
                    let ended = over.borrow().clone();
                    if ended.is_some() {
                        return (id, chunk_result(&ended), None);
                    }
                    let result = tokio::select! {
                        _ = tx.send(UploadMsg::Data(bytes.into())) => WorkResult::Sent,
                        o = over.wait_for(Option::is_some) => match o {
                            Ok(o) => chunk_result(&o),
                            Err(_) => WorkResult::Sent,
                        },
                    };
                    (id, result, None)
                });
            }
            WorkKind::FetchBodyEnd { fetch, abandoned } => {
                if let Some(Upload { tx, mut over }) = self.uploads.remove(&fetch) {
                    let msg = if abandoned {
                        UploadMsg::Abort
                    } else {
                        UploadMsg::End
                    };
                    // After every chunk the guest wrote (each was taken before it went on).
                    tokio::spawn(async move {
                        tokio::select! {
                            _ = tx.send(msg) => {}
                            _ = over.wait_for(Option::is_some) => {}
                        }
                    });
                }
            }
            WorkKind::NextRequest { timeout_ms } => {
                let next = self.next.as_ref().map(|n| n(timeout_ms));
                self.set.spawn(async move {
                    let got = match next {
                        Some(f) => f.await,
                        None => None,
                    };
                    (id, WorkResult::NextRequest(got.map(Box::new)), None)
                });
            }
            WorkKind::Sleep { ns } => {
                self.set.spawn(async move {
                    tokio::time::sleep(Duration::from_nanos(ns)).await;
                    (id, WorkResult::Slept, None)
                });
            }
            // `--record DIR`: the whole response, kept before the guest gets it.
            WorkKind::Fetch(mut req) if crate::tap::recording() => {
                req.stream_response = false;
                self.set.spawn(async move {
                    let sent = (*req).clone();
                    let result = crate::fetch::fetch(*req).await;
                    if let WorkResult::Fetched(r) = &result {
                        crate::tap::record(&sent, r);
                    }
                    (id, result, None)
                });
            }
            WorkKind::Fetch(req) => {
                self.set.spawn(async move {
                    let (result, stream) = crate::fetch::fetch_with(*req, None).await;
                    (id, result, stream.map(|s| (id, s)))
                });
            }
            WorkKind::FetchBodyRead { fetch } => {
                let stream = self.streams.remove(&fetch);
                self.set.spawn(async move {
                    match stream {
                        Some(s) => {
                            let (result, rest) = s.read().await;
                            (id, result, rest.map(|s| (fetch, s)))
                        }
                        // Over already (the core never reads past the end).
                        None => (
                            id,
                            WorkResult::BodyChunk {
                                bytes: Vec::new(),
                                end: true,
                            },
                            None,
                        ),
                    }
                });
            }
        }
    }
}

/// How a driven execution ended, its trace, its profile and what it used of the
/// platform's limits.
pub type Driven = (Outcome, Vec<TraceEvent>, Option<Profile>, Usage);

fn stopped(
    driver: &mut Driver,
    message: Option<String>,
    on_output: &mut impl FnMut(Output),
) -> Driven {
    let outcome = driver.stop(message);
    finish(driver, outcome, on_output)
}

fn finish(driver: &mut Driver, outcome: Outcome, on_output: &mut impl FnMut(Output)) -> Driven {
    for o in driver.take_outputs() {
        on_output(o);
    }
    let trace = driver.take_trace();
    let profile = driver.profile(&trace);
    let usage = driver.execution().map(|e| e.usage()).unwrap_or_default();
    (outcome, trace, profile, usage)
}

/// Poll a future once without a real waker; its output when it is ready.
fn poll_once<T, F: Future<Output = T>>(f: std::pin::Pin<&mut F>) -> Option<T> {
    let mut cx = Context::from_waker(std::task::Waker::noop());
    match f.poll(&mut cx) {
        std::task::Poll::Ready(t) => Some(t),
        std::task::Poll::Pending => None,
    }
}

/// What a guest stopped at the wall-clock limit reports.
pub fn wall_limit_message(ms: u64) -> String {
    format!(
        "wall-clock limit: the execution ran for {} s and was stopped (the platform allows {} s per execution; --wall-limit-ms sets it, 0 turns it off)",
        ms as f64 / 1000.0,
        edgeplay_host::limits::PLATFORM_WALL_MS / 1000
    )
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
    /// The run's profile (`None` when the guest never ran).
    pub profile: Option<Profile>,
    /// Wall-clock microseconds from instantiation to the end of the execution.
    pub run_us: u64,
    /// What the run used of the platform's limits.
    pub usage: Usage,
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
    service: impl Into<Service>,
    request: DownstreamRequest,
    opts: ExecOptions,
) -> RequestResult {
    run_request_with(engine, guest, service, request, opts, |_| {}).await
}

/// [`run_request`], also showing each output to `observe` as it arrives (e.g. to print
/// guest logs live).
pub async fn run_request_with(
    engine: &Engine,
    guest: Arc<Guest>,
    service: impl Into<Service>,
    request: DownstreamRequest,
    opts: ExecOptions,
    observe: impl FnMut(&Output),
) -> RequestResult {
    run_request_stepping(engine, guest, service, request, opts, observe, None).await
}

/// [`run_request_with`], with a user answering the pauses of a stepping execution
/// ([`drive_stepping`]).
pub async fn run_request_stepping(
    engine: &Engine,
    guest: Arc<Guest>,
    service: impl Into<Service>,
    request: DownstreamRequest,
    opts: ExecOptions,
    mut observe: impl FnMut(&Output),
    user: Option<StepUser>,
) -> RequestResult {
    let t0 = Instant::now();
    let mut collected = Collected::default();
    let (outcome, trace, profile, usage) = match start(
        engine,
        guest,
        service,
        request,
        viceroy_request_id(0),
        opts,
        Capabilities::NATIVE,
    ) {
        Ok(driver) => {
            let on_output = |o| {
                observe(&o);
                collected.absorb(vec![o]);
            };
            drive_profiled(driver, on_output, std::future::pending(), user).await
        }
        Err(e) => (start_failure(&e), Vec::new(), None, Usage::default()),
    };
    let run_us = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
    let response = collected.final_response(&outcome);
    RequestResult {
        collected,
        outcome,
        response,
        trace,
        profile,
        run_us,
        usage,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>() {}

    #[test]
    fn an_execution_can_move_between_threads() {
        assert_send::<Driver>();
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

    fn begin(engine: &Engine, wasm: &[u8]) -> Driver {
        let guest = engine.load(wasm).unwrap();
        start(
            engine,
            guest,
            Arc::default(),
            DownstreamRequest::new("GET", "/"),
            viceroy_request_id(0),
            ExecOptions::default(),
            Capabilities::NATIVE,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn sleeps_are_performed_by_the_runtime() {
        let engine = Engine::new(crate::platform::native_platform());
        let (outcome, trace) = drive(begin(&engine, &sleeper(5)), |_| {}).await;
        assert_eq!(outcome.exit, Exit::Returned);
        assert!(trace.iter().any(|e| e.name == "poll_oneoff"));
    }

    #[tokio::test]
    async fn a_stop_ends_a_waiting_guest() {
        let engine = Engine::new(crate::platform::native_platform());
        let exec = begin(&engine, &sleeper(3_600_000));
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
