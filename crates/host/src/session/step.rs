//! A stepping execution's per-request state: its policy, and the call it is paused in.

use super::Session;
use crate::step::{PendingCall, StepPolicy};
use std::cell::Cell;

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

/// Slots of [`Stepper`]'s memo of breakpoint decisions.
const MEMO: usize = 64;

/// The step-through state of one request ([`Session::step`], `None` when not stepping).
#[derive(Debug, Default)]
pub struct Stepper {
    /// Where to pause.
    policy: StepPolicy,
    /// The call just paused, until the execution takes it.
    pub parked: Option<Parked>,
    /// Whether a breakpoint matches an import, remembered per import: a direct-mapped
    /// table keyed by the addresses and lengths of the import's static names, so a
    /// breakpoint that is set but not hit costs a lookup per hostcall rather than
    /// comparing every breakpoint's names (0 in the last field: not known yet).
    memo: MemoTable,
}

#[derive(Debug)]
struct MemoTable([Cell<([usize; 4], u8)>; MEMO]);

impl Default for MemoTable {
    fn default() -> Self {
        MemoTable(std::array::from_fn(|_| Cell::new(([0; 4], 0))))
    }
}

impl Stepper {
    /// A stepper with `policy`.
    pub fn new(policy: StepPolicy) -> Self {
        Stepper {
            policy,
            parked: None,
            memo: MemoTable::default(),
        }
    }

    /// Where it pauses.
    pub fn policy(&self) -> &StepPolicy {
        &self.policy
    }

    /// Pause before every call (Step) or only at breakpoints (Continue).
    pub fn set_every_call(&mut self, on: bool) {
        self.policy.every_call = on;
    }

    /// Pause where `policy` says from now on.
    pub fn set_policy(&mut self, policy: StepPolicy) {
        self.policy = policy;
        self.memo = MemoTable::default();
    }

    /// True when a call of `module::name` pauses before it runs
    /// ([`StepPolicy::pause_before`], remembered per import).
    pub fn pause_before(&self, module: &'static str, name: &'static str) -> bool {
        if self.policy.every_call {
            return true;
        }
        if self.policy.breakpoints.is_empty() {
            return false;
        }
        let key = [
            module.as_ptr() as usize,
            module.len(),
            name.as_ptr() as usize,
            name.len(),
        ];
        let slot = &self.memo.0[((key[2] >> 3) ^ (key[0] >> 5) ^ key[3]) % MEMO];
        let (k, known) = slot.get();
        if known != 0 && k == key {
            return known == 2;
        }
        let hit = self.policy.pause_before(module, name);
        slot.set((key, if hit { 2 } else { 1 }));
        hit
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::step::Breakpoint;

    #[test]
    fn remembered_decisions_are_the_policys() {
        let mut st = Stepper::new(StepPolicy::at(vec![Breakpoint::Send, Breakpoint::Kv]));
        for _ in 0..2 {
            assert!(st.pause_before("fastly_http_req", "send_v2"));
            assert!(!st.pause_before("fastly_http_req", "send_downstream"));
            assert!(!st.pause_before("fastly_http_body", "new"));
            assert!(!st.pause_before("fastly_http_resp", "new"));
            assert!(st.pause_before("fastly_kv_store", "lookup"));
        }
        st.set_policy(StepPolicy::at(vec![Breakpoint::Module("http_body".into())]));
        assert!(st.pause_before("fastly_http_body", "new"));
        assert!(!st.pause_before("fastly_http_req", "send_v2"));
        st.set_every_call(true);
        assert!(st.pause_before("fastly_http_req", "send_v2"));
        assert!(!Stepper::new(StepPolicy::at(vec![])).pause_before("fastly_http_body", "new"));
    }
}
