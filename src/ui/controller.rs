//! What the UI does: load guests, run them in the worker, stop them, and turn the
//! worker's messages into state. The components only call these functions.

use super::state::*;
use edgeplay_host::collect::Collected;
use edgeplay_host::{Output, TraceEvent};
use edgeplay_web::bridge::WorkerBridge;
use edgeplay_web::examples;
use edgeplay_web::fetch::js_error;
use edgeplay_web::format::LineSplitter;
use edgeplay_web::platform::now_ms;
use edgeplay_web::protocol::{
    FromWorker, RequestSpec, RunRequest, StoreAnswer, StoreOp, ToWorker, WireOutput,
};
use edgeplay_web::request::{build_request, parse_config};
use edgeplay_web::storage;
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

/// localStorage keys.
pub const CONFIG_KEY: &str = "edgeplay.config.v1";
/// localStorage key of the composer fields.
pub const REQUEST_KEY: &str = "edgeplay.request.v1";
/// localStorage key of the service state the open workspace entry has (read at
/// start, before the workspace database answers, to start the right worker).
pub const STATE_KEY: &str = "edgeplay.workspace.state";

/// What happens once a guest has loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterLoad {
    /// Nothing: the user presses Run.
    Nothing,
    /// Run the selected request.
    Run,
    /// Run every request of the fiddle, in order (an opened link or file).
    RunAll,
}

/// A load the UI is waiting for.
struct PendingLoad {
    load_id: u32,
    started_at: f64,
    example: Option<&'static str>,
    after: AfterLoad,
    save: bool,
}

/// The current run's scratch state (not shown directly).
#[derive(Default)]
struct RunScratch {
    collected: Collected,
    stdout: LineSplitter,
    stderr: LineSplitter,
    started_at: f64,
    /// The downstream request the run sends (for the run's record).
    request: Option<edgeplay_host::http::DownstreamRequest>,
}

thread_local! {
    static WORKER: RefCell<Option<WorkerBridge>> = const { RefCell::new(None) };
    /// The current guest's name and bytes, to load it again into a fresh worker.
    static GUEST: RefCell<Option<(String, Rc<Vec<u8>>)>> = const { RefCell::new(None) };
    static PENDING: RefCell<Option<PendingLoad>> = const { RefCell::new(None) };
    static RUN: RefCell<RunScratch> = RefCell::new(RunScratch::default());
    static NEXT_LOAD: RefCell<u32> = const { RefCell::new(0) };
    /// The service worker (offline copy) was registered.
    static OFFLINE_REGISTERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The service state the worker runs with (a workspace entry's; "" the default).
    static STATE_NAME: RefCell<String> = const { RefCell::new(String::new()) };
    /// Stores panel requests waiting for their answer, by request id.
    static STORE_REPLIES: RefCell<(u32, Vec<(u32, StoreCallback)>)> = RefCell::new((0, Vec::new()));
}

/// What gets a Stores panel request's answer.
pub type StoreCallback = Box<dyn FnOnce(Result<StoreAnswer, String>)>;

/// Ask the worker's state (the Stores panel); `done` gets the answer. A request the
/// worker never answers (it was stopped) is dropped with it.
pub fn store_request(
    state: AppState,
    op: StoreOp,
    done: impl FnOnce(Result<StoreAnswer, String>) + 'static,
) {
    let req_id = STORE_REPLIES.with(|r| {
        let mut r = r.borrow_mut();
        r.0 += 1;
        let id = r.0;
        r.1.push((id, Box::new(done)));
        id
    });
    post(state, &ToWorker::Store { req_id, op });
}

fn take_store_reply(req_id: u32) -> Option<StoreCallback> {
    STORE_REPLIES.with(|r| {
        let mut r = r.borrow_mut();
        let at = r.1.iter().position(|(id, _)| *id == req_id)?;
        Some(r.1.remove(at).1)
    })
}

/// Start the worker, restore the last guest, watch for drops, save edits.
pub fn start(state: AppState) {
    // A link to open gets a workspace entry of its own: its worker starts on that
    // entry's (fresh) state at once, instead of on the current one and again after.
    let name = super::fiddle_actions::preset_link_entry()
        .unwrap_or_else(|| storage::get(STATE_KEY).unwrap_or_default());
    STATE_NAME.with(|n| *n.borrow_mut() = name);
    spawn_worker(state);
    restore_last_guest(state);
    listen_for_drops(state);
    Effect::new(move |_| storage::set_json(REQUEST_KEY, &state.saved_request()));
    Effect::new(move |_| state.config_text.with(|t| storage::set(CONFIG_KEY, t)));
}

fn spawn_worker(state: AppState) {
    state.worker_ready.set(false);
    // The old worker's unanswered requests go with it.
    STORE_REPLIES.with(|r| r.borrow_mut().1.clear());
    let name = STATE_NAME.with(|n| n.borrow().clone());
    let bridge = WorkerBridge::spawn_for_state(
        &name,
        move |msg| on_message(state, msg),
        move |err| on_worker_error(state, err),
    );
    match bridge {
        Ok(b) => WORKER.with(|w| *w.borrow_mut() = Some(b)),
        Err(e) => state.error.set(Some(e)),
    }
}

/// Post `msg` to the worker (queued until it is ready); a failure goes to the banner.
pub(super) fn post(state: AppState, msg: &ToWorker) {
    let res = WORKER.with(|w| match &*w.borrow() {
        Some(b) => b.post(msg),
        None => Err("the guest worker is not running; reload the page".into()),
    });
    if let Err(e) = res {
        state.error.set(Some(e));
    }
}

fn next_load_id() -> u32 {
    NEXT_LOAD.with(|n| {
        let mut n = n.borrow_mut();
        *n += 1;
        *n
    })
}

/// The loaded guest's file name and bytes (what Share and Save put in a fiddle).
pub fn guest_bytes() -> Option<(String, Rc<Vec<u8>>)> {
    GUEST.with(|g| g.borrow().clone())
}

/// No guest in the page (a workspace entry without one). The worker keeps its
/// module until the next load; nothing can run it from here.
pub fn forget_guest(state: AppState) {
    GUEST.with(|g| *g.borrow_mut() = None);
    state.guest.set(None);
    state.example.set(String::new());
}

/// Load `bytes` as the guest. `started_at` is when the user dropped or picked it.
pub fn load_guest(
    state: AppState,
    name: String,
    bytes: Vec<u8>,
    example: Option<&'static str>,
    started_at: f64,
    after: AfterLoad,
    save: bool,
) {
    let load_id = next_load_id();
    state.loading.set(Some(name.clone()));
    state.error.set(None);
    state.notice.set(None);
    state.timings.set(Timings {
        read_ms: Some(now_ms() - started_at),
        ..Timings::default()
    });
    PENDING.with(|p| {
        *p.borrow_mut() = Some(PendingLoad {
            load_id,
            started_at,
            example,
            after,
            save,
        })
    });
    let bytes = Rc::new(bytes);
    GUEST.with(|g| *g.borrow_mut() = Some((name.clone(), bytes.clone())));
    post(
        state,
        &ToWorker::Load {
            load_id,
            name,
            wasm: bytes.to_vec(),
        },
    );
}

/// Read a dropped or picked file: a `.toml` goes into the config editor, a fiddle
/// (`.json`) or a Fastly CLI package (`pkg/NAME.tar.gz`) is opened as a fiddle,
/// anything else is loaded as the guest (and run).
pub fn open_file(state: AppState, file: web_sys::File) {
    let started_at = now_ms();
    let name = file.name();
    if name.ends_with(".toml") {
        import_config(state, file);
        return;
    }
    state.loading.set(Some(name.clone()));
    spawn_local(async move {
        match read_file(&file).await {
            Ok(bytes) if super::fiddle_actions::is_fiddle_file(&name, &bytes) => {
                state.loading.set(None);
                super::fiddle_actions::open_fiddle_file(state, &name, &bytes);
            }
            Ok(bytes) => {
                state.example.set(String::new());
                load_guest(state, name, bytes, None, started_at, AfterLoad::Run, true)
            }
            Err(e) => {
                state.loading.set(None);
                state.error.set(Some(format!("Could not read {name}: {e}")));
            }
        }
    });
}

/// Put a `fastly.toml` file's text into the config editor.
pub fn import_config(state: AppState, file: web_sys::File) {
    spawn_local(async move {
        match JsFuture::from(file.text()).await {
            Ok(t) => {
                state.config_text.set(t.as_string().unwrap_or_default());
                state.notice.set(Some(format!(
                    "Imported {} into the config editor.",
                    file.name()
                )));
            }
            Err(e) => state.error.set(Some(format!(
                "Could not read {}: {}",
                file.name(),
                js_error(&e)
            ))),
        }
    });
}

async fn read_file(file: &web_sys::File) -> Result<Vec<u8>, String> {
    let buf = JsFuture::from(file.array_buffer())
        .await
        .map_err(|e| js_error(&e))?;
    Ok(js_sys::Uint8Array::new(&buf).to_vec())
}

/// Load (and run) an example from `examples/` beside the page.
pub fn load_example(state: AppState, name: String) {
    let Some(ex) = examples::find(&name) else {
        return;
    };
    state.method.set(ex.method.into());
    state.url.set(ex.path.into());
    state.headers.set(ex.headers.into());
    state.body.set(ex.body.into());
    add_example_backends(state, ex);
    load_example_guest(state, ex, AfterLoad::Run);
}

/// Download the example `ex`'s guest and load it (the composer is left as it is).
pub fn load_example_guest(state: AppState, ex: &'static examples::Example, after: AfterLoad) {
    let started_at = now_ms();
    state.example.set(ex.name.into());
    state.loading.set(Some(ex.file.into()));
    spawn_local(async move {
        match download(&format!("examples/{}", ex.file)).await {
            Ok(bytes) => load_guest(
                state,
                ex.file.into(),
                bytes,
                Some(ex.name),
                started_at,
                after,
                true,
            ),
            Err(e) => {
                state.loading.set(None);
                state.error.set(Some(format!(
                    "Could not download the example {}: {e}. The examples are built and staged by the trunk build (scripts/run.sh).",
                    ex.file
                )));
            }
        }
    });
}

/// Add the backends an example needs (the fanout example's mocks) to the config
/// editor when it does not declare them; a config that does not validate is left as
/// it is (the run then says what is wrong).
fn add_example_backends(state: AppState, ex: &examples::Example) {
    let text = state.config_text.get_untracked();
    if let Ok(Some((with, _added))) = examples::with_backends(&text, ex) {
        state.config_text.set(with);
    }
}

/// GET `url` (same-origin, or cross-origin with CORS) and its body's bytes.
pub async fn download(url: &str) -> Result<Vec<u8>, String> {
    let window = web_sys::window().ok_or("no window")?;
    let resp: web_sys::Response = JsFuture::from(window.fetch_with_str(url))
        .await
        .map_err(|e| js_error(&e))?
        .dyn_into()
        .map_err(|_| "not a response".to_string())?;
    if !resp.ok() {
        return Err(format!("HTTP {}", resp.status()));
    }
    let buf = JsFuture::from(resp.array_buffer().map_err(|e| js_error(&e))?)
        .await
        .map_err(|e| js_error(&e))?;
    Ok(js_sys::Uint8Array::new(&buf).to_vec())
}

fn restore_last_guest(state: AppState) {
    spawn_local(async move {
        let Some(saved) = storage::load_guest().await else {
            return;
        };
        // The user was quicker: keep what they chose.
        if state.guest.get_untracked().is_some() || state.loading.get_untracked().is_some() {
            return;
        }
        let name = saved.name.clone();
        load_guest(
            state,
            saved.name,
            saved.bytes,
            None,
            now_ms(),
            AfterLoad::Nothing,
            false,
        );
        state.notice.set(Some(format!(
            "Restored {name} from your last visit: press Run to send the request."
        )));
    });
}

fn listen_for_drops(state: AppState) {
    let over = window_event_listener(leptos::ev::dragover, move |e: web_sys::DragEvent| {
        e.prevent_default();
        if !state.dragging.get_untracked() {
            state.dragging.set(true);
        }
    });
    let leave = window_event_listener(leptos::ev::dragleave, move |e: web_sys::DragEvent| {
        // Leaving the window (not just moving between elements).
        if e.related_target().is_none() {
            state.dragging.set(false);
        }
    });
    let drop = window_event_listener(leptos::ev::drop, move |e: web_sys::DragEvent| {
        e.prevent_default();
        state.dragging.set(false);
        let file = e
            .data_transfer()
            .and_then(|dt| dt.files())
            .and_then(|files| files.get(0));
        if let Some(file) = file {
            open_file(state, file);
        }
    });
    // The listeners live as long as the page.
    std::mem::forget((over, leave, drop));
}

/// Run the request against the loaded guest. `from_drop`: when the user dropped the
/// guest (the timings then count from the drop).
pub fn run(state: AppState, from_drop: Option<f64>) {
    if state.phase.get_untracked() == Phase::Running {
        return;
    }
    // JavaScript mode: the editor's source is built first when it changed.
    if super::js_actions::build_first(state, super::js_actions::After::Run) {
        return;
    }
    if state.guest.get_untracked().is_none() {
        state.error.set(Some(
            "Load a guest first: drop a .wasm file anywhere on the page, open one, or pick an example."
                .into(),
        ));
        return;
    }
    let config_toml = state.config_text.get_untracked();
    if let Err(e) = parse_config(&config_toml) {
        state
            .error
            .set(Some(format!("The config does not validate: {e}")));
        return;
    }
    let request = RequestSpec {
        method: state.method.get_untracked(),
        url: state.url.get_untracked(),
        headers: state.headers.get_untracked(),
        body: state.body.get_untracked().into_bytes(),
        client_ip: state.client_ip.get_untracked(),
    };
    let downstream = match build_request(&request) {
        Ok(d) => d,
        Err(e) => {
            state
                .error
                .set(Some(format!("The request is not valid: {e}")));
            return;
        }
    };
    let run_id = state.run_id.get_untracked() + 1;
    state.run_id.set(run_id);
    state.error.set(None);
    state.notice.set(None);
    state.request_id.set(None);
    state.response.set(None);
    state.response_body.set(Vec::new());
    state.chunks.set(Vec::new());
    state.body_complete.set(false);
    state.body_aborted.set(false);
    state.outcome.set(None);
    state.usage.set(None);
    state.logs.set(Vec::new());
    state.trace.set(Vec::new());
    state.profile.set(None);
    state.selected.set(None);
    state.body_view.set(None);
    state.timings.update(|t| {
        let (read_ms, load_ms) = (t.read_ms, t.load_ms);
        *t = Timings::default();
        if from_drop.is_some() {
            t.read_ms = read_ms;
            t.load_ms = load_ms;
            t.from_drop = true;
        }
    });
    RUN.with(|r| {
        *r.borrow_mut() = RunScratch {
            started_at: from_drop.unwrap_or_else(now_ms),
            request: Some(downstream),
            ..RunScratch::default()
        }
    });
    state.phase.set(Phase::Running);
    let record = state.fiddle.record.get_untracked();
    if !state.fiddle.running_all.get_untracked() {
        // A single run replays the fiddle's recordings from the first (Run all arms
        // them once for the whole sequence).
        super::fiddle_actions::arm_replay(state);
    }
    post(
        state,
        &ToWorker::Run(RunRequest {
            run_id,
            request,
            config_toml,
            cpu_limit_ms: state.cpu_limit_ms(),
            fresh_cache: state.fresh_cache.get_untracked(),
            record,
            step: super::step::policy(),
            production_limits: state.production_limits.get_untracked(),
        }),
    );
}

/// Stop the running guest now: terminate its worker and start a fresh one.
pub fn stop(state: AppState) {
    if state.phase.get_untracked() != Phase::Running {
        return;
    }
    finish_logs(state);
    state.phase.set(Phase::Stopped);
    set_wall_time(state);
    state.error.set(Some(
        "Stopped: you stopped the guest. Its worker was terminated at once; a fresh one is ready."
            .into(),
    ));
    super::fiddle_actions::run_ended(state, None);
    restart_worker(state);
}

/// The worker itself failed (it should not: the core never panics on guest input).
/// A run under way ends with the message; a fresh worker takes over.
fn on_worker_error(state: AppState, message: String) {
    if state.phase.get_untracked() == Phase::Running {
        finish_logs(state);
        state.phase.set(Phase::Failed);
        set_wall_time(state);
        super::fiddle_actions::run_ended(state, None);
    }
    state.loading.set(None);
    PENDING.with(|p| p.borrow_mut().take());
    state.error.set(Some(format!(
        "{message}. A fresh worker was started; run again to retry."
    )));
    // Not from inside the failing worker's own callback: it is dropped by the restart.
    spawn_local(async move { restart_worker(state) });
}

/// Run the service state `name` (a workspace entry's): a worker of its own takes
/// over, with the current guest.
pub fn use_state(state: AppState, name: &str) {
    storage::set(STATE_KEY, name);
    if STATE_NAME.with(|n| *n.borrow() == name) {
        return;
    }
    STATE_NAME.with(|n| *n.borrow_mut() = name.to_string());
    state.stored.set(StoredState::Starting);
    restart_worker(state);
}

/// Tell the worker to answer backend requests from `recordings` (none: the network),
/// starting over from the first.
pub fn replay(state: AppState, recordings: Option<Vec<edgeplay_host::fiddle::Recording>>) {
    post(state, &ToWorker::Replay { recordings });
}

/// Terminate the worker and start a fresh one with the current guest.
pub(super) fn restart_worker(state: AppState) {
    if let Some(w) = WORKER.with(|w| w.borrow_mut().take()) {
        w.terminate();
    }
    spawn_worker(state);
    // The fresh worker gets the guest again (quietly: no answer is awaited).
    if let Some((name, bytes)) = GUEST.with(|g| g.borrow().clone()) {
        let load_id = next_load_id();
        post(
            state,
            &ToWorker::Load {
                load_id,
                name,
                wasm: bytes.to_vec(),
            },
        );
    }
}

fn set_wall_time(state: AppState) {
    let started = RUN.with(|r| r.borrow().started_at);
    state
        .timings
        .update(|t| t.wall_ms = Some(now_ms() - started));
}

fn finish_logs(state: AppState) {
    let rest = RUN.with(|r| {
        let mut r = r.borrow_mut();
        [("stdout", r.stdout.finish()), ("stderr", r.stderr.finish())]
    });
    for (source, line) in rest {
        if let Some(line) = line {
            push_log(state, source, line);
        }
    }
}

fn push_log(state: AppState, source: &str, line: String) {
    state.logs.update(|logs| {
        let n = logs.len();
        logs.push(LogEntry {
            n,
            source: source.to_string(),
            line,
        })
    });
}

fn on_message(state: AppState, msg: FromWorker) {
    match msg {
        FromWorker::Ready => {
            state.worker_ready.set(true);
            // The offline copy (22 MB on a first visit) is fetched once the worker is
            // up, so it does not slow the page's first answer.
            if !OFFLINE_REGISTERED.with(|r| r.replace(true)) {
                edgeplay_web::offline::register();
            }
            super::js_actions::worker_ready(state);
        }
        FromWorker::Loaded {
            load_id,
            info,
            load_ms,
        } => {
            let Some(p) = take_pending(load_id) else {
                return;
            };
            super::js_actions::wasm_loaded();
            let name = GUEST.with(|g| g.borrow().as_ref().map(|(n, _)| n.clone()));
            let name = name.unwrap_or_else(|| "guest.wasm".into());
            state.loading.set(None);
            state.timings.update(|t| t.load_ms = Some(load_ms));
            state.guest.set(Some(LoadedGuest {
                name: name.clone(),
                info,
                worker_load_ms: load_ms,
                wall_ms: now_ms() - p.started_at,
                example: p.example,
            }));
            if p.example.is_none() {
                state.example.set(String::new());
            }
            if p.save {
                if let Some((name, bytes)) = GUEST.with(|g| g.borrow().clone()) {
                    spawn_local(async move {
                        let _ = storage::save_guest(&name, &bytes).await;
                    });
                }
            }
            match p.after {
                AfterLoad::Nothing => {}
                AfterLoad::Run => run(state, Some(p.started_at)),
                AfterLoad::RunAll => super::fiddle_actions::run_all(state),
            }
        }
        FromWorker::LoadFailed { load_id, message } => {
            let Some(p) = take_pending(load_id) else {
                return;
            };
            state.loading.set(None);
            state.guest.set(None);
            GUEST.with(|g| *g.borrow_mut() = None);
            if !p.save {
                // A restored guest that no longer loads is forgotten.
                spawn_local(storage::clear_guest());
            }
            state.error.set(Some(format!("Could not load {message}")));
        }
        FromWorker::Started {
            run_id,
            request_id,
            instantiate_ms,
        } => {
            if run_id == state.run_id.get_untracked() {
                state.request_id.set(Some(request_id));
                state
                    .timings
                    .update(|t| t.instantiate_ms = Some(instantiate_ms));
            }
        }
        FromWorker::Progress {
            run_id,
            outputs,
            trace,
            at_ms,
        } => {
            if run_id == state.run_id.get_untracked() {
                apply_outputs(state, outputs, at_ms);
                add_trace(state, trace);
            }
        }
        FromWorker::Paused {
            run_id,
            call,
            trace,
        } if run_id == state.run_id.get_untracked() => {
            add_trace(state, trace);
            super::step::paused(run_id, *call);
        }
        FromWorker::Paused { .. } => {}
        FromWorker::Notice { run_id, message } => {
            if run_id == state.run_id.get_untracked() {
                push_log(state, "edgeplay", message);
            }
        }
        FromWorker::Done {
            run_id,
            outcome,
            run_ms,
            usage,
        } => {
            if run_id != state.run_id.get_untracked() {
                return;
            }
            finish_logs(state);
            let fin = RUN.with(|r| r.borrow().collected.final_response(&outcome));
            if state.response.get_untracked().is_none() {
                state.response.set(Some(ResponseView {
                    status: fin.status,
                    headers: fin.headers.clone(),
                    streaming: false,
                    synthesized: true,
                }));
                state.response_body.set(fin.body.clone());
            }
            state.error.set(fin.error.clone());
            state.timings.update(|t| t.run_ms = Some(run_ms));
            state.usage.set(Some(usage));
            set_wall_time(state);
            state.outcome.set(Some(outcome));
            state.phase.set(Phase::Done);
            let record = RUN.with(|r| r.borrow().request.clone()).map(|req| {
                let trace = state.trace.get_untracked();
                edgeplay_host::fiddle::RunRecord::new(&req, &fin, trace)
            });
            super::history_actions::keep(state, record.as_ref());
            super::fiddle_actions::run_ended(state, record);
        }
        FromWorker::Failed { run_id, message } => {
            if run_id == state.run_id.get_untracked() {
                state.phase.set(Phase::Failed);
                state
                    .error
                    .set(Some(format!("The run could not start: {message}")));
                super::fiddle_actions::run_ended(state, None);
            }
        }
        FromWorker::Recorded {
            run_id,
            recordings,
            left_out,
        } => {
            if run_id == state.run_id.get_untracked() {
                super::fiddle_actions::recorded(state, recordings, left_out);
            }
        }
        FromWorker::Profiled { run_id, profile } => {
            if run_id == state.run_id.get_untracked() {
                state.profile.set(Some(*profile));
            }
        }
        FromWorker::StateLoading => state.stored.set(StoredState::Loading),
        FromWorker::StateLoaded {
            keys,
            skipped,
            load_ms,
            since_start_ms,
            not_durable,
        } => {
            if skipped > 0 {
                state.notice.set(Some(format!(
                    "{skipped} stored state record{} could not be read; {} left as {} {}.",
                    if skipped == 1 { "" } else { "s" },
                    if skipped == 1 { "it was" } else { "they were" },
                    if skipped == 1 { "it" } else { "they" },
                    if skipped == 1 { "was" } else { "were" },
                )));
            }
            if let Some(why) = &not_durable {
                state.notice.set(Some(format!(
                    "The service state lives in this worker only and will not survive a reload: {why}"
                )));
            }
            state.stored.set(StoredState::Loaded {
                keys,
                load_ms,
                since_start_ms,
                durable: not_durable.is_none(),
            });
            state.state_version.update(|v| *v += 1);
        }
        FromWorker::StateChanged { keys, remote } => {
            let _ = (keys, remote);
            state.state_version.update(|v| *v += 1);
        }
        FromWorker::StateError { message } => state
            .error
            .set(Some(format!("The service state: {message}"))),
        msg @ (FromWorker::EngineLoading { .. }
        | FromWorker::EngineReady { .. }
        | FromWorker::EngineFailed { .. }
        | FromWorker::Built { .. }
        | FromWorker::BuildFailed { .. }
        | FromWorker::BuildProgress { .. }
        | FromWorker::JsModule { .. }) => super::js_actions::on_worker(state, msg),
        FromWorker::StoreReply { req_id, result } => {
            if let Some(done) = take_store_reply(req_id) {
                done(result);
            }
        }
    }
}

fn take_pending(load_id: u32) -> Option<PendingLoad> {
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        match &*p {
            Some(pending) if pending.load_id == load_id => p.take(),
            _ => None,
        }
    })
}

fn apply_outputs(state: AppState, outputs: Vec<WireOutput>, at_ms: f64) {
    for o in outputs {
        let out: Output = o.into();
        RUN.with(|r| r.borrow_mut().collected.absorb(vec![out.clone()]));
        match out {
            Output::Response(h) => {
                state.timings.update(|t| t.first_byte_ms = Some(at_ms));
                state.response.set(Some(ResponseView {
                    status: h.status,
                    headers: h.headers,
                    streaming: h.streaming,
                    synthesized: false,
                }));
            }
            Output::BodyChunk(c) => {
                let len = c.len();
                state.response_body.update(|b| b.extend_from_slice(&c));
                state.chunks.update(|cs| cs.push(ChunkMark { at_ms, len }));
            }
            Output::BodyEnd => state.body_complete.set(true),
            Output::BodyAbort => state.body_aborted.set(true),
            Output::Stdout(b) => {
                let lines = RUN.with(|r| r.borrow_mut().stdout.push(&b));
                for l in lines {
                    push_log(state, "stdout", l);
                }
            }
            Output::Stderr(b) => {
                let lines = RUN.with(|r| r.borrow_mut().stderr.push(&b));
                for l in lines {
                    push_log(state, "stderr", l);
                }
            }
            Output::Log { endpoint, line } => push_log(state, &endpoint, line),
            Output::Informational(h) => push_log(
                state,
                "edgeplay",
                format!(
                    "informational response {} before the final one (a page's fetch never sees 1xx responses; `edgeplay serve` sends it)",
                    h.status
                ),
            ),
            Output::Handoff(h) => push_log(state, "edgeplay", h.without_connection()),
            // The tab runs one request per instance: never sent.
            Output::ForRequest { .. } => {}
        }
    }
}

fn add_trace(state: AppState, events: Vec<TraceEvent>) {
    if events.is_empty() {
        return;
    }
    state.trace.update(|t| {
        for ev in events {
            // A call the guest was suspended in arrives after later events.
            let at = t.partition_point(|e| e.seq < ev.seq);
            t.insert(at, ev);
        }
    });
}

/// Download the trace in the Chrome/Perfetto trace-event format.
pub fn download_trace(state: AppState) {
    let json = state
        .trace
        .with_untracked(|t| edgeplay_host::trace::to_chrome_trace(t).to_string());
    download_json("edgeplay-trace.json", &json);
}

/// Offer `json` as a download called `name` (the trace, an exported store, a fiddle).
pub fn download_json(name: &str, json: &str) {
    download_bytes(name, "application/json", json.as_bytes());
}

/// Offer `bytes` (of type `mime`) as a download called `name`.
pub fn download_bytes(name: &str, mime: &str, bytes: &[u8]) {
    let array = js_sys::Uint8Array::from(bytes);
    let parts = js_sys::Array::of1(&array);
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type(mime);
    let Ok(blob) = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &opts) else {
        return;
    };
    let Ok(url) = web_sys::Url::create_object_url_with_blob(&blob) else {
        return;
    };
    if let Some(a) = document()
        .create_element("a")
        .ok()
        .and_then(|a| a.dyn_into::<web_sys::HtmlAnchorElement>().ok())
    {
        a.set_href(&url);
        a.set_download(name);
        a.click();
    }
    // Revoked a moment later: the download reads the blob asynchronously.
    let cb = wasm_bindgen::closure::Closure::once_into_js(move || {
        let _ = web_sys::Url::revoke_object_url(&url);
    });
    edgeplay_web::fetch::set_timeout(&cb, 60_000);
}
