//! The profile as a Chrome/Perfetto trace-event JSON document.
//!
//! The trace's own export ([`crate::trace::to_chrome_trace`]: hostcalls on the guest's
//! track, each backend fetch and KV operation on a lane of its own) plus: the guest's
//! functions as slices on a track of their own ("guest functions", nested by stack
//! depth), the waits for outside work on another ("waiting on I/O"), and counter
//! tracks for the guest's heap (`wasm heap`, bytes) and fuel (`fuel`, total so far).
//! `otherData` carries the time split and totals.

use super::Profile;
use crate::trace::TraceEvent;
use serde_json::{json, Value};

/// The process of every event (as in [`crate::trace::to_chrome_trace`]).
const PID: u32 = 1;
/// The track of the guest's functions.
pub const FUNCTIONS_TID: u32 = 1000;
/// The track of the waits for outside work.
pub const WAITS_TID: u32 = 1001;

/// The Chrome/Perfetto trace of a run: its trace `events` and its `profile`.
pub fn to_chrome(profile: &Profile, events: &[TraceEvent]) -> Value {
    let mut doc = crate::trace::to_chrome_trace(events);
    let mut extra: Vec<Value> = Vec::new();
    for (tid, name) in [
        (FUNCTIONS_TID, "guest functions"),
        (WAITS_TID, "waiting on I/O"),
    ] {
        extra.push(json!({
            "name": "thread_name", "ph": "M", "pid": PID, "tid": tid,
            "args": { "name": name },
        }));
        extra.push(json!({
            "name": "thread_sort_index", "ph": "M", "pid": PID, "tid": tid,
            "args": { "sort_index": tid },
        }));
    }
    for s in &profile.slices {
        extra.push(json!({
            "name": s.name, "cat": "function", "ph": "X",
            "ts": s.start_us, "dur": s.dur_us, "pid": PID, "tid": FUNCTIONS_TID,
            "args": { "depth": s.depth },
        }));
    }
    for w in &profile.waits {
        extra.push(json!({
            "name": "waiting on I/O", "cat": "wait", "ph": "X",
            "ts": w.start_us, "dur": w.dur_us, "pid": PID, "tid": WAITS_TID,
            "args": {},
        }));
    }
    for h in &profile.heap {
        extra.push(json!({
            "name": "wasm heap", "cat": "memory", "ph": "C", "ts": h.at_us, "pid": PID,
            "args": { "bytes": h.bytes },
        }));
    }
    for (at, fuel) in &profile.fuel_curve {
        extra.push(json!({
            "name": "fuel", "cat": "fuel", "ph": "C", "ts": at, "pid": PID,
            "args": { "fuel": fuel },
        }));
    }
    if let Some(list) = doc["traceEvents"].as_array_mut() {
        list.extend(extra);
    }
    doc["otherData"] = json!({
        "edgeplay.request_id": profile.run.request_id,
        "edgeplay.outcome": profile.outcome,
        "edgeplay.wall_us": profile.time.wall_us,
        "edgeplay.guest_us": profile.time.guest_us,
        "edgeplay.hostcall_us": profile.time.hostcall_us,
        "edgeplay.io_wait_us": profile.time.io_wait_us,
        "edgeplay.fuel": profile.fuel,
        "edgeplay.wasm_heap_max_bytes": profile.heap_max(),
    });
    doc
}
