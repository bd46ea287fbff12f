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

use crate::fetch;
use crate::platform::{browser_platform, now_ms};
use crate::protocol::{js, FromWorker, RunRequest, ToWorker, WireOutput};
use edgeplay_host::exec::{viceroy_request_id, StartError};
use edgeplay_host::{
    Capabilities, Driver, Engine, ExecOptions, Guest, Outcome, Poll, Step, Work, WorkId, WorkKind,
    WorkResult,
};
use futures_channel::mpsc;
use futures_util::StreamExt;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};

/// Fuel per slice in the tab (the core's default is 20 million). The browser's
/// optimizing compile of the interpreter takes effect when it is next entered, i.e.
/// at the next slice: shorter slices reach the optimized code sooner.
const SLICE_FUEL: u64 = 4_000_000;

struct State {
    engine: Engine,
    guest: Option<Arc<Guest>>,
    requests: u64,
    busy: bool,
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

/// The worker's entry point: listen for messages, then say `Ready`.
pub fn start() {
    console_error_panic_hook::set_once();
    let state = Rc::new(RefCell::new(State {
        engine: Engine::new(browser_platform()),
        guest: None,
        requests: 0,
        busy: false,
    }));
    let scope: web_sys::DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let warm = state.clone();
    let on_message =
        Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
            match js::decode::<ToWorker>(ev.data()) {
                Ok(msg) => handle(&state, msg),
                Err(e) => web_sys::console::error_1(&e.into()),
            }
        });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    on_message.forget();
    post(&FromWorker::Ready);
    spawn_local(warm_up(warm));
}

/// Run the warm-up module in short slices (see [`crate::warmup`]); a real run ends it.
async fn warm_up(state: Rc<RefCell<State>>) {
    let Some(mut exec) = crate::warmup::warm_up(&state.borrow().engine) else {
        return;
    };
    loop {
        if state.borrow().busy {
            return;
        }
        match exec.run() {
            Poll::Yielded => yield_to_event_loop().await,
            Poll::Done(_) | Poll::Blocked => return,
        }
    }
}

fn handle(state: &Rc<RefCell<State>>, msg: ToWorker) {
    match msg {
        ToWorker::Load {
            load_id,
            name,
            wasm,
        } => {
            let mut s = state.borrow_mut();
            let t0 = now_ms();
            s.guest = None;
            match s.engine.load(&wasm) {
                Ok(guest) => {
                    let info = guest.info.clone();
                    s.guest = Some(guest);
                    post(&FromWorker::Loaded {
                        load_id,
                        info,
                        load_ms: now_ms() - t0,
                    });
                }
                Err(e) => post(&FromWorker::LoadFailed {
                    load_id,
                    message: format!("{name}: {e}"),
                }),
            }
        }
        ToWorker::Run(run) => {
            let run_id = run.run_id;
            let prepared = {
                let mut s = state.borrow_mut();
                if s.busy {
                    Err("a run is already under way in this worker".to_string())
                } else {
                    prepare(&mut s, run)
                }
            };
            match prepared {
                Ok((exec, request_id, instantiate_ms)) => {
                    state.borrow_mut().busy = true;
                    post(&FromWorker::Started {
                        run_id,
                        request_id,
                        instantiate_ms,
                    });
                    let state = state.clone();
                    spawn_local(async move {
                        let t0 = now_ms();
                        let outcome = drive(exec, run_id, Rc::new(post)).await;
                        state.borrow_mut().busy = false;
                        post(&FromWorker::Done {
                            run_id,
                            outcome,
                            run_ms: now_ms() - t0,
                        });
                    });
                }
                Err(message) => post(&FromWorker::Failed { run_id, message }),
            }
        }
    }
}

/// Parse the config, build the request, instantiate the guest.
fn prepare(s: &mut State, run: RunRequest) -> Result<(Driver, String, f64), String> {
    let guest = s
        .guest
        .clone()
        .ok_or("no guest is loaded: drop a .wasm file or pick an example")?;
    let config = crate::request::parse_config(&run.config_toml).map_err(|e| e.to_string())?;
    let request = crate::request::build_request(&run.request)?;
    let request_id = viceroy_request_id(s.requests);
    s.requests += 1;
    let opts = ExecOptions {
        cpu_limit_ms: run.cpu_limit_ms,
        slice_fuel: SLICE_FUEL,
        ..ExecOptions::default()
    };
    let t0 = now_ms();
    let exec = Driver::start(
        &s.engine,
        guest,
        Arc::new(config),
        request,
        request_id.clone(),
        opts,
        Capabilities::BROWSER,
    )
    .map_err(|e: StartError| e.to_string())?;
    Ok((exec, request_id, now_ms() - t0))
}

/// Run `driver` to its end, streaming what it produces to `sink` as `Progress`
/// (and `Notice`) messages for `run_id`. Returns how it ended.
pub async fn drive(mut driver: Driver, run_id: u32, sink: Sink) -> Outcome {
    let t0 = now_ms();
    let (tx, mut rx) = mpsc::unbounded::<(WorkId, WorkResult)>();
    loop {
        let step = driver.step();
        for w in driver.take_work() {
            start_work(w, run_id, tx.clone(), sink.clone());
        }
        flush(&mut driver, run_id, t0, &sink);
        match step {
            Step::Done(outcome) => {
                flush(&mut driver, run_id, t0, &sink);
                return outcome;
            }
            Step::Continue => {
                while let Ok((id, result)) = rx.try_recv() {
                    driver.complete(id, result);
                }
                if driver.in_flight() > 0 {
                    // Let timers and fetches make progress while the guest computes.
                    yield_to_event_loop().await;
                }
            }
            Step::Wait => match rx.next().await {
                Some((id, result)) => {
                    driver.complete(id, result);
                    while let Ok((id, result)) = rx.try_recv() {
                        driver.complete(id, result);
                    }
                }
                None => {
                    let outcome = driver.stop(Some("internal error: outside work was lost".into()));
                    flush(&mut driver, run_id, t0, &sink);
                    return outcome;
                }
            },
        }
    }
}

/// Post the outputs and trace events produced since the last call (if any).
fn flush(driver: &mut Driver, run_id: u32, t0: f64, sink: &Sink) {
    let outputs: Vec<WireOutput> = driver.take_outputs().into_iter().map(Into::into).collect();
    let trace = driver.take_trace();
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
/// sleeps and whole fetches arrive here.
fn start_work(w: Work, run_id: u32, tx: mpsc::UnboundedSender<(WorkId, WorkResult)>, sink: Sink) {
    let id = w.id;
    match w.kind {
        WorkKind::Sleep { ns } => spawn_local(async move {
            fetch::sleep_ms(ns as f64 / 1_000_000.0).await;
            let _ = tx.unbounded_send((id, WorkResult::Slept));
        }),
        WorkKind::Fetch(req) => spawn_local(async move {
            let backend = req.backend.clone();
            let result = fetch::fetch(*req).await;
            // The headers not sent and the notes go on the fetch's trace event (the
            // core puts them there) and, as they matter, to the Logs panel too.
            let not_sent = fetch::not_sent_note(&backend, fetch::headers_not_sent_of(&result));
            for message in not_sent
                .into_iter()
                .chain(fetch::notes_of(&result).iter().cloned())
            {
                sink(&FromWorker::Notice { run_id, message });
            }
            let _ = tx.unbounded_send((id, result));
        }),
        // The tab answers whole responses (`fetch` reads the body before answering), so
        // a read only finds the end.
        WorkKind::FetchBodyRead { .. } => {
            let _ = tx.unbounded_send((
                id,
                WorkResult::BodyChunk {
                    bytes: Vec::new(),
                    end: true,
                },
            ));
        }
        // Never reach a browser driver: the core buffers uploads.
        WorkKind::FetchBodyChunk { .. } | WorkKind::FetchBodyEnd { .. } => {}
    }
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
