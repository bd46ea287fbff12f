//! Downstream (client connection) metadata the host exposes: IPs, request id, TLS, original headers.
use fastly::{Error, Request, Response};
use serde_json::json;

#[fastly::main]
fn main(req: Request) -> Result<Response, Error> {
    let doc = json!({
        "client_ip_addr": format!("{:?}", req.get_client_ip_addr()),
        "server_ip_addr": format!("{:?}", req.get_server_ip_addr()),
        "client_request_id": format!("{:?}", req.get_client_request_id()),
        "tls_protocol": format!("{:?}", req.get_tls_protocol()),
        "original_header_names": format!("{:?}", req.get_original_header_names()),
        "original_header_count": format!("{:?}", req.get_original_header_count()),
        "fastly_key_is_valid": format!("{:?}", req.fastly_key_is_valid()),
    });
    Ok(Response::from_status(200)
        .with_header("content-type", "application/json")
        .with_body(serde_json::to_string_pretty(&doc)? + "\n"))
}
