//! Floods a streaming upload (`send_async_streaming` to the backend `origin`): writes
//! 64 KiB chunks, up to 1 GiB, until a write fails, then waits for the response and
//! answers `wrote N bytes; ...` with its status or send error. Against an origin that
//! never reads the body, the platform's backpressure must hold the writes and the
//! failed request must make them fail, instead of the upload growing in memory.
use fastly::{Error, Request, Response};
use std::io::Write;

#[fastly::main]
fn main(_req: Request) -> Result<Response, Error> {
    let up = Request::post("http://origin.example/flood");
    let (mut body, pending) = up.send_async_streaming("origin")?;
    let chunk = vec![b'x'; 64 * 1024];
    let mut written: u64 = 0;
    let mut error = String::from("none");
    while written < (1 << 30) {
        match body.write_all(&chunk).and_then(|()| body.flush()) {
            Ok(()) => written += chunk.len() as u64,
            Err(e) => {
                error = e.to_string();
                break;
            }
        }
    }
    let _ = body.abandon();
    let outcome = match pending.wait() {
        Ok(r) => format!("status {}", r.get_status()),
        Err(e) => format!("send error {:?}", e.root_cause()),
    };
    Ok(Response::from_status(200)
        .with_body(format!("wrote {written} bytes; write error: {error}; {outcome}\n")))
}
