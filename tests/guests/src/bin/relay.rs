//! Relays a backend body to another backend: GETs from the backend `source` and POSTs
//! that response's body, as it is, to the backend `sink`, then answers
//! `sink said: BODY` (or 502 with the send error).
use fastly::{Error, Request, Response};

#[fastly::main]
fn main(_req: Request) -> Result<Response, Error> {
    let source = Request::get("http://source.example/").send("source")?;
    let relayed = Request::post("http://sink.example/relay").with_body(source.into_body());
    match relayed.send("sink") {
        Ok(r) => Ok(Response::from_body(format!("sink said: {}", r.into_body_str()))),
        Err(e) => Ok(Response::from_status(502).with_body(format!("send failed: {e}\n"))),
    }
}
