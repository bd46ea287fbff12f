//! Grows its heap: keeps `?steps=` (default 8) buffers of 512 KiB, printing a line
//! (a hostcall) after each, so a profile's heap curve rises step by step.
use fastly::{Error, Request, Response};

/// One step's allocation.
const STEP: usize = 512 * 1024;

#[fastly::main]
fn main(req: Request) -> Result<Response, Error> {
    let steps: usize = req
        .get_query_parameter("steps")
        .and_then(|v| v.parse().ok())
        .unwrap_or(8)
        .min(64);
    let mut kept: Vec<Vec<u8>> = Vec::new();
    for step in 0..steps {
        kept.push(grow(step));
        println!("step {step}: {} KiB kept", kept.len() * STEP / 1024);
    }
    let sum: u64 = kept.iter().map(|b| u64::from(b[b.len() - 1])).sum();
    Ok(Response::from_status(200)
        .with_header("content-type", "text/plain")
        .with_body(format!("kept {} KiB in {steps} steps (check {sum})\n", kept.len() * STEP / 1024)))
}

/// A buffer of `STEP` bytes, every byte written (so the pages are really used).
#[inline(never)]
fn grow(step: usize) -> Vec<u8> {
    let mut b = vec![0u8; STEP];
    for (i, x) in b.iter_mut().enumerate() {
        *x = (i + step) as u8;
    }
    std::hint::black_box(b)
}
