//! # edgeplay-host
//!
//! The Fastly Compute ABI host on [wasmi], platform-neutral: it builds for
//! `wasm32-unknown-unknown` (the browser worker) and natively (the `edgeplay` runner).
//!
//! - [`Engine`] loads guests (validated, cached by content hash) with every ABI import linked.
//! - [`Execution`] runs one downstream request in a fresh instance, as resumable
//!   fuel slices; outside work (sleeps, fetches, upload chunks) is handed out
//!   ([`Execution::take_work`] / [`Execution::complete`]).
//! - [`Driver`] is the driver core every platform adapter shares: loop detection,
//!   the work in flight, buffered uploads, failures; [`driver::blocking`] is the null
//!   platform (no network, no timers) for tests.
//! - [`Service`] is a service's configuration and the state its requests share,
//!   behind the [`Storage`] seam ([`storage`]).
//! - [`backends`] decides what every backend request looks like on the wire (URL,
//!   Host, `cdn-loop`, framing, timeouts); [`pending`] keeps one request's backend
//!   requests, answering mock and unreliable backends.
//! - [`platform`] holds the traits the platform implements (clock, randomness).
//! - [`trace`] records one event per hostcall.
//! - [`jsbuild`] builds JS Compute guests from the JS SDK's engine: its initialisation
//!   under wasmi, a [`snapshot`] of it, Wizer's rewrite, or a guest that starts each
//!   request from the snapshot.
//!
//! The modules form layers, bottom up: the model (plain values and pure logic:
//! `http`, `status`, `config`, `work`, `storage`, `backends`, `trace`, ...), the
//! per-request state (`session`, `pending`), the hostcalls (`abi`), and execution
//! (`engine`, `exec`, `driver`). Nothing imports upward (`scripts/check-layers.py`
//! checks it); `docs/architecture.md` describes each layer.
//!
//! Nothing here touches the OS, the browser, threads or an async runtime.

// The model: plain values and pure logic, importing nothing above it.
pub mod acl;
pub mod backends;
pub mod backtrace;
pub mod cache;
pub mod cards;
pub mod collect;
pub mod config;
pub mod erl;
pub mod fiddle;
pub mod fresh_cache;
pub mod http;
pub mod image_opt;
pub mod kv;
pub mod lessons;
pub mod limits;
pub mod memory;
pub mod names;
pub mod outcome;
pub mod platform;
pub mod profile;
pub mod rundiff;
pub mod seed;
pub(crate) mod serde_b64;
pub mod service;
pub mod snapshot;
pub mod status;
pub mod step;
pub mod storage;
pub mod trace;
pub mod work;
// Per-request state.
pub mod pending;
pub mod session;
// The hostcalls.
pub mod abi;
// Execution.
pub mod driver;
pub mod engine;
pub mod exec;
pub mod jsbuild;

pub use collect::{Collected, FinalResponse, LogLine};
pub use config::ServiceConfig;
pub use driver::{Capabilities, Driver, Step};
pub use engine::{Engine, EngineOptions, Guest, GuestInfo, LoadError, LoadPhases, UnknownImports};
pub use exec::{ExecOptions, Execution, Exit, Outcome, Poll};
pub use http::{
    DownstreamRequest, Handoff, HandoffKind, Headers, HttpVersion, Output, ResponseHead,
};
pub use platform::Platform;
pub use service::Service;
pub use storage::{MemoryStorage, SharedStorage, Storage};
pub use trace::TraceEvent;
pub use work::{
    ConnectOptions, FetchError, FetchErrorKind, FetchRequest, FetchResponse, NextDownstream, Work,
    WorkId, WorkKind, WorkResult,
};
