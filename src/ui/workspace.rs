//! The workspace card: the saved fiddles (`workspace`), each row `workspace-entry`
//! with `data-entry-id` and `data-current`; open one by its name, rename,
//! duplicate, delete; `workspace-new` adds an empty one.

use super::state::AppState;
use super::workspace_actions as actions;
use edgeplay_web::format;
use edgeplay_web::workspace::EntryMeta;
use leptos::prelude::*;

/// The saved fiddles.
#[component]
pub fn WorkspaceCard() -> impl IntoView {
    let state = expect_context::<AppState>();
    let w = state.workspace;
    let rows = move || {
        let current = w.current.get();
        w.entries
            .get()
            .unwrap_or_default()
            .into_iter()
            .map(|e| {
                let is_current = current.as_deref() == Some(e.id.as_str());
                view! { <EntryRow entry=e current=is_current/> }
            })
            .collect_view()
    };
    let count = move || w.entries.with(|e| e.as_ref().map_or(0, Vec::len));
    view! {
        <section class="card workspace-card">
            <details open=true>
                <summary class="card-head">
                    <h2>{move || format!("Workspace ({})", count())}</h2>
                    <button class="small" data-testid="workspace-new" on:click=move |_| actions::new_entry(state)
                        title="A new, empty fiddle with a service state of its own">"+ New"</button>
                </summary>
                <ul class="workspace-list" data-testid="workspace">{rows}</ul>
                {move || w.message.get().map(|m| view! { <div class="muted small" data-testid="workspace-message">{m}</div> })}
            </details>
        </section>
    }
}

#[component]
fn EntryRow(entry: EntryMeta, current: bool) -> impl IntoView {
    let state = expect_context::<AppState>();
    let w = state.workspace;
    let id = entry.id.clone();
    let renaming = {
        let id = id.clone();
        move || w.renaming.get().as_deref() == Some(id.as_str())
    };
    let open = {
        let id = id.clone();
        move |_| actions::switch(state, id.clone())
    };
    let start_rename = {
        let id = id.clone();
        move |_| w.renaming.set(Some(id.clone()))
    };
    let dup = {
        let id = id.clone();
        move |_| actions::duplicate(state, id.clone())
    };
    let del = {
        let id = id.clone();
        move |_| actions::delete(state, id.clone())
    };
    let on_name = {
        let id = id.clone();
        move |ev: web_sys::Event| actions::rename(state, id.clone(), event_target_value(&ev))
    };
    let updated = js_sys::Date::new(&entry.updated_ms.into())
        .to_locale_string("en-GB", &wasm_bindgen::JsValue::UNDEFINED)
        .as_string()
        .unwrap_or_default();
    let name = entry.name.clone();
    let class = if current {
        "workspace-entry current"
    } else {
        "workspace-entry"
    };
    view! {
        <li class=class data-testid="workspace-entry" data-entry-id=entry.id.clone() data-current=current.to_string()>
            <Show when=renaming.clone() fallback=move || view! {
                <button class="entry-open" title=if current { "Open now" } else { "Open this fiddle (the page is saved first)" }
                    on:click=open.clone() data-testid="workspace-open">{name.clone()}</button>
            }>
                <input type="text" data-testid="workspace-name-input" prop:value=entry.name.clone() on:change=on_name.clone()/>
            </Show>
            <span class="muted small">{format!("{} · {}", format::size(entry.size as usize), updated)}</span>
            <button class="link" data-testid="workspace-rename" title="Rename" on:click=start_rename>"rename"</button>
            <button class="link" data-testid="workspace-duplicate" title="Duplicate (with a copy of its service state)" on:click=dup>"duplicate"</button>
            <button class="link" data-testid="workspace-delete" disabled=current
                title=if current { "Open another fiddle to delete this one" } else { "Delete it and its service state" } on:click=del>"delete"</button>
        </li>
    }
}
