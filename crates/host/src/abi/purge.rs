//! `fastly_purge`: purging the service's cache by surrogate key
//! ([`crate::cache::purge_surrogate_key`]).
//!
//! `purge_surrogate_key(key_ptr, key_len, options_mask, options_ptr)`:
//!
//! - A hard purge removes every object carrying the key from the cache (readthrough,
//!   HTTP cache API and core cache objects alike); with `SOFT_PURGE` (bit 0) they are
//!   marked stale instead, so they are served under stale-while-revalidate while they
//!   are revalidated, as on the platform.
//! - With `RET_BUF` (bit 1) `options_ptr` points at `{ret_buf_ptr, ret_buf_len,
//!   ret_buf_nwritten_out}` (three u32) and the call writes the purge API's JSON answer,
//!   `{"status":"ok","id":"…"}`, with the ABI's buffer-too-small rule (BUFLEN and the
//!   length needed). The purge has happened either way.
//! - An empty key, a key that is not a valid header value token (surrogate keys are
//!   space separated, so no whitespace), other mask bits or a bad pointer: INVAL.
//!
//! The purge takes effect at once and for every later request of the service (on the
//! platform it spreads to every POP in about 150 ms).

use super::{Cx, HostResult, Registry};
use crate::status::Status;
use crate::trace::{ArgValue, EventKind};
use std::borrow::Cow;

/// `purge_options_mask` bits.
const SOFT_PURGE: u32 = 1 << 0;
const RET_BUF: u32 = 1 << 1;

fn purge(cx: &mut Cx<'_>, key_ptr: u32, key_len: u32, mask: u32, options: u32) -> HostResult {
    let key = cx.str_arg("surrogate_key", key_ptr, key_len)?;
    cx.arg(
        "options",
        ArgValue::Flags(super::http_req::flag_names(
            mask,
            &["soft_purge", "ret_buf"],
        )),
    );
    if mask & !(SOFT_PURGE | RET_BUF) != 0 {
        cx.note("unknown purge option bits");
        return Ok(Status::INVAL.0);
    }
    if key.is_empty()
        || key
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
    {
        cx.note("a surrogate key is a non-empty token without spaces or control characters");
        return Ok(Status::INVAL.0);
    }
    let ret = if mask & RET_BUF != 0 {
        let buf = cx.mem.read_u32(options)?;
        let len = cx.mem.read_u32(options.wrapping_add(4))?;
        let nwritten = cx.mem.read_u32(options.wrapping_add(8))?;
        Some((buf, len, nwritten))
    } else {
        None
    };
    let soft = mask & SOFT_PURGE != 0;
    let now = cx.s.unix_ns();
    let start_us = cx.s.elapsed_us();
    let n = crate::cache::purge_surrogate_key(&mut **cx.s.state.lock(), &key, soft, now);
    cx.result("objects", ArgValue::Int(n as i64));
    let mut ev = cx.s.event(EventKind::Work, "cache", key.clone());
    ev.start_us = start_us;
    ev.dur_us = (cx.s.elapsed_us() - start_us).max(0.0);
    ev.args.push((
        Cow::Borrowed("op"),
        ArgValue::Enum(if soft { "soft_purge" } else { "purge" }.into()),
    ));
    ev.args
        .push((Cow::Borrowed("surrogate_key"), ArgValue::Str(key.clone())));
    ev.results
        .push((Cow::Borrowed("objects"), ArgValue::Int(n as i64)));
    ev.status = Some(Cow::Borrowed("ok"));
    ev.note = Some(format!(
        "{} {n} cached object(s) carrying {key:?}",
        if soft { "marked stale" } else { "removed" }
    ));
    cx.s.push_event(ev);
    let Some((buf, len, nwritten)) = ret else {
        return Ok(Status::OK.0);
    };
    let mut id = [0u8; 8];
    cx.s.platform.random.fill(&mut id);
    let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    let answer = serde_json::json!({ "status": "ok", "id": id }).to_string();
    Ok(cx
        .mem
        .write_out_buf(buf, len, nwritten, answer.as_bytes())?
        .0)
}

/// Link `fastly_purge`.
pub(crate) fn link(reg: &mut Registry) -> Result<(), wasmi::errors::LinkerError> {
    super::hostcalls! { reg;
        ["fastly_purge" :: "purge_surrogate_key"]
        fn(cx, key_ptr: u32, key_len: u32, options_mask: u32, options: u32) -> i32 {
            purge(cx, key_ptr, key_len, options_mask, options)
        }
    }
    Ok(())
}
