//! Choosing the response status from a query parameter: `?status=418` answers `status 418`.
use fastly::http::StatusCode;
use fastly::{Error, Request, Response};

#[fastly::main]
fn main(req: Request) -> Result<Response, Error> {
    let raw = req.get_query_parameter("status").unwrap_or("200");
    let status = match raw
        .parse::<u16>()
        .ok()
        .and_then(|n| StatusCode::from_u16(n).ok())
    {
        Some(status) => status,
        None => {
            return Ok(Response::from_status(StatusCode::BAD_REQUEST)
                .with_body(format!("invalid status {raw:?}\n")));
        }
    };
    Ok(Response::from_status(status).with_body(format!("status {}", status.as_u16())))
}
