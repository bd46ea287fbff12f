//! Profiles out: `edgeplay request --profile FILE` and `serve --profile-dir DIR` write
//! Fastlike's profile JSON (checked against a schema written from Fastlike's Go
//! structs, `profile/profile_json.go`) and a Chrome/Perfetto trace with the guest's
//! functions as slices, fetches on their own tracks and counters for heap and fuel.

mod common;

use common::Server;
use serde::Deserialize;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

const EDGEPLAY: &str = env!("CARGO_BIN_EXE_edgeplay");

/// Fastlike's profile JSON, field for field as its Go structs encode it (`traceJSON`
/// and the structs it holds): a field Fastlike always writes is required here, one
/// it writes `omitempty` is optional, and no other field may appear. The Go types
/// map to Rust's: `int`/`int64`/`int32`/`uint*` to integers, `time.Time` to an RFC
/// 3339 string, pointers to options.
#[allow(dead_code)] // Fields are there to be checked, not read.
mod schema {
    use super::Deserialize;

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct Trace {
        pub req_id: u64,
        pub module_id: String,
        pub method: String,
        pub url: String,
        pub status: i64,
        pub wall_start: String,
        pub wall_nanos: i64,
        pub header_flush_nanos: Option<i64>,
        pub guest_active_nanos: i64,
        pub hostcall_nanos: i64,
        pub native_cpu_nanos: Option<i64>,
        pub hijacked_nanos: Option<i64>,
        pub spans: Vec<Span>,
        pub backend_calls: Vec<BackendCall>,
        pub native_samples: Option<Vec<NativeSample>>,
        pub dropped: i64,
        pub dropped_backend_calls: i64,
        pub outcome: String,
        pub notes: Option<Vec<String>>,
        pub deep: Option<Deep>,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct NativeSample {
        pub relative_nanos: i64,
        pub function: String,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct Span {
        pub name: String,
        pub start_nanos: i64,
        pub duration_nanos: i64,
        pub rc: i32,
        pub tag_slots: [i64; 4],
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct BackendCall {
        pub pending_id: u32,
        pub name: String,
        pub method: String,
        pub url_redacted: String,
        pub started_nanos: i64,
        pub dns_nanos: Option<i64>,
        pub connect_nanos: Option<i64>,
        pub tls_nanos: Option<i64>,
        pub ttfb_nanos: Option<i64>,
        pub total_nanos: i64,
        pub status: i64,
        pub req_header_bytes: i64,
        pub resp_header_bytes: i64,
        pub outcome: String,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct Deep {
        pub body_read_bytes: i64,
        pub body_write_bytes: i64,
        pub cache_lookups: i64,
        pub cache_inserts: i64,
        pub cache_hits: i64,
        pub cache_misses: i64,
        pub cache_stale: i64,
        pub request_headers: Option<Vec<HeaderSummary>>,
        pub response_headers: Option<Vec<HeaderSummary>>,
        pub heap_samples: Option<Vec<HeapSample>>,
        pub heap_samples_dropped: Option<i64>,
        pub store_access: Option<Vec<StoreAccess>>,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct HeaderSummary {
        pub name: String,
        pub count: i64,
        pub bytes: i64,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct HeapSample {
        pub relative_nanos: i64,
        pub memory_bytes: i64,
    }

    #[derive(Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    pub struct StoreAccess {
        pub kind: String,
        pub name: String,
        pub count: i64,
    }

    /// The outcomes Fastlike writes (`TraceOutcome.String`).
    pub const OUTCOMES: [&str; 5] = ["normal", "trap", "panic", "loop-fail", "ctx-canceled"];
    /// The backend outcomes Fastlike writes (`BackendOutcome.String`).
    pub const BACKEND_OUTCOMES: [&str; 6] = [
        "ok",
        "network-error",
        "synthetic-failure",
        "cancelled",
        "incomplete",
        "orphaned",
    ];
}

/// A guest with named functions: `$main` grows the heap by 1 MiB, `$fetch` sends a
/// request to the mock `origin` (answered 5 ms later) and `$main` sends its response
/// downstream.
const GUEST: &str = r#"(module
  (import "fastly_http_req" "new" (func $req_new (param i32) (result i32)))
  (import "fastly_http_body" "new" (func $body_new (param i32) (result i32)))
  (import "fastly_http_req" "send" (func $send (param i32 i32 i32 i32 i32 i32) (result i32)))
  (import "fastly_http_resp" "send_downstream" (func $resp_send (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 96) "origin")
  (func $fetch
    (drop (call $req_new (i32.const 8)))
    (drop (call $body_new (i32.const 12)))
    (if (call $send (i32.load (i32.const 8)) (i32.load (i32.const 12)) (i32.const 96) (i32.const 6)
          (i32.const 16) (i32.const 20))
      (then unreachable)))
  (func $main (export "_start")
    (drop (memory.grow (i32.const 16)))
    (call $fetch)
    (drop (call $resp_send (i32.load (i32.const 16)) (i32.load (i32.const 20)) (i32.const 0)))))"#;

/// The guest and its `fastly.toml` in a fresh directory.
fn files(name: &str) -> (PathBuf, PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("edgeplay-profile-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let wasm = dir.join("app.wasm");
    std::fs::write(&wasm, wat::parse_str(GUEST).unwrap()).unwrap();
    let toml = dir.join("fastly.toml");
    std::fs::write(
        &toml,
        "[local_server.backends.origin]\nmock = { status = 203, body = \"from the mock\", delay_ms = 5 }\n",
    )
    .unwrap();
    (dir, wasm, toml)
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{} was not written: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()))
}

/// The document parses as Fastlike's profile JSON and says what the run did: the
/// fetch went to the origin, or (`cached`) came from the readthrough cache.
fn assert_fastlike(doc: &serde_json::Value, status: i64, cached: bool) -> schema::Trace {
    let t: schema::Trace = serde_json::from_value(doc.clone())
        .unwrap_or_else(|e| panic!("not Fastlike's profile format: {e}\n{doc:#}"));
    assert!(
        schema::OUTCOMES.contains(&t.outcome.as_str()),
        "{}",
        t.outcome
    );
    assert_eq!(t.outcome, "normal");
    assert_eq!(t.status, status);
    assert_eq!(t.method, "GET");
    assert_eq!(t.module_id.len(), 16);
    assert!(
        t.wall_start.len() >= 20 && t.wall_start.ends_with('Z') && t.wall_start.contains('T'),
        "{}",
        t.wall_start
    );
    let names: Vec<&str> = t.spans.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["new", "new", "send", "send_downstream"]);
    assert!(t.spans.iter().all(|s| s.rc == 0 && s.duration_nanos >= 0));
    assert_eq!(t.backend_calls.len(), 1);
    let b = &t.backend_calls[0];
    assert_eq!((b.name.as_str(), b.status), ("origin", 203));
    assert!(schema::BACKEND_OUTCOMES.contains(&b.outcome.as_str()));
    assert!(t.wall_nanos >= t.guest_active_nanos + t.hostcall_nanos);
    let deep = t.deep.as_ref().expect("deep metrics");
    if cached {
        assert!(
            b.total_nanos < 5_000_000,
            "a hit does not wait for the mock: {b:?}"
        );
        assert_eq!((deep.cache_lookups, deep.cache_hits), (1, 1));
    } else {
        assert!(
            b.total_nanos >= 5_000_000,
            "the mock answers 5 ms later: {b:?}"
        );
        assert!(b.req_header_bytes > 0 && b.resp_header_bytes > 0, "{b:?}");
        assert_eq!((deep.cache_lookups, deep.cache_misses), (1, 1));
    }
    let heap = deep.heap_samples.as_ref().expect("a heap curve");
    assert_eq!(heap.first().unwrap().memory_bytes, 65536);
    assert_eq!(heap.last().unwrap().memory_bytes, 17 * 65536);
    t
}

/// The Chrome trace has the guest's functions as slices on their track, the fetch
/// on a track of its own, counters for heap and fuel, and (`waited`) the wait for
/// the fetch.
fn assert_chrome(doc: &serde_json::Value, waited: bool) {
    let evs = doc["traceEvents"].as_array().expect("traceEvents");
    let track = |name: &str| {
        evs.iter()
            .find(|e| e["ph"] == "M" && e["name"] == "thread_name" && e["args"]["name"] == name)
            .map(|e| e["tid"].as_u64().unwrap())
            .unwrap_or_else(|| panic!("no track {name:?}"))
    };
    let on = |tid: u64| -> Vec<&str> {
        evs.iter()
            .filter(|e| e["ph"] == "X" && e["tid"] == tid)
            .map(|e| e["name"].as_str().unwrap())
            .collect()
    };
    let functions = on(track("guest functions"));
    assert!(
        functions.contains(&"main") && functions.contains(&"fetch"),
        "{functions:?}"
    );
    assert_eq!(on(track("backend fetch 1")), ["backend::origin"]);
    assert!(on(track("guest")).contains(&"fastly_http_req::send"));
    let counters = |name: &str| {
        evs.iter()
            .filter(|e| e["ph"] == "C" && e["name"] == name)
            .map(|e| {
                e["args"]
                    .as_object()
                    .unwrap()
                    .values()
                    .next()
                    .unwrap()
                    .as_u64()
                    .unwrap()
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(counters("wasm heap").last(), Some(&(17 * 65536)));
    let fuel = counters("fuel");
    assert!(
        fuel.len() >= 4 && fuel.windows(2).all(|w| w[0] <= w[1]),
        "{fuel:?}"
    );
    assert_eq!(on(track("waiting on I/O")).len(), usize::from(waited));
    for e in evs {
        assert!(e["pid"].is_u64() && e["ph"].is_string(), "{e}");
        if e["ph"] == "X" {
            assert!(e["ts"].is_number() && e["dur"].is_number(), "{e}");
        }
    }
}

#[test]
fn request_profile_writes_fastlikes_json_and_a_chrome_trace() {
    let (dir, wasm, toml) = files("request");
    let file = dir.join("run.json");
    let out = Command::new(EDGEPLAY)
        .arg("request")
        .arg("-C")
        .arg(&toml)
        .arg("--profile")
        .arg(&file)
        .arg(&wasm)
        .arg("/profiled")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("HTTP/1.1 203"));
    let t = assert_fastlike(&read_json(&file), 203, false);
    assert_eq!(t.url, "http://127.0.0.1:7676/profiled");
    assert_chrome(&read_json(&dir.join("run.chrome.json")), true);
}

fn start_server(cwd: &Path, args: &[&std::ffi::OsStr]) -> Server {
    let mut cmd = Command::new(EDGEPLAY);
    cmd.current_dir(cwd)
        .arg("serve")
        .args(["--addr", "127.0.0.1:0"])
        .args(args);
    common::spawn_server(cmd)
}

fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: test.example\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    buf
}

/// Wait for the server to write `path` (after the response: the client does not wait
/// for it), and read it.
fn written(path: &Path) -> serde_json::Value {
    for _ in 0..300 {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(v) = serde_json::from_str(&text) {
                return v;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{} was not written", path.display())
}

#[test]
fn serve_profile_dir_keeps_one_profile_per_request() {
    let (dir, wasm, toml) = files("serve");
    let out = dir.join("profiles");
    let server = start_server(
        &dir,
        &[
            "-C".as_ref(),
            toml.as_os_str(),
            "--profile-dir".as_ref(),
            out.as_os_str(),
            wasm.as_os_str(),
        ],
    );
    for path in ["/one", "/two"] {
        assert!(get(server.addr, path).starts_with("HTTP/1.1 203"));
    }
    let id = |n: u64| format!("{n:032x}");
    for n in 0..2 {
        written(&out.join(format!("{}.chrome.json", id(n))));
    }
    let mut files: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            format!("{}.chrome.json", id(0)),
            format!("{}.json", id(0)),
            format!("{}.chrome.json", id(1)),
            format!("{}.json", id(1)),
        ]
    );
    // The second GET is answered by the readthrough cache (the mock's 203 is cacheable).
    for (n, path) in [(0, "/one"), (1, "/two")] {
        let t = assert_fastlike(
            &read_json(&out.join(format!("{}.json", id(n)))),
            203,
            n == 1,
        );
        assert_eq!(t.req_id, n);
        assert_eq!(t.url, format!("http://test.example{path}"));
        assert_chrome(
            &read_json(&out.join(format!("{}.chrome.json", id(n)))),
            n == 0,
        );
    }
}

#[test]
fn serve_takes_viceroys_profile_strategy_forms() {
    let (dir, wasm, toml) = files("strategy");
    let out = dir.join("guest-dir");
    let strategy = format!("guest,{}", out.display());
    // Viceroy's `--profile=guest,DIR`, and a bare `--profile` after the module.
    let server = start_server(
        &dir,
        &[
            "-C".as_ref(),
            toml.as_os_str(),
            wasm.as_os_str(),
            format!("--profile={strategy}").as_ref(),
        ],
    );
    assert!(get(server.addr, "/").starts_with("HTTP/1.1 203"));
    assert_fastlike(&written(&out.join(format!("{:032x}.json", 0))), 203, false);
    drop(server);
    let server = start_server(
        &dir,
        &[
            "-C".as_ref(),
            toml.as_os_str(),
            wasm.as_os_str(),
            "--profile".as_ref(),
        ],
    );
    // Its default directory is Viceroy's, where the server runs.
    assert!(get(server.addr, "/").starts_with("HTTP/1.1 203"));
    let file = dir
        .join("guest-profiles")
        .join(format!("{:032x}.chrome.json", 0));
    assert_chrome(&written(&file), true);
}
