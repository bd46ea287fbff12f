//! The storage seam: what outlives one request.
//!
//! On the platform, KV stores, ACL data, rate counters and the cache belong to the
//! *service*, not to one execution: every request of a service sees what earlier
//! requests wrote. The core keeps that state behind [`Storage`], a small ordered
//! key–value interface it owns, and hands it to every execution of a service
//! through [`crate::service::Service`]. The engines that give the state its meaning (KV semantics,
//! cache freshness, rate windows) are written against this trait; the trait itself
//! knows nothing of them.
//!
//! # Keys
//!
//! Keys are bytes, ordered bytewise. Each engine keeps its data under its own prefix
//! (for example `kv/<store>/<key>`), so one store holds the whole service state and
//! [`Storage::scan`] lists one engine's (or one store's) entries in order. Store
//! names never contain NUL, so a NUL ends the store part of a key:
//!
//! | prefix | what | engine |
//! |---|---|---|
//! | `kv/<store>\0<key>` | one KV entry (value, metadata, generation, expiry) | `kv` |
//! | `kvgen/<store>` | the store's last generation number | `kv` |
//! | `acl/<acl>\0<prefix>` | one ACL entry (`192.0.2.0/24` → action) | `acl` |
//! | `erl/rc/<counter>\0<entry>` | one rate counter entry's buckets | `erl` |
//! | `erl/pb/<box>\0<entry>` | one penalty box entry's expiry | `erl` |
//! | `seed/<kind>/<name>` | which seed a store last applied | [`crate::seed`] |
//! | `cache/o/<key hash>/<variant hash>` | one cached object's meta | [`crate::cache`] |
//! | `cache/b/<key hash>/<variant hash>` | its body | [`crate::cache`] |
//! | `cache/sk/<surrogate key>\0<id>`, `cache/lru/<used>/<id>`, `cache/hfp/<id>`, `cache/n` | the surrogate-key and use-order indexes, hit-for-pass markers, the totals | [`crate::cache`] |
//!
//! # The journal
//!
//! Every [`Storage::put`] and [`Storage::delete`] is also recorded as a [`Change`] in
//! the journal. The driver drains it ([`Storage::take_journal`]) when it likes (after
//! each request, or after each slice) and makes the changes durable in whatever way
//! its platform offers. Reading never needs the journal: the in-memory state is
//! always current.
//!
//! # The contract per platform
//!
//! - **Native runner:** the state lives in memory ([`MemoryStorage`]) for as long as
//!   the process runs; a driver that persists (a state directory) loads it at start
//!   with [`MemoryStorage::with_entries`] and writes the journal out after requests.
//!   `serve` runs requests concurrently, so the state is shared behind a mutex
//!   ([`SharedStorage`]); every operation of the trait is short and never waits.
//! - **Browser tab:** the worker owns a [`MemoryStorage`] and writes the journal to
//!   IndexedDB after every slice that changed something; the writes it committed go
//!   to the other tabs' workers, which take them in with [`Storage::apply`] (applied,
//!   not journaled: they are stored already). Stop terminates the worker at
//!   any moment, so nothing may live only in the worker: at worker start the state is
//!   reloaded from IndexedDB ([`MemoryStorage::with_entries`], which journals
//!   nothing). A change whose journal entry had not been written when the worker was
//!   terminated is lost, as a write in flight is when a POP restarts; what was written
//!   stays consistent because each change is a whole-value put or delete.
//! - **Tests:** [`MemoryStorage`] as it is (the null implementation).

use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::{Arc, Mutex, MutexGuard};

/// One change to stored state, as the journal records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    /// `key` now holds `value`.
    Put {
        /// The key.
        key: Vec<u8>,
        /// The whole new value.
        value: Vec<u8>,
    },
    /// `key` holds nothing any more.
    Delete {
        /// The key.
        key: Vec<u8>,
    },
}

impl Change {
    /// The key the change is about.
    pub fn key(&self) -> &[u8] {
        match self {
            Change::Put { key, .. } | Change::Delete { key } => key,
        }
    }
}

/// An ordered key–value store for service state, with a journal of changes.
///
/// Implementations are synchronous and never wait: a driver that needs I/O to make
/// state durable does it from the journal, outside the guest's hostcalls.
pub trait Storage: Send {
    /// The value under `key`.
    fn get(&self, key: &[u8]) -> Option<Vec<u8>>;
    /// Store `value` under `key` (replacing what was there) and journal it.
    fn put(&mut self, key: &[u8], value: Vec<u8>);
    /// Remove `key`; journals the delete and returns true when something was there.
    fn delete(&mut self, key: &[u8]) -> bool;
    /// Up to `limit` entries whose keys start with `prefix`, in key order, starting
    /// after `after` when given (a cursor: the last key of the previous page).
    fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Vec<(Vec<u8>, Vec<u8>)>;
    /// The changes since the last call, oldest first.
    fn take_journal(&mut self) -> Vec<Change>;
    /// Make `changes` that were made and stored *elsewhere* (another browser tab's
    /// committed writes, a re-read of durable storage) part of this store, in order,
    /// without journaling them: they are durable already, and journaling them would
    /// write them back (and echo them to the other tabs).
    fn apply(&mut self, changes: &[Change]);
}

/// [`Storage`] in memory: the native runner's and the tests' store, and the worker's
/// working copy of what IndexedDB holds.
#[derive(Clone, Debug, Default)]
pub struct MemoryStorage {
    entries: BTreeMap<Vec<u8>, Vec<u8>>,
    journal: Vec<Change>,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStorage::default()
    }

    /// A store holding `entries`, as reloaded from durable storage: nothing is
    /// journaled (it is already stored). A key given twice keeps its last value.
    pub fn with_entries(entries: impl IntoIterator<Item = (Vec<u8>, Vec<u8>)>) -> Self {
        MemoryStorage {
            entries: entries.into_iter().collect(),
            journal: Vec::new(),
        }
    }

    /// Number of keys stored.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl Storage for MemoryStorage {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.entries.get(key).cloned()
    }

    fn put(&mut self, key: &[u8], value: Vec<u8>) {
        self.entries.insert(key.to_vec(), value.clone());
        self.journal.push(Change::Put {
            key: key.to_vec(),
            value,
        });
    }

    fn delete(&mut self, key: &[u8]) -> bool {
        let had = self.entries.remove(key).is_some();
        if had {
            self.journal.push(Change::Delete { key: key.to_vec() });
        }
        had
    }

    fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        let start = match after {
            Some(a) if a >= prefix => Bound::Excluded(a.to_vec()),
            _ => Bound::Included(prefix.to_vec()),
        };
        self.entries
            .range((start, Bound::Unbounded))
            .take_while(|(k, _)| k.starts_with(prefix))
            .take(limit)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn take_journal(&mut self) -> Vec<Change> {
        std::mem::take(&mut self.journal)
    }

    fn apply(&mut self, changes: &[Change]) {
        for c in changes {
            match c {
                Change::Put { key, value } => {
                    self.entries.insert(key.clone(), value.clone());
                }
                Change::Delete { key } => {
                    self.entries.remove(key);
                }
            }
        }
    }
}

/// The storage entries one store's configuration defines: what [`crate::seed`]
/// writes, built by each engine (`kv::seeds`, ...). Plain data, kept here so that an
/// engine can build seeds without depending on the seeding module that gathers them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreSeed {
    /// The engine's name for the store kind (`"kv"`, `"acl"`).
    pub kind: &'static str,
    /// The store's name.
    pub name: String,
    /// The storage prefix under which the store keeps all its entries.
    pub prefix: Vec<u8>,
    /// The entries, as storage keys (under `prefix`) and encoded values.
    pub entries: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Service state shared by every execution of a service (and, natively, by
/// concurrent requests): a [`Storage`] behind a mutex.
#[derive(Clone)]
pub struct SharedStorage(Arc<Mutex<Box<dyn Storage>>>);

impl SharedStorage {
    /// Share `storage`.
    pub fn new(storage: impl Storage + 'static) -> Self {
        SharedStorage(Arc::new(Mutex::new(Box::new(storage))))
    }

    /// Use the store. A panic while another holder had it does not lose the state:
    /// every operation leaves the store whole, so the lock is taken over.
    pub fn lock(&self) -> MutexGuard<'_, Box<dyn Storage>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The changes since the last drain (see [`Storage::take_journal`]).
    pub fn take_journal(&self) -> Vec<Change> {
        self.lock().take_journal()
    }

    /// Apply changes made and stored elsewhere, unjournaled (see [`Storage::apply`]).
    pub fn apply(&self, changes: &[Change]) {
        self.lock().apply(changes)
    }
}

impl Default for SharedStorage {
    fn default() -> Self {
        SharedStorage::new(MemoryStorage::new())
    }
}

impl std::fmt::Debug for SharedStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SharedStorage")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(k: &str, v: &str) -> (Vec<u8>, Vec<u8>) {
        (k.as_bytes().to_vec(), v.as_bytes().to_vec())
    }

    #[test]
    fn put_get_delete_and_the_journal() {
        let mut s = MemoryStorage::new();
        assert_eq!(s.get(b"a"), None);
        s.put(b"a", b"1".to_vec());
        s.put(b"a", b"2".to_vec());
        assert_eq!(s.get(b"a"), Some(b"2".to_vec()));
        assert!(s.delete(b"a"));
        assert!(!s.delete(b"a"), "deleting nothing reports nothing");
        assert_eq!(s.get(b"a"), None);
        assert_eq!(
            s.take_journal(),
            vec![
                Change::Put {
                    key: b"a".to_vec(),
                    value: b"1".to_vec()
                },
                Change::Put {
                    key: b"a".to_vec(),
                    value: b"2".to_vec()
                },
                Change::Delete { key: b"a".to_vec() },
            ],
            "every change is journaled once, in order; a no-op delete is not"
        );
        assert!(s.take_journal().is_empty(), "draining empties the journal");
    }

    #[test]
    fn scan_lists_one_prefix_in_order_with_a_cursor() {
        let s = MemoryStorage::with_entries([
            kv("kv/b/2", "x"),
            kv("kv/a/1", "x"),
            kv("kv/a/3", "x"),
            kv("kv/a/2", "x"),
            kv("kv/aa/1", "x"),
            kv("cache/1", "x"),
        ]);
        let keys = |v: Vec<(Vec<u8>, Vec<u8>)>| {
            v.into_iter()
                .map(|(k, _)| String::from_utf8(k).unwrap())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            keys(s.scan(b"kv/a/", None, 10)),
            ["kv/a/1", "kv/a/2", "kv/a/3"]
        );
        assert_eq!(keys(s.scan(b"kv/a/", None, 2)), ["kv/a/1", "kv/a/2"]);
        assert_eq!(keys(s.scan(b"kv/a/", Some(b"kv/a/2"), 10)), ["kv/a/3"]);
        assert!(s.scan(b"kv/a/", Some(b"kv/a/3"), 10).is_empty());
        // A cursor before the prefix starts at the prefix.
        assert_eq!(keys(s.scan(b"kv/b/", Some(b"kv/a/9"), 10)), ["kv/b/2"]);
        assert_eq!(s.scan(b"", None, 100).len(), 6);
        assert!(s.scan(b"none/", None, 10).is_empty());
        assert!(s.scan(b"kv/", None, 0).is_empty());
    }

    #[test]
    fn reloaded_entries_are_not_journaled() {
        let mut s = MemoryStorage::with_entries([kv("k", "v"), kv("k", "w")]);
        assert_eq!(s.len(), 1);
        assert_eq!(s.get(b"k"), Some(b"w".to_vec()), "the last value wins");
        assert!(s.take_journal().is_empty());
    }

    #[test]
    fn changes_from_elsewhere_are_applied_in_order_and_not_journaled() {
        let state = SharedStorage::new(MemoryStorage::with_entries([kv("a", "1"), kv("b", "1")]));
        state.lock().put(b"mine", b"x".to_vec());
        state.apply(&[
            Change::Put {
                key: b"a".to_vec(),
                value: b"2".to_vec(),
            },
            Change::Delete { key: b"b".to_vec() },
            Change::Delete {
                key: b"never".to_vec(),
            },
            Change::Put {
                key: b"c".to_vec(),
                value: b"1".to_vec(),
            },
            Change::Put {
                key: b"c".to_vec(),
                value: b"3".to_vec(),
            },
        ]);
        let s = state.lock();
        assert_eq!(s.get(b"a"), Some(b"2".to_vec()));
        assert_eq!(s.get(b"b"), None);
        assert_eq!(s.get(b"c"), Some(b"3".to_vec()), "in order: the last wins");
        drop(s);
        assert_eq!(
            state.take_journal(),
            vec![Change::Put {
                key: b"mine".to_vec(),
                value: b"x".to_vec()
            }],
            "only this store's own write is journaled"
        );
    }

    #[test]
    fn a_panic_while_holding_the_lock_loses_nothing() {
        let state = SharedStorage::default();
        state.lock().put(b"k", b"v".to_vec());
        let s2 = state.clone();
        let _ = std::thread::spawn(move || {
            let _guard = s2.lock();
            panic!("a holder panics");
        })
        .join();
        assert_eq!(state.lock().get(b"k"), Some(b"v".to_vec()));
    }
}
