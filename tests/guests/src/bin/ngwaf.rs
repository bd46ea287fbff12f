//! The Next-Gen WAF through `fastly::security::inspect`: the downstream request is
//! inspected (corp `c`, workspace `w`) and the answer is
//! `verdict=<v> status=<n> tags=<a,b> redirect=<url|->`.
//!
//! `?ip=ADDR` overrides the client address the WAF sees; `?nocorp=1` leaves the
//! corp out (the call then fails, and the answer is `error=<message>`).
use fastly::security::{inspect, InspectConfig, InspectVerdict};
use fastly::{Error, Request, Response};

#[fastly::main]
fn main(req: Request) -> Result<Response, Error> {
    let mut config = InspectConfig::from_request(&req).workspace("w");
    if req.get_query_parameter("nocorp") != Some("1") {
        config = config.corp("c");
    }
    if let Some(ip) = req.get_query_parameter("ip").and_then(|v| v.parse().ok()) {
        config = config.client_ip(ip);
    }
    let r = match inspect(config) {
        Ok(r) => r,
        Err(e) => return Ok(Response::from_body(format!("error={e}"))),
    };
    let verdict = match r.verdict() {
        InspectVerdict::Allow => "allow".to_string(),
        InspectVerdict::Block => "block".to_string(),
        InspectVerdict::Unauthorized => "unauthorized".to_string(),
        InspectVerdict::Other(s) => s.clone(),
    };
    Ok(Response::from_body(format!(
        "verdict={verdict} status={} tags={} redirect={}",
        r.status(),
        r.tags().join(","),
        r.redirect_url().unwrap_or("-")
    )))
}
