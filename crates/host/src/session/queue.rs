//! The work queue: outside work the guest asked for, and the results the driver
//! handed back that no hostcall has consumed yet.

use crate::work::{Work, WorkId, WorkKind, WorkResult};
use std::collections::{HashMap, HashSet};

/// The outside work of one request.
#[derive(Debug)]
pub struct WorkQueue {
    new: Vec<Work>,
    finished: HashMap<WorkId, WorkResult>,
    forgotten: HashSet<WorkId>,
    next_id: WorkId,
}

impl Default for WorkQueue {
    fn default() -> Self {
        WorkQueue {
            new: Vec::new(),
            finished: HashMap::new(),
            forgotten: HashSet::new(),
            next_id: 1,
        }
    }
}

impl WorkQueue {
    /// Queue work for the driver; its id completes it.
    pub fn start(&mut self, kind: WorkKind) -> WorkId {
        let id = self.next_id;
        self.next_id += 1;
        self.new.push(Work { id, kind });
        id
    }

    /// The work queued since the last call.
    pub fn take_new(&mut self) -> Vec<Work> {
        std::mem::take(&mut self.new)
    }

    /// Keep a result until the hostcall that waits for it takes it; a result nobody
    /// waits for any more ([`WorkQueue::forget`]) is dropped.
    pub fn finish(&mut self, id: WorkId, result: WorkResult) {
        if !self.forgotten.remove(&id) {
            self.finished.insert(id, result);
        }
    }

    /// True (once) when `id` was forgotten: its result is to be dropped.
    pub fn drop_if_forgotten(&mut self, id: WorkId) -> bool {
        self.forgotten.remove(&id)
    }

    /// The result of `id`, if it has come.
    pub fn take_result(&mut self, id: WorkId) -> Option<WorkResult> {
        self.finished.remove(&id)
    }

    /// Nobody waits for `id` any more (a select's timeout sleep that lost): drop its
    /// result now, or when it comes.
    pub fn forget(&mut self, id: WorkId) {
        if self.finished.remove(&id).is_none() {
            self.forgotten.insert(id);
        }
    }
}
