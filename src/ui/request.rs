//! The request composer and the `fastly.toml` editor.

use super::code_editor::{CodeEditor, Marked};
use super::controller;
use super::state::AppState;
use edgeplay_host::ServiceConfig;
use edgeplay_web::request::{parse_config, METHODS};
use leptos::prelude::*;

/// Method, URL, headers, body, client IP, CPU limit.
#[component]
pub fn Composer() -> impl IntoView {
    let state = expect_context::<AppState>();
    let on_enter = move |ev: web_sys::KeyboardEvent| {
        if ev.key() == "Enter" {
            controller::run(state, None);
        }
    };
    view! {
        <section class="card composer">
            <h2>"Request"</h2>
            <div class="row">
                <select class="method" data-testid="request-method" bind:value=state.method>
                    {METHODS.iter().map(|m| view! { <option value=*m>{*m}</option> }).collect_view()}
                </select>
                <input class="url" type="text" data-testid="request-url" placeholder="/path?query or https://host/path" spellcheck="false" bind:value=state.url on:keydown=on_enter/>
            </div>
            <label class="field">
                <span>"Headers "<span class="muted">"(one "<code>"Name: value"</code>" per line)"</span></span>
                <textarea data-testid="request-headers" rows="3" spellcheck="false" placeholder="accept: application/json" bind:value=state.headers></textarea>
            </label>
            <label class="field">
                <span>"Body"</span>
                <textarea data-testid="request-body" rows="3" spellcheck="false" bind:value=state.body></textarea>
            </label>
            <div class="row small">
                <label class="field inline">
                    <span>"Client IP"</span>
                    <input type="text" data-testid="client-ip" spellcheck="false" bind:value=state.client_ip/>
                </label>
                <label class="field inline" title="The platform allows 50 ms of CPU per request. In the tab it is estimated from wasm fuel (instructions executed), not measured: an estimate. 0 = no limit.">
                    <span>"CPU limit (ms, estimate)"</span>
                    <input type="number" min="0" data-testid="cpu-limit" bind:value=state.cpu_limit/>
                </label>
                <super::limits::LimitsSwitch/>
                <label class="field inline check" title="Like Fiddle's fresh cache: each run starts with an empty cache of its own, thrown away after the run. The stored cache (the Cache tab) is left as it is; KV writes and the rest of the state are kept as always.">
                    <input type="checkbox" data-testid="fresh-cache" bind:checked=state.fresh_cache/>
                    <span>"fresh cache"</span>
                </label>
            </div>
        </section>
    }
}

/// What the config validation says.
#[derive(Clone, Debug, PartialEq)]
enum Validation {
    Ok(String),
    Err {
        message: String,
        line: Option<usize>,
    },
}

fn validate(text: &str) -> Validation {
    match parse_config(text) {
        Ok(cfg) => Validation::Ok(summary(&cfg)),
        Err(e) => Validation::Err {
            message: e.to_string(),
            line: e.line,
        },
    }
}

fn summary(cfg: &ServiceConfig) -> String {
    let n = |k: usize, one: &str, many: &str| format!("{k} {}", if k == 1 { one } else { many });
    format!(
        "valid: {}, {}, {}",
        n(
            cfg.config_stores.len(),
            "config store or dictionary",
            "config stores and dictionaries"
        ),
        n(cfg.secret_stores.len(), "secret store", "secret stores"),
        n(cfg.backends.len(), "backend", "backends")
    )
}

/// The `fastly.toml` editor, validated as you type.
#[component]
pub fn ConfigEditor() -> impl IntoView {
    let state = expect_context::<AppState>();
    let validation = Memo::new(move |_| state.config_text.with(|t| validate(t)));
    let on_import = move |ev: web_sys::Event| {
        if let Some(file) = super::picked_file(&ev) {
            controller::import_config(state, file);
        }
    };
    let jump = RwSignal::new(None::<u32>);
    let marked = Signal::derive(move || match validation.get() {
        Validation::Err {
            message,
            line: Some(line),
        } => Some(Marked {
            line: line as u32,
            message,
        }),
        _ => None,
    });
    let status = move || match validation.get() {
        Validation::Ok(s) => {
            view! { <div class="config-status ok" data-testid="config-status">"✓ "{s}</div> }
                .into_any()
        }
        Validation::Err { message, line } => {
            let show = move |_| jump.set(line.map(|l| l as u32));
            view! {
                <div class="config-status err" data-testid="config-status">
                    <span>"✗ "{message}</span>
                    {line.map(|l| view! { <button class="link" on:click=show>{format!("show line {l}")}</button> })}
                </div>
            }
            .into_any()
        }
    };
    let reset = move |_| {
        state
            .config_text
            .set(edgeplay_web::examples::DEFAULT_CONFIG.into())
    };
    view! {
        <section class="card config">
            <div class="card-head">
                <h2>"fastly.toml"</h2>
                <div class="card-actions">
                    <label class="button small">
                        "Import…"
                        <input type="file" accept=".toml,text/plain" data-testid="config-file" on:change=on_import/>
                    </label>
                    <button class="small" data-testid="config-reset" on:click=reset title="Back to the example config">"Reset"</button>
                </div>
            </div>
            <CodeEditor text=state.config_text language="toml" testid="config" error=marked select_error=false jump=jump rows=16/>
            {status}
            <div class="muted small">
                "The "<code>"[local_server]"</code>" tables the runner reads: config stores, dictionaries, secret stores, backends, geolocation. Files named in it cannot be read in the tab: put the data inline."
            </div>
        </section>
    }
}
