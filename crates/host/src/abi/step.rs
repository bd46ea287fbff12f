//! Decoding a paused call for step-through ([`crate::step`]): its arguments, what its
//! pointers refer to (read through checked guest memory, bounded: a hostile pointer
//! gives a note, never a panic) and what its handles are.
//!
//! A call paused before it runs has not decoded its own arguments yet, so this reads
//! them by the ABI's parameter naming: `x_ptr`/`x` with `x_len` is an input buffer
//! (text or bytes), `*_out` an output pointer, `buf`/`*_buf` an output buffer (input
//! for writes), `req`/`resp`/`body`/`pending`/`handle`… handles, looked up in the
//! session.

use crate::memory::GuestMem;
use crate::session::{AsyncItem, BodySink, Session};
use crate::step::{PausedAt, PendingArg, PendingCall, MAX_PREVIEW};
use crate::trace::{ArgValue, HandleKind, TraceEvent};

/// The pending call `module::name` with `raw` arguments, decoded.
pub fn decode(
    mem: &mut GuestMem<'_>,
    s: &Session,
    module: &str,
    name: &str,
    raw: &[(&'static str, i64)],
) -> PendingCall {
    let mut args: Vec<PendingArg> = raw
        .iter()
        .map(|(n, v)| PendingArg {
            name: (*n).to_string(),
            raw: *v,
            value: None,
            about: None,
        })
        .collect();
    let find = |n: &str| raw.iter().position(|(a, _)| *a == n);
    for i in 0..raw.len() {
        let (n, v) = raw[i];
        if n.ends_with("_len") && args[i].about.is_some() {
            continue;
        }
        if n.ends_with("_out") || n.contains("_out_") {
            args[i].about = Some("output pointer".into());
            continue;
        }
        let base = n.strip_suffix("_ptr").unwrap_or(n);
        let len_at = find(&format!("{base}_len")).filter(|&j| j != i);
        if let Some(j) = len_at {
            let len = raw[j].1 as u32;
            args[j].about = Some(format!("length of {n}"));
            let output = (n == "buf" || n.ends_with("_buf")) && !name.contains("write");
            if output {
                args[i].about = Some(format!("output buffer, {len} bytes"));
            } else if n == "handles" {
                let (value, about) = handle_list(mem, v as u32, len);
                args[i].value = value;
                args[i].about = about;
            } else if n == "iovs" {
                args[i].about = Some(format!("{len} I/O vectors"));
                if name == "fd_write" {
                    args[i].value = iovs(mem, v as u32, len);
                }
            } else {
                let (value, about) = buffer(mem, v as u32, len);
                args[i].value = value;
                args[i].about = about;
            }
            continue;
        }
        if let Some(kind) = handle_kind(module, n) {
            let h = v as u32;
            args[i].value = Some(ArgValue::Handle { kind, handle: h });
            args[i].about = Some(describe(s, kind, h));
        }
    }
    PendingCall {
        module: module.to_string(),
        name: name.to_string(),
        at: PausedAt::Before,
        args,
        event: None,
    }
}

/// The pending call of a call that finished with a status other than OK: its
/// arguments as its trace event decoded them (`raw` empty: the event's only).
pub fn after(raw: &[(&'static str, i64)], ev: &TraceEvent) -> PendingCall {
    let from_event: Vec<(&str, i64)> = ev
        .args
        .iter()
        .map(|(n, v)| (n.as_ref(), if let ArgValue::Int(i) = v { *i } else { 0 }))
        .collect();
    let raw: Vec<(&str, i64)> = if raw.is_empty() {
        from_event
    } else {
        raw.to_vec()
    };
    let args = raw
        .iter()
        .map(|(n, v)| {
            let decoded = ev
                .args
                .iter()
                .find(|(a, _)| a == n)
                .map(|(_, v)| v)
                .filter(|v| !matches!(v, ArgValue::Int(_)));
            PendingArg {
                name: (*n).to_string(),
                raw: *v,
                value: decoded.cloned(),
                about: None,
            }
        })
        .collect();
    let code = ev.code.unwrap_or(0);
    PendingCall {
        module: ev.module.to_string(),
        name: ev.name.to_string(),
        at: PausedAt::After {
            code,
            status: ev
                .status
                .as_deref()
                .map(str::to_string)
                .unwrap_or_else(|| code.to_string()),
        },
        args,
        event: Some(ev.clone()),
    }
}

/// At most [`MAX_PREVIEW`] bytes at `ptr`, as text or bytes.
fn buffer(mem: &mut GuestMem<'_>, ptr: u32, len: u32) -> (Option<ArgValue>, Option<String>) {
    let take = len.min(MAX_PREVIEW);
    match mem.read_bytes(ptr, take) {
        Ok(b) => {
            let about = (len > take).then(|| format!("first {take} of {len} bytes"));
            (Some(ArgValue::text_or_bytes(&b)), about)
        }
        Err(e) => (None, Some(e.to_string())),
    }
}

/// An array of `len` u32 handles at `ptr` (at most 64 shown).
fn handle_list(mem: &mut GuestMem<'_>, ptr: u32, len: u32) -> (Option<ArgValue>, Option<String>) {
    let mut out = Vec::new();
    for k in 0..len.min(64) {
        match mem.read_u32(ptr.wrapping_add(k.wrapping_mul(4))) {
            Ok(h) => out.push(h.to_string()),
            Err(e) => return (None, Some(e.to_string())),
        }
    }
    (Some(ArgValue::List(out)), Some(format!("{len} handles")))
}

/// The bytes `fd_write` would write: its I/O vectors gathered (at most [`MAX_PREVIEW`]).
fn iovs(mem: &mut GuestMem<'_>, ptr: u32, len: u32) -> Option<ArgValue> {
    let mut bytes = Vec::new();
    for k in 0..len.min(64) {
        let at = ptr.wrapping_add(k.wrapping_mul(8));
        let base = mem.read_u32(at).ok()?;
        let n = mem.read_u32(at.wrapping_add(4)).ok()?;
        let room = MAX_PREVIEW.saturating_sub(bytes.len() as u32);
        bytes.extend(mem.read_bytes(base, n.min(room)).ok()?);
        if room <= n {
            break;
        }
    }
    Some(ArgValue::text_or_bytes(&bytes))
}

/// The kind of handle a parameter named `n` of `module` holds, if it is one.
fn handle_kind(module: &str, n: &str) -> Option<HandleKind> {
    let m = module.strip_prefix("fastly_").unwrap_or(module);
    Some(match n {
        "req" | "req_handle" => HandleKind::Request,
        "resp" | "resp_handle" => HandleKind::Response,
        "body" | "body_handle" | "dst" | "src" => HandleKind::Body,
        "endpoint_handle" => HandleKind::Endpoint,
        "busy_handle" => HandleKind::CacheBusy,
        "pending" => match m {
            "kv_store" | "object_store" => HandleKind::KvPending,
            "http_req" | "http_resp" | "env" => HandleKind::PendingRequest,
            _ => HandleKind::AsyncItem,
        },
        "store" => match m {
            "kv_store" | "object_store" => HandleKind::KvStore,
            "secret_store" => HandleKind::SecretStore,
            _ => return None,
        },
        "handle" => match m {
            "cache" => HandleKind::Cache,
            "dictionary" | "config_store" => HandleKind::Dictionary,
            "acl" => HandleKind::Acl,
            "secret_store" => HandleKind::Secret,
            "async_io" => HandleKind::AsyncItem,
            _ => return None,
        },
        _ => return None,
    })
}

/// What handle `h` of `kind` is in this session.
fn describe(s: &Session, kind: HandleKind, h: u32) -> String {
    let dead = || format!("{kind:?} #{h}: not a live handle");
    match kind {
        HandleKind::Request => match s.http.requests.get(h) {
            Some(r) => {
                let downstream = if s.downstream.req_handle == Some(h) {
                    " (the downstream request)"
                } else {
                    ""
                };
                format!("request {} {}{downstream}", r.method, r.uri)
            }
            None => dead(),
        },
        HandleKind::Response => match s.http.responses.get(h) {
            Some(r) => format!("response, status {}", r.status),
            None => dead(),
        },
        HandleKind::Body => match s.http.bodies.get(h) {
            Some(b) => {
                let what = match b.sink {
                    BodySink::Downstream => "streaming downstream response body".to_string(),
                    _ => format!(
                        "body, {} bytes buffered",
                        b.data.len().saturating_sub(b.pos)
                    ),
                };
                if s.downstream.body_handle == Some(h) {
                    format!("{what} (the downstream request's body)")
                } else {
                    what
                }
            }
            None => dead(),
        },
        HandleKind::PendingRequest
        | HandleKind::KvPending
        | HandleKind::AsyncItem
        | HandleKind::CacheBusy => match s.pending.async_items.get(&h) {
            Some(AsyncItem::Pending(p)) => format!("pending request to backend {}", p.backend),
            Some(AsyncItem::RequestPromise) => "next downstream request".into(),
            Some(AsyncItem::Kv(_)) => "pending KV operation".into(),
            Some(AsyncItem::CacheBusy(_)) => "pending cache lookup".into(),
            Some(AsyncItem::HttpCache(_)) => "HTTP cache transaction".into(),
            None => dead(),
        },
        HandleKind::Endpoint => named(s.stores.endpoints.get(h), "log endpoint", dead),
        HandleKind::Dictionary => named(s.stores.dictionaries.get(h), "config store", dead),
        HandleKind::KvStore => named(s.stores.kv_stores.get(h), "KV store", dead),
        HandleKind::SecretStore => named(s.stores.secret_stores.get(h), "secret store", dead),
        HandleKind::Acl => named(s.stores.acls.get(h), "ACL", dead),
        HandleKind::Secret => match s.stores.secrets.get(h) {
            Some(_) => "a secret".into(),
            None => dead(),
        },
        _ => format!("{kind:?} #{h}"),
    }
}

fn named(v: Option<&String>, what: &str, dead: impl Fn() -> String) -> String {
    match v {
        Some(n) => format!("{what} {n:?}"),
        None => dead(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_pointers_give_notes_not_panics() {
        let mut data = vec![0u8; 64];
        data[..5].copy_from_slice(b"hello");
        let mut mem = GuestMem::new(&mut data);
        assert_eq!(
            buffer(&mut mem, 0, 5).0,
            Some(ArgValue::Str("hello".into()))
        );
        let (v, about) = buffer(&mut mem, u32::MAX, u32::MAX);
        assert!(v.is_none());
        assert!(about.unwrap().contains("outside guest memory"));
        assert!(handle_list(&mut mem, 60, 10).0.is_none());
        assert!(iovs(&mut mem, u32::MAX - 3, 3).is_none());
        let (v, about) = buffer(&mut mem, 0, 64);
        assert!(v.is_some() && about.is_none());
    }

    #[test]
    fn long_buffers_are_cut() {
        let mut data = vec![b'a'; 4096];
        let mut mem = GuestMem::new(&mut data);
        let (v, about) = buffer(&mut mem, 0, 4000);
        assert_eq!(about.as_deref(), Some("first 1024 of 4000 bytes"));
        assert!(matches!(v, Some(ArgValue::Str(s)) if s.len() == 1024));
    }
}
