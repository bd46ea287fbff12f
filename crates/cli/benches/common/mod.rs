//! What the benchmarks share: where the built guests are, and the median.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where `scripts/build-guests.sh` puts the guests: `$EDGEPLAY_GUESTS`, else
/// `<cargo target dir>/guests/wasm`.
pub fn guests_dir() -> PathBuf {
    std::env::var("EDGEPLAY_GUESTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            let target = std::env::var("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
            target.join("guests/wasm")
        })
}

/// `GET path` on `addr` (a new connection, `connection: close`): the status, 0 when
/// the answer has none.
#[allow(dead_code)] // the runner and calibration benches use it
pub fn http_get(addr: &str, path: &str) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).unwrap();
    String::from_utf8_lossy(&buf)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Where `bin` is on PATH, if it is.
#[allow(dead_code)] // the runner and calibration benches use it
pub fn which(bin: &str) -> Option<String> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(bin))
            .find(|p| p.is_file())
            .map(|p| p.to_string_lossy().into_owned())
    })
}

/// A server process (`<bin> serve <wasm> --addr <addr>`), killed when dropped.
#[allow(dead_code)] // the calibration and side-by-side benches use it
pub struct Server(pub std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Spawn `<bin> serve <wasm> --addr <addr>`, its stdout drained, its stderr dropped.
#[allow(dead_code)] // the calibration and side-by-side benches use it
pub fn spawn_serve(bin: &str, wasm: &Path, addr: &str) -> Server {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let mut child = Command::new(bin)
        .arg("serve")
        .arg(wasm)
        .args(["--addr", addr])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{bin} starts: {e}"));
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || for _ in std::io::BufReader::new(out).lines() {});
    Server(child)
}

/// The median of `v`.
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Read one HTTP/1.1 request head from `s` into `buf` (the benches send bodiless
/// GETs) and drop it; false at the end of the stream.
async fn read_head(s: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> bool {
    use tokio::io::AsyncReadExt;
    let mut tmp = [0u8; 4096];
    loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..p + 4);
            return true;
        }
        match s.read(&mut tmp).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buf.extend_from_slice(&tmp[..n]),
        }
    }
}

/// A keep-alive origin on 127.0.0.1 that answers every request with `response` (a
/// whole HTTP/1.1 message) after `delay`.
#[allow(dead_code)] // not every bench runs an origin
pub async fn keepalive_origin(delay: Duration, response: &'static [u8]) -> std::net::SocketAddr {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                while read_head(&mut s, &mut buf).await {
                    if !delay.is_zero() {
                        tokio::time::sleep(delay).await;
                    }
                    if s.write_all(response).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}
