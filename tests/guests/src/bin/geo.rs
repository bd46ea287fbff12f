//! Geolocation: `geo_lookup` for `?ip=...` (default: the client IP), answered as JSON.
use fastly::geo::geo_lookup;
use fastly::{Error, Request, Response};
use serde_json::json;
use std::net::IpAddr;

#[fastly::main]
fn main(req: Request) -> Result<Response, Error> {
    let ip: IpAddr = match req.get_query_parameter("ip") {
        Some(text) => match text.parse() {
            Ok(ip) => ip,
            Err(_) => {
                return Ok(Response::from_status(400).with_body(format!("bad ip {text:?}\n")));
            }
        },
        None => match req.get_client_ip_addr() {
            Some(ip) => ip,
            None => return Ok(Response::from_status(500).with_body("no client ip\n")),
        },
    };
    let Some(geo) = geo_lookup(ip) else {
        return Ok(Response::from_status(404).with_body("no geo"));
    };
    let doc = json!({
        "ip": ip.to_string(),
        "city": geo.city(),
        "country_code": geo.country_code(),
        "latitude": geo.latitude(),
        "longitude": geo.longitude(),
        "as_number": geo.as_number(),
        "as_name": geo.as_name(),
    });
    Ok(Response::from_status(200)
        .with_header("content-type", "application/json")
        .with_body(serde_json::to_string_pretty(&doc)? + "\n"))
}
