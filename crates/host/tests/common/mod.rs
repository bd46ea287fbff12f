//! A synchronous test driver: runs a guest to the end, completing outside work one
//! piece at a time (sleeps finish immediately; fetches are answered by an origin
//! closure, or refused), and collects what a user would see.
#![allow(dead_code)]

use edgeplay_host::driver::blocking;
use edgeplay_host::{
    Collected, DownstreamRequest, Driver, Engine, ExecOptions, Execution, Exit, FetchRequest,
    FinalResponse, Outcome, Platform, Service, ServiceConfig, TraceEvent, Work, WorkResult,
};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

/// `fastly_status` codes, as the ABI numbers them.
pub const OK: i32 = 0;
pub const ERROR: i32 = 1;
pub const INVAL: i32 = 2;
pub const BADF: i32 = 3;
pub const BUFLEN: i32 = 4;
pub const UNSUPPORTED: i32 = 5;
pub const HTTPINVALID: i32 = 7;
pub const HTTPINCOMPLETE: i32 = 9;
pub const NONE: i32 = 10;
pub const LIMITEXCEEDED: i32 = 13;
pub const AGAIN: i32 = 14;

/// WAT for the guests that report through a byte log (after their imports, which must
/// include `$resp_new`, `$body_new`, `$body_write` and `$resp_send`): two pages of
/// memory, the log at 0x8000 and the helpers that fill and send it.
pub const BYTE_LOG: &str = r#"
  (memory (export "memory") 2)
  (global $rp (mut i32) (i32.const 0x8000))
  ;; Append an i32 to the log.
  (func $rec (param $v i32)
    (i32.store (global.get $rp) (local.get $v))
    (global.set $rp (i32.add (global.get $rp) (i32.const 4))))
  ;; Append the i32 at an address.
  (func $rec_at (param $p i32) (call $rec (i32.load (local.get $p))))
  ;; Append the u16 at an address.
  (func $rec_u16_at (param $p i32) (call $rec (i32.load16_u (local.get $p))))
  ;; Append the low half of the i64 at an address (a cursor: -1 stays -1).
  (func $rec_i64_at (param $p i32) (call $rec (i32.wrap_i64 (i64.load (local.get $p)))))
  ;; Append raw bytes.
  (func $rec_bytes (param $p i32) (param $n i32)
    (memory.copy (global.get $rp) (local.get $p) (local.get $n))
    (global.set $rp (i32.add (global.get $rp) (local.get $n))))
  ;; Send the log as the body of a 200 response.
  (func $finish
    (drop (call $resp_new (i32.const 0x7f00)))
    (drop (call $body_new (i32.const 0x7f04)))
    (drop (call $body_write (i32.load (i32.const 0x7f04)) (i32.const 0x8000)
      (i32.sub (global.get $rp) (i32.const 0x8000)) (i32.const 0) (i32.const 0x7f08)))
    (drop (call $resp_send (i32.load (i32.const 0x7f00)) (i32.load (i32.const 0x7f04)) (i32.const 0))))
"#;

/// WAT for one page of memory and a `$print` helper that writes `len` bytes at `ptr` to
/// stdout (iovec at 0, nwritten at 8); it follows the imports, which must include
/// `$fd_write`.
pub const PRINT: &str = r#"
  (memory (export "memory") 1)
  (func $print (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)) (then unreachable)))
"#;

/// Bytes as little-endian i32 words (a short last word is zero-padded).
pub fn le_words(bytes: &[u8]) -> Vec<i32> {
    bytes
        .chunks(4)
        .map(|c| {
            let mut w = [0u8; 4];
            w[..c.len()].copy_from_slice(c);
            i32::from_le_bytes(w)
        })
        .collect()
}

/// WAT that traps unless `call` returns `code`.
pub fn expect(call: &str, code: i32) -> String {
    format!("(if (i32.ne {call} (i32.const {code})) (then unreachable))\n")
}

/// A `GET` request for `url`.
pub fn get(url: &str) -> DownstreamRequest {
    DownstreamRequest::new("GET", url)
}

/// A service configuration from `fastly.toml` text (no files).
pub fn config(toml: &str) -> ServiceConfig {
    ServiceConfig::from_toml_str(toml, "fastly.toml", &|p| Err(format!("no file {p}")))
        .expect("valid config")
}

/// The repository root (this crate is `crates/host`).
pub fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize().unwrap_or(root)
}

/// The cargo target dir the tests were built in: `CARGO_TARGET_DIR`, else derived
/// from the test executable (`.../target/debug/deps/<test>` → `.../target`).
pub fn target_dir() -> PathBuf {
    if let Ok(t) = std::env::var("CARGO_TARGET_DIR") {
        return PathBuf::from(t);
    }
    let exe = std::env::current_exe().expect("test executable path");
    exe.ancestors().nth(3).expect("target dir").to_path_buf()
}

/// Where `scripts/build-guests.sh` puts the SDK guests of `tests/guests`:
/// `$EDGEPLAY_GUESTS`, else `<cargo target dir>/guests/wasm`. The first call in a test
/// binary runs the script (`--rust-only`: these tests need no JS guest), which builds
/// what is missing or stale; a failed build fails every test that needs a guest.
pub fn guests_dir() -> &'static Path {
    static DIR: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let built = DIR.get_or_init(|| {
        let dir = std::env::var("EDGEPLAY_GUESTS")
            .map(PathBuf::from)
            .unwrap_or_else(|_| target_dir().join("guests").join("wasm"));
        let script = repo_root().join("scripts/build-guests.sh");
        let out = Command::new("bash")
            .arg(&script)
            .arg("--rust-only")
            .env("EDGEPLAY_GUESTS", &dir)
            .env("CARGO_TARGET_DIR", target_dir())
            .output()
            .map_err(|e| format!("could not run {}: {e}", script.display()))?;
        if !out.status.success() {
            return Err(format!(
                "{} --rust-only failed ({}); the SDK guests need cargo and the wasm32-wasip1 \
                 target (`rustup target add wasm32-wasip1`).\n{}",
                script.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(dir)
    });
    match built {
        Ok(dir) => dir,
        Err(why) => panic!("building the SDK guests failed: {why}"),
    }
}

/// The SDK guest `name` of `tests/guests` (built on first use; see [`guests_dir`]).
pub fn sdk_guest(name: &str) -> Vec<u8> {
    let path = guests_dir().join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "SDK guest {} is missing after scripts/build-guests.sh ({e}): is `{name}` a \
             binary of tests/guests?",
            path.display()
        )
    })
}

/// Run the SDK guest `name` (default configuration) on `req`.
pub fn run_sdk(name: &str, req: DownstreamRequest) -> Run {
    run_wasm(&engine(), &sdk_guest(name), ServiceConfig::default(), req)
}

/// The trace, one summary line per event (with its note, if any).
pub fn summaries(run: &Run) -> String {
    run.trace
        .iter()
        .map(|e| match &e.note {
            Some(n) => format!("{}  // {n}", e.summary()),
            None => e.summary(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Status names of every call of `module::name` in `trace`, in order.
pub fn statuses(trace: &[TraceEvent], qualified: &str) -> Vec<String> {
    trace
        .iter()
        .filter(|e| e.qualified_name() == qualified)
        .map(|e| e.status.as_deref().unwrap_or("").to_string())
        .collect()
}

/// The expected log of a [`BYTE_LOG`] guest: i32s (little-endian) and raw bytes, in
/// the order the guest appends them.
#[derive(Default)]
pub struct Log(pub Vec<u8>);

impl Log {
    /// An i32, as `$rec` appends it.
    pub fn i(mut self, v: i32) -> Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    /// Several i32s.
    pub fn words(self, vs: &[i32]) -> Self {
        vs.iter().fold(self, |log, &v| log.i(v))
    }
    /// Raw bytes, as `$rec_bytes` appends them.
    pub fn b(mut self, bytes: &[u8]) -> Self {
        self.0.extend_from_slice(bytes);
        self
    }
}

/// Compare a [`BYTE_LOG`] guest's log (its response body) with the expected one,
/// showing both readably, and the trace, on failure.
pub fn assert_log(run: &Run, expected: Log) {
    assert!(
        run.outcome.exit.is_success(),
        "guest failed: {:?}\ntrace:\n{}",
        run.outcome.exit,
        summaries(run)
    );
    let got = &run.response.body;
    if *got != expected.0 {
        panic!(
            "log differs\n got: {:?}\n     {:?}\nwant: {:?}\n     {:?}\ntrace:\n{}",
            le_words(got),
            String::from_utf8_lossy(got),
            le_words(&expected.0),
            String::from_utf8_lossy(&expected.0),
            summaries(run)
        );
    }
}

/// The guest returned normally (the trace is shown when it did not).
pub fn assert_returned(run: &Run) {
    assert_eq!(
        run.outcome.exit,
        Exit::Returned,
        "trace:\n{}",
        summaries(run)
    );
}

/// What one request produced.
pub struct Run {
    pub collected: Collected,
    pub outcome: Outcome,
    pub trace: Vec<TraceEvent>,
    pub response: FinalResponse,
    /// Every fetch the driver was asked to perform, in the order it was asked.
    pub fetches: Vec<FetchRequest>,
    /// What the execution used of the platform's limits, at its end.
    pub usage: edgeplay_host::limits::Usage,
}

impl Run {
    /// Trace events of one hostcall, `module::name`.
    pub fn calls(&self, qualified: &str) -> Vec<&TraceEvent> {
        self.trace
            .iter()
            .filter(|e| e.qualified_name() == qualified)
            .collect()
    }
    /// Status names of every call of `module::name`, in order.
    pub fn statuses(&self, qualified: &str) -> Vec<String> {
        statuses(&self.trace, qualified)
    }
    /// The status name of the first call of `module::name`.
    pub fn status_of(&self, qualified: &str) -> Option<String> {
        self.calls(qualified)
            .first()
            .and_then(|e| e.status.as_ref().map(|s| s.to_string()))
    }
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.response.body).into_owned()
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.collected.stdout).into_owned()
    }
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.collected.stderr).into_owned()
    }
    /// The named-endpoint log lines, as `(endpoint, line)`.
    pub fn logs(&self) -> Vec<(&str, &str)> {
        self.collected
            .logs
            .iter()
            .map(|l| (l.endpoint.as_str(), l.line.as_str()))
            .collect()
    }
    /// What a run of `exec` that ended with `outcome` produced.
    pub fn finish(
        exec: &mut Execution,
        collected: Collected,
        outcome: Outcome,
        fetches: Vec<FetchRequest>,
    ) -> Run {
        let trace = exec.take_trace();
        let response = collected.final_response(&outcome);
        Run {
            collected,
            outcome,
            trace,
            response,
            fetches,
            usage: exec.usage(),
        }
    }
}

pub fn engine() -> Engine {
    Engine::new(Platform::deterministic())
}

/// Run WAT text with the default config.
pub fn run_wat(wat: &str, req: DownstreamRequest) -> Run {
    let wasm = wat::parse_str(wat).expect("valid WAT");
    run_wasm(&engine(), &wasm, ServiceConfig::default(), req)
}

/// Run a wasm module to the end.
pub fn run_wasm(
    engine: &Engine,
    wasm: &[u8],
    config: ServiceConfig,
    req: DownstreamRequest,
) -> Run {
    run_with(engine, wasm, config, req, ExecOptions::default())
}

/// Run with explicit options (fetches are refused: the test driver has no network).
pub fn run_with(
    engine: &Engine,
    wasm: &[u8],
    config: ServiceConfig,
    req: DownstreamRequest,
    opts: ExecOptions,
) -> Run {
    run_with_origin(engine, wasm, config, req, opts, refuse)
}

/// Run with fetches answered by `origin`, completing outside work first come, first
/// served.
pub fn run_with_origin(
    engine: &Engine,
    wasm: &[u8],
    config: ServiceConfig,
    req: DownstreamRequest,
    opts: ExecOptions,
    origin: impl FnMut(&FetchRequest) -> WorkResult,
) -> Run {
    run_driven(engine, wasm, config, req, opts, origin, |_| 0)
}

/// The most general driver: fetches are answered by `origin`; whenever the guest waits
/// (or yields with work outstanding), `pick` chooses which outstanding piece of work
/// finishes next (an index into the list, in the order the work was started), so a
/// test can complete work in any order. An index past the end finishes nothing when
/// the guest only yielded, and the last piece when it waits.
pub fn run_driven(
    engine: &Engine,
    wasm: &[u8],
    service: impl Into<Service>,
    req: DownstreamRequest,
    opts: ExecOptions,
    origin: impl FnMut(&FetchRequest) -> WorkResult,
    pick: impl FnMut(&[Work]) -> usize,
) -> Run {
    let guest = engine.load(wasm).expect("guest loads");
    let driver = Driver::start(
        engine,
        guest,
        service,
        req,
        "0".repeat(32),
        opts,
        blocking::CAPABILITIES,
    )
    .expect("guest instantiates");
    let ran = blocking::run_picking(driver, origin, pick);
    let mut collected = Collected::default();
    collected.absorb(ran.outputs);
    let response = collected.final_response(&ran.outcome);
    Run {
        collected,
        outcome: ran.outcome,
        trace: ran.trace,
        response,
        fetches: ran.fetches,
        usage: ran.usage,
    }
}

/// Load `wasm` and start an execution of it (request id `0` × 32).
pub fn start(
    engine: &Engine,
    wasm: &[u8],
    config: ServiceConfig,
    req: DownstreamRequest,
    opts: ExecOptions,
) -> Execution {
    let guest = engine.load(wasm).expect("guest loads");
    Execution::new(engine, guest, Arc::new(config), req, "0".repeat(32), opts)
        .expect("guest instantiates")
}

/// The default origin: nothing is reachable unless a test answers fetches itself.
pub fn refuse(req: &FetchRequest) -> WorkResult {
    blocking::refuse(req)
}

/// The backend trace events of `run` (fetches, and requests the cache answered).
pub fn backend_events(run: &Run) -> Vec<&edgeplay_host::trace::TraceEvent> {
    run.trace.iter().filter(|e| e.module == "backend").collect()
}

/// The `cache` outcome of each backend event of `run`, in order (`-` for none).
pub fn outcomes(run: &Run) -> Vec<String> {
    backend_events(run)
        .iter()
        .map(|e| {
            e.args
                .iter()
                .find(|(k, _)| k == "cache")
                .map(|(_, v)| match v {
                    edgeplay_host::trace::ArgValue::Enum(s) => s.clone(),
                    other => format!("{other:?}"),
                })
                .unwrap_or_else(|| "-".into())
        })
        .collect()
}
