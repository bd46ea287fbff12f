//! The readthrough cache behind `send`, as a Rust SDK guest sees it
//! (`tests/guests/src/bin/readthrough.rs`): every rule of the platform's HTTP caching,
//! with the origin's fetch count asserted and time moved by the core's clock.

mod common;
use common::*;
use edgeplay_host::http::Headers;
use edgeplay_host::platform::{FixedClock, Platform, SeededRandom};
use edgeplay_host::trace::ArgValue;
use edgeplay_host::{Engine, ExecOptions, FetchRequest, FetchResponse, Service, WorkResult};
use std::cell::RefCell;
use std::sync::Arc;

/// The readthrough cache is the host's: the HTTP cache API is off, so the SDK's
/// `send` leaves caching to the host (as a JS guest's `fetch` does).
const TOML: &str = r#"
[local_server.backends.origin]
url = "http://127.0.0.1:9/"

[local_server.cache]
http_cache_api = false
"#;

/// One service and a clock the test moves.
struct Fixture {
    engine: Engine,
    clock: Arc<FixedClock>,
    service: Service,
    wasm: Vec<u8>,
}

impl Fixture {
    fn new() -> Self {
        Self::with_config(TOML)
    }

    fn with_config(toml: &str) -> Self {
        let clock = Arc::new(FixedClock::default());
        let engine = Engine::new(Platform {
            clock: clock.clone(),
            random: Arc::new(SeededRandom::new(7)),
            validator: None,
        });
        Fixture {
            engine,
            clock,
            service: Service::new(Arc::new(config(toml))),
            wasm: sdk_guest("readthrough"),
        }
    }

    fn advance_s(&self, s: u64) {
        self.clock.advance(s * 1_000_000_000);
    }

    /// Run `GET url` (with `headers`) against the service; `origin` answers fetches.
    fn run(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        origin: impl FnMut(&FetchRequest) -> WorkResult,
    ) -> Run {
        let mut req = get(url);
        for (n, v) in headers {
            req = req.with_header(n, *v);
        }
        run_driven(
            &self.engine,
            &self.wasm,
            self.service.clone(),
            req,
            ExecOptions::default(),
            origin,
            |_| 0,
        )
    }
}

/// An origin that counts its fetches and answers `status`, `headers` and
/// `body <n>` (n = how many fetches it has had), with `x-n: <n>`.
struct Counting {
    n: RefCell<u32>,
}

impl Counting {
    fn new() -> Self {
        Counting { n: RefCell::new(0) }
    }

    fn answer(&self, status: u16, headers: &[(&str, &str)]) -> WorkResult {
        let n = {
            let mut n = self.n.borrow_mut();
            *n += 1;
            *n
        };
        let mut h = Headers::new();
        for (k, v) in headers {
            h.append(k, *v);
        }
        h.insert("x-n", n.to_string());
        WorkResult::Fetched(Box::new(FetchResponse {
            status,
            headers: h,
            body: format!("body {n}").into_bytes(),
            remote_addr: None,
            first_byte_us: 100,
            end_us: 200,
            headers_not_sent: Vec::new(),
            notes: Vec::new(),
        }))
    }

    fn count(&self) -> u32 {
        *self.n.borrow()
    }
}

fn notes(run: &Run) -> String {
    backend_events(run)
        .iter()
        .filter_map(|e| e.note.clone())
        .collect::<Vec<_>>()
        .join(" | ")
}

fn header<'a>(run: &'a Run, name: &str) -> Option<&'a str> {
    run.response
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| std::str::from_utf8(v).unwrap())
}

const URL: &str = "http://example.test/page";

#[test]
fn a_second_request_is_answered_from_cache_with_its_age() {
    let f = Fixture::new();
    let origin = Counting::new();
    let first = f.run(URL, &[], |_| {
        origin.answer(200, &[("cache-control", "max-age=60")])
    });
    assert_eq!(first.response.status, 200, "{}", summaries(&first));
    assert_eq!(first.body_text(), "body 1");
    assert_eq!(outcomes(&first), ["MISS"]);
    assert!(
        notes(&first).contains("stored for 60 s (cache-control max-age)"),
        "{}",
        notes(&first)
    );
    f.advance_s(7);
    let second = f.run(URL, &[], |_| origin.answer(200, &[]));
    assert_eq!(second.body_text(), "body 1");
    assert_eq!(origin.count(), 1, "the origin was asked once");
    assert_eq!(outcomes(&second), ["HIT"]);
    assert_eq!(header(&second, "age"), Some("7"));
    assert!(second.fetches.is_empty(), "a hit makes no fetch");
    // The backend events carry what the cache did, decoded.
    let result = |run: &Run, name: &str| {
        backend_events(run)[0]
            .results
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(result(&first, "ttl_s"), Some(ArgValue::Int(60)));
    assert_eq!(result(&second, "age_s"), Some(ArgValue::Int(7)));
    assert_eq!(result(&second, "ttl_left_s"), Some(ArgValue::Int(53)));
    assert_eq!(result(&second, "hits"), Some(ArgValue::Int(1)));
}

#[test]
fn freshness_headers_take_the_platforms_order() {
    // s-maxage over max-age: cached for 300 s although browsers get 0.
    let f = Fixture::new();
    let origin = Counting::new();
    let cc = [("cache-control", "s-maxage=300, max-age=0")];
    f.run(URL, &[], |_| origin.answer(200, &cc));
    f.advance_s(200);
    assert_eq!(
        f.run(URL, &[], |_| origin.answer(200, &cc)).body_text(),
        "body 1"
    );
    f.advance_s(101);
    assert_eq!(
        f.run(URL, &[], |_| origin.answer(200, &cc)).body_text(),
        "body 2"
    );
    // Surrogate-Control over s-maxage, and the guest never sees it.
    let f = Fixture::new();
    let origin = Counting::new();
    let sc = [
        ("surrogate-control", "max-age=10"),
        ("cache-control", "s-maxage=300"),
    ];
    let first = f.run(URL, &[], |_| origin.answer(200, &sc));
    assert_eq!(header(&first, "surrogate-control"), None);
    assert_eq!(header(&first, "cache-control"), Some("s-maxage=300"));
    f.advance_s(5);
    let hit = f.run(URL, &[], |_| origin.answer(200, &sc));
    assert_eq!(outcomes(&hit), ["HIT"]);
    assert_eq!(header(&hit, "surrogate-control"), None);
    f.advance_s(6);
    assert_eq!(
        outcomes(&f.run(URL, &[], |_| origin.answer(200, &sc))),
        ["MISS"]
    );
    // Expires against Date, and the default TTL when nothing is given.
    let f = Fixture::new();
    let origin = Counting::new();
    f.run(URL, &[], |_| origin.answer(200, &[]));
    f.advance_s(3599);
    assert_eq!(origin.count(), 1);
    f.run(URL, &[], |_| origin.answer(200, &[]));
    assert_eq!(origin.count(), 1, "the default TTL is 3600 s");
    f.advance_s(2);
    f.run(URL, &[], |_| origin.answer(200, &[]));
    assert_eq!(origin.count(), 2);
}

#[test]
fn private_no_store_and_set_cookie_are_never_stored_even_with_a_ttl_override() {
    for headers in [
        vec![("cache-control", "private, max-age=600")],
        vec![("cache-control", "no-store")],
        vec![
            ("set-cookie", "session=1"),
            ("cache-control", "max-age=600"),
        ],
    ] {
        let f = Fixture::new();
        let origin = Counting::new();
        let url = format!("{URL}?ttl=300");
        let first = f.run(&url, &[], |_| origin.answer(200, &headers));
        assert!(
            notes(&first).contains("not stored"),
            "{headers:?}: {}",
            notes(&first)
        );
        assert!(
            notes(&first).contains("the cache override has no effect"),
            "{}",
            notes(&first)
        );
        let second = f.run(&url, &[], |_| origin.answer(200, &headers));
        assert_eq!(second.body_text(), "body 2", "{headers:?}");
        assert_eq!(origin.count(), 2);
    }
}

#[test]
fn only_the_statuses_the_platform_caches_are_stored() {
    for (status, stored) in [
        (200, true),
        (404, true),
        (301, true),
        (500, false),
        (503, false),
        (204, false),
    ] {
        let f = Fixture::new();
        let origin = Counting::new();
        f.run(URL, &[], |_| {
            origin.answer(status, &[("cache-control", "max-age=60")])
        });
        f.run(URL, &[], |_| {
            origin.answer(status, &[("cache-control", "max-age=60")])
        });
        assert_eq!(
            origin.count(),
            if stored { 1 } else { 2 },
            "status {status}"
        );
    }
}

#[test]
fn a_ttl_override_replaces_the_origins_lifetime_and_pass_skips_the_cache() {
    let f = Fixture::new();
    let origin = Counting::new();
    let url = format!("{URL}?ttl=300");
    f.run(&url, &[], |_| {
        origin.answer(200, &[("cache-control", "max-age=1")])
    });
    f.advance_s(100);
    assert_eq!(
        outcomes(&f.run(&url, &[], |_| origin.answer(200, &[]))),
        ["HIT"]
    );
    // pass: straight to the origin, nothing stored.
    let url = format!("{URL}/other?pass=1");
    let p = f.run(&url, &[], |_| {
        origin.answer(200, &[("cache-control", "max-age=60")])
    });
    assert_eq!(outcomes(&p), ["PASS"]);
    f.run(&url, &[], |_| origin.answer(200, &[]));
    assert_eq!(origin.count(), 3);
}

#[test]
fn vary_keeps_one_variant_per_request_header_value() {
    let f = Fixture::new();
    let origin = Counting::new();
    let h = [("cache-control", "max-age=60"), ("vary", "Accept-Language")];
    let en = f.run(URL, &[("accept-language", "en")], |_| {
        origin.answer(200, &h)
    });
    let fr = f.run(URL, &[("accept-language", "fr")], |_| {
        origin.answer(200, &h)
    });
    assert_eq!(
        (en.body_text().as_str(), fr.body_text().as_str()),
        ("body 1", "body 2")
    );
    let en2 = f.run(URL, &[("accept-language", "en")], |_| {
        origin.answer(200, &h)
    });
    let fr2 = f.run(URL, &[("accept-language", "fr")], |_| {
        origin.answer(200, &h)
    });
    assert_eq!(
        (en2.body_text().as_str(), fr2.body_text().as_str()),
        ("body 1", "body 2")
    );
    assert_eq!(origin.count(), 2);
    // No accept-language at all is a third variant.
    f.run(URL, &[], |_| origin.answer(200, &h));
    assert_eq!(origin.count(), 3);
}

#[test]
fn stale_while_revalidate_serves_stale_and_refreshes_in_the_background() {
    let f = Fixture::new();
    let origin = Counting::new();
    let h = [("cache-control", "max-age=10, stale-while-revalidate=60")];
    f.run(URL, &[], |_| origin.answer(200, &h));
    f.advance_s(20);
    let stale = f.run(URL, &[], |_| origin.answer(200, &h));
    assert_eq!(
        stale.body_text(),
        "body 1",
        "the stale object answers at once"
    );
    assert_eq!(
        outcomes(&stale),
        ["STALE", "STALE"],
        "{}",
        summaries(&stale)
    );
    assert!(
        notes(&stale).contains("background revalidation"),
        "{}",
        notes(&stale)
    );
    assert_eq!(origin.count(), 2, "the revalidation reached the origin");
    let fresh = f.run(URL, &[], |_| origin.answer(200, &h));
    assert_eq!(fresh.body_text(), "body 2", "the revalidated object");
    assert_eq!(outcomes(&fresh), ["HIT"]);
    // Past the window: an ordinary miss.
    f.advance_s(100);
    let miss = f.run(URL, &[], |_| origin.answer(200, &h));
    assert_eq!(
        (miss.body_text().as_str(), outcomes(&miss)),
        ("body 3", vec!["MISS".to_string()])
    );
}

#[test]
fn a_swr_override_applies_to_what_is_stored() {
    let f = Fixture::new();
    let origin = Counting::new();
    let url = format!("{URL}?swr=100");
    f.run(&url, &[], |_| {
        origin.answer(200, &[("cache-control", "max-age=10")])
    });
    f.advance_s(50);
    let stale = f.run(&url, &[], |_| {
        origin.answer(200, &[("cache-control", "max-age=10")])
    });
    assert_eq!(outcomes(&stale)[0], "STALE");
}

#[test]
fn stale_if_error_answers_when_the_origin_fails() {
    let f = Fixture::new();
    let origin = Counting::new();
    let h = [("cache-control", "max-age=10, stale-if-error=60")];
    f.run(URL, &[], |_| origin.answer(200, &h));
    f.advance_s(20);
    let r = f.run(URL, &[], |_| origin.answer(503, &[]));
    assert_eq!((r.response.status, r.body_text().as_str()), (200, "body 1"));
    assert_eq!(outcomes(&r), ["STALE"]);
    assert!(notes(&r).contains("stale-if-error"), "{}", notes(&r));
    let r = f.run(URL, &[], refuse);
    assert_eq!(r.body_text(), "body 1", "a refused connection too");
    // Past the window the failure shows.
    f.advance_s(100);
    let r = f.run(URL, &[], |_| origin.answer(503, &[]));
    assert_eq!(r.response.status, 503);
}

#[test]
fn purge_removes_or_marks_stale_what_carries_the_key() {
    let f = Fixture::new();
    let origin = Counting::new();
    let h = [
        ("cache-control", "max-age=600, stale-while-revalidate=600"),
        ("surrogate-key", "news all"),
    ];
    f.run(URL, &[], |_| origin.answer(200, &h));
    f.run("http://example.test/other", &[], |_| {
        origin.answer(
            200,
            &[("cache-control", "max-age=600"), ("surrogate-key", "all")],
        )
    });
    assert_eq!(origin.count(), 2);
    // A soft purge of `news`: the page is stale (served, revalidated), the other is untouched.
    let p = f.run("http://example.test/purge/news?soft=1", &[], refuse);
    assert_eq!(p.body_text(), "purged news");
    let stale = f.run(URL, &[], |_| origin.answer(200, &h));
    assert_eq!(outcomes(&stale)[0], "STALE");
    assert_eq!(stale.body_text(), "body 1");
    assert_eq!(origin.count(), 3, "revalidated in the background");
    assert_eq!(
        outcomes(&f.run("http://example.test/other", &[], refuse)),
        ["HIT"]
    );
    // A hard purge of `all`: both are gone.
    f.run("http://example.test/purge/all", &[], refuse);
    let miss = f.run(URL, &[], |_| origin.answer(200, &h));
    assert_eq!(outcomes(&miss), ["MISS"]);
    let purge_events: Vec<_> = f
        .run("http://example.test/purge/none", &[], refuse)
        .trace
        .into_iter()
        .filter(|e| e.module == "cache")
        .collect();
    assert_eq!(purge_events.len(), 1);
    // A surrogate-key override replaces the origin's keys.
    let f = Fixture::new();
    let url = format!("{URL}?sk=mine");
    f.run(&url, &[], |_| origin.answer(200, &h));
    f.run("http://example.test/purge/news", &[], refuse);
    assert_eq!(outcomes(&f.run(&url, &[], refuse)), ["HIT"]);
    f.run("http://example.test/purge/mine", &[], refuse);
    assert_eq!(
        outcomes(&f.run(&url, &[], |_| origin.answer(200, &h))),
        ["MISS"]
    );
}

#[test]
fn two_sends_of_one_key_in_one_run_make_one_origin_fetch() {
    let f = Fixture::new();
    let origin = Counting::new();
    let r = f.run("http://example.test/twice/x", &[], |_| {
        origin.answer(200, &[("cache-control", "max-age=60")])
    });
    assert_eq!(
        r.body_text(),
        "first=200/1;second=200/1",
        "{}",
        summaries(&r)
    );
    assert_eq!(origin.count(), 1);
    assert_eq!(outcomes(&r), ["MISS", "COLLAPSED"]);
    // Nothing stored (no-store): the waiter goes to the origin itself.
    let f = Fixture::new();
    let origin = Counting::new();
    let r = f.run("http://example.test/twice/y", &[], |_| {
        origin.answer(200, &[("cache-control", "no-store")])
    });
    assert_eq!(r.body_text(), "first=200/1;second=200/2");
    assert!(notes(&r).contains("stored nothing"), "{}", notes(&r));
}

#[test]
fn the_cache_keeps_to_its_entry_limit_evicting_the_least_recently_used() {
    let f = Fixture::with_config(&format!("{TOML}max_entries = 2\n"));
    let origin = Counting::new();
    let h = [("cache-control", "max-age=600")];
    for p in ["a", "b"] {
        f.run(&format!("http://example.test/{p}"), &[], |_| {
            origin.answer(200, &h)
        });
    }
    f.run("http://example.test/a", &[], |_| origin.answer(200, &h));
    f.run("http://example.test/c", &[], |_| origin.answer(200, &h));
    assert_eq!(origin.count(), 3);
    // b was used least recently and went; a and c stay.
    f.run("http://example.test/a", &[], |_| origin.answer(200, &h));
    f.run("http://example.test/c", &[], |_| origin.answer(200, &h));
    assert_eq!(origin.count(), 3);
    f.run("http://example.test/b", &[], |_| origin.answer(200, &h));
    assert_eq!(origin.count(), 4);
    let st = f.service.state.lock();
    assert_eq!(edgeplay_host::cache::totals(&**st).0, 2);
}

#[test]
fn other_methods_pass() {
    let f = Fixture::new();
    let origin = Counting::new();
    let mut req = get(URL);
    req.method = "POST".into();
    let r = run_driven(
        &f.engine,
        &f.wasm,
        f.service.clone(),
        req,
        ExecOptions::default(),
        |_| origin.answer(200, &[("cache-control", "max-age=60")]),
        |_| 0,
    );
    assert_eq!(outcomes(&r), ["PASS"]);
    assert!(notes(&r).contains("only GET and HEAD"), "{}", notes(&r));
}

#[test]
fn a_streaming_body_is_stored_once_it_has_arrived() {
    let f = Fixture::new();
    let n = RefCell::new(0);
    // The origin answers with its head and the first bytes; the rest arrives through
    // body reads (the test driver's reads find the end).
    let origin = |_: &FetchRequest| {
        *n.borrow_mut() += 1;
        let mut h = Headers::new();
        h.insert("cache-control", "max-age=60");
        WorkResult::FetchedHead(Box::new(FetchResponse {
            status: 200,
            headers: h,
            body: b"streamed body".to_vec(),
            remote_addr: None,
            first_byte_us: 10,
            end_us: 20,
            headers_not_sent: Vec::new(),
            notes: Vec::new(),
        }))
    };
    let first = f.run(URL, &[], origin);
    assert_eq!(first.body_text(), "streamed body");
    assert!(
        notes(&first).contains("once the streaming body has arrived"),
        "{}",
        notes(&first)
    );
    assert!(
        first
            .trace
            .iter()
            .any(|e| e.module == "cache"
                && e.note.as_deref().unwrap_or("").contains("stored for 60 s")),
        "{}",
        summaries(&first)
    );
    let second = f.run(URL, &[], origin);
    assert_eq!(second.body_text(), "streamed body");
    assert_eq!(outcomes(&second), ["HIT"]);
    assert_eq!(*n.borrow(), 1);
}

#[test]
fn a_stale_object_is_revalidated_with_a_conditional_request_and_a_304_freshens_it() {
    let f = Fixture::new();
    let seen = RefCell::new(Vec::new());
    let origin = |req: &FetchRequest| {
        let inm = req
            .headers
            .get("if-none-match")
            .map(|v| String::from_utf8_lossy(v).into_owned());
        seen.borrow_mut().push(inm.clone());
        let mut h = Headers::new();
        h.insert("etag", "\"v1\"");
        let (status, body) = if inm.as_deref() == Some("\"v1\"") {
            h.insert("cache-control", "max-age=100");
            (304, Vec::new())
        } else {
            h.insert("cache-control", "max-age=10");
            (200, b"the page".to_vec())
        };
        WorkResult::Fetched(Box::new(FetchResponse {
            status,
            headers: h,
            body,
            remote_addr: None,
            first_byte_us: 10,
            end_us: 20,
            headers_not_sent: Vec::new(),
            notes: Vec::new(),
        }))
    };
    f.run(URL, &[], origin);
    f.advance_s(20);
    let r = f.run(URL, &[], origin);
    assert_eq!(
        (r.response.status, r.body_text().as_str()),
        (200, "the page")
    );
    assert!(notes(&r).contains("304 Not Modified"), "{}", notes(&r));
    assert_eq!(
        header(&r, "cache-control"),
        Some("max-age=100"),
        "the 304's headers"
    );
    assert_eq!(*seen.borrow(), [None, Some("\"v1\"".to_string())]);
    f.advance_s(50);
    let hit = f.run(URL, &[], origin);
    assert_eq!(
        (outcomes(&hit), hit.body_text()),
        (vec!["HIT".to_string()], "the page".to_string())
    );
    assert_eq!(seen.borrow().len(), 2);
}
