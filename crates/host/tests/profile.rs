//! The run profile: heap curve, flame graph of the guest's functions, time split,
//! bytes per body handle, header summaries, and its two exports.

use edgeplay_host::driver::blocking;
use edgeplay_host::profile::{chrome, fastlike, Profile};
use edgeplay_host::{
    Capabilities, DownstreamRequest, Driver, Engine, ExecOptions, Platform, ServiceConfig,
};

/// A guest that grows its memory by 1 MiB three times, computing and writing 5 bytes
/// to a body after each step, then answers with that body.
const GROWER: &str = r#"(module
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (import "fastly_http_body" "write" (func $body_write (param i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "new" (func $resp_new (param i32) (result i32)))
  (import "fastly_http_resp" "send_downstream" (func $resp_send (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0x100) "hello")
  (func $spin (param $n i32)
    (loop $l
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (local.get $n))))
  (func $grow
    (drop (memory.grow (i32.const 16)))
    (call $spin (i32.const 1000))
    (drop (call $body_write (i32.load (i32.const 0x10)) (i32.const 0x100) (i32.const 5)
      (i32.const 0) (i32.const 0x20))))
  (func $work (call $grow) (call $grow) (call $grow))
  (func $start (export "_start")
    (drop (call $body_new (i32.const 0x10)))
    (call $work)
    (drop (call $resp_new (i32.const 0x14)))
    (drop (call $resp_send (i32.load (i32.const 0x14)) (i32.load (i32.const 0x10)) (i32.const 0)))))"#;

fn run(wat: &str, trace: bool) -> blocking::Ran {
    let engine = Engine::new(Platform::deterministic());
    let wasm = wat::parse_str(wat).expect("valid WAT");
    let guest = engine.load(&wasm).expect("loads");
    let mut req = DownstreamRequest::new("GET", "http://localhost/grow?x=1");
    req.headers.append("x-test", b"abc");
    req.headers.append("cookie", b"k=v");
    let opts = ExecOptions {
        trace,
        ..ExecOptions::default()
    };
    let driver = Driver::start(
        &engine,
        guest,
        ServiceConfig::default(),
        req,
        "0".repeat(32),
        opts,
        Capabilities::NATIVE,
    )
    .expect("starts");
    blocking::run(driver, blocking::refuse)
}

fn profile(ran: &blocking::Ran) -> &Profile {
    ran.profile.as_ref().expect("the guest ran")
}

#[test]
fn the_heap_curve_rises_as_the_guest_grows_its_memory() {
    let ran = run(GROWER, true);
    let p = profile(&ran);
    let sizes: Vec<u64> = p.heap.iter().map(|h| h.bytes).collect();
    assert_eq!(sizes.first(), Some(&65536), "{sizes:?}");
    assert!(sizes.windows(2).all(|w| w[0] <= w[1]), "{sizes:?}");
    assert_eq!(p.heap_max(), 65536 * 49, "{sizes:?}");
    assert!(
        p.heap.windows(2).all(|w| w[0].at_us <= w[1].at_us),
        "samples in time order"
    );
    // One sample per distinct size, plus the end.
    assert!(sizes.len() >= 4, "{sizes:?}");
}

#[test]
fn fuel_is_attributed_to_the_named_functions_on_the_stack() {
    let ran = run(GROWER, true);
    let p = profile(&ran);
    assert!(p.has_stacks && p.has_names);
    let node = |name: &str| {
        p.flame
            .iter()
            .find(|n| n.name == name)
            .unwrap_or_else(|| panic!("no {name} in {:?}", p.flame))
    };
    let (root, start, work, grow) = (node("all"), node("start"), node("work"), node("grow"));
    assert_eq!(
        (root.depth, start.depth, work.depth, grow.depth),
        (0, 1, 2, 3)
    );
    assert_eq!(root.fuel, p.fuel, "the root holds all the fuel");
    // `spin` never calls the host: its loops count for `grow`, which does.
    assert!(p.flame.iter().all(|n| n.name != "spin"));
    assert!(grow.self_fuel > 3 * 1000, "{grow:?}");
    assert!(work.fuel >= grow.fuel && start.fuel >= work.fuel);
    assert!(grow.start >= work.start && grow.start + grow.fuel <= work.start + work.fuel);
    // The same functions over time, nested by depth.
    let slice = |name: &str| p.slices.iter().find(|s| s.name == name).unwrap();
    assert_eq!(slice("start").depth, 0);
    assert_eq!(slice("grow").depth, 2);
    assert!(slice("work").start_us <= slice("grow").start_us);
    assert_eq!(p.slices.iter().filter(|s| s.name == "grow").count(), 1);
}

#[test]
fn time_bodies_and_headers_are_summed() {
    let ran = run(GROWER, true);
    let p = profile(&ran);
    let t = p.time;
    assert!(t.wall_us > 0.0);
    assert!(
        (t.guest_us + t.hostcall_us + t.io_wait_us - t.wall_us).abs() < 1e-6,
        "{t:?}"
    );
    assert_eq!(t.io_wait_us, 0.0, "nothing to wait for");
    assert_eq!(p.outcome, "normal");
    assert_eq!(p.status, Some(200));
    assert_eq!(p.hostcalls, 6);
    assert_eq!(p.bodies.len(), 1, "{:?}", p.bodies);
    let b = &p.bodies[0];
    assert_eq!((b.writes, b.bytes_written), (3, 15));
    assert_eq!(b.origin.as_deref(), Some("fastly_http_body::new"));
    let req = p
        .headers
        .iter()
        .find(|h| h.what == "downstream request")
        .unwrap();
    // `host` (from the URL), `x-test` and `cookie`: names and values.
    assert_eq!((req.count, req.bytes), (3, 4 + 9 + 6 + 3 + 6 + 3));
    assert!(p.headers.iter().any(|h| h.what == "downstream response"));
}

#[test]
fn an_untraced_run_profiles_nothing_per_call() {
    let ran = run(GROWER, false);
    let p = profile(&ran);
    assert!(p.flame.is_empty() && p.slices.is_empty() && p.heap.is_empty());
    assert_eq!(p.hostcalls, 0);
}

#[test]
fn a_module_without_names_is_profiled_by_function_index() {
    // No `$names`: the text format gives the module no name section.
    let ran = run(
        r#"(module
          (import "fastly_http_body" "new" (func (param i32) (result i32)))
          (import "fastly_http_body" "write" (func (param i32 i32 i32 i32 i32) (result i32)))
          (memory (export "memory") 1)
          (func (drop (call 1 (i32.load (i32.const 0x10)) (i32.const 0) (i32.const 0)
            (i32.const 0) (i32.const 0x20))))
          (func (export "_start") (drop (call 0 (i32.const 0x10))) (call 2)))"#,
        true,
    );
    let p = profile(&ran);
    assert!(!p.has_names);
    let names: Vec<&str> = p.flame.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["all", "func[3]", "func[2]"]);
}

#[test]
fn the_fastlike_export_has_spans_deep_metrics_and_redacted_headers() {
    let ran = run(GROWER, true);
    let p = profile(&ran);
    let f = fastlike::to_fastlike(p, &ran.trace);
    assert_eq!(f.req_id, 0);
    assert_eq!(f.method, "GET");
    assert_eq!(f.status, 200);
    assert_eq!(f.outcome, "normal");
    assert_eq!(f.spans.len(), 6);
    assert_eq!(f.spans[1].name, "write");
    assert_eq!(f.module_id.len(), 16);
    let deep = f.deep.as_ref().unwrap();
    assert_eq!(deep.body_write_bytes, 15);
    let names: Vec<&str> = deep
        .request_headers
        .iter()
        .map(|h| h.name.as_str())
        .collect();
    assert_eq!(names, ["Host", "X-Test", "<redacted>"]);
    assert_eq!(deep.heap_samples.last().unwrap().memory_bytes, 65536 * 49);
    assert!(f.wall_start.ends_with('Z'));
}

#[test]
fn the_chrome_export_has_function_slices_and_counters() {
    let ran = run(GROWER, true);
    let p = profile(&ran);
    let doc = chrome::to_chrome(p, &ran.trace);
    let evs = doc["traceEvents"].as_array().unwrap();
    let funcs: Vec<&str> = evs
        .iter()
        .filter(|e| e["ph"] == "X" && e["tid"] == chrome::FUNCTIONS_TID)
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        funcs.contains(&"grow") && funcs.contains(&"start"),
        "{funcs:?}"
    );
    let counter = |name: &str| {
        evs.iter()
            .filter(|e| e["ph"] == "C" && e["name"] == name)
            .count()
    };
    assert!(counter("wasm heap") >= 4);
    assert!(counter("fuel") >= 6);
    assert!(evs
        .iter()
        .any(|e| e["ph"] == "M" && e["args"]["name"] == "guest functions"));
    assert_eq!(doc["otherData"]["edgeplay.wasm_heap_max_bytes"], 65536 * 49);
}
