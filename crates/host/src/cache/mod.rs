//! The cache engine: one service's cache over the [`Storage`] seam, shared by the
//! readthrough cache behind `send`, the HTTP cache API (`fastly_http_cache`) and the
//! core cache API (`fastly_cache`, with the simple cache on top), as on the platform.
//!
//! Like the other engines, every operation takes the service's storage and the current
//! wall time (unix ns, from the session's clock), does its work in one short step and
//! keeps nothing outside the storage, so a later request, another tab or a reloaded
//! worker sees exactly what the storage holds. What is *not* stored is who is fetching
//! what right now: request collapsing is [`collapse::Collapser`], and the core cache
//! inserts being written (read by others as they are written) [`stream::Streams`],
//! both in memory, per service.
//!
//! # Objects
//!
//! An object is found by its cache key (bytes: the readthrough cache makes it from the
//! URL and Host, [`policy::readthrough_key`]; the core cache takes the guest's) and,
//! among the variants of that key, by its vary rule: an object stored with the rule
//! `accept-encoding` and the request value `gzip` is found only by a lookup whose
//! `accept-encoding` is `gzip` too ([`Meta::matches`]). Each object records its
//! freshness as the platform's core cache does: `max_age` from `initial_age` at the
//! time of insertion, `stale_while_revalidate` and `stale_if_error` windows after it,
//! surrogate keys, user metadata, an optional known length, the sensitive flag, and
//! its hit count; an HTTP object (readthrough or HTTP cache API) also keeps the
//! response head.
//!
//! # Storage layout (see [`crate::storage`])
//!
//! `<k>` is the key's SHA-256 in hex (32 digits), `<v>` the variant's (16 digits):
//!
//! - `cache/o/<k>/<v>` → the object's [`Meta`] (JSON);
//! - `cache/b/<k>/<v>` → its body;
//! - `cache/sk/<surrogate key>\0<k>/<v>` → empty: the surrogate-key index purges use;
//! - `cache/lru/<last use, 16 hex digits>/<k>/<v>` → empty: the use order eviction
//!   follows;
//! - `cache/n` → how many objects and body bytes there are (`<count> <bytes>`);
//! - `cache/hfp/<k>/<v>` → a hit-for-pass marker ([`record_uncacheable`], JSON): the
//!   HTTP cache API recorded that responses for this key (and variant) are not
//!   cacheable, so lookups neither collapse nor wait on it until it expires.
//!
//! A hit rewrites only the small meta and its use-order entry, never the body.
//!
//! # Bounds
//!
//! [`Limits`]: at most `max_entries` objects and `max_bytes` of bodies; an insert past
//! either evicts the least recently used objects first (as a POP evicts unpopular
//! objects before their TTL ends). An object past its freshness and every stale window
//! is removed when a lookup meets it, unless it can be revalidated (an HTTP response
//! with a validator): the platform keeps those for conditional requests.

pub mod collapse;
pub mod policy;
pub mod stream;

use crate::http::Headers;
use crate::storage::Storage;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Every cache key starts with this.
pub const PREFIX: &[u8] = b"cache/";
const OBJ: &str = "cache/o/";
const BODY: &str = "cache/b/";
const SK: &str = "cache/sk/";
const LRU: &str = "cache/lru/";
const HFP: &str = "cache/hfp/";
const TOTALS: &[u8] = b"cache/n";

/// Largest cached object (the platform's 100 MB in Fastly's resource limits).
pub const MAX_OBJECT_BYTES: u64 = 100 * 1024 * 1024;

/// The platform's limit on vary rule headers per object.
pub const MAX_VARY_HEADERS: usize = 8;

/// Largest cache key for the core cache API (4096 bytes, as the SDKs check it).
pub const MAX_KEY_BYTES: usize = 4096;

/// How big the cache may grow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Objects at most.
    pub max_entries: usize,
    /// Body bytes at most, over all objects.
    pub max_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits::from(&crate::config::CacheConfig::default())
    }
}

impl From<&crate::config::CacheConfig> for Limits {
    fn from(c: &crate::config::CacheConfig) -> Self {
        Limits {
            max_entries: c.max_entries,
            max_bytes: c.max_bytes,
        }
    }
}

/// Which API stored an object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The core cache API (`fastly_cache`, and the simple cache on it).
    Core,
    /// An HTTP response: the readthrough cache or the HTTP cache API.
    Http,
}

/// The head of a cached HTTP response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoredResponse {
    /// Status code.
    pub status: u16,
    /// Headers as stored (what a hit gives the guest, with `Age` set then).
    pub headers: Headers,
}

/// Everything about one cached object but its body.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Meta {
    /// Format version.
    #[serde(default)]
    pub v: u32,
    /// Which API stored it.
    pub kind: Kind,
    /// The cache key.
    #[serde(with = "crate::serde_b64")]
    pub key: Vec<u8>,
    /// For an HTTP object: the request's URL (for people; the key is what matters).
    #[serde(default)]
    pub url: Option<String>,
    /// The vary rule: request header names (lower case) and the values the request
    /// that stored it had (`None`: absent).
    #[serde(default)]
    pub vary: Vec<(String, Option<String>)>,
    /// When it was stored (unix ns).
    pub inserted_ns: u64,
    /// Its age when stored.
    pub initial_age_ns: u64,
    /// Fresh while its age is below this.
    pub max_age_ns: u64,
    /// Served stale (and revalidated) for this long after `max_age`.
    #[serde(default)]
    pub swr_ns: u64,
    /// Served stale when the origin fails, for this long after `max_age`.
    #[serde(default)]
    pub sie_ns: u64,
    /// Surrogate keys, for purging.
    #[serde(default)]
    pub surrogate_keys: Vec<String>,
    /// The core cache's user metadata.
    #[serde(default, with = "crate::serde_b64")]
    pub user_metadata: Vec<u8>,
    /// The length the writer announced, if any.
    #[serde(default)]
    pub length: Option<u64>,
    /// Marked sensitive (PCI): never persisted anywhere but memory on the platform;
    /// edgeplay shows the flag.
    #[serde(default)]
    pub sensitive: bool,
    /// How many lookups found it.
    #[serde(default)]
    pub hits: u64,
    /// The last time a lookup found it (or it was stored).
    #[serde(default)]
    pub used_ns: u64,
    /// Soft-purged: stale from then on, whatever its age.
    #[serde(default)]
    pub purged_stale: bool,
    /// Body bytes stored.
    #[serde(default)]
    pub size: u64,
    /// An HTTP object's response head.
    #[serde(default)]
    pub response: Option<StoredResponse>,
}

/// How a found object stands at a moment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Freshness {
    /// Its age now.
    pub age_ns: u64,
    /// Fresh: usable without revalidation.
    pub fresh: bool,
    /// Past `max_age` (or soft-purged) but within stale-while-revalidate.
    pub within_swr: bool,
    /// Within stale-if-error (or fresh).
    pub usable_if_error: bool,
    /// Past every window: gone.
    pub expired: bool,
}

impl Meta {
    /// The object's age at `now`.
    pub fn age_ns(&self, now: u64) -> u64 {
        self.initial_age_ns
            .saturating_add(now.saturating_sub(self.inserted_ns))
    }

    /// How it stands at `now`.
    pub fn freshness(&self, now: u64) -> Freshness {
        let age = self.age_ns(now);
        let fresh = !self.purged_stale && age < self.max_age_ns;
        // A soft-purged object counts as just turned stale: its windows start at the purge.
        let past = if self.purged_stale {
            age.saturating_sub(self.max_age_ns.min(age))
        } else {
            age.saturating_sub(self.max_age_ns)
        };
        let within_swr = !fresh && past < self.swr_ns;
        let usable_if_error = fresh || past < self.sie_ns;
        Freshness {
            age_ns: age,
            fresh,
            within_swr,
            usable_if_error,
            expired: !fresh && !within_swr && !usable_if_error,
        }
    }

    /// True when `request` (headers of a lookup) selects this variant.
    pub fn matches(&self, request: &Headers) -> bool {
        self.vary
            .iter()
            .all(|(name, value)| header_string(request, name).as_deref() == value.as_deref())
    }

    /// True for an HTTP response with a validator (`ETag` or `Last-Modified`): it can
    /// be revalidated with a conditional request once stale.
    pub fn has_validator(&self) -> bool {
        self.response.as_ref().is_some_and(|r| {
            r.headers.get("etag").is_some() || r.headers.get("last-modified").is_some()
        })
    }

    /// Seconds of freshness left at `now` (negative once stale), for people.
    pub fn ttl_left_s(&self, now: u64) -> f64 {
        (self.max_age_ns as f64 - self.age_ns(now) as f64) / 1e9
    }
}

/// The values of `name` in `headers`, joined as one string (`None`: absent).
pub fn header_string(headers: &Headers, name: &str) -> Option<String> {
    let all = headers.get_all(name);
    if all.is_empty() {
        return None;
    }
    Some(
        all.iter()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect::<Vec<_>>()
            .join(", "),
    )
}

/// What an insert says about the object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WriteOptions {
    /// Fresh for this long from `initial_age`.
    pub max_age_ns: u64,
    /// Age at insertion.
    pub initial_age_ns: u64,
    /// Stale-while-revalidate window.
    pub swr_ns: u64,
    /// Stale-if-error window.
    pub sie_ns: u64,
    /// Request header names that select this variant.
    pub vary_rule: Vec<String>,
    /// The request whose header values the vary rule takes.
    pub request_headers: Headers,
    /// Surrogate keys.
    pub surrogate_keys: Vec<String>,
    /// User metadata (core cache).
    pub user_metadata: Vec<u8>,
    /// The announced length.
    pub length: Option<u64>,
    /// Sensitive (PCI).
    pub sensitive: bool,
    /// An HTTP object's response head and URL.
    pub response: Option<(StoredResponse, String)>,
}

/// A stored object: where it is and what it is.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    /// Its id (`<k>/<v>`), to read its body or record a hit.
    pub id: String,
    /// Its meta as stored (hits include this lookup when it was recorded as one).
    pub meta: Meta,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn key_hash(key: &[u8]) -> String {
    hex(&Sha256::digest(key)[..16])
}

fn variant_hash(vary: &[(String, Option<String>)]) -> String {
    let mut h = Sha256::new();
    for (name, value) in vary {
        h.update(name.as_bytes());
        h.update([0]);
        match value {
            Some(v) => {
                h.update([1]);
                h.update(v.as_bytes());
            }
            None => h.update([0]),
        }
        h.update([0]);
    }
    hex(&h.finalize()[..8])
}

fn obj_key(id: &str) -> Vec<u8> {
    format!("{OBJ}{id}").into_bytes()
}

fn body_key(id: &str) -> Vec<u8> {
    format!("{BODY}{id}").into_bytes()
}

fn lru_key(used_ns: u64, id: &str) -> Vec<u8> {
    format!("{LRU}{used_ns:016x}/{id}").into_bytes()
}

fn sk_key(sk: &str, id: &str) -> Vec<u8> {
    let mut k = format!("{SK}{sk}").into_bytes();
    k.push(0);
    k.extend_from_slice(id.as_bytes());
    k
}

/// Read the meta of the object `id`.
pub fn meta(st: &dyn Storage, id: &str) -> Option<Meta> {
    decode_meta(&st.get(&obj_key(id))?)
}

/// Decode a stored meta (total: anything else is `None`).
pub fn decode_meta(bytes: &[u8]) -> Option<Meta> {
    serde_json::from_slice(bytes).ok()
}

/// The body of the object `id`.
pub fn body(st: &dyn Storage, id: &str) -> Option<Vec<u8>> {
    st.get(&body_key(id))
}

fn put_meta(st: &mut dyn Storage, id: &str, m: &Meta) {
    st.put(
        &obj_key(id),
        serde_json::to_vec(m).expect("a cache meta always serialises"),
    );
}

/// Every variant stored under `key`, with its id.
pub fn variants(st: &dyn Storage, key: &[u8]) -> Vec<Found> {
    let prefix = format!("{OBJ}{}/", key_hash(key)).into_bytes();
    st.scan(&prefix, None, usize::MAX)
        .into_iter()
        .filter_map(|(k, v)| {
            let id = String::from_utf8(k[OBJ.len()..].to_vec()).ok()?;
            Some(Found {
                id,
                meta: decode_meta(&v)?,
            })
        })
        .filter(|f| f.meta.key == key)
        .collect()
}

/// The object under `key` whose variant `request` selects, if one is stored. An
/// object past every window is removed when met, unless it is an HTTP response with
/// a validator (`ETag`, `Last-Modified`): that one stays, unusable, to be revalidated
/// with a conditional request ([`Meta::has_validator`]). Does not count a hit: see
/// [`record_hit`].
pub fn lookup(st: &mut dyn Storage, key: &[u8], request: &Headers, now: u64) -> Option<Found> {
    let mut best: Option<Found> = None;
    for f in variants(st, key) {
        if f.meta.freshness(now).expired && !f.meta.has_validator() {
            remove(st, &f.id);
            continue;
        }
        if !f.meta.matches(request) {
            continue;
        }
        if best
            .as_ref()
            .is_none_or(|b| f.meta.inserted_ns > b.meta.inserted_ns)
        {
            best = Some(f);
        }
    }
    best
}

/// Count a hit on `found` at `now` (its hit count and place in the use order).
pub fn record_hit(st: &mut dyn Storage, found: &mut Found, now: u64) {
    st.delete(&lru_key(found.meta.used_ns, &found.id));
    found.meta.hits += 1;
    found.meta.used_ns = now.max(found.meta.used_ns);
    st.put(&lru_key(found.meta.used_ns, &found.id), Vec::new());
    put_meta(st, &found.id, &found.meta);
}

/// Store an object under `key` (replacing the variant it names), evicting the least
/// recently used objects first when the store is past `limits`. Returns the stored
/// object, or `None` when the body is larger than the platform allows.
pub fn insert(
    st: &mut dyn Storage,
    key: &[u8],
    opts: WriteOptions,
    body: Vec<u8>,
    now: u64,
    limits: Limits,
) -> Option<Found> {
    let size = body.len() as u64;
    if size > MAX_OBJECT_BYTES || size > limits.max_bytes {
        return None;
    }
    let Found { id, meta } = unstored(key, opts, size, now);
    remove(st, &id);
    make_room(st, limits, size);
    for sk in &meta.surrogate_keys {
        st.put(&sk_key(sk, &id), Vec::new());
    }
    st.put(&lru_key(now, &id), Vec::new());
    st.put(&body_key(&id), body);
    put_meta(st, &id, &meta);
    adjust_totals(st, true, size);
    Some(Found { id, meta })
}

/// The object an insert of `size` bytes under `key` with `opts` at `now` would
/// store, with its id, without storing anything (what a reader streaming an insert
/// still under way sees).
pub fn unstored(key: &[u8], opts: WriteOptions, size: u64, now: u64) -> Found {
    let vary = vary_values(&opts.vary_rule, &opts.request_headers);
    let id = format!("{}/{}", key_hash(key), variant_hash(&vary));
    let (response, url) = match opts.response {
        Some((r, u)) => (Some(r), Some(u)),
        None => (None, None),
    };
    let meta = Meta {
        v: 1,
        kind: if response.is_some() {
            Kind::Http
        } else {
            Kind::Core
        },
        key: key.to_vec(),
        url,
        vary,
        inserted_ns: now,
        initial_age_ns: opts.initial_age_ns,
        max_age_ns: opts.max_age_ns,
        swr_ns: opts.swr_ns,
        sie_ns: opts.sie_ns,
        surrogate_keys: opts.surrogate_keys,
        user_metadata: opts.user_metadata,
        length: opts.length,
        sensitive: opts.sensitive,
        hits: 0,
        used_ns: now,
        purged_stale: false,
        size,
        response,
    };
    Found { id, meta }
}

/// Change an object's freshness and metadata without rewriting its body (the core
/// cache's `transaction_update`, the HTTP cache's freshening). The object counts as
/// stored again at `now`.
pub fn update(st: &mut dyn Storage, id: &str, opts: WriteOptions, now: u64) -> Option<Found> {
    let mut m = meta(st, id)?;
    for sk in &m.surrogate_keys {
        st.delete(&sk_key(sk, id));
    }
    st.delete(&lru_key(m.used_ns, id));
    m.inserted_ns = now;
    m.initial_age_ns = opts.initial_age_ns;
    m.max_age_ns = opts.max_age_ns;
    m.swr_ns = opts.swr_ns;
    m.sie_ns = opts.sie_ns;
    m.surrogate_keys = opts.surrogate_keys;
    m.user_metadata = opts.user_metadata;
    m.sensitive = opts.sensitive;
    m.purged_stale = false;
    m.used_ns = now.max(m.used_ns);
    if let Some((r, _)) = opts.response {
        m.response = Some(r);
    }
    for sk in &m.surrogate_keys {
        st.put(&sk_key(sk, id), Vec::new());
    }
    st.put(&lru_key(m.used_ns, id), Vec::new());
    put_meta(st, id, &m);
    Some(Found {
        id: id.to_string(),
        meta: m,
    })
}

/// Remove the object `id` and its index entries. True when it was there.
pub fn remove(st: &mut dyn Storage, id: &str) -> bool {
    let Some(m) = meta(st, id) else {
        // A meta that no longer decodes still goes, with its body.
        let had = st.delete(&obj_key(id));
        st.delete(&body_key(id));
        if had {
            adjust_totals(st, false, 0);
        }
        return had;
    };
    for sk in &m.surrogate_keys {
        st.delete(&sk_key(sk, id));
    }
    st.delete(&lru_key(m.used_ns, id));
    st.delete(&body_key(id));
    let had = st.delete(&obj_key(id));
    if had {
        adjust_totals(st, false, m.size);
    }
    had
}

/// Evict least recently used objects until one more of `size` bytes fits.
fn make_room(st: &mut dyn Storage, limits: Limits, size: u64) {
    let (mut count, mut bytes) = totals(st);
    while count > 0 && (count + 1 > limits.max_entries || bytes + size > limits.max_bytes) {
        let Some((k, _)) = st.scan(LRU.as_bytes(), None, 1).into_iter().next() else {
            break;
        };
        // `cache/lru/<16 hex>/<id>`
        let id = String::from_utf8_lossy(k.get(LRU.len() + 17..).unwrap_or_default()).into_owned();
        st.delete(&k);
        remove(st, &id);
        (count, bytes) = totals(st);
    }
}

/// How many objects the cache holds and their body bytes.
pub fn totals(st: &dyn Storage) -> (usize, u64) {
    let Some(v) = st.get(TOTALS) else {
        return (0, 0);
    };
    let text = String::from_utf8_lossy(&v);
    let mut parts = text.split(' ').map(|p| p.parse::<u64>().unwrap_or(0));
    let count = parts.next().unwrap_or(0);
    (
        usize::try_from(count).unwrap_or(usize::MAX),
        parts.next().unwrap_or(0),
    )
}

fn adjust_totals(st: &mut dyn Storage, added: bool, size: u64) {
    let (count, bytes) = totals(st);
    let (count, bytes) = if added {
        (count + 1, bytes + size)
    } else {
        (count.saturating_sub(1), bytes.saturating_sub(size))
    };
    if count == 0 {
        st.delete(TOTALS);
    } else {
        st.put(TOTALS, format!("{count} {bytes}").into_bytes());
    }
}

/// A hit-for-pass marker: responses for a key (and variant) are not cacheable until
/// `until_ns`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Uncacheable {
    vary: Vec<(String, Option<String>)>,
    until_ns: u64,
}

/// The vary rule `names` with the values `request` has for them (lower-case names).
fn vary_values(names: &[String], request: &Headers) -> Vec<(String, Option<String>)> {
    names
        .iter()
        .map(|n| {
            let n = n.to_ascii_lowercase();
            let v = header_string(request, &n);
            (n, v)
        })
        .collect()
}

/// Record that responses for `key` (the variant `vary_rule` and `request` select) are
/// not cacheable for `max_age_ns` from `now` (the HTTP cache API's
/// `transaction_record_not_cacheable`: hit-for-pass). A zero `max_age_ns` records
/// nothing.
pub fn record_uncacheable(
    st: &mut dyn Storage,
    key: &[u8],
    vary_rule: &[String],
    request: &Headers,
    max_age_ns: u64,
    now: u64,
) {
    if max_age_ns == 0 {
        return;
    }
    let vary = vary_values(vary_rule, request);
    let k = format!("{HFP}{}/{}", key_hash(key), variant_hash(&vary)).into_bytes();
    let m = Uncacheable {
        vary,
        until_ns: now.saturating_add(max_age_ns),
    };
    st.put(
        &k,
        serde_json::to_vec(&m).expect("a hit-for-pass marker always serialises"),
    );
}

/// True when a hit-for-pass marker for `key` that `request` selects is in force at
/// `now` (expired markers are removed when met).
pub fn is_uncacheable(st: &mut dyn Storage, key: &[u8], request: &Headers, now: u64) -> bool {
    let prefix = format!("{HFP}{}/", key_hash(key)).into_bytes();
    let mut found = false;
    for (k, v) in st.scan(&prefix, None, usize::MAX) {
        match serde_json::from_slice::<Uncacheable>(&v) {
            Ok(m) if m.until_ns > now => {
                if m.vary
                    .iter()
                    .all(|(n, v)| header_string(request, n).as_deref() == v.as_deref())
                {
                    found = true;
                }
            }
            _ => {
                st.delete(&k);
            }
        }
    }
    found
}

/// Every stored object, in key-hash order (for the inspector and exports).
pub fn list(st: &dyn Storage) -> Vec<Found> {
    st.scan(OBJ.as_bytes(), None, usize::MAX)
        .into_iter()
        .filter_map(|(k, v)| {
            Some(Found {
                id: String::from_utf8(k[OBJ.len()..].to_vec()).ok()?,
                meta: decode_meta(&v)?,
            })
        })
        .collect()
}

/// Purge every object carrying `surrogate_key`: removed (hard), or marked stale so
/// it is served under stale-while-revalidate while it is revalidated (soft). Returns
/// how many objects it touched.
pub fn purge_surrogate_key(
    st: &mut dyn Storage,
    surrogate_key: &str,
    soft: bool,
    now: u64,
) -> usize {
    let mut prefix = format!("{SK}{surrogate_key}").into_bytes();
    prefix.push(0);
    let ids: Vec<String> = st
        .scan(&prefix, None, usize::MAX)
        .into_iter()
        .map(|(k, _)| String::from_utf8_lossy(&k[prefix.len()..]).into_owned())
        .collect();
    let mut n = 0;
    for id in ids {
        if soft {
            if let Some(mut m) = meta(st, &id) {
                if !m.purged_stale {
                    // The stale windows start now: keep the age at least max_age.
                    let age = m.age_ns(now);
                    if age < m.max_age_ns {
                        m.initial_age_ns = m.max_age_ns;
                        m.inserted_ns = now;
                    }
                    m.purged_stale = true;
                    put_meta(st, &id, &m);
                }
                n += 1;
            }
        } else if remove(st, &id) {
            n += 1;
        }
    }
    n
}

/// Remove every object. Returns how many there were.
pub fn purge_all(st: &mut dyn Storage) -> usize {
    let n = st.scan(OBJ.as_bytes(), None, usize::MAX).len();
    for (k, _) in st.scan(PREFIX, None, usize::MAX) {
        st.delete(&k);
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;

    const S: u64 = 1_000_000_000;

    fn opts(max_age_s: u64) -> WriteOptions {
        WriteOptions {
            max_age_ns: max_age_s * S,
            ..WriteOptions::default()
        }
    }

    #[test]
    fn a_hit_for_pass_marker_holds_for_its_variant_until_it_expires() {
        let mut st = MemoryStorage::new();
        let mut en = Headers::new();
        en.append("accept-language", "en");
        let rule = vec!["Accept-Language".to_string()];
        record_uncacheable(&mut st, b"k", &rule, &en, 10 * S, 100 * S);
        assert!(is_uncacheable(&mut st, b"k", &en, 105 * S));
        assert!(!is_uncacheable(&mut st, b"k", &Headers::new(), 105 * S));
        assert!(!is_uncacheable(&mut st, b"other", &en, 105 * S));
        assert!(!is_uncacheable(&mut st, b"k", &en, 110 * S), "expired");
        assert!(
            st.scan(HFP.as_bytes(), None, 10).is_empty(),
            "an expired marker goes"
        );
        record_uncacheable(&mut st, b"k", &[], &en, 0, 100 * S);
        assert!(
            !is_uncacheable(&mut st, b"k", &en, 100 * S),
            "zero max age: nothing"
        );
    }

    #[test]
    fn an_object_is_fresh_then_stale_then_gone() {
        let mut st = MemoryStorage::new();
        let mut o = opts(10);
        o.swr_ns = 5 * S;
        insert(
            &mut st,
            b"k",
            o,
            b"body".to_vec(),
            100 * S,
            Limits::default(),
        )
        .unwrap();
        let f = lookup(&mut st, b"k", &Headers::new(), 105 * S).unwrap();
        assert!(f.meta.freshness(105 * S).fresh);
        assert_eq!(body(&st, &f.id).unwrap(), b"body");
        let fr = f.meta.freshness(112 * S);
        assert!(!fr.fresh && fr.within_swr && !fr.expired);
        assert!(lookup(&mut st, b"k", &Headers::new(), 116 * S).is_none());
        // Met past every window, it was removed with its body and indexes.
        assert_eq!(totals(&st), (0, 0));
        assert!(st.scan(PREFIX, None, 10).is_empty());
    }

    #[test]
    fn vary_keys_variants_by_request_headers() {
        let mut st = MemoryStorage::new();
        for enc in ["gzip", "br"] {
            let mut o = opts(60);
            o.vary_rule = vec!["Accept-Encoding".into()];
            o.request_headers.insert("accept-encoding", enc);
            insert(
                &mut st,
                b"k",
                o,
                enc.as_bytes().to_vec(),
                0,
                Limits::default(),
            )
            .unwrap();
        }
        assert_eq!(variants(&st, b"k").len(), 2);
        let mut h = Headers::new();
        h.insert("accept-encoding", "br");
        let f = lookup(&mut st, b"k", &h, S).unwrap();
        assert_eq!(body(&st, &f.id).unwrap(), b"br");
        assert!(lookup(&mut st, b"k", &Headers::new(), S).is_none());
    }

    #[test]
    fn hits_count_and_the_least_recently_used_object_is_evicted() {
        let mut st = MemoryStorage::new();
        let limits = Limits {
            max_entries: 2,
            max_bytes: 1000,
        };
        insert(&mut st, b"a", opts(60), vec![1], S, limits).unwrap();
        insert(&mut st, b"b", opts(60), vec![2], 2 * S, limits).unwrap();
        let mut a = lookup(&mut st, b"a", &Headers::new(), 3 * S).unwrap();
        record_hit(&mut st, &mut a, 3 * S);
        assert_eq!(meta(&st, &a.id).unwrap().hits, 1);
        insert(&mut st, b"c", opts(60), vec![3], 4 * S, limits).unwrap();
        // b was used least recently.
        assert!(lookup(&mut st, b"b", &Headers::new(), 5 * S).is_none());
        assert!(lookup(&mut st, b"a", &Headers::new(), 5 * S).is_some());
        assert_eq!(totals(&st).0, 2);
        // Bytes bound too.
        insert(&mut st, b"d", opts(60), vec![0; 999], 6 * S, limits).unwrap();
        assert_eq!(totals(&st), (2, 1000));
        insert(&mut st, b"f", opts(60), vec![0; 2], 7 * S, limits).unwrap();
        assert_eq!(totals(&st), (1, 2), "both older objects went to make room");
        assert!(insert(&mut st, b"e", opts(60), vec![0; 1001], 7 * S, limits).is_none());
    }

    #[test]
    fn purges_by_surrogate_key_hard_and_soft() {
        let mut st = MemoryStorage::new();
        let mut o = opts(60);
        o.surrogate_keys = vec!["news".into(), "all".into()];
        o.swr_ns = 30 * S;
        insert(&mut st, b"a", o.clone(), vec![1], 0, Limits::default()).unwrap();
        o.surrogate_keys = vec!["all".into()];
        insert(&mut st, b"b", o, vec![2], 0, Limits::default()).unwrap();
        assert_eq!(purge_surrogate_key(&mut st, "news", true, S), 1);
        let a = lookup(&mut st, b"a", &Headers::new(), 2 * S).unwrap();
        let fr = a.meta.freshness(2 * S);
        assert!(!fr.fresh && fr.within_swr, "{fr:?}");
        assert_eq!(purge_surrogate_key(&mut st, "all", false, 3 * S), 2);
        assert_eq!(totals(&st).0, 0);
        assert_eq!(purge_surrogate_key(&mut st, "missing", false, 3 * S), 0);
    }

    #[test]
    fn update_keeps_the_body_and_moves_the_indexes() {
        let mut st = MemoryStorage::new();
        let mut o = opts(1);
        o.surrogate_keys = vec!["old".into()];
        let f = insert(&mut st, b"k", o, b"x".to_vec(), 0, Limits::default()).unwrap();
        let mut o = opts(100);
        o.surrogate_keys = vec!["new".into()];
        update(&mut st, &f.id, o, 5 * S).unwrap();
        let g = lookup(&mut st, b"k", &Headers::new(), 6 * S).unwrap();
        assert!(g.meta.freshness(6 * S).fresh);
        assert_eq!(body(&st, &g.id).unwrap(), b"x");
        assert_eq!(purge_surrogate_key(&mut st, "old", false, 6 * S), 0);
        assert_eq!(purge_surrogate_key(&mut st, "new", false, 6 * S), 1);
    }

    #[test]
    fn purge_all_empties_only_the_cache() {
        let mut st = MemoryStorage::new();
        st.put(b"kv/x\0k", b"v".to_vec());
        insert(&mut st, b"a", opts(60), vec![1], 0, Limits::default()).unwrap();
        assert_eq!(purge_all(&mut st), 1);
        assert!(st.scan(PREFIX, None, 10).is_empty());
        assert_eq!(st.get(b"kv/x\0k"), Some(b"v".to_vec()));
    }
}
