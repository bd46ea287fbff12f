//! `edgeplay serve`: a local HTTP/1.1 (and h2c) server, a fresh execution per request
//! (or a reused one, when the guest asks).
//!
//! Each connection is a tokio task; each request reads its body, builds a
//! [`DownstreamRequest`] (absolute URL from the Host header, client and server address
//! from the socket), and drives a fresh execution ([`Driver`]) of the one [`Service`]
//! all requests share (its state outlives each of them) on its own task. The response is
//! streamed: the head goes out when the guest sends it, a streaming body chunk by chunk
//! as the guest writes it, ending when the guest closes it; an abandoned body ends with
//! an error so the client sees an incomplete message. The guest keeps running after
//! its response is sent (as on the platform and in Viceroy). A guest that traps before
//! sending a response gets a 500 with the error; the server keeps serving.
//! Informational responses and handoffs to a proxy (WebSocket, GRIP) are in
//! [`crate::handoff`].
//!
//! Reusable sandboxes: an instance that asks for a further request
//! (`next_request_wait`) registers as waiting (at most
//! [`MAX_WAITING_SANDBOXES`], for at most 10 s); a request that arrives meanwhile is
//! handed to the oldest waiter instead of starting an instance, with its own
//! responder, and the guest's outputs after [`Output::ForRequest`] go to it. A handed
//! request the guest never answered gets a 503 when it ends.

use crate::driver::{drive_serving, viceroy_request_id, NextRequests};
use crate::handoff::{ConnIo, EarlyWriter};
use crate::logging::{GuestPrinter, LISTEN_TARGET};
use crate::state::ServiceState;
use bytes::Bytes;
use edgeplay_host::collect::Framing;
use edgeplay_host::driver::{next_request_wait_ms, MAX_WAITING_SANDBOXES};
use edgeplay_host::{
    Capabilities, Collected, DownstreamRequest, Driver, Engine, ExecOptions, Exit, Guest, Handoff,
    Headers, HttpVersion, NextDownstream, Outcome, Output, ResponseHead, Service,
};
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, error, info, info_span, warn, Instrument, Span};

/// What every request of a server shares.
pub struct ServeCtx {
    /// The engine (module cache, platform).
    pub engine: Arc<Engine>,
    /// The loaded guest (replaced when `--watch` sees the input change).
    guest: std::sync::RwLock<Arc<Guest>>,
    /// The service: its configuration and the state every request shares, kept in
    /// memory or in a state directory.
    pub state: ServiceState,
    /// Limits and knobs of each execution.
    pub opts: ExecOptions,
    /// How guest output is printed.
    pub printer: GuestPrinter,
    /// Where each request's profile is written (`--profile`, `--profile-dir`).
    pub profile_dir: Option<std::path::PathBuf>,
    /// Print each request's production-limit gauges (`--limits`).
    pub limits: bool,
    /// `--local-pushpin-proxy-port`: where GRIP handoffs go ([`crate::handoff`]).
    pub pushpin_port: Option<u16>,
    next_id: AtomicU64,
    /// Instances waiting for a further request (reusable sandboxes), oldest first.
    waiting: std::sync::Mutex<VecDeque<oneshot::Sender<Handed>>>,
}

impl ServeCtx {
    /// A context; request ids count from 0, as in Viceroy.
    pub fn new(
        engine: Arc<Engine>,
        guest: Arc<Guest>,
        service: impl Into<Service>,
        opts: ExecOptions,
        printer: GuestPrinter,
    ) -> Self {
        Self::with_state(
            engine,
            guest,
            ServiceState::in_memory(service.into()),
            opts,
            printer,
        )
    }

    /// A context whose service state is `state` (e.g. kept in a state directory).
    pub fn with_state(
        engine: Arc<Engine>,
        guest: Arc<Guest>,
        state: ServiceState,
        opts: ExecOptions,
        printer: GuestPrinter,
    ) -> Self {
        ServeCtx {
            engine,
            guest: std::sync::RwLock::new(guest),
            state,
            opts,
            printer,
            profile_dir: None,
            limits: false,
            pushpin_port: None,
            next_id: AtomicU64::new(0),
            waiting: std::sync::Mutex::new(VecDeque::new()),
        }
    }
}

impl ServeCtx {
    /// The guest new requests run.
    pub fn guest(&self) -> Arc<Guest> {
        self.guest.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Run `guest` for requests from now on (those under way finish with the old one).
    pub fn set_guest(&self, guest: Arc<Guest>) {
        *self.guest.write().unwrap_or_else(|e| e.into_inner()) = guest;
    }
}

/// Bind `addr` and print Viceroy's `Listening on http://ADDR` line (with the port the
/// system chose when `addr` has port 0).
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    info!(target: LISTEN_TARGET, "Listening on http://{local}");
    Ok(listener)
}

/// Accept connections until `shutdown` completes. Accept errors (e.g. too many open
/// files) are logged and retried; they never end the server.
pub async fn serve(listener: TcpListener, ctx: Arc<ServeCtx>, shutdown: impl Future<Output = ()>) {
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, remote) = tokio::select! {
            _ = shutdown.as_mut() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    warn!("could not accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let local = match stream.local_addr() {
            Ok(l) => l,
            Err(_) => continue,
        };
        let _ = stream.set_nodelay(true);
        // The socket is shared with the writer of informational (1xx) responses.
        let (io, early) = ConnIo::new(stream);
        tokio::spawn(serve_connection_with(
            io,
            Some(early),
            ctx.clone(),
            local,
            remote,
        ));
    }
}

/// Serve one connection (HTTP/1.1, or h2c) on `io` until it ends: what [`serve`]
/// runs for each accepted socket (there with the writer of informational responses);
/// `local` and `remote` are the addresses the guest sees. Any byte stream will do
/// (the fuzz target feeds it raw bytes in memory); without an [`EarlyWriter`] a 1xx
/// the guest sends is logged, not written.
pub async fn serve_connection<I>(io: I, ctx: Arc<ServeCtx>, local: SocketAddr, remote: SocketAddr)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    serve_connection_with(io, None, ctx, local, remote).await
}

async fn serve_connection_with<I>(
    io: I,
    early: Option<EarlyWriter>,
    ctx: Arc<ServeCtx>,
    local: SocketAddr,
    remote: SocketAddr,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req| {
        let ctx = ctx.clone();
        let early = early.clone();
        async move { Ok::<_, Infallible>(handle(ctx, req, local, remote, early).await) }
    });
    let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    if let Err(e) = builder
        .serve_connection_with_upgrades(TokioIo::new(io), service)
        .await
    {
        debug!("connection from {remote} ended with an error: {e}");
    }
}

/// Answer one request: run a fresh execution and return its response as soon as the
/// guest sends the head.
async fn handle(
    ctx: Arc<ServeCtx>,
    mut req: Request<Incoming>,
    local: SocketAddr,
    remote: SocketAddr,
    early: Option<EarlyWriter>,
) -> Response<ServeBody> {
    let id = ctx.next_id.fetch_add(1, Ordering::SeqCst);
    let span = info_span!("request", id);
    let http11 = req.version() == http::Version::HTTP_11;
    let upgrade = http11.then(|| hyper::upgrade::on(&mut req));
    let (parts, body) = req.into_parts();
    // The platform streams the request body; edgeplay buffers it, within a bound.
    let max = edgeplay_host::limits::MAX_BUFFERED_BODY_BYTES;
    let body = match http_body_util::Limited::new(body, max).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            warn!(parent: &span, "the request body is larger than {} MiB: answering 413", max >> 20);
            return plain_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!(
                    "edgeplay buffers request bodies of at most {} MiB",
                    max >> 20
                ),
            );
        }
        Err(e) => {
            warn!(parent: &span, "could not read the request body: {e}");
            return plain_response(StatusCode::BAD_REQUEST, "could not read the request body");
        }
    };
    let request = downstream_request(&parts, body.clone(), local, remote);
    info!(parent: &span, "handling request {} {}", request.method, request.url);
    let (head_tx, head_rx) = oneshot::channel();
    let mut responder = Responder::new(head_tx, ctx.printer, span.clone());
    responder.head_request = parts.method == http::Method::HEAD;
    responder.early = early.filter(|_| http11);
    responder.upgrade = upgrade;
    responder.request_body = body;
    let request_id = viceroy_request_id(id);
    // An instance waiting for a further request (a reusable sandbox) takes it; a
    // looping request is answered 508 by a fresh start, as always.
    let (request, responder) = if edgeplay_host::backends::loop_detected(&request) {
        (request, responder)
    } else {
        responder.further = true;
        let handed = Handed {
            request,
            request_id: request_id.clone(),
            responder,
        };
        match ctx.hand_to_waiting(handed) {
            Ok(()) => {
                return head_rx.await.unwrap_or_else(|_| {
                    warn!(parent: &span, "{NOT_TAKEN}");
                    plain_response(StatusCode::SERVICE_UNAVAILABLE, NOT_TAKEN)
                });
            }
            Err(back) => {
                let Handed {
                    request,
                    mut responder,
                    ..
                } = *back;
                responder.further = false;
                (request, responder)
            }
        }
    };
    let exec = match crate::driver::start(
        &ctx.engine,
        ctx.guest(),
        ctx.state.service.clone(),
        request,
        request_id,
        ctx.opts.clone(),
        Capabilities::NATIVE_SERVER,
    ) {
        Ok(d) => d,
        Err(e) => {
            error!(parent: &span, "{e}");
            return plain_response(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string());
        }
    };
    if exec.answered_without_guest() {
        warn!(parent: &span, "request loop detected (cdn-loop carries the edgeplay token {} times): answering 508 without running the guest", edgeplay_host::backends::MAX_LOOP_HOPS);
    }
    tokio::spawn(run_guest(ctx, exec, responder).instrument(span));
    head_rx.await.unwrap_or_else(|_| {
        plain_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal error: the guest task ended without a response",
        )
    })
}

/// Drive one execution, streaming its outputs to the client. What the request wrote
/// to the service's state is made durable before its response is finished. A
/// reusable sandbox's further requests ([`Output::ForRequest`]) are answered by their
/// own responders, handed in with them; those it never answered get an error when it
/// ends.
async fn run_guest(ctx: Arc<ServeCtx>, exec: Driver, first: Responder) {
    let t0 = Instant::now();
    let (to_guest, mut handed) = mpsc::unbounded_channel::<Responder>();
    let next: NextRequests = {
        let ctx = ctx.clone();
        Arc::new(move |timeout_ms| {
            let ctx = ctx.clone();
            let to_guest = to_guest.clone();
            Box::pin(async move { ctx.wait_for_request(timeout_ms, to_guest).await })
        })
    };
    let mut responder = first;
    let mut earlier: Vec<Responder> = Vec::new();
    let flush = || {
        if let Err(e) = ctx.state.flush() {
            error!("{e:#}");
        }
    };
    // Whatever reaches the client was preceded by making the writes so far durable:
    // a client that saw a whole response (its last byte may come before the guest
    // returns) never finds its writes gone after a crash.
    let on_output = |o| {
        if let Output::ForRequest { index, request_id } = &o {
            match handed.try_recv() {
                Ok(next) => {
                    info!(parent: &next.span, "served by a reused sandbox as its request {index} (request id {request_id})");
                    earlier.push(std::mem::replace(&mut responder, next));
                }
                Err(_) => {
                    error!("internal error: request {index} of a reused sandbox has no client")
                }
            }
            return;
        }
        if matches!(
            o,
            Output::Response(_) | Output::BodyChunk(_) | Output::BodyEnd | Output::BodyAbort
        ) {
            flush();
        }
        responder.output(o)
    };
    let (outcome, trace, profile, usage) =
        drive_serving(exec, on_output, std::future::pending(), None, Some(next)).await;
    flush();
    earlier.push(responder);
    for mut responder in earlier {
        if let Some(h) = responder.handoff.take() {
            if outcome.exit.is_success() {
                responder.hand_off(&h, ctx.pushpin_port).await;
            }
        }
        responder.done(&outcome);
    }
    // Handed to this instance, never taken: the client must not hang.
    handed.close();
    while let Ok(mut r) = handed.try_recv() {
        warn!(parent: &r.span, "{NOT_TAKEN}");
        r.send(
            &ResponseHead::new(503),
            ServeBody::full(NOT_TAKEN.as_bytes().to_vec()),
        );
    }
    if ctx.limits {
        let package = ctx.guest().info.size as u64;
        let wall_us = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
        let gauges =
            edgeplay_host::limits::gauges(&usage, ctx.opts.fuel_per_cpu_ms, wall_us, package);
        info!("{}", edgeplay_host::limits::gauges_text(&gauges).trim_end());
    }
    if let (Some(dir), Some(profile)) = (&ctx.profile_dir, &profile) {
        match crate::profile::write_in(dir, profile, &trace) {
            Ok(file) => info!("profile written to {}", file.display()),
            Err(e) => error!("{e:#}"),
        }
    }
    // What a bound cut or refused (the memory pool, logs, the trace) is worth a line.
    for ev in trace.iter().filter(|e| {
        e.kind == edgeplay_host::trace::EventKind::Lifecycle
            && matches!(&*e.name, "memory-pool" | "logs-dropped" | "trace-truncated")
    }) {
        warn!("{}", ev.note.as_deref().unwrap_or_default());
    }
    // Viceroy's wording: "WebAssembly trapped: ..." / "WebAssembly exited with error: ...".
    let message = outcome.exit.error_message().unwrap_or_default();
    match &outcome.exit {
        Exit::Returned | Exit::Exit(0) => {}
        Exit::Trap { .. } => error!(
            "WebAssembly trapped: {}",
            message
                .strip_prefix("the guest trapped: ")
                .unwrap_or(&message)
        ),
        Exit::Exit(code) => error!("WebAssembly exited with error: exit status {code}"),
        Exit::CpuLimit { .. } | Exit::Stopped => error!("{message}"),
    }
    for ev in &trace {
        debug!("{}", ev.summary());
    }
    info!(
        "request completed in {:.0?} (~{:.2} ms estimated CPU)",
        t0.elapsed(),
        outcome.cpu_ms_estimate
    );
}

/// The downstream request as the guest sees it, as Viceroy builds it: the URL's
/// authority is the Host header (else the request target's, else the listen address).
pub fn downstream_request(
    parts: &http::request::Parts,
    body: Bytes,
    local: SocketAddr,
    remote: SocketAddr,
) -> DownstreamRequest {
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_else(|| local.to_string());
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .filter(|p| p.starts_with('/'))
        .unwrap_or("/");
    let scheme = parts.uri.scheme_str().unwrap_or("http");
    let mut headers = Headers::new();
    for (name, value) in &parts.headers {
        headers.append(name.as_str(), value.as_bytes());
    }
    DownstreamRequest {
        method: parts.method.as_str().to_string(),
        url: format!("{scheme}://{host}{path}"),
        version: match parts.version {
            http::Version::HTTP_09 => HttpVersion::Http09,
            http::Version::HTTP_10 => HttpVersion::Http10,
            http::Version::HTTP_2 => HttpVersion::H2,
            http::Version::HTTP_3 => HttpVersion::H3,
            _ => HttpVersion::Http11,
        },
        // hyper lowercases names and keeps no record of the original case; like
        // Viceroy, the guest gets the distinct names in arrival order.
        original_header_names: headers.names(),
        headers,
        body: body.to_vec(),
        client_ip: remote.ip().to_canonical(),
        server_ip: local.ip().to_canonical(),
    }
}

/// What a further request a reusable sandbox accepted but never answered gets.
const UNANSWERED: &str = "edgeplay: the reusable sandbox that accepted this request (next_request_wait) ended without answering it";

/// What a request handed to a waiting sandbox gets when the sandbox ended before
/// taking it.
const NOT_TAKEN: &str = "edgeplay: the reusable sandbox this request was handed to ended before taking it; retry the request";

/// A request handed to an instance waiting in `next_request_wait`.
struct Handed {
    request: DownstreamRequest,
    request_id: String,
    responder: Responder,
}

impl ServeCtx {
    /// Hand `h` to the instance that has waited longest for a further request
    /// (FIFO); back when none waits.
    fn hand_to_waiting(&self, mut h: Handed) -> Result<(), Box<Handed>> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(tx) = waiting.pop_front() {
            match tx.send(h) {
                Ok(()) => return Ok(()),
                // That one stopped waiting (timed out, or ended).
                Err(back) => h = back,
            }
        }
        Err(Box::new(h))
    }

    /// Wait, as a reusable sandbox, for a further request (at most 10 s, or the
    /// guest's timeout if shorter); `None` when none comes, or when
    /// [`MAX_WAITING_SANDBOXES`] instances wait already. Its responder goes to `to`.
    async fn wait_for_request(
        &self,
        timeout_ms: Option<u64>,
        to: mpsc::UnboundedSender<Responder>,
    ) -> Option<NextDownstream> {
        let (tx, mut rx) = oneshot::channel();
        {
            let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
            waiting.retain(|t| !t.is_closed());
            if waiting.len() >= MAX_WAITING_SANDBOXES {
                info!(
                    "{MAX_WAITING_SANDBOXES} sandboxes wait for a request already: this one ends"
                );
                return None;
            }
            waiting.push_back(tx);
        }
        let wait = Duration::from_millis(next_request_wait_ms(timeout_ms));
        let h = match tokio::time::timeout(wait, &mut rx).await {
            Ok(Ok(h)) => h,
            _ => {
                // Handed one just as the wait ended? Then take it.
                rx.close();
                rx.try_recv().ok()?
            }
        };
        let Handed {
            request,
            request_id,
            responder,
        } = h;
        info!(parent: &responder.span, "handed to a sandbox waiting in next_request_wait");
        to.send(responder).ok()?;
        Some(NextDownstream {
            request,
            request_id,
        })
    }
}

/// A plain-text response from the runner itself.
fn plain_response(status: StatusCode, text: &str) -> Response<ServeBody> {
    let mut r = Response::new(ServeBody::full(text.as_bytes().to_vec()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Turns a guest's outputs into one hyper response.
struct Responder {
    head_tx: Option<oneshot::Sender<Response<ServeBody>>>,
    body_tx: Option<mpsc::UnboundedSender<BodyMsg>>,
    /// A non-streaming response waits for its whole body (so it gets a Content-Length).
    buffered: Option<(ResponseHead, Vec<u8>)>,
    /// The client asked with HEAD: a guest's manual `content-length` describes a body
    /// that is not sent.
    head_request: bool,
    /// Writes informational responses on an HTTP/1.1 connection.
    early: Option<EarlyWriter>,
    /// The guest's handoff to a proxy, performed when it ends.
    handoff: Option<Handoff>,
    /// The client connection's upgrade (HTTP/1.1), for a WebSocket handoff.
    upgrade: Option<hyper::upgrade::OnUpgrade>,
    /// The client's request body, for a handoff.
    request_body: Bytes,
    printer: GuestPrinter,
    span: Span,
    /// A further request handed to a reusable sandbox: unanswered when the guest
    /// ends, it gets a 503 rather than Viceroy's empty 200 of a first request.
    further: bool,
}

impl Responder {
    fn new(
        head_tx: oneshot::Sender<Response<ServeBody>>,
        printer: GuestPrinter,
        span: Span,
    ) -> Self {
        Responder {
            head_tx: Some(head_tx),
            body_tx: None,
            buffered: None,
            head_request: false,
            early: None,
            handoff: None,
            upgrade: None,
            request_body: Bytes::new(),
            printer,
            span,
            further: false,
        }
    }

    fn output(&mut self, o: Output) {
        if self.printer.print(&o) {
            return;
        }
        match o {
            Output::Response(head) => self.head(head),
            Output::BodyChunk(c) => {
                if let Some((_, buf)) = &mut self.buffered {
                    buf.extend_from_slice(&c);
                } else if let Some(tx) = &self.body_tx {
                    if !c.is_empty() {
                        let _ = tx.send(BodyMsg::Data(Bytes::from(c)));
                    }
                }
            }
            Output::BodyEnd => {
                if let Some((head, buf)) = self.buffered.take() {
                    let body = self.whole(&head, buf);
                    self.send(&head, body);
                } else if let Some(tx) = self.body_tx.take() {
                    let _ = tx.send(BodyMsg::End);
                }
            }
            Output::Informational(head) => match &self.early {
                Some(w) if self.head_tx.is_some() => {
                    info!(parent: &self.span, "informational response: {}", head.status);
                    w.write(&head);
                }
                _ => warn!(
                    parent: &self.span,
                    "informational response ({}) not sent: the client's connection is not HTTP/1.1",
                    head.status
                ),
            },
            Output::Handoff(h) => self.handoff = Some(h),
            Output::BodyAbort => {
                if let Some((head, buf)) = self.buffered.take() {
                    self.send(&head, ServeBody::aborted(buf));
                } else if let Some(tx) = self.body_tx.take() {
                    let _ = tx.send(BodyMsg::Abort);
                }
            }
            _ => {}
        }
    }

    fn head(&mut self, head: ResponseHead) {
        if self.head_tx.is_none() || self.buffered.is_some() {
            warn!(parent: &self.span, "the guest sent a second response; it is ignored");
            return;
        }
        if (100..200).contains(&head.status) {
            warn!(
                parent: &self.span,
                "Guest returned informational response ({}) which will not be sent to the client",
                head.status
            );
            return;
        }
        if head.streaming {
            let (tx, rx) = mpsc::unbounded_channel();
            self.body_tx = Some(tx);
            self.send(&head, ServeBody::channel(rx));
        } else {
            self.buffered = Some((head, Vec::new()));
        }
    }

    /// A whole body, framed as the head says. With the guest's manual
    /// `content-length`, as the platform documents it: a longer body is cut at that
    /// length, and a shorter one ends the connection early (the client sees an
    /// incomplete message). A streamed body needs nothing here: hyper frames it by the
    /// header.
    fn whole(&self, head: &ResponseHead, mut buf: Vec<u8>) -> ServeBody {
        let no_body = self.head_request || matches!(head.status, 204 | 304);
        match head.framing() {
            // The content-length describes a body the client does not get.
            Framing::Length(_) if no_body => ServeBody::full(Vec::new()),
            Framing::Length(n) => {
                let len = buf.len() as u64;
                if len >= n {
                    buf.truncate(usize::try_from(n).unwrap_or(usize::MAX));
                    ServeBody::full(buf)
                } else {
                    warn!(parent: &self.span, "the response body ({len} bytes) is shorter than the guest's content-length {n}: closing the connection early");
                    ServeBody::aborted(buf)
                }
            }
            _ => ServeBody::full(buf),
        }
    }

    fn send(&mut self, head: &ResponseHead, body: ServeBody) {
        if let Some(tx) = self.head_tx.take() {
            let resp = to_hyper(head, body, &self.span);
            info!(parent: &self.span, "response status: {}", resp.status().as_u16());
            let _ = tx.send(resp);
        }
    }

    /// Perform the guest's handoff ([`crate::handoff::perform`]) and answer the client
    /// with the target's response.
    async fn hand_off(&mut self, h: &Handoff, pushpin_port: Option<u16>) {
        let Some(tx) = self.head_tx.take() else {
            return;
        };
        let body = std::mem::take(&mut self.request_body);
        let resp = async {
            match crate::handoff::perform(h, body, self.upgrade.take(), pushpin_port).await {
                Ok(resp) => {
                    let (parts, body) = resp.into_parts();
                    Response::from_parts(parts, ServeBody::proxied(body))
                }
                Err(crate::handoff::Failed(status, msg)) => plain_response(status, &msg),
            }
        }
        .instrument(self.span.clone())
        .await;
        info!(parent: &self.span, "response status: {}", resp.status().as_u16());
        let _ = tx.send(resp);
    }

    /// The execution is over: finish whatever is still open.
    fn done(&mut self, outcome: &Outcome) {
        let ok = outcome.exit.is_success();
        if let Some((head, buf)) = self.buffered.take() {
            let body = if ok {
                self.whole(&head, buf)
            } else {
                ServeBody::aborted(buf)
            };
            self.send(&head, body);
        }
        if let Some(tx) = self.body_tx.take() {
            let _ = tx.send(if ok { BodyMsg::End } else { BodyMsg::Abort });
        }
        if self.head_tx.is_some() && self.further && ok {
            warn!(parent: &self.span, "{UNANSWERED}");
            self.send(
                &ResponseHead::new(503),
                ServeBody::full(UNANSWERED.as_bytes().to_vec()),
            );
            return;
        }
        if self.head_tx.is_some() {
            // No response was sent: Viceroy's empty 200, or a 500 with the error.
            let r = Collected::default().final_response(outcome);
            let head = ResponseHead {
                status: r.status,
                version: HttpVersion::Http11,
                headers: r.headers,
                streaming: false,
            };
            self.send(&head, ServeBody::full(r.body));
        }
    }
}

/// The hyper response for a guest's head. The core leaves framing headers on a head
/// only when they are the guest's valid manual ones
/// ([`edgeplay_host::collect::apply_response_framing`]): those go out and hyper frames
/// the body by them; otherwise hyper sets them (a `content-length` for a whole body,
/// chunked for a stream), as in Viceroy. hyper adds `date`.
fn to_hyper(head: &ResponseHead, body: ServeBody, span: &Span) -> Response<ServeBody> {
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::from_u16(head.status).unwrap_or_else(|_| {
        warn!(parent: span, "the guest sent an invalid status {}; sending 500", head.status);
        StatusCode::INTERNAL_SERVER_ERROR
    });
    for (name, value) in head.headers.iter() {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_bytes(value),
        ) {
            (Ok(n), Ok(v)) => {
                resp.headers_mut().append(n, v);
            }
            _ => {
                warn!(parent: span, "dropping the response header {name:?}: not valid on the wire")
            }
        }
    }
    resp
}

enum BodyMsg {
    Data(Bytes),
    End,
    Abort,
}

enum BodyState {
    /// A whole body (or what is left of it).
    Full(Option<Bytes>),
    /// Some bytes, then an error.
    Aborted(Option<Bytes>),
    /// The bytes went out; the error comes next.
    Failing,
    /// Chunks as the guest writes them.
    Channel(mpsc::UnboundedReceiver<BodyMsg>),
    /// A handoff target's body, as it arrives.
    Proxied(Incoming),
    /// Over.
    Done,
}

/// The body of a served response: whole, streamed from the guest, or abandoned.
pub struct ServeBody {
    state: BodyState,
}

impl ServeBody {
    fn full(b: Vec<u8>) -> Self {
        ServeBody {
            state: BodyState::Full(Some(Bytes::from(b))),
        }
    }
    fn aborted(b: Vec<u8>) -> Self {
        ServeBody {
            state: BodyState::Aborted((!b.is_empty()).then(|| Bytes::from(b))),
        }
    }
    fn proxied(b: Incoming) -> Self {
        ServeBody {
            state: BodyState::Proxied(b),
        }
    }
    fn channel(rx: mpsc::UnboundedReceiver<BodyMsg>) -> Self {
        ServeBody {
            state: BodyState::Channel(rx),
        }
    }
}

/// The error a client's connection ends with when the guest abandons its body.
#[derive(Debug)]
pub struct BodyAborted;

impl std::fmt::Display for BodyAborted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the guest abandoned the response body")
    }
}

impl std::error::Error for BodyAborted {}

impl Body for ServeBody {
    type Data = Bytes;
    type Error = BodyAborted;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyAborted>>> {
        let this = &mut *self;
        match &mut this.state {
            BodyState::Full(b) => {
                let b = b.take().filter(|b| !b.is_empty());
                this.state = BodyState::Done;
                Poll::Ready(b.map(|b| Ok(Frame::data(b))))
            }
            BodyState::Aborted(b) => match b.take() {
                Some(b) => Poll::Ready(Some(Ok(Frame::data(b)))),
                None => {
                    // Yield once so hyper writes out what it has before the error
                    // ends the connection (it drops unflushed bytes then).
                    this.state = BodyState::Failing;
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            },
            BodyState::Failing => {
                this.state = BodyState::Done;
                Poll::Ready(Some(Err(BodyAborted)))
            }
            BodyState::Channel(rx) => match rx.poll_recv(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Some(BodyMsg::Data(b))) => Poll::Ready(Some(Ok(Frame::data(b)))),
                Poll::Ready(Some(BodyMsg::End)) => {
                    this.state = BodyState::Done;
                    Poll::Ready(None)
                }
                Poll::Ready(Some(BodyMsg::Abort)) | Poll::Ready(None) => {
                    this.state = BodyState::Done;
                    Poll::Ready(Some(Err(BodyAborted)))
                }
            },
            BodyState::Proxied(b) => match Pin::new(b).poll_frame(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(None) => {
                    this.state = BodyState::Done;
                    Poll::Ready(None)
                }
                Poll::Ready(Some(Ok(f))) => Poll::Ready(Some(Ok(f))),
                Poll::Ready(Some(Err(_))) => {
                    this.state = BodyState::Done;
                    Poll::Ready(Some(Err(BodyAborted)))
                }
            },
            BodyState::Done => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.state {
            BodyState::Full(b) => b.as_ref().is_none_or(|b| b.is_empty()),
            BodyState::Done => true,
            _ => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.state {
            BodyState::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            BodyState::Done => SizeHint::with_exact(0),
            _ => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(uri: &str, host: Option<&str>) -> http::request::Parts {
        let mut b = Request::builder().method("POST").uri(uri);
        if let Some(h) = host {
            b = b.header("Host", h);
        }
        b.header("X-Custom", "1").body(()).unwrap().into_parts().0
    }

    #[test]
    fn the_url_comes_from_the_host_header() {
        let local: SocketAddr = "127.0.0.1:7676".parse().unwrap();
        let remote: SocketAddr = "127.0.0.1:50000".parse().unwrap();
        let r = downstream_request(
            &parts("/a?b=1", Some("example.com")),
            Bytes::from_static(b"x"),
            local,
            remote,
        );
        assert_eq!(r.url, "http://example.com/a?b=1");
        assert_eq!(r.method, "POST");
        assert_eq!(r.body, b"x");
        assert_eq!(r.original_header_names, ["host", "x-custom"]);
        let r = downstream_request(&parts("/", None), Bytes::new(), local, remote);
        assert_eq!(r.url, "http://127.0.0.1:7676/");
        let r = downstream_request(
            &parts("http://origin.test:8080/p", None),
            Bytes::new(),
            local,
            remote,
        );
        assert_eq!(r.url, "http://origin.test:8080/p");
    }

    #[test]
    fn mapped_ipv4_addresses_are_canonical() {
        let local: SocketAddr = "[::ffff:127.0.0.1]:7676".parse().unwrap();
        let r = downstream_request(&parts("/", None), Bytes::new(), local, local);
        assert_eq!(r.client_ip.to_string(), "127.0.0.1");
    }

    #[test]
    fn framing_headers_are_left_to_hyper_unless_manual() {
        let mut head = ResponseHead::new(201);
        head.headers.append("x-a", "1");
        head.headers.append("x-a", "2");
        let r = to_hyper(&head, ServeBody::full(b"abc".to_vec()), &Span::none());
        assert_eq!(r.status(), 201);
        assert!(r.headers().get("content-length").is_none());
        assert!(r.headers().get("transfer-encoding").is_none());
        assert_eq!(r.headers().get_all("x-a").iter().count(), 2);
        assert_eq!(r.body().size_hint().exact(), Some(3));
        // A manual content-length (the core leaves only valid ones) goes out.
        head.headers.append("content-length", "3");
        let r = to_hyper(&head, ServeBody::full(b"abc".to_vec()), &Span::none());
        assert_eq!(r.headers().get("content-length").unwrap(), "3");
    }

    #[test]
    fn a_manual_content_length_cuts_or_aborts_a_whole_body() {
        let (tx, _rx) = oneshot::channel();
        let mut resp = Responder::new(tx, GuestPrinter::default(), Span::none());
        let mut head = ResponseHead::new(200);
        head.headers.append("content-length", "2");
        let b = resp.whole(&head, b"meow".to_vec());
        assert_eq!(b.size_hint().exact(), Some(2), "cut to the content-length");
        head.headers.set_all("content-length", vec![b"9".to_vec()]);
        let b = resp.whole(&head, b"meow".to_vec());
        assert!(matches!(b.state, BodyState::Aborted(_)), "ends early");
        resp.head_request = true;
        let b = resp.whole(&head, b"meow".to_vec());
        assert_eq!(b.size_hint().exact(), Some(0), "HEAD: no body to check");
        let b = resp.whole(&ResponseHead::new(200), b"meow".to_vec());
        assert_eq!(b.size_hint().exact(), Some(4), "automatic: the whole body");
    }
}
