//! `fastly_secret_store`: secret stores from [`crate::ServiceConfig::secret_stores`].
//!
//! As in Viceroy: an unknown store or secret answers NONE, a bad store or secret
//! handle BADF, and `plaintext` follows the BUFLEN rule. `from_bytes` makes a secret
//! from guest bytes. Plaintexts never appear in the trace, only their lengths.

use super::{Cx, HostResult, Registry};
use crate::status::Status;
use crate::trace::{ArgValue, HandleKind};

fn redacted(len: usize) -> ArgValue {
    ArgValue::Str(format!("<{len} bytes, redacted>"))
}

/// A new secret handle for `plaintext`, written to `secret_out`.
fn new_secret(cx: &mut Cx<'_>, plaintext: Vec<u8>, secret_out: u32) -> HostResult {
    let Some(handle) = cx.s.stores.secrets.insert(plaintext) else {
        return Ok(Status::LIMITEXCEEDED.0);
    };
    cx.mem.write_u32(secret_out, handle)?;
    cx.handle_result("secret", HandleKind::Secret, handle);
    Ok(Status::OK.0)
}

fn open(cx: &mut Cx<'_>, name_ptr: u32, name_len: u32, handle_out: u32) -> HostResult {
    let name = cx.str_arg("name", name_ptr, name_len)?;
    if !cx.s.config.secret_stores.contains_key(&name) {
        cx.note(format!(
            "no secret store named {name:?} (configure it in fastly.toml under [local_server.secret_stores])"
        ));
        return Ok(Status::NONE.0);
    }
    let Some(handle) = cx.s.stores.secret_stores.insert(name) else {
        return Ok(Status::LIMITEXCEEDED.0);
    };
    cx.mem.write_u32(handle_out, handle)?;
    cx.handle_result("store", HandleKind::SecretStore, handle);
    Ok(Status::OK.0)
}

fn get(cx: &mut Cx<'_>, store: u32, name_ptr: u32, name_len: u32, secret_out: u32) -> HostResult {
    cx.handle_arg("store", HandleKind::SecretStore, store);
    let Some(store_name) = cx.s.stores.secret_stores.get(store).cloned() else {
        return Ok(Status::BADF.0);
    };
    let name = cx.str_arg("name", name_ptr, name_len)?;
    let config = cx.s.config.clone();
    let Some(plaintext) = config
        .secret_stores
        .get(&store_name)
        .and_then(|s| s.get(&name))
    else {
        cx.note(format!("secret store {store_name} has no secret {name:?}"));
        return Ok(Status::NONE.0);
    };
    new_secret(cx, plaintext.clone(), secret_out)
}

fn plaintext(
    cx: &mut Cx<'_>,
    secret: u32,
    buf: u32,
    buf_len: u32,
    nwritten_out: u32,
) -> HostResult {
    cx.handle_arg("secret", HandleKind::Secret, secret);
    let Some(value) = cx.s.stores.secrets.get(secret).cloned() else {
        return Ok(Status::BADF.0);
    };
    let status = cx.mem.write_out_buf(buf, buf_len, nwritten_out, &value)?;
    cx.result(
        if status == Status::OK {
            "plaintext"
        } else {
            "needed"
        },
        redacted(value.len()),
    );
    Ok(status.0)
}

fn from_bytes(cx: &mut Cx<'_>, buf: u32, len: u32, secret_out: u32) -> HostResult {
    let bytes = cx.mem.read_bytes(buf, len)?;
    cx.arg("plaintext", redacted(bytes.len()));
    new_secret(cx, bytes, secret_out)
}

pub(crate) fn link(reg: &mut Registry) -> Result<(), wasmi::errors::LinkerError> {
    super::hostcalls! { reg;
        ["fastly_secret_store" :: "open"]
        fn(cx, name: u32, name_len: u32, store_handle_out: u32) -> i32 {
            open(cx, name, name_len, store_handle_out)
        }

        ["fastly_secret_store" :: "get"]
        fn(cx, store_handle: u32, name: u32, name_len: u32, secret_handle_out: u32) -> i32 {
            get(cx, store_handle, name, name_len, secret_handle_out)
        }

        ["fastly_secret_store" :: "plaintext"]
        fn(cx, secret_handle: u32, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            plaintext(cx, secret_handle, buf, buf_len, nwritten_out)
        }

        ["fastly_secret_store" :: "from_bytes"]
        fn(cx, buf: u32, buf_len: u32, secret_handle_out: u32) -> i32 {
            from_bytes(cx, buf, buf_len, secret_handle_out)
        }
    }
    Ok(())
}
