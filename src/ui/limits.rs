//! Production limits you can see: the switch that enforces the platform's limits
//! (on by default, kept between visits) and, after each run, a gauge per limit —
//! estimated CPU against 50 ms, heap against 128 MB, backend requests against 32,
//! dictionary lookups against 16, wall time against 2 minutes, package size against
//! 100 MB. A limit the run passed is named in red with what the platform would have
//! done. The numbers are the core's ([`edgeplay_host::limits::gauges`]), the same the
//! runner prints with `--limits`.

use super::state::AppState;
use edgeplay_host::limits::{gauges, Gauge};
use edgeplay_web::storage;
use leptos::prelude::*;

/// Where the switch is kept between visits.
const SWITCH_KEY: &str = "edgeplay.production-limits";

/// The saved switch (on unless turned off), saved again whenever it changes: the
/// [`AppState::production_limits`] signal.
pub fn restore_switch() -> RwSignal<bool> {
    let on = RwSignal::new(storage::get(SWITCH_KEY).as_deref() != Some("0"));
    Effect::new(move |_| storage::set(SWITCH_KEY, if on.get() { "1" } else { "0" }));
    on
}

/// `production-limits`: the switch, beside the CPU limit.
#[component]
pub fn LimitsSwitch() -> impl IntoView {
    let on = expect_context::<AppState>().production_limits;
    view! {
        <label
            class="field inline check"
            title="Enforce the platform's production limits: the CPU limit (an estimate), 2 minutes of wall time and 16 dictionary lookups per execution. Off, a run has none of them (the heap and backend request limits always apply)."
        >
            <input type="checkbox" data-testid="production-limits" bind:checked=on/>
            <span>"production limits"</span>
        </label>
    }
}

/// The gauges of the last run: what the core computes from the run's usage.
fn run_gauges(state: &AppState) -> Option<Vec<Gauge>> {
    let usage = state.usage.get()?;
    let outcome = state.outcome.get()?;
    let fuel_per_ms = if outcome.cpu_ms_estimate > 0.0 {
        (outcome.fuel as f64 / outcome.cpu_ms_estimate).round() as u64
    } else {
        edgeplay_host::limits::DEFAULT_FUEL_PER_CPU_MS
    };
    let wall_us = state.timings.with(|t| t.run_ms).unwrap_or(0.0) * 1000.0;
    let package = state
        .guest
        .with(|g| g.as_ref().map_or(0, |g| g.info.size as u64));
    Some(gauges(&usage, fuel_per_ms, wall_us as u64, package))
}

/// `limits`: one gauge per limit (`.gauge[data-gauge]`, `data-over` on a limit the
/// run passed, a `<meter>` each), after a run.
#[component]
pub fn LimitGauges() -> impl IntoView {
    let state = expect_context::<AppState>();
    let rows = move || {
        run_gauges(&state)
            .unwrap_or_default()
            .into_iter()
            .map(gauge_row)
            .collect_view()
    };
    let shown = move || state.usage.with(Option::is_some);
    let enforced = move || state.production_limits.get();
    view! {
        <Show when=shown>
            <div class="limits" data-testid="limits">
                <span class="muted small">
                    {move || if enforced() { "production limits (enforced)" } else { "production limits (not enforced)" }}
                </span>
                {rows}
            </div>
        </Show>
    }
}

fn gauge_row(g: Gauge) -> impl IntoView {
    let unit = if g.unit.is_empty() {
        String::new()
    } else {
        format!(" {}", g.unit)
    };
    let used = if g.unit.is_empty() {
        format!("{:.0}", g.used)
    } else {
        format!("{:.2}", g.used)
    };
    let text = format!("{used}{unit} of {:.0}{unit}", g.limit);
    let over = g.over.then(|| format!("over: the platform {}", g.platform));
    let key = g.name.split(' ').next().unwrap_or_default().to_string();
    view! {
        <span class="gauge" class:over=g.over data-gauge=key data-over=g.over.to_string() title=g.platform.clone()>
            <span class="muted">{g.name.clone()}</span>" "
            <meter min="0" max=g.limit.to_string() value=g.used.min(g.limit).to_string()></meter>" "
            <span class="gauge-value">{text}</span>
            {over.map(|o| view! { <span class="gauge-over">" "{o}</span> })}
        </span>
    }
}
