//! `edgeplay serve` with the client's connection: informational (103) responses
//! written ahead of the final one, and a guest's WebSocket and GRIP handoffs to local
//! origins (a tokio-tungstenite echo server, a plain HTTP origin).

mod common;

use futures_util::{SinkExt, StreamExt};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const EDGEPLAY: &str = env!("CARGO_BIN_EXE_edgeplay");

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("edgeplay-handoff-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `dir/guest.wasm` from `wat`, and `dir/fastly.toml` from `toml`.
fn files(dir: &Path, wat: &str, toml: &str) -> (PathBuf, PathBuf) {
    let wasm = dir.join("guest.wasm");
    std::fs::write(&wasm, wat::parse_str(wat).expect("valid WAT")).unwrap();
    let cfg = dir.join("fastly.toml");
    std::fs::write(&cfg, toml).unwrap();
    (wasm, cfg)
}

fn serve(wasm: &Path, toml: &Path, extra: &[&str]) -> common::Server {
    let mut cmd = Command::new(EDGEPLAY);
    cmd.arg("serve")
        .args(["--addr", "127.0.0.1:0", "-C"])
        .arg(toml)
        .args(extra)
        .arg(wasm);
    common::spawn_server(cmd)
}

const EARLY_HINTS: &str = r#"(module
  (import "fastly_http_resp" "new" (func $resp_new (param i32) (result i32)))
  (import "fastly_http_resp" "header_append" (func $hdr (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "send_informational_response" (func $info (param i32 i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (import "fastly_http_body" "write" (func $body_write (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "send_downstream" (func $send (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "link</style.css>; rel=preloadfinal")
  (func (export "_start")
    (drop (call $resp_new (i32.const 0)))
    (drop (call $hdr (i32.load (i32.const 0)) (i32.const 100) (i32.const 4) (i32.const 104) (i32.const 25)))
    (if (call $info (i32.load (i32.const 0)) (i32.const 103)) (then unreachable))
    (drop (call $body_new (i32.const 4)))
    (drop (call $body_write (i32.load (i32.const 4)) (i32.const 129) (i32.const 5) (i32.const 0) (i32.const 8)))
    (if (call $send (i32.load (i32.const 0)) (i32.load (i32.const 4)) (i32.const 0)) (then unreachable))))"#;

#[test]
fn serve_writes_a_103_before_the_final_response() {
    let dir = temp_dir("103");
    let (wasm, toml) = files(&dir, EARLY_HINTS, "");
    let server = serve(&wasm, &toml, &[]);
    let got = common::raw_get(server.addr, "/");
    assert!(
        got.starts_with("HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\n"),
        "{got}"
    );
    assert!(got.ends_with("\r\n\r\nfinal"), "{got}");
    // A second request on a fresh connection works the same.
    assert!(common::raw_get(server.addr, "/").starts_with("HTTP/1.1 103 "));

    // `request --json` lists it.
    let out = Command::new(EDGEPLAY)
        .args(["request", "--json", "-C"])
        .arg(&toml)
        .arg(&wasm)
        .arg("/")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(v["informational"][0]["status"], 103, "{v}");
    assert_eq!(
        v["informational"][0]["headers"][0],
        serde_json::json!(["link", "</style.css>; rel=preload"])
    );
}

/// A guest that hands every request to `call` with the backend `origin`.
fn handoff_wat(call: &str) -> String {
    let v2 = call.ends_with("_v2");
    format!(
        r#"(module
  (import "fastly_http_req" "body_downstream_get" (func $ds (param i32 i32) (result i32)))
  (import "fastly_http_req" "{call}" (func $h (param {params}) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "origin")
  (func (export "_start")
    (drop (call $ds (i32.const 0) (i32.const 4)))
    (if (call $h {req} (i32.const 100) (i32.const 6)) (then unreachable))))"#,
        params = if v2 { "i32 i32 i32" } else { "i32 i32" },
        req = if v2 { "(i32.load (i32.const 0))" } else { "" },
    )
}

/// A WebSocket origin on 127.0.0.1 that echoes every text message with a prefix.
async fn echo_origin() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                    return;
                };
                while let Some(Ok(m)) = ws.next().await {
                    if let Message::Text(t) = m {
                        let _ = ws.send(Message::text(format!("echo: {t}"))).await;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_handoff_relays_both_ways_to_the_backend() {
    let origin = echo_origin().await;
    for call in ["redirect_to_websocket_proxy_v2", "upgrade_websocket"] {
        let dir = temp_dir(call);
        let (wasm, toml) = files(
            &dir,
            &handoff_wat(call),
            &format!("[local_server.backends.origin]\nurl = \"http://{origin}\"\n"),
        );
        let server = serve(&wasm, &toml, &[]);
        let (mut ws, resp) = tokio_tungstenite::connect_async(format!("ws://{}/chat", server.addr))
            .await
            .unwrap_or_else(|e| {
                panic!("{call}: the WebSocket handshake through edgeplay failed: {e}")
            });
        assert_eq!(resp.status(), 101);
        for msg in ["hello", "again"] {
            ws.send(Message::text(msg)).await.unwrap();
            let got = tokio::time::timeout(Duration::from_secs(10), ws.next())
                .await
                .expect("an answer in time")
                .expect("the socket is open")
                .unwrap();
            assert_eq!(got, Message::text(format!("echo: {msg}")), "{call}");
        }
        ws.close(None).await.unwrap();
    }
}

/// A plain HTTP origin that answers each request with what it got (request line and
/// headers), then closes.
fn mirror_origin() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in listener.incoming() {
            let Ok(mut s) = s else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 1024];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let head = String::from_utf8_lossy(&buf).to_lowercase();
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ngrip-hold: stream\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{head}",
                head.len()
            );
        }
    });
    addr
}

#[test]
fn a_grip_handoff_reaches_the_backend_or_the_local_pushpin() {
    let origin = mirror_origin();
    let dir = temp_dir("grip");
    let (wasm, toml) = files(
        &dir,
        &handoff_wat("redirect_to_grip_proxy_v2"),
        &format!("[local_server.backends.origin]\nurl = \"http://{origin}/app/\"\n"),
    );
    // Without Pushpin: the backend itself, under its path prefix, without Grip-Sig.
    let server = serve(&wasm, &toml, &[]);
    let got = common::raw_get(server.addr, "/events?x=1");
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}");
    assert!(
        got.contains("grip-hold: stream"),
        "the origin's GRIP headers reach the client: {got}"
    );
    assert!(got.contains("get /app/events?x=1 http/1.1"), "{got}");
    assert!(got.contains(&format!("host: {origin}")), "{got}");
    assert!(!got.contains("grip-sig"), "{got}");
    drop(server);

    // With --local-pushpin-proxy-port (here the mirror plays Pushpin): the route header.
    let server = serve(
        &wasm,
        &toml,
        &["--local-pushpin-proxy-port", &origin.port().to_string()],
    );
    let got = common::raw_get(server.addr, "/events");
    assert!(
        got.contains("get /events http/1.1"),
        "Pushpin applies its route's path: {got}"
    );
    assert!(got.contains("pushpin-route: origin"), "{got}");
}

#[test]
fn request_explains_that_a_handoff_needs_serve() {
    let dir = temp_dir("request");
    let (wasm, toml) = files(
        &dir,
        &handoff_wat("redirect_to_websocket_proxy"),
        "[local_server.backends.origin]\nurl = \"http://127.0.0.1:9\"\n",
    );
    let out = Command::new(EDGEPLAY)
        .args(["request", "-C"])
        .arg(&toml)
        .arg(&wasm)
        .arg("/")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("HTTP/1.1 501"), "{stdout}");
    assert!(stdout.contains("only `edgeplay serve` has"), "{stdout}");
}
