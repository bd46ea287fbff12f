//! # edgeplay-cli
//!
//! edgeplay's native runner: the platform services ([`platform`]), the async driver
//! ([`driver`]), and the `edgeplay` command line ([`cli`], [`app`]) — a drop-in for
//! Viceroy's (`serve`, the default, and `run`, with Viceroy's flags and output) plus
//! edgeplay's own `request`, `coverage` and `test` (fiddles: [`fiddle`]); [`tap`] records and
//! replays backend exchanges.

pub mod app;
pub mod cli;
pub mod driver;
pub mod fetch;
pub mod fiddle;
pub mod handoff;
pub mod jsbuild;
pub mod load;
pub mod logging;
pub mod platform;
pub mod profile;
pub mod serve;
pub mod state;
pub mod tap;
