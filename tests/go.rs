//! A Go guest (`tests/go`: `GOOS=wasip1`, no SDK, the Compute ABI through
//! `//go:wasmimport`) through `edgeplay request` and `serve`: hello, a request header,
//! a config store lookup and a backend fetch. Go's runtime imports WASI calls no
//! Compute SDK uses; none of them is unknown and none traps.

mod common;

use common::{guest, header, request_json, temp_file, trace_calls, Origin, Reply, Server};
use serde_json::Value;

fn body(v: &Value) -> &str {
    v["body"].as_str().unwrap_or_default()
}

const CONFIG: &str = "[local_server.config_stores.settings]\nformat = \"inline-toml\"\n[local_server.config_stores.settings.contents]\nanswer = \"42\"\n";

#[test]
fn go_guest_answers_through_request() {
    let v = request_json("go-app", &["/"]);
    assert_eq!(
        (v["status"].as_u64(), body(&v)),
        (Some(200), "Hello from Go!"),
        "{v}"
    );
    assert_eq!(header(&v, "x-go"), Some("yes"));
    assert_eq!(v["error"], Value::Null, "{v}");
    // The Go runtime's own WASI calls are answered (no trace event is unsupported).
    let calls = trace_calls(&v);
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("wasi_snapshot_preview1::")),
        "{calls:?}"
    );
    assert!(
        v["trace"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["unsupported"] == false),
        "{calls:?}"
    );
    let v = request_json("go-app", &["-H", "x-name: ada", "/headers"]);
    assert_eq!(body(&v), "x-name: ada\n", "{v}");
    let cfg = temp_file("fastly.toml", CONFIG);
    let v = request_json("go-app", &["-C", cfg.to_str().unwrap(), "/config/answer"]);
    assert_eq!((v["status"].as_u64(), body(&v)), (Some(200), "42"), "{v}");
    let v = request_json("go-app", &["-C", cfg.to_str().unwrap(), "/config/nope"]);
    assert_eq!(
        (v["status"].as_u64(), body(&v)),
        (Some(404), "no key nope\n"),
        "{v}"
    );
}

#[test]
fn go_guest_fetches_from_an_origin_through_request_and_serve() {
    let origin = Origin::start(|r| Reply::text(200, &format!("hi {}", r.target)));
    let flag = format!("origin={}", origin.addr);
    let v = request_json("go-app", &["--backend", &flag, "/fetch/greet"]);
    assert_eq!(
        (v["status"].as_u64(), body(&v)),
        (Some(200), "origin said: hi /greet"),
        "{v}"
    );
    let cfg = temp_file("fastly.toml", CONFIG);
    let server = Server::start(
        &guest("go-app"),
        &["-C", cfg.to_str().unwrap(), "--backend", &flag],
    );
    for _ in 0..3 {
        let r = server.request("GET", "/", &[], b"");
        assert_eq!((r.status, r.text().as_str()), (200, "Hello from Go!"));
    }
    let r = server.request("GET", "/config/answer", &[], b"");
    assert_eq!((r.status, r.text().as_str()), (200, "42"));
    let r = server.request("GET", "/fetch/again", &[], b"");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "origin said: hi /again")
    );
    assert_eq!(r.header("x-go"), Some("yes"));
}
