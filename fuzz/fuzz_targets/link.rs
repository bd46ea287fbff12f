//! The fiddle-link decoder. The first byte picks the layer the rest reaches:
//! `0` the link text as it is (URL, fragment, payload); `1` bytes deflated and
//! base64url-encoded into a link (the fiddle JSON layer); `2` the fiddle JSON
//! itself. A fiddle that decodes is taken apart as the tab and the runner do
//! (its guest bytes, its assertions) and must survive a round trip through a link.
#![no_main]

use base64::Engine as _;
use edgeplay_host::fiddle::{decode_link, encode_link, parse_assertions, Fiddle};
use libfuzzer_sys::fuzz_target;
use std::io::Write;

fn deflated_link(bytes: &[u8]) -> String {
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).expect("writing to a Vec");
    let d = enc.finish().expect("deflate to a Vec");
    format!(
        "https://play.test/#f={}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(d)
    )
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let fiddle = match mode % 3 {
        0 => decode_link(&String::from_utf8_lossy(rest)),
        1 => decode_link(&deflated_link(rest)),
        _ => Fiddle::from_json_bytes(rest),
    };
    let fiddle = match fiddle {
        Ok(f) => f,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let _ = fiddle.guest.inline_bytes();
    for r in &fiddle.requests {
        let _ = parse_assertions(&r.assertions);
    }
    let again = decode_link(&encode_link(&fiddle)).expect("an encoded fiddle decodes");
    assert_eq!(
        again, fiddle,
        "a fiddle survives a round trip through a link"
    );
});
