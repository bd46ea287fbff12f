//! What the core needs from the platform it runs on.
//!
//! The core never touches the OS or the browser itself: time and randomness reach it
//! through these small traits. The native runner implements them with `std`
//! (`edgeplay-cli`), the web app with `performance.now()`/`Date.now()` and
//! `crypto.getRandomValues` (`src/`). [`FixedClock`] and [`SeededRandom`] are the
//! deterministic implementations used by tests. A [`Validator`] is optional: the web
//! app has the browser's own, natively the interpreter validates.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Wall and monotonic time.
///
/// Contract: `monotonic_ns` never goes backwards within one process (native) or one
/// worker (browser); `unix_ns` is the wall clock and may jump.
pub trait Clock: Send + Sync {
    /// Nanoseconds since the Unix epoch.
    fn unix_ns(&self) -> u64;
    /// Nanoseconds since an arbitrary fixed point.
    fn monotonic_ns(&self) -> u64;
}

/// A source of random bytes for `random_get` and request ids.
///
/// Contract: native and browser implementations are cryptographically secure; the
/// test implementation is a seeded, repeatable generator.
pub trait Random: Send + Sync {
    /// Fill `buf` with random bytes.
    fn fill(&self, buf: &mut [u8]);
}

/// A whole-module validator faster than the interpreter's own: the browser's
/// `WebAssembly.validate`, compiled code validating 11 MB in a fraction of what
/// wasmi (itself compiled to wasm) takes.
///
/// Contract: `validate` answers whether `wasm` is a valid module for an engine with at
/// least wasmi's features (multi-memory, SIMD, bulk memory, reference types, tail
/// calls). With a validator the engine parses a module's function bodies lazily, on
/// their first call ([`crate::Engine::load`]); a module it calls invalid is checked
/// again by the interpreter for the error's wording.
pub trait Validator: Send + Sync {
    /// True when `wasm` is a valid module.
    fn validate(&self, wasm: &[u8]) -> bool;
}

/// The platform services one execution uses.
#[derive(Clone)]
pub struct Platform {
    /// Time source.
    pub clock: Arc<dyn Clock>,
    /// Randomness source.
    pub random: Arc<dyn Random>,
    /// A fast whole-module validator, if the platform has one (the browser's).
    pub validator: Option<Arc<dyn Validator>>,
}

impl Platform {
    /// A deterministic platform for tests: a clock that advances 1 µs per reading and a seeded RNG.
    pub fn deterministic() -> Self {
        Platform {
            clock: Arc::new(FixedClock::default()),
            random: Arc::new(SeededRandom::new(0x5eed)),
            validator: None,
        }
    }
}

impl std::fmt::Debug for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Platform")
    }
}

/// A clock for tests: starts at 2026-01-01T00:00:00Z and advances 1 µs each time it is read.
#[derive(Debug, Default)]
pub struct FixedClock {
    ticks: AtomicU64,
}

impl FixedClock {
    const START_UNIX_NS: u64 = 1_767_225_600_000_000_000;

    /// Move the clock forward by `ns` nanoseconds.
    pub fn advance(&self, ns: u64) {
        self.ticks.fetch_add(ns, Ordering::SeqCst);
    }
}

impl Clock for FixedClock {
    fn unix_ns(&self) -> u64 {
        Self::START_UNIX_NS + self.ticks.fetch_add(1_000, Ordering::SeqCst)
    }
    fn monotonic_ns(&self) -> u64 {
        self.ticks.fetch_add(1_000, Ordering::SeqCst)
    }
}

/// A repeatable xorshift generator for tests. Not for anything secret.
#[derive(Debug)]
pub struct SeededRandom {
    state: Mutex<u64>,
}

impl SeededRandom {
    /// A generator starting from `seed` (0 is replaced by a fixed non-zero value).
    pub fn new(seed: u64) -> Self {
        SeededRandom {
            state: Mutex::new(if seed == 0 {
                0x9e37_79b9_7f4a_7c15
            } else {
                seed
            }),
        }
    }
}

impl Random for SeededRandom {
    fn fill(&self, buf: &mut [u8]) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        for chunk in buf.chunks_mut(8) {
            *s ^= *s << 13;
            *s ^= *s >> 7;
            *s ^= *s << 17;
            let bytes = s.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}
