//! The smallest useful guest: `#[fastly::main]` returning a fixed response with headers.
use fastly::{Error, Request, Response};

#[fastly::main]
fn main(_req: Request) -> Result<Response, Error> {
    Ok(Response::from_status(200)
        .with_header("content-type", "text/plain; charset=utf-8")
        .with_header("x-edgeplay", "hello")
        .with_body("Hello from edgeplay!\n"))
}
