//! Forwards the client request to the backend `origin` and returns its response.
//!
//! Query switches: `gzip=1` asks the host to decompress a gzip response
//! (`auto_decompress_response_set`); `manual=1` keeps the client's framing headers
//! (`framing_headers_mode_set(manual)`). A send error answers 502 with its cause.
use fastly::http::FramingHeadersMode;
use fastly::{Error, Request, Response};

#[fastly::main]
fn main(mut req: Request) -> Result<Response, Error> {
    let query = req.get_query_str().unwrap_or("").to_string();
    let flag = |name: &str| query.split('&').any(|kv| kv == format!("{name}=1"));
    if flag("gzip") {
        req.set_auto_decompress_gzip(true);
    }
    if flag("manual") {
        req.set_framing_headers_mode(FramingHeadersMode::ManuallyFromHeaders);
    }
    match req.send("origin") {
        Ok(resp) => Ok(resp),
        Err(e) => Ok(Response::from_status(502)
            .with_header("x-send-error", format!("{:?}", e.root_cause()))
            .with_body(format!("send failed: {}\n", e.root_cause()))),
    }
}
