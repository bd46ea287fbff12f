//! Fiddles: a guest, its `fastly.toml` and a sequence of requests with assertions,
//! as one versioned value that the tab and the runner share (`docs/fiddle.md`).
//!
//! - [`model`]: the value ([`Fiddle`]) and its JSON form, with a typed error for
//!   each way a fiddle can be bad ([`FiddleError`]);
//! - [`link`]: the value in a URL fragment (`#f=…`: JSON, raw deflate, base64url),
//!   inflated with a bound, and guests checked against their SHA-256;
//! - [`secrets`]: leaving secret-store contents out of a shared `fastly.toml`;
//! - [`record`]: what one request's run left ([`RunRecord`]), platform-neutral,
//!   built from the response and the trace;
//! - [`assert`](mod@assert): Fastly Fiddle's test syntax (`[label] TARGET OPERATOR VALUE`),
//!   parsed and evaluated over a [`RunRecord`];
//! - [`recording`]: recorded backend exchanges, replayed as mock backends;
//! - [`package`]: Fastly CLI packages (`pkg/NAME.tar.gz`: `bin/main.wasm` +
//!   `fastly.toml`).
//!
//! Everything here is plain data and pure functions: no I/O, and it builds for
//! `wasm32-unknown-unknown`.

pub mod assert;
pub mod link;
pub mod model;
pub mod package;
pub mod record;
pub mod recording;
pub mod secrets;

pub use assert::{
    check, evaluate, parse_assertions, parse_assertions_all, Assertion, AssertionResult, ParseError,
};
pub use link::{decode_link, encode_link, LINK_KEY, MAX_INFLATED_BYTES};
pub use model::{Fiddle, FiddleError, FiddleRequest, GuestSource, FIDDLE_VERSION};
pub use package::{read_package, Package, PackageError};
pub use record::{OriginFetch, RunRecord};
pub use recording::{Recording, Replayer, REPLAYED_NOTE};
