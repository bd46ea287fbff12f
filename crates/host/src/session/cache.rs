//! The core cache handles of one request (`fastly_cache`): cache handles (lookups,
//! transactions, the handle an insert streams back through) and replace handles in
//! one table (the SDK closes both with `fastly_cache.close`), the inserts under way,
//! and which cache keys this execution holds the service's collapsing claim on.
//!
//! Busy handles (`transaction_lookup_async`) are async items
//! ([`super::AsyncItem::CacheBusy`]), in the number space `async_io.select` takes.

use super::HandleTable;
use crate::cache::collapse::{Claim, Claims};
use crate::cache::stream::{Live, Writer};
use crate::cache::{Found, WriteOptions};
use crate::http::Headers;
use std::collections::HashMap;
use std::sync::Arc;

/// `cache_lookup_state` bits.
pub mod state {
    /// An object was found.
    pub const FOUND: u32 = 1 << 0;
    /// It may be used (fresh, or stale within stale-while-revalidate).
    pub const USABLE: u32 = 1 << 1;
    /// It is past its max age.
    pub const STALE: u32 = 1 << 2;
    /// This caller must insert or update the object (or cancel).
    pub const MUST_INSERT_OR_UPDATE: u32 = 1 << 3;
    /// It may be used if the origin fails.
    pub const USABLE_IF_ERROR: u32 = 1 << 4;

    /// The names of the bits set in `flags`, for the trace.
    pub fn names(flags: u32) -> Vec<String> {
        [
            (FOUND, "found"),
            (USABLE, "usable"),
            (STALE, "stale"),
            (MUST_INSERT_OR_UPDATE, "must_insert_or_update"),
            (USABLE_IF_ERROR, "usable_if_error"),
        ]
        .iter()
        .filter(|(b, _)| flags & b != 0)
        .map(|(_, n)| n.to_string())
        .collect()
    }
}

/// What a lookup asked for, beyond the key.
#[derive(Clone, Debug, Default)]
pub struct LookupRequest {
    /// The cache key.
    pub key: Vec<u8>,
    /// Request headers that select a variant (the `request_headers` option).
    pub headers: Headers,
    /// `always_use_requested_range`: ranges apply even while the length is unknown.
    pub always_use_requested_range: bool,
}

/// A cache handle: the answer to a lookup, a transaction, or the object an insert
/// streams back.
#[derive(Debug)]
pub struct CacheHandle {
    /// What was looked up.
    pub lookup: LookupRequest,
    /// The object found, as it was when looked up (its id reads the body).
    pub found: Option<Found>,
    /// `cache_lookup_state` bits.
    pub state: u32,
    /// A transaction's handle: it may insert, update or cancel.
    pub transactional: bool,
    /// This handle holds the key's claim (MUST_INSERT_OR_UPDATE, not yet insert,
    /// update or cancel): closing it releases the claim.
    pub obligation: bool,
    /// The handle reads an insert that is being written (its own, streamed back by
    /// `transaction_insert_and_stream_back`, or one a lookup found under way).
    pub streaming: Option<Arc<Live>>,
    /// The body handle of the last `get_body`: one stream at a time.
    pub active_body: Option<u32>,
}

/// How a replace treats the object it replaces (`cache_replace_strategy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplaceStrategy {
    /// Replace at once; the old object is served until the new one is complete.
    Immediate,
    /// Replace at once, and remove the old object at once: lookups find only the new
    /// one, read as it is written.
    ImmediateForceMiss,
    /// Wait for an insert or update under way (another execution's claim) first.
    Wait,
}

impl ReplaceStrategy {
    /// The ABI name.
    pub fn name(self) -> &'static str {
        match self {
            ReplaceStrategy::Immediate => "immediate",
            ReplaceStrategy::ImmediateForceMiss => "immediate_force_miss",
            ReplaceStrategy::Wait => "wait",
        }
    }
}

/// A replace handle: the object to be replaced, until `replace_insert` uses it up.
#[derive(Debug)]
pub struct ReplaceHandle {
    /// What was looked up.
    pub lookup: LookupRequest,
    /// The object being replaced, if one is stored.
    pub found: Option<Found>,
    /// `cache_lookup_state` bits of the object being replaced.
    pub state: u32,
    /// The strategy.
    pub strategy: ReplaceStrategy,
    /// The body handle of the last `replace_get_body`.
    pub active_body: Option<u32>,
}

/// An entry of the cache handle table.
#[derive(Debug)]
pub enum CacheEntry {
    /// A cache handle.
    Cache(CacheHandle),
    /// A replace handle.
    Replace(ReplaceHandle),
}

/// Which call started an insert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InsertKind {
    /// `insert`.
    Insert,
    /// `transaction_insert` (and `_and_stream_back`).
    Transaction,
    /// `replace_insert`.
    Replace,
}

impl InsertKind {
    /// The name of the call, for spans.
    pub fn name(self) -> &'static str {
        match self {
            InsertKind::Insert => "insert",
            InsertKind::Transaction => "transaction_insert",
            InsertKind::Replace => "replace_insert",
        }
    }
}

/// An insert the guest started: the object is stored when its body is closed.
/// Meanwhile it is in the service's table of inserts being written
/// ([`crate::cache::stream`]), where lookups find it and read it as it is written.
#[derive(Debug)]
pub struct Insert {
    /// Which call started it.
    pub kind: InsertKind,
    /// The cache key.
    pub key: Vec<u8>,
    /// The object's options.
    pub opts: WriteOptions,
    /// It holds the key's claim: it is released when the insert ends.
    pub claim: bool,
    /// The body handle the guest writes.
    pub body: u32,
    /// When it started (µs since the execution started), for its span.
    pub start_us: f64,
    /// Where its bytes go, shared with its readers (dropping it fails the insert).
    pub writer: Writer,
}

/// The core cache state of one request.
#[derive(Debug)]
pub struct CacheHandles {
    /// Cache and replace handles.
    pub handles: HandleTable<CacheEntry>,
    /// Inserts by id (the id is in the writer body's [`super::BodySink::CacheInsert`]).
    pub inserts: HashMap<u32, Insert>,
    next_insert: u32,
    /// Claims this execution holds, counted by the handles and inserts that hold them
    /// (a transaction that took the obligation over from another of this execution
    /// counts twice).
    held: HashMap<Vec<u8>, usize>,
}

impl Default for CacheHandles {
    fn default() -> Self {
        CacheHandles {
            handles: HandleTable::default(),
            inserts: HashMap::new(),
            next_insert: 1,
            held: HashMap::new(),
        }
    }
}

impl CacheHandles {
    /// Record a new insert; its id.
    pub fn add_insert(&mut self, insert: Insert) -> u32 {
        let id = self.next_insert;
        self.next_insert += 1;
        self.inserts.insert(id, insert);
        id
    }

    /// Claim `key` for this execution (through `claims`). A won claim is counted here
    /// until [`CacheHandles::release`] balances it.
    pub fn claim(&mut self, claims: &Claims, key: &[u8]) -> Claim {
        let c = claims.claim(key);
        if c == Claim::Won {
            *self.held.entry(key.to_vec()).or_insert(0) += 1;
        }
        c
    }

    /// One holder of this execution's claim on `key` let go; the claim is released
    /// (waiters look again) when none is left. True when it was released.
    pub fn release(&mut self, claims: &Claims, key: &[u8]) -> bool {
        let Some(n) = self.held.get_mut(key) else {
            return false;
        };
        *n -= 1;
        if *n > 0 {
            return false;
        }
        self.held.remove(key);
        claims.release(key);
        true
    }

    /// Keys this execution holds claims on.
    pub fn held(&self) -> impl Iterator<Item = &Vec<u8>> {
        self.held.keys()
    }

    /// Forget every claim (the execution ended; the caller releases them).
    pub fn clear_held(&mut self) {
        self.held.clear();
    }
}

/// A transactional lookup started with `transaction_lookup_async`: resolved at once
/// when this execution may proceed, else waiting for another execution's claim on the
/// key; `cache_busy_handle_wait` hands over its cache handle.
#[derive(Debug)]
pub struct CacheBusy {
    /// What was looked up.
    pub lookup: LookupRequest,
    /// The answer, once the lookup could proceed.
    pub resolved: Option<CacheHandle>,
    /// When it started (µs since the execution started), for its span.
    pub start_us: f64,
}

/// The part of a body that reads an insert still being written (streamed back by
/// `transaction_insert_and_stream_back`, or found by a lookup while another execution
/// writes it): a read that has used up what the body holds takes the next bytes of
/// the insert, or waits for them.
#[derive(Clone, Debug)]
pub struct CacheTail {
    /// The insert being read.
    pub live: Arc<Live>,
    /// The next byte of the object to take.
    pub pos: u64,
    /// One past the last byte to take (a range's end), if any.
    pub end: Option<u64>,
}
