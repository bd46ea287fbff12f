//! The Profile view, under the backend waterfall: where a run's time, fuel and memory
//! went, from the [`Profile`] the worker computes with the core and posts with the
//! run's result. The time split (guest CPU, hostcalls, waiting on I/O), the guest's
//! heap over time (an SVG curve; its samples are in `data-heap-points` as
//! `µs:bytes` pairs), the flame graph of the guest's own functions (fuel per hostcall
//! gap, where the module has a shadow stack and names), bytes per body handle, header
//! summaries, cache counts, and downloads of the profile as Fastlike's JSON and as a
//! Chrome/Perfetto trace.

use super::controller::download_json;
use super::state::AppState;
use edgeplay_host::profile::{chrome, fastlike, FlameNode, Profile};
use edgeplay_web::format;
use leptos::prelude::*;

/// Flame nodes narrower than this share of the root are left out (too thin to see).
const MIN_FLAME_SHARE: f64 = 0.002;
/// Flame nodes drawn at most.
const MAX_FLAME_NODES: usize = 600;
/// The heap curve's drawing box (SVG user units).
const HEAP_W: f64 = 1000.0;
const HEAP_H: f64 = 60.0;

/// The view (nothing until a run has a profile).
#[component]
pub fn ProfilePanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let has = move || state.profile.with(Option::is_some);
    view! {
        <Show when=has>
            <ProfileView/>
        </Show>
    }
}

fn ms(us: f64) -> String {
    format::millis(us / 1000.0)
}

fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// The heap curve as SVG polyline points (a step each time the size changes) over
/// `span_us`, with the largest size at the top.
pub fn heap_polyline(p: &Profile, span_us: f64) -> String {
    let max = p.heap_max().max(1) as f64;
    let span = span_us.max(1.0);
    let x = |us: f64| (us / span * HEAP_W).clamp(0.0, HEAP_W);
    let y = |b: u64| HEAP_H - b as f64 / max * (HEAP_H - 2.0);
    let mut pts: Vec<String> = Vec::new();
    let mut last: Option<u64> = None;
    for h in &p.heap {
        if let Some(prev) = last {
            pts.push(format!("{:.1},{:.1}", x(h.at_us), y(prev)));
        }
        pts.push(format!("{:.1},{:.1}", x(h.at_us), y(h.bytes)));
        last = Some(h.bytes);
    }
    if let Some(prev) = last {
        pts.push(format!("{:.1},{:.1}", HEAP_W, y(prev)));
    }
    pts.join(" ")
}

/// The flame nodes worth drawing.
fn visible_flame(p: &Profile) -> Vec<FlameNode> {
    let total = p.flame.first().map_or(0, |r| r.fuel).max(1) as f64;
    p.flame
        .iter()
        .filter(|n| n.fuel as f64 / total >= MIN_FLAME_SHARE)
        .take(MAX_FLAME_NODES)
        .cloned()
        .collect()
}

#[component]
fn ProfileView() -> impl IntoView {
    let state = expect_context::<AppState>();
    let p = move || state.profile.get().unwrap_or_default();
    let summary = move || {
        let p = p();
        format!(
            "{} hostcalls · {} fuel (~{:.2} ms CPU estimate) · heap up to {} · {}",
            p.hostcalls,
            p.fuel,
            p.cpu_ms_estimate,
            mib(p.heap_max()),
            p.outcome
        )
    };
    let download_fastlike = move |_| {
        let Some(p) = state.profile.get_untracked() else {
            return;
        };
        let doc = state.trace.with_untracked(|t| fastlike::to_fastlike(&p, t));
        let json = serde_json::to_string_pretty(&doc).unwrap_or_default();
        download_json(&format!("{}.json", p.run.request_id), &json);
    };
    let download_chrome = move |_| {
        let Some(p) = state.profile.get_untracked() else {
            return;
        };
        let doc = state.trace.with_untracked(|t| chrome::to_chrome(&p, t));
        download_json(
            &format!("{}.chrome.json", p.run.request_id),
            &doc.to_string(),
        );
    };
    view! {
        <section class="profile" data-testid="profile" data-outcome=move || p().outcome>
            <div class="pf-head">
                <span class="pf-title">"Profile"</span>
                <span class="muted small" data-testid="profile-summary">{summary}</span>
                <span class="pf-downloads">
                    <button class="small" data-testid="download-fastlike" on:click=download_fastlike>"Fastlike JSON"</button>
                    <button class="small" data-testid="download-chrome-profile" on:click=download_chrome>"Perfetto trace"</button>
                </span>
            </div>
            <TimeSplit/>
            <HeapCurve/>
            <Flame/>
            <div class="pf-tables">
                <Bodies/>
                <HeaderSummaries/>
            </div>
        </section>
    }
}

/// Guest CPU, hostcalls and waiting on I/O, as a bar and in words.
#[component]
fn TimeSplit() -> impl IntoView {
    let state = expect_context::<AppState>();
    let t = move || {
        state
            .profile
            .with(|p| p.as_ref().map(|p| p.time).unwrap_or_default())
    };
    let pct = move |v: f64| {
        let wall = t().wall_us.max(1e-9);
        format!("width: {:.2}%", v / wall * 100.0)
    };
    view! {
        <div
            class="pf-time"
            data-testid="profile-time"
            data-wall-us=move || format!("{:.0}", t().wall_us)
            data-guest-us=move || format!("{:.0}", t().guest_us)
            data-hostcall-us=move || format!("{:.0}", t().hostcall_us)
            data-io-wait-us=move || format!("{:.0}", t().io_wait_us)
        >
            <div class="pf-time-bar">
                <span class="pf-guest" style=move || pct(t().guest_us)></span>
                <span class="pf-hostcall" style=move || pct(t().hostcall_us)></span>
                <span class="pf-wait" style=move || pct(t().io_wait_us)></span>
            </div>
            <div class="small">
                <span class="pf-key pf-guest"></span>{move || format!("guest CPU {} · ", ms(t().guest_us))}
                <span class="pf-key pf-hostcall"></span>{move || format!("hostcalls {} · ", ms(t().hostcall_us))}
                <span class="pf-key pf-wait"></span>{move || format!("waiting on I/O {}", ms(t().io_wait_us))}
                <span class="muted">{move || format!(" of {} (paused time not counted)", ms(t().wall_us))}</span>
            </div>
        </div>
    }
}

/// The guest's memory size over the run, on the run's time axis.
#[component]
fn HeapCurve() -> impl IntoView {
    let state = expect_context::<AppState>();
    let data = move || {
        state.profile.with(|p| {
            let p = p.as_ref()?;
            let span = p.time.wall_us;
            let points = p
                .heap
                .iter()
                .map(|h| format!("{:.0}:{}", h.at_us, h.bytes))
                .collect::<Vec<_>>()
                .join(" ");
            Some((
                heap_polyline(p, span),
                points,
                p.heap_max(),
                p.heap.first().map_or(0, |h| h.bytes),
            ))
        })
    };
    view! {
        {move || data().map(|(line, points, max, first)| view! {
            <div class="pf-heap" data-testid="heap-curve" data-heap-points=points data-heap-max=max>
                <div class="small"><b>"Guest heap"</b>
                    <span class="muted">{format!(" {} → {} (wasm memory, sampled at every hostcall)", mib(first), mib(max))}</span>
                </div>
                <svg viewBox=format!("0 0 {HEAP_W} {HEAP_H}") preserveAspectRatio="none" class="pf-heap-svg">
                    <polyline points=line fill="none" stroke="currentColor" stroke-width="2" vector-effect="non-scaling-stroke"/>
                </svg>
            </div>
        })}
    }
}

/// The flame graph of the guest's functions by fuel.
#[component]
fn Flame() -> impl IntoView {
    let state = expect_context::<AppState>();
    let info = move || {
        state.profile.with(|p| {
            let p = p.as_ref()?;
            Some((
                p.has_stacks,
                p.has_names,
                visible_flame(p),
                p.flame.first().map_or(0, |r| r.fuel),
            ))
        })
    };
    view! {
        {move || info().map(|(stacks, names, nodes, total)| {
            let note = match (stacks, names) {
                (false, _) => Some("No call stacks: the module could not be instrumented for backtraces."),
                (true, false) => Some("The module has no name section: functions are shown by index."),
                _ => None,
            };
            let depth = nodes.iter().map(|n| n.depth).max().unwrap_or(0) + 1;
            let total = total.max(1) as f64;
            let bars = nodes.into_iter().map(|n| {
                let style = format!(
                    "left: {:.3}%; width: {:.3}%; top: {}px",
                    n.start as f64 / total * 100.0,
                    n.fuel as f64 / total * 100.0,
                    n.depth * 18
                );
                let title = format!("{}: {} fuel ({} in the function itself)", n.name, n.fuel, n.self_fuel);
                view! {
                    <div class="pf-frame" style=style title=title data-name=n.name.clone() data-fuel=n.fuel data-depth=n.depth>
                        {n.name.clone()}
                    </div>
                }
            }).collect_view();
            view! {
                <div class="pf-flame-wrap">
                    <div class="small"><b>"Fuel by guest function"</b>
                        <span class="muted">" (the fuel of each gap between hostcalls, on the stack the next call was made from)"</span>
                    </div>
                    {note.map(|n| view! { <div class="muted small">{n}</div> })}
                    <div class="pf-flame" data-testid="flame" style=format!("height: {}px", depth * 18)>{bars}</div>
                </div>
            }
        })}
    }
}

/// Reads and writes per body handle.
#[component]
fn Bodies() -> impl IntoView {
    let state = expect_context::<AppState>();
    let rows = move || {
        state
            .profile
            .with(|p| p.as_ref().map(|p| p.bodies.clone()).unwrap_or_default())
    };
    let cache = move || {
        state.profile.with(|p| {
            p.as_ref().map(|p| {
                let c = p.cache;
                format!(
                    "cache: {} lookups, {} hits, {} misses, {} stale, {} inserts",
                    c.lookups, c.hits, c.misses, c.stale, c.inserts
                )
            })
        })
    };
    view! {
        <div class="pf-bodies">
            <table class="small" data-testid="profile-bodies">
                <thead><tr><th>"body"</th><th>"from"</th><th>"reads"</th><th>"read"</th><th>"writes"</th><th>"written"</th></tr></thead>
                <tbody>
                    {move || rows().into_iter().map(|b| view! {
                        <tr data-handle=b.handle data-bytes-read=b.bytes_read data-bytes-written=b.bytes_written>
                            <td>{format!("body#{}", b.handle)}</td>
                            <td>{b.origin.clone().unwrap_or_default()}</td>
                            <td>{b.reads}</td>
                            <td>{format::size(b.bytes_read as usize)}</td>
                            <td>{b.writes}</td>
                            <td>{format::size(b.bytes_written as usize)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
            <div class="muted small" data-testid="profile-cache">{cache}</div>
        </div>
    }
}

/// Header counts and bytes per request and response.
#[component]
fn HeaderSummaries() -> impl IntoView {
    let state = expect_context::<AppState>();
    let rows = move || {
        state
            .profile
            .with(|p| p.as_ref().map(|p| p.headers.clone()).unwrap_or_default())
    };
    view! {
        <table class="small pf-headers" data-testid="profile-headers">
            <thead><tr><th>"headers of"</th><th>"lines"</th><th>"bytes"</th><th>"names"</th></tr></thead>
            <tbody>
                {move || rows().into_iter().map(|h| {
                    let names = h.names.iter().map(|n| format!("{} ({}B)", n.name, n.bytes)).collect::<Vec<_>>().join(", ");
                    view! {
                        <tr data-what=h.what.clone() data-count=h.count data-bytes=h.bytes>
                            <td>{h.what.clone()}</td><td>{h.count}</td><td>{h.bytes}</td><td class="muted">{names}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table>
    }
}
