//! The web worker: it owns the [`Engine`] and is the browser adapter of the core's
//! [`Driver`] — the twin of the native runner's (`crates/cli/src/driver.rs`). It only
//! performs platform work; loop detection, uploads (buffered: a browser cannot stream
//! a request body), what is in flight and failures are the core's.
//!
//! ```text
//! loop {
//!     step = driver.step()              // one fuel slice at most
//!     start driver.take_work()          // setTimeout for sleeps, fetch() for backends
//!     post outputs + trace to the UI    // body chunks stream as they come
//!     Done     -> post Done, stop
//!     Continue -> hand in finished work; yield to the event loop only while work is in flight
//!     Wait     -> await the next finished work, hand it in
//! }
//! ```
//!
//! Stop is the UI terminating this worker: nothing here has to cooperate, so a
//! runaway guest can always be ended at once. The CPU limit is the core's fuel budget.
//!
//! The service state outlives runs and workers ([`Persist`]): the state its URL names
//! (`worker-loader.js?state=NAME`, [`crate::state_name`]; none: the default), loaded
//! from IndexedDB before the worker says `Ready`, seeded from the run's config when
//! it starts, written back after every slice that changed it, and shared with the
//! other tabs. A run's `Done` is posted only once its writes committed. A run with a
//! fresh cache sees that state through [`FreshCache`]: an empty cache of its own,
//! thrown away after it.
//!
//! A backend fetch to the service's own origin (the downstream request's, e.g.
//! `http://127.0.0.1:7676`) is a request to the service itself: there is no server
//! behind that address in a browser, so the worker serves it, running the same guest
//! again as a nested downstream request ([`Itself`]) through this same loop. Its
//! `cdn-loop` header counts the passes, so a service may call itself and the sixth
//! pass of a runaway self-call is answered 508 by [`Driver::start`].
//!
//! Recordings ([`crate::tap`]): after `ToWorker::Replay`, the runs' backend fetches
//! (their nested runs' too) are answered from the worker's one [`Replayer`] instead
//! of `fetch`; a run with `record` keeps every exchange that reached the network and
//! posts them (`Recorded`) before its `Done`.

use crate::fetch;
use crate::fresh_cache::FreshCache;
use crate::persist::{Persist, StateEvent};
use crate::platform::{browser_platform, now_ms};
use crate::protocol::{
    js, Bytes, FromWorker, RunRequest, StepAnswer, StoreOp, ToWorker, WireOutput,
};
use crate::tap::RunTap;
use edgeplay_host::backends::{loop_hops, MAX_LOOP_HOPS};
use edgeplay_host::exec::{viceroy_request_id, StartError};
use edgeplay_host::fiddle::Replayer;
use edgeplay_host::limits::Usage;
use edgeplay_host::profile::Profile;
use edgeplay_host::step::{Breakpoint, Resume, StepPolicy};
use edgeplay_host::{
    Capabilities, Collected, DownstreamRequest, Driver, Engine, ExecOptions, FetchError,
    FetchErrorKind, FetchRequest, FetchResponse, FinalResponse, Guest, Outcome, Poll, Service,
    SharedStorage, Step, TraceEvent, Work, WorkId, WorkKind, WorkResult,
};
use futures_channel::mpsc;
use futures_util::StreamExt;
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};

/// Fuel per slice in the tab (the core's default is 20 million). The browser's
/// optimizing compile of the interpreter takes effect when it is next entered, i.e.
/// at the next slice: shorter slices reach the optimized code sooner.
const SLICE_FUEL: u64 = 4_000_000;

/// What the worker holds between messages: the engine, the loaded guest, the
/// service state, the recordings it replays.
pub struct State {
    engine: Rc<Engine>,
    guest: Option<Arc<Guest>>,
    /// The service state (set before the worker says `Ready`).
    persist: Option<Rc<Persist>>,
    /// Downstream requests so far (for request ids), nested ones included.
    requests: Rc<Cell<u64>>,
    busy: bool,
    /// The recordings the runs replay (`ToWorker::Replay`), shared by every run.
    replayer: Option<Rc<RefCell<Replayer>>>,
    /// The JS engine and builds (`ToWorker::PrepareEngine`, `BuildJs`, `JsModule`).
    js: crate::js_worker::JsSide,
    /// Where a stepping run's answers go (`ToWorker::StepAnswer`), while it runs.
    step_tx: Option<mpsc::UnboundedSender<Answer>>,
}

/// A paused run's answer and the breakpoints from then on.
type Answer = (StepAnswer, Vec<Breakpoint>);

impl State {
    /// A worker's state over `engine` and the service state `persist` (tests build
    /// one; the worker's own is made by [`start`]).
    pub fn new(engine: Rc<Engine>, persist: Option<Rc<Persist>>) -> Rc<RefCell<State>> {
        Rc::new(RefCell::new(State {
            engine,
            guest: None,
            persist,
            requests: Rc::new(Cell::new(0)),
            busy: false,
            replayer: None,
            js: Default::default(),
            step_tx: None,
        }))
    }
}

/// What a run needs to serve the requests its service makes to itself: the guest,
/// the service (its config and state, shared with every nested request), the
/// execution options and the service's own origin. Each nested request is driven by
/// [`drive`] with a copy one pass deeper.
#[derive(Clone)]
pub struct Itself {
    engine: Rc<Engine>,
    guest: Arc<Guest>,
    service: Service,
    opts: ExecOptions,
    /// The service's own origin (`http://127.0.0.1:7676`); `None` serves nothing.
    origin: Option<String>,
    requests: Rc<Cell<u64>>,
    /// Runs of this service open around this one, this one included (the run the
    /// user started is 1). The passes are counted in `cdn-loop`; this count only
    /// stops a guest that drops the token from recursing without end.
    depth: usize,
    /// Where the service's state changes are made durable after every slice.
    persist: Option<Rc<Persist>>,
    /// What the run does with backend exchanges (replay, record), nested runs too.
    tap: Rc<RunTap>,
    /// A stepping run's answers (nested runs never pause).
    answers: Rc<RefCell<Option<mpsc::UnboundedReceiver<Answer>>>>,
}

impl Itself {
    /// A service whose own URL is `service_url` (the downstream request's URL).
    pub fn new(
        engine: Rc<Engine>,
        guest: Arc<Guest>,
        service: Service,
        opts: ExecOptions,
        service_url: &str,
    ) -> Itself {
        Itself {
            engine,
            guest,
            service,
            opts,
            origin: crate::request::origin_of(service_url),
            requests: Rc::new(Cell::new(0)),
            depth: 1,
            persist: None,
            tap: Rc::default(),
            answers: Rc::default(),
        }
    }

    /// Replay and record the service's backend exchanges (its nested runs' too) as
    /// `tap` says.
    pub fn with_tap(mut self, tap: Rc<RunTap>) -> Itself {
        self.tap = tap;
        self
    }

    /// The run's tap (what it recorded: [`RunTap::take_recorded`]).
    pub fn tap(&self) -> &Rc<RunTap> {
        &self.tap
    }

    /// Make the service's state changes durable through `persist` (its state must be
    /// the service's) after every slice.
    pub fn with_persist(mut self, persist: Rc<Persist>) -> Itself {
        self.persist = Some(persist);
        self
    }

    /// True when a fetch to `url` is a request to the service itself.
    pub fn serves(&self, url: &str) -> bool {
        self.origin.is_some() && crate::request::origin_of(url) == self.origin
    }

    fn next_request_id(&self) -> String {
        let n = self.requests.get();
        self.requests.set(n + 1);
        viceroy_request_id(n)
    }
}

/// Where the driver's messages go: the UI (through `postMessage`), or a test.
pub type Sink = Rc<dyn Fn(&FromWorker)>;

/// Post a message to the UI.
pub fn post(msg: &FromWorker) {
    let scope: web_sys::DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    match js::encode(msg) {
        Ok(v) => {
            let _ = scope.post_message(&v);
        }
        Err(e) => web_sys::console::error_1(&e.into()),
    }
}

/// The worker's entry point: load the stored state, listen for messages, then say
/// `Ready` (the UI holds its messages until then).
pub fn start() {
    console_error_panic_hook::set_once();
    let state = State::new(Rc::new(Engine::new(browser_platform())), None);
    spawn_local(warm_up(state.clone()));
    post(&FromWorker::StateLoading);
    spawn_local(async move {
        // `worker-loader.js?state=NAME`: the workspace entry's own state.
        let (persist, report) = match crate::state_name::from_query(&location_search()) {
            Ok(name) => Persist::open_state(&name).await,
            Err(e) => Persist::memory_only(e),
        };
        persist.on_event(|ev| post(&state_message(ev)));
        post(&FromWorker::StateLoaded {
            keys: report.keys as u32,
            skipped: report.skipped as u32,
            load_ms: report.load_ms,
            // `performance.now()` in a worker counts from the worker's start.
            since_start_ms: now_ms(),
            not_durable: report.not_durable,
        });
        state.borrow_mut().persist = Some(persist);
        let scope: web_sys::DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
        let on_message =
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
                match js::decode::<ToWorker>(ev.data()) {
                    Ok(msg) => handle(&state, msg, Rc::new(post)),
                    Err(e) => web_sys::console::error_1(&e.into()),
                }
            });
        scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        on_message.forget();
        post(&FromWorker::Ready);
    });
}

/// This worker's `location.search` (`?state=NAME`), empty when it has none.
fn location_search() -> String {
    js_sys::Reflect::get(&js_sys::global(), &"location".into())
        .and_then(|l| js_sys::Reflect::get(&l, &"search".into()))
        .ok()
        .and_then(|s| s.as_string())
        .unwrap_or_default()
}

/// A state event as the message the UI gets.
pub fn state_message(ev: StateEvent) -> FromWorker {
    match ev {
        StateEvent::Changed { keys, remote } => FromWorker::StateChanged {
            keys: keys.into_iter().map(Bytes::from).collect(),
            remote,
        },
        StateEvent::Error(message) => FromWorker::StateError { message },
    }
}

/// Perform a Stores panel request; a write is answered once it committed.
pub async fn store_request(persist: Rc<Persist>, req_id: u32, op: StoreOp) -> FromWorker {
    let writes = crate::store_ops::writes(&op);
    let now = edgeplay_host::platform::Clock::unix_ns(&crate::platform::BrowserClock);
    let mut result = crate::store_ops::perform(&mut **persist.state.lock(), op, now);
    if writes {
        persist.flush();
        if let Err(e) = persist.settled().await {
            result = Err(e);
        }
    }
    FromWorker::StoreReply { req_id, result }
}

/// Warm the worker up (see [`crate::warmup`]): hash
/// [`crate::warmup::HASH_WARMUP_PIECES`] pieces the size the engine hashes a guest in,
/// so a guest's content hash runs on optimized code from its first piece, then run
/// the warm-up module in short slices; a real run ends it.
async fn warm_up(state: Rc<RefCell<State>>) {
    let Some(mut exec) = crate::warmup::warm_up(&state.borrow().engine) else {
        return;
    };
    let zeros = vec![0u8; edgeplay_host::engine::HASH_CHUNK];
    for _ in 0..crate::warmup::HASH_WARMUP_PIECES {
        if state.borrow().busy {
            break;
        }
        std::hint::black_box(edgeplay_host::engine::content_hash(&zeros));
        yield_to_event_loop().await;
    }
    loop {
        if state.borrow().busy {
            return;
        }
        match exec.run() {
            Poll::Yielded => yield_to_event_loop().await,
            Poll::Done(_) | Poll::Blocked | Poll::Paused => return,
        }
    }
}

/// Handle one message from the UI; what it answers goes to `sink` (the worker's
/// [`post`]; a test's collector).
pub fn handle(state: &Rc<RefCell<State>>, msg: ToWorker, sink: Sink) {
    match msg {
        ToWorker::Load {
            load_id,
            name,
            wasm,
        } => {
            let mut s = state.borrow_mut();
            let t0 = now_ms();
            s.guest = None;
            s.js.supersede();
            match s.engine.load(&wasm) {
                Ok(guest) => {
                    let info = guest.info.clone();
                    s.guest = Some(guest);
                    sink(&FromWorker::Loaded {
                        load_id,
                        info,
                        load_ms: now_ms() - t0,
                    });
                }
                Err(e) => sink(&FromWorker::LoadFailed {
                    load_id,
                    message: format!("{name}: {e}"),
                }),
            }
        }
        ToWorker::Store { req_id, op } => {
            let Some(persist) = state.borrow().persist.clone() else {
                return;
            };
            spawn_local(async move { sink(&store_request(persist, req_id, op).await) });
        }
        ToWorker::Replay { recordings } => {
            state.borrow_mut().replayer =
                recordings.map(|r| Rc::new(RefCell::new(Replayer::new(r))));
        }
        ToWorker::PrepareEngine => {
            let s = state.borrow();
            drop(s.js.prepare(s.engine.clone()));
        }
        ToWorker::BuildJs {
            build_id,
            file_name,
            source,
            packages,
            registry,
        } => {
            let (js, engine) = {
                let s = state.borrow();
                (s.js.clone(), s.engine.clone())
            };
            js.want(build_id);
            let state = state.clone();
            spawn_local(async move {
                js.build(
                    engine,
                    build_id,
                    file_name,
                    source,
                    packages,
                    registry,
                    move |guest| {
                        state.borrow_mut().guest = Some(guest);
                    },
                )
                .await
            });
        }
        ToWorker::JsModule { req_id } => post(&state.borrow().js.module(req_id)),
        ToWorker::PrepareBundler => crate::js_worker::prepare_bundler(),
        ToWorker::StepAnswer {
            answer,
            breakpoints,
            ..
        } => {
            if let Some(tx) = &state.borrow().step_tx {
                let _ = tx.unbounded_send((answer, breakpoints));
            }
        }
        ToWorker::Run(run) => {
            let run_id = run.run_id;
            let fresh_cache = run.fresh_cache;
            let prepared = {
                let mut s = state.borrow_mut();
                if s.busy {
                    Err("a run is already under way in this worker".to_string())
                } else {
                    prepare(&mut s, run)
                }
            };
            match prepared {
                Ok((exec, itself, request_id, instantiate_ms)) => {
                    state.borrow_mut().busy = true;
                    sink(&FromWorker::Started {
                        run_id,
                        request_id,
                        instantiate_ms,
                    });
                    if fresh_cache {
                        sink(&FromWorker::Notice {
                            run_id,
                            message: "fresh cache: this run starts with an empty cache of its own, thrown away after it; the stored cache is left as it is".into(),
                        });
                    }
                    let state = state.clone();
                    spawn_local(async move {
                        let t0 = now_ms();
                        let persist = itself.persist.clone();
                        let tap = itself.tap.clone();
                        let (outcome, profile, usage) =
                            drive(exec, run_id, sink.clone(), Some(Rc::new(itself))).await;
                        // "A guest's writes are durable once its response completed."
                        if let Some(p) = persist {
                            p.flush();
                            if let Err(message) = p.settled().await {
                                sink(&FromWorker::StateError { message });
                            }
                        }
                        if let Some((recordings, left_out)) = tap.take_recorded() {
                            sink(&FromWorker::Recorded {
                                run_id,
                                recordings,
                                left_out,
                            });
                        }
                        if let Some(profile) = profile {
                            sink(&FromWorker::Profiled {
                                run_id,
                                profile: Box::new(profile),
                            });
                        }
                        state.borrow_mut().busy = false;
                        state.borrow_mut().step_tx = None;
                        sink(&FromWorker::Done {
                            run_id,
                            outcome,
                            run_ms: now_ms() - t0,
                            usage,
                        });
                    });
                }
                Err(message) => sink(&FromWorker::Failed { run_id, message }),
            }
        }
    }
}

/// Parse the config, build the request, instantiate the guest.
fn prepare(s: &mut State, run: RunRequest) -> Result<(Driver, Itself, String, f64), String> {
    let guest = s
        .guest
        .clone()
        .ok_or("no guest is loaded: drop a .wasm file or pick an example")?;
    let config = crate::request::parse_config(&run.config_toml).map_err(|e| e.to_string())?;
    let request = crate::request::build_request(&run.request)?;
    // Production limits (the tab's switch): the CPU limit the user set, the
    // platform's wall time and dictionary lookups; off, none of them.
    let production = run.production_limits;
    let opts = ExecOptions {
        cpu_limit_ms: run.cpu_limit_ms.filter(|_| production),
        slice_fuel: SLICE_FUEL,
        wall_limit_ms: production.then_some(edgeplay_host::limits::PLATFORM_WALL_MS),
        dictionary_lookups: production
            .then_some(edgeplay_host::limits::PLATFORM_DICTIONARY_LOOKUPS),
        ..ExecOptions::default()
    };
    // Only the run the user started steps; the requests it makes to itself do not.
    let step = run.step.clone();
    // The execution seeds the state from the config (a no-op once applied). With a
    // fresh cache, the run sees the state with an empty cache of its own, thrown away
    // after it (its other writes are the state's, and persist as always).
    let service = match &s.persist {
        Some(p) if run.fresh_cache => Service::with_state(
            Arc::new(config),
            SharedStorage::new(FreshCache::new(p.state.clone())),
        ),
        Some(p) => Service::with_state(Arc::new(config), p.state.clone()),
        None => Service::new(Arc::new(config)),
    };
    let mut itself = Itself::new(
        s.engine.clone(),
        guest.clone(),
        service.clone(),
        opts.clone(),
        &request.url,
    );
    itself.requests = s.requests.clone();
    itself.persist = s.persist.clone();
    itself.tap = Rc::new(RunTap::new(s.replayer.clone(), run.record));
    let mut opts = opts;
    if step.is_some() {
        let (tx, rx) = mpsc::unbounded();
        s.step_tx = Some(tx);
        *itself.answers.borrow_mut() = Some(rx);
        opts.step = step;
    }
    let request_id = itself.next_request_id();
    let t0 = now_ms();
    let exec = Driver::start(
        &s.engine,
        guest,
        service,
        request,
        request_id.clone(),
        opts,
        Capabilities::BROWSER,
    )
    .map_err(|e: StartError| e.to_string())?;
    Ok((exec, itself, request_id, now_ms() - t0))
}

/// Run `driver` to its end, streaming what it produces to `sink` as `Progress`
/// (and `Notice`) messages for `run_id`. Returns how it ended. With `itself`, a
/// backend fetch to the service's own origin is served by running the guest again
/// ([`serve_itself`], which drives the nested request with this same loop).
pub async fn drive(
    mut driver: Driver,
    run_id: u32,
    sink: Sink,
    itself: Option<Rc<Itself>>,
) -> Driven {
    let t0 = now_ms();
    // The wall-clock limit, checked whenever the loop comes round (a guest waiting on
    // a fetch is checked when the fetch ends: the browser's own timeouts bound it).
    let wall_ms = driver.execution().and_then(|e| e.options().wall_limit_ms);
    // Every trace event posted, for the run's profile at the end.
    let mut all: Vec<TraceEvent> = Vec::new();
    let (tx, mut rx) = mpsc::unbounded::<Finished>();
    // Response bodies still streaming, by the work id of their fetch.
    let mut readers: HashMap<WorkId, fetch::BodyReader> = HashMap::new();
    let persist = itself.as_ref().and_then(|i| i.persist.clone());
    loop {
        if let Some(ms) = wall_ms.filter(|ms| now_ms() - t0 > *ms as f64) {
            let outcome = driver.stop(Some(format!(
                "wall-clock limit: the execution ran for more than {} s and was stopped (the platform's limit per execution)",
                ms / 1000
            )));
            return finished(&mut driver, run_id, t0, &sink, &mut all, outcome);
        }
        let step = driver.step();
        if let Some(p) = &persist {
            p.flush();
        }
        for w in driver.take_work() {
            let reader = match &w.kind {
                WorkKind::FetchBodyRead { fetch } => readers.remove(fetch),
                _ => None,
            };
            start_work(w, run_id, tx.clone(), sink.clone(), itself.clone(), reader);
        }
        // A pause carries the trace events not posted yet.
        let paused_trace = match step {
            Step::Paused(_) => driver.take_trace(),
            _ => Vec::new(),
        };
        all.extend(paused_trace.iter().cloned());
        flush(&mut driver, run_id, t0, &sink, &mut all);
        match step {
            Step::Paused(call) => {
                sink(&FromWorker::Paused {
                    run_id,
                    call,
                    trace: paused_trace,
                });
                // Outside work goes on meanwhile; its results are handed in after.
                let how = match step_answer(&itself).await {
                    Some((StepAnswer::Stop, _)) => {
                        let outcome = driver.stop(None);
                        return finished(&mut driver, run_id, t0, &sink, &mut all, outcome);
                    }
                    Some((answer, breakpoints)) => {
                        driver.set_step_policy(Some(StepPolicy::at(breakpoints)));
                        match answer {
                            StepAnswer::Step => Resume::Step,
                            StepAnswer::Continue => Resume::Continue,
                            _ => Resume::RunToEnd,
                        }
                    }
                    None => Resume::RunToEnd,
                };
                driver.resume(how);
            }
            Step::Done(outcome) => {
                return finished(&mut driver, run_id, t0, &sink, &mut all, outcome);
            }
            Step::Continue => {
                while let Ok(done) = rx.try_recv() {
                    hand_in(&mut driver, &mut readers, done);
                }
                if driver.in_flight() > 0 {
                    // Let timers and fetches make progress while the guest computes.
                    yield_to_event_loop().await;
                }
            }
            Step::Wait => match rx.next().await {
                Some(done) => {
                    hand_in(&mut driver, &mut readers, done);
                    while let Ok(done) = rx.try_recv() {
                        hand_in(&mut driver, &mut readers, done);
                    }
                }
                None => {
                    let outcome = driver.stop(Some("internal error: outside work was lost".into()));
                    return finished(&mut driver, run_id, t0, &sink, &mut all, outcome);
                }
            },
        }
    }
}

/// How a driven run ended, its profile, and what it used of the platform's limits.
pub type Driven = (Outcome, Option<Profile>, Usage);

/// The end of a driven run: what is left posted, the profile and the usage.
fn finished(
    driver: &mut Driver,
    run_id: u32,
    t0: f64,
    sink: &Sink,
    all: &mut Vec<TraceEvent>,
    outcome: Outcome,
) -> Driven {
    flush(driver, run_id, t0, sink, all);
    let usage = driver.execution().map(|e| e.usage()).unwrap_or_default();
    (outcome, driver.profile(all), usage)
}

/// The answer to a paused run (`None`: nobody can answer; it runs to the end).
async fn step_answer(itself: &Option<Rc<Itself>>) -> Option<Answer> {
    let it = itself.as_ref()?;
    let mut rx = it.answers.borrow_mut().take()?;
    let answer = rx.next().await;
    *it.answers.borrow_mut() = Some(rx);
    answer
}

/// Hand in finished work, keeping the body reader it leaves.
fn hand_in(
    driver: &mut Driver,
    readers: &mut HashMap<WorkId, fetch::BodyReader>,
    (id, result, reader): Finished,
) {
    if let Some((fetch, r)) = reader {
        readers.insert(fetch, r);
    }
    driver.complete(id, result);
}

/// Finished work: its id, its result, and the body reader it leaves (a fetch answered
/// at its head, or a read of a body that goes on), by the work id of the fetch.
type Finished = (WorkId, WorkResult, Option<(WorkId, fetch::BodyReader)>);

/// Post the outputs and trace events produced since the last call (if any); the
/// events are also kept in `all`.
fn flush(driver: &mut Driver, run_id: u32, t0: f64, sink: &Sink, all: &mut Vec<TraceEvent>) {
    let outputs: Vec<WireOutput> = driver.take_outputs().into_iter().map(Into::into).collect();
    let trace = driver.take_trace();
    all.extend(trace.iter().cloned());
    if outputs.is_empty() && trace.is_empty() {
        return;
    }
    sink(&FromWorker::Progress {
        run_id,
        outputs,
        trace,
        at_ms: now_ms() - t0,
    });
}

/// Perform one piece of outside work; its result goes to `tx`. The driver core
/// buffers streaming uploads for the browser ([`Capabilities::BROWSER`]), so only
/// sleeps and whole fetches arrive here. A fetch to the service itself is served by
/// the service ([`serve_itself`]); any other is replayed when the run replays
/// ([`RunTap::replayed`]: at once, never `fetch`), else fetched by the browser
/// ([`fetch::fetch`]; whole, and kept, when the run records).
fn start_work(
    w: Work,
    run_id: u32,
    tx: mpsc::UnboundedSender<Finished>,
    sink: Sink,
    itself: Option<Rc<Itself>>,
    reader: Option<fetch::BodyReader>,
) {
    let id = w.id;
    match w.kind {
        WorkKind::Sleep { ns } => spawn_local(async move {
            fetch::sleep_ms(ns as f64 / 1_000_000.0).await;
            let _ = tx.unbounded_send((id, WorkResult::Slept, None));
        }),
        WorkKind::Fetch(mut req) => {
            let tap = itself.as_ref().map(|i| i.tap.clone()).unwrap_or_default();
            let itself = itself.filter(|s| s.serves(&req.url));
            if itself.is_none() {
                if let Some((result, message)) = tap.replayed(&req) {
                    sink(&FromWorker::Notice { run_id, message });
                    let _ = tx.unbounded_send((id, result, None));
                    return;
                }
            }
            // A recorded response is fetched whole: what the guest reads is what was kept.
            let sent = (itself.is_none() && tap.records()).then(|| {
                req.stream_response = false;
                (*req).clone()
            });
            spawn_local(fetch_work(id, req, run_id, tx, sink, itself, sent, tap));
        }
        // The next bytes of a response body that streams (`ReadableStream`).
        WorkKind::FetchBodyRead { fetch } => spawn_local(async move {
            let (result, rest) = match reader {
                Some(r) => r.read().await,
                // Over already (the core never reads past the end).
                None => {
                    let end = WorkResult::BodyChunk {
                        bytes: Vec::new(),
                        end: true,
                    };
                    (end, None)
                }
            };
            let _ = tx.unbounded_send((id, result, rest.map(|r| (fetch, r))));
        }),
        // Never reach a browser driver: the core buffers uploads.
        WorkKind::FetchBodyChunk { .. } | WorkKind::FetchBodyEnd { .. } => {}
        // Never reaches the tab: it does not reuse sandboxes (the core answers NONE).
        WorkKind::NextRequest { .. } => {}
    }
}

/// A backend fetch: served by the service itself (`itself`) or by the browser, and
/// kept when `sent` is the request to record.
#[allow(clippy::too_many_arguments)]
async fn fetch_work(
    id: WorkId,
    req: Box<FetchRequest>,
    run_id: u32,
    tx: mpsc::UnboundedSender<Finished>,
    sink: Sink,
    itself: Option<Rc<Itself>>,
    sent: Option<FetchRequest>,
    tap: Rc<RunTap>,
) {
    let backend = req.backend.clone();
    let (result, reader) = match itself {
        Some(service) => (
            serve_itself(service, *req, run_id, sink.clone()).await,
            None,
        ),
        None => fetch::fetch_with(*req).await,
    };
    if let Some(sent) = &sent {
        tap.keep(sent, &result);
    }
    // The headers not sent and the notes go on the fetch's trace event (the core
    // puts them there) and, as they matter, to the Logs panel too.
    let not_sent = fetch::not_sent_note(&backend, fetch::headers_not_sent_of(&result));
    for message in not_sent
        .into_iter()
        .chain(fetch::notes_of(&result).iter().cloned())
    {
        sink(&FromWorker::Notice { run_id, message });
    }
    let _ = tx.unbounded_send((id, result, reader.map(|r| (id, r))));
}

/// The downstream request a backend fetch to the service itself becomes: its method,
/// URL, headers (`host` and `cdn-loop` as the core set them) and body, arriving from
/// the loopback address as it would at the runner.
pub fn nested_request(req: FetchRequest) -> DownstreamRequest {
    let mut d = DownstreamRequest::new(&req.method, &req.url);
    d.headers = req.headers;
    // What an HTTP client adds to a whole body the core framed automatically.
    if !req.body.is_empty()
        && d.headers.get("content-length").is_none()
        && d.headers.get("transfer-encoding").is_none()
    {
        d.headers
            .insert("content-length", req.body.len().to_string().into_bytes());
    }
    d.original_header_names = d.headers.iter().map(|(n, _)| n.to_string()).collect();
    d.body = req.body;
    d
}

/// Serve a backend fetch to the service itself: run the guest again for it as a nested
/// downstream request (a fresh [`Driver`] for the same guest and service, driven by
/// [`drive`]), and turn what it answered into the fetch's response. The nested run's
/// response and logs stay out of the page (its own fetches' notes reach the Logs
/// panel); the fetch's trace event says which pass served it.
async fn serve_itself(
    itself: Rc<Itself>,
    req: FetchRequest,
    run_id: u32,
    sink: Sink,
) -> WorkResult {
    let t0 = now_ms();
    let backend = req.backend.clone();
    let url = req.url.clone();
    let request = nested_request(req);
    let hops = loop_hops(&request.headers);
    let pass = hops + 1;
    let depth = itself.depth + 1;
    let served = format!("backend `{backend}`: served by this service itself, pass {pass}");
    let origin = itself.origin.clone().unwrap_or_default();
    let elapsed_us = |since: f64| ((now_ms() - since).max(0.0) * 1000.0) as u64;
    if depth > MAX_LOOP_HOPS && hops < MAX_LOOP_HOPS {
        // The guest dropped the token on the way: count the passes here instead.
        let r = FinalResponse::loop_detected();
        let us = elapsed_us(t0);
        return fetched(
            r,
            us,
            us,
            vec![format!(
                "{served}: answered 508 Loop Detected without running the guest: this is                  nested pass {depth} in the tab although `cdn-loop` counts only {hops} (the                  guest dropped the edgeplay token)"
            )],
        );
    }
    let driver = match Driver::start(
        &itself.engine,
        itself.guest.clone(),
        itself.service.clone(),
        request,
        itself.next_request_id(),
        itself.opts.clone(),
        Capabilities::BROWSER,
    ) {
        Ok(d) => d,
        Err(e) => {
            return WorkResult::FetchFailed(FetchError {
                kind: FetchErrorKind::InternalError,
                message: format!("{served}: the guest could not start: {e}"),
                headers_not_sent: Vec::new(),
                notes: Vec::new(),
            })
        }
    };
    let answered = driver.answered_without_guest();
    let got: Rc<RefCell<Collected>> = Rc::default();
    let first_byte_us: Rc<Cell<Option<u64>>> = Rc::default();
    let events = Rc::new(Cell::new(0usize));
    let inner: Sink = {
        let (got, first_byte_us, events, sink) = (
            got.clone(),
            first_byte_us.clone(),
            events.clone(),
            sink.clone(),
        );
        Rc::new(move |m: &FromWorker| match m {
            FromWorker::Progress { outputs, trace, .. } => {
                if first_byte_us.get().is_none()
                    && outputs.iter().any(|o| matches!(o, WireOutput::Response(_)))
                {
                    first_byte_us.set(Some(elapsed_us(t0)));
                }
                got.borrow_mut()
                    .absorb(outputs.iter().cloned().map(Into::into).collect());
                events.set(events.get() + trace.len());
            }
            // The notes of the nested run's own fetches (a deeper pass, a header not
            // sent): the Logs panel shows them as they come.
            other => sink(other),
        })
    };
    let nested = Rc::new(Itself {
        depth,
        ..(*itself).clone()
    });
    // Async recursion: the nested drive is boxed.
    let run: Pin<Box<dyn Future<Output = Driven>>> =
        Box::pin(drive(driver, run_id, inner, Some(nested)));
    let (outcome, _, _) = run.await;
    let end_us = elapsed_us(t0);
    let got = got.borrow();
    let response = got.final_response(&outcome);
    let mut note = if answered {
        format!(
            "{served}: answered {} without running the guest",
            response.status
        )
    } else {
        format!(
            "{served}: {url} has the service's own origin ({origin}), so the tab ran the guest              again for it (it answered {}; its {} trace events are not shown here)",
            response.status,
            events.get()
        )
    };
    if let Some(error) = &response.error {
        note.push_str(&format!(": {error}"));
    }
    if got.head.is_some() && !got.body_complete {
        let why = if got.body_aborted {
            "the guest abandoned the response body"
        } else {
            "the response body ended early"
        };
        return WorkResult::FetchFailed(FetchError {
            kind: FetchErrorKind::HttpIncompleteResponse,
            message: format!("{served}: {why}"),
            headers_not_sent: Vec::new(),
            notes: vec![note],
        });
    }
    let first = first_byte_us.get().unwrap_or(end_us);
    fetched(response, first, end_us, vec![note])
}

/// A fetch's result from a response the service gave itself.
fn fetched(r: FinalResponse, first_byte_us: u64, end_us: u64, notes: Vec<String>) -> WorkResult {
    WorkResult::Fetched(Box::new(FetchResponse {
        status: r.status,
        headers: r.headers,
        body: r.body,
        remote_addr: None,
        first_byte_us,
        end_us,
        headers_not_sent: Vec::new(),
        notes,
    }))
}

/// Yield one macrotask (a `MessageChannel` round trip: no timer clamping).
async fn yield_to_event_loop() {
    let Ok(channel) = web_sys::MessageChannel::new() else {
        fetch::sleep_ms(0.0).await;
        return;
    };
    let p = js_sys::Promise::new(&mut |resolve, _| {
        channel.port1().set_onmessage(Some(&resolve));
    });
    let _ = channel.port2().post_message(&JsValue::UNDEFINED);
    let _ = JsFuture::from(p).await;
}
