//! Reading everything about the downstream request (method, URL, headers, body) and echoing it as JSON.
use fastly::{Error, Request, Response};
use serde_json::json;
use sha2::{Digest, Sha256};

/// Bodies up to this size are echoed back as text; larger ones only by length and hash.
const MAX_ECHOED_BODY: usize = 4096;

#[fastly::main]
fn main(mut req: Request) -> Result<Response, Error> {
    let body = req.take_body_bytes();

    let mut headers = Vec::new();
    for name in req.get_header_names() {
        for value in req.get_header_all_str_lossy(name) {
            headers.push(json!([name.as_str(), value]));
        }
    }

    let hex: String = Sha256::digest(&body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let echoed_body = (body.len() <= MAX_ECHOED_BODY).then(|| String::from_utf8_lossy(&body));

    let doc = json!({
        "method": req.get_method_str(),
        "url": req.get_url_str(),
        "path": req.get_path(),
        "query": req.get_query_str(),
        "version": format!("{:?}", req.get_version()),
        "headers": headers,
        "body_len": body.len(),
        "body_sha256": hex,
        "body": echoed_body,
    });

    let mut resp = Response::from_status(200)
        .with_header("content-type", "application/json")
        .with_header("x-body-len", body.len().to_string());
    for name in req.get_header_names() {
        if name.as_str().starts_with("x-echo-") {
            for value in req.get_header_all(name) {
                resp.append_header(name, value);
            }
        }
    }
    resp.set_body(serde_json::to_string_pretty(&doc)? + "\n");
    Ok(resp)
}
