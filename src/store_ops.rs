//! The Stores panel's and the Cache inspector's operations on the service state
//! ([`StoreOp`]), as the worker performs them on its [`Storage`]. Platform-neutral
//! (tested natively); the worker makes the writes durable afterwards (its journal),
//! which also tells the other tabs.

use crate::protocol::{Bytes, CachedObject, KvWrite, ListedKey, StoreAnswer, StoreOp};
use edgeplay_host::storage::Storage;
use edgeplay_host::{cache, kv, seed};

/// Whether `op` changes the state (the worker then waits for the write to commit).
pub fn writes(op: &StoreOp) -> bool {
    !matches!(
        op,
        StoreOp::List { .. }
            | StoreOp::Get { .. }
            | StoreOp::Export { .. }
            | StoreOp::CacheList
            | StoreOp::CacheBody { .. }
    )
}

/// Perform `op` on `storage`; `now_unix_ns` is the time KV writes count from.
pub fn perform(
    storage: &mut dyn Storage,
    op: StoreOp,
    now_unix_ns: u64,
) -> Result<StoreAnswer, String> {
    match op {
        StoreOp::KvPut { store, entry } => {
            kv_write(storage, &store, &entry, now_unix_ns)?;
            Ok(StoreAnswer::Done { changed: 1 })
        }
        StoreOp::KvImport {
            store,
            entries,
            replace,
        } => {
            // Checked whole first: a bad entry imports nothing.
            for e in &entries {
                check(&e.key, &e.value, e.metadata.as_deref())?;
            }
            let mut changed = 0;
            if replace {
                changed += seed::clear_prefix(storage, &kv::store_prefix(&store));
            }
            for e in &entries {
                kv_write(storage, &store, e, now_unix_ns)?;
                changed += 1;
            }
            Ok(StoreAnswer::Done {
                changed: changed as u32,
            })
        }
        StoreOp::List {
            prefix,
            after,
            search,
            limit,
        } => Ok(list(
            storage,
            &prefix,
            after.as_ref().map(|a| a.as_slice()),
            &search,
            limit,
        )),
        StoreOp::Get { key } => Ok(StoreAnswer::Value {
            value: storage.get(&key).map(Bytes::from),
            key,
        }),
        StoreOp::Put { key, value } => {
            storage.put(&key, value.into_vec());
            Ok(StoreAnswer::Done { changed: 1 })
        }
        StoreOp::Delete { key } => Ok(StoreAnswer::Done {
            changed: storage.delete(&key) as u32,
        }),
        StoreOp::Seed { config_toml } => {
            let config = crate::request::parse_config(&config_toml)
                .map_err(|e| format!("the config does not validate: {e}"))?;
            let seeded = seed::seed(&config, storage);
            Ok(StoreAnswer::Done {
                changed: seeded.len() as u32,
            })
        }
        StoreOp::Reset { config_toml } => {
            let config = crate::request::parse_config(&config_toml)
                .map_err(|e| format!("the config does not validate: {e}"))?;
            // Exactly the configuration's state: every store back to its seed, the
            // rate counters and penalty boxes empty (as the runner's --reset-state).
            let deleted = seed::reset_all(&config, storage);
            let written: usize = seed::service_seeds(&config)
                .iter()
                .map(|s| s.entries.len())
                .sum();
            Ok(StoreAnswer::Done {
                changed: (deleted + written) as u32,
            })
        }
        StoreOp::Import {
            prefix,
            entries,
            replace,
        } => {
            if let Some((k, _)) = entries.iter().find(|(k, _)| !k.starts_with(&prefix)) {
                return Err(format!(
                    "the key {:?} is not in this store",
                    String::from_utf8_lossy(k)
                ));
            }
            let mut changed = 0;
            if replace {
                changed += seed::clear_prefix(storage, &prefix);
            }
            for (k, v) in entries {
                storage.put(&k, v.into_vec());
                changed += 1;
            }
            Ok(StoreAnswer::Done {
                changed: changed as u32,
            })
        }
        StoreOp::Export { prefix } => Ok(StoreAnswer::Entries {
            entries: all(storage, &prefix)
                .into_iter()
                .map(|(k, v)| (Bytes::from(k), Bytes::from(v)))
                .collect(),
        }),
        StoreOp::CacheList => Ok(StoreAnswer::Cache {
            objects: cache::list(storage)
                .into_iter()
                .map(|f| CachedObject {
                    id: f.id,
                    meta: f.meta,
                })
                .collect(),
            now_unix_ns,
        }),
        StoreOp::CacheBody { id } => Ok(StoreAnswer::CacheBody {
            body: cache::body(storage, &id).map(Bytes::from),
            id,
        }),
        StoreOp::CachePurgeAll => Ok(StoreAnswer::Done {
            changed: count(cache::purge_all(storage)),
        }),
        StoreOp::CachePurgeKey {
            surrogate_key,
            soft,
        } => {
            let surrogate_key = surrogate_key.trim();
            if surrogate_key.is_empty() {
                return Err("give the surrogate key to purge".into());
            }
            Ok(StoreAnswer::Done {
                changed: count(cache::purge_surrogate_key(
                    storage,
                    surrogate_key,
                    soft,
                    now_unix_ns,
                )),
            })
        }
        StoreOp::CacheRemove { id } => Ok(StoreAnswer::Done {
            changed: cache::remove(storage, &id) as u32,
        }),
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn check(key: &str, value: &[u8], metadata: Option<&str>) -> Result<(), String> {
    edgeplay_host::config::check_kv_key(key).map_err(|e| format!("key {key:?}: {e}"))?;
    if value.len() > kv::VALUE_MAX_BYTES {
        return Err(format!(
            "the value of {key:?} is larger than a KV store allows"
        ));
    }
    if metadata.map_or(0, str::len) > kv::METADATA_MAX_BYTES {
        return Err(format!(
            "the metadata of {key:?} is longer than {} bytes",
            kv::METADATA_MAX_BYTES
        ));
    }
    Ok(())
}

fn kv_write(
    storage: &mut dyn Storage,
    store: &str,
    e: &KvWrite,
    now_unix_ns: u64,
) -> Result<u64, String> {
    check(&e.key, &e.value, e.metadata.as_deref())?;
    let opts = kv::InsertOptions {
        metadata: e.metadata.clone().map(String::into_bytes),
        ttl_sec: e.ttl_sec,
        ..kv::InsertOptions::default()
    };
    kv::insert(storage, store, &e.key, &e.value, &opts, now_unix_ns)
        .map_err(|err| format!("could not write {:?}: {}", e.key, err.name()))
}

/// Every entry under `prefix`, in key order.
pub fn all(storage: &dyn Storage, prefix: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    loop {
        let last = out.last().map(|(k, _): &(Vec<u8>, Vec<u8>)| k.clone());
        let page = storage.scan(prefix, last.as_deref(), 4096);
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

fn list(
    storage: &dyn Storage,
    prefix: &[u8],
    after: Option<&[u8]>,
    search: &str,
    limit: u32,
) -> StoreAnswer {
    let needle = search.to_lowercase();
    let entries = all(storage, prefix);
    let total = entries.len() as u32;
    let mut matching = entries
        .into_iter()
        .filter(|(k, _)| after.is_none_or(|a| k.as_slice() > a))
        .filter(|(k, _)| {
            needle.is_empty()
                || String::from_utf8_lossy(&k[prefix.len()..])
                    .to_lowercase()
                    .contains(&needle)
        });
    let keys: Vec<ListedKey> = matching
        .by_ref()
        .take(limit as usize)
        .map(|(k, v)| ListedKey {
            key: Bytes::from(k),
            size: v.len() as u32,
        })
        .collect();
    StoreAnswer::Listed {
        keys,
        more: matching.next().is_some(),
        total,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeplay_host::storage::MemoryStorage;

    fn b(s: &str) -> Bytes {
        Bytes::from(s.as_bytes().to_vec())
    }

    fn keys(a: &StoreAnswer) -> Vec<String> {
        match a {
            StoreAnswer::Listed { keys, .. } => keys
                .iter()
                .map(|k| String::from_utf8_lossy(k.key.as_ref()).into_owned())
                .collect(),
            other => panic!("not a list: {other:?}"),
        }
    }

    #[test]
    fn kv_writes_are_kv_entries_with_generations_and_a_bad_import_writes_nothing() {
        let mut st = MemoryStorage::new();
        let w = |key: &str, v: &str| KvWrite {
            key: key.into(),
            value: b(v),
            metadata: Some("m".into()),
            ttl_sec: Some(10),
        };
        let put = StoreOp::KvPut {
            store: "s".into(),
            entry: w("a", "1"),
        };
        perform(&mut st, put.clone(), 1_000).unwrap();
        perform(&mut st, put, 2_000).unwrap();
        let e = kv::Entry::decode(&st.get(&kv::entry_key("s", "a")).unwrap()).unwrap();
        assert_eq!((e.value, e.metadata), (b"1".to_vec(), b"m".to_vec()));
        assert_eq!(e.generation, 2, "each write is a new generation");
        assert_eq!(e.expires_unix_ns, Some(2_000 + 10_000_000_000));
        let err = perform(
            &mut st,
            StoreOp::KvImport {
                store: "s".into(),
                entries: vec![w("b", "2"), w("bad\nkey", "3")],
                replace: true,
            },
            3_000,
        )
        .unwrap_err();
        assert!(err.contains("bad\\nkey"), "{err}");
        assert!(
            st.get(&kv::entry_key("s", "a")).is_some(),
            "nothing was lost"
        );
        assert!(
            st.get(&kv::entry_key("s", "b")).is_none(),
            "nothing was imported"
        );
        perform(
            &mut st,
            StoreOp::KvImport {
                store: "s".into(),
                entries: vec![w("b", "2")],
                replace: true,
            },
            3_000,
        )
        .unwrap();
        assert!(st.get(&kv::entry_key("s", "a")).is_none(), "replaced");
        assert!(st.get(&kv::entry_key("s", "b")).is_some());
    }

    #[test]
    fn list_pages_searches_and_counts() {
        let mut st = MemoryStorage::new();
        for k in ["apple", "banana", "cherry", "Apricot"] {
            st.put(format!("kv/s\0{k}").as_bytes(), b"v".to_vec());
        }
        st.put(b"kv/other\0apple", b"v".to_vec());
        let list = |st: &mut MemoryStorage, after: Option<&str>, search: &str, limit| {
            perform(
                st,
                StoreOp::List {
                    prefix: b("kv/s\0"),
                    after: after.map(b),
                    search: search.into(),
                    limit,
                },
                0,
            )
            .unwrap()
        };
        let page = list(&mut st, None, "", 2);
        assert_eq!(keys(&page), ["kv/s\0Apricot", "kv/s\0apple"]);
        assert!(matches!(
            page,
            StoreAnswer::Listed {
                more: true,
                total: 4,
                ..
            }
        ));
        let next = list(&mut st, Some("kv/s\0apple"), "", 2);
        assert_eq!(keys(&next), ["kv/s\0banana", "kv/s\0cherry"]);
        assert!(matches!(next, StoreAnswer::Listed { more: false, .. }));
        assert_eq!(
            keys(&list(&mut st, None, "AP", 10)),
            ["kv/s\0Apricot", "kv/s\0apple"],
            "search is case-insensitive and stays in the store"
        );
        // The store prefix itself is not searched.
        assert!(keys(&list(&mut st, None, "kv/", 10)).is_empty());
    }

    #[test]
    fn put_get_delete_and_a_checked_import() {
        let mut st = MemoryStorage::new();
        perform(
            &mut st,
            StoreOp::Put {
                key: b("kv/s\0a"),
                value: b("1"),
            },
            0,
        )
        .unwrap();
        assert_eq!(
            perform(&mut st, StoreOp::Get { key: b("kv/s\0a") }, 0).unwrap(),
            StoreAnswer::Value {
                key: b("kv/s\0a"),
                value: Some(b("1"))
            }
        );
        let err = perform(
            &mut st,
            StoreOp::Import {
                prefix: b("kv/s\0"),
                entries: vec![(b("kv/s\0b"), b("2")), (b("kv/t\0c"), b("3"))],
                replace: true,
            },
            0,
        )
        .unwrap_err();
        assert!(err.contains("not in this store"), "{err}");
        assert_eq!(st.get(b"kv/s\0a"), Some(b"1".to_vec()), "nothing was lost");
        assert_eq!(st.get(b"kv/s\0b"), None, "nothing was half imported");
        let done = perform(
            &mut st,
            StoreOp::Import {
                prefix: b("kv/s\0"),
                entries: vec![(b("kv/s\0b"), b("2"))],
                replace: true,
            },
            0,
        )
        .unwrap();
        assert_eq!(done, StoreAnswer::Done { changed: 2 });
        assert_eq!(st.get(b"kv/s\0a"), None, "replace: the old key went");
        let exported = perform(
            &mut st,
            StoreOp::Export {
                prefix: b("kv/s\0"),
            },
            0,
        )
        .unwrap();
        assert_eq!(
            exported,
            StoreAnswer::Entries {
                entries: vec![(b("kv/s\0b"), b("2"))]
            }
        );
        assert_eq!(
            perform(&mut st, StoreOp::Delete { key: b("kv/s\0b") }, 0).unwrap(),
            StoreAnswer::Done { changed: 1 }
        );
        let cfg = "[local_server.kv_stores]\ns = [{ key = \"a\", data = \"seed\" }]\n";
        let seed = StoreOp::Seed {
            config_toml: cfg.into(),
        };
        assert_eq!(
            perform(&mut st, seed.clone(), 0).unwrap(),
            StoreAnswer::Done { changed: 1 }
        );
        assert_eq!(
            perform(&mut st, seed, 0).unwrap(),
            StoreAnswer::Done { changed: 0 },
            "seeding twice changes nothing"
        );
        perform(
            &mut st,
            StoreOp::KvPut {
                store: "s".into(),
                entry: KvWrite {
                    key: "b".into(),
                    value: b("guest"),
                    metadata: None,
                    ttl_sec: None,
                },
            },
            0,
        )
        .unwrap();
        st.put(b"erl/pb/box\0entry", b"{}".to_vec());
        perform(
            &mut st,
            StoreOp::Reset {
                config_toml: cfg.into(),
            },
            0,
        )
        .unwrap();
        let keys: Vec<Vec<u8>> = all(&st, &kv::store_prefix("s"))
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(keys, [kv::entry_key("s", "a")], "reset: exactly the seed");
        assert!(
            all(&st, b"erl/").is_empty(),
            "reset: rate counters and penalty boxes are empty"
        );
        assert!(perform(
            &mut st,
            StoreOp::Reset {
                config_toml: "[[".into()
            },
            0,
        )
        .unwrap_err()
        .contains("does not validate"));
    }

    fn cached(st: &mut MemoryStorage, key: &[u8], surrogate_keys: &[&str], body: &[u8]) -> String {
        let opts = cache::WriteOptions {
            max_age_ns: 60_000_000_000,
            swr_ns: 30_000_000_000,
            surrogate_keys: surrogate_keys.iter().map(|s| s.to_string()).collect(),
            ..cache::WriteOptions::default()
        };
        cache::insert(st, key, opts, body.to_vec(), 0, cache::Limits::default())
            .unwrap()
            .id
    }

    fn listed(st: &mut MemoryStorage) -> Vec<(Vec<u8>, bool)> {
        match perform(st, StoreOp::CacheList, 5_000_000_000).unwrap() {
            StoreAnswer::Cache {
                objects,
                now_unix_ns,
            } => {
                assert_eq!(now_unix_ns, 5_000_000_000, "ages count to the worker's now");
                objects
                    .into_iter()
                    .map(|o| (o.meta.key, o.meta.purged_stale))
                    .collect()
            }
            other => panic!("not a cache listing: {other:?}"),
        }
    }

    #[test]
    fn the_cache_is_listed_read_and_purged_whole_by_surrogate_key_or_by_object() {
        let mut st = MemoryStorage::new();
        st.put(b"kv/s\0k", b"v".to_vec());
        let a = cached(&mut st, b"a", &["news", "all"], b"body of a");
        cached(&mut st, b"b", &["all"], b"b");
        let c = cached(&mut st, b"c", &[], &[0xff, 0]);
        let mut keys: Vec<Vec<u8>> = listed(&mut st).into_iter().map(|(k, _)| k).collect();
        keys.sort();
        assert_eq!(keys, [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        assert!(!writes(&StoreOp::CacheList) && writes(&StoreOp::CachePurgeAll));
        assert_eq!(
            perform(&mut st, StoreOp::CacheBody { id: c.clone() }, 0).unwrap(),
            StoreAnswer::CacheBody {
                id: c.clone(),
                body: Some(Bytes::from(vec![0xff, 0]))
            }
        );
        // Soft: still there, stale; hard: gone, and only what carries the key.
        let soft = StoreOp::CachePurgeKey {
            surrogate_key: " news ".into(),
            soft: true,
        };
        assert_eq!(
            perform(&mut st, soft, 1_000_000_000).unwrap(),
            StoreAnswer::Done { changed: 1 }
        );
        let stale: Vec<Vec<u8>> = listed(&mut st)
            .into_iter()
            .filter(|(_, s)| *s)
            .map(|(k, _)| k)
            .collect();
        assert_eq!(stale, [b"a".to_vec()]);
        let hard = StoreOp::CachePurgeKey {
            surrogate_key: "all".into(),
            soft: false,
        };
        assert_eq!(
            perform(&mut st, hard, 0).unwrap(),
            StoreAnswer::Done { changed: 2 }
        );
        assert_eq!(listed(&mut st), [(b"c".to_vec(), false)]);
        assert!(perform(
            &mut st,
            StoreOp::CachePurgeKey {
                surrogate_key: "  ".into(),
                soft: false
            },
            0
        )
        .unwrap_err()
        .contains("surrogate key"));
        assert_eq!(
            perform(&mut st, StoreOp::CacheRemove { id: a }, 0).unwrap(),
            StoreAnswer::Done { changed: 0 },
            "already purged"
        );
        assert_eq!(
            perform(&mut st, StoreOp::CacheRemove { id: c.clone() }, 0).unwrap(),
            StoreAnswer::Done { changed: 1 }
        );
        assert_eq!(
            perform(&mut st, StoreOp::CacheBody { id: c.clone() }, 0).unwrap(),
            StoreAnswer::CacheBody { id: c, body: None }
        );
        cached(&mut st, b"d", &[], b"d");
        assert_eq!(
            perform(&mut st, StoreOp::CachePurgeAll, 0).unwrap(),
            StoreAnswer::Done { changed: 1 }
        );
        assert!(
            all(&st, cache::PREFIX).is_empty(),
            "nothing of the cache is left"
        );
        assert_eq!(
            st.get(b"kv/s\0k"),
            Some(b"v".to_vec()),
            "the KV store stays"
        );
    }
}
