//! Registers a dynamic backend from the query (`name`, `target`, optional `host` for
//! the Host override, `tls=1`, `twice=1` to register it a second time) and fetches
//! `path` (default `/`) through it. Registration errors answer 500 with the error.
use fastly::backend::Backend;
use fastly::{Error, Request, Response};
use std::time::Duration;

#[fastly::main]
fn main(req: Request) -> Result<Response, Error> {
    let q: Vec<(String, String)> = req.get_query()?;
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let name = get("name").unwrap_or_else(|| "dyn".into());
    let target = get("target").unwrap_or_else(|| "127.0.0.1:9".into());
    let build = || {
        let mut b = Backend::builder(&name, &target)
            .connect_timeout(Duration::from_millis(1234))
            .first_byte_timeout(Duration::from_millis(5678));
        if let Some(h) = get("host") {
            b = b.override_host(h);
        }
        if get("tls").as_deref() == Some("1") {
            b = b.enable_ssl();
        }
        b.finish()
    };
    let backend = match build() {
        Ok(b) => b,
        Err(e) => return Ok(Response::from_status(500).with_body(format!("register: {e:?}\n"))),
    };
    if get("twice").as_deref() == Some("1") {
        if let Err(e) = build() {
            return Ok(Response::from_status(409).with_body(format!("register again: {e:?}\n")));
        }
    }
    let path = get("path").unwrap_or_else(|| "/".into());
    let resp = Request::get(format!("http://placeholder{path}")).send(backend.clone())?;
    let status = resp.get_status();
    let body = resp.into_body_str();
    Ok(Response::from_body(format!(
        "backend={} dynamic={} status={} body={}\n",
        backend.name(),
        backend.is_dynamic(),
        status.as_u16(),
        body
    )))
}
