//! What a guest sees of its environment: `FASTLY_*` variables, argv, client/server IP and request id.
use fastly::{Error, Request, Response};
use std::fmt::Write;

const VARS: [&str; 9] = [
    "FASTLY_CACHE_GENERATION",
    "FASTLY_CUSTOMER_ID",
    "FASTLY_POP",
    "FASTLY_REGION",
    "FASTLY_SERVICE_ID",
    "FASTLY_SERVICE_VERSION",
    "FASTLY_HOSTNAME",
    "FASTLY_IS_STAGING",
    "FASTLY_TRACE_ID",
];

#[fastly::main]
fn main(req: Request) -> Result<Response, Error> {
    let mut out = String::new();
    for name in VARS {
        let value = std::env::var(name).unwrap_or_else(|_| "<unset>".to_owned());
        writeln!(out, "{name}={value}")?;
    }
    writeln!(out, "args={:?}", std::env::args().collect::<Vec<_>>())?;
    writeln!(out, "client_ip={:?}", req.get_client_ip_addr())?;
    writeln!(out, "server_ip={:?}", req.get_server_ip_addr())?;
    writeln!(out, "request_id={:?}", req.get_client_request_id())?;
    Ok(Response::from_status(200)
        .with_header("content-type", "text/plain")
        .with_body(out))
}
