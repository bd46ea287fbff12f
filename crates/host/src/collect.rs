//! Turning an execution's outputs and outcome into what a user sees: one response,
//! the logs, stdout and stderr. Both drivers (the runner's `request` and the web
//! worker) use it; `serve` streams the same outputs instead of collecting them.
//!
//! Framing of the downstream response, as the platform documents it for
//! `FramingHeadersMode` and Viceroy does it: in automatic mode (0, the default) the
//! guest's `content-length` and `transfer-encoding` are dropped and the host frames
//! the body itself (a `content-length` of the whole body, `transfer-encoding: chunked`
//! when it streams). In manual mode (1) valid framing headers are kept and used; a
//! `content-length` that does not match the body cuts a longer body at that length and
//! ends the connection early after a shorter one. Invalid manual headers (a malformed
//! or repeated `content-length`, a `transfer-encoding` other than `chunked`, neither
//! header) fall back to automatic framing with a note. [`apply_response_framing`]
//! makes that choice when the guest sends its response, so a [`ResponseHead`] carries
//! framing headers only when they are the guest's valid manual ones
//! ([`ResponseHead::framing`]); drivers frame the rest.

use crate::http::{Handoff, Headers, HttpVersion, Output, ResponseHead};
use crate::outcome::{Exit, Outcome};
use serde::{Deserialize, Serialize};

/// One log line with its endpoint.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Endpoint name.
    pub endpoint: String,
    /// The line.
    pub line: String,
}

/// Everything one request produced, collected.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Collected {
    /// The response head the guest sent, if any.
    pub head: Option<ResponseHead>,
    /// The body bytes.
    pub body: Vec<u8>,
    /// Number of body chunks received (1 for a whole body).
    pub chunks: usize,
    /// True when the body ended normally.
    pub body_complete: bool,
    /// True when the guest abandoned a streaming body.
    pub body_aborted: bool,
    /// Named-endpoint log lines.
    pub logs: Vec<LogLine>,
    /// Guest stdout.
    pub stdout: Vec<u8>,
    /// Guest stderr.
    pub stderr: Vec<u8>,
    /// Informational (1xx) responses sent before the final one, in order.
    #[serde(default)]
    pub informational: Vec<ResponseHead>,
    /// The proxy the guest handed the request to, if it did.
    #[serde(default)]
    pub handoff: Option<Handoff>,
}

/// The final response a client gets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FinalResponse {
    /// Status code.
    pub status: u16,
    /// Headers, with the framing the client gets (`content-length` or
    /// `transfer-encoding: chunked`; see the module documentation). A server adds
    /// others of its own, such as `date`.
    pub headers: Headers,
    /// Body, as framed: a guest's manual `content-length` cuts a longer body.
    pub body: Vec<u8>,
    /// The error a user should see (trap, exit code, CPU limit), or `None`.
    pub error: Option<String>,
}

impl FinalResponse {
    /// The answer to a request that loops back through this service (508 Loop
    /// Detected), which drivers give without running the guest; see
    /// [`crate::backends::loop_detected`].
    pub fn loop_detected() -> FinalResponse {
        loop_detected_response()
    }
}

impl Collected {
    /// Take in outputs, in order.
    pub fn absorb(&mut self, outputs: Vec<Output>) {
        for o in outputs {
            match o {
                Output::Response(h) => self.head = Some(h),
                Output::BodyChunk(c) => {
                    self.chunks += 1;
                    self.body.extend_from_slice(&c);
                }
                Output::BodyEnd => self.body_complete = true,
                Output::BodyAbort => self.body_aborted = true,
                Output::Stdout(b) => self.stdout.extend_from_slice(&b),
                Output::Stderr(b) => self.stderr.extend_from_slice(&b),
                Output::Log { endpoint, line } => self.logs.push(LogLine { endpoint, line }),
                Output::Informational(h) => self.informational.push(h),
                Output::Handoff(h) => self.handoff = Some(h),
                // One request per run here: never produced without reusable sandboxes.
                Output::ForRequest { .. } => {}
            }
        }
    }

    /// The response the client gets, given how the execution ended — as Viceroy
    /// answers: the guest's response if it sent one; 500 with the error when it trapped
    /// (or exited non-zero, or hit the CPU limit) before sending; an empty 200 when it
    /// ended normally without sending anything. A guest that handed the request to a
    /// proxy ([`Handoff`]) gets 501 with [`Handoff::without_connection`] here: only a
    /// driver holding the client's connection (`serve`) can perform the handoff.
    pub fn final_response(&self, outcome: &Outcome) -> FinalResponse {
        let error = outcome.exit.error_message();
        let mut r = match &self.head {
            Some(h) => {
                let mut r = FinalResponse {
                    status: h.status,
                    headers: h.headers.clone(),
                    body: self.body.clone(),
                    error,
                };
                match h.framing() {
                    Framing::Automatic => {
                        automatic_framing(&mut r.headers, r.status, h.streaming, r.body.len())
                    }
                    Framing::Length(n) => {
                        if let Ok(n) = usize::try_from(n) {
                            r.body.truncate(n);
                        }
                    }
                    Framing::Chunked => {}
                }
                return r;
            }
            None => match &outcome.exit {
                Exit::Returned | Exit::Exit(0) if self.handoff.is_some() => {
                    let msg = self
                        .handoff
                        .as_ref()
                        .map(Handoff::without_connection)
                        .unwrap_or_default();
                    let mut headers = Headers::new();
                    headers.append("content-type", "text/plain; charset=utf-8");
                    FinalResponse {
                        status: 501,
                        headers,
                        body: msg.clone().into_bytes(),
                        error: Some(msg),
                    }
                }
                Exit::Returned | Exit::Exit(0) => FinalResponse {
                    status: 200,
                    headers: Headers::new(),
                    body: Vec::new(),
                    error: None,
                },
                _ => {
                    let msg = error.clone().unwrap_or_default();
                    let mut headers = Headers::new();
                    headers.append("content-type", "text/plain; charset=utf-8");
                    FinalResponse {
                        status: 500,
                        headers,
                        body: msg.into_bytes(),
                        error,
                    }
                }
            },
        };
        automatic_framing(&mut r.headers, r.status, false, r.body.len());
        r
    }
}

/// How a downstream response's body is framed on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// The host frames the body: `content-length` of a whole body, chunked when it
    /// streams.
    Automatic,
    /// The guest's own `content-length` (manual framing).
    Length(u64),
    /// The guest's own `transfer-encoding: chunked` (manual framing).
    Chunked,
}

/// Apply a response's `framing_headers_mode` to its headers as it goes downstream
/// (see the module documentation). Returns a note for the trace when manual framing
/// falls back to automatic or a header was dropped.
pub fn apply_response_framing(headers: &mut Headers, framing_mode: u32) -> Option<String> {
    let mut note = None;
    if framing_mode == 1 {
        let beyond_u64 = headers.get("content-length").is_some_and(|v| {
            std::str::from_utf8(v)
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .is_none()
        });
        let valid = crate::backends::manual_framing_valid(headers).and(if beyond_u64 {
            Err("malformed content-length")
        } else {
            Ok(())
        });
        match valid {
            Ok(()) => {
                if headers.get("transfer-encoding").is_some() && headers.remove("content-length") {
                    // RFC 9112 §6.1: a sender must not send both; chunked framing wins.
                    return Some(
                        "manual framing: transfer-encoding wins; content-length dropped".into(),
                    );
                }
                return None;
            }
            Err(why) => {
                note = Some(format!(
                    "manual framing falls back to automatic: {why} (as Viceroy)"
                ));
            }
        }
    }
    headers.remove("content-length");
    headers.remove("transfer-encoding");
    note
}

/// The framing headers a server adds to an automatically framed response (as hyper
/// does): none for a status that has no body, `transfer-encoding: chunked` for a
/// streamed body, else the whole body's `content-length`.
pub fn automatic_framing(headers: &mut Headers, status: u16, streaming: bool, len: usize) {
    if (100..200).contains(&status) || status == 204 || status == 304 {
        return;
    }
    if streaming {
        headers.append("transfer-encoding", "chunked");
    } else {
        headers.append("content-length", len.to_string());
    }
}

impl ResponseHead {
    /// How the body is framed. The core leaves framing headers on a head only when
    /// they are the guest's valid manual ones ([`apply_response_framing`]).
    pub fn framing(&self) -> Framing {
        if self.headers.get("transfer-encoding").is_some() {
            return Framing::Chunked;
        }
        match self.headers.get("content-length") {
            Some(v) => std::str::from_utf8(v)
                .ok()
                .and_then(|v| v.parse().ok())
                .map_or(Framing::Automatic, Framing::Length),
            None => Framing::Automatic,
        }
    }

    /// A plain head with no headers.
    pub fn new(status: u16) -> Self {
        ResponseHead {
            status,
            version: HttpVersion::Http11,
            headers: Headers::new(),
            streaming: false,
        }
    }
}

/// The response to a looping request: 508 Loop Detected, plain text.
pub fn loop_detected_response() -> FinalResponse {
    let mut headers = Headers::new();
    headers.append("content-type", "text/plain; charset=utf-8");
    FinalResponse {
        status: 508,
        headers,
        body: crate::backends::LOOP_DETECTED_BODY.as_bytes().to_vec(),
        error: Some(format!(
            "request loop detected (cdn-loop carries the edgeplay token {} times)",
            crate::backends::MAX_LOOP_HOPS
        )),
    }
}

/// [`loop_detected_response`] as outputs, for a driver that streams responses.
pub fn loop_detected_outputs() -> Vec<Output> {
    let r = loop_detected_response();
    vec![
        Output::Response(ResponseHead {
            status: r.status,
            version: HttpVersion::Http11,
            headers: r.headers,
            streaming: false,
        }),
        Output::BodyChunk(r.body),
        Output::BodyEnd,
    ]
}
