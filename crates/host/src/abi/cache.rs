//! `fastly_cache`: the core cache API (and the simple cache the SDKs build on it),
//! over the service's cache ([`crate::cache`] is the engine).
//!
//! What a guest sees:
//!
//! - **Lookups.** `lookup` answers a cache handle at once; `get_state` gives FOUND,
//!   USABLE (fresh, or stale within stale-while-revalidate), STALE and
//!   USABLE_IF_ERROR. A found object counts a hit. The `request_headers` option picks
//!   the variant a vary rule selects. When nothing usable is stored but an insert of
//!   the key (and variant) is under way, in this or another execution, the lookup
//!   finds that object (FOUND | USABLE, with the insert's options: max age, length if
//!   given, user metadata, surrogate keys; no hits yet) and reads it as it is written
//!   (see Streaming).
//! - **Transactions** collapse concurrent requests: the first `transaction_lookup` of
//!   a key that misses (or finds it stale past what stale-while-revalidate lets
//!   others use, or is the first to find it within that window) gets
//!   MUST_INSERT_OR_UPDATE and claims the key for its execution
//!   ([`crate::cache::collapse`]). Another transaction on that key then waits (a
//!   usable stale object is answered at once, without the obligation) until the
//!   holder's insert starts — it then finds the object being inserted and reads it
//!   as it is written — or the claim is released — by `transaction_update`,
//!   `transaction_cancel`, closing the handle, abandoning the insert, or the end of
//!   the execution — and looks again ([`super::claim`]: the wait never blocks the
//!   host). `transaction_lookup_async` answers a busy handle (an async item that
//!   `async_io.select`/`is_ready` take) and `cache_busy_handle_wait` the cache handle.
//!   A second transaction of the same execution waits for the first in the same way
//!   (it may find the first's insert under way and read it), except that a wait
//!   nothing else can end — the guest is blocked on the second alone
//!   (`transaction_lookup` itself, `cache_busy_handle_wait`, or a `select` whose other
//!   handles cannot progress) while the first has not started its insert — takes the
//!   obligation itself instead of stalling, as the HTTP cache API does.
//! - **Inserts.** `insert`, `transaction_insert` and `replace_insert` answer a body
//!   handle the guest writes ([`BodySink::CacheInsert`]); the object is stored when
//!   the body is closed (`StreamingBody::finish`). An abandoned body, or one left
//!   open when the guest ends (or traps), stores nothing; a body whose length differs
//!   from the announced `length` stores nothing and its close answers ERROR.
//! - **Streaming.** While an insert is written its bytes are in the service's table
//!   of inserts under way ([`crate::cache::stream`], in memory): a body of an object
//!   found there (by a lookup, a transaction, or the handle
//!   `transaction_insert_and_stream_back` answers) gives every byte in order, once.
//!   A read that has caught up with the writer waits for its next bytes when the
//!   writer is another execution (re-checked on a short timer, never blocking the
//!   host), and answers ERROR when it is this execution (only the guest, blocked in
//!   the read, could write more). The read after the last byte is the end once the
//!   insert is stored (or a range is complete); ERROR when the insert stored
//!   nothing (abandoned, cut off by the end of the writer's execution, a length
//!   mismatch or too large), as the platform's streaming miss fails.
//! - **Update** (`transaction_update`) changes freshness and metadata without
//!   rewriting the body; options whose bits are clear keep the stored values, and the
//!   object's age starts again from the given initial age (0 by default).
//! - **Replace** (`replace`, `replace_insert`, `replace_get_*`): the strategy
//!   `immediate` serves the old object until the new one is stored,
//!   `immediate_force_miss` removes it when `replace_insert` starts, and `wait` first
//!   waits for another execution's claim on the key.
//! - **Bodies.** `get_body` with `from`/`to` (inclusive) gives that range when the
//!   length is known and the range fits, else the whole object (the SDK's rules);
//!   one stream per handle at a time (BADF while the last one is unread).
//! - **Errors.** A bad handle (or a handle of the other kind): BADF. Option bits the
//!   ABI does not define, a bad replace strategy, a vary rule of more than 8 headers,
//!   `to` before `from`: INVAL. A key longer than 4096 bytes: BUFLEN (as Viceroy).
//!   Getters of a handle that found nothing: NONE. `transaction_insert`/`update` on a
//!   handle without the obligation: BADF. The `service` option naming another service
//!   than this one (`FASTLY_SERVICE_ID`): UNSUPPORTED — edgeplay runs one service.
//!   `edge_max_age_ns` is accepted and has no effect (edgeplay is one POP).
//!
//! Every call is a trace event with its decoded arguments (the key as text or hex,
//! the TTL, state flags by name); every operation that touches the store is also a
//! `cache` work span ([`span`]) the waterfall draws.

use super::claim::{wait_for_claim, wait_until, Then};
use super::completion::{Completion, Done, Recheck, INVALID_HANDLE};
use super::{Cx, HostResult, Registry};
use crate::cache::stream::{Ended, Live, Read};
use crate::cache::{self, Found, Meta, WriteOptions};
use crate::memory::GuestMem;
use crate::session::{
    cache_state as st, AsyncItem, Blocked, Body, BodySink, CacheBusy, CacheEntry, CacheHandle,
    CacheTail, Insert, InsertKind, LookupRequest, ReplaceHandle, ReplaceStrategy, Session, WorkId,
    WorkKind, WorkResult,
};
use crate::status::Status;
use crate::trace::{ArgValue, EventKind, HandleKind, TraceEvent};
use std::borrow::Cow;
use std::sync::Arc;

/// `cache_lookup_options_mask` bits.
mod lookup_bits {
    pub const RESERVED: u32 = 1 << 0;
    pub const REQUEST_HEADERS: u32 = 1 << 1;
    pub const SERVICE: u32 = 1 << 2;
    pub const ALWAYS_USE_REQUESTED_RANGE: u32 = 1 << 3;
    pub const ALL: u32 = RESERVED | REQUEST_HEADERS | SERVICE | ALWAYS_USE_REQUESTED_RANGE;
}

/// `cache_replace_options_mask` bits.
mod replace_bits {
    pub const RESERVED: u32 = 1 << 0;
    pub const REQUEST_HEADERS: u32 = 1 << 1;
    pub const REPLACE_STRATEGY: u32 = 1 << 2;
    pub const SERVICE: u32 = 1 << 3;
    pub const ALWAYS_USE_REQUESTED_RANGE: u32 = 1 << 4;
    pub const ALL: u32 =
        RESERVED | REQUEST_HEADERS | REPLACE_STRATEGY | SERVICE | ALWAYS_USE_REQUESTED_RANGE;
}

/// `cache_write_options_mask` bits.
mod write_bits {
    pub const RESERVED: u32 = 1 << 0;
    pub const REQUEST_HEADERS: u32 = 1 << 1;
    pub const VARY_RULE: u32 = 1 << 2;
    pub const INITIAL_AGE_NS: u32 = 1 << 3;
    pub const STALE_WHILE_REVALIDATE_NS: u32 = 1 << 4;
    pub const SURROGATE_KEYS: u32 = 1 << 5;
    pub const LENGTH: u32 = 1 << 6;
    pub const USER_METADATA: u32 = 1 << 7;
    pub const SENSITIVE_DATA: u32 = 1 << 8;
    pub const EDGE_MAX_AGE_NS: u32 = 1 << 9;
    pub const SERVICE: u32 = 1 << 10;
    pub const ALL: u32 = RESERVED
        | REQUEST_HEADERS
        | VARY_RULE
        | INITIAL_AGE_NS
        | STALE_WHILE_REVALIDATE_NS
        | SURROGATE_KEYS
        | LENGTH
        | USER_METADATA
        | SENSITIVE_DATA
        | EDGE_MAX_AGE_NS
        | SERVICE;
    pub const NAMES: [&str; 11] = [
        "reserved",
        "request_headers",
        "vary_rule",
        "initial_age_ns",
        "stale_while_revalidate_ns",
        "surrogate_keys",
        "length",
        "user_metadata",
        "sensitive_data",
        "edge_max_age_ns",
        "service",
    ];
}

/// `cache_get_body_options_mask` bits.
mod body_bits {
    pub const RESERVED: u32 = 1 << 0;
    pub const FROM: u32 = 1 << 1;
    pub const TO: u32 = 1 << 2;
    pub const ALL: u32 = RESERVED | FROM | TO;
}

/// Field offsets of `cache_write_options` (80 bytes).
mod write_off {
    pub const MAX_AGE_NS: u32 = 0;
    pub const REQUEST_HEADERS: u32 = 8;
    pub const VARY_RULE: u32 = 12;
    pub const INITIAL_AGE_NS: u32 = 24;
    pub const SWR_NS: u32 = 32;
    pub const SURROGATE_KEYS: u32 = 40;
    pub const LENGTH: u32 = 48;
    pub const USER_METADATA: u32 = 56;
    pub const EDGE_MAX_AGE_NS: u32 = 64;
    pub const SERVICE: u32 = 72;
}

/// The address `off` bytes into the struct at `ptr` (a struct that would run past
/// the end of the address space is a bad pointer, never an overflow).
fn at(cx: &Cx<'_>, ptr: u32, off: u32) -> HostResult<u32> {
    ptr.checked_add(off).ok_or_else(|| {
        crate::memory::MemError::OutOfBounds {
            ptr,
            len: u64::from(off),
            size: cx.mem.size(),
        }
        .into()
    })
}

/// A duration in ns as people read it (`60s`, `1.5ms`).
fn human_ns(ns: u64) -> String {
    if ns == u64::MAX {
        return "forever".into();
    }
    if ns.is_multiple_of(1_000_000_000) {
        return format!("{}s", ns / 1_000_000_000);
    }
    if ns >= 1_000_000_000 {
        return format!("{:.3}s", ns as f64 / 1e9);
    }
    format!("{:.3}ms", ns as f64 / 1e6)
}

fn flags_arg(flags: u32) -> ArgValue {
    ArgValue::Flags(st::names(flags))
}

/// Fail with INVAL when `mask` has bits outside `known`.
fn check_mask(cx: &mut Cx<'_>, mask: u32, known: u32) -> HostResult<()> {
    if mask & !known != 0 {
        cx.note(format!(
            "option bits {:#x} are not defined by the ABI",
            mask & !known
        ));
        return Err(Status::INVAL.into());
    }
    Ok(())
}

/// Read the cache key (BUFLEN past the platform's 4096 bytes, as Viceroy).
fn read_key(cx: &mut Cx<'_>, ptr: u32, len: u32) -> HostResult<Vec<u8>> {
    let key = cx.bytes_arg("key", ptr, len)?;
    if key.len() > cache::MAX_KEY_BYTES {
        cx.note(format!(
            "a cache key is at most {} bytes; this one has {}",
            cache::MAX_KEY_BYTES,
            key.len()
        ));
        return Err(Status::BUFLEN.into());
    }
    Ok(key)
}

/// The headers of the request handle at `ptr` (BADF if it is not one).
fn read_request_headers(cx: &mut Cx<'_>, ptr: u32) -> HostResult<crate::http::Headers> {
    let h = cx.mem.read_u32(ptr)?;
    cx.handle_arg("request_headers", HandleKind::Request, h);
    match cx.s.http.requests.get(h) {
        Some(r) => Ok(r.headers.clone()),
        None => {
            cx.note("request_headers is not a request handle");
            Err(Status::BADF.into())
        }
    }
}

/// Check the `service` option (ptr and len at `ptr`): this service is fine; another
/// is UNSUPPORTED.
fn check_service(cx: &mut Cx<'_>, ptr: u32) -> HostResult<()> {
    let p = cx.mem.read_u32(ptr)?;
    let len = cx.mem.read_u32(at(cx, ptr, 4)?)?;
    let service = cx.str_arg("service", p, len)?;
    let own =
        cx.s.env
            .iter()
            .find(|(k, _)| k == "FASTLY_SERVICE_ID")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
    if service != own {
        cx.note(format!(
            "acting on behalf of another service ({service:?}) is not emulated: edgeplay runs one service ({own:?})"
        ));
        return Err(Status::UNSUPPORTED.into());
    }
    Ok(())
}

/// Read a lookup's key and `cache_lookup_options` (12 bytes: request_headers@0,
/// service ptr@4 len@8).
fn read_lookup(
    cx: &mut Cx<'_>,
    key_ptr: u32,
    key_len: u32,
    mask: u32,
    opts: u32,
) -> HostResult<LookupRequest> {
    let key = read_key(cx, key_ptr, key_len)?;
    check_mask(cx, mask, lookup_bits::ALL)?;
    let mut req = LookupRequest {
        key,
        ..LookupRequest::default()
    };
    if mask & lookup_bits::REQUEST_HEADERS != 0 {
        req.headers = read_request_headers(cx, opts)?;
    }
    if mask & lookup_bits::SERVICE != 0 {
        check_service(cx, at(cx, opts, 4)?)?;
    }
    if mask & lookup_bits::ALWAYS_USE_REQUESTED_RANGE != 0 {
        req.always_use_requested_range = true;
        cx.arg("always_use_requested_range", ArgValue::Int(1));
    }
    Ok(req)
}

/// Read `cache_write_options` (80 bytes; see `write_off`). `base`: the values a clear
/// bit keeps (an update keeps what is stored); `headers`: the request headers when the
/// bit is clear (a transaction's are its lookup's).
fn read_write(
    cx: &mut Cx<'_>,
    mask: u32,
    ptr: u32,
    base: WriteOptions,
    headers: &crate::http::Headers,
) -> HostResult<WriteOptions> {
    check_mask(cx, mask, write_bits::ALL)?;
    let names: Vec<String> = (0..11)
        .filter(|i| mask & (1 << i) != 0)
        .map(|i| write_bits::NAMES[i].to_string())
        .collect();
    cx.arg("options", ArgValue::Flags(names));
    let mut o = base;
    o.max_age_ns = cx.mem.read_u64(at(cx, ptr, write_off::MAX_AGE_NS)?)?;
    cx.arg("max_age", ArgValue::Str(human_ns(o.max_age_ns)));
    o.request_headers = if mask & write_bits::REQUEST_HEADERS != 0 {
        read_request_headers(cx, at(cx, ptr, write_off::REQUEST_HEADERS)?)?
    } else {
        headers.clone()
    };
    if mask & write_bits::VARY_RULE != 0 {
        let p = cx.mem.read_u32(at(cx, ptr, write_off::VARY_RULE)?)?;
        let len = cx.mem.read_u32(at(cx, ptr, write_off::VARY_RULE + 4)?)?;
        let rule = cx.str_arg("vary_rule", p, len)?;
        let names: Vec<String> = rule.split_whitespace().map(str::to_string).collect();
        if names.len() > cache::MAX_VARY_HEADERS {
            cx.note(format!(
                "a vary rule names at most {} headers",
                cache::MAX_VARY_HEADERS
            ));
            return Err(Status::INVAL.into());
        }
        o.vary_rule = names;
    }
    if mask & write_bits::INITIAL_AGE_NS != 0 {
        o.initial_age_ns = cx.mem.read_u64(at(cx, ptr, write_off::INITIAL_AGE_NS)?)?;
        cx.arg("initial_age", ArgValue::Str(human_ns(o.initial_age_ns)));
    }
    if mask & write_bits::STALE_WHILE_REVALIDATE_NS != 0 {
        o.swr_ns = cx.mem.read_u64(at(cx, ptr, write_off::SWR_NS)?)?;
        cx.arg("stale_while_revalidate", ArgValue::Str(human_ns(o.swr_ns)));
    }
    if mask & write_bits::SURROGATE_KEYS != 0 {
        let p = cx.mem.read_u32(at(cx, ptr, write_off::SURROGATE_KEYS)?)?;
        let len = cx
            .mem
            .read_u32(at(cx, ptr, write_off::SURROGATE_KEYS + 4)?)?;
        let text = cx.mem.read_str(p, len)?;
        o.surrogate_keys = text.split_whitespace().map(str::to_string).collect();
        cx.arg("surrogate_keys", ArgValue::List(o.surrogate_keys.clone()));
    }
    if mask & write_bits::LENGTH != 0 {
        let l = cx.mem.read_u64(at(cx, ptr, write_off::LENGTH)?)?;
        o.length = Some(l);
        cx.arg(
            "length",
            ArgValue::Int(i64::try_from(l).unwrap_or(i64::MAX)),
        );
    }
    if mask & write_bits::USER_METADATA != 0 {
        let p = cx.mem.read_u32(at(cx, ptr, write_off::USER_METADATA)?)?;
        let len = cx
            .mem
            .read_u32(at(cx, ptr, write_off::USER_METADATA + 4)?)?;
        o.user_metadata = cx.bytes_arg("user_metadata", p, len)?;
    }
    if mask & write_bits::SENSITIVE_DATA != 0 {
        o.sensitive = true;
    }
    if mask & write_bits::EDGE_MAX_AGE_NS != 0 {
        let e = cx.mem.read_u64(at(cx, ptr, write_off::EDGE_MAX_AGE_NS)?)?;
        cx.arg("edge_max_age", ArgValue::Str(human_ns(e)));
    }
    if mask & write_bits::SERVICE != 0 {
        check_service(cx, at(cx, ptr, write_off::SERVICE)?)?;
    }
    Ok(o)
}

/// The state bits of a found object at `now`.
fn flags_for(meta: &Meta, now: u64) -> u32 {
    let f = meta.freshness(now);
    let mut flags = st::FOUND;
    if f.fresh || f.within_swr {
        flags |= st::USABLE;
    }
    if !f.fresh {
        flags |= st::STALE;
    }
    if f.usable_if_error {
        flags |= st::USABLE_IF_ERROR;
    }
    flags
}

/// What a lookup span says of a state.
fn outcome(flags: u32) -> &'static str {
    if flags & st::FOUND == 0 {
        "miss"
    } else if flags & st::STALE == 0 {
        "hit"
    } else if flags & st::USABLE != 0 {
        "stale"
    } else {
        "stale_unusable"
    }
}

/// Record a `cache` work span: the operation `op` on `key` from `start_us` to now,
/// with `outcome` as its status. Shown by the waterfall beside backend fetches.
pub(crate) fn span(
    s: &mut Session,
    op: &'static str,
    key: &[u8],
    start_us: f64,
    outcome: &str,
    args: Vec<(&'static str, ArgValue)>,
    note: Option<String>,
) {
    let mut ev = s.event(EventKind::Work, "cache", op);
    ev.start_us = start_us;
    ev.dur_us = (s.elapsed_us() - start_us).max(0.0);
    ev.args
        .push((Cow::Borrowed("key"), ArgValue::text_or_bytes(key)));
    for (n, v) in args {
        ev.args.push((Cow::Borrowed(n), v));
    }
    ev.status = Some(Cow::Owned(outcome.to_string()));
    ev.note = note;
    s.push_event(ev);
}

/// Look `req` up in the store (a found object counts a hit); the found object and its
/// state bits.
fn look(s: &mut Session, req: &LookupRequest, count_hit: bool) -> (Option<Found>, u32) {
    let now = s.unix_ns();
    let mut store = s.state.lock();
    let mut found = cache::lookup(&mut **store, &req.key, &req.headers, now);
    if let Some(f) = found.as_mut() {
        if count_hit {
            cache::record_hit(&mut **store, f, now);
        }
    }
    let flags = found.as_ref().map_or(0, |f| flags_for(&f.meta, now));
    (found, flags)
}

fn lookup_handle(req: LookupRequest, found: Option<Found>, state: u32, tx: bool) -> CacheHandle {
    CacheHandle {
        lookup: req,
        found,
        state,
        transactional: tx,
        obligation: state & st::MUST_INSERT_OR_UPDATE != 0,
        streaming: None,
        active_body: None,
    }
}

/// What one attempt at a transactional lookup came to.
enum Attempt {
    /// The lookup can answer this handle.
    Done(Box<CacheHandle>),
    /// Another execution holds the key's claim, and there is nothing usable to answer
    /// meanwhile: wait until it is released (or its insert starts).
    Wait,
    /// Another transaction of this execution holds the key's claim and has not started
    /// its insert: wait for it, unless only the guest could end the wait (then
    /// [`take_over`]).
    SelfWait,
}

/// The insert being written under `req`'s key (by any execution) whose variant the
/// lookup selects, if it is usable.
fn live_object(s: &Session, req: &LookupRequest) -> Option<(Arc<Live>, u32)> {
    let live = s.streams.find(&req.key, &req.headers)?;
    let flags = flags_for(&live.object.meta, s.unix_ns());
    (flags & st::USABLE != 0).then_some((live, flags))
}

/// A handle reading the insert `live` as it is written.
fn live_handle(req: LookupRequest, live: Arc<Live>, flags: u32, tx: bool) -> CacheHandle {
    CacheHandle {
        lookup: req,
        found: None,
        state: flags,
        transactional: tx,
        obligation: false,
        streaming: Some(live),
        active_body: None,
    }
}

/// One attempt at a transactional lookup.
fn attempt(s: &mut Session, req: &LookupRequest) -> Attempt {
    let (found, mut flags) = look(s, req, false);
    let usable = flags & st::USABLE != 0;
    let fresh = usable && flags & st::STALE == 0;
    if !fresh {
        // Missing or stale: someone must insert or update it. Another transaction of
        // this execution that holds the key does not make this one a holder too.
        let mine = s.claims.holds(&req.key);
        let claim = if mine {
            cache::collapse::Claim::Busy
        } else {
            let claims = &s.claims;
            s.cache.claim(claims, &req.key)
        };
        match claim {
            cache::collapse::Claim::Won => flags |= st::MUST_INSERT_OR_UPDATE,
            // A stale object within stale-while-revalidate is used meanwhile.
            cache::collapse::Claim::Busy if usable => {}
            cache::collapse::Claim::Busy => {
                // The holder's insert under way is read as it is written.
                if let Some((live, flags)) = live_object(s, req) {
                    return Attempt::Done(Box::new(live_handle(req.clone(), live, flags, true)));
                }
                return if mine {
                    Attempt::SelfWait
                } else {
                    Attempt::Wait
                };
            }
        }
    }
    let mut found = found;
    if let Some(f) = found.as_mut() {
        let now = s.unix_ns();
        cache::record_hit(&mut **s.state.lock(), f, now);
    }
    Attempt::Done(Box::new(lookup_handle(req.clone(), found, flags, true)))
}

/// A transactional lookup waiting for another transaction of this execution, in a
/// wait only the guest could end (it is blocked in this one): it takes the obligation
/// itself, as if it had missed, instead of waiting for ever.
fn take_over(s: &mut Session, req: &LookupRequest) -> CacheHandle {
    let (found, mut flags) = look(s, req, false);
    let claims = &s.claims;
    if s.cache.claim(claims, &req.key) == cache::collapse::Claim::Won {
        flags |= st::MUST_INSERT_OR_UPDATE;
    }
    lookup_handle(req.clone(), found, flags, true)
}

const LIVE_NOTE: &str =
    "found the object an insert under way is writing: its body is read as it is written";

const TAKE_OVER_NOTE: &str = "another transaction of this execution holds this key and has not started its insert, and the guest is blocked on this one alone: it takes the obligation to insert or update too";

/// True when the lookup `b` of a busy handle can proceed now: resolved, the key's
/// claim is free, or its holder's insert is being written (and can be read).
pub(crate) fn busy_ready(s: &Session, b: &CacheBusy) -> bool {
    b.resolved.is_some()
        || !(s.claims.busy(&b.lookup.key) || s.claims.holds(&b.lookup.key))
        || live_object(s, &b.lookup).is_some()
}

/// True when the busy handle's lookup waits for another execution's claim (a wait the
/// host ends: the claim is released, or the insert starts, elsewhere).
pub(crate) fn busy_waits_for_another(s: &Session, b: &CacheBusy) -> bool {
    b.resolved.is_none() && !s.claims.holds(&b.lookup.key)
}

/// The busy handle `h` waits for another transaction of this execution, in a wait
/// nothing else can end: its lookup takes the obligation itself ([`take_over`]). True
/// when it did.
pub(crate) fn take_over_self_wait(s: &mut Session, h: u32) -> bool {
    let lookup = match s.pending.async_items.get(&h) {
        Some(AsyncItem::CacheBusy(b)) if b.resolved.is_none() => b.lookup.clone(),
        _ => return false,
    };
    let (c, took) = match attempt(s, &lookup) {
        Attempt::Done(c) => (*c, false),
        Attempt::SelfWait => (take_over(s, &lookup), true),
        Attempt::Wait => return false,
    };
    if let Some(AsyncItem::CacheBusy(b)) = s.pending.async_items.get_mut(&h) {
        b.resolved = Some(c);
    }
    took
}

/// A transactional lookup that could not answer at once: take over a wait on this
/// execution itself, else wait for the other execution (request collapsing).
fn wait_or_take_over(
    cx: &mut Cx<'_>,
    first: Attempt,
    req: LookupRequest,
    out: u32,
    start_us: f64,
    op: &'static str,
) -> HostResult {
    match first {
        Attempt::Done(c) => finish_tx(&mut cx.mem, cx.s, *c, out, start_us, false, op).into_cx(cx),
        Attempt::SelfWait => {
            cx.note(TAKE_OVER_NOTE);
            let c = take_over(cx.s, &req);
            finish_tx(&mut cx.mem, cx.s, c, out, start_us, false, op).into_cx(cx)
        }
        Attempt::Wait => {
            cx.note("another execution is inserting this key: waiting (request collapsing)");
            let key = req.key.clone();
            let headers = req.headers.clone();
            let ready = Box::new(move |s: &Session| {
                !s.claims.busy(&key) || s.streams.find(&key, &headers).is_some()
            });
            wait_until(cx, ready, tx_then(req, out, start_us, op))
        }
    }
}

/// Store a handle and write it to `out`; the handle number.
fn give_handle(
    mem: &mut GuestMem<'_>,
    s: &mut Session,
    entry: CacheEntry,
    out: u32,
) -> Result<u32, Status> {
    let Some(h) = s.cache.handles.insert(entry) else {
        return Err(Status::LIMITEXCEEDED);
    };
    if mem.write_u32(out, h).is_err() {
        if let Some(CacheEntry::Cache(c)) = s.cache.handles.take(h) {
            drop_handle(s, c);
        }
        return Err(Status::INVAL);
    }
    Ok(h)
}

/// A cache handle goes away: an obligation it still holds is released.
fn drop_handle(s: &mut Session, c: CacheHandle) -> bool {
    if c.obligation {
        let claims = &s.claims;
        s.cache.release(claims, &c.lookup.key);
        return true;
    }
    false
}

/// Finish a transactional lookup whose attempt succeeded: the handle to the guest, its
/// span, and what the call reports.
fn finish_tx(
    mem: &mut GuestMem<'_>,
    s: &mut Session,
    c: CacheHandle,
    out: u32,
    start_us: f64,
    waited: bool,
    op: &'static str,
) -> Completion {
    let key = c.lookup.key.clone();
    let flags = c.state;
    let live = c.found.is_none() && c.streaming.is_some();
    let note = match (waited, live) {
        (true, true) => Some(format!(
            "request collapsing: waited until the insert of this key started; {LIVE_NOTE}"
        )),
        (false, true) => Some(LIVE_NOTE.to_string()),
        (true, false) => {
            Some("request collapsing: waited until another execution released this key".to_string())
        }
        (false, false) => None,
    };
    span(
        s,
        op,
        &key,
        start_us,
        if live { "streaming" } else { outcome(flags) },
        vec![("state", flags_arg(flags))],
        note.clone(),
    );
    match give_handle(mem, s, CacheEntry::Cache(c), out) {
        Ok(h) => Completion {
            code: Status::OK.0,
            results: vec![
                (
                    "handle",
                    ArgValue::Handle {
                        kind: HandleKind::Cache,
                        handle: h,
                    },
                ),
                ("state", flags_arg(flags)),
            ],
            note,
        },
        Err(e) => Completion::status(e),
    }
}

/// The continuation of a transactional lookup that waits for another execution:
/// look again each time the key is free.
fn tx_then(req: LookupRequest, out: u32, start_us: f64, op: &'static str) -> Then {
    Box::new(move |mem, s| {
        let c = match attempt(s, &req) {
            Attempt::Done(c) => *c,
            Attempt::Wait => return None,
            Attempt::SelfWait => take_over(s, &req),
        };
        Some(finish_tx(mem, s, c, out, start_us, true, op))
    })
}

/// The cache handle `h` (BADF if it is not one).
fn cache_handle<'a>(cx: &'a mut Cx<'_>, h: u32) -> HostResult<&'a mut CacheHandle> {
    cx.handle_arg("handle", HandleKind::Cache, h);
    if matches!(cx.s.cache.handles.get(h), Some(CacheEntry::Replace(_))) {
        cx.note("this is a replace handle: use the replace_get_* calls");
    }
    match cx.s.cache.handles.get_mut(h) {
        Some(CacheEntry::Cache(c)) => Ok(c),
        _ => Err(Status::BADF.into()),
    }
}

/// The replace handle `h` (BADF if it is not one).
fn replace_handle<'a>(cx: &'a mut Cx<'_>, h: u32) -> HostResult<&'a mut ReplaceHandle> {
    cx.handle_arg("handle", HandleKind::CacheReplace, h);
    if matches!(cx.s.cache.handles.get(h), Some(CacheEntry::Cache(_))) {
        cx.note("this is a cache handle, not a replace handle");
    }
    match cx.s.cache.handles.get_mut(h) {
        Some(CacheEntry::Replace(r)) => Ok(r),
        _ => Err(Status::BADF.into()),
    }
}

/// What the getters read of a handle's object.
struct View {
    max_age_ns: u64,
    swr_ns: u64,
    age_ns: u64,
    hits: u64,
    length: Option<u64>,
    user_metadata: Vec<u8>,
}

impl View {
    fn of_meta(m: &Meta, now: u64) -> View {
        View {
            max_age_ns: m.max_age_ns,
            swr_ns: m.swr_ns,
            age_ns: m.age_ns(now),
            hits: m.hits,
            length: Some(m.size),
            user_metadata: m.user_metadata.clone(),
        }
    }
}

/// The object behind handle `h` (a cache or, with `replace`, a replace handle), or
/// `None` when it found nothing.
fn view(cx: &mut Cx<'_>, h: u32, replace: bool) -> HostResult<Option<View>> {
    let now = cx.s.unix_ns();
    if replace {
        let r = replace_handle(cx, h)?;
        return Ok(r.found.as_ref().map(|f| View::of_meta(&f.meta, now)));
    }
    let c = cache_handle(cx, h)?;
    if let Some(f) = &c.found {
        return Ok(Some(View::of_meta(&f.meta, now)));
    }
    let Some(live) = &c.streaming else {
        return Ok(None);
    };
    Ok(Some(match live.ended() {
        Some(Ended::Stored(found)) => View::of_meta(&found.meta, now),
        _ => {
            let m = &live.object.meta;
            View {
                length: m.length,
                hits: 0,
                ..View::of_meta(m, now)
            }
        }
    }))
}

/// A u64 getter: NONE when nothing was found (or the value is unknown).
fn get_u64(
    cx: &mut Cx<'_>,
    h: u32,
    out: u32,
    replace: bool,
    name: &'static str,
    pick: fn(&View) -> Option<u64>,
    human: bool,
) -> HostResult {
    let Some(v) = view(cx, h, replace)? else {
        cx.note("the lookup found nothing");
        return Err(Status::NONE.into());
    };
    let Some(x) = pick(&v) else {
        cx.note("not known yet");
        return Err(Status::NONE.into());
    };
    cx.mem.write_u64(out, x)?;
    cx.result(
        name,
        if human {
            ArgValue::Str(human_ns(x))
        } else {
            ArgValue::Int(i64::try_from(x).unwrap_or(i64::MAX))
        },
    );
    Ok(Status::OK.0)
}

fn get_user_metadata(
    cx: &mut Cx<'_>,
    h: u32,
    buf: u32,
    buf_len: u32,
    nwritten_out: u32,
    replace: bool,
) -> HostResult {
    let Some(v) = view(cx, h, replace)? else {
        cx.note("the lookup found nothing");
        return Err(Status::NONE.into());
    };
    let s = cx
        .mem
        .write_out_buf(buf, buf_len, nwritten_out, &v.user_metadata)?;
    if s == Status::OK {
        cx.result("user_metadata", ArgValue::text_or_bytes(&v.user_metadata));
    } else {
        cx.result("needed", ArgValue::Int(v.user_metadata.len() as i64));
    }
    Ok(s.0)
}

fn get_state(cx: &mut Cx<'_>, h: u32, out: u32, replace: bool) -> HostResult {
    let flags = if replace {
        replace_handle(cx, h)?.state
    } else {
        cache_handle(cx, h)?.state
    };
    cx.mem.write_u32(out, flags)?;
    cx.result("state", flags_arg(flags));
    Ok(Status::OK.0)
}

/// The byte range `[start, end)` of an object of `len` bytes that `from`/`to`
/// (inclusive) select, by the SDK's rules: the whole object unless the range fits.
fn select_range(len: u64, from: Option<u64>, to: Option<u64>) -> (u64, u64) {
    match (from, to) {
        (Some(f), Some(t)) if f <= t && t < len => (f, t + 1),
        (Some(f), None) if f <= len => (f, len),
        (None, Some(t)) if t <= len => (len - t, len),
        _ => (0, len),
    }
}

/// Read `cache_get_body_options` (16 bytes: from@0, to@8).
fn read_range(cx: &mut Cx<'_>, mask: u32, opts: u32) -> HostResult<(Option<u64>, Option<u64>)> {
    check_mask(cx, mask, body_bits::ALL)?;
    let from = if mask & body_bits::FROM != 0 {
        Some(cx.mem.read_u64(opts)?)
    } else {
        None
    };
    let to = if mask & body_bits::TO != 0 {
        Some(cx.mem.read_u64(at(cx, opts, 8)?)?)
    } else {
        None
    };
    if let Some(f) = from {
        cx.arg("from", ArgValue::Int(i64::try_from(f).unwrap_or(i64::MAX)));
    }
    if let Some(t) = to {
        cx.arg("to", ArgValue::Int(i64::try_from(t).unwrap_or(i64::MAX)));
    }
    if let (Some(f), Some(t)) = (from, to) {
        if t < f {
            cx.note("`to` is before `from`");
            return Err(Status::INVAL.into());
        }
    }
    Ok((from, to))
}

/// True while the body handle of the last stream is live and not read to its end.
fn stream_active(s: &Session, active: Option<u32>) -> bool {
    active.is_some_and(|b| {
        s.http
            .bodies
            .get(b)
            .is_some_and(|b| !b.remaining().is_empty() || b.cache_tail.is_some())
    })
}

/// The body of a stored object, as it was found (ERROR when it is gone or replaced).
fn stored_body(s: &Session, f: &Found) -> Result<Vec<u8>, String> {
    let store = s.state.lock();
    match cache::meta(&**store, &f.id) {
        Some(m) if m.inserted_ns == f.meta.inserted_ns => {
            cache::body(&**store, &f.id).ok_or_else(|| "the object's body is gone".to_string())
        }
        _ => Err(
            "the object was evicted, purged or replaced since it was looked up: its body is gone"
                .into(),
        ),
    }
}

/// `get_body` / `replace_get_body`.
fn get_body(
    cx: &mut Cx<'_>,
    h: u32,
    mask: u32,
    opts: u32,
    body_out: u32,
    replace: bool,
) -> HostResult {
    let (found, streaming, active, always) = if replace {
        let r = replace_handle(cx, h)?;
        (
            r.found.clone(),
            None,
            r.active_body,
            r.lookup.always_use_requested_range,
        )
    } else {
        let c = cache_handle(cx, h)?;
        (
            c.found.clone(),
            c.streaming.clone(),
            c.active_body,
            c.lookup.always_use_requested_range,
        )
    };
    let (from, to) = read_range(cx, mask, opts)?;
    if found.is_none() && streaming.is_none() {
        cx.note("the lookup found nothing");
        return Err(Status::NONE.into());
    }
    if stream_active(cx.s, active) {
        cx.note("one stream at a time: read the last body of this handle to its end first");
        return Err(Status::BADF.into());
    }
    cx.mem.write_u32(body_out, INVALID_HANDLE)?;
    let body = match (found, streaming) {
        (Some(f), _) => {
            let bytes = match stored_body(cx.s, &f) {
                Ok(b) => b,
                Err(why) => {
                    cx.note(why);
                    return Err(Status::ERROR.into());
                }
            };
            let (a, b) = select_range(bytes.len() as u64, from, to);
            Body::buffer(bytes[a as usize..b as usize].to_vec())
        }
        (None, Some(live)) => match streamed_body(&live, from, to, always) {
            Ok(b) => b,
            Err(why) => {
                cx.note(why);
                return Err(Status::ERROR.into());
            }
        },
        (None, None) => return Err(Status::NONE.into()),
    };
    let len = body.known_length;
    let Some(bh) = cx.s.http.bodies.insert(body) else {
        return Err(Status::LIMITEXCEEDED.into());
    };
    cx.mem.write_u32(body_out, bh)?;
    if replace {
        if let Some(CacheEntry::Replace(r)) = cx.s.cache.handles.get_mut(h) {
            r.active_body = Some(bh);
        }
    } else if let Some(CacheEntry::Cache(c)) = cx.s.cache.handles.get_mut(h) {
        c.active_body = Some(bh);
    }
    cx.handle_result("body", HandleKind::Body, bh);
    if let Some(l) = len {
        cx.result(
            "length",
            ArgValue::Int(i64::try_from(l).unwrap_or(i64::MAX)),
        );
    }
    Ok(Status::OK.0)
}

/// The body of an object read while it is inserted (`live`): whole once stored, else
/// what is written so far and a tail that follows the writer.
fn streamed_body(
    live: &Arc<Live>,
    from: Option<u64>,
    to: Option<u64>,
    always: bool,
) -> Result<Body, String> {
    match live.ended() {
        Some(Ended::Failed(why)) => return Err(format!("the insert stored nothing: {why}")),
        Some(Ended::Stored(_)) => {
            let bytes = live.bytes();
            let (a, b) = select_range(bytes.len() as u64, from, to);
            return Ok(Body::buffer(bytes[a as usize..b as usize].to_vec()));
        }
        None => {}
    }
    let (start, end) = match live.object.meta.length {
        Some(len) => {
            let (a, b) = select_range(len, from, to);
            (a, Some(b))
        }
        None if always => match (from, to) {
            (Some(f), Some(t)) => (f, Some(t.saturating_add(1))),
            (Some(f), None) => (f, None),
            _ => (0, None),
        },
        None => (0, None),
    };
    let mut body = Body::buffer(Vec::new());
    body.known_length = end.map(|e| e.saturating_sub(start));
    body.cache_tail = Some(CacheTail {
        live: live.clone(),
        pos: start,
        end,
    });
    // What is written so far is in the body at once.
    if let Tail::Failed(why) = take_tail(&mut body) {
        return Err(format!("the insert stored nothing: {why}"));
    }
    Ok(body)
}

/// What [`take_tail`] found.
enum Tail {
    /// Bytes were added to the body, or it has reached its end.
    Ready,
    /// Nothing yet: the writer is still writing.
    Wait,
    /// The insert stored nothing (why): the body ends here.
    Failed(String),
}

/// Move the bytes the insert the body reads has beyond what it took into the body
/// (the tail ends with the insert, or at the end of a range).
fn take_tail(b: &mut Body) -> Tail {
    let Some(t) = b.cache_tail.as_mut() else {
        return Tail::Ready;
    };
    match t.live.read(t.pos, t.end) {
        Read::Bytes(bytes) => {
            t.pos += bytes.len() as u64;
            let done = t.end.is_some_and(|e| t.pos >= e);
            b.data.extend_from_slice(&bytes);
            if done {
                b.cache_tail = None;
            }
            Tail::Ready
        }
        Read::End => {
            b.cache_tail = None;
            Tail::Ready
        }
        Read::Wait => Tail::Wait,
        Read::Failed(why) => {
            b.cache_tail = None;
            b.known_length = None;
            Tail::Failed(why)
        }
    }
}

/// `http_body.read` of a body that reads an insert still being written, when what it
/// holds is used up: the next bytes the writer has; the end once the insert is
/// stored; ERROR when it stored nothing. A read that has caught up with a writer in
/// another execution waits (re-checking on a short timer, never blocking the host);
/// one that has caught up with this execution's own writer answers ERROR, since only
/// the guest, blocked in this read, could write more.
pub(crate) fn read_tail(
    cx: &mut Cx<'_>,
    body: u32,
    buf: u32,
    buf_len: u32,
    nread_out: u32,
) -> HostResult {
    let owner = cx.s.claims.owner();
    let Some(b) = cx.s.http.bodies.get_mut(body) else {
        return Err(Status::BADF.into());
    };
    let writer = b.cache_tail.as_ref().map(|t| t.live.writer);
    match take_tail(b) {
        Tail::Ready => finish_read(&mut cx.mem, cx.s, body, buf, buf_len, nread_out).into_cx(cx),
        Tail::Failed(why) => {
            cx.note(format!("the object's insert stored nothing: {why}"));
            Err(Status::ERROR.into())
        }
        Tail::Wait if writer == Some(owner) => {
            cx.note("this body streams back an insert that this execution is still writing: it has read everything written so far, and more can only come from the guest itself");
            Err(Status::ERROR.into())
        }
        Tail::Wait => {
            cx.note("the object is still being written by another execution: the read waits for its next bytes");
            let recheck = Recheck::start(cx.s);
            cx.suspend(Box::new(Following {
                body,
                buf,
                buf_len,
                nread_out,
                recheck: Some(recheck),
                done: Done::default(),
            }))
        }
    }
}

/// Give the guest up to `buf_len` bytes of the body (0: its end).
fn finish_read(
    mem: &mut GuestMem<'_>,
    s: &mut Session,
    body: u32,
    buf: u32,
    buf_len: u32,
    nread_out: u32,
) -> Completion {
    let Some(b) = s.http.bodies.get_mut(body) else {
        return Completion::status(Status::BADF);
    };
    let chunk = b.read_up_to(buf_len as usize);
    if let Err(e) = mem
        .write(buf, &chunk)
        .and_then(|()| mem.write_u32(nread_out, chunk.len() as u32))
    {
        return Completion::status(Status::INVAL).with_note(e.to_string());
    }
    Completion {
        code: Status::OK.0,
        results: vec![("nread", ArgValue::Int(chunk.len() as i64))],
        note: chunk.is_empty().then(|| "end of body".to_string()),
    }
}

/// A read waiting for the next bytes of an insert another execution is writing.
struct Following {
    body: u32,
    buf: u32,
    buf_len: u32,
    nread_out: u32,
    recheck: Option<Recheck>,
    done: Done,
}

impl Blocked for Following {
    fn poll(&mut self, mem: &mut GuestMem<'_>, s: &mut Session) -> Option<i32> {
        if !self.recheck.as_mut().is_some_and(|r| r.due(s)) {
            return None;
        }
        let c = match s.http.bodies.get_mut(self.body).map(take_tail) {
            Some(Tail::Wait) => return None,
            Some(Tail::Ready) => {
                finish_read(mem, s, self.body, self.buf, self.buf_len, self.nread_out)
            }
            Some(Tail::Failed(why)) => Completion::status(Status::ERROR)
                .with_note(format!("the object's insert stored nothing: {why}")),
            None => Completion::status(Status::BADF),
        };
        if let Some(r) = self.recheck.take() {
            r.stop(s);
        }
        self.done.finish(c)
    }

    fn annotate(&mut self, ev: &mut TraceEvent) {
        self.done.annotate(ev);
    }
}

/// Start an insert: the writer body's handle goes to `body_out`. From now on lookups
/// find the object and read it as it is written ([`crate::cache::stream`]).
fn start_insert(
    cx: &mut Cx<'_>,
    kind: InsertKind,
    key: Vec<u8>,
    opts: WriteOptions,
    claim: bool,
    body_out: u32,
) -> HostResult<(u32, Arc<Live>)> {
    let start_us = cx.s.elapsed_us();
    let now = cx.s.unix_ns();
    let mut writer = Body::buffer(Vec::new());
    writer.known_length = None;
    let Some(bh) = cx.s.http.bodies.insert(writer) else {
        return Err(Status::LIMITEXCEEDED.into());
    };
    if let Err(e) = cx.mem.write_u32(body_out, bh) {
        cx.s.http.bodies.take(bh);
        return Err(e.into());
    }
    let object = cache::unstored(&key, opts.clone(), 0, now);
    let writer = cx.s.streams.start(cx.s.claims.owner(), object);
    let live = writer.live().clone();
    let id = cx.s.cache.add_insert(Insert {
        kind,
        key,
        opts,
        claim,
        body: bh,
        start_us,
        writer,
    });
    if let Some(b) = cx.s.http.bodies.get_mut(bh) {
        b.sink = BodySink::CacheInsert(id);
    }
    cx.handle_result("body", HandleKind::Body, bh);
    Ok((id, live))
}

/// Bytes written (or appended) to the body of the insert `id`: readers of the object
/// get them from now on.
pub(crate) fn insert_write(s: &mut Session, id: u32, bytes: &[u8]) {
    if let Some(ins) = s.cache.inserts.get(&id) {
        ins.writer.write(bytes);
    }
}

/// Whether `more` bytes still fit in the object the insert `id` writes
/// ([`cache::MAX_OBJECT_BYTES`]).
pub(crate) fn insert_fits(s: &Session, id: u32, more: usize) -> bool {
    s.cache.inserts.get(&id).is_none_or(|ins| {
        ins.writer.live().written().saturating_add(more as u64) <= cache::MAX_OBJECT_BYTES
    })
}

/// The insert `id` ends: stored with `bytes` (`Ok`) or not (`Err(why)`); its readers
/// read to the end or fail, its claim is released and its span recorded. The status
/// its body's close answers.
fn end_insert(s: &mut Session, id: u32, bytes: Result<Vec<u8>, String>) -> Completion {
    let Some(mut ins) = s.cache.inserts.remove(&id) else {
        return Completion::status(Status::BADF);
    };
    let (kind, key, opts, claim, start_us) = (
        ins.kind,
        ins.key.clone(),
        ins.opts.clone(),
        ins.claim,
        ins.start_us,
    );
    let mut args = vec![("max_age", ArgValue::Str(human_ns(opts.max_age_ns)))];
    let (ended, code, outcome, note) = match bytes {
        Err(why) => (
            Ended::Failed(why.clone()),
            Status::OK,
            "abandoned",
            Some(why),
        ),
        Ok(bytes) => {
            args.push(("size", ArgValue::Int(bytes.len() as i64)));
            match opts.length {
                Some(l) if l != bytes.len() as u64 => {
                    let why = format!(
                        "the insert announced {l} bytes but {} were written: nothing is stored",
                        bytes.len()
                    );
                    (
                        Ended::Failed(why.clone()),
                        Status::ERROR,
                        "length_mismatch",
                        Some(why),
                    )
                }
                _ => {
                    let now = s.unix_ns();
                    let limits = cache::Limits::from(&s.config.cache);
                    let size = bytes.len();
                    let stored =
                        cache::insert(&mut **s.state.lock(), &key, opts, bytes, now, limits);
                    match stored {
                        Some(found) => (Ended::Stored(Box::new(found)), Status::OK, "stored", None),
                        None => {
                            let why = format!(
                                "{size} bytes is more than the cache holds (an object is at most {} bytes, the cache {} bytes): nothing is stored",
                                cache::MAX_OBJECT_BYTES.min(limits.max_bytes),
                                limits.max_bytes
                            );
                            (
                                Ended::Failed(why.clone()),
                                Status::OK,
                                "not_stored",
                                Some(why),
                            )
                        }
                    }
                }
            }
        }
    };
    ins.writer.end(ended);
    let mut note = note;
    if claim {
        let claims = &s.claims;
        if s.cache.release(claims, &key) {
            let released = "the key's claim is released: waiting executions look again";
            note = Some(match note {
                Some(n) => format!("{n}; {released}"),
                None => released.to_string(),
            });
        }
    }
    span(s, kind.name(), &key, start_us, outcome, args, note.clone());
    let mut c = Completion::status(code);
    c.note = note;
    c
}

/// `http_body.close` of a cache insert's body: the object is stored (once a backend
/// body appended to it has arrived whole; its bytes reach readers as they arrive).
pub(crate) fn insert_body_closed(cx: &mut Cx<'_>, id: u32, mut b: Body) -> HostResult {
    let rest = b.take_remaining();
    insert_write(cx.s, id, &rest);
    if let Some(incoming) = b.incoming {
        let read = match incoming.read {
            Some(r) => r,
            None => cx.s.start_work(WorkKind::FetchBodyRead {
                fetch: incoming.fetch,
            }),
        };
        cx.note(
            "the object's body is a backend body still arriving: the insert waits for all of it",
        );
        return cx.suspend(Box::new(Draining {
            id,
            fetch: incoming.fetch,
            read,
            done: Done::default(),
        }));
    }
    let bytes = written(cx.s, id);
    end_insert(cx.s, id, Ok(bytes)).into_cx(cx)
}

/// Every byte written to the insert `id`.
fn written(s: &Session, id: u32) -> Vec<u8> {
    s.cache
        .inserts
        .get(&id)
        .map(|i| i.writer.live().bytes())
        .unwrap_or_default()
}

/// `http_body.abandon` of a cache insert's body: nothing is stored.
pub(crate) fn insert_body_abandoned(cx: &mut Cx<'_>, id: u32) -> HostResult {
    let c = end_insert(
        cx.s,
        id,
        Err("the insert's body was abandoned: nothing is stored".into()),
    );
    c.into_cx(cx)
}

/// A close waiting until the backend body appended to an insert has arrived whole.
struct Draining {
    id: u32,
    fetch: WorkId,
    read: WorkId,
    done: Done,
}

impl Blocked for Draining {
    fn poll(&mut self, _: &mut GuestMem<'_>, s: &mut Session) -> Option<i32> {
        let result = match s.work.take_result(self.read)? {
            WorkResult::BodyChunk { bytes, end } => {
                insert_write(s, self.id, &bytes);
                let size = s
                    .cache
                    .inserts
                    .get(&self.id)
                    .map_or(0, |i| i.writer.live().written());
                if !end && size <= cache::MAX_OBJECT_BYTES {
                    self.read = s.start_work(WorkKind::FetchBodyRead { fetch: self.fetch });
                    return None;
                }
                Ok(written(s, self.id))
            }
            WorkResult::FetchFailed(e) => Err(format!(
                "the backend body broke off ({}): nothing is stored",
                e.message
            )),
            _ => Err("internal error: a body read got another answer".into()),
        };
        let c = end_insert(s, self.id, result);
        self.done.finish(c)
    }

    fn annotate(&mut self, ev: &mut TraceEvent) {
        self.done.annotate(ev);
    }
}

/// The execution ended: inserts still open store nothing (their readers' next read
/// fails), and every claim it holds is released so waiting executions go on.
pub(crate) fn end_of_execution(s: &mut Session) {
    let open: Vec<u32> = s.cache.inserts.keys().copied().collect();
    for id in open {
        end_insert(
            s,
            id,
            Err("the guest ended without finishing the insert's body: nothing is stored".into()),
        );
    }
    let held: Vec<Vec<u8>> = s.cache.held().cloned().collect();
    s.cache.clear_held();
    s.claims.release_all();
    for key in held {
        let mut ev = s.event(EventKind::Lifecycle, "cache", "claim-released");
        ev.args
            .push((Cow::Borrowed("key"), ArgValue::text_or_bytes(&key)));
        ev.note = Some(
            "the guest ended holding the obligation to insert or update this key: it is released, and waiting executions look again"
                .into(),
        );
        s.push_event(ev);
    }
}

/// Read `cache_replace_options` (16 bytes: request_headers@0, replace_strategy@4,
/// service ptr@8 len@12).
fn read_replace(
    cx: &mut Cx<'_>,
    key_ptr: u32,
    key_len: u32,
    mask: u32,
    opts: u32,
) -> HostResult<(LookupRequest, ReplaceStrategy)> {
    let key = read_key(cx, key_ptr, key_len)?;
    check_mask(cx, mask, replace_bits::ALL)?;
    let mut req = LookupRequest {
        key,
        ..LookupRequest::default()
    };
    if mask & replace_bits::REQUEST_HEADERS != 0 {
        req.headers = read_request_headers(cx, opts)?;
    }
    let mut strategy = ReplaceStrategy::Immediate;
    if mask & replace_bits::REPLACE_STRATEGY != 0 {
        strategy = match cx.mem.read_u32(at(cx, opts, 4)?)? {
            1 => ReplaceStrategy::Immediate,
            2 => ReplaceStrategy::ImmediateForceMiss,
            3 => ReplaceStrategy::Wait,
            other => {
                cx.note(format!("{other} is not a replace strategy (1, 2 or 3)"));
                return Err(Status::INVAL.into());
            }
        };
    }
    cx.arg("strategy", ArgValue::Enum(strategy.name().into()));
    if mask & replace_bits::SERVICE != 0 {
        check_service(cx, at(cx, opts, 8)?)?;
    }
    if mask & replace_bits::ALWAYS_USE_REQUESTED_RANGE != 0 {
        req.always_use_requested_range = true;
        cx.arg("always_use_requested_range", ArgValue::Int(1));
    }
    Ok((req, strategy))
}

/// Begin a replace: the replace handle to `out`.
fn begin_replace(
    mem: &mut GuestMem<'_>,
    s: &mut Session,
    req: LookupRequest,
    strategy: ReplaceStrategy,
    out: u32,
    start_us: f64,
) -> Completion {
    let (found, flags) = look(s, &req, false);
    span(
        s,
        "replace",
        &req.key,
        start_us,
        outcome(flags),
        vec![
            ("state", flags_arg(flags)),
            ("strategy", ArgValue::Enum(strategy.name().into())),
        ],
        None,
    );
    let entry = CacheEntry::Replace(ReplaceHandle {
        lookup: req,
        found,
        state: flags,
        strategy,
        active_body: None,
    });
    match give_handle(mem, s, entry, out) {
        Ok(h) => Completion {
            code: Status::OK.0,
            results: vec![
                (
                    "handle",
                    ArgValue::Handle {
                        kind: HandleKind::CacheReplace,
                        handle: h,
                    },
                ),
                ("state", flags_arg(flags)),
            ],
            note: None,
        },
        Err(e) => Completion::status(e),
    }
}

/// Link `fastly_cache`.
pub(crate) fn link(reg: &mut Registry) -> Result<(), wasmi::errors::LinkerError> {
    super::hostcalls! { reg;
        ["fastly_cache" :: "lookup"]
        fn(cx, key_ptr: u32, key_len: u32, options_mask: u32, options: u32, cache_handle_out: u32) -> i32 {
            let req = read_lookup(cx, key_ptr, key_len, options_mask, options)?;
            cx.mem.write_u32(cache_handle_out, INVALID_HANDLE)?;
            let start_us = cx.s.elapsed_us();
            let (found, flags) = look(cx.s, &req, true);
            // Nothing usable stored: an insert under way is found, read as it is written.
            let live = if flags & st::USABLE == 0 { live_object(cx.s, &req) } else { None };
            let (c, flags) = match live {
                Some((live, flags)) => {
                    span(cx.s, "lookup", &req.key, start_us, "streaming", vec![("state", flags_arg(flags))], Some(LIVE_NOTE.into()));
                    cx.note(LIVE_NOTE);
                    (live_handle(req, live, flags, false), flags)
                }
                None => {
                    span(cx.s, "lookup", &req.key, start_us, outcome(flags), vec![("state", flags_arg(flags))], None);
                    (lookup_handle(req, found, flags, false), flags)
                }
            };
            let h = give_handle(&mut cx.mem, cx.s, CacheEntry::Cache(c), cache_handle_out)?;
            cx.handle_result("handle", HandleKind::Cache, h);
            cx.result("state", flags_arg(flags));
            Ok(Status::OK.0)
        }

        ["fastly_cache" :: "insert"]
        fn(cx, key_ptr: u32, key_len: u32, options_mask: u32, options: u32, body_handle_out: u32) -> i32 {
            let key = read_key(cx, key_ptr, key_len)?;
            let opts = read_write(cx, options_mask, options, WriteOptions::default(), &crate::http::Headers::new())?;
            cx.mem.write_u32(body_handle_out, INVALID_HANDLE)?;
            start_insert(cx, InsertKind::Insert, key, opts, false, body_handle_out)?;
            Ok(Status::OK.0)
        }

        ["fastly_cache" :: "transaction_lookup"]
        fn(cx, key_ptr: u32, key_len: u32, options_mask: u32, options: u32, cache_handle_out: u32) -> i32 {
            let req = read_lookup(cx, key_ptr, key_len, options_mask, options)?;
            cx.mem.write_u32(cache_handle_out, INVALID_HANDLE)?;
            let start_us = cx.s.elapsed_us();
            let first = attempt(cx.s, &req);
            wait_or_take_over(cx, first, req, cache_handle_out, start_us, "transaction_lookup")
        }

        ["fastly_cache" :: "transaction_lookup_async"]
        fn(cx, key_ptr: u32, key_len: u32, options_mask: u32, options: u32, busy_handle_out: u32) -> i32 {
            let req = read_lookup(cx, key_ptr, key_len, options_mask, options)?;
            cx.mem.write_u32(busy_handle_out, INVALID_HANDLE)?;
            if cx.s.pending.async_items.len() >= crate::session::MAX_HANDLES {
                return Err(Status::LIMITEXCEEDED.into());
            }
            let start_us = cx.s.elapsed_us();
            let resolved = match attempt(cx.s, &req) {
                Attempt::Done(c) => Some(*c),
                Attempt::Wait => {
                    cx.note("another execution is inserting this key: the busy handle is ready once its insert starts or the key is released");
                    None
                }
                Attempt::SelfWait => {
                    cx.note("another transaction of this execution holds this key: the busy handle is ready once its insert starts or it lets go (waiting on this handle alone takes the obligation over)");
                    None
                }
            };
            let ready = resolved.is_some();
            let item = AsyncItem::CacheBusy(Box::new(CacheBusy { lookup: req, resolved, start_us }));
            let Some(h) = cx.s.insert_async(item) else {
                return Err(Status::LIMITEXCEEDED.into());
            };
            if let Err(e) = cx.mem.write_u32(busy_handle_out, h) {
                close_busy(cx.s, h);
                return Err(e.into());
            }
            cx.handle_result("busy", HandleKind::CacheBusy, h);
            cx.result("ready", ArgValue::Int(i64::from(ready)));
            Ok(Status::OK.0)
        }

        ["fastly_cache" :: "cache_busy_handle_wait"]
        fn(cx, busy_handle: u32, cache_handle_out: u32) -> i32 {
            cx.handle_arg("busy", HandleKind::CacheBusy, busy_handle);
            if !matches!(cx.s.pending.async_items.get(&busy_handle), Some(AsyncItem::CacheBusy(_))) {
                return Err(Status::BADF.into());
            }
            cx.mem.write_u32(cache_handle_out, INVALID_HANDLE)?;
            let Some(AsyncItem::CacheBusy(b)) = cx.s.pending.async_items.remove(&busy_handle) else {
                return Err(Status::BADF.into());
            };
            let CacheBusy { lookup, resolved, start_us } = *b;
            let op = "transaction_lookup_async";
            if let Some(c) = resolved {
                return finish_tx(&mut cx.mem, cx.s, c, cache_handle_out, start_us, false, op).into_cx(cx);
            }
            let first = attempt(cx.s, &lookup);
            wait_or_take_over(cx, first, lookup, cache_handle_out, start_us, op)
        }

        ["fastly_cache" :: "close_busy"]
        fn(cx, busy_handle: u32) -> i32 {
            cx.handle_arg("busy", HandleKind::CacheBusy, busy_handle);
            if !close_busy(cx.s, busy_handle) {
                return Err(Status::BADF.into());
            }
            Ok(Status::OK.0)
        }

        ["fastly_cache" :: "transaction_insert"]
        fn(cx, handle: u32, options_mask: u32, options: u32, body_handle_out: u32) -> i32 {
            tx_insert(cx, handle, options_mask, options, body_handle_out, None)
        }

        ["fastly_cache" :: "transaction_insert_and_stream_back"]
        fn(cx, handle: u32, options_mask: u32, options: u32, body_handle_out: u32, cache_handle_out: u32) -> i32 {
            tx_insert(cx, handle, options_mask, options, body_handle_out, Some(cache_handle_out))
        }

        ["fastly_cache" :: "transaction_update"]
        fn(cx, handle: u32, options_mask: u32, options: u32) -> i32 {
            let c = cache_handle(cx, handle)?;
            let (obliged, found, headers, key) = (c.obligation, c.found.clone(), c.lookup.headers.clone(), c.lookup.key.clone());
            if !obliged {
                cx.note("this handle does not hold the obligation to insert or update (MUST_INSERT_OR_UPDATE)");
                return Err(Status::BADF.into());
            }
            let Some(found) = found else {
                cx.note("nothing was found to update: insert instead");
                return Err(Status::BADF.into());
            };
            let m = &found.meta;
            let base = WriteOptions {
                swr_ns: m.swr_ns,
                sie_ns: m.sie_ns,
                surrogate_keys: m.surrogate_keys.clone(),
                user_metadata: m.user_metadata.clone(),
                sensitive: m.sensitive,
                length: m.length,
                ..WriteOptions::default()
            };
            let opts = read_write(cx, options_mask, options, base, &headers)?;
            let start_us = cx.s.elapsed_us();
            let now = cx.s.unix_ns();
            let updated = cache::update(&mut **cx.s.state.lock(), &found.id, opts.clone(), now);
            let Some(updated) = updated else {
                cx.note("the object was evicted or purged since it was looked up: insert instead");
                span(cx.s, "transaction_update", &key, start_us, "gone", Vec::new(), None);
                return Err(Status::ERROR.into());
            };
            let flags = flags_for(&updated.meta, now);
            if let Some(CacheEntry::Cache(c)) = cx.s.cache.handles.get_mut(handle) {
                c.obligation = false;
                c.state &= !st::MUST_INSERT_OR_UPDATE;
            }
            let claims = &cx.s.claims;
            cx.s.cache.release(claims, &key);
            span(cx.s, "transaction_update", &key, start_us, "updated",
                vec![("max_age", ArgValue::Str(human_ns(opts.max_age_ns)))],
                Some("the key's claim is released: waiting executions look again".into()));
            cx.result("state", flags_arg(flags));
            Ok(Status::OK.0)
        }

        ["fastly_cache" :: "transaction_cancel"]
        fn(cx, handle: u32) -> i32 {
            let c = cache_handle(cx, handle)?;
            if !c.obligation {
                cx.note("nothing to cancel: this handle holds no obligation");
                return Ok(Status::OK.0);
            }
            c.obligation = false;
            c.state &= !st::MUST_INSERT_OR_UPDATE;
            let key = c.lookup.key.clone();
            let claims = &cx.s.claims;
            cx.s.cache.release(claims, &key);
            cx.note("the key's claim is released: waiting executions look again");
            Ok(Status::OK.0)
        }

        ["fastly_cache" :: "close"]
        fn(cx, handle: u32) -> i32 {
            cx.handle_arg("handle", HandleKind::Cache, handle);
            match cx.s.cache.handles.take(handle) {
                Some(CacheEntry::Cache(c)) => {
                    if drop_handle(cx.s, c) {
                        cx.note("closed without inserting or updating: the key's claim is released, waiting executions look again");
                    }
                    Ok(Status::OK.0)
                }
                Some(CacheEntry::Replace(_)) => {
                    cx.handle_arg("handle", HandleKind::CacheReplace, handle);
                    Ok(Status::OK.0)
                }
                None => Err(Status::BADF.into()),
            }
        }

        ["fastly_cache" :: "get_state"]
        fn(cx, handle: u32, cache_lookup_state_out: u32) -> i32 {
            get_state(cx, handle, cache_lookup_state_out, false)
        }

        ["fastly_cache" :: "get_user_metadata"]
        fn(cx, handle: u32, user_metadata_out_ptr: u32, user_metadata_out_len: u32, nwritten_out: u32) -> i32 {
            get_user_metadata(cx, handle, user_metadata_out_ptr, user_metadata_out_len, nwritten_out, false)
        }

        ["fastly_cache" :: "get_body"]
        fn(cx, handle: u32, options_mask: u32, options: u32, body_handle_out: u32) -> i32 {
            get_body(cx, handle, options_mask, options, body_handle_out, false)
        }

        ["fastly_cache" :: "get_length"]
        fn(cx, handle: u32, length_out: u32) -> i32 {
            get_u64(cx, handle, length_out, false, "length", |v| v.length, false)
        }

        ["fastly_cache" :: "get_max_age_ns"]
        fn(cx, handle: u32, duration_out: u32) -> i32 {
            get_u64(cx, handle, duration_out, false, "max_age", |v| Some(v.max_age_ns), true)
        }

        ["fastly_cache" :: "get_stale_while_revalidate_ns"]
        fn(cx, handle: u32, duration_out: u32) -> i32 {
            get_u64(cx, handle, duration_out, false, "stale_while_revalidate", |v| Some(v.swr_ns), true)
        }

        ["fastly_cache" :: "get_age_ns"]
        fn(cx, handle: u32, duration_out: u32) -> i32 {
            get_u64(cx, handle, duration_out, false, "age", |v| Some(v.age_ns), true)
        }

        ["fastly_cache" :: "get_hits"]
        fn(cx, handle: u32, hits_out: u32) -> i32 {
            get_u64(cx, handle, hits_out, false, "hits", |v| Some(v.hits), false)
        }

        ["fastly_cache" :: "replace"]
        fn(cx, key_ptr: u32, key_len: u32, options_mask: u32, options: u32, cache_handle_out: u32) -> i32 {
            let (req, strategy) = read_replace(cx, key_ptr, key_len, options_mask, options)?;
            cx.mem.write_u32(cache_handle_out, INVALID_HANDLE)?;
            let start_us = cx.s.elapsed_us();
            if strategy == ReplaceStrategy::Wait && cx.s.claims.busy(&req.key) {
                cx.note("strategy wait: another execution is inserting this key, the replace waits for it");
                let key = req.key.clone();
                return wait_for_claim(cx, key, Box::new(move |mem, s| {
                    Some(begin_replace(mem, s, req.clone(), strategy, cache_handle_out, start_us))
                }));
            }
            begin_replace(&mut cx.mem, cx.s, req, strategy, cache_handle_out, start_us).into_cx(cx)
        }

        ["fastly_cache" :: "replace_insert"]
        fn(cx, handle: u32, options_mask: u32, options: u32, body_handle_out: u32) -> i32 {
            let r = replace_handle(cx, handle)?;
            let headers = r.lookup.headers.clone();
            let opts = read_write(cx, options_mask, options, WriteOptions::default(), &headers)?;
            cx.mem.write_u32(body_handle_out, INVALID_HANDLE)?;
            let Some(CacheEntry::Replace(r)) = cx.s.cache.handles.take(handle) else {
                return Err(Status::BADF.into());
            };
            if r.strategy == ReplaceStrategy::ImmediateForceMiss {
                if let Some(f) = &r.found {
                    cache::remove(&mut **cx.s.state.lock(), &f.id);
                    cx.note("strategy immediate_force_miss: the old object is removed now; lookups find only the new one, read as it is written");
                }
            }
            start_insert(cx, InsertKind::Replace, r.lookup.key, opts, false, body_handle_out)?;
            Ok(Status::OK.0)
        }

        ["fastly_cache" :: "replace_get_age_ns"]
        fn(cx, handle: u32, duration_out: u32) -> i32 {
            get_u64(cx, handle, duration_out, true, "age", |v| Some(v.age_ns), true)
        }

        ["fastly_cache" :: "replace_get_body"]
        fn(cx, handle: u32, options_mask: u32, options: u32, body_handle_out: u32) -> i32 {
            get_body(cx, handle, options_mask, options, body_handle_out, true)
        }

        ["fastly_cache" :: "replace_get_hits"]
        fn(cx, handle: u32, hits_out: u32) -> i32 {
            get_u64(cx, handle, hits_out, true, "hits", |v| Some(v.hits), false)
        }

        ["fastly_cache" :: "replace_get_length"]
        fn(cx, handle: u32, length_out: u32) -> i32 {
            get_u64(cx, handle, length_out, true, "length", |v| v.length, false)
        }

        ["fastly_cache" :: "replace_get_max_age_ns"]
        fn(cx, handle: u32, duration_out: u32) -> i32 {
            get_u64(cx, handle, duration_out, true, "max_age", |v| Some(v.max_age_ns), true)
        }

        ["fastly_cache" :: "replace_get_stale_while_revalidate_ns"]
        fn(cx, handle: u32, duration_out: u32) -> i32 {
            get_u64(cx, handle, duration_out, true, "stale_while_revalidate", |v| Some(v.swr_ns), true)
        }

        ["fastly_cache" :: "replace_get_state"]
        fn(cx, handle: u32, cache_lookup_state_out: u32) -> i32 {
            get_state(cx, handle, cache_lookup_state_out, true)
        }

        ["fastly_cache" :: "replace_get_user_metadata"]
        fn(cx, handle: u32, user_metadata_out_ptr: u32, user_metadata_out_len: u32, nwritten_out: u32) -> i32 {
            get_user_metadata(cx, handle, user_metadata_out_ptr, user_metadata_out_len, nwritten_out, true)
        }
    }
    Ok(())
}

/// Close the busy handle `h` (an obligation its resolved lookup holds is released).
/// False when it is not a busy handle.
fn close_busy(s: &mut Session, h: u32) -> bool {
    if !matches!(s.pending.async_items.get(&h), Some(AsyncItem::CacheBusy(_))) {
        return false;
    }
    if let Some(AsyncItem::CacheBusy(b)) = s.pending.async_items.remove(&h) {
        if let Some(c) = b.resolved {
            drop_handle(s, c);
        }
    }
    true
}

/// `transaction_insert` (and, with `stream_back_out`, `_and_stream_back`).
fn tx_insert(
    cx: &mut Cx<'_>,
    handle: u32,
    mask: u32,
    opts_ptr: u32,
    body_out: u32,
    stream_back_out: Option<u32>,
) -> HostResult {
    let c = cache_handle(cx, handle)?;
    if !c.obligation {
        cx.note("this handle does not hold the obligation to insert (MUST_INSERT_OR_UPDATE)");
        return Err(Status::BADF.into());
    }
    let (key, headers, always) = (
        c.lookup.key.clone(),
        c.lookup.headers.clone(),
        c.lookup.always_use_requested_range,
    );
    let opts = read_write(cx, mask, opts_ptr, WriteOptions::default(), &headers)?;
    cx.mem.write_u32(body_out, INVALID_HANDLE)?;
    if let Some(out) = stream_back_out {
        cx.mem.write_u32(out, INVALID_HANDLE)?;
    }
    let (_, live) = start_insert(
        cx,
        InsertKind::Transaction,
        key.clone(),
        opts,
        true,
        body_out,
    )?;
    // The obligation (and its claim) moves to the insert.
    if let Some(CacheEntry::Cache(c)) = cx.s.cache.handles.get_mut(handle) {
        c.obligation = false;
        c.state &= !st::MUST_INSERT_OR_UPDATE;
    }
    if let Some(out) = stream_back_out {
        let back = CacheHandle {
            lookup: LookupRequest {
                key,
                headers,
                always_use_requested_range: always,
            },
            found: None,
            state: st::FOUND | st::USABLE | st::USABLE_IF_ERROR,
            transactional: false,
            obligation: false,
            streaming: Some(live),
            active_body: None,
        };
        let h = give_handle(&mut cx.mem, cx.s, CacheEntry::Cache(back), out)?;
        cx.handle_result("stream_back", HandleKind::Cache, h);
    }
    Ok(Status::OK.0)
}
