//! `fastly_cache`, the core cache API, as the Rust SDK's `cache` guest sees it:
//! lookups, inserts, transactions and their request collapsing between executions of
//! one service, update, cancel, replace, stream-back, every error status, the trace,
//! and the simple cache on top.

mod common;

use common::{config, run_driven, sdk_guest, summaries, Run};
use edgeplay_host::driver::blocking;
use edgeplay_host::platform::{FixedClock, SeededRandom};
use edgeplay_host::trace::{ArgValue, EventKind, TraceEvent};
use edgeplay_host::{
    Collected, DownstreamRequest, Driver, Engine, ExecOptions, Exit, Outcome, Platform, Service,
    Step, Work, WorkKind, WorkResult,
};
use std::sync::Arc;

const S: u64 = 1_000_000_000;

/// A platform whose clock the test moves.
fn clocked() -> (Engine, Arc<FixedClock>) {
    let clock = Arc::new(FixedClock::default());
    let platform = Platform {
        clock: clock.clone(),
        random: Arc::new(SeededRandom::new(7)),
        validator: None,
    };
    (Engine::new(platform), clock)
}

fn guest() -> Vec<u8> {
    sdk_guest("cache")
}

fn service() -> Service {
    Service::from(config(""))
}

/// Run one request of the cache guest against `service`.
fn run(engine: &Engine, service: &Service, method: &str, url: &str) -> Run {
    run_driven(
        engine,
        &guest(),
        service.clone(),
        DownstreamRequest::new(method, url),
        ExecOptions::default(),
        blocking::refuse,
        |_| 0,
    )
}

fn header(r: &Run, name: &str) -> String {
    r.response
        .headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_else(|| panic!("no {name} header\ntrace:\n{}", summaries(r)))
}

fn ok(r: &Run) {
    assert_eq!(
        r.response.status,
        200,
        "body: {}\ntrace:\n{}",
        r.body_text(),
        summaries(r)
    );
}

/// The `cache` work spans of a run.
fn spans(r: &Run) -> Vec<&TraceEvent> {
    r.trace
        .iter()
        .filter(|e| e.kind == EventKind::Work && e.module == "cache")
        .collect()
}

fn flags(names: &[&str]) -> ArgValue {
    ArgValue::Flags(names.iter().map(|n| n.to_string()).collect())
}

#[test]
fn a_plain_insert_is_found_by_later_requests_with_its_metadata_and_hits() {
    let engine = common::engine();
    let svc = service();
    let miss = run(&engine, &svc, "GET", "/core/lookup?key=k");
    assert_eq!(miss.response.status, 404, "{}", summaries(&miss));
    let lookup = miss.calls("fastly_cache::lookup")[0];
    assert_eq!(lookup.arg("key"), Some(&ArgValue::Str("k".into())));
    assert_eq!(lookup.result("state"), Some(&flags(&[])));
    assert_eq!(spans(&miss)[0].status.as_deref(), Some("miss"));

    let put = run(
        &engine,
        &svc,
        "POST",
        "/core/insert?key=k&value=hello&ttl=60&swr=30&meta=m1&sk=a,b",
    );
    ok(&put);
    assert_eq!(put.body_text(), "stored");
    let ins = put.calls("fastly_cache::insert")[0];
    assert_eq!(ins.arg("max_age"), Some(&ArgValue::Str("60s".into())));
    assert_eq!(
        ins.arg("stale_while_revalidate"),
        Some(&ArgValue::Str("30s".into()))
    );
    assert_eq!(
        ins.arg("surrogate_keys"),
        Some(&ArgValue::List(vec!["a".into(), "b".into()]))
    );
    let stored = spans(&put);
    assert_eq!(stored[0].name, "insert");
    assert_eq!(stored[0].status.as_deref(), Some("stored"));
    assert_eq!(stored[0].arg("size"), Some(&ArgValue::Int(5)));

    for hits in ["1", "2"] {
        let hit = run(&engine, &svc, "GET", "/core/lookup?key=k");
        ok(&hit);
        assert_eq!(hit.body_text(), "hello");
        assert_eq!(header(&hit, "x-usable"), "true");
        assert_eq!(header(&hit, "x-stale"), "false");
        assert_eq!(header(&hit, "x-length"), "5");
        assert_eq!(header(&hit, "x-max-age"), "60");
        assert_eq!(header(&hit, "x-swr"), "30");
        assert_eq!(header(&hit, "x-meta"), "m1");
        assert_eq!(header(&hit, "x-hits"), hits);
        let l = hit.calls("fastly_cache::lookup")[0];
        assert_eq!(
            l.result("state"),
            Some(&flags(&["found", "usable", "usable_if_error"]))
        );
        assert_eq!(spans(&hit)[0].status.as_deref(), Some("hit"));
    }
    // A range, inclusive at both ends.
    let range = run(&engine, &svc, "GET", "/core/lookup?key=k&from=1&to=3");
    assert_eq!(range.body_text(), "ell");
}

#[test]
fn a_vary_rule_keys_variants_by_the_lookup_headers() {
    let engine = common::engine();
    let svc = service();
    ok(&run(
        &engine,
        &svc,
        "POST",
        "/core/insert?key=v&value=gz&vary=accept-encoding&header=accept-encoding:gzip",
    ));
    let gz = run(
        &engine,
        &svc,
        "GET",
        "/core/lookup?key=v&header=accept-encoding:gzip",
    );
    assert_eq!(gz.body_text(), "gz");
    let br = run(
        &engine,
        &svc,
        "GET",
        "/core/lookup?key=v&header=accept-encoding:br",
    );
    assert_eq!(br.response.status, 404);
}

#[test]
fn an_abandoned_or_short_insert_stores_nothing() {
    let engine = common::engine();
    let svc = service();
    let a = run(
        &engine,
        &svc,
        "POST",
        "/core/insert?key=ab&value=x&abandon=1",
    );
    assert_eq!(a.body_text(), "abandoned");
    assert_eq!(spans(&a)[0].status.as_deref(), Some("abandoned"));
    assert_eq!(
        run(&engine, &svc, "GET", "/core/lookup?key=ab")
            .response
            .status,
        404
    );
    // An announced length the body does not have: close answers ERROR, which the SDK
    // reports as a bug (a trap), and nothing is stored.
    let short = run(
        &engine,
        &svc,
        "POST",
        "/core/insert?key=ab&value=hello&length=3",
    );
    assert!(
        matches!(short.outcome.exit, Exit::Trap { .. }),
        "{:?}",
        short.outcome.exit
    );
    assert_eq!(
        short
            .statuses("fastly_http_body::close")
            .last()
            .map(String::as_str),
        Some("error")
    );
    assert_eq!(spans(&short)[0].status.as_deref(), Some("length_mismatch"));
    assert_eq!(
        run(&engine, &svc, "GET", "/core/lookup?key=ab")
            .response
            .status,
        404
    );
}

#[test]
fn a_transaction_inserts_on_a_miss_and_finds_afterwards() {
    let engine = common::engine();
    let svc = service();
    let first = run(&engine, &svc, "GET", "/core/tx?key=t&value=one");
    ok(&first);
    assert_eq!(first.body_text(), "inserted one");
    assert_eq!(header(&first, "x-must-insert"), "true");
    let tl = first.calls("fastly_cache::transaction_lookup")[0];
    assert_eq!(tl.result("state"), Some(&flags(&["must_insert_or_update"])));
    assert!(svc.collapser.is_empty(), "the insert released the claim");
    let names: Vec<_> = spans(&first).iter().map(|e| e.name.to_string()).collect();
    assert_eq!(names, ["transaction_lookup", "transaction_insert"]);

    let second = run(&engine, &svc, "GET", "/core/tx?key=t&value=two");
    assert_eq!(second.body_text(), "found one");
    assert_eq!(header(&second, "x-must-insert-or-update"), "false");
    // Async, the same.
    let third = run(&engine, &svc, "GET", "/core/tx?key=t&async=1");
    assert_eq!(third.body_text(), "found one");
    assert_eq!(third.stdout(), "pending before wait: false\n");
}

#[test]
fn cancel_releases_the_claim_and_stores_nothing() {
    let engine = common::engine();
    let svc = service();
    let c = run(&engine, &svc, "GET", "/core/tx?key=c&then=cancel");
    assert_eq!(c.body_text(), "cancelled");
    assert_eq!(
        c.status_of("fastly_cache::transaction_cancel").as_deref(),
        Some("ok")
    );
    assert!(svc.collapser.is_empty());
    assert_eq!(
        run(&engine, &svc, "GET", "/core/lookup?key=c")
            .response
            .status,
        404
    );
}

#[test]
fn update_freshens_a_stale_object_without_rewriting_it() {
    let (engine, clock) = clocked();
    let svc = service();
    ok(&run(
        &engine,
        &svc,
        "POST",
        "/core/insert?key=u&value=body&ttl=1&swr=10&meta=old",
    ));
    clock.advance(2 * S);
    let stale = run(&engine, &svc, "GET", "/core/lookup?key=u");
    assert_eq!(header(&stale, "x-stale"), "true");
    assert_eq!(header(&stale, "x-usable"), "true");
    assert_eq!(spans(&stale)[0].status.as_deref(), Some("stale"));
    let up = run(
        &engine,
        &svc,
        "GET",
        "/core/tx?key=u&then=update&ttl=60&meta=new",
    );
    assert_eq!(up.body_text(), "updated");
    assert_eq!(header(&up, "x-found"), "true");
    assert_eq!(header(&up, "x-must-insert"), "false");
    assert_eq!(header(&up, "x-must-insert-or-update"), "true");
    let outcomes: Vec<_> = spans(&up)
        .iter()
        .map(|e| e.status.as_deref().unwrap_or(""))
        .collect();
    assert_eq!(outcomes, ["stale", "updated"]);
    assert!(svc.collapser.is_empty(), "the update released the claim");
    let fresh = run(&engine, &svc, "GET", "/core/lookup?key=u");
    assert_eq!(fresh.body_text(), "body");
    assert_eq!(header(&fresh, "x-stale"), "false");
    assert_eq!(header(&fresh, "x-max-age"), "60");
    assert_eq!(header(&fresh, "x-swr"), "10", "kept: its bit was clear");
    assert_eq!(header(&fresh, "x-meta"), "new");
    // Past every window the object is gone.
    clock.advance(100 * S);
    assert_eq!(
        run(&engine, &svc, "GET", "/core/lookup?key=u")
            .response
            .status,
        404
    );
}

#[test]
fn stream_back_reads_the_object_while_it_is_written() {
    let engine = common::engine();
    let svc = service();
    let r = run(&engine, &svc, "GET", "/core/stream?key=s");
    ok(&r);
    assert_eq!(r.body_text(), "part1|caught up|part2");
    assert!(
        r.calls("fastly_http_body::read").iter().any(|e| e
            .note
            .as_deref()
            .is_some_and(|n| n.contains("still writing"))),
        "{}",
        summaries(&r)
    );
    let l = run(&engine, &svc, "GET", "/core/lookup?key=s");
    assert_eq!(l.body_text(), "part1part2");
}

#[test]
fn replace_shows_the_old_object_and_stores_the_new() {
    let engine = common::engine();
    let svc = service();
    let none = run(&engine, &svc, "GET", "/core/replace?key=r&value=first");
    assert_eq!(none.body_text(), "existing none; replaced");
    ok(&run(
        &engine,
        &svc,
        "POST",
        "/core/insert?key=r&value=old&meta=m",
    ));
    let r = run(&engine, &svc, "GET", "/core/replace?key=r&value=new");
    assert_eq!(r.body_text(), "existing old (hits 0, meta \"m\"); replaced");
    assert_eq!(
        r.calls("fastly_cache::replace")[0].arg("strategy"),
        Some(&ArgValue::Enum("immediate".into()))
    );
    assert_eq!(
        run(&engine, &svc, "GET", "/core/lookup?key=r").body_text(),
        "new"
    );
    let f = run(
        &engine,
        &svc,
        "GET",
        "/core/replace?key=r&value=newer&strategy=force_miss",
    );
    assert!(
        f.body_text().starts_with("existing new"),
        "{}",
        f.body_text()
    );
    assert!(f.calls("fastly_cache::replace_insert")[0]
        .note
        .as_deref()
        .is_some_and(|n| n.contains("removed now")));
    assert_eq!(
        run(&engine, &svc, "GET", "/core/lookup?key=r").body_text(),
        "newer"
    );
    let w = run(
        &engine,
        &svc,
        "GET",
        "/core/replace?key=r&value=last&strategy=wait",
    );
    assert!(
        w.body_text().starts_with("existing newer"),
        "{}",
        w.body_text()
    );
}

#[test]
fn bad_arguments_answer_the_abi_statuses() {
    let r = common::run_sdk("cache", common::get("/errors"));
    ok(&r);
    let body = r.body_text();
    let lines: Vec<&str> = body.lines().collect();
    let expected = [
        "get_state_bad=3",
        "get_length_bad=3",
        "get_hits_bad=3",
        "get_age_bad=3",
        "get_max_age_bad=3",
        "get_swr_bad=3",
        "close_bad=3",
        "close_busy_bad=3",
        "busy_wait_bad=3",
        "cancel_bad=3",
        "replace_get_state_bad=3",
        "lookup_unknown_bits=2",
        "lookup_long_key=4",
        "lookup_bad_request_headers=3",
        "lookup_other_service=5",
        "insert_unknown_bits=2",
        "insert_nine_vary=2",
        "lookup_miss=0",
        "miss_state=0",
        "miss_get_length=10",
        "miss_get_hits=10",
        "miss_get_user_metadata=10",
        "miss_get_body=10",
        "plain_transaction_insert=3",
        "plain_transaction_update=3",
        "replace_get_state_on_cache_handle=3",
        "close_miss=0",
        "close_again=3",
        "insert_body_close=0",
        "lookup_found=0",
        "found_state=19",
        "small_user_metadata=4",
        "needed=8",
        "get_body_backwards=2",
        "get_body_range=0",
        "get_body_while_unread=3",
        "range_body=234",
        "replace_bad_strategy=2",
        "get_state_on_replace_handle=3",
        "close_replace_handle=0",
    ];
    assert_eq!(lines, expected, "trace:\n{}", summaries(&r));
    let other = r
        .calls("fastly_cache::lookup")
        .into_iter()
        .find(|e| e.status.as_deref() == Some("unsupported"))
        .unwrap();
    assert!(other.note.as_deref().unwrap().contains("another service"));
    // A key that is not UTF-8 shows as bytes; this one is text.
    assert_eq!(
        r.calls("fastly_cache::lookup")[0].arg("key"),
        Some(&ArgValue::Str("errors-key".into()))
    );
}

#[test]
fn the_simple_cache_runs_its_closure_once() {
    let engine = common::engine();
    let svc = service();
    let first = run(&engine, &svc, "GET", "/simple?key=sc&value=computed");
    ok(&first);
    assert_eq!(first.body_text(), "computed");
    assert_eq!(header(&first, "x-closure-ran"), "1");
    let second = run(&engine, &svc, "GET", "/simple?key=sc&value=other");
    assert_eq!(second.body_text(), "computed");
    assert_eq!(header(&second, "x-closure-ran"), "0");
    let get = run(&engine, &svc, "GET", "/simple/get?key=sc");
    assert_eq!(get.body_text(), "computed");
    assert_eq!(
        run(&engine, &svc, "GET", "/simple/get?key=nothing")
            .response
            .status,
        404
    );
    // The simple cache tags what it stores with surrogate keys for its purge.
    let ins = first.calls("fastly_cache::transaction_insert_and_stream_back")[0];
    assert!(matches!(ins.arg("surrogate_keys"), Some(ArgValue::List(l)) if l.len() == 2));
    // `simple::purge` purges by that key (`fastly_purge`): the next get misses and the
    // closure runs again.
    let purged = run(&engine, &svc, "POST", "/simple/purge?key=sc");
    assert_eq!(purged.body_text(), "purged", "{}", summaries(&purged));
    assert_eq!(
        run(&engine, &svc, "GET", "/simple/get?key=sc")
            .response
            .status,
        404
    );
    let again = run(&engine, &svc, "GET", "/simple?key=sc&value=fresh");
    assert_eq!(again.body_text(), "fresh");
    assert_eq!(header(&again, "x-closure-ran"), "1");
}

/// One execution driven by hand, so two can run side by side on one service: its
/// work is held until the test completes it.
struct Live {
    driver: Driver,
    held: Vec<Work>,
    collected: Collected,
    trace: Vec<TraceEvent>,
    done: Option<Outcome>,
}

impl Live {
    fn start(engine: &Engine, service: &Service, url: &str) -> Live {
        let guest = engine.load(&guest()).expect("guest loads");
        let driver = Driver::start(
            engine,
            guest,
            service.clone(),
            DownstreamRequest::new("GET", url),
            "0".repeat(32),
            ExecOptions::default(),
            blocking::CAPABILITIES,
        )
        .expect("guest instantiates");
        Live {
            driver,
            held: Vec::new(),
            collected: Collected::default(),
            trace: Vec::new(),
            done: None,
        }
    }

    /// Step until the guest waits for held work (or ends).
    fn run_until_waiting(&mut self) {
        for _ in 0..10_000 {
            if self.done.is_some() {
                return;
            }
            let step = self.driver.step();
            self.held.extend(self.driver.take_work());
            self.collected.absorb(self.driver.take_outputs());
            self.trace.extend(self.driver.take_trace());
            match step {
                Step::Done(o) => self.done = Some(o),
                Step::Wait => return,
                Step::Continue | Step::Paused(_) => {}
            }
        }
        panic!("the execution never waited");
    }

    /// Complete every held sleep shorter than a second (the guest's own, or a
    /// re-check; not a select's long timeout), then run on.
    fn wake(&mut self) {
        for w in std::mem::take(&mut self.held) {
            match w.kind {
                WorkKind::Sleep { ns } if ns < S => self.driver.complete(w.id, WorkResult::Slept),
                _ => self.held.push(w),
            }
        }
        self.run_until_waiting();
    }

    fn sleeps(&self) -> usize {
        self.held
            .iter()
            .filter(|w| matches!(w.kind, WorkKind::Sleep { ns } if ns < S))
            .count()
    }

    fn body(&self) -> String {
        let o = self.done.as_ref().expect("finished");
        String::from_utf8_lossy(&self.collected.final_response(o).body).into_owned()
    }

    fn header(&self, name: &str) -> String {
        let o = self.done.as_ref().expect("finished");
        let r = self.collected.final_response(o);
        String::from_utf8_lossy(r.headers.get(name).expect("header")).into_owned()
    }
}

#[test]
fn concurrent_transactions_collapse_one_inserts_and_the_other_waits_then_reads_it() {
    let engine = common::engine();
    let svc = service();
    // A misses, claims the key and sleeps before inserting.
    let mut a = Live::start(&engine, &svc, "/core/tx?key=hot&value=from-a&sleep_ms=50");
    a.run_until_waiting();
    assert!(a.done.is_none());
    assert_eq!(svc.collapser.len(), 1, "A holds the key");
    // B's transaction on the same key waits: only its re-check timer is under way.
    let mut b = Live::start(&engine, &svc, "/core/tx?key=hot&value=from-b");
    b.run_until_waiting();
    for _ in 0..5 {
        assert!(b.done.is_none(), "B must wait while A holds the key");
        assert_eq!(b.sleeps(), 1, "one re-check timer");
        b.wake();
    }
    // A wakes and inserts; B looks again and finds A's object.
    a.wake();
    assert_eq!(a.body(), "inserted from-a");
    assert!(svc.collapser.is_empty());
    b.wake();
    assert_eq!(b.body(), "found from-a");
    assert_eq!(b.header("x-must-insert-or-update"), "false");
    let tl = b
        .trace
        .iter()
        .find(|e| e.qualified_name() == "fastly_cache::transaction_lookup")
        .unwrap();
    assert!(tl.note.as_deref().unwrap().contains("request collapsing"));
    assert_eq!(
        tl.result("state"),
        Some(&flags(&["found", "usable", "usable_if_error"]))
    );
    let span = b
        .trace
        .iter()
        .find(|e| e.kind == EventKind::Work && e.name == "transaction_lookup")
        .unwrap();
    assert_eq!(span.status.as_deref(), Some("hit"));
}

#[test]
fn async_waiters_select_on_the_busy_handle_until_the_claim_is_released() {
    let engine = common::engine();
    let svc = service();
    let mut a = Live::start(&engine, &svc, "/core/tx?key=sel&value=v&sleep_ms=50");
    a.run_until_waiting();
    // B waits through `select` (the SDK's timeout path) on its busy handle.
    let mut b = Live::start(&engine, &svc, "/core/tx?key=sel&async=1&timeout_ms=60000");
    b.run_until_waiting();
    for _ in 0..3 {
        assert!(b.done.is_none());
        b.wake();
    }
    a.wake();
    b.wake();
    assert_eq!(b.body(), "found v");
    assert!(b
        .trace
        .iter()
        .any(|e| e.qualified_name() == "fastly_async_io::select"));
    assert_eq!(
        String::from_utf8_lossy(&b.collected.stdout),
        "pending before wait: true\n"
    );
}

#[test]
fn stale_while_revalidate_serves_others_while_one_revalidates() {
    let (engine, clock) = clocked();
    let svc = service();
    ok(&run(
        &engine,
        &svc,
        "POST",
        "/core/insert?key=w&value=old&ttl=1&swr=60",
    ));
    clock.advance(2 * S);
    // A is first to find it stale: it must update, and sleeps first.
    let mut a = Live::start(
        &engine,
        &svc,
        "/core/tx?key=w&then=update&ttl=60&sleep_ms=10",
    );
    a.run_until_waiting();
    // B finds it stale but usable, and does not wait.
    let mut b = Live::start(&engine, &svc, "/core/tx?key=w");
    b.run_until_waiting();
    assert_eq!(b.body(), "found old");
    assert_eq!(b.header("x-stale"), "true");
    assert_eq!(b.header("x-usable"), "true");
    a.wake();
    assert_eq!(a.body(), "updated");
    assert_eq!(a.header("x-must-insert-or-update"), "true");
}

#[test]
fn a_guest_that_ends_holding_a_claim_lets_the_waiters_proceed() {
    for then in ["forget", "panic"] {
        let engine = common::engine();
        let svc = service();
        let mut a = Live::start(
            &engine,
            &svc,
            &format!("/core/tx?key=h&then={then}&sleep_ms=5"),
        );
        a.run_until_waiting();
        let mut b = Live::start(&engine, &svc, "/core/tx?key=h&value=from-b");
        b.run_until_waiting();
        b.wake();
        assert!(b.done.is_none());
        a.wake();
        assert!(a.done.is_some());
        assert!(
            a.trace.iter().any(|e| e.name == "claim-released"),
            "{then}: the end of A releases its claim"
        );
        assert!(svc.collapser.is_empty());
        b.wake();
        assert_eq!(b.body(), "inserted from-b", "{then}");
        assert_eq!(b.header("x-must-insert"), "true");
    }
}

#[test]
fn a_replace_with_the_wait_strategy_waits_for_an_insert_under_way() {
    let engine = common::engine();
    let svc = service();
    let mut a = Live::start(&engine, &svc, "/core/tx?key=rw&value=from-a&sleep_ms=50");
    a.run_until_waiting();
    let mut b = Live::start(
        &engine,
        &svc,
        "/core/replace?key=rw&value=from-b&strategy=wait",
    );
    b.run_until_waiting();
    b.wake();
    assert!(b.done.is_none(), "the replace waits for A's insert");
    a.wake();
    b.wake();
    assert_eq!(b.body(), "existing from-a (hits 0, meta \"\"); replaced");
    assert_eq!(
        run(&engine, &svc, "GET", "/core/lookup?key=rw").body_text(),
        "from-b"
    );
}

#[test]
fn a_key_that_is_not_text_shows_as_bytes_in_the_trace() {
    let wat = r#"(module
      (import "fastly_cache" "lookup" (func $lookup (param i32 i32 i32 i32 i32) (result i32)))
      (import "fastly_cache" "get_state" (func $state (param i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 16) "\ff\fe\00\01")
      (func (export "_start")
        (if (call $lookup (i32.const 16) (i32.const 4) (i32.const 0) (i32.const 64) (i32.const 128))
          (then unreachable))
        (if (call $state (i32.load (i32.const 128)) (i32.const 132)) (then unreachable))
        (if (i32.load (i32.const 132)) (then unreachable))))"#;
    let r = common::run_wat(wat, common::get("/"));
    common::assert_returned(&r);
    let key = ArgValue::Bytes {
        len: 4,
        preview: "fffe0001".into(),
    };
    assert_eq!(r.calls("fastly_cache::lookup")[0].arg("key"), Some(&key));
    assert_eq!(spans(&r)[0].arg("key"), Some(&key));
}

#[test]
fn a_backend_body_still_arriving_is_cached_whole() {
    let engine = common::engine();
    let svc = Service::from(config(
        "[local_server.backends.origin]\nurl = \"http://127.0.0.1:9000\"\n",
    ));
    // The origin answers with its head and the first bytes; the rest arrives through
    // body reads (the test driver's reads find the end).
    let origin = |_: &edgeplay_host::FetchRequest| {
        WorkResult::FetchedHead(Box::new(edgeplay_host::FetchResponse {
            status: 200,
            headers: edgeplay_host::Headers::new(),
            body: b"from the origin".to_vec(),
            remote_addr: None,
            first_byte_us: 10,
            end_us: 20,
            headers_not_sent: Vec::new(),
            notes: Vec::new(),
        }))
    };
    let r = run_driven(
        &engine,
        &guest(),
        svc.clone(),
        common::get("/core/from-backend?key=b"),
        ExecOptions::default(),
        origin,
        |_| 0,
    );
    ok(&r);
    let close = r.calls("fastly_http_body::close");
    assert!(
        close.iter().any(|e| e
            .note
            .as_deref()
            .is_some_and(|n| n.contains("still arriving"))),
        "{}",
        summaries(&r)
    );
    assert_eq!(
        run(&engine, &svc, "GET", "/core/lookup?key=b").body_text(),
        "from the origin"
    );
}

#[test]
fn hostile_pointers_answer_inval_and_change_nothing() {
    let wat = r#"(module
      (import "fastly_cache" "lookup" (func $lookup (param i32 i32 i32 i32 i32) (result i32)))
      (import "fastly_cache" "insert" (func $insert (param i32 i32 i32 i32 i32) (result i32)))
      (import "fastly_cache" "replace" (func $replace (param i32 i32 i32 i32 i32) (result i32)))
      (import "fastly_cache" "get_body" (func $get_body (param i32 i32 i32 i32) (result i32)))
      (import "fastly_cache" "get_user_metadata" (func $meta (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 16) "key")
      (func $expect (param $got i32) (param $want i32)
        (if (i32.ne (local.get $got) (local.get $want)) (then unreachable)))
      (func (export "_start")
        ;; Options at the very end of the address space, with bits that read them.
        (call $expect (call $lookup (i32.const 16) (i32.const 3) (i32.const 6) (i32.const 0xfffffffc) (i32.const 128)) (i32.const 2))
        (call $expect (call $insert (i32.const 16) (i32.const 3) (i32.const 0x7fe) (i32.const 0xfffffff8) (i32.const 128)) (i32.const 2))
        (call $expect (call $replace (i32.const 16) (i32.const 3) (i32.const 0x1e) (i32.const 0xfffffffc) (i32.const 128)) (i32.const 2))
        ;; A key past the end of memory.
        (call $expect (call $lookup (i32.const 0xfff0) (i32.const 0x100) (i32.const 0) (i32.const 64) (i32.const 128)) (i32.const 2))
        ;; A miss, then a range read through a bad pointer, and metadata to nowhere.
        (call $expect (call $lookup (i32.const 16) (i32.const 3) (i32.const 0) (i32.const 64) (i32.const 128)) (i32.const 0))
        (call $expect (call $get_body (i32.load (i32.const 128)) (i32.const 6) (i32.const 0xfffffff8) (i32.const 132)) (i32.const 2))
        (call $expect (call $meta (i32.load (i32.const 128)) (i32.const 0xfffffff0) (i32.const 64) (i32.const 0xfffffff0)) (i32.const 10))
        ;; A handle out-pointer past the end: INVAL, and no handle leaks.
        (call $expect (call $lookup (i32.const 16) (i32.const 3) (i32.const 0) (i32.const 64) (i32.const 0xfffffffe)) (i32.const 2))))"#;
    let r = common::run_wat(wat, common::get("/"));
    common::assert_returned(&r);
    assert_eq!(
        r.statuses("fastly_cache::insert"),
        ["inval"],
        "{}",
        summaries(&r)
    );
}

fn stdout(l: &Live) -> String {
    String::from_utf8_lossy(&l.collected.stdout).into_owned()
}

#[test]
fn another_execution_reads_an_insert_as_it_is_written_and_ends_at_its_close() {
    let engine = common::engine();
    let svc = service();
    // A inserts in two chunks, sleeping after each.
    let mut a = Live::start(
        &engine,
        &svc,
        "/core/insert?key=s&chunks=one,two&meta=m1&sk=x&swr=30",
    );
    a.run_until_waiting();
    assert_eq!(stdout(&a), "wrote one\n");
    assert_eq!(svc.streams.len(), 1, "A's insert is under way");
    // B's plain lookup finds it and reads the first chunk, then waits for more.
    let mut b = Live::start(&engine, &svc, "/core/lookup?key=s&follow=1");
    b.run_until_waiting();
    assert!(b.done.is_none(), "B waits for A's next bytes");
    assert_eq!(
        stdout(&b),
        "read one\n",
        "B read the first chunk before A wrote the second"
    );
    assert_eq!(b.sleeps(), 1, "the waiting read re-checks on a timer");
    b.wake();
    assert!(b.done.is_none());
    assert_eq!(stdout(&b), "read one\n", "nothing new: no byte twice");
    // A writes the second chunk; B reads it and waits for the end.
    a.wake();
    assert_eq!(stdout(&a), "wrote one\nwrote two\n");
    b.wake();
    assert_eq!(stdout(&b), "read one\nread two\n");
    assert!(b.done.is_none(), "the insert is not closed yet: no end");
    // A closes the body: the object is stored and B's read ends.
    a.wake();
    assert_eq!(a.body(), "stored");
    assert!(svc.streams.is_empty(), "a stored insert leaves the table");
    b.wake();
    assert_eq!(b.body(), "one|two");
    // What B saw of the object: the insert's options.
    assert_eq!(b.header("x-usable"), "true");
    assert_eq!(b.header("x-stale"), "false");
    assert_eq!(b.header("x-meta"), "m1");
    assert_eq!(b.header("x-max-age"), "60");
    assert_eq!(b.header("x-swr"), "30");
    // B asked for the length after its read ended, when the object was stored.
    assert_eq!(b.header("x-length"), "6");
    assert_eq!(b.header("x-hits"), "0");
    let lookup = b
        .trace
        .iter()
        .find(|e| e.qualified_name() == "fastly_cache::lookup")
        .unwrap();
    assert_eq!(
        lookup.result("state"),
        Some(&flags(&["found", "usable", "usable_if_error"]))
    );
    assert!(lookup.note.as_deref().unwrap().contains("as it is written"));
    let span = b
        .trace
        .iter()
        .find(|e| e.kind == EventKind::Work && e.name == "lookup")
        .unwrap();
    assert_eq!(span.status.as_deref(), Some("streaming"));
    assert!(b
        .trace
        .iter()
        .any(|e| e.qualified_name() == "fastly_http_body::read"
            && e.note
                .as_deref()
                .is_some_and(|n| n.contains("another execution"))));
    // Stored whole, once.
    let later = run(&engine, &svc, "GET", "/core/lookup?key=s");
    assert_eq!(later.body_text(), "onetwo");
    assert_eq!(header(&later, "x-hits"), "1");
}

#[test]
fn an_announced_length_is_seen_while_written_and_a_range_ends_at_its_end() {
    let engine = common::engine();
    let svc = service();
    let mut a = Live::start(
        &engine,
        &svc,
        "/core/insert?key=len&chunks=one,two&length=6",
    );
    a.run_until_waiting();
    let mut b = Live::start(&engine, &svc, "/core/lookup?key=len&follow=1&from=1&to=4");
    b.run_until_waiting();
    assert_eq!(stdout(&b), "read ne\n");
    a.wake();
    b.wake();
    // The range `1..=4` is complete once byte 4 is written, before A closes.
    assert_eq!(b.body(), "ne|tw");
    assert_eq!(b.header("x-length"), "6");
    a.wake();
    assert_eq!(a.body(), "stored");
}

#[test]
fn a_reader_of_an_insert_that_is_abandoned_or_cut_off_gets_an_error() {
    for end in ["abandon", "panic", "forget"] {
        let engine = common::engine();
        let svc = service();
        let mut a = Live::start(
            &engine,
            &svc,
            &format!("/core/insert?key=e&chunks=one&end={end}"),
        );
        a.run_until_waiting();
        let mut b = Live::start(&engine, &svc, "/core/lookup?key=e&follow=1");
        b.run_until_waiting();
        assert_eq!(stdout(&b), "read one\n", "{end}");
        assert!(b.done.is_none());
        a.wake();
        assert!(a.done.is_some(), "{end}");
        assert!(svc.streams.is_empty(), "{end}: the insert left the table");
        b.wake();
        assert_eq!(b.body(), "one|ERROR", "{end}");
        let failed = b
            .trace
            .iter()
            .rfind(|e| e.qualified_name() == "fastly_http_body::read")
            .unwrap();
        assert!(
            failed.note.as_deref().unwrap().contains("stored nothing"),
            "{end}: {:?}",
            failed.note
        );
        let later = run(&engine, &svc, "GET", "/core/lookup?key=e");
        assert_eq!(later.response.status, 404, "{end}: nothing is stored");
    }
}

#[test]
fn a_waiting_transaction_reads_the_holders_insert_once_it_starts() {
    let engine = common::engine();
    let svc = service();
    // A claims the key and sleeps before inserting in two chunks.
    let mut a = Live::start(
        &engine,
        &svc,
        "/core/tx?key=t&sleep_ms=50&chunks=one,two&value=ignored",
    );
    a.run_until_waiting();
    let mut b = Live::start(&engine, &svc, "/core/tx?key=t&follow=1");
    b.run_until_waiting();
    b.wake();
    assert!(
        b.done.is_none(),
        "B waits while A has not started its insert"
    );
    assert_eq!(stdout(&b), "");
    // A starts its insert: B's transaction finds it and reads the first chunk.
    a.wake();
    assert_eq!(stdout(&a), "wrote one\n");
    b.wake();
    assert_eq!(stdout(&b), "read one\n");
    assert!(b.done.is_none());
    a.wake();
    a.wake();
    assert!(a.body().starts_with("inserted"), "{}", a.body());
    assert_eq!(a.header("x-must-insert"), "true");
    b.wake();
    assert_eq!(b.body(), "found one|two");
    assert_eq!(b.header("x-must-insert-or-update"), "false");
    assert_eq!(b.header("x-found"), "true");
    let tl = b
        .trace
        .iter()
        .find(|e| e.qualified_name() == "fastly_cache::transaction_lookup")
        .unwrap();
    let note = tl.note.as_deref().unwrap();
    assert!(
        note.contains("request collapsing") && note.contains("as it is written"),
        "{note}"
    );
    assert!(svc.collapser.is_empty() && svc.streams.is_empty());
}

#[test]
fn a_second_transaction_of_one_execution_reads_the_first_ones_insert() {
    let engine = common::engine();
    let svc = service();
    // The second looks up while the first writes: it finds the insert under way.
    let r = run(&engine, &svc, "GET", "/core/tx2?key=two&mode=stream");
    ok(&r);
    assert_eq!(r.body_text(), "tx2 must_insert=false; found part1part2");
    assert_eq!(
        spans(&r)
            .iter()
            .filter(|s| s.name == "transaction_insert")
            .count(),
        1,
        "one insert: one origin of data"
    );
    // The second is looked up async before the first inserts: it is pending, and
    // once the first has stored the object it finds it.
    let r = run(&engine, &svc, "GET", "/core/tx2?key=two-async&mode=async");
    ok(&r);
    assert_eq!(
        r.body_text(),
        "tx2 pending=true must_insert=false; found from-tx1"
    );
    assert!(svc.collapser.is_empty());
}

#[test]
fn a_second_transaction_blocked_on_the_first_alone_takes_the_obligation() {
    for mode in ["blocked", "blocked-async", "blocked-async&timeout_ms=60000"] {
        let engine = common::engine();
        let svc = service();
        let r = run(
            &engine,
            &svc,
            "GET",
            &format!("/core/tx2?key=b&mode={mode}"),
        );
        ok(&r);
        assert_eq!(
            r.body_text(),
            "tx2 must_insert=true; stored from-tx2",
            "{mode}"
        );
        assert!(
            r.trace.iter().any(|e| e
                .note
                .as_deref()
                .is_some_and(|n| n.contains("takes the obligation"))),
            "{mode}: {}",
            summaries(&r)
        );
        assert!(svc.collapser.is_empty(), "{mode}");
    }
}

#[test]
fn a_replace_is_read_as_it_is_written_once_the_old_object_is_gone() {
    let engine = common::engine();
    let svc = service();
    for (strategy, seen) in [("immediate", "old"), ("force_miss", "new1|new2")] {
        let key = format!("r-{strategy}");
        ok(&run(
            &engine,
            &svc,
            "POST",
            &format!("/core/insert?key={key}&value=old"),
        ));
        let mut a = Live::start(
            &engine,
            &svc,
            &format!("/core/replace?key={key}&strategy={strategy}&chunks=new1,new2"),
        );
        a.run_until_waiting();
        assert_eq!(stdout(&a), "wrote new1\n");
        // `immediate` serves the old object until the new one is stored;
        // `immediate_force_miss` removed it, so the new one is read as it is written.
        let mut b = Live::start(&engine, &svc, &format!("/core/lookup?key={key}&follow=1"));
        b.run_until_waiting();
        a.wake();
        b.wake();
        a.wake();
        b.wake();
        assert_eq!(
            a.body(),
            "existing old (hits 0, meta \"\"); replaced",
            "{strategy}"
        );
        assert_eq!(b.body(), seen, "{strategy}");
        let later = run(&engine, &svc, "GET", &format!("/core/lookup?key={key}"));
        assert_eq!(later.body_text(), "new1new2", "{strategy}");
    }
}

#[test]
fn an_execution_dropped_mid_insert_fails_its_readers_and_lets_go_of_the_key() {
    // A driver dropped while its guest writes (Stop in the tab, a killed request):
    // the insert's guard fails it, and the claim's guard releases the key.
    let engine = common::engine();
    let svc = service();
    let mut a = Live::start(&engine, &svc, "/core/tx?key=d&chunks=one,two");
    a.run_until_waiting();
    let mut b = Live::start(&engine, &svc, "/core/lookup?key=d&follow=1");
    b.run_until_waiting();
    assert_eq!(stdout(&b), "read one\n");
    drop(a);
    assert!(svc.streams.is_empty() && svc.collapser.is_empty());
    b.wake();
    assert_eq!(b.body(), "one|ERROR");
}
