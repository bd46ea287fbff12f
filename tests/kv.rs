//! End to end: the KV store as SDK guests see it (`tests/guests/src/bin/kv.rs` with
//! the `fastly` crate, `tests/js/app.js` with `fastly:kv-store`), through
//! `edgeplay request` (one execution, seeded from `fastly.toml`) and `edgeplay serve`
//! (one service: what a request writes, the next one reads).

mod common;
use common::*;
use serde_json::Value;

const TOML: &str = r#"
name = "kv-test"
[local_server.kv_stores]
store = [
  { key = "seeded", data = "hello", metadata = "meta-1" },
  { key = "p/1", data = "one" },
  { key = "p/2", data = "two" },
  { key = "p/3", data = "three" },
]
from_json = { file = "kv.json", format = "json" }
"#;

/// A `fastly.toml` with [`TOML`]'s stores; `from_json` is a Fastlike-style JSON file.
fn config() -> String {
    let json = temp_file(
        "kv.json",
        r#"{ "plain": "from json", "with_meta": { "body": "fastlike body", "metadata": "m2" } }"#,
    );
    let dir = json.parent().unwrap();
    let toml = dir.join("fastly.toml");
    std::fs::write(&toml, TOML).unwrap();
    toml.to_str().unwrap().to_string()
}

fn body(v: &Value) -> &str {
    v["body"]
        .as_str()
        .unwrap_or_else(|| panic!("body is not text: {v}"))
}

fn kv(cfg: &str, args: &[&str]) -> Value {
    let mut all = vec!["-C", cfg];
    all.extend_from_slice(args);
    request_json("kv", &all)
}

#[test]
fn request_reads_the_seeded_stores() {
    let cfg = config();
    let v = kv(&cfg, &["/kv/store/seeded"]);
    assert_eq!(
        (v["status"].as_u64(), body(&v)),
        (Some(200), "hello"),
        "{v}"
    );
    assert_eq!(header(&v, "x-kv-metadata"), Some("meta-1"));
    assert_eq!(header(&v, "x-kv-generation"), Some("1"));
    let v = kv(&cfg, &["/kv/from_json/with_meta?async=1"]);
    assert_eq!(body(&v), "fastlike body", "{v}");
    assert_eq!(header(&v, "x-kv-metadata"), Some("m2"));
    let v = kv(&cfg, &["/kv/from_json/plain"]);
    assert_eq!(body(&v), "from json");
    assert_eq!(header(&v, "x-kv-metadata"), None);
    let miss = kv(&cfg, &["/kv/store/nope"]);
    assert_eq!(
        (miss["status"].as_u64(), body(&miss)),
        (Some(404), "missing key nope")
    );
    let no_store = kv(&cfg, &["/kv/absent/k"]);
    assert_eq!(
        (no_store["status"].as_u64(), body(&no_store)),
        (Some(404), "no KV store absent")
    );
    // A key against the platform's rules (`;`) is the SDK's bad request.
    let bad = kv(&cfg, &["/kv/store/a;b"]);
    assert_eq!(bad["status"], 500, "{bad}");
    assert_eq!(header(&bad, "x-kv-error"), Some("ItemBadRequest"));
    let list = kv(&cfg, &["/kv/store?prefix=p/&limit=2"]);
    let doc: Value = serde_json::from_str(body(&list)).unwrap();
    assert_eq!(doc["keys"], serde_json::json!(["p/1", "p/2"]));
    assert_eq!(doc["next_cursor"], "cC8y");
    assert_eq!(doc["limit"], 2);
    assert_eq!(doc["prefix"], "p/");
}

#[test]
fn request_traces_every_kv_call_and_its_span() {
    let cfg = config();
    let v = kv(&cfg, &["/kv/store/seeded"]);
    let trace = v["trace"].as_array().unwrap();
    let call = |name: &str| {
        trace
            .iter()
            .find(|e| {
                e["kind"] == "hostcall" && e["module"] == "fastly_kv_store" && e["name"] == name
            })
            .unwrap_or_else(|| panic!("no {name} in {:?}", trace_calls(&v)))
    };
    let arg = |e: &Value, n: &str| {
        e["args"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a[0] == n)
            .map(|a| a[1]["value"].clone())
            .unwrap_or(Value::Null)
    };
    let result = |e: &Value, n: &str| {
        e["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a[0] == n)
            .map(|a| a[1]["value"].clone())
            .unwrap_or(Value::Null)
    };
    assert_eq!(arg(call("open"), "name"), "store");
    let lookup = call("lookup");
    assert_eq!(arg(lookup, "store_name"), "store");
    assert_eq!(arg(lookup, "key"), "seeded");
    let wait = call("lookup_wait_v2");
    assert_eq!(result(wait, "result"), "found");
    assert_eq!(result(wait, "generation"), 1);
    assert_eq!(result(wait, "metadata_len"), 6);
    let span = trace
        .iter()
        .find(|e| e["kind"] == "work" && e["module"] == "kv")
        .expect("a kv span");
    assert_eq!(span["name"], "store");
    assert_eq!(span["status"], "found");
    assert_eq!(arg(span, "op"), "lookup");
}

#[test]
fn serve_shares_the_store_between_requests() {
    let cfg = config();
    let server = Server::start(&guest("kv"), &["-C", &cfg]);
    let req =
        |method: &str, path: &str, body: &str| server.request(method, path, &[], body.as_bytes());
    let text = |r: &HttpResponse| (r.status, r.text());

    // A write in one request is read by the next, with its metadata and generation.
    let r = req("POST", "/kv/store/k?metadata=first&ttl=60", "v1");
    assert_eq!(text(&r), (200, "ok".into()));
    let r = req("GET", "/kv/store/k", "");
    assert_eq!(text(&r), (200, "v1".into()));
    assert_eq!(r.header("x-kv-metadata"), Some("first"));
    let generation: u64 = r.header("x-kv-generation").unwrap().parse().unwrap();
    assert!(generation >= 1, "{generation}");

    // Modes.
    let r = req("POST", "/kv/store/k?mode=add", "x");
    assert_eq!(r.status, 412, "{}", r.text());
    assert_eq!(r.header("x-kv-error"), Some("ItemPreconditionFailed"));
    assert_eq!(
        req("POST", "/kv/store/k?mode=append&async=1", "+2").status,
        200
    );
    assert_eq!(req("POST", "/kv/store/k?mode=prepend", "0+").status, 200);
    let r = req("GET", "/kv/store/k?async=1", "");
    assert_eq!(text(&r), (200, "0+v1+2".into()));
    assert_eq!(r.header("x-kv-metadata"), None, "the last write had none");

    // if_generation_match: a stale generation fails, the current one succeeds.
    let current = r.header("x-kv-generation").unwrap().to_string();
    let stale = format!("/kv/store/k?if_generation_match={generation}");
    assert_eq!(req("PUT", &stale, "nope").status, 412);
    let fresh = format!("/kv/store/k?if_generation_match={current}&background_fetch=1");
    assert_eq!(req("PUT", &fresh, "v3").status, 200);
    assert_eq!(text(&req("GET", "/kv/store/k", "")), (200, "v3".into()));
    // 0 means "only if absent".
    assert_eq!(
        req("PUT", "/kv/store/new?if_generation_match=0", "n").status,
        200
    );
    assert_eq!(
        req("PUT", "/kv/store/new?if_generation_match=0", "n").status,
        412
    );

    // Limits: metadata over 2000 bytes.
    let long = "m".repeat(2001);
    let r = req("POST", &format!("/kv/store/big?metadata={long}"), "v");
    assert_eq!(r.status, 413, "{}", r.text());

    // Listing: pages with a cursor, and every page.
    let r = req("GET", "/kv/store?prefix=p/&limit=2", "");
    let doc: Value = serde_json::from_str(&r.text()).unwrap();
    assert_eq!(doc["keys"], serde_json::json!(["p/1", "p/2"]));
    let cursor = doc["next_cursor"].as_str().unwrap().to_string();
    let r = req(
        "GET",
        &format!("/kv/store?prefix=p/&limit=2&cursor={cursor}&async=1"),
        "",
    );
    let doc: Value = serde_json::from_str(&r.text()).unwrap();
    assert_eq!(doc["keys"], serde_json::json!(["p/3"]));
    assert_eq!(doc["next_cursor"], Value::Null);
    let r = req("GET", "/kv/store?limit=2&all=1", "");
    let doc: Value = serde_json::from_str(&r.text()).unwrap();
    assert_eq!(
        doc["keys"],
        serde_json::json!(["k", "new", "p/1", "p/2", "p/3", "seeded"])
    );
    assert_eq!(doc["pages"], 3);
    let r = req("GET", "/kv/store?cursor=!!!", "");
    assert_eq!(r.status, 400, "{}", r.text());

    // Delete, then it is gone for the next request.
    assert_eq!(
        text(&req("DELETE", "/kv/store/k", "")),
        (200, "deleted".into())
    );
    assert_eq!(req("DELETE", "/kv/store/k?async=1", "").status, 404);
    assert_eq!(
        text(&req("GET", "/kv/store/k", "")),
        (404, "missing key k".into())
    );
    // Seeded keys can be deleted too; the seed is not re-applied.
    assert_eq!(req("DELETE", "/kv/store/seeded", "").status, 200);
    assert_eq!(req("GET", "/kv/store/seeded", "").status, 404);
}

#[test]
fn js_guest_gets_puts_lists_and_deletes() {
    let cfg = config();
    let js = |path: &str| request_json("js-app", &["-C", &cfg, path]);
    let v = js("/kv/store/seeded");
    assert_eq!(
        (v["status"].as_u64(), body(&v)),
        (Some(200), "hello"),
        "{v}"
    );
    assert_eq!(header(&v, "x-kv-metadata"), Some("meta-1"));
    let v = js("/kv/store/nope");
    assert_eq!(v["status"], 404, "{v}");
    // One execution: put with metadata and a TTL, get it back, list, delete.
    let v = js("/kv-roundtrip/store");
    assert_eq!(v["status"], 200, "{v}");
    let doc: Value = serde_json::from_str(body(&v)).unwrap();
    assert_eq!(doc["got"], "written by js");
    assert_eq!(doc["metadata"], "js-meta");
    assert_eq!(doc["list"], serde_json::json!(["js/a"]));
    assert_eq!(doc["cursor"], "anMvYQ==");
    assert_eq!(doc["after_delete"], Value::Null);
    let calls = trace_calls(&v);
    for c in [
        "fastly_kv_store::insert",
        "fastly_kv_store::list",
        "fastly_kv_store::delete",
    ] {
        assert!(calls.iter().any(|x| x == c), "trace lacks {c}: {calls:?}");
    }
}
