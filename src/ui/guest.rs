//! Loading a guest (file picker, examples menu) and what the tab knows about it.

use super::controller;
use super::state::{AppState, LoadedGuest};
use edgeplay_web::examples::{self, EXAMPLES};
use edgeplay_web::format::{self, group_imports, ImportGroup};
use leptos::prelude::*;

/// The file picker and the examples menu.
#[component]
pub fn LoadControls() -> impl IntoView {
    let state = expect_context::<AppState>();
    let on_file = move |ev: web_sys::Event| {
        if let Some(file) = super::picked_file(&ev) {
            controller::open_file(state, file);
        }
    };
    let on_example = move |ev: web_sys::Event| {
        let name = event_target_value(&ev);
        if !name.is_empty() {
            controller::load_example(state, name);
        }
    };
    view! {
        <div class="load-controls">
            <label class="button file-button">
                "Open .wasm…"
                <input type="file" accept=".wasm,application/wasm" data-testid="guest-file" on:change=on_file/>
            </label>
            <super::js::SourceModeSwitch/>
            <select data-testid="examples" prop:value=move || state.example.get() on:change=on_example title="Example guests">
                <option value="">"Examples…"</option>
                {EXAMPLES
                    .iter()
                    .map(|e| view! { <option value=e.name title=e.teaches>{e.name}" — "{e.teaches}</option> })
                    .collect_view()}
            </select>
            <super::lessons::LessonPicker/>
        </div>
    }
}

/// The guest's name, size, load time and imports (or how to load one).
#[component]
pub fn GuestCard() -> impl IntoView {
    let state = expect_context::<AppState>();
    view! {
        <section class="guest-card" data-testid="guest-info">
            {move || match (state.loading.get(), state.guest.get()) {
                (Some(name), _) => view! { <div class="guest-empty">"Loading "<b>{name}</b>"…"</div> }.into_any(),
                (None, Some(g)) => view! { <GuestSummary guest=g/> }.into_any(),
                (None, None) => view! {
                    <div class="guest-empty">
                        "Drop a Compute guest (.wasm built with the Rust, JS or Go SDK) anywhere on this page, open one, or pick an example. "
                        "It runs here, in a web worker: no server."
                    </div>
                }
                .into_any(),
            }}
        </section>
    }
}

#[component]
fn GuestSummary(guest: LoadedGuest) -> impl IntoView {
    let groups = group_imports(&guest.info.imports);
    let (emulated, unsupported, unknown) = groups.iter().fold((0, 0, 0), |acc, g| {
        (acc.0 + g.emulated, acc.1 + g.unsupported, acc.2 + g.unknown)
    });
    let teaches = guest.example.and_then(examples::find).map(|e| e.teaches);
    let unknown_note = (!guest.info.unknown_imports.is_empty()).then(|| {
        format!(
            "This guest imports {} function{} the host does not know: {}. They link, and trap with a clear message if called.",
            guest.info.unknown_imports.len(),
            if guest.info.unknown_imports.len() == 1 { "" } else { "s" },
            guest.info.unknown_imports.join(", ")
        )
    });
    let load = if guest.info.cached {
        "from the module cache".to_string()
    } else {
        format!("loaded in {}", format::millis(guest.worker_load_ms))
    };
    let phases = load_phases_title(&guest.info);
    view! {
        <div class="guest-summary">
            <div class="guest-line">
                <span class="guest-name" data-testid="guest-name">{guest.name.clone()}</span>
                <span class="pill">{format::size(guest.info.size)}</span>
                <span class="pill" data-testid="guest-load" title=phases>{load}</span>
                <span class="pill" title="imports by support level">
                    {format!("{} imports: {emulated} emulated", guest.info.imports.len())}
                    {(unsupported > 0).then(|| format!(", {unsupported} unsupported"))}
                    {(unknown > 0).then(|| format!(", {unknown} unknown"))}
                </span>
                {guest.info.backtraces.then(|| view! { <span class="pill subtle" title="traps report the guest's call stack">"backtraces"</span> })}
            </div>
            {teaches.map(|t| view! { <div class="guest-teaches">{t}</div> })}
            {unknown_note.map(|n| view! { <div class="warning" data-testid="guest-warning">{n}</div> })}
            <details class="imports">
                <summary>"Imports by module"</summary>
                <div class="import-groups">
                    {groups.into_iter().map(|g| view! { <ImportGroupView group=g/> }).collect_view()}
                </div>
            </details>
        </div>
    }
}

#[component]
fn ImportGroupView(group: ImportGroup) -> impl IntoView {
    let counts = format!(
        "{} emulated · {} unsupported · {} unknown",
        group.emulated, group.unsupported, group.unknown
    );
    view! {
        <div class="import-group">
            <div class="import-module"><code>{group.module.clone()}</code><span class="muted">{counts}</span></div>
            <div class="import-names">
                {group
                    .names
                    .into_iter()
                    .map(|(name, support)| {
                        let title = match support.as_str() {
                            "emulated" => "emulated",
                            "unsupported" => "links, answers UNSUPPORTED (not emulated yet)",
                            _ => "not part of the ABI the host knows: traps if called",
                        };
                        let explain = super::card::opener(group.module.clone(), name.clone());
                        view! { <span class=format!("chip {support}") title=title on:click=explain>{name}</span> }
                    })
                    .collect_view()}
            </div>
        </div>
    }
}

/// Where the worker's load of a guest went, for the load pill's title.
fn load_phases_title(info: &edgeplay_host::GuestInfo) -> String {
    if info.cached {
        return "the same bytes were loaded before: nothing to validate or compile again".into();
    }
    let p = info.load_phases;
    let ms = |us: u64| format::millis(us as f64 / 1000.0);
    format!(
        "in the worker: hash {} · backtrace rewrite {} · parse and validate {} · link {} · names {} (functions are translated on their first call, during the run)",
        ms(p.hash_us),
        ms(p.instrument_us),
        ms(p.compile_us),
        ms(p.link_us),
        ms(p.names_us)
    )
}
