//! Seeding service state from `fastly.toml`, and "reset to config".
//!
//! The KV stores and ACLs a configuration defines are the *seed* of the service's
//! state: what its stores hold before any request wrote to them. Each engine turns
//! its part of the configuration into [`StoreSeed`]s (the storage entries of one
//! store); [`apply`] writes them, and [`reset`] puts a store (or all of them) back to
//! its seed.
//!
//! State outlives a configuration (a state directory, the tab's IndexedDB), so
//! seeding is careful not to undo what requests wrote:
//!
//! - A store is seeded once per version of its seed: a marker key
//!   (`seed/<kind>/<name>`) holds the SHA-256 of the seed it last applied. Starting
//!   again with the same configuration changes nothing.
//! - When the seed changes (an edited `fastly.toml`), the seed's entries are written
//!   over the store; keys the seed does not name (a guest's writes) stay.
//! - [`reset`] deletes everything under the store's prefix first: the store is then
//!   exactly its seed.

use crate::config::ServiceConfig;
use crate::storage::Storage;
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex, Weak};

pub use crate::storage::StoreSeed;

fn marker(seed: &StoreSeed) -> Vec<u8> {
    marker_key(seed.kind, &seed.name)
}

fn digest(seed: &StoreSeed) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(&seed.prefix);
    for (k, v) in &seed.entries {
        h.update((k.len() as u64).to_le_bytes());
        h.update(k);
        h.update((v.len() as u64).to_le_bytes());
        h.update(v);
    }
    h.finalize().to_vec()
}

fn write(seed: &StoreSeed, storage: &mut dyn Storage) {
    for (k, v) in &seed.entries {
        storage.put(k, v.clone());
    }
    storage.put(&marker(seed), digest(seed));
}

/// The storage key of the marker that records which seed a store last applied.
pub fn marker_key(kind: &str, name: &str) -> Vec<u8> {
    format!("seed/{kind}/{name}").into_bytes()
}

/// Every store seed `config` defines, from every engine.
pub fn service_seeds(config: &ServiceConfig) -> Vec<StoreSeed> {
    let mut seeds = Vec::new();
    seeds.extend(crate::kv::seeds(config));
    seeds
}

/// Write every seed whose marker does not match it (see the module doc). Returns the
/// names of the stores (`kind/name`) that were (re)seeded.
pub fn apply(seeds: &[StoreSeed], storage: &mut dyn Storage) -> Vec<String> {
    let mut seeded = Vec::new();
    for seed in seeds {
        if storage.get(&marker(seed)).as_deref() == Some(&digest(seed)[..]) {
            continue;
        }
        write(seed, storage);
        seeded.push(format!("{}/{}", seed.kind, seed.name));
    }
    seeded
}

/// Seed a service's state from its configuration ([`service_seeds`] then [`apply`]).
pub fn seed(config: &ServiceConfig, storage: &mut dyn Storage) -> Vec<String> {
    apply(&service_seeds(config), storage)
}

/// [`seed`] for an execution's start: the same effect, but the digests of a
/// configuration's seeds are computed once per configuration (kept beside it while it
/// lives), so a start whose seeds are all applied only reads their markers instead of
/// re-encoding and hashing every configured entry.
pub fn seed_once(config: &Arc<ServiceConfig>, storage: &mut dyn Storage) -> Vec<String> {
    type Digests = Vec<(Vec<u8>, Vec<u8>)>;
    static DIGESTS: Mutex<Vec<(Weak<ServiceConfig>, Arc<Digests>)>> = Mutex::new(Vec::new());
    let known = {
        let mut cache = DIGESTS.lock().unwrap_or_else(|p| p.into_inner());
        cache.retain(|(w, _)| w.strong_count() > 0);
        let hit = cache
            .iter()
            .find(|(w, _)| std::ptr::eq(w.as_ptr(), Arc::as_ptr(config)))
            .map(|(_, d)| d.clone());
        match hit {
            Some(d) => d,
            None => {
                let d: Arc<Digests> = Arc::new(
                    service_seeds(config)
                        .iter()
                        .map(|s| (marker(s), digest(s)))
                        .collect(),
                );
                cache.push((Arc::downgrade(config), d.clone()));
                d
            }
        }
    };
    if known
        .iter()
        .all(|(m, d)| storage.get(m).as_deref() == Some(&d[..]))
    {
        return Vec::new();
    }
    seed(config, storage)
}

/// Put stores back to their seed: every entry under the store's prefix is deleted,
/// then the seed is written. `only` picks one store (`kind`, `name`); `None` resets
/// every store of `seeds`. Returns how many entries were deleted.
pub fn reset(seeds: &[StoreSeed], storage: &mut dyn Storage, only: Option<(&str, &str)>) -> usize {
    let mut deleted = 0;
    for seed in seeds {
        if only.is_some_and(|(k, n)| k != seed.kind || n != seed.name) {
            continue;
        }
        deleted += clear_prefix(storage, &seed.prefix);
        write(seed, storage);
    }
    deleted
}

/// Delete every key under `prefix`; returns how many there were.
pub fn clear_prefix(storage: &mut dyn Storage, prefix: &[u8]) -> usize {
    let mut deleted = 0;
    loop {
        let page = storage.scan(prefix, None, 1024);
        if page.is_empty() {
            return deleted;
        }
        for (k, _) in page {
            if storage.delete(&k) {
                deleted += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;

    fn seed_of(entries: &[(&str, &str)]) -> StoreSeed {
        StoreSeed {
            kind: "kv",
            name: "s".into(),
            prefix: b"kv/s\0".to_vec(),
            entries: entries
                .iter()
                .map(|(k, v)| (format!("kv/s\0{k}").into_bytes(), v.as_bytes().to_vec()))
                .collect(),
        }
    }

    #[test]
    fn a_seed_is_applied_once_and_keeps_what_requests_wrote() {
        let mut st = MemoryStorage::new();
        let seeds = [seed_of(&[("a", "1")])];
        assert_eq!(apply(&seeds, &mut st), ["kv/s"]);
        // A request changes the seeded key and writes another one.
        st.put(b"kv/s\0a", b"guest".to_vec());
        st.put(b"kv/s\0b", b"guest".to_vec());
        assert!(
            apply(&seeds, &mut st).is_empty(),
            "same seed: nothing happens"
        );
        assert_eq!(st.get(b"kv/s\0a"), Some(b"guest".to_vec()));
        // An edited seed is written over the store; the guest's other key stays.
        let edited = [seed_of(&[("a", "2")])];
        assert_eq!(apply(&edited, &mut st), ["kv/s"]);
        assert_eq!(st.get(b"kv/s\0a"), Some(b"2".to_vec()));
        assert_eq!(st.get(b"kv/s\0b"), Some(b"guest".to_vec()));
    }

    #[test]
    fn reset_makes_a_store_exactly_its_seed() {
        let mut st = MemoryStorage::new();
        let seeds = [seed_of(&[("a", "1")])];
        apply(&seeds, &mut st);
        st.put(b"kv/s\0a", b"guest".to_vec());
        st.put(b"kv/s\0b", b"guest".to_vec());
        st.put(b"kv/other\0b", b"kept".to_vec());
        assert_eq!(reset(&seeds, &mut st, Some(("kv", "other"))), 0);
        assert_eq!(reset(&seeds, &mut st, Some(("kv", "s"))), 2);
        assert_eq!(st.get(b"kv/s\0a"), Some(b"1".to_vec()));
        assert_eq!(st.get(b"kv/s\0b"), None);
        assert_eq!(st.get(b"kv/other\0b"), Some(b"kept".to_vec()));
    }

    #[test]
    fn seed_once_applies_like_seed_and_then_only_checks() {
        let no_files = |p: &str| Err(format!("{p}: no files"));
        let config = Arc::new(
            ServiceConfig::from_toml_str(
                "[local_server.kv_stores]\ns = [{ key = \"a\", data = \"1\" }]\n",
                "fastly.toml",
                &no_files,
            )
            .unwrap(),
        );
        let mut st = MemoryStorage::new();
        assert_eq!(seed_once(&config, &mut st), ["kv/s"]);
        assert!(seed_once(&config, &mut st).is_empty());
        // Another state with the same configuration is seeded too.
        let mut other = MemoryStorage::new();
        assert_eq!(seed_once(&config, &mut other), ["kv/s"]);
        // A reset store (marker gone) is seeded again.
        st.delete(&marker_key("kv", "s"));
        st.delete(b"kv/s\0a");
        assert_eq!(seed_once(&config, &mut st), ["kv/s"]);
        assert!(st.get(b"kv/s\0a").is_some());
    }

    #[test]
    fn clearing_a_large_prefix_takes_every_key() {
        let mut st = MemoryStorage::new();
        for i in 0..3000 {
            st.put(format!("kv/s\0{i}").as_bytes(), vec![]);
        }
        assert_eq!(clear_prefix(&mut st, b"kv/s\0"), 3000);
        assert!(st.is_empty());
    }
}
