//! End to end: guests built with the `fastly` crate (and the JS SDK) answer through
//! `edgeplay request --json` exactly as a user would see them.

mod common;
use common::*;
use serde_json::Value;

fn body(v: &Value) -> &str {
    v["body"]
        .as_str()
        .unwrap_or_else(|| panic!("body is not text: {v}"))
}

#[test]
fn hello_answers_with_a_synthetic_response() {
    let v = request_json("hello", &["/"]);
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(body(&v), "Hello from edgeplay!\n");
    assert_eq!(
        header(&v, "content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(header(&v, "x-edgeplay"), Some("hello"));
    assert!(v["error"].is_null());
    let calls = trace_calls(&v);
    for c in [
        "fastly_abi::init",
        "fastly_http_req::body_downstream_get",
        "fastly_http_resp::send_downstream",
    ] {
        assert!(calls.iter().any(|x| x == c), "trace lacks {c}: {calls:?}");
    }
}

#[test]
fn status_codes_come_from_the_guest() {
    assert_eq!(request_json("status", &["/?status=418"])["status"], 418);
    assert_eq!(request_json("status", &["/?status=204"])["status"], 204);
    let bad = request_json("status", &["/?status=nope"]);
    assert_eq!(bad["status"], 400);
}

#[test]
fn echo_sees_method_url_query_headers_and_body() {
    let v = request_json(
        "echo",
        &[
            "-X",
            "POST",
            "-H",
            "x-echo-a: one",
            "-H",
            "x-echo-a: two",
            "-H",
            "X-Custom: Yes",
            "--data",
            "hello body",
            "http://example.com/some/path?q=1&r=two",
        ],
    );
    assert_eq!(v["status"], 200, "{v}");
    let doc: Value = serde_json::from_str(body(&v)).unwrap();
    assert_eq!(doc["method"], "POST");
    assert_eq!(doc["url"], "http://example.com/some/path?q=1&r=two");
    assert_eq!(doc["path"], "/some/path");
    assert_eq!(doc["query"], "q=1&r=two");
    assert_eq!(doc["body"], "hello body");
    assert_eq!(doc["body_len"], 10);
    let headers = doc["headers"].as_array().unwrap();
    assert!(
        headers.contains(&serde_json::json!(["x-custom", "Yes"])),
        "{headers:?}"
    );
    // Multi-value request headers reach the guest in order, and come back.
    assert_eq!(header_all(&v, "x-echo-a"), vec!["one", "two"]);
    assert_eq!(header(&v, "x-body-len"), Some("10"));
}

#[test]
fn a_one_mib_request_body_arrives_whole() {
    let data: String = (0..1024 * 1024)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    let file = temp_file("big.txt", &data);
    let v = request_json(
        "echo",
        &[
            "-X",
            "PUT",
            "--data",
            &format!("@{}", file.display()),
            "/upload",
        ],
    );
    let doc: Value = serde_json::from_str(body(&v)).unwrap();
    assert_eq!(doc["body_len"], 1024 * 1024);
    use sha2::Digest;
    let want: String = sha2::Sha256::digest(data.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(doc["body_sha256"], want);
}

#[test]
fn big_and_multi_value_headers() {
    let big = "b".repeat(60 * 1024);
    let v = request_json("headers", &["-H", &format!("x-big: {big}"), "/"]);
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(header_all(&v, "set-cookie").len(), 3);
    assert_eq!(header(&v, "x-big").map(str::len), Some(61440));
    assert_eq!(header(&v, "x-big-len"), Some("61440"));
}

#[test]
fn streamed_response_of_many_chunks() {
    let v = request_json("stream", &["/?chunks=200"]);
    assert_eq!(v["status"], 200, "{v}");
    let text = body(&v);
    assert_eq!(text.lines().count(), 200);
    assert!(text.starts_with("chunk 0\n") && text.ends_with("chunk 199\n"));
    let writes = trace_calls(&v)
        .iter()
        .filter(|c| *c == "fastly_http_body::write")
        .count();
    assert!(
        writes >= 200,
        "expected a body write per flushed chunk, got {writes}"
    );
}

#[test]
fn config_dictionary_and_secret_lookups() {
    let toml = r#"
name = "config-test"
[local_server]
[local_server.config_stores.settings]
format = "inline-toml"
[local_server.config_stores.settings.contents]
greeting = "hi there"
[local_server.dictionaries.legacy]
format = "inline-toml"
[local_server.dictionaries.legacy.contents]
colour = "blue"
[local_server.secret_stores]
vault = [{ key = "token", data = "s3cr3t" }]
"#;
    let cfg = temp_file("fastly.toml", toml);
    let cfg = cfg.to_str().unwrap();
    let hit = request_json("config", &["-C", cfg, "/config/settings/greeting"]);
    assert_eq!(
        (hit["status"].as_u64(), body(&hit)),
        (Some(200), "hi there")
    );
    let miss = request_json("config", &["-C", cfg, "/config/settings/nope"]);
    assert_eq!(miss["status"], 404);
    assert_eq!(body(&miss), "missing key nope");
    let dict = request_json("config", &["-C", cfg, "/dict/legacy/colour"]);
    assert_eq!(body(&dict), "blue");
    let secret = request_json("config", &["-C", cfg, "/secret/vault/token"]);
    assert_eq!(
        (secret["status"].as_u64(), body(&secret)),
        (Some(200), "s3cr3t")
    );
    let secret_miss = request_json("config", &["-C", cfg, "/secret/vault/other"]);
    assert_eq!(secret_miss["status"], 404);
    let no_store = request_json("config", &["-C", cfg, "/config/absent/key"]);
    assert_eq!(no_store["status"], 500);
    let from_bytes = request_json("config", &["/secret-from-bytes/plain"]);
    assert_eq!(body(&from_bytes), "plain");
}

#[test]
fn log_endpoints_stdout_and_stderr() {
    let v = request_json("logging", &["/"]);
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(v["stdout"], "stdout line 1\n");
    assert_eq!(v["stderr"], "stderr line 1\n");
    let logs = v["logs"].as_array().unwrap();
    let lines: Vec<(&str, &str)> = logs
        .iter()
        .map(|l| (l["endpoint"].as_str().unwrap(), l["line"].as_str().unwrap()))
        .collect();
    assert!(
        lines.contains(&("my_endpoint", "hello endpoint")),
        "{lines:?}"
    );
    assert!(lines.contains(&("my_endpoint", "second line")), "{lines:?}");
}

#[test]
fn a_panic_answers_500_with_the_message() {
    let v = request_json("panic", &["/"]);
    assert_eq!(v["status"], 500);
    assert!(
        v["stderr"]
            .as_str()
            .unwrap()
            .contains("boom from the guest"),
        "{v}"
    );
    let err = v["error"].as_str().expect("error is set");
    assert!(err.contains("unreachable"), "{err}");
}

#[test]
fn err_from_main_answers_500() {
    let v = request_json("err", &["/"]);
    assert_eq!(v["status"], 500);
    assert!(body(&v).contains("handler failed on purpose"), "{v}");
}

#[test]
fn env_vars_args_and_client_ip() {
    let v = request_json("env", &["/"]);
    let text = body(&v);
    for line in [
        "FASTLY_HOSTNAME=localhost",
        "FASTLY_POP=XXX",
        "FASTLY_SERVICE_VERSION=0",
        "args=[\"compute-app\"]",
        "client_ip=Some(127.0.0.1)",
        "server_ip=Some(127.0.0.1)",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
    assert!(text.contains("FASTLY_TRACE_ID=") && !text.contains("FASTLY_TRACE_ID=<unset>"));
    let v = request_json("env", &["--client-ip", "203.0.113.7", "/"]);
    assert!(
        body(&v).lines().any(|l| l == "client_ip=Some(203.0.113.7)"),
        "{}",
        body(&v)
    );
}

#[test]
fn geo_lookup_of_loopback_uses_the_default_record() {
    let v = request_json("geo", &["/"]);
    assert_eq!(v["status"], 200, "{v}");
    let doc: Value = serde_json::from_str(body(&v)).unwrap();
    assert!(doc.get("country_code").is_some(), "{doc}");
}

#[test]
fn sleep_suspends_and_resumes() {
    let v = request_json("sleep", &["/?ms=30"]);
    assert_eq!(v["status"], 200, "{v}");
    let slept: u64 = body(&v)
        .trim()
        .trim_start_matches("slept ")
        .parse()
        .unwrap();
    assert!(slept >= 30, "slept {slept}");
    assert!(trace_calls(&v)
        .iter()
        .any(|c| c == "wasi_snapshot_preview1::poll_oneoff"));
}

#[test]
fn a_guest_that_sends_nothing_gets_an_empty_200() {
    let v = request_json("no_response", &["/"]);
    assert_eq!(v["status"], 200);
    assert_eq!(body(&v), "");
    assert_eq!(v["stdout"], "no response sent\n");
}

#[test]
fn js_guest_answers_with_headers_and_config_store() {
    let v = request_json("js-app", &["/"]);
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(body(&v), "Hello from JS!");
    assert_eq!(header(&v, "x-js"), Some("yes"));
    let toml = "[local_server.config_stores.settings]\nformat = \"inline-toml\"\n[local_server.config_stores.settings.contents]\nanswer = \"42\"\n";
    let cfg = temp_file("fastly.toml", toml);
    let v = request_json("js-app", &["-C", cfg.to_str().unwrap(), "/config/answer"]);
    assert_eq!((v["status"].as_u64(), body(&v)), (Some(200), "42"), "{v}");
    let v = request_json("js-app", &["-C", cfg.to_str().unwrap(), "/config/nope"]);
    assert_eq!(v["status"], 404);
}

#[test]
fn the_trace_exports_to_the_chrome_trace_format() {
    let out = std::env::temp_dir().join(format!("edgeplay-trace-{}.json", std::process::id()));
    let v = request_json("hello", &["--trace-out", out.to_str().unwrap(), "/"]);
    assert_eq!(v["status"], 200);
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let events: Vec<&Value> = doc["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "X")
        .collect();
    assert_eq!(events.len(), v["trace"].as_array().unwrap().len());
    assert!(doc["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["ph"] == "M" && e["args"]["name"] == "guest"));
    let send = events
        .iter()
        .find(|e| e["name"] == "fastly_http_resp::send_downstream")
        .expect("send_downstream is in the export");
    assert_eq!(send["ph"], "X");
    assert_eq!(send["args"]["status"], "ok");
    let _ = std::fs::remove_file(out);
}

/// A `fastly.toml` with one ACL, inline, and one in Fastly's JSON format (a file).
fn acl_config() -> std::path::PathBuf {
    let json = temp_file(
        "acl.json",
        r#"{ "entries": [
  { "op": "create", "prefix": "198.51.100.0/24", "action": "BLOCK" },
  { "op": "create", "prefix": "2001:db8::/32", "action": "ALLOW" }
] }"#,
    );
    temp_file(
        "fastly.toml",
        &format!(
            "[local_server.acls]\nfile_acl = {:?}\nblocklist = {{ entries = [\n  {{ prefix = \"192.0.2.0/24\", action = \"BLOCK\" }},\n  {{ prefix = \"192.0.2.128/25\", action = \"ALLOW\" }},\n] }}\n",
            json.display().to_string()
        ),
    )
}

#[test]
fn acl_guest_blocks_allows_and_misses_by_the_longest_prefix() {
    let cfg = acl_config();
    let cfg = cfg.to_str().unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["-C", cfg];
        all.extend_from_slice(args);
        request_json("acl", &all)
    };
    let v = run(&["--client-ip", "192.0.2.9", "/"]);
    assert_eq!(v["status"], 403, "{v}");
    assert_eq!(body(&v), "192.0.2.9 is blocked by 192.0.2.0/24\n");
    assert_eq!(header(&v, "x-acl-action"), Some("BLOCK"));
    let v = run(&["--client-ip", "192.0.2.200", "/"]);
    assert_eq!(
        (v["status"].as_u64(), body(&v)),
        (Some(200), "192.0.2.200 is allowed by 192.0.2.128/25\n")
    );
    let v = run(&["--client-ip", "203.0.113.1", "/"]);
    assert_eq!(
        (v["status"].as_u64(), body(&v)),
        (Some(200), "203.0.113.1: no match\n")
    );
    // The ACL from a JSON file, IPv4 and IPv6.
    let v = run(&["/?acl=file_acl&ip=198.51.100.77"]);
    assert_eq!(v["status"], 403, "{v}");
    assert_eq!(header(&v, "x-acl-prefix"), Some("198.51.100.0/24"));
    let v = run(&["/?acl=file_acl&ip=2001:db8:0:1::5"]);
    assert_eq!(body(&v), "2001:db8:0:1::5 is allowed by 2001:db8::/32\n");
    // An ACL the configuration does not define: the SDK's AclNotFound.
    let v = run(&["/?acl=missing"]);
    assert_eq!(
        (v["status"].as_u64(), body(&v)),
        (Some(500), "no ACL named missing\n")
    );
    let calls = trace_calls(&v);
    assert!(calls.iter().any(|c| c == "fastly_acl::open"), "{calls:?}");
}

#[test]
fn erl_guest_counts_and_blocks_within_one_request() {
    // A fresh `edgeplay request` has fresh state: one request counts 1.
    let v = request_json("erl", &["/?limit=5"]);
    assert_eq!(
        (v["status"].as_u64(), body(&v)),
        (Some(200), "127.0.0.1: 1 in 10 s\n")
    );
    // limit 0/s: the first request is already over it.
    let v = request_json("erl", &["--client-ip", "203.0.113.5", "/?limit=0"]);
    assert_eq!(
        (v["status"].as_u64(), body(&v)),
        (Some(429), "203.0.113.5 is rate limited\n")
    );
    let check = v["trace"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "check_rate")
        .unwrap_or_else(|| panic!("no check_rate in the trace: {v}"));
    assert_eq!(
        check["results"][0],
        serde_json::json!(["blocked", {"type": "int", "value": 1}]),
        "{check}"
    );
    assert_eq!(
        check["args"][1],
        serde_json::json!(["rc_len", {"type": "int", "value": 2}])
    );
    assert!(
        check["args"]
            .to_string()
            .contains(r#"["entry",{"type":"str","value":"203.0.113.5"}]"#),
        "{check}"
    );
    let v = request_json("erl", &["/peek"]);
    let doc: Value = serde_json::from_str(body(&v)).unwrap();
    assert_eq!(doc["count_60s"], 0);
    assert_eq!(doc["in_box"], false);
}
