//! `fastly_compute_runtime`: what the guest can learn about its own execution.
//!
//! - `get_vcpu_ms`: an estimate, from the guest fuel used so far divided by
//!   [`crate::session::Session::fuel_per_cpu_ms`] (Viceroy measures host CPU time).
//! - `get_heap_mib`: the guest's linear memory, in MiB rounded up.
//! - `has_image_optimizer`: 1, Image Optimizer is emulated ([`crate::image_opt`]).
//! - `has_domain_inspector` / `has_origin_inspector`: 0 (not enabled): edgeplay
//!   emulates neither product.
//! - The Fastlike-only string getters answer from the session: the sandbox and trace
//!   id are the request id; the hostname and service version are the
//!   `FASTLY_HOSTNAME` and `FASTLY_SERVICE_VERSION` the guest sees in its environment.

use super::{Cx, HostResult, Registry};
use crate::status::Status;
use crate::trace::ArgValue;

const MIB: u64 = 1024 * 1024;

fn env_value(cx: &Cx<'_>, name: &str, default: &str) -> String {
    cx.s.env
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| default.to_string())
}

fn write_string(
    cx: &mut Cx<'_>,
    value: &str,
    buf: u32,
    buf_len: u32,
    nwritten_out: u32,
) -> HostResult {
    let status = cx
        .mem
        .write_out_buf(buf, buf_len, nwritten_out, value.as_bytes())?;
    cx.result("value", ArgValue::Str(value.to_string()));
    Ok(status.0)
}

fn product_flag(cx: &mut Cx<'_>, out: u32, product: &str) -> HostResult {
    cx.mem.write_u32(out, 0)?;
    cx.result("enabled", ArgValue::Int(0));
    cx.note(format!("{product} is not emulated by edgeplay"));
    Ok(Status::OK.0)
}

pub(crate) fn link(reg: &mut Registry) -> Result<(), wasmi::errors::LinkerError> {
    super::hostcalls! { reg;
        ["fastly_compute_runtime" :: "get_vcpu_ms", "env" :: "xqd_compute_runtime_get_vcpu_ms"]
        fn(cx, ms_out: u32) -> i32 {
            let ms = cx.fuel_consumed / cx.s.fuel.per_cpu_ms();
            cx.mem.write_u64(ms_out, ms)?;
            cx.result("vcpu_ms", ArgValue::Int(ms as i64));
            cx.note(format!(
                "estimated from {} fuel at {} fuel per CPU ms",
                cx.fuel_consumed, cx.s.fuel.per_cpu_ms()
            ));
            Ok(Status::OK.0)
        }

        ["fastly_compute_runtime" :: "get_heap_mib", "env" :: "xqd_compute_runtime_get_heap_mib"]
        fn(cx, mib_out: u32) -> i32 {
            let bytes = cx.mem.size() as u64;
            let mib = u32::try_from(bytes.div_ceil(MIB)).unwrap_or(u32::MAX);
            cx.mem.write_u32(mib_out, mib)?;
            cx.result("heap_mib", ArgValue::Int(mib as i64));
            Ok(Status::OK.0)
        }

        ["fastly_compute_runtime" :: "has_domain_inspector"]
        fn(cx, enabled_out: u32) -> i32 {
            product_flag(cx, enabled_out, "Domain Inspector")
        }

        ["fastly_compute_runtime" :: "has_image_optimizer"]
        fn(cx, enabled_out: u32) -> i32 {
            cx.mem.write_u32(enabled_out, 1)?;
            cx.result("enabled", ArgValue::Int(1));
            cx.note("Image Optimizer is emulated: images are transformed locally");
            Ok(Status::OK.0)
        }

        ["fastly_compute_runtime" :: "has_origin_inspector"]
        fn(cx, enabled_out: u32) -> i32 {
            product_flag(cx, enabled_out, "Origin Inspector")
        }

        ["fastly_compute_runtime" :: "get_sandbox_id"]
        fn(cx, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            let id = cx.s.downstream.request_id.clone();
            write_string(cx, &id, buf, buf_len, nwritten_out)
        }

        ["fastly_compute_runtime" :: "get_trace_id"]
        fn(cx, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            let id = env_value(cx, "FASTLY_TRACE_ID", &cx.s.downstream.request_id);
            write_string(cx, &id, buf, buf_len, nwritten_out)
        }

        ["fastly_compute_runtime" :: "get_service_version"]
        fn(cx, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            let v = env_value(cx, "FASTLY_SERVICE_VERSION", "0");
            write_string(cx, &v, buf, buf_len, nwritten_out)
        }

        ["fastly_compute_runtime" :: "get_hostname"]
        fn(cx, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            let h = env_value(cx, "FASTLY_HOSTNAME", "localhost");
            write_string(cx, &h, buf, buf_len, nwritten_out)
        }
    }
    Ok(())
}
