//! The native backend client (`edgeplay_cli::fetch::fetch`) against local origin
//! servers bound to 127.0.0.1: what goes on the wire, what comes back, and how each
//! failure is reported. No guest is involved.

use edgeplay_cli::fetch::fetch;
use edgeplay_host::{FetchError, FetchErrorKind, FetchRequest, FetchResponse, WorkResult};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A safety net so a broken fetch fails the test instead of hanging it; it is not a
/// timing assertion.
const HANG: Duration = Duration::from_secs(60);

/// Start an origin on 127.0.0.1 that runs `handler` for every accepted connection.
async fn origin<F, Fut>(handler: F) -> SocketAddr
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(handler(stream));
        }
    });
    addr
}

/// A request as the origin received it: the head's lines, as on the wire, and the body.
#[derive(Clone, Debug)]
struct Received {
    lines: Vec<String>,
    body: Vec<u8>,
}

impl Received {
    fn header_lines(&self) -> Vec<String> {
        self.lines[1..].to_vec()
    }
}

/// Read one request (head up to the blank line, then a `content-length` body).
async fn read_request(s: &mut TcpStream) -> Option<Received> {
    let mut buf = Vec::new();
    let mut tmp = vec![0u8; 64 * 1024];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = s.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let lines: Vec<String> = head.split("\r\n").map(String::from).collect();
    let len = lines[1..]
        .iter()
        .find_map(|l| {
            let (n, v) = l.split_once(':')?;
            n.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())
                .flatten()
        })
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = s.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&tmp[..n]);
    }
    Some(Received { lines, body })
}

fn request(backend: &str, url: String) -> FetchRequest {
    FetchRequest::get(backend, &url)
}

async fn run(req: FetchRequest) -> WorkResult {
    tokio::time::timeout(HANG, fetch(req))
        .await
        .expect("the fetch ended")
}

async fn ok(req: FetchRequest) -> FetchResponse {
    match run(req).await {
        WorkResult::Fetched(r) => *r,
        other => panic!("expected a response, got {other:?}"),
    }
}

async fn failed(req: FetchRequest) -> FetchError {
    match run(req).await {
        WorkResult::FetchFailed(e) => e,
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// A free port on 127.0.0.1 that refuses connections.
async fn refused_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    port
}

fn pattern(n: usize, seed: u8) -> Vec<u8> {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[tokio::test]
async fn status_headers_and_a_mebibyte_body_make_the_round_trip() {
    const MIB: usize = 1 << 20;
    let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
    let seen2 = seen.clone();
    let addr = origin(move |mut s| {
        let seen = seen2.clone();
        async move {
            let Some(r) = read_request(&mut s).await else {
                return;
            };
            seen.lock().unwrap().push(r);
            let body = pattern(MIB, 7);
            let head = format!(
                "HTTP/1.1 201 Created\r\nx-a: 1\r\nX-Mixed-Case: yes\r\nx-a: 2\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            s.write_all(head.as_bytes()).await.unwrap();
            s.write_all(&body).await.unwrap();
        }
    })
    .await;

    let mut req = request("origin", format!("http://{addr}/path/x?q=1&r"));
    req.method = "POST".into();
    req.headers.append("host", "origin.example");
    req.headers.append("x-custom", "v1");
    req.headers.append("x-custom", "v2");
    req.headers.append("content-length", MIB.to_string());
    req.body = pattern(MIB, 3);
    let resp = ok(req).await;

    let got = seen
        .lock()
        .unwrap()
        .pop()
        .expect("the origin got the request");
    assert_eq!(got.lines[0], "POST /path/x?q=1&r HTTP/1.1");
    let mut lines = got.header_lines();
    lines.sort();
    assert_eq!(
        lines,
        [
            "content-length: 1048576",
            "host: origin.example",
            "x-custom: v1",
            "x-custom: v2",
        ],
        "exactly the headers given, and nothing else, go on the wire"
    );
    assert!(
        got.body == pattern(MIB, 3),
        "the request body arrived intact"
    );

    assert_eq!(resp.status, 201);
    assert_eq!(resp.headers.get_all("x-a"), [b"1".as_slice(), b"2"]);
    assert_eq!(resp.headers.get("x-mixed-case"), Some(b"yes".as_slice()));
    assert_eq!(
        resp.headers.get("content-length"),
        Some(b"1048576".as_slice())
    );
    assert!(
        resp.body == pattern(MIB, 7),
        "the response body arrived intact"
    );
    assert_eq!(resp.remote_addr, Some(addr));
    assert!(resp.first_byte_us <= resp.end_us);
}

#[tokio::test]
async fn a_request_without_a_host_header_gets_the_urls_authority() {
    let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
    let seen2 = seen.clone();
    let addr = origin(move |mut s| {
        let seen = seen2.clone();
        async move {
            if let Some(r) = read_request(&mut s).await {
                seen.lock().unwrap().push(r);
                let _ = s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n").await;
            }
        }
    })
    .await;
    let resp = ok(request("origin", format!("http://{addr}/"))).await;
    assert_eq!(resp.status, 204);
    assert!(resp.body.is_empty());
    let got = seen.lock().unwrap().pop().unwrap();
    assert_eq!(got.lines[0], "GET / HTTP/1.1");
    assert_eq!(got.header_lines(), [format!("host: {addr}")]);
}

#[tokio::test]
async fn a_refused_port_is_connection_refused() {
    let port = refused_port().await;
    let url = format!("http://127.0.0.1:{port}/x");
    let e = failed(request("gone", url.clone())).await;
    assert_eq!(e.kind, FetchErrorKind::ConnectionRefused, "{}", e.message);
    assert!(e.message.contains("backend `gone`"), "{}", e.message);
    assert!(e.message.contains(&url), "{}", e.message);
}

#[tokio::test]
async fn an_origin_that_never_answers_hits_the_first_byte_timeout() {
    let addr = origin(|mut s| async move {
        let _ = read_request(&mut s).await;
        tokio::time::sleep(Duration::from_secs(3600)).await;
        drop(s);
    })
    .await;
    let mut req = request("slow", format!("http://{addr}/"));
    req.first_byte_timeout_ms = Some(200);
    let e = failed(req).await;
    assert_eq!(e.kind, FetchErrorKind::HttpResponseTimeout, "{}", e.message);
    assert!(e.message.contains("first-byte"), "{}", e.message);
}

#[tokio::test]
async fn a_body_that_stalls_hits_the_between_bytes_timeout() {
    let addr = origin(|mut s| async move {
        let _ = read_request(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
            .await;
        tokio::time::sleep(Duration::from_secs(3600)).await;
        drop(s);
    })
    .await;
    let mut req = request("stall", format!("http://{addr}/"));
    req.between_bytes_timeout_ms = Some(200);
    let e = failed(req).await;
    assert_eq!(e.kind, FetchErrorKind::HttpResponseTimeout, "{}", e.message);
    assert!(e.message.contains("between-bytes"), "{}", e.message);
}

#[tokio::test]
async fn a_body_cut_short_is_an_incomplete_response() {
    let addr = origin(|mut s| async move {
        let _ = read_request(&mut s).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n0123456789")
            .await;
        // Dropping the stream closes the connection mid-body.
    })
    .await;
    let e = failed(request("cut", format!("http://{addr}/"))).await;
    assert!(
        matches!(
            e.kind,
            FetchErrorKind::HttpIncompleteResponse | FetchErrorKind::ConnectionTerminated
        ),
        "{e:?}"
    );
    assert!(e.message.contains("backend `cut`"), "{}", e.message);
}

#[tokio::test]
async fn a_connection_closed_before_the_head_is_terminated() {
    let addr = origin(|mut s| async move {
        let _ = read_request(&mut s).await;
    })
    .await;
    let e = failed(request("closer", format!("http://{addr}/"))).await;
    assert_eq!(
        e.kind,
        FetchErrorKind::ConnectionTerminated,
        "{}",
        e.message
    );
}

#[tokio::test]
async fn a_response_that_is_not_http_is_a_protocol_error() {
    let addr = origin(|mut s| async move {
        let _ = read_request(&mut s).await;
        let _ = s.write_all(b"SSH-2.0-OpenSSH_9.6\r\n\r\n").await;
        tokio::time::sleep(Duration::from_secs(3600)).await;
    })
    .await;
    let e = failed(request("garbage", format!("http://{addr}/"))).await;
    assert_eq!(e.kind, FetchErrorKind::HttpProtocolError, "{}", e.message);
}

#[tokio::test]
async fn a_name_that_does_not_resolve_is_a_dns_error() {
    let e = failed(request("nowhere", "http://edgeplay-test.invalid/".into())).await;
    assert_eq!(e.kind, FetchErrorKind::DnsError, "{}", e.message);
}

#[tokio::test]
async fn https_urls_are_accepted_and_fail_cleanly_when_unreachable() {
    let port = refused_port().await;
    let e = failed(request("tls", format!("https://127.0.0.1:{port}/"))).await;
    assert_eq!(e.kind, FetchErrorKind::ConnectionRefused, "{}", e.message);
}

#[tokio::test]
async fn https_to_an_origin_that_does_not_speak_tls_is_a_tls_error() {
    let addr = origin(|mut s| async move {
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf).await;
        let _ = s
            .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            .await;
    })
    .await;
    let e = failed(request("tls", format!("https://{addr}/"))).await;
    // Not a certificate problem: the handshake itself broke down.
    assert_eq!(e.kind, FetchErrorKind::TlsProtocolError, "{}", e.message);
    assert!(e.message.contains("TLS"), "{}", e.message);
}

#[tokio::test]
async fn malformed_requests_fail_with_a_message_instead_of_panicking() {
    let port = refused_port().await;
    let base = format!("http://127.0.0.1:{port}/");
    let mut cases = vec![
        request("bad", "not a url".into()),
        request("bad", "/relative/only".into()),
        request("bad", "ftp://127.0.0.1/".into()),
        request("bad", "http:///no-host".into()),
        request("bad", String::new()),
    ];
    let mut r = request("bad", base.clone());
    r.method = "GE T".into();
    cases.push(r);
    let mut r = request("bad", base.clone());
    r.method = String::new();
    cases.push(r);
    let mut r = request("bad", base.clone());
    r.headers.append("x-evil", "a\r\nx-injected: 1");
    cases.push(r);
    let mut r = request("bad", base.clone());
    r.headers.append("bad name", "v");
    cases.push(r);
    let mut r = request("bad", base);
    r.headers.append("", "v");
    cases.push(r);
    for case in cases {
        let what = format!("{case:?}");
        let e = failed(case).await;
        assert!(e.message.contains("backend `bad`"), "{what}: {}", e.message);
        assert_ne!(
            e.kind,
            FetchErrorKind::ConnectionRefused,
            "{what}: {}",
            e.message
        );
    }
}

#[tokio::test]
async fn two_fetches_to_slow_origins_overlap() {
    /// When each origin got its request and when it answered.
    #[derive(Default)]
    struct Log {
        arrived: Vec<Instant>,
        answered: Vec<Instant>,
    }
    let log: Arc<Mutex<Log>> = Arc::default();
    let slow = |log: Arc<Mutex<Log>>| {
        origin(move |mut s| {
            let log = log.clone();
            async move {
                if read_request(&mut s).await.is_none() {
                    return;
                }
                log.lock().unwrap().arrived.push(Instant::now());
                tokio::time::sleep(Duration::from_millis(300)).await;
                log.lock().unwrap().answered.push(Instant::now());
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await;
            }
        })
    };
    let a = slow(log.clone()).await;
    let b = slow(log.clone()).await;
    // As the driver runs work: each fetch its own task.
    let ta = tokio::spawn(fetch(request("a", format!("http://{a}/"))));
    let tb = tokio::spawn(fetch(request("b", format!("http://{b}/"))));
    let (ra, rb) = tokio::time::timeout(HANG, async { (ta.await, tb.await) })
        .await
        .expect("the fetches ended");
    for r in [ra.unwrap(), rb.unwrap()] {
        match r {
            WorkResult::Fetched(resp) => assert_eq!(resp.body, b"ok"),
            other => panic!("{other:?}"),
        }
    }
    let log = log.lock().unwrap();
    assert_eq!(log.arrived.len(), 2);
    assert_eq!(log.answered.len(), 2);
    let last_arrival = log.arrived.iter().max().unwrap();
    let first_answer = log.answered.iter().min().unwrap();
    assert!(
        last_arrival < first_answer,
        "the second request reached its origin before the first response was sent"
    );
}

#[tokio::test]
async fn a_second_fetch_to_the_same_origin_reuses_the_connection() {
    let connections = Arc::new(Mutex::new(0u32));
    let c2 = connections.clone();
    let addr = origin(move |mut s| {
        *c2.lock().unwrap() += 1;
        async move {
            while read_request(&mut s).await.is_some() {
                if s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nx")
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }
    })
    .await;
    for _ in 0..3 {
        assert_eq!(
            ok(request("pool", format!("http://{addr}/"))).await.body,
            b"x"
        );
    }
    assert_eq!(*connections.lock().unwrap(), 1);
}

#[tokio::test]
async fn an_origin_that_does_not_accept_hits_the_connect_timeout() {
    // A listener that never accepts, its backlog filled: further connection attempts
    // get no answer at all, as with an unreachable host.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        let attempt = tokio::time::timeout(Duration::from_millis(100), TcpStream::connect(addr));
        match attempt.await {
            Ok(Ok(s)) => fillers.push(s),
            _ => break,
        }
    }
    let mut req = request("blackhole", format!("http://{addr}/"));
    req.connect_timeout_ms = Some(200);
    let e = failed(req).await;
    assert_eq!(e.kind, FetchErrorKind::ConnectionTimeout, "{}", e.message);
    drop((listener, fillers));
}
