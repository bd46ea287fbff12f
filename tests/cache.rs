//! End to end: the readthrough cache through `edgeplay serve` and `edgeplay request`
//! against real origins on 127.0.0.1 that count their hits — a second request from
//! cache, concurrent misses collapsed into one origin fetch, purge, and the cache kept
//! in a state directory between runs.

mod common;
use common::*;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// An origin that counts hits and answers `hit <n>` with `cache-control: max-age=600`
/// (after `delay`), plus `surrogate-key: all` and a `surrogate-control` header the
/// guest must never see.
fn counting_origin(delay: Duration) -> (Origin, Arc<AtomicU32>) {
    let hits = Arc::new(AtomicU32::new(0));
    let h = hits.clone();
    let origin = Origin::start(move |_| {
        let n = h.fetch_add(1, Ordering::SeqCst) + 1;
        let mut r = Reply::text(200, &format!("hit {n}"));
        r.headers
            .push(("cache-control".into(), "max-age=600".into()));
        r.headers
            .push(("surrogate-control".into(), "max-age=600".into()));
        r.headers.push(("surrogate-key".into(), "all".into()));
        r.delay = delay;
        r
    });
    (origin, hits)
}

fn config_for(origin: &Origin) -> std::path::PathBuf {
    temp_file(
        "fastly.toml",
        &format!(
            "[local_server.backends.origin]\nurl = \"http://{}\"\n",
            origin.addr
        ),
    )
}

#[test]
fn serve_answers_the_second_request_from_cache_and_purge_empties_it() {
    let (origin, hits) = counting_origin(Duration::ZERO);
    let cfg = config_for(&origin);
    let server = Server::start(&guest("readthrough"), &["-C", cfg.to_str().unwrap()]);
    let a = server.request("GET", "/page", &[], b"");
    assert_eq!((a.status, a.text().as_str()), (200, "hit 1"));
    assert_eq!(a.header("surrogate-control"), None, "stripped by the cache");
    let b = server.request("GET", "/page", &[], b"");
    assert_eq!(b.text(), "hit 1", "answered from cache");
    assert!(b.header("age").is_some(), "{:?}", b.headers);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    // Another path is another object; POST passes.
    server.request("GET", "/other", &[], b"");
    server.request("POST", "/page", &[], b"x");
    assert_eq!(hits.load(Ordering::SeqCst), 3);
    let p = server.request("GET", "/purge/all", &[], b"");
    assert_eq!(p.text(), "purged all");
    assert_eq!(server.request("GET", "/page", &[], b"").text(), "hit 4");
}

#[test]
fn concurrent_misses_for_one_key_make_one_origin_fetch() {
    let (origin, hits) = counting_origin(Duration::from_millis(400));
    let cfg = config_for(&origin);
    let server = Server::start(&guest("readthrough"), &["-C", cfg.to_str().unwrap()]);
    let addr = server.addr.clone();
    let clients: Vec<_> = (0..5)
        .map(|_| {
            let addr = addr.clone();
            std::thread::spawn(move || http_request(&addr, "GET", "/slow", &[], b"").text())
        })
        .collect();
    let bodies: Vec<String> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    assert_eq!(bodies, vec!["hit 1"; 5]);
    assert_eq!(
        hits.load(Ordering::SeqCst),
        1,
        "one origin fetch for five concurrent requests"
    );
}

#[test]
fn request_runs_share_the_cache_through_a_state_dir() {
    let (origin, hits) = counting_origin(Duration::ZERO);
    let cfg = config_for(&origin);
    let dir = std::env::temp_dir().join(format!("edgeplay-cache-state-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let run = |path: &str| {
        request_json(
            "readthrough",
            &[
                "-C",
                cfg.to_str().unwrap(),
                "--state-dir",
                dir.to_str().unwrap(),
                path,
            ],
        )
    };
    let first = run("/page");
    assert_eq!(first["body"], "hit 1");
    let second = run("/page");
    assert_eq!(
        second["body"], "hit 1",
        "a later process reads the stored object"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let cache_events: Vec<&str> = second["trace"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["module"] == "backend")
        .filter_map(|e| {
            e["args"]
                .as_array()?
                .iter()
                .find(|a| a[0] == "cache")
                .and_then(|a| a[1]["value"].as_str())
        })
        .collect();
    assert_eq!(cache_events, ["HIT"], "{second}");
    // Without a state dir every run starts with an empty cache.
    let fresh = request_json("readthrough", &["-C", cfg.to_str().unwrap(), "/page"]);
    assert_eq!(fresh["body"], "hit 2");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_js_guests_cache_override_sets_the_ttl_or_passes() {
    let hits = Arc::new(AtomicU32::new(0));
    let h = hits.clone();
    let origin = Origin::start(move |_| {
        let n = h.fetch_add(1, Ordering::SeqCst) + 1;
        let mut r = Reply::text(200, &format!("hit {n}"));
        r.headers.push(("cache-control".into(), "max-age=0".into()));
        r
    });
    let cfg = config_for(&origin);
    let server = Server::start(&guest("js-app"), &["-C", cfg.to_str().unwrap()]);
    // max-age=0 from the origin: not reusable, unless the override gives it a TTL.
    let get = |path: &str| server.request("GET", path, &[], b"").text();
    assert_eq!(get("/cached/a"), "origin said: hit 1");
    assert_eq!(get("/cached/a"), "origin said: hit 2");
    assert_eq!(get("/cached/b?ttl=300"), "origin said: hit 3");
    assert_eq!(
        get("/cached/b?ttl=300"),
        "origin said: hit 3",
        "the override's TTL"
    );
    let r = server.request("GET", "/cached/b?ttl=300", &[], b"");
    assert_ne!(r.header("x-age"), Some("none"), "a hit carries Age");
    // pass: the cached object is not used.
    assert_eq!(get("/cached/b?pass=1"), "origin said: hit 4");
    assert_eq!(hits.load(Ordering::SeqCst), 4);
}

#[test]
fn a_js_guests_simple_cache_and_core_cache_keep_what_they_stored() {
    let server = Server::start(&guest("js-app"), &[]);
    let get = |path: &str| {
        let r = server.request("GET", path, &[], b"");
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        r
    };
    let a = get("/simple-cache/k?value=first");
    assert_eq!(
        (a.text().as_str(), a.header("x-set-ran")),
        ("first", Some("true"))
    );
    let b = get("/simple-cache/k?value=second");
    assert_eq!(
        (b.text().as_str(), b.header("x-set-ran")),
        ("first", Some("false"))
    );
    let c = get("/simple-cache/k?value=third&purge=1");
    assert_eq!(
        (c.text().as_str(), c.header("x-set-ran")),
        ("third", Some("true"))
    );
    assert_eq!(server.request("GET", "/core-cache/x", &[], b"").status, 404);
    assert_eq!(get("/core-cache/x?value=stored").text(), "inserted");
    let found = get("/core-cache/x");
    assert_eq!(found.text(), "stored");
    assert_eq!(found.header("x-hits"), Some("1"));
}
