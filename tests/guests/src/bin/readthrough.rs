//! The readthrough cache as a guest sees it: forwards the client request to the
//! backend `origin` with the cache override the query asks for, and purges.
//!
//! - `GET /purge/<key>` (`?soft=1`): purge (or soft-purge) the surrogate key.
//! - Anything else goes to `origin` with its path and query; the query switches
//!   `pass=1`, `ttl=N`, `swr=N`, `pci=1` and `sk=<keys>` set the cache override
//!   (`CacheOverride`). The answer is the origin's (or the cache's) response.
//! - `GET /twice/<path>`: sends the same request twice in one execution with
//!   `send_async` and answers `first=<status>/<x-n>;second=<status>/<x-n>`; it
//!   waits for the first, then the second (`?reverse=1`: the second first).
use fastly::http::HeaderValue;
use fastly::{Error, Request, Response};

fn param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[fastly::main]
fn main(mut req: Request) -> Result<Response, Error> {
    let path = req.get_path().to_string();
    let query = req.get_query_str().unwrap_or("").to_string();
    if let Some(key) = path.strip_prefix("/purge/") {
        let soft = param(&query, "soft") == Some("1");
        let r = if soft {
            fastly::http::purge::soft_purge_surrogate_key(key)
        } else {
            fastly::http::purge::purge_surrogate_key(key)
        };
        return Ok(match r {
            Ok(()) => Response::from_body(format!("purged {key}")),
            Err(e) => Response::from_status(500).with_body(format!("purge failed: {e}")),
        });
    }
    if let Some(rest) = path.strip_prefix("/twice") {
        let mut a = Request::get(format!("http://origin.test{rest}"));
        a.set_header("host", req.get_header_str("host").unwrap_or("origin.test"));
        let b = a.clone_without_body();
        let pa = a.send_async("origin")?;
        let pb = b.send_async("origin")?;
        // `?reverse=1` waits for the second first.
        let (ra, rb) = if param(&query, "reverse") == Some("1") {
            let rb = pb.wait()?;
            (pa.wait()?, rb)
        } else {
            (pa.wait()?, pb.wait()?)
        };
        let n = |r: &Response| r.get_header_str("x-n").unwrap_or("-").to_string();
        return Ok(Response::from_body(format!(
            "first={}/{};second={}/{}",
            ra.get_status().as_u16(),
            n(&ra),
            rb.get_status().as_u16(),
            n(&rb)
        )));
    }
    if param(&query, "pass") == Some("1") {
        req.set_pass(true);
    }
    if let Some(ttl) = param(&query, "ttl").and_then(|v| v.parse().ok()) {
        req.set_ttl(ttl);
    }
    if let Some(swr) = param(&query, "swr").and_then(|v| v.parse().ok()) {
        req.set_stale_while_revalidate(swr);
    }
    if param(&query, "pci") == Some("1") {
        req.set_pci(true);
    }
    if let Some(sk) = param(&query, "sk") {
        req.set_surrogate_key(HeaderValue::from_str(&sk.replace("%20", " "))?);
    }
    match req.send("origin") {
        Ok(resp) => Ok(resp),
        Err(e) => Ok(Response::from_status(502).with_body(format!("send failed: {}\n", e.root_cause()))),
    }
}
