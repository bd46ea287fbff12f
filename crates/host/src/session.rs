//! Per-request state: every handle table, the downstream request, the outputs the
//! driver drains, the trace, and the outside work the guest is waiting for.
//!
//! One `Session` lives in each wasmi `Store`; it is created fresh for every
//! downstream request, as on the platform.

use crate::config::ServiceConfig;
use crate::http::{DownstreamRequest, Headers, Output};
use crate::memory::GuestMem;
use crate::platform::Platform;
use crate::storage::{Service, SharedStorage};
use crate::trace::{EventKind, TraceEvent};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

pub use crate::http::{CacheOverride, RequestParts, ResponseParts};
pub use crate::work::{
    BackendResponse, FetchError, FetchErrorKind, FetchRequest, FetchResponse, SendFailure, Work,
    WorkId, WorkKind, WorkResult,
};

/// Most live handles of one kind a request may hold before calls answer LIMITEXCEEDED.
pub const MAX_HANDLES: usize = 65_536;

/// A table of handles of one kind. Handles are indices and are never reused within a
/// request, so a stale handle is always BADF.
#[derive(Debug)]
pub struct HandleTable<T> {
    items: Vec<Option<T>>,
    live: usize,
}

impl<T> Default for HandleTable<T> {
    fn default() -> Self {
        HandleTable {
            items: Vec::new(),
            live: 0,
        }
    }
}

impl<T> HandleTable<T> {
    /// Store `v`, returning its handle, or `None` past [`MAX_HANDLES`] live handles.
    pub fn insert(&mut self, v: T) -> Option<u32> {
        if self.live >= MAX_HANDLES || self.items.len() >= (u32::MAX - 2) as usize {
            return None;
        }
        self.items.push(Some(v));
        self.live += 1;
        Some((self.items.len() - 1) as u32)
    }
    /// Use up one handle number without storing anything: the number is never live in
    /// this table. Another table can then own it, so the two share one number space
    /// (async items take their numbers from the body table this way). `None` when the
    /// numbers are exhausted.
    pub fn reserve(&mut self) -> Option<u32> {
        if self.items.len() >= (u32::MAX - 2) as usize {
            return None;
        }
        self.items.push(None);
        Some((self.items.len() - 1) as u32)
    }
    /// The value behind `h`.
    pub fn get(&self, h: u32) -> Option<&T> {
        self.items.get(h as usize).and_then(Option::as_ref)
    }
    /// The value behind `h`, mutably.
    pub fn get_mut(&mut self, h: u32) -> Option<&mut T> {
        self.items.get_mut(h as usize).and_then(Option::as_mut)
    }
    /// Remove and return the value behind `h`; the handle is dead afterwards.
    pub fn take(&mut self, h: u32) -> Option<T> {
        let v = self.items.get_mut(h as usize).and_then(Option::take);
        if v.is_some() {
            self.live -= 1;
        }
        v
    }
    /// Every live value.
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.items.iter().flatten()
    }
    /// Every live value, mutably.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.items.iter_mut().flatten()
    }
    /// True if `h` is live.
    pub fn contains(&self, h: u32) -> bool {
        self.get(h).is_some()
    }
    /// Number of live handles.
    pub fn live(&self) -> usize {
        self.live
    }
}

/// Where a body's writes go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BodySink {
    /// An ordinary in-memory body.
    Buffer,
    /// The streaming downstream response body: writes become [`Output::BodyChunk`].
    Downstream,
    /// The streaming upload body of a `send_async_streaming` request to a mock or
    /// unreliable backend (the async item handle of its pending request): writes are
    /// buffered, and `close` starts the (simulated) fetch.
    Upload(u32),
    /// The streaming upload body of a `send_async_streaming` request whose fetch is
    /// already under way (the fetch's work id): writes become
    /// [`WorkKind::FetchBodyChunk`], `close` [`WorkKind::FetchBodyEnd`], `abandon` an
    /// aborted end.
    UploadStream(WorkId),
}

impl BodySink {
    /// True for a write-only streaming body (the downstream response or an upload).
    pub fn is_streaming(self) -> bool {
        !matches!(self, BodySink::Buffer)
    }
}

/// A body the guest holds.
#[derive(Debug)]
pub struct Body {
    /// Unread bytes (for a buffer body).
    pub data: Vec<u8>,
    /// Read position in `data`.
    pub pos: usize,
    /// Trailers.
    pub trailers: Headers,
    /// Where writes go.
    pub sink: BodySink,
    /// The exact length, when the host knows it.
    pub known_length: Option<u64>,
    /// True once a read hit the end of the body: trailers can be read from then on
    /// (before that the trailer getters answer AGAIN, as Viceroy does).
    pub trailers_ready: bool,
    /// The error the body ends in, after `data` (a gzip response that would not
    /// decompress): the read that reaches it answers ERROR once, with this as its note,
    /// and later reads see the end, as with Viceroy's streaming decompression.
    pub error: Option<String>,
}

impl Body {
    /// A buffer body holding `data`.
    pub fn buffer(data: Vec<u8>) -> Self {
        let len = data.len() as u64;
        Body {
            data,
            pos: 0,
            trailers: Headers::new(),
            sink: BodySink::Buffer,
            known_length: Some(len),
            trailers_ready: false,
            error: None,
        }
    }

    /// The body ends in `error` (if any) after its bytes; its length is then unknown.
    pub fn ending_in(mut self, error: Option<String>) -> Self {
        if error.is_some() {
            self.known_length = None;
        }
        self.error = error;
        self
    }

    /// The unread bytes.
    pub fn remaining(&self) -> &[u8] {
        &self.data[self.pos.min(self.data.len())..]
    }

    /// Take the unread bytes out of the body.
    pub fn take_remaining(&mut self) -> Vec<u8> {
        let start = self.pos.min(self.data.len());
        self.data.split_off(start)
    }
}

/// What the downstream request looked like, for the downstream metadata getters.
#[derive(Clone, Debug)]
pub struct DownstreamInfo {
    /// The request as the driver handed it in.
    pub request: DownstreamRequest,
    /// The request id (`downstream_client_request_id`, `FASTLY_TRACE_ID`).
    pub request_id: String,
    /// Handle of the downstream request, once the guest fetched it.
    pub req_handle: Option<u32>,
    /// Handle of the downstream body.
    pub body_handle: Option<u32>,
}

/// A hostcall the guest is suspended in. `poll` is asked, whenever the driver resumes
/// the execution, whether the call can finish now; it returns the call's result.
pub trait Blocked: Send {
    /// `Some(return value)` when the call is finished (memory writes done), `None` to keep waiting.
    fn poll(&mut self, mem: &mut GuestMem<'_>, s: &mut Session) -> Option<i32>;

    /// True when the call can finish without the driver doing anything (a plain yield).
    fn is_ready_now(&self) -> bool {
        false
    }

    /// Add what the call produced to its trace event, once `poll` finished it.
    fn annotate(&mut self, _ev: &mut TraceEvent) {}
}

/// An entry of the shared async-item table ([`Session::async_items`]).
#[derive(Debug)]
pub enum AsyncItem {
    /// A backend request (`send_async*`, or the one behind a blocking `send`).
    Pending(Box<PendingRequest>),
    /// A promise of a further downstream request (`http_downstream.next_request`).
    /// edgeplay runs one request per instance: it is ready at once, with no request.
    RequestPromise,
}

impl AsyncItem {
    /// The item's kind, for messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            AsyncItem::Pending(_) => "pending request",
            AsyncItem::RequestPromise => "request promise",
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
        backend: Box<crate::backends::Backend>,
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

/// A suspension that finishes at once: used to hand control back to the driver (e.g.
/// so it can stream a body chunk) without waiting for anything.
pub struct YieldNow(pub i32);

impl Blocked for YieldNow {
    fn poll(&mut self, _: &mut GuestMem<'_>, _: &mut Session) -> Option<i32> {
        Some(self.0)
    }
    fn is_ready_now(&self) -> bool {
        true
    }
}

/// Per-request state, owned by the wasmi `Store`.
pub struct Session {
    /// Service configuration.
    pub config: Arc<ServiceConfig>,
    /// The service's state, shared with its other requests.
    pub state: SharedStorage,
    /// Platform services.
    pub platform: Platform,
    /// The guest's exported memory, once instantiated.
    pub memory: Option<wasmi::Memory>,
    /// Store limits (heap size).
    pub limits: wasmi::StoreLimits,
    /// Requests.
    pub requests: HandleTable<RequestParts>,
    /// Responses.
    pub responses: HandleTable<ResponseParts>,
    /// Bodies.
    pub bodies: HandleTable<Body>,
    /// Log endpoints by handle (their names).
    pub endpoints: HandleTable<String>,
    /// Open dictionaries / config stores (their names).
    pub dictionaries: HandleTable<String>,
    /// Open secret stores (their names).
    pub secret_stores: HandleTable<String>,
    /// Secrets (their plaintext).
    pub secrets: HandleTable<Vec<u8>>,
    /// Async items (pending backend requests, request promises): one number space,
    /// shared with [`Session::bodies`] (numbers come from [`HandleTable::reserve`]), as
    /// `async_io.select` takes any of them.
    pub async_items: BTreeMap<u32, AsyncItem>,
    /// Backends the guest registered (`register_dynamic_backend`).
    pub dynamic_backends: BTreeMap<String, crate::backends::Backend>,
    /// Backend requests sent so far (the platform allows 32 per client request).
    pub backend_requests: u32,
    /// Pending requests whose fetch (or mock delay) is this work.
    pub fetch_work: HashMap<WorkId, u32>,
    /// Work whose result nobody waits for any more (a select's timeout sleep that lost).
    pub forgotten_work: HashSet<WorkId>,
    /// Counts pending requests as they finish, to tell which finished first.
    pub done_counter: u64,
    /// The downstream request.
    pub downstream: DownstreamInfo,
    /// True once a response head went downstream.
    pub response_sent: bool,
    /// What the driver has not drained yet.
    pub outputs: Vec<Output>,
    /// Environment variables the guest sees through WASI.
    pub env: Vec<(String, String)>,
    /// Arguments the guest sees through WASI.
    pub args: Vec<String>,
    /// Trace events so far.
    pub trace: Vec<TraceEvent>,
    /// True to record hostcall events.
    pub tracing: bool,
    /// Monotonic time the execution started (ns).
    pub started_ns: u64,
    /// Fuel consumed in slices before the current one.
    pub fuel_before_slice: u64,
    /// Fuel the current slice started with.
    pub fuel_slice_start: u64,
    /// Total fuel consumed at the previous trace event.
    pub fuel_at_last_event: u64,
    /// Fuel units per estimated platform CPU millisecond.
    pub fuel_per_cpu_ms: u64,
    /// Work the driver has not been handed yet.
    pub new_work: Vec<Work>,
    /// Work finished by the driver, not yet consumed by a hostcall.
    pub finished_work: HashMap<WorkId, WorkResult>,
    /// Next work id.
    pub next_work_id: WorkId,
    /// The call the guest is suspended in, and its trace event.
    pub blocked: Option<(Box<dyn Blocked>, Option<TraceEvent>)>,
    /// Sequence number of the next trace event.
    pub next_seq: u64,
}

impl Session {
    /// A fresh session for one downstream request.
    pub fn new(
        service: Service,
        platform: Platform,
        request: DownstreamRequest,
        request_id: String,
        heap_limit: usize,
    ) -> Self {
        let started_ns = platform.clock.monotonic_ns();
        Session {
            config: service.config,
            state: service.state,
            platform,
            memory: None,
            limits: wasmi::StoreLimitsBuilder::new()
                .memory_size(heap_limit)
                .build(),
            requests: HandleTable::default(),
            responses: HandleTable::default(),
            bodies: HandleTable::default(),
            endpoints: HandleTable::default(),
            dictionaries: HandleTable::default(),
            secret_stores: HandleTable::default(),
            secrets: HandleTable::default(),
            async_items: BTreeMap::new(),
            dynamic_backends: BTreeMap::new(),
            backend_requests: 0,
            fetch_work: HashMap::new(),
            forgotten_work: HashSet::new(),
            done_counter: 0,
            downstream: DownstreamInfo {
                request,
                request_id,
                req_handle: None,
                body_handle: None,
            },
            response_sent: false,
            outputs: Vec::new(),
            env: Vec::new(),
            args: vec!["compute-app".to_string()],
            trace: Vec::new(),
            tracing: true,
            started_ns,
            fuel_before_slice: 0,
            fuel_slice_start: 0,
            fuel_at_last_event: 0,
            fuel_per_cpu_ms: crate::limits::DEFAULT_FUEL_PER_CPU_MS,
            new_work: Vec::new(),
            finished_work: HashMap::new(),
            next_work_id: 1,
            blocked: None,
            next_seq: 0,
        }
    }

    /// Microseconds since the execution started.
    pub fn elapsed_us(&self) -> f64 {
        let now = self.platform.clock.monotonic_ns();
        now.saturating_sub(self.started_ns) as f64 / 1000.0
    }

    /// Total fuel consumed, given the fuel left in the current slice.
    pub fn fuel_consumed(&self, fuel_left: u64) -> u64 {
        self.fuel_before_slice + self.fuel_slice_start.saturating_sub(fuel_left)
    }

    /// Store an async item under a fresh number of the shared async/body number space;
    /// `None` past [`MAX_HANDLES`] items.
    pub fn insert_async(&mut self, item: AsyncItem) -> Option<u32> {
        if self.async_items.len() >= MAX_HANDLES {
            return None;
        }
        let h = self.bodies.reserve()?;
        self.async_items.insert(h, item);
        Some(h)
    }

    /// Start outside work; the driver picks it up from [`crate::Execution::take_work`].
    pub fn start_work(&mut self, kind: WorkKind) -> WorkId {
        let id = self.next_work_id;
        self.next_work_id += 1;
        self.new_work.push(Work { id, kind });
        id
    }

    /// Record a non-hostcall event (a log line, finished work, a lifecycle step).
    pub fn push_event(&mut self, mut ev: TraceEvent) {
        ev.seq = self.next_seq;
        self.next_seq += 1;
        if ev.start_us == 0.0 {
            ev.start_us = self.elapsed_us();
        }
        self.trace.push(ev);
    }

    /// A new event of `kind` with the next sequence number and the current time.
    pub fn event(
        &mut self,
        kind: EventKind,
        module: &'static str,
        name: impl Into<std::borrow::Cow<'static, str>>,
    ) -> TraceEvent {
        let mut ev = TraceEvent::new(0, kind, module, name);
        ev.start_us = self.elapsed_us();
        ev
    }

    /// Queue an output for the driver.
    pub fn emit(&mut self, out: Output) {
        self.outputs.push(out);
    }

    /// Write a log line to a named endpoint: an output and a trace event.
    pub fn log_line(&mut self, endpoint: &str, line: String) {
        let mut ev = self.event(EventKind::Log, "log", endpoint.to_string());
        ev.args
            .push(("line".into(), crate::trace::ArgValue::Str(line.clone())));
        self.push_event(ev);
        self.emit(Output::Log {
            endpoint: endpoint.to_string(),
            line,
        });
    }
}
