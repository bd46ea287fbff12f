//! The KV store engine: Fastly's KV store semantics over the [`Storage`] seam.
//!
//! Every operation takes the service's storage and the current wall time (unix ns,
//! from the session's clock), does its work in one short synchronous step, and keeps
//! nothing outside the storage between calls: a later request (or a reloaded tab) sees
//! exactly what the storage holds.
//!
//! # Storage layout (see [`crate::storage`])
//!
//! - `kv/<store>\0<key>` → one [`Entry`], as [`Entry::encode`] writes it;
//! - `kvgen/<store>` → the store's last generation number (u64, little-endian).
//!
//! # The platform's rules
//!
//! - Keys: [`check_kv_key`] (1–1024 bytes of UTF-8, no `\r`, `\n`, `#`, `;`, `?`,
//!   `^`, `|`, no `.`/`..` segments, not `.well-known/acme-challenge…`); a bad key is
//!   [`KvError::BadRequest`].
//! - Values: at most [`VALUE_MAX_BYTES`] (25 MB) after an append or prepend;
//!   more is [`KvError::PayloadTooLarge`].
//! - Metadata: at most [`METADATA_MAX_BYTES`] (2000 bytes); more is
//!   [`KvError::PayloadTooLarge`].
//! - Generations: every write gives the entry a new generation, never 0 and never
//!   its previous one (a per-store counter; on the platform they are opaque). A missing
//!   key has generation 0, so `if_generation_match = 0` means "only if absent", as the
//!   platform's KV API documents for `add`.
//! - TTL: an entry written with `time_to_live_sec` is absent from the moment it
//!   expires (lookups miss, lists skip it, `add` may replace it). The platform deletes
//!   "within 24 hours" of expiry; edgeplay expires to the nanosecond.
//! - Delete of a missing key is [`KvError::NotFound`] (the SDKs document it so;
//!   Viceroy answers OK).
//! - Listing: keys in byte order, `limit` per page (default [`LIST_DEFAULT_LIMIT`]),
//!   an opaque cursor (standard base64 of the page's last key, as Viceroy and the JS
//!   SDK's docs have it), `next_cursor` only when more keys follow. The consistency
//!   mode is accepted and ignored: edgeplay's store is always consistent.

use crate::config::{check_kv_key, ServiceConfig};
use crate::storage::{Storage, StoreSeed};
use base64::Engine as _;

/// Largest value, in bytes (25 MB: the KV store entry limit in Fastly's resource
/// limits guide, "Network services resource limits").
pub const VALUE_MAX_BYTES: usize = 25 * 1024 * 1024;

/// Largest metadata, in bytes. Fastly's API reference for KV store items: "The
/// metadata can contain up to 2,000 bytes"; the Rust SDK reads it into a 2000-byte
/// buffer (`fastly::kv_store::handle::METADATA_MAX_BYTES`).
pub const METADATA_MAX_BYTES: usize = 2000;

/// Keys per list page when the guest gives no limit (Viceroy's and the Rust SDK's
/// default).
pub const LIST_DEFAULT_LIMIT: u32 = 1000;

/// Why a KV operation failed: the ABI's `kv_error` values other than `ok` and
/// `uninitialized`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvError {
    /// A bad key, cursor or option (`bad_request`, 2).
    BadRequest,
    /// No such key (`not_found`, 3).
    NotFound,
    /// `add` on an existing key, or a generation that does not match
    /// (`precondition_failed`, 4).
    PreconditionFailed,
    /// A value or metadata over the limit (`payload_too_large`, 5).
    PayloadTooLarge,
    /// The stored entry could not be read (`internal_error`, 6).
    InternalError,
}

impl KvError {
    /// The `kv_error` code the ABI writes.
    pub fn code(self) -> u32 {
        match self {
            KvError::BadRequest => 2,
            KvError::NotFound => 3,
            KvError::PreconditionFailed => 4,
            KvError::PayloadTooLarge => 5,
            KvError::InternalError => 6,
        }
    }

    /// The `kv_error` name, as the trace shows it.
    pub fn name(self) -> &'static str {
        match self {
            KvError::BadRequest => "bad_request",
            KvError::NotFound => "not_found",
            KvError::PreconditionFailed => "precondition_failed",
            KvError::PayloadTooLarge => "payload_too_large",
            KvError::InternalError => "internal_error",
        }
    }
}

/// The `kv_error` code for "ok".
pub const KV_ERROR_OK: u32 = 1;

/// One stored KV entry: what `kv/<store>\0<key>` holds.
///
/// The encoding ([`Entry::encode`]) is versioned and stable (the tab keeps it in
/// IndexedDB, the UI decodes it to show stored values):
///
/// | bytes | field |
/// |---|---|
/// | 1 | version, 1 |
/// | 8 | generation, u64 little-endian |
/// | 1 | 1 when an expiry follows, else 0 |
/// | 8 | expiry, unix ns, u64 little-endian (only when the flag is 1) |
/// | 4 | metadata length, u32 little-endian |
/// | n | metadata |
/// | rest | value |
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    /// The value.
    pub value: Vec<u8>,
    /// The metadata (empty: none, as the SDKs read it).
    pub metadata: Vec<u8>,
    /// The entry's generation (never 0 for a stored entry).
    pub generation: u64,
    /// When the entry expires (unix ns), if it has a TTL.
    pub expires_unix_ns: Option<u64>,
}

/// Why [`Entry::decode`] refused some bytes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than the header needs.
    #[error("a KV entry record is cut short ({0} bytes)")]
    Truncated(usize),
    /// An encoding this version does not know.
    #[error("unknown KV entry record version {0}")]
    Version(u8),
    /// The expiry flag is neither 0 nor 1.
    #[error("bad expiry flag {0} in a KV entry record")]
    ExpiryFlag(u8),
}

const ENTRY_VERSION: u8 = 1;

impl Entry {
    /// The stored form (see the type's doc).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(22 + self.metadata.len() + self.value.len());
        out.push(ENTRY_VERSION);
        out.extend_from_slice(&self.generation.to_le_bytes());
        match self.expires_unix_ns {
            Some(t) => {
                out.push(1);
                out.extend_from_slice(&t.to_le_bytes());
            }
            None => out.push(0),
        }
        let meta_len = u32::try_from(self.metadata.len()).unwrap_or(u32::MAX);
        out.extend_from_slice(&meta_len.to_le_bytes());
        out.extend_from_slice(&self.metadata[..meta_len as usize]);
        out.extend_from_slice(&self.value);
        out
    }

    /// Read a stored entry. Total: any bytes give an entry or an error, never a panic.
    pub fn decode(bytes: &[u8]) -> Result<Entry, DecodeError> {
        let short = || DecodeError::Truncated(bytes.len());
        let (&version, rest) = bytes.split_first().ok_or_else(short)?;
        if version != ENTRY_VERSION {
            return Err(DecodeError::Version(version));
        }
        let (generation, rest) = take_u64(rest).ok_or_else(short)?;
        let (&flag, rest) = rest.split_first().ok_or_else(short)?;
        let (expires_unix_ns, rest) = match flag {
            0 => (None, rest),
            1 => {
                let (t, rest) = take_u64(rest).ok_or_else(short)?;
                (Some(t), rest)
            }
            f => return Err(DecodeError::ExpiryFlag(f)),
        };
        let (len, rest) = rest.split_first_chunk::<4>().ok_or_else(short)?;
        let len = u32::from_le_bytes(*len) as usize;
        if rest.len() < len {
            return Err(short());
        }
        let (metadata, value) = rest.split_at(len);
        Ok(Entry {
            value: value.to_vec(),
            metadata: metadata.to_vec(),
            generation,
            expires_unix_ns,
        })
    }

    /// The expiry of a stored entry, read from its header only (no copy of the value):
    /// what listing needs to skip expired entries.
    pub fn decode_expiry(bytes: &[u8]) -> Result<Option<u64>, DecodeError> {
        let short = || DecodeError::Truncated(bytes.len());
        let (&version, rest) = bytes.split_first().ok_or_else(short)?;
        if version != ENTRY_VERSION {
            return Err(DecodeError::Version(version));
        }
        let (_, rest) = take_u64(rest).ok_or_else(short)?;
        match rest.split_first() {
            Some((0, _)) => Ok(None),
            Some((1, rest)) => Ok(Some(take_u64(rest).ok_or_else(short)?.0)),
            Some((&f, _)) => Err(DecodeError::ExpiryFlag(f)),
            None => Err(short()),
        }
    }

    /// True when the entry has expired at `now_ns`.
    pub fn expired(&self, now_ns: u64) -> bool {
        self.expires_unix_ns.is_some_and(|t| now_ns >= t)
    }
}

fn take_u64(b: &[u8]) -> Option<(u64, &[u8])> {
    let (head, rest) = b.split_first_chunk::<8>()?;
    Some((u64::from_le_bytes(*head), rest))
}

/// The storage prefix of every entry of `store`: `kv/<store>\0`.
pub fn store_prefix(store: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(store.len() + 4);
    k.extend_from_slice(b"kv/");
    k.extend_from_slice(store.as_bytes());
    k.push(0);
    k
}

/// The storage key of `key` in `store`: `kv/<store>\0<key>`.
pub fn entry_key(store: &str, key: &str) -> Vec<u8> {
    let mut k = store_prefix(store);
    k.extend_from_slice(key.as_bytes());
    k
}

/// The storage key of `store`'s generation counter: `kvgen/<store>`.
pub fn generation_key(store: &str) -> Vec<u8> {
    format!("kvgen/{store}").into_bytes()
}

/// True when `config` defines a KV store named `name` (stores are resources of the
/// service: the guest cannot create one).
pub fn store_exists(config: &ServiceConfig, name: &str) -> bool {
    config.kv_stores.contains_key(name)
}

fn check_key(key: &str) -> Result<(), KvError> {
    check_kv_key(key).map_err(|_| KvError::BadRequest)
}

fn read(st: &dyn Storage, store: &str, key: &str, now_ns: u64) -> Result<Option<Entry>, KvError> {
    match st.get(&entry_key(store, key)) {
        None => Ok(None),
        Some(bytes) => {
            let e = Entry::decode(&bytes).map_err(|_| KvError::InternalError)?;
            Ok((!e.expired(now_ns)).then_some(e))
        }
    }
}

/// Look `key` up in `store`: the entry, or `None` when it is absent or expired.
pub fn lookup(
    st: &dyn Storage,
    store: &str,
    key: &str,
    now_ns: u64,
) -> Result<Option<Entry>, KvError> {
    check_key(key)?;
    read(st, store, key, now_ns)
}

/// What happens when an insert finds the key present (`kv_insert_mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InsertMode {
    /// Replace the value (0).
    #[default]
    Overwrite,
    /// Fail with [`KvError::PreconditionFailed`] if the key exists (1).
    Add,
    /// Add the new bytes after the existing value (2).
    Append,
    /// Add the new bytes before the existing value (3).
    Prepend,
}

impl InsertMode {
    /// The mode for an ABI `kv_insert_mode` value, if it is one.
    pub fn from_abi(v: u32) -> Option<InsertMode> {
        Some(match v {
            0 => InsertMode::Overwrite,
            1 => InsertMode::Add,
            2 => InsertMode::Append,
            3 => InsertMode::Prepend,
            _ => return None,
        })
    }

    /// The mode's name, as the trace shows it.
    pub fn name(self) -> &'static str {
        match self {
            InsertMode::Overwrite => "overwrite",
            InsertMode::Add => "add",
            InsertMode::Append => "append",
            InsertMode::Prepend => "prepend",
        }
    }
}

/// The options of an insert.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InsertOptions {
    /// What to do with an existing value.
    pub mode: InsertMode,
    /// The new entry's metadata (`None`: none; it replaces the old entry's).
    pub metadata: Option<Vec<u8>>,
    /// Seconds until the entry expires (`None`: never).
    pub ttl_sec: Option<u32>,
    /// Write only if the key's current generation is this (0: only if absent).
    pub if_generation_match: Option<u64>,
}

/// Write `value` under `key` in `store` at `now_ns`; returns the new generation.
pub fn insert(
    st: &mut dyn Storage,
    store: &str,
    key: &str,
    value: &[u8],
    opts: &InsertOptions,
    now_ns: u64,
) -> Result<u64, KvError> {
    check_key(key)?;
    let metadata = opts.metadata.clone().unwrap_or_default();
    if metadata.len() > METADATA_MAX_BYTES || value.len() > VALUE_MAX_BYTES {
        return Err(KvError::PayloadTooLarge);
    }
    let existing = read(st, store, key, now_ns)?;
    let current = existing.as_ref().map_or(0, |e| e.generation);
    if opts.if_generation_match.is_some_and(|g| g != current) {
        return Err(KvError::PreconditionFailed);
    }
    let value = match (opts.mode, existing) {
        (InsertMode::Add, Some(_)) => return Err(KvError::PreconditionFailed),
        (InsertMode::Append, Some(e)) => [&e.value[..], value].concat(),
        (InsertMode::Prepend, Some(e)) => [value, &e.value[..]].concat(),
        _ => value.to_vec(),
    };
    if value.len() > VALUE_MAX_BYTES {
        return Err(KvError::PayloadTooLarge);
    }
    let generation = next_generation(st, store, current);
    let entry = Entry {
        value,
        metadata,
        generation,
        expires_unix_ns: opts
            .ttl_sec
            .map(|s| now_ns.saturating_add(u64::from(s) * 1_000_000_000)),
    };
    st.put(&entry_key(store, key), entry.encode());
    Ok(generation)
}

/// A fresh generation for a write in `store` over an entry of generation `current`:
/// past both the store's counter and `current` (a seeded entry's generation is not
/// counted), and recorded.
fn next_generation(st: &mut dyn Storage, store: &str, current: u64) -> u64 {
    let gk = generation_key(store);
    let counter = st
        .get(&gk)
        .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
        .map_or(0, u64::from_le_bytes);
    let next = counter.max(current).saturating_add(1);
    st.put(&gk, next.to_le_bytes().to_vec());
    next
}

/// True unless the stored entry `bytes` has expired at `now_ns` (a record that does not
/// decode counts as live: listing shows it, a lookup reports the internal error).
fn live_at(bytes: &[u8], now_ns: u64) -> bool {
    !matches!(Entry::decode_expiry(bytes), Ok(Some(t)) if now_ns >= t)
}

/// Delete `key` from `store`; [`KvError::NotFound`] when it is absent or expired.
pub fn delete(st: &mut dyn Storage, store: &str, key: &str, now_ns: u64) -> Result<(), KvError> {
    check_key(key)?;
    let k = entry_key(store, key);
    let live = match st.get(&k) {
        None => false,
        Some(bytes) => live_at(&bytes, now_ns),
    };
    st.delete(&k);
    if live {
        Ok(())
    } else {
        Err(KvError::NotFound)
    }
}

/// The options of a list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Only keys starting with this.
    pub prefix: Option<String>,
    /// Most keys in the page (`None` or 0: [`LIST_DEFAULT_LIMIT`]).
    pub limit: Option<u32>,
    /// Continue after the page this cursor ended ([`ListPage::next_cursor`]).
    pub cursor: Option<String>,
}

/// One page of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListPage {
    /// The keys, in byte order.
    pub keys: Vec<String>,
    /// The limit the page was listed with.
    pub limit: u32,
    /// The prefix, if one was given.
    pub prefix: Option<String>,
    /// Where the next page starts; `None` when this page is the last.
    pub next_cursor: Option<String>,
}

impl ListPage {
    /// The page as the SDKs parse it:
    /// `{"data":[keys…],"meta":{"limit":…,"prefix":…,"next_cursor":…}}` (`prefix` and
    /// `next_cursor` only when set, as Viceroy writes it).
    pub fn to_json(&self) -> String {
        #[derive(serde::Serialize)]
        struct Meta<'a> {
            limit: u32,
            #[serde(skip_serializing_if = "Option::is_none")]
            prefix: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            next_cursor: Option<&'a str>,
        }
        #[derive(serde::Serialize)]
        struct Page<'a> {
            data: &'a [String],
            meta: Meta<'a>,
        }
        let page = Page {
            data: &self.keys,
            meta: Meta {
                limit: self.limit,
                prefix: self.prefix.as_deref(),
                next_cursor: self.next_cursor.as_deref(),
            },
        };
        serde_json::to_string(&page).unwrap_or_default()
    }
}

/// The cursor of a page that ended at `key`.
pub fn cursor_for(key: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(key.as_bytes())
}

fn cursor_key(cursor: &str) -> Result<String, KvError> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(cursor)
        .map_err(|_| KvError::BadRequest)?;
    String::from_utf8(bytes).map_err(|_| KvError::BadRequest)
}

/// List the keys of `store` at `now_ns` (expired entries are skipped).
pub fn list(
    st: &dyn Storage,
    store: &str,
    opts: &ListOptions,
    now_ns: u64,
) -> Result<ListPage, KvError> {
    let limit = match opts.limit {
        None | Some(0) => LIST_DEFAULT_LIMIT,
        Some(l) => l,
    };
    let prefix = opts.prefix.clone().filter(|p| !p.is_empty());
    let base = store_prefix(store);
    let mut scan_prefix = base.clone();
    scan_prefix.extend_from_slice(prefix.as_deref().unwrap_or("").as_bytes());
    let mut after = match &opts.cursor {
        Some(c) if !c.is_empty() => Some(entry_key(store, &cursor_key(c)?)),
        _ => None,
    };
    let want = limit as usize;
    let mut keys: Vec<String> = Vec::new();
    let mut more = false;
    'scan: loop {
        let page = st.scan(&scan_prefix, after.as_deref(), want.clamp(1, 1024) + 1);
        let Some((last, _)) = page.last() else {
            break;
        };
        let last = last.clone();
        let full = page.len() > want.clamp(1, 1024);
        for (k, v) in page {
            let live = live_at(&v, now_ns);
            if !live {
                continue;
            }
            if keys.len() == want {
                more = true;
                break 'scan;
            }
            keys.push(String::from_utf8_lossy(&k[base.len()..]).into_owned());
        }
        if !full {
            break;
        }
        after = Some(last);
    }
    let next_cursor = if more {
        keys.last().map(|k| cursor_for(k))
    } else {
        None
    };
    Ok(ListPage {
        keys,
        limit,
        prefix,
        next_cursor,
    })
}

/// The seed of every KV store `config` defines (kind `"kv"`, prefix `kv/<store>\0`):
/// its entries with their metadata, generation 1, no expiry.
pub fn seeds(config: &ServiceConfig) -> Vec<StoreSeed> {
    config
        .kv_stores
        .iter()
        .map(|(name, store)| StoreSeed {
            kind: "kv",
            name: name.clone(),
            prefix: store_prefix(name),
            entries: store
                .entries
                .iter()
                .map(|(key, e)| {
                    let entry = Entry {
                        value: e.value.clone(),
                        metadata: e.metadata.clone().unwrap_or_default().into_bytes(),
                        generation: 1,
                        expires_unix_ns: None,
                    };
                    (entry_key(name, key), entry.encode())
                })
                .collect(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Change, MemoryStorage};

    const T0: u64 = 1_767_225_600_000_000_000;
    const SEC: u64 = 1_000_000_000;

    fn put(st: &mut MemoryStorage, key: &str, value: &str, opts: InsertOptions) -> u64 {
        insert(st, "s", key, value.as_bytes(), &opts, T0).expect("insert")
    }

    fn get(st: &MemoryStorage, key: &str, now: u64) -> Option<String> {
        lookup(st, "s", key, now)
            .expect("lookup")
            .map(|e| String::from_utf8(e.value).unwrap())
    }

    fn mode(m: InsertMode) -> InsertOptions {
        InsertOptions {
            mode: m,
            ..InsertOptions::default()
        }
    }

    #[test]
    fn entries_round_trip_and_decode_is_total() {
        let e = Entry {
            value: b"v\0alue".to_vec(),
            metadata: b"meta".to_vec(),
            generation: u64::MAX,
            expires_unix_ns: Some(T0),
        };
        assert_eq!(Entry::decode(&e.encode()), Ok(e.clone()));
        let plain = Entry {
            generation: 7,
            ..Entry::default()
        };
        assert_eq!(Entry::decode(&plain.encode()), Ok(plain));
        // Every prefix of a record, and garbage, is an error, never a panic.
        let bytes = e.encode();
        for n in 0..bytes.len() - e.value.len() {
            assert!(Entry::decode(&bytes[..n]).is_err(), "cut at {n}");
        }
        assert_eq!(Entry::decode(&[9, 0, 0]), Err(DecodeError::Version(9)));
        assert_eq!(Entry::decode_expiry(&bytes), Ok(Some(T0)));
        assert_eq!(Entry::decode_expiry(&plain_header()), Ok(None));
        for n in 0..18 {
            assert!(Entry::decode_expiry(&bytes[..n]).is_err(), "cut at {n}");
        }
        let mut bad_flag = plain_header();
        bad_flag[9] = 2;
        assert_eq!(Entry::decode(&bad_flag), Err(DecodeError::ExpiryFlag(2)));
        let mut huge_meta = plain_header();
        huge_meta.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(
            Entry::decode(&huge_meta),
            Err(DecodeError::Truncated(_))
        ));
        for seed in 0u8..=255 {
            let junk: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(seed) ^ seed).collect();
            let _ = Entry::decode(&junk);
        }
    }

    fn plain_header() -> Vec<u8> {
        let mut b = vec![1];
        b.extend_from_slice(&1u64.to_le_bytes());
        b.push(0);
        b
    }

    #[test]
    fn lookup_insert_overwrite_and_the_storage_layout() {
        let mut st = MemoryStorage::new();
        assert_eq!(get(&st, "k", T0), None);
        let g1 = put(&mut st, "k", "one", InsertOptions::default());
        let g2 = put(&mut st, "k", "two", InsertOptions::default());
        assert!(g1 > 0 && g2 > g1, "{g1} {g2}");
        assert_eq!(get(&st, "k", T0), Some("two".into()));
        let stored = st.get(b"kv/s\0k").expect("kv/<store>\\0<key>");
        assert_eq!(Entry::decode(&stored).unwrap().generation, g2);
        assert_eq!(st.get(b"kvgen/s"), Some(g2.to_le_bytes().to_vec()));
        // Another store is another namespace.
        assert_eq!(lookup(&st, "t", "k", T0), Ok(None));
    }

    #[test]
    fn add_append_and_prepend() {
        let mut st = MemoryStorage::new();
        put(&mut st, "k", "mid", mode(InsertMode::Add));
        assert_eq!(
            insert(&mut st, "s", "k", b"x", &mode(InsertMode::Add), T0),
            Err(KvError::PreconditionFailed)
        );
        put(&mut st, "k", "<", mode(InsertMode::Prepend));
        put(&mut st, "k", ">", mode(InsertMode::Append));
        assert_eq!(get(&st, "k", T0), Some("<mid>".into()));
        // On a missing key, append and prepend just write.
        put(&mut st, "a", "A", mode(InsertMode::Append));
        put(&mut st, "p", "P", mode(InsertMode::Prepend));
        assert_eq!(get(&st, "a", T0), Some("A".into()));
        assert_eq!(get(&st, "p", T0), Some("P".into()));
        assert_eq!(InsertMode::from_abi(3), Some(InsertMode::Prepend));
        assert_eq!(InsertMode::from_abi(4), None);
    }

    #[test]
    fn if_generation_match() {
        let mut st = MemoryStorage::new();
        let only_if = |g| InsertOptions {
            if_generation_match: Some(g),
            ..InsertOptions::default()
        };
        // A missing key has generation 0.
        assert_eq!(
            insert(&mut st, "s", "k", b"x", &only_if(5), T0),
            Err(KvError::PreconditionFailed)
        );
        let g = put(&mut st, "k", "first", only_if(0));
        assert_eq!(
            insert(&mut st, "s", "k", b"x", &only_if(0), T0),
            Err(KvError::PreconditionFailed)
        );
        assert_eq!(
            insert(&mut st, "s", "k", b"x", &only_if(g + 1), T0),
            Err(KvError::PreconditionFailed)
        );
        assert_eq!(get(&st, "k", T0), Some("first".into()));
        let g2 = put(&mut st, "k", "second", only_if(g));
        assert_ne!(g2, g);
        assert_eq!(get(&st, "k", T0), Some("second".into()));
    }

    #[test]
    fn ttl_expires_entries_and_metadata_is_kept() {
        let mut st = MemoryStorage::new();
        let opts = InsertOptions {
            ttl_sec: Some(60),
            metadata: Some(b"m".to_vec()),
            ..InsertOptions::default()
        };
        put(&mut st, "k", "v", opts);
        let e = lookup(&st, "s", "k", T0 + 59 * SEC).unwrap().unwrap();
        assert_eq!(e.metadata, b"m");
        assert_eq!(e.expires_unix_ns, Some(T0 + 60 * SEC));
        assert_eq!(get(&st, "k", T0 + 60 * SEC), None, "expired: absent");
        // An expired key can be added again, and deleting it is a miss.
        assert!(insert(
            &mut st,
            "s",
            "k",
            b"again",
            &mode(InsertMode::Add),
            T0 + 61 * SEC
        )
        .is_ok());
        put(
            &mut st,
            "gone",
            "v",
            InsertOptions {
                ttl_sec: Some(1),
                ..InsertOptions::default()
            },
        );
        assert_eq!(
            delete(&mut st, "s", "gone", T0 + 2 * SEC),
            Err(KvError::NotFound)
        );
        assert_eq!(st.get(b"kv/s\0gone"), None, "the expired record is removed");
        // A new write without metadata has none.
        put(&mut st, "k", "plain", InsertOptions::default());
        assert!(lookup(&st, "s", "k", T0)
            .unwrap()
            .unwrap()
            .metadata
            .is_empty());
    }

    #[test]
    fn delete_and_misses() {
        let mut st = MemoryStorage::new();
        put(&mut st, "k", "v", InsertOptions::default());
        assert_eq!(delete(&mut st, "s", "k", T0), Ok(()));
        assert_eq!(get(&st, "k", T0), None);
        assert_eq!(delete(&mut st, "s", "k", T0), Err(KvError::NotFound));
        let journal = st.take_journal();
        assert!(matches!(journal.last(), Some(Change::Delete { key }) if key == b"kv/s\0k"));
    }

    #[test]
    fn the_platform_limits() {
        let mut st = MemoryStorage::new();
        for bad in [
            "",
            ".",
            "..",
            "a/../b",
            "a#b",
            "a\nb",
            ".well-known/acme-challenge/x",
        ] {
            assert_eq!(
                lookup(&st, "s", bad, T0),
                Err(KvError::BadRequest),
                "{bad:?}"
            );
            assert_eq!(
                insert(&mut st, "s", bad, b"v", &InsertOptions::default(), T0),
                Err(KvError::BadRequest)
            );
            assert_eq!(delete(&mut st, "s", bad, T0), Err(KvError::BadRequest));
        }
        let long = "k".repeat(1025);
        assert_eq!(lookup(&st, "s", &long, T0), Err(KvError::BadRequest));
        let meta = |n| InsertOptions {
            metadata: Some(vec![b'm'; n]),
            ..InsertOptions::default()
        };
        assert!(insert(&mut st, "s", "m", b"v", &meta(METADATA_MAX_BYTES), T0).is_ok());
        assert_eq!(
            insert(&mut st, "s", "m", b"v", &meta(METADATA_MAX_BYTES + 1), T0),
            Err(KvError::PayloadTooLarge)
        );
        let big = vec![0u8; VALUE_MAX_BYTES];
        assert!(insert(&mut st, "s", "big", &big, &InsertOptions::default(), T0).is_ok());
        assert_eq!(
            insert(&mut st, "s", "big", b"x", &mode(InsertMode::Append), T0),
            Err(KvError::PayloadTooLarge),
            "the appended value would pass the limit"
        );
        assert_eq!(
            insert(
                &mut st,
                "s",
                "x",
                &[0u8; VALUE_MAX_BYTES + 1],
                &InsertOptions::default(),
                T0
            ),
            Err(KvError::PayloadTooLarge)
        );
        // A record that is not an entry is an internal error, not a panic.
        st.put(b"kv/s\0junk", vec![0xff]);
        assert_eq!(lookup(&st, "s", "junk", T0), Err(KvError::InternalError));
        assert_eq!(KvError::NotFound.code(), 3);
        assert_eq!(KvError::PayloadTooLarge.name(), "payload_too_large");
    }

    fn keys_of(p: &ListPage) -> Vec<&str> {
        p.keys.iter().map(String::as_str).collect()
    }

    #[test]
    fn list_pages_with_prefix_limit_and_cursor() {
        let mut st = MemoryStorage::new();
        for k in ["b1", "a", "b2", "b3", "c"] {
            put(&mut st, k, "v", InsertOptions::default());
        }
        // Another store's keys never show.
        insert(&mut st, "s2", "b0", b"v", &InsertOptions::default(), T0).unwrap();
        let all = list(&st, "s", &ListOptions::default(), T0).unwrap();
        assert_eq!(keys_of(&all), ["a", "b1", "b2", "b3", "c"]);
        assert_eq!(all.next_cursor, None);
        assert_eq!(
            all.to_json(),
            r#"{"data":["a","b1","b2","b3","c"],"meta":{"limit":1000}}"#
        );
        let opts = |cursor: Option<String>| ListOptions {
            prefix: Some("b".into()),
            limit: Some(2),
            cursor,
        };
        let p1 = list(&st, "s", &opts(None), T0).unwrap();
        assert_eq!(keys_of(&p1), ["b1", "b2"]);
        assert_eq!(
            p1.next_cursor.as_deref(),
            Some("YjI="),
            "base64 of the last key"
        );
        assert_eq!(
            p1.to_json(),
            r#"{"data":["b1","b2"],"meta":{"limit":2,"prefix":"b","next_cursor":"YjI="}}"#
        );
        let p2 = list(&st, "s", &opts(p1.next_cursor), T0).unwrap();
        assert_eq!(keys_of(&p2), ["b3"]);
        assert_eq!(p2.next_cursor, None, "the last page has no cursor");
        // A page that ends exactly at the last key has no cursor either.
        let exact = list(
            &st,
            "s",
            &ListOptions {
                prefix: Some("b".into()),
                limit: Some(3),
                cursor: None,
            },
            T0,
        )
        .unwrap();
        assert_eq!(exact.next_cursor, None);
        // Bad cursors are bad requests.
        for bad in ["%%%", "/w=="] {
            let o = ListOptions {
                cursor: Some(bad.into()),
                ..ListOptions::default()
            };
            assert_eq!(list(&st, "s", &o, T0), Err(KvError::BadRequest), "{bad}");
        }
        assert!(list(&st, "empty", &ListOptions::default(), T0)
            .unwrap()
            .keys
            .is_empty());
    }

    #[test]
    fn list_skips_expired_entries_across_scan_pages() {
        let mut st = MemoryStorage::new();
        for i in 0..3000 {
            let ttl = (i % 3 != 0).then_some(1);
            let opts = InsertOptions {
                ttl_sec: ttl,
                ..InsertOptions::default()
            };
            insert(&mut st, "s", &format!("k{i:05}"), b"v", &opts, T0).unwrap();
        }
        let later = T0 + 5 * SEC;
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let o = ListOptions {
                limit: Some(400),
                cursor: cursor.take(),
                ..ListOptions::default()
            };
            let page = list(&st, "s", &o, later).unwrap();
            seen.extend(page.keys.clone());
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen.len(), 1000, "only the entries without a TTL");
        assert!(seen.windows(2).all(|w| w[0] < w[1]));
        // Before they expire, all of them.
        assert_eq!(
            list(&st, "s", &ListOptions::default(), T0)
                .unwrap()
                .keys
                .len(),
            1000
        );
        let o = ListOptions {
            limit: Some(5000),
            ..ListOptions::default()
        };
        assert_eq!(list(&st, "s", &o, T0).unwrap().keys.len(), 3000);
    }

    #[test]
    fn seeds_hold_the_configured_entries() {
        let no_files = |p: &str| Err(format!("{p}: no files"));
        let config = ServiceConfig::from_toml_str(
            r#"
[local_server.kv_stores]
one = [
  { key = "a", data = "A", metadata = "ma" },
  { key = "b", data = "B" },
]
empty = []
"#,
            "fastly.toml",
            &no_files,
        )
        .unwrap();
        let seeds = seeds(&config);
        assert_eq!(seeds.len(), 2);
        let one = seeds.iter().find(|s| s.name == "one").unwrap();
        assert_eq!(one.kind, "kv");
        assert_eq!(one.prefix, b"kv/one\0");
        let mut st = MemoryStorage::new();
        crate::seed::apply(&seeds, &mut st);
        let a = lookup(&st, "one", "a", T0).unwrap().unwrap();
        assert_eq!(
            (a.value.as_slice(), a.metadata.as_slice()),
            (&b"A"[..], &b"ma"[..])
        );
        assert_eq!(a.generation, 1);
        // A write over a seeded entry gets a new generation.
        let g = insert(&mut st, "one", "a", b"x", &InsertOptions::default(), T0).unwrap();
        assert!(g > 1);
        assert!(store_exists(&config, "empty") && !store_exists(&config, "nope"));
        assert_eq!(crate::seed::service_seeds(&config), seeds);
    }
}
