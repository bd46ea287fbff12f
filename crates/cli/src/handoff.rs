//! What `serve` does with the client connection beyond one request and one response:
//! informational (1xx) responses written ahead of the final one, and handing the
//! request to a proxy (a guest's WebSocket or GRIP redirect, [`Handoff`]).
//!
//! **Informational responses.** hyper 1's server cannot send a 1xx other than
//! `100 Continue` (its support is an open pull request), so `serve` wraps each
//! connection's socket in [`ConnIo`]: an HTTP/1.1 request's informational response is
//! written to the socket as the guest sends it ([`EarlyWriter`]), ahead of the final
//! response, which hyper writes later (bytes that do not go out at once are written
//! before hyper's next bytes, so the order holds). hyper writes nothing on an HTTP/1.1
//! connection while a request is being answered (the request body is read whole
//! before the guest runs). An HTTP/2 or HTTP/1.0 client does not get them (logged).
//!
//! **Handoffs.** When the guest ends after a redirect, the request (the guest's, with
//! the client's connection and WebSocket headers) goes to the backend — or, for GRIP
//! with `--local-pushpin-proxy-port`, to that local Pushpin with `pushpin-route:
//! BACKEND`, as Viceroy does — over a connection of its own, with the client's body.
//! Its response is the client's; a `101 Switching Protocols` upgrades both
//! connections and bytes are relayed both ways until either side closes (hyper's
//! upgrades on both sides). GRIP without Pushpin reaches the backend directly,
//! without the `Grip-Sig` a Fanout proxy would add: a GRIP origin answers as it does
//! to a direct request (edgeplay's choice; Viceroy answers 500 without Pushpin).
//! Only `http` backends can take a handoff so far: an `https` one is answered 502.

use bytes::Bytes;
use edgeplay_host::{Handoff, HandoffKind, ResponseHead};
use http_body_util::Full;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tracing::{debug, error, info};

/// A connection's socket, shared by hyper and the [`EarlyWriter`] of its requests.
pub struct ConnIo {
    tcp: Arc<TcpStream>,
    early: Arc<Mutex<Vec<u8>>>,
}

impl ConnIo {
    /// Wrap an accepted socket; the writer puts informational responses on it.
    pub fn new(tcp: TcpStream) -> (ConnIo, EarlyWriter) {
        let tcp = Arc::new(tcp);
        let early = Arc::new(Mutex::new(Vec::new()));
        (
            ConnIo {
                tcp: tcp.clone(),
                early: early.clone(),
            },
            EarlyWriter { tcp, early },
        )
    }

    /// Write out bytes the early writer could not, before anything of hyper's.
    fn poll_drain(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let mut early = self.early.lock().unwrap_or_else(|e| e.into_inner());
            if early.is_empty() {
                return Poll::Ready(Ok(()));
            }
            match self.tcp.try_write(&early) {
                Ok(n) => {
                    early.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    drop(early);
                    ready!(self.tcp.poll_write_ready(cx))?;
                }
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            ready!(self.tcp.poll_read_ready(cx))?;
            match self.tcp.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_drain(cx))?;
        loop {
            ready!(self.tcp.poll_write_ready(cx))?;
            match self.tcp.try_write(buf) {
                Ok(n) => return Poll::Ready(Ok(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_drain(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        let _ = socket2::SockRef::from(&*self.tcp).shutdown(std::net::Shutdown::Write);
        Poll::Ready(Ok(()))
    }
}

/// Writes informational responses on a connection, ahead of hyper's final response.
#[derive(Clone)]
pub struct EarlyWriter {
    tcp: Arc<TcpStream>,
    early: Arc<Mutex<Vec<u8>>>,
}

impl EarlyWriter {
    /// Write `head` (a 1xx) as an HTTP/1.1 informational response: at once when the
    /// socket takes it, else before hyper's next bytes.
    pub fn write(&self, head: &ResponseHead) {
        let mut early = self.early.lock().unwrap_or_else(|e| e.into_inner());
        early.extend_from_slice(&informational_bytes(head));
        while !early.is_empty() {
            match self.tcp.try_write(&early) {
                Ok(n) => {
                    early.drain(..n);
                }
                Err(_) => break,
            }
        }
    }
}

/// The wire form of an informational response (headers that are not valid on the
/// wire are left out).
pub fn informational_bytes(head: &ResponseHead) -> Vec<u8> {
    let reason = http::StatusCode::from_u16(head.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Informational");
    let mut out = format!("HTTP/1.1 {} {reason}\r\n", head.status).into_bytes();
    for (name, value) in head.headers.iter() {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err()
            || http::HeaderValue::from_bytes(value).is_err()
        {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// What the handoff's answer to the client is: a response head, and its body.
pub type Answer = http::Response<hyper::body::Incoming>;

/// Why a handoff could not reach its target: the client's status and message.
pub struct Failed(pub http::StatusCode, pub String);

/// Perform `h`: send the request (with the client's `body`) to its target and answer
/// the client with the target's response; on a `101`, relay the upgraded connections
/// (`client` is the client's pending upgrade) in the background.
pub async fn perform(
    h: &Handoff,
    body: Bytes,
    client: Option<OnUpgrade>,
    pushpin_port: Option<u16>,
) -> Result<Answer, Failed> {
    let bad = |m: String| {
        error!("{m}");
        Failed(http::StatusCode::BAD_GATEWAY, m)
    };
    let pushpin = match (h.kind, pushpin_port) {
        (HandoffKind::Grip, Some(p)) => Some(format!("127.0.0.1:{p}")),
        _ => None,
    };
    let (addr, path, host) = match &pushpin {
        // Pushpin applies the route's own path.
        Some(a) => (a.clone(), h.path_and_query.clone(), a.clone()),
        None => {
            let Some(addr) = h.origin.strip_prefix("http://") else {
                return Err(bad(format!(
                    "handing off to {} through the https backend {:?} is not emulated yet: only http backends",
                    h.kind.label(),
                    h.backend
                )));
            };
            let prefix = h.path_prefix.trim_end_matches('/');
            (
                addr.to_string(),
                format!("{prefix}{}", h.path_and_query),
                h.host.clone(),
            )
        }
    };
    info!(
        "handing the request to {} at {addr} (backend {:?})",
        h.kind.label(),
        h.backend
    );
    let mut req = http::Request::builder()
        .method(h.method.as_str())
        .uri(&path);
    for (name, value) in h.headers.iter() {
        if name.eq_ignore_ascii_case("host") {
            continue;
        }
        req = req.header(name, value);
    }
    req = req.header(http::header::HOST, host);
    if pushpin.is_some() {
        req = req.header("pushpin-route", h.backend.as_str());
    }
    let req = req
        .body(Full::new(body))
        .map_err(|e| bad(format!("the handed-off request is not valid HTTP: {e}")))?;
    let stream = TcpStream::connect(&addr).await.map_err(|e| {
        bad(format!(
            "could not connect to the handoff target {addr}: {e}"
        ))
    })?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| {
            bad(format!(
                "the handoff target {addr} did not speak HTTP/1.1: {e}"
            ))
        })?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            debug!("handoff connection ended: {e}");
        }
    });
    let mut resp = sender
        .send_request(req)
        .await
        .map_err(|e| bad(format!("the handoff target {addr} failed: {e}")))?;
    info!("the handoff target answered {}", resp.status().as_u16());
    if resp.status() == http::StatusCode::SWITCHING_PROTOCOLS {
        let upstream = hyper::upgrade::on(&mut resp);
        match client {
            Some(client) => {
                tokio::spawn(relay(client, upstream));
            }
            None => error!("the client connection cannot be upgraded (HTTP/2?)"),
        }
    }
    Ok(resp)
}

/// Relay bytes both ways between the upgraded client and target connections.
async fn relay(client: OnUpgrade, upstream: OnUpgrade) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(both) => both,
        Err(e) => {
            error!("upgrading the handed-off connection failed: {e}");
            return;
        }
    };
    let (mut a, mut b) = (TokioIo::new(client), TokioIo::new(upstream));
    match tokio::io::copy_bidirectional(&mut a, &mut b).await {
        Ok((up, down)) => {
            info!("the upgraded connection closed ({up} bytes client to backend, {down} back)")
        }
        Err(e) => debug!("the upgraded connection ended: {e}"),
    }
}
