//! Pipes: a backend response body still arriving that the guest sent downstream
//! (`send_downstream` of a backend response, `send_downstream_pending`). The core
//! forwards each chunk as it comes, while the guest goes on, and after it ends: the
//! execution is over only once every pipe has drained.

use super::Session;
use crate::http::Output;
use crate::trace::{ArgValue, EventKind};
use crate::work::{WorkId, WorkKind, WorkResult};

/// One backend body being forwarded downstream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pipe {
    /// The fetch whose body it is.
    pub fetch: WorkId,
    /// The read under way.
    pub read: WorkId,
    /// End the downstream response when the body ends (false when the response body
    /// stays open for the guest's own writes).
    pub ends_response: bool,
}

impl Session {
    /// Forward the rest of the body of `fetch` downstream as it arrives.
    pub fn pipe_downstream(&mut self, fetch: WorkId, ends_response: bool) {
        let read = self.start_work(WorkKind::FetchBodyRead { fetch });
        self.pipes.push(Pipe {
            fetch,
            read,
            ends_response,
        });
    }

    /// Hand a finished read to its pipe; the result comes back when `id` is no pipe's.
    pub fn complete_pipe(&mut self, id: WorkId, result: WorkResult) -> Option<WorkResult> {
        let Some(i) = self.pipes.iter().position(|p| p.read == id) else {
            return Some(result);
        };
        let pipe = self.pipes[i];
        match result {
            WorkResult::BodyChunk { bytes, end } => {
                if !bytes.is_empty() {
                    self.emit(Output::BodyChunk(bytes));
                }
                if end {
                    self.pipes.remove(i);
                    if pipe.ends_response {
                        self.emit(Output::BodyEnd);
                    }
                } else {
                    self.pipes[i].read =
                        self.start_work(WorkKind::FetchBodyRead { fetch: pipe.fetch });
                }
            }
            WorkResult::FetchFailed(e) => {
                self.pipes.remove(i);
                self.emit(Output::BodyAbort);
                let mut ev = self.event(EventKind::Lifecycle, "edgeplay", "stream-cut");
                ev.args
                    .push(("error".into(), ArgValue::Str(e.message.clone())));
                ev.note = Some(format!(
                    "the backend body forwarded downstream broke off ({}); the client sees an incomplete response",
                    e.message
                ));
                self.push_event(ev);
            }
            _ => {
                self.pipes.remove(i);
                self.emit(Output::BodyAbort);
            }
        }
        None
    }

    /// Cut every pipe off (the execution was stopped).
    pub fn cut_pipes(&mut self) {
        if !self.pipes.is_empty() {
            self.pipes.clear();
            self.emit(Output::BodyAbort);
        }
    }
}
