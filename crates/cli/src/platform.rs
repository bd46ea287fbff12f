//! The platform services of the native runner: the system clock and the OS random source.

use edgeplay_host::platform::{Clock, Random};
use edgeplay_host::Platform;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// The process-wide monotonic origin: every [`NativeClock`] measures from the same instant,
/// so monotonic readings never go backwards within the process.
fn process_start() -> Instant {
    static START: OnceLock<Instant> = OnceLock::new();
    *START.get_or_init(Instant::now)
}

/// Wall time from [`SystemTime`], monotonic time from a process-wide [`Instant`].
#[derive(Clone, Copy, Debug, Default)]
pub struct NativeClock;

impl NativeClock {
    /// A clock; the monotonic origin is fixed the first time any clock is created or read.
    pub fn new() -> Self {
        process_start();
        NativeClock
    }
}

impl Clock for NativeClock {
    fn unix_ns(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }

    fn monotonic_ns(&self) -> u64 {
        u64::try_from(process_start().elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// Cryptographically secure bytes from the operating system (`getrandom`).
#[derive(Clone, Copy, Debug, Default)]
pub struct NativeRandom;

impl Random for NativeRandom {
    fn fill(&self, buf: &mut [u8]) {
        if getrandom::fill(buf).is_ok() {
            return;
        }
        // The OS source failing is next to impossible; never panic in a hostcall. Fall
        // back to std's randomly keyed SipHash, mixed with a counter and the clock.
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let state = std::collections::hash_map::RandomState::new();
        for chunk in buf.chunks_mut(8) {
            let mut h = state.build_hasher();
            h.write_u64(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
            h.write_u64(NativeClock.unix_ns());
            let bytes = h.finish().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
    }
}

/// The native platform: [`NativeClock`] and [`NativeRandom`]; no validator of its
/// own (wasmi validates at load, as fast as any here).
pub fn native_platform() -> Platform {
    Platform {
        clock: Arc::new(NativeClock::new()),
        random: Arc::new(NativeRandom),
        validator: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_never_goes_backwards() {
        let c = NativeClock::new();
        let a = c.monotonic_ns();
        let b = NativeClock::new().monotonic_ns();
        assert!(b >= a);
    }

    #[test]
    fn wall_clock_is_after_2020() {
        assert!(NativeClock.unix_ns() > 1_577_836_800_000_000_000);
    }

    #[test]
    fn random_fills_the_buffer() {
        let mut a = [0u8; 64];
        let mut b = [0u8; 64];
        NativeRandom.fill(&mut a);
        NativeRandom.fill(&mut b);
        assert_ne!(a, b);
    }
}
