//! Guest backtraces at a trap.
//!
//! wasmi does not expose the guest call stack, so a backtrace needs help from the
//! module itself; until that lands, `capture` reports none and the trap message
//! stands alone.

use crate::engine::Guest;
use crate::session::Session;

/// Guest function names at the point of a trap, innermost first.
pub fn capture(_store: &mut wasmi::Store<Session>, _guest: &Guest) -> Vec<String> {
    Vec::new()
}
