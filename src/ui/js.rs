//! The JavaScript source mode's components: the mode switch beside *Open .wasm*
//! and the editor card (templates, the engine's version, the build's state or
//! error at its line, the downloads). What they do is [`super::js_actions`].

use super::code_editor::{CodeEditor, Marked};
use super::js_actions::{self, After, EngineView, JsUi};
use super::state::{AppState, Phase};
use edgeplay_web::format;
use edgeplay_web::jsbuild_tab::TEMPLATES;
use leptos::prelude::*;

/// `source-mode`: `.wasm` guests or JavaScript written in the page.
#[component]
pub fn SourceModeSwitch() -> impl IntoView {
    let state = expect_context::<AppState>();
    let Some(ui) = js_actions::ui() else {
        return ().into_any();
    };
    let value = move || {
        if ui.javascript.get() {
            "javascript"
        } else {
            "wasm"
        }
    };
    let on_change = move |ev: web_sys::Event| {
        js_actions::set_mode(state, event_target_value(&ev) == "javascript");
    };
    view! {
        <select data-testid="source-mode" prop:value=value on:change=on_change title="Where the guest comes from">
            <option value="wasm">"Guest: .wasm"</option>
            <option value="javascript">"Guest: JavaScript (write it here)"</option>
        </select>
    }
    .into_any()
}

/// The editor card, shown in JavaScript mode.
#[component]
pub fn JsEditor() -> impl IntoView {
    let Some(ui) = js_actions::ui() else {
        return ().into_any();
    };
    view! {
        <Show when=move || ui.javascript.get()>
            <JsCard ui=ui/>
        </Show>
    }
    .into_any()
}

#[component]
fn JsCard(ui: JsUi) -> impl IntoView {
    let state = expect_context::<AppState>();
    let jump = RwSignal::new(None::<u32>);
    let marked = Signal::derive(move || {
        ui.error.with(|e| {
            e.as_ref().and_then(|e| {
                e.line.map(|line| Marked {
                    line,
                    message: e.message.clone(),
                })
            })
        })
    });
    let on_template = move |ev: web_sys::Event| {
        let name = event_target_value(&ev);
        if !name.is_empty() {
            js_actions::use_template(&name);
        }
    };
    let engine = move || {
        let (text, loaded, version) = match ui.engine.get() {
            EngineView::NotLoaded => ("engine not loaded yet".to_string(), "false", String::new()),
            EngineView::Loading(v) => (
                format!(
                    "{} — loading…",
                    v.clone().unwrap_or_else(|| "engine".into())
                ),
                "loading",
                v.unwrap_or_default(),
            ),
            EngineView::Ready { version, load_ms } => (
                format!("{version} — loaded in {}", format::millis(load_ms)),
                "true",
                version,
            ),
            EngineView::Failed(m) => (format!("engine failed: {m}"), "failed", String::new()),
        };
        view! { <span class="pill" data-testid="engine-version" data-loaded=loaded data-version=version>{text}</span> }
    };
    let status = move || {
        if ui.building.get() {
            let stop = move |_| js_actions::stop_build(state);
            let stage = ui
                .progress
                .get()
                .map(|p| format!("{p} "))
                .unwrap_or_default();
            return view! {
                <div class="js-status" data-testid="build-status" data-state="building">
                    "Building… "{stage}
                    <button class="small danger" data-testid="stop-build" on:click=stop>"Stop build"</button>
                </div>
            }
            .into_any();
        }
        let now = js_actions::current_input(ui);
        let stale = ui.built.with(|b| b.as_ref().is_none_or(|b| b.input != now));
        match ui.built.get() {
            Some(b) if !stale => {
                let text = if b.cached {
                    "✓ built (the same source as a build before: from the worker's cache)".to_string()
                } else if b.engine_wait_ms > 1.0 {
                    format!(
                        "✓ built in {} (after {} waiting for the engine)",
                        format::millis(b.build_ms),
                        format::millis(b.engine_wait_ms)
                    )
                } else {
                    format!("✓ built in {}", format::millis(b.build_ms))
                };
                let text = if b.bundle_ms > 0.0 {
                    format!(
                        "{text}; npm packages installed and bundled in {} first",
                        format::millis(b.bundle_ms)
                    )
                } else {
                    text
                };
                view! { <div class="js-status ok" data-testid="build-status" data-state="built" data-build-ms=b.build_ms data-bundle-ms=b.bundle_ms data-cached=b.cached.to_string()>{text}</div> }.into_any()
            }
            _ => view! { <div class="js-status" data-testid="build-status" data-state="stale">"Run builds the source, then sends the request."</div> }.into_any(),
        }
    };
    let error = move || {
        ui.error.get().map(|e| {
            let line = e.line.map(|l| l.to_string()).unwrap_or_default();
            let column = e.column.map(|c| c.to_string()).unwrap_or_default();
            let at = e.line.map(|l| {
                let show = move |_| jump.set(Some(l));
                view! { <button class="link" on:click=show>{format!("show line {l}")}</button> }
            });
            view! {
                <div class="js-error" role="alert" data-testid="build-error" data-line=line data-column=column>
                    <pre>{e.message.clone()}</pre>
                    {at}
                </div>
            }
        })
    };
    let busy = move || ui.building.get() || state.phase.get() == Phase::Running;
    let download_wasm = move |_| js_actions::download(state, After::DownloadWasm);
    let download_package = move |_| js_actions::download(state, After::DownloadPackage);
    view! {
        <section class="card js-card">
            <div class="card-head">
                <h2>"app.js"</h2>
                <div class="card-actions">
                    <select data-testid="js-template" prop:value=move || ui.template.get() on:change=on_template title="Starter apps">
                        <option value="">"Templates…"</option>
                        {TEMPLATES
                            .iter()
                            .map(|t| view! { <option value=t.name>{t.title}</option> })
                            .collect_view()}
                    </select>
                    {engine}
                </div>
            </div>
            <CodeEditor text=ui.source language="javascript" testid="js-source" error=marked select_error=true jump=jump rows=22/>
            <Packages ui=ui/>
            {status}
            {error}
            <div class="js-actions">
                <button class="small" data-testid="download-wasm" disabled=busy on:click=download_wasm title="The deployable module (what js-compute-runtime builds)">"Download .wasm"</button>
                <button class="small" data-testid="download-package" disabled=busy on:click=download_package title="A Fastly CLI package: bin/main.wasm and this fastly.toml">"Download package"</button>
            </div>
            {move || ui.message.get().map(|m| view! { <div class="muted small" data-testid="js-message">{m}</div> })}
            <div class="muted small">
                "One ES module for "<code>"@fastly/js-compute"</code>", built in this tab with the SDK's own engine. "
                <code>"fastly:*"</code>" imports work as they are; npm packages you list under "<em>"npm packages"</em>
                " are fetched from the registry and bundled with esbuild, as the SDK's build does (JavaScript, ESM or CommonJS, and JSON; "
                "Node's built-in modules such as "<code>"fs"</code>" do not exist on Compute). "<code>"console.log"</code>" goes to the Logs tab."
            </div>
        </section>
    }
}

/// `npm-packages`: the packages bundled with the source, a field to add one
/// (`name` or `name@range`), and the registry they come from.
#[component]
fn Packages(ui: JsUi) -> impl IntoView {
    let state = expect_context::<AppState>();
    let typed = RwSignal::new(String::new());
    let problem = RwSignal::new(None::<String>);
    let add = move || {
        let text = typed.get_untracked();
        if text.trim().is_empty() {
            return;
        }
        match js_actions::add_package(state, &text) {
            Ok(()) => {
                typed.set(String::new());
                problem.set(None);
            }
            Err(e) => problem.set(Some(e)),
        }
    };
    let on_key = move |ev: web_sys::KeyboardEvent| {
        if ev.key() == "Enter" {
            ev.prevent_default();
            add();
        }
    };
    let chips = move || {
        let installed = ui.installed.get();
        ui.packages
            .get()
            .into_iter()
            .map(|d| {
                let name = d.name.clone();
                let version = installed
                    .iter()
                    .find(|p| p.name == d.name)
                    .map(|p| p.version.clone())
                    .unwrap_or_default();
                let title = if version.is_empty() {
                    "not installed yet: the next build fetches it".to_string()
                } else {
                    format!("installed {}@{version}", d.name)
                };
                let remove = move |_| js_actions::remove_package(&name);
                view! {
                    <span class="chip" data-testid="npm-package" data-name=d.name.clone() data-version=version title=title>
                        {d.label()}
                        <button class="link" data-testid="npm-remove" title="Remove" on:click=remove>"×"</button>
                    </span>
                }
            })
            .collect_view()
    };
    let extra = move || {
        let n = ui
            .installed
            .with(|i| i.len().saturating_sub(ui.packages.with(Vec::len)));
        (n > 0).then(|| {
            view! { <span class="muted small" data-testid="npm-installed">{format!("+{n} dependencies")}</span> }
        })
    };
    view! {
        <div class="js-packages" data-testid="npm-packages">
            <span class="muted small">"npm packages"</span>
            {chips}
            {extra}
            <input
                data-testid="npm-add"
                placeholder="name or name@version"
                spellcheck="false"
                bind:value=typed
                on:keydown=on_key
            />
            <button class="small" data-testid="npm-add-button" on:click=move |_| add()>"Add"</button>
            <details class="npm-registry">
                <summary class="muted small">"registry"</summary>
                <input
                    data-testid="npm-registry"
                    placeholder=edgeplay_web::npm::DEFAULT_REGISTRY
                    spellcheck="false"
                    bind:value=ui.registry
                />
            </details>
            {move || problem.get().map(|p| view! { <div class="js-error small" data-testid="npm-error">{p}</div> })}
        </div>
    }
}
