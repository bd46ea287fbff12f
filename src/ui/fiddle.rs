//! The fiddle's parts of the page: the request list (`requests`, `add-request`,
//! `run-all`), the assertions of the selected request (`assertions`,
//! `assertion-result`), and Share / Save as file / Open file (`share`,
//! `share-link`, `save-fiddle`, `open-fiddle`).

use super::fiddle_actions::{self as actions, results_of};
use super::state::{AppState, Phase};
use edgeplay_host::fiddle::AssertionResult;
use leptos::prelude::*;

/// Pass and fail counts of one request's assertions against its last run.
fn counts(text: &str, run: Option<&super::state::RequestRun>) -> String {
    match results_of(text, run.and_then(|r| r.record.as_ref())) {
        None => String::new(),
        Some(Err(_)) => "syntax error".into(),
        Some(Ok(rs)) => {
            let pass = rs.iter().filter(|r| r.pass).count();
            format!("{pass}/{} ✓", rs.len())
        }
    }
}

/// The requests of the fiddle, in order, with Add and Run all.
#[component]
pub fn RequestList() -> impl IntoView {
    let state = expect_context::<AppState>();
    let f = state.fiddle;
    let busy = move || state.phase.get() == Phase::Running || f.running_all.get();
    let rows = move || {
        let current = f.current.get();
        let live = f.assertions.get();
        let runs = f.runs.get();
        f.requests
            .get()
            .into_iter()
            .enumerate()
            .map(|(i, req)| {
                let run = runs.get(i).cloned().flatten();
                let text = if i == current { live.clone() } else { req.assertions.clone() };
                let tally = counts(&text, run.as_ref());
                let all_pass = results_of(&text, run.as_ref().and_then(|r| r.record.as_ref()))
                    .map(|r| r.is_ok_and(|rs| rs.iter().all(|x| x.pass)));
                let status = run
                    .as_ref()
                    .and_then(|r| r.response.as_ref().map(|resp| resp.status.to_string()))
                    .unwrap_or_default();
                let class = if i == current { "request-row selected" } else { "request-row" };
                let delay = req.delay_ms;
                view! {
                    <li class=class data-request-index=i.to_string() data-status=status.clone()>
                        <button class="request-pick" on:click=move |_| actions::select(state, i) disabled=busy>
                            <span class="request-n">{format!("{}.", i + 1)}</span>
                            <span class="request-method">{req.method.clone()}</span>
                            <span class="request-path">{req.path.clone()}</span>
                        </button>
                        {(!status.is_empty()).then(|| view! { <span class="pill">{status.clone()}</span> })}
                        {(!tally.is_empty()).then(|| {
                            let cls = match all_pass { Some(true) => "pill ok", Some(false) => "pill bad", None => "pill" };
                            view! { <span class=cls data-testid="request-tally">{tally.clone()}</span> }
                        })}
                        {(i > 0).then(|| view! {
                            <label class="delay" title="Milliseconds to wait after the previous request before sending this one">
                                "wait "
                                <input type="number" min="0" step="100" data-testid="request-delay" prop:value=delay.to_string()
                                    on:change=move |ev| actions::set_delay(state, i, event_target_value(&ev).trim().parse().unwrap_or(0))/>
                                " ms"
                            </label>
                        })}
                        <button class="link remove" title="Remove this request" data-testid="remove-request"
                            disabled=move || busy() || f.requests.with(|r| r.len() <= 1)
                            on:click=move |_| actions::remove_request(state, i)>"×"</button>
                    </li>
                }
            })
            .collect_view()
    };
    let cannot_run = move || busy() || super::js_actions::cannot_run(state);
    view! {
        <section class="card requests-card">
            <div class="card-head">
                <h2>"Requests"</h2>
                <div class="card-actions">
                    <button class="small" data-testid="add-request" disabled=busy on:click=move |_| actions::add_request(state)>"+ Add"</button>
                    <button class="small primary" data-testid="run-all" disabled=cannot_run on:click=move |_| actions::run_all(state)
                        title="Run every request in order against the same service state (cache, KV, rate counters carry over)">
                        {move || if f.running_all.get() { "Running all…" } else { "Run all" }}
                    </button>
                </div>
            </div>
            <ol class="request-list" data-testid="requests">{rows}</ol>
            <Recordings/>
        </section>
    }
}

/// Record backends, and the recordings the fiddle carries.
#[component]
fn Recordings() -> impl IntoView {
    let state = expect_context::<AppState>();
    let f = state.fiddle;
    let count = move || f.recordings.with(Vec::len);
    let summary = move || {
        match (count(), f.record.get()) {
        (0, false) => String::new(),
        (0, true) => "The next runs record every backend exchange that reaches the network.".into(),
        (n, true) => format!("{n} recorded; the next runs record more (the network answers)."),
        (n, false) => format!(
            "{n} recorded backend exchange{}: backend requests are answered from {} (matched by backend, method and URL), with no network.",
            if n == 1 { "" } else { "s" },
            if n == 1 { "it" } else { "them" }
        ),
    }
    };
    view! {
        <div class="recordings row small">
            <label class="check" title="Keep each backend exchange (request, response head and body, timing) so the fiddle replays without its origin, offline and with no CORS; the link carries them">
                <input type="checkbox" data-testid="record" bind:checked=f.record/>
                "record backends"
            </label>
            <span class="muted" data-testid="recordings" data-count=move || count().to_string()>{summary}</span>
            <Show when=move || { count() > 0 }>
                <button class="small" data-testid="clear-recordings" on:click=move |_| actions::clear_recordings(state)>"Clear"</button>
            </Show>
        </div>
        {move || f.record_note.get().map(|n| view! { <div class="muted small" data-testid="record-note">{n}</div> })}
    }
}

/// The selected request's assertions and their results.
#[component]
pub fn AssertionsEditor() -> impl IntoView {
    let state = expect_context::<AppState>();
    let f = state.fiddle;
    let results = Memo::new(move |_| {
        let text = f.assertions.get();
        let i = f.current.get();
        f.runs.with(|r| {
            let rec = r
                .get(i)
                .and_then(|x| x.as_ref())
                .and_then(|x| x.record.as_ref());
            results_of(&text, rec)
        })
    });
    let ran = move || {
        let i = f.current.get();
        f.runs.with(|r| {
            r.get(i)
                .is_some_and(|x| x.as_ref().is_some_and(|x| x.record.is_some()))
        })
    };
    let body = move || {
        match results.get() {
        None if f.assertions.with(|t| t.trim().is_empty()) => view! {
            <div class="muted small">
                "One per line, as in Fastly Fiddle: "<code>"[label] TARGET OPERATOR VALUE"</code>", e.g. "
                <code>"clientFetch.status is 200"</code>", "<code>"clientFetch.resp includes \"content-type: text/html\""</code>", "
                <code>"events.where(fnName=send).count() is 1"</code>"."
            </div>
        }
        .into_any(),
        None => view! { <div class="muted small" data-testid="assertions-pending">
            {move || if ran() { "" } else { "Run the request to check them." }}
        </div> }
        .into_any(),
        Some(Err(e)) => view! {
            <div class="config-status err" data-testid="assertion-error" data-line=e.line.to_string()>
                {format!("✗ line {}: {}", e.line, e.message)}
            </div>
        }
        .into_any(),
        Some(Ok(rs)) => {
            let pass = rs.iter().filter(|r| r.pass).count();
            let total = rs.len();
            view! {
                <div class="assertion-summary" data-testid="assertion-summary">{format!("{pass} of {total} passed")}</div>
                <ul class="assertion-results">{rs.into_iter().map(|r| view! { <AssertionRow result=r/> }).collect_view()}</ul>
            }
            .into_any()
        }
    }
    };
    view! {
        <section class="card assertions-card">
            <h2>"Assertions"</h2>
            <textarea class="code" data-testid="assertions" rows="4" spellcheck="false"
                placeholder="clientFetch.status is 200" bind:value=f.assertions></textarea>
            {body}
        </section>
    }
}

#[component]
fn AssertionRow(result: AssertionResult) -> impl IntoView {
    let class = if result.pass {
        "assertion pass"
    } else {
        "assertion fail"
    };
    let mark = if result.pass { "✓" } else { "✗" };
    view! {
        <li class=class data-testid="assertion-result" data-pass=result.pass.to_string() data-line=result.line.to_string()>
            <span class="mark">{mark}</span>
            <span class="name">{result.name.clone()}</span>
            <span class="muted">" expected "</span><code class="expected">{result.expected.clone()}</code>
            <span class="muted">", actual "</span><code class="actual">{result.actual.clone()}</code>
        </li>
    }
}

/// Share, Save as file and Open file, in the top bar; the Share box below it.
#[component]
pub fn FiddleControls() -> impl IntoView {
    let state = expect_context::<AppState>();
    let on_open = move |ev: web_sys::Event| {
        if let Some(file) = super::picked_file(&ev) {
            super::controller::open_file(state, file);
        }
    };
    view! {
        <div class="fiddle-controls">
            <button data-testid="share" on:click=move |_| actions::share(state) title="A link that holds the whole fiddle: nothing is uploaded">"Share"</button>
            <button data-testid="save-fiddle" on:click=move |_| actions::save_file(state) title="Save the fiddle (guest, fastly.toml, requests, assertions) as a file">"Save as file"</button>
            <label class="button file-button" title="Open a fiddle file (.json) or a Fastly CLI package (pkg/NAME.tar.gz)">
                "Open file…"
                <input type="file" accept=".json,.gz,.tgz,application/json,application/gzip" data-testid="open-fiddle" on:change=on_open/>
            </label>
        </div>
    }
}

/// The Share box: the link, its size, the secrets choice, and what was left out.
#[component]
pub fn ShareBox() -> impl IntoView {
    let state = expect_context::<AppState>();
    let f = state.fiddle;
    let close = move |_| f.share_open.set(false);
    let remake = move |_| actions::share(state);
    let copy = move |_| {
        if let Some(s) = f.share.get_untracked() {
            let clip = window().navigator().clipboard();
            let _ = clip.write_text(&s.link);
        }
    };
    let link = move || f.share.get().map(|s| s.link).unwrap_or_default();
    let size = move || {
        let n = link().len();
        if n == 0 {
            String::new()
        } else {
            format!("{n} characters ({})", edgeplay_web::format::size(n))
        }
    };
    let note = move || {
        f.share.get().and_then(|s| {
            s.note.map(|n| {
                let class = if s.warn { "warning" } else { "muted small" };
                view! { <div class=class data-testid="share-note">{n}</div> }
            })
        })
    };
    view! {
        <Show when=move || f.share_open.get()>
            <section class="card share-box" data-testid="share-box">
                <div class="card-head">
                    <h2>"Share"</h2>
                    <button class="link" title="Close" on:click=close>"×"</button>
                </div>
                <div class="muted small">"The whole fiddle is in the link's fragment (after #): nothing is uploaded anywhere."</div>
                <textarea class="code share-link" data-testid="share-link" readonly rows="3" prop:value=link></textarea>
                <div class="row small">
                    <span data-testid="share-size">{size}</span>
                    <button class="small" on:click=copy disabled=move || link().is_empty()>"Copy"</button>
                    <label class="check" title="Secret stores' secrets are left out of links unless you tick this">
                        <input type="checkbox" data-testid="share-secrets" bind:checked=f.share_secrets on:change=remake/>
                        "include secrets"
                    </label>
                </div>
                <label class="field small">
                    <span>"Guest URL "<span class="muted">"(for a guest too big for a link: a .wasm the link points to, fetched with CORS and checked against its SHA-256)"</span></span>
                    <input type="text" data-testid="share-guest-url" spellcheck="false" placeholder="https://example.com/app.wasm" bind:value=f.guest_url on:change=remake/>
                </label>
                {note}
            </section>
        </Show>
    }
}

/// What the last opened fiddle held.
#[component]
pub fn OpenedNote() -> impl IntoView {
    let state = expect_context::<AppState>();
    view! {
        <Show when=move || state.fiddle.opened.with(Option::is_some)>
            <div class="banner notice" data-testid="opened">
                {move || format!("Opened: {}", state.fiddle.opened.get().unwrap_or_default())}
                <button class="link" title="Dismiss" on:click=move |_| state.fiddle.opened.set(None)>"×"</button>
            </div>
        </Show>
    }
}
