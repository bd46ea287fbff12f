//! What the tracer collects for the profile while the guest runs: kept cheap, since
//! it runs at every hostcall of a traced execution.

use crate::http::Headers;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Most distinct heap sizes kept per request (wasm memory grows in 64 KiB pages,
/// so this is 256 MiB of growth in single pages; later ones are counted as dropped).
pub const MAX_HEAP_SAMPLES: usize = 4096;

/// One observation of the guest's linear memory size.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeapSample {
    /// When, in microseconds since the execution started (time paused excluded).
    pub at_us: f64,
    /// The guest memory's size in bytes.
    pub bytes: u64,
}

/// A span of time, in microseconds since the execution started.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// Start.
    pub start_us: f64,
    /// Duration.
    pub dur_us: f64,
}

/// The headers of one request or response: per name, how many lines and bytes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeaderSet {
    /// Which message: `downstream request`, `downstream response`, `backend request
    /// <name>`, `backend response <name>`.
    pub what: String,
    /// Header lines.
    pub count: u32,
    /// Bytes of names and values.
    pub bytes: u64,
    /// Per header name, in first-appearance order.
    pub names: Vec<HeaderName>,
}

/// One header name's lines and bytes (never its values).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeaderName {
    /// The name, lowercase.
    pub name: String,
    /// Lines with this name.
    pub count: u32,
    /// Bytes of the name and values of those lines.
    pub bytes: u64,
}

impl HeaderSet {
    /// The summary of `headers`, labelled `what`.
    pub fn of(what: impl Into<String>, headers: &Headers) -> Self {
        let mut names: Vec<HeaderName> = Vec::new();
        let mut bytes = 0;
        for (n, v) in headers.iter() {
            let b = (n.len() + v.len()) as u64;
            bytes += b;
            match names.iter_mut().find(|h| h.name == n) {
                Some(h) => {
                    h.count += 1;
                    h.bytes += b;
                }
                None => names.push(HeaderName {
                    name: n.to_string(),
                    count: 1,
                    bytes: b,
                }),
            }
        }
        HeaderSet {
            what: what.into(),
            count: headers.len() as u32,
            bytes,
            names,
        }
    }
}

/// The per-request collector: heap sizes, the guest's call stack at each hostcall,
/// time spent waiting for outside work, and header summaries. Off (and free) when
/// the execution does not trace hostcalls.
#[derive(Debug, Default)]
pub struct Recorder {
    on: bool,
    /// Wall clock at the start, Unix nanoseconds.
    pub(crate) wall_start_ns: u64,
    /// Distinct call stacks, outermost function first.
    pub(crate) stacks: Vec<Vec<u32>>,
    index: HashMap<Vec<u8>, u32>,
    /// The raw shadow-stack bytes of the last sample, and their stack.
    last: Option<(Vec<u8>, u32)>,
    /// Per hostcall (by `seq`): the stack it was called from.
    pub(crate) calls: Vec<(u64, u32)>,
    pub(crate) heap: Vec<HeapSample>,
    pub(crate) heap_dropped: u32,
    pub(crate) waits: Vec<Span>,
    wait_open: Option<f64>,
    pub(crate) headers: Vec<HeaderSet>,
    /// The status of the response sent downstream.
    pub(crate) status: Option<u16>,
}

impl Recorder {
    /// A recorder, collecting when `on`.
    pub fn new(on: bool, wall_start_ns: u64) -> Self {
        Recorder {
            on,
            wall_start_ns,
            ..Recorder::default()
        }
    }

    /// True when collecting.
    #[inline]
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// Collect or not.
    pub fn set_on(&mut self, on: bool) {
        self.on = on;
    }

    /// The stack a hostcall is called from, given the shadow stack's bytes (one
    /// little-endian `u32` function index per frame, outermost first): its id.
    /// A stack like the previous one costs one comparison.
    pub fn stack(&mut self, raw: &[u8]) -> Option<u32> {
        if !self.on {
            return None;
        }
        if let Some((bytes, id)) = &self.last {
            if bytes.as_slice() == raw {
                return Some(*id);
            }
        }
        let id = match self.index.get(raw) {
            Some(&id) => id,
            None => {
                let id = self.stacks.len() as u32;
                self.stacks.push(
                    raw.chunks_exact(4)
                        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                        .collect(),
                );
                self.index.insert(raw.to_vec(), id);
                id
            }
        };
        match &mut self.last {
            Some((bytes, last)) => {
                bytes.clear();
                bytes.extend_from_slice(raw);
                *last = id;
            }
            None => self.last = Some((raw.to_vec(), id)),
        }
        Some(id)
    }

    /// A hostcall `seq` starts at `at_us`, the guest's memory being `heap` bytes,
    /// called from `stack` (when the module keeps a shadow stack).
    #[inline]
    pub fn call(&mut self, seq: u64, at_us: f64, heap: u64, stack: Option<u32>) {
        if !self.on {
            return;
        }
        if let Some(s) = stack {
            self.calls.push((seq, s));
        }
        self.heap_at(at_us, heap);
    }

    /// The guest's memory is `bytes` at `at_us` (kept when it changed).
    pub fn heap_at(&mut self, at_us: f64, bytes: u64) {
        if !self.on || self.heap.last().is_some_and(|h| h.bytes == bytes) {
            return;
        }
        if self.heap.len() >= MAX_HEAP_SAMPLES {
            self.heap_dropped += 1;
            return;
        }
        self.heap.push(HeapSample { at_us, bytes });
    }

    /// The guest was suspended at `at_us` to wait for outside work.
    pub fn wait_begin(&mut self, at_us: f64) {
        if self.on && self.wait_open.is_none() {
            self.wait_open = Some(at_us);
        }
    }

    /// The suspended guest goes on at `at_us`.
    pub fn wait_end(&mut self, at_us: f64) {
        if let Some(start) = self.wait_open.take() {
            self.waits.push(Span {
                start_us: start,
                dur_us: (at_us - start).max(0.0),
            });
        }
    }

    /// The headers of a request or response, labelled `what`.
    pub fn headers(&mut self, what: impl FnOnce() -> String, headers: &Headers) {
        if self.on {
            self.headers.push(HeaderSet::of(what(), headers));
        }
    }

    /// The response sent downstream: its status and headers.
    pub fn response(&mut self, status: u16, headers: &Headers) {
        if self.on {
            self.status = Some(status);
            self.headers(|| "downstream response".to_string(), headers);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(frames: &[u32]) -> Vec<u8> {
        frames.iter().flat_map(|f| f.to_le_bytes()).collect()
    }

    #[test]
    fn stacks_are_interned_and_heap_sizes_deduplicated() {
        let mut r = Recorder::new(true, 0);
        let a = r.stack(&raw(&[1, 2])).unwrap();
        let b = r.stack(&raw(&[1, 2, 3])).unwrap();
        assert_eq!(r.stack(&raw(&[1, 2])), Some(a));
        assert_eq!(r.stack(&raw(&[1, 2, 3])), Some(b));
        assert_ne!(a, b);
        assert_eq!(r.stacks, vec![vec![1, 2], vec![1, 2, 3]]);
        r.call(0, 1.0, 65536, Some(a));
        r.call(1, 2.0, 65536, Some(b));
        r.call(2, 3.0, 131072, None);
        assert_eq!(r.calls, vec![(0, a), (1, b)]);
        assert_eq!(
            r.heap.iter().map(|h| h.bytes).collect::<Vec<_>>(),
            [65536, 131072]
        );
        r.wait_begin(4.0);
        r.wait_begin(5.0);
        r.wait_end(9.0);
        r.wait_end(10.0);
        assert_eq!(
            r.waits,
            vec![Span {
                start_us: 4.0,
                dur_us: 5.0
            }]
        );
    }

    #[test]
    fn an_off_recorder_keeps_nothing() {
        let mut r = Recorder::new(false, 0);
        assert_eq!(r.stack(&raw(&[1])), None);
        r.call(0, 1.0, 65536, None);
        r.wait_begin(1.0);
        r.wait_end(2.0);
        r.response(200, &Headers::new());
        assert!(r.heap.is_empty() && r.waits.is_empty() && r.headers.is_empty());
        assert_eq!(r.status, None);
    }

    #[test]
    fn header_sets_count_lines_and_bytes_per_name() {
        let mut h = Headers::new();
        h.append("x-a", b"12");
        h.append("cookie", b"secret");
        h.append("x-a", b"3");
        let s = HeaderSet::of("downstream request", &h);
        assert_eq!((s.count, s.bytes), (3, 5 + 12 + 4));
        assert_eq!(s.names[0].name, "x-a");
        assert_eq!((s.names[0].count, s.names[0].bytes), (2, 9));
        assert_eq!((s.names[1].count, s.names[1].bytes), (1, 12));
    }
}
