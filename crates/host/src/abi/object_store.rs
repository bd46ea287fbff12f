//! `fastly_object_store`: the legacy KV calls (the module's old name), built from the
//! functions of `kv_store.rs`: the same store handles, the same pending operations
//! (a legacy `lookup_async` can be waited for with either module's wait).
//!
//! Where the legacy calls differ, as Viceroy answers them:
//!
//! - a key that breaks the platform's rules is ERROR (not INVAL);
//! - `lookup` and `pending_lookup_wait` answer a miss with OK and the invalid handle
//!   in `body_handle_out` (the SDK's `Ok(None)`);
//! - `insert` (blocking) and `pending_insert_wait` answer a failed insert with INVAL;
//!   `pending_insert_wait` takes the `kv_error_out` pointer fastly-sys declares (the
//!   witx lacks it: guests import fastly-sys's signature) and writes the `kv_error`
//!   there too;
//! - `pending_delete_wait` of a missing key is NONE.

use super::kv_store::{
    check_pending, delete_op, finished, insert_op, lookup_op, start, take_pending, Kind,
};
use super::wait::INVALID_HANDLE;
use super::{Cx, HostResult, Registry};
use crate::kv::{InsertOptions, KvError, KV_ERROR_OK};
use crate::session::{Body, KvOp, KvPending};
use crate::status::Status;
use crate::trace::HandleKind;

/// Hand a finished lookup's value to the guest as a body (a miss: the invalid handle,
/// written already).
fn deliver_lookup(cx: &mut Cx<'_>, p: KvPending, body_out: u32) -> HostResult {
    let KvOp::Lookup { result, .. } = p.op else {
        return Err(Status::BADF.into());
    };
    match result {
        Ok(Some(e)) => {
            let Some(bh) = cx.s.http.bodies.insert(Body::buffer(e.value)) else {
                return Ok(Status::LIMITEXCEEDED.0);
            };
            cx.mem.write_u32(body_out, bh)?;
            cx.handle_result("body", HandleKind::Body, bh);
            Ok(Status::OK.0)
        }
        Ok(None) => Ok(Status::OK.0),
        Err(e) => {
            cx.note(format!("the lookup failed: {}", e.name()));
            Ok(Status::INVAL.0)
        }
    }
}

/// A finished insert's status: OK, or INVAL with the `kv_error` in the note.
fn insert_status(cx: &mut Cx<'_>, result: Result<(), KvError>) -> i32 {
    match result {
        Ok(()) => Status::OK.0,
        Err(e) => {
            cx.note(format!("the insert failed: {}", e.name()));
            Status::INVAL.0
        }
    }
}

fn insert_outcome(p: KvPending) -> Result<(), KvError> {
    match p.op {
        KvOp::Insert { result, .. } => result.map(|_| ()),
        _ => Err(KvError::InternalError),
    }
}

pub(crate) fn link(reg: &mut Registry) -> Result<(), wasmi::errors::LinkerError> {
    super::hostcalls! { reg;
        ["fastly_object_store" :: "open"]
        fn(cx, name: u32, name_len: u32, store_out: u32) -> i32 {
            super::kv_store::open(cx, name, name_len, store_out)
        }

        ["fastly_object_store" :: "lookup"]
        fn(cx, store: u32, key: u32, key_len: u32, body_out: u32) -> i32 {
            let p = lookup_op(cx, store, key, key_len, Some(body_out), Status::ERROR)?;
            finished(cx, &p);
            deliver_lookup(cx, p, body_out)
        }

        ["fastly_object_store" :: "lookup_async"]
        fn(cx, store: u32, key: u32, key_len: u32, pending_out: u32) -> i32 {
            let p = lookup_op(cx, store, key, key_len, Some(pending_out), Status::ERROR)?;
            start(cx, p, pending_out)
        }

        ["fastly_object_store" :: "pending_lookup_wait"]
        fn(cx, pending: u32, body_out: u32) -> i32 {
            check_pending(cx, pending, Kind::Lookup)?;
            cx.mem.write_u32(body_out, INVALID_HANDLE)?;
            let p = take_pending(cx, pending)?;
            deliver_lookup(cx, p, body_out)
        }

        ["fastly_object_store" :: "insert"]
        fn(cx, store: u32, key: u32, key_len: u32, body: u32) -> i32 {
            let p = insert_op(cx, store, key, key_len, body, InsertOptions::default(), None, Status::ERROR)?;
            finished(cx, &p);
            let result = insert_outcome(p);
            Ok(insert_status(cx, result))
        }

        ["fastly_object_store" :: "insert_async"]
        fn(cx, store: u32, key: u32, key_len: u32, body: u32, pending_out: u32) -> i32 {
            let p = insert_op(cx, store, key, key_len, body, InsertOptions::default(), Some(pending_out), Status::ERROR)?;
            start(cx, p, pending_out)
        }

        ["fastly_object_store" :: "pending_insert_wait"]
        fn(cx, pending: u32, kv_error_out: u32) -> i32 {
            check_pending(cx, pending, Kind::Insert)?;
            cx.mem.write_u32(kv_error_out, 0)?;
            let result = insert_outcome(take_pending(cx, pending)?);
            let code = match result {
                Ok(()) => KV_ERROR_OK,
                Err(e) => e.code(),
            };
            cx.mem.write_u32(kv_error_out, code)?;
            Ok(insert_status(cx, result))
        }

        ["fastly_object_store" :: "delete_async"]
        fn(cx, store: u32, key: u32, key_len: u32, pending_out: u32) -> i32 {
            let p = delete_op(cx, store, key, key_len, Some(pending_out), Status::ERROR)?;
            start(cx, p, pending_out)
        }

        ["fastly_object_store" :: "pending_delete_wait"]
        fn(cx, pending: u32) -> i32 {
            check_pending(cx, pending, Kind::Delete)?;
            let p = take_pending(cx, pending)?;
            match p.op {
                KvOp::Delete { result: Ok(()), .. } => Ok(Status::OK.0),
                KvOp::Delete { result: Err(KvError::NotFound), .. } => Ok(Status::NONE.0),
                KvOp::Delete { result: Err(e), .. } => {
                    cx.note(format!("the delete failed: {}", e.name()));
                    Ok(Status::INVAL.0)
                }
                _ => Err(Status::BADF.into()),
            }
        }
    }
    Ok(())
}
