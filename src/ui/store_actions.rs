//! What the Stores panel does. The worker owns the service state: every read and
//! write of a state store (KV, ACL, rate counters, penalty boxes) is a request to it
//! ([`controller::store_request`]), so the panel, the runs and the other tabs see one
//! state. Config stores, dictionaries and secret stores are configuration: they are
//! read from, and edited in, the `fastly.toml` text of the config editor.

use super::controller;
use super::state::{AppState, EntryRow, OpenEntry, Tab};
use edgeplay_host::ServiceConfig;
use edgeplay_web::fetch::js_error;
use edgeplay_web::platform::now_ms;
use edgeplay_web::protocol::{Bytes, KvWrite, StoreAnswer, StoreOp};
use edgeplay_web::request::parse_config;
use edgeplay_web::stores::{self, FileFormat, StoreKind, ValueView};
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen_futures::JsFuture;

/// The configuration as the config editor has it (`None` while it does not validate).
pub fn config(state: AppState) -> Option<ServiceConfig> {
    state.config_text.with(|t| parse_config(t).ok())
}

fn say(state: AppState, message: impl Into<String>) {
    state.stores.message.set(Some(message.into()));
}

fn storage_key(kind: StoreKind, store: &str, key: &str) -> Vec<u8> {
    let mut k = kind.prefix(store);
    k.extend_from_slice(key.as_bytes());
    k
}

/// Seed the stores the configuration defines, as a run would (a no-op once done), so
/// the panel shows them before the first run.
pub fn seed(state: AppState) {
    let config_toml = state.config_text.get_untracked();
    if parse_config(&config_toml).is_err() {
        return;
    }
    controller::store_request(state, StoreOp::Seed { config_toml }, |_| {});
}

/// Learn which rate counters and penalty boxes exist (their keys under `erl/`).
pub fn refresh_erl(state: AppState) {
    controller::store_request(
        state,
        StoreOp::List {
            prefix: Bytes::from(b"erl/".to_vec()),
            after: None,
            search: String::new(),
            limit: 100_000,
        },
        move |r| {
            if let Ok(StoreAnswer::Listed { keys, .. }) = r {
                let keys: Vec<Vec<u8>> = keys.into_iter().map(|k| k.key.into_vec()).collect();
                if state.stores.erl_keys.with_untracked(|old| *old != keys) {
                    state.stores.erl_keys.set(keys);
                }
            }
        },
    );
}

/// List the selected state store's keys (matching the search).
pub fn refresh_keys(state: AppState) {
    let Some((kind, name)) = state.stores.selected.get_untracked() else {
        return;
    };
    if !kind.is_state() {
        return;
    }
    let prefix = kind.prefix(&name);
    let plen = prefix.len();
    let t0 = now_ms();
    controller::store_request(
        state,
        StoreOp::List {
            prefix: Bytes::from(prefix),
            after: None,
            search: state.stores.search.get_untracked(),
            limit: state.stores.limit.get_untracked(),
        },
        move |r| {
            // A late answer for a store no longer selected is dropped.
            if state.stores.selected.get_untracked().as_ref() != Some(&(kind, name.clone())) {
                return;
            }
            match r {
                Ok(StoreAnswer::Listed { keys, more, total }) => {
                    let rows = keys
                        .into_iter()
                        .map(|k| EntryRow {
                            key: String::from_utf8_lossy(&k.key[plen.min(k.key.len())..])
                                .into_owned(),
                            size: k.size as usize,
                        })
                        .collect();
                    state.stores.rows.set(rows);
                    state.stores.more.set(more);
                    state.stores.total.set(total as usize);
                    state.stores.list_ms.set(Some(now_ms() - t0));
                }
                Ok(_) => {}
                Err(e) => say(state, format!("Could not list the store: {e}")),
            }
        },
    );
}

/// The entries of a config store or secret store, from the configuration.
pub fn config_rows(
    config: &ServiceConfig,
    kind: StoreKind,
    name: &str,
    search: &str,
) -> Vec<EntryRow> {
    let needle = search.to_lowercase();
    let rows = |entries: &mut dyn Iterator<Item = (&String, usize)>| -> Vec<EntryRow> {
        entries
            .filter(|(k, _)| needle.is_empty() || k.to_lowercase().contains(&needle))
            .map(|(k, size)| EntryRow {
                key: k.clone(),
                size,
            })
            .collect()
    };
    match kind {
        StoreKind::Config => config
            .config_stores
            .get(name)
            .map(|s| rows(&mut s.iter().map(|(k, v)| (k, v.len()))))
            .unwrap_or_default(),
        StoreKind::Secret => config
            .secret_stores
            .get(name)
            .map(|s| rows(&mut s.iter().map(|(k, v)| (k, v.len()))))
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

/// Select a store.
pub fn select_store(state: AppState, kind: StoreKind, name: String) {
    let s = state.stores;
    s.selected.set(Some((kind, name)));
    s.open.set(None);
    s.revealed.set(false);
    s.rows.set(Vec::new());
    s.total.set(0);
    s.more.set(false);
    s.message.set(None);
    s.edit_key.set(String::new());
    s.edit_value.set(String::new());
    s.edit_metadata.set(String::new());
    s.edit_ttl.set(String::new());
    refresh_keys(state);
}

/// Show an entry's value (and put it into the edit form).
pub fn open_entry(state: AppState, kind: StoreKind, store: String, key: String) {
    let s = state.stores;
    s.revealed.set(false);
    let skey = storage_key(kind, &store, &key);
    let (store_name, key_name) = (store.clone(), key.clone());
    let show = move |value: ValueView| {
        s.edit_key.set(key.clone());
        if kind != StoreKind::Secret {
            s.edit_value
                .set(String::from_utf8_lossy(&value.value).into_owned());
        } else {
            s.edit_value.set(String::new());
        }
        s.edit_metadata
            .set(String::from_utf8_lossy(&value.metadata).into_owned());
        s.edit_ttl.set(String::new());
        s.open.set(Some(OpenEntry {
            kind,
            store: store.clone(),
            key: key.clone(),
            value,
        }));
    };
    if kind.is_state() {
        controller::store_request(
            state,
            StoreOp::Get {
                key: Bytes::from(skey),
            },
            move |r| match r {
                Ok(StoreAnswer::Value { value: Some(v), .. }) => {
                    show(stores::decode_value(kind, &v))
                }
                Ok(_) => say(state, "That key is gone (deleted since it was listed)."),
                Err(e) => say(state, format!("Could not read the key: {e}")),
            },
        );
        return;
    }
    let Some(cfg) = config(state) else { return };
    let value = match kind {
        StoreKind::Config => cfg
            .config_stores
            .get(&store_name)
            .and_then(|s| s.get(&key_name))
            .map(|v| v.clone().into_bytes()),
        _ => cfg
            .secret_stores
            .get(&store_name)
            .and_then(|s| s.get(&key_name))
            .cloned(),
    };
    if let Some(v) = value {
        show(stores::decode_value(kind, &v));
    }
}

/// Save the edit form into the selected store.
pub fn save_entry(state: AppState) {
    let s = state.stores;
    let Some((kind, store)) = s.selected.get_untracked() else {
        return;
    };
    let key = s.edit_key.get_untracked();
    let value = s.edit_value.get_untracked();
    if key.is_empty() {
        say(state, "Give the entry a key.");
        return;
    }
    match kind {
        StoreKind::Kv => {
            let metadata = s.edit_metadata.get_untracked();
            let ttl = s.edit_ttl.get_untracked();
            let ttl_sec = match ttl.trim() {
                "" => None,
                t => match t.parse::<u32>() {
                    Ok(n) if n > 0 => Some(n),
                    _ => {
                        say(state, "The TTL is a whole number of seconds (empty: none).");
                        return;
                    }
                },
            };
            let entry = KvWrite {
                key: key.clone(),
                value: Bytes::from(value.into_bytes()),
                metadata: (!metadata.is_empty()).then_some(metadata),
                ttl_sec,
            };
            controller::store_request(
                state,
                StoreOp::KvPut {
                    store: store.clone(),
                    entry,
                },
                move |r| match r {
                    Ok(_) => {
                        say(state, format!("Saved {key:?}."));
                        open_entry(state, kind, store, key);
                    }
                    Err(e) => say(state, format!("Not saved: {e}")),
                },
            );
        }
        StoreKind::Config | StoreKind::Secret | StoreKind::Acl => {
            // An ACL is exactly its configured entries: an edit goes into fastly.toml,
            // and the state follows when the edited configuration seeds it.
            let text = state.config_text.get_untracked();
            match stores::set_config_entry(&text, kind, &store, &key, &value) {
                Ok(t) => match parse_config(&t) {
                    Ok(_) => {
                        state.config_text.set(t);
                        say(state, format!("Saved {key:?} in fastly.toml."));
                        // An ACL entry shows once the edited configuration seeded it.
                        if kind != StoreKind::Acl {
                            open_entry(state, kind, store, key);
                        }
                    }
                    Err(e) => say(
                        state,
                        format!("Not saved: the config would not validate: {e}"),
                    ),
                },
                Err(e) => say(state, format!("Not saved: {e}")),
            }
        }
        _ => say(
            state,
            format!(
                "A {} is not edited here: its entries come from fastly.toml or the guest.",
                kind.label()
            ),
        ),
    }
}

/// Delete a key from the selected store.
pub fn delete_entry(state: AppState, key: String) {
    let Some((kind, store)) = state.stores.selected.get_untracked() else {
        return;
    };
    let open_key = key.clone();
    let closes = move || {
        if state
            .stores
            .open
            .with_untracked(|o| o.as_ref().is_some_and(|o| o.key == open_key))
        {
            state.stores.open.set(None);
        }
    };
    if kind.is_state() && kind != StoreKind::Acl {
        let skey = storage_key(kind, &store, &key);
        let k = key.clone();
        controller::store_request(
            state,
            StoreOp::Delete {
                key: Bytes::from(skey),
            },
            move |r| match r {
                Ok(_) => {
                    say(state, format!("Deleted {k:?}."));
                    closes();
                }
                Err(e) => say(state, format!("Not deleted: {e}")),
            },
        );
        return;
    }
    let text = state.config_text.get_untracked();
    match stores::remove_config_entry(&text, kind, &store, &key) {
        Ok(t) => {
            state.config_text.set(t);
            say(state, format!("Deleted {key:?} from fastly.toml."));
            closes();
        }
        Err(e) => say(state, format!("Not deleted: {e}")),
    }
}

/// Put every store back to the seed the configuration defines.
pub fn reset_to_config(state: AppState) {
    let config_toml = state.config_text.get_untracked();
    if let Err(e) = parse_config(&config_toml) {
        say(
            state,
            format!("Not reset: the config does not validate: {e}"),
        );
        return;
    }
    controller::store_request(state, StoreOp::Reset { config_toml }, move |r| match r {
        Ok(StoreAnswer::Done { changed }) => {
            state.stores.open.set(None);
            say(
                state,
                format!("Reset to the config ({changed} keys changed)."),
            );
        }
        Ok(_) => {}
        Err(e) => say(state, format!("Not reset: {e}")),
    });
}

/// Import a JSON file (Viceroy's or Fastlike's shape; an ACL: Fastly's ACL JSON)
/// into the selected store.
pub fn import_file(state: AppState, file: web_sys::File) {
    let Some((kind, store)) = state.stores.selected.get_untracked() else {
        return;
    };
    let replace = state.stores.import_replace.get_untracked();
    spawn_local(async move {
        let text = match JsFuture::from(file.text()).await {
            Ok(t) => t.as_string().unwrap_or_default(),
            Err(e) => {
                return say(
                    state,
                    format!("Could not read {}: {}", file.name(), js_error(&e)),
                )
            }
        };
        if kind == StoreKind::Acl {
            return import_acl(state, &store, &text, replace, &file.name());
        }
        let entries = match stores::parse_import(&text) {
            Ok(e) => e,
            Err(e) => return say(state, format!("Not imported: {}: {e}", file.name())),
        };
        let n = entries.len();
        // A big file takes a moment to store: say so until it is answered.
        say(
            state,
            format!("Importing {n} entries from {}…", file.name()),
        );
        match kind {
            StoreKind::Kv => {
                let entries = entries
                    .into_iter()
                    .map(|e| KvWrite {
                        key: e.key,
                        value: Bytes::from(e.value),
                        metadata: e.metadata,
                        ttl_sec: None,
                    })
                    .collect();
                controller::store_request(
                    state,
                    StoreOp::KvImport {
                        store,
                        entries,
                        replace,
                    },
                    move |r| match r {
                        Ok(_) => say(state, format!("Imported {n} entries.")),
                        Err(e) => say(state, format!("Not imported: {e}")),
                    },
                );
            }
            StoreKind::Config | StoreKind::Secret => {
                let mut text = state.config_text.get_untracked();
                if replace {
                    let keys: Vec<String> = config(state)
                        .map(|c| {
                            config_rows(&c, kind, &store, "")
                                .into_iter()
                                .map(|r| r.key)
                                .collect()
                        })
                        .unwrap_or_default();
                    for k in keys {
                        if let Ok(t) = stores::remove_config_entry(&text, kind, &store, &k) {
                            text = t;
                        }
                    }
                }
                for e in &entries {
                    let value = String::from_utf8_lossy(&e.value);
                    match stores::set_config_entry(&text, kind, &store, &e.key, &value) {
                        Ok(t) => text = t,
                        Err(err) => return say(state, format!("Not imported: {err}")),
                    }
                }
                if let Err(e) = parse_config(&text) {
                    return say(
                        state,
                        format!("Not imported: the config would not validate: {e}"),
                    );
                }
                state.config_text.set(text);
                say(state, format!("Imported {n} entries into fastly.toml."));
            }
            _ => say(state, format!("A {} is not imported here.", kind.label())),
        }
    });
}

/// Import an ACL file (Fastly's ACL JSON, as the runner's `--acl` reads it) into the
/// ACL `store` of the `fastly.toml` text; with `replace`, its other entries go.
fn import_acl(state: AppState, store: &str, text: &str, replace: bool, file_name: &str) {
    let entries = match stores::parse_acl_import(text) {
        Ok(e) => e,
        Err(e) => return say(state, format!("Not imported: {file_name}: {e}")),
    };
    let mut toml = state.config_text.get_untracked();
    if replace {
        let old: Vec<String> = config(state)
            .and_then(|c| c.acls.get(store).cloned())
            .map(|a| a.entries.iter().map(|e| e.prefix.to_string()).collect())
            .unwrap_or_default();
        for prefix in old {
            match stores::remove_config_entry(&toml, StoreKind::Acl, store, &prefix) {
                Ok(t) => toml = t,
                Err(e) => return say(state, format!("Not imported: {e}")),
            }
        }
    }
    for (prefix, action) in &entries {
        match stores::set_config_entry(&toml, StoreKind::Acl, store, &prefix.to_string(), action) {
            Ok(t) => toml = t,
            Err(e) => return say(state, format!("Not imported: {e}")),
        }
    }
    if let Err(e) = parse_config(&toml) {
        return say(
            state,
            format!("Not imported: the config would not validate: {e}"),
        );
    }
    state.config_text.set(toml);
    say(
        state,
        format!("Imported {} ACL entries into fastly.toml.", entries.len()),
    );
}

/// Download the selected store as JSON in `format`.
pub fn export(state: AppState, format: FileFormat) {
    let Some((kind, store)) = state.stores.selected.get_untracked() else {
        return;
    };
    let file_name = format!(
        "{store}{}.json",
        if format == FileFormat::Fastlike {
            ".fastlike"
        } else {
            ""
        }
    );
    if kind == StoreKind::Acl {
        // Fastly's ACL JSON, the one shape Viceroy, Fastlike and `--acl` all read.
        let Some(acl) = config(state).and_then(|c| c.acls.get(&store).cloned()) else {
            return say(state, format!("There is no ACL {store:?} in fastly.toml."));
        };
        return controller::download_json(&format!("{store}.json"), &stores::export_acl_json(&acl));
    }
    if kind.is_state() {
        let prefix = kind.prefix(&store);
        controller::store_request(
            state,
            StoreOp::Export {
                prefix: Bytes::from(prefix.clone()),
            },
            move |r| {
                let stored: Vec<(Vec<u8>, Vec<u8>)> = match r {
                    Ok(StoreAnswer::Entries { entries }) => entries
                        .into_iter()
                        .map(|(k, v)| (k.into_vec(), v.into_vec()))
                        .collect(),
                    Ok(_) => return,
                    Err(e) => return say(state, format!("Not exported: {e}")),
                };
                let entries = if kind == StoreKind::Kv {
                    stores::kv_file_entries(&prefix, &stored)
                } else {
                    Ok(stored
                        .into_iter()
                        .map(|(k, v)| stores::FileEntry {
                            key: String::from_utf8_lossy(&k[prefix.len()..]).into_owned(),
                            value: v,
                            metadata: None,
                        })
                        .collect())
                };
                match entries.and_then(|e| stores::export_json(&e, format)) {
                    Ok(json) => controller::download_json(&file_name, &json),
                    Err(e) => say(state, format!("Not exported: {e}")),
                }
            },
        );
        return;
    }
    let Some(cfg) = config(state) else { return };
    let entries: Vec<stores::FileEntry> = match kind {
        StoreKind::Config => cfg
            .config_stores
            .get(&store)
            .into_iter()
            .flatten()
            .map(|(k, v)| stores::FileEntry {
                key: k.clone(),
                value: v.clone().into_bytes(),
                metadata: None,
            })
            .collect(),
        _ => cfg
            .secret_stores
            .get(&store)
            .into_iter()
            .flatten()
            .map(|(k, v)| stores::FileEntry {
                key: k.clone(),
                value: v.clone(),
                metadata: None,
            })
            .collect(),
    };
    match stores::export_json(&entries, format) {
        Ok(json) => controller::download_json(&file_name, &json),
        Err(e) => say(state, format!("Not exported: {e}")),
    }
}

/// Show the trace event that touched a key: the Trace tab, the event selected and
/// scrolled to.
pub fn show_trace_event(state: AppState, seq: u64) {
    state.trace_filter.set("hostcalls".into());
    state.selected.set(Some(seq));
    state.tab.set(Tab::Trace);
    request_animation_frame(move || {
        let row = document()
            .query_selector(&format!("[data-testid=\"trace\"] tr[data-seq=\"{seq}\"]"))
            .ok()
            .flatten();
        if let Some(row) = row {
            row.scroll_into_view();
        }
    });
}
