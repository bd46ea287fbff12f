//! The KV store through `fastly::kv_store::KVStore`, one route per operation:
//!
//! - `GET /kv/<store>/<key>`: the value (200), with `x-kv-metadata` and
//!   `x-kv-generation`; 404 `missing key <key>` on a miss.
//! - `POST` or `PUT /kv/<store>/<key>`: store the request body. Query: `mode=`
//!   (`overwrite`, `add`, `append`, `prepend`), `metadata=`, `ttl=` (seconds),
//!   `if_generation_match=`, `background_fetch=1`. 200 `ok`; 412 on a failed
//!   precondition, 413 when too large, 400 on a bad request.
//! - `DELETE /kv/<store>/<key>`: 200 `deleted`, 404 when missing.
//! - `GET /kv/<store>?prefix=&limit=&cursor=`: one page of keys, as JSON
//!   `{"keys":[…],"next_cursor":…,"prefix":…,"limit":…}`; `all=1` walks every page
//!   (`{"keys":[…],"pages":n}`).
//!
//! Every route takes `async=1`: the operation starts with the builder's
//! `execute_async` and is waited for with `pending_*_wait`. An unknown store is 404
//! `no KV store <store>`; other errors are 500 with the error in `x-kv-error`.
use fastly::http::Method;
use fastly::kv_store::{InsertMode, KVStore, KVStoreError};
use fastly::{Error, Request, Response};
use std::time::Duration;

#[fastly::main]
fn main(mut req: Request) -> Result<Response, Error> {
    let path = req.get_path().to_owned();
    let rest = match path.strip_prefix("/kv/") {
        Some(r) => r.to_owned(),
        None => {
            return Ok(Response::from_status(404).with_body(
                "try GET/POST/DELETE /kv/<store>/<key> or GET /kv/<store>?prefix=\n",
            ))
        }
    };
    let (store_name, key) = match rest.split_once('/') {
        Some((s, k)) => (s.to_owned(), Some(k.to_owned())),
        None => (rest, None),
    };
    let body = req.take_body_bytes();
    let q = |name: &str| req.get_query_parameter(name).map(str::to_owned);
    let is_async = q("async").as_deref() == Some("1");
    let store = match KVStore::open(&store_name) {
        Ok(Some(s)) => s,
        Ok(None) | Err(KVStoreError::StoreNotFound(_)) => {
            return Ok(Response::from_status(404).with_body(format!("no KV store {store_name}")))
        }
        Err(e) => return Ok(failed(e)),
    };
    let method = req.get_method().clone();
    Ok(match (method, key) {
        (Method::GET, None) => list(&store, &q),
        (Method::GET, Some(key)) => lookup(&store, &key, is_async),
        (Method::POST | Method::PUT, Some(key)) => insert(&store, &key, body, &q, is_async),
        (Method::DELETE, Some(key)) => {
            let result = if is_async {
                store
                    .build_delete()
                    .execute_async(&key)
                    .and_then(|h| store.pending_delete_wait(h))
            } else {
                store.delete(&key)
            };
            match result {
                Ok(()) => Response::from_status(200).with_body("deleted"),
                Err(KVStoreError::ItemNotFound) => missing(&key),
                Err(e) => failed(e),
            }
        }
        _ => Response::from_status(405).with_body("GET, POST, PUT or DELETE"),
    })
}

fn lookup(store: &KVStore, key: &str, is_async: bool) -> Response {
    let result = if is_async {
        store
            .build_lookup()
            .execute_async(key)
            .and_then(|h| store.pending_lookup_wait(h))
    } else {
        store.lookup(key)
    };
    match result {
        Ok(mut found) => {
            let mut resp = Response::from_status(200)
                .with_header("x-kv-generation", found.current_generation().to_string());
            if let Some(m) = found.metadata() {
                resp.set_header("x-kv-metadata", String::from_utf8_lossy(&m).into_owned());
            }
            resp.with_body(found.take_body_bytes())
        }
        Err(KVStoreError::ItemNotFound) => missing(key),
        Err(e) => failed(e),
    }
}

fn insert(
    store: &KVStore,
    key: &str,
    body: Vec<u8>,
    q: &dyn Fn(&str) -> Option<String>,
    is_async: bool,
) -> Response {
    let mut b = store.build_insert();
    let mode = match q("mode").as_deref() {
        None | Some("overwrite") => InsertMode::Overwrite,
        Some("add") => InsertMode::Add,
        Some("append") => InsertMode::Append,
        Some("prepend") => InsertMode::Prepend,
        Some(other) => return Response::from_status(400).with_body(format!("mode {other}?")),
    };
    b = b.mode(mode);
    let metadata = q("metadata");
    if let Some(m) = &metadata {
        b = b.metadata(m);
    }
    if let Some(ttl) = q("ttl").and_then(|t| t.parse().ok()) {
        b = b.time_to_live(Duration::from_secs(ttl));
    }
    if let Some(g) = q("if_generation_match").and_then(|g| g.parse().ok()) {
        b = b.if_generation_match(g);
    }
    if q("background_fetch").as_deref() == Some("1") {
        b = b.background_fetch();
    }
    let result = if is_async {
        b.execute_async(key, body)
            .and_then(|h| store.pending_insert_wait(h))
    } else {
        b.execute(key, body)
    };
    match result {
        Ok(()) => Response::from_status(200).with_body("ok"),
        Err(e @ KVStoreError::ItemPreconditionFailed) => status(412, e),
        Err(e @ KVStoreError::ItemPayloadTooLarge) => status(413, e),
        Err(e @ KVStoreError::ItemBadRequest) => status(400, e),
        Err(e) => failed(e),
    }
}

fn list(store: &KVStore, q: &dyn Fn(&str) -> Option<String>) -> Response {
    let mut b = store.build_list();
    if let Some(p) = q("prefix") {
        b = b.prefix(&p);
    }
    if let Some(l) = q("limit").and_then(|l| l.parse().ok()) {
        b = b.limit(l);
    }
    if let Some(c) = q("cursor") {
        b = b.cursor(&c);
    }
    if q("all").as_deref() == Some("1") {
        let mut keys = Vec::new();
        let mut pages = 0;
        for page in b.iter() {
            match page {
                Ok(p) => {
                    pages += 1;
                    keys.extend(p.into_keys());
                }
                Err(e) => return failed(e),
            }
        }
        let doc = serde_json::json!({ "keys": keys, "pages": pages });
        return Response::from_status(200).with_body(doc.to_string());
    }
    let page = if q("async").as_deref() == Some("1") {
        b.execute_async().and_then(|h| store.pending_list_wait(h))
    } else {
        b.execute()
    };
    match page {
        Ok(p) => {
            let doc = serde_json::json!({
                "keys": p.keys(),
                "next_cursor": p.next_cursor(),
                "prefix": p.prefix(),
                "limit": p.limit(),
            });
            Response::from_status(200).with_body(doc.to_string())
        }
        Err(e @ KVStoreError::ItemBadRequest) => status(400, e),
        Err(e) => failed(e),
    }
}

fn missing(key: &str) -> Response {
    Response::from_status(404).with_body(format!("missing key {key}"))
}

fn status(code: u16, e: KVStoreError) -> Response {
    Response::from_status(code)
        .with_header("x-kv-error", format!("{e:?}"))
        .with_body(format!("{e}"))
}

fn failed(e: KVStoreError) -> Response {
    status(500, e)
}
