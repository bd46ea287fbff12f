//! Links: a whole fiddle in a URL fragment, so nothing reaches any server.
//!
//! `https://PLAYGROUND/#f=PAYLOAD`, where PAYLOAD is the fiddle's compact JSON,
//! compressed with raw deflate (RFC 1951, no zlib or gzip header), in base64url
//! without padding (RFC 4648 §5). Decoding inflates at most [`MAX_INFLATED_BYTES`]
//! and gives one [`FiddleError`] per way a link can be bad.

use super::model::{Fiddle, FiddleError};
use base64::Engine as _;
use std::io::Write;

/// The fragment key: a link's fragment is `f=PAYLOAD` (other `&`-separated
/// parameters may follow, e.g. `&embed`).
pub const LINK_KEY: &str = "f";

/// The most a link's payload may inflate to: 16 MiB (an inline 0.5 MB guest is
/// 0.7 MB of JSON). A larger fiddle is [`FiddleError::TooLarge`], found without
/// inflating past the bound.
pub const MAX_INFLATED_BYTES: usize = 16 << 20;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// The payload for `fiddle`: compact JSON, raw deflate, base64url without padding.
pub fn encode_payload(fiddle: &Fiddle) -> String {
    let json = serde_json::to_vec(fiddle).unwrap_or_default();
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(&json);
    let deflated = enc.finish().unwrap_or_default();
    B64.encode(deflated)
}

/// The fragment for `fiddle`, without the `#`: `f=PAYLOAD`.
pub fn encode_link(fiddle: &Fiddle) -> String {
    format!("{LINK_KEY}={}", encode_payload(fiddle))
}

/// The payload inside `input`: a whole URL (`https://…/#f=…`), a fragment (`#f=…`
/// or `f=…`, other `&` parameters ignored), or the bare payload.
pub fn payload_of(input: &str) -> &str {
    let s = input.trim();
    let fragment = match s.find('#') {
        Some(i) => &s[i + 1..],
        None if s.contains("://") => "",
        None => s,
    };
    let prefix = format!("{LINK_KEY}=");
    for part in fragment.split('&') {
        if let Some(p) = part.strip_prefix(&prefix) {
            return p;
        }
    }
    fragment
}

/// The fiddle a link holds ([`payload_of`] says what `input` may be). Errors:
/// [`FiddleError::Base64`], [`FiddleError::Deflate`], [`FiddleError::TooLarge`],
/// [`FiddleError::NotAFiddle`], [`FiddleError::NewerVersion`]. An inline guest's
/// hash is checked when its bytes are taken ([`super::GuestSource::inline_bytes`]).
pub fn decode_link(input: &str) -> Result<Fiddle, FiddleError> {
    decode_link_with_limit(input, MAX_INFLATED_BYTES)
}

/// [`decode_link`] with another inflation bound.
pub fn decode_link_with_limit(input: &str, limit: usize) -> Result<Fiddle, FiddleError> {
    let payload = payload_of(input);
    // base64url has no `=` but padding: `#tab=trace` is a fragment without `f=`.
    if payload.is_empty() || payload.trim_end_matches('=').contains('=') {
        return Err(FiddleError::NotAFiddle(format!(
            "the link has no fiddle (expected `#{LINK_KEY}=…`)"
        )));
    }
    // Tolerate padding a mail client or a person may have added.
    let deflated = B64
        .decode(payload.trim_end_matches('='))
        .map_err(|e| FiddleError::Base64(e.to_string()))?;
    let json = inflate(&deflated, limit)?;
    Fiddle::from_json_bytes(&json)
}

/// Inflate raw deflate data, producing at most `limit` bytes; the stream must end
/// (a truncated link's data stops before its final block).
fn inflate(deflated: &[u8], limit: usize) -> Result<Vec<u8>, FiddleError> {
    let mut d = flate2::Decompress::new(false);
    let mut out: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let (in_before, out_before) = (d.total_in(), d.total_out());
        let status = d
            .decompress(
                &deflated[in_before as usize..],
                &mut chunk,
                flate2::FlushDecompress::None,
            )
            .map_err(|e| FiddleError::Deflate(e.to_string()))?;
        let produced = (d.total_out() - out_before) as usize;
        out.extend_from_slice(&chunk[..produced]);
        if out.len() > limit {
            return Err(FiddleError::TooLarge { limit });
        }
        match status {
            flate2::Status::StreamEnd => break,
            _ if produced == 0 && d.total_in() == in_before => {
                return Err(FiddleError::Deflate(
                    "the data ends before the compressed stream does".into(),
                ))
            }
            _ => {}
        }
    }
    if out.is_empty() {
        return Err(FiddleError::Deflate("no data".into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fiddle::model::{FiddleRequest, GuestSource};

    fn sample() -> Fiddle {
        let mut f = Fiddle::new(GuestSource::inline(&[0, 97, 115, 109, 1, 0, 0, 0]));
        f.title = "two requests".into();
        f.fastly_toml = "[local_server]\n".into();
        f.requests = vec![
            FiddleRequest {
                path: "/?key=a&value=1".into(),
                assertions: "clientFetch.status is 200".into(),
                ..FiddleRequest::default()
            },
            FiddleRequest {
                delay_ms: 5,
                fresh_cache: true,
                ..FiddleRequest::default()
            },
        ];
        f
    }

    #[test]
    fn a_link_round_trips() {
        let f = sample();
        let link = encode_link(&f);
        assert!(link.starts_with("f="));
        let payload = &link[2..];
        assert!(
            payload
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "base64url, no padding: {payload}"
        );
        assert_eq!(decode_link(&link).unwrap(), f);
        assert_eq!(
            decode_link(&format!("https://play.example/#{link}&embed")).unwrap(),
            f
        );
        assert_eq!(decode_link(&format!("#{link}")).unwrap(), f);
        assert_eq!(decode_link(payload).unwrap(), f);
    }

    #[test]
    fn malformed_base64_is_its_own_error() {
        let e = decode_link("#f=not*base64!").unwrap_err();
        assert!(matches!(e, FiddleError::Base64(_)), "{e:?}");
        assert!(e.to_string().contains("base64url"), "{e}");
    }

    #[test]
    fn a_truncated_link_does_not_inflate() {
        let link = encode_link(&sample());
        let cut = &link[..link.len() / 2];
        let e = decode_link(cut).unwrap_err();
        assert!(matches!(e, FiddleError::Deflate(_)), "{e:?}");
        // Valid base64 of bytes that are not deflate at all.
        let e = decode_link(&B64.encode([0xffu8; 40])).unwrap_err();
        assert!(matches!(e, FiddleError::Deflate(_)), "{e:?}");
    }

    fn deflated_link(bytes: &[u8]) -> String {
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        format!("f={}", B64.encode(enc.finish().unwrap()))
    }

    #[test]
    fn deflated_json_that_is_not_a_fiddle() {
        let e = decode_link(&deflated_link(br#"{"hello": "world"}"#)).unwrap_err();
        assert!(matches!(e, FiddleError::NotAFiddle(_)), "{e:?}");
        let e = decode_link(&deflated_link(b"plain text")).unwrap_err();
        assert!(matches!(e, FiddleError::NotAFiddle(_)), "{e:?}");
    }

    #[test]
    fn a_newer_version_is_named() {
        let e = decode_link(&deflated_link(br#"{"version": 7, "guest": {}}"#)).unwrap_err();
        assert_eq!(
            e,
            FiddleError::NewerVersion {
                found: 7,
                supported: 1
            }
        );
        assert!(e.to_string().contains("update edgeplay"), "{e}");
    }

    #[test]
    fn an_oversized_link_stops_at_the_bound() {
        // 64 MiB of spaces deflates to ~64 KiB; it must not be inflated whole.
        let big = vec![b' '; 64 << 20];
        let link = deflated_link(&big);
        let e = decode_link(&link).unwrap_err();
        assert_eq!(
            e,
            FiddleError::TooLarge {
                limit: MAX_INFLATED_BYTES
            }
        );
        let small = encode_link(&sample());
        assert!(matches!(
            decode_link_with_limit(&small, 10),
            Err(FiddleError::TooLarge { limit: 10 })
        ));
    }

    #[test]
    fn a_tampered_inline_guest_is_caught() {
        let mut f = sample();
        if let GuestSource::Inline { wasm, .. } = &mut f.guest {
            *wasm = base64::engine::general_purpose::STANDARD.encode(b"tampered");
        }
        let back = decode_link(&encode_link(&f)).unwrap();
        let e = back.guest.inline_bytes().unwrap().unwrap_err();
        assert!(matches!(e, FiddleError::HashMismatch { .. }), "{e:?}");
    }

    #[test]
    fn a_link_without_a_fiddle() {
        assert!(matches!(
            decode_link("https://play.example/"),
            Err(FiddleError::NotAFiddle(_))
        ));
        assert!(matches!(decode_link(""), Err(FiddleError::NotAFiddle(_))));
        // Another parameter in the fragment, no `f=`: not a damaged payload.
        let e = decode_link("https://play.example/#tab=trace&embed").unwrap_err();
        assert!(e.to_string().contains("the link has no fiddle"), "{e}");
        // Padding a person added is still tolerated.
        let link = format!("{}==", encode_link(&sample()));
        assert_eq!(decode_link(&link).unwrap(), sample());
    }
}
