//! The driver core: everything about running an [`Execution`] to its end that does
//! not depend on the platform, written once for every driver.
//!
//! A [`Driver`] owns the execution and the outside work in flight. The platform
//! adapters — the native runner's tokio loop, the web worker's promise loop, the
//! blocking test driver ([`blocking`]) — only perform platform work and hand results
//! back:
//!
//! ```text
//! let mut d = Driver::start(engine, guest, service, request, id, opts, caps)?;
//! loop {
//!     let step = d.step();                   // one fuel slice at most
//!     for w in d.take_work() { perform(w) }  // timers, fetches, upload chunks
//!     forward(d.take_outputs());
//!     match step {
//!         Step::Done(outcome) => break,
//!         Step::Continue => { hand in finished work without waiting; yield }
//!         Step::Wait => { let (id, r) = next_finished().await; d.complete(id, r) }
//!     }
//! }
//! ```
//!
//! What the core does here, so that no adapter repeats it:
//!
//! - **Loop detection** at start ([`Driver::start`]): a request that has passed
//!   through this service too often is answered 508 without running the guest.
//! - **Uploads.** A platform that cannot stream a request body (a browser page over
//!   HTTP/1.1: [`Capabilities::streams_uploads`] false) never sees a streaming
//!   upload: its chunks are buffered here and the fetch is handed over whole when the
//!   guest closes the body, with a note on its trace event; an abandoned upload is
//!   never sent. A platform that streams gets the fetch at once, then each chunk (the
//!   guest's write waits until the platform has taken it: backpressure) and the end.
//! - **Bookkeeping and failures.** Which work is in flight; a guest that waits with
//!   nothing under way (only unclosed buffered uploads: they fail with an explanation;
//!   nothing at all: the execution stops with an internal error); stopping with a
//!   message ([`Driver::stop`]).
//!
//! Adding a new kind of outside work means a new [`WorkKind`] variant, its handling
//! in the core, and one platform adapter for each driver.

pub mod blocking;

use crate::collect::loop_detected_outputs;
use crate::engine::{Engine, Guest};
use crate::exec::{ExecOptions, Execution, StartError};
use crate::http::{DownstreamRequest, Output};
use crate::outcome::{Exit, Outcome};
use crate::service::Service;
use crate::step::{PendingCall, Resume, StepPolicy};
use crate::trace::TraceEvent;
use crate::work::{FetchError, FetchErrorKind, FetchRequest, Work, WorkId, WorkKind, WorkResult};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// What the platform under a driver can do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Capabilities {
    /// The platform can send a request body while it is still being written (native:
    /// yes; a browser page: no, `fetch` needs the whole body over HTTP/1.1).
    pub streams_uploads: bool,
    /// The platform hands further downstream requests to a guest that asks for them
    /// (`next_request_wait`: a reusable sandbox, [`WorkKind::NextRequest`]). Off, the
    /// core answers NONE (no further request) itself.
    pub reuses_sandboxes: bool,
}

impl Capabilities {
    /// The native runner's one-shot platform (`edgeplay request`, `run`).
    pub const NATIVE: Capabilities = Capabilities {
        streams_uploads: true,
        reuses_sandboxes: false,
    };
    /// The native server (`edgeplay serve`): also reuses sandboxes.
    pub const NATIVE_SERVER: Capabilities = Capabilities {
        streams_uploads: true,
        reuses_sandboxes: true,
    };
    /// A browser page's platform.
    pub const BROWSER: Capabilities = Capabilities {
        streams_uploads: false,
        reuses_sandboxes: false,
    };
}

pub use crate::limits::{
    next_request_wait_ms, MAX_FURTHER_REQUESTS, MAX_NEXT_REQUEST_WAIT_MS, MAX_WAITING_SANDBOXES,
};

/// What [`Driver::step`] asks of the adapter next.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// The guest can go on: hand in results that are already there (without waiting),
    /// let the platform breathe if it needs to, and step again.
    Continue,
    /// The guest waits for outside work: wait until some piece finishes, hand it in
    /// with [`Driver::complete`], and step again.
    Wait,
    /// The execution is over; drain the outputs and the trace one last time.
    Done(Outcome),
    /// Step-through ([`crate::step`]): the guest is paused at this hostcall. Drain
    /// the trace, show the call, and [`Driver::resume`] (or [`Driver::stop`]) when the
    /// user says; finished work can still be handed in meanwhile.
    Paused(Box<PendingCall>),
}

/// The note on the trace event of an upload a driver buffered.
/// (Only a browser page buffers uploads, so the text says so.)
pub const BUFFERED_UPLOAD_NOTE: &str = "streaming upload: a browser cannot stream a request \
    body, so edgeplay sent it whole when the guest closed it";

/// The message a guest that waits for a buffered upload it never closes gets.
pub const UNCLOSED_UPLOAD: &str = "the guest waits for the response of a streaming upload \
    it has not closed; a browser sends a request body only once it is complete \
    (edgeplay's native runner streams it)";

/// The message of an abandoned buffered upload.
pub const ABANDONED_UPLOAD: &str = "the guest abandoned the streaming request body; the \
    browser buffers uploads, so the request was never sent";

/// The message when a guest waits and nothing can wake it.
pub const NOTHING_UNDER_WAY: &str =
    "internal error: the guest is waiting, but no outside work is under way";

/// One execution and the outside work it has in flight.
pub struct Driver {
    exec: Option<Execution>,
    caps: Capabilities,
    /// Work handed to the platform whose result has not come back.
    in_flight: HashSet<WorkId>,
    /// Streaming uploads being buffered (platforms that cannot stream), by fetch id.
    buffering: HashMap<WorkId, FetchRequest>,
    /// Buffered uploads handed over whole: their result gets a note.
    sent_whole: HashSet<WorkId>,
    /// Work for the platform, not taken yet.
    ready: Vec<Work>,
    /// Outputs of a request answered without running the guest.
    outputs: Vec<Output>,
    done: Option<Outcome>,
    /// The core handed a result in itself while routing (a buffered upload chunk
    /// taken, an abandoned upload failed): a guest that just blocked may go on.
    handed_in: bool,
}

impl std::fmt::Debug for Driver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Driver")
            .field("in_flight", &self.in_flight.len())
            .field("buffering", &self.buffering.len())
            .field("done", &self.done)
            .finish()
    }
}

impl Driver {
    /// Start one downstream request: answer it at once when it loops
    /// ([`crate::backends::loop_detected`]), else instantiate the guest.
    pub fn start(
        engine: &Engine,
        guest: Arc<Guest>,
        service: impl Into<Service>,
        request: DownstreamRequest,
        request_id: String,
        opts: ExecOptions,
        caps: Capabilities,
    ) -> Result<Driver, StartError> {
        if crate::backends::loop_detected(&request) {
            return Ok(Driver::answered(loop_detected_outputs(), caps));
        }
        let exec = Execution::new(engine, guest, service, request, request_id, opts)?;
        Ok(Driver::new(exec, caps))
    }

    /// Drive an execution that is already instantiated.
    pub fn new(mut exec: Execution, caps: Capabilities) -> Driver {
        exec.set_reuses_sandboxes(caps.reuses_sandboxes);
        Driver::with(Some(exec), Vec::new(), None, caps)
    }

    /// A request the platform answers itself, without running the guest.
    fn answered(outputs: Vec<Output>, caps: Capabilities) -> Driver {
        let done = Outcome {
            exit: Exit::Returned,
            fuel: 0,
            cpu_ms_estimate: 0.0,
        };
        Driver::with(None, outputs, Some(done), caps)
    }

    fn with(
        exec: Option<Execution>,
        outputs: Vec<Output>,
        done: Option<Outcome>,
        caps: Capabilities,
    ) -> Driver {
        Driver {
            exec,
            caps,
            in_flight: HashSet::new(),
            buffering: HashMap::new(),
            sent_whole: HashSet::new(),
            ready: Vec::new(),
            outputs,
            done,
            handed_in: false,
        }
    }

    /// The execution, unless the request was answered without running the guest.
    pub fn execution(&self) -> Option<&Execution> {
        self.exec.as_ref()
    }

    /// True when the guest never ran (the platform answered the request itself).
    pub fn answered_without_guest(&self) -> bool {
        self.exec.is_none()
    }

    /// Work handed to the platform that has not come back.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Run the guest for at most one fuel slice, route the work it started, and say
    /// what the adapter should do next.
    pub fn step(&mut self) -> Step {
        if let Some(o) = &self.done {
            return Step::Done(o.clone());
        }
        let Some(exec) = self.exec.as_mut() else {
            return Step::Done(self.stop(Some("internal error: no execution".into())));
        };
        let poll = exec.run();
        let work = exec.take_work();
        self.handed_in = false;
        for w in work {
            self.route(w);
        }
        match poll {
            crate::exec::Poll::Done(o) => {
                // The end may have cut uploads off: route what that produced.
                if let Some(exec) = self.exec.as_mut() {
                    let work = exec.take_work();
                    for w in work {
                        self.route(w);
                    }
                }
                self.done = Some(o.clone());
                Step::Done(o)
            }
            crate::exec::Poll::Yielded => Step::Continue,
            crate::exec::Poll::Paused => match self.exec.as_ref().and_then(Execution::paused) {
                Some(call) => Step::Paused(Box::new(call.clone())),
                None => Step::Continue,
            },
            crate::exec::Poll::Blocked => {
                if self.handed_in {
                    // What the guest waits for may be here already.
                    return Step::Continue;
                }
                if !self.in_flight.is_empty() {
                    return Step::Wait;
                }
                if !self.buffering.is_empty() {
                    // Only unclosed buffered uploads: their response can never come.
                    let ids: Vec<WorkId> = self.buffering.drain().map(|(id, _)| id).collect();
                    for id in ids {
                        self.hand_in(id, upload_failed(UNCLOSED_UPLOAD));
                    }
                    return Step::Continue;
                }
                Step::Done(self.stop(Some(NOTHING_UNDER_WAY.into())))
            }
        }
    }

    /// Decide what the platform sees of one piece of work.
    fn route(&mut self, w: Work) {
        let buffer = !self.caps.streams_uploads;
        match w.kind {
            WorkKind::Fetch(req) if req.body_stream && buffer => {
                self.buffering.insert(w.id, *req);
            }
            WorkKind::FetchBodyChunk { fetch, bytes } if buffer => {
                if let Some(req) = self.buffering.get_mut(&fetch) {
                    req.body.extend_from_slice(&bytes);
                }
                // Taken: into the buffer.
                self.hand_in(w.id, WorkResult::Sent);
            }
            WorkKind::FetchBodyEnd { fetch, abandoned } if buffer => {
                let Some(mut req) = self.buffering.remove(&fetch) else {
                    return;
                };
                if abandoned {
                    self.hand_in(fetch, upload_failed(ABANDONED_UPLOAD));
                } else {
                    req.body_stream = false;
                    self.sent_whole.insert(fetch);
                    self.in_flight.insert(fetch);
                    self.ready.push(Work {
                        id: fetch,
                        kind: WorkKind::Fetch(Box::new(req)),
                    });
                }
            }
            // A platform that does not reuse sandboxes has no further request (the
            // hostcall answers NONE before asking; this only guards the contract).
            WorkKind::NextRequest { .. } if !self.caps.reuses_sandboxes => {
                self.hand_in(w.id, WorkResult::NextRequest(None));
            }
            // Fire-and-forget: passed on, never completed.
            kind @ WorkKind::FetchBodyEnd { .. } => {
                self.ready.push(Work { id: w.id, kind });
            }
            kind => {
                self.in_flight.insert(w.id);
                self.ready.push(Work { id: w.id, kind });
            }
        }
    }

    fn hand_in(&mut self, id: WorkId, result: WorkResult) {
        self.handed_in = true;
        if let Some(exec) = self.exec.as_mut() {
            exec.complete(id, result);
        }
    }

    /// The hostcall the guest is paused at (step-through), if it is.
    pub fn paused(&self) -> Option<&PendingCall> {
        self.exec.as_ref().and_then(Execution::paused)
    }

    /// Resume a paused guest ([`Execution::resume`]); the next [`Driver::step`] runs on.
    pub fn resume(&mut self, how: Resume) {
        if let Some(exec) = self.exec.as_mut() {
            exec.resume(how);
        }
    }

    /// Change where the guest pauses ([`Execution::set_step_policy`]).
    pub fn set_step_policy(&mut self, policy: Option<StepPolicy>) {
        if let Some(exec) = self.exec.as_mut() {
            exec.set_step_policy(policy);
        }
    }

    /// Work the platform should start now, in the order the guest asked for it.
    /// `Sleep`, `Fetch` and `FetchBodyChunk` (streaming platforms only: once the
    /// platform has taken the bytes) are completed with [`Driver::complete`];
    /// `FetchBodyEnd` (streaming platforms only) is passed to its fetch and never
    /// completed.
    pub fn take_work(&mut self) -> Vec<Work> {
        std::mem::take(&mut self.ready)
    }

    /// Hand in the result of finished work (in any order).
    pub fn complete(&mut self, id: WorkId, mut result: WorkResult) {
        self.in_flight.remove(&id);
        if self.sent_whole.remove(&id) {
            match &mut result {
                WorkResult::Fetched(r) | WorkResult::FetchedHead(r) => {
                    r.notes.push(BUFFERED_UPLOAD_NOTE.to_string())
                }
                WorkResult::FetchFailed(e) => e.notes.push(BUFFERED_UPLOAD_NOTE.to_string()),
                WorkResult::Slept
                | WorkResult::Sent
                | WorkResult::BodyChunk { .. }
                | WorkResult::NextRequest(_) => {}
            }
        }
        self.hand_in(id, result);
    }

    /// Outputs produced since the last call, in order.
    pub fn take_outputs(&mut self) -> Vec<Output> {
        let mut out = std::mem::take(&mut self.outputs);
        if let Some(exec) = self.exec.as_mut() {
            out.extend(exec.take_outputs());
        }
        out
    }

    /// The run's profile from its whole `trace` ([`Execution::profile`]); `None` when
    /// the guest never ran.
    pub fn profile(&self, trace: &[TraceEvent]) -> Option<crate::profile::Profile> {
        self.exec.as_ref().map(|e| e.profile(trace))
    }

    /// Trace events recorded since the last call.
    pub fn take_trace(&mut self) -> Vec<TraceEvent> {
        self.exec
            .as_mut()
            .map(Execution::take_trace)
            .unwrap_or_default()
    }

    /// Stop now (the user's Stop, or a driver failure). With a message the outcome is
    /// a trap with that message — a failure the user should see — else
    /// [`Exit::Stopped`]. Outputs already produced stay to be drained.
    pub fn stop(&mut self, message: Option<String>) -> Outcome {
        if let Some(o) = &self.done {
            return o.clone();
        }
        let mut outcome = match self.exec.as_mut() {
            Some(exec) => exec.stop(),
            None => Outcome {
                exit: Exit::Stopped,
                fuel: 0,
                cpu_ms_estimate: 0.0,
            },
        };
        if let Some(message) = message {
            outcome.exit = Exit::Trap {
                message,
                backtrace: Vec::new(),
            };
        }
        self.done = Some(outcome.clone());
        outcome
    }
}

/// The failure of a buffered upload that was never sent.
fn upload_failed(why: &str) -> WorkResult {
    WorkResult::FetchFailed(FetchError {
        kind: FetchErrorKind::InternalError,
        message: why.to_string(),
        headers_not_sent: Vec::new(),
        notes: vec![BUFFERED_UPLOAD_NOTE.to_string()],
    })
}
