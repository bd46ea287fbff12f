//! Returning `Err` from `#[fastly::main]`: the SDK itself answers 500 with the error text as body.
use fastly::{Error, Request, Response};

#[fastly::main]
fn main(_req: Request) -> Result<Response, Error> {
    Err(Error::msg("handler failed on purpose"))
}
