//! Shared helpers for the end-to-end tests: the example/test guests (built once per
//! test binary by scripts/build-guests.sh), the `edgeplay` binary, and a tiny
//! HTTP/1.1 client for `edgeplay serve`.
#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The cargo target dir the tests were built in (`.../target/debug/deps/<test>` → `.../target`).
pub fn target_dir() -> PathBuf {
    if let Ok(t) = std::env::var("CARGO_TARGET_DIR") {
        return PathBuf::from(t);
    }
    let exe = std::env::current_exe().expect("test executable path");
    exe.ancestors().nth(3).expect("target dir").to_path_buf()
}

/// The `edgeplay` binary cargo built beside this test.
pub fn edgeplay_bin() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(Path::parent).expect("profile dir");
    let bin = dir.join(format!("edgeplay{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: run `cargo test --workspace`",
        bin.display()
    );
    bin
}

/// Directory of built guests; builds them on first use.
pub fn guests_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::var("EDGEPLAY_GUESTS")
            .map(PathBuf::from)
            .unwrap_or_else(|_| target_dir().join("guests").join("wasm"));
        let status = Command::new("bash")
            .arg(repo_root().join("scripts/build-guests.sh"))
            .env("EDGEPLAY_GUESTS", &dir)
            .env("CARGO_TARGET_DIR", target_dir())
            .stdout(Stdio::null())
            .status()
            .expect("run scripts/build-guests.sh");
        assert!(status.success(), "building the test guests failed");
        dir
    })
}

/// Path of a built guest (`hello`, `echo`, ..., `js-app`).
pub fn guest(name: &str) -> PathBuf {
    let p = guests_dir().join(format!("{name}.wasm"));
    assert!(p.exists(), "guest {} was not built", p.display());
    p
}

/// A port on 127.0.0.1 that was free a moment ago (for a server that must know its
/// own address before it starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind 127.0.0.1:0")
        .port()
}

/// Write `text` to a fresh temp file and return its path.
pub fn temp_file(name: &str, text: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("edgeplay-test-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `edgeplay request --json GUEST ARGS...`, parsed.
pub fn request_json(guest_name: &str, args: &[&str]) -> Value {
    let out = Command::new(edgeplay_bin())
        .arg("request")
        .arg(guest(guest_name))
        .arg("--json")
        .args(args)
        .output()
        .expect("run edgeplay request");
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "edgeplay request did not print one JSON object ({e}).\nstdout: {stdout}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// The first value of header `name` in a `request --json` result.
pub fn header<'a>(v: &'a Value, name: &str) -> Option<&'a str> {
    header_all(v, name).into_iter().next()
}

/// Every value of header `name` in a `request --json` result.
pub fn header_all<'a>(v: &'a Value, name: &str) -> Vec<&'a str> {
    v["headers"]
        .as_array()
        .expect("headers is a list")
        .iter()
        .filter(|h| {
            h[0].as_str()
                .map(|n| n.eq_ignore_ascii_case(name))
                .unwrap_or(false)
        })
        .filter_map(|h| h[1].as_str())
        .collect()
}

/// Names of every hostcall in the trace, `module::name`.
pub fn trace_calls(v: &Value) -> Vec<String> {
    v["trace"]
        .as_array()
        .expect("trace is a list")
        .iter()
        .filter(|e| e["kind"] == "hostcall")
        .map(|e| {
            format!(
                "{}::{}",
                e["module"].as_str().unwrap(),
                e["name"].as_str().unwrap()
            )
        })
        .collect()
}

/// A running `edgeplay serve`, killed on drop.
pub struct Server {
    pub child: Child,
    pub addr: String,
    pub log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    /// Start `edgeplay serve GUEST --addr 127.0.0.1:0 ARGS...` and wait for its Listening line.
    pub fn start(guest_path: &Path, args: &[&str]) -> Server {
        Server::start_on(guest_path, "127.0.0.1:0", args)
    }

    /// [`Server::start`] on a given address.
    pub fn start_on(guest_path: &Path, addr: &str, args: &[&str]) -> Server {
        let mut child = Command::new(edgeplay_bin())
            .arg("serve")
            .arg(guest_path)
            .args(["--addr", addr])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start edgeplay serve");
        let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let log = log.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    log.lock().unwrap().push_str(&line);
                    log.lock().unwrap().push('\n');
                    if let Some(i) = line.find("http://") {
                        let _ = tx.send(line[i + 7..].trim().trim_end_matches('/').to_string());
                    }
                }
            });
        }
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| {
                panic!(
                    "edgeplay serve printed no Listening line: {}",
                    log.lock().unwrap()
                )
            });
        Server { child, addr, log }
    }

    /// Send one raw HTTP/1.1 request and return (status, headers, body bytes, complete).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        http_request(&self.addr, method, path, headers, body)
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// True when the body ended as its framing said (a complete message).
    pub complete: bool,
    /// Number of chunks in a chunked body.
    pub chunks: usize,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A minimal HTTP/1.1 client (Connection: close), decoding content-length and chunked bodies.
pub fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut s = TcpStream::connect(addr).expect("connect to edgeplay serve");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|x| x.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((n, v)) = l.split_once(':') {
            headers.push((n.trim().to_lowercase(), v.trim().to_string()));
        }
    }
    let get = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let mut body = Vec::new();
    let mut complete = true;
    let mut chunks = 0;
    if get("transfer-encoding")
        .map(|t| t.contains("chunked"))
        .unwrap_or(false)
    {
        complete = false;
        loop {
            let mut size = String::new();
            if r.read_line(&mut size).unwrap_or(0) == 0 {
                break;
            }
            let Ok(n) = usize::from_str_radix(size.trim(), 16) else {
                break;
            };
            if n == 0 {
                complete = true;
                break;
            }
            let mut buf = vec![0; n + 2];
            if r.read_exact(&mut buf).is_err() {
                break;
            }
            body.extend_from_slice(&buf[..n]);
            chunks += 1;
        }
    } else if let Some(len) = get("content-length").and_then(|l| l.parse::<usize>().ok()) {
        body.resize(len, 0);
        complete = r.read_exact(&mut body).is_ok();
    } else {
        let _ = r.read_to_end(&mut body);
    }
    HttpResponse {
        status,
        headers,
        body,
        complete,
        chunks,
    }
}

/// A request an [`Origin`] received.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: std::time::Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What an [`Origin`] answers: status, headers, body, and how long to wait first.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub delay: Duration,
}

impl Reply {
    pub fn text(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "text/plain".into())],
            body: body.as_bytes().to_vec(),
            delay: Duration::ZERO,
        }
    }
}

/// A tiny HTTP/1.1 origin on 127.0.0.1 (a thread per connection) that records every
/// request and answers with `handler`.
pub struct Origin {
    pub addr: String,
    pub port: u16,
    pub received: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
    /// When each reply was sent.
    pub answered: std::sync::Arc<std::sync::Mutex<Vec<std::time::Instant>>>,
}

impl Origin {
    pub fn start(handler: impl Fn(&Received) -> Reply + Send + Sync + 'static) -> Origin {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let answered = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let handler = std::sync::Arc::new(handler);
        let (rec, ans) = (received.clone(), answered.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let (rec, ans, handler) = (rec.clone(), ans.clone(), handler.clone());
                std::thread::spawn(move || {
                    let mut r = BufReader::new(conn.try_clone().unwrap());
                    loop {
                        let mut line = String::new();
                        if r.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let mut parts = line.split_whitespace();
                        let (method, target) = (
                            parts.next().unwrap_or("").to_string(),
                            parts.next().unwrap_or("").to_string(),
                        );
                        let mut headers = Vec::new();
                        loop {
                            let mut l = String::new();
                            if r.read_line(&mut l).unwrap_or(0) == 0 {
                                return;
                            }
                            let l = l.trim_end();
                            if l.is_empty() {
                                break;
                            }
                            if let Some((n, v)) = l.split_once(':') {
                                headers.push((n.trim().to_lowercase(), v.trim().to_string()));
                            }
                        }
                        let len = headers
                            .iter()
                            .find(|(n, _)| n == "content-length")
                            .and_then(|(_, v)| v.parse().ok())
                            .unwrap_or(0);
                        let mut body = vec![0; len];
                        if r.read_exact(&mut body).is_err() {
                            return;
                        }
                        let req = Received {
                            method,
                            target,
                            headers,
                            body,
                            at: std::time::Instant::now(),
                        };
                        rec.lock().unwrap().push(req.clone());
                        let reply = handler(&req);
                        std::thread::sleep(reply.delay);
                        let mut head = format!(
                            "HTTP/1.1 {} X\r\ncontent-length: {}\r\n",
                            reply.status,
                            reply.body.len()
                        );
                        for (n, v) in &reply.headers {
                            head.push_str(&format!("{n}: {v}\r\n"));
                        }
                        head.push_str("\r\n");
                        ans.lock().unwrap().push(std::time::Instant::now());
                        if conn
                            .write_all(head.as_bytes())
                            .and_then(|_| conn.write_all(&reply.body))
                            .is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        Origin {
            addr: format!("127.0.0.1:{port}"),
            port,
            received,
            answered,
        }
    }

    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}
