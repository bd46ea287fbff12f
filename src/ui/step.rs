//! Step-through in the tab: the *Step* switch beside Run, the breakpoints, and while a
//! run is paused at a hostcall the paused call decoded with *Step*, *Continue* (to
//! the next breakpoint) and *Run to end* (Stop is the usual Stop). The worker pauses
//! the guest ([`edgeplay_host::step`]) and waits for [`ToWorker::StepAnswer`]; the
//! page stays responsive and the trace so far is in the trace panel.

use super::controller;
use super::state::{AppState, Phase};
use edgeplay_host::step::{show_value, Breakpoint, PausedAt, PendingCall, StepPolicy};
use edgeplay_web::protocol::{StepAnswer, ToWorker};
use leptos::prelude::*;

/// The step-through signals (one set per page).
#[derive(Clone, Copy)]
pub struct StepUi {
    /// Step mode: runs pause before their first hostcall.
    pub on: RwSignal<bool>,
    /// Break on backend sends, KV calls, cache calls, statuses other than OK.
    pub send: RwSignal<bool>,
    /// Break on KV store calls.
    pub kv: RwSignal<bool>,
    /// Break on cache calls.
    pub cache: RwSignal<bool>,
    /// Break after a status other than OK.
    pub status: RwSignal<bool>,
    /// More breakpoints: modules or `module::name`, separated by spaces or commas.
    pub more: RwSignal<String>,
    /// The call the current run is paused at, with the run's id.
    pub paused: RwSignal<Option<(u32, PendingCall)>>,
    /// Pauses so far on this page (`data-pause` of the paused call: a test waits for the next).
    pub pauses: RwSignal<u32>,
}

thread_local! {
    static UI: StepUi = StepUi {
        on: RwSignal::new(false),
        send: RwSignal::new(false),
        kv: RwSignal::new(false),
        cache: RwSignal::new(false),
        status: RwSignal::new(false),
        more: RwSignal::new(String::new()),
        paused: RwSignal::new(None),
        pauses: RwSignal::new(0),
    };
}

/// The page's step-through signals.
pub fn ui() -> StepUi {
    UI.with(|u| *u)
}

/// The breakpoints the page has set (a spec that does not parse is left out; the
/// input shows it as invalid).
pub fn breakpoints() -> Vec<Breakpoint> {
    let u = ui();
    let mut out = Vec::new();
    for (on, bp) in [
        (u.send, Breakpoint::Send),
        (u.kv, Breakpoint::Kv),
        (u.cache, Breakpoint::Cache),
        (u.status, Breakpoint::Status),
    ] {
        if on.get_untracked() {
            out.push(bp);
        }
    }
    out.extend(parse_more(&u.more.get_untracked()).into_iter().flatten());
    out
}

/// The module / `module::name` specs of the text input (`Err` for one that does not parse).
fn parse_more(text: &str) -> Vec<Result<Breakpoint, String>> {
    text.split([',', ' ', '\n'])
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.parse::<Breakpoint>().map_err(|e| e.to_string()))
        .collect()
}

/// Where a run started now pauses: with step mode, before its first hostcall; with
/// breakpoints only, at the first one; `None` without either.
pub fn policy() -> Option<StepPolicy> {
    let bps = breakpoints();
    if ui().on.get_untracked() {
        Some(StepPolicy::stepping(bps))
    } else if !bps.is_empty() {
        Some(StepPolicy::at(bps))
    } else {
        None
    }
}

/// The worker paused run `run_id` at `call`.
pub fn paused(run_id: u32, call: PendingCall) {
    let u = ui();
    u.pauses.update(|n| *n += 1);
    u.paused.set(Some((run_id, call)));
}

/// Answer the paused run.
fn answer(state: AppState, answer: StepAnswer) {
    let u = ui();
    let Some((run_id, _)) = u.paused.get_untracked() else {
        return;
    };
    u.paused.set(None);
    controller::post(
        state,
        &ToWorker::StepAnswer {
            run_id,
            answer,
            breakpoints: breakpoints(),
        },
    );
}

/// The Step switch, the breakpoints, the step buttons and the paused call.
#[component]
pub fn StepControls() -> impl IntoView {
    let state = expect_context::<AppState>();
    let u = ui();
    let is_paused = move || {
        state.phase.get() == Phase::Running
            && u.paused
                .with(|p| matches!(p, Some((id, _)) if *id == state.run_id.get()))
    };
    let not_paused = move || !is_paused();
    let bad_more = move || {
        u.more
            .with(|t| parse_more(t).into_iter().find_map(Result::err))
            .unwrap_or_default()
    };
    let check = |sig: RwSignal<bool>, name: &'static str, title: &'static str| {
        view! {
            <label class="check" title=title>
                <input type="checkbox" data-break=name bind:checked=sig/>
                <span>{name}</span>
            </label>
        }
    };
    view! {
        <div class="step-controls">
            <label class="check step-switch" title="Step through the guest's hostcalls: each run pauses before its first hostcall; Step runs one call, Continue runs to the next breakpoint">
                <input type="checkbox" data-testid="step-mode" bind:checked=u.on/>
                <span>"Step"</span>
            </label>
            <Show when=move || u.on.get() || is_paused()>
                <button class="small" data-testid="step" disabled=not_paused on:click=move |_| answer(state, StepAnswer::Step)>"Step"</button>
                <button class="small" data-testid="continue" disabled=not_paused on:click=move |_| answer(state, StepAnswer::Continue)>"Continue"</button>
                <button class="small" data-testid="run-to-end" disabled=not_paused on:click=move |_| answer(state, StepAnswer::RunToEnd)>"Run to end"</button>
            </Show>
            <details class="step-breakpoints" data-testid="breakpoints">
                <summary>"Breakpoints"</summary>
                <div class="step-break-menu">
                    {check(u.send, "send", "Pause before a backend send")}
                    {check(u.kv, "kv", "Pause before a KV store call")}
                    {check(u.cache, "cache", "Pause before a cache call")}
                    {check(u.status, "status", "Pause after a call that returned a status other than OK")}
                    <input type="text" data-testid="breakpoint-specs" spellcheck="false" placeholder="fastly_http_body::write, fastly_log" bind:value=u.more class:invalid=move || !bad_more().is_empty() title=bad_more/>
                </div>
            </details>
            <Show when=is_paused>
                <PendingCallView/>
            </Show>
        </div>
    }
}

/// The paused call: its import, when it paused, and each argument decoded.
#[component]
fn PendingCallView() -> impl IntoView {
    let u = ui();
    let call = move || u.paused.get().map(|(_, c)| c);
    let import = move || call().map(|c| c.import()).unwrap_or_default();
    let when = move || match call().map(|c| c.at) {
        Some(PausedAt::After { code, status }) => {
            format!("paused after it returned {status} ({code})")
        }
        _ => "paused before it runs".to_string(),
    };
    let rows = move || {
        call()
            .map(|c| c.args)
            .unwrap_or_default()
            .into_iter()
            .map(|a| {
                let value = a.value.as_ref().map(show_value).unwrap_or_default();
                view! {
                    <tr data-arg=a.name.clone()>
                        <td class="mono">{a.name.clone()}</td>
                        <td class="mono">{a.raw}</td>
                        <td class="mono">{value}</td>
                        <td class="muted">{a.about.clone().unwrap_or_default()}</td>
                    </tr>
                }
            })
            .collect_view()
    };
    // The card of the paused call, with the status it returned when it paused after.
    let explain = move || {
        call().map(|c| {
            let status = match c.at {
                PausedAt::After { status, .. } => Some(status.to_string()),
                _ => None,
            };
            view! { <super::card::ExplainButton module=c.module name=c.name status=status/> }
        })
    };
    view! {
        <div class="step-pending card" data-testid="pending-call" data-hostcall=import data-pause=move || u.pauses.get()>
            <h3><code>{import}</code>" "<span class="muted">{when}</span>" "{explain}</h3>
            <table>
                <thead><tr><th>"argument"</th><th>"raw"</th><th>"decoded"</th><th>"what it is"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}
