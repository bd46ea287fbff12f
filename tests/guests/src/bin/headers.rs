//! Multi-value response headers (`set-cookie` x3), a 60 KiB header value, and reading a big request header.
use fastly::{Error, Request, Response};

#[fastly::main]
fn main(req: Request) -> Result<Response, Error> {
    let mut resp = Response::from_status(200).with_header("content-type", "text/plain");
    resp.append_header("set-cookie", "a=1; Path=/");
    resp.append_header("set-cookie", "b=2; Path=/");
    resp.append_header("set-cookie", "c=3; Path=/; HttpOnly");
    resp.set_header("x-big", "a".repeat(61440));
    if let Some(big) = req.get_header("x-big") {
        resp.set_header("x-big-len", big.len().to_string());
    }
    resp.set_body("headers\n");
    Ok(resp)
}
