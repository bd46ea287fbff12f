//! The HTTP cache API (`fastly_http_cache`), as the Rust SDK drives it: `Request::send`
//! runs guest-side caching through the transaction calls when `is_request_cacheable`
//! answers OK, so every test here sends requests with the SDK guest `http_cache` to a
//! counting origin (closures of the blocking test driver) over one `Service`, and
//! asserts what a user sees: how often the origin was asked, the response, and the
//! SDK's `x-cache` / `x-cache-hits` headers. Collapsing runs two executions of one
//! service side by side, by hand.

mod common;

use common::{backend_events, outcomes, sdk_guest, summaries, Run};
use edgeplay_host::driver::blocking;
use edgeplay_host::platform::{FixedClock, SeededRandom};
use edgeplay_host::{
    Collected, DownstreamRequest, Driver, Engine, ExecOptions, FetchRequest, FetchResponse,
    Headers, Output, Platform, Service, Step, WorkKind, WorkResult,
};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const NS: u64 = 1_000_000_000;

/// One service, an engine with a clock the test moves, and a counting origin.
struct Fixture {
    engine: Engine,
    clock: Arc<FixedClock>,
    service: Service,
    guest: Vec<u8>,
    hits: Arc<AtomicUsize>,
    /// The requests the origin saw.
    seen: Arc<Mutex<Vec<FetchRequest>>>,
}

/// The service of these tests: a backend `origin` (the HTTP cache API is on by
/// default).
const CONFIG: &str = r#"
[local_server.backends.origin]
url = "http://127.0.0.1:9000"
"#;

fn fixture() -> Fixture {
    fixture_with(CONFIG)
}

fn fixture_with(toml: &str) -> Fixture {
    let clock = Arc::new(FixedClock::default());
    let platform = Platform {
        clock: clock.clone(),
        random: Arc::new(SeededRandom::new(7)),
        validator: None,
    };
    Fixture {
        engine: Engine::new(platform),
        clock,
        service: Service::from(common::config(toml)),
        guest: sdk_guest("http_cache"),
        hits: Arc::new(AtomicUsize::new(0)),
        seen: Arc::new(Mutex::new(Vec::new())),
    }
}

fn response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> WorkResult {
    let mut h = Headers::new();
    for (n, v) in headers {
        h.append(n, *v);
    }
    WorkResult::Fetched(Box::new(FetchResponse {
        status,
        headers: h,
        body: body.to_vec(),
        remote_addr: None,
        first_byte_us: 1,
        end_us: 2,
        headers_not_sent: Vec::new(),
        notes: Vec::new(),
    }))
}

impl Fixture {
    /// An origin that counts its requests and answers with `answer`.
    fn origin(
        &self,
        answer: impl Fn(&FetchRequest, usize) -> WorkResult + 'static,
    ) -> impl FnMut(&FetchRequest) -> WorkResult {
        let hits = self.hits.clone();
        let seen = self.seen.clone();
        move |req| {
            let n = hits.fetch_add(1, Ordering::SeqCst) + 1;
            seen.lock().unwrap().push(req.clone());
            answer(req, n)
        }
    }

    fn driver(&self, req: DownstreamRequest) -> Driver {
        let guest = self.engine.load(&self.guest).expect("guest loads");
        Driver::start(
            &self.engine,
            guest,
            self.service.clone(),
            req,
            "0".repeat(32),
            ExecOptions::default(),
            blocking::CAPABILITIES,
        )
        .expect("guest instantiates")
    }

    /// Run one request to the end, fetches answered by `origin`.
    fn run(&self, req: DownstreamRequest, origin: impl FnMut(&FetchRequest) -> WorkResult) -> Run {
        let ran = blocking::run(self.driver(req), origin);
        finish(ran.outputs, ran.outcome, ran.trace, ran.fetches)
    }

    /// Run `url` with an origin answering `status`, `headers` and the body `n` (its
    /// request count).
    fn get(&self, url: &str, status: u16, headers: &'static [(&'static str, &'static str)]) -> Run {
        self.get_req(DownstreamRequest::new("GET", url), status, headers)
    }

    fn get_req(
        &self,
        req: DownstreamRequest,
        status: u16,
        headers: &'static [(&'static str, &'static str)],
    ) -> Run {
        let origin =
            self.origin(move |_, n| response(status, headers, format!("body {n}").as_bytes()));
        let r = self.run(req, origin);
        assert!(
            r.outcome.exit.is_success(),
            "guest failed: {:?}\n{}",
            r.outcome.exit,
            summaries(&r)
        );
        r
    }

    fn origin_hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn finish(
    outputs: Vec<Output>,
    outcome: edgeplay_host::Outcome,
    trace: Vec<edgeplay_host::TraceEvent>,
    fetches: Vec<FetchRequest>,
) -> Run {
    let mut collected = Collected::default();
    collected.absorb(outputs);
    let response = collected.final_response(&outcome);
    Run {
        collected,
        outcome,
        trace,
        response,
        fetches,
        usage: Default::default(),
    }
}

fn header(r: &Run, name: &str) -> Option<String> {
    r.response
        .headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

#[test]
fn a_second_get_is_answered_from_the_cache_through_the_transaction_calls() {
    let f = fixture();
    let h: &[(&str, &str)] = &[("cache-control", "max-age=60")];
    let first = f.get("http://example.com/a", 200, h);
    assert_eq!(first.body_text(), "body 1");
    assert_eq!(header(&first, "x-cache").as_deref(), Some("MISS"));
    let second = f.get("http://example.com/a", 200, h);
    assert_eq!(f.origin_hits(), 1, "{}", summaries(&second));
    assert_eq!(second.body_text(), "body 1");
    assert_eq!(header(&second, "x-cache").as_deref(), Some("HIT"));
    assert_eq!(header(&second, "x-cache-hits").as_deref(), Some("1"));
    // The SDK went through the HTTP cache API, not plain sends.
    assert!(first
        .statuses("fastly_http_cache::is_request_cacheable")
        .iter()
        .all(|s| s == "ok"));
    assert_eq!(
        first.statuses("fastly_http_cache::transaction_insert_and_stream_back"),
        vec!["ok"]
    );
    assert_eq!(first.statuses("fastly_http_req::send_async_v2"), vec!["ok"]);
    assert!(second.calls("fastly_http_req::send_async_v2").is_empty());
    let lookup = &second.calls("fastly_http_cache::transaction_lookup")[0];
    assert_eq!(lookup.note.as_deref(), Some("hit"));
    // The trace tells the two apart as the readthrough cache's would: the first send
    // was a fetch that missed, the second a backend request the cache answered.
    assert_eq!(outcomes(&first), ["MISS"]);
    assert_eq!(outcomes(&second), ["HIT"]);
    let hit = backend_events(&second)[0];
    assert_eq!(hit.name, "origin");
    assert!(
        hit.results.iter().any(|(n, _)| n == "hits") && hit.args.iter().any(|(n, _)| n == "url"),
        "{hit:?}"
    );
    // Another URL is another object.
    f.get("http://example.com/b", 200, h);
    assert_eq!(f.origin_hits(), 2);
}

#[test]
fn s_maxage_is_the_lifetime_not_max_age() {
    let f = fixture();
    let h: &[(&str, &str)] = &[("cache-control", "s-maxage=300, max-age=0")];
    f.get("http://example.com/s", 200, h);
    f.clock.advance(200 * NS);
    let r = f.get("http://example.com/s", 200, h);
    assert_eq!(f.origin_hits(), 1, "fresh for 300 s although max-age=0");
    assert_eq!(header(&r, "age").as_deref(), Some("200"));
    f.clock.advance(101 * NS);
    let r = f.get("http://example.com/s", 200, h);
    assert_eq!(f.origin_hits(), 2, "stale after 300 s");
    assert_eq!(r.body_text(), "body 2");
}

#[test]
fn private_no_store_and_set_cookie_responses_are_not_stored() {
    for h in [
        &[("cache-control", "private, max-age=60")][..],
        &[("cache-control", "no-store")][..],
        &[("cache-control", "max-age=60"), ("set-cookie", "a=b")][..],
    ] {
        let f = fixture();
        let h: &'static [(&'static str, &'static str)] = Box::leak(h.to_vec().into_boxed_slice());
        f.get("http://example.com/p", 200, h);
        let r = f.get("http://example.com/p", 200, h);
        assert_eq!(f.origin_hits(), 2, "{h:?}\n{}", summaries(&r));
        assert_eq!(r.body_text(), "body 2");
        assert_eq!(header(&r, "x-cache").as_deref(), Some("MISS"));
    }
    // A status the platform does not cache is not stored either.
    let f = fixture();
    f.get(
        "http://example.com/e",
        500,
        &[("cache-control", "max-age=60")],
    );
    f.get(
        "http://example.com/e",
        500,
        &[("cache-control", "max-age=60")],
    );
    assert_eq!(f.origin_hits(), 2);
}

#[test]
fn set_cacheable_forces_storage_and_a_ttl_alone_does_not() {
    let f = fixture();
    let h: &[(&str, &str)] = &[("cache-control", "private")];
    // A TTL override has no effect on a response that may not be stored: it is
    // recorded as uncacheable (hit-for-pass), so the next request goes straight to
    // the origin, without the hooks.
    let r = f.get("http://example.com/t?ttl=30", 200, h);
    assert_eq!(header(&r, "x-was-cacheable").as_deref(), Some("false"));
    let r = f.get("http://example.com/t?ttl=30", 200, h);
    assert_eq!(f.origin_hits(), 2);
    assert_eq!(header(&r, "x-was-cacheable"), None, "{}", summaries(&r));
    // set_cacheable stores it.
    f.get("http://example.com/c?cacheable=1&ttl=30", 200, h);
    let r = f.get("http://example.com/c?cacheable=1&ttl=30", 200, h);
    assert_eq!(f.origin_hits(), 3, "{}", summaries(&r));
    assert_eq!(r.body_text(), "body 3");
    assert_eq!(header(&r, "x-cache").as_deref(), Some("HIT"));
    // ... for the TTL set: 31 s later it is stale.
    f.clock.advance(31 * NS);
    f.get("http://example.com/c?cacheable=1&ttl=30", 200, h);
    assert_eq!(f.origin_hits(), 4);
    // set_uncacheable keeps a cacheable response out.
    let ok: &[(&str, &str)] = &[("cache-control", "max-age=60")];
    f.get("http://example.com/u?uncacheable=1", 200, ok);
    f.get("http://example.com/u?uncacheable=1", 200, ok);
    assert_eq!(f.origin_hits(), 6);
}

#[test]
fn the_after_send_hook_sees_the_response_and_before_send_changes_the_backend_request() {
    let f = fixture();
    let r = f.get(
        "http://example.com/h?before=1&ttl=10",
        200,
        &[("surrogate-control", "max-age=500"), ("x-o", "1")],
    );
    assert_eq!(header(&r, "x-was-cacheable").as_deref(), Some("true"));
    assert_eq!(
        header(&r, "surrogate-control"),
        None,
        "never shown to the guest"
    );
    let seen = f.seen.lock().unwrap();
    assert_eq!(seen[0].headers.get("x-before"), Some(&b"1"[..]));
}

#[test]
fn vary_stores_one_variant_per_request_header_value() {
    let f = fixture();
    let h: &[(&str, &str)] = &[("cache-control", "max-age=60"), ("vary", "accept-language")];
    let req = |lang: &str| {
        DownstreamRequest::new("GET", "http://example.com/v").with_header("accept-language", lang)
    };
    assert_eq!(f.get_req(req("en"), 200, h).body_text(), "body 1");
    assert_eq!(f.get_req(req("fr"), 200, h).body_text(), "body 2");
    assert_eq!(f.get_req(req("en"), 200, h).body_text(), "body 1");
    assert_eq!(f.get_req(req("fr"), 200, h).body_text(), "body 2");
    assert_eq!(f.origin_hits(), 2);
}

#[test]
fn hits_count_and_age_grows() {
    let f = fixture();
    let h: &[(&str, &str)] = &[("cache-control", "max-age=60"), ("age", "3")];
    f.get("http://example.com/x", 200, h);
    f.clock.advance(5 * NS);
    let r = f.get("http://example.com/x", 200, h);
    assert_eq!(header(&r, "x-cache-hits").as_deref(), Some("1"));
    assert_eq!(
        header(&r, "age").as_deref(),
        Some("8"),
        "3 s old when stored"
    );
    f.clock.advance(10 * NS);
    let r = f.get("http://example.com/x", 200, h);
    assert_eq!(header(&r, "x-cache-hits").as_deref(), Some("2"));
    assert_eq!(header(&r, "age").as_deref(), Some("18"));
    assert_eq!(f.origin_hits(), 1);
}

#[test]
fn a_stale_object_is_revalidated_with_its_validators_and_updated_by_a_304() {
    // Kept past its max-age by its stale-if-error window, so it can be revalidated.
    let f = fixture();
    let origin = f.origin(|req, _| {
        if req.headers.get("if-none-match") == Some(&b"\"v1\""[..]) {
            response(
                304,
                &[("cache-control", "max-age=60"), ("x-fresh", "yes")],
                b"",
            )
        } else {
            response(
                200,
                &[
                    ("cache-control", "max-age=1, stale-if-error=60"),
                    ("etag", "\"v1\""),
                ],
                b"payload",
            )
        }
    });
    type Origin = Box<dyn FnMut(&FetchRequest) -> WorkResult>;
    let origin: Rc<RefCell<Origin>> = Rc::new(RefCell::new(Box::new(origin)));
    let call = |o: &Rc<RefCell<Origin>>| {
        let o = o.clone();
        move |r: &FetchRequest| (o.borrow_mut())(r)
    };
    f.run(
        DownstreamRequest::new("GET", "http://example.com/r"),
        call(&origin),
    );
    f.clock.advance(2 * NS);
    let r = f.run(
        DownstreamRequest::new("GET", "http://example.com/r"),
        call(&origin),
    );
    assert_eq!(f.origin_hits(), 2);
    assert_eq!(r.response.status, 200, "{}", summaries(&r));
    assert_eq!(r.body_text(), "payload");
    assert_eq!(header(&r, "x-fresh").as_deref(), Some("yes"));
    let prep = &r.calls("fastly_http_cache::prepare_response_for_storage")[0];
    assert!(prep.summary().contains("update"), "{}", prep.summary());
    // Freshened for 60 s: the next request is a hit.
    f.clock.advance(30 * NS);
    let r = f.run(
        DownstreamRequest::new("GET", "http://example.com/r"),
        call(&origin),
    );
    assert_eq!(f.origin_hits(), 2);
    assert_eq!(header(&r, "x-cache").as_deref(), Some("HIT"));
}

#[test]
fn within_stale_while_revalidate_the_stale_object_answers_and_is_revalidated() {
    let f = fixture();
    let h: &[(&str, &str)] = &[("cache-control", "max-age=1, stale-while-revalidate=60")];
    f.get("http://example.com/swr", 200, h);
    f.clock.advance(5 * NS);
    let r = f.get("http://example.com/swr", 200, h);
    assert_eq!(r.body_text(), "body 1", "the stale object answers at once");
    assert_eq!(f.origin_hits(), 2, "and is revalidated in the background");
    let mut o = outcomes(&r);
    o.sort();
    assert_eq!(o, ["STALE", "STALE"], "{}", summaries(&r));
    // The revalidation stored the new body.
    let r = f.get("http://example.com/swr", 200, h);
    assert_eq!((r.body_text().as_str(), f.origin_hits()), ("body 2", 2));
    assert_eq!(outcomes(&r), ["HIT"]);
}

/// Run `url` through the `readthrough` guest (two `send_async`s of one key for
/// `/twice/...`) on `f`'s service; the origin numbers its answers in `x-n`.
fn run_twice(f: &Fixture, url: &str) -> Run {
    let guest = f
        .engine
        .load(&sdk_guest("readthrough"))
        .expect("guest loads");
    let driver = Driver::start(
        &f.engine,
        guest,
        f.service.clone(),
        DownstreamRequest::new("GET", url),
        "0".repeat(32),
        ExecOptions::default(),
        blocking::CAPABILITIES,
    )
    .expect("guest instantiates");
    let ran = blocking::run(
        driver,
        f.origin(|_, n| {
            let n = n.to_string();
            response(200, &[("cache-control", "max-age=60"), ("x-n", &n)], b"x")
        }),
    );
    finish(ran.outputs, ran.outcome, ran.trace, ran.fetches)
}

#[test]
fn two_sends_of_one_key_in_one_execution_collapse_onto_one_fetch() {
    let f = fixture();
    let r = run_twice(&f, "http://example.com/twice/x");
    assert_eq!(
        r.body_text(),
        "first=200/1;second=200/1",
        "{}",
        summaries(&r)
    );
    assert_eq!(f.origin_hits(), 1);
    assert_eq!(outcomes(&r), ["MISS", "COLLAPSED"]);
    // Waiting for the second first, the guest could never finish the first while
    // blocked: the second takes the obligation itself instead of waiting for ever.
    let f = fixture();
    let r = run_twice(&f, "http://example.com/twice/y?reverse=1");
    assert_eq!(
        r.body_text(),
        "first=200/2;second=200/1",
        "{}",
        summaries(&r)
    );
    assert_eq!(f.origin_hits(), 2);
    assert!(
        r.trace.iter().any(|e| e
            .note
            .as_deref()
            .unwrap_or("")
            .contains("takes the obligation")),
        "{}",
        summaries(&r)
    );
}

#[test]
fn a_range_request_is_cut_from_the_whole_object_the_cache_fetched() {
    let f = fixture();
    let h: &[(&str, &str)] = &[("cache-control", "max-age=60")];
    let ranged =
        |r: &str| DownstreamRequest::new("GET", "http://example.com/range").with_header("range", r);
    // A miss: the origin is asked for the whole object, the guest gets its range.
    let first = f.get_req(ranged("bytes=0-3"), 200, h);
    assert!(
        f.seen.lock().unwrap()[0].headers.get("range").is_none(),
        "the origin gets no Range"
    );
    assert_eq!(
        (first.response.status, first.body_text().as_str()),
        (206, "body"),
        "{}",
        summaries(&first)
    );
    assert_eq!(
        header(&first, "content-range").as_deref(),
        Some("bytes 0-3/6")
    );
    // A hit: another range of the stored object, and an unsatisfiable one.
    let second = f.get_req(ranged("bytes=-1"), 200, h);
    assert_eq!(
        (second.response.status, second.body_text().as_str()),
        (206, "1")
    );
    let past = f.get_req(ranged("bytes=50-"), 200, h);
    assert_eq!(past.response.status, 416);
    assert_eq!(header(&past, "content-range").as_deref(), Some("bytes */6"));
    // Without Range, the whole object.
    let whole = f.get("http://example.com/range", 200, h);
    assert_eq!(
        (whole.response.status, whole.body_text().as_str()),
        (200, "body 1")
    );
    assert_eq!(f.origin_hits(), 1);
}

#[test]
fn record_uncacheable_makes_later_requests_pass_without_collapsing() {
    let f = fixture();
    let h: &[(&str, &str)] = &[("cache-control", "max-age=60")];
    f.get("http://example.com/hfp?hfp=1", 200, h);
    let r = f.get("http://example.com/hfp?hfp=1", 200, h);
    assert_eq!(f.origin_hits(), 2);
    let lookup = &r.calls("fastly_http_cache::transaction_lookup")[0];
    assert!(
        lookup
            .note
            .as_deref()
            .unwrap_or("")
            .contains("hit-for-pass"),
        "{}",
        summaries(&r)
    );
    assert_eq!(outcomes(&r), ["PASS"], "the request was sent as it is");
}

#[test]
fn a_post_is_sent_uncached() {
    let f = fixture();
    let h: &[(&str, &str)] = &[("cache-control", "max-age=60")];
    let post = || DownstreamRequest::new("POST", "http://example.com/a");
    f.get_req(post(), 200, h);
    let r = f.get_req(post(), 200, h);
    assert_eq!(f.origin_hits(), 2);
    assert!(r.calls("fastly_http_cache::transaction_lookup").is_empty());
    assert_eq!(outcomes(&r), ["PASS"]);
}

/// Step `d` until it is waiting with a fetch outstanding (returned, unanswered) or
/// done; sleeps are finished at once.
fn step_until_fetch(d: &mut Driver) -> Option<u64> {
    for _ in 0..10_000 {
        let step = d.step();
        let mut fetch = None;
        for w in d.take_work() {
            match w.kind {
                WorkKind::Fetch(_) => fetch = Some(w.id),
                _ => d.complete(w.id, WorkResult::Slept),
            }
        }
        if fetch.is_some() {
            return fetch;
        }
        if let Step::Done(_) = step {
            return None;
        }
    }
    panic!("the execution neither fetched nor ended");
}

#[test]
fn two_executions_of_one_service_collapse_onto_one_origin_fetch() {
    let f = fixture();
    let h: &[(&str, &str)] = &[("cache-control", "max-age=60")];
    let req = || DownstreamRequest::new("GET", "http://example.com/collapse");
    let mut a = f.driver(req());
    let fetch = step_until_fetch(&mut a).expect("the first execution goes to the origin");
    // The second execution waits for the first one's claim: it sleeps and re-checks
    // without ever fetching.
    let mut b = f.driver(req());
    let mut b_outputs = Vec::new();
    let mut rechecks = 0;
    for _ in 0..50 {
        assert!(!matches!(b.step(), Step::Done(_)), "b must wait");
        b_outputs.extend(b.take_outputs());
        for w in b.take_work() {
            match w.kind {
                WorkKind::Sleep { .. } => {
                    rechecks += 1;
                    b.complete(w.id, WorkResult::Slept);
                }
                other => panic!("b must not fetch while a holds the claim: {other:?}"),
            }
        }
    }
    assert!(
        rechecks >= 10,
        "b re-checks after short sleeps ({rechecks})"
    );
    // The first execution's fetch returns; it stores the object and ends.
    a.complete(fetch, response(200, h, b"from a"));
    let ran_a = blocking::run(a, |_| panic!("a fetches once"));
    let ra = finish(ran_a.outputs, ran_a.outcome, ran_a.trace, ran_a.fetches);
    assert_eq!(ra.body_text(), "from a");
    // The second one finds it at its next look.
    let ran_b = blocking::run(b, |_| panic!("b is answered from the cache"));
    b_outputs.extend(ran_b.outputs);
    let rb = finish(b_outputs, ran_b.outcome, ran_b.trace, ran_b.fetches);
    assert_eq!(rb.body_text(), "from a", "{}", summaries(&rb));
    assert_eq!(header(&rb, "x-cache").as_deref(), Some("HIT"));
    assert_eq!(outcomes(&ra), ["MISS"]);
    assert_eq!(outcomes(&rb), ["COLLAPSED"], "{}", summaries(&rb));
    assert!(f.service.collapser.is_empty(), "no claim is left behind");
}

#[test]
fn a_waiter_takes_over_when_the_claim_holder_ends_without_storing() {
    let f = fixture();
    let req = || DownstreamRequest::new("GET", "http://example.com/giveup");
    let mut a = f.driver(req());
    let fetch = step_until_fetch(&mut a).expect("a fetches");
    let mut b = f.driver(req());
    for _ in 0..5 {
        b.step();
        for w in b.take_work() {
            b.complete(w.id, WorkResult::Slept);
        }
    }
    // a's origin answers something that may not be stored: a gives the claim up.
    a.complete(fetch, response(500, &[], b"oops"));
    let ran_a = blocking::run(a, |_| panic!("a fetches once"));
    assert!(ran_a.outcome.exit.is_success());
    let origin = f.origin(|_, _| response(200, &[("cache-control", "max-age=60")], b"from b"));
    let ran_b = blocking::run(b, origin);
    let rb = finish(ran_b.outputs, ran_b.outcome, ran_b.trace, ran_b.fetches);
    assert_eq!(rb.body_text(), "from b");
    assert_eq!(f.origin_hits(), 1, "b fetched it itself");
}

#[test]
fn the_raw_calls_answer_the_error_cases_as_the_sdk_expects() {
    let f = fixture();
    let r = f.run(
        DownstreamRequest::new("GET", "http://example.com/raw"),
        common::refuse,
    );
    let expected = "\
cacheable_get=0
cacheable_get_out=1
cacheable_post_out=0
cacheable_bad_handle=3
key=0
key_len=32
key_short_buf=4
key_needed=32
lookup_bad_mask=2
lookup_unknown_backend=2
lookup_bad_request=3
state_bad_handle=3
tx=0
tx_state=0
tx_state_out=8
found_on_miss=10
max_age_on_miss=10
choose_stale_with_nothing=3
abandon=0
abandon_again=3
close=0
close_again=3
plain=0
plain_state=0
plain_state_out=0
insert_without_obligation=3
insert_bad_mask=3
plain_close=0
";
    assert_eq!(r.body_text(), expected, "{}", summaries(&r));
}

#[test]
fn with_the_api_off_the_sdks_leave_caching_to_the_host() {
    let f = fixture_with(
        r#"
[local_server.backends.origin]
url = "http://127.0.0.1:9000"

[local_server.cache]
http_cache_api = false
"#,
    );
    let r = f.get("http://example.com/plain", 200, &[]);
    assert_eq!(r.body_text(), "body 1");
    assert_eq!(
        r.statuses("fastly_http_cache::is_request_cacheable"),
        vec!["unsupported"]
    );
    assert!(r.calls("fastly_http_cache::transaction_lookup").is_empty());
    // The SDK's hooks need the API: `send` fails with its cause.
    let r = f.get("http://example.com/hooks?ttl=5", 200, &[]);
    assert_eq!(r.response.status, 502);
    assert!(
        header(&r, "x-send-error")
            .unwrap_or_default()
            .contains("HttpCacheApiUnsupported"),
        "{:?}",
        header(&r, "x-send-error")
    );
}

#[test]
fn hostile_arguments_never_panic_and_buffers_follow_the_abi_rule() {
    let wat = format!(
        r#"(module
  (import "fastly_http_req" "new" (func $req_new (param i32) (result i32)))
  (import "fastly_http_req" "uri_set" (func $req_uri_set (param i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "new" (func $resp_new (param i32) (result i32)))
  (import "fastly_http_resp" "header_insert" (func $resp_insert (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "send_downstream" (func $resp_send (param i32 i32 i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (import "fastly_http_body" "write" (func $body_write (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_cache" "transaction_lookup" (func $tx_lookup (param i32 i32 i32 i32) (result i32)))
  (import "fastly_http_cache" "get_state" (func $get_state (param i32 i32) (result i32)))
  (import "fastly_http_cache" "get_suggested_cache_options" (func $suggested (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_cache" "prepare_response_for_storage" (func $prepare (param i32 i32 i32 i32) (result i32)))
  (import "fastly_http_cache" "transaction_insert" (func $insert (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_cache" "get_surrogate_keys" (func $keys (param i32 i32 i32 i32) (result i32)))
  (import "fastly_http_cache" "get_suggested_backend_request" (func $bereq (param i32 i32) (result i32)))
  (import "fastly_http_cache" "get_suggested_cache_key" (func $key (param i32 i32 i32 i32) (result i32)))
  (import "fastly_http_cache" "get_found_response" (func $found (param i32 i32 i32 i32) (result i32)))
  (import "fastly_http_cache" "close" (func $close (param i32) (result i32)))
  {log}
  (data (i32.const 0x40) "http://example.com/w")
  (data (i32.const 0x80) "varyaccept-language")
  (func (export "_start")
    (local $req i32) (local $h i32) (local $resp i32)
    (drop (call $req_new (i32.const 0x1000)))
    (local.set $req (i32.load (i32.const 0x1000)))
    (drop (call $req_uri_set (local.get $req) (i32.const 0x40) (i32.const 20)))
    ;; Options and out-pointers outside memory.
    (call $rec (call $tx_lookup (local.get $req) (i32.const 4) (i32.const 0xfffffff0) (i32.const 0x1010)))
    (call $rec (call $tx_lookup (local.get $req) (i32.const 2) (i32.const 0xfffffffe) (i32.const 0x1010)))
    (call $rec (call $tx_lookup (local.get $req) (i32.const 0) (i32.const 0) (i32.const 0xfffffff0)))
    (call $rec (call $tx_lookup (local.get $req) (i32.const 0) (i32.const 0) (i32.const 0x1010)))
    (local.set $h (i32.load (i32.const 0x1010)))
    (call $rec (call $get_state (local.get $h) (i32.const 0xfffffff0)))
    (drop (call $resp_new (i32.const 0x1020)))
    (local.set $resp (i32.load (i32.const 0x1020)))
    (drop (call $resp_insert (local.get $resp) (i32.const 0x80) (i32.const 4) (i32.const 0x84) (i32.const 15)))
    (call $rec (call $suggested (local.get $h) (local.get $resp) (i32.const 0xff) (i32.const 0xfffffff0) (i32.const 0x1030) (i32.const 0x1040)))
    ;; A vary rule buffer of 0 bytes: BUFLEN with the length needed; then it fits.
    (i32.store (i32.const 0x1108) (i32.const 0x1200))
    (i32.store (i32.const 0x110c) (i32.const 0))
    (i32.store (i32.const 0x1120) (i32.const 0x1300))
    (i32.store (i32.const 0x1124) (i32.const 64))
    (call $rec (call $suggested (local.get $h) (local.get $resp) (i32.const 0xff) (i32.const 0x1100) (i32.const 0x1030) (i32.const 0x1040)))
    (call $rec (i32.load (i32.const 0x104c)))
    (i32.store (i32.const 0x110c) (i32.const 32))
    (call $rec (call $suggested (local.get $h) (local.get $resp) (i32.const 0xff) (i32.const 0x1100) (i32.const 0x1030) (i32.const 0x1040)))
    (call $rec_bytes (i32.const 0x1200) (i32.load (i32.const 0x104c)))
    (call $rec (call $prepare (local.get $h) (local.get $resp) (i32.const 0xfffffff0) (i32.const 0x1050)))
    (call $rec (call $prepare (local.get $h) (i32.const 9999) (i32.const 0x1050) (i32.const 0x1054)))
    (call $rec (call $insert (local.get $h) (local.get $resp) (i32.const 0) (i32.const 0xfffffff0) (i32.const 0x1060)))
    (call $rec (call $keys (local.get $h) (i32.const 0) (i32.const 0xffffffff) (i32.const 0x1070)))
    (call $rec (call $bereq (local.get $h) (i32.const 0xfffffff0)))
    (call $rec (call $key (local.get $req) (i32.const 0xfffffff0) (i32.const 32) (i32.const 0x1080)))
    (call $rec (call $close (local.get $h)))
    (call $rec (call $close (local.get $h)))
    (call $rec (call $found (i32.const 12345) (i32.const 0) (i32.const 0x1090) (i32.const 0x1094)))
    (call $finish))
)"#,
        log = common::BYTE_LOG
    );
    let f = fixture();
    let wasm = wat::parse_str(&wat).expect("valid WAT");
    let guest = f.engine.load(&wasm).expect("guest loads");
    let d = Driver::start(
        &f.engine,
        guest,
        f.service.clone(),
        DownstreamRequest::new("GET", "/"),
        "0".repeat(32),
        ExecOptions::default(),
        blocking::CAPABILITIES,
    )
    .expect("guest instantiates");
    let ran = blocking::run(d, common::refuse);
    let r = finish(ran.outputs, ran.outcome, ran.trace, ran.fetches);
    use common::{BADF, BUFLEN, INVAL, NONE, OK};
    common::assert_log(
        &r,
        common::Log::default()
            .words(&[INVAL, INVAL, INVAL, OK, INVAL, INVAL, BUFLEN, 15, OK])
            .b(b"accept-language")
            .words(&[INVAL, BADF, INVAL, NONE, INVAL, INVAL, OK, BADF, BADF]),
    );
    assert!(
        f.service.collapser.is_empty(),
        "no claim outlives the execution"
    );
}

#[test]
fn a_request_from_the_service_itself_does_not_wait_for_a_claim() {
    // A service fetching itself: the outer execution holds the claim while it waits
    // for the inner one, which must not wait for that claim.
    let f = fixture();
    let url = "http://example.com/self";
    let mut outer = f.driver(DownstreamRequest::new("GET", url));
    step_until_fetch(&mut outer).expect("the outer execution fetches");
    let inner = DownstreamRequest::new("GET", url).with_header("cdn-loop", "edgeplay");
    let r = f.get_req(inner, 200, &[("cache-control", "max-age=60")]);
    assert_eq!(r.body_text(), "body 1");
    let lookup = &r.calls("fastly_http_cache::transaction_lookup")[0];
    assert!(
        lookup
            .note
            .as_deref()
            .unwrap_or("")
            .contains("not collapsed"),
        "{}",
        summaries(&r)
    );
}

#[test]
fn the_readthrough_cache_and_the_http_cache_api_share_their_objects() {
    // Stored through the HTTP cache API (the SDK's guest-side caching)...
    let f = fixture();
    let h: &[(&str, &str)] = &[("cache-control", "max-age=60")];
    let first = f.get("http://example.com/shared", 200, h);
    assert_eq!(first.body_text(), "body 1");
    // ...and found by the host's readthrough cache of a service with the same state
    // whose guests leave caching to the host (`http_cache_api = false`).
    let host_caching = Service::with_state(
        Arc::new(common::config(
            "[local_server.backends.origin]\nurl = \"http://127.0.0.1:9000\"\n\n[local_server.cache]\nhttp_cache_api = false\n",
        )),
        f.service.state.clone(),
    );
    let guest = f.engine.load(&f.guest).expect("guest loads");
    let driver = Driver::start(
        &f.engine,
        guest,
        host_caching,
        DownstreamRequest::new("GET", "http://example.com/shared"),
        "0".repeat(32),
        ExecOptions::default(),
        blocking::CAPABILITIES,
    )
    .expect("guest instantiates");
    let ran = blocking::run(
        driver,
        f.origin(|_, n| response(200, &[], format!("body {n}").as_bytes())),
    );
    let second = finish(ran.outputs, ran.outcome, ran.trace, ran.fetches);
    assert_eq!(second.body_text(), "body 1", "{}", summaries(&second));
    assert_eq!(f.origin_hits(), 1, "the readthrough cache found the object");
    assert_eq!(
        second.statuses("fastly_http_cache::is_request_cacheable"),
        vec!["unsupported"]
    );
}

#[test]
fn a_backend_body_still_arriving_streams_back_and_is_stored_at_its_end() {
    let f = fixture();
    // The origin answers with its head and the first bytes; the rest arrives through
    // body reads (the test driver's reads find the end).
    let origin = f.origin(|_, _| {
        let mut h = Headers::new();
        h.insert("cache-control", "max-age=60");
        WorkResult::FetchedHead(Box::new(FetchResponse {
            status: 200,
            headers: h,
            body: b"streamed body".to_vec(),
            remote_addr: None,
            first_byte_us: 1,
            end_us: 2,
            headers_not_sent: Vec::new(),
            notes: Vec::new(),
        }))
    });
    let first = f.run(
        DownstreamRequest::new("GET", "http://example.com/s"),
        origin,
    );
    assert_eq!(first.body_text(), "streamed body", "{}", summaries(&first));
    let close = first
        .calls("fastly_http_body::close")
        .into_iter()
        .find(|e| e.note.as_deref().unwrap_or("").contains("streams back"))
        .unwrap_or_else(|| {
            panic!(
                "the insert body's close streams back:\n{}",
                summaries(&first)
            )
        });
    assert_eq!(close.status.as_deref(), Some("ok"));
    assert!(
        first.trace.iter().any(|e| e.module == "cache"
            && e.note
                .as_deref()
                .unwrap_or("")
                .contains("stored the object")),
        "{}",
        summaries(&first)
    );
    let second = f.get("http://example.com/s", 200, &[]);
    assert_eq!(second.body_text(), "streamed body");
    assert_eq!(header(&second, "x-cache").as_deref(), Some("HIT"));
    assert_eq!(f.origin_hits(), 1);
}
