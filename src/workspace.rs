//! The workspace: the fiddles a user saved in this browser, each with its own
//! service state. A browser library for the UI thread (no UI here).
//!
//! **Where.** Its own IndexedDB database, [`WORKSPACE_DB`] (version
//! [`WORKSPACE_DB_VERSION`]), not a new version of the `edgeplay` database: that one
//! is opened by every worker (the default service state, `crate::storage::open_db`)
//! and by tabs still running older code, and an IndexedDB version bump makes every
//! open at the older version fail. A database of its own has a schema of its own
//! and never blocks the state. Three object stores, each keyed by the entry's id:
//!
//! - `meta`: an [`EntryMeta`] (id, name, updated time, size, state, guest file
//!   name) — all that [`Workspace::list`] reads, so big guests and long fiddles stay
//!   out of the list;
//! - `fiddles`: the fiddle's JSON text (`edgeplay_host::fiddle::Fiddle::to_json`);
//! - `guests`: the guest file (`{ name, bytes }`) when the fiddle's guest is a
//!   dropped file, not an example, a URL or inline bytes.
//!
//! **State.** Each entry names its service state ([`EntryMeta::state`], see
//! [`crate::state_name`]): a new entry's is its id; [`Workspace::create_with_state`]
//! lets the first entry of an existing user adopt the default state
//! ([`crate::state_name::DEFAULT_STATE`]) so nothing they had is lost. Duplicate
//! copies the state ([`crate::state_db::copy_state`]), delete deletes it
//! ([`crate::state_db::delete_state`]). The UI runs an entry by spawning its worker:
//! `WorkerBridge::spawn_for_state(&meta.state, ...)`.
//!
//! **Damage.** A stored record that does not read back (not an object, a missing
//! field, a fiddle text that is not text) is skipped by [`Workspace::list`] (and
//! counted), an error for [`Workspace::get`], and never deleted or overwritten by
//! anything here; nothing panics on it.
//!
//! The current entry's id is in `localStorage` ([`current`], [`set_current`]).

use crate::protocol::js;
use edgeplay_host::fiddle::{Fiddle, FiddleError};
use idb::{Database, TransactionMode};
use js_sys::Uint8Array;
use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};

/// The workspace's IndexedDB database.
pub const WORKSPACE_DB: &str = "edgeplay-workspace";
/// Its schema version (1: `meta`, `fiddles`, `guests`).
pub const WORKSPACE_DB_VERSION: u32 = 1;
const META: &str = "meta";
const FIDDLES: &str = "fiddles";
const GUESTS: &str = "guests";
/// The `localStorage` key of the current entry's id.
pub const CURRENT_KEY: &str = "edgeplay.workspace.current";

/// What the list shows of a saved fiddle (the `meta` record).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntryMeta {
    /// Its id (also its records' key).
    pub id: String,
    /// Its name, for people.
    pub name: String,
    /// When it was last saved or renamed (ms since the Unix epoch).
    pub updated_ms: f64,
    /// Bytes stored: the fiddle's JSON text and the guest file.
    pub size: u64,
    /// Its service state's name ([`crate::state_name`]).
    pub state: String,
    /// The guest file's name, when a dropped file is stored with it.
    pub guest_name: Option<String>,
}

/// A guest file stored with a fiddle (its guest was a dropped `.wasm`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestFile {
    /// The file name.
    pub name: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// A saved fiddle, whole.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    /// What the list shows.
    pub meta: EntryMeta,
    /// The fiddle's JSON text.
    pub fiddle_json: String,
    /// The guest file, when one is stored.
    pub guest: Option<GuestFile>,
}

impl Entry {
    /// The fiddle (its JSON read back).
    pub fn fiddle(&self) -> Result<Fiddle, FiddleError> {
        Fiddle::from_json(&self.fiddle_json)
    }
}

/// The saved fiddles, most recently updated first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Listing {
    /// The entries that read back.
    pub entries: Vec<EntryMeta>,
    /// Stored records that did not (left as they are).
    pub skipped: usize,
}

/// The workspace database, open.
pub struct Workspace {
    db: Database,
}

fn idb_err(what: &str) -> impl Fn(idb::Error) -> String + '_ {
    move |e| format!("the workspace: could not {what}: {e}")
}

async fn committed(tx: idb::Transaction, what: &str) -> Result<(), String> {
    match tx.commit().map_err(idb_err(what))?.await {
        Ok(r) if r.is_committed() => Ok(()),
        Ok(_) => Err(format!("the workspace: could not {what}: aborted")),
        Err(e) => Err(format!("the workspace: could not {what}: {e}")),
    }
}

/// A fresh entry id: 16 hex digits from the platform's random source (also a
/// state name).
pub fn new_id() -> String {
    let mut b = [0u8; 8];
    edgeplay_host::platform::Random::fill(&crate::platform::BrowserRandom, &mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn guest_js(g: &GuestFile) -> JsValue {
    let value = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&value, &"name".into(), &g.name.as_str().into());
    let _ = js_sys::Reflect::set(&value, &"bytes".into(), &Uint8Array::from(&g.bytes[..]));
    value.into()
}

fn guest_of(v: &JsValue) -> Option<GuestFile> {
    let name = js_sys::Reflect::get(v, &"name".into()).ok()?.as_string()?;
    let bytes = js_sys::Reflect::get(v, &"bytes".into())
        .ok()?
        .dyn_into::<Uint8Array>()
        .ok()?;
    Some(GuestFile {
        name,
        bytes: bytes.to_vec(),
    })
}

fn meta_of(key: &JsValue, v: &JsValue) -> Option<EntryMeta> {
    let meta: EntryMeta = js::decode(v.clone()).ok()?;
    (key.as_string().as_deref() == Some(meta.id.as_str())
        && crate::state_name::check(&meta.state).is_ok())
    .then_some(meta)
}

impl Workspace {
    /// Open the workspace ([`WORKSPACE_DB`]).
    pub async fn open() -> Result<Workspace, String> {
        Workspace::open_named(WORKSPACE_DB).await
    }

    /// Open the workspace database `name` (tests use their own), creating the
    /// object stores it lacks.
    pub async fn open_named(name: &str) -> Result<Workspace, String> {
        let db = crate::storage::open_db_with(
            name,
            WORKSPACE_DB_VERSION,
            &[META, FIDDLES, GUESTS],
            idb_err("open its database"),
        )
        .await?;
        Ok(Workspace { db })
    }

    /// Every saved fiddle that reads back, most recently updated first (the `meta`
    /// records only: no fiddle text, no guest bytes).
    pub async fn list(&self) -> Result<Listing, String> {
        let err = idb_err("list the saved fiddles");
        let tx = self
            .db
            .transaction(&[META], TransactionMode::ReadOnly)
            .map_err(&err)?;
        let store = tx.object_store(META).map_err(&err)?;
        let keys = store.get_all_keys(None, None).map_err(&err)?;
        let values = store.get_all(None, None).map_err(&err)?;
        let keys = keys.await.map_err(&err)?;
        let values = values.await.map_err(&err)?;
        let _ = tx.await;
        let mut listing = Listing::default();
        for (k, v) in keys.iter().zip(values.iter()) {
            match meta_of(k, v) {
                Some(m) => listing.entries.push(m),
                None => listing.skipped += 1,
            }
        }
        listing.skipped += keys.len().abs_diff(values.len());
        listing
            .entries
            .sort_by(|a, b| b.updated_ms.total_cmp(&a.updated_ms));
        Ok(listing)
    }

    /// The meta record of `id`: `Ok(None)` when there is none, an error when it
    /// does not read back.
    async fn meta(&self, id: &str) -> Result<Option<EntryMeta>, String> {
        let err = idb_err("read a saved fiddle");
        let tx = self
            .db
            .transaction(&[META], TransactionMode::ReadOnly)
            .map_err(&err)?;
        let store = tx.object_store(META).map_err(&err)?;
        let v = store
            .get(JsValue::from_str(id))
            .map_err(&err)?
            .await
            .map_err(&err)?;
        let _ = tx.await;
        match v {
            None => Ok(None),
            Some(v) => meta_of(&JsValue::from_str(id), &v)
                .map(Some)
                .ok_or_else(|| damaged(id)),
        }
    }

    /// The saved fiddle `id`, whole: `Ok(None)` when there is none, an error when a
    /// record of it does not read back (it is left as it is).
    pub async fn get(&self, id: &str) -> Result<Option<Entry>, String> {
        let err = idb_err("read a saved fiddle");
        let tx = self
            .db
            .transaction(&[META, FIDDLES, GUESTS], TransactionMode::ReadOnly)
            .map_err(&err)?;
        let key = || JsValue::from_str(id);
        let meta = tx
            .object_store(META)
            .map_err(&err)?
            .get(key())
            .map_err(&err)?;
        let text = tx
            .object_store(FIDDLES)
            .map_err(&err)?
            .get(key())
            .map_err(&err)?;
        let guest = tx
            .object_store(GUESTS)
            .map_err(&err)?
            .get(key())
            .map_err(&err)?;
        let (meta, text, guest) = (
            meta.await.map_err(&err)?,
            text.await.map_err(&err)?,
            guest.await.map_err(&err)?,
        );
        let _ = tx.await;
        let Some(meta) = meta else {
            return Ok(None);
        };
        let meta = meta_of(&key(), &meta).ok_or_else(|| damaged(id))?;
        let fiddle_json = text
            .and_then(|t| t.as_string())
            .ok_or_else(|| damaged(id))?;
        let guest = match (&meta.guest_name, guest) {
            (None, _) => None,
            (Some(_), Some(g)) => Some(guest_of(&g).ok_or_else(|| damaged(id))?),
            (Some(_), None) => return Err(damaged(id)),
        };
        Ok(Some(Entry {
            meta,
            fiddle_json,
            guest,
        }))
    }

    /// Write an entry's records in one transaction (`guest: None` removes a stored
    /// guest file).
    async fn write(
        &self,
        meta: &EntryMeta,
        fiddle_json: &str,
        guest: Option<&GuestFile>,
    ) -> Result<(), String> {
        let err = idb_err("save the fiddle");
        let tx = self
            .db
            .transaction(&[META, FIDDLES, GUESTS], TransactionMode::ReadWrite)
            .map_err(&err)?;
        let key = JsValue::from_str(&meta.id);
        tx.object_store(FIDDLES)
            .map_err(&err)?
            .put(&JsValue::from_str(fiddle_json), Some(&key))
            .map_err(&err)?;
        let guests = tx.object_store(GUESTS).map_err(&err)?;
        match guest {
            Some(g) => {
                guests.put(&guest_js(g), Some(&key)).map_err(&err)?;
            }
            None => {
                guests.delete(key.clone()).map_err(&err)?;
            }
        }
        tx.object_store(META)
            .map_err(&err)?
            .put(&js::encode(meta)?, Some(&key))
            .map_err(&err)?;
        committed(tx, "save the fiddle").await
    }

    /// Save a fiddle: a new entry when `id` is `None` (a fresh id, its own empty
    /// state), else the entry `id` updated (its state kept; one that does not exist
    /// yet is created with that id). `guest` is the dropped guest file, when the
    /// fiddle's guest is one (`None` drops a stored one). An entry whose stored
    /// record does not read back is not overwritten (an error).
    pub async fn put(
        &self,
        id: Option<&str>,
        name: &str,
        fiddle: &Fiddle,
        guest: Option<&GuestFile>,
    ) -> Result<EntryMeta, String> {
        let (id, state) = match id {
            None => {
                let id = new_id();
                (id.clone(), id)
            }
            Some(id) => match self.meta(id).await? {
                Some(m) => (m.id, m.state),
                None => {
                    crate::state_name::check(id)?;
                    (id.to_string(), id.to_string())
                }
            },
        };
        self.save(id, state, name, fiddle, guest).await
    }

    /// A new entry whose service state is `state` (e.g. the default state, so the
    /// first entry of an existing user keeps what they had).
    pub async fn create_with_state(
        &self,
        name: &str,
        fiddle: &Fiddle,
        guest: Option<&GuestFile>,
        state: &str,
    ) -> Result<EntryMeta, String> {
        crate::state_name::check(state)?;
        self.save(new_id(), state.to_string(), name, fiddle, guest)
            .await
    }

    async fn save(
        &self,
        id: String,
        state: String,
        name: &str,
        fiddle: &Fiddle,
        guest: Option<&GuestFile>,
    ) -> Result<EntryMeta, String> {
        let json = fiddle.to_json();
        let meta = EntryMeta {
            id,
            name: name.to_string(),
            updated_ms: js_sys::Date::now(),
            size: (json.len() + guest.map_or(0, |g| g.bytes.len())) as u64,
            state,
            guest_name: guest.map(|g| g.name.clone()),
        };
        self.write(&meta, &json, guest).await?;
        Ok(meta)
    }

    /// Rename the entry `id` (its updated time moves to now).
    pub async fn rename(&self, id: &str, name: &str) -> Result<EntryMeta, String> {
        let mut meta = self.meta(id).await?.ok_or_else(|| missing(id))?;
        meta.name = name.to_string();
        meta.updated_ms = js_sys::Date::now();
        let err = idb_err("rename the fiddle");
        let tx = self
            .db
            .transaction(&[META], TransactionMode::ReadWrite)
            .map_err(&err)?;
        tx.object_store(META)
            .map_err(&err)?
            .put(&js::encode(&meta)?, Some(&JsValue::from_str(id)))
            .map_err(&err)?;
        committed(tx, "rename the fiddle").await?;
        Ok(meta)
    }

    /// A copy of the entry `id` under a new id, named `name` (default: "NAME
    /// (copy)"), with its own copy of the service state.
    pub async fn duplicate(&self, id: &str, name: Option<&str>) -> Result<EntryMeta, String> {
        let entry = self.get(id).await?.ok_or_else(|| missing(id))?;
        let new = new_id();
        crate::state_db::copy_state(&entry.meta.state, &new).await?;
        let meta = EntryMeta {
            id: new.clone(),
            name: name
                .map(str::to_string)
                .unwrap_or_else(|| format!("{} (copy)", entry.meta.name)),
            updated_ms: js_sys::Date::now(),
            state: new,
            ..entry.meta.clone()
        };
        self.write(&meta, &entry.fiddle_json, entry.guest.as_ref())
            .await?;
        Ok(meta)
    }

    /// Delete the entry `id` and its service state (terminate a worker that has
    /// it open first). Forgets it as the current entry. Deleting nothing is fine;
    /// an entry whose record does not read back is an error (left as it is).
    pub async fn delete(&self, id: &str) -> Result<(), String> {
        let Some(meta) = self.meta(id).await? else {
            return Ok(());
        };
        let err = idb_err("delete the fiddle");
        let tx = self
            .db
            .transaction(&[META, FIDDLES, GUESTS], TransactionMode::ReadWrite)
            .map_err(&err)?;
        for store in [META, FIDDLES, GUESTS] {
            tx.object_store(store)
                .map_err(&err)?
                .delete(JsValue::from_str(id))
                .map_err(&err)?;
        }
        committed(tx, "delete the fiddle").await?;
        if current().as_deref() == Some(id) {
            set_current(None);
        }
        crate::state_db::delete_state(&meta.state).await
    }

    /// Close the database (also done on drop).
    pub fn close(&self) {
        self.db.close();
    }

    /// Store a record as it is (tests: what a damaged workspace looks like).
    pub async fn put_raw(&self, store: &str, key: &JsValue, value: &JsValue) -> Result<(), String> {
        let err = idb_err("store a record");
        let tx = self
            .db
            .transaction(&[store], TransactionMode::ReadWrite)
            .map_err(&err)?;
        tx.object_store(store)
            .map_err(&err)?
            .put(value, Some(key))
            .map_err(&err)?;
        committed(tx, "store a record").await
    }

    /// How many records the object store `store` holds, readable or not (tests).
    pub async fn count_raw(&self, store: &str) -> Result<u32, String> {
        let err = idb_err("count records");
        let tx = self
            .db
            .transaction(&[store], TransactionMode::ReadOnly)
            .map_err(&err)?;
        let n = tx
            .object_store(store)
            .map_err(&err)?
            .count(None)
            .map_err(&err)?
            .await
            .map_err(&err)?;
        let _ = tx.await;
        Ok(n)
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        self.db.close();
    }
}

fn damaged(id: &str) -> String {
    format!("the saved fiddle {id:?} cannot be read back (its stored records are damaged; they were left as they are)")
}

fn missing(id: &str) -> String {
    format!("there is no saved fiddle {id:?}")
}

/// The current entry's id, if one is set.
pub fn current() -> Option<String> {
    crate::storage::get(CURRENT_KEY).filter(|id| !id.is_empty())
}

/// Make `id` the current entry (`None`: none).
pub fn set_current(id: Option<&str>) {
    match id {
        Some(id) => crate::storage::set(CURRENT_KEY, id),
        None => crate::storage::remove(CURRENT_KEY),
    }
}
