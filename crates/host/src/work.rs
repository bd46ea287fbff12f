//! The async boundary's contract: the outside work a guest asks for (sleeps, backend
//! fetches, streaming upload chunks), its results, and the backend responses and
//! failures the core makes of them. Plain data: the drivers (native, browser, tests)
//! perform the work and hand the results back.

use crate::http::{DownstreamRequest, Headers};
use serde::{Deserialize, Serialize};

/// An id for outside work the driver performs.
pub type WorkId = u64;

/// Outside work the guest asked for; the driver performs it and calls
/// [`crate::Execution::complete`].
#[derive(Clone, Debug, PartialEq)]
pub enum WorkKind {
    /// Wait `ns` nanoseconds (a WASI `poll_oneoff` clock subscription).
    Sleep {
        /// How long.
        ns: u64,
    },
    /// Send a request to an origin and return its whole response
    /// ([`WorkResult::Fetched`] or [`WorkResult::FetchFailed`]).
    Fetch(Box<FetchRequest>),
    /// More bytes of the streaming body of the fetch `fetch` (a [`WorkKind::Fetch`]
    /// with [`FetchRequest::body_stream`] set), in order. The driver completes it with
    /// [`WorkResult::Sent`] once the platform has taken the bytes (or the fetch is
    /// over), or [`WorkResult::FetchFailed`] once the request has failed: the guest's
    /// write waits for that, so an origin that stops reading stops the guest's writes
    /// (backpressure) instead of letting the upload grow in memory.
    FetchBodyChunk {
        /// The work id of the fetch.
        fetch: WorkId,
        /// The bytes, to send after everything before them.
        bytes: Vec<u8>,
    },
    /// The end of the streaming body of the fetch `fetch`. `abandoned`: the guest
    /// abandoned the body (or ended without closing it), so the origin must see an
    /// incomplete body (the driver aborts the request). Fire-and-forget: the driver
    /// passes it on and never completes it.
    FetchBodyEnd {
        /// The work id of the fetch.
        fetch: WorkId,
        /// True when the body is cut off rather than complete.
        abandoned: bool,
    },
    /// The next bytes of the response body of the fetch `fetch`, which was answered
    /// with [`WorkResult::FetchedHead`]: completed with [`WorkResult::BodyChunk`] (the
    /// bytes that arrived since the last read, or the end), or
    /// [`WorkResult::FetchFailed`] when the body breaks off or pauses longer than the
    /// between-bytes timeout. At most one read per fetch is under way at a time.
    FetchBodyRead {
        /// The work id of the fetch.
        fetch: WorkId,
    },
    /// A reusable sandbox (`next_request_wait`) waits for a further downstream request:
    /// completed with [`WorkResult::NextRequest`] — the request, or `None` when none
    /// comes within the wait ([`crate::driver::next_request_wait_ms`] of `timeout_ms`)
    /// or the platform has no room for another waiting instance. Only a platform whose
    /// [`crate::driver::Capabilities::reuses_sandboxes`] is true sees it.
    NextRequest {
        /// The wait the guest asked for (`next_request` options), if any.
        timeout_ms: Option<u64>,
    },
}

/// A further downstream request handed to a reusable sandbox.
#[derive(Clone, Debug, PartialEq)]
pub struct NextDownstream {
    /// The request.
    pub request: DownstreamRequest,
    /// Its request id (`downstream_client_request_id`).
    pub request_id: String,
}

/// A backend request, exactly as it should go on the wire: the core has already
/// applied the backend's URL, `override_host`, the `cdn-loop` token and framing.
/// The driver only performs it (native: hyper; browser: `fetch`).
///
/// - `url` is the backend's scheme, host, port and path prefix, then the guest
///   request's path and query ([`crate::backends::backend_url`]).
/// - `headers` always hold `host` (the backend's `override_host`, else the guest
///   request's Host header, else its URL's authority, else the backend's host, as
///   Viceroy picks it) and `cdn-loop` with the `edgeplay` token appended.
/// - `content-length`/`transfer-encoding` are present only when the guest chose
///   manual framing (`framing_headers_mode_set(1)`) with valid values; otherwise the
///   driver frames `body` itself.
/// - The timeouts are always set: the backend's values, or the platform's defaults
///   ([`crate::backends::DEFAULT_CONNECT_TIMEOUT_MS`] and its siblings).
/// - A streaming upload (`send_async_streaming`) starts at once with
///   [`FetchRequest::body_stream`] set: `body` holds the bytes the body had when it
///   was sent, the rest follows as [`WorkKind::FetchBodyChunk`] work and ends with
///   [`WorkKind::FetchBodyEnd`]. The driver sends the head at once and streams the
///   body (native), or may buffer it and send it whole at the end (browser). The
///   origin may answer before the body ends. (To a mock or unreliable backend the
///   upload is buffered instead: the fetch starts when the guest closes the body.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FetchRequest {
    /// The backend's name (for the trace and error messages).
    pub backend: String,
    /// Method.
    pub method: String,
    /// Absolute URL to request (`http://127.0.0.1:8080/path?q`).
    pub url: String,
    /// Headers to send, including `host`.
    pub headers: Headers,
    /// The whole request body; with `body_stream`, its first bytes.
    pub body: Vec<u8>,
    /// True when the body streams: more follows as [`WorkKind::FetchBodyChunk`] work
    /// naming this fetch, up to a [`WorkKind::FetchBodyEnd`].
    #[serde(default)]
    pub body_stream: bool,
    /// Connect timeout.
    pub connect_timeout_ms: Option<u32>,
    /// Time allowed until the response head arrives.
    pub first_byte_timeout_ms: Option<u32>,
    /// Longest pause allowed between two body chunks.
    pub between_bytes_timeout_ms: Option<u32>,
    /// The driver may answer with the head alone ([`WorkResult::FetchedHead`]) and
    /// stream the body ([`WorkKind::FetchBodyRead`]), as the platform does. False when
    /// the core needs the whole body (gzip auto-decompression).
    #[serde(default)]
    pub stream_response: bool,
    /// How to connect, when the backend sets anything beyond its URL (TLS options, gRPC);
    /// `None`: the defaults (the system's roots, SNI and verification for the URL's
    /// host, HTTP/1.1).
    #[serde(default)]
    pub connect: Option<Box<ConnectOptions>>,
}

/// A backend's connection options beyond its URL: its TLS settings (dynamic backends'
/// `ca_cert`, `client_cert`, `cert_hostname`, `sni_hostname`, `ssl_min_version`,
/// `ssl_max_version`; a static backend's `ca_certificate`, `cert_host`, `use_sni`) and
/// whether it speaks gRPC. The TLS settings matter only to an `https` URL.
#[derive(Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConnectOptions {
    /// PEM certificates to trust instead of the default roots.
    pub ca_cert: Option<String>,
    /// PEM certificate chain to present as the client.
    pub client_cert: Option<String>,
    /// PEM private key of `client_cert` (a secret's plaintext).
    pub client_key: Option<String>,
    /// The name the origin's certificate must carry (default: the URL's host).
    pub cert_host: Option<String>,
    /// The SNI name to send (default: `cert_host`, else the URL's host).
    pub sni_hostname: Option<String>,
    /// Send no SNI (`use_sni = false`, or an empty `sni_hostname`).
    pub no_sni: bool,
    /// Lowest TLS version (`tls_version` enum: 0 1.0, 1 1.1, 2 1.2, 3 1.3).
    pub min_version: Option<u32>,
    /// Highest TLS version (`tls_version` enum).
    pub max_version: Option<u32>,
    /// The backend speaks gRPC: HTTP/2 (ALPN `h2` over TLS, prior-knowledge h2c for `http`).
    pub grpc: bool,
}

impl std::fmt::Debug for ConnectOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The client key is a secret: never printed.
        f.debug_struct("ConnectOptions")
            .field("ca_cert", &self.ca_cert.as_ref().map(|c| c.len()))
            .field("client_cert", &self.client_cert.as_ref().map(|c| c.len()))
            .field("client_key", &self.client_key.as_ref().map(|_| "<secret>"))
            .field("cert_host", &self.cert_host)
            .field("sni_hostname", &self.sni_hostname)
            .field("no_sni", &self.no_sni)
            .field("min_version", &self.min_version)
            .field("max_version", &self.max_version)
            .field("grpc", &self.grpc)
            .finish()
    }
}

impl ConnectOptions {
    /// True when any TLS setting differs from the defaults.
    pub fn has_tls_settings(&self) -> bool {
        let defaults = ConnectOptions {
            grpc: self.grpc,
            ..ConnectOptions::default()
        };
        *self != defaults
    }

    /// Names of the settings that differ from the defaults, for notes (`ca_cert`,
    /// `grpc`, ...).
    pub fn set_names(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        let mut add = |on: bool, n: &'static str| {
            if on {
                v.push(n);
            }
        };
        add(self.ca_cert.is_some(), "ca_cert");
        add(self.client_cert.is_some(), "client_cert");
        add(self.cert_host.is_some(), "cert_host");
        add(self.sni_hostname.is_some() || self.no_sni, "sni_hostname");
        add(self.min_version.is_some(), "ssl_min_version");
        add(self.max_version.is_some(), "ssl_max_version");
        add(self.grpc, "grpc");
        v
    }
}

impl FetchRequest {
    /// A `GET` of `url` to `backend`: no headers, no body, the platform's default
    /// timeouts, answered whole (callers set what else they need).
    pub fn get(backend: &str, url: &str) -> FetchRequest {
        FetchRequest {
            backend: backend.into(),
            method: "GET".into(),
            url: url.into(),
            headers: Headers::new(),
            body: Vec::new(),
            body_stream: false,
            connect_timeout_ms: None,
            first_byte_timeout_ms: None,
            between_bytes_timeout_ms: None,
            stream_response: false,
            connect: None,
        }
    }
}

/// A backend response, whole.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FetchResponse {
    /// Status code.
    pub status: u16,
    /// Headers as received.
    pub headers: Headers,
    /// The whole body (still content-encoded; the core decompresses when asked).
    pub body: Vec<u8>,
    /// The address the response came from, when the platform knows it.
    pub remote_addr: Option<std::net::SocketAddr>,
    /// Microseconds from the start of the fetch to the response head.
    pub first_byte_us: u64,
    /// Microseconds from the start of the fetch to the end of the body.
    pub end_us: u64,
    /// Request headers the driver could not send as the guest set them (a browser
    /// page may not set `Host`, `Connection`, ...): the fetch's trace event lists them.
    #[serde(default)]
    pub headers_not_sent: Vec<String>,
    /// What the driver changed or could not do (a followed redirect, a dropped body,
    /// ...): notes on the fetch's trace event.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// Why a fetch failed, as `send_error_detail` tags name it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FetchErrorKind {
    /// DNS lookup failed.
    DnsError,
    /// DNS lookup timed out.
    DnsTimeout,
    /// The connection was refused.
    ConnectionRefused,
    /// The connection could not be made in time.
    ConnectionTimeout,
    /// The connection ended early.
    ConnectionTerminated,
    /// No response head within the first-byte timeout, or a body pause over the between-bytes timeout.
    HttpResponseTimeout,
    /// The response was not valid HTTP.
    HttpProtocolError,
    /// The response ended before its body was complete.
    HttpIncompleteResponse,
    /// TLS certificate problem.
    TlsCertificateError,
    /// The browser refused the request (CORS or a forbidden request): the page cannot
    /// tell why, so this is reported as its own kind with an explanation.
    BrowserBlocked,
    /// Anything else.
    InternalError,
    /// The TLS settings could not be used (a CA certificate or client key that does
    /// not parse, a version range TLS 1.2 and 1.3 cannot meet).
    TlsConfigurationError,
    /// The origin ended the TLS handshake with an alert (it wanted a client
    /// certificate, or none of the offered versions).
    TlsAlertReceived,
    /// The TLS handshake broke down otherwise (no version or cipher in common, a
    /// peer that misbehaves).
    TlsProtocolError,
}

/// A failed fetch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FetchError {
    /// What kind of failure.
    pub kind: FetchErrorKind,
    /// A human explanation (shown in the trace and in errors).
    pub message: String,
    /// Request headers the driver could not send as the guest set them (see
    /// [`FetchResponse::headers_not_sent`]).
    #[serde(default)]
    pub headers_not_sent: Vec<String>,
    /// What the driver changed or could not do, besides the failure itself.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// A piece of outside work with its id.
#[derive(Clone, Debug, PartialEq)]
pub struct Work {
    /// The id to complete it with.
    pub id: WorkId,
    /// What to do.
    pub kind: WorkKind,
}

/// The result of outside work.
#[derive(Clone, Debug, PartialEq)]
pub enum WorkResult {
    /// The sleep finished.
    Slept,
    /// The platform took an upload chunk ([`WorkKind::FetchBodyChunk`]).
    Sent,
    /// The fetch got a response.
    Fetched(Box<FetchResponse>),
    /// The fetch got the head of a response whose body streams (only for a request
    /// with [`FetchRequest::stream_response`]): `body` holds the bytes that came with
    /// the head, `end_us` is the time of the head, and the rest is read with
    /// [`WorkKind::FetchBodyRead`].
    FetchedHead(Box<FetchResponse>),
    /// Bytes of a streaming response body ([`WorkKind::FetchBodyRead`]); `end`: the body
    /// is complete after them.
    BodyChunk {
        /// The bytes (may be empty at the end).
        bytes: Vec<u8>,
        /// True when nothing follows.
        end: bool,
    },
    /// The fetch failed.
    FetchFailed(FetchError),
    /// The answer to [`WorkKind::NextRequest`]: a further request, or `None` (no
    /// further request: the guest sees NONE).
    NextRequest(Option<Box<NextDownstream>>),
}

/// A backend response as the guest receives it (decompressed when asked).
#[derive(Clone, Debug, PartialEq)]
pub struct BackendResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Headers,
    /// The whole body (as decoded, when it was decompressed).
    pub body: Vec<u8>,
    /// Why the body stops short of what the origin sent (a gzip stream that would not
    /// decompress): `body` is what was decoded before the error, and reading past it
    /// is an error (see `Body::error` in `crate::session`).
    pub body_error: Option<String>,
    /// The fetch whose body is still streaming after `body` (read with
    /// [`WorkKind::FetchBodyRead`]), and its announced length.
    pub stream: Option<WorkId>,
    /// The address it came from, when known.
    pub remote_addr: Option<std::net::SocketAddr>,
}

/// Why a backend request failed.
#[derive(Clone, Debug, PartialEq)]
pub struct SendFailure {
    /// The failure, as `send_error_detail` names it.
    pub kind: FetchErrorKind,
    /// A human explanation.
    pub message: String,
}
