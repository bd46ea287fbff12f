//! `[local_server.backends]`: Viceroy's backend keys plus edgeplay's `mock` and
//! `reachable_percent`; the backend URL check; Fastlike's `--backend NAME=HOST:PORT@N`.

use super::parse::{KeyPath, Parser, R};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use toml::Value;

/// A backend as `[local_server.backends.NAME]` declares it.
///
/// Viceroy's keys (`url`, `override_host`, `cert_host`, `use_sni`, `grpc`, the
/// timeouts, `health`) plus edgeplay's `ca_certificate` (PEM text: the backend's only
/// trust roots, as a dynamic backend's `ca_cert`) and two more extensions:
///
/// ```toml
/// # A flaky origin: about half of the requests reach it, the others get
/// # Fastlike's synthetic 502 (`Backend request failed: simulated backend failure
/// # (uptime=50%)`). `is_healthy` answers healthy for 1..=100 and unhealthy for 0.
/// [local_server.backends.flaky]
/// url = "http://127.0.0.1:9000"
/// reachable_percent = 50
///
/// # A mock: answered by edgeplay itself, no network (works offline and needs no
/// # CORS in the browser). Every key is optional; `status` defaults to 200.
/// [local_server.backends.api]
/// mock = { status = 200, headers = { "content-type" = "application/json" }, body = '{"ok":true}' }
///
/// # An echo mock: status 200, the request body as the response body, and headers
/// # describing the request: `x-echo-method`, `x-echo-url` (the URL as it would go
/// # on the wire), `x-echo-host` (the Host header sent) and every request header
/// # as `x-echo-header-NAME` (so `cdn-loop` shows as `x-echo-header-cdn-loop`).
/// [local_server.backends.echo]
/// mock = "echo"
///
/// # Either form takes `delay_ms`: the answer comes that much later (a first-byte
/// # timeout shorter than the delay gives the guest a timeout error instead).
/// [local_server.backends.slow]
/// mock = { echo = true, delay_ms = 250 }
/// ```
///
/// A mock backend needs no `url` (it then reads as `http://mock.invalid/` to the
/// backend getters); mock answers still appear in the trace as backend fetches.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BackendConfig {
    /// Origin URL, e.g. `http://127.0.0.1:8080/` (empty for a mock declared without one).
    pub url: String,
    /// Host header to send instead of the URL's host.
    pub override_host: Option<String>,
    /// Connect timeout in ms.
    pub connect_timeout_ms: Option<u32>,
    /// First-byte timeout in ms.
    pub first_byte_timeout_ms: Option<u32>,
    /// Between-bytes timeout in ms.
    pub between_bytes_timeout_ms: Option<u32>,
    /// SNI / certificate host.
    pub cert_host: Option<String>,
    /// Whether to use SNI.
    pub use_sni: Option<bool>,
    /// edgeplay extension (the dynamic backends' `ca_cert`): PEM certificates to trust
    /// for this backend instead of the system's roots.
    #[serde(default)]
    pub ca_certificate: Option<String>,
    /// Viceroy's `grpc`: the backend speaks HTTP/2 (h2 over TLS, h2c over `http`).
    #[serde(default)]
    pub grpc: Option<bool>,
    /// Health as Viceroy's `health` key sets it (`is_healthy` answers it).
    pub health: Option<BackendHealth>,
    /// edgeplay extension (Fastlike's `@N`): the percentage of requests, 0 to 100, that
    /// reach the origin; the others get a synthetic 502.
    pub reachable_percent: Option<u8>,
    /// edgeplay extension: answer requests from the config instead of the network.
    pub mock: Option<MockConfig>,
    /// Every other key, kept for later issues and shown by `edgeplay` when unused.
    pub extra: BTreeMap<String, toml::Value>,
}

/// A backend's health, as `fastly_backend.is_healthy` reports it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendHealth {
    /// No health check (0).
    #[default]
    Unknown,
    /// Healthy (1).
    Healthy,
    /// Unhealthy (2).
    Unhealthy,
}

/// A mock backend's answer (`mock = ...` on a backend; see [`BackendConfig`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MockConfig {
    /// Echo the request instead of the static answer below.
    pub echo: bool,
    /// Status code of the static answer (default 200).
    pub status: u16,
    /// Headers of the static answer, in order.
    pub headers: Vec<(String, String)>,
    /// Body of the static answer.
    pub body: String,
    /// How long the answer takes, in ms (0: at once).
    pub delay_ms: u32,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            echo: false,
            status: 200,
            headers: Vec::new(),
            body: String::new(),
            delay_ms: 0,
        }
    }
}

/// Check a backend URL: an absolute `http` or `https` URL with a host. The error says
/// what is wrong. (These are the checks the backends layer makes when it splits the
/// URL into scheme, host, port and path prefix; the config layer checks them here so
/// that it needs nothing from that layer.)
pub fn check_backend_url(url: &str) -> Result<(), String> {
    split_url(url).map(|_| ())
}

/// The parts of a backend URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlParts {
    /// The URL's scheme.
    pub scheme: String,
    /// The URL's authority.
    pub authority: String,
    /// The URL's host.
    pub host: String,
    /// The URL's port.
    pub port: u16,
    /// The URL's path prefix.
    pub path_prefix: String,
}

/// Split a backend URL (http or https, with a host), or say what is wrong with it.
pub fn split_url(url: &str) -> Result<UrlParts, String> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| format!("invalid URL {url:?}: {e}"))?;
    let scheme = match uri.scheme_str() {
        Some(s) if s.eq_ignore_ascii_case("http") => "http",
        Some(s) if s.eq_ignore_ascii_case("https") => "https",
        Some(s) => {
            return Err(format!(
                "URL {url:?}: the scheme must be http or https, not {s:?}"
            ))
        }
        None => {
            return Err(format!(
                "URL {url:?} has no scheme: write http://{url} or https://{url}"
            ))
        }
    };
    let authority = uri
        .authority()
        .ok_or_else(|| format!("URL {url:?} has no host"))?;
    let host = authority.host().to_string();
    if host.is_empty() {
        return Err(format!("URL {url:?} has no host"));
    }
    let port = authority
        .port_u16()
        .unwrap_or(if scheme == "https" { 443 } else { 80 });
    let mut path_prefix = uri.path().to_string();
    if !path_prefix.ends_with('/') {
        path_prefix.push('/');
    }
    Ok(UrlParts {
        scheme: scheme.to_string(),
        authority: authority.as_str().to_string(),
        host,
        port,
        path_prefix,
    })
}

/// Parse Fastlike's backend flag, `name=host:port@N` (also `name=http://host:port/@N`
/// or without `@N`): `N`, 0 to 100, is the share of requests that reach the origin
/// (the others get a synthetic 502; `is_healthy` answers unhealthy for 0, healthy
/// otherwise). An address without a scheme is `http://`. As in Fastlike, only an
/// all-digit suffix after the last `@` is a share, so a URL with user info keeps its `@`.
pub fn parse_backend_flag(flag: &str) -> Result<(String, BackendConfig), String> {
    let Some((name, addr)) = flag.split_once('=') else {
        return Err(format!(
            "backend {flag:?} has no name: write NAME=HOST:PORT (optionally @PERCENT)"
        ));
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("backend {flag:?} has an empty name"));
    }
    let mut addr = addr.trim();
    let mut reachable_percent = None;
    if let Some(at) = addr.rfind('@') {
        let suffix = &addr[at + 1..];
        if !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_digit()) {
            match suffix.parse::<u8>() {
                Ok(n) if n <= 100 => reachable_percent = Some(n),
                _ => {
                    return Err(format!(
                        "backend {name:?}: the reachability suffix @{suffix} is out of range, it must be 0..100"
                    ))
                }
            }
            addr = &addr[..at];
        }
    }
    let url = if addr.contains("://") {
        addr.to_string()
    } else {
        format!("http://{addr}")
    };
    check_backend_url(&url).map_err(|e| format!("backend {name:?}: {e}"))?;
    Ok((
        name.to_string(),
        BackendConfig {
            url,
            reachable_percent,
            ..BackendConfig::default()
        },
    ))
}

impl Parser<'_> {
    pub(super) fn backend(&self, path: &KeyPath, v: Value) -> R<BackendConfig> {
        let mut t = self.table(path, v, "a table with a `url`")?;
        let mock = match t.remove("mock") {
            None => None,
            Some(v) => Some(self.mock(&path.key("mock"), v)?),
        };
        let url = match t.remove("url") {
            None if mock.is_some() => String::new(),
            None => return Err(self.err(path, "missing `url`")),
            Some(v) => self.string(&path.key("url"), v)?,
        };
        if !url.is_empty() {
            if let Err(e) = check_backend_url(&url) {
                return Err(self.err(&path.key("url"), e));
            }
        }
        let mut b = BackendConfig {
            url,
            mock,
            ..BackendConfig::default()
        };
        let non_empty = |key: &str, v: Value| -> R<String> {
            let p = path.key(key);
            let s = self.string(&p, v)?;
            if s.trim().is_empty() {
                Err(self.err(&p, "must not be empty"))
            } else {
                Ok(s)
            }
        };
        if let Some(v) = t.remove("override_host") {
            let host = non_empty("override_host", v)?;
            if http::HeaderValue::from_str(&host).is_err() {
                return Err(self.err(&path.key("override_host"), "not a valid Host header value"));
            }
            b.override_host = Some(host);
        }
        if let Some(v) = t.remove("cert_host") {
            b.cert_host = Some(non_empty("cert_host", v)?);
        }
        if let Some(v) = t.remove("use_sni") {
            b.use_sni = Some(match v {
                Value::Boolean(x) => x,
                other => return Err(self.expected(&path.key("use_sni"), "a boolean", &other)),
            });
        }
        let ms = |key: &str, v: Value| -> R<u32> {
            match v {
                Value::Integer(n) => u32::try_from(n).map_err(|_| {
                    self.err(
                        &path.key(key),
                        format!("{n} is not a timeout in milliseconds (0 to {})", u32::MAX),
                    )
                }),
                other => Err(self.expected(&path.key(key), "an integer (milliseconds)", &other)),
            }
        };
        if let Some(v) = t.remove("connect_timeout_ms") {
            b.connect_timeout_ms = Some(ms("connect_timeout_ms", v)?);
        }
        if let Some(v) = t.remove("first_byte_timeout_ms") {
            b.first_byte_timeout_ms = Some(ms("first_byte_timeout_ms", v)?);
        }
        if let Some(v) = t.remove("between_bytes_timeout_ms") {
            b.between_bytes_timeout_ms = Some(ms("between_bytes_timeout_ms", v)?);
        }
        if let Some(v) = t.remove("health") {
            let p = path.key("health");
            let h = self.string(&p, v)?;
            b.health = Some(match h.to_ascii_lowercase().as_str() {
                "unknown" => BackendHealth::Unknown,
                "healthy" => BackendHealth::Healthy,
                "unhealthy" => BackendHealth::Unhealthy,
                _ => {
                    return Err(self.err(
                        &p,
                        format!(
                            "unknown health {h:?}: use \"healthy\", \"unhealthy\" or \"unknown\""
                        ),
                    ))
                }
            });
        }
        if let Some(v) = t.remove("reachable_percent") {
            let p = path.key("reachable_percent");
            b.reachable_percent = Some(match v {
                Value::Integer(n) if (0..=100).contains(&n) => n as u8,
                Value::Integer(n) => {
                    return Err(self.err(&p, format!("{n} is not a percentage (0 to 100)")))
                }
                other => return Err(self.expected(&p, "an integer from 0 to 100", &other)),
            });
        }
        if let Some(v) = t.remove("grpc") {
            b.grpc = Some(match v {
                Value::Boolean(x) => x,
                other => return Err(self.expected(&path.key("grpc"), "a boolean", &other)),
            });
        }
        if let Some(v) = t.remove("ca_certificate") {
            let pem = non_empty("ca_certificate", v)?;
            if !pem.contains("-----BEGIN CERTIFICATE-----") {
                return Err(self.err(
                    &path.key("ca_certificate"),
                    "must be PEM text (-----BEGIN CERTIFICATE----- ...)",
                ));
            }
            b.ca_certificate = Some(pem);
        }
        // Keys Viceroy accepts that edgeplay keeps but does not act on yet; anything else
        // is a mistake (a misspelt timeout would silently do nothing), as in Viceroy.
        const KEPT: &[&str] = &["client_certificate"];
        if let Some(unknown) = t.keys().find(|k| !KEPT.contains(&k.as_str())) {
            return Err(self.err(
                &path.key(unknown),
                format!(
                    "unknown backend key `{unknown}`; backends take url, override_host, cert_host, use_sni, ca_certificate, grpc, connect_timeout_ms, first_byte_timeout_ms, between_bytes_timeout_ms, health, reachable_percent, mock, {}",
                    KEPT.join(", ")
                ),
            ));
        }
        b.extra = t.into_iter().collect();
        Ok(b)
    }

    /// `mock = "echo"` or `mock = { status, headers, body, delay_ms }` / `{ echo = true, delay_ms }`.
    pub(super) fn mock(&self, path: &KeyPath, v: Value) -> R<MockConfig> {
        let mut t = match v {
            Value::String(s) if s == "echo" => {
                return Ok(MockConfig {
                    echo: true,
                    ..MockConfig::default()
                })
            }
            Value::String(s) => {
                return Err(self.err(
                    path,
                    format!("unknown mock {s:?}: use \"echo\" or a table like {{ status = 200, body = \"...\" }}"),
                ))
            }
            Value::Table(t) => t,
            other => {
                return Err(self.expected(
                    path,
                    "\"echo\" or a table with `status`, `headers`, `body`, `delay_ms`",
                    &other,
                ))
            }
        };
        let mut m = MockConfig::default();
        if let Some(v) = t.remove("echo") {
            m.echo = match v {
                Value::Boolean(b) => b,
                other => return Err(self.expected(&path.key("echo"), "a boolean", &other)),
            };
        }
        if let Some(v) = t.remove("delay_ms") {
            let p = path.key("delay_ms");
            m.delay_ms = match v {
                Value::Integer(n) => u32::try_from(n).map_err(|_| {
                    self.err(
                        &p,
                        format!("{n} is not a delay in milliseconds (0 to {})", u32::MAX),
                    )
                })?,
                other => return Err(self.expected(&p, "an integer (milliseconds)", &other)),
            };
        }
        if let Some(v) = t.remove("status") {
            let p = path.key("status");
            m.status = match v {
                Value::Integer(n) if (100..=999).contains(&n) => n as u16,
                Value::Integer(n) => {
                    return Err(self.err(&p, format!("{n} is not a status code (100 to 999)")))
                }
                other => return Err(self.expected(&p, "an integer status code", &other)),
            };
        }
        if let Some(v) = t.remove("headers") {
            let p = path.key("headers");
            for (name, value) in self.table(&p, v, "a table of header names to strings")? {
                let hp = p.key(&name);
                if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                    return Err(self.err(&hp, format!("{name:?} is not a valid header name")));
                }
                let values = match value {
                    Value::String(s) => vec![s],
                    Value::Array(items) => {
                        let mut out = Vec::new();
                        for (i, item) in items.into_iter().enumerate() {
                            out.push(self.string(&hp.index(i), item)?);
                        }
                        out
                    }
                    other => {
                        return Err(self.expected(&hp, "a string or an array of strings", &other))
                    }
                };
                for value in values {
                    if http::HeaderValue::from_str(&value).is_err() {
                        return Err(self.err(&hp, "not a valid header value"));
                    }
                    m.headers.push((name.to_ascii_lowercase(), value));
                }
            }
        }
        if let Some(v) = t.remove("body") {
            m.body = self.string(&path.key("body"), v)?;
        }
        if m.echo && (m.status != 200 || !m.headers.is_empty() || !m.body.is_empty()) {
            return Err(self.err(
                path,
                "an echo mock answers with the request: it takes no `status`, `headers` or `body`",
            ));
        }
        self.no_other_keys(path, &t)?;
        Ok(m)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{err, parse};
    use super::*;

    #[test]
    fn backends_parse() {
        let c = parse(
            r#"
[local_server.backends.origin]
url = "http://127.0.0.1:8080/"
override_host = "example.com"
cert_host = "example.com"
use_sni = false
first_byte_timeout_ms = 5000
between_bytes_timeout_ms = 1000
connect_timeout_ms = 250
grpc = true

[local_server.backends."shark.server"]
url = "https://example.org"
"#,
        )
        .unwrap();
        let o = &c.backends["origin"];
        assert_eq!(o.url, "http://127.0.0.1:8080/");
        assert_eq!(o.override_host.as_deref(), Some("example.com"));
        assert_eq!(o.use_sni, Some(false));
        assert_eq!(o.first_byte_timeout_ms, Some(5000));
        assert_eq!(o.connect_timeout_ms, Some(250));
        assert_eq!(o.grpc, Some(true));
        assert_eq!(c.backends["shark.server"].url, "https://example.org");
    }

    #[test]
    fn backend_urls_are_checked() {
        assert_eq!(check_backend_url("http://127.0.0.1:8080"), Ok(()));
        assert_eq!(check_backend_url("HTTPS://example.com/api"), Ok(()));
        assert_eq!(
            check_backend_url("127.0.0.1:8080"),
            Err("URL \"127.0.0.1:8080\" has no scheme: write http://127.0.0.1:8080 or https://127.0.0.1:8080".into())
        );
        assert_eq!(
            check_backend_url("ftp://x/"),
            Err("URL \"ftp://x/\": the scheme must be http or https, not \"ftp\"".into())
        );
        assert!(check_backend_url("http://").is_err());
        assert!(check_backend_url("not a url").is_err());
        let e = err("[local_server.backends.o]\nurl = \"ftp://x/\"\n");
        assert_eq!(e.key.as_deref(), Some("local_server.backends.o.url"));
        assert_eq!(e.line, Some(2));
        assert!(e.message.contains("http or https"), "{}", e.message);
    }

    #[test]
    fn ca_certificate_and_grpc_are_checked() {
        let c = parse(
            "[local_server.backends.o]\nurl = \"https://x/\"\nca_certificate = '''\n-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n'''\n",
        )
        .unwrap();
        let pem = c.backends["o"].ca_certificate.as_deref().unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
        let e =
            err("[local_server.backends.o]\nurl = \"https://x/\"\nca_certificate = \"ca.pem\"\n");
        assert_eq!(
            e.key.as_deref(),
            Some("local_server.backends.o.ca_certificate")
        );
        assert!(e.message.contains("PEM"), "{}", e.message);
        let e = err("[local_server.backends.o]\nurl = \"https://x/\"\ngrpc = \"yes\"\n");
        assert_eq!(e.key.as_deref(), Some("local_server.backends.o.grpc"));
        assert!(e.message.contains("boolean"), "{}", e.message);
    }

    #[test]
    fn fastlike_backend_flags_parse() {
        let (n, c) = parse_backend_flag("api=localhost:8000@50").unwrap();
        assert_eq!(n, "api");
        assert_eq!(c.url, "http://localhost:8000");
        assert_eq!(c.reachable_percent, Some(50));
        let (_, c) = parse_backend_flag("x=https://u@h.example/p").unwrap();
        assert_eq!(c.url, "https://u@h.example/p");
        assert_eq!(c.reachable_percent, None);
        let (_, c) = parse_backend_flag("x=127.0.0.1:1@0").unwrap();
        assert_eq!(c.reachable_percent, Some(0));
        assert!(parse_backend_flag("x=h:1@101").is_err());
        assert!(parse_backend_flag("h:1").is_err());
        assert!(parse_backend_flag("=h:1").is_err());
    }

    #[test]
    fn backend_errors_name_key_and_line() {
        let e = err("[local_server.backends.\"my.origin\"]\nurl = 5\n");
        assert_eq!(
            e.key.as_deref(),
            Some("local_server.backends.\"my.origin\".url")
        );
        assert_eq!(e.line, Some(2));

        let e = err("[local_server.backends.o]\nurl = \"http://x/\"\nfirst_byte_timeout_ms = -1\n");
        assert_eq!(e.line, Some(3));
    }
}
