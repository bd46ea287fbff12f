//! `fastly_backend`: what a guest can ask about a backend, by name — the 17 getters
//! of the witx and Fastlike's 4 pool getters — and `register_dynamic_backend`
//! (linked under `fastly_http_req`, see [`super::send`]).
//!
//! An unknown backend is INVAL for every getter (as in Viceroy); `exists` answers 0.
//! Answers, where edgeplay chooses:
//!
//! - `is_healthy`: the backend's `health` (Viceroy's key), else from
//!   `reachable_percent` as Fastlike does (0 → unhealthy, 1..=100 → healthy), else
//!   unknown; dynamic backends are unknown.
//! - `get_host` / `get_port` / `is_ssl`: from the URL (port 80/443 by scheme when it
//!   has none). `get_override_host` is NONE when unset.
//! - The three timeouts: the backend's value, else the platform's default (1000,
//!   15000, 10000 ms). Viceroy answers UNSUPPORTED, which makes the SDK panic.
//! - `get_ssl_min_version`/`_max_version`: the dynamic backend's setting, else NONE
//!   (the SDK reads NONE as "not set"; Viceroy's UNSUPPORTED makes it panic).
//! - Keepalive and pool getters: a dynamic backend's settings, else 0 (as Viceroy);
//!   `is_ipv6_preferred` is 1 unless the backend was registered with `prefer_ipv4`.
//!
//! `register_dynamic_backend(name, target, options, config)` reads the 108-byte
//! `dynamic_backend_config` for the options set in the mask. As Viceroy: the reserved
//! bit or an unknown bit is INVAL; an empty or over-1024-byte host override, cert
//! hostname or SNI hostname is INVAL, and so is an empty or over-64-KiB CA
//! certificate of a TLS backend; a name that a configured or dynamic backend already
//! has is ERROR (the SDK's `NameInUse`). The platform's limit of 200 dynamic backends
//! per request answers LIMITEXCEEDED. A target that is not `host` or `host:port` is
//! INVAL (Viceroy answers ERROR, which the SDK would misreport as `NameInUse`). A
//! client certificate needs a live secret handle for its key (BADF otherwise).
//!
//! The TLS settings (`ca_cert`, `client_cert` with its key's plaintext,
//! `cert_hostname`, `sni_hostname` — empty: no SNI —, the version range) and `grpc`
//! are kept on the backend and go with every fetch to it
//! ([`crate::work::ConnectOptions`]): the native runner applies them; a browser
//! cannot, and says so on the fetch. `ciphers`, keepalive, pooling and health checks
//! are accepted and recorded only.

use super::headers::write_str_out;
use super::{field, Cx, Fault, HostResult, Registry};
use crate::backends::{self, Backend};
use crate::config::BackendHealth;
use crate::status::Status;
use crate::trace::ArgValue;

/// `backend_config_options` bits by name (bit n = `OPTION_NAMES[n]`).
pub const OPTION_NAMES: &[&str] = &[
    "reserved",
    "host_override",
    "connect_timeout",
    "first_byte_timeout",
    "between_bytes_timeout",
    "use_ssl",
    "ssl_min_version",
    "ssl_max_version",
    "cert_hostname",
    "ca_cert",
    "ciphers",
    "sni_hostname",
    "dont_pool",
    "client_cert",
    "grpc",
    "keepalive",
    "pooling_limits",
    "prefer_ipv4",
    "healthcheck",
];

/// The option bits this host knows (1..=18).
const KNOWN_OPTIONS: u32 = (1 << 19) - 2;

/// Size of `dynamic_backend_config`.
pub const DYNAMIC_BACKEND_CONFIG_SIZE: u32 = 108;
/// Size of `healthcheck_config`.
const HEALTHCHECK_CONFIG_SIZE: u32 = 56;

/// Longest backend name (the SDK's `MAX_BACKEND_NAME_LEN`).
pub const MAX_BACKEND_NAME_LEN: u32 = 255;

/// Read and record the backend name argument.
fn name_arg(cx: &mut Cx<'_>, ptr: u32, len: u32) -> HostResult<String> {
    cx.str_arg("backend", ptr, len)
}

/// The named backend, or INVAL.
fn lookup(cx: &mut Cx<'_>, ptr: u32, len: u32) -> HostResult<Backend> {
    let name = name_arg(cx, ptr, len)?;
    crate::pending::resolve_checked(cx.s, &name).map_err(|why| {
        cx.note(why);
        Fault::Status(Status::INVAL.0)
    })
}

/// Write a u32 answer.
fn answer_u32(cx: &mut Cx<'_>, out: u32, name: &'static str, v: u32) -> HostResult {
    cx.mem.write_u32(out, v)?;
    cx.result(name, ArgValue::Int(i64::from(v)));
    Ok(Status::OK.0)
}

/// Write a TLS version answer (`tls_version` enum); NONE when the backend has no setting.
fn answer_tls_version(cx: &mut Cx<'_>, out: u32, v: Option<u32>) -> HostResult {
    let Some(v) = v else {
        return Err(Status::NONE.into());
    };
    cx.mem.write_u32(out, v)?;
    cx.result("version", ArgValue::Enum(tls_name(v)));
    Ok(Status::OK.0)
}

/// Define the getters whose answer is one u32 of the named backend, each as
/// `"import" => "result name": |backend| value`: the backend is looked up (INVAL when
/// unknown), then the value written to `out` and recorded.
macro_rules! u32_getters {
    ($reg:expr; $($n:literal => $result:literal: |$b:ident| $v:expr,)*) => {
        super::hostcalls! { $reg; $(
            ["fastly_backend" :: $n]
            fn(cx, name_ptr: u32, name_len: u32, out: u32) -> i32 {
                let $b = lookup(cx, name_ptr, name_len)?;
                answer_u32(cx, out, $result, $v)
            }
        )* }
    };
}

fn health_value(h: BackendHealth) -> (u32, &'static str) {
    match h {
        BackendHealth::Unknown => (0, "unknown"),
        BackendHealth::Healthy => (1, "healthy"),
        BackendHealth::Unhealthy => (2, "unhealthy"),
    }
}

fn tls_name(v: u32) -> String {
    match v {
        0 => "TLSv1.0".into(),
        1 => "TLSv1.1".into(),
        2 => "TLSv1.2".into(),
        3 => "TLSv1.3".into(),
        n => format!("invalid({n})"),
    }
}

/// Read an optional string option (`ptr@at`, `len@at+4`): INVAL when empty or longer
/// than `max`.
fn string_option(
    cx: &mut Cx<'_>,
    raw: &[u8],
    at: usize,
    name: &'static str,
    max: u32,
) -> HostResult<String> {
    let (ptr, len) = (field(raw, at), field(raw, at + 4));
    if len == 0 || len > max {
        cx.note(format!("{name} must be 1 to {max} bytes, not {len}"));
        return Err(Status::INVAL.into());
    }
    cx.str_arg(name, ptr, len)
}

/// `register_dynamic_backend`: see the module documentation.
pub(crate) fn register_dynamic_backend(
    cx: &mut Cx<'_>,
    name_ptr: u32,
    name_len: u32,
    target_ptr: u32,
    target_len: u32,
    mask: u32,
    config: u32,
) -> HostResult {
    let name = cx.str_arg("name", name_ptr, name_len)?;
    let target = cx.str_arg("target", target_ptr, target_len)?;
    cx.arg(
        "options",
        ArgValue::Flags(super::http_req::flag_names(mask, OPTION_NAMES)),
    );
    if mask & 1 != 0 {
        cx.note("the reserved option bit is set");
        return Err(Status::INVAL.into());
    }
    if mask & !KNOWN_OPTIONS != 0 {
        cx.note("unknown option bits");
        return Err(Status::INVAL.into());
    }
    if name.is_empty() || name_len > MAX_BACKEND_NAME_LEN {
        cx.note(format!(
            "a backend name is 1 to {MAX_BACKEND_NAME_LEN} bytes"
        ));
        return Err(Status::INVAL.into());
    }
    let raw = cx.mem.read_bytes(config, DYNAMIC_BACKEND_CONFIG_SIZE)?;
    let has = |bit: u32| mask & (1 << bit) != 0;
    let tls = has(5);
    let mut b = match Backend::dynamic(&name, &target, tls) {
        Ok(b) => b,
        Err(e) => {
            cx.note(e);
            return Err(Status::INVAL.into());
        }
    };
    if has(1) {
        let host = string_option(cx, &raw, 0, "host_override", 1024)?;
        if http::HeaderValue::from_str(&host).is_err() {
            cx.note("the host override is not a valid header value");
            return Err(Status::INVAL.into());
        }
        b.override_host = Some(host);
    }
    if has(2) {
        b.connect_timeout_ms = Some(field(&raw, 8));
        cx.arg(
            "connect_timeout_ms",
            ArgValue::Int(i64::from(field(&raw, 8))),
        );
    }
    if has(3) {
        b.first_byte_timeout_ms = Some(field(&raw, 12));
        cx.arg(
            "first_byte_timeout_ms",
            ArgValue::Int(i64::from(field(&raw, 12))),
        );
    }
    if has(4) {
        b.between_bytes_timeout_ms = Some(field(&raw, 16));
        cx.arg(
            "between_bytes_timeout_ms",
            ArgValue::Int(i64::from(field(&raw, 16))),
        );
    }
    for (bit, at, slot) in [
        (6u32, 20usize, "ssl_min_version"),
        (7, 24, "ssl_max_version"),
    ] {
        if has(bit) {
            let v = field(&raw, at);
            cx.arg(slot, ArgValue::Enum(tls_name(v)));
            if v > 3 {
                return Err(Status::INVAL.into());
            }
            if bit == 6 {
                b.ssl_min_version = Some(v);
            } else {
                b.ssl_max_version = Some(v);
            }
        }
    }
    if has(8) {
        b.connect.cert_host = Some(string_option(cx, &raw, 28, "cert_hostname", 1024)?);
    }
    if has(9) && tls {
        let len = field(&raw, 40);
        if len == 0 || len > 64 * 1024 {
            cx.note(format!("ca_cert must be 1 to 65536 bytes, not {len}"));
            return Err(Status::INVAL.into());
        }
        let pem = cx.mem.read_bytes(field(&raw, 36), len)?;
        b.connect.ca_cert = Some(String::from_utf8_lossy(&pem).into_owned());
    }
    if has(10) {
        let (ptr, len) = (field(&raw, 44), field(&raw, 48));
        cx.str_arg("ciphers", ptr, len)?;
    }
    if has(11) {
        let (ptr, len) = (field(&raw, 52), field(&raw, 56));
        if len > 1024 {
            cx.note("sni_hostname is longer than 1024 bytes");
            return Err(Status::INVAL.into());
        }
        let sni = cx.str_arg("sni_hostname", ptr, len)?;
        if sni.is_empty() {
            b.connect.no_sni = true;
        } else {
            b.connect.sni_hostname = Some(sni);
        }
    }
    if has(13) {
        let cert = cx.mem.read_bytes(field(&raw, 60), field(&raw, 64))?;
        let key = field(&raw, 68);
        let Some(plaintext) = cx.s.stores.secrets.get(key) else {
            cx.note(format!("client_key {key} is not a secret handle"));
            return Err(Status::BADF.into());
        };
        b.connect.client_key = Some(String::from_utf8_lossy(plaintext).into_owned());
        b.connect.client_cert = Some(String::from_utf8_lossy(&cert).into_owned());
    }
    if has(14) {
        b.connect.grpc = true;
    }
    if has(15) {
        b.http_keepalive_time_ms = field(&raw, 72);
        b.tcp_keepalive_enable = field(&raw, 76);
        b.tcp_keepalive_interval_secs = field(&raw, 80);
        b.tcp_keepalive_probes = field(&raw, 84);
        b.tcp_keepalive_time_secs = field(&raw, 88);
    }
    if has(16) {
        b.max_connections = field(&raw, 92);
        b.max_use = field(&raw, 96);
        b.max_lifetime_ms = field(&raw, 100);
    }
    if has(17) {
        b.prefer_ipv6 = false;
    }
    if has(18) {
        cx.mem.slice(field(&raw, 104), HEALTHCHECK_CONFIG_SIZE)?;
    }
    if crate::pending::exists(cx.s, &name) {
        cx.note(format!(
            "a backend named {name:?} already exists (the SDK reports NameInUse)"
        ));
        return Err(Status::ERROR.into());
    }
    if cx.s.pending.dynamic_backends.len() >= backends::MAX_DYNAMIC_BACKENDS {
        cx.note(format!(
            "the platform allows {} dynamic backends",
            backends::MAX_DYNAMIC_BACKENDS
        ));
        return Err(Status::LIMITEXCEEDED.into());
    }
    cx.result(
        "url",
        ArgValue::Str(format!("{}://{}/", b.scheme, b.authority)),
    );
    cx.s.pending.dynamic_backends.insert(name, b);
    Ok(Status::OK.0)
}

/// Link the `fastly_backend` getters.
pub(crate) fn link(reg: &mut Registry) -> Result<(), wasmi::errors::LinkerError> {
    super::hostcalls! { reg;
        ["fastly_backend" :: "exists"]
        fn(cx, name_ptr: u32, name_len: u32, exists_out: u32) -> i32 {
            let name = name_arg(cx, name_ptr, name_len)?;
            let e = crate::pending::exists(cx.s, &name);
            answer_u32(cx, exists_out, "exists", u32::from(e))
        }

        ["fastly_backend" :: "is_healthy"]
        fn(cx, name_ptr: u32, name_len: u32, health_out: u32) -> i32 {
            let b = lookup(cx, name_ptr, name_len)?;
            let (v, n) = health_value(b.health);
            cx.mem.write_u32(health_out, v)?;
            cx.result("health", ArgValue::Enum(n.into()));
            Ok(Status::OK.0)
        }

        ["fastly_backend" :: "get_host"]
        fn(cx, name_ptr: u32, name_len: u32, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            let b = lookup(cx, name_ptr, name_len)?;
            write_str_out(cx, "host", b.host.as_bytes(), buf, buf_len, nwritten_out)
        }

        ["fastly_backend" :: "get_override_host"]
        fn(cx, name_ptr: u32, name_len: u32, buf: u32, buf_len: u32, nwritten_out: u32) -> i32 {
            let b = lookup(cx, name_ptr, name_len)?;
            let Some(h) = b.override_host else {
                return Err(Status::NONE.into());
            };
            write_str_out(cx, "override_host", h.as_bytes(), buf, buf_len, nwritten_out)
        }

        ["fastly_backend" :: "get_port"]
        fn(cx, name_ptr: u32, name_len: u32, port_out: u32) -> i32 {
            let b = lookup(cx, name_ptr, name_len)?;
            cx.mem.write_u16(port_out, b.port)?;
            cx.result("port", ArgValue::Int(i64::from(b.port)));
            Ok(Status::OK.0)
        }

        ["fastly_backend" :: "get_ssl_min_version"]
        fn(cx, name_ptr: u32, name_len: u32, out: u32) -> i32 {
            let b = lookup(cx, name_ptr, name_len)?;
            answer_tls_version(cx, out, b.ssl_min_version)
        }

        ["fastly_backend" :: "get_ssl_max_version"]
        fn(cx, name_ptr: u32, name_len: u32, out: u32) -> i32 {
            let b = lookup(cx, name_ptr, name_len)?;
            answer_tls_version(cx, out, b.ssl_max_version)
        }
    }
    u32_getters! { reg;
        "is_dynamic" => "is_dynamic": |b| u32::from(b.dynamic),
        "get_connect_timeout_ms" => "timeout_ms": |b| b.effective_connect_timeout_ms(),
        "get_first_byte_timeout_ms" => "timeout_ms": |b| b.effective_first_byte_timeout_ms(),
        "get_between_bytes_timeout_ms" => "timeout_ms": |b| b.effective_between_bytes_timeout_ms(),
        "get_http_keepalive_time" => "time_ms": |b| b.http_keepalive_time_ms,
        "get_tcp_keepalive_enable" => "enabled": |b| b.tcp_keepalive_enable,
        "get_tcp_keepalive_interval" => "interval_secs": |b| b.tcp_keepalive_interval_secs,
        "get_tcp_keepalive_probes" => "probes": |b| b.tcp_keepalive_probes,
        "get_tcp_keepalive_time" => "time_secs": |b| b.tcp_keepalive_time_secs,
        "is_ssl" => "is_ssl": |b| u32::from(b.is_tls()),
        "is_ipv6_preferred" => "ipv6_preferred": |b| u32::from(b.prefer_ipv6),
        "get_max_connections" => "max_connections": |b| b.max_connections,
        "get_max_use" => "max_use": |b| b.max_use,
        "get_max_lifetime_ms" => "max_lifetime_ms": |b| b.max_lifetime_ms,
    }
    Ok(())
}
