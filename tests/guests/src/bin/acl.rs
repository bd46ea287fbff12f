//! ACLs: look up the client IP (or `?ip=`) in the ACL `?acl=` (default `blocklist`).
//! A BLOCK match answers 403, an ALLOW match 200 "allowed", no match 200 "no match";
//! the matched prefix and action are in `x-acl-prefix` / `x-acl-action`.
use fastly::acl::{Acl, OpenError};
use fastly::{Error, Request, Response};
use std::net::IpAddr;

#[fastly::main]
fn main(req: Request) -> Result<Response, Error> {
    let name = req
        .get_query_parameter("acl")
        .unwrap_or("blocklist")
        .to_string();
    let ip: IpAddr = match req.get_query_parameter("ip") {
        Some(text) => match text.parse() {
            Ok(ip) => ip,
            Err(_) => return Ok(Response::from_status(400).with_body(format!("bad ip {text:?}\n"))),
        },
        None => match req.get_client_ip_addr() {
            Some(ip) => ip,
            None => return Ok(Response::from_status(500).with_body("no client ip\n")),
        },
    };
    let acl = match Acl::open(&name) {
        Ok(acl) => acl,
        Err(OpenError::AclNotFound) => {
            return Ok(Response::from_status(500).with_body(format!("no ACL named {name}\n")))
        }
        Err(e) => return Ok(Response::from_status(500).with_body(format!("open failed: {e}\n"))),
    };
    Ok(match acl.try_lookup(ip) {
        Ok(Some(m)) => {
            let action = if m.is_block() {
                "BLOCK"
            } else if m.is_allow() {
                "ALLOW"
            } else {
                "OTHER"
            };
            let resp = if m.is_block() {
                Response::from_status(403).with_body(format!("{ip} is blocked by {}\n", m.prefix()))
            } else {
                Response::from_status(200).with_body(format!("{ip} is allowed by {}\n", m.prefix()))
            };
            resp.with_header("x-acl-prefix", m.prefix())
                .with_header("x-acl-action", action)
        }
        Ok(None) => Response::from_status(200).with_body(format!("{ip}: no match\n")),
        Err(e) => Response::from_status(500).with_body(format!("lookup failed: {e}\n")),
    })
}
