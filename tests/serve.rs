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
