//! `fastly_geo.lookup`: geolocation of an IP address as a JSON record.
//!
//! The address is 4 (IPv4) or 16 (IPv6) octets; any other length is INVAL. The
//! record comes from `[local_server.geolocation]`; for a loopback address with no
//! record, Viceroy's default record (San Francisco, Fastly's AS 54113) when
//! `use_default_loopback` is on (the default). An address with no data answers OK
//! with 0 bytes, as Viceroy does (the SDK reads that as "no data"). The record
//! follows the BUFLEN rule.

use super::headers::write_out_or_needed;
use super::{Cx, HostResult, Registry};
use crate::status::Status;
use crate::trace::ArgValue;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The IP address in `octets` (4 or 16 bytes).
pub fn ip_from_octets(octets: &[u8]) -> Option<IpAddr> {
    if let Ok(a) = <[u8; 4]>::try_from(octets) {
        return Some(IpAddr::V4(Ipv4Addr::from(a)));
    }
    <[u8; 16]>::try_from(octets)
        .ok()
        .map(|a| IpAddr::V6(Ipv6Addr::from(a)))
}

fn lookup(
    cx: &mut Cx<'_>,
    addr_ptr: u32,
    addr_len: u32,
    buf: u32,
    buf_len: u32,
    nwritten_out: u32,
) -> HostResult {
    let octets = cx.mem.read_bytes(addr_ptr, addr_len)?;
    let Some(ip) = ip_from_octets(&octets) else {
        cx.arg("addr", ArgValue::bytes(&octets));
        cx.note(format!(
            "an address is 4 or 16 octets, not {}",
            octets.len()
        ));
        return Ok(Status::INVAL.0);
    };
    cx.arg("addr", ArgValue::Str(ip.to_string()));
    let text = match cx.s.config.geolocation.lookup(&ip) {
        Some(record) => record.to_string(),
        None => {
            cx.note(format!("no geolocation data for {ip}"));
            String::new()
        }
    };
    write_out_or_needed(cx, "record", text.as_bytes(), buf, buf_len, nwritten_out)
}

pub(crate) fn link(reg: &mut Registry) -> Result<(), wasmi::errors::LinkerError> {
    super::hostcalls! { reg;
        ["fastly_geo" :: "lookup"]
        fn(cx, addr_octets: u32, addr_len: u32, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            lookup(cx, addr_octets, addr_len, buf, buf_len, nwritten_out)
        }
    }
    Ok(())
}
