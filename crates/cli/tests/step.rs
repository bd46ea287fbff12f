//! `edgeplay request --step` driven as a user does, through a pseudo-terminal: each
//! pending hostcall printed decoded, Enter steps, `c` continues to the next
//! `--break`, `r` runs to the end, `q` stops.

use rexpect::session::PtySession;
use std::path::{Path, PathBuf};
use std::process::Command;

const EDGEPLAY: &str = env!("CARGO_BIN_EXE_edgeplay");

/// A guest that logs a line, then sends a request to the backend `origin` and sends
/// its response downstream.
const GUEST: &str = r#"(module
  (import "fastly_log" "endpoint_get" (func $endpoint_get (param i32 i32 i32) (result i32)))
  (import "fastly_log" "write" (func $log_write (param i32 i32 i32 i32) (result i32)))
  (import "fastly_http_req" "new" (func $req_new (param i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (import "fastly_http_req" "send" (func $send (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "send_downstream" (func $resp_send (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "mylog")
  (data (i32.const 80) "hello log")
  (data (i32.const 96) "origin")
  (func (export "_start")
    (drop (call $endpoint_get (i32.const 64) (i32.const 5) (i32.const 0)))
    (drop (call $log_write (i32.load (i32.const 0)) (i32.const 80) (i32.const 9) (i32.const 4)))
    (drop (call $req_new (i32.const 8)))
    (drop (call $body_new (i32.const 12)))
    (if (call $send (i32.load (i32.const 8)) (i32.load (i32.const 12)) (i32.const 96) (i32.const 6)
          (i32.const 16) (i32.const 20))
      (then unreachable))
    (drop (call $resp_send (i32.load (i32.const 16)) (i32.load (i32.const 20)) (i32.const 0)))))"#;

/// The guest and a `fastly.toml` with a mock `origin` in a fresh directory.
fn files(name: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("edgeplay-step-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let wasm = dir.join("app.wasm");
    std::fs::write(&wasm, wat::parse_str(GUEST).unwrap()).unwrap();
    let toml = dir.join("fastly.toml");
    std::fs::write(
        &toml,
        "[local_server.backends.origin]\nmock = { status = 203, body = \"from the mock\" }\n",
    )
    .unwrap();
    (wasm, toml)
}

fn spawn(wasm: &Path, toml: &Path, extra: &[&str]) -> PtySession {
    let mut cmd = Command::new(EDGEPLAY);
    cmd.arg("request")
        .arg("-C")
        .arg(toml)
        .args(extra)
        .arg(wasm)
        .arg("/");
    rexpect::session::spawn_command(cmd, Some(20_000)).expect("edgeplay runs in a pty")
}

/// The exit status, as `Exited(pid, code)` text.
fn exit_status(p: &PtySession) -> String {
    format!("{:?}", p.process().wait().expect("edgeplay exits"))
}

#[test]
fn enter_steps_and_c_continues_to_the_end() {
    let (wasm, toml) = files("steps");
    let mut p = spawn(&wasm, &toml, &["--step"]);
    p.exp_string("paused before fastly_log::endpoint_get")
        .unwrap();
    p.exp_string("\"mylog\"").unwrap();
    p.exp_string("step> ").unwrap();
    p.send_line("").unwrap();
    p.exp_string("paused before fastly_log::write").unwrap();
    p.exp_string("log endpoint \"mylog\"").unwrap();
    p.exp_string("\"hello log\"").unwrap();
    p.send_line("").unwrap();
    p.exp_string("paused before fastly_http_req::new").unwrap();
    // No breakpoints: `c` runs to the end.
    p.send_line("c").unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(rest.contains("HTTP/1.1 203"), "{rest}");
    assert!(rest.contains("from the mock"), "{rest}");
    assert!(!rest.contains("paused before"), "{rest}");
    assert!(exit_status(&p).contains(", 0)"));
}

#[test]
fn a_break_on_send_pauses_there_with_the_backend_and_q_stops() {
    let (wasm, toml) = files("break");
    let mut p = spawn(&wasm, &toml, &["--break", "send"]);
    let before = p.exp_string("paused before fastly_http_req::send").unwrap();
    assert!(
        !before.contains("paused before"),
        "no pause before the breakpoint: {before}"
    );
    p.exp_string("backend_ptr = 96  \"origin\"").unwrap();
    p.exp_string("step> ").unwrap();
    p.send_line("q").unwrap();
    let rest = p.exp_eof().unwrap();
    assert!(
        !rest.contains("from the mock"),
        "stopped before the send: {rest}"
    );
    assert!(!exit_status(&p).contains(", 0)"), "a stopped run fails");
}

#[test]
fn r_runs_to_the_end_as_an_unpaused_run() {
    let (wasm, toml) = files("run");
    let plain = Command::new(EDGEPLAY)
        .arg("request")
        .arg("-C")
        .arg(&toml)
        .arg(&wasm)
        .arg("/")
        .output()
        .unwrap();
    assert!(plain.status.success());
    let plain = String::from_utf8_lossy(&plain.stdout).replace("\r\n", "\n");
    let mut p = spawn(&wasm, &toml, &["--step", "--break", "send"]);
    p.exp_string("paused before fastly_log::endpoint_get")
        .unwrap();
    p.send_line("c").unwrap();
    p.exp_string("paused before fastly_http_req::send").unwrap();
    p.send_line("r").unwrap();
    let rest = p.exp_eof().unwrap().replace("\r\n", "\n");
    assert!(rest.contains(plain.trim()), "{rest:?} vs {plain:?}");
    assert!(exit_status(&p).contains(", 0)"));
}
