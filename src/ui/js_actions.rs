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
use edgeplay_web::npm::{self, Dependency, Placed};
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
    #[serde(default)]
    packages: Vec<Dependency>,
    #[serde(default)]
    registry: String,
}

/// What a build is made of: the editor's source and the npm packages bundled with
/// it (none: the source is built as it is).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildInput {
    /// The source.
    pub source: String,
    /// The packages, as the user listed them.
    pub packages: Vec<Dependency>,
    /// Their registry (empty: the public one).
    pub registry: String,
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
    /// What it was built from.
    pub input: BuildInput,
    /// Its cache key.
    pub key: String,
    /// Milliseconds building (0-ish when cached).
    pub build_ms: f64,
    /// Milliseconds waiting for the engine first.
    pub engine_wait_ms: f64,
    /// Milliseconds installing and bundling npm packages first (0: none).
    pub bundle_ms: f64,
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
    /// The npm packages bundled with the source (`name` → range).
    pub packages: RwSignal<Vec<Dependency>>,
    /// Their registry (empty: [`npm::DEFAULT_REGISTRY`]).
    pub registry: RwSignal<String>,
    /// What a build with packages is doing (fetching, bundling).
    pub progress: RwSignal<Option<String>>,
    /// The packages the last build installed (with their dependencies).
    pub installed: RwSignal<Vec<Placed>>,
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
    input: BuildInput,
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
        packages: RwSignal::new(saved.packages),
        registry: RwSignal::new(saved.registry),
        progress: RwSignal::new(None),
        installed: RwSignal::new(Vec::new()),
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
                packages: ui.packages.get(),
                registry: ui.registry.get(),
            },
        )
    });
    if saved.javascript {
        // The restored source is the guest: the last .wasm is not restored over it.
        state.loading.set(Some(DEFAULT_FILE_NAME.into()));
        controller::post(state, &ToWorker::PrepareEngine);
        build(state, input(ui), After::Nothing);
    }
}

/// What the editor would build now (untracked).
fn input(ui: JsUi) -> BuildInput {
    BuildInput {
        source: ui.source.get_untracked(),
        packages: ui.packages.get_untracked(),
        registry: ui.registry.get_untracked(),
    }
}

/// What the editor would build now (tracked: for the build status).
pub fn current_input(ui: JsUi) -> BuildInput {
    BuildInput {
        source: ui.source.get(),
        packages: ui.packages.get(),
        registry: ui.registry.get(),
    }
}

/// Add an npm package (`name` or `name@range`, as typed) to the fiddle's packages,
/// replacing one of the same name; the error says what is wrong with the text.
pub fn add_package(state: AppState, spec: &str) -> Result<(), String> {
    let Some(ui) = ui() else { return Ok(()) };
    let dep = Dependency::parse(spec)?;
    ui.packages.update(|p| {
        p.retain(|d| d.name != dep.name);
        p.push(dep);
        p.sort();
    });
    prepare_bundler(state, ui);
    Ok(())
}

/// Remove package `name`.
pub fn remove_package(name: &str) {
    if let Some(ui) = ui() {
        ui.packages.update(|p| p.retain(|d| d.name != name));
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
        prepare_bundler(state, ui);
    }
}

/// With npm packages listed, have the worker start esbuild now, while the user types.
fn prepare_bundler(state: AppState, ui: JsUi) {
    if !ui.packages.with_untracked(Vec::is_empty) {
        controller::post(state, &ToWorker::PrepareBundler);
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
    let wanted = input(ui);
    let fresh = ui
        .built
        .with_untracked(|b| b.as_ref().is_some_and(|b| b.input == wanted));
    if fresh {
        return false;
    }
    build(state, wanted, after);
    true
}

/// Ask the worker to build `input`; `after` once it built.
fn build(state: AppState, input: BuildInput, after: After) {
    let Some(ui) = ui() else { return };
    let same = PENDING.with(|p| {
        let mut p = p.borrow_mut();
        match p.as_mut() {
            Some(p) if p.input == input => {
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
            input: input.clone(),
            after,
            started_at: now_ms(),
        })
    });
    ui.building.set(true);
    ui.message.set(None);
    ui.progress.set(None);
    controller::post(state, &build_message(build_id, input));
}

fn build_message(build_id: u32, input: BuildInput) -> ToWorker {
    ToWorker::BuildJs {
        build_id,
        file_name: DEFAULT_FILE_NAME.into(),
        source: input.source,
        packages: input.packages,
        registry: input.registry,
    }
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
    let pending = PENDING.with(|p| p.borrow().as_ref().map(|p| (p.build_id, p.input.clone())));
    if ui.javascript.get_untracked() {
        controller::post(state, &ToWorker::PrepareEngine);
        prepare_bundler(state, ui);
    }
    if let Some((build_id, input)) = pending {
        controller::post(state, &build_message(build_id, input));
    }
}

/// The guest a link or a fiddle file carries in JavaScript mode: the source and its
/// packages.
pub fn link_guest() -> Option<GuestSource> {
    let ui = ui()?;
    if !ui.javascript.get_untracked() {
        return None;
    }
    let registry = ui.registry.get_untracked();
    Some(GuestSource::Source {
        language: "javascript".into(),
        text: ui.source.get_untracked(),
        dependencies: ui
            .packages
            .get_untracked()
            .into_iter()
            .map(|d| (d.name, d.range))
            .collect(),
        registry: (!registry.is_empty() && registry != npm::DEFAULT_REGISTRY).then_some(registry),
    })
}

/// A fiddle's JavaScript guest into the editor (the source, its packages); `None`
/// when the guest is not JavaScript source.
fn put_source(state: AppState, ui: JsUi, guest: &GuestSource) -> Option<BuildInput> {
    let GuestSource::Source {
        language,
        text,
        dependencies,
        registry,
    } = guest
    else {
        return None;
    };
    if language != "javascript" {
        return None;
    }
    let input = BuildInput {
        source: text.clone(),
        packages: dependencies
            .iter()
            .map(|(name, range)| Dependency {
                name: name.clone(),
                range: range.clone(),
            })
            .collect(),
        registry: registry.clone().unwrap_or_default(),
    };
    set_mode(state, true);
    ui.source.set(input.source.clone());
    ui.packages.set(input.packages.clone());
    ui.registry.set(input.registry.clone());
    ui.template.set(String::new());
    ui.error.set(None);
    Some(input)
}

/// Open a fiddle's JavaScript source (a link, a file): JavaScript mode with the
/// source and its packages in the editor, built, then every request run.
pub fn open_source(state: AppState, guest: &GuestSource) {
    let Some(ui) = ui() else { return };
    let Some(input) = put_source(state, ui, guest) else {
        return;
    };
    state.loading.set(Some(DEFAULT_FILE_NAME.into()));
    build(state, input, After::RunAll);
}

/// A workspace entry without a guest file opened: when its guest is JavaScript
/// source, JavaScript mode with the source, built (nothing runs), and true; otherwise
/// the page leaves JavaScript mode, and false.
pub fn open_entry_source(state: AppState, guest: &GuestSource) -> bool {
    let Some(ui) = ui() else { return false };
    match put_source(state, ui, guest) {
        Some(input) => {
            build(state, input, After::Nothing);
            true
        }
        None => {
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
            bundle_ms,
            cached,
            key,
            output,
            packages,
        } => {
            let Some(p) = take_pending(build_id) else {
                return;
            };
            ui.building.set(false);
            ui.progress.set(None);
            ui.error.set(None);
            let mut input = p.input;
            pin_latest(ui, &mut input, &packages);
            ui.installed.set(packages);
            ui.built.set(Some(BuiltView {
                input,
                key,
                build_ms,
                engine_wait_ms,
                bundle_ms,
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
            ui.progress.set(None);
            state.loading.set(None);
            ui.error.set(Some(BuildFailure {
                message,
                line,
                column,
            }));
        }
        FromWorker::BuildProgress { build_id, stage } => {
            let current =
                PENDING.with(|p| p.borrow().as_ref().is_some_and(|p| p.build_id == build_id));
            if current {
                ui.progress.set(Some(stage));
            }
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

/// A package added without a version (`latest`) is pinned to `^` the version the
/// build installed, as `npm install NAME` writes it, so a link made now builds the
/// same major version elsewhere later.
fn pin_latest(ui: JsUi, input: &mut BuildInput, installed: &[Placed]) {
    let pin = |deps: &mut Vec<Dependency>| {
        let mut changed = false;
        for d in deps.iter_mut().filter(|d| d.range == "latest") {
            if let Some(p) = installed.iter().find(|p| p.name == d.name) {
                d.range = format!("^{}", p.version);
                changed = true;
            }
        }
        changed
    };
    if pin(&mut input.packages) {
        let mut now = ui.packages.get_untracked();
        if pin(&mut now) {
            ui.packages.set(now);
        }
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
