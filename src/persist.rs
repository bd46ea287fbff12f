//! The worker's service state and what keeps it durable and shared between tabs.
//!
//! One [`Persist`] per worker life holds the state every run (and the Stores panel)
//! uses: a [`SharedStorage`] loaded from IndexedDB at worker start
//! ([`MemoryStorage::with_entries`]: nothing journaled). Then:
//!
//! - **Writes.** [`Persist::flush`] drains the journal (the driver loop calls it after
//!   every slice; the panel's edits call it at once) and writes the changes to
//!   IndexedDB in one read-write transaction. [`Persist::settled`] waits for every
//!   write so far to commit: the worker posts a run's `Done` only after it, so a
//!   guest's writes are durable once its response completed. Stop terminates the
//!   worker at any moment; what was committed stays, a write in flight is lost.
//! - **Other tabs.** Once a write committed, its keys go out on the
//!   `BroadcastChannel` [`CHANNEL`]. A worker that hears of keys re-reads them from
//!   IndexedDB and applies what it read ([`SharedStorage::apply`]: not journaled), so
//!   every tab converges on what IndexedDB holds — when two tabs write the same key
//!   at the same moment, the transaction that commits last wins, in IndexedDB and
//!   then in both tabs. A key this worker wrote after the re-read began keeps its
//!   (newer) local value.
//! - **No IndexedDB** (a browser that refuses it): the state lives in the worker
//!   only, and the UI is told so.

use crate::state_db;
use crate::storage::open_db;
use edgeplay_host::storage::{Change, MemoryStorage, SharedStorage};
use futures_channel::oneshot;
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;

/// The `BroadcastChannel` the workers of one origin announce their committed writes on.
pub const CHANNEL: &str = crate::state_name::DEFAULT_CHANNEL;

/// What a worker announces on [`CHANNEL`]: the keys a committed write changed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Announce {
    /// The storage keys.
    pub keys: Vec<serde_bytes::ByteBuf>,
}

/// What the state did, for the UI.
#[derive(Clone, Debug, PartialEq)]
pub enum StateEvent {
    /// These keys changed: written here (`remote: false`, once committed) or by
    /// another tab (`remote: true`, once applied here).
    Changed {
        /// The storage keys.
        keys: Vec<Vec<u8>>,
        /// True when another tab wrote them.
        remote: bool,
    },
    /// Something could not be stored or read back.
    Error(String),
}

/// How loading went.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadReport {
    /// Keys loaded.
    pub keys: usize,
    /// Stored records that were not bytes (left as they are).
    pub skipped: usize,
    /// Milliseconds reading IndexedDB took.
    pub load_ms: f64,
    /// Why the state is not durable, when it is not (no IndexedDB).
    pub not_durable: Option<String>,
}

/// The worker's state, its IndexedDB copy and the channel to the other tabs.
pub struct Persist {
    /// The state every run and the panel use.
    pub state: SharedStorage,
    db: Option<idb::Database>,
    channel: Option<web_sys::BroadcastChannel>,
    /// Writes not yet known to have committed.
    writes: RefCell<Vec<oneshot::Receiver<Result<(), String>>>>,
    /// Flushes so far; `written` maps a key to the flush that last wrote it.
    flushes: Cell<u64>,
    written: RefCell<HashMap<Vec<u8>, u64>>,
    /// Re-reads under way (`written` is forgotten when none is).
    reading: Cell<usize>,
    on_event: RefCell<Option<EventSink>>,
    _on_announce: RefCell<Option<OnMessage>>,
}

type EventSink = Rc<dyn Fn(StateEvent)>;
type OnMessage = Closure<dyn FnMut(web_sys::MessageEvent)>;

impl Persist {
    /// Open the database `db_name`, load the state and listen on `channel`. Keys other
    /// tabs announce while loading are re-read once loaded.
    pub async fn open(db_name: &str, channel: &str) -> (Rc<Persist>, LoadReport) {
        let t0 = crate::platform::now_ms();
        let (db, loaded, not_durable) = match open_db(db_name).await {
            Ok(db) => match state_db::load(&db).await {
                Ok(loaded) => (Some(db), loaded, None),
                // Unreadable: keep the records, work in memory rather than overwrite them.
                Err(e) => (None, state_db::Loaded::default(), Some(e)),
            },
            Err(e) => (None, state_db::Loaded::default(), Some(e)),
        };
        let report = LoadReport {
            keys: loaded.entries.len(),
            skipped: loaded.skipped,
            load_ms: crate::platform::now_ms() - t0,
            not_durable,
        };
        let channel = match db {
            Some(_) => web_sys::BroadcastChannel::new(channel).ok(),
            None => None,
        };
        let persist = Rc::new(Persist {
            state: SharedStorage::new(MemoryStorage::with_entries(loaded.entries)),
            db,
            channel,
            writes: RefCell::default(),
            flushes: Cell::new(0),
            written: RefCell::default(),
            reading: Cell::new(0),
            on_event: RefCell::new(None),
            _on_announce: RefCell::new(None),
        });
        persist.listen();
        (persist, report)
    }

    /// Open the service state `name` (a workspace entry's; `""` is the default, the
    /// database the tab always had: see [`crate::state_name`]). A name that is not a
    /// state name keeps the state in memory, and the report says why.
    pub async fn open_state(name: &str) -> (Rc<Persist>, LoadReport) {
        match (
            crate::state_name::db_name(name),
            crate::state_name::channel_name(name),
        ) {
            (Ok(db), Ok(channel)) => Persist::open(&db, &channel).await,
            (Err(e), _) | (_, Err(e)) => Persist::memory_only(e),
        }
    }

    /// A state in this worker only (nothing stored, nothing shared); `why` says why.
    pub fn memory_only(why: String) -> (Rc<Persist>, LoadReport) {
        let persist = Rc::new(Persist {
            state: SharedStorage::new(MemoryStorage::default()),
            db: None,
            channel: None,
            writes: RefCell::default(),
            flushes: Cell::new(0),
            written: RefCell::default(),
            reading: Cell::new(0),
            on_event: RefCell::new(None),
            _on_announce: RefCell::new(None),
        });
        let report = LoadReport {
            not_durable: Some(why),
            ..LoadReport::default()
        };
        (persist, report)
    }

    /// True when the state is written to IndexedDB.
    pub fn is_durable(&self) -> bool {
        self.db.is_some()
    }

    /// Where the state's events go (the worker posts them to the UI).
    pub fn on_event(&self, f: impl Fn(StateEvent) + 'static) {
        *self.on_event.borrow_mut() = Some(Rc::new(f));
    }

    fn emit(&self, ev: StateEvent) {
        let f = self.on_event.borrow().clone();
        if let Some(f) = f {
            f(ev);
        }
    }

    fn listen(self: &Rc<Self>) {
        let Some(channel) = &self.channel else {
            return;
        };
        let weak = Rc::downgrade(self);
        let on_message =
            Closure::<dyn FnMut(web_sys::MessageEvent)>::new(move |ev: web_sys::MessageEvent| {
                let Some(me) = weak.upgrade() else { return };
                match crate::protocol::js::decode::<Announce>(ev.data()) {
                    Ok(a) => me.refresh(a.keys.into_iter().map(|k| k.into_vec()).collect()),
                    Err(e) => me.emit(StateEvent::Error(format!(
                        "another tab announced a change this tab cannot read: {e}"
                    ))),
                }
            });
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        *self._on_announce.borrow_mut() = Some(on_message);
    }

    /// Re-read `keys` from IndexedDB and apply what is stored (another tab wrote them).
    pub fn refresh(self: &Rc<Self>, keys: Vec<Vec<u8>>) {
        if self.db.is_none() || keys.is_empty() {
            return;
        }
        let since = self.flushes.get();
        self.reading.set(self.reading.get() + 1);
        let me = self.clone();
        spawn_local(async move {
            let read = match &me.db {
                Some(db) => state_db::read(db, &keys).await,
                None => Ok(Vec::new()),
            };
            me.reading.set(me.reading.get() - 1);
            match read {
                Ok(changes) => {
                    // A key written here since the read began holds a newer value.
                    let changes: Vec<Change> = {
                        let written = me.written.borrow();
                        changes
                            .into_iter()
                            .filter(|c| written.get(c.key()).is_none_or(|at| *at <= since))
                            .collect()
                    };
                    if me.reading.get() == 0 {
                        me.written.borrow_mut().clear();
                    }
                    me.state.apply(&changes);
                    let keys = changes.iter().map(|c| c.key().to_vec()).collect();
                    me.emit(StateEvent::Changed { keys, remote: true });
                }
                Err(e) => me.emit(StateEvent::Error(e)),
            }
        });
    }

    /// Write what changed since the last flush (one transaction), then announce it.
    /// Returns at once; [`Persist::settled`] waits for the commit.
    pub fn flush(self: &Rc<Self>) {
        let changes = self.state.take_journal();
        if changes.is_empty() {
            return;
        }
        let flush = self.flushes.get() + 1;
        self.flushes.set(flush);
        let mut keys: Vec<Vec<u8>> = Vec::new();
        {
            let mut written = self.written.borrow_mut();
            for c in &changes {
                if written.insert(c.key().to_vec(), flush) != Some(flush) {
                    keys.push(c.key().to_vec());
                }
            }
        }
        if self.reading.get() == 0 {
            self.written.borrow_mut().clear();
        }
        let write = self.db.as_ref().map(|db| state_db::write(db, &changes));
        let (done, wait) = oneshot::channel();
        self.writes.borrow_mut().push(wait);
        let me = self.clone();
        spawn_local(async move {
            let result = match write {
                None => Ok(()),
                Some(Err(e)) => Err(e),
                Some(Ok(commit)) => commit.await,
            };
            match &result {
                Ok(()) => {
                    me.announce(&keys);
                    me.emit(StateEvent::Changed {
                        keys,
                        remote: false,
                    });
                }
                Err(e) => me.emit(StateEvent::Error(e.clone())),
            }
            let _ = done.send(result);
        });
    }

    fn announce(&self, keys: &[Vec<u8>]) {
        let Some(channel) = &self.channel else {
            return;
        };
        let msg = Announce {
            keys: keys
                .iter()
                .map(|k| serde_bytes::ByteBuf::from(k.clone()))
                .collect(),
        };
        if let Ok(v) = crate::protocol::js::encode(&msg) {
            let _ = channel.post_message(&v);
        }
    }

    /// Wait until every write flushed so far committed; the first error, if any.
    pub async fn settled(&self) -> Result<(), String> {
        let mut first_error = None;
        loop {
            let pending = std::mem::take(&mut *self.writes.borrow_mut());
            if pending.is_empty() {
                return first_error.map_or(Ok(()), Err);
            }
            for w in pending {
                let r = w
                    .await
                    .unwrap_or_else(|_| Err("a state write was lost".into()));
                if let Err(e) = r {
                    first_error.get_or_insert(e);
                }
            }
        }
    }
}

impl Drop for Persist {
    fn drop(&mut self) {
        if let Some(c) = &self.channel {
            c.set_onmessage(None);
            c.close();
        }
        if let Some(db) = &self.db {
            db.close();
        }
    }
}
