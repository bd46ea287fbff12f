//! `fastly_http_req`: requests the guest holds — the downstream (client) request and
//! the ones it builds — their method, URI, version, headers and cache settings, plus
//! the legacy handle-less downstream metadata getters.
//!
//! Sending (`send*`, `pending_req_*`) and dynamic backends are in [`super::send`].
//! The Fanout/WebSocket redirects are in [`super::fanout`], `inspect` in
//! [`super::ngwaf`].
//!
//! `on_behalf_of(req, service)` (service chaining) accepts this service's own id
//! (`FASTLY_SERVICE_ID`) and changes nothing; another service is UNSUPPORTED, as for
//! the core cache's `service` option: edgeplay runs one service.
//!
//! `fastly_key_is_valid` checks the downstream request's `fastly-key` header against
//! `[local_server] fake_valid_fastly_keys` (Viceroy's key).
//!
//! `body_downstream_get` creates the downstream request and body handles on its first
//! call and answers the same two handles on every later call, as Viceroy does (the SDK
//! fetches the request and the body with separate calls).

use super::headers::{self, write_str_out, Owner};
use super::http_downstream as ds;
use super::{Cx, Fault, HostResult, Registry};
use crate::http::HttpVersion;
use crate::session::{CacheOverride, RequestParts};
use crate::status::Status;
use crate::trace::{ArgValue, HandleKind};

/// `cache_override_tag` bits this host knows: pass, ttl, stale_while_revalidate, pci, lookup_timeout.
const CACHE_OVERRIDE_KNOWN_BITS: u32 = 0b1_1111;

/// `content_encodings` bits this host knows: gzip.
const CONTENT_ENCODINGS_KNOWN_BITS: u32 = 0b1;

/// The names of the `cache_override_tag` bits set in `tag`.
pub fn cache_override_flags(tag: u32) -> Vec<String> {
    flag_names(
        tag,
        &[
            "pass",
            "ttl",
            "stale_while_revalidate",
            "pci",
            "lookup_timeout",
        ],
    )
}

/// Names of the set bits of `bits`, from `names` (bit n = `names[n]`); unknown bits as `bitN`.
pub fn flag_names(bits: u32, names: &[&str]) -> Vec<String> {
    (0..32u32)
        .filter(|b| bits & (1 << b) != 0)
        .map(|b| match names.get(b as usize) {
            Some(n) => (*n).to_string(),
            None => format!("bit{b}"),
        })
        .collect()
}

/// The name of a `framing_headers_mode` value.
pub fn framing_mode_name(mode: u32) -> String {
    match mode {
        0 => "automatic".into(),
        1 => "manually_from_headers".into(),
        n => format!("invalid({n})"),
    }
}

/// Record a request handle argument and check it is live (BADF otherwise).
fn req_mut<'a>(cx: &'a mut Cx<'_>, h: u32) -> HostResult<&'a mut RequestParts> {
    cx.handle_arg("req", HandleKind::Request, h);
    cx.s.http
        .requests
        .get_mut(h)
        .ok_or(Fault::Status(Status::BADF.0))
}

/// Write a handle to an out-pointer; a null pointer means "not wanted" and is skipped.
fn write_handle_out(cx: &mut Cx<'_>, out: u32, h: u32) -> HostResult<()> {
    if out != 0 {
        cx.mem.write_u32(out, h)?;
    }
    Ok(())
}

/// Validate and record a `cache_override_tag`.
fn check_cache_tag(cx: &mut Cx<'_>, tag: u32) -> HostResult<()> {
    cx.arg("tag", ArgValue::Flags(cache_override_flags(tag)));
    if tag & !CACHE_OVERRIDE_KNOWN_BITS != 0 {
        cx.note("unknown cache_override_tag bits");
        return Err(Status::INVAL.into());
    }
    Ok(())
}

/// Read an optional surrogate-key list; it must be a valid header value (INVAL otherwise).
fn read_surrogate_keys(cx: &mut Cx<'_>, ptr: u32, len: u32) -> HostResult<Option<String>> {
    if len == 0 {
        return Ok(None);
    }
    let bytes = cx.bytes_arg("surrogate_keys", ptr, len)?;
    if http::HeaderValue::from_bytes(&bytes).is_err() {
        cx.note("surrogate keys are not a valid header value");
        return Err(Status::INVAL.into());
    }
    match String::from_utf8(bytes) {
        Ok(s) => Ok(Some(s)),
        Err(_) => Err(Status::INVAL.into()),
    }
}

/// Store a cache override on a live request.
fn set_cache_override(cx: &mut Cx<'_>, req: u32, ov: CacheOverride) -> HostResult {
    let r = req_mut(cx, req)?;
    r.cache_override = ov;
    cx.note(
        "applied by the readthrough cache when the request is sent (send, send_v2, send_async*)",
    );
    Ok(Status::OK.0)
}

/// Link the `fastly_http_req` hostcalls, and their legacy `env.xqd_*` twins whose
/// signature is the same.
pub(crate) fn link(reg: &mut Registry) -> Result<(), wasmi::errors::LinkerError> {
    super::hostcalls! { reg;
        ["fastly_http_req" :: "body_downstream_get", "env" :: "xqd_req_body_downstream_get"]
        fn(cx, req_out: u32, body_out: u32) -> i32 {
            let (req, body) = match (cx.s.downstream.req_handle, cx.s.downstream.body_handle) {
                (Some(r), Some(b)) => {
                    cx.note("the client request was already fetched: same handles again");
                    (r, b)
                }
                _ => cx.s.downstream_handles().ok_or(Fault::Status(Status::LIMITEXCEEDED.0))?,
            };
            write_handle_out(cx, req_out, req)?;
            write_handle_out(cx, body_out, body)?;
            cx.handle_result("req", HandleKind::Request, req);
            cx.handle_result("body", HandleKind::Body, body);
            Ok(Status::OK.0)
        }

        ["fastly_http_req" :: "on_behalf_of", "env" :: "xqd_req_on_behalf_of"]
        fn(cx, req: u32, service: u32, service_len: u32) -> i32 {
            cx.handle_arg("req", HandleKind::Request, req);
            if !cx.s.http.requests.contains(req) {
                return Err(Status::BADF.into());
            }
            let service = cx.str_arg("service", service, service_len)?;
            let own = cx.s.env.iter().find(|(k, _)| k == "FASTLY_SERVICE_ID")
                .map(|(_, v)| v.clone()).unwrap_or_default();
            if service != own {
                cx.note(format!(
                    "acting on behalf of another service ({service:?}) is not emulated: edgeplay runs one service ({own:?})"
                ));
                return Err(Status::UNSUPPORTED.into());
            }
            cx.note("this service itself: nothing changes");
            Ok(Status::OK.0)
        }

        ["fastly_http_req" :: "new", "env" :: "xqd_req_new"]
        fn(cx, req_out: u32) -> i32 {
            let h = cx.s.http.requests.insert(RequestParts::empty())
                .ok_or(Fault::Status(Status::LIMITEXCEEDED.0))?;
            if let Err(e) = cx.mem.write_u32(req_out, h) {
                cx.s.http.requests.take(h);
                return Err(e.into());
            }
            cx.handle_result("handle", HandleKind::Request, h);
            Ok(Status::OK.0)
        }

        ["fastly_http_req" :: "close", "env" :: "xqd_req_close"]
        fn(cx, req: u32) -> i32 {
            cx.handle_arg("req", HandleKind::Request, req);
            match cx.s.http.requests.take(req) {
                Some(_) => Ok(Status::OK.0),
                None => Err(Status::BADF.into()),
            }
        }

        ["fastly_http_req" :: "method_get", "env" :: "xqd_req_method_get"]
        fn(cx, req: u32, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            let m = req_mut(cx, req)?.method.clone();
            write_str_out(cx, "method", m.as_bytes(), buf, buf_len, nwritten_out)
        }

        ["fastly_http_req" :: "method_set", "env" :: "xqd_req_method_set"]
        fn(cx, req: u32, method_ptr: u32, method_len: u32) -> i32 {
            req_mut(cx, req)?;
            if method_len as usize > crate::limits::MAX_METHOD_BYTES {
                cx.note(format!("a method holds at most {} bytes (the platform's limit)", crate::limits::MAX_METHOD_BYTES));
                return Err(Status::HTTPHEADTOOLARGE.into());
            }
            let bytes = cx.bytes_arg("method", method_ptr, method_len)?;
            let Ok(m) = http::Method::from_bytes(&bytes) else {
                cx.note("not a valid HTTP method");
                return Err(Status::HTTPINVALID.into());
            };
            req_mut(cx, req)?.method = m.as_str().to_owned();
            Ok(Status::OK.0)
        }

        ["fastly_http_req" :: "uri_get", "env" :: "xqd_req_uri_get"]
        fn(cx, req: u32, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            let u = req_mut(cx, req)?.uri.clone();
            write_str_out(cx, "uri", u.as_bytes(), buf, buf_len, nwritten_out)
        }

        ["fastly_http_req" :: "uri_set", "env" :: "xqd_req_uri_set"]
        fn(cx, req: u32, uri_ptr: u32, uri_len: u32) -> i32 {
            req_mut(cx, req)?;
            if uri_len as usize > crate::limits::MAX_URL_BYTES {
                cx.note(format!("a URL holds at most {} bytes (the platform's limit)", crate::limits::MAX_URL_BYTES));
                return Err(Status::HTTPHEADTOOLARGE.into());
            }
            let bytes = cx.bytes_arg("uri", uri_ptr, uri_len)?;
            let Ok(u) = http::Uri::try_from(bytes.as_slice()) else {
                cx.note("not a valid URI");
                return Err(Status::HTTPINVALID.into());
            };
            req_mut(cx, req)?.uri = u.to_string();
            Ok(Status::OK.0)
        }

        ["fastly_http_req" :: "version_get", "env" :: "xqd_req_version_get"]
        fn(cx, req: u32, version_out: u32) -> i32 {
            let v = req_mut(cx, req)?.version;
            cx.mem.write_u32(version_out, v as u32)?;
            cx.result("version", ArgValue::Enum(v.as_str().into()));
            Ok(Status::OK.0)
        }

        ["fastly_http_req" :: "version_set", "env" :: "xqd_req_version_set"]
        fn(cx, req: u32, version: u32) -> i32 {
            req_mut(cx, req)?;
            let Some(v) = HttpVersion::from_abi(version) else {
                cx.arg("version", ArgValue::Enum(format!("invalid({version})")));
                return Err(Status::INVAL.into());
            };
            cx.arg("version", ArgValue::Enum(v.as_str().into()));
            req_mut(cx, req)?.version = v;
            Ok(Status::OK.0)
        }

        ["fastly_http_req" :: "header_names_get", "env" :: "xqd_req_header_names_get"]
        fn(cx, req: u32, buf: u32, buf_len: u32, cursor: u32, ending_cursor_out: u32, nwritten_out: u32) -> i32 {
            headers::names_get(cx, Owner::Request(req), buf, buf_len, cursor, ending_cursor_out, nwritten_out)
        }

        ["fastly_http_req" :: "header_value_get", "env" :: "xqd_req_header_value_get"]
        fn(cx, req: u32, name_ptr: u32, name_len: u32, value: u32, value_max_len: u32, nwritten_out: u32) -> i32 {
            headers::value_get(cx, Owner::Request(req), name_ptr, name_len, value, value_max_len, nwritten_out)
        }

        ["fastly_http_req" :: "header_values_get", "env" :: "xqd_req_header_values_get"]
        fn(cx, req: u32, name_ptr: u32, name_len: u32, buf: u32, buf_len: u32, cursor: u32, ending_cursor_out: u32, nwritten_out: u32) -> i32 {
            headers::values_get(cx, Owner::Request(req), name_ptr, name_len, buf, buf_len, cursor, ending_cursor_out, nwritten_out)
        }

        ["fastly_http_req" :: "header_values_set", "env" :: "xqd_req_header_values_set"]
        fn(cx, req: u32, name_ptr: u32, name_len: u32, values_ptr: u32, values_len: u32) -> i32 {
            headers::values_set(cx, Owner::Request(req), name_ptr, name_len, values_ptr, values_len)
        }

        ["fastly_http_req" :: "header_insert", "env" :: "xqd_req_header_insert"]
        fn(cx, req: u32, name_ptr: u32, name_len: u32, value_ptr: u32, value_len: u32) -> i32 {
            headers::insert_or_append(cx, Owner::Request(req), name_ptr, name_len, value_ptr, value_len, false)
        }

        ["fastly_http_req" :: "header_append", "env" :: "xqd_req_header_append"]
        fn(cx, req: u32, name_ptr: u32, name_len: u32, value_ptr: u32, value_len: u32) -> i32 {
            headers::insert_or_append(cx, Owner::Request(req), name_ptr, name_len, value_ptr, value_len, true)
        }

        ["fastly_http_req" :: "header_remove", "env" :: "xqd_req_header_remove"]
        fn(cx, req: u32, name_ptr: u32, name_len: u32) -> i32 {
            headers::remove(cx, Owner::Request(req), name_ptr, name_len)
        }

        ["fastly_http_req" :: "original_header_names_get", "env" :: "xqd_req_original_header_names_get"]
        fn(cx, buf: u32, buf_len: u32, cursor: u32, ending_cursor_out: u32, nwritten_out: u32) -> i32 {
            ds::original_header_names(cx, None, buf, buf_len, cursor, ending_cursor_out, nwritten_out)
        }

        ["fastly_http_req" :: "original_header_count", "env" :: "xqd_req_original_header_count"]
        fn(cx, count_out: u32) -> i32 {
            ds::original_header_count(cx, None, count_out)
        }

        ["fastly_http_req" :: "cache_override_set", "env" :: "xqd_req_cache_override_set"]
        fn(cx, req: u32, tag: u32, ttl: u32, swr: u32) -> i32 {
            req_mut(cx, req)?;
            check_cache_tag(cx, tag)?;
            set_cache_override(cx, req, CacheOverride { tag, ttl, swr, ..CacheOverride::default() })
        }

        ["fastly_http_req" :: "cache_override_v2_set", "env" :: "xqd_req_cache_override_v2_set"]
        fn(cx, req: u32, tag: u32, ttl: u32, swr: u32, sk_ptr: u32, sk_len: u32) -> i32 {
            req_mut(cx, req)?;
            check_cache_tag(cx, tag)?;
            let surrogate_keys = read_surrogate_keys(cx, sk_ptr, sk_len)?;
            set_cache_override(cx, req, CacheOverride { tag, ttl, swr, surrogate_keys, ..CacheOverride::default() })
        }

        ["fastly_http_req" :: "cache_override_v3_set"]
        fn(cx, req: u32, tag: u32, cache_override: u32) -> i32 {
            req_mut(cx, req)?;
            check_cache_tag(cx, tag)?;
            // struct cache_override: ttl@0, stale_while_revalidate@4, surrogate_keys ptr@8,
            // len@12, lookup_timeout_ms@16 (20 bytes).
            let raw = cx.mem.read_bytes(cache_override, 20)?;
            let field = |at: usize| -> u32 {
                raw.get(at..at + 4)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map(u32::from_le_bytes)
                    .unwrap_or(0)
            };
            let (ttl, swr, sk_ptr, sk_len, lookup_timeout_ms) =
                (field(0), field(4), field(8), field(12), field(16));
            cx.arg("ttl", ArgValue::Int(ttl as i64));
            cx.arg("stale_while_revalidate", ArgValue::Int(swr as i64));
            if tag & (1 << 4) != 0 {
                cx.arg("lookup_timeout_ms", ArgValue::Int(lookup_timeout_ms as i64));
            }
            let surrogate_keys = read_surrogate_keys(cx, sk_ptr, sk_len)?;
            set_cache_override(cx, req, CacheOverride { tag, ttl, swr, surrogate_keys, lookup_timeout_ms })
        }

        ["fastly_http_req" :: "framing_headers_mode_set", "env" :: "xqd_req_framing_headers_mode_set"]
        fn(cx, req: u32, mode: u32) -> i32 {
            req_mut(cx, req)?;
            cx.arg("mode", ArgValue::Enum(framing_mode_name(mode)));
            if mode > 1 {
                return Err(Status::INVAL.into());
            }
            req_mut(cx, req)?.framing_mode = mode;
            Ok(Status::OK.0)
        }

        ["fastly_http_req" :: "auto_decompress_response_set", "env" :: "xqd_req_auto_decompress_response_set"]
        fn(cx, req: u32, encodings: u32) -> i32 {
            req_mut(cx, req)?;
            cx.arg("encodings", ArgValue::Flags(flag_names(encodings, &["gzip"])));
            if encodings & !CONTENT_ENCODINGS_KNOWN_BITS != 0 {
                cx.note("unknown content_encodings bits");
                return Err(Status::INVAL.into());
            }
            req_mut(cx, req)?.auto_decompress = encodings;
            Ok(Status::OK.0)
        }

        ["fastly_http_req" :: "fastly_key_is_valid", "env" :: "xqd_req_fastly_key_is_valid"]
        fn(cx, is_valid_out: u32) -> i32 {
            ds::fastly_key_is_valid(cx, None, is_valid_out)
        }

        ["fastly_http_req" :: "downstream_client_ip_addr", "env" :: "xqd_req_downstream_client_ip_addr"]
        fn(cx, addr_out: u32, nwritten_out: u32) -> i32 {
            ds::ip_addr(cx, None, |r| r.client_ip, addr_out, nwritten_out)
        }

        ["fastly_http_req" :: "downstream_server_ip_addr"]
        fn(cx, addr_out: u32, nwritten_out: u32) -> i32 {
            ds::ip_addr(cx, None, |r| r.server_ip, addr_out, nwritten_out)
        }

        ["fastly_http_req" :: "downstream_client_request_id", "env" :: "xqd_req_downstream_client_request_id"]
        fn(cx, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            ds::request_id(cx, None, buf, buf_len, nwritten_out)
        }

        ["fastly_http_req" :: "downstream_compliance_region", "env" :: "xqd_req_downstream_compliance_region"]
        fn(cx, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            ds::compliance_region(cx, None, buf, buf_len, nwritten_out)
        }

        ["fastly_http_req" :: "downstream_client_ddos_detected", "env" :: "xqd_req_downstream_client_ddos_detected"]
        fn(cx, out: u32) -> i32 {
            ds::ddos_detected(cx, None, out)
        }

        ["fastly_http_req" :: "downstream_client_h2_fingerprint"]
        fn(cx, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            ds::absent(cx, None, "HTTP/2 fingerprint")
        }

        ["fastly_http_req" :: "downstream_client_oh_fingerprint"]
        fn(cx, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            ds::absent(cx, None, "original-header fingerprint")
        }

        ["fastly_http_req" :: "downstream_tls_cipher_openssl_name", "env" :: "xqd_req_downstream_tls_cipher_openssl_name"]
        fn(cx, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            ds::absent(cx, None, "TLS cipher")
        }

        ["fastly_http_req" :: "downstream_tls_protocol", "env" :: "xqd_req_downstream_tls_protocol"]
        fn(cx, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            ds::absent(cx, None, "TLS protocol")
        }

        ["fastly_http_req" :: "downstream_tls_client_hello", "env" :: "xqd_req_downstream_tls_client_hello"]
        fn(cx, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            ds::absent(cx, None, "TLS ClientHello")
        }

        ["fastly_http_req" :: "downstream_tls_client_servername"]
        fn(cx, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            ds::absent(cx, None, "TLS SNI server name")
        }

        ["fastly_http_req" :: "downstream_tls_ja3_md5"]
        fn(cx, out: u32, nwritten_out: u32) -> i32 {
            ds::absent(cx, None, "TLS JA3 MD5")
        }

        ["fastly_http_req" :: "downstream_tls_ja4"]
        fn(cx, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            ds::absent(cx, None, "TLS JA4")
        }

        ["fastly_http_req" :: "downstream_tls_raw_client_certificate"]
        fn(cx, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            ds::absent(cx, None, "TLS client certificate")
        }

        ["fastly_http_req" :: "downstream_tls_client_cert_verify_result"]
        fn(cx, out: u32) -> i32 {
            ds::absent(cx, None, "TLS client certificate verification")
        }
    }
    Ok(())
}
