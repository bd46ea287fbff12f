//! End to end: guests reach origins through `edgeplay request` and `edgeplay serve`,
//! against real HTTP origins on 127.0.0.1 — headers, Host rules, cdn-loop and loop
//! detection, gzip, send errors, parallel sends, unreliable and mock backends.

mod common;
use common::*;
use serde_json::Value;
use std::time::Duration;

fn body(v: &Value) -> &str {
    v["body"]
        .as_str()
        .unwrap_or_else(|| panic!("body is not text: {v}"))
}

fn backend_flag(name: &str, o: &Origin) -> String {
    format!("{name}={}", o.addr)
}

#[test]
fn proxy_forwards_the_request_and_returns_the_origins_response() {
    let origin = Origin::start(|r| {
        let mut reply = Reply::text(201, &format!("from origin {} {}", r.method, r.target));
        reply.headers.push(("x-origin".into(), "yes".into()));
        reply
    });
    let v = request_json(
        "proxy",
        &[
            "--backend",
            &backend_flag("origin", &origin),
            "-H",
            "x-test: 1",
            "http://example.com/path?x=1",
        ],
    );
    assert_eq!(v["status"], 201, "{v}");
    assert_eq!(body(&v), "from origin GET /path?x=1");
    assert_eq!(header(&v, "x-origin"), Some("yes"));
    let seen = origin.requests();
    assert_eq!(seen.len(), 1);
    let r = &seen[0];
    assert_eq!(r.header("x-test"), Some("1"));
    // As Viceroy and the platform: the forwarded client request keeps its Host.
    assert_eq!(r.header("host"), Some("example.com"));
    assert!(
        r.header("cdn-loop").unwrap_or("").contains("edgeplay"),
        "{:?}",
        r.headers
    );
    // The fetch is a trace event the UI can draw as a waterfall.
    let fetch = v["trace"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["module"] == "backend")
        .expect("a backend event");
    assert_eq!(fetch["name"], "origin");
}

#[test]
fn override_host_and_backend_timeouts_come_from_fastly_toml() {
    let origin = Origin::start(|r| {
        let mut reply = Reply::text(200, r.header("host").unwrap_or("?"));
        if r.target.starts_with("/slow") {
            reply.delay = Duration::from_millis(1500);
        }
        reply
    });
    let toml = format!(
        "[local_server.backends.origin]\nurl = \"http://{}\"\noverride_host = \"api.internal\"\nfirst_byte_timeout_ms = 300\n",
        origin.addr
    );
    let cfg = temp_file("fastly.toml", &toml);
    let cfg = cfg.to_str().unwrap();
    let v = request_json("proxy", &["-C", cfg, "/"]);
    assert_eq!(body(&v), "api.internal");
    let v = request_json("proxy", &["-C", cfg, "/slow"]);
    assert_eq!(v["status"], 502, "{v}");
    assert!(
        header(&v, "x-send-error").unwrap_or("").contains("Timeout"),
        "{v}"
    );
}

#[test]
fn gzip_responses_are_decompressed_when_asked() {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(b"unzipped by the host").unwrap();
    let gz = enc.finish().unwrap();
    let origin = Origin::start(move |_| Reply {
        status: 200,
        headers: vec![("content-encoding".into(), "gzip".into())],
        body: gz.clone(),
        delay: Duration::ZERO,
    });
    let v = request_json(
        "proxy",
        &["--backend", &backend_flag("origin", &origin), "/?gzip=1"],
    );
    assert_eq!(body(&v), "unzipped by the host");
    assert_eq!(header(&v, "content-encoding"), None);
    let raw = request_json(
        "proxy",
        &["--backend", &backend_flag("origin", &origin), "/"],
    );
    assert!(
        raw["body_base64"].is_string(),
        "without the flag the body stays gzip: {raw}"
    );
    assert_eq!(header(&raw, "content-encoding"), Some("gzip"));
}

#[test]
fn send_errors_reach_the_guest_with_their_cause() {
    // A port nothing listens on: bind, take the port, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let v = request_json(
        "send_error",
        &[
            "--backend",
            &format!("down=127.0.0.1:{port}"),
            "/?backend=down",
        ],
    );
    assert_eq!(body(&v), "cause=ConnectionRefused\n", "{v}");
    let unknown = request_json("send_error", &["/?backend=missing"]);
    let text = body(&unknown);
    assert!(text.starts_with("cause="), "{text}");
    // The SDK names the backend first to its HTTP cache lookup (a GET), which
    // refuses it as a send would.
    let call = unknown["trace"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| {
            let name = e["name"].as_str().unwrap_or("");
            (e["module"] == "fastly_http_req" && name.starts_with("send"))
                || (e["module"] == "fastly_http_cache" && name == "transaction_lookup")
        })
        .expect("a call naming the backend");
    assert_eq!(
        call["status"], "inval",
        "an unknown backend is INVAL: {call}"
    );
}

#[test]
fn two_async_sends_run_in_parallel() {
    let a = Origin::start(|_| Reply {
        delay: Duration::from_millis(300),
        ..Reply::text(200, "A")
    });
    let b = Origin::start(|_| Reply {
        delay: Duration::from_millis(300),
        ..Reply::text(200, "B")
    });
    let v = request_json(
        "fanout",
        &[
            "--backend",
            &backend_flag("a", &a),
            "--backend",
            &backend_flag("b", &b),
            "/",
        ],
    );
    assert_eq!(v["status"], 200, "{v}");
    let text = body(&v);
    assert!(text.contains("a=A\n") && text.contains("b=B\n"), "{text}");
    // Both requests reached their origins before either origin answered.
    let (ra, rb) = (a.requests()[0].at, b.requests()[0].at);
    let first_answer = (*a.answered.lock().unwrap().first().unwrap())
        .min(*b.answered.lock().unwrap().first().unwrap());
    assert!(
        ra.max(rb) < first_answer,
        "the second send waited for the first"
    );
}

#[test]
fn unreliable_backends_follow_their_percentage() {
    let origin = Origin::start(|_| Reply::text(200, "reached"));
    let never = request_json(
        "proxy",
        &["--backend", &format!("origin={}@0", origin.addr), "/"],
    );
    assert_eq!(never["status"], 502);
    assert!(
        body(&never).contains("simulated backend failure"),
        "{never}"
    );
    let always = request_json(
        "proxy",
        &["--backend", &format!("origin={}@100", origin.addr), "/"],
    );
    assert_eq!(body(&always), "reached");
    assert_eq!(origin.requests().len(), 1);
}

/// `cdn-loop` as a request carries it after `n` passes through edgeplay.
fn passes(n: usize) -> String {
    let mut v = vec!["other"];
    v.extend(std::iter::repeat_n("edgeplay", n));
    v.join(", ")
}

#[test]
fn a_request_that_looped_too_often_gets_508_without_running_the_guest() {
    let looped = format!("cdn-loop: {}", passes(5));
    let v = request_json("hello", &["-H", &looped, "/"]);
    assert_eq!(v["status"], 508);
    assert!(body(&v).contains("Loop detected"), "{v}");
    assert!(trace_calls(&v).is_empty(), "the guest must not run");
    // Fewer passes run the guest: a service may call itself.
    let once = format!("cdn-loop: {}", passes(4));
    let v = request_json("hello", &["-H", &once, "/"]);
    assert_eq!(v["status"], 200, "{v}");
    let server = Server::start(&guest("hello"), &[]);
    let r = server.request("GET", "/", &[("cdn-loop", &passes(5))], b"");
    assert_eq!(r.status, 508);
    let ok = server.request("GET", "/", &[("cdn-loop", "edgeplay")], b"");
    assert_eq!(ok.status, 200);
    let ok = server.request("GET", "/", &[("cdn-loop", "someone-else")], b"");
    assert_eq!(ok.status, 200);
}

#[test]
fn a_service_may_call_itself_until_the_loop_limit() {
    // The proxy's backend is the server itself: each pass adds a token, the sixth
    // entry is refused and the 508 travels back out through the five passes.
    let addr = format!("127.0.0.1:{}", free_port());
    let server = Server::start_on(
        &guest("proxy"),
        &addr,
        // -v: the Listening line (only shown for port 0 otherwise) and request lines.
        &["-v", "--backend", &format!("origin={addr}")],
    );
    let r = server.request("GET", "/", &[], b"");
    assert_eq!(r.status, 508, "{}", server.log());
    assert!(r.text().contains("Loop detected"));
    std::thread::sleep(Duration::from_millis(200));
    let log = server.log();
    assert_eq!(
        log.matches("handling request").count(),
        6,
        "five passes ran the guest, the sixth was refused:\n{log}"
    );
    assert_eq!(log.matches("request loop detected").count(), 1, "{log}");
}

#[test]
fn mock_backends_answer_without_a_network() {
    let toml = r#"
[local_server.backends.origin]
mock = { status = 203, headers = { "content-type" = "application/json" }, body = '{"mocked":true}' }
"#;
    let cfg = temp_file("fastly.toml", toml);
    let v = request_json("proxy", &["-C", cfg.to_str().unwrap(), "/anything"]);
    assert_eq!(v["status"], 203, "{v}");
    assert_eq!(body(&v), "{\"mocked\":true}");
    assert_eq!(header(&v, "content-type"), Some("application/json"));
    let echo = temp_file(
        "fastly.toml",
        "[local_server.backends.origin]\nmock = \"echo\"\n",
    );
    let v = request_json(
        "proxy",
        &[
            "-C",
            echo.to_str().unwrap(),
            "-X",
            "POST",
            "--data",
            "ping",
            "/e?q=1",
        ],
    );
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(body(&v), "ping");
    assert_eq!(header(&v, "x-echo-method"), Some("POST"));
}

#[test]
fn dynamic_backends_register_and_fetch() {
    let origin = Origin::start(|r| Reply::text(200, &format!("dyn {}", r.target)));
    let v = request_json(
        "dynamic",
        &[&format!("/?name=dyn1&target={}&path=/d", origin.addr)],
    );
    assert_eq!(
        body(&v),
        "backend=dyn1 dynamic=true status=200 body=dyn /d\n",
        "{v}"
    );
    let clash = request_json(
        "dynamic",
        &[&format!("/?name=dyn2&target={}&twice=1", origin.addr)],
    );
    assert_eq!(clash["status"], 409, "{clash}");
}

#[test]
fn js_guest_fetches_from_an_origin() {
    let origin = Origin::start(|r| {
        Reply::text(
            200,
            &format!("hi {} from={}", r.target, r.header("x-from").unwrap_or("?")),
        )
    });
    let v = request_json(
        "js-app",
        &[
            "--backend",
            &backend_flag("origin", &origin),
            "/fetch/greet?x=1",
        ],
    );
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(body(&v), "origin said: hi /greet?x=1 from=js");
    let server = Server::start(
        &guest("js-app"),
        &["--backend", &backend_flag("origin", &origin)],
    );
    let r = server.request("GET", "/fetch/again", &[], b"");
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "origin said: hi /again from=js")
    );
}

#[test]
fn a_misspelt_backend_key_is_an_error_with_its_line() {
    let cfg = temp_file(
        "fastly.toml",
        "[local_server.backends.origin]\nurl = \"http://127.0.0.1:9\"\nfirst_byte_timeout = 300\n",
    );
    let out = std::process::Command::new(edgeplay_bin())
        .args([
            "request",
            guest("proxy").to_str().unwrap(),
            "-C",
            cfg.to_str().unwrap(),
            "/",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("first_byte_timeout") && err.contains("line 3"),
        "{err}"
    );
}

/// What a [`ChunkedOrigin`] saw, with when it saw it.
#[derive(Clone, Debug, PartialEq)]
enum Seen {
    /// The request head.
    Head,
    /// One chunk of the body.
    Chunk(String),
    /// The last chunk: the body is complete.
    End,
    /// The connection closed before the body was complete.
    Cut,
}

/// A raw HTTP/1.1 origin for streaming uploads: records the request head and each
/// chunk of a chunked body as they arrive; answers `200` with the whole body once it is
/// complete, or, with `early`, right after the head (then goes on reading the body).
struct ChunkedOrigin {
    addr: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<(Seen, std::time::Instant)>>>,
}

impl ChunkedOrigin {
    fn start(early: bool) -> ChunkedOrigin {
        Self::start_notifying(early, None)
    }

    /// As [`ChunkedOrigin::start`], telling `chunks` of each body chunk it gets.
    fn start_notifying(early: bool, chunks: Option<std::sync::mpsc::Sender<()>>) -> ChunkedOrigin {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            let Ok((mut conn, _)) = listener.accept() else {
                return;
            };
            let record = |s: Seen| log.lock().unwrap().push((s, std::time::Instant::now()));
            let mut r = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            let mut chunked = false;
            loop {
                line.clear();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    return record(Seen::Cut);
                }
                let l = line.trim_end().to_ascii_lowercase();
                if l.is_empty() {
                    break;
                }
                chunked |= l.starts_with("transfer-encoding:") && l.contains("chunked");
            }
            record(Seen::Head);
            let reply = |conn: &mut std::net::TcpStream, body: &str| {
                let _ = conn.write_all(
                    format!(
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{body}",
                        body.len()
                    )
                    .as_bytes(),
                );
            };
            if early {
                reply(&mut conn, "early answer");
            }
            assert!(chunked, "a streaming upload is chunked");
            let mut body = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    return record(Seen::Cut);
                }
                let Ok(size) = usize::from_str_radix(line.trim_end(), 16) else {
                    return record(Seen::Cut);
                };
                let mut data = vec![0; size + 2];
                if r.read_exact(&mut data).is_err() {
                    return record(Seen::Cut);
                }
                if size == 0 {
                    record(Seen::End);
                    break;
                }
                let text = String::from_utf8_lossy(&data[..size]).to_string();
                body.push_str(&text);
                record(Seen::Chunk(text));
                if let Some(tx) = &chunks {
                    let _ = tx.send(());
                }
            }
            if !early {
                reply(&mut conn, &body);
            }
        });
        ChunkedOrigin { addr, seen }
    }

    fn seen(&self) -> Vec<(Seen, std::time::Instant)> {
        self.seen.lock().unwrap().clone()
    }

    /// What it saw, without the times.
    fn events(&self) -> Vec<Seen> {
        self.seen().into_iter().map(|(s, _)| s).collect()
    }
}

#[test]
fn a_streaming_upload_reaches_the_origin_as_the_guest_writes_it() {
    let origin = ChunkedOrigin::start(false);
    let marker = Origin::start(|_| Reply::text(200, "marker"));
    let v = request_json(
        "upload",
        &[
            "--backend",
            &format!("origin={}", origin.addr),
            "--backend",
            &backend_flag("marker", &marker),
            "http://example.com/",
        ],
    );
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(body(&v), "origin said: first-chunk;second-chunk");
    let seen = origin.seen();
    let events: Vec<Seen> = seen.iter().map(|(s, _)| s.clone()).collect();
    assert_eq!(
        events,
        vec![
            Seen::Head,
            Seen::Chunk("first-chunk;".into()),
            Seen::Chunk("second-chunk".into()),
            Seen::End
        ]
    );
    // The guest sends the marker request after its first chunk and before its second
    // one: the origin had the head and the first chunk before the marker came, the
    // second chunk after.
    let marker_at = marker.requests()[0].at;
    assert!(seen[0].1 < marker_at && seen[1].1 < marker_at, "{seen:?}");
    assert!(seen[2].1 > marker_at, "{seen:?}");
}

#[test]
fn a_streaming_upload_can_wait_for_an_early_answer_before_it_finishes() {
    let origin = ChunkedOrigin::start(true);
    let v = request_json(
        "upload",
        &[
            "--backend",
            &format!("origin={}", origin.addr),
            "http://example.com/?early=1",
        ],
    );
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(body(&v), "origin said: early answer");
    assert_eq!(
        origin.events()[..2],
        [Seen::Head, Seen::Chunk("first-chunk;".into())]
    );
}

#[test]
fn an_abandoned_streaming_upload_reaches_the_origin_incomplete() {
    let origin = ChunkedOrigin::start(false);
    let v = request_json(
        "upload",
        &[
            "--backend",
            &format!("origin={}", origin.addr),
            "http://example.com/?abandon=1",
        ],
    );
    assert_eq!(v["status"], 502, "{v}");
    // The origin sees the connection end without the last chunk.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !origin.events().contains(&Seen::Cut) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        origin.events(),
        vec![Seen::Head, Seen::Chunk("first-chunk;".into()), Seen::Cut]
    );
}

/// An origin that reads a request's head and then nothing: it never reads the body
/// and never answers (until the test ends).
fn deaf_origin() -> String {
    use std::io::{BufRead, BufReader};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        while let Ok((conn, _)) = listener.accept() {
            let mut r = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            while r.read_line(&mut line).unwrap_or(0) > 0 && line.trim_end() != "" {
                line.clear();
            }
            held.push(conn);
        }
    });
    addr
}

#[test]
fn a_streaming_upload_to_an_origin_that_does_not_read_holds_the_guests_writes() {
    // Backpressure: the writes wait while the origin takes nothing; when the request
    // fails (its first-byte timeout), the next write fails instead of filling memory.
    let addr = deaf_origin();
    let toml = temp_file(
        "fastly.toml",
        &format!(
            "[local_server.backends.origin]\nurl = \"http://{addr}\"\nfirst_byte_timeout_ms = 1500\n"
        ),
    );
    let v = request_json("upload_flood", &["-C", toml.to_str().unwrap(), "/"]);
    assert_eq!(v["status"], 200, "{v}");
    let text = body(&v);
    let written: u64 = text
        .strip_prefix("wrote ")
        .and_then(|t| t.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected body: {text}"));
    assert!(
        written < 64 << 20,
        "the guest wrote {written} bytes to an origin that reads nothing: {text}"
    );
    assert!(
        !text.contains("write error: none"),
        "a write failed: {text}"
    );
    assert!(
        text.contains("HttpResponseTimeout") || text.contains("timeout"),
        "{text}"
    );
}

/// An origin that sends a response head and the chunk `hello`, then (after `pause`)
/// the chunk ` world` and the end — or, with no `pause`, nothing more while the test
/// runs.
fn slow_body_origin(pause: Option<Duration>) -> String {
    slow_body_origin_until(pause.map(Gate::Pause))
}

/// When [`slow_body_origin_until`] sends the rest of its body.
enum Gate {
    /// After a pause.
    Pause(Duration),
    /// When told (or after 10 s).
    Told(std::sync::mpsc::Receiver<()>),
}

/// As [`slow_body_origin`], the rest of the body sent when `gate` says (`None`: never).
fn slow_body_origin_until(gate: Option<Gate>) -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        while let Ok((mut conn, _)) = listener.accept() {
            let mut r = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            while r.read_line(&mut line).unwrap_or(0) > 0 && line.trim_end() != "" {
                line.clear();
            }
            let _ = conn.write_all(
                b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-origin: slow\r\n\r\n5\r\nhello\r\n",
            );
            let _ = conn.flush();
            match &gate {
                Some(g) => {
                    match g {
                        Gate::Pause(p) => std::thread::sleep(*p),
                        Gate::Told(rx) => {
                            let _ = rx.recv_timeout(Duration::from_secs(10));
                        }
                    }
                    let _ = conn.write_all(b"6\r\n world\r\n0\r\n\r\n");
                }
                None => held.push(conn),
            }
        }
    });
    addr
}

fn slow_config(addr: &str) -> std::path::PathBuf {
    temp_file(
        "fastly.toml",
        &format!(
            "[local_server.backends.origin]\nurl = \"http://{addr}\"\nbetween_bytes_timeout_ms = 700\n"
        ),
    )
}

#[test]
fn a_backend_body_streams_so_send_returns_at_the_head() {
    // The body pauses 400 ms (within the between-bytes timeout): the guest gets the
    // response at once and the client gets the whole body.
    let addr = slow_body_origin(Some(Duration::from_millis(400)));
    let toml = slow_config(&addr);
    let v = request_json("proxy", &["-C", toml.to_str().unwrap(), "/"]);
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(body(&v), "hello world");
    assert_eq!(header(&v, "x-origin"), Some("slow"));
    // The SDK's `send` (through the HTTP cache API: the fetch, then the insert that
    // streams back) hands the guest its response when the head arrives, not when the
    // body has.
    let trace = v["trace"].as_array().unwrap();
    let fetch = trace
        .iter()
        .find(|e| e["module"] == "backend")
        .expect("a backend event");
    let answered = trace
        .iter()
        .find(|e| e["name"] == "get_found_response" && e["status"] == "ok")
        .expect("the guest got its response");
    let at = answered["start_us"].as_f64().unwrap() + answered["dur_us"].as_f64().unwrap()
        - fetch["start_us"].as_f64().unwrap();
    assert!(
        at < 300_000.0,
        "the guest got its response {at} µs after the fetch started: it waited for the body"
    );
}

#[test]
fn a_backend_body_that_stalls_cuts_the_response_instead_of_failing_the_send() {
    // Past the between-bytes timeout the body read fails: the guest already had its
    // 200, so the client sees a cut-off 200, not a 502 from a failed send.
    let addr = slow_body_origin(None);
    let toml = slow_config(&addr);
    let v = request_json("proxy", &["-C", toml.to_str().unwrap(), "/"]);
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(body(&v), "hello");
    let trace = serde_json::to_string(&v["trace"]).unwrap();
    assert!(trace.contains("between-bytes timeout"), "{trace}");
    assert!(trace.contains("stream-cut"), "{trace}");
}

#[test]
fn a_guest_reads_a_streaming_backend_body_as_it_arrives() {
    // `take_body_str` reads until the end: its reads wait for the second chunk.
    let slow = slow_body_origin(Some(Duration::from_millis(300)));
    let quick = Origin::start(|_| Reply::text(200, "quick"));
    let v = request_json(
        "fanout",
        &[
            "--backend",
            &format!("a={slow}"),
            "--backend",
            &backend_flag("b", &quick),
            "/",
        ],
    );
    assert_eq!(v["status"], 200, "{v}");
    assert!(body(&v).contains("a=hello world\n"), "{}", body(&v));
    assert!(body(&v).contains("b=quick\n"), "{}", body(&v));
}

#[test]
fn a_streaming_backend_body_relayed_to_another_backend_streams_there() {
    // The source holds the rest of its body until the sink has the first chunk: only a
    // relay that streams can finish (one that buffered would wait 10 s, then deliver
    // one chunk), however loaded the machine.
    let (tx, rx) = std::sync::mpsc::channel();
    let source = slow_body_origin_until(Some(Gate::Told(rx)));
    let sink = ChunkedOrigin::start_notifying(false, Some(tx));
    let v = request_json(
        "relay",
        &[
            "--backend",
            &format!("source={source}"),
            "--backend",
            &format!("sink={}", sink.addr),
            "/",
        ],
    );
    assert_eq!(v["status"], 200, "{v}");
    assert_eq!(body(&v), "sink said: hello world");
    assert_eq!(
        sink.events(),
        vec![
            Seen::Head,
            Seen::Chunk("hello".into()),
            Seen::Chunk(" world".into()),
            Seen::End
        ],
        "the sink got the body chunk by chunk, as it arrived"
    );
}

#[test]
fn through_the_sdks_http_cache_a_second_get_is_answered_from_the_cache() {
    // The HTTP cache API answers by default, as on the platform: the SDK's `send`
    // caches on the guest side through `fastly_http_cache`, so the origin is asked once.
    let origin = Origin::start(|_| {
        let mut reply = Reply::text(200, "cached body");
        reply
            .headers
            .push(("cache-control".into(), "max-age=60".into()));
        reply
    });
    let toml = temp_file(
        "fastly.toml",
        &format!(
            "[local_server.backends.origin]\nurl = \"http://{}\"\n",
            origin.addr
        ),
    );
    let server = Server::start(&guest("http_cache"), &["-C", toml.to_str().unwrap()]);
    let first = server.request("GET", "/page", &[], b"");
    assert_eq!(first.status, 200, "{}", server.log());
    assert_eq!(first.header("x-cache"), Some("MISS"));
    let second = server.request("GET", "/page", &[], b"");
    assert_eq!(second.text(), "cached body");
    assert_eq!(second.header("x-cache"), Some("HIT"));
    assert_eq!(second.header("x-cache-hits"), Some("1"));
    assert_eq!(origin.requests().len(), 1, "{}", server.log());
}
