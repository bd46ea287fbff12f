//! The async items of one request: pending backend requests, request promises, KV
//! store operations, core cache busy handles and HTTP cache transactions.

use crate::backends::Backend;
use crate::cache::Found;
use crate::http::{Headers, RequestParts};
use crate::kv::{Entry, InsertMode, KvError, ListPage};
use crate::work::{BackendResponse, FetchRequest, SendFailure, WorkId};
use std::collections::{BTreeMap, HashMap};

/// The async items and backend requests of one request.
#[derive(Debug, Default)]
pub struct PendingRequests {
    /// Async items (pending backend requests, request promises): one number space,
    /// shared with the bodies (numbers come from [`super::HandleTable::reserve`]), as
    /// `async_io.select` takes any of them.
    pub async_items: BTreeMap<u32, AsyncItem>,
    /// Backends the guest registered (`register_dynamic_backend`).
    pub dynamic_backends: BTreeMap<String, Backend>,
    /// Backend requests sent so far (the platform allows 32 per client request).
    pub backend_requests: u32,
    /// Pending requests whose fetch (or mock delay) is this work.
    pub fetch_work: HashMap<WorkId, u32>,
    /// Counts pending requests as they finish, to tell which finished first.
    pub done_counter: u64,
    /// The readthrough cache's state of pending requests that go through it.
    pub readthrough: HashMap<u32, Readthrough>,
    /// Background revalidations (stale-while-revalidate) by their fetch's work id.
    pub revalidations: HashMap<WorkId, Revalidation>,
    /// The cache outcome of requests a guest-side HTTP cache transaction sends
    /// uncached (by request handle): `MISS` for its suggested backend request, `STALE`
    /// for a background revalidation, `PASS` for the looked-up request sent as is.
    /// The send's backend trace event names it.
    pub guest_cache_sends: HashMap<u32, &'static str>,
    /// Responses being stored as their body streams in, by their fetch's work id.
    pub cache_fills: HashMap<WorkId, CacheFill>,
    /// Body reads of those fetches (read's work id → fetch's work id).
    pub fill_reads: HashMap<WorkId, WorkId>,
    /// HTTP cache inserts whose body the guest is writing, by body handle.
    pub cache_inserts: BTreeMap<u32, CacheInsert>,
}

/// A backend response the cache stores once its streaming body has arrived (whoever
/// reads it: the guest, or a pipe forwarding it downstream): a readthrough miss, or
/// an HTTP cache insert whose body is a backend body still arriving.
#[derive(Debug)]
pub struct CacheFill {
    /// The cache key.
    pub key: Vec<u8>,
    /// A readthrough request's cache state (its claim is held until the object is
    /// stored, and released when this is dropped).
    pub readthrough: Option<Readthrough>,
    /// An HTTP cache insert's: release this execution's claim on `key` at the end.
    pub release_claim: bool,
    /// What to store it with.
    pub opts: crate::cache::WriteOptions,
    /// The body so far.
    pub body: Vec<u8>,
    /// What the trace says about it.
    pub ttl_note: String,
}

/// A backend request that goes through the readthrough cache: what the cache needs
/// to finish it (see `pending::readthrough`).
#[derive(Debug)]
pub struct Readthrough {
    /// The cache key (`cache::policy::request_key`).
    pub key: Vec<u8>,
    /// The request's URL (shown on stored objects).
    pub url: String,
    /// The request's headers as the guest set them (the vary rule takes its values
    /// from them).
    pub request_headers: Headers,
    /// The request's cache override.
    pub cache_override: crate::http::CacheOverride,
    /// True for a `GET`: what comes back is stored when the rules allow.
    pub store: bool,
    /// A stale object the request may be answered with if the origin fails
    /// (stale-if-error): its id.
    pub stale_if_error: Option<String>,
    /// Waiting for another request's fetch of the same key: the request to send
    /// when that one is done without storing anything.
    pub collapse: Option<Collapse>,
    /// This request's claims on cache keys (released when it is dropped).
    pub claims: crate::cache::collapse::Claims,
    /// The stale object this fetch revalidates with a conditional request
    /// (`If-None-Match` / `If-Modified-Since`): its id. A 304 freshens it.
    pub revalidating: Option<String>,
}

/// A request waiting on another execution's fetch of the same cache key.
#[derive(Debug)]
pub struct Collapse {
    /// The request to send if it has to go to the origin after all.
    pub fetch: Box<FetchRequest>,
    /// Its backend.
    pub backend: Box<Backend>,
    /// How many times it has looked again.
    pub polls: u32,
}

/// A background revalidation (stale-while-revalidate): a fetch no guest waits for
/// whose response refreshes the cache.
#[derive(Debug)]
pub struct Revalidation {
    /// The cache state of the request it revalidates for.
    pub readthrough: Readthrough,
    /// The backend's name.
    pub backend: String,
    /// The trace details of the fetch.
    pub meta: FetchMeta,
}

/// An HTTP cache insert waiting for its body (`fastly_http_cache.transaction_insert*`):
/// stored when the guest closes the body, which also releases the key's claim.
#[derive(Debug)]
pub struct CacheInsert {
    /// The cache key.
    pub key: Vec<u8>,
    /// The object's options, response head and URL.
    pub opts: crate::cache::WriteOptions,
    /// The stream-back handle (`transaction_insert_and_stream_back`) to give the
    /// stored object to.
    pub readback: Option<u32>,
}

/// An entry of the shared async-item table ([`PendingRequests::async_items`]).
#[derive(Debug)]
pub enum AsyncItem {
    /// A backend request (`send_async*`, or the one behind a blocking `send`).
    Pending(Box<PendingRequest>),
    /// A promise of a further downstream request (`http_downstream.next_request`).
    /// edgeplay runs one request per instance: it is ready at once, with no request.
    RequestPromise,
    /// A KV store operation (`fastly_kv_store.lookup`, `insert`, `delete`, `list`, and
    /// the legacy `fastly_object_store` twins). The store is in memory, so the
    /// operation is done when it starts: the item is ready at once, and its `*_wait`
    /// hands over the result.
    Kv(Box<KvPending>),
    /// A core cache transactional lookup (`fastly_cache.transaction_lookup_async`):
    /// ready once this execution may proceed (no other execution holds the key's
    /// claim), its `cache_busy_handle_wait` hands over the cache handle.
    CacheBusy(Box<super::CacheBusy>),
    /// An HTTP cache lookup or transaction (`fastly_http_cache`): ready once it is no
    /// longer waiting for another execution's claim on its key.
    HttpCache(Box<HttpCacheTx>),
}

impl AsyncItem {
    /// The item's kind, for messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            AsyncItem::Pending(_) => "pending request",
            AsyncItem::RequestPromise => "request promise",
            AsyncItem::Kv(p) => p.op.kind_name(),
            AsyncItem::CacheBusy(_) => "cache busy handle",
            AsyncItem::HttpCache(_) => "HTTP cache handle",
        }
    }
}

/// A backend request the guest started.
#[derive(Debug)]
pub struct PendingRequest {
    /// The backend's name.
    pub backend: String,
    /// Where the request is.
    pub state: PendingState,
    /// Headers to set on the response when it arrives (`pending_req_header_*`).
    pub on_response: PendingHeaders,
    /// Headers to set on the synthetic error response `send_downstream_pending` sends
    /// when the request fails.
    pub on_error: PendingHeaders,
    /// The trace details of the fetch.
    pub meta: FetchMeta,
}

/// What the trace shows of a backend fetch, and how to finish its response.
#[derive(Clone, Debug)]
pub struct FetchMeta {
    /// Method.
    pub method: String,
    /// The URL as it goes on the wire.
    pub url: String,
    /// When the fetch started (µs since the execution started).
    pub start_us: f64,
    /// `content_encodings` bits of `auto_decompress_response_set` (bit 0: gzip).
    pub auto_decompress: u32,
    /// `Some("static" | "echo")` for a mock backend.
    pub mock: Option<&'static str>,
    /// Notes for the trace event (framing fallback, ...).
    pub notes: Vec<String>,
    /// Request headers the driver could not send (for the trace event).
    pub headers_not_sent: Vec<String>,
    /// The readthrough cache's outcome (`HIT`, `MISS`, `PASS`, `STALE`, `COLLAPSED`),
    /// for the trace event; `None` for a send that performs no host-side caching.
    pub cache: Option<&'static str>,
    /// What the readthrough cache stored, for the trace event: the object's TTL in
    /// seconds (or, for a hit, its age and the freshness left).
    pub cache_results: Vec<(&'static str, i64)>,
}

impl PendingRequest {
    /// A request to `backend` under way as `state`, with no headers to add to its
    /// response or error yet: the async item a send's handle names.
    pub fn item(backend: String, state: PendingState, meta: FetchMeta) -> AsyncItem {
        AsyncItem::Pending(Box::new(PendingRequest {
            backend,
            state,
            on_response: PendingHeaders::default(),
            on_error: PendingHeaders::default(),
            meta,
        }))
    }
}

impl FetchMeta {
    /// The metadata of a fetch of `method` `url` that starts at `start_us`, with
    /// `notes`: no decompression, no mock, no cache outcome yet.
    pub fn new(method: String, url: String, start_us: f64, notes: Vec<String>) -> Self {
        FetchMeta {
            method,
            url,
            start_us,
            auto_decompress: 0,
            mock: None,
            notes,
            headers_not_sent: Vec::new(),
            cache: None,
            cache_results: Vec::new(),
        }
    }
}

/// Where a pending request is.
#[derive(Debug)]
pub enum PendingState {
    /// `send_async_streaming` to a mock or unreliable backend: waiting for the guest
    /// to close the upload body (handle `body`); the (simulated) fetch starts then. (To
    /// an origin the fetch starts at once and is [`PendingState::InFlight`].)
    AwaitingBody {
        /// The request to send, without its body yet.
        fetch: Box<FetchRequest>,
        /// The upload body handle.
        body: u32,
        /// The backend it goes to.
        backend: Box<Backend>,
    },
    /// Handed to the driver (a fetch, or a mock's delay); the work's id.
    InFlight {
        /// The work to wait for.
        work: WorkId,
        /// A mock's answer, given when its delay (the work) is over.
        canned: Option<Box<Result<BackendResponse, SendFailure>>>,
    },
    /// Finished; `order` counts completions (smaller finished earlier).
    Done {
        /// The response or the failure.
        result: Box<Result<BackendResponse, SendFailure>>,
        /// Completion order.
        order: u64,
    },
}

/// Header changes queued for a response that has not arrived yet, applied as Viceroy
/// applies them: removals first, then insertions (replacing), then appends.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PendingHeaders {
    remove: Vec<String>,
    insert: Vec<(String, Vec<u8>)>,
    append: Vec<(String, Vec<u8>)>,
}

impl PendingHeaders {
    /// Queue `name: value`, replacing every value of `name` (and earlier queued appends).
    pub fn insert(&mut self, name: &str, value: Vec<u8>) {
        self.append.retain(|(n, _)| n != name);
        self.insert.retain(|(n, _)| n != name);
        self.insert.push((name.to_string(), value));
    }
    /// Queue `name: value` after the existing values.
    pub fn append(&mut self, name: &str, value: Vec<u8>) {
        self.append.push((name.to_string(), value));
    }
    /// Queue the removal of `name` (and drop queued insertions and appends of it).
    pub fn remove(&mut self, name: &str) {
        self.insert.retain(|(n, _)| n != name);
        self.append.retain(|(n, _)| n != name);
        if !self.remove.iter().any(|n| n == name) {
            self.remove.push(name.to_string());
        }
    }
    /// Apply the queued changes to `headers`.
    pub fn apply(&self, headers: &mut Headers) {
        for n in &self.remove {
            headers.remove(n);
        }
        for (n, v) in &self.insert {
            headers.insert(n, v.clone());
        }
        for (n, v) in &self.append {
            headers.append(n, v.clone());
        }
    }
}

/// A KV store operation the guest started and has not waited for yet.
#[derive(Debug)]
pub struct KvPending {
    /// The store's name.
    pub store: String,
    /// When the operation started (µs since the execution started), for its span on
    /// the waterfall.
    pub start_us: f64,
    /// The operation and its result.
    pub op: KvOp,
}

/// A KV operation and its result.
#[derive(Debug)]
pub enum KvOp {
    /// A lookup: the entry, `None` for a miss.
    Lookup {
        /// The key.
        key: String,
        /// What the store answered.
        result: Result<Option<Entry>, KvError>,
    },
    /// An insert: the new generation.
    Insert {
        /// The key.
        key: String,
        /// The insert mode.
        mode: InsertMode,
        /// What the store answered.
        result: Result<u64, KvError>,
    },
    /// A delete.
    Delete {
        /// The key.
        key: String,
        /// What the store answered.
        result: Result<(), KvError>,
    },
    /// A list: one page.
    List {
        /// The prefix listed, if any.
        prefix: Option<String>,
        /// What the store answered.
        result: Result<ListPage, KvError>,
    },
}

impl KvOp {
    /// The operation's kind, for messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            KvOp::Lookup { .. } => "pending KV lookup",
            KvOp::Insert { .. } => "pending KV insert",
            KvOp::Delete { .. } => "pending KV delete",
            KvOp::List { .. } => "pending KV list",
        }
    }

    /// The operation's name (`lookup`, `insert`, `delete`, `list`).
    pub fn name(&self) -> &'static str {
        match self {
            KvOp::Lookup { .. } => "lookup",
            KvOp::Insert { .. } => "insert",
            KvOp::Delete { .. } => "delete",
            KvOp::List { .. } => "list",
        }
    }

    /// How it ended, as the trace shows it: `found`, `ok`, or the `kv_error` name
    /// (`not_found`, `precondition_failed`, ...).
    pub fn outcome(&self) -> &'static str {
        fn err(e: &KvError) -> &'static str {
            e.name()
        }
        match self {
            KvOp::Lookup {
                result: Ok(Some(_)),
                ..
            } => "found",
            KvOp::Lookup {
                result: Ok(None), ..
            } => "not_found",
            KvOp::Lookup { result: Err(e), .. } => err(e),
            KvOp::Insert { result: Ok(_), .. }
            | KvOp::Delete { result: Ok(()), .. }
            | KvOp::List { result: Ok(_), .. } => "ok",
            KvOp::Insert { result: Err(e), .. }
            | KvOp::Delete { result: Err(e), .. }
            | KvOp::List { result: Err(e), .. } => err(e),
        }
    }
}

/// An HTTP cache lookup (`fastly_http_cache.lookup`) or transaction
/// (`transaction_lookup`, and the handles `insert_and_stream_back` /
/// `update_and_return_fresh` return): what was found, and the obligation to insert or
/// update when the transaction holds the key's collapsing claim.
#[derive(Debug)]
pub struct HttpCacheTx {
    /// The cache key.
    pub key: Vec<u8>,
    /// The request looked up (a copy: the guest keeps its handle).
    pub request: RequestParts,
    /// A transaction (collapses and may hold a claim), not a plain lookup.
    pub transactional: bool,
    /// Another execution holds the key's claim: the lookup is retried until it is free.
    pub waiting: bool,
    /// A hit-for-pass marker is in force for the key: nothing found, nothing to do.
    pub uncacheable: bool,
    /// The object found, if any.
    pub found: Option<FoundObject>,
    /// This transaction holds the key's claim and must insert, update, or give up.
    pub must_insert_or_update: bool,
    /// The guest chose the stale object (`transaction_choose_stale`).
    pub chose_stale: bool,
    /// `transaction_insert*` gave the guest the body to write: the object is stored
    /// when it closes ([`CacheInsert`]).
    pub inserted: bool,
    /// The response headers `prepare_response_for_storage` took `Surrogate-Control`
    /// from (its handle and those values), so the suggested options still see it.
    pub prepared: Option<(u32, Vec<Vec<u8>>)>,
    /// A note for the trace about how the lookup went.
    pub outcome: &'static str,
    /// The request handle looked up (the SDK sends it as is when nothing is cached
    /// and nothing must be inserted).
    pub req: u32,
    /// The backend the lookup options name, for the trace.
    pub backend: Option<String>,
    /// The lookup waited for another execution's claim (request collapsing).
    pub collapsed: bool,
    /// It waits for another transaction of this same execution (which holds the
    /// key's claim): only the guest can end that wait, so a blocking wait on this
    /// one takes the obligation instead of waiting for ever.
    pub self_wait: bool,
    /// A found response was given to the guest, and its trace event recorded.
    pub reported: bool,
}

/// An object an HTTP cache lookup found, as it was then.
#[derive(Debug, Clone)]
pub struct FoundObject {
    /// Where it is stored and its meta.
    pub found: Found,
    /// Its body.
    pub body: Vec<u8>,
    /// Fresh at the lookup.
    pub fresh: bool,
    /// Stale but within stale-while-revalidate at the lookup.
    pub within_swr: bool,
    /// Within stale-if-error (or fresh) at the lookup.
    pub usable_if_error: bool,
    /// An object still being inserted from a backend body that is arriving: the
    /// fetch the rest of `body` comes from, until a found response hands it over (one
    /// reader; the cache copies what it reads and stores the object at the end).
    pub stream: Option<WorkId>,
}
