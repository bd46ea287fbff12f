//! A guest that panics inside `#[fastly::main]`: the panic message goes to stderr and the guest traps.
use fastly::{Error, Request, Response};

#[fastly::main]
fn main(_req: Request) -> Result<Response, Error> {
    panic!("boom from the guest");
}
