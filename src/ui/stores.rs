//! The Stores panel: every store the service has, its keys, one value at a time, and
//! the edits (see [`super::store_actions`] for what they do).

use super::state::{AppState, EntryRow, StoredState, ValueMode};
use super::store_actions as act;
use edgeplay_host::platform::Clock;
use edgeplay_web::format::{self, hex_dump, pretty_json};
use edgeplay_web::stores::{self, FileFormat, StoreInfo, StoreKind, Touch};
use leptos::prelude::*;
use std::collections::HashMap;

/// The panel: the store list on the left, the selected store on the right.
#[component]
pub fn StoresPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    // The panel opened, or the config changed: its stores are seeded (as a run does).
    Effect::new(move |_| {
        state.config_text.track();
        if state.tab.get() == super::state::Tab::Stores && state.worker_ready.get() {
            act::seed(state);
        }
    });
    // The worker's state changed (or the panel opened): list again.
    Effect::new(move |_| {
        state.state_version.track();
        if state.tab.get() == super::state::Tab::Stores {
            act::refresh_erl(state);
            act::refresh_keys(state);
        }
    });
    view! {
        <div class="stores" data-testid="stores">
            <StoresHead/>
            <div class="stores-body">
                <StoreList/>
                <StoreDetail/>
            </div>
        </div>
    }
}

/// The state's status and "reset to config".
#[component]
fn StoresHead() -> impl IntoView {
    let state = expect_context::<AppState>();
    let status = move || match state.stored.get() {
        StoredState::Starting => "starting the worker…".to_string(),
        StoredState::Loading => "Loading stores…".to_string(),
        StoredState::Loaded {
            keys,
            since_start_ms,
            durable,
            ..
        } => format!(
            "{keys} stored keys loaded {} after the worker started{}",
            format::millis(since_start_ms),
            if durable {
                " · kept in this browser (IndexedDB)"
            } else {
                " · NOT kept: no IndexedDB"
            }
        ),
    };
    let loaded_ms = move |f: fn(f64, f64) -> f64| {
        move || match state.stored.get() {
            StoredState::Loaded {
                load_ms,
                since_start_ms,
                ..
            } => Some(format!("{:.3}", f(load_ms, since_start_ms))),
            _ => None,
        }
    };
    let message = move || state.stores.message.get();
    view! {
        <div class="stores-head">
            <span
                class="muted small"
                data-testid="state-status"
                data-load-ms=loaded_ms(|l, _| l)
                data-since-start-ms=loaded_ms(|_, s| s)
            >{status}</span>
            <div class="spacer"></div>
            <button class="small" data-testid="store-reset" on:click=move |_| act::reset_to_config(state)
                title="Put every KV store and ACL back to what fastly.toml defines (the guest's writes go)">
                "Reset to config"
            </button>
        </div>
        <Show when=move || state.stores.message.with(Option::is_some)>
            <div class="small note" data-testid="store-message">{message}</div>
        </Show>
    }
}

/// One row per store.
#[component]
fn StoreList() -> impl IntoView {
    let state = expect_context::<AppState>();
    let last_good = StoredValue::new(Vec::<StoreInfo>::new());
    let catalogue = Memo::new(move |_| {
        let erl = state.stores.erl_keys.get();
        match act::config(state) {
            Some(cfg) => {
                let c = stores::catalogue(&cfg, &erl);
                last_good.set_value(c.clone());
                c
            }
            // While the config does not validate, keep the last stores shown.
            None => last_good.get_value(),
        }
    });
    view! {
        <ul class="store-list">
            <Show when=move || catalogue.with(Vec::is_empty)>
                <li class="muted small">"No stores: define them in fastly.toml ([local_server.kv_stores], config_stores, secret_stores, acls)."</li>
            </Show>
            <For
                each=move || catalogue.get()
                key=|s| (s.kind, s.name.clone())
                children=move |s| view! { <StoreRow info=s/> }
            />
        </ul>
    }
}

#[component]
fn StoreRow(info: StoreInfo) -> impl IntoView {
    let state = expect_context::<AppState>();
    let StoreInfo { kind, name } = info;
    let me = (kind, name.clone());
    let class = move || {
        if state.stores.selected.with(|s| s.as_ref() == Some(&me)) {
            "store selected"
        } else {
            "store"
        }
    };
    let n = name.clone();
    view! {
        <li class=class data-testid="store" data-store-kind=kind.id() data-store-name=name.clone()
            on:click=move |_| act::select_store(state, kind, n.clone())>
            <span class="store-name">{name.clone()}</span>
            <span class="muted small">{kind.label()}</span>
        </li>
    }
}

/// The selected store: search, keys, the open value, the edit form, import/export.
#[component]
fn StoreDetail() -> impl IntoView {
    let state = expect_context::<AppState>();
    let s = state.stores;
    let selected = move || s.selected.get();
    // Config stores and secret stores come from the config text.
    let rows = Memo::new(move |_| {
        let (kind, name) = s.selected.get()?;
        if kind.is_state() {
            return Some(s.rows.get());
        }
        let search = s.search.get();
        act::config(state).map(|c| act::config_rows(&c, kind, &name, &search))
    });
    let touched = Memo::new(move |_| state.trace.with(|t| stores::touched(t)));
    let on_search = move |ev: web_sys::Event| {
        s.search.set(event_target_value(&ev));
        act::refresh_keys(state);
    };
    let on_import = move |ev: web_sys::Event| {
        if let Some(file) = super::picked_file(&ev) {
            act::import_file(state, file);
        }
    };
    let count = move || {
        let shown = rows.with(|r| r.as_ref().map_or(0, Vec::len));
        match s.selected.get() {
            Some((k, _)) if k.is_state() => format!("{shown} of {} keys", s.total.get()),
            _ => format!("{shown} keys"),
        }
    };
    let show_all = move |_| {
        s.limit.set(1_000_000);
        act::refresh_keys(state);
    };
    let list_ms = move || s.list_ms.get().map(|v| format!("{v:.3}"));
    view! {
        <div class="store-detail">
            <Show when=move || selected().is_some() fallback=|| view! { <div class="muted empty">"Pick a store."</div> }>
                <div class="store-tools">
                    <input type="search" class="small" data-testid="store-search" placeholder="search keys" prop:value=move || s.search.get() on:input=on_search/>
                    <span class="muted small" data-testid="store-count" data-list-ms=list_ms>{count}</span>
                    <Show when=move || s.more.get()>
                        <button class="small" data-testid="store-show-all" on:click=show_all>"show all"</button>
                    </Show>
                    <div class="spacer"></div>
                    <label class="button small">
                        "Import JSON…"
                        <input type="file" accept=".json,application/json" data-testid="store-import" on:change=on_import/>
                    </label>
                    <label class="small" title="Delete the store's other keys when importing">
                        <input type="checkbox" data-testid="store-import-replace" prop:checked=move || s.import_replace.get()
                            on:change=move |ev| s.import_replace.set(event_target_checked(&ev))/>
                        " replace"
                    </label>
                    <button class="small" data-testid="store-export" on:click=move |_| act::export(state, FileFormat::Viceroy)
                        title="Viceroy's format = \"json\" file: key → string or {data, metadata}">"Export (Viceroy)"</button>
                    <button class="small" data-testid="store-export-fastlike" on:click=move |_| act::export(state, FileFormat::Fastlike)
                        title="Fastlike's -kv file: key → string or {body, metadata}">"Export (Fastlike)"</button>
                </div>
                <div class="store-entries">
                    <For
                        each=move || rows.get().unwrap_or_default()
                        key=|r| (r.key.clone(), r.size)
                        children=move |r| view! { <EntryLine row=r touched=touched/> }
                    />
                </div>
                <EntryValue/>
                <EditForm/>
            </Show>
        </div>
    }
}

type Touched = Memo<HashMap<(String, String), (Touch, u64)>>;

/// One key: its size, what the last run did to it (with a link to the call), delete.
#[component]
fn EntryLine(row: EntryRow, touched: Touched) -> impl IntoView {
    let state = expect_context::<AppState>();
    let Some((kind, store)) = state.stores.selected.get_untracked() else {
        return ().into_any();
    };
    let EntryRow { key, size } = row;
    let id = (store.clone(), key.clone());
    let touch = Memo::new(move |_| {
        if kind != StoreKind::Kv {
            return None;
        }
        touched.with(|t| t.get(&id).copied())
    });
    let (k_open, k_del, st) = (key.clone(), key.clone(), store.clone());
    let open = move |_| act::open_entry(state, kind, st.clone(), k_open.clone());
    let delete = move |ev: web_sys::MouseEvent| {
        ev.stop_propagation();
        act::delete_entry(state, k_del.clone());
    };
    let link = move || {
        touch.get().map(|(t, seq)| {
            let go = move |ev: web_sys::MouseEvent| {
                ev.stop_propagation();
                act::show_trace_event(state, seq);
            };
            view! {
                <button class="small link" data-testid="store-entry-trace" data-seq=seq on:click=go
                    title="Show the call in the trace">{format!("{} by #{seq}", t.id())}</button>
            }
        })
    };
    // Every entry can be deleted: an ACL's from fastly.toml, state from the state.
    let editable = true;
    view! {
        <div class="store-entry" data-testid="store-entry" data-key=key.clone()
            data-touched=move || touch.get().map(|(t, _)| t.id()) on:click=open>
            <code class="entry-key">{key.clone()}</code>
            <span class="muted small">{format::size(size)}</span>
            {link}
            <div class="spacer"></div>
            {editable.then(|| view! {
                <button class="small link" data-testid="store-entry-delete" on:click=delete title="Delete this key">"delete"</button>
            })}
        </div>
    }
    .into_any()
}

/// The open entry's value (text / JSON / hex), metadata, generation and TTL.
#[component]
fn EntryValue() -> impl IntoView {
    let state = expect_context::<AppState>();
    let s = state.stores;
    let body = move || {
        let open = s.open.get()?;
        let bytes = open.value.value.clone();
        let masked = open.kind == StoreKind::Secret && !s.revealed.get();
        let text = if masked {
            "•".repeat(8)
        } else {
            match s.mode.get() {
                ValueMode::Text => String::from_utf8_lossy(&bytes).into_owned(),
                ValueMode::Json => pretty_json(&bytes)
                    .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned()),
                ValueMode::Hex => hex_dump(&bytes, 64 * 1024),
            }
        };
        Some(text)
    };
    let facts = move || {
        let open = s.open.get()?;
        let v = &open.value;
        let mut parts = vec![format::size(v.value.len())];
        if let Some(g) = v.generation {
            parts.push(format!("generation {g}"));
        }
        if open.kind == StoreKind::Kv {
            let now = edgeplay_web::platform::BrowserClock.unix_ns();
            parts.push(stores::ttl_text(v.expires_unix_ns, now));
            if !v.metadata.is_empty() {
                parts.push(format!(
                    "metadata: {}",
                    String::from_utf8_lossy(&v.metadata)
                ));
            }
        }
        if let Some(p) = &v.problem {
            parts.push(p.clone());
        }
        Some(parts.join(" · "))
    };
    let key = move || s.open.get().map(|o| o.key).unwrap_or_default();
    let is_secret = move || {
        s.open
            .with(|o| o.as_ref().is_some_and(|o| o.kind == StoreKind::Secret))
    };
    let seg = move |m: ValueMode, label: &'static str| {
        let class = move || {
            if s.mode.get() == m {
                "seg active"
            } else {
                "seg"
            }
        };
        view! { <button class=class data-mode=label on:click=move |_| s.mode.set(m)>{label}</button> }
    };
    view! {
        <Show when=move || s.open.with(Option::is_some)>
            <div class="store-value" data-testid="store-value" data-key=key>
                <div class="body-head">
                    <code>{key}</code>
                    <span class="muted small" data-testid="store-value-facts">{facts}</span>
                    <div class="spacer"></div>
                    <Show when=is_secret>
                        <button class="small" data-testid="store-reveal" on:click=move |_| s.revealed.update(|r| *r = !*r)>
                            {move || if s.revealed.get() { "hide" } else { "reveal" }}
                        </button>
                    </Show>
                    <div class="segmented">{seg(ValueMode::Text, "text")}{seg(ValueMode::Json, "JSON")}{seg(ValueMode::Hex, "hex")}</div>
                </div>
                <pre class="body-text" data-testid="store-value-body">{body}</pre>
            </div>
        </Show>
    }
}

/// Add or edit an entry.
#[component]
fn EditForm() -> impl IntoView {
    let state = expect_context::<AppState>();
    let s = state.stores;
    let kind = move || s.selected.get().map(|(k, _)| k);
    let editable = move || {
        matches!(
            kind(),
            Some(StoreKind::Kv | StoreKind::Config | StoreKind::Secret | StoreKind::Acl)
        )
    };
    let is_acl = move || kind() == Some(StoreKind::Acl);
    let is_kv = move || kind() == Some(StoreKind::Kv);
    let where_to = move || match kind() {
        Some(StoreKind::Config | StoreKind::Secret | StoreKind::Acl) => {
            "saved into fastly.toml (the config editor)"
        }
        _ => "saved in the service state (this browser)",
    };
    view! {
        <Show when=editable>
            <div class="store-edit">
                <div class="row">
                    <input type="text" class="small" data-testid="store-edit-key" placeholder=move || if is_acl() { "prefix, e.g. 192.0.2.0/24" } else { "key" } spellcheck="false" bind:value=s.edit_key/>
                    <Show when=is_kv>
                        <input type="text" class="small" data-testid="store-edit-metadata" placeholder="metadata (optional)" spellcheck="false" bind:value=s.edit_metadata/>
                        <input type="number" min="1" class="small ttl" data-testid="store-edit-ttl" placeholder="TTL s" bind:value=s.edit_ttl/>
                    </Show>
                </div>
                <textarea class="code" rows="3" data-testid="store-edit-value" placeholder=move || if is_acl() { "action: ALLOW or BLOCK" } else { "value" } spellcheck="false" bind:value=s.edit_value></textarea>
                <div class="row">
                    <button class="small primary" data-testid="store-save" on:click=move |_| act::save_entry(state)>"Save"</button>
                    <span class="muted small">{where_to}</span>
                </div>
            </div>
        </Show>
    }
}
