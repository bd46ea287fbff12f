//! The tab's side of fiddles (`edgeplay_host::fiddle`), platform-neutral: the
//! composer's text fields as a [`FiddleRequest`] and back, how a guest travels in a
//! link ([`guest_for_link`]), the link for a page ([`link_for`]) and what an opened
//! fiddle holds, for people ([`summary`]).

use crate::request::parse_headers;
use edgeplay_host::fiddle::{Fiddle, FiddleRequest, GuestSource};

/// The longest URL Chromium navigates to: 2 MiB characters (`url::kMaxURLChars`,
/// checked by `tests/e2e/fiddle.test.mjs`, which opens a fragment just under it and
/// sees a longer one refused). A longer link is cut off or not opened at all.
pub const CHROMIUM_MAX_URL_CHARS: usize = 2 * 1024 * 1024;

/// The longest link Share makes: half of [`CHROMIUM_MAX_URL_CHARS`], so that a
/// link survives a chat or mail client's own limits more often and the page's own
/// URL has room. A 0.5 MB Rust guest inline makes a link of about 340,000
/// characters; an 11 MB JS SDK guest does not fit and travels as a URL or a file.
pub const MAX_LINK_CHARS: usize = CHROMIUM_MAX_URL_CHARS / 2;

/// The composer's fields for one request: method, URL or path, header lines,
/// body, client IP, fresh cache, and the assertion text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ComposerFields {
    /// Method.
    pub method: String,
    /// URL or path.
    pub url: String,
    /// `Name: value` lines.
    pub headers: String,
    /// Body text.
    pub body: String,
    /// Client IP text (empty: 127.0.0.1).
    pub client_ip: String,
    /// Run with a fresh cache.
    pub fresh_cache: bool,
    /// Assertions, one per line.
    pub assertions: String,
}

/// `fields` as a fiddle request, keeping `base`'s label and delay. Header lines
/// that do not parse are kept out (the composer says what is wrong with them when
/// the request runs); a client IP that does not parse is left out too.
pub fn request_from_fields(fields: &ComposerFields, base: &FiddleRequest) -> FiddleRequest {
    let method = fields.method.trim();
    let path = fields.url.trim();
    FiddleRequest {
        label: base.label.clone(),
        method: if method.is_empty() { "GET" } else { method }.to_string(),
        path: if path.is_empty() { "/" } else { path }.to_string(),
        headers: parse_headers(&fields.headers).unwrap_or_default(),
        body: fields.body.clone(),
        client_ip: fields.client_ip.trim().parse().ok(),
        delay_ms: base.delay_ms,
        fresh_cache: fields.fresh_cache,
        assertions: fields.assertions.clone(),
    }
}

/// The composer's fields for `req`.
pub fn fields_of(req: &FiddleRequest) -> ComposerFields {
    ComposerFields {
        method: req.method.clone(),
        url: req.path.clone(),
        headers: req
            .headers
            .iter()
            .map(|(n, v)| format!("{n}: {v}"))
            .collect::<Vec<_>>()
            .join("\n"),
        body: req.body.clone(),
        client_ip: req
            .client_ip
            .map(|ip| ip.to_string())
            .unwrap_or_else(|| "127.0.0.1".into()),
        fresh_cache: req.fresh_cache,
        assertions: req.assertions.clone(),
    }
}

/// Why a guest cannot travel inside a link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TooBigForLink {
    /// The guest's size in bytes.
    pub bytes: usize,
    /// The link's length with the guest inline, in characters.
    pub link_chars: usize,
}

impl std::fmt::Display for TooBigForLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "this guest ({} bytes) makes a link of {} characters with the guest inside, over the {} a link may have: put the .wasm at a URL that allows CORS and give it below (the link then carries the URL and the guest's SHA-256), or use Save as file",
            self.bytes, self.link_chars, MAX_LINK_CHARS
        )
    }
}

/// How the guest travels in a link: an example by its name; a dropped guest inline
/// when the link stays within [`MAX_LINK_CHARS`], else at `url` (checked against
/// the bytes' SHA-256 when opened). `fiddle` is the fiddle with any guest (its
/// requests and config count towards the link's length); `base` the page's URL.
pub fn guest_for_link(
    fiddle: &Fiddle,
    base: &str,
    example: Option<&str>,
    bytes: &[u8],
    url: Option<&str>,
) -> Result<GuestSource, TooBigForLink> {
    if let Some(name) = example {
        return Ok(GuestSource::Example { name: name.into() });
    }
    if let Some(url) = url.map(str::trim).filter(|u| !u.is_empty()) {
        return Ok(GuestSource::Url {
            url: url.into(),
            sha256: edgeplay_host::fiddle::model::sha256_hex(bytes),
        });
    }
    let inline = GuestSource::inline(bytes);
    let mut with = fiddle.clone();
    with.guest = inline.clone();
    let link_chars = link_for(base, &with).len();
    if link_chars > MAX_LINK_CHARS {
        return Err(TooBigForLink {
            bytes: bytes.len(),
            link_chars,
        });
    }
    Ok(inline)
}

/// The link that opens `fiddle` on the page at `base` (its fragment is replaced).
pub fn link_for(base: &str, fiddle: &Fiddle) -> String {
    let page = base.split('#').next().unwrap_or(base);
    format!("{page}#{}", edgeplay_host::fiddle::encode_link(fiddle))
}

/// True when the page's fragment (`#…`, without or with the `#`) holds a fiddle.
pub fn fragment_has_fiddle(hash: &str) -> bool {
    let prefix = format!("{}=", edgeplay_host::fiddle::LINK_KEY);
    hash.trim_start_matches('#')
        .split('&')
        .any(|p| p.starts_with(&prefix))
}

/// What a fiddle holds, in one line for people: its guest, its requests and
/// assertions, its config and recordings.
pub fn summary(fiddle: &Fiddle) -> String {
    let n = |k: usize, one: &str, many: &str| format!("{k} {}", if k == 1 { one } else { many });
    let assertions: usize = fiddle
        .requests
        .iter()
        .map(|r| {
            r.assertions
                .lines()
                .filter(|l| {
                    let l = l.trim();
                    !l.is_empty() && !l.starts_with('#') && !l.starts_with("//")
                })
                .count()
        })
        .sum();
    let mut parts = vec![
        format!("guest: {}", fiddle.guest.describe()),
        n(fiddle.requests.len(), "request", "requests"),
        n(assertions, "assertion", "assertions"),
    ];
    if !fiddle.fastly_toml.trim().is_empty() {
        parts.push(format!("fastly.toml ({} bytes)", fiddle.fastly_toml.len()));
    }
    if !fiddle.recordings.is_empty() {
        parts.push(n(
            fiddle.recordings.len(),
            "recorded backend exchange",
            "recorded backend exchanges",
        ));
    }
    let title = if fiddle.title.is_empty() {
        String::new()
    } else {
        format!("“{}”: ", fiddle.title)
    };
    format!("{title}{}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use edgeplay_host::fiddle::decode_link;

    #[test]
    fn composer_fields_round_trip_through_a_fiddle_request() {
        let fields = ComposerFields {
            method: "POST".into(),
            url: "/echo?x=1".into(),
            headers: "content-type: text/plain\nx-a: b".into(),
            body: "hi".into(),
            client_ip: "203.0.113.7".into(),
            fresh_cache: true,
            assertions: "clientFetch.status is 200".into(),
        };
        let req = request_from_fields(&fields, &FiddleRequest::default());
        assert_eq!(req.headers.len(), 2);
        assert_eq!(req.client_ip.unwrap().to_string(), "203.0.113.7");
        assert_eq!(fields_of(&req), fields);
    }

    #[test]
    fn empty_fields_are_get_slash_and_keep_the_label_and_delay() {
        let base = FiddleRequest {
            label: "second".into(),
            delay_ms: 250,
            ..FiddleRequest::default()
        };
        let req = request_from_fields(&ComposerFields::default(), &base);
        assert_eq!((req.method.as_str(), req.path.as_str()), ("GET", "/"));
        assert_eq!((req.label.as_str(), req.delay_ms), ("second", 250));
        assert_eq!(req.client_ip, None);
    }

    #[test]
    fn examples_travel_by_name_small_guests_inline_big_ones_need_a_url() {
        let f = Fiddle::new(GuestSource::Example { name: "x".into() });
        let base = "http://127.0.0.1:8080/";
        assert_eq!(
            guest_for_link(&f, base, Some("hello"), b"", None),
            Ok(GuestSource::Example {
                name: "hello".into()
            })
        );
        let small = b"\0asm\x01\0\0\0".to_vec();
        assert!(matches!(
            guest_for_link(&f, base, None, &small, None),
            Ok(GuestSource::Inline { .. })
        ));
        // Random bytes do not compress: 1 MB of them cannot be inline.
        let mut x: u32 = 1;
        let big: Vec<u8> = (0..1_000_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        let err = guest_for_link(&f, base, None, &big, None).unwrap_err();
        assert!(err.link_chars > MAX_LINK_CHARS);
        assert!(err.to_string().contains("Save as file"), "{err}");
        let url = guest_for_link(&f, base, None, &big, Some("https://x.test/a.wasm")).unwrap();
        assert!(url.verify(&big).is_ok());
    }

    #[test]
    fn a_link_opens_the_same_fiddle_and_replaces_the_pages_fragment() {
        let mut f = Fiddle::new(GuestSource::Example {
            name: "hello".into(),
        });
        f.requests.push(FiddleRequest::default());
        let link = link_for("http://127.0.0.1:8080/?embed#f=old", &f);
        assert!(
            link.starts_with("http://127.0.0.1:8080/?embed#f="),
            "{link}"
        );
        assert!(fragment_has_fiddle(&link[link.find('#').unwrap()..]));
        assert!(!fragment_has_fiddle("#embed"));
        assert_eq!(decode_link(&link).unwrap(), f);
    }

    #[test]
    fn the_summary_counts_what_a_fiddle_holds() {
        let mut f = Fiddle::new(GuestSource::Example {
            name: "hello".into(),
        });
        f.requests.push(FiddleRequest {
            assertions: "# a comment\nclientFetch.status is 200\n\nclientFetch.complete is true"
                .into(),
            ..FiddleRequest::default()
        });
        f.requests.push(FiddleRequest::default());
        assert_eq!(
            summary(&f),
            "guest: example hello, 2 requests, 2 assertions"
        );
    }
}
