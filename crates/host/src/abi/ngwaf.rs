//! `fastly_http_req.inspect`: the Next-Gen WAF (`fastly::security::inspect`), from
//! the service's `[local_server.ngwaf]` rules ([`crate::config::NgwafConfig`]).
//!
//! The request (its path and query percent-decoded) is checked against the rules in
//! order; the first whose conditions
//! all hold gives the verdict, else the default (allow). The answer is the JSON the
//! SDKs parse: `{"response":200,"redirect_url":"","tags":[],"verdict":"allow",
//! "decision_ms":0}`. As Viceroy: the request and body handles must be live, the
//! `corp` and `workspace` options are required (the platform needs them to find the
//! WAF; INVAL without), each must be UTF-8, and an `override_client_ip` of 4 or 16
//! bytes replaces the client address the rules see. A buffer too small is BUFLEN
//! with the size needed (the ABI's rule).

use super::{Cx, Fault, HostResult, Registry};
use crate::config::{NgwafRule, NgwafVerdict};
use crate::status::Status;
use crate::trace::{ArgValue, HandleKind};
use std::net::IpAddr;

/// `inspect_info_mask` bits.
mod bits {
    pub const RESERVED: u32 = 1 << 0;
    pub const CORP: u32 = 1 << 1;
    pub const WORKSPACE: u32 = 1 << 2;
    pub const OVERRIDE_CLIENT_IP: u32 = 1 << 3;
    pub const ALL: u32 = RESERVED | CORP | WORKSPACE | OVERRIDE_CLIENT_IP;
}

/// Size of `inspect_info`: three pointer/length pairs.
const INFO_SIZE: u32 = 24;

/// True when every condition of `rule` holds for the request.
fn matches(
    rule: &NgwafRule,
    method: &str,
    uri: &str,
    headers: &crate::http::Headers,
    ip: IpAddr,
) -> bool {
    // The path and query as text (percent-decoded, as the WAF reads them), from the
    // URL as the guest has it (whatever characters it holds).
    let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
    let rest = rest.find('/').map_or("", |i| &rest[i..]);
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let (path, query) = (decode(path), decode(&query.replace('+', " ")));
    rule.method
        .as_ref()
        .is_none_or(|m| m.eq_ignore_ascii_case(method))
        && rule
            .path_prefix
            .as_ref()
            .is_none_or(|p| path.starts_with(p.as_str()))
        && rule
            .query_contains
            .as_ref()
            .is_none_or(|q| query.contains(q.as_str()))
        && rule.header.as_ref().is_none_or(|(name, text)| {
            headers.get_all(name).iter().any(|v| {
                text.as_ref()
                    .is_none_or(|t| String::from_utf8_lossy(v).contains(t.as_str()))
            })
        })
        && rule.client_ip.as_ref().is_none_or(|p| p.contains(&ip))
}

/// The answer's JSON.
fn answer(v: &NgwafVerdict) -> String {
    serde_json::json!({
        "response": v.status,
        "redirect_url": v.redirect_url,
        "tags": v.tags,
        "verdict": v.verdict,
        "decision_ms": 0,
    })
    .to_string()
}

/// A string option of `inspect_info` (required, as Viceroy and the platform have it).
fn info_string(
    cx: &mut Cx<'_>,
    mask: u32,
    bit: u32,
    name: &'static str,
    ptr: u32,
    len: u32,
) -> HostResult<String> {
    if mask & bit == 0 || len == 0 {
        cx.note(format!(
            "the `{name}` option is required (the WAF is found by corp and workspace)"
        ));
        return Err(Status::INVAL.into());
    }
    cx.str_arg(name, ptr, len)
}

#[allow(clippy::too_many_arguments)]
fn inspect(
    cx: &mut Cx<'_>,
    req: u32,
    body: u32,
    mask: u32,
    info: u32,
    buf: u32,
    buf_len: u32,
    nw: u32,
) -> HostResult {
    cx.handle_arg("req", HandleKind::Request, req);
    cx.handle_arg("body", HandleKind::Body, body);
    let parts =
        cx.s.http
            .requests
            .get(req)
            .cloned()
            .ok_or(Fault::Status(Status::BADF.0))?;
    if !cx.s.http.bodies.contains(body) {
        return Err(Status::BADF.into());
    }
    if mask & bits::RESERVED != 0 || mask & !bits::ALL != 0 {
        cx.note("the reserved or an unknown option bit is set");
        return Err(Status::INVAL.into());
    }
    let raw = cx.mem.read_bytes(info, INFO_SIZE)?;
    let field = |at: usize| super::field(&raw, at);
    info_string(cx, mask, bits::CORP, "corp", field(0), field(4))?;
    info_string(cx, mask, bits::WORKSPACE, "workspace", field(8), field(12))?;
    let mut ip = cx.s.downstream.request.client_ip;
    if mask & bits::OVERRIDE_CLIENT_IP != 0 {
        let bytes = cx.mem.read_bytes(field(16), field(20))?;
        ip = match bytes.len() {
            4 => IpAddr::from(<[u8; 4]>::try_from(&bytes[..]).unwrap_or_default()),
            16 => IpAddr::from(<[u8; 16]>::try_from(&bytes[..]).unwrap_or_default()),
            n => {
                cx.note(format!("an override client IP is 4 or 16 bytes, not {n}"));
                return Err(Status::INVAL.into());
            }
        };
        cx.arg("client_ip", ArgValue::Str(ip.to_string()));
    }
    let waf = &cx.s.config.ngwaf;
    let hit = waf
        .rules
        .iter()
        .position(|r| matches(r, &parts.method, &parts.uri, &parts.headers, ip));
    let verdict = hit
        .and_then(|i| waf.rules[i].verdict.clone())
        .unwrap_or_else(|| waf.default.clone());
    cx.result("verdict", ArgValue::Enum(verdict.verdict.clone()));
    cx.note(match hit {
        Some(i) => format!("rule {} of [local_server.ngwaf] matched", i + 1),
        None => "no [local_server.ngwaf] rule matched: the default verdict".to_string(),
    });
    Ok(cx
        .mem
        .write_out_buf(buf, buf_len, nw, answer(&verdict).as_bytes())?
        .0)
}

/// Link `fastly_http_req.inspect`.
pub(crate) fn link(reg: &mut Registry) -> Result<(), wasmi::errors::LinkerError> {
    super::hostcalls! { reg;
        ["fastly_http_req" :: "inspect"]
        fn(cx, req: u32, body: u32, info_mask: u32, info: u32, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            inspect(cx, req, body, info_mask, info, buf, buf_len, nwritten_out)
        }
    }
    Ok(())
}
