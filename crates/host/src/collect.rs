//! Turning an execution's outputs and outcome into what a user sees: one response,
//! the logs, stdout and stderr. Both drivers (the runner's `request` and the web
//! worker) use it; `serve` streams the same outputs instead of collecting them.

use crate::http::{Headers, HttpVersion, Output, ResponseHead};
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
}

/// The final response a client gets.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FinalResponse {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: Headers,
    /// Body.
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
            }
        }
    }

    /// The response the client gets, given how the execution ended — as Viceroy
    /// answers: the guest's response if it sent one; 500 with the error when it trapped
    /// (or exited non-zero, or hit the CPU limit) before sending; an empty 200 when it
    /// ended normally without sending anything.
    pub fn final_response(&self, outcome: &Outcome) -> FinalResponse {
        let error = outcome.exit.error_message();
        match &self.head {
            Some(h) => FinalResponse {
                status: h.status,
                headers: h.headers.clone(),
                body: self.body.clone(),
                error,
            },
            None => match &outcome.exit {
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
        }
    }
}

impl ResponseHead {
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
