//! A streaming upload (`send_async_streaming`) to the backend `origin`: writes
//! `first-chunk;`, flushes, sleeps 300 ms, sends a marker request to the backend
//! `marker` (so a test can tell what the origin had before the second write), writes
//! `second-chunk`, finishes the body, waits for the response and answers with its
//! status and body.
//!
//! Query switches: `early=1` waits for the response right after the first chunk (the
//! origin answers before the body is complete), then writes the rest; `abandon=1`
//! abandons the body after the first chunk (the origin sees an incomplete body), then
//! waits: a failed send answers 502 with its cause.
use fastly::{Error, Request, Response};
use std::io::Write;
use std::time::Duration;

#[fastly::main]
fn main(req: Request) -> Result<Response, Error> {
    let query = req.get_query_str().unwrap_or("").to_string();
    let flag = |name: &str| query.split('&').any(|kv| kv == format!("{name}=1"));
    let up = Request::post("http://origin.example/upload").with_header("x-upload", "1");
    let (mut body, pending) = up.send_async_streaming("origin")?;
    body.write_all(b"first-chunk;")?;
    body.flush()?;
    if flag("abandon") {
        body.abandon()?;
        return Ok(answer(pending.wait()));
    }
    if flag("early") {
        let resp = pending.wait();
        body.write_all(b"second-chunk")?;
        body.finish()?;
        return Ok(answer(resp));
    }
    std::thread::sleep(Duration::from_millis(300));
    Request::get("http://marker.example/marker").send("marker")?;
    body.write_all(b"second-chunk")?;
    body.finish()?;
    Ok(answer(pending.wait()))
}

fn answer(resp: Result<Response, fastly::http::request::SendError>) -> Response {
    match resp {
        Ok(mut r) => Response::from_status(r.get_status())
            .with_body(format!("origin said: {}", r.take_body_str())),
        Err(e) => Response::from_status(502)
            .with_header("x-send-error", format!("{:?}", e.root_cause()))
            .with_body(format!("send failed: {}\n", e.root_cause())),
    }
}
