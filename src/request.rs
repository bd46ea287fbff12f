//! From what the request composer holds to the downstream request the core runs.

use crate::protocol::RequestSpec;
use edgeplay_host::config::ConfigError;
use edgeplay_host::{DownstreamRequest, ServiceConfig};
use std::net::IpAddr;

/// Methods the composer offers (any token is accepted).
pub const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// Parse `Name: value` lines. Blank lines and lines starting with `#` are skipped.
pub fn parse_headers(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let Some((name, value)) = t.split_once(':') else {
            return Err(format!(
                "request headers, line {}: expected `Name: value`, got `{t}`",
                i + 1
            ));
        };
        let name = name.trim();
        if name.is_empty() || !name.bytes().all(is_token_byte) {
            return Err(format!(
                "request headers, line {}: `{name}` is not a valid header name",
                i + 1
            ));
        }
        out.push((name.to_string(), value.trim().to_string()));
    }
    Ok(out)
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The downstream request for `spec`, or a plain message about what is wrong with it.
pub fn build_request(spec: &RequestSpec) -> Result<DownstreamRequest, String> {
    let method = spec.method.trim();
    let method = if method.is_empty() { "GET" } else { method };
    if !method.bytes().all(is_token_byte) {
        return Err(format!("`{method}` is not a valid HTTP method"));
    }
    let url = spec.url.trim();
    let url = if url.is_empty() { "/" } else { url };
    let mut req = DownstreamRequest::new(method, url);
    if req.url.parse::<http::Uri>().is_err() {
        return Err(format!(
            "`{url}` is not a valid URL or path (e.g. `/search?q=1` or `https://example.com/`)"
        ));
    }
    for (name, value) in parse_headers(&spec.headers)? {
        if name.eq_ignore_ascii_case("host") {
            // The composer's Host replaces the one taken from the URL.
            req.headers.remove("host");
            req.original_header_names
                .retain(|n| !n.eq_ignore_ascii_case("host"));
        }
        req = req.with_header(&name, value.into_bytes());
    }
    req = req.with_body(spec.body.clone());
    let ip = spec.client_ip.trim();
    if !ip.is_empty() {
        req.client_ip = ip.parse::<IpAddr>().map_err(|_| {
            format!("client IP `{ip}` is not an IPv4 or IPv6 address (e.g. 203.0.113.7)")
        })?;
    }
    Ok(req)
}

/// The origin of an absolute URL as a browser serializes it (`http://127.0.0.1:7676`):
/// scheme and host lowercased, the scheme's default port left out. `None` for a URL
/// without a scheme or a host. The worker compares origins to tell a backend fetch
/// to the service itself (the downstream request's origin) or to the page's own
/// origin (no CORS) from one to somewhere else.
pub fn origin_of(url: &str) -> Option<String> {
    let uri: http::Uri = url.trim().parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let host = uri.host().filter(|h| !h.is_empty())?.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    };
    Some(match uri.port_u16() {
        Some(p) if Some(p) != default_port => format!("{scheme}://{host}:{p}"),
        _ => format!("{scheme}://{host}"),
    })
}

/// True when both URLs have an origin and it is the same one.
pub fn same_origin(a: &str, b: &str) -> bool {
    matches!((origin_of(a), origin_of(b)), (Some(x), Some(y)) if x == y)
}

/// The service config as the tab has it: `fastly.toml` text, and no files beside it.
pub fn parse_config(text: &str) -> Result<ServiceConfig, ConfigError> {
    ServiceConfig::from_toml_str(text, "fastly.toml", &|path| {
        Err(format!(
            "{path}: the playground cannot read files named in fastly.toml; put the data inline (`format = \"inline-toml\"`, `data =` for secrets and KV entries, `entries =` for ACLs)"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(method: &str, url: &str, headers: &str) -> RequestSpec {
        RequestSpec {
            method: method.into(),
            url: url.into(),
            headers: headers.into(),
            body: Vec::new(),
            client_ip: String::new(),
        }
    }

    #[test]
    fn a_path_becomes_a_loopback_url() {
        let r = build_request(&spec("", "/a?b=1", "")).unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.url, "http://127.0.0.1:7676/a?b=1");
        assert_eq!(r.headers.get("host"), Some(&b"127.0.0.1:7676"[..]));
    }

    #[test]
    fn headers_keep_order_and_host_is_replaced() {
        let r = build_request(&spec(
            "POST",
            "https://example.com/",
            "X-A: 1\n\n# comment\nHost: other.test\nx-a: 2",
        ))
        .unwrap();
        let all: Vec<_> = r.headers.get_all("x-a");
        assert_eq!(all, vec![&b"1"[..], &b"2"[..]]);
        assert_eq!(r.headers.get_all("host"), vec![&b"other.test"[..]]);
        assert_eq!(r.original_header_names, vec!["X-A", "Host", "x-a"]);
    }

    #[test]
    fn bad_input_gives_plain_messages() {
        assert!(build_request(&spec("GET", "/", "nocolon"))
            .unwrap_err()
            .contains("line 1"));
        assert!(build_request(&spec("G ET", "/", "")).is_err());
        let mut s = spec("GET", "/", "");
        s.client_ip = "nope".into();
        assert!(build_request(&s).unwrap_err().contains("client IP"));
        s.client_ip = "203.0.113.7".into();
        assert_eq!(
            build_request(&s).unwrap().client_ip.to_string(),
            "203.0.113.7"
        );
    }

    #[test]
    fn origins_are_compared_as_a_browser_serializes_them() {
        assert_eq!(
            origin_of("http://127.0.0.1:7676/a?b=1").as_deref(),
            Some("http://127.0.0.1:7676")
        );
        assert_eq!(
            origin_of("HTTP://Example.COM:80/x").as_deref(),
            Some("http://example.com")
        );
        assert_eq!(
            origin_of("https://example.com:443").as_deref(),
            Some("https://example.com")
        );
        assert_eq!(
            origin_of("https://example.com:8443/").as_deref(),
            Some("https://example.com:8443")
        );
        assert_eq!(
            origin_of("http://[::1]:8080/").as_deref(),
            Some("http://[::1]:8080")
        );
        assert_eq!(origin_of("/just/a/path"), None);
        assert_eq!(origin_of("not a url"), None);
        // The composer's path is absolute against the runner's address.
        let r = build_request(&spec("GET", "/x", "")).unwrap();
        assert_eq!(origin_of(&r.url).as_deref(), Some("http://127.0.0.1:7676"));

        assert!(same_origin(
            "http://127.0.0.1:7676/",
            "http://127.0.0.1:7676/other?q"
        ));
        assert!(same_origin("http://example.com/", "http://EXAMPLE.com:80/"));
        assert!(!same_origin(
            "http://127.0.0.1:7676/",
            "http://localhost:7676/"
        ));
        assert!(!same_origin(
            "http://127.0.0.1:7676/",
            "https://127.0.0.1:7676/"
        ));
        assert!(!same_origin(
            "http://127.0.0.1:7676/",
            "http://127.0.0.1:7677/"
        ));
        assert!(!same_origin("/a", "/a"));
    }
}
