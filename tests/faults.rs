//! Faults: `edgeplay serve` in front of an origin that misbehaves (a connection reset
//! mid-body, a slow first byte, a body that stalls) and beside a slowloris client.
//! Each failure maps to the platform's error, no request hangs, and the server keeps
//! answering everyone else.

mod common;
use common::*;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

/// An origin on 127.0.0.1 whose answer depends on the request path:
/// `/reset` sends a head announcing 100,000 bytes and 1,000 of them, then closes the
/// connection with the rest of the request unread (the kernel answers with a reset);
/// `/slow` waits 1.5 s before its head; `/stall` sends 10 bytes of its body and then
/// nothing for 3 s; anything else answers `200 fine`.
fn faulty_origin() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut r = BufReader::new(conn.try_clone().unwrap());
                let mut line = String::new();
                if r.read_line(&mut line).is_err() {
                    return;
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                if path.starts_with("/reset") {
                    let _ = conn.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n");
                    let _ = conn.write_all(&[b'x'; 1000]);
                    std::thread::sleep(Duration::from_millis(50));
                    return; // dropped with the request's headers unread: a reset
                }
                // Read the rest of the head.
                loop {
                    let mut l = String::new();
                    if r.read_line(&mut l).unwrap_or(0) == 0 || l.trim_end().is_empty() {
                        break;
                    }
                }
                if path.starts_with("/slow") {
                    std::thread::sleep(Duration::from_millis(1500));
                }
                if path.starts_with("/stall") {
                    let _ = conn
                        .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n0123456789");
                    std::thread::sleep(Duration::from_secs(3));
                    return;
                }
                let _ = conn.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: close\r\n\r\nfine",
                );
            });
        }
    });
    addr
}

fn config(origin: &str) -> std::path::PathBuf {
    temp_file(
        "fastly.toml",
        &format!(
            "[local_server.backends.origin]\nurl = \"http://{origin}\"\nfirst_byte_timeout_ms = 300\nbetween_bytes_timeout_ms = 300\n"
        ),
    )
}

#[test]
fn serve_maps_origin_faults_to_the_platforms_errors_and_stays_up() {
    let origin = faulty_origin();
    let cfg = config(&origin);
    let server = Server::start(&guest("proxy"), &["-C", cfg.to_str().unwrap()]);
    for _ in 0..2 {
        // A reset mid-body: the head went out, the body cannot be finished, so the
        // client sees it cut off (it never hangs, never sees it as complete).
        let r = server.request("GET", "/reset", &[], b"");
        assert_eq!(r.status, 200);
        assert!(!r.complete, "a cut body is not complete");
        assert!(r.body.len() < 100_000);
        // A slow first byte: the backend's first-byte timeout, which the SDK reports
        // as a send error (the proxy answers 502 with it).
        let r = server.request("GET", "/slow", &[], b"");
        assert_eq!(r.status, 502, "{}", r.text());
        assert!(
            r.header("x-send-error").unwrap_or("").contains("Timeout"),
            "{:?}",
            r.headers
        );
        // A body that stalls past the between-bytes timeout is cut off too.
        let r = server.request("GET", "/stall", &[], b"");
        assert!(!r.complete);
        assert!(r.text().starts_with("0123456789"), "{}", r.text());
        // Everyone else is answered.
        let r = server.request("GET", "/ok", &[], b"");
        assert_eq!((r.status, r.text().as_str()), (200, "fine"));
    }
}

#[test]
fn a_slowloris_client_does_not_hold_up_other_requests() {
    let origin = faulty_origin();
    let cfg = config(&origin);
    let server = Server::start(&guest("proxy"), &["-C", cfg.to_str().unwrap()]);
    // Three clients that send their head one byte at a time, never finishing it.
    let addr = server.addr.clone();
    let slow: Vec<_> = (0..3)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(&addr).unwrap();
                for b in b"GET /ok HTTP/1.1\r\nHost: slow.example\r\nX-Slow: ".iter() {
                    if s.write_all(&[*b]).is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(40));
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    for _ in 0..5 {
        let r = server.request("GET", "/ok", &[], b"");
        assert_eq!((r.status, r.text().as_str()), (200, "fine"));
    }
    for t in slow {
        t.join().unwrap();
    }
    let r = server.request("GET", "/ok", &[], b"");
    assert_eq!(r.status, 200);
}
