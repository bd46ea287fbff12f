//! The run history in IndexedDB (browser-only; the records, keys and trimming are
//! [`crate::history`]'s). Its own database, [`HISTORY_DB`] (version
//! [`HISTORY_DB_VERSION`]), so its schema never bumps the state's or the
//! workspace's: one object store, `runs`, with each record's JSON text under its
//! key (`FIDDLE \u{1f} ID`, see [`crate::history::key`]).
//!
//! [`put`] writes a record and trims its fiddle to the last [`KEEP`] in the same
//! transaction; [`list`] reads one fiddle's records, skipping (and counting) those
//! that do not read back, which stay until trimming passes them. Nothing here
//! panics on what the database holds.

use crate::history::{self, HistoryRecord, KEEP};
use idb::{Database, KeyRange, Query, TransactionMode};
use wasm_bindgen::JsValue;

/// The run history's IndexedDB database.
pub const HISTORY_DB: &str = "edgeplay-history";
/// Its schema version (1: `runs`).
pub const HISTORY_DB_VERSION: u32 = 1;
const RUNS: &str = "runs";

fn idb_err(what: &str) -> impl Fn(idb::Error) -> String + '_ {
    move |e| format!("the run history: could not {what}: {e}")
}

async fn open() -> Result<Database, String> {
    crate::storage::open_db_with(
        HISTORY_DB,
        HISTORY_DB_VERSION,
        &[RUNS],
        idb_err("open its database"),
    )
    .await
}

fn fiddle_range(fiddle: &str) -> Result<Query, String> {
    let (lo, hi) = history::range(fiddle);
    KeyRange::bound(&lo.into(), &hi.into(), Some(false), Some(false))
        .map(Query::from)
        .map_err(idb_err("read the runs"))
}

/// One fiddle's kept runs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Listing {
    /// The runs that read back, newest first.
    pub runs: Vec<HistoryRecord>,
    /// Stored records that did not (left where they are).
    pub skipped: usize,
}

/// Keep `record`, and only the last [`KEEP`] runs of its fiddle; answers how many
/// older runs went.
pub async fn put(record: &HistoryRecord) -> Result<usize, String> {
    let db = open().await?;
    let err = idb_err("keep the run");
    let result = async {
        let tx = db
            .transaction(&[RUNS], TransactionMode::ReadWrite)
            .map_err(&err)?;
        let store = tx.object_store(RUNS).map_err(&err)?;
        store
            .put(
                &JsValue::from_str(&record.to_json()),
                Some(&JsValue::from_str(&record.key())),
            )
            .map_err(&err)?;
        let keys = store
            .get_all_keys(Some(fiddle_range(&record.fiddle)?), None)
            .map_err(&err)?
            .await
            .map_err(&err)?;
        let keys: Vec<String> = keys.iter().filter_map(JsValue::as_string).collect();
        let gone = history::to_trim(&keys, KEEP);
        for k in &gone {
            store.delete(JsValue::from_str(k)).map_err(&err)?;
        }
        match tx.commit().map_err(&err)?.await {
            Ok(r) if r.is_committed() => Ok(gone.len()),
            Ok(_) => Err("the run history: could not keep the run: aborted".to_string()),
            Err(e) => Err(err(e)),
        }
    }
    .await;
    db.close();
    result
}

/// `fiddle`'s kept runs, newest first.
pub async fn list(fiddle: &str) -> Result<Listing, String> {
    let db = open().await?;
    let err = idb_err("read the runs");
    let result = async {
        let tx = db
            .transaction(&[RUNS], TransactionMode::ReadOnly)
            .map_err(&err)?;
        let store = tx.object_store(RUNS).map_err(&err)?;
        let values = store
            .get_all(Some(fiddle_range(fiddle)?), None)
            .map_err(&err)?
            .await
            .map_err(&err)?;
        let _ = tx.await;
        let texts: Vec<Option<String>> = values.iter().map(JsValue::as_string).collect();
        let not_text = texts.iter().filter(|t| t.is_none()).count();
        let (runs, skipped) = history::read_all(texts.iter().flatten().map(String::as_str));
        // A record of another fiddle under this one's key (edited by hand) is not its.
        let n = runs.len();
        let runs: Vec<HistoryRecord> = runs.into_iter().filter(|r| r.fiddle == fiddle).collect();
        Ok(Listing {
            skipped: skipped + not_text + (n - runs.len()),
            runs,
        })
    }
    .await;
    db.close();
    result
}

/// Forget every kept run of `fiddle`.
pub async fn clear(fiddle: &str) -> Result<(), String> {
    let db = open().await?;
    let err = idb_err("clear the runs");
    let result = async {
        let tx = db
            .transaction(&[RUNS], TransactionMode::ReadWrite)
            .map_err(&err)?;
        tx.object_store(RUNS)
            .map_err(&err)?
            .delete(fiddle_range(fiddle)?)
            .map_err(&err)?;
        match tx.commit().map_err(&err)?.await {
            Ok(r) if r.is_committed() => Ok(()),
            Ok(_) => Err("the run history: could not clear the runs: aborted".to_string()),
            Err(e) => Err(err(e)),
        }
    }
    .await;
    db.close();
    result
}
