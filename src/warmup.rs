//! Warming up the worker's interpreter before the first guest arrives.
//!
//! The browser compiles the worker's wasm in tiers: first a quick baseline compile,
//! then, once a function is hot, an optimizing compile in the background, used from
//! its next call on. The interpreter's dispatch loop is one big function, entered
//! once per fuel slice: a guest that arrives first would run its early slices on
//! the baseline code. So the worker runs a small CPU-bound module (below) in short
//! slices right after it starts, while the user is still choosing a file.
//!
//! ```wat
//! (module
//!   (memory (export "memory") 1)
//!   (func $mix (param $i i32) (result i32)
//!     (local $a i64)
//!     (local.set $a (i64.mul (i64.extend_i32_u (local.get $i)) (i64.const 0x9e3779b97f4a7c15)))
//!     (i32.store (i32.and (i32.shl (local.get $i) (i32.const 2)) (i32.const 0xfffc)) (i32.wrap_i64 (local.get $a)))
//!     (if (result i32) (i32.and (local.get $i) (i32.const 1))
//!       (then (i32.add (i32.wrap_i64 (i64.shr_u (local.get $a) (i64.const 32)))
//!                      (i32.load (i32.and (i32.shl (local.get $i) (i32.const 3)) (i32.const 0xfffc)))))
//!       (else (i32.xor (i32.load8_u (local.get $i)) (i32.rotl (local.get $i) (i32.const 7))))))
//!   (func (export "_start")
//!     (local $i i32) (local $acc i32)
//!     (loop $l
//!       (local.set $acc (i32.add (local.get $acc) (call $mix (i32.and (local.get $i) (i32.const 0xffff)))))
//!       (local.set $i (i32.add (local.get $i) (i32.const 1)))
//!       (br_if $l (i32.lt_u (local.get $i) (i32.const 400000))))
//!     (i32.store (i32.const 0) (local.get $acc))))
//! ```

use edgeplay_host::{DownstreamRequest, Engine, ExecOptions, Execution};
use std::sync::Arc;

/// The module above, assembled (binaryen's `wasm-as`).
pub const WARMUP_WASM: &[u8] = &[
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x09, 0x02, 0x60, 0x01, 0x7f, 0x01, 0x7f,
    0x60, 0x00, 0x00, 0x03, 0x03, 0x02, 0x00, 0x01, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x13, 0x02,
    0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, 0x06, 0x5f, 0x73, 0x74, 0x61, 0x72, 0x74,
    0x00, 0x01, 0x0a, 0x7c, 0x02, 0x4d, 0x01, 0x01, 0x7e, 0x20, 0x00, 0xad, 0x42, 0x95, 0xf8, 0xa9,
    0xfa, 0x97, 0xb7, 0xde, 0x9b, 0x9e, 0x7f, 0x7e, 0x21, 0x01, 0x20, 0x00, 0x41, 0x02, 0x74, 0x41,
    0xfc, 0xff, 0x03, 0x71, 0x20, 0x01, 0xa7, 0x36, 0x02, 0x00, 0x20, 0x00, 0x41, 0x01, 0x71, 0x04,
    0x7f, 0x20, 0x01, 0x42, 0x20, 0x88, 0xa7, 0x20, 0x00, 0x41, 0x03, 0x74, 0x41, 0xfc, 0xff, 0x03,
    0x71, 0x28, 0x02, 0x00, 0x6a, 0x05, 0x20, 0x00, 0x2d, 0x00, 0x00, 0x20, 0x00, 0x41, 0x07, 0x77,
    0x73, 0x0b, 0x0b, 0x2c, 0x01, 0x02, 0x7f, 0x03, 0x40, 0x20, 0x01, 0x20, 0x00, 0x41, 0xff, 0xff,
    0x03, 0x71, 0x10, 0x00, 0x6a, 0x21, 0x01, 0x20, 0x00, 0x41, 0x01, 0x6a, 0x21, 0x00, 0x20, 0x00,
    0x41, 0x80, 0xb5, 0x18, 0x49, 0x0d, 0x00, 0x0b, 0x41, 0x00, 0x20, 0x01, 0x36, 0x02, 0x00, 0x0b,
];

/// How many [`edgeplay_host::engine::HASH_CHUNK`]-byte pieces the warm-up hashes
/// (the browser optimizes the compression loop once it has run a few times).
pub const HASH_WARMUP_PIECES: usize = 24;

/// Fuel per warm-up slice: short, so messages that arrive meanwhile wait little.
pub const WARMUP_SLICE_FUEL: u64 = 1_000_000;

/// An execution of the warm-up module (no trace, no CPU limit).
pub fn warm_up(engine: &Engine) -> Option<Execution> {
    let guest = engine.load(WARMUP_WASM).ok()?;
    Execution::new(
        engine,
        guest,
        Arc::default(),
        DownstreamRequest::new("GET", "/"),
        "warm-up".into(),
        ExecOptions {
            slice_fuel: WARMUP_SLICE_FUEL,
            trace: false,
            ..ExecOptions::default()
        },
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeplay_host::{Exit, Platform, Poll};

    #[test]
    fn the_warm_up_runs_to_its_end_in_many_slices() {
        let engine = Engine::new(Platform::deterministic());
        let mut exec = warm_up(&engine).expect("the warm-up module loads");
        let mut slices = 0;
        let outcome = loop {
            slices += 1;
            match exec.run() {
                Poll::Done(o) => break o,
                Poll::Yielded => {}
                Poll::Blocked | Poll::Paused => panic!("the warm-up never waits"),
            }
        };
        assert_eq!(outcome.exit, Exit::Returned);
        assert!(slices > 5, "{slices} slices");
        assert!(outcome.fuel > 5_000_000, "{} fuel", outcome.fuel);
    }
}
