//! HTTP value types shared by the core and its drivers: headers, the downstream
//! request a driver hands in, and the response parts a guest sends out.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// An ordered header list. Names are stored lowercased (HTTP/1.1 names are
/// case-insensitive and the platform lowercases them); values are raw bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Headers {
    entries: Vec<(String, Vec<u8>)>,
}

impl Headers {
    /// An empty list.
    pub fn new() -> Self {
        Headers::default()
    }

    /// Every `(name, value)` in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// Number of header lines.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no headers.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Distinct names in first-appearance order.
    pub fn names(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (n, _) in &self.entries {
            if !out.iter().any(|o| o == n) {
                out.push(n.clone());
            }
        }
        out
    }

    /// Every value of `name`, in order.
    pub fn get_all(&self, name: &str) -> Vec<&[u8]> {
        let name = name.to_ascii_lowercase();
        self.entries
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_slice())
            .collect()
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        let name = name.to_ascii_lowercase();
        self.entries
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_slice())
    }

    /// Add a value after any existing ones.
    pub fn append(&mut self, name: &str, value: impl Into<Vec<u8>>) {
        self.entries.push((name.to_ascii_lowercase(), value.into()));
    }

    /// Replace every value of `name` with one value (kept at the first one's position).
    pub fn insert(&mut self, name: &str, value: impl Into<Vec<u8>>) {
        let lname = name.to_ascii_lowercase();
        let value = value.into();
        match self.entries.iter().position(|(n, _)| *n == lname) {
            Some(pos) => {
                self.entries[pos].1 = value;
                let mut i = 0;
                self.entries.retain(|(n, _)| {
                    i += 1;
                    i - 1 == pos || *n != lname
                });
            }
            None => self.entries.push((lname, value)),
        }
    }

    /// Replace every value of `name` with `values`.
    pub fn set_all(&mut self, name: &str, values: Vec<Vec<u8>>) {
        self.remove(name);
        for v in values {
            self.append(name, v);
        }
    }

    /// Remove every value of `name`; true if there was one.
    pub fn remove(&mut self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        let before = self.entries.len();
        self.entries.retain(|(n, _)| *n != name);
        before != self.entries.len()
    }
}

/// `http_version` as the ABI numbers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HttpVersion {
    /// HTTP/0.9
    Http09 = 0,
    /// HTTP/1.0
    Http10 = 1,
    /// HTTP/1.1
    Http11 = 2,
    /// HTTP/2
    H2 = 3,
    /// HTTP/3
    H3 = 4,
}

impl HttpVersion {
    /// From the ABI number.
    pub fn from_abi(v: u32) -> Option<Self> {
        Some(match v {
            0 => HttpVersion::Http09,
            1 => HttpVersion::Http10,
            2 => HttpVersion::Http11,
            3 => HttpVersion::H2,
            4 => HttpVersion::H3,
            _ => return None,
        })
    }

    /// The wire spelling (`HTTP/1.1`).
    pub fn as_str(self) -> &'static str {
        match self {
            HttpVersion::Http09 => "HTTP/0.9",
            HttpVersion::Http10 => "HTTP/1.0",
            HttpVersion::Http11 => "HTTP/1.1",
            HttpVersion::H2 => "HTTP/2",
            HttpVersion::H3 => "HTTP/3",
        }
    }
}

/// The downstream (client) request a driver hands to an execution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DownstreamRequest {
    /// Method, e.g. `GET`.
    pub method: String,
    /// Absolute URL, e.g. `http://127.0.0.1:7676/path?q=1`.
    pub url: String,
    /// Protocol version.
    pub version: HttpVersion,
    /// Headers as received (names lowercased).
    pub headers: Headers,
    /// Header names as received on the wire, in order, with their original case.
    pub original_header_names: Vec<String>,
    /// The whole request body.
    pub body: Vec<u8>,
    /// The client's address (what `get_client_ip_addr` returns).
    pub client_ip: IpAddr,
    /// The address that accepted the request.
    pub server_ip: IpAddr,
}

impl DownstreamRequest {
    /// A request with Viceroy's loopback defaults: client and server 127.0.0.1, HTTP/1.1.
    /// A path (`/x`) is made absolute against `http://127.0.0.1:7676`.
    pub fn new(method: &str, url: &str) -> Self {
        let url = if url.starts_with('/') {
            format!("http://127.0.0.1:7676{url}")
        } else if !url.contains("://") {
            format!("http://{url}")
        } else {
            url.to_string()
        };
        let mut headers = Headers::new();
        let mut original_header_names = Vec::new();
        if let Ok(uri) = url.parse::<http::Uri>() {
            if let Some(auth) = uri.authority() {
                headers.append("host", auth.as_str());
                original_header_names.push("host".to_string());
            }
        }
        DownstreamRequest {
            method: method.to_string(),
            url,
            version: HttpVersion::Http11,
            headers,
            original_header_names,
            body: Vec::new(),
            client_ip: IpAddr::from([127, 0, 0, 1]),
            server_ip: IpAddr::from([127, 0, 0, 1]),
        }
    }

    /// Add a header (keeps the original name for `original_header_names`).
    pub fn with_header(mut self, name: &str, value: impl Into<Vec<u8>>) -> Self {
        self.headers.append(name, value);
        self.original_header_names.push(name.to_string());
        self
    }

    /// Set the body.
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }
}

/// Status line and headers of the response a guest sent downstream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResponseHead {
    /// Status code.
    pub status: u16,
    /// Protocol version the guest set.
    pub version: HttpVersion,
    /// Headers, in order.
    pub headers: Headers,
    /// True when the body is streamed (`stream_to_client`) rather than sent whole.
    pub streaming: bool,
}

/// Something the guest produced that the driver passes on, in order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Output {
    /// The response head (sent once).
    Response(ResponseHead),
    /// A piece of the response body.
    BodyChunk(Vec<u8>),
    /// The response body is complete.
    BodyEnd,
    /// The response body was abandoned: the client sees an incomplete message.
    BodyAbort,
    /// Bytes the guest wrote to stdout.
    Stdout(Vec<u8>),
    /// Bytes the guest wrote to stderr.
    Stderr(Vec<u8>),
    /// One message written to a named log endpoint.
    Log {
        /// Endpoint name.
        endpoint: String,
        /// The message (without a trailing newline).
        line: String,
    },
    /// An informational (1xx) response sent before the final one
    /// (`send_informational_response`, or `send_downstream` of a 103): its status and
    /// headers; it has no body.
    Informational(ResponseHead),
    /// The guest handed the client request to a proxy (a WebSocket or GRIP redirect)
    /// instead of answering it: the platform answers it when the guest ends.
    Handoff(Handoff),
    /// A reusable sandbox accepted a further downstream request (`next_request_wait`):
    /// the response outputs from here on answer request `index` (0 is the request the
    /// instance started with), whose id is `request_id`. Only a platform that reuses
    /// sandboxes ([`crate::driver::Capabilities::reuses_sandboxes`]) sees it.
    ForRequest {
        /// Which request of the instance, counting from 0.
        index: u32,
        /// Its request id, as the platform handed it in.
        request_id: String,
    },
}

/// Which proxy a [`Handoff`] goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HandoffKind {
    /// `upgrade_websocket` / `redirect_to_websocket_proxy(_v2)`: the WebSocket proxy,
    /// which relays the upgraded connection to the backend.
    WebSocket,
    /// `redirect_to_grip_proxy(_v2)`: Fanout's GRIP proxy in front of the backend.
    Grip,
}

impl HandoffKind {
    /// The product's name, for messages.
    pub fn label(self) -> &'static str {
        match self {
            HandoffKind::WebSocket => "the WebSocket proxy",
            HandoffKind::Grip => "the GRIP proxy (Fanout)",
        }
    }
}

/// A client request handed to a proxy ([`Output::Handoff`]): what to send to which
/// backend. The request is the client's (the legacy calls) or the guest's request
/// (the `_v2` calls), with the client's connection and WebSocket headers kept.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Handoff {
    /// The proxy.
    pub kind: HandoffKind,
    /// The backend's name.
    pub backend: String,
    /// Its origin: `http://host:port` or `https://host:port`.
    pub origin: String,
    /// Its path prefix (`/` for none).
    pub path_prefix: String,
    /// The Host header the backend gets (its override, else its authority).
    pub host: String,
    /// Method.
    pub method: String,
    /// Path and query.
    pub path_and_query: String,
    /// Headers (the client's `host` is replaced by [`Handoff::host`]).
    pub headers: Headers,
}

impl Handoff {
    /// Why a driver without the client's connection (`edgeplay request`, `run`, the
    /// tab) cannot perform it.
    pub fn without_connection(&self) -> String {
        format!(
            "the guest handed this request to {} through backend {:?}; that needs the client's own connection (the upgraded socket, or a held-open stream), which only `edgeplay serve` has: a browser tab has no raw sockets, and `edgeplay request`/`run` have no client connection",
            self.kind.label(),
            self.backend
        )
    }
}

/// Cache override settings recorded on a request (`cache_override_*_set`), for the cache issue.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CacheOverride {
    /// `cache_override_tag` bits.
    pub tag: u32,
    /// TTL seconds.
    pub ttl: u32,
    /// stale-while-revalidate seconds.
    pub swr: u32,
    /// Surrogate keys.
    pub surrogate_keys: Option<String>,
    /// Cache lookup timeout in ms (`cache_override_v3_set`, meaningful with the `lookup_timeout` bit).
    pub lookup_timeout_ms: u32,
}

/// A request the guest holds (the downstream one, or one it built).
#[derive(Clone, Debug)]
pub struct RequestParts {
    /// Method.
    pub method: String,
    /// Absolute URL.
    pub uri: String,
    /// Version.
    pub version: HttpVersion,
    /// Headers.
    pub headers: Headers,
    /// Recorded cache override.
    pub cache_override: CacheOverride,
    /// `framing_headers_mode` (0 automatic, 1 manual).
    pub framing_mode: u32,
    /// `content_encodings` bits for auto-decompression.
    pub auto_decompress: u32,
}

impl RequestParts {
    /// An empty `GET /` request, as `http_req.new` makes it.
    pub fn empty() -> Self {
        RequestParts {
            method: "GET".into(),
            uri: "/".into(),
            version: HttpVersion::Http11,
            headers: Headers::new(),
            cache_override: CacheOverride::default(),
            framing_mode: 0,
            auto_decompress: 0,
        }
    }
}

/// A response the guest holds.
#[derive(Clone, Debug)]
pub struct ResponseParts {
    /// Status code.
    pub status: u16,
    /// Version.
    pub version: HttpVersion,
    /// Headers.
    pub headers: Headers,
    /// `framing_headers_mode`.
    pub framing_mode: u32,
    /// `http_keepalive_mode`.
    pub keepalive_mode: u32,
    /// The backend address a backend response came from (`get_addr_dest_ip`/`_port`).
    pub remote_addr: Option<std::net::SocketAddr>,
}

impl ResponseParts {
    /// An empty `200` response, as `http_resp.new` makes it.
    pub fn empty() -> Self {
        ResponseParts {
            status: 200,
            version: HttpVersion::Http11,
            headers: Headers::new(),
            framing_mode: 0,
            keepalive_mode: 0,
            remote_addr: None,
        }
    }
}
