//! The fuel meter: how much wasm fuel a request has used, across slices.

/// Fuel used by one request.
#[derive(Debug)]
pub struct FuelMeter {
    before_slice: u64,
    slice_start: u64,
    per_cpu_ms: u64,
}

impl FuelMeter {
    /// A meter at zero, calibrated at `per_cpu_ms` fuel per estimated CPU millisecond.
    pub fn new(per_cpu_ms: u64) -> Self {
        FuelMeter {
            before_slice: 0,
            slice_start: 0,
            per_cpu_ms: per_cpu_ms.max(1),
        }
    }

    /// Total fuel consumed, given the fuel left in the current slice.
    pub fn consumed(&self, fuel_left: u64) -> u64 {
        self.before_slice + self.slice_start.saturating_sub(fuel_left)
    }

    /// A new slice of `slice` fuel starts, `consumed` having been used before it.
    pub fn start_slice(&mut self, consumed: u64, slice: u64) {
        self.before_slice = consumed;
        self.slice_start = slice;
    }

    /// Fuel units per estimated platform CPU millisecond.
    pub fn per_cpu_ms(&self) -> u64 {
        self.per_cpu_ms
    }
}
