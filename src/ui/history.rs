//! The History panel: the open fiddle's kept runs (time, request, status,
//! duration), two ticked and compared in the diff view — status, headers, body and
//! logs diffed, the traces aligned call by call with the first divergence marked,
//! the timings side by side. The rows and the diff are `edgeplay_web::history`'s;
//! what the buttons do is [`super::history_actions`]'s.

use super::history_actions::{self as actions, ui};
use edgeplay_host::rundiff::Line;
use edgeplay_web::history::{
    kind_class, line_parts, DiffView, HeaderRow, Row, TimingRow, TraceRow, KEEP,
};
use leptos::prelude::*;

/// `history`: the list and, once two runs are compared, `diff`.
#[component]
pub fn HistoryPanel() -> impl IntoView {
    let u = ui();
    let rows = Memo::new(move |_| {
        let tz = actions::tz_offset_min();
        u.runs.with(|rs| {
            rs.iter()
                .flatten()
                .map(|r| Row::of(r, tz))
                .collect::<Vec<_>>()
        })
    });
    let count = move || {
        let n = rows.with(Vec::len);
        format!(
            "{n} run{} kept (the last {KEEP} of this fiddle)",
            if n == 1 { "" } else { "s" }
        )
    };
    let can_compare = move || u.picked.with(|p| p.len() == 2);
    view! {
        <div class="history" data-testid="history">
            <div class="trace-tools">
                <span class="muted small" data-testid="history-count">{count}</span>
                <button class="small primary" data-testid="history-compare" disabled=move || !can_compare() on:click=move |_| actions::compare()>
                    "Compare the two ticked"
                </button>
                <button class="small" data-testid="history-clear" disabled=move || rows.with(Vec::is_empty) on:click=move |_| actions::clear()>
                    "Clear"
                </button>
            </div>
            <Show when=move || u.message.with(Option::is_some)>
                <div class="warning small" data-testid="history-error">{move || u.message.get().unwrap_or_default()}</div>
            </Show>
            <Show when=move || rows.with(Vec::is_empty)>
                <p class="muted empty">"Every finished run of this fiddle is kept here. Run twice, tick two runs and compare them."</p>
            </Show>
            <div class="trace-wrap history-list">
                <table class="hist">
                    <thead>
                        <tr><th></th><th>"time"</th><th>"request"</th><th>"status"</th><th>"duration"</th><th></th></tr>
                    </thead>
                    <tbody>
                        <For each=move || rows.get() key=|r| r.id.clone() children=move |r| view! { <HistoryRow row=r/> }/>
                    </tbody>
                </table>
            </div>
            <RunDiff/>
        </div>
    }
}

#[component]
fn HistoryRow(row: Row) -> impl IntoView {
    let u = ui();
    let id = row.id.clone();
    let picked = {
        let id = id.clone();
        move || u.picked.with(|p| p.contains(&id))
    };
    let compared = {
        let id = id.clone();
        move || {
            u.compared
                .with(|c| c.as_ref().is_some_and(|(a, b)| *a == id || *b == id))
        }
    };
    let (tick, prev) = (id.clone(), id.clone());
    let status_class = if row.error.is_some() || row.status >= 400 {
        "st err"
    } else {
        "st"
    };
    view! {
        <tr data-run-id=id.clone() class:selected=compared>
            <td><input type="checkbox" data-testid="history-pick" title="Tick two runs to compare them" prop:checked=picked on:change=move |_| actions::toggle(&tick)/></td>
            <td class="num">{row.time}</td>
            <td class="module">{row.request}</td>
            <td class=status_class title=row.error.clone().unwrap_or_default()>{row.status}{row.error.is_some().then_some(" (error)")}</td>
            <td class="num">{row.duration}</td>
            <td><button class="small link" data-testid="history-vs-previous" title="Compare with the run before it" on:click=move |_| actions::compare_with_previous(&prev)>"vs previous"</button></td>
        </tr>
    }
}

/// `diff`: the two compared runs side by side.
#[component]
fn RunDiff() -> impl IntoView {
    let u = ui();
    let view_of = Memo::new(move |_| {
        let (a, b) = u.compared.get()?;
        u.runs.with(|rs| {
            let rs = rs.as_ref()?;
            let a = rs.iter().find(|r| r.id == a)?;
            let b = rs.iter().find(|r| r.id == b)?;
            Some(DiffView::of(a, b, actions::tz_offset_min()))
        })
    });
    move || {
        view_of.get().map(|d| {
            view! { <DiffBody d=d/> }
        })
    }
}

#[component]
fn DiffBody(d: DiffView) -> impl IntoView {
    let side = |r: &Row| format!("{} · {} · {} · {}", r.time, r.request, r.status, r.duration);
    let status = match d.status {
        Some((a, b)) => format!("{a} → {b}"),
        None => format!("{} in both", d.a.status),
    };
    let first = d.divergence_text();
    let first_call = d.first_divergence.as_ref().map(|s| s.call.clone());
    view! {
        <div class="diff" data-testid="diff">
            <div class="diff-sides">
                <div data-testid="diff-a"><span class="pill">"first"</span>" "{side(&d.a)}</div>
                <div data-testid="diff-b"><span class="pill">"second"</span>" "{side(&d.b)}</div>
            </div>
            <p class="diff-first" data-testid="diff-first" data-hostcall=first_call>{first}</p>
            <Section title="Request" empty=d.request_headers.is_empty() && d.request_body.is_empty() same="The same request headers and body.">
                <HeaderTable rows=d.request_headers.clone() testid="diff-request-headers"/>
                <LineDiff lines=d.request_body.clone() testid="diff-request-body"/>
            </Section>
            <h4>"Status"</h4>
            <p class=if d.status.is_some() { "diff-status changed" } else { "diff-status" } data-testid="diff-status">{status}</p>
            <Section title="Response headers" empty=d.headers.is_empty() same="The same headers.">
                <HeaderTable rows=d.headers.clone() testid="diff-headers"/>
            </Section>
            <Section title="Body" empty=d.body.is_empty() same="The same body.">
                <LineDiff lines=d.body.clone() testid="diff-body"/>
            </Section>
            <Section title="Logs" empty=d.logs.is_empty() same="The same log lines.">
                <LineDiff lines=d.logs.clone() testid="diff-logs"/>
            </Section>
            <h4>"Trace, call by call"</h4>
            <TraceDiff rows=d.trace.clone() left_out=d.trace_left_out/>
            <h4>"Timings"</h4>
            <TimingTable rows=d.timings.clone()/>
        </div>
    }
}

/// A heading and its rows, or a line saying both runs had the same.
#[component]
fn Section(
    title: &'static str,
    empty: bool,
    same: &'static str,
    children: Children,
) -> impl IntoView {
    view! {
        <h4>{title}</h4>
        {if empty { view! { <p class="muted small">{same}</p> }.into_any() } else { children().into_any() }}
    }
}

#[component]
fn HeaderTable(rows: Vec<HeaderRow>, testid: &'static str) -> impl IntoView {
    let absent = |v: Option<String>| v.unwrap_or_else(|| "(absent)".into());
    view! {
        {(!rows.is_empty()).then(|| view! {
            <table class="headers diff-headers" data-testid=testid>
                <tr><th></th><th>"first"</th><th>"second"</th></tr>
                {rows.iter().cloned().map(|h| {
                    let name = h.name.clone();
                    view! {
                        <tr class=h.change.class() data-header=name data-change=h.change.class()>
                            <th>{h.name}</th><td class="a">{absent(h.a)}</td><td class="b">{absent(h.b)}</td>
                        </tr>
                    }
                }).collect_view()}
            </table>
        })}
    }
}

#[component]
fn LineDiff(lines: Vec<Line>, testid: &'static str) -> impl IntoView {
    let shown = lines
        .iter()
        .map(|l| {
            let (class, mark, text) = line_parts(l);
            view! { <div class=format!("dl {class}") data-op=class><span class="mark">{mark}</span>{text.to_string()}</div> }
        })
        .collect_view();
    view! { <div class="line-diff" data-testid=testid>{shown}</div> }
}

/// The aligned traces, scrolled to the first divergence; *only differences* hides
/// the steps that are the same.
#[component]
fn TraceDiff(rows: Vec<TraceRow>, left_out: usize) -> impl IntoView {
    let only_changes = RwSignal::new(false);
    let wrap = NodeRef::<leptos::html::Div>::new();
    Effect::new(move |_| {
        only_changes.track();
        if let Some(w) = wrap.get() {
            scroll_to_first(&w);
        }
    });
    let n = |x: Option<usize>| x.map(|n| n.to_string()).unwrap_or_default();
    let body = rows
        .into_iter()
        .map(|t| {
            let kind = kind_class(t.kind);
            let class = if t.first { format!("{kind} first-divergence") } else { kind.to_string() };
            let call = t.call.clone();
            let (a, b) = (t.a.unwrap_or_default(), t.b.unwrap_or_default());
            let (a_title, b_title) = (a.clone(), b.clone());
            view! {
                <tr class=class data-kind=kind data-hostcall=call data-first-divergence=t.first.then_some("true") title=t.detail.clone().unwrap_or_default()>
                    <td class="num">{n(t.a_n)}</td>
                    <td class="num">{n(t.b_n)}</td>
                    <td class="module">{t.call}</td>
                    <td class="args" title=a_title>{a}</td>
                    <td class="args" title=b_title>{b}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <label class="small">
            <input type="checkbox" data-testid="diff-only-changes" prop:checked=move || only_changes.get() on:change=move |_| only_changes.update(|o| *o = !*o)/>
            " only the steps that differ"
        </label>
        <div class="trace-wrap diff-trace-wrap" node_ref=wrap>
            <table class="hist diff-trace" class:only-changes=move || only_changes.get() data-testid="diff-trace">
                <thead><tr><th>"#1"</th><th>"#2"</th><th>"call"</th><th>"first run"</th><th>"second run"</th></tr></thead>
                <tbody>{body}</tbody>
            </table>
        </div>
        {(left_out > 0).then(|| view! { <p class="muted small">{format!("{left_out} more steps not shown.")}</p> })}
    }
}

#[component]
fn TimingTable(rows: Vec<TimingRow>) -> impl IntoView {
    view! {
        <table class="headers diff-timings" data-testid="diff-timings">
            <tr><th></th><th>"first"</th><th>"second"</th><th>"difference"</th></tr>
            {rows.into_iter().map(|t| view! {
                <tr data-timing=t.label><th>{t.label}</th><td>{t.a}</td><td>{t.b}</td><td>{t.delta}</td></tr>
            }).collect_view()}
        </table>
    }
}

/// Scroll the trace's box (not the page) so the first divergence is in view.
fn scroll_to_first(wrap: &web_sys::Element) {
    use wasm_bindgen::JsCast;
    let row = wrap
        .query_selector("tr[data-first-divergence]")
        .ok()
        .flatten()
        .and_then(|r| r.dyn_into::<web_sys::HtmlElement>().ok());
    if let Some(row) = row {
        wrap.set_scroll_top((row.offset_top() - 60).max(0));
    }
}
