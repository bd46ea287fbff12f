//! CPU-bound work: SHA-256 over a 1 MiB buffer `?n=` times (default 20), with `elapsed_vcpu_ms()`.
use fastly::compute_runtime::elapsed_vcpu_ms;
use fastly::{Error, Request, Response};
use sha2::{Digest, Sha256};

#[fastly::main]
fn main(req: Request) -> Result<Response, Error> {
    let n: u32 = req
        .get_query_parameter("n")
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let mut buf: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let mut digest = [0u8; 32];
    for _ in 0..n {
        digest = Sha256::digest(&buf).into();
        // Feed each round's digest back in so no round can be skipped.
        buf[..32].copy_from_slice(&digest);
    }
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let vcpu = match elapsed_vcpu_ms() {
        Ok(ms) => ms.to_string(),
        Err(status) => format!("<{status:?}>"),
    };
    Ok(Response::from_status(200)
        .with_header("content-type", "text/plain")
        .with_body(format!("n={n}\nsha256={hex}\nvcpu_ms={vcpu}\n")))
}
