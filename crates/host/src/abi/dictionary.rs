//! `fastly_dictionary` and `fastly_config_store`: read-only string maps.
//!
//! As in Viceroy, a config store handle is the same number as a dictionary handle
//! and both modules share one namespace ([`crate::ServiceConfig::config_stores`]):
//! opening an unknown store answers BADF, a missing key NONE, and a value longer
//! than the buffer BUFLEN with the needed length in `nwritten_out`.

use super::headers::write_out_or_needed;
use super::{Cx, HostResult, Registry};
use crate::status::Status;
use crate::trace::HandleKind;

fn open(cx: &mut Cx<'_>, name_ptr: u32, name_len: u32, handle_out: u32) -> HostResult {
    let name = cx.str_arg("name", name_ptr, name_len)?;
    if !cx.s.config.config_stores.contains_key(&name) {
        cx.note(format!(
            "no config store or dictionary named {name:?} (configure it in fastly.toml under [local_server.config_stores])"
        ));
        return Ok(Status::BADF.0);
    }
    let Some(handle) = cx.s.stores.dictionaries.insert(name) else {
        return Ok(Status::LIMITEXCEEDED.0);
    };
    cx.mem.write_u32(handle_out, handle)?;
    cx.handle_result("store", HandleKind::Dictionary, handle);
    Ok(Status::OK.0)
}

fn get(
    cx: &mut Cx<'_>,
    handle: u32,
    key_ptr: u32,
    key_len: u32,
    buf: u32,
    buf_len: u32,
    nwritten_out: u32,
) -> HostResult {
    cx.handle_arg("store", HandleKind::Dictionary, handle);
    let Some(store) = cx.s.stores.dictionaries.get(handle).cloned() else {
        return Ok(Status::BADF.0);
    };
    let key = cx.str_arg("key", key_ptr, key_len)?;
    let usage = cx.s.usage;
    if let Some(limit) = usage
        .dictionary_limit
        .filter(|n| usage.dictionary_lookups >= *n)
    {
        // Counted too: the gauge shows the limit was passed.
        cx.s.usage.dictionary_lookups += 1;
        cx.note(format!(
            "production limits: an execution makes at most {limit} dictionary lookups"
        ));
        return Ok(Status::LIMITEXCEEDED.0);
    }
    let config = cx.s.config.clone();
    let Some(value) = config.config_stores.get(&store).and_then(|m| m.get(&key)) else {
        cx.s.usage.dictionary_lookups += 1;
        cx.note(format!("{store} has no key {key:?}"));
        return Ok(Status::NONE.0);
    };
    let status = write_out_or_needed(cx, "value", value.as_bytes(), buf, buf_len, nwritten_out)?;
    // A lookup the guest retries with a larger buffer (BUFLEN) is one lookup.
    if status == Status::OK.0 {
        cx.s.usage.dictionary_lookups += 1;
    }
    Ok(status)
}

pub(crate) fn link(reg: &mut Registry) -> Result<(), wasmi::errors::LinkerError> {
    super::hostcalls! { reg;
        ["fastly_dictionary" :: "open", "fastly_config_store" :: "open"]
        fn(cx, name: u32, name_len: u32, handle_out: u32) -> i32 {
            open(cx, name, name_len, handle_out)
        }

        ["fastly_dictionary" :: "get", "fastly_config_store" :: "get"]
        fn(
            cx,
            handle: u32,
            key: u32,
            key_len: u32,
            value: u32,
            value_max_len: u32,
            nwritten_out: u32,
        ) -> i32 {
            get(cx, handle, key, key_len, value, value_max_len, nwritten_out)
        }
    }
    Ok(())
}
