//! What the workspace does: the saved fiddles (`edgeplay_web::workspace`), each with
//! its own service state. The page is always one entry (the current one), saved as
//! it changes; switching entries saves it, puts the other one in the page and runs
//! its service state in a worker of its own; an opened link or file becomes a new
//! entry, so nothing is overwritten silently.

use super::controller::{self, AfterLoad};
use super::fiddle_actions;
use super::state::*;
use edgeplay_host::fiddle::{Fiddle, GuestSource};
use edgeplay_web::examples;
use edgeplay_web::fetch::sleep_ms;
use edgeplay_web::platform::now_ms;
use edgeplay_web::storage;
use edgeplay_web::workspace::{self, EntryMeta, GuestFile, Workspace};
use futures_util::future::{FutureExt, LocalBoxFuture, Shared};
use leptos::prelude::*;
use leptos::task::spawn_local;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// The name of an entry nobody named yet (it takes its fiddle's when it has one).
const UNTITLED: &str = "Untitled";

type Ready = Shared<LocalBoxFuture<'static, Result<Rc<Workspace>, String>>>;

thread_local! {
    /// The workspace, open, with the page adopted as an entry (once).
    static READY: RefCell<Option<Ready>> = const { RefCell::new(None) };
    /// Bumped by every change; a save runs when it has not moved for a moment.
    static SAVE_GEN: Cell<u64> = const { Cell::new(0) };
    /// The page had something of its own at start (a returning user).
    static RETURNING: Cell<bool> = const { Cell::new(false) };
}

/// Open the workspace (once) and make sure the page is an entry of it: the first
/// visit's page (or one whose entry is gone) is adopted with the service state its
/// worker already runs, so nothing it had is lost.
fn ready(state: AppState) -> Ready {
    READY.with(|r| {
        r.borrow_mut()
            .get_or_insert_with(|| {
                async move {
                    let ws = Rc::new(Workspace::open().await?);
                    let listing = ws.list().await?;
                    if listing.skipped > 0 {
                        state.workspace.message.set(Some(format!(
                            "{} saved fiddle record{} could not be read and {} left as {}.",
                            listing.skipped,
                            if listing.skipped == 1 { "" } else { "s" },
                            if listing.skipped == 1 { "was" } else { "were" },
                            if listing.skipped == 1 {
                                "it was"
                            } else {
                                "they were"
                            },
                        )));
                    }
                    let cur = workspace::current()
                        .filter(|id| listing.entries.iter().any(|e| &e.id == id));
                    // A first visit that opens a link or file: that becomes the first
                    // entry (`enter_new`); the empty page is not worth one.
                    let opening = !RETURNING.with(Cell::get)
                        && state.loading.get_untracked().is_some()
                        && controller::guest_bytes().is_none();
                    let id = match cur {
                        Some(id) => id,
                        None if opening => return Ok(ws),
                        None => {
                            let (f, guest, name) = snapshot(state);
                            let st = storage::get(controller::STATE_KEY).unwrap_or_default();
                            let meta = ws.create_with_state(&name, &f, guest.as_ref(), &st).await?;
                            workspace::set_current(Some(&meta.id));
                            meta.id
                        }
                    };
                    state.workspace.current.set(Some(id));
                    Ok(ws)
                }
                .boxed_local()
                .shared()
            })
            .clone()
    })
}

/// Start: open the workspace, list it, and save the page whenever it changes. Call
/// before anything saves the page (to tell a returning user from a first visit).
pub fn start(state: AppState) {
    RETURNING.with(|r| {
        r.set(
            storage::get(controller::REQUEST_KEY).is_some()
                || storage::get(fiddle_actions::FIDDLE_KEY).is_some(),
        )
    });
    spawn_local(async move {
        if let Err(e) = ready(state).await {
            state.workspace.message.set(Some(e));
            return;
        }
        refresh(state).await;
    });
    Effect::new(move |_| {
        // What an entry holds: the fiddle and the guest.
        state.fiddle.requests.track();
        state.fiddle.title.track();
        state.fiddle.recordings.track();
        state.config_text.track();
        state.guest.track();
        let generation = SAVE_GEN.with(|g| {
            g.set(g.get() + 1);
            g.get()
        });
        spawn_local(async move {
            sleep_ms(400.0).await;
            if SAVE_GEN.with(Cell::get) == generation {
                let _ = save_now(state).await;
            }
        });
    });
}

/// The page as an entry: its fiddle, the guest file when the guest is a dropped
/// file (an example travels by name), and a name.
fn snapshot(state: AppState) -> (Fiddle, Option<GuestFile>, String) {
    let example = state
        .guest
        .with_untracked(|g| g.as_ref().and_then(|g| g.example));
    let file = controller::guest_bytes();
    let (guest, file) = match (example, file) {
        (Some(name), _) => (GuestSource::Example { name: name.into() }, None),
        // A stored guest file is the guest; the fiddle's own says "none".
        (None, Some((name, bytes))) => (
            GuestSource::Example {
                name: String::new(),
            },
            Some(GuestFile {
                name,
                bytes: bytes.to_vec(),
            }),
        ),
        (None, None) => (
            GuestSource::Example {
                name: String::new(),
            },
            None,
        ),
    };
    // JavaScript mode: the entry keeps the source.
    let (guest, file) = match super::js_actions::link_guest() {
        Some(js) => (js, None),
        None => (guest, file),
    };
    let f = fiddle_actions::fiddle_value(state, guest);
    let name = if f.title.is_empty() {
        UNTITLED.to_string()
    } else {
        f.title.clone()
    };
    (f, file, name)
}

/// Save the page into the current entry now (not while a guest is loading: the
/// page is half one entry, half another then).
async fn save_now(state: AppState) -> Result<(), String> {
    if state.loading.get_untracked().is_some() {
        ready(state).await?;
        return Ok(());
    }
    save_page(state).await
}

/// Save the page into the current entry, loading or not: for a fiddle being opened,
/// whose `loading` is set while the page still holds the current entry whole.
async fn save_page(state: AppState) -> Result<(), String> {
    let ws = ready(state).await?;
    let Some(id) = state.workspace.current.get_untracked() else {
        return Ok(());
    };
    let name = state.workspace.entries.with_untracked(|es| {
        es.as_ref()
            .and_then(|es| es.iter().find(|e| e.id == id).map(|e| e.name.clone()))
    });
    let (f, guest, default_name) = snapshot(state);
    // An entry nobody named is called after its fiddle (its guest, at first).
    let name = match name {
        Some(n) if n != UNTITLED => n,
        _ => default_name,
    };
    let res = ws.put(Some(&id), &name, &f, guest.as_ref()).await;
    if let Err(e) = &res {
        state.workspace.message.set(Some(e.clone()));
    }
    refresh(state).await;
    res.map(|_| ())
}

/// List the entries again.
async fn refresh(state: AppState) {
    let Ok(ws) = ready(state).await else { return };
    match ws.list().await {
        Ok(l) => state.workspace.entries.set(Some(l.entries)),
        Err(e) => state.workspace.message.set(Some(e)),
    }
}

/// Before an opened link or file goes into the page: save the page into its entry
/// and make a new entry (`name`, its own fresh service state) current, with a
/// worker on that state. `id`: the entry's id when one was chosen already (its
/// worker may be running on its state). `Err` when the workspace cannot be used:
/// the fiddle then opens in the current entry's place, and the caller says so.
pub async fn enter_new(
    state: AppState,
    id: Option<String>,
    name: &str,
    f: &Fiddle,
) -> Result<EntryMeta, String> {
    let ws = ready(state).await?;
    // The page is still the current entry whole (the opened fiddle goes in after),
    // though `loading` already names what is being opened.
    save_page(state).await?;
    let meta = ws.put(id.as_deref(), name, f, None).await?;
    workspace::set_current(Some(&meta.id));
    state.workspace.current.set(Some(meta.id.clone()));
    controller::use_state(state, &meta.state);
    refresh(state).await;
    Ok(meta)
}

/// Open the entry `id`: save the page into its entry, put `id`'s fiddle and guest
/// in the page and run its service state. Nothing runs until the user asks.
pub fn switch(state: AppState, id: String) {
    if state.phase.get_untracked() == Phase::Running
        || state.workspace.current.get_untracked().as_deref() == Some(&id)
    {
        return;
    }
    spawn_local(async move {
        let result: Result<(), String> = async {
            let ws = ready(state).await?;
            save_now(state).await?;
            let entry = ws
                .get(&id)
                .await?
                .ok_or_else(|| format!("there is no saved fiddle {id:?}"))?;
            let f = entry.fiddle().map_err(|e| e.to_string())?;
            let guest = match entry.guest {
                Some(g) => Some((g.name, g.bytes, None)),
                None => guest_of(&f).await?,
            };
            workspace::set_current(Some(&id));
            state.workspace.current.set(Some(id.clone()));
            controller::use_state(state, &entry.meta.state);
            fiddle_actions::apply_fiddle(state, &f);
            state.fiddle.opened.set(None);
            match guest {
                Some((name, bytes, example)) => controller::load_guest(
                    state,
                    name,
                    bytes,
                    example,
                    now_ms(),
                    AfterLoad::Nothing,
                    true,
                ),
                None if super::js_actions::open_entry_source(state, &f.guest) => {}
                None => controller::forget_guest(state),
            }
            state.notice.set(Some(format!(
                "Opened “{}” from your workspace (its own service state). Press Run or Run all.",
                entry.meta.name
            )));
            Ok(())
        }
        .await;
        if let Err(e) = result {
            state
                .workspace
                .message
                .set(Some(format!("Could not open that fiddle: {e}")));
        }
        refresh(state).await;
    });
}

/// An entry's guest when no file is stored with it: an example (downloaded), inline
/// bytes, a URL (fetched and checked), or none.
async fn guest_of(f: &Fiddle) -> Result<Option<(String, Vec<u8>, Option<&'static str>)>, String> {
    match &f.guest {
        GuestSource::Example { name } if name.is_empty() => Ok(None),
        GuestSource::Example { name } => {
            let ex = examples::find(name).ok_or_else(|| format!("no example {name}"))?;
            let bytes = controller::download(&format!("examples/{}", ex.file)).await?;
            Ok(Some((ex.file.to_string(), bytes, Some(ex.name))))
        }
        GuestSource::Inline { .. } => match f.guest.inline_bytes() {
            Some(Ok(b)) => Ok(Some(("fiddle.wasm".into(), b, None))),
            Some(Err(e)) => Err(e.to_string()),
            None => Ok(None),
        },
        GuestSource::Url { url, .. } => {
            let b = controller::download(url).await?;
            f.guest.verify(&b).map_err(|e| e.to_string())?;
            Ok(Some(("guest.wasm".into(), b, None)))
        }
        GuestSource::Source { .. } => Ok(None),
    }
}

/// A new, empty entry (the default config, no guest), opened.
pub fn new_entry(state: AppState) {
    spawn_local(async move {
        let result: Result<String, String> = async {
            let ws = ready(state).await?;
            save_now(state).await?;
            let mut f = Fiddle::new(GuestSource::Example {
                name: String::new(),
            });
            f.fastly_toml = edgeplay_web::examples::DEFAULT_CONFIG.into();
            f.requests.push(Default::default());
            Ok(ws.put(None, UNTITLED, &f, None).await?.id)
        }
        .await;
        match result {
            Ok(id) => switch(state, id),
            Err(e) => state.workspace.message.set(Some(e)),
        }
    });
}

/// Rename the entry `id` (the page's title too when it is the current one).
pub fn rename(state: AppState, id: String, name: String) {
    state.workspace.renaming.set(None);
    let name = name.trim().to_string();
    if name.is_empty() {
        return;
    }
    spawn_local(async move {
        let Ok(ws) = ready(state).await else { return };
        if state.workspace.current.get_untracked().as_deref() == Some(&id) {
            state.fiddle.title.set(name.clone());
        }
        if let Err(e) = ws.rename(&id, &name).await {
            state.workspace.message.set(Some(e));
        }
        refresh(state).await;
    });
}

/// Duplicate the entry `id`, with a copy of its service state.
pub fn duplicate(state: AppState, id: String) {
    spawn_local(async move {
        let Ok(ws) = ready(state).await else { return };
        if state.workspace.current.get_untracked().as_deref() == Some(&id) {
            let _ = save_now(state).await;
        }
        if let Err(e) = ws.duplicate(&id, None).await {
            state.workspace.message.set(Some(e));
        }
        refresh(state).await;
    });
}

/// Delete the entry `id`, its service state and its run history (not the open one).
pub fn delete(state: AppState, id: String) {
    if state.workspace.current.get_untracked().as_deref() == Some(&id) {
        return;
    }
    spawn_local(async move {
        let Ok(ws) = ready(state).await else { return };
        match ws.delete(&id).await {
            Ok(()) => {
                if let Err(e) = edgeplay_web::history_db::clear(&id).await {
                    state.workspace.message.set(Some(e));
                }
            }
            Err(e) => state.workspace.message.set(Some(e)),
        }
        refresh(state).await;
    });
}
