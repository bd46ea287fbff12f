//! Backends: what a backend request looks like on the wire, and everything the core
//! decides about it so that every driver (native or browser) behaves the same.
//!
//! - **The request.** [`build_fetch`] turns a guest request into a [`FetchRequest`]:
//!   the URL is the backend's scheme, host, port and path prefix followed by the guest
//!   request's path and query ([`backend_url`], as Viceroy builds it); the `host`
//!   header is the backend's `override_host`, else the guest request's own Host
//!   header, else its URL's authority, else the backend's host ([`host_header`], as
//!   Viceroy picks it); our loop-detection token is appended to `cdn-loop`
//!   ([`add_loop_token`]); automatic framing drops the guest's `content-length` and
//!   `transfer-encoding` (manual framing keeps them when they are valid, as Viceroy);
//!   the timeouts are the backend's or the platform's defaults.
//! - **Loop detection** (the platform's; Viceroy has none): every backend request
//!   carries our token in `cdn-loop` once more, so a client request that carries it
//!   came back through our own backend requests, once per token. As on the platform,
//!   a service may call itself: only a request that has passed through
//!   [`MAX_LOOP_HOPS`] times is refused. Drivers call [`loop_detected`] before running the guest and
//!   answer [`crate::collect::loop_detected_response`] (508 Loop Detected) without
//!   running it.
//! - **Mock backends** (`mock = ...` in `fastly.toml`, see [`crate::config::BackendConfig`])
//!   are answered here, with no driver work unless they have a delay; they still get a
//!   backend trace event.
//! - **Unreliable backends** (`reachable_percent`, Fastlike's `name=host:port@N`, see
//!   [`crate::config::parse_backend_flag`]): each request draws from the platform's
//!   random source; those that miss get Fastlike's synthetic 502 ([`simulated_failure`]).
//! - **Responses.** `crate::pending::settle` finishes a pending request when its work completes:
//!   gzip auto-decompression (`auto_decompress_response_set`, removing
//!   `content-encoding` and `content-length` as Viceroy does; a stream that will not
//!   decompress gives the bytes decoded before the error, then a read error, as
//!   Viceroy's streaming decoder does) and one trace event per
//!   backend fetch (`EventKind::Work`, module `backend`, name = the backend) for the
//!   waterfall: `start_us` when the fetch started, `dur_us` until its end; arguments
//!   `method`, `url`, `status` and `bytes` (the body as received; `mock` for a mock;
//!   `headers_not_sent` when the driver could not send some, as in a browser);
//!   results `first_byte_us` and `end_us` (µs from the fetch's start), or `error` (the
//!   failure kind, also the event's status) with the message as the note. The
//!   driver's own notes on the fetch (`FetchResponse::notes`) join the note.
//! - **Errors.** [`send_error_status`] and [`send_error_tag`] map a failed fetch to the
//!   hostcall status (Viceroy's: `ERROR`, or `HTTPINVALID`/`HTTPINCOMPLETE` for a bad
//!   or cut response) and to the `send_error_detail` tag the SDK turns into a
//!   `SendErrorCause`.

use crate::config::{split_url, BackendConfig, BackendHealth, MockConfig};
use crate::http::RequestParts;
use crate::http::{DownstreamRequest, Headers};
use crate::work::{BackendResponse, ConnectOptions, FetchErrorKind, FetchRequest};

/// The platform's connect timeout when a backend sets none (ms).
pub const DEFAULT_CONNECT_TIMEOUT_MS: u32 = 1_000;
/// The platform's first-byte timeout when a backend sets none (ms).
pub const DEFAULT_FIRST_BYTE_TIMEOUT_MS: u32 = 15_000;
/// The platform's between-bytes timeout when a backend sets none (ms).
pub const DEFAULT_BETWEEN_BYTES_TIMEOUT_MS: u32 = 10_000;
/// Backend requests one client request may make (the platform's limit).
pub const MAX_BACKEND_REQUESTS: u32 = 32;
/// Dynamic backends one client request may register (the platform's limit).
pub const MAX_DYNAMIC_BACKENDS: usize = 200;
/// Our token in `cdn-loop`.
pub const LOOP_TOKEN: &str = "edgeplay";
/// The URL a mock backend declared without `url` reads as.
pub const MOCK_URL: &str = "http://mock.invalid/";
/// The largest body gzip auto-decompression produces; past it the body is cut.
pub const MAX_DECOMPRESSED_BYTES: usize = 128 * 1024 * 1024;

/// A backend as requests see it: a `[local_server.backends]` entry or a dynamic one.
#[derive(Clone, Debug, PartialEq)]
pub struct Backend {
    /// Its name.
    pub name: String,
    /// `http` or `https`.
    pub scheme: String,
    /// Host and port as written in its URL (`127.0.0.1:8080`).
    pub authority: String,
    /// Host without the port.
    pub host: String,
    /// Port (80 or 443 when the URL has none).
    pub port: u16,
    /// Path prefix, ending with `/` (`/` for none).
    pub path_prefix: String,
    /// Host header override.
    pub override_host: Option<String>,
    /// Connect timeout (ms), if set.
    pub connect_timeout_ms: Option<u32>,
    /// First-byte timeout (ms), if set.
    pub first_byte_timeout_ms: Option<u32>,
    /// Between-bytes timeout (ms), if set.
    pub between_bytes_timeout_ms: Option<u32>,
    /// Minimum TLS version (`tls_version` enum), if set.
    pub ssl_min_version: Option<u32>,
    /// Maximum TLS version (`tls_version` enum), if set.
    pub ssl_max_version: Option<u32>,
    /// Registered by the guest.
    pub dynamic: bool,
    /// What `is_healthy` answers.
    pub health: BackendHealth,
    /// Share of requests that reach the origin, if simulated.
    pub reachable_percent: Option<u8>,
    /// The mock answer, for a mock backend.
    pub mock: Option<MockConfig>,
    /// HTTP keepalive time (ms).
    pub http_keepalive_time_ms: u32,
    /// TCP keepalive enabled (0/1).
    pub tcp_keepalive_enable: u32,
    /// TCP keepalive interval (s).
    pub tcp_keepalive_interval_secs: u32,
    /// TCP keepalive probes.
    pub tcp_keepalive_probes: u32,
    /// TCP keepalive idle time (s).
    pub tcp_keepalive_time_secs: u32,
    /// IPv6 preferred (the platform's default; `prefer_ipv4` turns it off).
    pub prefer_ipv6: bool,
    /// Pool limit: connections (0: none).
    pub max_connections: u32,
    /// Pool limit: uses per connection (0: none).
    pub max_use: u32,
    /// Pool limit: connection lifetime in ms (0: none).
    pub max_lifetime_ms: u32,
    /// TLS settings and gRPC, as the driver applies them ([`build_fetch`] adds
    /// `ssl_min_version`/`ssl_max_version` from the fields above).
    pub connect: ConnectOptions,
}

impl Backend {
    /// The backend a `[local_server.backends.NAME]` entry declares.
    pub fn from_config(name: &str, c: &BackendConfig) -> Result<Backend, String> {
        let url = if c.url.is_empty() && c.mock.is_some() {
            MOCK_URL
        } else {
            c.url.as_str()
        };
        let parts = split_url(url)?;
        let health = c.health.unwrap_or(match c.reachable_percent {
            None => BackendHealth::Unknown,
            Some(0) => BackendHealth::Unhealthy,
            Some(_) => BackendHealth::Healthy,
        });
        Ok(Backend {
            name: name.to_string(),
            scheme: parts.scheme,
            authority: parts.authority,
            host: parts.host,
            port: parts.port,
            path_prefix: parts.path_prefix,
            override_host: c.override_host.clone(),
            connect_timeout_ms: c.connect_timeout_ms,
            first_byte_timeout_ms: c.first_byte_timeout_ms,
            between_bytes_timeout_ms: c.between_bytes_timeout_ms,
            ssl_min_version: None,
            ssl_max_version: None,
            dynamic: false,
            health,
            reachable_percent: c.reachable_percent,
            mock: c.mock.clone(),
            http_keepalive_time_ms: 0,
            tcp_keepalive_enable: 0,
            tcp_keepalive_interval_secs: 0,
            tcp_keepalive_probes: 0,
            tcp_keepalive_time_secs: 0,
            prefer_ipv6: true,
            max_connections: 0,
            max_use: 0,
            max_lifetime_ms: 0,
            connect: ConnectOptions {
                ca_cert: c.ca_certificate.clone(),
                cert_host: c.cert_host.clone(),
                no_sni: c.use_sni == Some(false),
                grpc: c.grpc.unwrap_or(false),
                ..ConnectOptions::default()
            },
        })
    }

    /// A dynamic backend to `target` (`host` or `host:port`), plain or TLS, with every
    /// option unset.
    pub fn dynamic(name: &str, target: &str, tls: bool) -> Result<Backend, String> {
        let scheme = if tls { "https" } else { "http" };
        let authority: http::uri::Authority = target
            .parse()
            .map_err(|_| format!("{target:?} is not a host or host:port"))?;
        if authority.as_str().contains('@') {
            return Err(format!("{target:?} is not a host or host:port"));
        }
        let parts = split_url(&format!("{scheme}://{authority}/"))?;
        let mut b = Backend::from_config(
            name,
            &BackendConfig {
                url: format!("{scheme}://{authority}/"),
                ..BackendConfig::default()
            },
        )?;
        b.dynamic = true;
        b.authority = parts.authority;
        Ok(b)
    }

    /// True when requests go over TLS.
    pub fn is_tls(&self) -> bool {
        self.scheme == "https"
    }

    /// The connect timeout in force (the backend's, else the platform's default).
    pub fn effective_connect_timeout_ms(&self) -> u32 {
        nonzero_or(self.connect_timeout_ms, DEFAULT_CONNECT_TIMEOUT_MS)
    }

    /// The first-byte timeout in force.
    pub fn effective_first_byte_timeout_ms(&self) -> u32 {
        nonzero_or(self.first_byte_timeout_ms, DEFAULT_FIRST_BYTE_TIMEOUT_MS)
    }

    /// The between-bytes timeout in force.
    pub fn effective_between_bytes_timeout_ms(&self) -> u32 {
        nonzero_or(
            self.between_bytes_timeout_ms,
            DEFAULT_BETWEEN_BYTES_TIMEOUT_MS,
        )
    }
}

fn nonzero_or(v: Option<u32>, default: u32) -> u32 {
    match v {
        Some(n) if n > 0 => n,
        _ => default,
    }
}

/// The URL a request for `path_and_query` goes to: the backend's scheme, authority
/// and path prefix, then the path (without doubling the `/`) and query.
pub fn backend_url(backend: &Backend, path_and_query: &str) -> String {
    let mut url = format!(
        "{}://{}{}",
        backend.scheme, backend.authority, backend.path_prefix
    );
    url.push_str(path_and_query.strip_prefix('/').unwrap_or(path_and_query));
    url
}

/// The Host header of a backend request, as Viceroy picks it: the backend's
/// `override_host`, else the request's own Host header, else the authority of the
/// request's URL, else the backend's host.
pub fn host_header(backend: &Backend, headers: &Headers, uri: Option<&http::Uri>) -> Vec<u8> {
    if let Some(h) = &backend.override_host {
        return h.as_bytes().to_vec();
    }
    if let Some(h) = headers.get("host") {
        return h.to_vec();
    }
    if let Some(a) = uri.and_then(|u| u.authority()) {
        return a.as_str().as_bytes().to_vec();
    }
    backend.host.as_bytes().to_vec()
}

/// Append our token to `cdn-loop` (one header line: the existing values, then ours).
pub fn add_loop_token(headers: &mut Headers) {
    let existing: Vec<Vec<u8>> = headers
        .get_all("cdn-loop")
        .into_iter()
        .map(<[u8]>::to_vec)
        .filter(|v| !v.iter().all(u8::is_ascii_whitespace))
        .collect();
    let mut value = existing.join(&b", "[..]);
    if !value.is_empty() {
        value.extend_from_slice(b", ");
    }
    value.extend_from_slice(LOOP_TOKEN.as_bytes());
    headers.insert("cdn-loop", value);
}

/// How many times our token appears in `cdn-loop` (RFC 8586: a list of `token [;params]`).
pub fn loop_hops(headers: &Headers) -> usize {
    headers
        .get_all("cdn-loop")
        .into_iter()
        .map(|v| {
            String::from_utf8_lossy(v)
                .split(',')
                .filter(|item| {
                    item.split(';')
                        .next()
                        .map(str::trim)
                        .is_some_and(|t| t.eq_ignore_ascii_case(LOOP_TOKEN))
                })
                .count()
        })
        .sum()
}

/// Passes through this service a request may already have made before it is refused.
/// The platform refuses a request only once it has looped too many times, so a
/// service may fetch itself; the number is not documented: edgeplay allows a request
/// that came back through five of its own backend requests and refuses the sixth.
pub const MAX_LOOP_HOPS: usize = 5;

/// True when a client request has already gone through [`MAX_LOOP_HOPS`] of our
/// backend requests (its `cdn-loop` carries our token that often): drivers answer
/// [`crate::collect::loop_detected_response`] without running the guest, as the
/// platform does. Fewer passes run the guest: a service may call itself.
pub fn loop_detected(req: &DownstreamRequest) -> bool {
    loop_hops(&req.headers) >= MAX_LOOP_HOPS
}

/// The body of the 508 answer to a looping request.
pub const LOOP_DETECTED_BODY: &str = "Loop detected: this request already went through this edgeplay service 5 times (its cdn-loop header carries the `edgeplay` token once per pass). A backend probably points back at the service itself.\n";

/// True when the header values make valid manual framing (as Viceroy checks it): one
/// all-digit `content-length`, or one `transfer-encoding: chunked`, and at least one.
/// Requests and downstream responses share it ([`crate::collect::apply_response_framing`]).
pub(crate) fn manual_framing_valid(headers: &Headers) -> Result<(), &'static str> {
    let cl = headers.get_all("content-length");
    let te = headers.get_all("transfer-encoding");
    if cl.len() > 1
        || cl
            .first()
            .is_some_and(|v| v.is_empty() || !v.iter().all(u8::is_ascii_digit))
    {
        return Err("malformed content-length");
    }
    if te.len() > 1
        || te
            .first()
            .is_some_and(|v| !v.eq_ignore_ascii_case(b"chunked"))
    {
        return Err("unsupported transfer-encoding");
    }
    if cl.is_empty() && te.is_empty() {
        return Err("neither content-length nor transfer-encoding");
    }
    Ok(())
}

/// Build the wire request for `parts` with `body` to `backend`. Returns the request and
/// notes for the trace (e.g. a manual framing that fell back to automatic).
pub fn build_fetch(
    backend: &Backend,
    parts: &RequestParts,
    body: Vec<u8>,
) -> (FetchRequest, Vec<String>) {
    let mut notes = Vec::new();
    let uri: Option<http::Uri> = parts.uri.parse().ok();
    let path_and_query = uri
        .as_ref()
        .and_then(|u| u.path_and_query())
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    let url = backend_url(backend, &path_and_query);
    let mut headers = parts.headers.clone();
    let host = host_header(backend, &parts.headers, uri.as_ref());
    headers.insert("host", host);
    add_loop_token(&mut headers);
    let mut manual = parts.framing_mode == 1;
    if manual {
        if let Err(why) = manual_framing_valid(&headers) {
            notes.push(format!(
                "manual framing falls back to automatic: {why} (as Viceroy)"
            ));
            manual = false;
        }
    }
    if !manual {
        headers.remove("content-length");
        headers.remove("transfer-encoding");
    }
    let fetch = FetchRequest {
        backend: backend.name.clone(),
        method: parts.method.clone(),
        url,
        headers,
        body,
        body_stream: false,
        connect_timeout_ms: Some(backend.effective_connect_timeout_ms()),
        first_byte_timeout_ms: Some(backend.effective_first_byte_timeout_ms()),
        between_bytes_timeout_ms: Some(backend.effective_between_bytes_timeout_ms()),
        // gzip auto-decompression works on the whole body.
        stream_response: parts.auto_decompress & 1 == 0,
        connect: connect_options(backend),
    };
    (fetch, notes)
}

/// The connection options a fetch to `backend` carries: `None` when everything is
/// the default. TLS settings of a plain `http` backend are dropped (they apply to
/// nothing); gRPC applies to both.
pub fn connect_options(backend: &Backend) -> Option<Box<ConnectOptions>> {
    let mut c = backend.connect.clone();
    c.min_version = backend.ssl_min_version;
    c.max_version = backend.ssl_max_version;
    if !backend.is_tls() {
        c = ConnectOptions {
            grpc: c.grpc,
            ..ConnectOptions::default()
        };
    }
    (c != ConnectOptions::default()).then(|| Box::new(c))
}

/// Fastlike's synthetic 502 for a request an unreliable backend drops.
pub fn simulated_failure(reachable_percent: u8) -> BackendResponse {
    let mut headers = Headers::new();
    headers.append("content-type", "text/plain; charset=utf-8");
    BackendResponse {
        status: 502,
        headers,
        body: format!(
            "Backend request failed: simulated backend failure (uptime={reachable_percent}%)"
        )
        .into_bytes(),
        body_error: None,
        stream: None,
        remote_addr: None,
    }
}

/// A mock backend's answer to `fetch`.
pub fn mock_answer(mock: &MockConfig, fetch: &FetchRequest) -> BackendResponse {
    let mut headers = Headers::new();
    let body;
    let status;
    if mock.echo {
        status = 200;
        if let Some(ct) = fetch.headers.get("content-type") {
            headers.append("content-type", ct.to_vec());
        }
        headers.append("x-echo-method", fetch.method.as_bytes().to_vec());
        headers.append("x-echo-url", fetch.url.as_bytes().to_vec());
        if let Some(h) = fetch.headers.get("host") {
            headers.append("x-echo-host", h.to_vec());
        }
        for (n, v) in fetch.headers.iter() {
            headers.append(&format!("x-echo-header-{n}"), v.to_vec());
        }
        body = fetch.body.clone();
    } else {
        status = mock.status;
        for (n, v) in &mock.headers {
            headers.append(n, v.as_bytes().to_vec());
        }
        body = mock.body.as_bytes().to_vec();
    }
    if headers.get("content-length").is_none() && headers.get("transfer-encoding").is_none() {
        headers.append("content-length", body.len().to_string());
    }
    BackendResponse {
        status,
        headers,
        body,
        body_error: None,
        stream: None,
        remote_addr: None,
    }
}

/// Decompress a gzip body (every member). On corrupt data, the bytes decoded so far
/// and what went wrong.
pub fn gunzip(data: &[u8]) -> Result<Vec<u8>, (Vec<u8>, String)> {
    use std::io::Read;
    let mut out = Vec::new();
    let mut dec = flate2::read::MultiGzDecoder::new(data).take(MAX_DECOMPRESSED_BYTES as u64 + 1);
    match dec.read_to_end(&mut out) {
        Ok(_) if out.len() > MAX_DECOMPRESSED_BYTES => {
            out.truncate(MAX_DECOMPRESSED_BYTES);
            Err((
                out,
                format!("the decompressed body is larger than {MAX_DECOMPRESSED_BYTES} bytes"),
            ))
        }
        Ok(_) => Ok(out),
        Err(e) => Err((out, e.to_string())),
    }
}

/// The hostcall status of a failed send (Viceroy's mapping: a response that is not
/// valid HTTP is HTTPINVALID, a cut one HTTPINCOMPLETE, everything else ERROR).
pub fn send_error_status(kind: FetchErrorKind) -> crate::status::Status {
    use crate::status::Status;
    match kind {
        FetchErrorKind::HttpProtocolError => Status::HTTPINVALID,
        FetchErrorKind::HttpIncompleteResponse => Status::HTTPINCOMPLETE,
        _ => Status::ERROR,
    }
}

/// `send_error_detail_tag` values.
pub mod tag {
    /// `ok`
    pub const OK: u32 = 1;
    /// `dns_timeout`
    pub const DNS_TIMEOUT: u32 = 2;
    /// `dns_error`
    pub const DNS_ERROR: u32 = 3;
    /// `destination_not_found`
    pub const DESTINATION_NOT_FOUND: u32 = 4;
    /// `connection_refused`
    pub const CONNECTION_REFUSED: u32 = 7;
    /// `connection_terminated`
    pub const CONNECTION_TERMINATED: u32 = 8;
    /// `connection_timeout`
    pub const CONNECTION_TIMEOUT: u32 = 9;
    /// `tls_certificate_error`
    pub const TLS_CERTIFICATE_ERROR: u32 = 11;
    /// `tls_configuration_error`
    pub const TLS_CONFIGURATION_ERROR: u32 = 12;
    /// `tls_alert_received`
    pub const TLS_ALERT_RECEIVED: u32 = 23;
    /// `tls_protocol_error`
    pub const TLS_PROTOCOL_ERROR: u32 = 24;
    /// `http_incomplete_response`
    pub const HTTP_INCOMPLETE_RESPONSE: u32 = 13;
    /// `http_response_timeout`
    pub const HTTP_RESPONSE_TIMEOUT: u32 = 16;
    /// `http_protocol_error`
    pub const HTTP_PROTOCOL_ERROR: u32 = 19;
    /// `internal_error`
    pub const INTERNAL_ERROR: u32 = 22;
}

/// The `send_error_detail_tag` of a failed fetch.
pub fn send_error_tag(kind: FetchErrorKind) -> u32 {
    match kind {
        FetchErrorKind::DnsError => tag::DNS_ERROR,
        FetchErrorKind::DnsTimeout => tag::DNS_TIMEOUT,
        FetchErrorKind::ConnectionRefused => tag::CONNECTION_REFUSED,
        FetchErrorKind::ConnectionTimeout => tag::CONNECTION_TIMEOUT,
        FetchErrorKind::ConnectionTerminated => tag::CONNECTION_TERMINATED,
        FetchErrorKind::HttpResponseTimeout => tag::HTTP_RESPONSE_TIMEOUT,
        FetchErrorKind::HttpProtocolError => tag::HTTP_PROTOCOL_ERROR,
        FetchErrorKind::HttpIncompleteResponse => tag::HTTP_INCOMPLETE_RESPONSE,
        FetchErrorKind::TlsCertificateError => tag::TLS_CERTIFICATE_ERROR,
        FetchErrorKind::BrowserBlocked | FetchErrorKind::InternalError => tag::INTERNAL_ERROR,
        FetchErrorKind::TlsConfigurationError => tag::TLS_CONFIGURATION_ERROR,
        FetchErrorKind::TlsAlertReceived => tag::TLS_ALERT_RECEIVED,
        FetchErrorKind::TlsProtocolError => tag::TLS_PROTOCOL_ERROR,
    }
}

/// The name of a failure kind, as the trace shows it.
pub fn error_kind_name(kind: FetchErrorKind) -> &'static str {
    match kind {
        FetchErrorKind::DnsError => "dns_error",
        FetchErrorKind::DnsTimeout => "dns_timeout",
        FetchErrorKind::ConnectionRefused => "connection_refused",
        FetchErrorKind::ConnectionTimeout => "connection_timeout",
        FetchErrorKind::ConnectionTerminated => "connection_terminated",
        FetchErrorKind::HttpResponseTimeout => "http_response_timeout",
        FetchErrorKind::HttpProtocolError => "http_protocol_error",
        FetchErrorKind::HttpIncompleteResponse => "http_incomplete_response",
        FetchErrorKind::TlsCertificateError => "tls_certificate_error",
        FetchErrorKind::BrowserBlocked => "browser_blocked",
        FetchErrorKind::InternalError => "internal_error",
        FetchErrorKind::TlsConfigurationError => "tls_configuration_error",
        FetchErrorKind::TlsAlertReceived => "tls_alert_received",
        FetchErrorKind::TlsProtocolError => "tls_protocol_error",
    }
}

/// The status of the error response `send_downstream_pending` sends for a failed
/// request (Viceroy's: 504 for a timeout, 502 otherwise).
pub fn error_response_status(kind: FetchErrorKind) -> u16 {
    match kind {
        FetchErrorKind::HttpResponseTimeout => 504,
        _ => 502,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backend(url: &str) -> Backend {
        Backend::from_config(
            "b",
            &BackendConfig {
                url: url.into(),
                ..BackendConfig::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn urls_join_prefix_and_path() {
        assert_eq!(
            backend_url(&backend("http://127.0.0.1:8080"), "/a?b=1"),
            "http://127.0.0.1:8080/a?b=1"
        );
        assert_eq!(
            backend_url(&backend("https://example.com/api"), "/v1/x"),
            "https://example.com/api/v1/x"
        );
        assert_eq!(
            backend_url(&backend("https://example.com/api/"), "/"),
            "https://example.com/api/"
        );
        assert_eq!(backend("https://example.com").port, 443);
    }

    #[test]
    fn loop_token_is_appended_and_detected() {
        let mut h = Headers::new();
        add_loop_token(&mut h);
        assert_eq!(h.get("cdn-loop"), Some(&b"edgeplay"[..]));
        let mut h = Headers::new();
        h.append("cdn-loop", "fastly");
        h.append("cdn-loop", "other; v=1");
        add_loop_token(&mut h);
        assert_eq!(
            h.get_all("cdn-loop"),
            vec![&b"fastly, other; v=1, edgeplay"[..]]
        );
        let req = DownstreamRequest::new("GET", "/").with_header("CDN-Loop", "a, EdgePlay; x=1");
        assert_eq!(
            loop_hops(&req.headers),
            1,
            "tokens match case-insensitively, params aside"
        );
        assert!(
            !loop_detected(&req),
            "one pass through the service is allowed"
        );
        let req = DownstreamRequest::new("GET", "/").with_header("cdn-loop", "edgeplayer");
        assert_eq!(loop_hops(&req.headers), 0);
        assert!(!loop_detected(&DownstreamRequest::new("GET", "/")));
        // Hops are counted across values and header lines.
        let mut req = DownstreamRequest::new("GET", "/")
            .with_header("cdn-loop", "edgeplay, fastly, edgeplay")
            .with_header("cdn-loop", "edgeplay");
        assert_eq!(loop_hops(&req.headers), 3);
        assert!(!loop_detected(&req));
        for _ in 3..MAX_LOOP_HOPS {
            add_loop_token(&mut req.headers);
        }
        assert_eq!(loop_hops(&req.headers), MAX_LOOP_HOPS);
        assert!(loop_detected(&req), "the sixth entry is refused");
    }

    #[test]
    fn gzip_round_trip_and_corruption() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(b"hello gzip").unwrap();
        let gz = enc.finish().unwrap();
        assert_eq!(gunzip(&gz).unwrap(), b"hello gzip");
        assert!(gunzip(b"not gzip").is_err());
    }
}
