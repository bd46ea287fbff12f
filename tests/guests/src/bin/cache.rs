//! The core cache (`fastly::cache::core`) and the simple cache on it
//! (`fastly::cache::simple`), one route per operation. Query parameters: `key=`,
//! `value=` (or the request body), `ttl=` seconds (60), and per route below.
//!
//! - `GET /core/lookup`: a plain lookup. 404 `miss`; else 200 with the object as the
//!   body and `x-usable`, `x-stale`, `x-length`, `x-max-age`, `x-swr`, `x-age`,
//!   `x-hits`, `x-meta`. `header=name:value` selects a vary variant; `from=`/`to=`
//!   read a byte range.
//! - `GET /core/fill?n=N&size=S`: inserts `n` objects `fill-<i>` of `size` bytes.
//! - `POST /core/insert`: a plain insert of the value. `swr=`, `meta=`, `sk=a,b`,
//!   `vary=name`, `header=name:value`, `length=N`, `initial_age=S`,
//!   `sensitive=1`, `abandon=1` (write then abandon the body: nothing is stored).
//! - `GET /core/tx`: a transaction. `x-must-insert`, `x-must-insert-or-update`,
//!   `x-found`, `x-usable`, `x-stale`; then `then=` `insert` (default: insert the
//!   value if it must), `update` (update the found object's TTL and `meta=`),
//!   `cancel`, `forget` (end holding the obligation), `panic` (trap holding it);
//!   `sleep_ms=` first sleeps that long after the lookup; `async=1` uses
//!   `execute_async`, `pending()` (printed) and `wait()`; `timeout_ms=` bounds the
//!   collapsed wait (the SDK then selects on the busy handle). Body: `inserted <value>`, `found
//!   <object>`, `updated`, `cancelled`, …
//!
//!   Writing in steps (`/core/insert`, `/core/tx` and `/core/replace`): `chunks=a,b`
//!   writes each chunk (flushed, printed `wrote <chunk>`) with `chunk_ms=` (10) of
//!   sleep after each, so another execution can read the object while it is
//!   written; `end=abandon` abandons the body after them, `end=panic` traps,
//!   `end=forget` ends without closing it. Reading as written (`/core/lookup` and `/core/tx`): `follow=1` reads
//!   the body one `read` at a time, printing `read <bytes>` for each; the body is the
//!   reads joined by `|`, ending in `|ERROR` when a read fails.
//! - `GET /core/tx2`: two transactions of one execution on one key; `mode=` `stream`
//!   (the first inserts `part1`, the second looks up, the first writes `part2` and
//!   finishes, the second reads the object), `async` (the second is looked up with
//!   `execute_async`, the first inserts `from-tx1`, then the second waits), `blocked`
//!   (the second is looked up while the first has not inserted: it must insert
//!   `from-tx2` itself) or `blocked-async` (the same through `execute_async` and
//!   `wait`; `timeout_ms=` waits through `select`). Body: one `tx2 …` line.
//! - `GET /core/stream`: `execute_and_stream_back`: writes `part1`, reads it back,
//!   reads again (the reader has caught up with this execution's writer: an error),
//!   writes `part2`, finishes, reads the rest. Body: `part1|<error or not>|part2`.
//! - `GET /core/replace`: replace with `strategy=` `immediate` / `force_miss` /
//!   `wait`; body `existing <old or none>; replaced`.
//! - `GET /core/from-backend`: inserts the body of a `GET` to the backend `origin`
//!   (appended to the insert body as it arrives).
//! - `GET /errors`: raw `fastly_cache` calls with bad arguments; one `name=status`
//!   line each.
//! - `GET /simple`: `simple::get_or_set_with` of the value; `x-closure-ran` says
//!   whether the closure ran. `GET /simple/get`: `simple::get` (404 on a miss).
//!   `POST /simple/purge`: `simple::purge`.
use fastly::cache::core::{self, CacheKey, ReplaceStrategy, Transaction};
use fastly::cache::simple;
use fastly::http::HeaderName;
use fastly::{Error, Request, Response};
use std::io::{Read, Write};
use std::time::Duration;

#[fastly::main]
fn main(mut req: Request) -> Result<Response, Error> {
    let path = req.get_path().to_owned();
    let body = req.take_body_bytes();
    let q = |name: &str| req.get_query_parameter(name).map(str::to_owned);
    let key = CacheKey::from(q("key").unwrap_or_else(|| "k".into()));
    let value = q("value").map(String::into_bytes).unwrap_or(body);
    let ttl = Duration::from_secs(q("ttl").and_then(|t| t.parse().ok()).unwrap_or(60));
    Ok(match path.as_str() {
        "/core/lookup" => lookup(key, &q)?,
        "/core/fill" => {
            // `n=` objects `fill-<i>` of `size=` bytes (1024): a cache to measure.
            let n: usize = q("n").and_then(|v| v.parse().ok()).unwrap_or(100);
            let size: usize = q("size").and_then(|v| v.parse().ok()).unwrap_or(1024);
            let blob = vec![b'x'; size];
            for i in 0..n {
                let mut w = core::insert(CacheKey::from(format!("fill-{i}")), ttl).execute()?;
                w.write_all(&blob)?;
                w.finish()?;
            }
            Response::from_body(format!("filled {n}"))
        }
        "/core/insert" => insert(key, value, ttl, &q)?,
        "/core/tx" => transaction(key, value, ttl, &q)?,
        "/core/stream" => stream_back(key, ttl)?,
        "/core/tx2" => two_transactions(key, ttl, &q)?,
        "/core/replace" => replace(key, value, ttl, &q)?,
        "/core/from-backend" => {
            let beresp = Request::get("http://origin.test/data").send("origin")?;
            let mut w = core::insert(key, ttl).execute()?;
            w.append(beresp.into_body());
            w.finish()?;
            Response::from_body("stored from the backend")
        }
        "/errors" => Response::from_body(errors()),
        "/simple" => {
            let mut ran = false;
            let got = simple::get_or_set_with(key, || {
                ran = true;
                Ok(simple::CacheEntry {
                    value: value.into(),
                    ttl,
                })
            })?;
            let body = got.map(|b| b.into_bytes()).unwrap_or_default();
            Response::from_body(body).with_header("x-closure-ran", if ran { "1" } else { "0" })
        }
        "/simple/get" => match simple::get(key)? {
            Some(b) => Response::from_body(b.into_bytes()),
            None => Response::from_status(404).with_body("miss"),
        },
        "/simple/purge" => match simple::purge(key) {
            Ok(()) => Response::from_body("purged"),
            Err(e) => Response::from_status(500).with_body(format!("purge failed: {e}")),
        },
        _ => Response::from_status(404).with_body("see the routes in the guest's doc comment"),
    })
}

type Q<'a> = &'a dyn Fn(&str) -> Option<String>;

/// `header=name:value`, split.
fn header(q: Q) -> Option<(String, String)> {
    let h = q("header")?;
    let (n, v) = h.split_once(':')?;
    Some((n.to_string(), v.to_string()))
}

fn secs(q: Q, name: &str) -> Option<Duration> {
    q(name)
        .and_then(|v| v.parse().ok())
        .map(Duration::from_secs)
}

fn describe(found: &core::Found, resp: Response) -> Response {
    resp.with_header("x-usable", found.is_usable().to_string())
        .with_header("x-stale", found.is_stale().to_string())
        .with_header(
            "x-length",
            found
                .known_length()
                .map_or("unknown".into(), |l| l.to_string()),
        )
        .with_header("x-max-age", found.max_age().as_secs().to_string())
        .with_header(
            "x-swr",
            found.stale_while_revalidate().as_secs().to_string(),
        )
        .with_header("x-age", found.age().as_secs().to_string())
        .with_header("x-hits", found.hits().to_string())
        .with_header(
            "x-meta",
            String::from_utf8_lossy(&found.user_metadata()).into_owned(),
        )
}

fn lookup(key: CacheKey, q: Q) -> Result<Response, Error> {
    let mut l = core::lookup(key);
    if let Some((n, v)) = header(q) {
        l = l.header(n, v);
    }
    let Some(found) = l.execute()? else {
        return Ok(Response::from_status(404).with_body("miss"));
    };
    let from = q("from").and_then(|v| v.parse().ok());
    let to = q("to").and_then(|v| v.parse().ok());
    if q("follow").as_deref() == Some("1") {
        let body = follow(found.to_stream_from_range(from, to)?);
        return Ok(describe(&found, Response::from_body(body)));
    }
    let body = found.to_stream_from_range(from, to)?.into_bytes();
    Ok(describe(&found, Response::from_body(body)))
}

fn insert(key: CacheKey, value: Vec<u8>, ttl: Duration, q: Q) -> Result<Response, Error> {
    let mut b = core::insert(key, ttl);
    if let Some(swr) = secs(q, "swr") {
        b = b.stale_while_revalidate(swr);
    }
    if let Some(age) = secs(q, "initial_age") {
        b = b.initial_age(age);
    }
    if let Some(m) = q("meta") {
        b = b.user_metadata(m.into_bytes().into());
    }
    let sks = q("sk").unwrap_or_default();
    if !sks.is_empty() {
        b = b.surrogate_keys(sks.split(','));
    }
    if let Some((n, v)) = header(q) {
        b = b.header(n, v);
    }
    let vary: Vec<HeaderName> = q("vary")
        .into_iter()
        .filter_map(|v| HeaderName::try_from(v).ok())
        .collect();
    if !vary.is_empty() {
        b = b.vary_by(vary.iter());
    }
    if let Some(l) = q("length").and_then(|v| v.parse().ok()) {
        b = b.known_length(l);
    }
    if q("sensitive").as_deref() == Some("1") {
        b = b.sensitive_data(true);
    }
    let mut w = b.execute()?;
    if q("abandon").as_deref() == Some("1") {
        w.write_all(&value)?;
        w.abandon()?;
        return Ok(Response::from_body("abandoned"));
    }
    match write_out(w, &value, q)? {
        Ok(()) => Ok(Response::from_body("stored")),
        Err(e) => Ok(Response::from_status(500).with_body(e)),
    }
}

fn transaction(key: CacheKey, value: Vec<u8>, ttl: Duration, q: Q) -> Result<Response, Error> {
    let mut lookup = Transaction::lookup(key);
    if let Some(ms) = q("timeout_ms").and_then(|v| v.parse().ok()) {
        // Bounded: the SDK waits on the busy handle with `async_io.select`.
        lookup = lookup.timeout(Duration::from_millis(ms));
    }
    let tx = if q("async").as_deref() == Some("1") {
        let pending = lookup.execute_async()?;
        let was_pending = pending.pending()?;
        println!("pending before wait: {was_pending}");
        pending.wait()?
    } else {
        lookup.execute()?
    };
    let flags = |resp: Response, tx: &Transaction| {
        let found = tx.found();
        resp.with_header("x-must-insert", tx.must_insert().to_string())
            .with_header(
                "x-must-insert-or-update",
                tx.must_insert_or_update().to_string(),
            )
            .with_header("x-found", found.is_some().to_string())
            .with_header(
                "x-usable",
                found.as_ref().is_some_and(|f| f.is_usable()).to_string(),
            )
            .with_header(
                "x-stale",
                found.as_ref().is_some_and(|f| f.is_stale()).to_string(),
            )
    };
    if let Some(ms) = q("sleep_ms").and_then(|v| v.parse().ok()) {
        std::thread::sleep(Duration::from_millis(ms));
    }
    let then = q("then").unwrap_or_else(|| "insert".into());
    if !tx.must_insert_or_update() {
        let found = tx
            .found()
            .expect("a transaction without obligation found something");
        let body = if q("follow").as_deref() == Some("1") {
            follow(found.to_stream()?).into_bytes()
        } else {
            found.to_stream()?.into_bytes()
        };
        let mut text = b"found ".to_vec();
        text.extend_from_slice(&body);
        return Ok(flags(Response::from_body(text), &tx));
    }
    match then.as_str() {
        "cancel" => {
            tx.cancel_insert_or_update()?;
            Ok(flags(Response::from_body("cancelled"), &tx))
        }
        "forget" => {
            let resp = flags(Response::from_body("forgot the transaction"), &tx);
            std::mem::forget(tx);
            Ok(resp)
        }
        "panic" => panic!("trapping while holding the obligation"),
        "update" => {
            let resp = flags(Response::new(), &tx);
            let mut u = tx.update(ttl);
            if let Some(m) = q("meta") {
                u = u.user_metadata(m.into_bytes().into());
            }
            u.execute()?;
            Ok(resp.with_body("updated"))
        }
        _ => {
            let resp = flags(Response::new(), &tx);
            let w = tx.insert(ttl).execute()?;
            if let Err(e) = write_out(w, &value, q)? {
                return Ok(resp.with_status(500).with_body(e));
            }
            let mut text = b"inserted ".to_vec();
            text.extend_from_slice(&value);
            Ok(resp.with_body(text))
        }
    }
}

/// Write `value` (or `chunks=`, one at a time) to an insert's body, then finish it
/// (or `end=`): `Err` says what became of a body that was not finished.
fn write_out(
    mut w: fastly::http::body::StreamingBody,
    value: &[u8],
    q: Q,
) -> Result<Result<(), String>, Error> {
    match q("chunks") {
        Some(chunks) => {
            let ms = q("chunk_ms").and_then(|v| v.parse().ok()).unwrap_or(10);
            for c in chunks.split(',') {
                w.write_all(c.as_bytes())?;
                w.flush()?;
                println!("wrote {c}");
                std::thread::sleep(Duration::from_millis(ms));
            }
        }
        None => w.write_all(value)?,
    }
    match q("end").as_deref() {
        Some("abandon") => {
            w.abandon()?;
            Ok(Err("abandoned".into()))
        }
        Some("panic") => panic!("trapping in the middle of an insert"),
        Some("forget") => {
            std::mem::forget(w);
            Ok(Err("forgot the insert".into()))
        }
        _ => Ok(w.finish().map_err(|e| format!("finish failed: {e}"))),
    }
}

/// Read `body` one `read` at a time (each printed): the reads joined by `|`, and
/// `|ERROR` when one fails.
fn follow(mut body: fastly::Body) -> String {
    let mut reads = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                println!("read {text}");
                reads.push(text);
            }
            Err(_) => {
                println!("read failed");
                reads.push("ERROR".into());
                break;
            }
        }
    }
    reads.join("|")
}

/// Two transactions of one execution on one key (`mode=`; see the routes).
fn two_transactions(key: CacheKey, ttl: Duration, q: Q) -> Result<Response, Error> {
    let read = |tx: &Transaction| -> Result<String, Error> {
        Ok(match tx.found() {
            Some(f) => format!(
                "found {}",
                String::from_utf8_lossy(&f.to_stream()?.into_bytes())
            ),
            None => "found nothing".into(),
        })
    };
    let tx1 = Transaction::lookup(key.clone()).execute()?;
    if !tx1.must_insert() {
        return Ok(Response::from_status(409).with_body("already cached"));
    }
    let line = match q("mode").as_deref().unwrap_or("stream") {
        "stream" => {
            let mut w = tx1.insert(ttl).execute()?;
            w.write_all(b"part1")?;
            w.flush()?;
            let tx2 = Transaction::lookup(key).execute()?;
            w.write_all(b"part2")?;
            w.finish()?;
            format!("tx2 must_insert={}; {}", tx2.must_insert(), read(&tx2)?)
        }
        "async" => {
            let p2 = Transaction::lookup(key).execute_async()?;
            let pending = p2.pending()?;
            let mut w = tx1.insert(ttl).execute()?;
            w.write_all(b"from-tx1")?;
            w.finish()?;
            let tx2 = p2.wait()?;
            format!(
                "tx2 pending={pending} must_insert={}; {}",
                tx2.must_insert(),
                read(&tx2)?
            )
        }
        mode => {
            let tx2 = if mode == "blocked-async" {
                let mut l = Transaction::lookup(key.clone());
                if let Some(ms) = q("timeout_ms").and_then(|v| v.parse().ok()) {
                    l = l.timeout(Duration::from_millis(ms));
                }
                l.execute_async()?.wait()?
            } else {
                Transaction::lookup(key.clone()).execute()?
            };
            let must = tx2.must_insert();
            if must {
                let mut w = tx2.insert(ttl).execute()?;
                w.write_all(b"from-tx2")?;
                w.finish()?;
            }
            drop(tx1);
            let found = match core::lookup(key).execute()? {
                Some(f) => String::from_utf8_lossy(&f.to_stream()?.into_bytes()).into_owned(),
                None => "nothing".into(),
            };
            format!("tx2 must_insert={must}; stored {found}")
        }
    };
    Ok(Response::from_body(line))
}

fn stream_back(key: CacheKey, ttl: Duration) -> Result<Response, Error> {
    let tx = Transaction::lookup(key).execute()?;
    if !tx.must_insert() {
        return Ok(Response::from_status(409).with_body("already cached"));
    }
    let (mut w, found) = tx.insert(ttl).execute_and_stream_back()?;
    w.write_all(b"part1")?;
    w.flush()?;
    let mut r = found.to_stream()?;
    let mut buf = [0u8; 64];
    let n = r.read(&mut buf)?;
    let first = String::from_utf8_lossy(&buf[..n]).into_owned();
    let caught_up = match r.read(&mut buf) {
        Ok(n) => format!("read {n} more"),
        Err(_) => "caught up".to_string(),
    };
    w.write_all(b"part2")?;
    w.finish()?;
    let mut rest = Vec::new();
    r.read_to_end(&mut rest)?;
    Ok(Response::from_body(format!(
        "{first}|{caught_up}|{}",
        String::from_utf8_lossy(&rest)
    )))
}

fn replace(key: CacheKey, value: Vec<u8>, ttl: Duration, q: Q) -> Result<Response, Error> {
    let strategy = match q("strategy").as_deref() {
        Some("force_miss") => ReplaceStrategy::ImmediateForceMiss,
        Some("wait") => ReplaceStrategy::Wait,
        _ => ReplaceStrategy::Immediate,
    };
    let r = core::replace(key).replace_strategy(strategy).begin()?;
    let existing = match r.existing_object() {
        Some(f) => {
            let b = f.to_stream()?.into_bytes();
            format!(
                "{} (hits {}, meta {:?})",
                String::from_utf8_lossy(&b),
                f.hits(),
                String::from_utf8_lossy(&f.user_metadata())
            )
        }
        None => "none".into(),
    };
    let w = r.execute(ttl)?;
    if let Err(e) = write_out(w, &value, q)? {
        return Ok(Response::from_status(500).with_body(format!("existing {existing}; {e}")));
    }
    Ok(Response::from_body(format!(
        "existing {existing}; replaced"
    )))
}

/// Raw calls with bad arguments, as `name=status` lines.
fn errors() -> String {
    use fastly_shared::FastlyStatus;
    use fastly_sys::fastly_cache as c;
    use fastly_sys::fastly_http_body as body;
    let mut out = String::new();
    macro_rules! line {
        ($name:expr, $s:expr) => {{
            let s: FastlyStatus = $s;
            out.push_str(&format!("{}={}\n", $name, s.code));
        }};
    }
    let bad = 12345u32;
    let mut u64_out = 0u64;
    let mut handle = 0u32;
    let key = b"errors-key";
    let lookup_opts = c::CacheLookupOptions {
        request_headers: u32::MAX - 1,
        service: std::ptr::null(),
        service_len: 0,
    };
    let write_opts = c::CacheWriteOptions {
        max_age_ns: 1_000_000_000,
        request_headers: u32::MAX - 1,
        vary_rule_ptr: std::ptr::null(),
        vary_rule_len: 0,
        initial_age_ns: 0,
        stale_while_revalidate_ns: 0,
        surrogate_keys_ptr: std::ptr::null(),
        surrogate_keys_len: 0,
        length: 0,
        user_metadata_ptr: std::ptr::null(),
        user_metadata_len: 0,
        edge_max_age_ns: 0,
        service: std::ptr::null(),
        service_len: 0,
    };
    let empty = c::CacheLookupOptionsMask::empty();
    unsafe {
        line!(
            "get_state_bad",
            c::get_state(bad, &mut c::CacheLookupState::empty())
        );
        line!("get_length_bad", c::get_length(bad, &mut u64_out));
        line!("get_hits_bad", c::get_hits(bad, &mut u64_out));
        line!("get_age_bad", c::get_age_ns(bad, &mut u64_out));
        line!("get_max_age_bad", c::get_max_age_ns(bad, &mut u64_out));
        line!(
            "get_swr_bad",
            c::get_stale_while_revalidate_ns(bad, &mut u64_out)
        );
        line!("close_bad", c::close(bad));
        line!("close_busy_bad", c::close_busy(bad));
        line!("busy_wait_bad", c::cache_busy_handle_wait(bad, &mut handle));
        line!("cancel_bad", c::transaction_cancel(bad));
        line!(
            "replace_get_state_bad",
            c::replace_get_state(bad, &mut c::CacheLookupState::empty())
        );
        let mask = c::CacheLookupOptionsMask::from_bits_unchecked(1 << 9);
        line!(
            "lookup_unknown_bits",
            c::lookup(key.as_ptr(), key.len(), mask, &lookup_opts, &mut handle)
        );
        let long = vec![b'x'; 4097];
        line!(
            "lookup_long_key",
            c::lookup(long.as_ptr(), long.len(), empty, &lookup_opts, &mut handle)
        );
        let mask = c::CacheLookupOptionsMask::REQUEST_HEADERS;
        line!(
            "lookup_bad_request_headers",
            c::lookup(key.as_ptr(), key.len(), mask, &lookup_opts, &mut handle)
        );
        let other = "another-service";
        let on_behalf = c::CacheLookupOptions {
            service: other.as_ptr(),
            service_len: other.len() as u32,
            ..lookup_opts
        };
        line!(
            "lookup_other_service",
            c::lookup(
                key.as_ptr(),
                key.len(),
                c::CacheLookupOptionsMask::SERVICE,
                &on_behalf,
                &mut handle
            )
        );
        let wmask = c::CacheWriteOptionsMask::from_bits_unchecked(1 << 12);
        let mut bh = 0u32;
        line!(
            "insert_unknown_bits",
            c::insert(key.as_ptr(), key.len(), wmask, &write_opts, &mut bh)
        );
        let vary = "a b c d e f g h i";
        let many_vary = c::CacheWriteOptions {
            vary_rule_ptr: vary.as_ptr(),
            vary_rule_len: vary.len(),
            ..write_opts
        };
        line!(
            "insert_nine_vary",
            c::insert(
                key.as_ptr(),
                key.len(),
                c::CacheWriteOptionsMask::VARY_RULE,
                &many_vary,
                &mut bh
            )
        );

        // A miss: the getters answer NONE, the body too.
        let mut h = 0u32;
        line!(
            "lookup_miss",
            c::lookup(key.as_ptr(), key.len(), empty, &lookup_opts, &mut h)
        );
        let mut state = c::CacheLookupState::empty();
        let _ = c::get_state(h, &mut state);
        out.push_str(&format!("miss_state={}\n", state.bits()));
        line!("miss_get_length", c::get_length(h, &mut u64_out));
        line!("miss_get_hits", c::get_hits(h, &mut u64_out));
        let mut meta = [0u8; 4];
        let mut nw = 0usize;
        line!(
            "miss_get_user_metadata",
            c::get_user_metadata(h, meta.as_mut_ptr(), meta.len(), &mut nw)
        );
        let range = c::CacheGetBodyOptions { from: 0, to: 0 };
        line!(
            "miss_get_body",
            c::get_body(h, c::CacheGetBodyOptionsMask::empty(), &range, &mut bh)
        );
        line!(
            "plain_transaction_insert",
            c::transaction_insert(h, c::CacheWriteOptionsMask::empty(), &write_opts, &mut bh)
        );
        line!(
            "plain_transaction_update",
            c::transaction_update(h, c::CacheWriteOptionsMask::empty(), &write_opts)
        );
        line!(
            "replace_get_state_on_cache_handle",
            c::replace_get_state(h, &mut state)
        );
        line!("close_miss", c::close(h));
        line!("close_again", c::close(h));

        // A found object with 8 bytes of metadata: a 4-byte buffer is BUFLEN with the
        // length needed; a range with to < from is INVAL.
        let meta_text = b"metadata";
        let with_meta = c::CacheWriteOptions {
            user_metadata_ptr: meta_text.as_ptr(),
            user_metadata_len: meta_text.len(),
            ..write_opts
        };
        let mut w = 0u32;
        let _ = c::insert(
            key.as_ptr(),
            key.len(),
            c::CacheWriteOptionsMask::USER_METADATA,
            &with_meta,
            &mut w,
        );
        let mut nwritten = 0usize;
        let _ = body::write(
            w,
            b"0123456789".as_ptr(),
            10,
            fastly_shared::BodyWriteEnd::Back,
            &mut nwritten,
        );
        line!("insert_body_close", body::close(w));
        line!(
            "lookup_found",
            c::lookup(key.as_ptr(), key.len(), empty, &lookup_opts, &mut h)
        );
        let _ = c::get_state(h, &mut state);
        out.push_str(&format!("found_state={}\n", state.bits()));
        nw = 0;
        line!(
            "small_user_metadata",
            c::get_user_metadata(h, meta.as_mut_ptr(), meta.len(), &mut nw)
        );
        out.push_str(&format!("needed={nw}\n"));
        let backwards = c::CacheGetBodyOptions { from: 5, to: 2 };
        let both = c::CacheGetBodyOptionsMask::FROM | c::CacheGetBodyOptionsMask::TO;
        line!(
            "get_body_backwards",
            c::get_body(h, both, &backwards, &mut bh)
        );
        let range = c::CacheGetBodyOptions { from: 2, to: 4 };
        line!("get_body_range", c::get_body(h, both, &range, &mut bh));
        line!(
            "get_body_while_unread",
            c::get_body(h, c::CacheGetBodyOptionsMask::empty(), &range, &mut bh)
        );
        let mut buf = [0u8; 16];
        let mut nread = 0usize;
        let _ = body::read(bh, buf.as_mut_ptr(), buf.len(), &mut nread);
        out.push_str(&format!(
            "range_body={}\n",
            String::from_utf8_lossy(&buf[..nread])
        ));
        let mut r = 0u32;
        let ropts = c::CacheReplaceOptions {
            request_headers: u32::MAX - 1,
            replace_strategy: 9,
            service: std::ptr::null(),
            service_len: 0,
        };
        let rmask = c::CacheReplaceOptionsMask::REPLACE_STRATEGY;
        line!(
            "replace_bad_strategy",
            c::replace(key.as_ptr(), key.len(), rmask, &ropts, &mut r)
        );
        let ropts = c::CacheReplaceOptions {
            replace_strategy: 1,
            ..ropts
        };
        let _ = c::replace(key.as_ptr(), key.len(), rmask, &ropts, &mut r);
        line!("get_state_on_replace_handle", c::get_state(r, &mut state));
        line!("close_replace_handle", c::close(r));
        let _ = c::close(h);
    }
    out
}
