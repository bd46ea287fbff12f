//! A run with a fresh cache (the tab's "fresh cache" switch, a fiddle request's
//! `fresh_cache`, like Fiddle's `useFreshCache`; the same type serves the tab and
//! `edgeplay test`): the service state as it is, but with an empty cache of its own
//! that is thrown away after the run.
//!
//! [`FreshCache`] is a [`Storage`] over the service's state: every key under
//! [`cache::PREFIX`] lives in a private in-memory store that starts empty, every other
//! key is the service's state itself. So a run with a fresh cache misses on everything
//! and what it caches never reaches the stored cache (nor IndexedDB, nor the other
//! tabs), while its KV writes, rate counters and everything else are kept as in any
//! run: they go to the service's state, whose journal the platform drains as always.
//! The stored cache is left exactly as it was.

use crate::cache;
use crate::storage::{Change, MemoryStorage, SharedStorage, Storage};

/// The worker's state with a throwaway cache (see the module doc).
pub struct FreshCache {
    base: SharedStorage,
    cache: MemoryStorage,
}

impl FreshCache {
    /// `base` with an empty cache of its own.
    pub fn new(base: SharedStorage) -> FreshCache {
        FreshCache {
            base,
            cache: MemoryStorage::new(),
        }
    }
}

fn is_cache(key: &[u8]) -> bool {
    key.starts_with(cache::PREFIX)
}

impl Storage for FreshCache {
    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        if is_cache(key) {
            self.cache.get(key)
        } else {
            self.base.lock().get(key)
        }
    }

    fn put(&mut self, key: &[u8], value: Vec<u8>) {
        if is_cache(key) {
            self.cache.put(key, value)
        } else {
            self.base.lock().put(key, value)
        }
    }

    fn delete(&mut self, key: &[u8]) -> bool {
        if is_cache(key) {
            self.cache.delete(key)
        } else {
            self.base.lock().delete(key)
        }
    }

    fn scan(&self, prefix: &[u8], after: Option<&[u8]>, limit: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
        if is_cache(prefix) {
            return self.cache.scan(prefix, after, limit);
        }
        if !cache::PREFIX.starts_with(prefix) {
            // Nothing under `prefix` is the cache's.
            return self.base.lock().scan(prefix, after, limit);
        }
        // A scan over the cache and more (the whole state): both parts, merged in
        // key order, the stored cache left out.
        let mut out: Vec<(Vec<u8>, Vec<u8>)> = self
            .base
            .lock()
            .scan(prefix, after, usize::MAX)
            .into_iter()
            .filter(|(k, _)| !is_cache(k))
            .collect();
        out.extend(self.cache.scan(prefix, after, limit));
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.truncate(limit);
        out
    }

    /// The throwaway cache's changes are dropped (nothing of it is kept); every other
    /// change is in the service state's journal, which its platform drains itself.
    fn take_journal(&mut self) -> Vec<Change> {
        self.cache.take_journal();
        Vec::new()
    }

    /// Changes made elsewhere are changes to the service's state (the stored cache
    /// included), never to the throwaway cache.
    fn apply(&mut self, changes: &[Change]) {
        self.base.lock().apply(changes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Headers;

    const S: u64 = 1_000_000_000;

    fn insert(st: &mut dyn Storage, key: &[u8], body: &[u8]) {
        let opts = cache::WriteOptions {
            max_age_ns: 60 * S,
            ..cache::WriteOptions::default()
        };
        cache::insert(st, key, opts, body.to_vec(), 0, cache::Limits::default()).unwrap();
    }

    #[test]
    fn a_fresh_cache_starts_empty_keeps_the_stored_one_and_writes_the_rest_through() {
        let base = SharedStorage::new(MemoryStorage::new());
        insert(&mut **base.lock(), b"stored", b"old");
        base.lock().put(b"kv/s\0a", b"1".to_vec());
        base.take_journal();

        let mut fresh = FreshCache::new(base.clone());
        assert!(
            cache::lookup(&mut fresh, b"stored", &Headers::new(), S).is_none(),
            "the run sees an empty cache"
        );
        insert(&mut fresh, b"new", b"fresh");
        assert!(cache::lookup(&mut fresh, b"new", &Headers::new(), S).is_some());
        assert_eq!(cache::totals(&fresh), (1, 5));
        // Everything else is the service's state.
        assert_eq!(fresh.get(b"kv/s\0a"), Some(b"1".to_vec()));
        fresh.put(b"kv/s\0b", b"2".to_vec());
        assert!(fresh.delete(b"kv/s\0a"));
        let whole: Vec<Vec<u8>> = fresh
            .scan(b"", None, 100)
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        let meta_key = |id: &str| format!("cache/o/{id}").into_bytes();
        assert!(whole.contains(&b"kv/s\0b".to_vec()));
        assert!(whole.contains(&meta_key(&cache::list(&fresh)[0].id)));
        assert!(!whole.contains(&meta_key(&cache::list(&**base.lock())[0].id)));
        assert_eq!(
            fresh.scan(b"", None, 1).len(),
            1,
            "the limit holds when merged"
        );
        assert!(
            fresh.take_journal().is_empty(),
            "the throwaway cache is never kept"
        );

        // The stored cache is untouched; the KV writes are in its journal, to persist.
        let stored: Vec<Vec<u8>> = cache::list(&**base.lock())
            .into_iter()
            .map(|f| f.meta.key)
            .collect();
        assert_eq!(stored, [b"stored".to_vec()]);
        let journal = base.take_journal();
        assert_eq!(
            journal,
            [
                Change::Put {
                    key: b"kv/s\0b".to_vec(),
                    value: b"2".to_vec()
                },
                Change::Delete {
                    key: b"kv/s\0a".to_vec()
                }
            ]
        );
        // Another tab's changes are the stored state's, the stored cache's included.
        fresh.apply(&[
            Change::Put {
                key: b"kv/s\0c".to_vec(),
                value: b"3".to_vec(),
            },
            Change::Delete {
                key: b"cache/n".to_vec(),
            },
        ]);
        assert_eq!(base.lock().get(b"kv/s\0c"), Some(b"3".to_vec()));
        assert_eq!(cache::totals(&**base.lock()), (0, 0));
        assert_eq!(cache::totals(&fresh), (1, 5), "the run's own cache stays");
        assert!(base.take_journal().is_empty(), "applied, not journaled");
    }
}
