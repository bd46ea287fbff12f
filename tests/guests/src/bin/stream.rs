//! Streaming a response with `stream_to_client()`: `?chunks=N&sleep_ms=M`, and `?abandon=1` to cut it short.
use fastly::{Error, Request, Response};
use std::io::Write;
use std::time::Duration;

// A plain `main` (not `#[fastly::main]`): the response is sent by `stream_to_client()`,
// so there is no `Response` to return at the end.
fn main() -> Result<(), Error> {
    let req = Request::from_client();
    let chunks: u32 = req
        .get_query_parameter("chunks")
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let sleep = req
        .get_query_parameter("sleep_ms")
        .and_then(|v| v.parse().ok())
        .map(Duration::from_millis);
    let abandon = req.get_query_parameter("abandon") == Some("1");

    let mut body = Response::from_status(200)
        .with_header("content-type", "text/plain")
        .stream_to_client();
    for i in 0..chunks {
        if abandon && i == chunks / 2 {
            // Dropping a `StreamingBody` without `finish()` abandons it: the client sees
            // an incomplete body.
            drop(body);
            return Ok(());
        }
        if i > 0 {
            if let Some(d) = sleep {
                std::thread::sleep(d);
            }
        }
        writeln!(body, "chunk {i}")?;
        body.flush()?;
    }
    body.finish()?;
    Ok(())
}
