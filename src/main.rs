//! The edgeplay web app: a Leptos (client-side rendered) page where a person drops a
//! Compute guest and sees its response, its logs and every hostcall.
//!
//! The guest never runs on this thread: the host core lives in a web worker
//! (`src/bin/worker.rs`), which the UI talks to through `edgeplay_web::bridge`.
//! Built with trunk for `wasm32-unknown-unknown` (see index.html and Trunk.toml);
//! natively this binary only says so.

#[cfg(target_arch = "wasm32")]
mod ui;

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("edgeplay-web runs in a browser: build and serve it with scripts/run.sh");
}

#[cfg(target_arch = "wasm32")]
mod app {
    use crate::ui::controller::{self, CONFIG_KEY, REQUEST_KEY};
    use crate::ui::embed::{self, OpenFull};
    use crate::ui::fiddle::{AssertionsEditor, FiddleControls, OpenedNote, RequestList, ShareBox};
    use crate::ui::fiddle_actions;
    use crate::ui::guest::{GuestCard, LoadControls};
    use crate::ui::panels::Panels;
    use crate::ui::request::{Composer, ConfigEditor};
    use crate::ui::state::{AppState, Phase, SavedRequest};
    use crate::ui::workspace::WorkspaceCard;
    use edgeplay_web::examples::DEFAULT_CONFIG;
    use edgeplay_web::storage;
    use leptos::prelude::*;

    /// The page.
    #[component]
    pub fn App() -> impl IntoView {
        let saved = storage::get_json::<SavedRequest>(REQUEST_KEY).unwrap_or_default();
        let config = storage::get(CONFIG_KEY).unwrap_or_else(|| DEFAULT_CONFIG.to_string());
        let state = AppState::new(saved, config);
        provide_context(state);
        controller::start(state);
        crate::ui::js_actions::start(state);
        fiddle_actions::start(state);
        crate::ui::lessons::start();
        crate::ui::history_actions::start(state);
        let worker = move || {
            if state.worker_ready.get() {
                "ready"
            } else {
                "starting"
            }
        };
        let presenter = crate::ui::presenter::Presenter::restore();
        view! {
            <div class=embed::root_class() class:presenter=move || presenter.0.get() data-testid=embed::root_testid() data-worker=worker>
                <TopBar/>
                <GuestCard/>
                <Banners/>
                <OpenedNote/>
                <ShareBox/>
                <main class="columns">
                    <section class="left">
                        <crate::ui::lessons::LessonPanel/>
                        <WorkspaceCard/>
                        <crate::ui::js::JsEditor/>
                        <RequestList/>
                        <Composer/>
                        <AssertionsEditor/>
                        <ConfigEditor/>
                    </section>
                    <section class="right">
                        <Panels/>
                    </section>
                </main>
                <DropOverlay/>
                <crate::ui::card::CardDialog/>
            </div>
        }
    }

    /// Title, the ways to load a guest, Run and Stop.
    #[component]
    fn TopBar() -> impl IntoView {
        let state = expect_context::<AppState>();
        let running = move || state.phase.get() == Phase::Running;
        let cannot_run = move || running() || crate::ui::js_actions::cannot_run(state);
        let on_run = move |_| controller::run(state, None);
        let on_stop = move |_| controller::stop(state);
        view! {
            <header class="topbar">
                <div class="brand">
                    <span class="logo">"edgeplay"</span>
                    <span class="tagline">"Fastly Compute playground — the guest runs in this tab"</span>

                </div>
                <LoadControls/>
                <FiddleControls/>
                <OpenFull/>
                <div class="run-controls">
                    <button class="primary" data-testid="run" disabled=cannot_run on:click=on_run>
                        {move || if running() { "Running…" } else { "Run" }}
                    </button>
                    <button class="danger" data-testid="stop" disabled=move || !running() on:click=on_stop>
                        "Stop"
                    </button>
                    <crate::ui::step::StepControls/>
                </div>
            </header>
        }
    }

    /// The error banner (`error`) and the notice line.
    #[component]
    fn Banners() -> impl IntoView {
        let state = expect_context::<AppState>();
        let dismiss = move |_| state.error.set(None);
        view! {
            <Show when=move || state.error.with(Option::is_some)>
                <div class="banner error" role="alert">
                    <pre data-testid="error">{move || state.error.get().unwrap_or_default()}</pre>
                    <button class="link" title="Dismiss" on:click=dismiss>"×"</button>
                </div>
            </Show>
            <Show when=move || state.notice.with(Option::is_some)>
                <div class="banner notice" data-testid="notice">{move || state.notice.get().unwrap_or_default()}</div>
            </Show>
        }
    }

    /// Shown while a file is dragged over the page.
    #[component]
    fn DropOverlay() -> impl IntoView {
        let state = expect_context::<AppState>();
        view! {
            <Show when=move || state.dragging.get()>
                <div class="drop-overlay">
                    <div>"Drop a Compute guest (.wasm) to run it — a fiddle (.json) or a Fastly package (.tar.gz) to open it, or a fastly.toml to import it"</div>
                </div>
            </Show>
        }
    }
}
