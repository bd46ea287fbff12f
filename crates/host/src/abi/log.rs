//! `fastly_log` (and the legacy `env.xqd_log_*` twins): named log endpoints.
//!
//! As in Viceroy: any endpoint name is accepted except the reserved ones (`stdout`,
//! `stderr`, and names starting with `fst_managed_`, all case-insensitive), which
//! answer INVAL; asking twice for one name gives the same handle. A write strips
//! one trailing newline, drops an empty message, and reports the whole length as
//! written. Each message becomes one [`crate::Output::Log`] whose `line` keeps any
//! interior newlines; [`format_line`] renders it as Viceroy prints it.

use super::{Cx, HostResult, Registry};
use crate::status::Status;
use crate::trace::HandleKind;

/// The separator Viceroy puts between an endpoint name and a message.
pub const DELIMITER: &str = " :: ";

/// True for the names Viceroy reserves: `stdout`, `stderr`, `fst_managed_*` (any case).
pub fn is_reserved_endpoint(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"stdout")
        || name.eq_ignore_ascii_case(b"stderr")
        || (name.len() >= 12 && name[..12].eq_ignore_ascii_case(b"fst_managed_"))
}

/// One log line as Viceroy prints it: `endpoint :: message`, with interior newlines
/// escaped as `\n` and no trailing newline (the printer adds one).
pub fn format_line(endpoint: &str, message: &str) -> String {
    let mut out = String::with_capacity(endpoint.len() + DELIMITER.len() + message.len());
    out.push_str(endpoint);
    out.push_str(DELIMITER);
    for ch in message.chars() {
        if ch == '\n' {
            out.push_str("\\n");
        } else {
            out.push(ch);
        }
    }
    out
}

/// The message a write produces: without one trailing newline; `None` when empty.
pub fn message_of(bytes: &[u8]) -> Option<String> {
    let msg = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    (!msg.is_empty()).then(|| String::from_utf8_lossy(msg).into_owned())
}

fn endpoint_get(cx: &mut Cx<'_>, name_ptr: u32, name_len: u32, handle_out: u32) -> HostResult {
    let name = cx.bytes_arg("name", name_ptr, name_len)?;
    if is_reserved_endpoint(&name) {
        cx.note("reserved endpoint name: stdout, stderr and fst_managed_* are for the platform");
        return Ok(Status::INVAL.0);
    }
    let name = String::from_utf8_lossy(&name).into_owned();
    // Endpoints are never closed, so the live handles are 0, 1, 2, ...
    let existing = (0u32..)
        .map_while(|h| cx.s.stores.endpoints.get(h).map(|n| (h, n)))
        .find(|(_, n)| **n == name)
        .map(|(h, _)| h);
    let handle = match existing {
        Some(h) => h,
        None => match cx.s.stores.endpoints.insert(name) {
            Some(h) => h,
            None => return Ok(Status::LIMITEXCEEDED.0),
        },
    };
    cx.mem.write_u32(handle_out, handle)?;
    cx.handle_result("endpoint", HandleKind::Endpoint, handle);
    Ok(Status::OK.0)
}

fn write(
    cx: &mut Cx<'_>,
    handle: u32,
    msg_ptr: u32,
    msg_len: u32,
    nwritten_out: u32,
) -> HostResult {
    cx.handle_arg("endpoint", HandleKind::Endpoint, handle);
    let Some(endpoint) = cx.s.stores.endpoints.get(handle).cloned() else {
        return Ok(Status::BADF.0);
    };
    let msg = cx.bytes_arg("msg", msg_ptr, msg_len)?;
    cx.mem.write_u32(nwritten_out, msg_len)?;
    match message_of(&msg) {
        Some(line) => cx.s.log_line(&endpoint, line),
        None => cx.note("empty message: nothing logged (as in Viceroy)"),
    }
    Ok(Status::OK.0)
}

pub(crate) fn link(reg: &mut Registry) -> Result<(), wasmi::errors::LinkerError> {
    super::hostcalls! { reg;
        ["fastly_log" :: "endpoint_get", "env" :: "xqd_log_endpoint_get"]
        fn(cx, name: u32, name_len: u32, endpoint_handle_out: u32) -> i32 {
            endpoint_get(cx, name, name_len, endpoint_handle_out)
        }

        ["fastly_log" :: "write", "env" :: "xqd_log_write"]
        fn(cx, endpoint_handle: u32, msg: u32, msg_len: u32, nwritten_out: u32) -> i32 {
            write(cx, endpoint_handle, msg, msg_len, nwritten_out)
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_names_are_case_insensitive() {
        assert!(is_reserved_endpoint(b"stdout"));
        assert!(is_reserved_endpoint(b"STDERR"));
        assert!(is_reserved_endpoint(b"fst_managed_x"));
        assert!(is_reserved_endpoint(b"FST_MANAGED_"));
        assert!(!is_reserved_endpoint(b"stdout2"));
        assert!(!is_reserved_endpoint(b"my_endpoint"));
        assert!(!is_reserved_endpoint(b""));
    }

    #[test]
    fn lines_look_like_viceroys() {
        assert_eq!(message_of(b"Tell me.\n\n").as_deref(), Some("Tell me.\n"));
        assert_eq!(
            format_line("inigo", &message_of(b"Tell me.\n\n").unwrap()),
            "inigo :: Tell me.\\n"
        );
        assert_eq!(message_of(b"\n"), None);
        assert_eq!(message_of(b""), None);
        assert_eq!(format_line("mib", "a\nb"), "mib :: a\\nb");
    }
}
