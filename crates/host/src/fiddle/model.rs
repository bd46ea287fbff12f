//! The fiddle value: one guest, its `fastly.toml`, and an ordered list of requests,
//! each with its assertions. Its JSON form is the file `edgeplay test` reads and the
//! tab saves, and what a link carries (`docs/fiddle.md` documents every field).

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The schema version this build writes and the newest it reads.
pub const FIDDLE_VERSION: u32 = 1;

/// What can be wrong with a fiddle, a link to one, or its guest. Each variant's
/// message is what a user sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FiddleError {
    /// The link's text is not base64url.
    #[error("the link is damaged: its data is not base64url ({0}); was it cut or edited?")]
    Base64(String),
    /// The link's data does not inflate (truncated or corrupt).
    #[error("the link is truncated or corrupt: its data does not decompress ({0})")]
    Deflate(String),
    /// The data inflates to more than the bound.
    #[error("the fiddle is too large: it inflates to more than {limit} bytes")]
    TooLarge {
        /// The bound, in bytes.
        limit: usize,
    },
    /// The text is not a fiddle (bad JSON, a missing or mistyped field).
    #[error("not a fiddle: {0}")]
    NotAFiddle(String),
    /// The fiddle was written by a newer edgeplay.
    #[error("this fiddle has version {found}, newer than this edgeplay understands (up to {supported}): update edgeplay to open it")]
    NewerVersion {
        /// The version the fiddle has.
        found: u64,
        /// The newest version this build reads.
        supported: u32,
    },
    /// A guest's bytes do not match the SHA-256 the fiddle names.
    #[error("the guest's bytes do not match the fiddle's SHA-256 (expected {expected}, got {actual}): the guest or the link was changed")]
    HashMismatch {
        /// The SHA-256 the fiddle names (hex).
        expected: String,
        /// The SHA-256 of the bytes (hex).
        actual: String,
    },
    /// An inline guest's base64 does not decode.
    #[error("the inline guest is not valid base64: {0}")]
    InlineGuest(String),
}

/// A whole fiddle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fiddle {
    /// The schema version ([`FIDDLE_VERSION`]).
    pub version: u32,
    /// A title for people (may be empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    /// The guest.
    pub guest: GuestSource,
    /// The `fastly.toml` text (may be empty: no configuration).
    #[serde(default)]
    pub fastly_toml: String,
    /// The requests, run in order against one service state.
    #[serde(default)]
    pub requests: Vec<FiddleRequest>,
    /// Recorded backend exchanges: when there are any, backend requests are answered
    /// from them (matched by backend, method and URL) instead of the network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recordings: Vec<super::recording::Recording>,
}

/// Where a fiddle's guest comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum GuestSource {
    /// One of the playground's examples, by its menu name (`hello`, `kv`, …: see
    /// [`example_file`]).
    Example {
        /// The example's name.
        name: String,
    },
    /// A wasm file at a URL (the tab fetches it with CORS), checked against `sha256`.
    Url {
        /// The URL.
        url: String,
        /// Lowercase hex SHA-256 of the file.
        sha256: String,
    },
    /// The wasm itself, base64 (standard alphabet, padded).
    Inline {
        /// The module's bytes, base64.
        wasm: String,
        /// Lowercase hex SHA-256 of the bytes; checked when present.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sha256: Option<String>,
    },
    /// Guest source text (JavaScript), carried as it is; building it is issue 12's.
    Source {
        /// The language (`javascript`).
        #[serde(default = "default_language")]
        language: String,
        /// The source text.
        text: String,
        /// npm packages the source imports, by name, each with its version range
        /// (`{"lodash-es": "^4.17.21"}`), bundled with it by the tab's esbuild.
        #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
        dependencies: BTreeMap<String, String>,
        /// The npm registry they come from (absent: the public registry).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        registry: Option<String>,
    },
}

fn default_language() -> String {
    "javascript".into()
}

/// One request of the sequence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiddleRequest {
    /// A label for people (may be empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label: String,
    /// The method (`GET` when absent).
    #[serde(default = "default_method")]
    pub method: String,
    /// The path and query (`/a?b=1`), or an absolute URL.
    #[serde(default = "default_path")]
    pub path: String,
    /// Request headers, in order, as `[name, value]` pairs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<(String, String)>,
    /// The request body, as text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub body: String,
    /// The client IP the guest sees (default 127.0.0.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<std::net::IpAddr>,
    /// Milliseconds to wait after the previous request finished (0 for the first).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub delay_ms: u64,
    /// Run this request with an empty cache of its own (the stored cache is not
    /// touched; other state carries over as usual).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fresh_cache: bool,
    /// The assertions, one per line ([`crate::fiddle::assert`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub assertions: String,
}

fn default_method() -> String {
    "GET".into()
}

fn default_path() -> String {
    "/".into()
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Default for FiddleRequest {
    fn default() -> Self {
        FiddleRequest {
            label: String::new(),
            method: default_method(),
            path: default_path(),
            headers: Vec::new(),
            body: String::new(),
            client_ip: None,
            delay_ms: 0,
            fresh_cache: false,
            assertions: String::new(),
        }
    }
}

impl FiddleRequest {
    /// The downstream request this is: `path` made absolute against
    /// `http://127.0.0.1:7676` (or the `Host` header given, as `edgeplay request`
    /// does), its headers in order, the body, and the client IP.
    pub fn to_downstream(&self) -> crate::http::DownstreamRequest {
        let host = self
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("host"))
            .map(|(_, v)| v.clone());
        let url = match (&host, self.path.starts_with('/')) {
            (Some(h), true) => format!("http://{h}{}", self.path),
            _ => self.path.clone(),
        };
        let mut req = crate::http::DownstreamRequest::new(&self.method, &url);
        for (name, value) in &self.headers {
            if name.eq_ignore_ascii_case("host") {
                req.headers.insert("host", value.as_bytes());
            } else {
                req = req.with_header(name, value.as_bytes());
            }
        }
        req.body = self.body.as_bytes().to_vec();
        if let Some(ip) = self.client_ip {
            req.client_ip = ip;
        }
        req
    }
}

/// The playground's examples by menu name, and their files under `examples/` (the
/// tab's `src/examples.rs` lists the same; the runner looks them up in an examples
/// directory).
pub const EXAMPLE_FILES: &[(&str, &str)] = &[
    ("hello", "hello.wasm"),
    ("echo", "echo.wasm"),
    ("stream", "stream.wasm"),
    ("logging", "logging.wasm"),
    ("config", "config.wasm"),
    ("js-app", "js-app.wasm"),
    ("fanout", "fanout.wasm"),
    ("kv", "visits.wasm"),
    ("proxy", "proxy.wasm"),
    ("cache", "readthrough.wasm"),
];

/// The file of the example `name`, if it is one.
pub fn example_file(name: &str) -> Option<&'static str> {
    EXAMPLE_FILES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
}

/// Lowercase hex SHA-256 of `bytes` (hashed in pieces: [`crate::engine::content_hash`]).
pub fn sha256_hex(bytes: &[u8]) -> String {
    crate::engine::content_hash(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl GuestSource {
    /// JavaScript source with no npm packages.
    pub fn javascript(text: &str) -> GuestSource {
        GuestSource::Source {
            language: "javascript".into(),
            text: text.into(),
            dependencies: BTreeMap::new(),
            registry: None,
        }
    }

    /// An inline guest for `wasm`, with its SHA-256.
    pub fn inline(wasm: &[u8]) -> GuestSource {
        GuestSource::Inline {
            wasm: base64::engine::general_purpose::STANDARD.encode(wasm),
            sha256: Some(sha256_hex(wasm)),
        }
    }

    /// Check `bytes` (a fetched `url` guest, or an inline one's decoded bytes)
    /// against the SHA-256 the fiddle names. Other kinds name none: always `Ok`.
    pub fn verify(&self, bytes: &[u8]) -> Result<(), FiddleError> {
        let expected = match self {
            GuestSource::Url { sha256, .. } => Some(sha256),
            GuestSource::Inline { sha256, .. } => sha256.as_ref(),
            _ => None,
        };
        match expected {
            Some(e) => {
                let actual = sha256_hex(bytes);
                if actual.eq_ignore_ascii_case(e.trim()) {
                    Ok(())
                } else {
                    Err(FiddleError::HashMismatch {
                        expected: e.clone(),
                        actual,
                    })
                }
            }
            None => Ok(()),
        }
    }

    /// An inline guest's bytes, decoded and checked ([`GuestSource::verify`]);
    /// `None` for other kinds.
    pub fn inline_bytes(&self) -> Option<Result<Vec<u8>, FiddleError>> {
        let GuestSource::Inline { wasm, .. } = self else {
            return None;
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(wasm.trim())
            .map_err(|e| FiddleError::InlineGuest(e.to_string()));
        Some(bytes.and_then(|b| self.verify(&b).map(|()| b)))
    }

    /// A short description for people: `example hello`, `url https://…`,
    /// `inline (1234 bytes)`, `javascript source (56 bytes)`.
    pub fn describe(&self) -> String {
        match self {
            GuestSource::Example { name } => format!("example {name}"),
            GuestSource::Url { url, .. } => format!("url {url}"),
            GuestSource::Inline { wasm, .. } => {
                format!("inline wasm ({} bytes)", wasm.trim().len() / 4 * 3)
            }
            GuestSource::Source {
                language,
                text,
                dependencies,
                ..
            } => match dependencies.len() {
                0 => format!("{language} source ({} bytes)", text.len()),
                1 => format!("{language} source ({} bytes, 1 npm package)", text.len()),
                n => format!("{language} source ({} bytes, {n} npm packages)", text.len()),
            },
        }
    }
}

impl Fiddle {
    /// A fiddle of the current version with `guest` and no requests.
    pub fn new(guest: GuestSource) -> Fiddle {
        Fiddle {
            version: FIDDLE_VERSION,
            title: String::new(),
            guest,
            fastly_toml: String::new(),
            requests: Vec::new(),
            recordings: Vec::new(),
        }
    }

    /// The fiddle as JSON (pretty, for files).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Read a fiddle from JSON: the version is checked first, so a newer fiddle is
    /// [`FiddleError::NewerVersion`] even when its fields changed.
    pub fn from_json(text: &str) -> Result<Fiddle, FiddleError> {
        Fiddle::from_json_bytes(text.as_bytes())
    }

    /// [`Fiddle::from_json`] from bytes (which must be UTF-8 JSON).
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Fiddle, FiddleError> {
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| FiddleError::NotAFiddle(format!("invalid JSON: {e}")))?;
        let Some(obj) = value.as_object() else {
            return Err(FiddleError::NotAFiddle("expected a JSON object".into()));
        };
        match obj.get("version") {
            None => return Err(FiddleError::NotAFiddle("it has no `version` field".into())),
            Some(v) => match v.as_u64() {
                Some(n) if n > u64::from(FIDDLE_VERSION) => {
                    return Err(FiddleError::NewerVersion {
                        found: n,
                        supported: FIDDLE_VERSION,
                    })
                }
                Some(n) if n >= 1 => {}
                _ => {
                    return Err(FiddleError::NotAFiddle(format!(
                        "`version` must be a positive integer, found {v}"
                    )))
                }
            },
        }
        serde_json::from_value(value).map_err(|e| FiddleError::NotAFiddle(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minimal_fiddle_gets_defaults() {
        let f = Fiddle::from_json(
            r#"{"version":1,"guest":{"kind":"example","name":"hello"},"requests":[{}]}"#,
        )
        .unwrap();
        assert_eq!(
            f.guest,
            GuestSource::Example {
                name: "hello".into()
            }
        );
        assert_eq!(f.requests[0], FiddleRequest::default());
        assert_eq!(f.requests[0].method, "GET");
        assert_eq!(f.requests[0].path, "/");
    }

    #[test]
    fn json_round_trips() {
        let mut f = Fiddle::new(GuestSource::inline(b"\0asm\x01\0\0\0"));
        f.fastly_toml = "name = \"x\"\n".into();
        f.requests.push(FiddleRequest {
            label: "first".into(),
            method: "POST".into(),
            path: "/a?b=1".into(),
            headers: vec![("x-a".into(), "1".into())],
            body: "hi".into(),
            client_ip: Some("203.0.113.7".parse().unwrap()),
            delay_ms: 20,
            fresh_cache: true,
            assertions: "clientFetch.status is 200".into(),
        });
        assert_eq!(Fiddle::from_json(&f.to_json()).unwrap(), f);
    }

    #[test]
    fn versions_are_checked_first() {
        let newer = r#"{"version":2,"guest":{"kind":"hologram"}}"#;
        assert_eq!(
            Fiddle::from_json(newer),
            Err(FiddleError::NewerVersion {
                found: 2,
                supported: 1
            })
        );
        for bad in [
            r#"{"guest":{"kind":"example","name":"hello"}}"#,
            r#"{"version":"1","guest":{"kind":"example","name":"hello"}}"#,
            r#"{"version":0,"guest":{"kind":"example","name":"hello"}}"#,
            r#"{"version":1,"guest":{"kind":"hologram"}}"#,
            r#"[1,2]"#,
            "not json",
        ] {
            assert!(
                matches!(Fiddle::from_json(bad), Err(FiddleError::NotAFiddle(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn guests_are_checked_against_their_hash() {
        let g = GuestSource::inline(b"wasm bytes");
        assert_eq!(g.inline_bytes().unwrap().unwrap(), b"wasm bytes");
        assert!(g.verify(b"wasm bytes").is_ok());
        assert!(matches!(
            g.verify(b"other bytes"),
            Err(FiddleError::HashMismatch { .. })
        ));
        let GuestSource::Inline { sha256, .. } = &g else {
            unreachable!()
        };
        let tampered = GuestSource::Inline {
            wasm: base64::engine::general_purpose::STANDARD.encode(b"evil"),
            sha256: sha256.clone(),
        };
        let e = tampered.inline_bytes().unwrap().unwrap_err();
        assert!(e.to_string().contains("do not match"), "{e}");
        let url = GuestSource::Url {
            url: "https://example.com/a.wasm".into(),
            sha256: sha256_hex(b"a").to_uppercase(),
        };
        assert!(url.verify(b"a").is_ok(), "hex case does not matter");
        assert!(url.verify(b"b").is_err());
        let not_b64 = GuestSource::Inline {
            wasm: "***".into(),
            sha256: None,
        };
        assert!(matches!(
            not_b64.inline_bytes(),
            Some(Err(FiddleError::InlineGuest(_)))
        ));
    }

    #[test]
    fn requests_become_downstream_requests() {
        let r = FiddleRequest {
            method: "POST".into(),
            path: "/x?y=1".into(),
            headers: vec![
                ("Host".into(), "example.com".into()),
                ("x-a".into(), "1".into()),
            ],
            body: "hi".into(),
            client_ip: Some("203.0.113.9".parse().unwrap()),
            ..FiddleRequest::default()
        };
        let d = r.to_downstream();
        assert_eq!(d.method, "POST");
        assert_eq!(d.url, "http://example.com/x?y=1");
        assert_eq!(d.headers.get("x-a"), Some(&b"1"[..]));
        assert_eq!(d.headers.get_all("host"), [&b"example.com"[..]]);
        assert_eq!(d.body, b"hi");
        assert_eq!(d.client_ip.to_string(), "203.0.113.9");
        let d = FiddleRequest::default().to_downstream();
        assert_eq!(d.url, "http://127.0.0.1:7676/");
        let abs = FiddleRequest {
            path: "https://shop.example/cart".into(),
            ..FiddleRequest::default()
        };
        assert_eq!(abs.to_downstream().url, "https://shop.example/cart");
    }

    #[test]
    fn examples_have_files() {
        assert_eq!(example_file("kv"), Some("visits.wasm"));
        assert_eq!(example_file("hello"), Some("hello.wasm"));
        assert_eq!(example_file("nope"), None);
    }
}
