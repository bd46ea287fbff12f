//! `fastly_http_cache`: the HTTP cache API, on the service's cache engine
//! ([`crate::cache`]): the objects it stores are the readthrough cache's (`Kind::Http`
//! with a [`StoredResponse`]), under the same keys ([`policy::request_key`]), with
//! freshness and storability from the same rules ([`policy::response_policy`]).
//!
//! `is_request_cacheable` picks the SDKs' caching path. It answers, as on the
//! platform, so every GET/HEAD `send` of a Rust guest (and `fetch` of a JS guest
//! built with `--enable-http-cache`) runs the transaction below; a backend body still
//! arriving streams back to the guest while it is stored. A service can turn the API
//! off (`[local_server.cache] http_cache_api = false`): then it answers UNSUPPORTED
//! and the SDKs send plainly and leave caching to the host's readthrough cache. The
//! other 25 calls work either way, for guests that call them directly.
//!
//! A guest's send through the API gets the backend trace event a readthrough send
//! gets, with the same `cache` outcome: `HIT`/`STALE`/`COLLAPSED` when
//! `get_found_response` answers it, `MISS` on the fetch of the suggested backend
//! request, `STALE` on a background revalidation, `PASS` when the lookup leaves
//! the request to be sent as it is.
//!
//! A lookup is an async item ([`HttpCacheTx`], in the `async_io` number space, so the
//! SDKs' `is_ready`/`select` take it). What it finds, as the platform has it:
//!
//! - a hit-for-pass marker (`transaction_record_not_cacheable`): nothing, and no
//!   obligation, so the SDK sends the request uncached;
//! - a fresh object: FOUND | USABLE (a hit is counted);
//! - a stale object within stale-while-revalidate: FOUND | USABLE | STALE, and the
//!   first such transaction also gets MUST_INSERT_OR_UPDATE (the SDK revalidates in
//!   the background);
//! - a stale object past it, or nothing: the transaction claims the key
//!   ([`crate::cache::collapse`]) and gets MUST_INSERT_OR_UPDATE (plus
//!   USABLE_IF_ERROR while the stale object is within stale-if-error); when another
//!   execution holds the claim, the lookup waits (request collapsing) and is re-tried
//!   on a short timer ([`super::claim`]) until the holder has stored the object
//!   (then it is a hit) or given up (then it claims the key itself). A request that
//!   came through the service itself (its `cdn-loop` carries edgeplay's token) does
//!   not wait: the holder may be waiting for it (a service fetching itself), so it is
//!   sent uncached.
//!
//! The obligation ends with `transaction_insert*` (when its body is closed),
//! `transaction_update*`, `choose_stale`, `record_not_cacheable`, `abandon`, or
//! `close`; a claim never outlives the execution (the session's
//! [`crate::cache::collapse::Claims`] releases it).
//!
//! The cache stores whole objects: the suggested backend request drops the
//! client's `Range`, and `get_found_response` with `transform_for_client` answers
//! a one-range `Range` from the stored object (206, or 416 when unsatisfiable; see
//! [`policy::for_client_range`]).
//!
//! `prepare_response_for_storage` decides the storage action: a 304 answering a
//! revalidation is Update (the stored response with the 304's headers), a `HEAD` is
//! DoNotStore (no body to store), a status the platform does not cache is DoNotStore,
//! and `private`, `no-store`, `Set-Cookie` or `Vary: *` is RecordUncacheable; anything
//! else is Insert. It returns a new response handle (the SDK closes the one it
//! passed), without `Surrogate-Control` (the suggested options still take their
//! lifetime from it). The `lookup` call is the
//! deprecated non-transactional twin: it never claims or waits.
//!
//! Statuses: a bad handle, or an operation the transaction has no obligation for, is
//! BADF (the SDK's `InvalidOperation`); an unknown backend name INVAL (`InvalidBackend`);
//! unknown option bits, a cache key over 4096 bytes, a vary rule over 8 headers INVAL;
//! a getter or `get_found_response` with nothing (usable) found NONE.

use super::claim;
use super::completion::{Completion, INVALID_HANDLE};
use super::{Cx, Fault, HostResult, Registry};
use crate::cache::{self, policy, Limits, StoredResponse, WriteOptions};
use crate::http::{HttpVersion, RequestParts, ResponseParts};
use crate::memory::GuestMem;
use crate::pending::readthrough::{self, outcome};
use crate::session::{
    cache_state as state, AsyncItem, Blocked, Body, BodySink, CacheInsert, FoundObject,
    HttpCacheTx, Session, WorkId, WorkKind, WorkResult,
};
use crate::status::Status;
use crate::trace::{ArgValue, HandleKind, TraceEvent};

/// `http_cache_lookup_options_mask` bits.
mod lookup_bits {
    pub const RESERVED: u32 = 1 << 0;
    pub const OVERRIDE_KEY: u32 = 1 << 1;
    pub const BACKEND_NAME: u32 = 1 << 2;
    pub const ALL: u32 = RESERVED | OVERRIDE_KEY | BACKEND_NAME;
}

/// `http_cache_write_options_mask` bits.
pub mod write_bits {
    /// Reserved.
    pub const RESERVED: u32 = 1 << 0;
    /// `vary_rule_ptr`/`_len`.
    pub const VARY_RULE: u32 = 1 << 1;
    /// `initial_age_ns`.
    pub const INITIAL_AGE_NS: u32 = 1 << 2;
    /// `stale_while_revalidate_ns`.
    pub const STALE_WHILE_REVALIDATE_NS: u32 = 1 << 3;
    /// `surrogate_keys_ptr`/`_len`.
    pub const SURROGATE_KEYS: u32 = 1 << 4;
    /// `length`.
    pub const LENGTH: u32 = 1 << 5;
    /// The object is sensitive (PCI).
    pub const SENSITIVE_DATA: u32 = 1 << 6;
    /// `stale_if_error_ns`.
    pub const STALE_IF_ERROR_NS: u32 = 1 << 7;
    /// Every bit the ABI defines.
    pub const ALL: u32 = 0xFF;
}

/// `http_storage_action` values.
pub mod action {
    /// Insert the response.
    pub const INSERT: u32 = 0;
    /// Update the stored response's headers and freshness.
    pub const UPDATE: u32 = 1;
    /// Do not store it (waiters retry one at a time).
    pub const DO_NOT_STORE: u32 = 2;
    /// Record that it is not cacheable (hit-for-pass).
    pub const RECORD_UNCACHEABLE: u32 = 3;
}

/// Offsets in `http_cache_write_options` (wasm32 layout, 56 bytes).
mod wo {
    pub const MAX_AGE: u32 = 0;
    pub const VARY_PTR: u32 = 8;
    pub const VARY_LEN: u32 = 12;
    pub const INITIAL_AGE: u32 = 16;
    pub const SWR: u32 = 24;
    pub const SK_PTR: u32 = 32;
    pub const SK_LEN: u32 = 36;
    pub const LENGTH: u32 = 40;
    pub const SIE: u32 = 48;
    pub const SIZE: u32 = 56;
}

fn action_name(a: u32) -> &'static str {
    match a {
        action::INSERT => "insert",
        action::UPDATE => "update",
        action::DO_NOT_STORE => "do_not_store",
        _ => "record_uncacheable",
    }
}

/// Names of the set `cache_lookup_state` bits, for the trace.
fn state_names(bits: u32) -> String {
    let names = state::names(bits);
    if names.is_empty() {
        "none".into()
    } else {
        names.join("|")
    }
}

// ---------------------------------------------------------------------------------
// Transactions

fn tx_ref(s: &Session, h: u32) -> Result<&HttpCacheTx, Fault> {
    match s.pending.async_items.get(&h) {
        Some(AsyncItem::HttpCache(tx)) => Ok(tx),
        _ => Err(Status::BADF.into()),
    }
}

fn tx_mut(s: &mut Session, h: u32) -> Result<&mut HttpCacheTx, Fault> {
    match s.pending.async_items.get_mut(&h) {
        Some(AsyncItem::HttpCache(tx)) => Ok(tx),
        _ => Err(Status::BADF.into()),
    }
}

/// Record a cache handle argument and check it is one.
fn tx_arg(cx: &mut Cx<'_>, h: u32) -> HostResult<()> {
    cx.handle_arg("cache", HandleKind::AsyncItem, h);
    tx_ref(cx.s, h).map(|_| ())
}

/// Look `tx` up (again): see the module doc for what it finds. A settled transaction
/// with nothing usable and no obligation is a pass: the SDK sends the looked-up
/// request as it is, and its backend event says so.
fn attempt(s: &mut Session, tx: &mut HttpCacheTx) {
    look(s, tx);
    if tx.waiting {
        tx.collapsed = true;
    } else if tx.transactional && usable(tx).is_none() && !tx.must_insert_or_update {
        s.pending.guest_cache_sends.insert(tx.req, outcome::PASS);
    }
}

/// One look of [`attempt`].
fn look(s: &mut Session, tx: &mut HttpCacheTx) {
    let now = s.unix_ns();
    let mut st = s.state.lock();
    if cache::is_uncacheable(&mut **st, &tx.key, &tx.request.headers, now) {
        tx.waiting = false;
        tx.uncacheable = true;
        tx.outcome = "pass: responses for this key were recorded as not cacheable (hit-for-pass)";
        return;
    }
    let found = cache::lookup(&mut **st, &tx.key, &tx.request.headers, now).and_then(|f| {
        let body = cache::body(&**st, &f.id)?;
        let fr = f.meta.freshness(now);
        f.meta.response.as_ref()?;
        Some(FoundObject {
            found: f,
            body,
            fresh: fr.fresh,
            within_swr: fr.within_swr,
            usable_if_error: fr.usable_if_error,
            stream: None,
        })
    });
    let usable = found.as_ref().is_some_and(|o| o.fresh || o.within_swr);
    let fresh = found.as_ref().is_some_and(|o| o.fresh);
    // Another transaction of this execution holds the key: wait for it too (the
    // guest may drive it to its insert), as for another execution's.
    let mine = s.claims.holds(&tx.key);
    tx.self_wait = false;
    if tx.transactional && !fresh {
        let claim = if mine {
            cache::collapse::Claim::Busy
        } else {
            s.claims.claim(&tx.key)
        };
        match claim {
            cache::collapse::Claim::Won => tx.must_insert_or_update = true,
            cache::collapse::Claim::Busy if usable => {}
            // A request that came through this service (its own `cdn-loop` token) may
            // be the very fetch the claim holder waits for: waiting would deadlock.
            cache::collapse::Claim::Busy
                if !mine && crate::backends::loop_hops(&s.downstream.request.headers) > 0 =>
            {
                tx.waiting = false;
                tx.found = None;
                tx.outcome = "not collapsed: this request came through the service itself (cdn-loop), and the claim holder may be waiting for it; it goes to the origin uncached";
                return;
            }
            cache::collapse::Claim::Busy if mine => {
                tx.waiting = true;
                tx.self_wait = true;
                tx.outcome = "collapsed: another transaction of this execution is fetching this object; waiting for it";
                return;
            }
            cache::collapse::Claim::Busy => {
                tx.waiting = true;
                tx.outcome = "collapsed: another execution is fetching this object; waiting for it";
                return;
            }
        }
    }
    tx.waiting = false;
    tx.found = found;
    if let Some(o) = tx.found.as_mut() {
        if usable {
            cache::record_hit(&mut **st, &mut o.found, now);
        }
    }
    tx.outcome = match (&tx.found, usable, tx.must_insert_or_update) {
        (Some(_), true, false) if fresh => "hit",
        (Some(_), true, false) => "hit (stale, while another execution revalidates)",
        (Some(_), true, true) => {
            "hit (stale within stale-while-revalidate): this request revalidates it"
        }
        (Some(_), false, true) => "stale: this request must revalidate (insert or update)",
        (None, _, true) => "miss: this request must insert",
        _ => "miss",
    };
}

/// Re-try the lookup of `h` if it waits for another execution's claim; true when it
/// still does.
fn settle(s: &mut Session, h: u32) -> bool {
    match s.pending.async_items.get(&h) {
        Some(AsyncItem::HttpCache(tx)) if tx.waiting => {}
        _ => return false,
    }
    let Some(AsyncItem::HttpCache(mut tx)) = s.pending.async_items.remove(&h) else {
        return false;
    };
    attempt(s, &mut tx);
    let waiting = tx.waiting;
    s.pending.async_items.insert(h, AsyncItem::HttpCache(tx));
    waiting
}

/// The body of a call that needs a settled lookup: guest memory, the session.
type Then = Box<dyn FnMut(&mut GuestMem<'_>, &mut Session) -> HostResult + Send>;

/// A call's result as a [`Completion`] (for a call finished after a wait).
fn completion(r: HostResult) -> Completion {
    match r {
        Ok(code) | Err(Fault::Status(code)) => Completion {
            code,
            ..Completion::default()
        },
        Err(Fault::Mem(e)) => Completion::status(Status::INVAL).with_note(e.to_string()),
        Err(Fault::Flow(f)) => {
            Completion::status(Status::ERROR).with_note(format!("internal error: {f}"))
        }
    }
}

/// A transaction waiting for another transaction of this execution, in a wait
/// nothing else can end (the guest is blocked in it): it takes the obligation to
/// insert itself, as if it had missed, instead of waiting for ever. True when it did.
pub(crate) fn take_over_self_wait(s: &mut Session, h: u32) -> bool {
    let Ok(tx) = tx_mut(s, h) else { return false };
    if !(tx.waiting && tx.self_wait) {
        return false;
    }
    tx.waiting = false;
    tx.self_wait = false;
    tx.found = None;
    tx.must_insert_or_update = true;
    tx.outcome = "miss: another transaction of this execution holds the key, and the guest waits on this one alone; this request must insert too";
    true
}

/// True when `h` is a transaction waiting for another execution's claim (a wait the
/// host ends: the claim is released elsewhere).
pub(crate) fn waits_for_another_execution(s: &Session, h: u32) -> bool {
    tx_ref(s, h).is_ok_and(|tx| tx.waiting && !tx.self_wait)
}

/// True when `h` is a settled transaction, or a waiting one whose key is free now.
pub(crate) fn is_ready(s: &Session, tx: &HttpCacheTx) -> bool {
    !tx.waiting || !(s.claims.busy(&tx.key) || s.claims.holds(&tx.key))
}

/// Run `then` once the lookup of `h` no longer waits for another execution's claim:
/// now, or after the collapsing wait ([`claim::wait_for_claim`]).
fn when_settled(cx: &mut Cx<'_>, h: u32, mut then: Then) -> HostResult {
    if !settle(cx.s, h) {
        return then(&mut cx.mem, cx.s);
    }
    if take_over_self_wait(cx.s, h) {
        cx.note("another transaction of this execution holds the key, and the guest is blocked on this one: it must insert too");
        return then(&mut cx.mem, cx.s);
    }
    cx.note("collapsed: another execution is fetching this object; waiting for it");
    let key = tx_ref(cx.s, h)?.key.clone();
    claim::wait_for_claim(
        cx,
        key,
        Box::new(move |mem, s| {
            if settle(s, h) {
                return None;
            }
            let mut c = completion(then(mem, s));
            c.note.get_or_insert_with(|| {
                "waited for another execution's claim (request collapsing)".into()
            });
            Some(c)
        }),
    )
}

/// The lookup state of a settled transaction.
fn state_bits(tx: &HttpCacheTx) -> u32 {
    let mut b = 0;
    if let Some(o) = &tx.found {
        b |= state::FOUND;
        if o.fresh || o.within_swr || tx.chose_stale {
            b |= state::USABLE;
        }
        if !o.fresh {
            b |= state::STALE;
        }
        if !o.fresh && !o.within_swr && o.usable_if_error {
            b |= state::USABLE_IF_ERROR;
        }
    }
    if tx.must_insert_or_update {
        b |= state::MUST_INSERT_OR_UPDATE;
    }
    b
}

/// The found object, if it may be served.
fn usable(tx: &HttpCacheTx) -> Option<&FoundObject> {
    tx.found
        .as_ref()
        .filter(|o| o.fresh || o.within_swr || tx.chose_stale)
}

/// A transaction-like item derived from `from` (an object just stored, freshened, or
/// streaming back): no obligation, and no trace event of its own when read (the
/// fetch that made it has one).
fn derived(from: &HttpCacheTx, found: Option<FoundObject>, outcome: &'static str) -> HttpCacheTx {
    HttpCacheTx {
        key: from.key.clone(),
        request: from.request.clone(),
        transactional: false,
        waiting: false,
        uncacheable: false,
        found,
        must_insert_or_update: false,
        chose_stale: false,
        inserted: false,
        prepared: None,
        outcome,
        req: from.req,
        backend: from.backend.clone(),
        collapsed: false,
        self_wait: false,
        reported: true,
    }
}

/// A new transaction-like handle for an object just stored or freshened.
fn fresh_handle(s: &mut Session, from: &HttpCacheTx, found: FoundObject) -> Option<u32> {
    s.insert_async(AsyncItem::HttpCache(Box::new(derived(
        from,
        Some(found),
        "the object just stored",
    ))))
}

/// End `h`'s obligation: release its claim.
fn release(s: &mut Session, h: u32) -> Result<(), Fault> {
    let tx = tx_mut(s, h)?;
    tx.must_insert_or_update = false;
    tx.outcome = "the obligation to insert or update is over";
    let key = tx.key.clone();
    s.claims.release(&key);
    Ok(())
}

/// Fail with BADF unless `h` holds the obligation to insert or update.
fn obligation(cx: &mut Cx<'_>, h: u32) -> HostResult<()> {
    tx_arg(cx, h)?;
    let tx = tx_ref(cx.s, h)?;
    if tx.waiting {
        cx.note("the lookup has not finished: call get_state first");
        return Err(Status::BADF.into());
    }
    if !tx.must_insert_or_update {
        cx.note("this transaction has no obligation to insert or update (see get_state)");
        return Err(Status::BADF.into());
    }
    Ok(())
}

// ---------------------------------------------------------------------------------
// Lookups

/// `lookup` / `transaction_lookup`.
fn lookup(
    cx: &mut Cx<'_>,
    req: u32,
    mask: u32,
    options: u32,
    out: u32,
    transactional: bool,
) -> HostResult {
    cx.handle_arg("req", HandleKind::Request, req);
    if mask & !lookup_bits::ALL != 0 {
        cx.note(format!(
            "option bits {:#x} are not defined by the ABI",
            mask & !lookup_bits::ALL
        ));
        return Err(Status::INVAL.into());
    }
    let parts =
        cx.s.http
            .requests
            .get(req)
            .cloned()
            .ok_or(Fault::Status(Status::BADF.0))?;
    let key = if mask & lookup_bits::OVERRIDE_KEY != 0 {
        let ptr = cx.mem.read_u32(options)?;
        let len = cx.mem.read_u32(options.wrapping_add(4))?;
        let key = cx.bytes_arg("override_key", ptr, len)?;
        if key.is_empty() || key.len() > cache::MAX_KEY_BYTES {
            cx.note(format!(
                "a cache key is 1 to {} bytes; this one is {}",
                cache::MAX_KEY_BYTES,
                key.len()
            ));
            return Err(Status::INVAL.into());
        }
        key
    } else {
        policy::request_key(&parts.uri, &parts.headers)
    };
    let mut backend = None;
    if mask & lookup_bits::BACKEND_NAME != 0 {
        let ptr = cx.mem.read_u32(options.wrapping_add(8))?;
        let len = cx.mem.read_u32(options.wrapping_add(12))?;
        let name = cx.str_arg("backend", ptr, len)?;
        if let Err(why) = crate::pending::resolve_checked(cx.s, &name) {
            cx.note(why);
            return Err(Status::INVAL.into());
        }
        backend = Some(name);
    }
    cx.mem.write_u32(out, INVALID_HANDLE)?;
    cx.arg("url", ArgValue::Str(parts.uri.clone()));
    let mut tx = HttpCacheTx {
        key,
        request: parts,
        transactional,
        waiting: false,
        uncacheable: false,
        found: None,
        must_insert_or_update: false,
        chose_stale: false,
        inserted: false,
        prepared: None,
        outcome: "",
        req,
        backend,
        collapsed: false,
        self_wait: false,
        reported: false,
    };
    attempt(cx.s, &mut tx);
    let outcome = tx.outcome;
    let Some(h) = cx.s.insert_async(AsyncItem::HttpCache(Box::new(tx))) else {
        return Err(Status::LIMITEXCEEDED.into());
    };
    cx.mem.write_u32(out, h)?;
    cx.handle_result("cache", HandleKind::AsyncItem, h);
    cx.note(outcome);
    Ok(Status::OK.0)
}

// ---------------------------------------------------------------------------------
// Options

/// Write options as the guest passed them.
#[derive(Debug, Default)]
struct GuestWriteOptions {
    max_age_ns: u64,
    initial_age_ns: u64,
    swr_ns: u64,
    sie_ns: u64,
    vary_rule: Vec<String>,
    surrogate_keys: Vec<String>,
    length: Option<u64>,
    sensitive: bool,
}

fn words(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in s.split_ascii_whitespace() {
        if !out.iter().any(|o| o == w) {
            out.push(w.to_string());
        }
    }
    out
}

/// Read `http_cache_write_options` under `mask`.
fn read_write_options(cx: &mut Cx<'_>, mask: u32, ptr: u32) -> HostResult<GuestWriteOptions> {
    if mask & !write_bits::ALL != 0 {
        cx.note(format!(
            "option bits {:#x} are not defined by the ABI",
            mask & !write_bits::ALL
        ));
        return Err(Status::INVAL.into());
    }
    let at = |off: u32| ptr.wrapping_add(off);
    let mut o = GuestWriteOptions {
        max_age_ns: cx.mem.read_u64(at(wo::MAX_AGE))?,
        sensitive: mask & write_bits::SENSITIVE_DATA != 0,
        ..GuestWriteOptions::default()
    };
    if mask & write_bits::INITIAL_AGE_NS != 0 {
        o.initial_age_ns = cx.mem.read_u64(at(wo::INITIAL_AGE))?;
    }
    if mask & write_bits::STALE_WHILE_REVALIDATE_NS != 0 {
        o.swr_ns = cx.mem.read_u64(at(wo::SWR))?;
    }
    if mask & write_bits::STALE_IF_ERROR_NS != 0 {
        o.sie_ns = cx.mem.read_u64(at(wo::SIE))?;
    }
    if mask & write_bits::LENGTH != 0 {
        o.length = Some(cx.mem.read_u64(at(wo::LENGTH))?);
    }
    if mask & write_bits::VARY_RULE != 0 {
        let p = cx.mem.read_u32(at(wo::VARY_PTR))?;
        let n = cx.mem.read_u32(at(wo::VARY_LEN))?;
        let rule = cx.str_arg("vary_rule", p, n)?;
        o.vary_rule = words(&rule)
            .iter()
            .map(|w| w.to_ascii_lowercase())
            .collect();
        if o.vary_rule.len() > cache::MAX_VARY_HEADERS {
            cx.note(format!(
                "a vary rule names at most {} headers",
                cache::MAX_VARY_HEADERS
            ));
            return Err(Status::INVAL.into());
        }
    }
    if mask & write_bits::SURROGATE_KEYS != 0 {
        let p = cx.mem.read_u32(at(wo::SK_PTR))?;
        let n = cx.mem.read_u32(at(wo::SK_LEN))?;
        o.surrogate_keys = words(&cx.str_arg("surrogate_keys", p, n)?);
    }
    cx.arg(
        "max_age_s",
        ArgValue::Int(i64::try_from(o.max_age_ns / 1_000_000_000).unwrap_or(i64::MAX)),
    );
    Ok(o)
}

/// The engine's write options for `tx` storing the response `resp`.
fn engine_options(tx: &HttpCacheTx, o: GuestWriteOptions, resp: &ResponseParts) -> WriteOptions {
    WriteOptions {
        max_age_ns: o.max_age_ns,
        initial_age_ns: o.initial_age_ns,
        swr_ns: o.swr_ns,
        sie_ns: o.sie_ns,
        vary_rule: o.vary_rule,
        request_headers: tx.request.headers.clone(),
        surrogate_keys: o.surrogate_keys,
        user_metadata: Vec::new(),
        length: o.length,
        sensitive: o.sensitive,
        response: Some((
            StoredResponse {
                status: resp.status,
                headers: resp.headers.clone(),
            },
            tx.request.uri.clone(),
        )),
    }
}

/// `get_suggested_cache_options`.
fn suggested_cache_options(
    cx: &mut Cx<'_>,
    h: u32,
    resp: u32,
    mask: u32,
    opts_in: u32,
    mask_out: u32,
    opts_out: u32,
) -> HostResult {
    tx_arg(cx, h)?;
    cx.handle_arg("resp", HandleKind::Response, resp);
    if mask & !write_bits::ALL != 0 {
        return Err(Status::INVAL.into());
    }
    let r =
        cx.s.http
            .responses
            .get(resp)
            .cloned()
            .ok_or(Fault::Status(Status::BADF.0))?;
    let tx = tx_ref(cx.s, h)?;
    let mut headers = r.headers.clone();
    if let Some((ph, sc)) = &tx.prepared {
        if *ph == resp && headers.get("surrogate-control").is_none() {
            headers.set_all("surrogate-control", sc.clone());
        }
    }
    let sensitive = tx.request.cache_override.tag & policy::tag::PCI != 0;
    let p = policy::response_policy(r.status, &headers, cx.s.unix_ns());
    cx.mem.slice(opts_out, wo::SIZE)?;
    let mut out_mask = 0;
    let mut status = Status::OK;
    cx.mem
        .write_u64(opts_out.wrapping_add(wo::MAX_AGE), p.opts.max_age_ns)?;
    let at = |off: u32| opts_out.wrapping_add(off);
    if mask & write_bits::INITIAL_AGE_NS != 0 {
        cx.mem
            .write_u64(at(wo::INITIAL_AGE), p.opts.initial_age_ns)?;
        out_mask |= write_bits::INITIAL_AGE_NS;
    }
    if mask & write_bits::STALE_WHILE_REVALIDATE_NS != 0 {
        cx.mem.write_u64(at(wo::SWR), p.opts.swr_ns)?;
        out_mask |= write_bits::STALE_WHILE_REVALIDATE_NS;
    }
    if mask & write_bits::STALE_IF_ERROR_NS != 0 {
        cx.mem.write_u64(at(wo::SIE), p.opts.sie_ns)?;
        out_mask |= write_bits::STALE_IF_ERROR_NS;
    }
    if mask & write_bits::SENSITIVE_DATA != 0 && sensitive {
        out_mask |= write_bits::SENSITIVE_DATA;
    }
    for (bit, value, ptr_off, len_off) in [
        (
            write_bits::VARY_RULE,
            p.opts.vary_rule.join(" "),
            wo::VARY_PTR,
            wo::VARY_LEN,
        ),
        (
            write_bits::SURROGATE_KEYS,
            p.opts.surrogate_keys.join(" "),
            wo::SK_PTR,
            wo::SK_LEN,
        ),
    ] {
        if mask & bit == 0 {
            continue;
        }
        out_mask |= bit;
        let buf = cx.mem.read_u32(opts_in.wrapping_add(ptr_off))?;
        let cap = cx.mem.read_u32(opts_in.wrapping_add(len_off))?;
        cx.mem.write_u32(at(len_off), value.len() as u32)?;
        if value.len() > cap as usize {
            status = Status::BUFLEN;
            continue;
        }
        cx.mem.write(buf, value.as_bytes())?;
        cx.mem.write_u32(at(ptr_off), buf)?;
    }
    cx.mem.write_u32(mask_out, out_mask)?;
    cx.result(
        "max_age_s",
        ArgValue::Int(i64::try_from(p.opts.max_age_ns / 1_000_000_000).unwrap_or(i64::MAX)),
    );
    cx.note(format!("freshness from {}", p.ttl_source));
    Ok(status.0)
}

/// `prepare_response_for_storage`.
fn prepare_response(
    cx: &mut Cx<'_>,
    h: u32,
    resp: u32,
    action_out: u32,
    resp_out: u32,
) -> HostResult {
    tx_arg(cx, h)?;
    cx.handle_arg("resp", HandleKind::Response, resp);
    let mut r =
        cx.s.http
            .responses
            .get(resp)
            .cloned()
            .ok_or(Fault::Status(Status::BADF.0))?;
    cx.mem.slice(action_out, 4)?;
    cx.mem.slice(resp_out, 4)?;
    let tx = tx_ref(cx.s, h)?;
    let now = cx.s.unix_ns();
    let revalidating = tx.must_insert_or_update && tx.found.is_some();
    let (act, why) = if r.status == 304 && revalidating {
        // The stored response, freshened with the 304's headers.
        let stored = tx
            .found
            .as_ref()
            .and_then(|o| o.found.meta.response.clone())
            .ok_or(Fault::Status(Status::ERROR.0))?;
        let headers = policy::freshened_headers(&stored.headers, &r.headers);
        r.status = stored.status;
        r.headers = headers;
        (
            action::UPDATE,
            "a 304 revalidated the stored response".to_string(),
        )
    } else if tx.request.method.eq_ignore_ascii_case("HEAD") {
        (
            action::DO_NOT_STORE,
            "a HEAD response has no body to store".to_string(),
        )
    } else {
        match policy::response_policy(r.status, &r.headers, now).storable {
            Ok(()) => (action::INSERT, "cacheable".to_string()),
            Err(why) if !policy::CACHEABLE_STATUSES.contains(&r.status) => {
                (action::DO_NOT_STORE, why)
            }
            Err(why) => (action::RECORD_UNCACHEABLE, why),
        }
    };
    let sc: Vec<Vec<u8>> = r
        .headers
        .get_all("surrogate-control")
        .iter()
        .map(|v| v.to_vec())
        .collect();
    r.headers.remove("surrogate-control");
    // A new handle: the SDK closes the one it passed in.
    let nh =
        cx.s.http
            .responses
            .insert(r)
            .ok_or(Fault::Status(Status::LIMITEXCEEDED.0))?;
    tx_mut(cx.s, h)?.prepared = Some((nh, sc));
    cx.mem.write_u32(action_out, act)?;
    cx.mem.write_u32(resp_out, nh)?;
    cx.result("action", ArgValue::Enum(action_name(act).into()));
    cx.handle_result("resp", HandleKind::Response, nh);
    cx.note(why);
    Ok(Status::OK.0)
}

// ---------------------------------------------------------------------------------
// Completing a transaction

/// Take the response `resp` a write call consumes.
fn take_response(cx: &mut Cx<'_>, resp: u32) -> HostResult<ResponseParts> {
    cx.handle_arg("resp", HandleKind::Response, resp);
    cx.s.http
        .responses
        .take(resp)
        .ok_or(Fault::Status(Status::BADF.0))
}

/// `transaction_insert` / `transaction_insert_and_stream_back`.
fn insert(
    cx: &mut Cx<'_>,
    h: u32,
    resp: u32,
    mask: u32,
    options: u32,
    body_out: u32,
    cache_out: Option<u32>,
) -> HostResult {
    obligation(cx, h)?;
    if !cx.s.http.responses.contains(resp) {
        cx.handle_arg("resp", HandleKind::Response, resp);
        return Err(Status::BADF.into());
    }
    let o = read_write_options(cx, mask, options)?;
    cx.mem.write_u32(body_out, INVALID_HANDLE)?;
    if let Some(out) = cache_out {
        cx.mem.write_u32(out, INVALID_HANDLE)?;
    }
    let r = take_response(cx, resp)?;
    let tx = tx_ref(cx.s, h)?;
    let opts = engine_options(tx, o, &r);
    let key = tx.key.clone();
    let readback = match cache_out {
        Some(_) => {
            let tx = tx_ref(cx.s, h)?;
            let placeholder = derived(tx, None, "streams back the object being inserted");
            Some(
                cx.s.insert_async(AsyncItem::HttpCache(Box::new(placeholder)))
                    .ok_or(Fault::Status(Status::LIMITEXCEEDED.0))?,
            )
        }
        None => None,
    };
    let mut body = Body::buffer(Vec::new());
    body.sink = BodySink::HttpCacheInsert;
    body.known_length = None;
    let Some(bh) = cx.s.http.bodies.insert(body) else {
        return Err(Status::LIMITEXCEEDED.into());
    };
    cx.s.pending.cache_inserts.insert(
        bh,
        CacheInsert {
            key,
            opts,
            readback,
        },
    );
    let tx = tx_mut(cx.s, h)?;
    tx.must_insert_or_update = false;
    tx.inserted = true;
    tx.outcome = "inserting: the object is stored when its body closes";
    cx.mem.write_u32(body_out, bh)?;
    cx.handle_result("body", HandleKind::Body, bh);
    if let (Some(out), Some(rb)) = (cache_out, readback) {
        cx.mem.write_u32(out, rb)?;
        cx.handle_result("cache", HandleKind::AsyncItem, rb);
    }
    cx.note("the object is stored when the guest closes this body");
    Ok(Status::OK.0)
}

/// Store the object of a closed cache insert body.
fn store(s: &mut Session, ins: CacheInsert, bytes: Vec<u8>) -> Result<String, String> {
    let now = s.unix_ns();
    let limits = Limits::from(&s.config.cache);
    let size = bytes.len();
    let stored = cache::insert(
        &mut **s.state.lock(),
        &ins.key,
        ins.opts,
        bytes.clone(),
        now,
        limits,
    );
    s.claims.release(&ins.key);
    let Some(found) = stored else {
        return Err(format!(
            "the object ({size} bytes) is larger than the cache allows: not stored"
        ));
    };
    let msg = format!(
        "stored the object ({size} bytes, fresh for {} s)",
        found.meta.max_age_ns / 1_000_000_000
    );
    if let Some(rb) = ins.readback {
        if let Ok(tx) = tx_mut(s, rb) {
            tx.found = Some(FoundObject {
                found,
                body: bytes,
                fresh: true,
                within_swr: false,
                usable_if_error: true,
                stream: None,
            });
        }
    }
    Ok(msg)
}

/// `fastly_http_body.close` of a cache insert body: store the object (after the rest
/// of a backend body still arriving, if it is one), and release the key's claim.
pub(crate) fn insert_body_closed(cx: &mut Cx<'_>, bh: u32, mut body: Body) -> HostResult {
    let Some(ins) = cx.s.pending.cache_inserts.remove(&bh) else {
        return Ok(Status::OK.0);
    };
    let bytes = body.take_remaining();
    if let Some(incoming) = body.incoming {
        if let (None, Some(rb)) = (incoming.read, ins.readback) {
            // Streamed back while it arrives, as on the platform: the stream-back
            // handle's response reads the backend body itself, the cache keeps a copy
            // of every read and stores the object (and releases the claim) at its end.
            let now = cx.s.unix_ns();
            let found = cache::unstored(&ins.key, ins.opts.clone(), bytes.len() as u64, now);
            if let Ok(tx) = tx_mut(cx.s, rb) {
                tx.found = Some(FoundObject {
                    found,
                    body: bytes.clone(),
                    fresh: true,
                    within_swr: false,
                    usable_if_error: true,
                    stream: Some(incoming.fetch),
                });
            }
            let ttl = ins.opts.max_age_ns / 1_000_000_000;
            cx.s.pending.cache_fills.insert(
                incoming.fetch,
                crate::session::CacheFill {
                    key: ins.key,
                    readthrough: None,
                    release_claim: true,
                    opts: ins.opts,
                    body: bytes,
                    ttl_note: format!("stored the object (fresh for {ttl} s)"),
                },
            );
            cx.note("the body is a backend body still arriving: it streams back to the guest and is stored once it has all arrived");
            return Ok(Status::OK.0);
        }
        let read = match incoming.read {
            Some(r) => r,
            None => cx.s.start_work(WorkKind::FetchBodyRead {
                fetch: incoming.fetch,
            }),
        };
        cx.note("the body is a backend body still arriving: the insert waits for all of it");
        return cx.suspend(Box::new(Draining {
            bytes,
            fetch: incoming.fetch,
            read,
            insert: Some(ins),
            note: None,
        }));
    }
    match store(cx.s, ins, bytes) {
        Ok(msg) => {
            cx.note(msg);
            Ok(Status::OK.0)
        }
        Err(why) => {
            cx.note(why);
            Ok(Status::OK.0)
        }
    }
}

/// `fastly_http_body.abandon` of a cache insert body: nothing is stored; the claim is
/// released so waiters look again.
pub(crate) fn insert_body_abandoned(s: &mut Session, bh: u32) {
    if let Some(ins) = s.pending.cache_inserts.remove(&bh) {
        s.claims.release(&ins.key);
    }
}

/// A cache insert body's `close` waiting for the rest of a backend body.
struct Draining {
    bytes: Vec<u8>,
    fetch: WorkId,
    read: WorkId,
    insert: Option<CacheInsert>,
    note: Option<String>,
}

impl Blocked for Draining {
    fn poll(&mut self, _: &mut GuestMem<'_>, s: &mut Session) -> Option<i32> {
        match s.work.take_result(self.read)? {
            WorkResult::BodyChunk { bytes, end } => {
                self.bytes.extend_from_slice(&bytes);
                if !end && self.bytes.len() as u64 <= cache::MAX_OBJECT_BYTES {
                    self.read = s.start_work(WorkKind::FetchBodyRead { fetch: self.fetch });
                    return None;
                }
            }
            WorkResult::FetchFailed(e) => {
                if let Some(ins) = self.insert.take() {
                    s.claims.release(&ins.key);
                }
                // OK all the same: the SDK panics on any other status of `close`; the
                // stream-back handle then finds nothing, which the SDK reports as a
                // send error.
                self.note = Some(format!(
                    "the backend body broke off: nothing stored ({})",
                    e.message
                ));
                return Some(Status::OK.0);
            }
            _ => {
                self.note = Some("internal error: a body read got another answer".into());
                return Some(Status::ERROR.0);
            }
        }
        let ins = self.insert.take()?;
        self.note = Some(match store(s, ins, std::mem::take(&mut self.bytes)) {
            Ok(m) | Err(m) => m,
        });
        Some(Status::OK.0)
    }

    fn annotate(&mut self, ev: &mut TraceEvent) {
        if let Some(n) = self.note.take() {
            ev.note = Some(n);
        }
    }
}

/// `transaction_update` / `transaction_update_and_return_fresh`.
fn update(
    cx: &mut Cx<'_>,
    h: u32,
    resp: u32,
    mask: u32,
    options: u32,
    cache_out: Option<u32>,
) -> HostResult {
    obligation(cx, h)?;
    if tx_ref(cx.s, h)?.found.is_none() {
        cx.note("nothing was found to update: insert instead");
        return Err(Status::BADF.into());
    }
    if !cx.s.http.responses.contains(resp) {
        cx.handle_arg("resp", HandleKind::Response, resp);
        return Err(Status::BADF.into());
    }
    let o = read_write_options(cx, mask, options)?;
    if let Some(out) = cache_out {
        cx.mem.write_u32(out, INVALID_HANDLE)?;
    }
    let r = take_response(cx, resp)?;
    let tx = tx_ref(cx.s, h)?;
    let opts = engine_options(tx, o, &r);
    let found = tx.found.clone().ok_or(Fault::Status(Status::BADF.0))?;
    let now = cx.s.unix_ns();
    let updated = cache::update(&mut **cx.s.state.lock(), &found.found.id, opts, now);
    release(cx.s, h)?;
    let Some(updated) = updated else {
        cx.note("the object was removed meanwhile (purged or evicted): nothing updated");
        return Err(Status::ERROR.into());
    };
    cx.note(format!(
        "freshened the stored object (fresh for {} s)",
        updated.meta.max_age_ns / 1_000_000_000
    ));
    if let Some(out) = cache_out {
        let obj = FoundObject {
            found: updated,
            body: found.body,
            fresh: true,
            within_swr: false,
            usable_if_error: true,
            stream: None,
        };
        let from = derived(tx_ref(cx.s, h)?, None, "");
        let nh = fresh_handle(cx.s, &from, obj).ok_or(Fault::Status(Status::LIMITEXCEEDED.0))?;
        cx.mem.write_u32(out, nh)?;
        cx.handle_result("cache", HandleKind::AsyncItem, nh);
    }
    Ok(Status::OK.0)
}

// ---------------------------------------------------------------------------------
// Reading what was found

/// `get_found_response`.
fn found_response(
    mem: &mut GuestMem<'_>,
    s: &mut Session,
    h: u32,
    for_client: bool,
    resp_out: u32,
    body_out: u32,
) -> HostResult {
    let tx = tx_ref(s, h)?;
    let Some(o) = usable(tx) else {
        return Err(Status::NONE.into());
    };
    let stored = o
        .found
        .meta
        .response
        .clone()
        .ok_or(Fault::Status(Status::NONE.0))?;
    let age_s = o.found.meta.age_ns(s.unix_ns()) / 1_000_000_000;
    let body = o.body.clone();
    mem.slice(resp_out, 4)?;
    mem.slice(body_out, 4)?;
    // An object still arriving streams to the first found response (one reader).
    let stream = tx_mut(s, h)?.found.as_mut().and_then(|o| o.stream.take());
    let mut status = stored.status;
    let mut headers = policy::for_guest(&stored.headers, Some(age_s));
    let mut body = body;
    // `transform_for_client`: the looked-up request's `Range` is answered from the
    // whole stored object (one still arriving is served whole).
    if for_client && stream.is_none() {
        let request = &tx_ref(s, h)?.request.headers;
        (status, headers, body) = policy::for_client_range(request, status, headers, body);
    }
    let parts = ResponseParts {
        status,
        version: HttpVersion::Http11,
        headers,
        framing_mode: 0,
        keepalive_mode: 0,
        remote_addr: None,
    };
    let rh = s
        .http
        .responses
        .insert(parts)
        .ok_or(Fault::Status(Status::LIMITEXCEEDED.0))?;
    let Some(bh) = s
        .http
        .bodies
        .insert(Body::buffer(body).streaming_from(stream, None))
    else {
        s.http.responses.take(rh);
        return Err(Status::LIMITEXCEEDED.into());
    };
    mem.write_u32(resp_out, rh)?;
    mem.write_u32(body_out, bh)?;
    report_answer(s, h);
    Ok(Status::OK.0)
}

/// The first found response a lookup gives the guest is its request answered from
/// the cache: a backend trace event (as the readthrough cache records a hit) with
/// the outcome (`HIT`, `STALE`, or `COLLAPSED` after waiting for another execution),
/// the object's age, freshness left and hits.
fn report_answer(s: &mut Session, h: u32) {
    let t = s.unix_ns();
    let Ok(tx) = tx_mut(s, h) else { return };
    if tx.reported {
        return;
    }
    tx.reported = true;
    let Some(o) = usable(tx) else { return };
    let how = match (o.fresh, tx.collapsed) {
        (false, _) => outcome::STALE,
        (true, true) => outcome::COLLAPSED,
        (true, false) => outcome::HIT,
    };
    let m = &o.found.meta;
    let status = m.response.as_ref().map_or(200, |r| r.status);
    let answer = readthrough::Answer {
        backend: tx.backend.clone().unwrap_or_else(|| "(cache)".into()),
        method: tx.request.method.clone(),
        url: tx.request.uri.clone(),
        how,
        status,
        body: o.body.clone(),
        age_s: m.age_ns(t) / 1_000_000_000,
        ttl_left_s: m.ttl_left_s(t),
        hits: m.hits,
        note: "the HTTP cache API answered the guest's send from the cache (get_found_response)",
    };
    readthrough::record_answer(s, answer);
}

/// `get_suggested_backend_request`: the looked-up request without `Range` (the cache
/// stores whole objects), made conditional on the stale object's validators when this
/// transaction revalidates it.
fn suggested_backend_request(
    mem: &mut GuestMem<'_>,
    s: &mut Session,
    h: u32,
    out: u32,
) -> HostResult {
    let tx = tx_ref(s, h)?;
    let mut parts: RequestParts = tx.request.clone();
    // The cache fetches whole objects: a client's range is cut from the stored one
    // (`get_found_response` with `transform_for_client`).
    parts.headers.remove("range");
    parts.headers.remove("if-range");
    if let (true, Some(o)) = (tx.must_insert_or_update, &tx.found) {
        if let Some(r) = &o.found.meta.response {
            let conditional = parts.headers.get("if-none-match").is_some()
                || parts.headers.get("if-modified-since").is_some();
            if !conditional {
                if let Some(etag) = r.headers.get("etag") {
                    parts.headers.insert("if-none-match", etag.to_vec());
                }
                if let Some(lm) = r.headers.get("last-modified") {
                    parts.headers.insert("if-modified-since", lm.to_vec());
                }
            }
        }
    }
    // Served stale within stale-while-revalidate, this fetch is the background
    // revalidation; otherwise the miss's fetch.
    let how = if usable(tx).is_some() {
        outcome::STALE
    } else {
        outcome::MISS
    };
    mem.slice(out, 4)?;
    let rh = s
        .http
        .requests
        .insert(parts)
        .ok_or(Fault::Status(Status::LIMITEXCEEDED.0))?;
    s.pending.guest_cache_sends.insert(rh, how);
    mem.write_u32(out, rh)?;
    Ok(Status::OK.0)
}

/// Which value of the found object a getter reads.
#[derive(Clone, Copy)]
enum Field {
    Length,
    MaxAge,
    Swr,
    Sie,
    Age,
    Hits,
}

/// A u64 getter of the found object (NONE when nothing was found).
fn get_u64(mem: &mut GuestMem<'_>, s: &mut Session, h: u32, out: u32, f: Field) -> HostResult {
    let now = s.unix_ns();
    let tx = tx_ref(s, h)?;
    let Some(o) = &tx.found else {
        return Err(Status::NONE.into());
    };
    let m = &o.found.meta;
    let v = match f {
        Field::Length => o.body.len() as u64,
        Field::MaxAge => m.max_age_ns,
        Field::Swr => m.swr_ns,
        Field::Sie => m.sie_ns,
        Field::Age => m.age_ns(now),
        Field::Hits => m.hits,
    };
    mem.write_u64(out, v)?;
    Ok(Status::OK.0)
}

/// A string getter of the found object (space-separated surrogate keys or vary rule).
fn get_words(
    mem: &mut GuestMem<'_>,
    s: &mut Session,
    h: u32,
    buf: u32,
    buf_len: u32,
    nwritten_out: u32,
    vary: bool,
) -> HostResult {
    let tx = tx_ref(s, h)?;
    let Some(o) = &tx.found else {
        return Err(Status::NONE.into());
    };
    let m = &o.found.meta;
    let value = if vary {
        m.vary
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        m.surrogate_keys.join(" ")
    };
    Ok(mem
        .write_out_buf(buf, buf_len, nwritten_out, value.as_bytes())?
        .0)
}

/// Run a getter once the lookup is settled.
fn getter(cx: &mut Cx<'_>, h: u32, then: Then) -> HostResult {
    tx_arg(cx, h)?;
    when_settled(cx, h, then)
}

/// `is_request_cacheable`: GET and HEAD requests use the cache (1), others not (0);
/// UNSUPPORTED when the service turns the HTTP cache API off
/// (`[local_server.cache] http_cache_api = false`; see the module doc).
fn is_request_cacheable(cx: &mut Cx<'_>, req: u32, out: u32) -> HostResult {
    cx.handle_arg("req", HandleKind::Request, req);
    if !cx.s.config.cache.http_cache_api {
        cx.note(
            "the HTTP cache API is off for this service ([local_server.cache] http_cache_api = false): the SDK leaves caching to the host's readthrough cache",
        );
        return Err(Status::UNSUPPORTED.into());
    }
    let method =
        cx.s.http
            .requests
            .get(req)
            .map(|p| p.method.clone())
            .ok_or(Fault::Status(Status::BADF.0))?;
    let yes = policy::method_is_cacheable(&method);
    cx.mem.write_u32(out, u32::from(yes))?;
    if !yes {
        // The SDK sends it uncached: its backend event says pass, as the host's would.
        cx.s.pending.guest_cache_sends.insert(req, outcome::PASS);
        cx.note("only GET and HEAD requests use the cache");
    }
    cx.result("is_cacheable", ArgValue::Int(i64::from(yes)));
    Ok(Status::OK.0)
}

/// Link `fastly_http_cache`.
pub(crate) fn link(reg: &mut Registry) -> Result<(), wasmi::errors::LinkerError> {
    super::hostcalls! { reg;
        ["fastly_http_cache" :: "is_request_cacheable"]
        fn(cx, req: u32, is_cacheable_out: u32) -> i32 {
            is_request_cacheable(cx, req, is_cacheable_out)
        }

        ["fastly_http_cache" :: "get_suggested_cache_key"]
        fn(cx, req: u32, key_out: u32, key_out_len: u32, nwritten_out: u32) -> i32 {
            cx.handle_arg("req", HandleKind::Request, req);
            let key = cx.s.http.requests.get(req)
                .map(|p| policy::request_key(&p.uri, &p.headers))
                .ok_or(Fault::Status(Status::BADF.0))?;
            Ok(cx.mem.write_out_buf(key_out, key_out_len, nwritten_out, &key)?.0)
        }

        ["fastly_http_cache" :: "lookup"]
        fn(cx, req: u32, options_mask: u32, options: u32, cache_out: u32) -> i32 {
            lookup(cx, req, options_mask, options, cache_out, false)
        }

        ["fastly_http_cache" :: "transaction_lookup"]
        fn(cx, req: u32, options_mask: u32, options: u32, cache_out: u32) -> i32 {
            lookup(cx, req, options_mask, options, cache_out, true)
        }

        ["fastly_http_cache" :: "transaction_insert"]
        fn(cx, cache: u32, resp: u32, options_mask: u32, options: u32, body_out: u32) -> i32 {
            insert(cx, cache, resp, options_mask, options, body_out, None)
        }

        ["fastly_http_cache" :: "transaction_insert_and_stream_back"]
        fn(cx, cache: u32, resp: u32, options_mask: u32, options: u32, body_out: u32, cache_out: u32) -> i32 {
            insert(cx, cache, resp, options_mask, options, body_out, Some(cache_out))
        }

        ["fastly_http_cache" :: "transaction_update"]
        fn(cx, cache: u32, resp: u32, options_mask: u32, options: u32) -> i32 {
            update(cx, cache, resp, options_mask, options, None)
        }

        ["fastly_http_cache" :: "transaction_update_and_return_fresh"]
        fn(cx, cache: u32, resp: u32, options_mask: u32, options: u32, cache_out: u32) -> i32 {
            update(cx, cache, resp, options_mask, options, Some(cache_out))
        }

        ["fastly_http_cache" :: "transaction_choose_stale"]
        fn(cx, cache: u32) -> i32 {
            obligation(cx, cache)?;
            if tx_ref(cx.s, cache)?.found.is_none() {
                cx.note("nothing stale was found to choose");
                return Err(Status::BADF.into());
            }
            tx_mut(cx.s, cache)?.chose_stale = true;
            release(cx.s, cache)?;
            cx.note("serving the stale object; the claim is released");
            Ok(Status::OK.0)
        }

        ["fastly_http_cache" :: "transaction_record_not_cacheable"]
        fn(cx, cache: u32, options_mask: u32, options: u32) -> i32 {
            obligation(cx, cache)?;
            let o = read_write_options(cx, options_mask, options)?;
            let tx = tx_ref(cx.s, cache)?;
            let (key, headers) = (tx.key.clone(), tx.request.headers.clone());
            let now = cx.s.unix_ns();
            cache::record_uncacheable(&mut **cx.s.state.lock(), &key, &o.vary_rule, &headers, o.max_age_ns, now);
            release(cx.s, cache)?;
            cx.note(format!("hit-for-pass for {} s: lookups of this key go to the origin uncollapsed", o.max_age_ns / 1_000_000_000));
            Ok(Status::OK.0)
        }

        ["fastly_http_cache" :: "transaction_abandon"]
        fn(cx, cache: u32) -> i32 {
            obligation(cx, cache)?;
            release(cx.s, cache)?;
            cx.note("abandoned: a waiting request may now fetch the object");
            Ok(Status::OK.0)
        }

        ["fastly_http_cache" :: "close"]
        fn(cx, cache: u32) -> i32 {
            tx_arg(cx, cache)?;
            let Some(AsyncItem::HttpCache(tx)) = cx.s.pending.async_items.remove(&cache) else {
                return Err(Status::BADF.into());
            };
            if tx.must_insert_or_update {
                cx.s.claims.release(&tx.key);
                cx.note("closed with the obligation to insert unfulfilled: the claim is released");
            }
            Ok(Status::OK.0)
        }

        ["fastly_http_cache" :: "get_suggested_backend_request"]
        fn(cx, cache: u32, req_out: u32) -> i32 {
            getter(cx, cache, Box::new(move |mem, s| suggested_backend_request(mem, s, cache, req_out)))
        }

        ["fastly_http_cache" :: "get_suggested_cache_options"]
        fn(cx, cache: u32, resp: u32, options_mask: u32, options: u32, options_mask_out: u32, options_out: u32) -> i32 {
            suggested_cache_options(cx, cache, resp, options_mask, options, options_mask_out, options_out)
        }

        ["fastly_http_cache" :: "prepare_response_for_storage"]
        fn(cx, cache: u32, resp: u32, storage_action_out: u32, resp_out: u32) -> i32 {
            prepare_response(cx, cache, resp, storage_action_out, resp_out)
        }

        ["fastly_http_cache" :: "get_found_response"]
        fn(cx, cache: u32, transform_for_client: u32, resp_out: u32, body_out: u32) -> i32 {
            getter(cx, cache, Box::new(move |mem, s| {
                found_response(mem, s, cache, transform_for_client != 0, resp_out, body_out)
            }))
        }

        ["fastly_http_cache" :: "get_state"]
        fn(cx, cache: u32, state_out: u32) -> i32 {
            tx_arg(cx, cache)?;
            if !settle(cx.s, cache) {
                let tx = tx_ref(cx.s, cache)?;
                let bits = state_bits(tx);
                let outcome = tx.outcome;
                cx.mem.write_u32(state_out, bits)?;
                cx.result("state", ArgValue::Enum(state_names(bits)));
                cx.note(outcome);
                return Ok(Status::OK.0);
            }
            when_settled(cx, cache, Box::new(move |mem, s| {
                let bits = state_bits(tx_ref(s, cache)?);
                mem.write_u32(state_out, bits)?;
                Ok(Status::OK.0)
            }))
        }

        ["fastly_http_cache" :: "get_length"]
        fn(cx, cache: u32, length_out: u32) -> i32 {
            getter(cx, cache, Box::new(move |mem, s| get_u64(mem, s, cache, length_out, Field::Length)))
        }

        ["fastly_http_cache" :: "get_max_age_ns"]
        fn(cx, cache: u32, duration_out: u32) -> i32 {
            getter(cx, cache, Box::new(move |mem, s| get_u64(mem, s, cache, duration_out, Field::MaxAge)))
        }

        ["fastly_http_cache" :: "get_stale_while_revalidate_ns"]
        fn(cx, cache: u32, duration_out: u32) -> i32 {
            getter(cx, cache, Box::new(move |mem, s| get_u64(mem, s, cache, duration_out, Field::Swr)))
        }

        ["fastly_http_cache" :: "get_stale_if_error_ns"]
        fn(cx, cache: u32, duration_out: u32) -> i32 {
            getter(cx, cache, Box::new(move |mem, s| get_u64(mem, s, cache, duration_out, Field::Sie)))
        }

        ["fastly_http_cache" :: "get_age_ns"]
        fn(cx, cache: u32, duration_out: u32) -> i32 {
            getter(cx, cache, Box::new(move |mem, s| get_u64(mem, s, cache, duration_out, Field::Age)))
        }

        ["fastly_http_cache" :: "get_hits"]
        fn(cx, cache: u32, hits_out: u32) -> i32 {
            getter(cx, cache, Box::new(move |mem, s| get_u64(mem, s, cache, hits_out, Field::Hits)))
        }

        ["fastly_http_cache" :: "get_sensitive_data"]
        fn(cx, cache: u32, sensitive_out: u32) -> i32 {
            getter(cx, cache, Box::new(move |mem, s| {
                let tx = tx_ref(s, cache)?;
                let Some(o) = &tx.found else {
                    return Err(Status::NONE.into());
                };
                let v = u32::from(o.found.meta.sensitive);
                mem.write_u32(sensitive_out, v)?;
                Ok(Status::OK.0)
            }))
        }

        ["fastly_http_cache" :: "get_surrogate_keys"]
        fn(cx, cache: u32, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            getter(cx, cache, Box::new(move |mem, s| get_words(mem, s, cache, buf, buf_len, nwritten_out, false)))
        }

        ["fastly_http_cache" :: "get_vary_rule"]
        fn(cx, cache: u32, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            getter(cx, cache, Box::new(move |mem, s| get_words(mem, s, cache, buf, buf_len, nwritten_out, true)))
        }
    }
    Ok(())
}
