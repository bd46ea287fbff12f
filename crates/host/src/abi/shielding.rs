//! `fastly_shielding`: shield POPs from `[local_server.shielding_sites]`
//! ([`crate::config::ShieldingSite`]), as Viceroy configures them.
//!
//! - `shield_info(name)` answers the SDK's info block: one byte that says whether
//!   edgeplay runs on that POP (a `"Local"` site), then the plain and the TLS
//!   target URLs, each ending in a NUL. A name the configuration does not have is
//!   INVAL (the SDK's `Shield::new` fails), as in Viceroy; a buffer too small is
//!   BUFLEN with the size needed in `nwritten_out` (the ABI's rule).
//! - `backend_for_shield(target, options, config)` turns one of those targets into
//!   a backend the guest can send to: a dynamic backend named after the URL, with
//!   the first-byte and between-bytes timeouts the options set. Asking again for the
//!   same target answers the same name (edgeplay's choice; Viceroy refuses the second
//!   registration). The reserved bit, unknown bits, an empty or unparsable target,
//!   or a cache key that is not UTF-8 are INVAL; the cache key is accepted and has no
//!   effect (edgeplay is one POP, so the shield's cache is this one).
//!
//! Fastlike's legacy names `env.xqd_shield_info` and `env.xqd_backend_for_shield`
//! are the same calls.

use super::{Cx, HostResult, Registry};
use crate::backends::{self, Backend};
use crate::config::BackendConfig;
use crate::status::Status;
use crate::trace::ArgValue;

/// `shield_backend_options` bits.
mod bits {
    pub const RESERVED: u32 = 1 << 0;
    pub const CACHE_KEY: u32 = 1 << 1;
    pub const FIRST_BYTE_TIMEOUT: u32 = 1 << 2;
    pub const BETWEEN_BYTES_TIMEOUT: u32 = 1 << 3;
    pub const ALL: u32 = RESERVED | CACHE_KEY | FIRST_BYTE_TIMEOUT | BETWEEN_BYTES_TIMEOUT;
}

/// Size of `shield_backend_config`: cache key pointer and length, two timeouts.
const CONFIG_SIZE: u32 = 16;

/// The info block of `shield_info` for the site `name`, if it is configured.
fn info_block(cx: &mut Cx<'_>, name: &str) -> Option<Vec<u8>> {
    let site = cx.s.config.shielding_sites.get(name)?;
    if !site.local && site.unencrypted.is_empty() {
        return None;
    }
    let mut out = vec![u8::from(site.local)];
    out.extend_from_slice(site.unencrypted.as_bytes());
    out.push(0);
    out.extend_from_slice(site.encrypted.as_bytes());
    out.push(0);
    Some(out)
}

fn shield_info(cx: &mut Cx<'_>, ptr: u32, len: u32, buf: u32, buf_len: u32, nw: u32) -> HostResult {
    let name = cx.str_arg("name", ptr, len)?;
    let Some(block) = info_block(cx, &name) else {
        cx.note(format!(
            "no shielding site {name:?} in [local_server.shielding_sites]"
        ));
        return Err(Status::INVAL.into());
    };
    cx.result("running_on", ArgValue::Int(i64::from(block[0])));
    Ok(cx.mem.write_out_buf(buf, buf_len, nw, &block)?.0)
}

/// Read `shield_backend_config` for the options in `mask`: the timeouts set.
fn read_options(cx: &mut Cx<'_>, mask: u32, config: u32) -> HostResult<(Option<u32>, Option<u32>)> {
    if mask & bits::RESERVED != 0 || mask & !bits::ALL != 0 {
        cx.note("the reserved or an unknown option bit is set");
        return Err(Status::INVAL.into());
    }
    if mask == 0 {
        return Ok((None, None));
    }
    let raw = cx.mem.read_bytes(config, CONFIG_SIZE)?;
    let field = |at: usize| super::field(&raw, at);
    if mask & bits::CACHE_KEY != 0 {
        cx.str_arg("cache_key", field(0), field(4))?;
        cx.note("the shield's cache key has no effect: edgeplay is one POP");
    }
    let timeout = |bit: u32, at: usize| (mask & bit != 0).then(|| field(at));
    Ok((
        timeout(bits::FIRST_BYTE_TIMEOUT, 8),
        timeout(bits::BETWEEN_BYTES_TIMEOUT, 12),
    ))
}

#[allow(clippy::too_many_arguments)]
fn backend_for_shield(
    cx: &mut Cx<'_>,
    ptr: u32,
    len: u32,
    mask: u32,
    config: u32,
    buf: u32,
    buf_len: u32,
    nw: u32,
) -> HostResult {
    let target = cx.str_arg("target", ptr, len)?;
    let (first_byte, between_bytes) = read_options(cx, mask, config)?;
    let name = format!("******{target}*****");
    if !cx.s.pending.dynamic_backends.contains_key(&name) {
        let cfg = BackendConfig {
            url: target.clone(),
            first_byte_timeout_ms: first_byte,
            between_bytes_timeout_ms: between_bytes,
            ..BackendConfig::default()
        };
        let mut b = match Backend::from_config(&name, &cfg) {
            Ok(b) => b,
            Err(e) => {
                cx.note(format!("the shield target is not a backend URL: {e}"));
                return Err(Status::INVAL.into());
            }
        };
        b.dynamic = true;
        if cx.s.pending.dynamic_backends.len() >= backends::MAX_DYNAMIC_BACKENDS {
            cx.note(format!(
                "the platform allows {} dynamic backends",
                backends::MAX_DYNAMIC_BACKENDS
            ));
            return Err(Status::LIMITEXCEEDED.into());
        }
        cx.s.pending.dynamic_backends.insert(name.clone(), b);
    }
    cx.result("backend", ArgValue::Str(name.clone()));
    Ok(cx.mem.write_out_buf(buf, buf_len, nw, name.as_bytes())?.0)
}

/// Link `fastly_shielding`.
pub(crate) fn link(reg: &mut Registry) -> Result<(), wasmi::errors::LinkerError> {
    super::hostcalls! { reg;
        ["fastly_shielding" :: "shield_info", "env" :: "xqd_shield_info"]
        fn(cx, name: u32, name_len: u32, info: u32, info_len: u32, nwritten_out: u32) -> i32 {
            shield_info(cx, name, name_len, info, info_len, nwritten_out)
        }

        ["fastly_shielding" :: "backend_for_shield", "env" :: "xqd_backend_for_shield"]
        fn(cx, name: u32, name_len: u32, options_mask: u32, options: u32, backend: u32, backend_len: u32, nwritten_out: u32) -> i32 {
            backend_for_shield(cx, name, name_len, options_mask, options, backend, backend_len, nwritten_out)
        }
    }
    Ok(())
}
