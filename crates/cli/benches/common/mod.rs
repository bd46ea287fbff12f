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

/// The median of `v`.
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Read one HTTP/1.1 request head from `s` into `buf` (the benches send bodiless
/// GETs) and drop it; false at the end of the stream.
#[allow(dead_code)] // not every bench runs an origin
pub async fn read_head(s: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> bool {
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
