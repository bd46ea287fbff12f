//! The service state's durable copy in the tab: the `state` object store of the
//! app's IndexedDB database ([`crate::storage::open_db`]).
//!
//! One record per storage key: the IndexedDB key is the storage key as a binary key
//! (a `Uint8Array`; IndexedDB orders binary keys bytewise, as [`Storage`] does), the
//! value is the stored value as a `Uint8Array`. A record that does not read back as
//! bytes (written by something else, or damaged) is skipped when loading and left
//! where it is: bad stored data never breaks the worker and is never deleted by it.
//!
//! [`Storage`]: edgeplay_host::storage::Storage

use crate::storage::STATE;
use edgeplay_host::storage::Change;
use idb::{Database, TransactionMode};
use js_sys::{ArrayBuffer, Uint8Array};
use std::future::{Future, IntoFuture};
use wasm_bindgen::{JsCast, JsValue};

/// Everything the `state` store holds, as read at worker start.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The records that read back as bytes, in key order.
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
    /// Records that did not (left as they are).
    pub skipped: usize,
}

/// Bytes from a binary IndexedDB key or value (`ArrayBuffer` or `Uint8Array`).
fn bytes_of(v: &JsValue) -> Option<Vec<u8>> {
    if let Some(a) = v.dyn_ref::<Uint8Array>() {
        return Some(a.to_vec());
    }
    v.dyn_ref::<ArrayBuffer>()
        .map(|b| Uint8Array::new(b).to_vec())
}

fn key_js(key: &[u8]) -> JsValue {
    Uint8Array::from(key).into()
}

/// Read every record (one read-only transaction: keys and values from the same
/// snapshot, both in key order).
pub async fn load(db: &Database) -> Result<Loaded, String> {
    let err = |e: idb::Error| format!("could not read the stored state: {e}");
    let tx = db
        .transaction(&[STATE], TransactionMode::ReadOnly)
        .map_err(err)?;
    let store = tx.object_store(STATE).map_err(err)?;
    let keys = store.get_all_keys(None, None).map_err(err)?;
    let values = store.get_all(None, None).map_err(err)?;
    let keys = keys.await.map_err(err)?;
    let values = values.await.map_err(err)?;
    let _ = tx.await;
    let mut loaded = Loaded::default();
    for (k, v) in keys.iter().zip(values.iter()) {
        match (bytes_of(k), bytes_of(v)) {
            (Some(k), Some(v)) => loaded.entries.push((k, v)),
            _ => loaded.skipped += 1,
        }
    }
    loaded.skipped += keys.len().abs_diff(values.len());
    Ok(loaded)
}

/// Write `changes` in one read-write transaction. The requests are issued now (so
/// the transaction is ordered after every one created before); the future resolves
/// once the transaction committed, with an error when it did not.
pub fn write(
    db: &Database,
    changes: &[Change],
) -> Result<impl Future<Output = Result<(), String>>, String> {
    let err = |e: idb::Error| format!("could not store the state: {e}");
    let tx = db
        .transaction(&[STATE], TransactionMode::ReadWrite)
        .map_err(err)?;
    let store = tx.object_store(STATE).map_err(err)?;
    for c in changes {
        match c {
            Change::Put { key, value } => {
                store
                    .put(&Uint8Array::from(&value[..]).into(), Some(&key_js(key)))
                    .map_err(err)?;
            }
            Change::Delete { key } => {
                store.delete(key_js(key)).map_err(err)?;
            }
        }
    }
    let done = tx.commit().map_err(err)?.into_future();
    Ok(async move {
        match done.await {
            Ok(r) if r.is_committed() => Ok(()),
            Ok(_) => Err("could not store the state: the transaction was aborted".to_string()),
            Err(e) => Err(format!("could not store the state: {e}")),
        }
    })
}

/// The current records of `keys`, as changes to apply: a put of what is stored, a
/// delete where nothing (readable) is.
pub async fn read(db: &Database, keys: &[Vec<u8>]) -> Result<Vec<Change>, String> {
    let err = |e: idb::Error| format!("could not read the stored state: {e}");
    let tx = db
        .transaction(&[STATE], TransactionMode::ReadOnly)
        .map_err(err)?;
    let store = tx.object_store(STATE).map_err(err)?;
    let mut requests = Vec::with_capacity(keys.len());
    for k in keys {
        requests.push((k.clone(), store.get(key_js(k)).map_err(err)?));
    }
    let mut changes = Vec::with_capacity(keys.len());
    for (key, req) in requests {
        let v = req.await.map_err(err)?;
        changes.push(match v.as_ref().and_then(bytes_of) {
            Some(value) => Change::Put { key, value },
            None => Change::Delete { key },
        });
    }
    let _ = tx.await;
    Ok(changes)
}

/// Delete every record (tests and benchmarks start from nothing).
pub async fn clear(db: &Database) -> Result<(), String> {
    let err = |e: idb::Error| format!("could not clear the stored state: {e}");
    let tx = db
        .transaction(&[STATE], TransactionMode::ReadWrite)
        .map_err(err)?;
    let store = tx.object_store(STATE).map_err(err)?;
    store.clear().map_err(err)?;
    match tx.commit().map_err(err)?.await {
        Ok(r) if r.is_committed() => Ok(()),
        _ => Err("could not clear the stored state".into()),
    }
}

/// Store a record that is not bytes (tests: what a damaged database looks like).
pub async fn put_raw(db: &Database, key: &JsValue, value: &JsValue) -> Result<(), String> {
    let err = |e: idb::Error| format!("could not store: {e}");
    let tx = db
        .transaction(&[STATE], TransactionMode::ReadWrite)
        .map_err(err)?;
    let store = tx.object_store(STATE).map_err(err)?;
    store.put(value, Some(key)).map_err(err)?;
    match tx.commit().map_err(err)?.await {
        Ok(r) if r.is_committed() => Ok(()),
        _ => Err("could not store".into()),
    }
}

/// Delete the stored service state `name` (a workspace entry's: `crate::state_name`).
/// A named state's database is deleted; the default state's records are cleared
/// (its database also holds the last guest). A worker that has the state open loses
/// it (its connection closes when asked to): terminate it first. For the UI thread.
pub async fn delete_state(name: &str) -> Result<(), String> {
    let db_name = crate::state_name::db_name(name)?;
    if name.is_empty() {
        let db = crate::storage::open_db(&db_name).await?;
        let cleared = clear(&db).await;
        db.close();
        return cleared;
    }
    let factory = idb::Factory::new().map_err(|e| format!("IndexedDB is not available: {e}"))?;
    factory
        .delete(&db_name)
        .map_err(|e| format!("could not delete the state {name:?}: {e}"))?
        .await
        .map_err(|e| format!("could not delete the state {name:?}: {e}"))
}

/// Copy the stored service state `from` into `to` (Duplicate): `to` ends with
/// exactly `from`'s records that read back as bytes (anything `to` held is
/// replaced; a damaged record of `from` is not copied). Returns how many records
/// were copied. A worker using `to` hears of every key that changed. For the UI
/// thread.
pub async fn copy_state(from: &str, to: &str) -> Result<usize, String> {
    if crate::state_name::db_name(from)? == crate::state_name::db_name(to)? {
        return Err("a state cannot be copied into itself".into());
    }
    let src = crate::storage::open_db(&crate::state_name::db_name(from)?).await?;
    let loaded = load(&src).await;
    src.close();
    let loaded = loaded?;
    let dst = crate::storage::open_db(&crate::state_name::db_name(to)?).await?;
    let old = match load(&dst).await {
        Ok(old) => old,
        Err(e) => {
            dst.close();
            return Err(e);
        }
    };
    let mut changes: Vec<Change> = Vec::new();
    let new_keys: std::collections::HashSet<&[u8]> =
        loaded.entries.iter().map(|(k, _)| k.as_slice()).collect();
    for (k, _) in &old.entries {
        if !new_keys.contains(k.as_slice()) {
            changes.push(Change::Delete { key: k.clone() });
        }
    }
    for (k, v) in &loaded.entries {
        changes.push(Change::Put {
            key: k.clone(),
            value: v.clone(),
        });
    }
    let written = match write(&dst, &changes) {
        Ok(commit) => commit.await,
        Err(e) => Err(e),
    };
    dst.close();
    written?;
    // A worker with `to` open re-reads what changed (as for another tab's write).
    if let Ok(channel) = web_sys::BroadcastChannel::new(&crate::state_name::channel_name(to)?) {
        let msg = crate::persist::Announce {
            keys: changes
                .iter()
                .map(|c| serde_bytes::ByteBuf::from(c.key().to_vec()))
                .collect(),
        };
        if let Ok(v) = crate::protocol::js::encode(&msg) {
            let _ = channel.post_message(&v);
        }
        channel.close();
    }
    Ok(loaded.entries.len())
}
