//! The platform's limits, the bounds the host puts on what a guest can make it hold,
//! and the estimates the host derives them from.
//!
//! A playground runs strangers' code, and the runner is a local server: every buffer
//! a guest can grow has a bound here, with a clear error at the bound.
//!
//! | what | bound | at the bound |
//! |---|---|---|
//! | guest heap | [`DEFAULT_HEAP_LIMIT`] (the platform's 128 MiB) | `memory.grow` fails |
//! | host-side bodies, all of one execution | [`MAX_BUFFERED_BODY_BYTES`] | the write answers LIMITEXCEEDED; a backend body arriving ends in ERROR |
//! | a header (name and value) | [`MAX_HEADER_BYTES`] (the platform's 69 KB) | HTTPHEADTOOLARGE |
//! | the headers of one request or response | [`MAX_HEADERS_PER_MESSAGE`], [`MAX_HEAD_BYTES`] | HTTPHEADTOOLARGE |
//! | a URL, a method | [`MAX_URL_BYTES`], [`MAX_METHOD_BYTES`] (8192, the platform's) | HTTPHEADTOOLARGE |
//! | trace events of one execution | [`MAX_TRACE_EVENTS`] | later hostcalls are not recorded; one `trace truncated` event says how many |
//! | log lines and stdout/stderr of one execution | [`MAX_LOG_LINES`], [`MAX_LOG_BYTES`] | later lines are dropped; one line says how many |
//! | backend requests, dynamic backends | [`crate::backends::MAX_BACKEND_REQUESTS`], [`crate::backends::MAX_DYNAMIC_BACKENDS`] | LIMITEXCEEDED |
//! | handles of one kind | [`crate::session::MAX_HANDLES`] | LIMITEXCEEDED |

/// Fuel units per estimated platform CPU millisecond. wasmi charges about one unit per
/// instruction; the platform runs compiled code at roughly 2 instructions per ns, so
/// one CPU ms is on the order of 2 million wasm instructions. An estimate.
pub const DEFAULT_FUEL_PER_CPU_MS: u64 = 2_000_000;

/// The platform's stack per execution: 1M bytes. The guest's own stack lives in its
/// linear memory (the toolchain sizes it: 1 MiB for Rust), counted by the heap limit;
/// the engine's value stack is bounded at this size, and its call depth at
/// [`crate::backtrace::MAX_RECURSION_DEPTH`] frames: past either a call traps.
pub const PLATFORM_STACK_BYTES: usize = 1_000_000;

/// The platform's heap limit per instance: 128 MiB.
pub const DEFAULT_HEAP_LIMIT: usize = 128 * 1024 * 1024;

/// The platform's CPU time per execution: 50 ms.
pub const PLATFORM_CPU_MS: u64 = 50;

/// The platform's wall time per execution: 2 minutes.
pub const PLATFORM_WALL_MS: u64 = 120_000;

/// The platform's dictionary (config store) lookups per execution.
pub const PLATFORM_DICTIONARY_LOOKUPS: u32 = 16;

/// The platform's compiled package size per service: 100 MB (Fastly's Compute
/// resource limits; older guides said 50 MB).
pub const PLATFORM_PACKAGE_BYTES: u64 = 100_000_000;

/// Bytes the host holds in the bodies of one execution (request, response and backend
/// bodies that are not streamed), in all: 256 MiB, twice the guest's heap. The platform
/// streams bodies; edgeplay buffers them, so it bounds the buffer instead.
pub const MAX_BUFFERED_BODY_BYTES: usize = 256 << 20;

/// One header's name and value, in bytes: the platform's 69 KB per header.
pub const MAX_HEADER_BYTES: usize = 69 * 1024;

/// Headers one request or response may carry (edgeplay's bound: the platform's is
/// undocumented for Compute; VCL allows 255 on a request).
pub const MAX_HEADERS_PER_MESSAGE: usize = 1000;

/// The bytes of all headers of one request or response (edgeplay's bound).
pub const MAX_HEAD_BYTES: usize = 1 << 20;

/// A URL, in bytes: the platform's 8192.
pub const MAX_URL_BYTES: usize = 8192;

/// A method name, in bytes: the platform's 8192.
pub const MAX_METHOD_BYTES: usize = 8192;

/// Trace events recorded per execution; past it hostcalls are counted, not recorded.
pub const MAX_TRACE_EVENTS: usize = 100_000;

/// Log lines (and stdout/stderr writes) kept per execution.
pub const MAX_LOG_LINES: usize = 10_000;

/// Bytes of log lines and stdout/stderr kept per execution.
pub const MAX_LOG_BYTES: usize = 8 << 20;

/// The bytes an execution's bodies hold, checked against [`MAX_BUFFERED_BODY_BYTES`]
/// without recounting every body on every write: a running upper estimate, recounted
/// exactly (by the caller's count) only when it would pass the bound.
#[derive(Debug, Default, Clone, Copy)]
pub struct BodyBudget {
    /// An upper estimate of the bytes held now.
    estimate: usize,
}

impl BodyBudget {
    /// Whether `more` bytes fit: `exact` counts what the bodies hold now, and is only
    /// called when the estimate says the bound is near. On `true` the bytes are
    /// counted.
    pub fn admit(&mut self, more: usize, exact: impl FnOnce() -> usize) -> bool {
        if self.estimate.saturating_add(more) > MAX_BUFFERED_BODY_BYTES {
            self.estimate = exact();
            if self.estimate.saturating_add(more) > MAX_BUFFERED_BODY_BYTES {
                return false;
            }
        }
        self.estimate += more;
        true
    }
}

/// What one execution may still log, against [`MAX_LOG_LINES`] and [`MAX_LOG_BYTES`].
#[derive(Debug, Default, Clone, Copy)]
pub struct LogBudget {
    lines: usize,
    bytes: usize,
    /// Lines dropped past the bound.
    pub dropped: usize,
}

impl LogBudget {
    /// Whether a line of `len` bytes is kept (counted if so; counted as dropped if not).
    pub fn admit(&mut self, len: usize) -> bool {
        if self.lines >= MAX_LOG_LINES || self.bytes.saturating_add(len) > MAX_LOG_BYTES {
            self.dropped += 1;
            return false;
        }
        self.lines += 1;
        self.bytes += len;
        true
    }

    /// The line that says what was dropped, once the execution ends (`None` if nothing).
    pub fn dropped_notice(&self) -> Option<String> {
        (self.dropped > 0).then(|| {
            format!(
                "edgeplay: {} more log lines dropped: an execution keeps at most {MAX_LOG_LINES} lines and {} MiB of logs and stdout/stderr",
                self.dropped,
                MAX_LOG_BYTES >> 20
            )
        })
    }
}

/// Counted uses of limited resources in one execution (the session's).
#[derive(Debug, Default, Clone, Copy)]
pub struct Counters {
    /// Dictionary (config store) lookups answered.
    pub dictionary_lookups: u32,
    /// The lookups allowed (`None`: no limit).
    pub dictionary_limit: Option<u32>,
}

/// What one execution used of the platform's limits ([`crate::Execution::usage`]).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Usage {
    /// The guest's heap (its linear memory) at the end, in bytes.
    pub heap_bytes: u64,
    /// Backend requests sent.
    pub backend_requests: u32,
    /// Dictionary (config store) lookups.
    pub dictionary_lookups: u32,
    /// Wasm fuel used.
    pub fuel: u64,
    /// The CPU limit (in estimated ms) that stopped the execution, if one did. The last
    /// fuel slice is cut to what the budget has left, so a stopped run can end a few
    /// instructions short of its limit: the gauge counts a hit limit as hit all the same.
    #[serde(default)]
    pub cpu_limit_hit_ms: Option<u64>,
}

/// One limit of the platform against what a run used of it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Gauge {
    /// Short name (`cpu`, `heap`, `backend requests`, ...).
    pub name: String,
    /// What the run used, in `unit`.
    pub used: f64,
    /// The platform's limit, in `unit`.
    pub limit: f64,
    /// `ms`, `MB`, `` (a count).
    pub unit: String,
    /// What the platform would have done past the limit.
    pub platform: String,
    /// The run used more than the limit (or hit it, for a limit that refuses at it).
    pub over: bool,
}

impl Gauge {
    /// `used / limit`, 0 when the limit is 0.
    pub fn fraction(&self) -> f64 {
        if self.limit > 0.0 {
            self.used / self.limit
        } else {
            0.0
        }
    }
}

/// The production-limit gauges of one run: CPU (estimated from fuel at `fuel_per_cpu_ms`),
/// heap, backend requests, dictionary lookups, wall time and the package size.
pub fn gauges(usage: &Usage, fuel_per_cpu_ms: u64, wall_us: u64, package_bytes: u64) -> Vec<Gauge> {
    let cpu_ms = usage.fuel as f64 / fuel_per_cpu_ms.max(1) as f64;
    let mb = |b: u64| b as f64 / 1_000_000.0;
    let gauge = |name: &str, used: f64, limit: f64, unit: &str, platform: &str, over: bool| Gauge {
        name: name.to_string(),
        used,
        limit,
        unit: unit.to_string(),
        platform: platform.to_string(),
        over,
    };
    let heap_limit = DEFAULT_HEAP_LIMIT as u64;
    vec![
        gauge(
            "cpu (estimated)",
            cpu_ms,
            PLATFORM_CPU_MS as f64,
            "ms",
            "stops the execution and answers 503",
            // A run the platform's limit (or a lower one) stopped hit it, even a few
            // instructions short of it.
            usage
                .cpu_limit_hit_ms
                .is_some_and(|ms| ms <= PLATFORM_CPU_MS)
                || cpu_ms >= PLATFORM_CPU_MS as f64,
        ),
        gauge(
            "heap",
            mb(usage.heap_bytes),
            mb(heap_limit),
            "MB",
            "refuses to grow the heap (memory.grow fails; most guests then trap)",
            usage.heap_bytes >= heap_limit,
        ),
        gauge(
            "backend requests",
            usage.backend_requests as f64,
            crate::backends::MAX_BACKEND_REQUESTS as f64,
            "",
            "answers further sends with LIMITEXCEEDED",
            usage.backend_requests > crate::backends::MAX_BACKEND_REQUESTS,
        ),
        gauge(
            "dictionary lookups",
            usage.dictionary_lookups as f64,
            PLATFORM_DICTIONARY_LOOKUPS as f64,
            "",
            "answers further lookups with an error",
            usage.dictionary_lookups > PLATFORM_DICTIONARY_LOOKUPS,
        ),
        gauge(
            "wall time",
            wall_us as f64 / 1000.0,
            PLATFORM_WALL_MS as f64,
            "ms",
            "stops the execution",
            wall_us / 1000 > PLATFORM_WALL_MS,
        ),
        gauge(
            "package size",
            mb(package_bytes),
            mb(PLATFORM_PACKAGE_BYTES),
            "MB",
            "refuses to deploy the package",
            package_bytes > PLATFORM_PACKAGE_BYTES,
        ),
    ]
}

/// The gauges as the runner prints them (`--limits`): one line each, `!` on a limit
/// that was passed, with what the platform would have done.
pub fn gauges_text(gauges: &[Gauge]) -> String {
    let mut out = String::from("production limits:\n");
    for g in gauges {
        let (unit, used) = if g.unit.is_empty() {
            (String::new(), format!("{:.0}", g.used))
        } else {
            (format!(" {}", g.unit), format!("{:.2}", g.used))
        };
        out.push_str(&format!(
            "  {} {:<20} {used:>10}{unit} of {:.0}{unit} ({:.0}%)",
            if g.over { "!" } else { " " },
            g.name,
            g.limit,
            g.fraction() * 100.0
        ));
        if g.over {
            out.push_str(&format!(" OVER: the platform {}", g.platform));
        }
        out.push('\n');
    }
    out
}

/// Bytes of guest heap all executions of a process may hold at once (the runner's
/// `--memory-limit-mb`): a guest that grows its memory past what is left gets a failed
/// `memory.grow`, as at its own heap limit, and every other execution goes on. Clones
/// share one count.
#[derive(Clone, Debug)]
pub struct HeapPool {
    used: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    max: usize,
}

impl HeapPool {
    /// A pool of `max` bytes.
    pub fn new(max: usize) -> Self {
        HeapPool {
            used: Default::default(),
            max,
        }
    }

    /// Its size in bytes.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Bytes held now.
    pub fn used(&self) -> usize {
        self.used.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Take `n` bytes; false (nothing taken) when they do not fit.
    fn reserve(&self, n: usize) -> bool {
        use std::sync::atomic::Ordering;
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                u.checked_add(n).filter(|t| *t <= self.max)
            })
            .is_ok()
    }

    fn release(&self, n: usize) {
        self.used.fetch_sub(n, std::sync::atomic::Ordering::AcqRel);
    }
}

/// The store's resource limiter: the instance's heap limit (wasmi's [`wasmi::StoreLimits`])
/// and, when there is one, the process-wide [`HeapPool`], whose bytes it gives back
/// when the execution is dropped.
#[derive(Debug)]
pub struct HeapLimiter {
    inner: wasmi::StoreLimits,
    pool: Option<HeapPool>,
    held: usize,
    /// A `memory.grow` the pool refused (for the note at the end).
    pub pool_refused: bool,
}

impl HeapLimiter {
    /// At most `heap_limit` bytes per memory, within `pool` if given.
    pub fn new(heap_limit: usize, pool: Option<HeapPool>) -> Self {
        HeapLimiter {
            inner: wasmi::StoreLimitsBuilder::new()
                .memory_size(heap_limit)
                .build(),
            pool,
            held: 0,
            pool_refused: false,
        }
    }

    /// The note a run gets when the pool refused it memory.
    pub fn pool_note(&self) -> Option<String> {
        let pool = self.pool.as_ref().filter(|_| self.pool_refused)?;
        Some(format!(
            "memory: the pool of guest heap all executions share ({} MiB, --memory-limit-mb) was used up, so memory.grow failed for this execution",
            pool.max() >> 20
        ))
    }
}

impl wasmi::ResourceLimiter for HeapLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool, wasmi_core::LimiterError> {
        if !self.inner.memory_growing(current, desired, maximum)? {
            return Ok(false);
        }
        if let Some(pool) = &self.pool {
            let more = desired.saturating_sub(current);
            if !pool.reserve(more) {
                self.pool_refused = true;
                return Ok(false);
            }
            self.held += more;
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> Result<bool, wasmi_core::LimiterError> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

impl Drop for HeapLimiter {
    fn drop(&mut self) {
        if let Some(pool) = &self.pool {
            pool.release(self.held);
        }
    }
}

/// How many further requests one instance may accept (`next_request_wait`) after the
/// one it started with, as in Viceroy (`NEXT_REQ_ACCEPT_MAX`): six requests in all.
pub const MAX_FURTHER_REQUESTS: u32 = 5;

/// The longest wait for a further request, as in Viceroy: 10 s.
pub const MAX_NEXT_REQUEST_WAIT_MS: u64 = 10_000;

/// How many instances a server keeps waiting for a further request at a time, as in
/// Viceroy; past it, `next_request_wait` answers NONE.
pub const MAX_WAITING_SANDBOXES: usize = 5;

/// How long a platform waits for a further request ([`WorkKind::NextRequest`]): the
/// guest's timeout, at most [`MAX_NEXT_REQUEST_WAIT_MS`].
pub fn next_request_wait_ms(timeout_ms: Option<u64>) -> u64 {
    timeout_ms.map_or(MAX_NEXT_REQUEST_WAIT_MS, |t| {
        t.min(MAX_NEXT_REQUEST_WAIT_MS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_budget_recounts_only_near_the_bound_and_refuses_past_it() {
        let mut b = BodyBudget::default();
        let mut recounts = 0;
        assert!(b.admit(1 << 20, || {
            recounts += 1;
            0
        }));
        assert_eq!(recounts, 0);
        // The estimate says full, the bodies were read meanwhile: the recount admits.
        assert!(b.admit(MAX_BUFFERED_BODY_BYTES, || 0));
        // Now really full.
        assert!(!b.admit(1, || MAX_BUFFERED_BODY_BYTES));
    }

    #[test]
    fn the_log_budget_counts_what_it_drops() {
        let mut l = LogBudget::default();
        for _ in 0..MAX_LOG_LINES {
            assert!(l.admit(1));
        }
        assert!(!l.admit(1));
        assert!(!l.admit(1));
        assert_eq!(l.dropped, 2);
        assert!(l
            .dropped_notice()
            .unwrap()
            .contains("2 more log lines dropped"));
        let mut big = LogBudget::default();
        assert!(!big.admit(MAX_LOG_BYTES + 1));
        assert!(LogBudget::default().dropped_notice().is_none());
    }

    #[test]
    fn the_heap_pool_is_shared_and_given_back() {
        use wasmi::ResourceLimiter;
        let pool = HeapPool::new(3 << 20);
        let mut a = HeapLimiter::new(DEFAULT_HEAP_LIMIT, Some(pool.clone()));
        let mut b = HeapLimiter::new(DEFAULT_HEAP_LIMIT, Some(pool.clone()));
        assert!(a.memory_growing(0, 2 << 20, None).unwrap());
        assert!(!b.memory_growing(0, 2 << 20, None).unwrap());
        assert!(b.pool_refused && b.pool_note().unwrap().contains("3 MiB"));
        assert!(b.memory_growing(0, 1 << 20, None).unwrap());
        assert_eq!(pool.used(), 3 << 20);
        drop(a);
        assert_eq!(pool.used(), 1 << 20);
        // The instance's own limit still applies first.
        let mut c = HeapLimiter::new(1 << 20, Some(pool.clone()));
        assert!(!c.memory_growing(0, 2 << 20, None).unwrap());
        assert!(!c.pool_refused);
    }

    #[test]
    fn gauges_name_the_limits_a_run_passed() {
        let usage = Usage {
            heap_bytes: 2 << 20,
            backend_requests: 3,
            dictionary_lookups: 17,
            fuel: 60 * DEFAULT_FUEL_PER_CPU_MS,
            cpu_limit_hit_ms: None,
        };
        let g = gauges(&usage, DEFAULT_FUEL_PER_CPU_MS, 1_500, 10_000_000);
        let over: Vec<&str> = g
            .iter()
            .filter(|g| g.over)
            .map(|g| g.name.as_str())
            .collect();
        assert_eq!(over, ["cpu (estimated)", "dictionary lookups"]);
        let text = gauges_text(&g);
        assert!(
            text.contains("60.00 ms of 50 ms (120%) OVER: the platform stops the execution"),
            "{text}"
        );
        assert!(
            text.contains("backend requests              3 of 32 (9%)"),
            "{text}"
        );
    }

    #[test]
    fn a_cpu_limit_that_stopped_the_run_is_over_even_a_few_instructions_short() {
        let short = Usage {
            fuel: 50 * DEFAULT_FUEL_PER_CPU_MS - 3,
            ..Usage::default()
        };
        let cpu = |u: &Usage| gauges(u, DEFAULT_FUEL_PER_CPU_MS, 0, 0)[0].over;
        assert!(
            !cpu(&short),
            "49.99 ms that ran to the end is within the limit"
        );
        let stopped = Usage {
            cpu_limit_hit_ms: Some(50),
            ..short
        };
        assert!(cpu(&stopped));
        // A limit above the platform's stopped it: the platform's was passed, and
        // the estimate says so by itself.
        let generous = Usage {
            cpu_limit_hit_ms: Some(200),
            ..short
        };
        assert!(!cpu(&generous));
    }
}
