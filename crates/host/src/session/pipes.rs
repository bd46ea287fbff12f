//! Pipes: a backend response body still arriving that the guest sent on — downstream
//! (`send_downstream` of a backend response, `send_downstream_pending`) or as the body
//! of another backend request. The core forwards each chunk as it comes, while the
//! guest goes on, and after it ends: the execution is over only once every pipe has
//! drained.

use super::Session;
use crate::http::Output;
use crate::trace::{ArgValue, EventKind};
use crate::work::{WorkId, WorkKind, WorkResult};

/// One backend body being forwarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pipe {
    /// The fetch whose body it is.
    pub fetch: WorkId,
    /// The read under way.
    pub read: WorkId,
    /// Where it goes.
    pub to: PipeTo,
}

/// Where a pipe forwards a body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PipeTo {
    /// The downstream response; `ends_response`: end it when the body ends (false
    /// when the response body stays open for the guest's own writes).
    Downstream {
        /// End the response with the body.
        ends_response: bool,
    },
    /// The streaming upload body of the fetch `fetch`.
    Upload {
        /// The upload's fetch.
        fetch: WorkId,
    },
}

impl Session {
    /// Forward the rest of the body of `fetch` downstream as it arrives.
    pub fn pipe_downstream(&mut self, fetch: WorkId, ends_response: bool) {
        self.pipe(fetch, PipeTo::Downstream { ends_response });
    }

    /// Forward the rest of the body of `fetch` to `to` as it arrives.
    pub fn pipe(&mut self, fetch: WorkId, to: PipeTo) {
        let read = self.start_work(WorkKind::FetchBodyRead { fetch });
        self.pipes.push(Pipe { fetch, read, to });
    }

    /// The pipe's chunk goes where it is bound.
    fn forward(&mut self, to: PipeTo, bytes: Vec<u8>) {
        if bytes.is_empty() {
            return;
        }
        match to {
            PipeTo::Downstream { .. } => self.emit(Output::BodyChunk(bytes)),
            PipeTo::Upload { fetch } => {
                // Nobody waits for the chunk to be taken: the reads pace the pipe.
                let id = self.start_work(WorkKind::FetchBodyChunk { fetch, bytes });
                self.work.forget(id);
            }
        }
    }

    /// The body a pipe forwards ended (`cut`: broke off).
    fn end(&mut self, to: PipeTo, cut: bool) {
        match to {
            PipeTo::Downstream { ends_response } => {
                if cut {
                    self.emit(Output::BodyAbort);
                } else if ends_response {
                    self.emit(Output::BodyEnd);
                }
            }
            PipeTo::Upload { fetch } => {
                self.start_work(WorkKind::FetchBodyEnd {
                    fetch,
                    abandoned: cut,
                });
            }
        }
    }

    /// Hand a finished read to its pipe; the result comes back when `id` is no pipe's.
    pub fn complete_pipe(&mut self, id: WorkId, result: WorkResult) -> Option<WorkResult> {
        let Some(i) = self.pipes.iter().position(|p| p.read == id) else {
            return Some(result);
        };
        let pipe = self.pipes[i];
        match result {
            WorkResult::BodyChunk { bytes, end } => {
                self.forward(pipe.to, bytes);
                if end {
                    self.pipes.remove(i);
                    self.end(pipe.to, false);
                } else {
                    self.pipes[i].read =
                        self.start_work(WorkKind::FetchBodyRead { fetch: pipe.fetch });
                }
            }
            WorkResult::FetchFailed(e) => {
                self.pipes.remove(i);
                self.end(pipe.to, true);
                let mut ev = self.event(EventKind::Lifecycle, "edgeplay", "stream-cut");
                ev.args
                    .push(("error".into(), ArgValue::Str(e.message.clone())));
                ev.note = Some(format!(
                    "a backend body being forwarded broke off ({}); its receiver sees an incomplete body",
                    e.message
                ));
                self.push_event(ev);
            }
            _ => {
                self.pipes.remove(i);
                self.end(pipe.to, true);
            }
        }
        None
    }

    /// Cut every pipe off (the execution was stopped).
    pub fn cut_pipes(&mut self) {
        for pipe in std::mem::take(&mut self.pipes) {
            self.end(pipe.to, true);
        }
    }
}
