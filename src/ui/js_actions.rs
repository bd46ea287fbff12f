//! What the JavaScript source mode does (issue 12): keep the editor's source
//! (localStorage), ask the worker to build it (`ToWorker::BuildJs`) when it changed
//! since the worker's last build, and then run, run all, or download; show the
//! engine's state and a failed build's message at its line. The components in
//! [`super::js`] only call these; the controller and the fiddle actions call in at
//! [`build_first`] (before a run), [`on_worker`] (the JS messages), [`wasm_loaded`]
//! and [`worker_ready`], and the fiddle's Share and Open at [`link_guest`] and
//! [`open_source`].

use super::controller;
use super::state::{AppState, LoadedGuest};
use edgeplay_host::fiddle::GuestSource;
use edgeplay_web::jsbuild_tab::{self, BuildFailure, DEFAULT_FILE_NAME};
use edgeplay_web::platform::now_ms;
use edgeplay_web::protocol::{FromWorker, ToWorker};
use edgeplay_web::storage;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};

/// localStorage key of the source mode, the editor's text and its template.
pub const JS_KEY: &str = "edgeplay.js.v1";

/// What is kept between visits.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct SavedJs {
    javascript: bool,
    source: String,
    template: String,
}

/// Where the worker's engine is.
#[derive(Clone, Debug, PartialEq)]
pub enum EngineView {
    /// Not asked for yet (in this worker).
    NotLoaded,
    /// Being fetched and compiled (the version once the manifest is read).
    Loading(Option<String>),
    /// Compiled and kept.
    Ready {
        /// `@fastly/js-compute 3.46.0`.
        version: String,
        /// Request to compiled engine, fetch included.
        load_ms: f64,
    },
    /// It could not be had.
    Failed(String),
}

/// The last successful build in the current worker.
#[derive(Clone, Debug, PartialEq)]
pub struct BuiltView {
    /// The source it was built from.
    pub source: String,
    /// Its cache key.
    pub key: String,
    /// Milliseconds building (0-ish when cached).
    pub build_ms: f64,
    /// Milliseconds waiting for the engine first.
    pub engine_wait_ms: f64,
    /// Answered from the worker's cache.
    pub cached: bool,
    /// What the top-level code printed.
    pub output: String,
}

/// The JavaScript mode's signals.
#[derive(Clone, Copy)]
pub struct JsUi {
    /// The page is in JavaScript mode (the editor is the guest).
    pub javascript: RwSignal<bool>,
    /// The editor's text.
    pub source: RwSignal<String>,
    /// The template menu's value.
    pub template: RwSignal<String>,
    /// The engine.
    pub engine: RwSignal<EngineView>,
    /// A build is under way.
    pub building: RwSignal<bool>,
    /// The worker's last build.
    pub built: RwSignal<Option<BuiltView>>,
    /// The last build's failure (cleared by a build that succeeds).
    pub error: RwSignal<Option<BuildFailure>>,
    /// A note (downloads, what the top level printed).
    pub message: RwSignal<Option<String>>,
}

/// What to do once the source is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum After {
    /// Nothing (a restored page).
    Nothing,
    /// Run the selected request.
    Run,
    /// Run every request (an opened link).
    RunAll,
    /// Download the deployable module.
    DownloadWasm,
    /// Download a Fastly CLI package.
    DownloadPackage,
}

struct Pending {
    build_id: u32,
    source: String,
    after: After,
    started_at: f64,
}

thread_local! {
    static UI: Cell<Option<JsUi>> = const { Cell::new(None) };
    static PENDING: RefCell<Option<Pending>> = const { RefCell::new(None) };
    static NEXT_ID: Cell<u32> = const { Cell::new(0) };
    /// Module requests waiting for the worker, and what each is for.
    static MODULES: RefCell<Vec<(u32, After)>> = const { RefCell::new(Vec::new()) };
}

fn next_id() -> u32 {
    NEXT_ID.with(|n| {
        n.set(n.get() + 1);
        n.get()
    })
}

/// The mode's signals (after [`start`]).
pub fn ui() -> Option<JsUi> {
    UI.with(Cell::get)
}

/// True when Run cannot be pressed (tracked): in JavaScript mode while a build is
/// under way; otherwise when there is no guest.
pub fn cannot_run(state: AppState) -> bool {
    match ui() {
        Some(u) if u.javascript.get() => u.building.get(),
        _ => state.guest.with(Option::is_none),
    }
}

/// Restore the mode and the source, keep them saved; in JavaScript mode, warm the
/// engine and build the restored source (nothing runs).
pub fn start(state: AppState) {
    let saved = storage::get_json::<SavedJs>(JS_KEY).unwrap_or_default();
    let source = if saved.source.is_empty() {
        jsbuild_tab::HELLO.to_string()
    } else {
        saved.source
    };
    let ui = JsUi {
        javascript: RwSignal::new(saved.javascript),
        source: RwSignal::new(source),
        template: RwSignal::new(saved.template),
        engine: RwSignal::new(EngineView::NotLoaded),
        building: RwSignal::new(false),
        built: RwSignal::new(None),
        error: RwSignal::new(None),
        message: RwSignal::new(None),
    };
    UI.with(|u| u.set(Some(ui)));
    provide_context(ui);
    Effect::new(move |_| {
        storage::set_json(
            JS_KEY,
            &SavedJs {
                javascript: ui.javascript.get(),
                source: ui.source.get(),
                template: ui.template.get(),
            },
        )
    });
    if saved.javascript {
        // The restored source is the guest: the last .wasm is not restored over it.
        state.loading.set(Some(DEFAULT_FILE_NAME.into()));
        controller::post(state, &ToWorker::PrepareEngine);
        build(state, ui.source.get_untracked(), After::Nothing);
    }
}

/// Switch between JavaScript mode and `.wasm` guests.
pub fn set_mode(state: AppState, javascript: bool) {
    let Some(ui) = ui() else { return };
    ui.javascript.set(javascript);
    if javascript {
        // Load the engine now, while the user reads the editor.
        controller::post(state, &ToWorker::PrepareEngine);
        if ui.engine.get_untracked() == EngineView::NotLoaded {
            ui.engine.set(EngineView::Loading(None));
        }
    }
}

/// Put template `name` into the editor.
pub fn use_template(name: &str) {
    let (Some(ui), Some(t)) = (ui(), jsbuild_tab::template(name)) else {
        return;
    };
    ui.template.set(t.name.into());
    ui.source.set(t.source.into());
    ui.error.set(None);
}

/// Before a run (`controller::run`, `fiddle_actions::run_all`): in JavaScript
/// mode, when the worker has not built the editor's source, build it and do
/// `after` then; true when it did (the caller stops).
pub fn build_first(state: AppState, after: After) -> bool {
    let Some(ui) = ui() else { return false };
    if !ui.javascript.get_untracked() {
        return false;
    }
    let source = ui.source.get_untracked();
    let fresh = ui
        .built
        .with_untracked(|b| b.as_ref().is_some_and(|b| b.source == source));
    if fresh {
        return false;
    }
    build(state, source, after);
    true
}

/// Ask the worker to build `source`; `after` once it built.
fn build(state: AppState, source: String, after: After) {
    let Some(ui) = ui() else { return };
    let same = PENDING.with(|p| {
        let mut p = p.borrow_mut();
        match p.as_mut() {
            Some(p) if p.source == source => {
                if after != After::Nothing {
                    p.after = after;
                }
                true
            }
            _ => false,
        }
    });
    if same {
        return;
    }
    let build_id = next_id();
    PENDING.with(|p| {
        *p.borrow_mut() = Some(Pending {
            build_id,
            source: source.clone(),
            after,
            started_at: now_ms(),
        })
    });
    ui.building.set(true);
    ui.message.set(None);
    controller::post(
        state,
        &ToWorker::BuildJs {
            build_id,
            file_name: DEFAULT_FILE_NAME.into(),
            source,
        },
    );
}

/// Stop a build now (an endless loop in top-level code would hold the worker for
/// the build's whole budget): its worker is terminated and a fresh one started.
pub fn stop_build(state: AppState) {
    let Some(ui) = ui() else { return };
    if PENDING.with(|p| p.borrow_mut().take()).is_none() {
        return;
    }
    ui.building.set(false);
    state.loading.set(None);
    ui.error.set(Some(BuildFailure {
        message: "Stopped: you stopped the build. Its worker was terminated at once; a fresh one is ready (it loads the engine again).".into(),
        line: None,
        column: None,
    }));
    controller::restart_worker(state);
}

/// Build (if needed) and download the module or the package.
pub fn download(state: AppState, what: After) {
    if build_first(state, what) {
        return;
    }
    let req_id = next_id();
    MODULES.with(|m| m.borrow_mut().push((req_id, what)));
    controller::post(state, &ToWorker::JsModule { req_id });
}

/// A `.wasm` guest the user chose was loaded (`controller`): the page leaves
/// JavaScript mode and no build in flight replaces it.
pub fn wasm_loaded() {
    let Some(ui) = ui() else { return };
    PENDING.with(|p| p.borrow_mut().take());
    ui.building.set(false);
    ui.built.set(None);
    ui.javascript.set(false);
}

/// A (fresh) worker is up: it has no build and no engine yet. A build asked of
/// the worker it replaced is asked again.
pub fn worker_ready(state: AppState) {
    let Some(ui) = ui() else { return };
    ui.built.set(None);
    ui.engine.set(EngineView::NotLoaded);
    let pending = PENDING.with(|p| p.borrow().as_ref().map(|p| (p.build_id, p.source.clone())));
    if ui.javascript.get_untracked() {
        controller::post(state, &ToWorker::PrepareEngine);
    }
    if let Some((build_id, source)) = pending {
        controller::post(
            state,
            &ToWorker::BuildJs {
                build_id,
                file_name: DEFAULT_FILE_NAME.into(),
                source,
            },
        );
    }
}

/// The guest a link or a fiddle file carries in JavaScript mode: the source.
pub fn link_guest() -> Option<GuestSource> {
    let ui = ui()?;
    ui.javascript.get_untracked().then(|| GuestSource::Source {
        language: "javascript".into(),
        text: ui.source.get_untracked(),
    })
}

/// Open a fiddle's JavaScript source (a link, a file): JavaScript mode with the
/// source in the editor, built, then every request run.
pub fn open_source(state: AppState, text: String) {
    let Some(ui) = ui() else { return };
    set_mode(state, true);
    ui.source.set(text.clone());
    ui.template.set(String::new());
    ui.error.set(None);
    state.loading.set(Some(DEFAULT_FILE_NAME.into()));
    build(state, text, After::RunAll);
}

/// A workspace entry without a guest file opened: when its guest is JavaScript
/// source, JavaScript mode with the source, built (nothing runs), and true; otherwise
/// the page leaves JavaScript mode, and false.
pub fn open_entry_source(state: AppState, guest: &GuestSource) -> bool {
    let Some(ui) = ui() else { return false };
    match guest {
        GuestSource::Source { language, text } if language == "javascript" => {
            set_mode(state, true);
            ui.source.set(text.clone());
            ui.template.set(String::new());
            ui.error.set(None);
            build(state, text.clone(), After::Nothing);
            true
        }
        _ => {
            ui.javascript.set(false);
            false
        }
    }
}

/// The worker's JS messages.
pub fn on_worker(state: AppState, msg: FromWorker) {
    let Some(ui) = ui() else { return };
    match msg {
        FromWorker::EngineLoading { version } => ui.engine.set(EngineView::Loading(Some(version))),
        FromWorker::EngineReady {
            version, load_ms, ..
        } => ui.engine.set(EngineView::Ready { version, load_ms }),
        FromWorker::EngineFailed { message } => ui.engine.set(EngineView::Failed(message)),
        FromWorker::Built {
            build_id,
            info,
            build_ms,
            engine_wait_ms,
            cached,
            key,
            output,
        } => {
            let Some(p) = take_pending(build_id) else {
                return;
            };
            ui.building.set(false);
            ui.error.set(None);
            ui.built.set(Some(BuiltView {
                source: p.source,
                key,
                build_ms,
                engine_wait_ms,
                cached,
                output: output.clone(),
            }));
            if !output.trim().is_empty() {
                ui.message.set(Some(format!(
                    "The top-level code printed: {}",
                    output.trim_end()
                )));
            }
            // The build is the guest now (the worker's, and so the page's).
            controller::forget_guest(state);
            state.loading.set(None);
            state.guest.set(Some(LoadedGuest {
                name: DEFAULT_FILE_NAME.into(),
                info,
                worker_load_ms: build_ms,
                wall_ms: now_ms() - p.started_at,
                example: None,
            }));
            match p.after {
                After::Nothing => {}
                After::Run => controller::run(state, None),
                After::RunAll => super::fiddle_actions::run_all(state),
                After::DownloadWasm | After::DownloadPackage => download(state, p.after),
            }
        }
        FromWorker::BuildFailed {
            build_id,
            message,
            line,
            column,
        } => {
            if take_pending(build_id).is_none() {
                return;
            }
            ui.building.set(false);
            state.loading.set(None);
            ui.error.set(Some(BuildFailure {
                message,
                line,
                column,
            }));
        }
        FromWorker::JsModule { req_id, result } => {
            let what = MODULES.with(|m| {
                let mut m = m.borrow_mut();
                let at = m.iter().position(|(id, _)| *id == req_id)?;
                Some(m.remove(at).1)
            });
            let Some(what) = what else { return };
            match result {
                Ok(wasm) => {
                    let wasm = wasm.into_vec();
                    if what == After::DownloadPackage {
                        let toml = state.config_text.get_untracked();
                        let (name, tgz) = jsbuild_tab::package(&wasm, &toml);
                        controller::download_bytes(
                            &format!("{name}.tar.gz"),
                            "application/gzip",
                            &tgz,
                        );
                        ui.message.set(Some(format!(
                            "Downloaded {name}.tar.gz: a Fastly CLI package ({name}/bin/main.wasm and the fastly.toml on the left), for `fastly compute deploy --package`."
                        )));
                    } else {
                        controller::download_bytes("app.wasm", "application/wasm", &wasm);
                        ui.message.set(Some(format!(
                            "Downloaded app.wasm ({}): the deployable module, as js-compute-runtime builds it.",
                            edgeplay_web::format::size(wasm.len())
                        )));
                    }
                }
                Err(e) => ui
                    .message
                    .set(Some(format!("Could not download the module: {e}"))),
            }
        }
        _ => {}
    }
}

fn take_pending(build_id: u32) -> Option<Pending> {
    PENDING.with(|p| {
        let mut p = p.borrow_mut();
        match &*p {
            Some(x) if x.build_id == build_id => p.take(),
            _ => None,
        }
    })
}
