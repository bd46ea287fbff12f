//! What the Stores panel shows and edits, platform-neutral (tested natively).
//!
//! - [`catalogue`]: every store the configuration defines, plus the rate counters
//!   and penalty boxes that exist in state.
//! - [`decode_value`]: a stored value as the panel shows it (a KV entry's value,
//!   metadata, generation and expiry, through the KV engine's record decoder).
//! - [`parse_import`] / [`export_json`]: a store as JSON, in Viceroy's `format =
//!   "json"` shape (key → string, or key → `{"data", "metadata"}`) or Fastlike's
//!   (key → string, or key → `{"body", "metadata"}`); config stores, dictionaries
//!   and secret stores take the key → string shape both share (the runner's
//!   `--dictionary`, `--config-store`, `--secret-store` files).
//! - [`parse_acl_import`] / [`export_acl_json`]: an ACL in Fastly's ACL JSON
//!   (`{"entries": [{"prefix", "action"}]}`, the runner's `--acl` files).
//! - [`set_config_entry`] / [`remove_config_entry`]: config stores, dictionaries and
//!   secret stores are configuration, not state: the panel edits them in the
//!   `fastly.toml` text, keeping its formatting.
//! - [`touched`]: the keys the last run read or wrote, from its trace.

use edgeplay_host::config::{check_kv_key, IpPrefix};
use edgeplay_host::trace::{ArgValue, EventKind};
use edgeplay_host::{acl, erl, kv};
use edgeplay_host::{ServiceConfig, TraceEvent};
use std::collections::{BTreeMap, HashMap};

/// The kinds of store the panel lists (`data-store-kind`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StoreKind {
    /// A KV store (state).
    Kv,
    /// A config store or dictionary (configuration).
    Config,
    /// A secret store (configuration; values masked).
    Secret,
    /// An ACL (state seeded from the configuration).
    Acl,
    /// An edge rate limiting counter (state).
    RateCounter,
    /// A penalty box (state).
    PenaltyBox,
}

impl StoreKind {
    /// The name the page uses (`data-store-kind`).
    pub fn id(self) -> &'static str {
        match self {
            StoreKind::Kv => "kv",
            StoreKind::Config => "config",
            StoreKind::Secret => "secret",
            StoreKind::Acl => "acl",
            StoreKind::RateCounter => "rate-counter",
            StoreKind::PenaltyBox => "penalty-box",
        }
    }

    /// A label for people.
    pub fn label(self) -> &'static str {
        match self {
            StoreKind::Kv => "KV store",
            StoreKind::Config => "config store",
            StoreKind::Secret => "secret store",
            StoreKind::Acl => "ACL",
            StoreKind::RateCounter => "rate counter",
            StoreKind::PenaltyBox => "penalty box",
        }
    }

    /// True when the store is state (held by the worker); false for configuration.
    pub fn is_state(self) -> bool {
        !matches!(self, StoreKind::Config | StoreKind::Secret)
    }

    /// The state prefix under which a store of this kind named `name` keeps its
    /// entries (the layout of `edgeplay_host::storage`).
    pub fn prefix(self, name: &str) -> Vec<u8> {
        let head = match self {
            StoreKind::Kv => return kv::store_prefix(name),
            StoreKind::Acl => "acl/",
            StoreKind::RateCounter => RATE_COUNTERS,
            StoreKind::PenaltyBox => PENALTY_BOXES,
            StoreKind::Config => "config/",
            StoreKind::Secret => "secret/",
        };
        let mut p = format!("{head}{name}").into_bytes();
        p.push(0);
        p
    }
}

/// Where rate counters keep their entries in state.
pub const RATE_COUNTERS: &str = "erl/rc/";
/// Where penalty boxes keep their entries in state.
pub const PENALTY_BOXES: &str = "erl/pb/";

/// One store the panel lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreInfo {
    /// Its kind.
    pub kind: StoreKind,
    /// Its name.
    pub name: String,
}

/// Every store: the configuration's (KV stores, config stores and dictionaries,
/// secret stores, ACLs) and the rate counters and penalty boxes named by `erl_keys`
/// (state keys under `erl/rc/` and `erl/pb/`), in kind then name order.
pub fn catalogue(config: &ServiceConfig, erl_keys: &[Vec<u8>]) -> Vec<StoreInfo> {
    let mut out: Vec<StoreInfo> = Vec::new();
    let mut add = |kind, name: &str| {
        let s = StoreInfo {
            kind,
            name: name.to_string(),
        };
        if !out.contains(&s) {
            out.push(s);
        }
    };
    config.kv_stores.keys().for_each(|n| add(StoreKind::Kv, n));
    config
        .config_stores
        .keys()
        .for_each(|n| add(StoreKind::Config, n));
    config
        .secret_stores
        .keys()
        .for_each(|n| add(StoreKind::Secret, n));
    config.acls.keys().for_each(|n| add(StoreKind::Acl, n));
    for key in erl_keys {
        for (kind, head) in [
            (StoreKind::RateCounter, RATE_COUNTERS),
            (StoreKind::PenaltyBox, PENALTY_BOXES),
        ] {
            if let Some(rest) = key.strip_prefix(head.as_bytes()) {
                let name = rest.split(|b| *b == 0).next().unwrap_or_default();
                add(kind, &String::from_utf8_lossy(name));
            }
        }
    }
    out.sort_by(|a, b| (a.kind, &a.name).cmp(&(b.kind, &b.name)));
    out
}

/// A stored value as the panel shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ValueView {
    /// The value itself.
    pub value: Vec<u8>,
    /// KV metadata (empty: none).
    pub metadata: Vec<u8>,
    /// KV generation.
    pub generation: Option<u64>,
    /// KV expiry (unix ns).
    pub expires_unix_ns: Option<u64>,
    /// Why the record could not be decoded (then `value` is the raw record).
    pub problem: Option<String>,
}

/// Decode a stored value of a store of `kind`.
pub fn decode_value(kind: StoreKind, stored: &[u8]) -> ValueView {
    match kind {
        StoreKind::Kv => match kv::Entry::decode(stored) {
            Ok(e) => ValueView {
                value: e.value,
                metadata: e.metadata,
                generation: Some(e.generation),
                expires_unix_ns: e.expires_unix_ns,
                problem: None,
            },
            Err(e) => ValueView {
                value: stored.to_vec(),
                problem: Some(format!("{e}: shown as stored")),
                ..ValueView::default()
            },
        },
        StoreKind::Acl => match acl::decode(stored) {
            // The action is the value (what an edit changes); the key is the prefix.
            Ok(e) => ValueView {
                value: e.action.into_bytes(),
                ..ValueView::default()
            },
            Err(e) => undecodable(stored, e),
        },
        StoreKind::PenaltyBox => match erl::decode_penalty_box(stored) {
            Ok(pb) => ValueView {
                value: stored.to_vec(),
                expires_unix_ns: Some(pb.expires_unix_ns),
                ..ValueView::default()
            },
            Err(e) => undecodable(stored, e),
        },
        StoreKind::RateCounter => match erl::decode_rate_counter(stored) {
            Ok(_) => ValueView {
                value: stored.to_vec(),
                ..ValueView::default()
            },
            Err(e) => undecodable(stored, e),
        },
        StoreKind::Config | StoreKind::Secret => ValueView {
            value: stored.to_vec(),
            ..ValueView::default()
        },
    }
}

fn undecodable(stored: &[u8], e: impl std::fmt::Display) -> ValueView {
    ValueView {
        value: stored.to_vec(),
        problem: Some(format!("{e}: shown as stored")),
        ..ValueView::default()
    }
}

/// How long until `expires_unix_ns` from `now_unix_ns`, for people.
pub fn ttl_text(expires_unix_ns: Option<u64>, now_unix_ns: u64) -> String {
    match expires_unix_ns {
        None => "no TTL".into(),
        Some(t) if t <= now_unix_ns => "expired".into(),
        Some(t) => format!("expires in {} s", (t - now_unix_ns).div_ceil(1_000_000_000)),
    }
}

/// One entry of an import or export file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// The key.
    pub key: String,
    /// The value.
    pub value: Vec<u8>,
    /// Metadata, if any.
    pub metadata: Option<String>,
}

/// The JSON shapes a store is imported from and exported to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileFormat {
    /// Viceroy's `format = "json"`: key → string, or key → `{"data", "metadata"}`.
    Viceroy,
    /// Fastlike's `-kv name=file.json`: key → string, or key → `{"body", "metadata"}`.
    Fastlike,
}

/// Read a store file (either shape: an object member may use `data` or `body`). The
/// error names the key and what is wrong; nothing is half read.
pub fn parse_import(text: &str) -> Result<Vec<FileEntry>, String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let serde_json::Value::Object(map) = v else {
        return Err("expected a JSON object of key → value".into());
    };
    let mut out = Vec::with_capacity(map.len());
    for (key, v) in map {
        check_kv_key(&key).map_err(|e| format!("key {key:?}: {e}"))?;
        let entry = match v {
            serde_json::Value::String(s) => FileEntry {
                key,
                value: s.into_bytes(),
                metadata: None,
            },
            serde_json::Value::Object(mut o) => {
                let text = |o: &mut serde_json::Map<String, serde_json::Value>, f: &str| match o
                    .remove(f)
                {
                    None => Ok(None),
                    Some(serde_json::Value::String(s)) => Ok(Some(s)),
                    Some(_) => Err(format!("key {key:?}: `{f}` must be a string")),
                };
                if o.contains_key("file") {
                    return Err(format!(
                        "key {key:?}: `file` cannot be read in the tab: put the value in `data`"
                    ));
                }
                let data = text(&mut o, "data")?;
                let body = text(&mut o, "body")?;
                let metadata = text(&mut o, "metadata")?;
                if let Some(k) = o.keys().next() {
                    return Err(format!(
                        "key {key:?}: unknown field `{k}` (expected `data` or `body`, and `metadata`)"
                    ));
                }
                let value = match (data, body) {
                    (Some(d), None) | (None, Some(d)) => d,
                    (Some(_), Some(_)) => {
                        return Err(format!("key {key:?}: both `data` and `body`: give one"))
                    }
                    (None, None) => {
                        return Err(format!("key {key:?}: needs `data` (or Fastlike's `body`)"))
                    }
                };
                FileEntry {
                    key,
                    value: value.into_bytes(),
                    metadata,
                }
            }
            other => {
                return Err(format!(
                    "key {key:?}: expected a string or an object, found {}",
                    match other {
                        serde_json::Value::Null => "null",
                        serde_json::Value::Bool(_) => "a boolean",
                        serde_json::Value::Number(_) => "a number",
                        _ => "an array",
                    }
                ))
            }
        };
        out.push(entry);
    }
    Ok(out)
}

/// Write a store file in `format`. Values (and metadata) must be UTF-8 text: both
/// shapes carry strings only; the error names the first key that is not.
pub fn export_json(entries: &[FileEntry], format: FileFormat) -> Result<String, String> {
    let mut map = serde_json::Map::new();
    for e in entries {
        let value = String::from_utf8(e.value.clone()).map_err(|_| {
            format!(
                "the value of {:?} is not UTF-8 text: the JSON store formats carry text only",
                e.key
            )
        })?;
        let v = match &e.metadata {
            Some(m) if !m.is_empty() => {
                let field = match format {
                    FileFormat::Viceroy => "data",
                    FileFormat::Fastlike => "body",
                };
                serde_json::json!({ field: value, "metadata": m })
            }
            _ => serde_json::Value::String(value),
        };
        map.insert(e.key.clone(), v);
    }
    serde_json::to_string_pretty(&serde_json::Value::Object(map)).map_err(|e| e.to_string())
}

/// Read an ACL file in Fastly's ACL JSON (what the runner's `--acl NAME=FILE.json`,
/// Viceroy's and Fastlike's ACL files hold): `{"entries": [{"prefix": "1.2.3.0/24",
/// "action": "BLOCK"}, ...]}`. As the core reads it: an entry's `op` and a top-level
/// `meta` are ignored, a bare address is its full length, the action is `ALLOW` or
/// `BLOCK` in any case. The prefixes and actions (upper-cased), in order; the error
/// names the entry and what is wrong, and nothing is half read.
pub fn parse_acl_import(text: &str) -> Result<Vec<(IpPrefix, String)>, String> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
    let serde_json::Value::Object(mut top) = v else {
        return Err("expected a JSON object with `entries` (Fastly's ACL format)".into());
    };
    top.remove("meta");
    let entries = match top.remove("entries") {
        Some(serde_json::Value::Array(a)) => a,
        Some(_) => return Err("`entries` must be an array".into()),
        None => return Err("expected `entries`: a list of `{prefix, action}`".into()),
    };
    if let Some(k) = top.keys().next() {
        return Err(format!(
            "unknown field `{k}` (an ACL file has `entries`, and may have `meta`)"
        ));
    }
    let mut out = Vec::with_capacity(entries.len());
    for (i, e) in entries.into_iter().enumerate() {
        let serde_json::Value::Object(mut o) = e else {
            return Err(format!(
                "entry {i}: expected an object with `prefix` and `action`"
            ));
        };
        o.remove("op");
        let mut text = |f: &str| match o.remove(f) {
            Some(serde_json::Value::String(s)) => Ok(s),
            Some(_) => Err(format!("entry {i}: `{f}` must be a string")),
            None => Err(format!("entry {i}: needs `{f}`")),
        };
        let prefix = parse_prefix(&text("prefix")?).map_err(|e| format!("entry {i}: {e}"))?;
        let action = text("action")?.to_ascii_uppercase();
        if action != "ALLOW" && action != "BLOCK" {
            return Err(format!(
                "entry {i}: the action must be ALLOW or BLOCK, not {action:?}"
            ));
        }
        if let Some(k) = o.keys().next() {
            return Err(format!(
                "entry {i}: unknown field `{k}` (expected `prefix`, `action`, and `op`)"
            ));
        }
        out.push((prefix, action));
    }
    Ok(out)
}

/// An ACL as Fastly's ACL JSON (`{"entries": [{"prefix", "action"}]}`), which the
/// runner's `--acl`, Viceroy and Fastlike read.
pub fn export_acl_json(acl: &edgeplay_host::config::AclConfig) -> String {
    let entries: Vec<serde_json::Value> = acl
        .entries
        .iter()
        .map(|e| serde_json::json!({ "prefix": e.prefix.to_string(), "action": e.action }))
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({ "entries": entries })).unwrap_or_default()
}

/// A KV store's entries as file entries (undecodable records are named in the error).
pub fn kv_file_entries(
    prefix: &[u8],
    stored: &[(Vec<u8>, Vec<u8>)],
) -> Result<Vec<FileEntry>, String> {
    stored
        .iter()
        .map(|(k, v)| {
            let key = String::from_utf8_lossy(k.strip_prefix(prefix).unwrap_or(k)).into_owned();
            let e = kv::Entry::decode(v).map_err(|e| format!("{key:?}: {e}"))?;
            let metadata =
                (!e.metadata.is_empty()).then(|| String::from_utf8_lossy(&e.metadata).into_owned());
            Ok(FileEntry {
                key,
                value: e.value,
                metadata,
            })
        })
        .collect()
}

/// Which table of `[local_server]` defines the config store `name` (`config_stores`
/// or `dictionaries`), or where a new one goes.
fn config_table(doc: &toml_edit::DocumentMut, name: &str) -> &'static str {
    let has = |t: &str| {
        doc.get("local_server")
            .and_then(|l| l.get(t))
            .and_then(|t| t.get(name))
            .is_some()
    };
    if has("dictionaries") && !has("config_stores") {
        "dictionaries"
    } else {
        "config_stores"
    }
}

fn parse_doc(text: &str) -> Result<toml_edit::DocumentMut, String> {
    text.parse::<toml_edit::DocumentMut>()
        .map_err(|e| format!("the config is not valid TOML: {e}"))
}

/// Set `key` to `value` in the config store / dictionary, secret store or ACL `store`
/// of the `fastly.toml` text (created when missing), keeping the rest of the text as
/// it is. For an ACL the key is the prefix and the value its action; an entry with
/// the same prefix (however written) is replaced. A store read from a `file` cannot
/// be edited in the tab (the error says so).
pub fn set_config_entry(
    text: &str,
    kind: StoreKind,
    store: &str,
    key: &str,
    value: &str,
) -> Result<String, String> {
    let mut doc = parse_doc(text)?;
    match kind {
        StoreKind::Config => {
            let table = config_table(&doc, store);
            let ls = table_at(doc.as_table_mut(), "local_server")?;
            let group = table_at(ls, table)?;
            let s = table_at(group, store)?;
            if s.contains_key("file") {
                return Err(format!(
                    "the config store {store:?} is read from a file, which the tab cannot change: put its contents inline"
                ));
            }
            if !s.contains_key("format") {
                s.insert("format", toml_edit::value("inline-toml"));
            }
            let contents = table_at(s, "contents")?;
            contents.insert(key, toml_edit::value(value));
        }
        StoreKind::Secret => {
            let ls = table_at(doc.as_table_mut(), "local_server")?;
            let group = table_at(ls, "secret_stores")?;
            let item = group
                .entry(store)
                .or_insert(toml_edit::value(toml_edit::Array::new()));
            if let Some(arr) = item.as_array_mut() {
                let found = arr.iter_mut().find_map(|v| {
                    v.as_inline_table_mut()
                        .filter(|t| t.get("key").and_then(|k| k.as_str()) == Some(key))
                });
                match found {
                    Some(t) => {
                        t.remove("file");
                        t.remove("env");
                        t.insert("data", value.into());
                    }
                    None => {
                        let mut t = toml_edit::InlineTable::new();
                        t.insert("key", key.into());
                        t.insert("data", value.into());
                        arr.push(t);
                    }
                }
            } else if let Some(arr) = item.as_array_of_tables_mut() {
                let found = arr
                    .iter_mut()
                    .find(|t| t.get("key").and_then(|k| k.as_str()) == Some(key));
                match found {
                    Some(t) => {
                        t.remove("file");
                        t.remove("env");
                        t.insert("data", toml_edit::value(value));
                    }
                    None => {
                        let mut t = toml_edit::Table::new();
                        t.insert("key", toml_edit::value(key));
                        t.insert("data", toml_edit::value(value));
                        arr.push(t);
                    }
                }
            } else {
                return Err(format!(
                    "the secret store {store:?} is read from a file, which the tab cannot change: list its secrets inline"
                ));
            }
        }
        StoreKind::Acl => {
            let prefix = parse_prefix(key)?;
            let action = value.trim().to_ascii_uppercase();
            let ls = table_at(doc.as_table_mut(), "local_server")?;
            let group = table_at(ls, "acls")?;
            let item = group.entry(store).or_insert_with(|| {
                let mut t = toml_edit::InlineTable::new();
                t.insert("entries", toml_edit::Array::new().into());
                toml_edit::value(t)
            });
            let entries = acl_entries(item, store)?;
            let mut entry = toml_edit::InlineTable::new();
            entry.insert("prefix", prefix.to_string().into());
            entry.insert("action", action.as_str().into());
            match entries {
                AclEntries::Inline(arr) => {
                    let at = arr
                        .iter()
                        .position(|v| entry_prefix(v.as_inline_table()) == Some(prefix));
                    match at {
                        Some(i) => {
                            arr.replace(i, entry);
                        }
                        None => arr.push(entry),
                    }
                }
                AclEntries::Tables(arr) => {
                    let at = arr.iter().position(|t| table_prefix(t) == Some(prefix));
                    match at.and_then(|i| arr.get_mut(i)) {
                        Some(t) => {
                            t.insert("action", toml_edit::value(action.as_str()));
                        }
                        None => arr.push(entry.into_table()),
                    }
                }
            }
        }
        _ => return Err(format!("a {} is not configuration", kind.label())),
    }
    Ok(doc.to_string())
}

fn parse_prefix(key: &str) -> Result<IpPrefix, String> {
    key.trim().parse::<IpPrefix>().map_err(|e| {
        format!("{key:?} is not an IP prefix (like 192.0.2.0/24 or 2001:db8::/32): {e}")
    })
}

/// The entries of an ACL in the config text, as written inline or as tables.
enum AclEntries<'a> {
    Inline(&'a mut toml_edit::Array),
    Tables(&'a mut toml_edit::ArrayOfTables),
}

/// The `entries` of the ACL `item` (created empty when missing); an ACL read from a
/// file cannot be edited in the tab.
fn acl_entries<'a>(item: &'a mut toml_edit::Item, store: &str) -> Result<AclEntries<'a>, String> {
    let from_file = || {
        format!("the ACL {store:?} is read from a file, which the tab cannot change: write its entries inline")
    };
    let table = item.as_table_like_mut().ok_or_else(from_file)?;
    if table.contains_key("file") {
        return Err(from_file());
    }
    let entries = table
        .entry("entries")
        .or_insert(toml_edit::value(toml_edit::Array::new()));
    if entries.is_array_of_tables() {
        return Ok(AclEntries::Tables(
            entries.as_array_of_tables_mut().unwrap(),
        ));
    }
    entries
        .as_array_mut()
        .map(AclEntries::Inline)
        .ok_or_else(|| format!("`entries` of the ACL {store:?} is not a list"))
}

fn entry_prefix(t: Option<&toml_edit::InlineTable>) -> Option<IpPrefix> {
    t?.get("prefix")?.as_str()?.parse().ok()
}

fn table_prefix(t: &toml_edit::Table) -> Option<IpPrefix> {
    t.get("prefix")?.as_str()?.parse().ok()
}

/// Remove `key` from the config store / dictionary, secret store or ACL `store` (for an
/// ACL, `key` is the prefix).
pub fn remove_config_entry(
    text: &str,
    kind: StoreKind,
    store: &str,
    key: &str,
) -> Result<String, String> {
    let mut doc = parse_doc(text)?;
    let missing = || format!("{key:?} is not in the {} {store:?}", kind.label());
    match kind {
        StoreKind::Config => {
            let table = config_table(&doc, store);
            let contents = doc
                .get_mut("local_server")
                .and_then(|l| l.get_mut(table))
                .and_then(|t| t.get_mut(store))
                .and_then(|s| s.get_mut("contents"))
                .and_then(|c| c.as_table_like_mut())
                .ok_or_else(missing)?;
            contents.remove(key).ok_or_else(missing)?;
        }
        StoreKind::Secret => {
            let item = doc
                .get_mut("local_server")
                .and_then(|l| l.get_mut("secret_stores"))
                .and_then(|t| t.get_mut(store))
                .ok_or_else(missing)?;
            let is_key = |k: Option<&str>| k == Some(key);
            if let Some(arr) = item.as_array_mut() {
                let before = arr.len();
                arr.retain(|v| {
                    !is_key(
                        v.as_inline_table()
                            .and_then(|t| t.get("key"))
                            .and_then(|k| k.as_str()),
                    )
                });
                if arr.len() == before {
                    return Err(missing());
                }
            } else if let Some(arr) = item.as_array_of_tables_mut() {
                let before = arr.len();
                arr.retain(|t| !is_key(t.get("key").and_then(|k| k.as_str())));
                if arr.len() == before {
                    return Err(missing());
                }
            } else {
                return Err(missing());
            }
        }
        StoreKind::Acl => {
            let prefix = parse_prefix(key)?;
            let item = doc
                .get_mut("local_server")
                .and_then(|l| l.get_mut("acls"))
                .and_then(|t| t.get_mut(store))
                .ok_or_else(missing)?;
            let removed = match acl_entries(item, store)? {
                AclEntries::Inline(arr) => {
                    let before = arr.len();
                    arr.retain(|v| entry_prefix(v.as_inline_table()) != Some(prefix));
                    arr.len() != before
                }
                AclEntries::Tables(arr) => {
                    let before = arr.len();
                    arr.retain(|t| table_prefix(t) != Some(prefix));
                    arr.len() != before
                }
            };
            if !removed {
                return Err(missing());
            }
        }
        _ => return Err(format!("a {} is not configuration", kind.label())),
    }
    Ok(doc.to_string())
}

/// The table `name` in `t`, created (as a `[section]`) when missing.
fn table_at<'a>(
    t: &'a mut toml_edit::Table,
    name: &str,
) -> Result<&'a mut toml_edit::Table, String> {
    let item = t.entry(name).or_insert_with(|| {
        let mut nt = toml_edit::Table::new();
        nt.set_implicit(true);
        toml_edit::Item::Table(nt)
    });
    if let Some(it) = item.as_inline_table_mut() {
        // An inline table is edited as a normal one.
        let owned = std::mem::take(it).into_table();
        *item = toml_edit::Item::Table(owned);
    }
    item.as_table_mut()
        .ok_or_else(|| format!("`{name}` in the config is not a table"))
}

/// What the last run did to a key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Touch {
    /// Read only.
    Read,
    /// Written (or deleted).
    Write,
}

impl Touch {
    /// The page's name for it (`data-touched`).
    pub fn id(self) -> &'static str {
        match self {
            Touch::Read => "read",
            Touch::Write => "write",
        }
    }
}

/// The KV keys the trace's calls read or wrote: (store, key) → what, and the `seq`
/// of the first call that did it. A key both read and written is `Write` (and the
/// `seq` is the first write's).
pub fn touched(trace: &[TraceEvent]) -> HashMap<(String, String), (Touch, u64)> {
    let mut stores: BTreeMap<u32, String> = BTreeMap::new();
    let mut out: HashMap<(String, String), (Touch, u64)> = HashMap::new();
    for e in trace.iter().filter(|e| e.kind == EventKind::Hostcall) {
        if !(e.module.contains("kv_store") || e.module.contains("object_store")) {
            continue;
        }
        let str_arg = |name: &str| {
            e.args.iter().find_map(|(n, v)| match v {
                ArgValue::Str(s) if n == name => Some(s.clone()),
                _ => None,
            })
        };
        let handle_of = |list: &[(std::borrow::Cow<'static, str>, ArgValue)]| {
            list.iter().find_map(|(_, v)| match v {
                ArgValue::Handle { handle, .. } => Some(*handle),
                _ => None,
            })
        };
        if e.name == "open" {
            if let (Some(name), Some(h)) = (str_arg("name"), handle_of(&e.results)) {
                stores.insert(h, name);
            }
            continue;
        }
        let touch = if e.name.contains("lookup") {
            Touch::Read
        } else if e.name.contains("insert") || e.name.contains("delete") {
            Touch::Write
        } else {
            continue;
        };
        // The host names the store beside its handle (`store_name`).
        let store = str_arg("store_name")
            .or_else(|| handle_of(&e.args).and_then(|h| stores.get(&h).cloned()));
        let (Some(key), Some(store)) = (str_arg("key"), store) else {
            continue;
        };
        // The link goes to the call that first did the most (a write over a read;
        // an insert, not its `insert_wait`, which names the key too).
        let slot = out.entry((store, key)).or_insert((touch, e.seq));
        if touch > slot.0 {
            *slot = (touch, e.seq);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeplay_host::trace::HandleKind;

    fn config(text: &str) -> ServiceConfig {
        crate::request::parse_config(text).unwrap()
    }

    #[test]
    fn the_catalogue_has_every_configured_store_and_the_erl_ones_in_state() {
        let cfg = config(
            r#"
[local_server.kv_stores]
sessions = []
[local_server.config_stores.settings]
format = "inline-toml"
contents = { a = "1" }
[local_server.dictionaries.legacy]
format = "inline-toml"
contents = {}
[local_server.secret_stores]
vault = [{ key = "t", data = "s" }]
[local_server.acls]
blocklist = { entries = [] }
"#,
        );
        let erl = [
            b"erl/rc/logins\x00192.0.2.1".to_vec(),
            b"erl/rc/logins\x00192.0.2.2".to_vec(),
            b"erl/pb/jail\0x".to_vec(),
        ];
        let got: Vec<(&str, String)> = catalogue(&cfg, &erl)
            .into_iter()
            .map(|s| (s.kind.id(), s.name))
            .collect();
        assert_eq!(
            got,
            [
                ("kv", "sessions".to_string()),
                ("config", "legacy".into()),
                ("config", "settings".into()),
                ("secret", "vault".into()),
                ("acl", "blocklist".into()),
                ("rate-counter", "logins".into()),
                ("penalty-box", "jail".into()),
            ]
        );
    }

    #[test]
    fn a_kv_record_shows_value_metadata_generation_and_ttl() {
        let e = kv::Entry {
            value: b"v".to_vec(),
            metadata: b"m".to_vec(),
            generation: 7,
            expires_unix_ns: Some(5_000_000_000),
        };
        let v = decode_value(StoreKind::Kv, &e.encode());
        assert_eq!(
            (v.value, v.metadata, v.generation, v.problem),
            (b"v".to_vec(), b"m".to_vec(), Some(7), None)
        );
        assert_eq!(ttl_text(v.expires_unix_ns, 1_000_000_000), "expires in 4 s");
        assert_eq!(ttl_text(v.expires_unix_ns, 6_000_000_000), "expired");
        let bad = decode_value(StoreKind::Kv, &[9, 9]);
        assert!(bad.problem.unwrap().contains("shown as stored"));
        assert_eq!(bad.value, [9, 9], "nothing is hidden");
    }

    #[test]
    fn import_reads_viceroy_and_fastlike_files_and_export_writes_them_back() {
        let viceroy = r#"{"a": "1", "b": {"data": "2", "metadata": "m"}}"#;
        let fastlike = r#"{"a": "1", "b": {"body": "2", "metadata": "m"}}"#;
        let want = vec![
            FileEntry {
                key: "a".into(),
                value: b"1".to_vec(),
                metadata: None,
            },
            FileEntry {
                key: "b".into(),
                value: b"2".to_vec(),
                metadata: Some("m".into()),
            },
        ];
        assert_eq!(parse_import(viceroy).unwrap(), want);
        assert_eq!(parse_import(fastlike).unwrap(), want);
        for format in [FileFormat::Viceroy, FileFormat::Fastlike] {
            let text = export_json(&want, format).unwrap();
            assert_eq!(parse_import(&text).unwrap(), want, "{text}");
        }
        assert!(export_json(&want, FileFormat::Fastlike)
            .unwrap()
            .contains("\"body\""));
    }

    #[test]
    fn a_malformed_import_file_says_what_is_wrong() {
        for (text, says) in [
            ("[1]", "JSON object"),
            ("{", "not valid JSON"),
            (r#"{"a": 1}"#, "a number"),
            (r#"{"a": {"metadata": "m"}}"#, "needs `data`"),
            (r#"{"a": {"file": "x.txt"}}"#, "cannot be read in the tab"),
            (r#"{"a": {"data": "1", "ttl": 3}}"#, "unknown field `ttl`"),
            (r#"{"a\nb": "1"}"#, "key"),
        ] {
            let err = parse_import(text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
        let binary = [FileEntry {
            key: "k".into(),
            value: vec![0xff],
            metadata: None,
        }];
        assert!(export_json(&binary, FileFormat::Viceroy)
            .unwrap_err()
            .contains("not UTF-8"));
    }

    #[test]
    fn config_entries_are_edited_in_the_toml_text() {
        let text = crate::examples::DEFAULT_CONFIG;
        let edited = set_config_entry(text, StoreKind::Config, "settings", "new", "v").unwrap();
        let edited =
            set_config_entry(&edited, StoreKind::Config, "legacy", "colour", "red").unwrap();
        let edited = set_config_entry(&edited, StoreKind::Secret, "vault", "token", "t2").unwrap();
        let edited = set_config_entry(&edited, StoreKind::Secret, "vault", "other", "o").unwrap();
        let edited = set_config_entry(&edited, StoreKind::Config, "fresh", "k", "1").unwrap();
        assert!(edited.contains("# Mock backends"), "comments stay");
        let cfg = config(&edited);
        assert_eq!(cfg.config_stores["settings"]["new"], "v");
        assert_eq!(cfg.config_stores["settings"]["answer"], "42");
        assert_eq!(cfg.config_stores["legacy"]["colour"], "red");
        assert_eq!(cfg.config_stores["fresh"]["k"], "1");
        assert_eq!(cfg.secret_stores["vault"]["token"], b"t2".to_vec());
        assert_eq!(cfg.secret_stores["vault"]["other"], b"o".to_vec());
        let removed = remove_config_entry(&edited, StoreKind::Config, "legacy", "colour").unwrap();
        let removed = remove_config_entry(&removed, StoreKind::Secret, "vault", "token").unwrap();
        let cfg = config(&removed);
        assert!(!cfg.config_stores["legacy"].contains_key("colour"));
        assert!(!cfg.secret_stores["vault"].contains_key("token"));
        assert!(
            remove_config_entry(&removed, StoreKind::Secret, "vault", "token")
                .unwrap_err()
                .contains("not in")
        );
        assert!(set_config_entry("[[", StoreKind::Config, "s", "k", "v")
            .unwrap_err()
            .contains("not valid TOML"));
    }

    #[test]
    fn acl_entries_are_edited_in_the_toml_text() {
        use std::net::IpAddr;
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let action = |cfg: &ServiceConfig, name: &str, addr: &str| {
            cfg.acls[name]
                .entries
                .iter()
                .filter(|e| e.prefix.contains(&ip(addr)))
                .max_by_key(|e| e.prefix.prefix_len)
                .map(|e| e.action.clone())
        };
        let text = "# my ACLs\n[local_server.acls]\nblocklist = { entries = [\n  { prefix = \"192.0.2.0/24\", action = \"BLOCK\" },\n] }\n";
        // A new ACL, a new entry, and an entry replaced by its prefix written otherwise.
        let edited =
            set_config_entry(text, StoreKind::Acl, "fresh", "10.0.0.0/8", "allow").unwrap();
        let edited = set_config_entry(
            &edited,
            StoreKind::Acl,
            "blocklist",
            "2001:db8::/32",
            "BLOCK",
        )
        .unwrap();
        let edited = set_config_entry(
            &edited,
            StoreKind::Acl,
            "blocklist",
            "192.0.2.9/24",
            "ALLOW",
        )
        .unwrap();
        assert!(edited.contains("# my ACLs"), "comments stay: {edited}");
        let cfg = config(&edited);
        assert_eq!(cfg.acls["blocklist"].entries.len(), 2, "{edited}");
        assert_eq!(
            action(&cfg, "blocklist", "192.0.2.1").as_deref(),
            Some("ALLOW")
        );
        assert_eq!(
            action(&cfg, "blocklist", "2001:db8::1").as_deref(),
            Some("BLOCK")
        );
        assert_eq!(action(&cfg, "fresh", "10.1.2.3").as_deref(), Some("ALLOW"));
        let removed =
            remove_config_entry(&edited, StoreKind::Acl, "blocklist", "192.0.2.0/24").unwrap();
        assert_eq!(action(&config(&removed), "blocklist", "192.0.2.1"), None);
        assert!(
            remove_config_entry(&removed, StoreKind::Acl, "blocklist", "192.0.2.0/24")
                .unwrap_err()
                .contains("not in")
        );
        // What cannot be edited says why.
        let err =
            set_config_entry(text, StoreKind::Acl, "blocklist", "not-an-ip", "BLOCK").unwrap_err();
        assert!(err.contains("not an IP prefix"), "{err}");
        let from_file = "[local_server.acls]\nf = { file = \"acl.json\" }\n";
        let err =
            set_config_entry(from_file, StoreKind::Acl, "f", "10.0.0.0/8", "BLOCK").unwrap_err();
        assert!(err.contains("read from a file"), "{err}");
        let table_form =
            "[[local_server.acls.t.entries]]\nprefix = \"10.0.0.0/8\"\naction = \"BLOCK\"\n";
        let edited =
            set_config_entry(table_form, StoreKind::Acl, "t", "10.0.0.0/8", "ALLOW").unwrap();
        assert_eq!(
            action(&config(&edited), "t", "10.0.0.1").as_deref(),
            Some("ALLOW")
        );
    }

    #[test]
    fn acl_and_rate_limiting_records_are_shown_decoded() {
        let v = decode_value(
            StoreKind::Acl,
            br#"{"prefix":"10.0.0.0/8","action":"BLOCK"}"#,
        );
        assert_eq!((v.value.as_slice(), v.problem), (&b"BLOCK"[..], None));
        let v = decode_value(
            StoreKind::PenaltyBox,
            br#"{"added_unix_ns":1,"expires_unix_ns":60000000001}"#,
        );
        assert_eq!(v.expires_unix_ns, Some(60_000_000_001));
        assert!(v.problem.is_none());
        let v = decode_value(StoreKind::RateCounter, b"\xff");
        assert!(v.problem.unwrap().contains("shown as stored"));
    }

    #[test]
    fn the_trace_says_which_kv_keys_a_run_read_and_wrote() {
        let mut open = TraceEvent::new(1, EventKind::Hostcall, "fastly_kv_store", "open");
        open.args
            .push(("name".into(), ArgValue::Str("sessions".into())));
        let h = ArgValue::Handle {
            kind: HandleKind::KvStore,
            handle: 3,
        };
        open.results.push(("store_handle_out".into(), h.clone()));
        let call = |seq, name: &'static str, key: &str| {
            let mut e = TraceEvent::new(seq, EventKind::Hostcall, "fastly_kv_store", name);
            e.args.push(("store".into(), h.clone()));
            e.args.push(("key".into(), ArgValue::Str(key.into())));
            e
        };
        let trace = vec![
            open,
            call(2, "lookup", "a"),
            call(3, "insert", "b"),
            call(4, "insert_wait", "b"),
            call(5, "lookup", "b"),
            call(6, "delete", "c"),
            call(7, "lookup", "a"),
        ];
        let t = touched(&trace);
        let k = |key: &str| t.get(&("sessions".to_string(), key.to_string())).copied();
        assert_eq!(
            k("a"),
            Some((Touch::Read, 2)),
            "the first call that read it"
        );
        assert_eq!(
            k("b"),
            Some((Touch::Write, 3)),
            "written (then read): the insert, not its wait"
        );
        assert_eq!(k("c"), Some((Touch::Write, 6)));
        assert_eq!(t.len(), 3);
    }
}

/// Fastlike's store files (the runner's `--dictionary`, `--config-store`,
/// `--secret-store`, `--acl NAME=FILE.json`): what the panel exports, the runner's
/// configuration reads back the same; what the runner reads, the panel imports.
#[cfg(test)]
mod fastlike_files {
    use super::*;

    /// The configuration the runner builds for `NAME=FILE.json` flags (the file
    /// served from memory).
    fn runner_reads(table: &str, entry: &str, file: &str) -> ServiceConfig {
        let text = format!("[local_server.{table}]\nx = {entry}\n");
        let file = file.to_string();
        ServiceConfig::from_toml_str_with_env(
            &text,
            "fastly.toml",
            &move |_| Ok(file.clone()),
            &|_| None,
        )
        .unwrap()
    }

    const DICTIONARY: &str = r#"{"greeting": "hello", "colour": "blue"}"#;

    #[test]
    fn a_fastlike_dictionary_or_config_store_imports_and_exports() {
        let entries = parse_import(DICTIONARY).unwrap();
        assert_eq!(entries.len(), 2);
        let json = export_json(&entries, FileFormat::Fastlike).unwrap();
        let cfg = runner_reads(
            "dictionaries",
            r#"{ file = "d.json", format = "json" }"#,
            &json,
        );
        let store = &cfg.config_stores["x"];
        assert_eq!(store.get("greeting").map(String::as_str), Some("hello"));
        assert_eq!(store.get("colour").map(String::as_str), Some("blue"));
    }

    #[test]
    fn a_fastlike_secret_store_imports_and_exports() {
        let entries = parse_import(r#"{"token": "s3cret"}"#).unwrap();
        let json = export_json(&entries, FileFormat::Fastlike).unwrap();
        let cfg = runner_reads(
            "secret_stores",
            r#"{ file = "s.json", format = "json" }"#,
            &json,
        );
        assert_eq!(
            cfg.secret_stores["x"].get("token").map(Vec::as_slice),
            Some(&b"s3cret"[..])
        );
    }

    const ACL: &str = r#"{
        "entries": [
            { "op": "create", "prefix": "192.0.2.0/24", "action": "block" },
            { "prefix": "2001:db8::/32", "action": "ALLOW" },
            { "prefix": "10.1.2.3", "action": "ALLOW" }
        ],
        "meta": { "limit": 100, "total": 3 }
    }"#;

    #[test]
    fn a_fastly_acl_file_imports_as_the_runner_reads_it_and_exports_back() {
        let got = parse_acl_import(ACL).unwrap();
        let want = runner_reads("acls", r#"{ file = "a.json" }"#, ACL);
        let acl = &want.acls["x"];
        assert_eq!(
            got,
            acl.entries
                .iter()
                .map(|e| (e.prefix, e.action.clone()))
                .collect::<Vec<_>>()
        );
        assert_eq!(got[0].1, "BLOCK");
        assert_eq!(got[2].0.to_string(), "10.1.2.3/32");
        // Exported, the runner reads the same ACL again.
        let json = export_acl_json(acl);
        assert_eq!(runner_reads("acls", r#""a.json""#, &json).acls["x"], *acl);
        // Imported into fastly.toml, the tab's config has the same ACL.
        let mut text = String::new();
        for (prefix, action) in &got {
            text =
                set_config_entry(&text, StoreKind::Acl, "x", &prefix.to_string(), action).unwrap();
        }
        assert_eq!(crate::request::parse_config(&text).unwrap().acls["x"], *acl);
    }

    #[test]
    fn a_bad_acl_file_says_which_entry_and_why() {
        for (text, says) in [
            ("[]", "expected a JSON object with `entries`"),
            (r#"{"entries": {}}"#, "`entries` must be an array"),
            (r#"{"entries": [], "x": 1}"#, "unknown field `x`"),
            (r#"{"entries": [1]}"#, "entry 0: expected an object"),
            (
                r#"{"entries": [{"prefix": "1.2.3.0/24"}]}"#,
                "entry 0: needs `action`",
            ),
            (
                r#"{"entries": [{"prefix": "1.2.3.0/24", "action": "DENY"}]}"#,
                "entry 0: the action must be ALLOW or BLOCK",
            ),
            (
                r#"{"entries": [{"prefix": "1.2.3.0/24", "action": "BLOCK"}, {"prefix": "300.1.1.1", "action": "BLOCK"}]}"#,
                "entry 1: \"300.1.1.1\" is not an IP prefix",
            ),
            (
                r#"{"entries": [{"prefix": "1.2.3.0/24", "action": "BLOCK", "ttl": 3}]}"#,
                "entry 0: unknown field `ttl`",
            ),
        ] {
            let e = parse_acl_import(text).unwrap_err();
            assert!(e.contains(says), "{text}: {e}");
        }
    }
}
