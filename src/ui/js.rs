//! The JavaScript source mode's components: the mode switch beside *Open .wasm*
//! and the editor card (templates, the engine's version, the build's state or
//! error at its line, the downloads). What they do is [`super::js_actions`].

use super::js_actions::{self, After, EngineView, JsUi};
use super::state::{AppState, Phase};
use edgeplay_web::format;
use edgeplay_web::format::line_span;
use edgeplay_web::jsbuild_tab::TEMPLATES;
use leptos::prelude::*;
use wasm_bindgen::{JsCast, JsValue};

/// Call `window.edgeplayEditor[method](...args)` (web/editor/editor.src.js, CodeMirror
/// 6); `None` when the editor's script is not there (the textarea is the editor).
fn editor_call(method: &str, args: &[JsValue]) -> Option<JsValue> {
    let editor = js_sys::Reflect::get(&window(), &"edgeplayEditor".into())
        .ok()
        .filter(JsValue::is_object)?;
    let f: js_sys::Function = js_sys::Reflect::get(&editor, &method.into())
        .ok()?
        .dyn_into()
        .ok()?;
    f.apply(&editor, &args.iter().cloned().collect::<js_sys::Array>())
        .ok()
}

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
    let editor = NodeRef::<leptos::html::Textarea>::new();
    let gutter = NodeRef::<leptos::html::Pre>::new();
    // CodeMirror over the textarea, when its script loaded.
    let mounted = RwSignal::new(false);
    Effect::new(move |_| {
        if let Some(el) = editor.get() {
            let ok = editor_call("mount", &[el.into()]).is_some_and(|v| v.is_truthy());
            mounted.set(ok);
        }
    });
    // Text the page sets (a template, an opened link) reaches CodeMirror.
    Effect::new(move |_| {
        let text = ui.source.get();
        if let (true, Some(el)) = (mounted.get(), editor.get_untracked()) {
            editor_call("setText", &[el.into(), text.into()]);
        }
    });
    let select_line = move |line: u32| {
        let Some(el) = editor.get_untracked() else {
            return;
        };
        if mounted.get_untracked() {
            editor_call("mark", &[el.clone().into(), line.into()]);
        }
        let text = ui.source.get_untracked();
        if let Some((start, end)) = line_span(&text, line as usize) {
            // The textarea counts UTF-16 code units.
            let u = |byte: usize| text[..byte].encode_utf16().count() as u32;
            if !mounted.get_untracked() {
                let _ = el.focus();
            }
            let _ = el.set_selection_range(u(start), u(end));
        }
    };
    // A failed build marks and selects its line; a good one clears the mark.
    Effect::new(move |_| {
        let line = ui.error.with(|e| e.as_ref().and_then(|e| e.line));
        mounted.track();
        match line {
            Some(line) => select_line(line),
            None => {
                if let (true, Some(el)) = (mounted.get_untracked(), editor.get_untracked()) {
                    editor_call("mark", &[el.into(), 0.into()]);
                }
            }
        }
    });
    let on_template = move |ev: web_sys::Event| {
        let name = event_target_value(&ev);
        if !name.is_empty() {
            js_actions::use_template(&name);
        }
    };
    let on_scroll = move |_| {
        if let (Some(t), Some(g)) = (editor.get(), gutter.get()) {
            g.set_scroll_top(t.scroll_top());
        }
    };
    let error_line = move || ui.error.with(|e| e.as_ref().and_then(|e| e.line));
    let gutter_lines = move || {
        let n = ui.source.with(|s| s.split('\n').count());
        let err = error_line();
        (1..=n as u32)
            .map(|i| {
                let class = if Some(i) == err { "err" } else { "" };
                view! { <span class=class>{i}"\n"</span> }
            })
            .collect_view()
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
            return view! {
                <div class="js-status" data-testid="build-status" data-state="building">
                    "Building… "
                    <button class="small danger" data-testid="stop-build" on:click=stop>"Stop build"</button>
                </div>
            }
            .into_any();
        }
        let stale = ui.built.with(|b| {
            b.as_ref()
                .is_none_or(|b| ui.source.with(|s| *s != b.source))
        });
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
                view! { <div class="js-status ok" data-testid="build-status" data-state="built" data-build-ms=b.build_ms data-cached=b.cached.to_string()>{text}</div> }.into_any()
            }
            _ => view! { <div class="js-status" data-testid="build-status" data-state="stale">"Run builds the source, then sends the request."</div> }.into_any(),
        }
    };
    let error = move || {
        ui.error.get().map(|e| {
            let line = e.line.map(|l| l.to_string()).unwrap_or_default();
            let column = e.column.map(|c| c.to_string()).unwrap_or_default();
            let at = e.line.map(|l| {
                let jump = move |_| select_line(l);
                view! { <button class="link" on:click=jump>{format!("show line {l}")}</button> }
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
            <div class="js-editor" class:cm=move || mounted.get()>
                <pre node_ref=gutter class="js-gutter" aria-hidden="true">{gutter_lines}</pre>
                <textarea
                    node_ref=editor
                    class="code"
                    data-testid="js-source"
                    rows="22"
                    spellcheck="false"
                    data-error-line=move || error_line().map(|l| l.to_string())
                    on:scroll=on_scroll
                    bind:value=ui.source
                ></textarea>
            </div>
            {status}
            {error}
            <div class="js-actions">
                <button class="small" data-testid="download-wasm" disabled=busy on:click=download_wasm title="The deployable module (what js-compute-runtime builds)">"Download .wasm"</button>
                <button class="small" data-testid="download-package" disabled=busy on:click=download_package title="A Fastly CLI package: bin/main.wasm and this fastly.toml">"Download package"</button>
            </div>
            {move || ui.message.get().map(|m| view! { <div class="muted small" data-testid="js-message">{m}</div> })}
            <div class="muted small">
                "One ES module for "<code>"@fastly/js-compute"</code>", built in this tab with the SDK's own engine (no bundler: "
                <code>"fastly:*"</code>" imports work, npm packages do not). "<code>"console.log"</code>" goes to the Logs tab."
            </div>
        </section>
    }
}
