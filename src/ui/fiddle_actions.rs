//! What the fiddle UI does: the request sequence (select, add, remove, Run all),
//! each request's results, assertions, Share, Save/Open a fiddle file or a Fastly
//! CLI package, and opening a link. The components in [`super::fiddle`] only call
//! these.

use super::controller::{self, AfterLoad};
use super::state::*;
use edgeplay_host::fiddle::{
    self, decode_link, read_package, Fiddle, FiddleError, FiddleRequest, GuestSource, RunRecord,
};
use edgeplay_web::examples;
use edgeplay_web::fetch::sleep_ms;
use edgeplay_web::fiddle_tab::{
    fields_of, fragment_has_fiddle, guest_for_link, link_for, request_from_fields, summary,
    ComposerFields, MAX_LINK_CHARS,
};
use edgeplay_web::platform::now_ms;
use edgeplay_web::storage;
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::{Deserialize, Serialize};

/// localStorage key of the request sequence (the composer's own fields are kept
/// under [`controller::REQUEST_KEY`] as before).
pub const FIDDLE_KEY: &str = "edgeplay.fiddle.v1";

/// The fiddle's requests as kept between visits.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct SavedFiddle {
    title: String,
    requests: Vec<FiddleRequest>,
    current: usize,
    #[serde(default)]
    recordings: Vec<fiddle::Recording>,
}

thread_local! {
    /// The id (and state name) chosen at start for the entry a link in the page's
    /// fragment will become ([`preset_link_entry`]), until it is used or given up.
    static PRESET: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// At start, before the worker is spawned: when the page's fragment holds a link
/// that decodes, choose the id of the workspace entry it will become, so the
/// worker starts on that entry's state (it is the state's name too).
pub fn preset_link_entry() -> Option<String> {
    let hash = window().location().hash().unwrap_or_default();
    if !fragment_has_fiddle(&hash) || decode_link(&hash).is_err() {
        return None;
    }
    let id = edgeplay_web::workspace::new_id();
    PRESET.with(|p| *p.borrow_mut() = Some(id.clone()));
    Some(id)
}

/// The preset entry id, taken (it is used once).
fn take_preset() -> Option<String> {
    PRESET.with(|p| p.borrow_mut().take())
}

/// Restore the sequence, keep it saved, open a link in the page's fragment (now
/// and when the fragment changes).
pub fn start(state: AppState) {
    restore(state);
    // The composer edits the selected request.
    Effect::new(move |_| {
        let fields = fields(state);
        let i = state.fiddle.current.get_untracked();
        state.fiddle.requests.update(|reqs| {
            if let Some(r) = reqs.get_mut(i) {
                let new = request_from_fields(&fields, r);
                if *r != new {
                    *r = new;
                }
            }
        });
    });
    Effect::new(move |_| {
        let saved = SavedFiddle {
            title: state.fiddle.title.get(),
            requests: state.fiddle.requests.get(),
            current: state.fiddle.current.get(),
            recordings: state.fiddle.recordings.get(),
        };
        storage::set_json(FIDDLE_KEY, &saved);
    });
    super::workspace_actions::start(state);
    open_link_in_fragment(state);
    let on_hash = window_event_listener(leptos::ev::hashchange, move |_| {
        open_link_in_fragment(state)
    });
    std::mem::forget(on_hash);
}

fn restore(state: AppState) {
    let Some(saved) = storage::get_json::<SavedFiddle>(FIDDLE_KEY) else {
        return;
    };
    if saved.requests.is_empty() {
        return;
    }
    let current = saved.current.min(saved.requests.len() - 1);
    // The composer's fields were restored already (they are newer): only the
    // assertions come from the sequence.
    state
        .fiddle
        .assertions
        .set(saved.requests[current].assertions.clone());
    state.fiddle.runs.set(vec![None; saved.requests.len()]);
    state.fiddle.requests.set(saved.requests);
    state.fiddle.current.set(current);
    state.fiddle.title.set(saved.title);
    state.fiddle.recordings.set(saved.recordings);
}

/// The composer's fields and the assertion text (tracked).
fn fields(state: AppState) -> ComposerFields {
    ComposerFields {
        method: state.method.get(),
        url: state.url.get(),
        headers: state.headers.get(),
        body: state.body.get(),
        client_ip: state.client_ip.get(),
        fresh_cache: state.fresh_cache.get(),
        assertions: state.fiddle.assertions.get(),
    }
}

fn set_fields(state: AppState, f: &ComposerFields) {
    state.method.set(f.method.clone());
    state.url.set(f.url.clone());
    state.headers.set(f.headers.clone());
    state.body.set(f.body.clone());
    state.client_ip.set(f.client_ip.clone());
    state.fresh_cache.set(f.fresh_cache);
    state.fiddle.assertions.set(f.assertions.clone());
}

/// Write the composer into the selected request now (the effect does it too, a
/// moment later).
pub fn commit(state: AppState) {
    let fields = untrack(|| fields(state));
    let i = state.fiddle.current.get_untracked();
    state.fiddle.requests.update(|reqs| {
        if let Some(r) = reqs.get_mut(i) {
            *r = request_from_fields(&fields, r);
        }
    });
}

/// Select request `i`: the composer shows it and the panels show its last run.
/// Not while a run is under way (its results belong to the request it started for).
pub fn select(state: AppState, i: usize) {
    if state.phase.get_untracked() == Phase::Running {
        return;
    }
    commit(state);
    show_request(state, i);
}

/// Make request `i` the selected one without writing the composer back first: the
/// composer shows it, the panels its last run.
fn show_request(state: AppState, i: usize) {
    let Some(req) = state.fiddle.requests.with_untracked(|r| r.get(i).cloned()) else {
        return;
    };
    state.fiddle.current.set(i);
    set_fields(state, &fields_of(&req));
    let run = state
        .fiddle
        .runs
        .with_untracked(|r| r.get(i).cloned().flatten());
    show_run(state, run);
}

/// Add a request after the last one: a copy of the selected one without its
/// assertions, selected.
pub fn add_request(state: AppState) {
    if state.phase.get_untracked() == Phase::Running {
        return;
    }
    commit(state);
    let i = state.fiddle.current.get_untracked();
    let mut new = state
        .fiddle
        .requests
        .with_untracked(|r| r.get(i).cloned())
        .unwrap_or_default();
    new.assertions.clear();
    new.label.clear();
    new.delay_ms = 0;
    let at = state.fiddle.requests.with_untracked(Vec::len);
    state.fiddle.requests.update(|r| r.push(new));
    state.fiddle.runs.update(|r| r.resize(at + 1, None));
    select(state, at);
}

/// Remove request `i` (the last one stays).
pub fn remove_request(state: AppState, i: usize) {
    if state.phase.get_untracked() == Phase::Running
        || state.fiddle.requests.with_untracked(Vec::len) <= 1
    {
        return;
    }
    commit(state);
    state.fiddle.requests.update(|r| {
        r.remove(i);
    });
    state.fiddle.runs.update(|r| {
        if i < r.len() {
            r.remove(i);
        }
    });
    let n = state.fiddle.requests.with_untracked(Vec::len);
    let cur = state.fiddle.current.get_untracked();
    let next = if cur > i || cur >= n {
        cur.saturating_sub(1)
    } else {
        cur
    };
    // The composer holds the removed request (or another one's index): not committed.
    show_request(state, next);
}

/// Set request `i`'s delay after the previous one.
pub fn set_delay(state: AppState, i: usize, ms: u64) {
    state.fiddle.requests.update(|r| {
        if let Some(r) = r.get_mut(i) {
            r.delay_ms = ms;
        }
    });
}

/// A run ended (done, failed, stopped): keep what it left for the selected request.
pub fn run_ended(state: AppState, record: Option<RunRecord>) {
    let run = RequestRun {
        phase: state.phase.get_untracked(),
        request_id: state.request_id.get_untracked(),
        response: state.response.get_untracked(),
        response_body: state.response_body.get_untracked(),
        chunks: state.chunks.get_untracked(),
        body_complete: state.body_complete.get_untracked(),
        body_aborted: state.body_aborted.get_untracked(),
        outcome: state.outcome.get_untracked(),
        timings: state.timings.get_untracked(),
        logs: state.logs.get_untracked(),
        trace: state.trace.get_untracked(),
        error: state.error.get_untracked(),
        record,
    };
    let i = state.fiddle.current.get_untracked();
    let n = state.fiddle.requests.with_untracked(Vec::len);
    state.fiddle.runs.update(|r| {
        r.resize(n.max(i + 1), None);
        r[i] = Some(run);
    });
}

/// Put a request's last run (or nothing) into the panels.
fn show_run(state: AppState, run: Option<RequestRun>) {
    let run = run.unwrap_or(RequestRun {
        phase: Phase::Idle,
        request_id: None,
        response: None,
        response_body: Vec::new(),
        chunks: Vec::new(),
        body_complete: false,
        body_aborted: false,
        outcome: None,
        timings: Timings::default(),
        logs: Vec::new(),
        trace: Vec::new(),
        error: None,
        record: None,
    });
    state.phase.set(run.phase);
    state.request_id.set(run.request_id);
    state.response.set(run.response);
    state.response_body.set(run.response_body);
    state.chunks.set(run.chunks);
    state.body_complete.set(run.body_complete);
    state.body_aborted.set(run.body_aborted);
    state.outcome.set(run.outcome);
    state.timings.set(run.timings);
    state.logs.set(run.logs);
    state.trace.set(run.trace);
    state.profile.set(None);
    state.error.set(run.error);
    state.selected.set(None);
    state.body_view.set(None);
}

/// Run every request in order against the same service state, each after its
/// delay; Stop (or a request that cannot start) ends the sequence.
pub fn run_all(state: AppState) {
    if state.fiddle.running_all.get_untracked() || state.phase.get_untracked() == Phase::Running {
        return;
    }
    if super::js_actions::build_first(state, super::js_actions::After::RunAll) {
        return;
    }
    if state.guest.with_untracked(Option::is_none) {
        controller::run(state, None); // says what is missing
        return;
    }
    commit(state);
    if state.fiddle.record.get_untracked() {
        // Recording the whole sequence anew.
        state.fiddle.recordings.set(Vec::new());
        state.fiddle.record_note.set(None);
    }
    arm_replay(state);
    state.fiddle.running_all.set(true);
    spawn_local(async move {
        let n = state.fiddle.requests.with_untracked(Vec::len);
        for i in 0..n {
            select(state, i);
            let delay = state
                .fiddle
                .requests
                .with_untracked(|r| r.get(i).map_or(0, |r| r.delay_ms));
            if i > 0 && delay > 0 {
                sleep_ms(delay as f64).await;
            }
            let before = state.run_id.get_untracked();
            controller::run(state, None);
            if state.run_id.get_untracked() == before {
                break; // it could not start: the banner says why
            }
            while state.phase.get_untracked() == Phase::Running {
                sleep_ms(15.0).await;
            }
            if state.phase.get_untracked() == Phase::Stopped {
                break;
            }
        }
        state.fiddle.running_all.set(false);
    });
}

/// Arm the worker's replay for the runs that follow: the fiddle's recordings from
/// the first, unless it has none or runs record (then the network answers).
pub fn arm_replay(state: AppState) {
    let recordings = state.fiddle.recordings.get_untracked();
    let replay =
        (!recordings.is_empty() && !state.fiddle.record.get_untracked()).then_some(recordings);
    controller::replay(state, replay);
}

/// A recording run's exchanges: kept with the fiddle (and so in its link).
pub fn recorded(
    state: AppState,
    recordings: Vec<fiddle::Recording>,
    left_out: edgeplay_web::tap::LeftOut,
) {
    let n = recordings.len();
    state.fiddle.recordings.update(|r| r.extend(recordings));
    let what = left_out.describe();
    let total = state.fiddle.recordings.with_untracked(Vec::len);
    state.fiddle.record_note.set(Some(if what.is_empty() {
        format!(
            "Recorded {n} backend exchange{} ({total} in the fiddle).",
            if n == 1 { "" } else { "s" }
        )
    } else {
        format!(
            "Recorded {n} backend exchange{} ({total} in the fiddle); left out: {what}.",
            if n == 1 { "" } else { "s" }
        )
    }));
}

/// Forget the fiddle's recordings: backend requests go to the network again.
pub fn clear_recordings(state: AppState) {
    state.fiddle.recordings.set(Vec::new());
    state.fiddle.record_note.set(None);
}

/// The assertion results of request `i` against its last run, with `text` as its
/// assertions: `None` when it has none; `Err` for a syntax error.
pub fn results_of(
    text: &str,
    record: Option<&RunRecord>,
) -> Option<Result<Vec<fiddle::AssertionResult>, fiddle::ParseError>> {
    let parsed = match fiddle::parse_assertions(text) {
        Ok(p) if p.is_empty() => return None,
        Ok(p) => p,
        Err(e) => return Some(Err(e)),
    };
    record.map(|r| Ok(fiddle::evaluate(&parsed, r)))
}

/// The page's URL (what a link is made on).
fn page_url() -> String {
    window().location().href().unwrap_or_default()
}

/// The fiddle as it stands, with `guest` as its guest.
pub(super) fn fiddle_value(state: AppState, guest: GuestSource) -> Fiddle {
    commit(state);
    let mut f = Fiddle::new(guest);
    f.title = state.fiddle.title.get_untracked();
    if f.title.is_empty() {
        // A fiddle is called after its guest until the user names it.
        if let Some((name, _)) = controller::guest_bytes() {
            f.title = name.trim_end_matches(".wasm").to_string();
        }
    }
    f.fastly_toml = state.config_text.get_untracked();
    f.requests = state.fiddle.requests.get_untracked();
    f.recordings = state.fiddle.recordings.get_untracked();
    f
}

/// Make the share link (Share): the guest by example name, inline, or at the URL
/// the user gave; secrets left out unless the user opted in.
pub fn share(state: AppState) {
    state.fiddle.share_open.set(true);
    // JavaScript mode: the link carries the source (a few KB), not a build.
    let js = super::js_actions::link_guest();
    let Some((_, bytes)) =
        controller::guest_bytes().or_else(|| js.as_ref().map(|_| Default::default()))
    else {
        state.fiddle.share.set(Some(ShareView {
            link: String::new(),
            note: Some("Load a guest first: a fiddle is a guest and its requests.".into()),
            warn: false,
        }));
        return;
    };
    let example = state
        .guest
        .with_untracked(|g| g.as_ref().and_then(|g| g.example));
    let url = state.fiddle.guest_url.get_untracked();
    let draft = fiddle_value(
        state,
        GuestSource::Example {
            name: String::new(),
        },
    );
    let base = page_url();
    let found = match js {
        Some(g) => Ok(g),
        None => guest_for_link(&draft, &base, example, &bytes, Some(&url)),
    };
    let guest = match found {
        Ok(g) => g,
        Err(e) => {
            state.fiddle.share.set(Some(ShareView {
                link: String::new(),
                note: Some(format!("No link: {e}.")),
                warn: false,
            }));
            return;
        }
    };
    let mut f = draft;
    f.guest = guest;
    let with_secrets = state.fiddle.share_secrets.get_untracked();
    let (shared, left) = f.for_sharing(with_secrets);
    let secrets = f.for_sharing(false).1.secrets;
    let mut link = link_for(&base, &shared);
    let mut dropped = String::new();
    if link.len() > MAX_LINK_CHARS && !shared.recordings.is_empty() {
        // The recordings are what can go: the link then needs the origin again.
        let mut without = shared.clone();
        without.recordings.clear();
        dropped = format!(
            " The fiddle's {} recorded backend exchange{} were left out: with them the link would be {} characters, over the {MAX_LINK_CHARS} a link may have (Save as file keeps them).",
            shared.recordings.len(),
            if shared.recordings.len() == 1 { "" } else { "s" },
            link.len()
        );
        link = link_for(&base, &without);
    }
    let note = if with_secrets && !secrets.is_empty() {
        Some((
            format!(
                "This link contains {} secret{} ({}): anyone who has the link can read {}.",
                secrets.len(),
                if secrets.len() == 1 { "" } else { "s" },
                secrets.join(", "),
                if secrets.len() == 1 { "it" } else { "them" }
            ),
            true,
        ))
    } else if !left.is_empty() {
        Some((
            format!(
                "Left out of the link: the secret{} {} (the guest sees {} empty). Tick “include secrets” to put {} in.",
                if left.secrets.len() == 1 { "" } else { "s" },
                left.secrets.join(", "),
                if left.secrets.len() == 1 { "it" } else { "them" },
                if left.secrets.len() == 1 { "it" } else { "them" },
            ),
            false,
        ))
    } else {
        None
    };
    let warn = note.as_ref().is_some_and(|n| n.1);
    let note = match (note.map(|n| n.0), dropped.is_empty()) {
        (n, true) => n,
        (None, false) => Some(dropped.trim().to_string()),
        (Some(n), false) => Some(format!("{n}{dropped}")),
    };
    state.fiddle.share.set(Some(ShareView { link, warn, note }));
}

/// Save the fiddle as a file (Save as file): the guest inside whatever its size (an
/// example by name), secrets as Share has them.
pub fn save_file(state: AppState) {
    if let Some(guest) = super::js_actions::link_guest() {
        let (f, _) =
            fiddle_value(state, guest).for_sharing(state.fiddle.share_secrets.get_untracked());
        controller::download_json("app.fiddle.json", &f.to_json());
        return;
    }
    let Some((name, bytes)) = controller::guest_bytes() else {
        state.error.set(Some(
            "Load a guest first: a fiddle file holds the guest and its requests.".into(),
        ));
        return;
    };
    let example = state
        .guest
        .with_untracked(|g| g.as_ref().and_then(|g| g.example));
    let guest = match example {
        Some(e) => GuestSource::Example { name: e.into() },
        None => GuestSource::inline(&bytes),
    };
    let f = fiddle_value(state, guest);
    let (f, _) = f.for_sharing(state.fiddle.share_secrets.get_untracked());
    let stem = name.trim_end_matches(".wasm");
    controller::download_json(&format!("{stem}.fiddle.json"), &f.to_json());
}

/// True when a dropped or picked file is a fiddle (JSON) or a Fastly CLI package,
/// not a guest.
pub fn is_fiddle_file(name: &str, bytes: &[u8]) -> bool {
    let lower = name.to_ascii_lowercase();
    fiddle::package::looks_like_package(bytes)
        || lower.ends_with(".json")
        || bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// Open a fiddle file or a package.
pub fn open_fiddle_file(state: AppState, name: &str, bytes: &[u8]) {
    let opened = if fiddle::package::looks_like_package(bytes) {
        read_package(bytes)
            .map(|p| {
                let mut f = p.to_fiddle();
                if f.title.is_empty() {
                    f.title = name.trim_end_matches(".tar.gz").to_string();
                }
                (f, format!("the package {name}"))
            })
            .map_err(|e| e.to_string())
    } else {
        Fiddle::from_json_bytes(bytes)
            .map(|f| (f, format!("the fiddle file {name}")))
            .map_err(|e| e.to_string())
    };
    match opened {
        Ok((f, from)) => open_fiddle(state, f, from),
        Err(e) => state.error.set(Some(format!(
            "Could not open {name}: {e}. Nothing was changed."
        ))),
    }
}

/// Open the fiddle in the page's fragment, if there is one. Once it opened, the
/// link leaves the address bar (the fiddle is the page's own then: a reload keeps
/// it); a bad link stays there for the user to look at.
fn open_link_in_fragment(state: AppState) {
    let hash = window().location().hash().unwrap_or_default();
    if !fragment_has_fiddle(&hash) {
        return;
    }
    if open_link(state, &hash) {
        let rest: Vec<&str> = hash
            .trim_start_matches('#')
            .split('&')
            .filter(|p| !p.starts_with(&format!("{}=", fiddle::LINK_KEY)))
            .collect();
        let href = page_url();
        let page = href.split('#').next().unwrap_or_default();
        let clean = if rest.is_empty() {
            page.to_string()
        } else {
            format!("{page}#{}", rest.join("&"))
        };
        if let Ok(h) = window().history() {
            let _ = h.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&clean));
        }
    }
}

/// Open a link (or a fragment, or a bare payload); false when it is bad (the
/// banner says why, and nothing changed).
pub fn open_link(state: AppState, link: &str) -> bool {
    match decode_link(link) {
        Ok(f) => {
            open_fiddle(state, f, "a shared link".into());
            true
        }
        Err(e) => {
            state.error.set(Some(format!(
                "This link could not be opened: {e}. Nothing was changed."
            )));
            false
        }
    }
}

/// Why an opened fiddle's guest cannot be had.
fn guest_error(from: &str, e: impl std::fmt::Display) -> String {
    format!("Could not open {from}: {e}. Nothing was changed.")
}

/// Where an opened fiddle goes in the workspace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpenInto {
    /// A new entry of its own (with a fresh service state), named after the fiddle's
    /// title, or this name when one is given.
    NewEntry(Option<String>),
    /// The current entry, in place of what it holds (a lesson's next step).
    Current,
}

/// Open `f` (from a link, a file or a package): get its guest (an example is
/// downloaded, a URL fetched; both checked), and only then put it in the page and
/// run its requests. Any error leaves the page as it was.
fn open_fiddle(state: AppState, f: Fiddle, from: String) {
    open_fiddle_into(state, f, from, OpenInto::NewEntry(None), |_| ());
}

/// [`open_fiddle`], into the workspace entry `into` says; `entered` is told the id of
/// the new entry once it is made (`None` when none was).
pub fn open_fiddle_into(
    state: AppState,
    f: Fiddle,
    from: String,
    into: OpenInto,
    entered: impl FnOnce(Option<String>) + 'static,
) {
    let what = summary(&f);
    state.notice.set(Some(format!("Opening {from}: {what}…")));
    state.loading.set(Some(from.clone()));
    spawn_local(async move {
        let got: Result<(String, Vec<u8>, Option<&'static str>), String> = match &f.guest {
            GuestSource::Example { name } => match examples::find(name) {
                Some(ex) => controller::download(&format!("examples/{}", ex.file))
                    .await
                    .map(|b| (ex.file.to_string(), b, Some(ex.name)))
                    .map_err(|e| format!("the example {name} could not be downloaded: {e}")),
                None => Err(format!(
                    "it names the example “{name}”, which this playground does not have"
                )),
            },
            GuestSource::Inline { .. } => match f.guest.inline_bytes() {
                Some(Ok(b)) => Ok((guest_file_name(&f), b, None)),
                Some(Err(e)) => Err(e.to_string()),
                None => Err("no inline guest".into()),
            },
            GuestSource::Url { url, .. } => match controller::download(url).await {
                Ok(b) => f
                    .guest
                    .verify(&b)
                    .map(|()| (url_file_name(url), b, None))
                    .map_err(|e: FiddleError| e.to_string()),
                Err(e) => Err(format!(
                    "its guest at {url} could not be fetched ({e}); the server must allow CORS from this page"
                )),
            },
            // Built in the page once it is open (`js_actions::open_source`).
            GuestSource::Source { language, text, .. } if language == "javascript" => {
                Ok(("app.js".into(), text.clone().into_bytes(), None))
            }
            GuestSource::Source { language, .. } => Err(format!(
                "its guest is {language} source, which this tab cannot build (only JavaScript)"
            )),
        };
        let (name, bytes, example) = match got {
            Ok(g) => g,
            Err(e) => {
                state.loading.set(None);
                state.notice.set(None);
                state.error.set(Some(guest_error(&from, e)));
                if take_preset().is_some() {
                    // The worker started on the link's state: back to the page's own.
                    let own = storage::get(controller::STATE_KEY).unwrap_or_default();
                    controller::use_state(state, &own);
                }
                return;
            }
        };
        // A workspace entry of its own, with a fresh service state (or the current one).
        let entry_name = match &into {
            OpenInto::NewEntry(Some(n)) => n.clone(),
            _ if f.title.is_empty() => name.trim_end_matches(".wasm").to_string(),
            _ => f.title.clone(),
        };
        let mut f = f;
        if f.title.is_empty() {
            f.title = entry_name.clone();
        }
        let in_workspace = match into {
            OpenInto::NewEntry(_) => {
                super::workspace_actions::enter_new(state, take_preset(), &entry_name, &f)
                    .await
                    .map(Some)
            }
            OpenInto::Current => Ok(None),
        };
        entered(in_workspace.as_ref().ok().flatten().map(|m| m.id.clone()));
        apply_fiddle(state, &f);
        state.fiddle.opened.set(Some(what.clone()));
        if let GuestSource::Source { .. } = &f.guest {
            super::js_actions::open_source(state, &f.guest);
        } else {
            controller::load_guest(
                state,
                name,
                bytes,
                example,
                now_ms(),
                AfterLoad::RunAll,
                true,
            );
        }
        state.notice.set(Some(match in_workspace {
            Ok(None) => format!("Opened {from}: {what}. Running its requests…"),
            Ok(Some(_)) => format!(
                "Opened {from} as “{entry_name}” in your workspace (your other fiddles are kept there): {what}. Running its requests…"
            ),
            Err(e) => format!(
                "Opened {from}: {what}, in place of the page's fiddle: the workspace could not keep it ({e}). Running its requests…"
            ),
        }));
    });
}

/// Put `f`'s config, title, requests and recordings in the page (not its guest).
pub(super) fn apply_fiddle(state: AppState, f: &Fiddle) {
    let mut requests = f.requests.clone();
    if requests.is_empty() {
        requests.push(FiddleRequest::default());
    }
    state.config_text.set(f.fastly_toml.clone());
    state.fiddle.title.set(f.title.clone());
    state.fiddle.recordings.set(f.recordings.clone());
    state.fiddle.runs.set(vec![None; requests.len()]);
    let first = fields_of(&requests[0]);
    state.fiddle.requests.set(requests);
    state.fiddle.current.set(0);
    set_fields(state, &first);
    show_run(state, None);
    state.fiddle.share.set(None);
    state.fiddle.share_open.set(false);
}

fn guest_file_name(f: &Fiddle) -> String {
    if f.title.is_empty() {
        "fiddle.wasm".into()
    } else {
        format!("{}.wasm", f.title)
    }
}

fn url_file_name(url: &str) -> String {
    url.split(['?', '#'])
        .next()
        .and_then(|u| u.rsplit('/').next())
        .filter(|n| !n.is_empty())
        .unwrap_or("guest.wasm")
        .to_string()
}
