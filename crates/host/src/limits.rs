//! The platform's limits and the estimates the host derives them from.

/// Fuel units per estimated platform CPU millisecond. wasmi charges about one unit per
/// instruction; the platform runs compiled code at roughly 2 instructions per ns, so
/// one CPU ms is on the order of 2 million wasm instructions. An estimate.
pub const DEFAULT_FUEL_PER_CPU_MS: u64 = 2_000_000;

/// The platform's heap limit per instance: 128 MiB.
pub const DEFAULT_HEAP_LIMIT: usize = 128 * 1024 * 1024;
