//! Reusable sandboxes in `edgeplay serve`: a guest that asks for further requests
//! (`next_request_wait`) serves them from one instance — a counter in its memory
//! goes on — up to Viceroy's six requests per instance; a guest that does not ask gets
//! a fresh instance per request; the one-shot `request` command answers NONE; and a
//! request the sandbox accepted but never answered gets an error, not a hang.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const EDGEPLAY: &str = env!("CARGO_BIN_EXE_edgeplay");

/// Answers `N:ID` (N: the requests this instance served, counted in guest memory;
/// ID: the request's own id), then asks for a further request and loops on it.
const COUNTER: &str = r#"(module
  (import "fastly_http_req" "body_downstream_get" (func $ds (param i32 i32) (result i32)))
  (import "fastly_http_downstream" "next_request" (func $next (param i32 i32 i32) (result i32)))
  (import "fastly_http_downstream" "next_request_wait" (func $wait (param i32 i32 i32) (result i32)))
  (import "fastly_http_downstream" "downstream_client_request_id" (func $rid (param i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "new" (func $resp_new (param i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (import "fastly_http_body" "write" (func $body_write (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "send_downstream" (func $send (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (drop (call $ds (i32.const 8) (i32.const 12)))
    (loop $serve
      ;;SLEEP
      (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
      (i32.store8 (i32.const 100) (i32.add (i32.const 48) (i32.load (i32.const 0))))
      (i32.store8 (i32.const 101) (i32.const 58))
      (drop (call $rid (i32.load (i32.const 8)) (i32.const 102) (i32.const 64) (i32.const 40)))
      (drop (call $resp_new (i32.const 32)))
      (drop (call $body_new (i32.const 36)))
      (drop (call $body_write (i32.load (i32.const 36)) (i32.const 100)
        (i32.add (i32.const 2) (i32.load (i32.const 40))) (i32.const 0) (i32.const 44)))
      (drop (call $send (i32.load (i32.const 32)) (i32.load (i32.const 36)) (i32.const 0)))
      ;;NEXT
      (if (call $next (i32.const 0) (i32.const 16) (i32.const 24)) (then return))
      (if (call $wait (i32.load (i32.const 24)) (i32.const 8) (i32.const 12)) (then return))
      ;;LOOP
      (br $serve))))"#;

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("edgeplay-reuse-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn guest(dir: &Path, wat: &str) -> (PathBuf, PathBuf) {
    let wasm = dir.join("guest.wasm");
    std::fs::write(&wasm, wat::parse_str(wat).expect("valid WAT")).unwrap();
    let cfg = dir.join("fastly.toml");
    std::fs::write(&cfg, "").unwrap();
    (wasm, cfg)
}

fn serve(wasm: &Path, toml: &Path) -> common::Server {
    let mut cmd = Command::new(EDGEPLAY);
    cmd.arg("serve")
        .args(["--addr", "127.0.0.1:0", "-C"])
        .arg(toml)
        .arg(wasm);
    common::spawn_server(cmd)
}

/// Status line and body of one `GET /` with `Connection: close`.
fn get(addr: SocketAddr) -> (String, String) {
    let text = common::raw_get(addr, "/");
    let (head, body) = text.split_once("\r\n\r\n").expect("a response");
    (head.lines().next().unwrap().to_string(), body.to_string())
}

/// The instance's count from a `N:ID` body.
fn count(body: &str) -> u32 {
    body.split(':').next().unwrap().parse().unwrap()
}

/// Requests one after another, each once the instance had time to wait again.
fn sequential(addr: SocketAddr, n: usize) -> Vec<String> {
    (0..n)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(150));
            let (status, body) = get(addr);
            assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
            body
        })
        .collect()
}

#[test]
fn serve_hands_further_requests_to_a_waiting_instance_up_to_six() {
    let dir = temp_dir("counter");
    let (wasm, toml) = guest(&dir, COUNTER);
    let server = serve(&wasm, &toml);
    let bodies = sequential(server.addr, 8);
    let counts: Vec<u32> = bodies.iter().map(|b| count(b)).collect();
    // One instance serves six; the seventh request gets a fresh one.
    assert_eq!(counts, [1, 2, 3, 4, 5, 6, 1, 2], "{bodies:?}");
    // Each request sees its own request id.
    let ids: Vec<&str> = bodies
        .iter()
        .map(|b| b.split_once(':').unwrap().1)
        .collect();
    for (n, id) in ids.iter().enumerate() {
        assert_eq!(*id, format!("{n:032x}"), "{bodies:?}");
    }
}

#[test]
fn concurrent_requests_are_all_answered() {
    let dir = temp_dir("concurrent");
    let (wasm, toml) = guest(&dir, COUNTER);
    let server = serve(&wasm, &toml);
    // One instance waits; then eight at once.
    assert_eq!(count(&sequential(server.addr, 1)[0]), 1);
    std::thread::sleep(Duration::from_millis(150));
    let addr = server.addr;
    let handles: Vec<_> = (0..8)
        .map(|_| std::thread::spawn(move || get(addr)))
        .collect();
    let mut counts = Vec::new();
    for h in handles {
        let (status, body) = h.join().unwrap();
        assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
        counts.push(count(&body));
    }
    // The waiting instance took one of them (its second request).
    assert!(counts.contains(&2), "{counts:?}");
    // Every instance counts from 1 without gaps.
    for k in 2..=6 {
        let at = |n| counts.iter().filter(|c| **c == n).count() + usize::from(n == 1);
        assert!(at(k) <= at(k - 1), "{counts:?}");
    }
}

#[test]
fn a_guest_that_does_not_ask_gets_a_fresh_instance_per_request() {
    let dir = temp_dir("oneshot");
    let wat = COUNTER.replace(";;NEXT", "(return)");
    let (wasm, toml) = guest(&dir, &wat);
    let server = serve(&wasm, &toml);
    let counts: Vec<u32> = sequential(server.addr, 3)
        .iter()
        .map(|b| count(b))
        .collect();
    assert_eq!(counts, [1, 1, 1]);
}

#[test]
fn an_accepted_request_the_guest_never_answers_gets_a_503() {
    let dir = temp_dir("unanswered");
    // After taking a further request, the guest ends without answering it.
    let wat = COUNTER.replace(";;LOOP", "(return)");
    let (wasm, toml) = guest(&dir, &wat);
    let server = serve(&wasm, &toml);
    std::thread::sleep(Duration::from_millis(150));
    let (status, body) = get(server.addr);
    assert_eq!((status.as_str(), count(&body)), ("HTTP/1.1 200 OK", 1));
    std::thread::sleep(Duration::from_millis(150));
    let (status, body) = get(server.addr);
    assert_eq!(status, "HTTP/1.1 503 Service Unavailable", "{body}");
    assert!(body.contains("ended without answering it"), "{body}");
    // The next request starts afresh.
    std::thread::sleep(Duration::from_millis(150));
    let (status, body) = get(server.addr);
    assert_eq!((status.as_str(), count(&body)), ("HTTP/1.1 200 OK", 1));
}

/// Sleep `ms` before answering each request (a WASI clock subscription).
fn slow(ms: u64) -> String {
    COUNTER.replace(
        ";;SLEEP",
        &format!(
            "(i32.store8 (i32.const 520) (i32.const 0)) (i32.store (i32.const 528) (i32.const 1)) \
             (i64.store (i32.const 536) (i64.const {})) \
             (drop (call $poll (i32.const 512) (i32.const 600) (i32.const 1) (i32.const 700)))",
            ms * 1_000_000
        ),
    )
}

/// `n` requests at once: their counts, sorted.
fn at_once(addr: SocketAddr, n: usize) -> Vec<u32> {
    let handles: Vec<_> = (0..n)
        .map(|_| std::thread::spawn(move || get(addr)))
        .collect();
    let mut counts: Vec<u32> = handles
        .into_iter()
        .map(|h| {
            let (status, body) = h.join().unwrap();
            assert_eq!(status, "HTTP/1.1 200 OK", "{body}");
            count(&body)
        })
        .collect();
    counts.sort();
    counts
}

#[test]
fn at_most_five_instances_wait_for_a_request() {
    let dir = temp_dir("waiting");
    let (wasm, toml) = guest(&dir, &slow(400));
    let server = serve(&wasm, &toml);
    // Seven instances at once (each answers after 400 ms, so none is waiting yet);
    // then all seven ask for a further request, and only five may wait.
    assert_eq!(at_once(server.addr, 7), [1; 7]);
    std::thread::sleep(Duration::from_millis(300));
    // Six requests at once: five go to the waiting instances, one starts afresh.
    assert_eq!(at_once(server.addr, 6), [1, 2, 2, 2, 2, 2]);
}

#[test]
fn the_one_shot_request_command_answers_none() {
    let dir = temp_dir("request");
    let (wasm, toml) = guest(&dir, COUNTER);
    let t0 = Instant::now();
    let out = Command::new(EDGEPLAY)
        .args(["request", "--json", "-C"])
        .arg(&toml)
        .arg(&wasm)
        .arg("/")
        .output()
        .unwrap();
    // No 10 s wait for a request that cannot come.
    assert!(t0.elapsed() < Duration::from_secs(5));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(v["body"], format!("1:{:032x}", 0), "{v}");
}
