//! Prints what the `fastly_backend` getters say about the backend named by `?name=`.
use fastly::backend::Backend;
use fastly::experimental::BackendExt;
use fastly::{Error, Request, Response};
use serde_json::json;

#[fastly::main]
fn main(req: Request) -> Result<Response, Error> {
    let q: Vec<(String, String)> = req.get_query()?;
    let name = q
        .iter()
        .find(|(n, _)| n == "name")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| "origin".into());
    let b = match Backend::from_name(&name) {
        Ok(b) => b,
        Err(e) => return Ok(Response::from_status(404).with_body(format!("{e:?}\n"))),
    };
    if !b.exists() {
        return Ok(Response::from_status(404).with_body("no such backend\n"));
    }
    let doc = json!({
        "name": b.name(),
        "exists": b.exists(),
        "is_dynamic": b.is_dynamic(),
        "host": b.get_host(),
        "override_host": b.get_host_override().map(|h| h.to_str().unwrap_or("").to_string()),
        "port": b.get_port(),
        "connect_timeout_ms": b.get_connect_timeout().as_millis() as u64,
        "first_byte_timeout_ms": b.get_first_byte_timeout().as_millis() as u64,
        "between_bytes_timeout_ms": b.get_between_bytes_timeout().as_millis() as u64,
        "http_keepalive_ms": b.get_http_keepalive_time().as_millis() as u64,
        "tcp_keepalive_enable": b.get_tcp_keepalive_enable(),
        "tcp_keepalive_probes": b.get_tcp_keepalive_probes(),
        "is_ssl": b.is_ssl(),
        "ssl_min": b.get_ssl_min_version().map(|v| format!("{v:?}")),
        "ssl_max": b.get_ssl_max_version().map(|v| format!("{v:?}")),
        "health": format!("{:?}", b.is_healthy()?),
    });
    Ok(Response::from_body(serde_json::to_string_pretty(&doc)? + "\n")
        .with_header("content-type", "application/json"))
}
