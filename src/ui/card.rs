//! "Explain this hostcall": an import's card ([`edgeplay_host::cards`]) in the tab —
//! what the call does, its arguments and results, each status it can return and when
//! (the status of the event at hand highlighted), the SDK calls that reach it, its
//! limits and where edgeplay differs.
//!
//! One card is open at a time, in a dialog over the page ([`CardDialog`], mounted once
//! by the app). Anything can open one with [`open`]: a trace row's `?` button
//! ([`ExplainButton`]), a chip of the guest's import list ([`opener`]), a paused call.
//! [`HostcallCard`] renders a card by itself, for a view that wants it inline.

use edgeplay_host::cards::{self, Card};
use leptos::prelude::*;

/// The card to show: an import and, when it is opened for an event, that event's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenCard {
    /// Import module (`fastly_http_req`).
    pub module: String,
    /// Import name (`send_v2`).
    pub name: String,
    /// The status the event at hand returned (`ok`, `buflen`, ...), highlighted on the card.
    pub status: Option<String>,
}

thread_local! {
    /// The open card, if any (the page runs on one thread).
    static OPEN: ArcRwSignal<Option<OpenCard>> = ArcRwSignal::new(None);
}

/// The signal holding the open card.
pub fn open_card() -> ArcRwSignal<Option<OpenCard>> {
    OPEN.with(Clone::clone)
}

/// Open the card of `module::name`, with `status` (the event's) highlighted.
pub fn open(module: &str, name: &str, status: Option<&str>) {
    open_card().set(Some(OpenCard {
        module: module.to_string(),
        name: name.to_string(),
        status: status.map(str::to_string),
    }));
}

/// Close the open card.
pub fn close() {
    open_card().set(None);
}

/// A click handler that opens the card of `module::name` (no status): for a chip of
/// the guest's import list.
pub fn opener(module: String, name: String) -> impl Fn(web_sys::MouseEvent) + Clone + 'static {
    move |ev: web_sys::MouseEvent| {
        ev.stop_propagation();
        open(&module, &name, None);
    }
}

/// A small `?` button that opens the card of `module::name` for an event whose status
/// was `status`; nothing when the import has no card (log lines, outside work).
#[component]
pub fn ExplainButton(module: String, name: String, status: Option<String>) -> impl IntoView {
    cards::card(&module, &name).map(|_| {
        let click = move |ev: web_sys::MouseEvent| {
            ev.stop_propagation();
            open(&module, &name, status.as_deref());
        };
        view! {
            <button class="explain" data-testid="explain" title="Explain this hostcall" on:click=click>"?"</button>
        }
    })
}

/// Name/meaning rows of a card section.
fn pairs(rows: &[(String, String)]) -> impl IntoView {
    rows.iter()
        .map(|(n, m)| view! { <tr><th><code>{n.clone()}</code></th><td>{m.clone()}</td></tr> })
        .collect_view()
}

/// A list section of a card, left out when empty.
fn list(title: &'static str, items: &[String]) -> Option<impl IntoView> {
    (!items.is_empty()).then(|| {
        let items = items
            .iter()
            .map(|i| view! { <li><code>{i.clone()}</code></li> })
            .collect_view();
        view! { <div class="card-list"><h4>{title}</h4><ul>{items}</ul></div> }
    })
}

/// The body of a card: its sections, the status `current` marked.
fn card_body(c: &'static Card, current: Option<String>) -> impl IntoView {
    let statuses = c
        .statuses
        .iter()
        .map(|(n, w)| {
            let here = current.as_deref() == Some(n.as_str());
            view! {
                <tr class:current=here data-status=n.clone() aria-current=here.then_some("true")>
                    <th><code>{n.clone()}</code></th>
                    <td>{w.clone()}</td>
                </tr>
            }
        })
        .collect_view();
    let unlisted = current.filter(|s| c.status(s).is_none()).map(|s| {
        view! {
            <div class="note" data-testid="card-unlisted-status">
                {format!("This call answered {s}, which the card does not list.")}
            </div>
        }
    });
    let legacy = c
        .alias_of
        .clone()
        .map(|a| view! { <div class="muted small">"Legacy name of "<code>{a}</code></div> });
    let args = (!c.args.is_empty()).then(|| {
        view! { <table class="kv card-args"><thead><tr><th colspan="2">"arguments"</th></tr></thead><tbody>{pairs(&c.args)}</tbody></table> }
    });
    let results = (!c.results.is_empty()).then(|| {
        view! { <table class="kv card-results"><thead><tr><th colspan="2">"results"</th></tr></thead><tbody>{pairs(&c.results)}</tbody></table> }
    });
    let status_table = (!c.statuses.is_empty()).then(|| {
        view! {
            <table class="kv card-statuses" data-testid="card-statuses">
                <thead><tr><th colspan="2">"statuses"</th></tr></thead>
                <tbody>{statuses}</tbody>
            </table>
        }
    });
    let host = c.host.clone().map(|h| {
        view! { <div class="card-host" data-testid="card-host"><strong>"In edgeplay: "</strong>{h}</div> }
    });
    view! {
        {legacy}
        <p class="card-summary" data-testid="card-summary">{c.summary.clone()}</p>
        {unlisted}
        {args}
        {results}
        {status_table}
        {list("Rust SDK (fastly)", &c.rust)}
        {list("JavaScript SDK (@fastly/js-compute)", &c.js)}
        {list("Limits", &c.limits)}
        {host}
    }
}

/// The card of `module::name` (`data-testid="hostcall-card"`, `data-hostcall`), with
/// `status` (the event at hand's) highlighted: its row has the class `current`.
#[component]
pub fn HostcallCard(module: String, name: String, status: Option<String>) -> impl IntoView {
    let id = format!("{module}::{name}");
    let body = match cards::card(&module, &name) {
        Some(c) => card_body(c, status).into_any(),
        None => view! { <p class="muted">"edgeplay has no card for this import."</p> }.into_any(),
    };
    let title = id.clone();
    view! {
        <div class="hostcall-card" data-testid="hostcall-card" data-hostcall=id>
            <div class="card-head"><code class="qualified" data-testid="card-name">{title}</code></div>
            {body}
        </div>
    }
}

/// The open card, in a dialog over the page; a click outside it, its close button or
/// Escape closes it.
#[component]
pub fn CardDialog() -> impl IntoView {
    let sig = open_card();
    let escape = window_event_listener(leptos::ev::keydown, |ev| {
        if ev.key() == "Escape" {
            close();
        }
    });
    on_cleanup(move || escape.remove());
    view! {
        {move || sig.get().map(|o| view! {
            <div class="card-overlay" on:click=move |_| close()>
                <div class="card-dialog" role="dialog" aria-label="hostcall card" on:click=|ev| ev.stop_propagation()>
                    <button class="small link card-close" data-testid="card-close" title="Close" on:click=move |_| close()>"×"</button>
                    <HostcallCard module=o.module name=o.name status=o.status/>
                </div>
            </div>
        })}
    }
}
