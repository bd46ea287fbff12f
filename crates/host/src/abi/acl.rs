//! `fastly_acl`: ACLs, whose entries are service state ([`crate::acl`]).
//!
//! - `open(name)`: an ACL of `[local_server.acls]` gets a handle; any other name is
//!   NONE, as in Viceroy (the SDK reads it as `AclNotFound`).
//! - `lookup(acl, ip_octets, ip_len, body_handle_out, acl_error_out)`: a bad handle is
//!   BADF, an address of other than 4 or 16 octets INVAL (as in Viceroy). Otherwise
//!   OK, and `acl_error_out` says what was found: `ok` (1) with a new body holding
//!   the longest matching entry as JSON, `{"prefix":"192.0.2.0/24","action":"BLOCK"}`
//!   (the SDK parses `prefix` and `action`), or `no_content` (2) when no entry
//!   contains the address (the body handle is left alone).
//!
//! The legacy `env.xqd_acl_*` names share the bodies.

use super::geo::ip_from_octets;
use super::{Cx, HostResult, Registry};
use crate::acl::{self, Lookup};
use crate::session::Body;
use crate::status::Status;
use crate::trace::{ArgValue, HandleKind};

/// `acl_error` values (`status_codes.md`).
const ACL_OK: u32 = 1;
const ACL_NO_CONTENT: u32 = 2;

fn open(cx: &mut Cx<'_>, name_ptr: u32, name_len: u32, handle_out: u32) -> HostResult {
    let name = cx.str_arg("name", name_ptr, name_len)?;
    if !cx.s.config.acls.contains_key(&name) {
        cx.note(format!(
            "no ACL named {name:?} (configure it in fastly.toml under [local_server.acls])"
        ));
        return Ok(Status::NONE.0);
    }
    let Some(handle) = cx.s.stores.acls.insert(name) else {
        return Ok(Status::LIMITEXCEEDED.0);
    };
    if let Err(e) = cx.mem.write_u32(handle_out, handle) {
        cx.s.stores.acls.take(handle);
        return Err(e.into());
    }
    cx.handle_result("acl", HandleKind::Acl, handle);
    Ok(Status::OK.0)
}

fn lookup(
    cx: &mut Cx<'_>,
    handle: u32,
    ip_ptr: u32,
    ip_len: u32,
    body_out: u32,
    error_out: u32,
) -> HostResult {
    cx.handle_arg("acl", HandleKind::Acl, handle);
    let Some(name) = cx.s.stores.acls.get(handle).cloned() else {
        cx.note("not an open ACL handle");
        return Ok(Status::BADF.0);
    };
    cx.arg("acl_name", ArgValue::Str(name.clone()));
    if ip_len != 4 && ip_len != 16 {
        cx.note(format!("an address is 4 or 16 octets, not {ip_len}"));
        return Ok(Status::INVAL.0);
    }
    let octets = cx.mem.read_bytes(ip_ptr, ip_len)?;
    let Some(ip) = ip_from_octets(&octets) else {
        return Ok(Status::INVAL.0);
    };
    cx.arg("ip", ArgValue::Str(ip.to_string()));
    let found = acl::lookup(&**cx.s.state.lock(), &name, ip);
    match found {
        Lookup::Match(entry) => {
            let Some(body) = cx.s.http.bodies.insert(Body::buffer(acl::encode(&entry))) else {
                return Ok(Status::LIMITEXCEEDED.0);
            };
            let written = cx
                .mem
                .write_u32(body_out, body)
                .and_then(|()| cx.mem.write_u32(error_out, ACL_OK));
            if let Err(e) = written {
                cx.s.http.bodies.take(body);
                return Err(e.into());
            }
            cx.result("acl_error", ArgValue::Enum("ok".into()));
            cx.handle_result("body", HandleKind::Body, body);
            cx.result("prefix", ArgValue::Str(entry.prefix.to_string()));
            cx.result("action", ArgValue::Str(entry.action.clone()));
            cx.note(format!(
                "{ip} matches {} → {} in ACL {name}",
                entry.prefix, entry.action
            ));
        }
        Lookup::NoMatch => {
            cx.mem.write_u32(error_out, ACL_NO_CONTENT)?;
            cx.result("acl_error", ArgValue::Enum("no_content".into()));
            cx.note(format!("no entry of ACL {name} contains {ip}"));
        }
    }
    Ok(Status::OK.0)
}

pub(crate) fn link(reg: &mut Registry) -> Result<(), wasmi::errors::LinkerError> {
    super::hostcalls! { reg;
        ["fastly_acl" :: "open", "env" :: "xqd_acl_open"]
        fn(cx, acl_name: u32, acl_name_len: u32, acl_handle_out: u32) -> i32 {
            open(cx, acl_name, acl_name_len, acl_handle_out)
        }

        ["fastly_acl" :: "lookup", "env" :: "xqd_acl_lookup"]
        fn(cx, acl_handle: u32, ip_octets: u32, ip_len: u32, body_handle_out: u32, acl_error_out: u32) -> i32 {
            lookup(cx, acl_handle, ip_octets, ip_len, body_handle_out, acl_error_out)
        }
    }
    Ok(())
}
