//! A KV store that lasts: counts the visits of each path in the KV store `playground`
//! and remembers values it is given. The playground's KV example and the e2e tests'
//! guest for state that outlives runs, reloads and tabs.
//!
//! - `GET /<path>`: one more visit of `<path>` (key `visits:<path>`); answers the count.
//! - `GET /?key=K&value=V`: writes `V` under `K`; `&ttl=S` with a TTL of `S` seconds.
//! - `GET /?key=K`: answers what `K` holds (404 when nothing).
//! - `&spin=1` (with a write): after writing, computes for ever (Stop ends it).
//! - `GET /?bench=insert&n=N` (or `bench=lookup`): N inserts (lookups) of the keys
//!   `bench-0` … (the benchmark's KV latency in the tab).
use fastly::kv_store::{KVStore, KVStoreError};
use fastly::{Error, Request, Response};
use std::time::Duration;

const STORE: &str = "playground";

#[fastly::main]
fn main(req: Request) -> Result<Response, Error> {
    let Some(store) = KVStore::open(STORE)? else {
        return Ok(Response::from_status(500).with_body(format!(
            "no KV store named {STORE}: add [local_server.kv_stores] {STORE} = [] to fastly.toml\n"
        )));
    };
    let query: Vec<(String, String)> = req.get_query().unwrap_or_default();
    let arg = |name: &str| query.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    if let Some(what) = arg("bench") {
        let n: u32 = arg("n").and_then(|n| n.parse().ok()).unwrap_or(1000);
        for i in 0..n {
            let key = format!("bench-{i}");
            match what.as_str() {
                "insert" => store.insert(&key, "x")?,
                _ => {
                    let _ = store.lookup(&key);
                }
            }
        }
        return Ok(Response::from_status(200).with_body(format!("{n} {what}s\n")));
    }
    let resp = match (arg("key"), arg("value")) {
        (Some(key), Some(value)) => {
            let mut insert = store.build_insert();
            if let Some(ttl) = arg("ttl").and_then(|t| t.parse::<u64>().ok()) {
                insert = insert.time_to_live(Duration::from_secs(ttl));
            }
            insert.execute(&key, value.clone())?;
            if arg("spin").is_some() {
                spin();
            }
            Response::from_status(200).with_body(format!("wrote {key} = {value}\n"))
        }
        (Some(key), None) => match store.lookup(&key) {
            Ok(mut found) => Response::from_status(200).with_body(found.take_body_bytes()),
            Err(KVStoreError::ItemNotFound) => {
                Response::from_status(404).with_body(format!("{key}: not found\n"))
            }
            Err(e) => return Err(e.into()),
        },
        _ => {
            let key = format!("visits:{}", req.get_path());
            let count = match store.lookup(&key) {
                Ok(mut found) => String::from_utf8_lossy(&found.take_body_bytes())
                    .trim()
                    .parse::<u64>()
                    .unwrap_or(0),
                Err(KVStoreError::ItemNotFound) => 0,
                Err(e) => return Err(e.into()),
            } + 1;
            store.insert(&key, count.to_string())?;
            Response::from_status(200).with_body(format!("{key}: {count}\n"))
        }
    };
    Ok(resp.with_header("content-type", "text/plain; charset=utf-8"))
}

/// Compute until stopped (black-boxed so it is not optimised away).
fn spin() -> ! {
    let mut x: u64 = 1;
    loop {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}
