//! What the run history does: keep every finished run of the open fiddle (the
//! workspace entry; `edgeplay_web::history` says how runs are keyed) in IndexedDB
//! (`edgeplay_web::history_db`), list them again when the entry changes, and pick
//! two to compare. A run that cannot be kept still ran: the panel says so.

use super::state::AppState;
use edgeplay_host::fiddle::RunRecord;
use edgeplay_web::fetch::sleep_ms;
use edgeplay_web::history::{self, HistoryRecord, LogLine, RunTimings, KEEP, NO_ENTRY};
use edgeplay_web::history_db;
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::cell::Cell;

/// The history's signals (one set per page).
#[derive(Clone, Copy)]
pub struct HistoryUi {
    /// The listed fiddle's kept runs, newest first (`None`: not listed yet).
    pub runs: RwSignal<Option<Vec<HistoryRecord>>>,
    /// The fiddle listed.
    pub fiddle: RwSignal<Option<String>>,
    /// The runs ticked for comparing (ids; the last two ticked).
    pub picked: RwSignal<Vec<String>>,
    /// The two runs compared (ids, older first).
    pub compared: RwSignal<Option<(String, String)>>,
    /// The last problem (a run not kept, records that did not read).
    pub message: RwSignal<Option<String>>,
}

thread_local! {
    static UI: HistoryUi = HistoryUi {
        runs: RwSignal::new(None),
        fiddle: RwSignal::new(None),
        picked: RwSignal::new(Vec::new()),
        compared: RwSignal::new(None),
        message: RwSignal::new(None),
    };
    /// Runs kept on this page (the counter in their ids).
    static KEPT: Cell<u32> = const { Cell::new(0) };
    /// Bumped by every listing; only the latest one's answer is shown.
    static LISTING: Cell<u64> = const { Cell::new(0) };
}

/// The page's history signals.
pub fn ui() -> HistoryUi {
    UI.with(|u| *u)
}

/// List the open fiddle's runs now, and again whenever another entry opens.
pub fn start(state: AppState) {
    Effect::new(move |_| {
        let fiddle = state
            .workspace
            .current
            .get()
            .unwrap_or_else(|| NO_ENTRY.to_string());
        let u = ui();
        if u.fiddle.get_untracked().as_deref() != Some(fiddle.as_str()) {
            u.picked.set(Vec::new());
            u.compared.set(None);
            u.message.set(None);
        }
        spawn_local(refresh(fiddle));
    });
}

/// Read `fiddle`'s runs into the panel (unless a later listing answers first).
async fn refresh(fiddle: String) {
    let generation = LISTING.with(|g| {
        g.set(g.get() + 1);
        g.get()
    });
    let listing = history_db::list(&fiddle).await;
    if LISTING.with(Cell::get) != generation {
        return;
    }
    let u = ui();
    match listing {
        Ok(l) => {
            if l.skipped > 0 {
                u.message.set(Some(format!(
                    "{} kept run{} could not be read (another version's, or damaged) and {} left out.",
                    l.skipped,
                    if l.skipped == 1 { "" } else { "s" },
                    if l.skipped == 1 { "was" } else { "were" },
                )));
            }
            let ids: Vec<String> = l.runs.iter().map(|r| r.id.clone()).collect();
            u.picked.update(|p| p.retain(|id| ids.contains(id)));
            u.runs.set(Some(l.runs));
            u.fiddle.set(Some(fiddle));
        }
        Err(e) => {
            u.runs.set(Some(Vec::new()));
            u.fiddle.set(Some(fiddle));
            u.message.set(Some(e));
        }
    }
}

/// The fiddle a run that ends now belongs to: the open workspace entry. Right
/// after the page loads the workspace may still be opening; a moment is given.
async fn fiddle_now(state: AppState) -> String {
    for _ in 0..20 {
        if let Some(id) = state.workspace.current.get_untracked() {
            return id;
        }
        sleep_ms(100.0).await;
    }
    NO_ENTRY.to_string()
}

/// Keep a finished run (its `record`, with the page's logs and timings now).
pub fn keep(state: AppState, record: Option<&RunRecord>) {
    let Some(run) = record else {
        return;
    };
    let logs = state.logs.with_untracked(|ls| {
        ls.iter()
            .map(|l| LogLine {
                source: l.source.clone(),
                line: l.line.clone(),
            })
            .collect()
    });
    let t = state.timings.get_untracked();
    let outcome = state.outcome.get_untracked();
    let timings = RunTimings {
        instantiate_ms: t.instantiate_ms,
        first_byte_ms: t.first_byte_ms,
        run_ms: t.run_ms,
        wall_ms: t.wall_ms,
        cpu_ms_estimate: outcome.as_ref().map(|o| o.cpu_ms_estimate),
        fuel: outcome.as_ref().map(|o| o.fuel),
    };
    let at_ms = js_sys::Date::now();
    let id = history::new_id(
        at_ms,
        KEPT.with(|k| {
            k.set(k.get() + 1);
            k.get()
        }),
    );
    let run = run.clone();
    spawn_local(async move {
        let fiddle = fiddle_now(state).await;
        let rec = HistoryRecord::new(&fiddle, id, at_ms, &run, logs, timings);
        let u = ui();
        match history_db::put(&rec).await {
            Ok(_) => {
                if u.fiddle.get_untracked().as_deref() == Some(fiddle.as_str()) {
                    refresh(fiddle).await;
                }
            }
            Err(e) => {
                u.message.set(Some(format!(
                    "This run was not kept in the history ({e}); it ran as usual."
                )));
                // Shown for this page's life at least.
                if u.fiddle.get_untracked().as_deref() == Some(fiddle.as_str()) {
                    u.runs.update(|rs| {
                        let rs = rs.get_or_insert_with(Vec::new);
                        rs.insert(0, rec);
                        rs.truncate(KEEP);
                    });
                }
            }
        }
    });
}

/// Tick or untick the run `id` for comparing (the last two ticked stay ticked).
pub fn toggle(id: &str) {
    ui().picked.update(|p| {
        if let Some(i) = p.iter().position(|x| x == id) {
            p.remove(i);
        } else {
            p.push(id.to_string());
            if p.len() > 2 {
                p.remove(0);
            }
        }
    });
}

/// Compare the two ticked runs (older first).
pub fn compare() {
    let u = ui();
    let p = u.picked.get_untracked();
    if let [a, b] = &p[..] {
        let (a, b) = if a <= b { (a, b) } else { (b, a) };
        u.compared.set(Some((a.clone(), b.clone())));
    }
}

/// Compare the run `id` with the one kept before it.
pub fn compare_with_previous(id: &str) {
    let u = ui();
    let prev = u.runs.with_untracked(|rs| {
        let rs = rs.as_ref()?;
        let i = rs.iter().position(|r| r.id == id)?;
        rs.get(i + 1).map(|r| r.id.clone())
    });
    if let Some(prev) = prev {
        u.picked.set(vec![prev.clone(), id.to_string()]);
        u.compared.set(Some((prev, id.to_string())));
    }
}

/// Forget the listed fiddle's runs.
pub fn clear() {
    let u = ui();
    let Some(fiddle) = u.fiddle.get_untracked() else {
        return;
    };
    spawn_local(async move {
        if let Err(e) = history_db::clear(&fiddle).await {
            ui().message.set(Some(e));
        }
        let u = ui();
        u.picked.set(Vec::new());
        u.compared.set(None);
        u.message.set(None);
        refresh(fiddle).await;
    });
}

/// The History tab's count (` (N)`; nothing before the first listing).
pub fn count_label() -> String {
    ui().runs
        .with(|rs| rs.as_ref().map(|rs| format!(" ({})", rs.len())))
        .unwrap_or_default()
}

/// The offset of the browser's zone from UTC, in minutes (as `getTimezoneOffset`).
pub fn tz_offset_min() -> f64 {
    js_sys::Date::new_0().get_timezone_offset()
}
