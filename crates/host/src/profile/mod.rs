//! The run profile: where a request's time, fuel and memory went.
//!
//! While a traced execution runs, its tracer keeps a [`Recorder`]: at every hostcall
//! the guest's memory size (one read) and, for a module instrumented for backtraces
//! (`crate::backtrace`), the guest's own call stack (its shadow stack, interned;
//! a stack like the previous one costs one comparison); the spans the guest waited
//! for outside work; the headers of the downstream request and response and of each
//! backend request and response. [`Profile::build`] joins that with the trace:
//!
//! - the time split: guest CPU (outside hostcalls), hostcall time, and waiting on
//!   outside work (a suspended call); time paused by step-through counts in none
//!   (the tracer's clock stops);
//! - the fuel of each gap between hostcalls, attributed to the stack the next
//!   hostcall was made from, as a flame graph of the guest's functions
//!   ([`FlameNode`], named from the `name` section), and as slices over time;
//! - bytes read and written per body handle, header summaries, backend fetches
//!   with their cache outcome, cache operation counts, store accesses, and the
//!   heap curve.
//!
//! A [`Profile`] is plain data (serde): the runner writes it out, the tab's worker
//! sends it with a run's result. [`fastlike::to_fastlike`] renders Fastlike's
//! profile JSON and [`chrome::to_chrome`] a Chrome/Perfetto trace with the guest's
//! functions as slices, fetches on their own tracks and counters for heap and fuel.

pub mod chrome;
pub mod fastlike;
mod recorder;

pub use recorder::{HeaderName, HeaderSet, HeapSample, Recorder, Span, MAX_HEAP_SAMPLES};

use crate::names::FuncNames;
use crate::outcome::{Exit, Outcome};
use crate::trace::{ArgValue, EventKind, HandleKind, TraceEvent};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// Most guest function slices kept for the timeline (the flame graph keeps every stack).
pub const MAX_SLICES: usize = 20_000;

/// What a profile says about the request it belongs to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The request id the guest saw (32 hex digits).
    pub request_id: String,
    /// The downstream request's method.
    pub method: String,
    /// The downstream request's URL.
    pub url: String,
    /// SHA-256 of the guest module, hex.
    pub module_sha256: String,
}

/// How a run's wall time divides (microseconds; time paused by step-through is in none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TimeSplit {
    /// From the start of the execution to its last event.
    pub wall_us: f64,
    /// The guest computing: wall time outside hostcalls and waits.
    pub guest_us: f64,
    /// Inside hostcalls, waits left out.
    pub hostcall_us: f64,
    /// Suspended in a hostcall, waiting for outside work (a fetch, a sleep, a body read).
    pub io_wait_us: f64,
}

/// Reads and writes of one body handle, as the guest made them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BodyStats {
    /// The body handle.
    pub handle: u32,
    /// The hostcall that handed it out (`fastly_http_body::new`, `…::send`…), when traced.
    pub origin: Option<String>,
    /// `read` calls.
    pub reads: u32,
    /// Bytes the guest read from it.
    pub bytes_read: u64,
    /// `write` calls.
    pub writes: u32,
    /// Bytes the guest wrote to it.
    pub bytes_written: u64,
    /// Bodies appended to it.
    pub appends: u32,
}

/// One backend fetch.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FetchStats {
    /// The trace event's `seq`.
    pub seq: u64,
    /// Backend name.
    pub backend: String,
    /// Method.
    pub method: String,
    /// URL.
    pub url: String,
    /// Response status (0: no response).
    pub status: u16,
    /// `ok`, or how it failed.
    pub outcome: String,
    /// The readthrough cache's outcome (`HIT`, `MISS`, `PASS`, `STALE`, `COLLAPSED`).
    pub cache: Option<String>,
    /// Start (µs since the execution started).
    pub start_us: f64,
    /// Duration (µs).
    pub dur_us: f64,
    /// Response body bytes.
    pub bytes: u64,
}

/// Cache operations and their outcomes (the core cache's lookups and inserts, and
/// the readthrough cache behind `send`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CacheCounts {
    /// Lookups (core cache lookups and cacheable sends).
    pub lookups: u32,
    /// Inserts.
    pub inserts: u32,
    /// Fresh hits.
    pub hits: u32,
    /// Misses.
    pub misses: u32,
    /// Stale hits.
    pub stale: u32,
}

/// Accesses to one named store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StoreAccess {
    /// `kv`, `config`, `secret` or `dictionary`.
    pub kind: String,
    /// The store's name.
    pub name: String,
    /// Hostcalls on it (its open included).
    pub count: u32,
}

/// One node of the flame graph: a guest function at a depth of the call stack, with
/// the fuel spent under it. Nodes come depth-first, children in the order first seen;
/// `start` is the fuel offset of the node within the root, so a node is drawn from
/// `start` to `start + fuel` at row `depth`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FlameNode {
    /// The function's name (demangled), or `func[N]`; the root is `all`.
    pub name: String,
    /// Depth: 0 for the root.
    pub depth: u32,
    /// Fuel offset within the root.
    pub start: u64,
    /// Fuel spent in gaps that ended in a hostcall made from under this function.
    pub fuel: u64,
    /// Of that, in gaps that ended in a hostcall made by this function itself.
    pub self_fuel: u64,
}

/// A guest function on the call stack over a span of time (the timeline's slices).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FunctionSlice {
    /// The function's name.
    pub name: String,
    /// Depth on the stack (0: outermost).
    pub depth: u32,
    /// Start (µs).
    pub start_us: f64,
    /// Duration (µs).
    pub dur_us: f64,
}

/// The profile of one run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// The request.
    pub run: RunInfo,
    /// The status sent downstream, if a response was sent.
    pub status: Option<u16>,
    /// How the execution ended: `normal`, `trap`, `exit`, `cpu-limit`, `stopped`
    /// (`running` while it is not over).
    pub outcome: String,
    /// Wall clock at the start, Unix nanoseconds.
    pub wall_start_ns: u64,
    /// Where the time went.
    pub time: TimeSplit,
    /// Total guest fuel.
    pub fuel: u64,
    /// Estimated platform CPU milliseconds.
    pub cpu_ms_estimate: f64,
    /// Hostcalls traced.
    pub hostcalls: u32,
    /// The guest's memory size over time: the first sample, then each change.
    pub heap: Vec<HeapSample>,
    /// Heap samples left out past [`MAX_HEAP_SAMPLES`].
    pub heap_dropped: u32,
    /// The spans the guest waited for outside work.
    pub waits: Vec<Span>,
    /// Per body handle.
    pub bodies: Vec<BodyStats>,
    /// Header summaries per request and response.
    pub headers: Vec<HeaderSet>,
    /// Backend fetches.
    pub fetches: Vec<FetchStats>,
    /// Cache operations.
    pub cache: CacheCounts,
    /// Store accesses, by kind and name.
    pub stores: Vec<StoreAccess>,
    /// The flame graph (empty when the module has no shadow stack).
    pub flame: Vec<FlameNode>,
    /// True when the module keeps a shadow stack (instrumented for backtraces).
    pub has_stacks: bool,
    /// True when the module has function names.
    pub has_names: bool,
    /// The guest's functions over time.
    pub slices: Vec<FunctionSlice>,
    /// Fuel consumed up to each hostcall: `(µs, total fuel)`.
    pub fuel_curve: Vec<(f64, u64)>,
}

impl Profile {
    /// Build the profile of a run from its whole trace (every event, in any order),
    /// what its tracer recorded, the module's function names and how it ended
    /// (`None`: still running).
    pub fn build(
        events: &[TraceEvent],
        rec: &Recorder,
        names: &FuncNames,
        outcome: Option<&Outcome>,
        run: RunInfo,
    ) -> Profile {
        let mut evs: Vec<&TraceEvent> = events.iter().collect();
        evs.sort_by_key(|e| e.seq);
        let hostcalls: Vec<&TraceEvent> = evs
            .iter()
            .copied()
            .filter(|e| e.kind == EventKind::Hostcall)
            .collect();
        let wall_us = evs
            .iter()
            .map(|e| e.start_us + e.dur_us.max(0.0))
            .fold(0.0, f64::max);
        let io_wait_us = rec.waits.iter().fold(0.0, |t, w| t + w.dur_us);
        let in_calls = hostcalls.iter().fold(0.0, |t, e| t + e.dur_us.max(0.0));
        let hostcall_us = (in_calls - io_wait_us).max(0.0);
        let time = TimeSplit {
            wall_us,
            guest_us: (wall_us - hostcall_us - io_wait_us).max(0.0),
            hostcall_us,
            io_wait_us,
        };
        let traced_fuel: u64 = hostcalls.iter().map(|e| e.fuel).sum();
        let fuel = outcome.map_or(traced_fuel, |o| o.fuel.max(traced_fuel));
        let mut fuel_curve = Vec::with_capacity(hostcalls.len() + 1);
        let mut total = 0;
        for e in &hostcalls {
            total += e.fuel;
            fuel_curve.push((e.start_us, total));
        }
        if outcome.is_some() {
            fuel_curve.push((wall_us, fuel));
        }
        let mut heap = rec.heap.clone();
        if let Some(last) = heap.last().copied() {
            if outcome.is_some() && last.at_us < wall_us {
                heap.push(HeapSample {
                    at_us: wall_us,
                    bytes: last.bytes,
                });
            }
        }
        let name_of = |i: u32| match names.get(i) {
            Some(n) => crate::backtrace::display_name(n),
            None => format!("func[{i}]"),
        };
        let stack_of: HashMap<u64, u32> = rec.calls.iter().copied().collect();
        let (flame, slices) = if rec.stacks.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            let untraced = fuel.saturating_sub(traced_fuel);
            (
                flame(&hostcalls, &stack_of, &rec.stacks, untraced, &name_of),
                slices(&hostcalls, &stack_of, &rec.stacks, wall_us, &name_of),
            )
        };
        let (fetches, cache) = fetches_and_cache(&evs);
        Profile {
            run,
            status: rec.status,
            outcome: outcome.map_or("running", |o| outcome_name(&o.exit)).into(),
            wall_start_ns: rec.wall_start_ns,
            time,
            fuel,
            cpu_ms_estimate: outcome.map_or(0.0, |o| o.cpu_ms_estimate),
            hostcalls: hostcalls.len() as u32,
            heap,
            heap_dropped: rec.heap_dropped,
            waits: rec.waits.clone(),
            bodies: bodies(&hostcalls),
            headers: rec.headers.clone(),
            fetches,
            cache,
            stores: stores(&evs),
            has_stacks: !rec.stacks.is_empty(),
            has_names: !names.is_empty(),
            flame,
            slices,
            fuel_curve,
        }
    }

    /// The largest heap size seen, in bytes.
    pub fn heap_max(&self) -> u64 {
        self.heap.iter().map(|h| h.bytes).max().unwrap_or(0)
    }
}

/// How an execution ended, in one word.
fn outcome_name(exit: &Exit) -> &'static str {
    match exit {
        Exit::Returned | Exit::Exit(0) => "normal",
        Exit::Exit(_) => "exit",
        Exit::Trap { .. } => "trap",
        Exit::CpuLimit { .. } => "cpu-limit",
        Exit::Stopped => "stopped",
    }
}

/// The flame graph: each hostcall's fuel (the gap before it) added along the stack it
/// was made from; `untraced` fuel (after the last hostcall) stays with the root.
fn flame(
    hostcalls: &[&TraceEvent],
    stack_of: &HashMap<u64, u32>,
    stacks: &[Vec<u32>],
    untraced: u64,
    name_of: &dyn Fn(u32) -> String,
) -> Vec<FlameNode> {
    struct Node {
        func: u32,
        fuel: u64,
        self_fuel: u64,
        children: Vec<usize>,
    }
    let mut nodes = vec![Node {
        func: u32::MAX,
        fuel: untraced,
        self_fuel: untraced,
        children: Vec::new(),
    }];
    for e in hostcalls {
        let Some(&sid) = stack_of.get(&e.seq) else {
            continue;
        };
        let Some(stack) = stacks.get(sid as usize) else {
            continue;
        };
        let mut at = 0;
        nodes[0].fuel += e.fuel;
        for &f in stack {
            let next = nodes[at]
                .children
                .iter()
                .copied()
                .find(|&c| nodes[c].func == f);
            at = match next {
                Some(c) => c,
                None => {
                    nodes.push(Node {
                        func: f,
                        fuel: 0,
                        self_fuel: 0,
                        children: Vec::new(),
                    });
                    let c = nodes.len() - 1;
                    nodes[at].children.push(c);
                    c
                }
            };
            nodes[at].fuel += e.fuel;
        }
        if stack.is_empty() {
            nodes[0].self_fuel += e.fuel;
        } else {
            nodes[at].self_fuel += e.fuel;
        }
    }
    let mut out = Vec::with_capacity(nodes.len());
    // Depth-first: (node, depth, start).
    let mut todo = vec![(0usize, 0u32, 0u64)];
    while let Some((i, depth, start)) = todo.pop() {
        let n = &nodes[i];
        out.push(FlameNode {
            name: if i == 0 {
                "all".into()
            } else {
                name_of(n.func)
            },
            depth,
            start,
            fuel: n.fuel,
            self_fuel: n.self_fuel,
        });
        let mut offset = start;
        let mut kids = Vec::with_capacity(n.children.len());
        for &c in &n.children {
            kids.push((c, depth + 1, offset));
            offset += nodes[c].fuel;
        }
        todo.extend(kids.into_iter().rev());
    }
    out
}

/// The guest's functions over time: a function on the stack at consecutive hostcalls
/// is one slice, from the end of the hostcall before it first appeared to the end of
/// the last hostcall before it was gone.
fn slices(
    hostcalls: &[&TraceEvent],
    stack_of: &HashMap<u64, u32>,
    stacks: &[Vec<u32>],
    wall_us: f64,
    name_of: &dyn Fn(u32) -> String,
) -> Vec<FunctionSlice> {
    let mut out = Vec::new();
    let mut open: Vec<(u32, f64)> = Vec::new();
    let mut gap_start = 0.0;
    let close = |open: &mut Vec<(u32, f64)>, keep: usize, at: f64, out: &mut Vec<_>| {
        while open.len() > keep {
            let (f, start) = open.pop().expect("longer than keep");
            if out.len() < MAX_SLICES {
                out.push(FunctionSlice {
                    name: name_of(f),
                    depth: open.len() as u32,
                    start_us: start,
                    dur_us: (at - start).max(0.0),
                });
            }
        }
    };
    for e in hostcalls {
        if let Some(stack) = stack_of.get(&e.seq).and_then(|&s| stacks.get(s as usize)) {
            let common = open
                .iter()
                .zip(stack)
                .take_while(|((f, _), g)| f == *g)
                .count();
            close(&mut open, common, gap_start, &mut out);
            open.extend(stack[common..].iter().map(|&f| (f, gap_start)));
        }
        gap_start = e.start_us + e.dur_us.max(0.0);
    }
    close(&mut open, 0, wall_us.max(gap_start), &mut out);
    out.sort_by(|a, b| {
        a.start_us
            .total_cmp(&b.start_us)
            .then(a.depth.cmp(&b.depth))
    });
    out
}

/// A handle argument or result of `kind`.
fn handle_in(
    values: &[(std::borrow::Cow<'static, str>, ArgValue)],
    kind: HandleKind,
) -> Option<u32> {
    values.iter().find_map(|(_, v)| match v {
        ArgValue::Handle { kind: k, handle } if *k == kind => Some(*handle),
        _ => None,
    })
}

/// An integer result named `name`.
fn int_result(e: &TraceEvent, name: &str) -> u64 {
    match e.result(name) {
        Some(ArgValue::Int(n)) => u64::try_from(*n).unwrap_or(0),
        _ => 0,
    }
}

/// The bare name of a body call (`read`; legacy `env::xqd_body_read` too).
fn body_call(e: &TraceEvent) -> Option<&str> {
    match &*e.module {
        "fastly_http_body" => Some(&e.name),
        "env" => e.name.strip_prefix("xqd_body_"),
        _ => None,
    }
}

/// Per body handle: what handed it out, reads and writes.
fn bodies(hostcalls: &[&TraceEvent]) -> Vec<BodyStats> {
    let mut by: BTreeMap<u32, BodyStats> = BTreeMap::new();
    for e in hostcalls {
        for (_, v) in &e.results {
            if let ArgValue::Handle {
                kind: HandleKind::Body,
                handle,
            } = v
            {
                let b = by.entry(*handle).or_insert_with(|| BodyStats {
                    handle: *handle,
                    ..BodyStats::default()
                });
                b.origin.get_or_insert_with(|| e.qualified_name());
            }
        }
        let Some(call) = body_call(e) else { continue };
        let Some(h) = handle_in(&e.args, HandleKind::Body) else {
            continue;
        };
        let b = by.entry(h).or_insert_with(|| BodyStats {
            handle: h,
            ..BodyStats::default()
        });
        match call {
            "read" => {
                b.reads += 1;
                b.bytes_read += int_result(e, "nread");
            }
            "write" => {
                b.writes += 1;
                b.bytes_written += int_result(e, "nwritten");
            }
            "append" => b.appends += 1,
            _ => {}
        }
    }
    by.into_values().collect()
}

/// Backend fetches, and the cache's lookups and outcomes.
fn fetches_and_cache(evs: &[&TraceEvent]) -> (Vec<FetchStats>, CacheCounts) {
    let mut fetches = Vec::new();
    let mut cache = CacheCounts::default();
    let text = |e: &TraceEvent, n: &str| match e.arg(n) {
        Some(ArgValue::Str(s) | ArgValue::Enum(s)) => Some(s.clone()),
        _ => None,
    };
    for e in evs.iter().filter(|e| e.kind == EventKind::Work) {
        match &*e.module {
            "backend" => {
                let status = match e.arg("status") {
                    Some(ArgValue::Int(n)) => u16::try_from(*n).unwrap_or(0),
                    _ => 0,
                };
                let bytes = match e.arg("bytes") {
                    Some(ArgValue::Int(n)) => u64::try_from(*n).unwrap_or(0),
                    _ => 0,
                };
                let c = text(e, "cache");
                match c.as_deref() {
                    Some("HIT") | Some("COLLAPSED") => {
                        cache.lookups += 1;
                        cache.hits += 1;
                    }
                    Some("MISS") => {
                        cache.lookups += 1;
                        cache.misses += 1;
                    }
                    Some("STALE") => {
                        cache.lookups += 1;
                        cache.stale += 1;
                    }
                    _ => {}
                }
                fetches.push(FetchStats {
                    seq: e.seq,
                    backend: e.name.to_string(),
                    method: text(e, "method").unwrap_or_default(),
                    url: text(e, "url").unwrap_or_default(),
                    status,
                    outcome: e.status.as_deref().unwrap_or("ok").to_string(),
                    cache: c,
                    start_us: e.start_us,
                    dur_us: e.dur_us,
                    bytes,
                });
            }
            "cache" => {
                if e.name.contains("lookup") {
                    cache.lookups += 1;
                    match e.status.as_deref() {
                        Some("hit") => cache.hits += 1,
                        Some("miss") => cache.misses += 1,
                        Some(s) if s.starts_with("stale") => cache.stale += 1,
                        _ => {}
                    }
                } else if e.name.contains("insert") {
                    cache.inserts += 1;
                }
            }
            _ => {}
        }
    }
    (fetches, cache)
}

/// The store kind of a hostcall module and the handle kind its opens hand out.
fn store_kind(module: &str) -> Option<(&'static str, HandleKind)> {
    Some(match module {
        "fastly_kv_store" | "fastly_object_store" => ("kv", HandleKind::KvStore),
        "fastly_config_store" => ("config", HandleKind::Dictionary),
        "fastly_dictionary" => ("dictionary", HandleKind::Dictionary),
        "fastly_secret_store" => ("secret", HandleKind::SecretStore),
        _ => return None,
    })
}

/// Hostcalls per named store: an open names a handle; every later call on it counts.
fn stores(evs: &[&TraceEvent]) -> Vec<StoreAccess> {
    let mut names: HashMap<(u8, u32), (&'static str, String)> = HashMap::new();
    let mut counts: BTreeMap<(&'static str, String), u32> = BTreeMap::new();
    for e in evs.iter().filter(|e| e.kind == EventKind::Hostcall) {
        let Some((kind, hk)) = store_kind(&e.module) else {
            continue;
        };
        if e.name.starts_with("open") {
            let name = e.args.iter().find_map(|(_, v)| match v {
                ArgValue::Str(s) => Some(s.clone()),
                _ => None,
            });
            if let (Some(name), Some(h)) = (name, handle_in(&e.results, hk)) {
                names.insert((hk as u8, h), (kind, name.clone()));
                *counts.entry((kind, name)).or_default() += 1;
            }
            continue;
        }
        if let Some(h) = handle_in(&e.args, hk) {
            if let Some(key) = names.get(&(hk as u8, h)) {
                *counts.entry(key.clone()).or_default() += 1;
            }
        }
    }
    counts
        .into_iter()
        .map(|((kind, name), count)| StoreAccess {
            kind: kind.into(),
            name,
            count,
        })
        .collect()
}
