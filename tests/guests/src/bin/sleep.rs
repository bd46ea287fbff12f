//! Wall-clock time in a guest: `std::thread::sleep` for `?ms=N` (default 50), measured with `Instant`.
use fastly::{Error, Request, Response};
use std::time::{Duration, Instant};

#[fastly::main]
fn main(req: Request) -> Result<Response, Error> {
    let ms: u64 = req
        .get_query_parameter("ms")
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let start = Instant::now();
    std::thread::sleep(Duration::from_millis(ms));
    let elapsed = start.elapsed().as_millis();
    Ok(Response::from_status(200).with_body(format!("slept {elapsed}")))
}
