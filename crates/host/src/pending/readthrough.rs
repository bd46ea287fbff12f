//! The readthrough cache behind `send`: what the platform does with a backend request
//! when the guest leaves caching to the host (the SDKs do while
//! `http_cache.is_request_cacheable` answers UNSUPPORTED): `send`, `send_v2`,
//! `send_async`, `send_async_streaming`. `send_v3` and `send_async_v2` are the SDKs'
//! uncached sends and perform no host-side caching.
//!
//! A `GET` or `HEAD` without a `pass` override is looked up by its cache key
//! ([`policy::request_key`]: the URL and Host of the request as the guest built it,
//! not the backend it goes to; the HTTP cache API keys the same) and the variant its
//! headers select:
//!
//! - **HIT**: a fresh object answers at once, with `Age`; the origin is not asked.
//! - **STALE**: an object past its TTL but within stale-while-revalidate answers at
//!   once, and one background fetch (no guest waits for it; the execution stays until
//!   it ends, as a POP finishes it) refreshes the object. An object within
//!   stale-if-error answers when the origin fails (a failed fetch or a 5xx).
//! - **MISS**: the request goes to the origin; a `GET`'s response is stored when the
//!   rules allow ([`policy::response_policy`], then the cache override:
//!   [`policy::apply_override`]). A body that streams is stored once it has all
//!   arrived: every read of it (the guest's, or a pipe's forwarding it downstream)
//!   leaves a copy with the cache ([`fill`]), and requests collapsed on the key wait
//!   until then. A body the guest never reads to its end is not stored.
//! - **COLLAPSED**: another execution of the service is fetching the same key (it
//!   holds the key's claim, [`crate::cache::collapse`]): this request waits, looking
//!   again every [`POLL_NS`], and is answered from what that fetch stored, or goes to
//!   the origin itself if nothing was stored.
//!   A request that reached the service from the service itself (`cdn-loop`) never
//!   waits: the fetch it would wait for may be its own caller's.
//! - **PASS**: any other method, or a `pass` override: straight to the origin.
//!
//! The guest never sees `Surrogate-Control` on a response that went through the
//! cache. Every backend trace event carries the outcome as its `cache` argument and
//! notes what was stored and why not.

use super::{done, finish_response, record_event, start as start_fetch};
use crate::backends::Backend;
use crate::cache::collapse::Claim;
use crate::cache::{self, policy, Found, Limits, StoredResponse, WriteOptions};
use crate::http::{CacheOverride, Headers, RequestParts};
use crate::session::{
    AsyncItem, CacheFill, Collapse, FetchMeta, PendingState, Readthrough, Revalidation, Session,
};
use crate::work::{BackendResponse, FetchRequest, SendFailure, WorkId, WorkKind, WorkResult};

/// How long a collapsed request waits before it looks again.
pub const POLL_NS: u64 = 2_000_000;

/// Looks a collapsed request makes before it goes to the origin itself (a minute).
pub const MAX_POLLS: u32 = 30_000;

/// The cache outcomes a backend trace event names.
pub mod outcome {
    /// Answered by a fresh object.
    pub const HIT: &str = "HIT";
    /// Fetched from the origin.
    pub const MISS: &str = "MISS";
    /// Not looked up.
    pub const PASS: &str = "PASS";
    /// Answered by a stale object (revalidated in the background, or the origin failed).
    pub const STALE: &str = "STALE";
    /// Waited for another request's fetch and answered by what it stored.
    pub const COLLAPSED: &str = "COLLAPSED";
}

fn limits(s: &Session) -> Limits {
    Limits::from(&s.config.cache)
}

/// Why a request does not use the cache, if it does not.
fn pass_reason(method: &str, ov: &CacheOverride) -> Option<&'static str> {
    if ov.tag & policy::tag::PASS != 0 {
        Some("the cache override says pass")
    } else if !policy::method_is_cacheable(method) {
        Some("only GET and HEAD requests use the cache")
    } else {
        None
    }
}

/// Start the backend request `h` through the readthrough cache (instead of
/// [`super::start`]). Returns its state: done at once for a hit, in flight otherwise.
pub(crate) fn start(
    s: &mut Session,
    h: u32,
    backend: &Backend,
    fetch: FetchRequest,
    request: &RequestParts,
    meta: &mut FetchMeta,
) -> PendingState {
    let ov = &request.cache_override;
    if let Some(why) = pass_reason(&fetch.method, ov) {
        meta.cache = Some(outcome::PASS);
        meta.notes.push(format!("cache: pass ({why})"));
        return start_fetch(s, h, backend, fetch, meta);
    }
    let rt = Readthrough {
        key: policy::request_key(&request.uri, &request.headers),
        url: request.uri.clone(),
        request_headers: request.headers.clone(),
        cache_override: ov.clone(),
        store: fetch.method.eq_ignore_ascii_case("GET"),
        stale_if_error: None,
        collapse: None,
        claims: s.claims.another(),
        revalidating: None,
    };
    look(s, h, backend, fetch, rt, meta, None)
}

/// Look the request up and answer, wait or fetch. `waited`: how many times it has
/// looked again while collapsed on another request's fetch.
fn look(
    s: &mut Session,
    h: u32,
    backend: &Backend,
    fetch: FetchRequest,
    mut rt: Readthrough,
    meta: &mut FetchMeta,
    waited: Option<u32>,
) -> PendingState {
    let t = s.unix_ns();
    let found = cache::lookup(&mut **s.state.lock(), &rt.key, &fetch.headers, t);
    let mut stale = None;
    if let Some(mut f) = found {
        let fr = f.meta.freshness(t);
        if fr.fresh {
            let how = if waited.is_some() {
                outcome::COLLAPSED
            } else {
                outcome::HIT
            };
            return serve(s, backend, &mut f, &fetch.method, how, meta, None);
        }
        if fr.within_swr {
            let note = if rt.claims.claim(&rt.key) == Claim::Won {
                revalidate(s, backend, fetch.clone(), rt, &f);
                "stale-while-revalidate: served stale, revalidating in the background"
            } else {
                "stale-while-revalidate: served stale; another request is revalidating it"
            };
            return serve(
                s,
                backend,
                &mut f,
                &fetch.method,
                outcome::STALE,
                meta,
                Some(note),
            );
        }
        if fr.usable_if_error {
            rt.stale_if_error = Some(f.id.clone());
        }
        stale = Some(f);
    }
    // Only a GET collapses: a HEAD stores nothing others could wait for. Nor does a
    // request that came from this service itself (its `cdn-loop` carries our token):
    // the fetch it would wait for may be its own caller's, waiting for it.
    let from_itself = crate::backends::loop_hops(&s.downstream.request.headers) > 0;
    let busy = rt.store && rt.claims.claim(&rt.key) == Claim::Busy && !from_itself;
    if busy && waited.is_none_or(|p| p < MAX_POLLS) {
        let polls = waited.map_or(0, |p| p + 1);
        if meta.start_us == 0.0 {
            meta.start_us = s.elapsed_us();
        }
        rt.collapse = Some(Collapse {
            fetch: Box::new(fetch),
            backend: Box::new(backend.clone()),
            polls,
        });
        let work = s.start_work(WorkKind::Sleep { ns: POLL_NS });
        s.pending.fetch_work.insert(work, h);
        s.pending.readthrough.insert(h, rt);
        return PendingState::InFlight { work, canned: None };
    }
    meta.cache = Some(outcome::MISS);
    if waited.is_some() {
        meta.notes.push(
            "cache: waited for another request's fetch of this key, which stored nothing".into(),
        );
    }
    let mut fetch = fetch;
    if let Some(f) = &stale {
        if conditional(&mut fetch, f) {
            rt.revalidating = Some(f.id.clone());
            meta.notes
                .push("cache: revalidating the stale object with a conditional request".into());
        }
    }
    s.pending.readthrough.insert(h, rt);
    start_fetch(s, h, backend, fetch, meta)
}

/// Make `fetch` a conditional request for the stored object `f` (its `ETag` as
/// `If-None-Match`, its `Last-Modified` as `If-Modified-Since`), unless the guest's
/// request is conditional already. True when it did.
fn conditional(fetch: &mut FetchRequest, f: &Found) -> bool {
    if fetch.headers.get("if-none-match").is_some()
        || fetch.headers.get("if-modified-since").is_some()
    {
        return false;
    }
    let Some(stored) = &f.meta.response else {
        return false;
    };
    let mut added = false;
    if let Some(etag) = stored.headers.get("etag") {
        fetch.headers.insert("if-none-match", etag.to_vec());
        added = true;
    }
    if let Some(lm) = stored.headers.get("last-modified") {
        fetch.headers.insert("if-modified-since", lm.to_vec());
        added = true;
    }
    added
}

/// A 304 to our conditional request: freshen the stored object with the 304's
/// headers and answer with it. True when it did.
fn freshen(
    s: &mut Session,
    rt: &Readthrough,
    result: &mut Result<BackendResponse, SendFailure>,
    meta: &mut FetchMeta,
) -> bool {
    let (Some(id), Ok(r)) = (&rt.revalidating, &*result) else {
        return false;
    };
    if r.status != 304 {
        return false;
    }
    let t = s.unix_ns();
    let mut st = s.state.lock();
    let (Some(m), Some(body)) = (cache::meta(&**st, id), cache::body(&**st, id)) else {
        return false;
    };
    let Some(stored) = m.response else {
        return false;
    };
    let headers = policy::freshened_headers(&stored.headers, &r.headers);
    let mut pol = policy::response_policy(stored.status, &headers, t);
    meta.notes
        .extend(policy::apply_override(&mut pol, &rt.cache_override));
    let opts = WriteOptions {
        response: Some((
            StoredResponse {
                status: stored.status,
                headers: headers.clone(),
            },
            rt.url.clone(),
        )),
        ..pol.opts.clone()
    };
    cache::update(&mut **st, id, opts, t);
    meta.notes.push(format!(
        "cache: the origin answered 304 Not Modified; the stored object is fresh again for {} s ({})",
        pol.opts.max_age_ns / 1_000_000_000,
        pol.ttl_source
    ));
    let mut fresh = from_cache(
        stored.status,
        &headers,
        pol.opts.initial_age_ns / 1_000_000_000,
        body,
    );
    fresh.remote_addr = r.remote_addr;
    *result = Ok(fresh);
    true
}

/// The response a guest gets from a stored object: its status, its headers as the
/// guest sees them (`Age` set to `age_s`) and `body`.
fn from_cache(status: u16, headers: &Headers, age_s: u64, body: Vec<u8>) -> BackendResponse {
    BackendResponse {
        status,
        headers: policy::for_guest(headers, Some(age_s)),
        body,
        body_error: None,
        stream: None,
        remote_addr: None,
    }
}

/// Answer from the stored object `f` (counting a hit).
fn serve(
    s: &mut Session,
    backend: &Backend,
    f: &mut Found,
    method: &str,
    how: &'static str,
    meta: &mut FetchMeta,
    note: Option<&str>,
) -> PendingState {
    let t = s.unix_ns();
    if meta.start_us == 0.0 {
        meta.start_us = s.elapsed_us();
    }
    let (body, stored) = {
        let mut st = s.state.lock();
        cache::record_hit(&mut **st, f, t);
        (
            cache::body(&**st, &f.id).unwrap_or_default(),
            f.meta.response.clone(),
        )
    };
    let stored = stored.unwrap_or(StoredResponse {
        status: 200,
        headers: crate::http::Headers::new(),
    });
    let age_s = f.meta.age_ns(t) / 1_000_000_000;
    meta.cache = Some(how);
    meta.cache_results.push(("age_s", age_s as i64));
    meta.cache_results
        .push(("ttl_left_s", f.meta.ttl_left_s(t).round() as i64));
    meta.cache_results.push(("hits", f.meta.hits as i64));
    meta.notes.push(format!(
        "served from cache: age {age_s} s, {:.0} s of freshness left, {} hit(s) so far",
        f.meta.ttl_left_s(t),
        f.meta.hits
    ));
    if let Some(n) = note {
        meta.notes.push(n.to_string());
    }
    let body = if method.eq_ignore_ascii_case("HEAD") {
        Vec::new()
    } else {
        body
    };
    let resp = from_cache(stored.status, &stored.headers, age_s, body);
    let received = Ok(resp);
    let result = finish_response(received.clone(), meta);
    record_event(s, &backend.name, meta, &received, 0, 0);
    done(s, result)
}

/// A request a guest-side HTTP cache transaction answered from the cache, for
/// [`record_answer`].
pub(crate) struct Answer {
    /// The backend the lookup named (`(cache)` when it named none).
    pub backend: String,
    /// The request's method and URL.
    pub method: String,
    /// The request's URL.
    pub url: String,
    /// `HIT`, `STALE` or `COLLAPSED`.
    pub how: &'static str,
    /// The stored status.
    pub status: u16,
    /// The stored body.
    pub body: Vec<u8>,
    /// The object's age.
    pub age_s: u64,
    /// Its freshness left.
    pub ttl_left_s: f64,
    /// Its hits, this one included.
    pub hits: u64,
    /// What answered.
    pub note: &'static str,
}

/// The backend trace event of a request answered from the cache by the guest's own
/// HTTP cache transaction: the same event (and `cache` outcome) a readthrough hit
/// records, so the trace, the waterfall and the tab's cache labels read alike.
pub(crate) fn record_answer(s: &mut Session, a: Answer) {
    let meta = FetchMeta {
        method: a.method,
        url: a.url,
        start_us: s.elapsed_us(),
        auto_decompress: 0,
        mock: None,
        notes: vec![
            a.note.to_string(),
            format!(
                "served from cache: age {} s, {:.0} s of freshness left, {} hit(s) so far",
                a.age_s, a.ttl_left_s, a.hits
            ),
        ],
        headers_not_sent: Vec::new(),
        cache: Some(a.how),
        cache_results: vec![
            ("age_s", a.age_s as i64),
            ("ttl_left_s", a.ttl_left_s.round() as i64),
            ("hits", a.hits as i64),
        ],
    };
    let received = Ok(from_cache(a.status, &Headers::new(), a.age_s, a.body));
    record_event(s, &a.backend, &meta, &received, 0, 0);
}

/// True when the pending request `h` waits on another execution's fetch.
pub(crate) fn is_collapsing(s: &Session, h: u32) -> bool {
    s.pending
        .readthrough
        .get(&h)
        .is_some_and(|rt| rt.collapse.is_some())
}

/// A collapsed request's wait is over: look again.
pub(crate) fn poll(s: &mut Session, h: u32) {
    let Some(mut rt) = s.pending.readthrough.remove(&h) else {
        return;
    };
    let Some(c) = rt.collapse.take() else {
        return;
    };
    let mut meta = match s.pending.async_items.get(&h) {
        Some(AsyncItem::Pending(p)) => p.meta.clone(),
        _ => return,
    };
    // The backend event spans the whole wait.
    let start_us = meta.start_us;
    let state = look(s, h, &c.backend, *c.fetch, rt, &mut meta, Some(c.polls));
    meta.start_us = start_us;
    if let Some(AsyncItem::Pending(p)) = s.pending.async_items.get_mut(&h) {
        p.state = state;
        p.meta = meta;
    }
}

/// The response (or failure) of the request `h` has come: store it when the rules
/// allow (at once, or once its streaming body has arrived), or answer with the
/// stale-if-error object; release the key's claim once nothing more will be stored.
/// Called before the backend trace event is recorded, with the response as received.
pub(crate) fn after_fetch(
    s: &mut Session,
    h: u32,
    result: &mut Result<BackendResponse, SendFailure>,
    meta: &mut FetchMeta,
) {
    let Some(rt) = s.pending.readthrough.remove(&h) else {
        return;
    };
    // Dropping `rt` (unless a fill keeps it) releases its claim: requests waiting on
    // it look again.
    store_or_fall_back(s, rt, result, meta);
}

/// Answer with the stale-if-error object when the origin failed and there is one.
/// True when it did.
fn stale_if_error(
    s: &mut Session,
    rt: &Readthrough,
    result: &mut Result<BackendResponse, SendFailure>,
    meta: &mut FetchMeta,
) -> bool {
    let failed = match result {
        Err(_) => true,
        Ok(r) => r.status >= 500,
    };
    let Some(id) = rt.stale_if_error.as_ref().filter(|_| failed) else {
        return false;
    };
    let t = s.unix_ns();
    let mut st = s.state.lock();
    let (Some(m), Some(body)) = (cache::meta(&**st, id), cache::body(&**st, id)) else {
        return false;
    };
    let Some(stored) = m.response.clone() else {
        return false;
    };
    let why = match result {
        Err(e) => e.message.clone(),
        Ok(r) => format!("status {}", r.status),
    };
    let mut f = Found {
        id: id.clone(),
        meta: m,
    };
    cache::record_hit(&mut **st, &mut f, t);
    let age_s = f.meta.age_ns(t) / 1_000_000_000;
    meta.cache = Some(outcome::STALE);
    meta.notes.push(format!(
        "stale-if-error: the origin failed ({why}); answered with the stale object (age {age_s} s)"
    ));
    *result = Ok(from_cache(stored.status, &stored.headers, age_s, body));
    true
}

/// Store the response when the rules allow, or fall back to the stale-if-error
/// object; strip what the guest must not see.
fn store_or_fall_back(
    s: &mut Session,
    rt: Readthrough,
    result: &mut Result<BackendResponse, SendFailure>,
    meta: &mut FetchMeta,
) {
    if stale_if_error(s, &rt, result, meta) || freshen(s, &rt, result, meta) {
        return;
    }
    let Ok(r) = result else {
        return;
    };
    let t = s.unix_ns();
    let mut pol = policy::response_policy(r.status, &r.headers, t);
    meta.notes
        .extend(policy::apply_override(&mut pol, &rt.cache_override));
    let ttl = pol.opts.max_age_ns / 1_000_000_000;
    let stored_note = if !rt.store {
        "cache: not stored (a HEAD response has no body to store)".to_string()
    } else if let Err(why) = &pol.storable {
        format!("cache: not stored ({why})")
    } else {
        let opts = WriteOptions {
            request_headers: rt.request_headers.clone(),
            response: Some((
                StoredResponse {
                    status: r.status,
                    headers: r.headers.clone(),
                },
                rt.url.clone(),
            )),
            ..pol.opts.clone()
        };
        let note = format!("stored for {ttl} s ({})", pol.ttl_source);
        meta.cache_results.push(("ttl_s", ttl as i64));
        if let Some(fetch) = r.stream {
            s.pending.cache_fills.insert(
                fetch,
                CacheFill {
                    key: rt.key.clone(),
                    readthrough: Some(rt),
                    release_claim: false,
                    opts,
                    body: r.body.clone(),
                    ttl_note: note,
                },
            );
            "cache: to be stored once the streaming body has arrived".to_string()
        } else {
            insert(s, &rt.key, opts, r.body.clone(), &note)
        }
    };
    meta.notes.push(stored_note);
    r.headers = policy::for_guest(&r.headers, None);
}

/// Insert an object under `key`; returns the trace note.
fn insert(s: &mut Session, key: &[u8], opts: WriteOptions, body: Vec<u8>, note: &str) -> String {
    let t = s.unix_ns();
    let len = body.len();
    let limits = limits(s);
    match cache::insert(&mut **s.state.lock(), key, opts, body, t, limits) {
        Some(_) => format!("cache: {note}"),
        None => {
            format!("cache: not stored (the body of {len} bytes is larger than the cache allows)")
        }
    }
}

/// True when the work `id` is a body read whose bytes the cache copies.
pub(crate) fn is_fill_read(s: &Session, id: WorkId) -> bool {
    s.pending.fill_reads.contains_key(&id)
}

/// A body read of a response being stored finished: copy its bytes; at the end of
/// the body, store the object (and release the key's claim). A body that breaks off
/// stores nothing.
pub(crate) fn fill(s: &mut Session, id: WorkId, result: &WorkResult) {
    let Some(fetch) = s.pending.fill_reads.remove(&id) else {
        return;
    };
    match result {
        WorkResult::BodyChunk { bytes, end } => {
            let Some(f) = s.pending.cache_fills.get_mut(&fetch) else {
                return;
            };
            f.body.extend_from_slice(bytes);
            if f.body.len() as u64 > cache::MAX_OBJECT_BYTES {
                if let Some(f) = s.pending.cache_fills.remove(&fetch) {
                    end_fill(s, &f);
                }
                note_fill(
                    s,
                    "not stored: the body grew past the largest object the cache takes".into(),
                );
                return;
            }
            if *end {
                if let Some(f) = s.pending.cache_fills.remove(&fetch) {
                    let note = insert(s, &f.key, f.opts.clone(), f.body.clone(), &f.ttl_note);
                    end_fill(s, &f);
                    note_fill(s, note);
                }
            }
        }
        _ => {
            if let Some(f) = s.pending.cache_fills.remove(&fetch) {
                end_fill(s, &f);
                note_fill(s, "cache: not stored (the body broke off)".into());
            }
        }
    }
}

/// A fill is over: an HTTP cache insert's claim is released (a readthrough
/// request's goes with its state when the fill is dropped).
fn end_fill(s: &mut Session, f: &CacheFill) {
    if f.release_claim {
        s.claims.release(&f.key);
    }
}

fn note_fill(s: &mut Session, note: String) {
    let mut ev = s.event(crate::trace::EventKind::Work, "cache", "fill".to_string());
    ev.args.push((
        std::borrow::Cow::Borrowed("op"),
        crate::trace::ArgValue::Enum("insert".into()),
    ));
    ev.status = Some(std::borrow::Cow::Borrowed("ok"));
    ev.note = Some(note);
    s.push_event(ev);
}

/// Start a background revalidation of `rt`'s key (its claim is held).
fn revalidate(
    s: &mut Session,
    backend: &Backend,
    mut fetch: FetchRequest,
    mut rt: Readthrough,
    stale: &Found,
) {
    fetch.stream_response = false;
    if conditional(&mut fetch, stale) {
        rt.revalidating = Some(stale.id.clone());
    }
    let mut meta = FetchMeta::new(
        fetch.method.clone(),
        fetch.url.clone(),
        s.elapsed_us(),
        vec!["background revalidation (stale-while-revalidate)".into()],
    );
    meta.cache = Some(outcome::STALE);
    let work = s.start_work(WorkKind::Fetch(Box::new(fetch)));
    s.pending.revalidations.insert(
        work,
        Revalidation {
            readthrough: rt,
            backend: backend.name.clone(),
            meta,
        },
    );
}

/// True when `id` is a background revalidation's fetch.
pub(crate) fn is_revalidation(s: &Session, id: WorkId) -> bool {
    s.pending.revalidations.contains_key(&id)
}

/// A background revalidation's fetch has finished: store what came back.
pub(crate) fn revalidated(s: &mut Session, id: WorkId, result: WorkResult) {
    let Some(mut r) = s.pending.revalidations.remove(&id) else {
        return;
    };
    let (mut outcome, first, end) = match result {
        WorkResult::Fetched(f) | WorkResult::FetchedHead(f) => {
            let (o, first, end) = super::fetched(&mut r.meta, *f, None);
            (o, first, end)
        }
        WorkResult::FetchFailed(e) => (
            Err(SendFailure {
                kind: e.kind,
                message: e.message,
            }),
            0,
            0,
        ),
        _ => return,
    };
    // A failed revalidation keeps the stale object (stale-if-error has no guest here).
    let rt = r.readthrough;
    if outcome.as_ref().is_ok_and(|resp| resp.status < 500) {
        store_or_fall_back(s, rt, &mut outcome, &mut r.meta);
    } else {
        r.meta
            .notes
            .push("the revalidation failed; the stale object stays".into());
    }
    record_event(s, &r.backend, &r.meta, &outcome, first, end);
}
