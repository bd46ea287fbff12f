//! `fastly_http_req.inspect` (the Next-Gen WAF) as `fastly::security::inspect`
//! sees it (`tests/guests/src/bin/ngwaf.rs`), with `[local_server.ngwaf]` rules.

mod common;

use common::{config, engine, run_with, sdk_guest};
use edgeplay_host::{DownstreamRequest, ExecOptions};

const RULES: &str = r#"
[[local_server.ngwaf.rules]]
query_contains = "<script"
verdict = "block"
tags = ["XSS"]
redirect_url = "https://example.com/blocked"

[[local_server.ngwaf.rules]]
path_prefix = "/admin"
client_ip = "10.0.0.0/8"
verdict = "unauthorized"

[[local_server.ngwaf.rules]]
header = "x-scanner"
verdict = "block"
status = 429
"#;

fn inspect(toml: &str, url: &str, headers: &[(&str, &str)]) -> String {
    let mut req = DownstreamRequest::new("GET", &format!("http://example.com{url}"));
    for (n, v) in headers {
        req = req.with_header(n, *v);
    }
    let r = run_with(
        &engine(),
        &sdk_guest("ngwaf"),
        config(toml),
        req,
        ExecOptions::default(),
    );
    assert_eq!(r.response.status, 200, "{}", common::summaries(&r));
    r.body_text()
}

#[test]
fn without_rules_every_request_is_allowed() {
    assert_eq!(
        inspect("", "/", &[]),
        "verdict=allow status=200 tags= redirect=-"
    );
    assert_eq!(
        inspect("[local_server.ngwaf]\nverdict = \"block\"\n", "/", &[]),
        "verdict=block status=406 tags= redirect=-",
        "the default verdict is configurable"
    );
}

#[test]
fn the_first_rule_whose_conditions_hold_gives_the_verdict() {
    assert_eq!(
        inspect(RULES, "/search?q=%3Cscript%3E&raw=<script>", &[]),
        "verdict=block status=406 tags=XSS redirect=https://example.com/blocked"
    );
    // /admin is unauthorized only from 10.0.0.0/8: the override address decides.
    assert_eq!(
        inspect(RULES, "/admin?ip=10.1.2.3", &[]),
        "verdict=unauthorized status=401 tags= redirect=-"
    );
    assert_eq!(
        inspect(RULES, "/admin?ip=192.0.2.1", &[]),
        "verdict=allow status=200 tags= redirect=-"
    );
    assert_eq!(
        inspect(RULES, "/", &[("x-scanner", "1")]),
        "verdict=block status=429 tags= redirect=-"
    );
}

#[test]
fn corp_and_workspace_are_required() {
    assert!(
        inspect("", "/?nocorp=1", &[]).starts_with("error=Invalid Argument"),
        "{}",
        inspect("", "/?nocorp=1", &[])
    );
}
