//! The backend waterfall at the top of the trace panel: a bar per backend fetch on a
//! time axis shared by every fetch (from the start of the execution to its end), so
//! parallel sends show as overlapping bars; KV operations and cache work spans are
//! rows too, and a fetch the cache answered says so (`data-cache`). Each bar is the request's start to its
//! end, its lighter part the wait for the first byte. The model and every label come
//! from [`edgeplay_web::waterfall`]; a click selects the fetch's trace event.

use super::state::AppState;
use edgeplay_web::waterfall::{BarGeometry, FetchRow, Waterfall};
use leptos::prelude::*;

/// The waterfall (nothing when the execution made no backend fetch).
#[component]
pub fn BackendWaterfall() -> impl IntoView {
    let state = expect_context::<AppState>();
    let model = Memo::new(move |_| state.trace.with(|t| Waterfall::from_trace(t)));
    let has_rows = move || model.with(|m| !m.is_empty());
    view! {
        <Show when=has_rows>
            <WaterfallChart model=model/>
        </Show>
    }
}

/// The axis and the rows.
#[component]
fn WaterfallChart(model: Memo<Waterfall>) -> impl IntoView {
    let summary = move || model.with(Waterfall::summary);
    let span_us = move || model.with(|m| format!("{:.0}", m.span_us));
    // A row's geometry depends on the axis, which grows while events arrive: the key
    // includes the span so rows are redrawn when it changes.
    let rows = move || {
        model.with(|m| {
            m.rows
                .iter()
                .map(|r| (r.clone(), m.geometry(r)))
                .collect::<Vec<_>>()
        })
    };
    let row_key = move |(r, g): &(FetchRow, BarGeometry)| {
        (
            r.seq,
            g.left.to_bits(),
            g.width.to_bits(),
            r.end_us.to_bits(),
        )
    };
    view! {
        <section class="waterfall" data-testid="waterfall" data-span-us=span_us>
            <div class="wf-head">
                <span class="wf-title">"Backend waterfall"</span>
                <span class="muted small" data-testid="waterfall-summary">{summary}</span>
                <span class="wf-legend muted small">
                    <span class="wf-key wait"></span>"waiting for the first byte"
                    <span class="wf-key recv"></span>"receiving"
                    <span class="wf-key mock"></span>"mock"
                    <span class="wf-key kv"></span>"KV operation"
                    <span class="wf-key hit"></span>"cache HIT"
                    <span class="wf-key cache-op"></span>"cache operation"
                    <span class="wf-key failed"></span>"failed"
                </span>
            </div>
            <WaterfallAxis model=model/>
            <For each=rows key=row_key children=move |(row, geometry)| view! { <WaterfallRow row=row geometry=geometry/> }/>
        </section>
    }
}

/// Tick marks over the track.
#[component]
fn WaterfallAxis(model: Memo<Waterfall>) -> impl IntoView {
    let ticks = move || {
        model
            .with(Waterfall::ticks)
            .into_iter()
            .map(|(pct, label)| {
                let style = tick_style(pct);
                view! { <span class="wf-tick" style=style>{label}</span> }
            })
            .collect_view()
    };
    view! {
        <div class="wf-axis">
            <div class="wf-label"></div>
            <div class="wf-track wf-ticks">{ticks}</div>
            <div class="wf-meta"></div>
        </div>
    }
}

/// A tick at `pct` percent; the last one is anchored by its right edge.
fn tick_style(pct: f64) -> String {
    if pct >= 99.9 {
        "right: 0".to_string()
    } else {
        format!("left: {pct:.3}%")
    }
}

/// One fetch: name and request on the left, the bar, status / size / time on the right,
/// and under it the failure message or the driver's notes.
#[component]
fn WaterfallRow(row: FetchRow, geometry: BarGeometry) -> impl IntoView {
    let state = expect_context::<AppState>();
    let seq = row.seq;
    let base_class = row.class();
    let class = move || {
        if state.selected.get() == Some(seq) {
            format!("{base_class} selected")
        } else {
            base_class.clone()
        }
    };
    let select = move |_| state.selected.set(Some(seq));
    let status_class = if row.failed() {
        "wf-status err"
    } else {
        "wf-status"
    };
    let message_class = if row.failed() {
        "wf-note err"
    } else {
        "wf-note"
    };
    let message = row.note.clone();
    let not_sent = row.not_sent_label();
    // The data-* hooks: times in whole µs since the execution started.
    let us = |v: f64| format!("{v:.0}");
    let (start_us, first_byte_us, end_us) =
        (us(row.start_us), us(row.first_byte_us), us(row.end_us));
    let failed = row.failed().then_some("true");
    let headers_not_sent = row.headers_not_sent.join(",");
    view! {
        <div
            class=class
            data-backend=row.backend.clone()
            data-seq=seq
            data-start-us=start_us
            data-first-byte-us=first_byte_us
            data-end-us=end_us
            data-status=row.status_label()
            data-mock=row.mock.clone()
            data-failed=failed
            data-headers-not-sent=headers_not_sent
            data-cache=row.cache.clone()
            on:click=select
        >
            <div class="wf-line">
                <div class="wf-label" title=row.request_label()>
                    <div class="wf-label-top">
                        <span class="wf-name">{row.backend.clone()}</span>
                        <span class="wf-mock">{row.mock_label()}</span>
                        <span class="wf-cache" data-cache=row.cache.clone()>{row.cache_label()}</span>
                    </div>
                    <div class="wf-req">{row.request_label()}</div>
                </div>
                <div class="wf-track">
                    <div class="wf-bar" style=geometry.bar_style() title=row.bar_title()>
                        <div class="wf-wait" style=geometry.wait_style()></div>
                    </div>
                </div>
                <div class="wf-meta">
                    <span class=status_class>{row.status_label()}</span>
                    <span class="wf-bytes">{row.bytes_label()}</span>
                    <span class="wf-time">{row.timing_label()}</span>
                </div>
            </div>
            <WaterfallNotes message=message message_class=message_class not_sent=not_sent/>
        </div>
    }
}

/// The failure message (or the driver's notes) and the headers not sent, when any.
#[component]
fn WaterfallNotes(
    message: Option<String>,
    message_class: &'static str,
    not_sent: String,
) -> impl IntoView {
    let not_sent = (!not_sent.is_empty()).then_some(not_sent);
    view! {
        {not_sent.map(|t| view! { <div class="wf-note wf-not-sent">{t}</div> })}
        {message.map(|m| view! { <div class=message_class data-testid="waterfall-note">{m}</div> })}
    }
}
