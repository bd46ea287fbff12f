//! `fastly_abi` (and the bare `fastly` module some guests use): the ABI version handshake.

use super::Registry;
use crate::status::Status;
use crate::trace::ArgValue;

/// The ABI version this host speaks.
pub const ABI_VERSION: u64 = 1;

pub(crate) fn link(reg: &mut Registry) -> Result<(), wasmi::errors::LinkerError> {
    super::hostcalls! { reg;
        ["fastly_abi" :: "init", "fastly" :: "init", "env" :: "xqd_init"]
        fn(cx, abi_version: u64) -> i32 {
            cx.arg("abi_version", ArgValue::Int(abi_version as i64));
            if abi_version == ABI_VERSION {
                Ok(Status::OK.0)
            } else {
                cx.note(format!("this host speaks ABI version {ABI_VERSION}, the guest asked for {abi_version}"));
                Ok(Status::ERROR.0)
            }
        }
    }
    Ok(())
}
