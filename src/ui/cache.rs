//! The Cache inspector: every object in the service's cache with its key, URL,
//! variant, freshness, hits, size, surrogate keys and stored response; its body on a
//! click; and the purges (see [`super::cache_actions`] for what they do). The rows and
//! every label come from [`edgeplay_web::cache_view`].

use super::cache_actions as act;
use super::state::{AppState, Phase, Tab};
use edgeplay_web::cache_view::{totals_label, CacheRow};
use edgeplay_web::format;
use leptos::prelude::*;

/// The panel: the totals and purges, the objects, the open body.
#[component]
pub fn CachePanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    // The state changed (a run, a purge, another tab), a run ended, or the panel
    // opened: list again (ages and TTLs count to the listing).
    Effect::new(move |_| {
        state.state_version.track();
        let phase = state.phase.get();
        if state.tab.get() == Tab::Cache && state.worker_ready.get() && phase != Phase::Running {
            act::refresh(state);
        }
    });
    view! {
        <div class="cache" data-testid="cache-inspector">
            <CacheHead/>
            <CacheEntries/>
            <CacheBody/>
        </div>
    }
}

/// How many objects, purge all, purge by surrogate key, the last message.
#[component]
fn CacheHead() -> impl IntoView {
    let state = expect_context::<AppState>();
    let c = state.cache;
    let count = move || {
        c.rows.with(|r| match r {
            Some(rows) => totals_label(rows),
            None => "listing…".to_string(),
        })
    };
    let n = move || c.rows.with(|r| r.as_ref().map(Vec::len));
    let on_key = move |ev: web_sys::KeyboardEvent| {
        if ev.key() == "Enter" {
            act::purge_key(state);
        }
    };
    let message = move || c.message.get();
    view! {
        <div class="cache-head">
            <span class="muted small" data-testid="cache-count" data-count=n>{count}</span>
            <div class="spacer"></div>
            <div class="purge-key" data-testid="purge-key">
                <input type="text" class="small" data-testid="purge-key-input" placeholder="surrogate key" spellcheck="false"
                    bind:value=c.purge_key on:keydown=on_key/>
                <label class="small" title="Soft purge: mark the objects stale (served stale while revalidated) instead of removing them">
                    <input type="checkbox" data-testid="purge-key-soft" bind:checked=c.purge_soft/>
                    " soft"
                </label>
                <button class="small" data-testid="purge-key-button" on:click=move |_| act::purge_key(state)>"Purge key"</button>
            </div>
            <button class="small danger" data-testid="purge-all" on:click=move |_| act::purge_all(state)
                title="Remove every object from the cache (kept in this browser)">"Purge all"</button>
        </div>
        <Show when=move || c.message.with(Option::is_some)>
            <div class="small note" data-testid="cache-message">{message}</div>
        </Show>
    }
}

/// One entry per object, most recently stored first.
#[component]
fn CacheEntries() -> impl IntoView {
    let state = expect_context::<AppState>();
    let c = state.cache;
    let empty = move || c.rows.with(|r| r.as_ref().is_some_and(Vec::is_empty));
    // Every listing has new ages: the key includes what a listing changes.
    let rows = move || c.rows.get().unwrap_or_default();
    let key = |r: &CacheRow| (r.id.clone(), r.hits, r.age_s.to_bits(), r.purged);
    view! {
        <div class="cache-entries">
            <Show when=empty>
                <div class="muted small empty" data-testid="cache-empty">
                    "The cache is empty. Backend responses the readthrough cache stores (and objects the cache APIs insert) show here."
                </div>
            </Show>
            <For each=rows key=key children=move |row| view! { <CacheEntry row=row/> }/>
        </div>
    }
}

/// The facts of an entry: (label, value), the empty ones left out.
fn facts(row: &CacheRow) -> Vec<(&'static str, String)> {
    let mut out = vec![
        ("url", row.url.clone().unwrap_or_default()),
        ("variant", row.variant_label()),
        ("freshness", row.freshness_label()),
        ("windows", row.windows_label()),
        ("hits", row.hits.to_string()),
        ("size", row.size_label()),
        ("surrogate keys", row.surrogate_keys.join(" ")),
        ("response", row.response_label()),
        ("user metadata", row.user_metadata.clone()),
    ];
    if row.sensitive {
        out.push(("sensitive", "yes (PCI)".into()));
    }
    out.retain(|(_, v)| !v.is_empty());
    out
}

/// One object: key, facts, stored headers; a click shows its body; remove.
#[component]
fn CacheEntry(row: CacheRow) -> impl IntoView {
    let state = expect_context::<AppState>();
    let id = row.id.clone();
    let (open_id, remove_id) = (id.clone(), id.clone());
    let is_open = move || {
        state
            .cache
            .open
            .with(|o| o.as_ref().is_some_and(|o| o.id == open_id))
    };
    let class = move || {
        if is_open() {
            "cache-entry open"
        } else {
            "cache-entry"
        }
    };
    let toggle = move |_| act::toggle_body(state, id.clone());
    let remove = move |ev: web_sys::MouseEvent| {
        ev.stop_propagation();
        act::remove(state, remove_id.clone());
    };
    let key_kind = if row.key_is_text { "text" } else { "hex" };
    let facts = facts(&row)
        .into_iter()
        .map(|(label, value)| {
            view! { <span class="fact" data-fact=label><span class="muted">{label}</span>" "{value}</span> }
        })
        .collect_view();
    let headers = row
        .headers
        .iter()
        .map(|(n, v)| view! { <tr><th>{n.clone()}</th><td>{v.clone()}</td></tr> })
        .collect_view();
    view! {
        <div class=class data-testid="cache-entry" data-key=row.key.clone() data-id=row.id.clone()
            data-hits=row.hits data-state=row.state data-url=row.url.clone()
            data-surrogate-keys=row.surrogate_keys.join(" ") data-size=row.size on:click=toggle>
            <div class="cache-entry-head">
                <code class="entry-key" data-key-kind=key_kind title="the cache key">{row.key.clone()}</code>
                <span class="muted small">{row.kind}</span>
                <span class=format!("cache-state {}", row.state)>{row.state}</span>
                <div class="spacer"></div>
                <button class="small link" data-testid="cache-entry-remove" on:click=remove title="Remove this object from the cache">"remove"</button>
            </div>
            <div class="cache-facts small">{facts}</div>
            <table class="kv cache-headers" data-testid="cache-entry-headers"><tbody>{headers}</tbody></table>
        </div>
    }
}

/// The open object's body: text, or a hex dump for bytes that are not UTF-8.
#[component]
fn CacheBody() -> impl IntoView {
    let state = expect_context::<AppState>();
    let open = move || state.cache.open.get();
    view! {
        {move || open().map(|o| {
            let what = if o.is_text { "text" } else { "binary: hex" };
            let facts = format!("{} · {what}", format::size(o.size));
            view! {
                <div class="store-value" data-testid="cache-body" data-id=o.id.clone() data-text=o.is_text.to_string()>
                    <div class="body-head">
                        <code>{o.id.clone()}</code>
                        <span class="muted small" data-testid="cache-body-facts">{facts}</span>
                    </div>
                    <pre class="body-text">{o.text.clone()}</pre>
                </div>
            }
        })}
    }
}
