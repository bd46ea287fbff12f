//! End to end: `edgeplay serve` is a real HTTP/1.1 server that runs a fresh instance
//! per request, streams responses, prints guest output like Viceroy, and survives traps.

mod common;
use common::*;

#[test]
fn serves_the_hello_guest() {
    let server = Server::start(&guest("hello"), &[]);
    let r = server.request("GET", "/", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), "Hello from edgeplay!\n");
    assert_eq!(r.header("x-edgeplay"), Some("hello"));
    assert!(
        r.header("date").is_some(),
        "the host adds a date header on the wire"
    );
}

#[test]
fn serves_concurrent_requests() {
    let server = Server::start(&guest("sleep"), &[]);
    let addr = server.addr.clone();
    let handles: Vec<_> = (0..6)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || http_request(&addr, "GET", "/?ms=200", &[], b""))
        })
        .collect();
    for h in handles {
        let r = h.join().unwrap();
        assert_eq!(r.status, 200);
        assert!(r.text().starts_with("slept "), "{}", r.text());
    }
}

#[test]
fn survives_a_trapping_guest() {
    let server = Server::start(&guest("panic"), &[]);
    for _ in 0..3 {
        let r = server.request("GET", "/", &[], b"");
        assert_eq!(r.status, 500);
    }
    assert!(
        server.log().contains("boom from the guest"),
        "{}",
        server.log()
    );
}

#[test]
fn streams_chunks_and_reports_abandoned_bodies() {
    let server = Server::start(&guest("stream"), &[]);
    let r = server.request("GET", "/?chunks=50", &[], b"");
    assert_eq!(r.status, 200);
    assert!(r.complete);
    assert_eq!(r.text().lines().count(), 50);
    assert!(
        r.chunks > 1,
        "a streamed body arrives in several chunks, got {}",
        r.chunks
    );
    let r = server.request("GET", "/?chunks=50&abandon=1", &[], b"");
    assert!(
        !r.complete,
        "an abandoned streaming body must not look complete"
    );
}

#[test]
fn prints_guest_output_like_viceroy() {
    let server = Server::start(&guest("logging"), &[]);
    let r = server.request("GET", "/", &[], b"");
    assert_eq!(r.status, 200);
    std::thread::sleep(std::time::Duration::from_millis(200));
    let log = server.log();
    assert!(log.contains("my_endpoint :: hello endpoint"), "{log}");
    assert!(log.contains("stdout line 1"), "{log}");
}

#[test]
fn echoes_posts_through_serve() {
    let server = Server::start(&guest("echo"), &[]);
    let r = server.request("POST", "/p?x=1", &[("x-echo-k", "v")], b"payload");
    assert_eq!(r.status, 200);
    let doc: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(doc["method"], "POST");
    assert_eq!(doc["body"], "payload");
    assert_eq!(doc["query"], "x=1");
    assert_eq!(r.header("x-echo-k"), Some("v"));
}

#[test]
fn js_guest_through_serve() {
    let cfg = temp_file(
        "fastly.toml",
        "[local_server.config_stores.settings]\nformat = \"inline-toml\"\n[local_server.config_stores.settings.contents]\nanswer = \"42\"\n",
    );
    let server = Server::start(&guest("js-app"), &["-C", cfg.to_str().unwrap()]);
    let r = server.request("GET", "/", &[], b"");
    assert_eq!((r.status, r.text().as_str()), (200, "Hello from JS!"));
    assert_eq!(r.header("x-js"), Some("yes"));
    let r = server.request("GET", "/config/answer", &[], b"");
    assert_eq!((r.status, r.text().as_str()), (200, "42"));
}

#[test]
fn js_guest_kv_store_through_serve_state_outlives_the_request() {
    let cfg = temp_file(
        "fastly.toml",
        "[local_server.kv_stores]\nstore = [{ key = \"seeded\", data = \"hello\", metadata = \"m\" }]\n",
    );
    let server = Server::start(&guest("js-app"), &["-C", cfg.to_str().unwrap()]);
    let r = server.request("GET", "/kv/store/seeded", &[], b"");
    assert_eq!((r.status, r.text().as_str()), (200, "hello"));
    assert_eq!(r.header("x-kv-metadata"), Some("m"));
    // put (metadata, TTL), get, list and delete in one request...
    let r = server.request("GET", "/kv-roundtrip/store", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    let doc: serde_json::Value = serde_json::from_str(&r.text()).unwrap();
    assert_eq!(doc["got"], "written by js");
    assert_eq!(doc["metadata"], "js-meta");
    assert_eq!(doc["list"], serde_json::json!(["js/a"]));
    // ...and what it left is there for the next request: js/b stays, js/a was deleted.
    let r = server.request("GET", "/kv/store/js%2Fb", &[], b"");
    assert_eq!((r.status, r.text().as_str()), (200, "b"));
    let r = server.request("GET", "/kv/store/js%2Fa", &[], b"");
    assert_eq!(r.status, 404, "{}", r.text());
}

#[test]
fn acl_blocks_the_client_address_through_serve() {
    let cfg = temp_file(
        "fastly.toml",
        "[local_server.acls]\nblocklist = { entries = [\n  { prefix = \"127.0.0.0/8\", action = \"BLOCK\" },\n  { prefix = \"127.0.0.2\", action = \"ALLOW\" },\n] }\n",
    );
    let server = Server::start(&guest("acl"), &["-C", cfg.to_str().unwrap()]);
    // The client is 127.0.0.1: blocked by the /8.
    let r = server.request("GET", "/", &[], b"");
    assert_eq!(
        (r.status, r.text().as_str()),
        (403, "127.0.0.1 is blocked by 127.0.0.0/8\n")
    );
    let r = server.request("GET", "/?ip=127.0.0.2", &[], b"");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "127.0.0.2 is allowed by 127.0.0.2/32\n")
    );
    let r = server.request("GET", "/?ip=10.0.0.1", &[], b"");
    assert_eq!((r.status, r.text().as_str()), (200, "10.0.0.1: no match\n"));
}

#[test]
fn erl_state_outlives_the_request_the_eleventh_is_blocked_and_stays_blocked() {
    let server = Server::start(&guest("erl"), &[]);
    // limit 1/s over 10 s: ten requests pass, counting up.
    for i in 1..=10 {
        let r = server.request("GET", "/?entry=alice", &[], b"");
        assert_eq!(
            (r.status, r.text()),
            (200, format!("alice: {i} in 10 s\n")),
            "request {i}"
        );
    }
    let r = server.request("GET", "/?entry=alice", &[], b"");
    assert_eq!(
        (r.status, r.text().as_str()),
        (429, "alice is rate limited\n")
    );
    // The penalty box holds alice for 60 s: later requests stay blocked.
    for _ in 0..3 {
        let r = server.request("GET", "/?entry=alice", &[], b"");
        assert_eq!(r.status, 429);
    }
    let r = server.request("GET", "/peek?entry=alice", &[], b"");
    let doc: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(doc["in_box"], true, "{doc}");
    assert_eq!(doc["count_60s"], 14, "{doc}");
    // Another entry is counted on its own.
    let r = server.request("GET", "/?entry=bob", &[], b"");
    assert_eq!((r.status, r.text().as_str()), (200, "bob: 1 in 10 s\n"));
    // Counting without checking, and boxing directly.
    let r = server.request("GET", "/add?entry=carol&delta=50", &[], b"");
    assert_eq!(r.status, 200);
    let r = server.request("GET", "/peek?entry=carol", &[], b"");
    let doc: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(
        (doc["count_10s"].as_u64(), doc["in_box"].as_bool()),
        (Some(50), Some(false)),
        "{doc}"
    );
    server.request("GET", "/box?entry=carol&ttl=120", &[], b"");
    let r = server.request("GET", "/?entry=carol&limit=1000", &[], b"");
    assert_eq!(
        (r.status, r.text().as_str()),
        (429, "carol is rate limited\n")
    );
}
