//! `fastly_device_detection.lookup`: device data for a user agent, as JSON.
//!
//! As in Viceroy: the record is the one configured for exactly this user agent in
//! `[local_server.device_detection]`; an unknown user agent answers NONE. The
//! record follows the BUFLEN rule.

use super::headers::write_out_or_needed;
use super::{Cx, HostResult, Registry};
use crate::status::Status;

fn lookup(
    cx: &mut Cx<'_>,
    ua_ptr: u32,
    ua_len: u32,
    buf: u32,
    buf_len: u32,
    nwritten_out: u32,
) -> HostResult {
    let ua = cx.str_arg("user_agent", ua_ptr, ua_len)?;
    let Some(record) = cx.s.config.device_detection.get(&ua) else {
        cx.note("no device detection data for this user agent");
        return Ok(Status::NONE.0);
    };
    let text = record.to_string();
    write_out_or_needed(cx, "record", text.as_bytes(), buf, buf_len, nwritten_out)
}

pub(crate) fn link(reg: &mut Registry) -> Result<(), wasmi::errors::LinkerError> {
    super::hostcalls! { reg;
        ["fastly_device_detection" :: "lookup"]
        fn(cx, user_agent: u32, user_agent_len: u32, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            lookup(cx, user_agent, user_agent_len, buf, buf_len, nwritten_out)
        }
    }
    Ok(())
}
