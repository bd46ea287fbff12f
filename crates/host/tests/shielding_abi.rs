//! `fastly_shielding` as the SDK's `fastly::shielding::Shield` drives it
//! (`tests/guests/src/bin/shielding.rs`), with `[local_server.shielding_sites]`
//! in Viceroy's form.

mod common;

use common::{config, engine, run_with_origin, sdk_guest, summaries, Run};
use edgeplay_host::{
    DownstreamRequest, ExecOptions, FetchRequest, FetchResponse, Headers, WorkResult,
};
use std::cell::RefCell;

const SITES: &str = r#"
[local_server.shielding_sites]
"pdx-or-us" = "Local"
"bfi-wa-us".unencrypted = "http://127.0.0.1:7677"
"bfi-wa-us".encrypted = "https://127.0.0.1:7678"
"#;

fn run(
    path: &str,
    headers: &[(&str, &str)],
    origin: impl FnMut(&FetchRequest) -> WorkResult,
) -> Run {
    let mut req = DownstreamRequest::new("GET", &format!("http://example.com{path}"));
    for (n, v) in headers {
        req = req.with_header(n, *v);
    }
    run_with_origin(
        &engine(),
        &sdk_guest("shielding"),
        config(SITES),
        req,
        ExecOptions::default(),
        origin,
    )
}

fn answered(r: &Run) -> (u16, String) {
    (r.response.status, r.body_text())
}

#[test]
fn running_on_is_true_for_the_local_site_only() {
    let on = |shield: &str| answered(&run("/is-shield", &[("shield", shield)], common::refuse));
    assert_eq!(on("pdx-or-us"), (200, "true".into()));
    assert_eq!(on("bfi-wa-us"), (200, "false".into()));
    let (status, body) = on("waffle-cone");
    assert_eq!(status, 500, "an unknown shield: {body}");
    assert!(body.contains("INVAL"), "{body}");
}

#[test]
fn a_shield_backend_sends_to_the_sites_entry_point_with_its_timeouts() {
    for (kind, url) in [
        ("unencrypted", "http://127.0.0.1:7677/from-edge"),
        ("encrypted", "https://127.0.0.1:7678/from-edge"),
    ] {
        let seen = RefCell::new(Vec::new());
        let r = run(
            "/shield-to",
            &[("shield", "bfi-wa-us"), ("shield-type", kind)],
            |f: &FetchRequest| {
                seen.borrow_mut().push(f.clone());
                WorkResult::Fetched(Box::new(FetchResponse {
                    status: 200,
                    headers: Headers::new(),
                    body: b"from the shield".to_vec(),
                    remote_addr: None,
                    first_byte_us: 1,
                    end_us: 2,
                    headers_not_sent: Vec::new(),
                    notes: Vec::new(),
                }))
            },
        );
        assert_eq!(
            answered(&r),
            (200, "from the shield".into()),
            "{}",
            summaries(&r)
        );
        let seen = seen.borrow();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].url, url);
        let backend = r
            .response
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("x-backend"))
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
            .unwrap();
        assert_eq!(seen[0].backend, backend);
        if kind == "unencrypted" {
            assert_eq!(
                seen[0].first_byte_timeout_ms,
                Some(5000),
                "Shield::with_first_byte_timeout"
            );
        }
    }
}

#[test]
fn the_raw_calls_answer_inval_for_unknown_sites_bad_bits_and_bad_targets() {
    let r = run("/raw", &[], common::refuse);
    assert_eq!(r.response.status, 200, "{}", summaries(&r));
    // "here" is not configured here: INVAL (2) before any buffer is looked at.
    let text = r.body_text();
    assert!(text.contains("info_small_buffer(need 0)=2\n"), "{text}");
    assert!(text.contains("backend_reserved_bit=2\n"), "{text}");
    assert!(text.contains("backend_bad_target=2\n"), "{text}");
}

#[test]
fn a_small_buffer_is_buflen_with_the_size_needed() {
    let toml = "[local_server.shielding_sites]\nhere = \"Local\"\n";
    let r = run_with_origin(
        &engine(),
        &sdk_guest("shielding"),
        config(toml),
        DownstreamRequest::new("GET", "http://example.com/raw"),
        ExecOptions::default(),
        common::refuse,
    );
    // The local site's block: its flag byte and two empty targets, 3 bytes.
    assert!(
        r.body_text().contains("info_small_buffer(need 3)=4\n"),
        "{}",
        r.body_text()
    );
}
