//! What the KV store costs: lookup and insert latency through the ABI (a WAT guest
//! doing 10,000 of them in one execution) and directly through the engine, and listing
//! a store of 10,000 keys.
//!
//! `cargo bench -p edgeplay-host --bench kv`.

mod common;

use edgeplay_host::kv::{self, InsertOptions, ListOptions};

use edgeplay_host::{
    Engine, MemoryStorage, Platform, Service, ServiceConfig, SharedStorage, Storage,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

const KEYS: usize = 10_000;
const NOW: u64 = 1_767_225_600_000_000_000;

fn key(i: usize) -> String {
    format!("key-{i:05}")
}

/// A store `bench` of [`KEYS`] keys with 100-byte values.
fn filled() -> MemoryStorage {
    let mut st = MemoryStorage::new();
    let value = [b'v'; 100];
    for i in 0..KEYS {
        kv::insert(
            &mut st,
            "bench",
            &key(i),
            &value,
            &InsertOptions::default(),
            NOW,
        )
        .unwrap();
    }
    st.take_journal();
    st
}

fn per_op(d: Duration, ops: usize) -> String {
    format!("{:.2} µs", d.as_secs_f64() * 1e6 / ops as f64)
}

/// A guest that does `n` operations in a loop: `lookup` + `lookup_wait_v2` of
/// `key-00000`…, or `insert` + `insert_wait` of a 100-byte body (`insert = true`).
fn guest(n: usize, insert: bool) -> Vec<u8> {
    let op = if insert {
        r#"
        (drop (call $body_new (i32.const 0x1020)))
        (drop (call $body_write (i32.load (i32.const 0x1020)) (i32.const 0x2000) (i32.const 100) (i32.const 0) (i32.const 0x1024)))
        (if (call $insert (i32.load (i32.const 0x1000)) (i32.const 0x200) (i32.const 9)
              (i32.load (i32.const 0x1020)) (i32.const 0) (i32.const 0x3000) (i32.const 0x1004))
          (then unreachable))
        (if (call $insert_wait (i32.load (i32.const 0x1004)) (i32.const 0x1018)) (then unreachable))"#
    } else {
        r#"
        (if (call $lookup (i32.load (i32.const 0x1000)) (i32.const 0x200) (i32.const 9) (i32.const 0) (i32.const 0) (i32.const 0x1004))
          (then unreachable))
        (if (call $lookup_wait (i32.load (i32.const 0x1004)) (i32.const 0x1008) (i32.const 0x2000) (i32.const 2000)
              (i32.const 0x100c) (i32.const 0x1010) (i32.const 0x1018))
          (then unreachable))"#
    };
    let wat = format!(
        r#"(module
  (import "fastly_kv_store" "open" (func $open (param i32 i32 i32) (result i32)))
  (import "fastly_kv_store" "lookup" (func $lookup (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_kv_store" "lookup_wait_v2" (func $lookup_wait (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_kv_store" "insert" (func $insert (param i32 i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_kv_store" "insert_wait" (func $insert_wait (param i32 i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (import "fastly_http_body" "write" (func $body_write (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0x100) "bench")
  (data (i32.const 0x200) "key-00000")
  ;; Step the 5-digit key at 0x204 to the next number (mod 10,000).
  (func $next (local $p i32) (local $c i32)
    (local.set $p (i32.const 0x208))
    (block $done (loop $carry
      (local.set $c (i32.add (i32.load8_u (local.get $p)) (i32.const 1)))
      (if (i32.le_u (local.get $c) (i32.const 57))
        (then (i32.store8 (local.get $p) (local.get $c)) (br $done)))
      (i32.store8 (local.get $p) (i32.const 48))
      (local.set $p (i32.sub (local.get $p) (i32.const 1)))
      (br_if $carry (i32.gt_u (local.get $p) (i32.const 0x204))))))
  (func (export "_start") (local $i i32)
    (if (call $open (i32.const 0x100) (i32.const 5) (i32.const 0x1000)) (then unreachable))
    (loop $l
      {op}
      (call $next)
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const {n}))))))"#
    );
    wat::parse_str(wat).expect("valid WAT")
}

/// Run `wasm` once against `service`; its run time.
fn run(engine: &Engine, wasm: &[u8], service: &Service) -> Duration {
    let (t, o, _) = common::run_guest(engine, wasm, service.clone(), "/", common::opts(false));
    assert_eq!(o.exit, edgeplay_host::Exit::Returned, "{o:?}");
    t
}

fn main() {
    let mut config = ServiceConfig::default();
    config.kv_stores.insert(
        "bench".into(),
        edgeplay_host::config::KvStoreConfig::default(),
    );
    let config = Arc::new(config);
    let engine = Engine::new(Platform::deterministic());
    let n = KEYS;

    println!("KV store benchmark ({KEYS} keys, 100-byte values; medians)");
    println!("| measurement | result |");
    println!("|---|---:|");

    // Through the ABI: one execution doing n operations (load excluded).
    let service = Service::with_state(config.clone(), SharedStorage::new(filled()));
    let lookups = guest(n, false);
    let inserts = guest(n, true);
    let empty = guest(0, false);
    let base = common::median_of(|| run(&engine, &empty, &service), 15);
    let d = common::median_of(|| run(&engine, &lookups, &service).saturating_sub(base), 9);
    println!(
        "| ABI: `lookup` + `lookup_wait_v2` (hit), per operation | {} |",
        per_op(d, n)
    );
    let d = common::median_of(|| run(&engine, &inserts, &service).saturating_sub(base), 9);
    println!(
        "| ABI: `body new+write` + `insert` + `insert_wait` (overwrite), per operation | {} |",
        per_op(d, n)
    );

    // The engine alone.
    let mut st = filled();
    let d = common::median_of(
        || {
            let t = Instant::now();
            for i in 0..n {
                let e = kv::lookup(&st, "bench", &key(i), NOW).unwrap();
                assert!(e.is_some());
            }
            t.elapsed()
        },
        9,
    );
    println!(
        "| engine: `kv::lookup` (hit), per operation | {} |",
        per_op(d, n)
    );
    let value = [b'w'; 100];
    let d = common::median_of(
        || {
            let t = Instant::now();
            for i in 0..n {
                kv::insert(
                    &mut st,
                    "bench",
                    &key(i),
                    &value,
                    &InsertOptions::default(),
                    NOW,
                )
                .unwrap();
            }
            let t = t.elapsed();
            st.take_journal();
            t
        },
        9,
    );
    println!(
        "| engine: `kv::insert` (overwrite), per operation | {} |",
        per_op(d, n)
    );

    // What every execution pays to check that the configured seed is applied.
    let mut seeded = ServiceConfig::default();
    let mut store = edgeplay_host::config::KvStoreConfig::default();
    for i in 0..KEYS {
        store.entries.insert(
            key(i),
            edgeplay_host::config::KvEntryConfig {
                value: vec![b'v'; 100],
                metadata: None,
            },
        );
    }
    seeded.kv_stores.insert("bench".into(), store);
    let seeded = Arc::new(seeded);
    let mut seeded_state = MemoryStorage::new();
    edgeplay_host::seed::seed_once(&seeded, &mut seeded_state);
    let d = common::median_of(
        || {
            let t = Instant::now();
            let again = edgeplay_host::seed::seed_once(&seeded, &mut seeded_state);
            assert!(again.is_empty());
            t.elapsed()
        },
        15,
    );
    println!(
        "| seed check at execution start, {KEYS} configured keys (already applied) | {:.2} µs |",
        d.as_secs_f64() * 1e6
    );

    // Listing every key: pages of 1000 (the default limit), following the cursor.
    let mut pages = 0;
    let d = common::median_of(
        || {
            let t = Instant::now();
            let mut cursor = None;
            let mut seen = 0;
            pages = 0;
            loop {
                let o = ListOptions {
                    cursor: cursor.take(),
                    ..ListOptions::default()
                };
                let page = kv::list(&st, "bench", &o, NOW).unwrap();
                seen += page.keys.len();
                pages += 1;
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            assert_eq!(seen, KEYS);
            t.elapsed()
        },
        15,
    );
    println!(
        "| engine: list all {KEYS} keys ({pages} pages of 1000) | {:.2} ms |",
        d.as_secs_f64() * 1e3
    );
    let d = common::median_of(
        || {
            let t = Instant::now();
            let page = kv::list(&st, "bench", &ListOptions::default(), NOW).unwrap();
            let json = page.to_json();
            assert!(json.len() > 1000);
            t.elapsed()
        },
        15,
    );
    println!(
        "| engine: one page of 1000 keys, with its JSON | {:.2} ms |",
        d.as_secs_f64() * 1e3
    );
}
