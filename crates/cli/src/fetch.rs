//! Backend fetches for the native driver: one pooled HTTP/1.1 client (hyper 1 and
//! hyper-util's legacy `Client`, https through rustls) performs each
//! [`FetchRequest`] exactly as the core built it.
//!
//! The core has already applied the backend's URL, `override_host`, the `cdn-loop`
//! token and the framing headers; [`fetch`] sends `method`, `url`, `headers` and
//! `body` as they are (it adds a `host` header only if the request has none, as
//! HTTP/1.1 requires). The response stays content-encoded. With
//! [`FetchRequest::stream_response`] ([`fetch_with`]) a body that is not all there
//! with the head streams: the fetch answers [`WorkResult::FetchedHead`] with what came
//! (up to [`HEAD_GATHER_LIMIT`]) and a [`ResponseStream`] the driver reads on for each
//! `FetchBodyRead`, each read bounded by the between-bytes timeout; otherwise
//! ([`fetch`]) the whole body is collected.
//!
//! Timeouts (each `None`, or `Some(0)`, means the platform's default):
//!
//! | timeout | default | enforced | error |
//! |---|---|---|---|
//! | `connect_timeout_ms` | [`DEFAULT_CONNECT_TIMEOUT_MS`] | by the connector, per TCP connect | `ConnectionTimeout` |
//! | `first_byte_timeout_ms` | [`DEFAULT_FIRST_BYTE_TIMEOUT_MS`] | from the start of the fetch to the response head (as Viceroy) | `HttpResponseTimeout` |
//! | `between_bytes_timeout_ms` | [`DEFAULT_BETWEEN_BYTES_TIMEOUT_MS`] | between the head and each body frame | `HttpResponseTimeout` |
//!
//! The defaults are the platform's, 1 s / 15 s / 10 s (the core's
//! `edgeplay_host::backends` constants; Viceroy's dynamic-backend defaults use the
//! same numbers). Viceroy itself enforces no timeout unless `fastly.toml` sets one;
//! edgeplay follows the platform there.
//!
//! A streaming upload ([`FetchRequest::body_stream`], from `send_async_streaming`)
//! goes out at once: [`fetch_streaming`] sends the head with a channel-backed body
//! ([`UploadBody`]; `transfer-encoding: chunked` unless the guest set a
//! `content-length` in manual framing mode), the driver pushes each
//! `WorkKind::FetchBodyChunk` into the channel ([`UploadSender`]) as the guest writes,
//! and `FetchBodyEnd` ends the body, or, abandoned, makes the body fail so hyper cuts
//! the request off and the origin sees an incomplete body. The origin may answer
//! before the body ends.
//!
//! Every fetch is a future on the tokio runtime; nothing blocks a thread, so many
//! fetches (of one guest or of many) run at once.
//!
//! **Connection options** ([`FetchRequest::connect`], from a dynamic backend's TLS
//! options or a static backend's `ca_certificate`/`cert_host`/`use_sni`/`grpc`) get a
//! rustls configuration and a pooled client of their own, one per distinct set:
//!
//! | option | applied as |
//! |---|---|
//! | `ca_cert` | the only trust roots (PEM; the system's roots are not consulted) |
//! | `client_cert` + key | presented when the origin asks for a client certificate (PEM chain, PEM key) |
//! | `cert_host` | the name the origin's certificate must carry (default: the URL's host) |
//! | `sni_hostname` | the SNI sent (default: `cert_host`, else the URL's host, as Viceroy); empty, or `use_sni = false`: none |
//! | `ssl_min_version`/`ssl_max_version` | the TLS versions offered; rustls has TLS 1.2 and 1.3 only, so a minimum of 1.0 or 1.1 reads as 1.2, and a maximum below 1.2 is a `TlsConfigurationError` |
//! | `grpc` | HTTP/2 only: ALPN `h2` over TLS, prior-knowledge h2c for `http` (other backends speak HTTP/1.1) |
//!
//! TLS failures are reported by kind: a certificate that does not verify is
//! `TlsCertificateError`, settings that cannot be used (a PEM that does not parse, an
//! impossible version range) `TlsConfigurationError`, an alert from the origin (it
//! wanted a client certificate, or none of the versions offered) `TlsAlertReceived`,
//! any other handshake failure `TlsProtocolError`. Connections note their TLS
//! failures (`WatchConnector`), so an HTTP/2 connection that the pool reports only
//! as "not ready" (an origin's alert after a TLS 1.3 handshake) is still explained.

use bytes::Bytes;
use edgeplay_host::{
    ConnectOptions, FetchError, FetchErrorKind, FetchRequest, FetchResponse, Headers, WorkResult,
};
use http::header::{HeaderName, HeaderValue, HOST};
use http::{Method, Request, Uri, Version};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, SizeHint};
use hyper_rustls::{FixedServerNameResolver, HttpsConnector};
use hyper_util::client::legacy::connect::{HttpConnector, HttpInfo};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use std::collections::HashMap;
use std::error::Error as StdError;
use std::pin::Pin;
use std::sync::{Arc, LazyLock, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// The platform's defaults (the core's, which it normally fills in already), used
/// when a request has no timeout of its own.
pub use edgeplay_host::backends::{
    DEFAULT_BETWEEN_BYTES_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_FIRST_BYTE_TIMEOUT_MS,
};

/// How long an idle pooled connection is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Most distinct connect timeouts that get a pooled client of their own; past that,
/// a request with yet another value gets a client (and connection) of its own.
const MAX_POOLED_CLIENTS: usize = 64;

type BoxError = Box<dyn StdError + Send + Sync>;
type RequestBody = BoxBody<Bytes, BoxError>;
type HttpClient = Client<WatchConnector, RequestBody>;
type TlsIo = hyper_rustls::MaybeHttpsStream<hyper_util::rt::TokioIo<tokio::net::TcpStream>>;

/// The last TLS failure seen on one client's connections, and when. Over HTTP/2 the
/// pooled client reports a connection that died in its TLS layer (an origin's alert
/// after a TLS 1.3 handshake, for a missing client certificate) only as "connection
/// was not ready": the request's failure is then explained from here.
type TlsSlot = Arc<Mutex<Option<(Instant, Failure)>>>;

/// [`HttpsConnector`] whose connections note their TLS failures in a [`TlsSlot`].
#[derive(Clone)]
struct WatchConnector {
    inner: HttpsConnector<HttpConnector>,
    slot: TlsSlot,
}

impl tower_service::Service<Uri> for WatchConnector {
    type Response = Watched;
    type Error = BoxError;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<Watched, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.inner.call(uri);
        let slot = self.slot.clone();
        Box::pin(async move {
            let io = connecting.await?;
            Ok(Watched { io, slot })
        })
    }
}

/// A backend connection that notes a TLS failure on it in its client's [`TlsSlot`].
struct Watched {
    io: TlsIo,
    slot: TlsSlot,
}

impl Watched {
    fn note<T>(&self, r: &Poll<std::io::Result<T>>) {
        let Poll::Ready(Err(e)) = r else {
            return;
        };
        let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
        while let Some(err) = cur {
            if let Some(t) = err.downcast_ref::<rustls::Error>() {
                let failure = (tls_kind(t), format!("TLS error: {t}"));
                *self
                    .slot
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) =
                    Some((Instant::now(), failure));
                return;
            }
            cur = next_cause(err);
        }
    }
}

impl hyper::rt::Read for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        self.note(&r);
        r
    }
}

impl hyper::rt::Write for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write(cx, buf);
        self.note(&r);
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let r = Pin::new(&mut self.io).poll_flush(cx);
        self.note(&r);
        r
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.note(&r);
        r
    }
}

impl hyper_util::client::legacy::connect::Connection for Watched {
    fn connected(&self) -> hyper_util::client::legacy::connect::Connected {
        self.io.connected()
    }
}

/// What the driver sends down a streaming upload's channel.
#[derive(Debug)]
pub enum UploadMsg {
    /// More body bytes.
    Data(Bytes),
    /// The body is complete.
    End,
    /// The body is cut off: the request is aborted.
    Abort,
}

/// The driver's end of a streaming upload's body channel.
pub type UploadSender = mpsc::Sender<UploadMsg>;

/// Chunks a streaming upload's channel holds before a write waits for the origin to
/// read (with hyper's own buffer, what an upload keeps in memory at most).
pub const UPLOAD_WINDOW: usize = 4;

/// The body of a streaming upload: the bytes it started with, then whatever comes down
/// its channel until [`UploadMsg::End`]. [`UploadMsg::Abort`], or the sender going away
/// without an end, fails the body, so hyper aborts the request rather than finish it.
#[derive(Debug)]
pub struct UploadBody {
    first: Option<Bytes>,
    rx: mpsc::Receiver<UploadMsg>,
    ended: bool,
    aborting: bool,
}

/// A channel for a streaming upload body that starts with `first`.
pub fn upload_channel(first: Vec<u8>) -> (UploadSender, UploadBody) {
    let (tx, rx) = mpsc::channel(UPLOAD_WINDOW);
    let first = (!first.is_empty()).then(|| Bytes::from(first));
    (
        tx,
        UploadBody {
            first,
            rx,
            ended: false,
            aborting: false,
        },
    )
}

impl Body for UploadBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if self.ended {
            return Poll::Ready(None);
        }
        if let Some(b) = self.first.take() {
            return Poll::Ready(Some(Ok(Frame::data(b))));
        }
        let aborted = || {
            std::io::Error::new(
                std::io::ErrorKind::ConnectionAborted,
                "the guest abandoned the streaming request body",
            )
        };
        if self.aborting {
            self.ended = true;
            return Poll::Ready(Some(Err(aborted())));
        }
        match self.rx.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(UploadMsg::Data(b))) => Poll::Ready(Some(Ok(Frame::data(b)))),
            Poll::Ready(Some(UploadMsg::End)) => {
                self.ended = true;
                Poll::Ready(None)
            }
            Poll::Ready(Some(UploadMsg::Abort)) | Poll::Ready(None) => {
                if !self.aborting {
                    // Let the connection flush what it has first (the head and the
                    // chunks before the abort went out as the guest wrote them).
                    self.aborting = true;
                    cx.waker().wake_by_ref();
                    return Poll::Pending;
                }
                self.ended = true;
                Poll::Ready(Some(Err(aborted())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// What a pooled client is for: a connect timeout, and the connection options with
/// the URL host they are resolved against (none: the shared defaults).
#[derive(Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    connect_timeout_ms: u32,
    options: Option<(ConnectOptions, String)>,
}

/// The shared clients. The connect timeout is a property of the connector and the TLS
/// settings of its rustls configuration, so there is one pooled client per distinct
/// connect timeout and connection options (in practice one per backend
/// configuration); those without options share one TLS configuration.
struct Clients {
    tls: Result<rustls::ClientConfig, String>,
    by_key: Mutex<HashMap<ClientKey, (HttpClient, TlsSlot)>>,
}

static CLIENTS: LazyLock<Clients> = LazyLock::new(|| Clients {
    tls: tls_config(),
    by_key: Mutex::new(HashMap::new()),
});

/// The system's root certificates (as Viceroy trusts them), or Mozilla's when the
/// system has none.
static DEFAULT_ROOTS: LazyLock<Arc<rustls::RootCertStore>> = LazyLock::new(|| {
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(native.certs);
    if added == 0 {
        tracing::debug!("no usable system root certificates; using the webpki-roots set");
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    Arc::new(roots)
});

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The TLS client configuration: rustls with the `ring` provider, trusting the
/// system's root certificates (as Viceroy does), or Mozilla's when the system has none.
fn tls_config() -> Result<rustls::ClientConfig, String> {
    rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map(|b| {
            b.with_root_certificates(DEFAULT_ROOTS.clone())
                .with_no_client_auth()
        })
        .map_err(|e| format!("cannot set up TLS: {e}"))
}

/// A certificate verifier that checks the certificate against a fixed name (the
/// backend's `cert_host`) whatever name the connection was made with (its SNI).
#[derive(Debug)]
struct VerifyAs {
    inner: Arc<rustls::client::WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for VerifyAs {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The TLS versions `min..=max` (`tls_version` enum) that rustls has: 1.2 and 1.3.
fn protocol_versions(
    min: Option<u32>,
    max: Option<u32>,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, String> {
    let name = |v: u32| match v {
        0 => "TLS 1.0".to_string(),
        1 => "TLS 1.1".to_string(),
        2 => "TLS 1.2".to_string(),
        3 => "TLS 1.3".to_string(),
        n => format!("version {n}"),
    };
    let lo = min.unwrap_or(2).max(2);
    let hi = max.unwrap_or(3);
    if hi < 2 {
        return Err(format!(
            "ssl_max_version {} is not available: edgeplay's TLS (rustls) speaks TLS 1.2 and 1.3 only",
            name(hi)
        ));
    }
    if lo > hi || hi > 3 {
        return Err(format!(
            "no TLS version lies between ssl_min_version {} and ssl_max_version {}",
            name(min.unwrap_or(2)),
            name(hi)
        ));
    }
    let mut v: Vec<&'static rustls::SupportedProtocolVersion> = Vec::new();
    if lo <= 2 {
        v.push(&rustls::version::TLS12);
    }
    if hi >= 3 {
        v.push(&rustls::version::TLS13);
    }
    Ok(v)
}

/// A server name from a host (an IP address or a DNS name, brackets stripped).
fn server_name(host: &str) -> Result<ServerName<'static>, String> {
    let h = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    ServerName::try_from(h.to_string())
        .map_err(|e| format!("{host:?} is not a TLS server name: {e}"))
}

/// The rustls configuration for a backend's TLS options and the name to connect as
/// (its SNI), for a URL whose host is `url_host`.
fn tls_config_for(
    c: &ConnectOptions,
    url_host: &str,
) -> Result<(rustls::ClientConfig, ServerName<'static>), String> {
    let provider = provider();
    let roots = match &c.ca_cert {
        None => DEFAULT_ROOTS.clone(),
        Some(pem) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let cert = cert.map_err(|e| format!("ca_cert is not valid PEM: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("ca_cert holds a certificate rustls cannot use: {e}"))?;
            }
            if roots.is_empty() {
                return Err("ca_cert holds no PEM certificate".into());
            }
            Arc::new(roots)
        }
    };
    let verify_host = c.cert_host.as_deref().unwrap_or(url_host);
    let verify_name = server_name(verify_host)?;
    let connect_host = match (&c.sni_hostname, &c.cert_host) {
        _ if c.no_sni => verify_host,
        (Some(sni), _) => sni.as_str(),
        (None, Some(cert_host)) => cert_host.as_str(),
        (None, None) => url_host,
    };
    let connect_name = server_name(connect_host)?;
    let webpki =
        rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| format!("cannot set up certificate verification: {e}"))?;
    let verifier: Arc<dyn ServerCertVerifier> = if verify_name == connect_name {
        webpki
    } else {
        Arc::new(VerifyAs {
            inner: webpki,
            name: verify_name,
        })
    };
    let versions = protocol_versions(c.min_version, c.max_version)?;
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match (&c.client_cert, &c.client_key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_slice_iter(cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("client_cert is not valid PEM: {e}"))?;
            if chain.is_empty() {
                return Err("client_cert holds no PEM certificate".into());
            }
            let key = PrivateKeyDer::from_pem_slice(key.as_bytes())
                .map_err(|e| format!("the client key is not a PEM private key: {e}"))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| format!("the client certificate and key cannot be used: {e}"))?
        }
        (Some(_), None) => return Err("client_cert has no key".into()),
        _ => builder.with_no_client_auth(),
    };
    config.enable_sni = !c.no_sni;
    Ok((config, connect_name))
}

/// The pooled client for `connect_timeout_ms` and the request's connection options
/// (`url_host`: the host of its URL). A configuration error is a
/// [`FetchErrorKind::TlsConfigurationError`].
fn client(
    connect_timeout_ms: u32,
    options: Option<&ConnectOptions>,
    url_host: &str,
) -> Result<(HttpClient, TlsSlot), Failure> {
    let key = ClientKey {
        connect_timeout_ms,
        options: options.map(|c| {
            let host = if c.has_tls_settings() { url_host } else { "" };
            (c.clone(), host.to_string())
        }),
    };
    let clients = &*CLIENTS;
    let mut map = clients
        .by_key
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(c) = map.get(&key) {
        return Ok(c.clone());
    }
    let grpc = options.is_some_and(|c| c.grpc);
    let (tls, name) = match options.filter(|c| c.has_tls_settings()) {
        Some(c) => {
            let (tls, name) = tls_config_for(c, url_host)
                .map_err(|e| (FetchErrorKind::TlsConfigurationError, e))?;
            (tls, Some(name))
        }
        None => (
            clients
                .tls
                .clone()
                .map_err(|e| (FetchErrorKind::InternalError, e))?,
            None,
        ),
    };
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_millis(connect_timeout_ms.into())));
    let mut https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    if let Some(name) = name {
        https = https.with_server_name_resolver(FixedServerNameResolver::new(name));
    }
    let https = if grpc {
        https.enable_http2().wrap_connector(http)
    } else {
        https.enable_http1().wrap_connector(http)
    };
    let slot = TlsSlot::default();
    let https = WatchConnector {
        inner: https,
        slot: slot.clone(),
    };
    let c: HttpClient = Client::builder(TokioExecutor::new())
        .pool_timer(TokioTimer::new())
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        // gRPC backends speak HTTP/2 only (h2c with prior knowledge over plain TCP).
        .http2_only(grpc)
        .timer(TokioTimer::new())
        // The request carries its own `host` header, exactly as the core built it.
        .set_host(false)
        .build(https);
    if map.len() < MAX_POOLED_CLIENTS {
        map.insert(key, (c.clone(), slot.clone()));
    }
    Ok((c, slot))
}

/// A timeout in ms, with `None` and `Some(0)` meaning `default`.
fn timeout_ms(v: Option<u32>, default: u32) -> u32 {
    match v {
        Some(ms) if ms > 0 => ms,
        _ => default,
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Perform one backend request and collect its whole response.
///
/// Never panics: a malformed URL, method or header, an unreachable origin, a timeout
/// or a broken response all give [`WorkResult::FetchFailed`] with a
/// [`FetchErrorKind`] and a message naming the backend and the URL.
pub async fn fetch(mut req: FetchRequest) -> WorkResult {
    req.stream_response = false;
    fetch_with(req, None).await.0
}

/// [`fetch`] of a streaming upload: the request goes out at once with `body` (from
/// [`upload_channel`]) as its body, which streams as the driver feeds the channel.
pub async fn fetch_streaming(mut req: FetchRequest, body: UploadBody) -> WorkResult {
    req.stream_response = false;
    fetch_with(req, Some(body)).await.0
}

/// Bytes of a streaming response gathered with the head (what is there at once), at
/// most: past that the rest streams.
pub const HEAD_GATHER_LIMIT: usize = 1 << 20;

/// The rest of a response body that streams ([`WorkResult::FetchedHead`]), read one
/// piece at a time with [`ResponseStream::read`].
#[derive(Debug)]
pub struct ResponseStream {
    body: hyper::body::Incoming,
    between_ms: u32,
    received: usize,
    what: String,
}

impl ResponseStream {
    /// The next bytes: [`WorkResult::BodyChunk`] (with `end` once the body is
    /// complete), or [`WorkResult::FetchFailed`] when it breaks off or pauses past the
    /// between-bytes timeout. `None` for the stream when nothing follows.
    pub async fn read(mut self) -> (WorkResult, Option<ResponseStream>) {
        let between = Duration::from_millis(self.between_ms.into());
        loop {
            let frame = match tokio::time::timeout(between, self.body.frame()).await {
                Err(_) => {
                    let why = format!(
                        "the response body paused longer than the between-bytes timeout ({} ms) after {} bytes",
                        self.between_ms, self.received
                    );
                    return (self.failed(FetchErrorKind::HttpResponseTimeout, why), None);
                }
                Ok(f) => f,
            };
            match frame {
                None => {
                    return (
                        WorkResult::BodyChunk {
                            bytes: Vec::new(),
                            end: true,
                        },
                        None,
                    )
                }
                Some(Ok(frame)) => {
                    // Trailers are not part of the fetch contract yet; data frames are.
                    if let Ok(chunk) = frame.into_data() {
                        if chunk.is_empty() {
                            continue;
                        }
                        self.received += chunk.len();
                        let end = self.body.is_end_stream();
                        let result = WorkResult::BodyChunk {
                            bytes: chunk.to_vec(),
                            end,
                        };
                        return (result, (!end).then_some(self));
                    }
                }
                Some(Err(e)) => {
                    let (kind, why) = classify(&e, Stage::Body);
                    let why = format!("{why} (after {} body bytes)", self.received);
                    return (self.failed(kind, why), None);
                }
            }
        }
    }

    fn failed(&self, kind: FetchErrorKind, why: String) -> WorkResult {
        WorkResult::FetchFailed(FetchError {
            kind,
            message: format!("{}: {why}", self.what),
            headers_not_sent: Vec::new(),
            notes: Vec::new(),
        })
    }
}

/// Perform one backend request. With [`FetchRequest::stream_response`], a body that
/// is not all there with the head streams: the result is
/// [`WorkResult::FetchedHead`] and the rest comes from the [`ResponseStream`].
pub async fn fetch_with(
    req: FetchRequest,
    upload: Option<UploadBody>,
) -> (WorkResult, Option<ResponseStream>) {
    let what = format!(
        "backend `{}` ({} {})",
        req.backend.escape_debug(),
        req.method.escape_debug(),
        req.url.escape_debug()
    );
    match perform(req, upload, what.clone()).await {
        Ok((resp, None)) => (WorkResult::Fetched(Box::new(resp)), None),
        Ok((resp, Some(stream))) => (WorkResult::FetchedHead(Box::new(resp)), Some(stream)),
        Err((kind, why)) => (
            WorkResult::FetchFailed(FetchError {
                kind,
                message: format!("{what}: {why}"),
                headers_not_sent: Vec::new(),
                notes: Vec::new(),
            }),
            None,
        ),
    }
}

type Failure = (FetchErrorKind, String);

async fn perform(
    req: FetchRequest,
    upload: Option<UploadBody>,
    what: String,
) -> Result<(FetchResponse, Option<ResponseStream>), Failure> {
    let stream_response = req.stream_response;
    let connect_ms = timeout_ms(req.connect_timeout_ms, DEFAULT_CONNECT_TIMEOUT_MS);
    let first_byte_ms = timeout_ms(req.first_byte_timeout_ms, DEFAULT_FIRST_BYTE_TIMEOUT_MS);
    let between_ms = timeout_ms(
        req.between_bytes_timeout_ms,
        DEFAULT_BETWEEN_BYTES_TIMEOUT_MS,
    );
    let options = req.connect.clone();
    let request = build_request(req, upload)?;
    let url_host = request.uri().host().unwrap_or_default().to_string();
    let (client, tls_slot) = client(connect_ms, options.as_deref(), &url_host)?;

    let t0 = Instant::now();
    let head = tokio::time::timeout(
        Duration::from_millis(first_byte_ms.into()),
        client.request(request),
    )
    .await
    .map_err(|_| {
        (
            FetchErrorKind::HttpResponseTimeout,
            format!("no response within the first-byte timeout ({first_byte_ms} ms)"),
        )
    })?
    .map_err(|e| {
        let (kind, why) = classify(&e, Stage::Head);
        // A connection that died in TLS while the pool set it up says only that it
        // was not ready: the TLS failure it noted during this fetch explains it.
        let noted = tls_slot
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take()
            .filter(|(at, _)| *at >= t0);
        match noted {
            Some((_, tls)) if kind == FetchErrorKind::InternalError => tls,
            _ => (kind, why),
        }
    })?;
    let first_byte_us = micros(t0.elapsed());

    let remote_addr = head.extensions().get::<HttpInfo>().map(|i| i.remote_addr());
    let status = head.status().as_u16();
    let mut headers = Headers::new();
    for (name, value) in head.headers() {
        headers.append(name.as_str(), value.as_bytes());
    }

    let mut body = head.into_body();
    let mut data: Vec<u8> = Vec::new();
    let between = Duration::from_millis(between_ms.into());
    loop {
        // A streaming response takes what is there with the head (up to a limit); the
        // rest streams from the first frame that is not there yet.
        let frame = if stream_response {
            if body.is_end_stream() {
                break;
            }
            let ready = if data.len() < HEAD_GATHER_LIMIT {
                tokio::time::timeout(Duration::ZERO, body.frame())
                    .await
                    .ok()
            } else {
                None
            };
            let Some(frame) = ready else {
                let received = data.len();
                let rest = ResponseStream {
                    body,
                    between_ms,
                    received,
                    what,
                };
                let head = response(status, headers, data, remote_addr, first_byte_us, t0);
                return Ok((head, Some(rest)));
            };
            Ok(frame)
        } else {
            tokio::time::timeout(between, body.frame()).await
        };
        let frame = frame.map_err(|_| {
            (
                FetchErrorKind::HttpResponseTimeout,
                format!(
                    "the response body paused longer than the between-bytes timeout \
                         ({between_ms} ms) after {} bytes",
                    data.len()
                ),
            )
        })?;
        match frame {
            None => break,
            Some(Ok(frame)) => {
                // Trailers are not part of the fetch contract yet; data frames are.
                if let Ok(chunk) = frame.into_data() {
                    // The platform streams; a buffered response has a bound.
                    let max = edgeplay_host::limits::MAX_BUFFERED_BODY_BYTES;
                    if data.len() + chunk.len() > max {
                        return Err((
                            FetchErrorKind::InternalError,
                            format!(
                                "the response body is larger than {} MiB, what edgeplay buffers of one response",
                                max >> 20
                            ),
                        ));
                    }
                    data.extend_from_slice(&chunk);
                }
            }
            Some(Err(e)) => {
                let (kind, why) = classify(&e, Stage::Body);
                return Err((kind, format!("{why} (after {} body bytes)", data.len())));
            }
        }
    }

    Ok((
        response(status, headers, data, remote_addr, first_byte_us, t0),
        None,
    ))
}

fn response(
    status: u16,
    headers: Headers,
    body: Vec<u8>,
    remote_addr: Option<std::net::SocketAddr>,
    first_byte_us: u64,
    t0: Instant,
) -> FetchResponse {
    FetchResponse {
        status,
        headers,
        body,
        remote_addr,
        first_byte_us,
        end_us: micros(t0.elapsed()),
        headers_not_sent: Vec::new(),
        notes: Vec::new(),
    }
}

/// The request as hyper takes it; anything malformed is an error, not a panic.
fn build_request(
    req: FetchRequest,
    upload: Option<UploadBody>,
) -> Result<Request<RequestBody>, Failure> {
    let invalid = |why: String| (FetchErrorKind::InternalError, why);
    let uri: Uri = req
        .url
        .parse()
        .map_err(|e| invalid(format!("invalid URL: {e}")))?;
    match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("http") || s.eq_ignore_ascii_case("https") => {}
        Some(s) => return Err(invalid(format!("unsupported URL scheme `{s}`"))),
        None => return Err(invalid("the URL is not absolute".to_string())),
    }
    let authority = match uri.authority() {
        Some(a) if !a.host().is_empty() => a.clone(),
        _ => return Err(invalid("the URL has no host".to_string())),
    };
    let method = Method::from_bytes(req.method.as_bytes())
        .map_err(|_| invalid(format!("invalid method `{}`", req.method.escape_debug())))?;

    let body: RequestBody = match upload {
        Some(u) => u.map_err(BoxError::from).boxed(),
        None => Full::new(Bytes::from(req.body))
            .map_err(|e| match e {})
            .boxed(),
    };
    let mut request = Request::new(body);
    *request.method_mut() = method;
    *request.uri_mut() = uri;
    *request.version_mut() = if req.connect.as_ref().is_some_and(|c| c.grpc) {
        Version::HTTP_2
    } else {
        Version::HTTP_11
    };
    let map = request.headers_mut();
    for (name, value) in req.headers.iter() {
        let n = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| invalid(format!("invalid header name `{}`", name.escape_debug())))?;
        let v = HeaderValue::from_bytes(value).map_err(|_| {
            invalid(format!(
                "invalid value for header `{name}`: {}",
                String::from_utf8_lossy(value).escape_debug()
            ))
        })?;
        map.append(n, v);
    }
    if !map.contains_key(HOST) {
        // HTTP/1.1 requires one; the core normally sets it.
        let v = HeaderValue::from_str(authority.as_str())
            .map_err(|_| invalid("the URL's authority is not a valid host".to_string()))?;
        map.insert(HOST, v);
    }
    Ok(request)
}

/// Where a failure happened.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Connecting, sending, or waiting for the response head.
    Head,
    /// Reading the response body.
    Body,
}

/// Map an error from hyper, hyper-util, rustls or the OS to a [`FetchErrorKind`] and a
/// short explanation (the error's whole chain, deduplicated).
fn classify(err: &(dyn StdError + 'static), stage: Stage) -> Failure {
    let mut kind: Option<FetchErrorKind> = None;
    let mut tls: Option<(FetchErrorKind, String)> = None;
    let mut chain: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        let text = e.to_string();
        // hyper-util's own wrapper ("client error (Connect)") says nothing useful.
        let wrapper = e.is::<hyper_util::client::legacy::Error>();
        if !wrapper && !chain.iter().any(|c| c == &text) {
            chain.push(text.clone());
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            kind = kind.or(io_kind(io.kind(), stage));
        } else if let Some(t) = e.downcast_ref::<rustls::Error>() {
            tls = Some((tls_kind(t), t.to_string()));
        } else if let Some(h) = e.downcast_ref::<hyper::Error>() {
            if h.is_parse() || h.is_parse_status() || h.is_parse_too_large() {
                kind = kind.or(Some(FetchErrorKind::HttpProtocolError));
            } else if h.is_incomplete_message() {
                kind = kind.or(Some(match stage {
                    Stage::Head => FetchErrorKind::ConnectionTerminated,
                    Stage::Body => FetchErrorKind::HttpIncompleteResponse,
                }));
            }
        } else if text == "dns error" {
            // hyper-util's (private) ConnectError for a failed name lookup.
            kind = Some(FetchErrorKind::DnsError);
        }
        cur = next_cause(e);
    }
    let detail = chain.join(": ");
    if let Some((kind, t)) = tls {
        return (kind, format!("TLS error: {t}"));
    }
    let kind = kind.unwrap_or(match stage {
        Stage::Head => FetchErrorKind::InternalError,
        Stage::Body => FetchErrorKind::HttpIncompleteResponse,
    });
    let what = match kind {
        FetchErrorKind::DnsError => "DNS lookup failed",
        FetchErrorKind::ConnectionRefused => "connection refused",
        FetchErrorKind::ConnectionTimeout => "connection timed out",
        FetchErrorKind::ConnectionTerminated => "the connection was closed",
        FetchErrorKind::HttpProtocolError => "invalid HTTP response",
        FetchErrorKind::HttpIncompleteResponse => "the response ended early",
        _ => "request failed",
    };
    (kind, format!("{what} ({detail})"))
}

/// The send error kind of a TLS failure.
fn tls_kind(e: &rustls::Error) -> FetchErrorKind {
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(_) | E::NoCertificatesPresented | E::UnsupportedNameType => {
            FetchErrorKind::TlsCertificateError
        }
        E::AlertReceived(_) => FetchErrorKind::TlsAlertReceived,
        _ => FetchErrorKind::TlsProtocolError,
    }
}

/// The error under `e`. An `io::Error`'s `source` skips its payload (and hyper-rustls
/// wraps tokio-rustls's `io::Error` in another one), so the payload comes next.
fn next_cause<'a>(e: &'a (dyn StdError + 'static)) -> Option<&'a (dyn StdError + 'static)> {
    if let Some(inner) = e
        .downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::get_ref)
    {
        return Some(inner);
    }
    e.source()
}

/// The kind for an OS-level error, if it says something specific.
fn io_kind(kind: std::io::ErrorKind, stage: Stage) -> Option<FetchErrorKind> {
    use std::io::ErrorKind as K;
    match kind {
        K::ConnectionRefused => Some(FetchErrorKind::ConnectionRefused),
        K::TimedOut => Some(FetchErrorKind::ConnectionTimeout),
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
            Some(match stage {
                Stage::Head => FetchErrorKind::ConnectionTerminated,
                Stage::Body => FetchErrorKind::HttpIncompleteResponse,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(url: &str) -> FetchRequest {
        FetchRequest::get("b", url)
    }

    #[test]
    fn zero_and_none_mean_the_default() {
        assert_eq!(timeout_ms(None, 7), 7);
        assert_eq!(timeout_ms(Some(0), 7), 7);
        assert_eq!(timeout_ms(Some(3), 7), 3);
    }

    #[test]
    fn a_missing_host_header_comes_from_the_url() {
        let r = build_request(req("http://example.test:8080/x?y"), None).unwrap();
        assert_eq!(r.headers()[HOST], "example.test:8080");
    }

    #[test]
    fn a_given_host_header_is_kept() {
        let mut q = req("http://127.0.0.1:1/");
        q.headers.append("host", "origin.example");
        let r = build_request(q, None).unwrap();
        assert_eq!(r.headers().get_all(HOST).iter().count(), 1);
        assert_eq!(r.headers()[HOST], "origin.example");
    }

    #[test]
    fn the_tls_configuration_builds() {
        assert!(CLIENTS.tls.is_ok(), "{:?}", CLIENTS.tls.as_ref().err());
    }

    #[test]
    fn tls_versions_are_clamped_to_what_rustls_has() {
        let names = |min, max| {
            protocol_versions(min, max).map(|v| v.iter().map(|v| v.version).collect::<Vec<_>>())
        };
        use rustls::ProtocolVersion::{TLSv1_2, TLSv1_3};
        assert_eq!(names(None, None), Ok(vec![TLSv1_2, TLSv1_3]));
        assert_eq!(
            names(Some(0), None),
            Ok(vec![TLSv1_2, TLSv1_3]),
            "1.0 reads as 1.2"
        );
        assert_eq!(names(Some(3), None), Ok(vec![TLSv1_3]));
        assert_eq!(names(None, Some(2)), Ok(vec![TLSv1_2]));
        assert!(names(None, Some(1))
            .unwrap_err()
            .contains("TLS 1.2 and 1.3 only"));
        assert!(names(Some(3), Some(2))
            .unwrap_err()
            .contains("no TLS version"));
    }
}
