//! Per-request state: every handle table, the downstream request, the outputs the
//! driver drains, the trace, and the outside work the guest is waiting for.
//!
//! One `Session` lives in each wasmi `Store`; it is created fresh for every
//! downstream request, as on the platform.

use crate::config::ServiceConfig;
use crate::http::{DownstreamRequest, Output};
use crate::memory::GuestMem;
use crate::platform::Platform;
use crate::service::Service;
use crate::storage::SharedStorage;
use crate::trace::{EventKind, TraceEvent};
use std::sync::Arc;

mod body;
mod cache;
mod fuel;
mod handles;
mod pending;
mod pipes;
mod queue;
mod step;
mod tracer;

pub use body::{Body, BodySink, Incoming};
pub use cache::{
    state as cache_state, CacheBusy, CacheEntry, CacheHandle, CacheHandles, CacheTail, Insert,
    InsertKind, LookupRequest, ReplaceHandle, ReplaceStrategy,
};
pub use fuel::FuelMeter;
pub use handles::{HandleTable, MAX_HANDLES};
pub use pending::{
    AsyncItem, CacheFill, CacheInsert, Collapse, FetchMeta, FoundObject, HttpCacheTx, KvOp,
    KvPending, PendingHeaders, PendingRequest, PendingRequests, PendingState, Readthrough,
    Revalidation,
};
pub use pipes::{Pipe, PipeTo};
pub use queue::WorkQueue;
pub use step::{AfterPause, Parked, Replay, Stepper};
pub use tracer::Tracer;

pub use crate::cache::collapse::Claims;
pub use crate::http::{CacheOverride, RequestParts, ResponseParts};
pub use crate::work::{
    BackendResponse, FetchError, FetchErrorKind, FetchRequest, FetchResponse, SendFailure, Work,
    WorkId, WorkKind, WorkResult,
};

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
    /// Which request of the instance this is (0: the one it started with; more in a
    /// reusable sandbox).
    pub index: u32,
}

/// A reusable sandbox's state (`next_request*`).
#[derive(Clone, Debug, Default)]
pub struct Reuse {
    /// The platform hands further requests to this instance
    /// ([`crate::driver::Capabilities::reuses_sandboxes`]).
    pub enabled: bool,
    /// The wait the guest asked for with its pending `next_request` promise.
    pub timeout_ms: Option<u64>,
    /// This instance's name in the trace: the id of the request it started with.
    pub sandbox: String,
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

/// The HTTP handles of one request.
#[derive(Debug, Default)]
pub struct HttpHandles {
    /// Requests.
    pub requests: HandleTable<RequestParts>,
    /// Responses.
    pub responses: HandleTable<ResponseParts>,
    /// Bodies.
    pub bodies: HandleTable<Body>,
}

/// The store handles of one request.
#[derive(Debug, Default)]
pub struct StoreHandles {
    /// Log endpoints by handle (their names).
    pub endpoints: HandleTable<String>,
    /// Open dictionaries / config stores (their names).
    pub dictionaries: HandleTable<String>,
    /// Open secret stores (their names).
    pub secret_stores: HandleTable<String>,
    /// Secrets (their plaintext).
    pub secrets: HandleTable<Vec<u8>>,
    /// Open ACLs (their names; the entries are service state).
    pub acls: HandleTable<String>,
    /// Open KV stores (their names; `fastly_object_store` handles are the same).
    pub kv_stores: HandleTable<String>,
}

/// Per-request state, owned by the wasmi `Store`, grouped by kind: the HTTP handles
/// ([`HttpHandles`]), the store handles ([`StoreHandles`]), the async items and
/// backend requests ([`PendingRequests`]), the work queue ([`WorkQueue`]), the trace
/// ([`Tracer`]) and the fuel meter ([`FuelMeter`]). The last three keep their fields
/// to themselves: everything goes through their methods.
pub struct Session {
    /// Service configuration.
    pub config: Arc<ServiceConfig>,
    /// The service's state, shared with its other requests.
    pub state: SharedStorage,
    /// Platform services.
    pub platform: Platform,
    /// The guest's exported memory, once instantiated.
    pub memory: Option<wasmi::Memory>,
    /// The shadow call stack's pointer and memory (a module instrumented for
    /// backtraces, traced): the profile reads the guest's stack at every hostcall.
    pub shadow: Option<(wasmi::Global, wasmi::Memory)>,
    /// Store limits: the heap size, and the process-wide heap pool if any.
    pub limits: crate::limits::HeapLimiter,
    /// Requests, responses and bodies.
    pub http: HttpHandles,
    /// Log endpoints, dictionaries, secret stores and secrets.
    pub stores: StoreHandles,
    /// Async items and backend requests.
    pub pending: PendingRequests,
    /// Outside work.
    pub work: WorkQueue,
    /// The trace.
    pub tracer: Tracer,
    /// Fuel used.
    pub fuel: FuelMeter,
    /// The downstream request.
    pub downstream: DownstreamInfo,
    /// True once a response head went downstream (for the current request).
    pub response_sent: bool,
    /// Reusable sandbox state.
    pub reuse: Reuse,
    /// What the driver has not drained yet.
    pub outputs: Vec<Output>,
    /// Environment variables the guest sees through WASI.
    pub env: Vec<(String, String)>,
    /// Arguments the guest sees through WASI.
    pub args: Vec<String>,
    /// The call the guest is suspended in, and its trace event.
    pub blocked: Option<(Box<dyn Blocked>, Option<TraceEvent>)>,
    /// Backend bodies being forwarded downstream.
    pub pipes: Vec<Pipe>,
    /// Core cache handles, inserts under way and the claims they hold.
    pub cache: CacheHandles,
    /// This execution's identity in the service's collapsing table
    /// ([`Service::collapser`]): the cache keys its core cache transactions must
    /// insert (a readthrough request takes its own owner, `Claims::another`, so two
    /// requests of one execution collapse too). Released when the execution ends.
    pub claims: Claims,
    /// The service's core cache inserts being written ([`Service::streams`]).
    pub streams: crate::cache::stream::Streams,
    /// Step-through: where to pause and the call paused in (`None`: not stepping,
    /// the one check a hostcall makes).
    pub step: Option<Stepper>,
    /// The bytes the bodies hold, against [`crate::limits::MAX_BUFFERED_BODY_BYTES`].
    pub body_budget: crate::limits::BodyBudget,
    /// The log lines and stdout/stderr still allowed ([`crate::limits::LogBudget`]).
    pub log_budget: crate::limits::LogBudget,
    /// Counted uses of limited resources (dictionary lookups).
    pub usage: crate::limits::Counters,
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
        let tracer = Tracer::new(&platform);
        let claims = service.collapser.owner();
        Session {
            config: service.config,
            state: service.state,
            platform,
            memory: None,
            shadow: None,
            limits: crate::limits::HeapLimiter::new(heap_limit, None),
            http: HttpHandles::default(),
            stores: StoreHandles::default(),
            pending: PendingRequests::default(),
            work: WorkQueue::default(),
            tracer,
            fuel: FuelMeter::new(crate::limits::DEFAULT_FUEL_PER_CPU_MS),
            reuse: Reuse {
                sandbox: request_id.clone(),
                ..Reuse::default()
            },
            downstream: DownstreamInfo {
                request,
                request_id,
                req_handle: None,
                body_handle: None,
                index: 0,
            },
            response_sent: false,
            outputs: Vec::new(),
            env: Vec::new(),
            args: vec!["compute-app".to_string()],
            blocked: None,
            pipes: Vec::new(),
            cache: CacheHandles::default(),
            claims,
            streams: service.streams,
            step: None,
            body_budget: Default::default(),
            log_budget: Default::default(),
            usage: Default::default(),
        }
    }

    /// The wall clock, in Unix nanoseconds (cache freshness, KV TTLs, rate windows).
    pub fn unix_ns(&self) -> u64 {
        self.platform.clock.unix_ns()
    }

    /// Microseconds since the execution started.
    pub fn elapsed_us(&self) -> f64 {
        self.tracer.elapsed_us(&self.platform)
    }

    /// Total fuel consumed, given the fuel left in the current slice.
    pub fn fuel_consumed(&self, fuel_left: u64) -> u64 {
        self.fuel.consumed(fuel_left)
    }

    /// Store an async item under a fresh number of the shared async/body number space;
    /// `None` past [`MAX_HANDLES`] items.
    pub fn insert_async(&mut self, item: AsyncItem) -> Option<u32> {
        if self.pending.async_items.len() >= MAX_HANDLES {
            return None;
        }
        let h = self.http.bodies.reserve()?;
        self.pending.async_items.insert(h, item);
        Some(h)
    }

    /// Fresh request and body handles for the downstream request, recorded as its
    /// handles; `None` when the tables are full.
    pub fn downstream_handles(&mut self) -> Option<(u32, u32)> {
        let d = &self.downstream.request;
        let mut parts = RequestParts::empty();
        parts.method = d.method.clone();
        parts.uri = d.url.clone();
        parts.version = d.version;
        parts.headers = d.headers.clone();
        let body = Body::buffer(d.body.clone());
        let r = self.http.requests.insert(parts)?;
        let Some(b) = self.http.bodies.insert(body) else {
            self.http.requests.take(r);
            return None;
        };
        self.downstream.req_handle = Some(r);
        self.downstream.body_handle = Some(b);
        Some((r, b))
    }

    /// True while the current request's response is still going out: a streaming
    /// body the guest has not closed, or a backend body being forwarded downstream.
    pub fn response_streaming(&self) -> bool {
        self.http
            .bodies
            .values()
            .any(|b| b.sink == BodySink::Downstream)
            || self
                .pipes
                .iter()
                .any(|p| matches!(p.to, PipeTo::Downstream { .. }))
    }

    /// Make `next` the current downstream request (a reusable sandbox accepted it):
    /// its metadata answers from now on, the outputs say they answer it
    /// ([`Output::ForRequest`]), and it gets fresh request and body handles (`None`
    /// when the tables are full).
    pub fn begin_request(&mut self, next: crate::work::NextDownstream) -> Option<(u32, u32)> {
        let index = self.downstream.index + 1;
        self.downstream = DownstreamInfo {
            request: next.request,
            request_id: next.request_id,
            req_handle: None,
            body_handle: None,
            index,
        };
        self.response_sent = false;
        self.outputs.push(Output::ForRequest {
            index,
            request_id: self.downstream.request_id.clone(),
        });
        self.downstream_handles()
    }

    /// Start outside work; the driver picks it up from [`crate::Execution::take_work`].
    pub fn start_work(&mut self, kind: WorkKind) -> WorkId {
        let fill = match &kind {
            WorkKind::FetchBodyRead { fetch } if self.pending.cache_fills.contains_key(fetch) => {
                Some(*fetch)
            }
            _ => None,
        };
        let id = self.work.start(kind);
        if let Some(fetch) = fill {
            // The readthrough cache takes a copy of what this read brings.
            self.pending.fill_reads.insert(id, fetch);
        }
        id
    }

    /// Record a non-hostcall event (a log line, finished work, a lifecycle step).
    pub fn push_event(&mut self, ev: TraceEvent) {
        self.tracer.push(&self.platform, ev);
    }

    /// A new event of `kind` at the current time (numbered when it is pushed).
    pub fn event(
        &mut self,
        kind: EventKind,
        module: &'static str,
        name: impl Into<std::borrow::Cow<'static, str>>,
    ) -> TraceEvent {
        self.tracer.event(&self.platform, kind, module, name)
    }

    /// `data` with the value of every secret the guest holds masked
    /// ([`crate::trace::redact`]): what the trace and the logs show of guest bytes.
    pub fn redact<'a>(&self, data: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
        let mut secrets = self.stores.secrets.values().peekable();
        if secrets.peek().is_none() {
            return std::borrow::Cow::Borrowed(data);
        }
        crate::trace::redact(data, secrets.map(Vec::as_slice))
    }

    /// [`Self::redact`] for text.
    pub fn redact_text(&self, text: String) -> String {
        match self.redact(text.as_bytes()) {
            std::borrow::Cow::Borrowed(_) => text,
            std::borrow::Cow::Owned(b) => String::from_utf8_lossy(&b).into_owned(),
        }
    }

    /// Whether the bodies may hold `more` bytes than now (counted if so): false past
    /// [`crate::limits::MAX_BUFFERED_BODY_BYTES`] for the whole execution.
    pub fn admit_body_bytes(&mut self, more: usize) -> bool {
        let bodies = &self.http.bodies;
        self.body_budget
            .admit(more, || bodies.values().map(|b| b.data.len()).sum())
    }

    /// The note a body write past the bound gets.
    pub fn body_limit_note() -> String {
        format!(
            "host-side bodies limit: an execution's bodies hold at most {} MiB in all (edgeplay buffers what the platform streams; read or send bodies to free it)",
            crate::limits::MAX_BUFFERED_BODY_BYTES >> 20
        )
    }

    /// Queue an output for the driver. Logs and stdio are redacted ([`Self::redact`]):
    /// a secret the guest prints or logs shows as its mask. Past the execution's log
    /// bound ([`crate::limits::LogBudget`]) log lines and stdio writes are dropped.
    pub fn emit(&mut self, out: Output) {
        if let Output::Stdout(d) | Output::Stderr(d) = &out {
            if !self.log_budget.admit(d.len()) {
                return;
            }
        }
        if let Output::Response(head) = &out {
            self.tracer
                .recorder_mut()
                .response(head.status, &head.headers);
        }
        let out = match out {
            Output::Stdout(d) => Output::Stdout(self.redact(&d).into_owned()),
            Output::Stderr(d) => Output::Stderr(self.redact(&d).into_owned()),
            Output::Log { endpoint, line } => Output::Log {
                endpoint,
                line: self.redact_text(line),
            },
            other => other,
        };
        self.outputs.push(out);
    }

    /// At the end of the execution: one stderr line saying how many log lines the
    /// bound dropped, if any.
    pub fn note_dropped_logs(&mut self) {
        if let Some(notice) = self.log_budget.dropped_notice() {
            let mut ev = self.event(EventKind::Lifecycle, "edgeplay", "logs-dropped");
            ev.note = Some(notice.clone());
            self.push_event(ev);
            self.outputs
                .push(Output::Stderr(format!("{notice}\n").into_bytes()));
        }
    }

    /// Write a log line to a named endpoint: an output and a trace event (dropped
    /// past the execution's log bound).
    pub fn log_line(&mut self, endpoint: &str, line: String) {
        if !self.log_budget.admit(line.len()) {
            return;
        }
        let line = self.redact_text(line);
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
