//! Step-through: where a guest pauses on its way through its hostcalls, and what the
//! embedder sees of a paused call.
//!
//! An execution with a [`StepPolicy`] ([`crate::exec::ExecOptions::step`]) pauses
//!
//! - **before** a hostcall runs when the policy steps every call
//!   ([`StepPolicy::every_call`]) or a [`Breakpoint`] matches the call's import
//!   (by module, by `module::name`, a backend send, a KV call, a cache call): nothing
//!   of the call has happened yet, its trace event is not open; resuming runs it as
//!   if it had never paused;
//! - **after** a hostcall returned a status other than OK (0, also WASI's `ESUCCESS`)
//!   when the policy has [`Breakpoint::Status`]: the call has finished (its trace
//!   event is recorded, the paused call shows its status), resuming hands the guest
//!   the result. A call that waited (a blocking `send`, `select`) pauses when it
//!   finishes, before the guest sees the status.
//!
//! The pause uses the same resumable suspension as outside work (a wasmi host trap),
//! so the guest uses no fuel while it is paused; the trace's clock stops too (an
//! event's time excludes the pause). Without a policy nothing is checked beyond one
//! `Option` per hostcall.

use crate::trace::{ArgValue, TraceEvent};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a stepping execution pauses (besides every call when stepping).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Breakpoint {
    /// Every import of a module (`fastly_http_req`; the `fastly_` prefix may be left
    /// off: `http_req`).
    Module(String),
    /// One import: `module::name` (`fastly_http_body::write`).
    Import {
        /// The import module (the `fastly_` prefix may be left off).
        module: String,
        /// The function.
        name: String,
    },
    /// After any call that returns a status other than OK.
    Status,
    /// Before a backend send (`send`, `send_v2`, `send_v3`, `send_async*`).
    Send,
    /// Before a KV store call (`fastly_kv_store`, legacy `fastly_object_store`).
    Kv,
    /// Before a cache call (core cache `fastly_cache`, HTTP cache `fastly_http_cache`).
    Cache,
}

/// A breakpoint spec that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a breakpoint: {0:?} (use a module, module::name, status, send, kv or cache)")]
pub struct BadBreakpoint(pub String);

impl FromStr for Breakpoint {
    type Err = BadBreakpoint;

    /// `status`, `send`, `kv`, `cache`, `module::name` or `module`.
    fn from_str(spec: &str) -> Result<Self, Self::Err> {
        let spec = spec.trim();
        let bad = || BadBreakpoint(spec.to_string());
        let ident = |s: &str| {
            !s.is_empty()
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        Ok(match spec {
            "status" => Breakpoint::Status,
            "send" => Breakpoint::Send,
            "kv" => Breakpoint::Kv,
            "cache" => Breakpoint::Cache,
            _ => match spec.split_once("::") {
                Some((m, n)) if ident(m) && ident(n) => Breakpoint::Import {
                    module: m.to_string(),
                    name: n.to_string(),
                },
                Some(_) => return Err(bad()),
                None if ident(spec) => Breakpoint::Module(spec.to_string()),
                None => return Err(bad()),
            },
        })
    }
}

impl fmt::Display for Breakpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Breakpoint::Module(m) => f.write_str(m),
            Breakpoint::Import { module, name } => write!(f, "{module}::{name}"),
            Breakpoint::Status => f.write_str("status"),
            Breakpoint::Send => f.write_str("send"),
            Breakpoint::Kv => f.write_str("kv"),
            Breakpoint::Cache => f.write_str("cache"),
        }
    }
}

/// `module` is `want`, or `fastly_` + `want`.
fn module_is(module: &str, want: &str) -> bool {
    module == want || module.strip_prefix("fastly_") == Some(want)
}

/// True for a backend send import.
pub fn is_send(module: &str, name: &str) -> bool {
    match module {
        "fastly_http_req" => name.starts_with("send") && name != "send_downstream",
        "env" => name.starts_with("xqd_req_send"),
        _ => false,
    }
}

/// True for a KV store import.
pub fn is_kv(module: &str, name: &str) -> bool {
    match module {
        "fastly_kv_store" | "fastly_object_store" => true,
        "env" => name.starts_with("xqd_kv") || name.starts_with("xqd_object_store"),
        _ => false,
    }
}

/// True for a cache import (core cache or HTTP cache).
pub fn is_cache(module: &str, _name: &str) -> bool {
    matches!(module, "fastly_cache" | "fastly_http_cache")
}

impl Breakpoint {
    /// True when this breakpoint pauses before a call of `module::name`.
    pub fn matches_before(&self, module: &str, name: &str) -> bool {
        match self {
            Breakpoint::Module(m) => module_is(module, m),
            Breakpoint::Import { module: m, name: n } => module_is(module, m) && name == n,
            Breakpoint::Status => false,
            Breakpoint::Send => is_send(module, name),
            Breakpoint::Kv => is_kv(module, name),
            Breakpoint::Cache => is_cache(module, name),
        }
    }
}

/// Where an execution pauses: before every hostcall ([`StepPolicy::every_call`]) or
/// only at [`Breakpoint`]s.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepPolicy {
    /// Pause before every hostcall (stepping); false: only at breakpoints.
    pub every_call: bool,
    /// The breakpoints.
    pub breakpoints: Vec<Breakpoint>,
}

impl StepPolicy {
    /// Pause before every hostcall, and at `breakpoints` once continued.
    pub fn stepping(breakpoints: Vec<Breakpoint>) -> Self {
        StepPolicy {
            every_call: true,
            breakpoints,
        }
    }

    /// Pause only at `breakpoints`.
    pub fn at(breakpoints: Vec<Breakpoint>) -> Self {
        StepPolicy {
            every_call: false,
            breakpoints,
        }
    }

    /// True when a call of `module::name` pauses before it runs.
    pub fn pause_before(&self, module: &str, name: &str) -> bool {
        self.every_call
            || self
                .breakpoints
                .iter()
                .any(|b| b.matches_before(module, name))
    }

    /// True when a call that returned `code` pauses after it (a status other than OK
    /// with [`Breakpoint::Status`]). A call without a status (`proc_exit`) never does.
    pub fn pause_after(&self, code: Option<i32>) -> bool {
        matches!(code, Some(c) if c != 0) && self.breakpoints.contains(&Breakpoint::Status)
    }
}

/// How the embedder resumes a paused execution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Resume {
    /// Run the paused call and pause before the next one.
    Step,
    /// Run to the next breakpoint.
    Continue,
    /// Run to the end without pausing again.
    RunToEnd,
}

/// When a call paused.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PausedAt {
    /// Before the call ran.
    Before,
    /// After it returned this status (code and name).
    After {
        /// The code returned.
        code: i32,
        /// Its name (`BADF`, `ENOENT`…).
        status: String,
    },
}

/// One argument of a paused call.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PendingArg {
    /// The parameter's name (`backend_ptr`, `req`…).
    pub name: String,
    /// The raw value the guest passed.
    pub raw: i64,
    /// What it refers to, decoded: the text or bytes at a pointer, the kind of a
    /// handle. `None` for a plain number or an output pointer.
    pub value: Option<ArgValue>,
    /// A word about it: what a handle is (`GET https://…`, `body, 12 bytes`), an
    /// output pointer, a bad pointer.
    pub about: Option<String>,
}

/// A paused hostcall, decoded for the embedder.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PendingCall {
    /// The import module.
    pub module: String,
    /// The function.
    pub name: String,
    /// Before the call ran, or after it returned a status other than OK.
    pub at: PausedAt,
    /// The arguments, in order. A pointer and its length are shown as one decoded
    /// value on the pointer (read through checked memory, at most
    /// [`MAX_PREVIEW`] bytes).
    pub args: Vec<PendingArg>,
    /// For a pause after the call: its recorded trace event.
    pub event: Option<TraceEvent>,
}

/// Most bytes a paused call's pointer argument shows.
pub const MAX_PREVIEW: u32 = 1024;

impl PendingCall {
    /// `module::name`.
    pub fn import(&self) -> String {
        format!("{}::{}", self.module, self.name)
    }

    /// The decoded value of the argument `name`, if any.
    pub fn value(&self, name: &str) -> Option<&ArgValue> {
        self.args
            .iter()
            .find(|a| a.name == name)
            .and_then(|a| a.value.as_ref())
    }
}

impl fmt::Display for PendingCall {
    /// One line for the call, then one indented line per argument.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.at {
            PausedAt::Before => write!(f, "paused before {}", self.import())?,
            PausedAt::After { code, status } => write!(
                f,
                "paused after {} returned {status} ({code})",
                self.import()
            )?,
        }
        for a in &self.args {
            write!(f, "\n  {} = {}", a.name, a.raw)?;
            if let Some(v) = &a.value {
                write!(f, "  {}", show_value(v))?;
            }
            if let Some(about) = &a.about {
                write!(f, "  ({about})")?;
            }
        }
        Ok(())
    }
}

/// An argument value as one short line.
pub fn show_value(v: &ArgValue) -> String {
    match v {
        ArgValue::Int(i) => i.to_string(),
        ArgValue::Handle { kind, handle } => format!("{kind:?} #{handle}"),
        ArgValue::Str(s) => format!("{s:?}"),
        ArgValue::Bytes { len, preview } => format!("{len} bytes: {preview}"),
        ArgValue::Flags(f) => f.join("|"),
        ArgValue::Enum(e) => e.clone(),
        ArgValue::List(l) => format!("[{}]", l.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bp(s: &str) -> Breakpoint {
        s.parse().unwrap()
    }

    #[test]
    fn specs_parse_and_print_back() {
        for s in [
            "status",
            "send",
            "kv",
            "cache",
            "fastly_http_req",
            "http_body::write",
        ] {
            assert_eq!(bp(s).to_string(), s);
        }
        assert_eq!(
            bp("fastly_log::write"),
            Breakpoint::Import {
                module: "fastly_log".into(),
                name: "write".into()
            }
        );
        for bad in ["", "a::", "::b", "a b", "x::y::z"] {
            assert!(bad.parse::<Breakpoint>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn breakpoints_match_their_imports() {
        assert!(bp("http_req").matches_before("fastly_http_req", "send"));
        assert!(bp("fastly_http_req").matches_before("fastly_http_req", "new"));
        assert!(!bp("http_req").matches_before("fastly_http_resp", "new"));
        assert!(bp("http_body::write").matches_before("fastly_http_body", "write"));
        assert!(!bp("http_body::write").matches_before("fastly_http_body", "read"));
        let send = bp("send");
        for n in [
            "send",
            "send_v2",
            "send_v3",
            "send_async",
            "send_async_streaming",
        ] {
            assert!(send.matches_before("fastly_http_req", n), "{n}");
        }
        assert!(send.matches_before("env", "xqd_req_send_async"));
        assert!(!send.matches_before("fastly_http_resp", "send_downstream"));
        assert!(!send.matches_before("fastly_http_req", "pending_req_wait"));
        assert!(bp("kv").matches_before("fastly_kv_store", "lookup"));
        assert!(bp("kv").matches_before("fastly_object_store", "lookup"));
        assert!(!bp("kv").matches_before("fastly_cache", "lookup"));
        assert!(bp("cache").matches_before("fastly_cache", "lookup"));
        assert!(bp("cache").matches_before("fastly_http_cache", "lookup"));
        assert!(!bp("status").matches_before("fastly_http_req", "send"));
    }

    #[test]
    fn a_policy_pauses_before_or_after() {
        let off = StepPolicy::at(vec![]);
        assert!(!off.pause_before("fastly_http_req", "send"));
        assert!(!off.pause_after(Some(5)));
        let stepping = StepPolicy::stepping(vec![]);
        assert!(stepping.pause_before("wasi_snapshot_preview1", "fd_write"));
        let sends = StepPolicy::at(vec![Breakpoint::Send]);
        assert!(sends.pause_before("fastly_http_req", "send"));
        assert!(!sends.pause_before("fastly_http_req", "new"));
        let status = StepPolicy::at(vec![Breakpoint::Status]);
        assert!(status.pause_after(Some(8)));
        assert!(!status.pause_after(Some(0)));
        assert!(!status.pause_after(None));
        assert!(!status.pause_before("fastly_http_req", "send"));
    }
}
