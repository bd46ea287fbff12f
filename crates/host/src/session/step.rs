//! A stepping execution's per-request state: its policy, and the call it is paused in.

use super::Session;
use crate::step::{PendingCall, StepPolicy};

/// A paused call's body with its arguments, run when it is resumed: its result
/// (`None` for a call without one), or how the guest leaves the normal path (suspend,
/// exit, trap) as a wasmi host error.
pub type Replay =
    Box<dyn FnOnce(&mut wasmi::Store<Session>) -> Result<Option<i32>, wasmi::Error> + Send>;

/// What runs when a paused call is resumed.
pub enum AfterPause {
    /// The call had not run: run it now (the hostcall's body with its arguments),
    /// giving its result (`None` for a call without one), or how the guest leaves the
    /// normal path (suspend, exit, trap) as a wasmi host error.
    Replay(Replay),
    /// The call had finished: hand the guest this result.
    Value(Option<i32>),
}

impl std::fmt::Debug for AfterPause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AfterPause::Replay(_) => f.write_str("Replay"),
            AfterPause::Value(v) => write!(f, "Value({v:?})"),
        }
    }
}

/// A call that paused, decoded, and what resuming it does.
#[derive(Debug)]
pub struct Parked {
    /// The paused call, for the embedder.
    pub call: PendingCall,
    /// What resuming runs.
    pub then: AfterPause,
}

/// The step-through state of one request ([`Session::step`], `None` when not stepping).
#[derive(Debug, Default)]
pub struct Stepper {
    /// Where to pause.
    pub policy: StepPolicy,
    /// The call just paused, until the execution takes it.
    pub parked: Option<Parked>,
}

impl Stepper {
    /// A stepper with `policy`.
    pub fn new(policy: StepPolicy) -> Self {
        Stepper {
            policy,
            parked: None,
        }
    }
}
