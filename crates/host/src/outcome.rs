//! How an execution ended: plain values the drivers, the collector and the UI share.

use serde::{Deserialize, Serialize};

/// How an execution ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Exit {
    /// `_start` returned.
    Returned,
    /// The guest called `proc_exit(code)`.
    Exit(i32),
    /// The guest trapped.
    Trap {
        /// The trap message.
        message: String,
        /// Guest function names, innermost first (empty when unknown).
        backtrace: Vec<String>,
    },
    /// The guest used more than its CPU budget.
    CpuLimit {
        /// The limit, in estimated CPU ms.
        limit_ms: u64,
    },
    /// The driver stopped it.
    Stopped,
}

impl Exit {
    /// True for a normal end (returned, or exit code 0).
    pub fn is_success(&self) -> bool {
        matches!(self, Exit::Returned | Exit::Exit(0))
    }

    /// The error message a user sees, or `None` for a normal end.
    pub fn error_message(&self) -> Option<String> {
        match self {
            Exit::Returned | Exit::Exit(0) => None,
            Exit::Exit(c) => Some(format!("the guest exited with code {c}")),
            Exit::Trap { message, backtrace } => {
                let mut m = format!("the guest trapped: {message}");
                if !backtrace.is_empty() {
                    m.push_str("\nguest backtrace:");
                    // Deep recursion: show the innermost and the outermost frames.
                    let max = crate::backtrace::MAX_SHOWN_FRAMES;
                    let tail = max / 4;
                    let head = max - tail;
                    for (i, f) in backtrace.iter().enumerate() {
                        if backtrace.len() > max && i >= head && i < backtrace.len() - tail {
                            if i == head {
                                let hidden = backtrace.len() - max;
                                m.push_str(&format!("\n  ... {hidden} more frames ..."));
                            }
                            continue;
                        }
                        m.push_str(&format!("\n  {i}: {f}"));
                    }
                }
                Some(m)
            }
            Exit::CpuLimit { limit_ms } => Some(format!(
                "the guest was stopped by the CPU limit: it used more than {limit_ms} ms of estimated CPU time (the platform allows 50 ms; measured in wasm fuel, an estimate)"
            )),
            Exit::Stopped => Some("the guest was stopped".into()),
        }
    }
}

/// The end of an execution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// How it ended.
    pub exit: Exit,
    /// Total fuel consumed.
    pub fuel: u64,
    /// Estimated CPU ms (fuel / fuel per ms).
    pub cpu_ms_estimate: f64,
}
