//! Edge rate limiting, keyed by `?entry=` (default: the client IP).
//!
//! - `/` : `check_rate` on counter `rc` / box `pb`, delta 1, over 10 s, limit
//!   `?limit=` per second (default 1), TTL 60 s. Blocked: 429; else 200 with the
//!   count over the last 10 s.
//! - `/peek`: JSON with the entry's rates (1/10/60 s), counts (10/60 s) and whether
//!   it is in the box, without counting.
//! - `/add`: `ratecounter_increment` by `?delta=` (default 1).
//! - `/box`: put the entry in the box for `?ttl=` seconds (default 60).
use fastly::erl::{CounterDuration, Penaltybox, RateCounter, RateWindow, ERL};
use fastly::{Error, Request, Response};
use serde_json::json;
use std::time::Duration;

fn number(req: &Request, name: &str, default: u32) -> u32 {
    req.get_query_parameter(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[fastly::main]
fn main(req: Request) -> Result<Response, Error> {
    let entry = match req.get_query_parameter("entry") {
        Some(e) => e.to_string(),
        None => req
            .get_client_ip_addr()
            .map(|ip| ip.to_string())
            .unwrap_or_default(),
    };
    let rc = RateCounter::open("rc");
    let pb = Penaltybox::open("pb");
    Ok(match req.get_path() {
        "/" => {
            let limit = number(&req, "limit", 1);
            let erl = ERL::open(RateCounter::open("rc"), Penaltybox::open("pb"));
            match erl.check_rate(
                &entry,
                1,
                RateWindow::TenSecs,
                limit,
                Duration::from_secs(60),
            ) {
                Ok(true) => {
                    Response::from_status(429).with_body(format!("{entry} is rate limited\n"))
                }
                Ok(false) => {
                    let count = rc.lookup_count(&entry, CounterDuration::TenSec)?;
                    Response::from_status(200).with_body(format!("{entry}: {count} in 10 s\n"))
                }
                Err(e) => Response::from_status(500).with_body(format!("check_rate failed: {e}\n")),
            }
        }
        "/peek" => {
            let doc = json!({
                "entry": entry,
                "rate_1s": rc.lookup_rate(&entry, RateWindow::OneSec)?,
                "rate_10s": rc.lookup_rate(&entry, RateWindow::TenSecs)?,
                "rate_60s": rc.lookup_rate(&entry, RateWindow::SixtySecs)?,
                "count_10s": rc.lookup_count(&entry, CounterDuration::TenSec)?,
                "count_60s": rc.lookup_count(&entry, CounterDuration::SixtySecs)?,
                "in_box": pb.has(&entry)?,
            });
            Response::from_status(200)
                .with_header("content-type", "application/json")
                .with_body(doc.to_string())
        }
        "/add" => {
            rc.increment(&entry, number(&req, "delta", 1))?;
            Response::from_status(200).with_body("added\n")
        }
        "/box" => {
            let ttl = number(&req, "ttl", 60);
            pb.add(&entry, Duration::from_secs(u64::from(ttl)))?;
            Response::from_status(200).with_body(format!("{entry} boxed\n"))
        }
        _ => Response::from_status(404).with_body("try /, /peek, /add or /box\n"),
    })
}
