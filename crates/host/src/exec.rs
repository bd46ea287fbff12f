//! One downstream request's execution, and the async boundary.
//!
//! The guest runs with wasmi's resumable calls. A hostcall that needs outside work
//! records it ([`Session::start_work`]) and either returns at once (e.g. `send_async`)
//! or suspends the guest ([`crate::abi::Cx::suspend`]). The driver — the native
//! runner's tokio loop, or the web worker's promise loop — is the only place that
//! waits:
//!
//! ```text
//! loop {
//!     match exec.run() {
//!         Poll::Done(outcome) => break,
//!         Poll::Yielded => {}                     // drain outputs, check Stop, go on
//!         Poll::Blocked => {                      // perform work, then resume
//!             for w in exec.take_work() { start(w) }
//!             let (id, result) = next_finished_work().await;
//!             exec.complete(id, result);
//!         }
//!     }
//!     forward(exec.take_outputs());
//! }
//! ```
//!
//! Fuel gives the time slices: each [`Execution::run`] runs at most one slice, so a
//! busy guest hands control back regularly and can be stopped; the CPU limit is a
//! fuel budget calibrated to the platform's CPU milliseconds.

use crate::abi::Flow;
use crate::engine::{Engine, Guest};
use crate::http::{DownstreamRequest, Output};
use crate::memory::GuestMem;
use crate::service::Service;
use crate::session::{AfterPause, Session, Stepper, Work, WorkId, WorkResult};
use crate::step::{PendingCall, Resume, StepPolicy};
use crate::trace::{EventKind, TraceEvent};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub use crate::limits::{DEFAULT_FUEL_PER_CPU_MS, DEFAULT_HEAP_LIMIT};

/// Limits and knobs of one execution.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExecOptions {
    /// Fuel per slice: how long the guest runs before [`Execution::run`] returns [`Poll::Yielded`].
    pub slice_fuel: u64,
    /// CPU limit in estimated platform milliseconds (`None`: no limit).
    pub cpu_limit_ms: Option<u64>,
    /// Fuel units per estimated CPU millisecond.
    pub fuel_per_cpu_ms: u64,
    /// Heap limit in bytes.
    pub heap_limit: usize,
    /// Record hostcall trace events.
    pub trace: bool,
    /// Extra environment variables (override the defaults).
    pub env: Vec<(String, String)>,
    /// The guest's argv; `None` gives the platform's `["compute-app"]`.
    pub args: Option<Vec<String>>,
    /// Step-through: pause at hostcalls ([`crate::step`]); `None` never pauses.
    #[serde(default)]
    pub step: Option<StepPolicy>,
    /// Wall-clock limit in milliseconds (`None`: none): the driver stops the guest
    /// when it passes ([`crate::limits::PLATFORM_WALL_MS`] on the platform).
    #[serde(default)]
    pub wall_limit_ms: Option<u64>,
    /// Dictionary (config store) lookups allowed (`None`: no limit); past it a lookup
    /// answers LIMITEXCEEDED ([`crate::limits::PLATFORM_DICTIONARY_LOOKUPS`]).
    #[serde(default)]
    pub dictionary_lookups: Option<u32>,
    /// The guest heap all executions share ([`crate::limits::HeapPool`]; `None`: only
    /// each instance's `heap_limit`).
    #[serde(skip)]
    pub heap_pool: Option<crate::limits::HeapPool>,
}

impl Default for ExecOptions {
    fn default() -> Self {
        ExecOptions {
            slice_fuel: 20_000_000,
            cpu_limit_ms: None,
            fuel_per_cpu_ms: DEFAULT_FUEL_PER_CPU_MS,
            heap_limit: DEFAULT_HEAP_LIMIT,
            trace: true,
            env: Vec::new(),
            args: None,
            step: None,
            wall_limit_ms: None,
            dictionary_lookups: None,
            heap_pool: None,
        }
    }
}

pub use crate::outcome::{Exit, Outcome};

/// What [`Execution::run`] reports.
#[derive(Clone, Debug, PartialEq)]
pub enum Poll {
    /// The guest used up its slice (or handed back control to stream output); call `run` again.
    Yielded,
    /// The guest waits for outside work: start [`Execution::take_work`], then
    /// [`Execution::complete`] results and call `run` again.
    Blocked,
    /// The execution is over. Drain the outputs one last time.
    Done(Outcome),
    /// Step-through: the guest is paused at a hostcall ([`Execution::paused`]) until
    /// [`Execution::resume`]. Work may still be completed meanwhile.
    Paused,
}

enum State {
    Ready(wasmi::Func),
    Suspended(wasmi::ResumableCallHostTrap),
    OutOfFuel(wasmi::ResumableCallOutOfFuel),
    Finished(Outcome),
    /// Paused at a hostcall (step-through); `released` once resumed.
    Paused {
        inv: wasmi::ResumableCallHostTrap,
        call: Box<PendingCall>,
        then: AfterPause,
        released: bool,
    },
    Poisoned,
}

/// How a hostcall left the guest, owned (read out of a host trap).
enum HostFlow {
    Suspend,
    Pause,
    Exit(i32),
    Trap(String),
}

impl HostFlow {
    fn of(e: &wasmi::Error) -> HostFlow {
        match e.downcast_ref::<Flow>() {
            Some(Flow::Suspend) => HostFlow::Suspend,
            Some(Flow::Pause) => HostFlow::Pause,
            Some(Flow::Exit(c)) => HostFlow::Exit(*c),
            Some(Flow::Trap(m)) => HostFlow::Trap(m.clone()),
            None => match e.i32_exit_status() {
                Some(c) => HostFlow::Exit(c),
                None => HostFlow::Trap(e.to_string()),
            },
        }
    }
}

/// One downstream request running in a fresh instance.
pub struct Execution {
    store: wasmi::Store<Session>,
    state: State,
    opts: ExecOptions,
    guest: Arc<Guest>,
    instance: wasmi::Instance,
    /// Consecutive yields that consumed no fuel (see [`MAX_STALLED_SLICES`]).
    stalled: u32,
}

/// Yields in a row that used no fuel before an execution is declared stuck. A guest
/// cannot spin without using fuel, so this only ends an execution whose host side
/// stopped making progress — a safety net every driver gets from [`Execution::run`].
pub const MAX_STALLED_SLICES: u32 = 10_000;

impl std::fmt::Debug for Execution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Execution")
    }
}

/// Why an execution could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartError {
    /// Instantiation failed (e.g. the start section trapped, or memory above the heap limit).
    #[error("could not instantiate the guest: {0}")]
    Instantiate(String),
}

/// A request id as Viceroy makes them: the request counter of the server (from 0) as
/// 32 lowercase hex digits. It is also the guest's `FASTLY_TRACE_ID`.
pub fn viceroy_request_id(counter: u64) -> String {
    format!("{counter:032x}")
}

/// The environment a guest sees, as Viceroy sets it: the same values, in Viceroy's
/// order (a guest listing its environment sees them in this order).
pub fn default_env(request_id: &str) -> Vec<(String, String)> {
    [
        ("FASTLY_CACHE_GENERATION", "0"),
        ("FASTLY_CUSTOMER_ID", "0000000000000000000000"),
        ("FASTLY_POP", "XXX"),
        ("FASTLY_REGION", "Somewhere"),
        ("FASTLY_SERVICE_ID", "0000000000000000000000"),
        ("FASTLY_SERVICE_VERSION", "0"),
        ("FASTLY_HOSTNAME", "localhost"),
        ("FASTLY_IS_STAGING", "0"),
        ("FASTLY_TRACE_ID", request_id),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

impl Execution {
    /// Instantiate `guest` for one request of `service` (a configuration alone is a
    /// service with fresh state: see [`Service`]).
    pub fn new(
        engine: &Engine,
        guest: Arc<Guest>,
        service: impl Into<Service>,
        request: DownstreamRequest,
        request_id: String,
        opts: ExecOptions,
    ) -> Result<Self, StartError> {
        let service = service.into();
        // The stores `fastly.toml` defines hold their seed before the guest runs (a
        // no-op once applied: see `seed`).
        crate::seed::seed_once(&service.config, &mut **service.state.lock());
        let mut session = Session::new(
            service,
            engine.platform.clone(),
            request,
            request_id.clone(),
            opts.heap_limit,
        );
        session.tracer.set_hostcalls(opts.trace);
        session.fuel = crate::session::FuelMeter::new(opts.fuel_per_cpu_ms);
        let mut env = default_env(&request_id);
        for (k, v) in &opts.env {
            env.retain(|(ek, _)| ek != k);
            env.push((k.clone(), v.clone()));
        }
        session.env = env;
        if let Some(args) = &opts.args {
            session.args = args.clone();
        }
        session.step = opts.step.clone().map(Stepper::new);
        session.usage.dictionary_limit = opts.dictionary_lookups;
        session.limits = crate::limits::HeapLimiter::new(opts.heap_limit, opts.heap_pool.clone());
        let mut store = wasmi::Store::new(&engine.wasmi, session);
        store.limiter(|s| &mut s.limits);
        store
            .set_fuel(u64::MAX / 4)
            .map_err(|e| StartError::Instantiate(e.to_string()))?;
        let instance = guest
            .linker
            .instantiate_and_start(&mut store, &guest.module)
            .map_err(|e| {
                let msg = e.to_string();
                StartError::Instantiate(if msg.contains("resource limiter denied") {
                    format!(
                        "the guest's memory at start is more than the heap limit of {} MiB allows ({msg})",
                        opts.heap_limit / (1024 * 1024)
                    )
                } else {
                    msg
                })
            })?;
        if let Some(snap) = &guest.snapshot {
            crate::snapshot::restore(&mut store, &instance, snap)
                .map_err(StartError::Instantiate)?;
        }
        let memory = instance.get_memory(&store, "memory");
        store.data_mut().memory = memory;
        if opts.trace && guest.info.backtraces {
            let sp = instance.get_global(&store, crate::backtrace::SP_EXPORT);
            let shadow = instance.get_memory(&store, crate::backtrace::SHADOW_EXPORT);
            store.data_mut().shadow = sp.zip(shadow);
        }
        // The profile starts from the memory the guest starts with and the request.
        let heap = memory.map_or(0, |m| m.data(&store).len() as u64);
        let s = store.data_mut();
        let at = s.tracer.elapsed_us(&s.platform);
        let rec = s.tracer.recorder_mut();
        rec.heap_at(at, heap);
        rec.headers(
            || "downstream request".to_string(),
            &s.downstream.request.headers,
        );
        let start = instance
            .get_func(&store, "_start")
            .ok_or_else(|| StartError::Instantiate("no _start export".into()))?;
        let mut ev = store
            .data_mut()
            .event(EventKind::Lifecycle, "edgeplay", "start");
        ev.note = Some(format!(
            "fresh instance for request {request_id}; heap limit {} MiB",
            opts.heap_limit / (1024 * 1024)
        ));
        store.data_mut().push_event(ev);
        Ok(Execution {
            store,
            state: State::Ready(start),
            opts,
            guest,
            instance,
            stalled: 0,
        })
    }

    /// The options it runs with.
    pub fn options(&self) -> &ExecOptions {
        &self.opts
    }

    /// What the execution has used of the platform's limits so far
    /// ([`crate::limits::Usage`]): its heap now, backend requests, dictionary lookups.
    pub fn usage(&self) -> crate::limits::Usage {
        let s = self.store.data();
        crate::limits::Usage {
            heap_bytes: s.memory.map_or(0, |m| m.data(&self.store).len() as u64),
            backend_requests: s.pending.backend_requests,
            dictionary_lookups: s.usage.dictionary_lookups,
            fuel: self.fuel_consumed(),
            cpu_limit_hit_ms: match &self.state {
                State::Finished(Outcome {
                    exit: Exit::CpuLimit { limit_ms },
                    ..
                }) => Some(*limit_ms),
                _ => None,
            },
        }
    }

    /// The session (handles, trace, outputs), read-only.
    pub fn session(&self) -> &Session {
        self.store.data()
    }

    /// Work the guest started since the last call; the driver performs it.
    pub fn take_work(&mut self) -> Vec<Work> {
        self.store.data_mut().work.take_new()
    }

    /// Hand in the result of finished work. A backend fetch settles its pending request
    /// at once (its trace event gets the time it ended); the guest sees it when it next
    /// waits or polls. Results may come in any order.
    pub fn complete(&mut self, id: WorkId, result: WorkResult) {
        let s = self.store.data_mut();
        if s.work.drop_if_forgotten(id) {
            return;
        }
        if crate::pending::readthrough::is_fill_read(s, id) {
            crate::pending::readthrough::fill(s, id, &result);
        }
        let Some(result) = s.complete_pipe(id, result) else {
            return;
        };
        if crate::pending::readthrough::is_revalidation(s, id) {
            crate::pending::readthrough::revalidated(s, id, result);
            return;
        }
        match s.pending.fetch_work.remove(&id) {
            Some(h) => crate::pending::settle(s, h, id, result),
            None => {
                s.work.finish(id, result);
            }
        }
    }

    /// Outputs produced since the last call, in order.
    pub fn take_outputs(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.store.data_mut().outputs)
    }

    /// Trace events recorded so far (moves them out).
    pub fn take_trace(&mut self) -> Vec<TraceEvent> {
        self.store.data_mut().tracer.take()
    }

    /// The run's profile ([`crate::profile`]) from its whole `trace` (every event
    /// taken so far, in any order): complete once the execution is over.
    pub fn profile(&self, trace: &[TraceEvent]) -> crate::profile::Profile {
        let s = self.store.data();
        let outcome = match &self.state {
            State::Finished(o) => Some(o),
            _ => None,
        };
        let run = crate::profile::RunInfo {
            request_id: s.downstream.request_id.clone(),
            method: s.downstream.request.method.clone(),
            url: s.downstream.request.url.clone(),
            module_sha256: self.guest.info.sha256.clone(),
        };
        crate::profile::Profile::build(trace, s.tracer.recorder(), &self.guest.names, outcome, run)
    }

    /// Total fuel consumed so far.
    pub fn fuel_consumed(&self) -> u64 {
        let left = self.store.get_fuel().unwrap_or(0);
        self.store.data().fuel_consumed(left)
    }

    /// Stop the execution now (the driver's Stop button). Outputs already produced stay.
    pub fn stop(&mut self) -> Outcome {
        if let State::Finished(o) = &self.state {
            // The guest had ended; only forwarding was left.
            let o = o.clone();
            self.store.data_mut().cut_pipes();
            self.store.data_mut().pending.revalidations.clear();
            return o;
        }
        let outcome = self.outcome(Exit::Stopped);
        self.store.data_mut().cut_pipes();
        self.store.data_mut().pending.revalidations.clear();
        self.finish(outcome.clone());
        outcome
    }

    fn outcome(&self, exit: Exit) -> Outcome {
        let fuel = self.fuel_consumed();
        Outcome {
            exit,
            fuel,
            cpu_ms_estimate: fuel as f64 / self.opts.fuel_per_cpu_ms.max(1) as f64,
        }
    }

    fn finish(&mut self, outcome: Outcome) -> Poll {
        // A streaming response the guest neither closed nor abandoned is cut off, as
        // on the platform and in Viceroy: the client must not see it as complete.
        let s = self.store.data_mut();
        crate::pending::note_unfinished(s);
        // Open cache inserts store nothing; held claims are released for the waiters.
        crate::abi::cache::end_of_execution(s);
        s.note_dropped_logs();
        if let Some(note) = s.limits.pool_note() {
            let mut ev = s.event(EventKind::Lifecycle, "edgeplay", "memory-pool");
            ev.note = Some(note.clone());
            s.push_event(ev);
            s.outputs
                .push(Output::Stderr(format!("edgeplay: {note}\n").into_bytes()));
        }
        if let Some(note) = s.tracer.dropped_note() {
            let mut ev = s.event(EventKind::Lifecycle, "edgeplay", "trace-truncated");
            ev.note = Some(note);
            s.push_event(ev);
        }
        if s.http
            .bodies
            .values()
            .any(|b| b.sink == crate::session::BodySink::Downstream)
        {
            s.emit(Output::BodyAbort);
            let mut ev = s.event(EventKind::Lifecycle, "edgeplay", "stream-cut");
            ev.note = Some(
                "the guest ended without closing its streaming response body; the client sees an incomplete response".into(),
            );
            s.push_event(ev);
        }
        // So is a streaming upload: the origin must not see its body as complete.
        let uploads: Vec<WorkId> = s
            .http
            .bodies
            .values()
            .filter_map(|b| match b.sink {
                crate::session::BodySink::UploadStream(w) => Some(w),
                _ => None,
            })
            .collect();
        for fetch in uploads {
            s.start_work(crate::session::WorkKind::FetchBodyEnd {
                fetch,
                abandoned: true,
            });
            let mut ev = s.event(EventKind::Lifecycle, "edgeplay", "upload-cut");
            ev.note = Some(
                "the guest ended without closing a streaming request body; the origin sees an incomplete body".into(),
            );
            s.push_event(ev);
        }
        let mut ev = self
            .store
            .data_mut()
            .event(EventKind::Lifecycle, "edgeplay", "end");
        ev.note = Some(match outcome.exit.error_message() {
            Some(m) => m,
            None => format!(
                "guest finished; {} fuel, ~{:.2} ms CPU (estimate)",
                outcome.fuel, outcome.cpu_ms_estimate
            ),
        });
        self.store.data_mut().push_event(ev);
        self.store.data_mut().blocked = None;
        self.state = State::Finished(outcome.clone());
        self.done_or_draining(outcome)
    }

    /// Over, unless backend bodies are still being forwarded downstream or a
    /// background revalidation is still under way: then the execution waits for them
    /// (the guest has ended; its outcome is settled).
    fn done_or_draining(&self, outcome: Outcome) -> Poll {
        let s = self.store.data();
        if s.pipes.is_empty() && s.pending.revalidations.is_empty() {
            Poll::Done(outcome)
        } else {
            Poll::Blocked
        }
    }

    /// Start a new fuel slice of at least `required` fuel (what the next instruction
    /// needs), respecting the CPU limit. Returns false when the budget cannot cover it.
    fn refill(&mut self, required: u64) -> bool {
        let consumed = self.fuel_consumed();
        let budget = self
            .opts
            .cpu_limit_ms
            .map(|ms| ms.saturating_mul(self.opts.fuel_per_cpu_ms));
        let want = self.opts.slice_fuel.max(required).max(1);
        let slice = match budget {
            Some(b) if consumed >= b || b - consumed < required => return false,
            Some(b) => want.min(b - consumed),
            None => want,
        };
        let s = self.store.data_mut();
        s.fuel.start_slice(consumed, slice);
        // Setting fuel cannot fail: fuel metering is always on in our engine.
        let _ = self.store.set_fuel(slice);
        true
    }

    /// Run the guest for at most one fuel slice, or until it blocks or ends.
    pub fn run(&mut self) -> Poll {
        let before = self.fuel_consumed();
        let poll = self.run_slice();
        if poll != Poll::Yielded {
            self.stalled = 0;
            return poll;
        }
        let fuel = self.fuel_consumed();
        self.stalled = if fuel == before { self.stalled + 1 } else { 0 };
        if self.stalled >= MAX_STALLED_SLICES {
            return self.finish_with(Exit::Trap {
                message: format!(
                    "internal error: the execution stopped making progress after {fuel} fuel"
                ),
                backtrace: Vec::new(),
            });
        }
        poll
    }

    fn run_slice(&mut self) -> Poll {
        let state = std::mem::replace(&mut self.state, State::Poisoned);
        let result = match state {
            State::Finished(o) => {
                self.state = State::Finished(o.clone());
                return self.done_or_draining(o);
            }
            State::Poisoned => {
                return self.finish_with(Exit::Trap {
                    message: "internal error: execution state lost".into(),
                    backtrace: Vec::new(),
                })
            }
            State::Ready(func) => {
                if !self.refill(0) {
                    return self.cpu_limit();
                }
                func.call_resumable(&mut self.store, &[], &mut [])
            }
            State::OutOfFuel(inv) => {
                if !self.refill(inv.required_fuel()) {
                    return self.cpu_limit();
                }
                inv.resume(&mut self.store, &mut [])
            }
            State::Suspended(inv) => match self.poll_blocked() {
                None => {
                    self.state = State::Suspended(inv);
                    return Poll::Blocked;
                }
                Some(_) if self.parked() => {
                    // Finished with a status to pause at: the guest sees it on resume.
                    return self.pause(inv);
                }
                Some(value) => {
                    if !self.refill(0) {
                        return self.cpu_limit();
                    }
                    inv.resume(&mut self.store, &[wasmi::Val::I32(value)], &mut [])
                }
            },
            State::Paused {
                inv,
                call,
                then,
                released: false,
            } => {
                self.state = State::Paused {
                    inv,
                    call,
                    then,
                    released: false,
                };
                return Poll::Paused;
            }
            State::Paused { inv, then, .. } => {
                let value = match then {
                    AfterPause::Value(v) => v,
                    AfterPause::Replay(call) => match call(&mut self.store) {
                        Ok(v) => v,
                        Err(e) => return self.host_flow(inv, HostFlow::of(&e)),
                    },
                };
                if !self.refill(0) {
                    return self.cpu_limit();
                }
                let inputs: Vec<wasmi::Val> = value.map(wasmi::Val::I32).into_iter().collect();
                inv.resume(&mut self.store, &inputs, &mut [])
            }
        };
        match result {
            Ok(wasmi::ResumableCall::Finished) => self.finish_with(Exit::Returned),
            Ok(wasmi::ResumableCall::OutOfFuel(inv)) => {
                self.state = State::OutOfFuel(inv);
                Poll::Yielded
            }
            Ok(wasmi::ResumableCall::HostTrap(inv)) => {
                let flow = HostFlow::of(inv.host_error());
                self.host_flow(inv, flow)
            }
            Err(e) => {
                if let Some(code) = e.i32_exit_status() {
                    return self.finish_with(Exit::Exit(code));
                }
                let message = match e.as_trap_code() {
                    Some(code) => code.trap_message().to_string(),
                    None => e.to_string(),
                };
                let backtrace = self.backtrace();
                self.finish_with(Exit::Trap { message, backtrace })
            }
        }
    }

    /// The guest left a hostcall the way `flow` says, with `inv` to resume it.
    fn host_flow(&mut self, inv: wasmi::ResumableCallHostTrap, flow: HostFlow) -> Poll {
        match flow {
            HostFlow::Suspend => {
                self.state = State::Suspended(inv);
                // A suspension that can finish at once only hands control to the driver.
                if self.blocked_is_ready() {
                    Poll::Yielded
                } else {
                    let s = self.store.data_mut();
                    s.tracer.wait_begin(&s.platform);
                    Poll::Blocked
                }
            }
            HostFlow::Pause => self.pause(inv),
            HostFlow::Exit(code) => self.finish_with(Exit::Exit(code)),
            HostFlow::Trap(message) => {
                let backtrace = self.backtrace();
                self.finish_with(Exit::Trap { message, backtrace })
            }
        }
    }

    /// True when a hostcall parked a paused call in the session.
    fn parked(&self) -> bool {
        matches!(&self.store.data().step, Some(st) if st.parked.is_some())
    }

    /// Pause at the call the session has parked.
    fn pause(&mut self, inv: wasmi::ResumableCallHostTrap) -> Poll {
        let parked = self
            .store
            .data_mut()
            .step
            .as_mut()
            .and_then(|st| st.parked.take());
        let Some(p) = parked else {
            return self.finish_with(Exit::Trap {
                message: "internal error: paused without a paused call".into(),
                backtrace: Vec::new(),
            });
        };
        self.state = State::Paused {
            inv,
            call: Box::new(p.call),
            then: p.then,
            released: false,
        };
        Poll::Paused
    }

    /// The hostcall the guest is paused at (step-through), until it is resumed.
    pub fn paused(&self) -> Option<&PendingCall> {
        match &self.state {
            State::Paused {
                call,
                released: false,
                ..
            } => Some(call),
            _ => None,
        }
    }

    /// Resume a paused guest ([`Execution::paused`]): the paused call runs (or the
    /// guest gets its result) at the next [`Execution::run`], which then pauses
    /// before the next call (`Step`), at the next breakpoint (`Continue`) or not
    /// again (`RunToEnd`). Does nothing when not paused.
    pub fn resume(&mut self, how: Resume) {
        let State::Paused { released, .. } = &mut self.state else {
            return;
        };
        *released = true;
        let s = self.store.data_mut();
        s.tracer.unpause(&s.platform);
        match how {
            Resume::Step | Resume::Continue => {
                if let Some(st) = s.step.as_mut() {
                    st.set_every_call(how == Resume::Step);
                }
            }
            Resume::RunToEnd => s.step = None,
        }
    }

    /// Let the guest accept further downstream requests (`next_request_wait`, a
    /// reusable sandbox): the driver's [`crate::driver::Capabilities::reuses_sandboxes`].
    /// Off (the default), `next_request_wait` answers NONE.
    pub fn set_reuses_sandboxes(&mut self, on: bool) {
        self.store.data_mut().reuse.enabled = on;
    }

    /// Change where a stepping execution pauses (`None`: never again). Takes effect
    /// from the next hostcall.
    pub fn set_step_policy(&mut self, policy: Option<StepPolicy>) {
        let s = self.store.data_mut();
        match (policy, s.step.as_mut()) {
            (Some(p), Some(st)) => st.set_policy(p),
            (Some(p), None) => s.step = Some(Stepper::new(p)),
            (None, _) => s.step = None,
        }
    }

    fn cpu_limit(&mut self) -> Poll {
        let limit_ms = self.opts.cpu_limit_ms.unwrap_or(0);
        self.finish_with(Exit::CpuLimit { limit_ms })
    }

    fn finish_with(&mut self, exit: Exit) -> Poll {
        let o = self.outcome(exit);
        self.finish(o)
    }

    /// Guest function names at the trap, innermost first, when the module was instrumented.
    fn backtrace(&self) -> Vec<String> {
        capture_backtrace(&self.store, &self.instance, &self.guest)
    }

    fn blocked_is_ready(&mut self) -> bool {
        matches!(
            self.store.data().blocked.as_ref(),
            Some((b, _)) if b.is_ready_now()
        )
    }

    /// Ask the blocked call whether it can finish; closes its trace event when it does.
    fn poll_blocked(&mut self) -> Option<i32> {
        let memory = self.store.data().memory;
        let (data, s): (&mut [u8], &mut Session) = match memory {
            Some(m) => m.data_and_store_mut(&mut self.store),
            None => (&mut [], self.store.data_mut()),
        };
        let (mut blocked, ev) = s.blocked.take()?;
        let mut mem = GuestMem::new(data);
        match blocked.poll(&mut mem, s) {
            None => {
                s.blocked = Some((blocked, ev));
                None
            }
            Some(value) => {
                s.tracer.wait_end(&s.platform);
                if let Some(mut ev) = ev {
                    blocked.annotate(&mut ev);
                    ev.bytes_read += mem.bytes_read;
                    ev.bytes_written += mem.bytes_written;
                    ev.code = Some(value);
                    ev.status = Some(crate::abi::status_name(&ev.module, value).into());
                    if let Some(st) = s.step.as_mut() {
                        if st.policy().pause_after(Some(value)) {
                            st.parked = Some(crate::session::Parked {
                                call: crate::abi::step::after(&[], &ev),
                                then: AfterPause::Value(Some(value)),
                            });
                            s.tracer.pause(&s.platform);
                        }
                    }
                    s.tracer.close_hostcall(&s.platform, ev);
                }
                Some(value)
            }
        }
    }
}

/// Guest function names at the point of a trap, innermost first: the name from the
/// `name` section (Rust symbols demangled, without their hash), or `func[<index>]`.
/// Empty when the guest was not instrumented.
fn capture_backtrace(
    store: &wasmi::Store<Session>,
    instance: &wasmi::Instance,
    guest: &Guest,
) -> Vec<String> {
    if !guest.info.backtraces {
        return Vec::new();
    }
    let Some(frames) = crate::backtrace::shadow_frames(store, instance) else {
        return Vec::new();
    };
    frames
        .iter()
        .rev()
        .map(|&i| match guest.names.get(i) {
            Some(name) => crate::backtrace::display_name(name),
            None => format!("func[{i}]"),
        })
        .collect()
}
