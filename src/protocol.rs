//! The messages between the UI thread and the web worker that runs the guest.
//!
//! Both sides are Rust: a message is a serde value, turned into a JS value with
//! `serde-wasm-bindgen` ([`crate::bridge`] on the UI side, [`crate::worker`] in the
//! worker) and moved with `postMessage`. Bytes travel as `Uint8Array`s
//! (`serde_bytes`), not as arrays of numbers.

use crate::tap::LeftOut;
use edgeplay_host::engine::GuestInfo;
use edgeplay_host::exec::Outcome;
use edgeplay_host::fiddle::Recording;
use edgeplay_host::http::ResponseHead;
use edgeplay_host::step::{Breakpoint, PendingCall, StepPolicy};
use edgeplay_host::{Output, TraceEvent};
use serde::{Deserialize, Serialize};

/// What the UI asks of the worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ToWorker {
    /// Load (validate, compile, link) a guest; it replaces the current one.
    Load {
        /// Chosen by the UI; the answer carries it.
        load_id: u32,
        /// File name, for messages.
        name: String,
        /// The `.wasm` bytes.
        #[serde(with = "serde_bytes")]
        wasm: Vec<u8>,
    },
    /// Run one downstream request against the loaded guest.
    Run(RunRequest),
    /// Ask about or change the service state (the Stores panel); answered by
    /// [`FromWorker::StoreReply`] with the same `req_id`.
    Store {
        /// Chosen by the UI.
        req_id: u32,
        /// What to do.
        op: StoreOp,
    },
    /// Answer the backend fetches of the runs that follow from these recordings
    /// (`crate::tap`): one replayer for all of them, so a fiddle's N requests replay
    /// its exchanges in the recorded order, as `edgeplay test --replay` does. Each
    /// `Replay` starts over from the first recording; `None` goes back to the
    /// network. `Some(vec![])` replays nothing: every fetch fails.
    Replay {
        /// The recordings, in the order they were made (`None`: stop replaying).
        recordings: Option<Vec<Recording>>,
    },
    /// Fetch and compile the JS SDK's engine (`engine/fastly.wasm`) now, in the
    /// background, if it is not already: answered by [`FromWorker::EngineReady`] (or
    /// `EngineFailed`). Every build keeps using it.
    PrepareEngine,
    /// Build JavaScript source with the engine (`crate::jsbuild_tab::Builder`): the
    /// build becomes the current guest (runs start from its snapshot). Answered by
    /// [`FromWorker::Built`] or [`FromWorker::BuildFailed`] with the same `build_id`.
    BuildJs {
        /// Chosen by the UI.
        build_id: u32,
        /// The source's file name (`app.js`; the engine's messages name it).
        file_name: String,
        /// The source.
        source: String,
        /// npm packages to bundle with it (`crate::npm`; empty: the source is built
        /// as it is, unbundled).
        #[serde(default)]
        packages: Vec<crate::npm::Dependency>,
        /// The registry they come from (empty: [`crate::npm::DEFAULT_REGISTRY`]).
        #[serde(default)]
        registry: String,
    },
    /// The deployable module of the current JS build (Wizer's rewrite): answered by
    /// [`FromWorker::JsModule`].
    JsModule {
        /// Chosen by the UI.
        req_id: u32,
    },
    /// Load esbuild-wasm now, in the background (the fiddle lists npm packages): the
    /// next build with packages does not wait for it. No answer.
    PrepareBundler,
    /// Answer a run paused at a hostcall ([`FromWorker::Paused`]): step, continue to
    /// the next breakpoint, run to the end or stop, with the breakpoints from now on.
    StepAnswer {
        /// The run.
        run_id: u32,
        /// What to do.
        answer: StepAnswer,
        /// Where to pause from now on (besides every call when stepping).
        breakpoints: Vec<Breakpoint>,
    },
}

/// How the user answers a paused run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepAnswer {
    /// Run the paused call and pause before the next one.
    Step,
    /// Run to the next breakpoint.
    Continue,
    /// Run to the end without pausing again.
    RunToEnd,
    /// Stop the guest here.
    Stop,
}

/// Bytes on the wire (a `Uint8Array`).
pub type Bytes = serde_bytes::ByteBuf;

/// What the Stores panel asks of the worker's state. Keys are storage keys (the
/// layout of `edgeplay_host::storage`: `kv/<store>\0<key>`, ...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum StoreOp {
    /// Keys under `prefix` in order, after `after` (a cursor), whose part after the
    /// prefix contains `search` (case-insensitive; empty: all), at most `limit`.
    List {
        /// The store's prefix.
        prefix: Bytes,
        /// The last key of the previous page.
        after: Option<Bytes>,
        /// Text the key must contain.
        search: String,
        /// Page size.
        limit: u32,
    },
    /// One value.
    Get {
        /// The key.
        key: Bytes,
    },
    /// Store a value.
    Put {
        /// The key.
        key: Bytes,
        /// The whole value.
        value: Bytes,
    },
    /// Remove a key.
    Delete {
        /// The key.
        key: Bytes,
    },
    /// Seed the stores `config_toml` defines, as a run does (`seed::seed`: a store
    /// whose seed was applied already is left alone).
    Seed {
        /// `fastly.toml` text.
        config_toml: String,
    },
    /// Put every store back to the seed `config_toml` defines (`seed::reset`).
    Reset {
        /// `fastly.toml` text.
        config_toml: String,
    },
    /// Write entries under a store's prefix; with `replace`, everything under the
    /// prefix is deleted first.
    Import {
        /// The store's prefix (every key must start with it).
        prefix: Bytes,
        /// Storage keys and values.
        entries: Vec<(Bytes, Bytes)>,
        /// Delete the store's other keys.
        replace: bool,
    },
    /// Every entry under a prefix.
    Export {
        /// The store's prefix.
        prefix: Bytes,
    },
    /// Write a KV store entry as the KV engine does (a fresh generation, the TTL
    /// counted from now).
    KvPut {
        /// The KV store.
        store: String,
        /// The entry.
        entry: KvWrite,
    },
    /// Write KV store entries (an import); with `replace`, the store's other keys go.
    KvImport {
        /// The KV store.
        store: String,
        /// The entries.
        entries: Vec<KvWrite>,
        /// Delete the store's other keys first.
        replace: bool,
    },
    /// Every object in the service's cache (the Cache inspector): answered by
    /// [`StoreAnswer::Cache`].
    CacheList,
    /// One cached object's body, by its id: answered by [`StoreAnswer::CacheBody`].
    CacheBody {
        /// The object's id (`<key hash>/<variant hash>`).
        id: String,
    },
    /// Remove every cached object (`cache::purge_all`).
    CachePurgeAll,
    /// Purge the objects carrying a surrogate key (`cache::purge_surrogate_key`):
    /// removed (hard), or marked stale (soft).
    CachePurgeKey {
        /// The surrogate key.
        surrogate_key: String,
        /// Soft purge: mark stale instead of removing.
        soft: bool,
    },
    /// Remove one cached object (`cache::remove`).
    CacheRemove {
        /// The object's id.
        id: String,
    },
}

/// One cached object as the worker's state holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CachedObject {
    /// Its id (`<key hash>/<variant hash>`).
    pub id: String,
    /// Everything about it but its body.
    pub meta: edgeplay_host::cache::Meta,
}

/// One KV entry to write.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KvWrite {
    /// The key.
    pub key: String,
    /// The value.
    pub value: Bytes,
    /// Metadata (`None`: none).
    pub metadata: Option<String>,
    /// Seconds until it expires (`None`: never).
    pub ttl_sec: Option<u32>,
}

/// One listed key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListedKey {
    /// The storage key.
    pub key: Bytes,
    /// Bytes of its stored value.
    pub size: u32,
}

/// The worker's answer to a [`StoreOp`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum StoreAnswer {
    /// A page of keys.
    Listed {
        /// The keys.
        keys: Vec<ListedKey>,
        /// True when more match after the last one.
        more: bool,
        /// How many keys are under the prefix (search or not).
        total: u32,
    },
    /// A value (`None`: no such key).
    Value {
        /// The key.
        key: Bytes,
        /// Its stored value.
        value: Option<Bytes>,
    },
    /// Done, and durable (committed to IndexedDB when the tab has it).
    Done {
        /// Keys written or deleted.
        changed: u32,
    },
    /// Entries (an export).
    Entries {
        /// Storage keys and values, in key order.
        entries: Vec<(Bytes, Bytes)>,
    },
    /// The cache's objects, as the worker's clock found them.
    Cache {
        /// The objects, in id order.
        objects: Vec<CachedObject>,
        /// The worker's wall time when it listed them (unix ns): ages count to it.
        now_unix_ns: u64,
    },
    /// A cached body (`None`: the object is gone).
    CacheBody {
        /// The object's id.
        id: String,
        /// Its body.
        body: Option<Bytes>,
    },
}

/// One run: the request, the service configuration and the limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRequest {
    /// Chosen by the UI; every message about this run carries it.
    pub run_id: u32,
    /// The downstream request.
    pub request: RequestSpec,
    /// `fastly.toml` text (its `[local_server]` tables).
    pub config_toml: String,
    /// CPU limit in estimated platform milliseconds (`None`: no limit).
    pub cpu_limit_ms: Option<u64>,
    /// Run against an empty, throwaway cache (the stored cache is left as it is).
    #[serde(default)]
    pub fresh_cache: bool,
    /// Record every backend exchange that reaches the network; the recordings come
    /// in [`FromWorker::Recorded`] before the run's `Done`.
    #[serde(default)]
    pub record: bool,
    /// Step-through: pause before each hostcall or at breakpoints
    /// ([`edgeplay_host::step`]); `None` never pauses.
    #[serde(default)]
    pub step: Option<StepPolicy>,
    /// Enforce the platform's production limits: `cpu_limit_ms`, the wall time and
    /// the dictionary lookups (off: none of them).
    #[serde(default = "yes")]
    pub production_limits: bool,
}

fn yes() -> bool {
    true
}

/// The downstream request as the composer has it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestSpec {
    /// Method.
    pub method: String,
    /// URL or path.
    pub url: String,
    /// `Name: value` lines.
    pub headers: String,
    /// Body.
    #[serde(with = "serde_bytes")]
    pub body: Vec<u8>,
    /// Client IP address (empty: 127.0.0.1).
    pub client_ip: String,
}

/// What the worker tells the UI.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum FromWorker {
    /// The worker is up and listening.
    Ready,
    /// A guest was loaded.
    Loaded {
        /// The load.
        load_id: u32,
        /// What it is: size, imports, ...
        info: GuestInfo,
        /// Milliseconds the worker spent loading it.
        load_ms: f64,
    },
    /// A guest could not be loaded.
    LoadFailed {
        /// The load.
        load_id: u32,
        /// A plain explanation.
        message: String,
    },
    /// A run started: the guest is instantiated.
    Started {
        /// The run.
        run_id: u32,
        /// The request id the guest sees.
        request_id: String,
        /// Milliseconds to instantiate.
        instantiate_ms: f64,
    },
    /// What the guest produced since the last message, in order.
    Progress {
        /// The run.
        run_id: u32,
        /// Outputs (response head, body chunks, logs, ...).
        outputs: Vec<WireOutput>,
        /// Trace events (a suspended call's event comes when it finishes: sort by `seq`).
        trace: Vec<TraceEvent>,
        /// Milliseconds since the run started.
        at_ms: f64,
    },
    /// Something the driver did that the user should know (a header the browser
    /// would not send, a redirect the browser followed, ...).
    Notice {
        /// The run.
        run_id: u32,
        /// The note.
        message: String,
    },
    /// The run is over.
    Done {
        /// The run.
        run_id: u32,
        /// How it ended.
        outcome: Outcome,
        /// Milliseconds from instantiation to the end.
        run_ms: f64,
        /// What the run used of the platform's limits.
        #[serde(default)]
        usage: edgeplay_host::limits::Usage,
    },
    /// What a run with `record` recorded (posted before its `Done`, also when it
    /// recorded nothing).
    Recorded {
        /// The run.
        run_id: u32,
        /// The exchanges that reached the network, in the order they completed.
        recordings: Vec<Recording>,
        /// What the bounds cut or left out.
        left_out: LeftOut,
    },
    /// The run could not start (bad config, bad request, no guest, instantiation failed).
    Failed {
        /// The run.
        run_id: u32,
        /// A plain explanation.
        message: String,
    },
    /// The worker is loading the stored state (before `Ready`).
    StateLoading,
    /// The stored state is loaded (before `Ready`).
    StateLoaded {
        /// Keys loaded.
        keys: u32,
        /// Stored records that could not be read (left as they are).
        skipped: u32,
        /// Milliseconds reading IndexedDB took.
        load_ms: f64,
        /// Milliseconds from the worker's start to the loaded state.
        since_start_ms: f64,
        /// Why the state will not survive a reload, when it will not.
        not_durable: Option<String>,
    },
    /// Keys changed: committed by this worker, or written by another tab.
    StateChanged {
        /// Storage keys.
        keys: Vec<Bytes>,
        /// True when another tab wrote them.
        remote: bool,
    },
    /// The state could not be stored or read back.
    StateError {
        /// A plain explanation.
        message: String,
    },
    /// The worker is fetching and compiling the JS engine.
    EngineLoading {
        /// The engine's version (`@fastly/js-compute 3.46.0`).
        version: String,
    },
    /// The JS engine is compiled and kept for every build.
    EngineReady {
        /// The engine's version (`@fastly/js-compute 3.46.0`).
        version: String,
        /// Milliseconds from the request to the compiled engine (fetch included).
        load_ms: f64,
        /// Milliseconds of that spent preparing and compiling it.
        compile_ms: f64,
    },
    /// The JS engine could not be had (not staged, not fetched, not a JS engine).
    EngineFailed {
        /// A plain explanation.
        message: String,
    },
    /// A [`ToWorker::BuildJs`] built: its guest is the current one.
    Built {
        /// The build.
        build_id: u32,
        /// The guest (the engine's imports; its size is the engine's).
        info: GuestInfo,
        /// Milliseconds the build took in the worker (the engine's wait excluded).
        build_ms: f64,
        /// Milliseconds waiting for the engine first (0 when it was ready).
        engine_wait_ms: f64,
        /// Milliseconds installing and bundling npm packages first (0: none).
        #[serde(default)]
        bundle_ms: f64,
        /// True when the same engine and source were built before (no new build).
        cached: bool,
        /// The build's cache key (SHA-256 of engine and source).
        key: String,
        /// What the top-level code wrote (stdout and stderr) while it was built.
        output: String,
        /// The npm packages bundled with the source, as installed.
        #[serde(default)]
        packages: Vec<crate::npm::Placed>,
    },
    /// A [`ToWorker::BuildJs`] failed: the current guest is unchanged.
    BuildFailed {
        /// The build.
        build_id: u32,
        /// The engine's message (a syntax error, an exception at the top level, ...).
        message: String,
        /// 1-based line, when the engine gave one.
        line: Option<u32>,
        /// 1-based column, when the engine gave one.
        column: Option<u32>,
    },
    /// The answer to [`ToWorker::JsModule`].
    JsModule {
        /// The request.
        req_id: u32,
        /// The module's bytes, or why there is none.
        result: Result<Bytes, String>,
    },
    /// The answer to [`ToWorker::Store`].
    StoreReply {
        /// The request.
        req_id: u32,
        /// The answer, or why there is none.
        result: Result<StoreAnswer, String>,
    },
    /// A [`ToWorker::BuildJs`] with npm packages is under way: what it is doing
    /// (`fetching lodash-es`, `bundling`), for the page to show.
    BuildProgress {
        /// The build.
        build_id: u32,
        /// The step, for people.
        stage: String,
    },
    /// A stepping run paused at a hostcall: answer with [`ToWorker::StepAnswer`].
    /// The outputs so far came in `Progress` messages before it.
    Paused {
        /// The run.
        run_id: u32,
        /// The paused call, decoded.
        call: Box<PendingCall>,
        /// Trace events not posted yet (the trace so far is every `Progress`'s and these).
        trace: Vec<TraceEvent>,
    },
    /// The run's profile ([`edgeplay_host::profile`]), posted before its `Done`.
    Profiled {
        /// The run.
        run_id: u32,
        /// The profile.
        profile: Box<edgeplay_host::profile::Profile>,
    },
}

/// [`Output`] with its bytes as `Uint8Array`s on the wire.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum WireOutput {
    /// The response head.
    Response(ResponseHead),
    /// A piece of the body.
    BodyChunk(#[serde(with = "serde_bytes")] Vec<u8>),
    /// The body is complete.
    BodyEnd,
    /// The body was abandoned.
    BodyAbort,
    /// Guest stdout.
    Stdout(#[serde(with = "serde_bytes")] Vec<u8>),
    /// Guest stderr.
    Stderr(#[serde(with = "serde_bytes")] Vec<u8>),
    /// A line written to a named log endpoint.
    Log {
        /// Endpoint.
        endpoint: String,
        /// Line.
        line: String,
    },
    /// An informational (1xx) response.
    Informational(ResponseHead),
    /// The guest handed the request to a proxy.
    Handoff(edgeplay_host::Handoff),
    /// The outputs from here on answer a further request (a reusable sandbox; the
    /// tab runs one request per instance, so the worker never sends it).
    ForRequest {
        /// Which request of the instance.
        index: u32,
        /// Its request id.
        request_id: String,
    },
}

impl From<Output> for WireOutput {
    fn from(o: Output) -> Self {
        match o {
            Output::Response(h) => WireOutput::Response(h),
            Output::BodyChunk(c) => WireOutput::BodyChunk(c),
            Output::BodyEnd => WireOutput::BodyEnd,
            Output::BodyAbort => WireOutput::BodyAbort,
            Output::Stdout(b) => WireOutput::Stdout(b),
            Output::Stderr(b) => WireOutput::Stderr(b),
            Output::Log { endpoint, line } => WireOutput::Log { endpoint, line },
            Output::Informational(h) => WireOutput::Informational(h),
            Output::Handoff(h) => WireOutput::Handoff(h),
            Output::ForRequest { index, request_id } => {
                WireOutput::ForRequest { index, request_id }
            }
        }
    }
}

impl From<WireOutput> for Output {
    fn from(o: WireOutput) -> Self {
        match o {
            WireOutput::Response(h) => Output::Response(h),
            WireOutput::BodyChunk(c) => Output::BodyChunk(c),
            WireOutput::BodyEnd => Output::BodyEnd,
            WireOutput::BodyAbort => Output::BodyAbort,
            WireOutput::Stdout(b) => Output::Stdout(b),
            WireOutput::Stderr(b) => Output::Stderr(b),
            WireOutput::Log { endpoint, line } => Output::Log { endpoint, line },
            WireOutput::Informational(h) => Output::Informational(h),
            WireOutput::Handoff(h) => Output::Handoff(h),
            WireOutput::ForRequest { index, request_id } => {
                Output::ForRequest { index, request_id }
            }
        }
    }
}

/// Encoding and decoding messages as JS values (the `postMessage` payload).
#[cfg(target_arch = "wasm32")]
pub mod js {
    use serde::{de::DeserializeOwned, Serialize};
    use wasm_bindgen::JsValue;

    /// A message as a JS value. 64-bit integers that do not fit a JS number (a
    /// hostcall argument can be any `i64`) become `BigInt`s.
    pub fn encode<T: Serialize>(msg: &T) -> Result<JsValue, String> {
        let ser =
            serde_wasm_bindgen::Serializer::new().serialize_large_number_types_as_bigints(true);
        msg.serialize(&ser)
            .map_err(|e| format!("could not encode a message: {e}"))
    }

    /// A message from a JS value.
    pub fn decode<T: DeserializeOwned>(v: JsValue) -> Result<T, String> {
        serde_wasm_bindgen::from_value(v).map_err(|e| format!("could not decode a message: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_convert_both_ways() {
        let outs = vec![
            Output::Response(ResponseHead::new(201)),
            Output::BodyChunk(b"abc".to_vec()),
            Output::BodyEnd,
            Output::BodyAbort,
            Output::Stdout(b"o".to_vec()),
            Output::Stderr(b"e".to_vec()),
            Output::Log {
                endpoint: "ep".into(),
                line: "l".into(),
            },
            Output::Informational(ResponseHead::new(103)),
            Output::Handoff(edgeplay_host::Handoff {
                kind: edgeplay_host::HandoffKind::WebSocket,
                backend: "ws".into(),
                origin: "http://127.0.0.1:1".into(),
                path_prefix: "/".into(),
                host: "127.0.0.1:1".into(),
                method: "GET".into(),
                path_and_query: "/".into(),
                headers: edgeplay_host::Headers::new(),
            }),
        ];
        for o in outs {
            assert_eq!(Output::from(WireOutput::from(o.clone())), o);
        }
    }

    #[test]
    fn messages_roundtrip_through_serde() {
        let m = ToWorker::Run(RunRequest {
            run_id: 7,
            request: RequestSpec {
                method: "POST".into(),
                url: "/x".into(),
                headers: "a: b".into(),
                body: vec![0, 1, 2],
                client_ip: "10.0.0.1".into(),
            },
            config_toml: "".into(),
            cpu_limit_ms: Some(50),
            production_limits: true,
            fresh_cache: true,
            record: true,
            step: Some(StepPolicy::stepping(vec![Breakpoint::Send])),
        });
        let j = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<ToWorker>(&j).unwrap(), m);
        let m = ToWorker::StepAnswer {
            run_id: 7,
            answer: StepAnswer::Continue,
            breakpoints: vec![Breakpoint::Status],
        };
        let j = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<ToWorker>(&j).unwrap(), m);
    }

    #[test]
    fn js_build_messages_roundtrip_through_serde() {
        let m = ToWorker::BuildJs {
            build_id: 3,
            file_name: "app.js".into(),
            source: "addEventListener".into(),
            packages: vec![crate::npm::Dependency::parse("lodash-es@^4").unwrap()],
            registry: String::new(),
        };
        let j = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<ToWorker>(&j).unwrap(), m);
        let m = FromWorker::BuildFailed {
            build_id: 3,
            message: "SyntaxError".into(),
            line: Some(2),
            column: Some(5),
        };
        let j = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<FromWorker>(&j).unwrap(), m);
    }

    #[test]
    fn a_run_request_from_before_recordings_still_parses() {
        let old = r#"{"Run":{"run_id":1,"request":{"method":"GET","url":"/","headers":"",
            "body":[],"client_ip":""},"config_toml":"","cpu_limit_ms":null}}"#;
        let ToWorker::Run(r) = serde_json::from_str::<ToWorker>(old).unwrap() else {
            panic!("not a run")
        };
        assert!(!r.record && !r.fresh_cache);
    }
}
