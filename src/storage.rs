//! What survives a reload: the editor texts in `localStorage`, the last guest in
//! IndexedDB (it can be megabytes). Anything stored that does not read back as
//! expected is ignored and removed: bad stored data never breaks the page.
//!
//! The IndexedDB database `edgeplay` (its schema is [`open_db`]'s) has two object
//! stores: `guests` (the last guest, under `"last"`) and `state` (the service state
//! the worker keeps: see [`crate::state_db`]).

use idb::{Database, DatabaseEvent, Factory, ObjectStoreParams, TransactionMode};
use js_sys::Uint8Array;
use wasm_bindgen::{JsCast, JsValue};

/// The app's IndexedDB database.
pub const DB_NAME: &str = crate::state_name::DEFAULT_DB;
/// Its schema version: 1 had `guests`; 2 adds `state`.
pub const DB_VERSION: u32 = 2;
const GUESTS: &str = "guests";
/// The object store of the service state (storage key → value, both bytes).
pub const STATE: &str = "state";
const LAST_GUEST: &str = "last";

fn local_storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok().flatten()
}

/// The string stored under `key`, if any.
pub fn get(key: &str) -> Option<String> {
    local_storage()?.get_item(key).ok().flatten()
}

/// Store `value` under `key` (quietly does nothing when storage is unavailable or full).
pub fn set(key: &str, value: &str) {
    if let Some(s) = local_storage() {
        let _ = s.set_item(key, value);
    }
}

/// Remove `key`.
pub fn remove(key: &str) {
    if let Some(s) = local_storage() {
        let _ = s.remove_item(key);
    }
}

/// A JSON value stored under `key`; a value that does not parse is removed.
pub fn get_json<T: serde::de::DeserializeOwned>(key: &str) -> Option<T> {
    let text = get(key)?;
    match serde_json::from_str(&text) {
        Ok(v) => Some(v),
        Err(_) => {
            remove(key);
            None
        }
    }
}

/// Store `value` as JSON under `key`.
pub fn set_json<T: serde::Serialize>(key: &str, value: &T) {
    if let Ok(text) = serde_json::to_string(value) {
        set(key, &text);
    }
}

/// The last guest a user loaded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SavedGuest {
    /// File name.
    pub name: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

async fn open() -> Result<Database, String> {
    open_db(DB_NAME).await
}

/// Open the database `name` with the app's schema, upgrading an older one in place:
/// the upgrade only adds the object stores it lacks (`guests`, `state`), so what a
/// version-1 database held stays. Another tab's newer version asking to upgrade
/// closes this connection (the tab is then told to reload by the failing open).
pub async fn open_db(name: &str) -> Result<Database, String> {
    open_db_with(name, DB_VERSION, &[GUESTS, STATE], |e| {
        format!("could not open IndexedDB `{name}`: {e}")
    })
    .await
}

/// Open the database `name` at `version`, creating the object `stores` it lacks (an
/// upgrade only adds, so what an older version held stays); an open that fails is
/// told by `open_error`. Another tab's newer version asking to upgrade closes this
/// connection. [`open_db`] and the workspace (`crate::workspace`) open theirs so.
pub async fn open_db_with(
    name: &str,
    version: u32,
    stores: &'static [&'static str],
    open_error: impl Fn(idb::Error) -> String,
) -> Result<Database, String> {
    let factory = Factory::new().map_err(|e| format!("IndexedDB is not available: {e}"))?;
    let mut req = factory.open(name, Some(version)).map_err(&open_error)?;
    req.on_upgrade_needed(move |event| {
        if let Ok(db) = event.database() {
            let names = db.store_names();
            for store in stores {
                if !names.iter().any(|n| n == store) {
                    let _ = db.create_object_store(store, ObjectStoreParams::new());
                }
            }
        }
    });
    let mut db = req.await.map_err(&open_error)?;
    db.on_version_change(|event| {
        // `event.target` is the connection: close it so the upgrade can go on.
        if let Some(conn) = event.target() {
            let close = js_sys::Reflect::get(&conn, &"close".into())
                .ok()
                .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
            if let Some(close) = close {
                let _ = close.call0(&conn);
            }
        }
    });
    Ok(db)
}

/// Remember `name` and `bytes` as the last guest.
pub async fn save_guest(name: &str, bytes: &[u8]) -> Result<(), String> {
    let db = open().await?;
    let tx = db
        .transaction(&[GUESTS], TransactionMode::ReadWrite)
        .map_err(|e| e.to_string())?;
    let store = tx.object_store(GUESTS).map_err(|e| e.to_string())?;
    let value = js_sys::Object::new();
    let _ = js_sys::Reflect::set(&value, &"name".into(), &name.into());
    let _ = js_sys::Reflect::set(&value, &"bytes".into(), &Uint8Array::from(bytes));
    store
        .put(&value, Some(&JsValue::from_str(LAST_GUEST)))
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    tx.commit()
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    db.close();
    Ok(())
}

/// The last guest, if one was saved and reads back well (otherwise it is removed).
pub async fn load_guest() -> Option<SavedGuest> {
    let db = open().await.ok()?;
    let value = read_last(&db).await;
    let guest = value.as_ref().and_then(decode_guest);
    if value.is_some() && guest.is_none() {
        let _ = delete_last(&db).await;
    }
    db.close();
    guest
}

/// Forget the last guest.
pub async fn clear_guest() {
    if let Ok(db) = open().await {
        let _ = delete_last(&db).await;
        db.close();
    }
}

async fn read_last(db: &Database) -> Option<JsValue> {
    let tx = db.transaction(&[GUESTS], TransactionMode::ReadOnly).ok()?;
    let store = tx.object_store(GUESTS).ok()?;
    let v = store
        .get(JsValue::from_str(LAST_GUEST))
        .ok()?
        .await
        .ok()
        .flatten();
    let _ = tx.await;
    v
}

async fn delete_last(db: &Database) -> Result<(), String> {
    let tx = db
        .transaction(&[GUESTS], TransactionMode::ReadWrite)
        .map_err(|e| e.to_string())?;
    let store = tx.object_store(GUESTS).map_err(|e| e.to_string())?;
    store
        .delete(JsValue::from_str(LAST_GUEST))
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    tx.commit()
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn decode_guest(v: &JsValue) -> Option<SavedGuest> {
    let name = js_sys::Reflect::get(v, &"name".into()).ok()?.as_string()?;
    let bytes = js_sys::Reflect::get(v, &"bytes".into())
        .ok()?
        .dyn_into::<Uint8Array>()
        .ok()?;
    if name.is_empty() || bytes.length() == 0 {
        return None;
    }
    Some(SavedGuest {
        name,
        bytes: bytes.to_vec(),
    })
}
