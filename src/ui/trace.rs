//! The trace panel: the backend waterfall ([`super::waterfall`]) when the guest made
//! backend fetches, then a row per hostcall (and per log line, outside work, lifecycle
//! step), filterable by group; a click opens the details, and the details step
//! through the calls one by one (for walking a room through them).

use super::card::ExplainButton;
use super::controller;
use super::state::AppState;
use super::waterfall::BackendWaterfall;
use edgeplay_host::trace::{ArgValue, EventKind};
use edgeplay_host::TraceEvent;
use edgeplay_web::format::{self, trace_group};
use leptos::prelude::*;

/// Rows shown at most (the download has them all).
const MAX_ROWS: usize = 5000;

fn matches(filter: &str, e: &TraceEvent) -> bool {
    match filter {
        "all" => true,
        "hostcalls" => e.kind == EventKind::Hostcall,
        "unsupported" => e.unsupported,
        "backends" => e.kind == EventKind::Work && e.module == "backend",
        g => e.kind == EventKind::Hostcall && trace_group(&e.module) == g,
    }
}

fn kind_class(e: &TraceEvent) -> &'static str {
    match e.kind {
        EventKind::Hostcall if e.unsupported => "ev hostcall unsupported",
        EventKind::Hostcall => "ev hostcall",
        EventKind::Log => "ev log",
        EventKind::Work => "ev work",
        EventKind::Lifecycle => "ev lifecycle",
    }
}

/// The arguments a row shows: raw pointers and lengths are left to the details
/// when the call also has their decoded values.
fn args_text(e: &TraceEvent) -> String {
    let decoded = e.args.iter().any(|(_, v)| !matches!(v, ArgValue::Int(_)));
    e.args
        .iter()
        .filter(|(n, v)| {
            !(decoded
                && matches!(v, ArgValue::Int(_))
                && (n.ends_with("_ptr") || n.ends_with("_len") || n.ends_with("_out")))
        })
        .map(|(n, v)| format!("{n}={}", v.display()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The trace table and the details of the selected event.
#[component]
pub fn TracePanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let groups = Memo::new(move |_| {
        state.trace.with(|t| {
            let mut g: Vec<String> = Vec::new();
            for e in t.iter().filter(|e| e.kind == EventKind::Hostcall) {
                let name = trace_group(&e.module);
                if !g.contains(&name) {
                    g.push(name);
                }
            }
            g.sort();
            g
        })
    });
    let rows = Memo::new(move |_| {
        let filter = state.trace_filter.get();
        state.trace.with(|t| {
            t.iter()
                .filter(|e| matches(&filter, e))
                .take(MAX_ROWS)
                .cloned()
                .collect::<Vec<_>>()
        })
    });
    let hidden_count = move || {
        let shown = rows.with(Vec::len);
        let total = state.trace.with(Vec::len);
        (total > shown).then(|| format!("{shown} of {total} events shown"))
    };
    let on_filter = move |ev: web_sys::Event| state.trace_filter.set(event_target_value(&ev));
    let on_download = move |_| controller::download_trace(state);
    view! {
        <BackendWaterfall/>
        <super::profile::ProfilePanel/>
        <div class="trace-tools">
            <label class="small">
                "Show "
                <select data-testid="trace-filter" prop:value=move || state.trace_filter.get() on:change=on_filter>
                    <option value="hostcalls">"hostcalls"</option>
                    <option value="all">"everything (logs, work, lifecycle)"</option>
                    <option value="unsupported">"unsupported calls"</option>
                    <option value="backends">"backend fetches"</option>
                    {move || groups.get().into_iter().map(|g| view! { <option value=g.clone()>{format!("group: {g}")}</option> }).collect_view()}
                </select>
            </label>
            <span class="muted small">{hidden_count}</span>
            <button class="small" on:click=on_download disabled=move || state.trace.with(Vec::is_empty)>
                "Download (Perfetto JSON)"
            </button>
            <super::presenter::PresenterToggle/>
        </div>
        <div class="trace-wrap">
            <table class="trace" data-testid="trace">
                <thead>
                    <tr><th>"#"</th><th>"time"</th><th>"module"</th><th>"name"</th><th>"arguments"</th><th>"status"</th><th>"duration"</th></tr>
                </thead>
                <tbody>
                    <For each=move || rows.get() key=|e| (e.seq, e.dur_us.to_bits()) children=move |e| view! { <TraceRow event=e/> }/>
                </tbody>
            </table>
        </div>
        <TraceDetails/>
    }
}

#[component]
fn TraceRow(event: TraceEvent) -> impl IntoView {
    let state = expect_context::<AppState>();
    let seq = event.seq;
    let base = kind_class(&event);
    let class = move || {
        if state.selected.get() == Some(seq) {
            format!("{base} selected")
        } else {
            base.to_string()
        }
    };
    let select = move |_| state.selected.set(Some(seq));
    // One line per event (the trace's CSS): the whole of a cut value is its title.
    let args = args_text(&event);
    let args_title = args.clone();
    view! {
        <tr class=class data-hostcall=event.qualified_name() data-seq=seq on:click=select>
            <td class="num">{event.seq}</td>
            <td class="num">{format::millis(event.start_us / 1000.0)}</td>
            <td class="module" title=event.module.to_string()>{event.module.to_string()}</td>
            <td class="name" title=event.name.to_string()><ExplainButton module=event.module.to_string() name=event.name.to_string() status=event.status.as_deref().map(str::to_string)/>{event.name.to_string()}</td>
            <td class="args" title=args_title>{args}</td>
            <td class="st">{event.status.as_deref().unwrap_or("").to_string()}{event.unsupported.then_some(" (unsupported)")}</td>
            <td class="num">{format::millis(event.dur_us / 1000.0)}</td>
        </tr>
    }
}

/// Everything about the selected event, with previous / next.
#[component]
fn TraceDetails() -> impl IntoView {
    let state = expect_context::<AppState>();
    let selected = move || {
        let seq = state.selected.get()?;
        state
            .trace
            .with(|t| t.iter().find(|e| e.seq == seq).cloned())
    };
    let step = move |delta: i64| {
        let filter = state.trace_filter.get_untracked();
        let Some(seq) = state.selected.get_untracked() else {
            return;
        };
        let next = state.trace.with_untracked(|t| {
            let visible: Vec<u64> = t
                .iter()
                .filter(|e| matches(&filter, e))
                .map(|e| e.seq)
                .collect();
            let i = visible.iter().position(|s| *s == seq)? as i64 + delta;
            visible.get(usize::try_from(i).ok()?).copied()
        });
        if let Some(n) = next {
            state.selected.set(Some(n));
        }
    };
    view! {
        {move || selected().map(|e| {
            let args = e.args.iter().map(|(n, v)| view! { <tr><th>{n.to_string()}</th><td>{v.display()}</td></tr> }).collect_view();
            let results = e.results.iter().map(|(n, v)| view! { <tr><th>{n.to_string()}</th><td>{v.display()}</td></tr> }).collect_view();
            let status = match (&e.status, e.code) {
                (Some(s), Some(c)) => format!("{s} ({c})"),
                (Some(s), None) => s.to_string(),
                (None, Some(c)) => c.to_string(),
                (None, None) => "—".into(),
            };
            view! {
                <div class="trace-details" data-testid="trace-details">
                    <div class="details-head">
                        <code class="qualified">{e.qualified_name()}</code>
                        <span class="muted small">{format!("#{} · {:?}", e.seq, e.kind).to_lowercase()}</span>
                        <div class="spacer"></div>
                        <button class="small" on:click=move |_| step(-1)>"◀ previous"</button>
                        <button class="small" on:click=move |_| step(1)>"next ▶"</button>
                        <button class="small link" on:click=move |_| state.selected.set(None)>"close"</button>
                    </div>
                    {e.note.clone().map(|n| view! { <div class="note">{n}</div> })}
                    {e.unsupported.then(|| view! { <div class="warning">"Not emulated yet: the call links and answers UNSUPPORTED."</div> })}
                    <div class="details-grid">
                        <table class="kv">
                            <tbody>
                                <tr><th>"status"</th><td>{status}</td></tr>
                                <tr><th>"start"</th><td>{format::millis(e.start_us / 1000.0)}</td></tr>
                                <tr><th>"duration"</th><td>{format::millis(e.dur_us / 1000.0)}</td></tr>
                                <tr><th>"guest memory"</th><td>{format!("{} B read, {} B written", e.bytes_read, e.bytes_written)}</td></tr>
                                <tr><th>"fuel since previous"</th><td>{e.fuel}</td></tr>
                            </tbody>
                        </table>
                        <table class="kv">
                            <thead><tr><th colspan="2">"arguments"</th></tr></thead>
                            <tbody>{args}</tbody>
                        </table>
                        <table class="kv">
                            <thead><tr><th colspan="2">"results"</th></tr></thead>
                            <tbody>{results}</tbody>
                        </table>
                    </div>
                </div>
            }
        })}
    }
}
