//! The edge rate limiting engine: rate counters and penalty boxes that count, as
//! service state.
//!
//! Viceroy answers zero to every ERL call (no rate, no count, never blocked). The
//! platform counts, and so does edgeplay: every counter entry and penalty box entry
//! is a record in the service's [`Storage`], so requests of one service (across
//! `edgeplay serve` requests, or reloads of the tab) share them, and all time comes
//! from the caller (the session's `platform.clock`, in Unix nanoseconds) so tests
//! can drive it.
//!
//! # How rates are estimated
//!
//! Fastly documents its rate counters as fixed one-second buckets: a window of N
//! seconds covers the current, still-running second plus the N − 1 whole seconds
//! before it (at 12:01:03.458 the 10 s window holds what arrived from 12:00:54.000
//! on), so it always holds between N − 1 and N seconds of increments. edgeplay does
//! exactly that:
//!
//! - An entry keeps one bucket per Unix second that saw increments, for the last
//!   [`BUCKET_SECS_KEPT`] (60) seconds; older buckets are pruned at every increment,
//!   and an entry whose buckets are all older is deleted.
//! - `lookup_count(D)` is the sum of the buckets of the current second and the
//!   D − 1 before it (D is 10, 20, 30, 40, 50 or 60; [`COUNT_DURATIONS`]).
//! - The rate over a window W (1, 10 or 60 s; [`RATE_WINDOWS`]) is that count over
//!   W seconds divided by W. `lookup_rate` answers it rounded down (the ABI's
//!   `u32`); `check_rate` compares the exact quotient with the limit, so an entry is
//!   over the limit when its count in the window exceeds `limit × W`.
//!
//! The platform also synchronises counts between the nodes of a POP, which makes its
//! numbers lag by up to a few seconds; edgeplay is one node, so its counts are exact
//! and immediate.
//!
//! # Penalty boxes
//!
//! `penaltybox_add(ttl)` puts an entry in a box until `now + ttl`; a later add
//! replaces the expiry. The platform takes TTLs from 1 minute to 1 hour with minute
//! granularity: edgeplay truncates the TTL to whole minutes and clamps it to that
//! span ([`effective_ttl`]). An expired entry is not in the box (and is deleted when
//! next looked at).
//!
//! `check_rate` increments the counter, then: an entry already in the box is
//! blocked (its expiry is left as it is); otherwise an entry over the limit is put in
//! the box for the TTL and blocked; otherwise it passes.
//!
//! # Arguments
//!
//! A window other than 1, 10 or 60, a duration other than 10…60 in steps of 10, and
//! an entry longer than [`MAX_ENTRY_LEN`] bytes (the platform's documented limit) are
//! [`ErlError`]s (the ABI answers INVAL). Counter and box names may not contain NUL
//! (it ends the name part of a storage key).
//!
//! # Storage layout
//!
//! - `erl/rc/<counter>\0<entry>` → a [`RateCounterEntry`]:
//!   `{"buckets":[[1767225600,3],[1767225601,1]]}` (Unix second, total increments),
//!   seconds ascending, at most 60 of them, all within 60 seconds.
//! - `erl/pb/<box>\0<entry>` → a [`PenaltyBoxEntry`]:
//!   `{"added_unix_ns":…,"expires_unix_ns":…}`.
//!
//! [`decode`] turns any key and value of this engine into a [`Record`] (or an error,
//! never a panic): the browser's Stores panel shows state through it. To keep state
//! bounded, every write also looks at a few other entries of the same counter or
//! box and deletes the stale ones; [`sweep`] deletes every stale record at once.

use crate::storage::Storage;
use serde::{Deserialize, Serialize};

/// The storage prefix of rate counter entries.
pub const RC_PREFIX: &str = "erl/rc/";
/// The storage prefix of penalty box entries.
pub const PB_PREFIX: &str = "erl/pb/";
/// The windows (seconds) `lookup_rate` and `check_rate` accept.
pub const RATE_WINDOWS: [u32; 3] = [1, 10, 60];
/// The durations (seconds) `lookup_count` accepts.
pub const COUNT_DURATIONS: [u32; 6] = [10, 20, 30, 40, 50, 60];
/// How long a one-second bucket is kept: the longest window.
pub const BUCKET_SECS_KEPT: u64 = 60;
/// The longest entry, in bytes, the platform documents.
pub const MAX_ENTRY_LEN: usize = 256;
/// The shortest penalty box TTL, in seconds.
pub const MIN_TTL_SECS: u32 = 60;
/// The longest penalty box TTL, in seconds.
pub const MAX_TTL_SECS: u32 = 3600;
/// How many other entries a write looks at for staleness.
const SWEEP_BATCH: usize = 8;

const NS_PER_SEC: u64 = 1_000_000_000;

/// An ERL argument the platform refuses (the ABI answers INVAL).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ErlError {
    /// A rate window other than 1, 10 or 60 seconds.
    #[error("window {0} is not 1, 10 or 60 seconds")]
    Window(u32),
    /// A count duration other than 10, 20, 30, 40, 50 or 60 seconds.
    #[error("duration {0} is not 10, 20, 30, 40, 50 or 60 seconds")]
    Duration(u32),
    /// A counter or box name with a NUL byte.
    #[error("the {0} name contains a NUL byte")]
    Name(&'static str),
    /// An entry longer than [`MAX_ENTRY_LEN`].
    #[error("the entry is {0} bytes; the platform allows at most 256")]
    EntryTooLong(usize),
}

/// Why stored bytes are not an ERL record.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not an ERL record: {0}")]
pub struct DecodeError(pub String);

/// One rate counter entry: its one-second buckets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateCounterEntry {
    /// `(Unix second, increments in that second)`, seconds ascending.
    pub buckets: Vec<(u64, u64)>,
}

impl RateCounterEntry {
    /// The increments of the current second (of `now_ns`) and the `secs − 1` before it.
    pub fn count(&self, secs: u32, now_ns: u64) -> u64 {
        let now = now_ns / NS_PER_SEC;
        self.buckets
            .iter()
            .filter(|(s, _)| s + u64::from(secs) > now)
            .fold(0u64, |acc, (_, c)| acc.saturating_add(*c))
    }

    /// The rate over `window` seconds: [`RateCounterEntry::count`] divided by the window.
    pub fn rate(&self, window: u32, now_ns: u64) -> f64 {
        self.count(window, now_ns) as f64 / f64::from(window.max(1))
    }

    /// True when no bucket is recent enough to count in any window.
    pub fn is_stale(&self, now_ns: u64) -> bool {
        let now = now_ns / NS_PER_SEC;
        self.buckets
            .iter()
            .all(|(s, _)| s + BUCKET_SECS_KEPT <= now)
    }

    fn prune(&mut self, now_ns: u64) {
        let now = now_ns / NS_PER_SEC;
        self.buckets.retain(|(s, _)| s + BUCKET_SECS_KEPT > now);
    }

    fn add(&mut self, delta: u32, now_ns: u64) {
        self.prune(now_ns);
        if delta == 0 {
            return;
        }
        let now = now_ns / NS_PER_SEC;
        match self.buckets.binary_search_by_key(&now, |(s, _)| *s) {
            Ok(i) => self.buckets[i].1 = self.buckets[i].1.saturating_add(u64::from(delta)),
            Err(i) => self.buckets.insert(i, (now, u64::from(delta))),
        }
    }

    /// The stored value.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("plain data serializes")
    }
}

/// One penalty box entry: when it was put in, and when it leaves.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PenaltyBoxEntry {
    /// When it was (last) added, Unix nanoseconds.
    pub added_unix_ns: u64,
    /// When it leaves the box, Unix nanoseconds.
    pub expires_unix_ns: u64,
}

impl PenaltyBoxEntry {
    /// True while the entry is in the box.
    pub fn is_in_box(&self, now_ns: u64) -> bool {
        now_ns < self.expires_unix_ns
    }

    /// The stored value.
    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("plain data serializes")
    }
}

/// A stored ERL record, with the names its key holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// A rate counter entry (`erl/rc/…`).
    RateCounter {
        /// The counter's name.
        counter: String,
        /// The entry (typically a client IP).
        entry: String,
        /// Its buckets.
        value: RateCounterEntry,
    },
    /// A penalty box entry (`erl/pb/…`).
    PenaltyBox {
        /// The box's name.
        penalty_box: String,
        /// The entry.
        entry: String,
        /// Its times.
        value: PenaltyBoxEntry,
    },
}

/// Decode a storage key and value of this engine. Total: any bytes give a
/// [`Record`] or an error, never a panic.
pub fn decode(key: &[u8], value: &[u8]) -> Result<Record, DecodeError> {
    if let Some(rest) = key.strip_prefix(RC_PREFIX.as_bytes()) {
        let (counter, entry) = split_names(rest)?;
        return Ok(Record::RateCounter {
            counter,
            entry,
            value: decode_rate_counter(value)?,
        });
    }
    if let Some(rest) = key.strip_prefix(PB_PREFIX.as_bytes()) {
        let (penalty_box, entry) = split_names(rest)?;
        return Ok(Record::PenaltyBox {
            penalty_box,
            entry,
            value: decode_penalty_box(value)?,
        });
    }
    Err(DecodeError(format!(
        "the key {:?} is not under {RC_PREFIX} or {PB_PREFIX}",
        String::from_utf8_lossy(key)
    )))
}

fn split_names(rest: &[u8]) -> Result<(String, String), DecodeError> {
    let nul = rest
        .iter()
        .position(|&b| b == 0)
        .ok_or_else(|| DecodeError("the key has no NUL after the name".into()))?;
    let text = |b: &[u8]| {
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError("the key is not UTF-8".into()))
    };
    Ok((text(&rest[..nul])?, text(&rest[nul + 1..])?))
}

/// A rate counter entry from its stored value. The buckets must be in ascending
/// seconds, at most 60, spanning less than 60 seconds.
pub fn decode_rate_counter(value: &[u8]) -> Result<RateCounterEntry, DecodeError> {
    let rc: RateCounterEntry =
        serde_json::from_slice(value).map_err(|e| DecodeError(e.to_string()))?;
    if rc.buckets.len() > BUCKET_SECS_KEPT as usize {
        return Err(DecodeError(format!("{} buckets", rc.buckets.len())));
    }
    if rc.buckets.windows(2).any(|w| w[0].0 >= w[1].0) {
        return Err(DecodeError("bucket seconds are not ascending".into()));
    }
    if let (Some(first), Some(last)) = (rc.buckets.first(), rc.buckets.last()) {
        if last.0 - first.0 >= BUCKET_SECS_KEPT {
            return Err(DecodeError("buckets span 60 seconds or more".into()));
        }
    }
    Ok(rc)
}

/// A penalty box entry from its stored value (added no later than it expires).
pub fn decode_penalty_box(value: &[u8]) -> Result<PenaltyBoxEntry, DecodeError> {
    let pb: PenaltyBoxEntry =
        serde_json::from_slice(value).map_err(|e| DecodeError(e.to_string()))?;
    if pb.added_unix_ns > pb.expires_unix_ns {
        return Err(DecodeError("it expires before it was added".into()));
    }
    Ok(pb)
}

/// The storage prefix of counter `counter`'s entries: `erl/rc/<counter>\0`.
pub fn rate_counter_prefix(counter: &str) -> Vec<u8> {
    let mut k = format!("{RC_PREFIX}{counter}").into_bytes();
    k.push(0);
    k
}

/// The storage key of `entry` in counter `counter`.
pub fn rate_counter_key(counter: &str, entry: &str) -> Vec<u8> {
    let mut k = rate_counter_prefix(counter);
    k.extend_from_slice(entry.as_bytes());
    k
}

/// The storage prefix of box `penalty_box`'s entries: `erl/pb/<box>\0`.
pub fn penalty_box_prefix(penalty_box: &str) -> Vec<u8> {
    let mut k = format!("{PB_PREFIX}{penalty_box}").into_bytes();
    k.push(0);
    k
}

/// The storage key of `entry` in box `penalty_box`.
pub fn penalty_box_key(penalty_box: &str, entry: &str) -> Vec<u8> {
    let mut k = penalty_box_prefix(penalty_box);
    k.extend_from_slice(entry.as_bytes());
    k
}

/// The TTL (seconds) a penalty box applies for a requested `ttl_secs`: truncated to
/// whole minutes, then clamped to 1 minute … 1 hour.
pub fn effective_ttl(ttl_secs: u32) -> u32 {
    (ttl_secs / 60 * 60).clamp(MIN_TTL_SECS, MAX_TTL_SECS)
}

fn check_names(what: &'static str, name: &str, entry: &str) -> Result<(), ErlError> {
    if name.contains('\0') {
        return Err(ErlError::Name(what));
    }
    if entry.len() > MAX_ENTRY_LEN {
        return Err(ErlError::EntryTooLong(entry.len()));
    }
    Ok(())
}

fn check_window(window: u32) -> Result<(), ErlError> {
    if RATE_WINDOWS.contains(&window) {
        Ok(())
    } else {
        Err(ErlError::Window(window))
    }
}

fn read_counter(storage: &dyn Storage, key: &[u8]) -> RateCounterEntry {
    storage
        .get(key)
        .and_then(|v| decode_rate_counter(&v).ok())
        .unwrap_or_default()
}

/// Add `delta` to `entry` of counter `counter` at `now_ns`.
pub fn increment(
    storage: &mut dyn Storage,
    counter: &str,
    entry: &str,
    delta: u32,
    now_ns: u64,
) -> Result<(), ErlError> {
    check_names("rate counter", counter, entry)?;
    let key = rate_counter_key(counter, entry);
    let mut rc = read_counter(storage, &key);
    rc.add(delta, now_ns);
    if rc.buckets.is_empty() {
        storage.delete(&key);
    } else {
        storage.put(&key, rc.encode());
    }
    sweep_near(storage, &rate_counter_prefix(counter), &key, now_ns);
    Ok(())
}

/// The rate of `entry` over `window` seconds, rounded down (see the module doc).
pub fn lookup_rate(
    storage: &dyn Storage,
    counter: &str,
    entry: &str,
    window: u32,
    now_ns: u64,
) -> Result<u32, ErlError> {
    check_names("rate counter", counter, entry)?;
    check_window(window)?;
    let rc = read_counter(storage, &rate_counter_key(counter, entry));
    let rate = rc.count(window, now_ns) / u64::from(window);
    Ok(u32::try_from(rate).unwrap_or(u32::MAX))
}

/// The count of `entry` over the last `duration` seconds (see the module doc).
pub fn lookup_count(
    storage: &dyn Storage,
    counter: &str,
    entry: &str,
    duration: u32,
    now_ns: u64,
) -> Result<u32, ErlError> {
    check_names("rate counter", counter, entry)?;
    if !COUNT_DURATIONS.contains(&duration) {
        return Err(ErlError::Duration(duration));
    }
    let rc = read_counter(storage, &rate_counter_key(counter, entry));
    Ok(u32::try_from(rc.count(duration, now_ns)).unwrap_or(u32::MAX))
}

/// Put `entry` in box `penalty_box` for `ttl_secs` (see [`effective_ttl`]); returns
/// the TTL applied, in seconds.
pub fn penaltybox_add(
    storage: &mut dyn Storage,
    penalty_box: &str,
    entry: &str,
    ttl_secs: u32,
    now_ns: u64,
) -> Result<u32, ErlError> {
    check_names("penalty box", penalty_box, entry)?;
    let ttl = effective_ttl(ttl_secs);
    let key = penalty_box_key(penalty_box, entry);
    let record = PenaltyBoxEntry {
        added_unix_ns: now_ns,
        expires_unix_ns: now_ns.saturating_add(u64::from(ttl) * NS_PER_SEC),
    };
    storage.put(&key, record.encode());
    sweep_near(storage, &penalty_box_prefix(penalty_box), &key, now_ns);
    Ok(ttl)
}

/// The entry's record while it is in the box; an expired (or undecodable) record
/// is deleted and `None`.
fn in_box(storage: &mut dyn Storage, key: &[u8], now_ns: u64) -> Option<PenaltyBoxEntry> {
    let value = storage.get(key)?;
    match decode_penalty_box(&value) {
        Ok(pb) if pb.is_in_box(now_ns) => Some(pb),
        _ => {
            storage.delete(key);
            None
        }
    }
}

/// True while `entry` is in box `penalty_box`.
pub fn penaltybox_has(
    storage: &mut dyn Storage,
    penalty_box: &str,
    entry: &str,
    now_ns: u64,
) -> Result<bool, ErlError> {
    check_names("penalty box", penalty_box, entry)?;
    Ok(in_box(storage, &penalty_box_key(penalty_box, entry), now_ns).is_some())
}

/// What [`check_rate`] decided.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckRate {
    /// True when the request is blocked.
    pub blocked: bool,
    /// The entry's rate over the window, after the increment.
    pub rate: f64,
    /// The entry's count over the window, after the increment.
    pub count: u64,
    /// True when the entry was already in the box (its expiry was left alone).
    pub already_in_box: bool,
    /// When the entry leaves the box, if it is in it (Unix nanoseconds).
    pub in_box_until: Option<u64>,
    /// The TTL applied when this call put the entry in the box, in seconds.
    pub ttl_applied: Option<u32>,
}

/// One `check_rate`: increment, estimate the rate over `window`, compare with
/// `limit`, and penalise (see the module doc).
#[allow(clippy::too_many_arguments)]
pub fn check_rate(
    storage: &mut dyn Storage,
    counter: &str,
    entry: &str,
    delta: u32,
    window: u32,
    limit: u32,
    penalty_box: &str,
    ttl_secs: u32,
    now_ns: u64,
) -> Result<CheckRate, ErlError> {
    check_names("rate counter", counter, entry)?;
    check_names("penalty box", penalty_box, entry)?;
    check_window(window)?;
    increment(storage, counter, entry, delta, now_ns)?;
    let rc = read_counter(storage, &rate_counter_key(counter, entry));
    let count = rc.count(window, now_ns);
    let rate = rc.rate(window, now_ns);
    if let Some(pb) = in_box(storage, &penalty_box_key(penalty_box, entry), now_ns) {
        return Ok(CheckRate {
            blocked: true,
            rate,
            count,
            already_in_box: true,
            in_box_until: Some(pb.expires_unix_ns),
            ttl_applied: None,
        });
    }
    if count > u64::from(limit) * u64::from(window) {
        let ttl = penaltybox_add(storage, penalty_box, entry, ttl_secs, now_ns)?;
        return Ok(CheckRate {
            blocked: true,
            rate,
            count,
            already_in_box: false,
            in_box_until: Some(now_ns.saturating_add(u64::from(ttl) * NS_PER_SEC)),
            ttl_applied: Some(ttl),
        });
    }
    Ok(CheckRate {
        blocked: false,
        rate,
        count,
        already_in_box: false,
        in_box_until: None,
        ttl_applied: None,
    })
}

/// True when a stored record of this engine no longer matters at `now_ns` (a
/// counter entry with only old buckets, an expired box entry) or does not decode.
fn is_stale(key: &[u8], value: &[u8], now_ns: u64) -> bool {
    match decode(key, value) {
        Ok(Record::RateCounter { value, .. }) => value.is_stale(now_ns),
        Ok(Record::PenaltyBox { value, .. }) => !value.is_in_box(now_ns),
        Err(_) => true,
    }
}

/// Look at up to [`SWEEP_BATCH`] entries of one counter or box after `key` (wrapping
/// to the start) and delete the stale ones: amortised cleanup that keeps state
/// bounded without scanning everything on every write.
fn sweep_near(storage: &mut dyn Storage, prefix: &[u8], key: &[u8], now_ns: u64) {
    let mut page = storage.scan(prefix, Some(key), SWEEP_BATCH);
    if page.len() < SWEEP_BATCH {
        let more = storage.scan(prefix, None, SWEEP_BATCH - page.len());
        page.extend(more.into_iter().filter(|(k, _)| k.as_slice() < key));
    }
    for (k, v) in page {
        if k != key && is_stale(&k, &v, now_ns) {
            storage.delete(&k);
        }
    }
}

/// Delete every stale ERL record (see [`RateCounterEntry::is_stale`] and
/// [`PenaltyBoxEntry::is_in_box`]); records that do not decode go too. Returns how
/// many were deleted.
pub fn sweep(storage: &mut dyn Storage, now_ns: u64) -> usize {
    let mut deleted = 0;
    for prefix in [RC_PREFIX, PB_PREFIX] {
        let mut after: Option<Vec<u8>> = None;
        loop {
            let page = storage.scan(prefix.as_bytes(), after.as_deref(), 1024);
            let Some((last, _)) = page.last() else {
                break;
            };
            after = Some(last.clone());
            for (k, v) in page {
                if is_stale(&k, &v, now_ns) && storage.delete(&k) {
                    deleted += 1;
                }
            }
        }
    }
    deleted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;

    /// 2026-01-01T00:00:00Z, as the test clock starts.
    const T0: u64 = 1_767_225_600 * NS_PER_SEC;
    const S: u64 = NS_PER_SEC;

    fn rc(st: &MemoryStorage, entry: &str) -> RateCounterEntry {
        decode_rate_counter(&st.get(&rate_counter_key("rc", entry)).unwrap()).unwrap()
    }

    #[test]
    fn counts_and_rates_use_one_second_buckets_over_the_window() {
        let mut st = MemoryStorage::new();
        // 5 increments at 0.1 s, 3 at 1.5 s, 2 at 9.9 s.
        for _ in 0..5 {
            increment(&mut st, "rc", "ip", 1, T0 + S / 10).unwrap();
        }
        increment(&mut st, "rc", "ip", 3, T0 + S + S / 2).unwrap();
        increment(&mut st, "rc", "ip", 2, T0 + 9 * S + 9 * S / 10).unwrap();
        assert_eq!(
            rc(&st, "ip").buckets,
            vec![(1_767_225_600, 5), (1_767_225_601, 3), (1_767_225_609, 2)]
        );
        let at = T0 + 9 * S + 9 * S / 10;
        // The 1 s window is the current second only; 10 s is seconds 0..=9.
        assert_eq!(lookup_rate(&st, "rc", "ip", 1, at), Ok(2));
        assert_eq!(lookup_rate(&st, "rc", "ip", 10, at), Ok(1));
        assert_eq!(lookup_count(&st, "rc", "ip", 10, at), Ok(10));
        // At 10.0 s the window has moved past second 0.
        assert_eq!(lookup_count(&st, "rc", "ip", 10, T0 + 10 * S), Ok(5));
        assert_eq!(lookup_rate(&st, "rc", "ip", 1, T0 + 10 * S), Ok(0));
        assert_eq!(lookup_count(&st, "rc", "ip", 20, T0 + 10 * S), Ok(10));
        // The 60 s window holds everything until second 60.
        assert_eq!(lookup_count(&st, "rc", "ip", 60, T0 + 59 * S), Ok(10));
        assert_eq!(lookup_count(&st, "rc", "ip", 60, T0 + 60 * S), Ok(5));
        assert_eq!(lookup_rate(&st, "rc", "ip", 60, T0 + 59 * S), Ok(0));
        // Other entries and counters are separate.
        assert_eq!(lookup_count(&st, "rc", "other", 60, at), Ok(0));
        assert_eq!(lookup_count(&st, "rc2", "ip", 60, at), Ok(0));
    }

    #[test]
    fn old_buckets_are_pruned_and_idle_entries_deleted() {
        let mut st = MemoryStorage::new();
        for s in 0..100 {
            increment(&mut st, "rc", "ip", 1, T0 + s * S).unwrap();
        }
        let r = rc(&st, "ip");
        assert_eq!(r.buckets.len(), 60, "only the last 60 seconds are kept");
        assert_eq!(r.buckets[0].0, 1_767_225_600 + 40);
        assert_eq!(lookup_count(&st, "rc", "ip", 60, T0 + 99 * S), Ok(60));
        // A delta of 0 at a later time prunes everything and deletes the entry.
        increment(&mut st, "rc", "ip", 0, T0 + 500 * S).unwrap();
        assert!(st.get(&rate_counter_key("rc", "ip")).is_none());
    }

    #[test]
    fn writes_sweep_stale_neighbours_and_sweep_takes_everything_stale() {
        let mut st = MemoryStorage::new();
        for i in 0..20 {
            increment(&mut st, "rc", &format!("old{i:02}"), 1, T0).unwrap();
            penaltybox_add(&mut st, "pb", &format!("old{i:02}"), 60, T0).unwrap();
        }
        assert_eq!(st.len(), 40);
        let later = T0 + 120 * S;
        increment(&mut st, "rc", "new", 1, later).unwrap();
        penaltybox_add(&mut st, "pb", "new", 60, later).unwrap();
        assert_eq!(
            st.len(),
            40 + 2 - 2 * SWEEP_BATCH,
            "each write swept a batch"
        );
        assert_eq!(sweep(&mut st, later), 40 - 2 * SWEEP_BATCH);
        assert_eq!(st.len(), 2);
        st.put(b"erl/rc/x\0bad", b"not json".to_vec());
        assert_eq!(sweep(&mut st, later), 1, "undecodable records go too");
    }

    #[test]
    fn arguments_the_platform_refuses() {
        let mut st = MemoryStorage::new();
        for w in [0, 2, 5, 30, 61, u32::MAX] {
            assert_eq!(lookup_rate(&st, "rc", "e", w, T0), Err(ErlError::Window(w)));
            assert_eq!(
                check_rate(&mut st, "rc", "e", 1, w, 10, "pb", 60, T0),
                Err(ErlError::Window(w))
            );
        }
        for d in [0, 1, 5, 15, 70] {
            assert_eq!(
                lookup_count(&st, "rc", "e", d, T0),
                Err(ErlError::Duration(d))
            );
        }
        let long = "x".repeat(257);
        assert_eq!(
            increment(&mut st, "rc", &long, 1, T0),
            Err(ErlError::EntryTooLong(257))
        );
        assert!(increment(&mut st, "rc", &"x".repeat(256), 1, T0).is_ok());
        assert_eq!(
            penaltybox_add(&mut st, "p\0b", "e", 60, T0),
            Err(ErlError::Name("penalty box"))
        );
        assert_eq!(
            increment(&mut st, "r\0c", "e", 1, T0),
            Err(ErlError::Name("rate counter"))
        );
        // An entry may hold a NUL: the first NUL of a key ends the name.
        increment(&mut st, "rc", "a\0b", 1, T0).unwrap();
        let key = rate_counter_key("rc", "a\0b");
        match decode(&key, &st.get(&key).unwrap()).unwrap() {
            Record::RateCounter { counter, entry, .. } => {
                assert_eq!((counter.as_str(), entry.as_str()), ("rc", "a\0b"))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn penalty_box_ttls_are_minutes_from_one_to_sixty() {
        for (asked, applied) in [
            (0, 60),
            (59, 60),
            (60, 60),
            (119, 60),
            (120, 120),
            (300, 300),
            (3600, 3600),
            (3659, 3600),
            (u32::MAX, 3600),
        ] {
            assert_eq!(effective_ttl(asked), applied, "ttl {asked}");
        }
        let mut st = MemoryStorage::new();
        assert_eq!(penaltybox_add(&mut st, "pb", "ip", 150, T0), Ok(120));
        assert_eq!(penaltybox_has(&mut st, "pb", "ip", T0 + 119 * S), Ok(true));
        assert_eq!(penaltybox_has(&mut st, "pb", "other", T0), Ok(false));
        assert_eq!(penaltybox_has(&mut st, "pb2", "ip", T0), Ok(false));
        // Expired: not in the box, and the record is gone.
        assert_eq!(penaltybox_has(&mut st, "pb", "ip", T0 + 120 * S), Ok(false));
        assert!(st.is_empty());
        // A later add replaces the expiry.
        penaltybox_add(&mut st, "pb", "ip", 3600, T0).unwrap();
        penaltybox_add(&mut st, "pb", "ip", 60, T0 + S).unwrap();
        assert_eq!(penaltybox_has(&mut st, "pb", "ip", T0 + 61 * S), Ok(false));
    }

    #[test]
    fn check_rate_blocks_over_the_limit_and_keeps_blocking_for_the_ttl() {
        let mut st = MemoryStorage::new();
        let check = |st: &mut MemoryStorage, at: u64| {
            check_rate(st, "rc", "ip", 1, 10, 2, "pb", 60, at).unwrap()
        };
        // limit 2/s over 10 s: 20 requests pass, the 21st is over.
        for i in 0..20 {
            let r = check(&mut st, T0 + i * S / 4);
            assert!(!r.blocked, "request {} passes: {r:?}", i + 1);
        }
        let r = check(&mut st, T0 + 5 * S);
        assert!(r.blocked);
        assert_eq!((r.count, r.rate), (21, 2.1));
        assert_eq!(r.ttl_applied, Some(60));
        assert!(!r.already_in_box);
        assert_eq!(penaltybox_has(&mut st, "pb", "ip", T0 + 5 * S), Ok(true));
        // Much later in the TTL the rate is low, but the entry is still boxed.
        let r = check(&mut st, T0 + 64 * S);
        assert!(r.blocked && r.already_in_box, "{r:?}");
        assert_eq!(r.count, 1);
        assert_eq!(r.in_box_until, Some(T0 + 65 * S));
        // Once the TTL is over it passes again.
        let r = check(&mut st, T0 + 65 * S);
        assert!(!r.blocked, "{r:?}");
        // Another entry was never limited.
        let r = check_rate(&mut st, "rc", "other", 1, 10, 2, "pb", 60, T0 + 5 * S).unwrap();
        assert!(!r.blocked);
    }

    #[test]
    fn decode_is_total_and_names_what_a_key_holds() {
        let rc_key = rate_counter_key("c", "1.2.3.4");
        let pb_key = penalty_box_key("b", "1.2.3.4");
        let rc_value = br#"{"buckets":[[10,3],[12,1]]}"#;
        assert_eq!(
            decode(&rc_key, rc_value),
            Ok(Record::RateCounter {
                counter: "c".into(),
                entry: "1.2.3.4".into(),
                value: RateCounterEntry {
                    buckets: vec![(10, 3), (12, 1)]
                }
            })
        );
        let pb_value = br#"{"added_unix_ns":5,"expires_unix_ns":9}"#;
        assert!(matches!(
            decode(&pb_key, pb_value),
            Ok(Record::PenaltyBox { ref penalty_box, .. }) if penalty_box == "b"
        ));
        let bad: &[(&[u8], &[u8])] = &[
            (b"kv/x\0y", rc_value),
            (b"erl/rc/no-nul", rc_value),
            (b"erl/rc/\xff\0e", rc_value),
            (&rc_key, b""),
            (&rc_key, b"\xff"),
            (&rc_key, b"{}"),
            (&rc_key, br#"{"buckets":[[12,1],[10,3]]}"#),
            (&rc_key, br#"{"buckets":[[10,1],[10,3]]}"#),
            (&rc_key, br#"{"buckets":[[0,1],[60,3]]}"#),
            (&rc_key, br#"{"buckets":[[-1,1]]}"#),
            (&rc_key, br#"{"buckets":[[1,1,1]]}"#),
            (&pb_key, br#"{"added_unix_ns":9,"expires_unix_ns":5}"#),
            (&pb_key, br#"{"added_unix_ns":9}"#),
            (&pb_key, rc_value),
        ];
        for (k, v) in bad {
            assert!(
                decode(k, v).is_err(),
                "{:?} = {:?}",
                String::from_utf8_lossy(k),
                String::from_utf8_lossy(v)
            );
        }
        let many: Vec<String> = (0..61).map(|i| format!("[{i},1]")).collect();
        let many = format!("{{\"buckets\":[{}]}}", many.join(","));
        assert!(decode(&rc_key, many.as_bytes()).is_err());
    }
}
