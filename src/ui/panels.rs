//! The right-hand side: Response, Logs, Trace, Stores, Cache and History tabs, and the timings.

use super::cache::CachePanel;
use super::state::{AppState, Phase, Tab, Timings};
use super::stores::StoresPanel;
use super::trace::TracePanel;
use edgeplay_web::cache_view::CacheOutcomes;
use edgeplay_web::format::{self, hex_dump, pretty_json, BodyView};
use leptos::prelude::*;

/// Tabs with all panels kept in the page (hidden when not selected).
#[component]
pub fn Panels() -> impl IntoView {
    let state = expect_context::<AppState>();
    let tab_button = move |tab: Tab, label: &'static str| {
        let count = move || match tab {
            Tab::Response => String::new(),
            Tab::Logs => format!(" ({})", state.logs.with(Vec::len)),
            Tab::Trace => format!(" ({})", state.trace.with(Vec::len)),
            Tab::Stores | Tab::Cache => String::new(),
            Tab::History => super::history_actions::count_label(),
        };
        let class = move || {
            if state.tab.get() == tab {
                "tab active"
            } else {
                "tab"
            }
        };
        view! {
            <button class=class data-tab=label on:click=move |_| state.tab.set(tab)>{label}{count}</button>
        }
    };
    let hidden = move |tab: Tab| move || state.tab.get() != tab;
    view! {
        <div class="tabs">
            {tab_button(Tab::Response, "Response")}
            {tab_button(Tab::Logs, "Logs")}
            {tab_button(Tab::Trace, "Trace")}
            {tab_button(Tab::Stores, "Stores")}
            {tab_button(Tab::Cache, "Cache")}
            {tab_button(Tab::History, "History")}
            <RunStatus/>
        </div>
        <div class="panel" class:hidden=hidden(Tab::Response)><ResponsePanel/></div>
        <div class="panel" class:hidden=hidden(Tab::Logs)><LogsPanel/></div>
        <div class="panel" class:hidden=hidden(Tab::Trace)><TracePanel/></div>
        <div class="panel" class:hidden=hidden(Tab::Stores)><StoresPanel/></div>
        <div class="panel" class:hidden=hidden(Tab::Cache)><CachePanel/></div>
        <div class="panel" class:hidden=hidden(Tab::History)><super::history::HistoryPanel/></div>
        <TimingsBar/>
        <super::limits::LimitGauges/>
    }
}

/// Running / done / stopped, with the CPU estimate.
#[component]
fn RunStatus() -> impl IntoView {
    let state = expect_context::<AppState>();
    let text = move || match state.phase.get() {
        Phase::Idle => String::new(),
        Phase::Running => "running…".into(),
        Phase::Stopped => "stopped".into(),
        Phase::Failed => "could not start".into(),
        Phase::Done => state
            .outcome
            .get()
            .map(|o| {
                format!(
                    "done · ~{:.2} ms CPU (estimate) · {} fuel",
                    o.cpu_ms_estimate, o.fuel
                )
            })
            .unwrap_or_default(),
    };
    let class = move || match state.phase.get() {
        Phase::Running => "run-status running",
        _ => "run-status",
    };
    view! { <span class=class data-testid="run-status">{text}</span> }
}

fn reason(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

/// Status, headers and body.
#[component]
fn ResponsePanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let status = move || match state.response.get() {
        Some(r) => format!("{} {}", r.status, reason(r.status)),
        None if state.phase.get() == Phase::Running => "waiting for the response…".into(),
        None => "—".into(),
    };
    let status_class = move || {
        let s = state.response.with(|r| r.as_ref().map(|r| r.status));
        match s {
            Some(200..=299) => "status ok",
            Some(300..=399) => "status redirect",
            Some(_) => "status err",
            None => "status",
        }
    };
    let note = move || {
        let r = state.response.get()?;
        let mut parts = Vec::new();
        if r.synthesized {
            parts.push("made by the host: the guest sent no response".to_string());
        }
        if r.streaming {
            let n = state.chunks.with(Vec::len);
            let last = state.chunks.with(|c| c.last().map(|c| c.at_ms));
            let mut s = format!("streamed: {n} chunk{}", if n == 1 { "" } else { "s" });
            if let Some(at) = last {
                s.push_str(&format!(", last at {}", format::millis(at)));
            }
            if state.body_aborted.get() {
                s.push_str(" — cut off (the client sees an incomplete response)");
            } else if state.body_complete.get() {
                s.push_str(" — complete");
            } else if state.phase.get() == Phase::Running {
                s.push_str(" — still arriving…");
            }
            parts.push(s);
        }
        Some(parts.join(" · "))
    };
    let headers = move || {
        state.response.with(|r| {
            r.as_ref()
                .map(|r| {
                    r.headers
                        .iter()
                        .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v).into_owned()))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    };
    // How the cache answered the run's backend requests (from the trace).
    let cache = Memo::new(move |_| state.trace.with(|t| CacheOutcomes::from_trace(t)));
    let cache_note = move || cache.with(CacheOutcomes::label);
    let all_hit = move || cache.with(CacheOutcomes::all_hit).to_string();
    view! {
        <div class="response">
            <div class="status-line">
                <span class=status_class data-testid="response-status">{status}</span>
                <span class="muted small">{note}</span>
                <Show when=move || cache.with(|c| c.label().is_some())>
                    <span class="cache-note small" data-testid="response-cache" data-all-hit=all_hit>{cache_note}</span>
                </Show>
            </div>
            <table class="headers" data-testid="response-headers">
                <tbody>
                    {move || headers()
                        .into_iter()
                        .map(|(n, v)| view! { <tr><th>{n}</th><td>{v}</td></tr> })
                        .collect_view()}
                </tbody>
            </table>
            <BodyPanel/>
        </div>
    }
}

fn content_type(state: &AppState) -> Option<String> {
    state.response.with(|r| {
        r.as_ref()
            .and_then(|r| r.headers.get("content-type"))
            .map(|v| String::from_utf8_lossy(v).into_owned())
    })
}

/// The body in the chosen view.
#[component]
fn BodyPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let auto_view = Memo::new(move |_| {
        let ct = content_type(&state);
        state
            .response_body
            .with(|b| BodyView::for_body(ct.as_deref(), b))
    });
    let view_kind = move || state.body_view.get().unwrap_or_else(|| auto_view.get());
    let is_html = move || {
        content_type(&state)
            .map(|c| c.to_ascii_lowercase().contains("html"))
            .unwrap_or(false)
    };
    let is_image = move || {
        content_type(&state)
            .map(|c| c.to_ascii_lowercase().starts_with("image/"))
            .unwrap_or(false)
    };
    let offered = move |v: BodyView| match v {
        BodyView::Html => is_html(),
        BodyView::Image => is_image(),
        _ => true,
    };
    let switcher = move || {
        BodyView::ALL
            .into_iter()
            .filter(|v| offered(*v))
            .map(|v| {
                let class = move || if view_kind() == v { "seg active" } else { "seg" };
                view! { <button class=class on:click=move |_| state.body_view.set(Some(v))>{v.label()}</button> }
            })
            .collect_view()
    };
    let size = move || format::size(state.response_body.with(Vec::len));
    view! {
        <div class="body-head">
            <span class="muted small">"Body · "{size}</span>
            <div class="segmented">{switcher}</div>
        </div>
        <div class="body" data-testid="response-body">
            {move || render_body(&state, view_kind())}
        </div>
    }
}

fn render_body(state: &AppState, kind: BodyView) -> AnyView {
    let body = state.response_body.get();
    match kind {
        BodyView::Text => {
            view! { <pre class="body-text">{String::from_utf8_lossy(&body).into_owned()}</pre> }
                .into_any()
        }
        BodyView::Json => match pretty_json(&body) {
            Some(p) => view! { <pre class="body-text json">{p}</pre> }.into_any(),
            None => view! {
                <pre class="body-text">{String::from_utf8_lossy(&body).into_owned()}</pre>
            }
            .into_any(),
        },
        BodyView::Hex => {
            view! { <pre class="body-text hex">{hex_dump(&body, 64 * 1024)}</pre> }.into_any()
        }
        BodyView::Image => {
            let ct = content_type(state).unwrap_or_else(|| "image/png".into());
            let url = object_url(&body, &ct).unwrap_or_default();
            view! { <img class="body-image" src=url alt="response body"/> }.into_any()
        }
        BodyView::Html => {
            let html = String::from_utf8_lossy(&body).into_owned();
            // sandbox="": no scripts, no same-origin, no forms, no top navigation.
            view! { <iframe class="body-html" sandbox="" srcdoc=html title="rendered response body"></iframe> }
                .into_any()
        }
    }
}

thread_local! {
    static LAST_URL: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// A blob URL for an image body (the previous one is released).
fn object_url(bytes: &[u8], content_type: &str) -> Option<String> {
    let parts = js_sys::Array::of1(&js_sys::Uint8Array::from(bytes));
    let opts = web_sys::BlobPropertyBag::new();
    opts.set_type(content_type);
    let blob = web_sys::Blob::new_with_u8_array_sequence_and_options(&parts, &opts).ok()?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).ok()?;
    LAST_URL.with(|l| {
        if let Some(old) = l.borrow_mut().replace(url.clone()) {
            let _ = web_sys::Url::revoke_object_url(&old);
        }
    });
    Some(url)
}

/// stdout, stderr and log endpoints, in order.
#[component]
fn LogsPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    view! {
        <div class="logs" data-testid="logs">
            <Show when=move || state.logs.with(Vec::is_empty)>
                <div class="muted empty">"No log lines yet. stdout, stderr and named log endpoints show here, in order."</div>
            </Show>
            <For
                each=move || state.logs.get()
                key=|l| l.n
                children=move |l| {
                    let class = match l.source.as_str() {
                        "stdout" => "log stdout",
                        "stderr" => "log stderr",
                        "edgeplay" => "log note",
                        _ => "log endpoint",
                    };
                    view! {
                        <div class=class data-stream=l.source.clone()>
                            <span class="log-source">{l.source.clone()}</span>
                            <span class="log-line">{l.line.clone()}</span>
                        </div>
                    }
                }
            />
        </div>
    }
}

fn timing_parts(t: &Timings) -> Vec<(&'static str, String, &'static str)> {
    let mut parts = Vec::new();
    let mut add = |label: &'static str, v: Option<f64>, title: &'static str| {
        if let Some(v) = v {
            parts.push((label, format::millis(v), title));
        }
    };
    add(
        "read",
        t.read_ms,
        "reading the file (or downloading the example)",
    );
    add(
        "load",
        t.load_ms,
        "validate, instrument, compile and link, in the worker",
    );
    add(
        "instantiate",
        t.instantiate_ms,
        "a fresh instance for this request",
    );
    add(
        "first byte",
        t.first_byte_ms,
        "from the start of the run to the response head",
    );
    add("run", t.run_ms, "from the start of the run to its end");
    add(
        if t.from_drop {
            "drop → answer"
        } else {
            "click → answer"
        },
        t.wall_ms,
        "what you waited, end to end",
    );
    parts
}

/// The timings from load to answer.
#[component]
fn TimingsBar() -> impl IntoView {
    let state = expect_context::<AppState>();
    let items = move || {
        state
            .timings
            .with(timing_parts)
            .into_iter()
            .map(|(label, value, title)| {
                view! { <span class="timing" title=title><span class="muted">{label}</span>" "{value}</span> }
            })
            .collect_view()
    };
    let request_id = move || state.request_id.get().map(|id| format!("request id {id}"));
    // The raw numbers, for scripts (the benchmark reads them).
    let ms = move |f: fn(&Timings) -> Option<f64>| {
        move || state.timings.with(f).map(|v| format!("{v:.3}"))
    };
    view! {
        <div
            class="timings"
            data-testid="timings"
            data-read-ms=ms(|t| t.read_ms)
            data-load-ms=ms(|t| t.load_ms)
            data-instantiate-ms=ms(|t| t.instantiate_ms)
            data-first-byte-ms=ms(|t| t.first_byte_ms)
            data-run-ms=ms(|t| t.run_ms)
            data-wall-ms=ms(|t| t.wall_ms)
        >
            {items}
            <span class="muted small request-id">{request_id}</span>
        </div>
    }
}
