//! Header operations shared by `fastly_http_req`, `fastly_http_resp` and the trailer
//! calls of `fastly_http_body`: one implementation of names/value/values get, values
//! set, insert, append and remove over a [`Headers`] list, whichever handle owns it.
//!
//! Names and values are validated as Viceroy validates them (with the `http` crate's
//! `HeaderName`/`HeaderValue` parsers); a name or value that does not parse answers
//! HTTPINVALID. A name longer than 65535 bytes answers INVAL before it is read, as in
//! Viceroy (hyper's own limit).

use super::{Cx, Fault, HostResult};
use crate::http::Headers;
use crate::session::Session;
use crate::status::Status;
use crate::trace::{ArgValue, HandleKind};

/// Longest header name accepted (hyper's limit, which Viceroy enforces as INVAL).
pub const MAX_HEADER_NAME_LEN: u32 = (1 << 16) - 1;

/// Whose header list a call works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    /// The headers of a request handle.
    Request(u32),
    /// The headers of a response handle.
    Response(u32),
    /// The trailers of a body handle.
    Trailers(u32),
}

impl Owner {
    /// Record the owning handle as the call's first argument.
    fn record(self, cx: &mut Cx<'_>) {
        match self {
            Owner::Request(h) => cx.handle_arg("req", HandleKind::Request, h),
            Owner::Response(h) => cx.handle_arg("resp", HandleKind::Response, h),
            Owner::Trailers(h) => cx.handle_arg("body", HandleKind::Body, h),
        }
    }

    /// The header list, or BADF when the handle is not live.
    pub fn headers_mut(self, s: &mut Session) -> Result<&mut Headers, Fault> {
        let headers = match self {
            Owner::Request(h) => s.http.requests.get_mut(h).map(|r| &mut r.headers),
            Owner::Response(h) => s.http.responses.get_mut(h).map(|r| &mut r.headers),
            Owner::Trailers(h) => s.http.bodies.get_mut(h).map(|b| &mut b.trailers),
        };
        headers.ok_or(Fault::Status(Status::BADF.0))
    }
}

/// Validate a header name; returns it lowercased. Unparseable → HTTPINVALID.
pub fn parse_name(bytes: &[u8]) -> Result<String, Fault> {
    http::HeaderName::from_bytes(bytes)
        .map(|n| n.as_str().to_owned())
        .map_err(|_| Fault::Status(Status::HTTPINVALID.0))
}

/// Validate a header value. Unparseable (control characters, ...) → HTTPINVALID.
pub fn parse_value(bytes: &[u8]) -> Result<Vec<u8>, Fault> {
    http::HeaderValue::from_bytes(bytes)
        .map(|_| bytes.to_vec())
        .map_err(|_| Fault::Status(Status::HTTPINVALID.0))
}

/// Read, record and validate the header name argument.
pub fn read_name(cx: &mut Cx<'_>, ptr: u32, len: u32) -> HostResult<String> {
    if len > MAX_HEADER_NAME_LEN {
        cx.note(format!(
            "header name of {len} bytes is longer than {MAX_HEADER_NAME_LEN}"
        ));
        return Err(Status::INVAL.into());
    }
    let bytes = cx.bytes_arg("name", ptr, len)?;
    parse_name(&bytes).inspect_err(|_| cx.note("invalid header name"))
}

/// Read, record and validate one header value argument.
pub fn read_value(cx: &mut Cx<'_>, ptr: u32, len: u32) -> HostResult<Vec<u8>> {
    let bytes = cx.bytes_arg("value", ptr, len)?;
    parse_value(&bytes).inspect_err(|_| cx.note("invalid header value"))
}

/// Whether `name` with `values` still fits the message's headers
/// ([`crate::limits`]: 69 KB per header, [`crate::limits::MAX_HEADERS_PER_MESSAGE`]
/// headers and [`crate::limits::MAX_HEAD_BYTES`] in all); `replace`: the values replace
/// the name's current ones. The note says which bound, for HTTPHEADTOOLARGE.
fn head_room(
    headers: &Headers,
    name: &str,
    replace: bool,
    values: &[Vec<u8>],
) -> Result<(), String> {
    use crate::limits::{MAX_HEADERS_PER_MESSAGE, MAX_HEADER_BYTES, MAX_HEAD_BYTES};
    if let Some(v) = values
        .iter()
        .find(|v| name.len() + v.len() > MAX_HEADER_BYTES)
    {
        return Err(format!(
            "header `{name}` of {} bytes: a header holds at most {MAX_HEADER_BYTES} bytes (the platform's 69 KB)",
            name.len() + v.len()
        ));
    }
    let (mut count, mut bytes) = (0usize, 0usize);
    for (n, v) in headers.iter() {
        if !(replace && n == name) {
            count += 1;
            bytes += n.len() + v.len();
        }
    }
    count += values.len();
    bytes += values.iter().map(|v| name.len() + v.len()).sum::<usize>();
    if count > MAX_HEADERS_PER_MESSAGE {
        return Err(format!(
            "a request or response carries at most {MAX_HEADERS_PER_MESSAGE} headers"
        ));
    }
    if bytes > MAX_HEAD_BYTES {
        return Err(format!(
            "a request's or response's headers hold at most {} KiB in all",
            MAX_HEAD_BYTES >> 10
        ));
    }
    Ok(())
}

/// [`head_room`] for a hostcall: HTTPHEADTOOLARGE with its note past a bound.
fn check_room(
    cx: &mut Cx<'_>,
    owner: Owner,
    name: &str,
    replace: bool,
    values: &[Vec<u8>],
) -> HostResult<()> {
    let room = head_room(owner.headers_mut(cx.s)?, name, replace, values);
    room.map_err(|why| {
        cx.note(why);
        Status::HTTPHEADTOOLARGE.into()
    })
}

/// Check the owner is live (BADF otherwise) and record it.
fn check(cx: &mut Cx<'_>, owner: Owner) -> HostResult<()> {
    owner.record(cx);
    owner.headers_mut(cx.s).map(|_| ())
}

/// `header_names_get`: distinct names, cursor-paginated.
pub fn names_get(
    cx: &mut Cx<'_>,
    owner: Owner,
    buf: u32,
    buf_len: u32,
    cursor: u32,
    ending_cursor_out: u32,
    nwritten_out: u32,
) -> HostResult {
    check(cx, owner)?;
    let names = owner.headers_mut(cx.s)?.names();
    Ok(cx
        .mem
        .write_multi(
            &names,
            buf,
            buf_len,
            cursor,
            ending_cursor_out,
            nwritten_out,
        )?
        .0)
}

/// `header_value_get`: the first value; a missing header is INVAL (the SDK reads it as `None`).
pub fn value_get(
    cx: &mut Cx<'_>,
    owner: Owner,
    name_ptr: u32,
    name_len: u32,
    value: u32,
    value_max_len: u32,
    nwritten_out: u32,
) -> HostResult {
    check(cx, owner)?;
    let name = read_name(cx, name_ptr, name_len)?;
    let found = owner.headers_mut(cx.s)?.get(&name).map(<[u8]>::to_vec);
    let Some(v) = found else {
        cx.note(format!("no header {name:?}"));
        return Err(Status::INVAL.into());
    };
    let st = cx
        .mem
        .write_out_buf(value, value_max_len, nwritten_out, &v)?;
    if st == Status::OK {
        cx.result("value", ArgValue::text_or_bytes(&v));
    }
    Ok(st.0)
}

/// `header_values_get`: every value of one name, cursor-paginated (none: OK, nothing written).
#[allow(clippy::too_many_arguments)]
pub fn values_get(
    cx: &mut Cx<'_>,
    owner: Owner,
    name_ptr: u32,
    name_len: u32,
    buf: u32,
    buf_len: u32,
    cursor: u32,
    ending_cursor_out: u32,
    nwritten_out: u32,
) -> HostResult {
    check(cx, owner)?;
    let name = read_name(cx, name_ptr, name_len)?;
    let values: Vec<Vec<u8>> = owner
        .headers_mut(cx.s)?
        .get_all(&name)
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    Ok(cx
        .mem
        .write_multi(
            &values,
            buf,
            buf_len,
            cursor,
            ending_cursor_out,
            nwritten_out,
        )?
        .0)
}

/// `header_values_set`: replace every value of a name with a NUL-terminated list.
///
/// As in Viceroy, the list is split at each NUL and the last piece (empty for a
/// well-formed list) is dropped; an empty list removes the header.
pub fn values_set(
    cx: &mut Cx<'_>,
    owner: Owner,
    name_ptr: u32,
    name_len: u32,
    values_ptr: u32,
    values_len: u32,
) -> HostResult {
    check(cx, owner)?;
    let name = read_name(cx, name_ptr, name_len)?;
    let raw = cx.mem.read_bytes(values_ptr, values_len)?;
    let mut pieces: Vec<&[u8]> = raw.split(|b| *b == 0).collect();
    pieces.pop();
    cx.arg(
        "values",
        ArgValue::List(
            pieces
                .iter()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect(),
        ),
    );
    let mut values = Vec::with_capacity(pieces.len());
    for p in pieces {
        values.push(parse_value(p).inspect_err(|_| cx.note("invalid header value"))?);
    }
    check_room(cx, owner, &name, true, &values)?;
    owner.headers_mut(cx.s)?.set_all(&name, values);
    Ok(Status::OK.0)
}

/// `header_insert` (`append` false: set one value, replacing the others) and
/// `header_append`/`trailer_append` (`append` true: add a value after the existing ones).
#[allow(clippy::too_many_arguments)]
pub fn insert_or_append(
    cx: &mut Cx<'_>,
    owner: Owner,
    name_ptr: u32,
    name_len: u32,
    value_ptr: u32,
    value_len: u32,
    append: bool,
) -> HostResult {
    check(cx, owner)?;
    let name = read_name(cx, name_ptr, name_len)?;
    let value = read_value(cx, value_ptr, value_len)?;
    check_room(cx, owner, &name, !append, std::slice::from_ref(&value))?;
    let headers = owner.headers_mut(cx.s)?;
    if append {
        headers.append(&name, value);
    } else {
        headers.insert(&name, value);
    }
    Ok(Status::OK.0)
}

/// `header_remove`: remove every value; INVAL when there was none.
pub fn remove(cx: &mut Cx<'_>, owner: Owner, name_ptr: u32, name_len: u32) -> HostResult {
    check(cx, owner)?;
    let name = read_name(cx, name_ptr, name_len)?;
    if owner.headers_mut(cx.s)?.remove(&name) {
        Ok(Status::OK.0)
    } else {
        cx.note(format!("no header {name:?} to remove"));
        Err(Status::INVAL.into())
    }
}

/// Write a string the `(buf, buf_len, nwritten_out)` way, recording it as the call's result.
pub fn write_str_out(
    cx: &mut Cx<'_>,
    name: &'static str,
    value: &[u8],
    buf: u32,
    buf_len: u32,
    nwritten_out: u32,
) -> HostResult {
    let st = cx.mem.write_out_buf(buf, buf_len, nwritten_out, value)?;
    if st == Status::OK {
        cx.result(name, ArgValue::text_or_bytes(value));
    }
    Ok(st.0)
}

/// Write a value the `(buf, buf_len, nwritten_out)` way, recording it as the call's
/// result `name` when it fits, else the length it `needed` (BUFLEN).
pub fn write_out_or_needed(
    cx: &mut Cx<'_>,
    name: &'static str,
    value: &[u8],
    buf: u32,
    buf_len: u32,
    nwritten_out: u32,
) -> HostResult {
    let code = write_str_out(cx, name, value, buf, buf_len, nwritten_out)?;
    if code != Status::OK.0 {
        cx.result("needed", ArgValue::Int(value.len() as i64));
    }
    Ok(code)
}
