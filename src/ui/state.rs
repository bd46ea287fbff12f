//! The app's state: signals only. The controller ([`super::controller`]) changes
//! them; the components read them.

use edgeplay_host::engine::GuestInfo;
use edgeplay_host::exec::Outcome;
use edgeplay_host::fiddle::{FiddleRequest, Recording, RunRecord};
use edgeplay_host::http::Headers;
use edgeplay_host::TraceEvent;
use edgeplay_web::cache_view::CacheRow;
use edgeplay_web::format::BodyView;
use edgeplay_web::stores::{StoreKind, ValueView};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// The guest in the tab.
#[derive(Clone, Debug, PartialEq)]
pub struct LoadedGuest {
    /// File name.
    pub name: String,
    /// What the core says about it.
    pub info: GuestInfo,
    /// Milliseconds the worker took to load it (validate, instrument, compile, link).
    pub worker_load_ms: f64,
    /// Milliseconds from the drop (or pick) to loaded, as the user waited.
    pub wall_ms: f64,
    /// The example it came from, if any.
    pub example: Option<&'static str>,
}

/// Where a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Nothing ran yet.
    Idle,
    /// Running in the worker.
    Running,
    /// Finished (see the outcome).
    Done,
    /// Stopped by the user.
    Stopped,
    /// Could not start.
    Failed,
}

/// The response as it arrives.
#[derive(Clone, Debug, PartialEq)]
pub struct ResponseView {
    /// Status.
    pub status: u16,
    /// Headers.
    pub headers: Headers,
    /// True when the guest streams the body.
    pub streaming: bool,
    /// True when the host made this response (the guest sent none).
    pub synthesized: bool,
}

/// One body chunk's arrival.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ChunkMark {
    /// Milliseconds since the run started (worker clock).
    pub at_ms: f64,
    /// Its size.
    pub len: usize,
}

/// Times the user sees, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Timings {
    /// Drop/pick to the file's bytes in hand (file read or example download).
    pub read_ms: Option<f64>,
    /// Worker: validate, instrument, compile, link.
    pub load_ms: Option<f64>,
    /// Worker: instantiate.
    pub instantiate_ms: Option<f64>,
    /// Run start to response head (worker clock).
    pub first_byte_ms: Option<f64>,
    /// Run start to the end (worker clock).
    pub run_ms: Option<f64>,
    /// From the drop (or the Run click) to the answer on screen.
    pub wall_ms: Option<f64>,
    /// True when `wall_ms` counts from a drop (load included).
    pub from_drop: bool,
}

/// One log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEntry {
    /// Order of arrival.
    pub n: usize,
    /// `stdout`, `stderr`, an endpoint name, or `edgeplay` for the playground's notes.
    pub source: String,
    /// The line.
    pub line: String,
}

/// The right-hand panels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    /// Response.
    Response,
    /// Logs.
    Logs,
    /// Trace.
    Trace,
    /// Stores.
    Stores,
    /// The Cache inspector.
    Cache,
    /// The run history and the diff of two runs.
    History,
}

/// How the Stores panel shows a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueMode {
    /// As text.
    Text,
    /// As pretty JSON (text when it is not JSON).
    Json,
    /// As a hex dump.
    Hex,
}

/// One key the Stores panel lists.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryRow {
    /// The key as the guest names it.
    pub key: String,
    /// Bytes of its value (as stored).
    pub size: usize,
}

/// The entry the Stores panel shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenEntry {
    /// Its store's kind.
    pub kind: StoreKind,
    /// Its store.
    pub store: String,
    /// Its key.
    pub key: String,
    /// What is stored.
    pub value: ValueView,
}

/// The Stores panel's signals.
#[derive(Clone, Copy)]
pub struct StoresUi {
    /// The selected store.
    pub selected: RwSignal<Option<(StoreKind, String)>>,
    /// The key search text.
    pub search: RwSignal<String>,
    /// The selected state store's keys (a page).
    pub rows: RwSignal<Vec<EntryRow>>,
    /// Keys in the selected state store.
    pub total: RwSignal<usize>,
    /// More keys match than are listed.
    pub more: RwSignal<bool>,
    /// Milliseconds the last listing took (request to answer).
    pub list_ms: RwSignal<Option<f64>>,
    /// Page size (the "show all" button raises it).
    pub limit: RwSignal<u32>,
    /// State keys under `erl/` (rate counters and penalty boxes exist through them).
    pub erl_keys: RwSignal<Vec<Vec<u8>>>,
    /// The entry shown.
    pub open: RwSignal<Option<OpenEntry>>,
    /// How it is shown.
    pub mode: RwSignal<ValueMode>,
    /// A secret's value is shown.
    pub revealed: RwSignal<bool>,
    /// The edit form: key, value, metadata, TTL seconds.
    pub edit_key: RwSignal<String>,
    /// The edit form's value.
    pub edit_value: RwSignal<String>,
    /// The edit form's metadata (KV).
    pub edit_metadata: RwSignal<String>,
    /// The edit form's TTL in seconds (KV; empty: none).
    pub edit_ttl: RwSignal<String>,
    /// Replace the store on import (otherwise merge).
    pub import_replace: RwSignal<bool>,
    /// The panel's last message (saved, imported, an error).
    pub message: RwSignal<Option<String>>,
}

impl StoresUi {
    fn new() -> Self {
        StoresUi {
            selected: RwSignal::new(None),
            search: RwSignal::new(String::new()),
            rows: RwSignal::new(Vec::new()),
            total: RwSignal::new(0),
            more: RwSignal::new(false),
            list_ms: RwSignal::new(None),
            limit: RwSignal::new(500),
            erl_keys: RwSignal::new(Vec::new()),
            open: RwSignal::new(None),
            mode: RwSignal::new(ValueMode::Text),
            revealed: RwSignal::new(false),
            edit_key: RwSignal::new(String::new()),
            edit_value: RwSignal::new(String::new()),
            edit_metadata: RwSignal::new(String::new()),
            edit_ttl: RwSignal::new(String::new()),
            import_replace: RwSignal::new(false),
            message: RwSignal::new(None),
        }
    }
}

/// A cached body the Cache inspector shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenBody {
    /// The object's id.
    pub id: String,
    /// The body as text, or its hex dump.
    pub text: String,
    /// True when `text` is the body itself (UTF-8), false for a hex dump.
    pub is_text: bool,
    /// Body bytes.
    pub size: usize,
}

/// The Cache inspector's signals.
#[derive(Clone, Copy)]
pub struct CacheUi {
    /// The objects, as last listed (`None`: not listed yet).
    pub rows: RwSignal<Option<Vec<CacheRow>>>,
    /// The body shown.
    pub open: RwSignal<Option<OpenBody>>,
    /// The purge form's surrogate key.
    pub purge_key: RwSignal<String>,
    /// Soft purge (mark stale) instead of removing.
    pub purge_soft: RwSignal<bool>,
    /// The inspector's last message (purged, removed, an error).
    pub message: RwSignal<Option<String>>,
}

impl CacheUi {
    fn new() -> Self {
        CacheUi {
            rows: RwSignal::new(None),
            open: RwSignal::new(None),
            purge_key: RwSignal::new(String::new()),
            purge_soft: RwSignal::new(false),
            message: RwSignal::new(None),
        }
    }
}

/// What one request of the fiddle left when it last ran: the panels show it again
/// when the request is selected.
#[derive(Clone, Debug)]
pub struct RequestRun {
    /// How the run ended.
    pub phase: Phase,
    /// The request id the guest saw.
    pub request_id: Option<String>,
    /// The response head.
    pub response: Option<ResponseView>,
    /// The response body.
    pub response_body: Vec<u8>,
    /// Body chunk arrivals.
    pub chunks: Vec<ChunkMark>,
    /// The body ended normally.
    pub body_complete: bool,
    /// The body was cut off.
    pub body_aborted: bool,
    /// How the run ended.
    pub outcome: Option<Outcome>,
    /// Timings.
    pub timings: Timings,
    /// Logs.
    pub logs: Vec<LogEntry>,
    /// The trace.
    pub trace: Vec<TraceEvent>,
    /// The error banner's text after the run.
    pub error: Option<String>,
    /// What assertions are checked against (`None`: the run did not finish).
    pub record: Option<RunRecord>,
}

/// A share link, as the Share box shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShareView {
    /// The link (empty when it could not be made).
    pub link: String,
    /// Why there is no link, or what it left out.
    pub note: Option<String>,
    /// The note is a warning (secrets are in the link).
    pub warn: bool,
}

/// The fiddle's signals: the request sequence and its results, sharing.
#[derive(Clone, Copy)]
pub struct FiddleUi {
    /// The requests, in order. The composer edits `requests[current]` (written back
    /// by `fiddle_actions::commit`).
    pub requests: RwSignal<Vec<FiddleRequest>>,
    /// The selected request.
    pub current: RwSignal<usize>,
    /// The selected request's assertion text.
    pub assertions: RwSignal<String>,
    /// Each request's last run, by index.
    pub runs: RwSignal<Vec<Option<RequestRun>>>,
    /// Run all is under way.
    pub running_all: RwSignal<bool>,
    /// The fiddle's title.
    pub title: RwSignal<String>,
    /// Recorded backend exchanges the fiddle carries (replayed when present).
    pub recordings: RwSignal<Vec<Recording>>,
    /// The Share box is open.
    pub share_open: RwSignal<bool>,
    /// The link Share made.
    pub share: RwSignal<Option<ShareView>>,
    /// Share puts the secret stores' secrets in the link.
    pub share_secrets: RwSignal<bool>,
    /// Where a guest too big for a link can be fetched from.
    pub guest_url: RwSignal<String>,
    /// What the last opened fiddle (link, file, package) held.
    pub opened: RwSignal<Option<String>>,
    /// Runs record the backend exchanges that reach the network.
    pub record: RwSignal<bool>,
    /// What recording kept or left out, for people.
    pub record_note: RwSignal<Option<String>>,
}

/// The workspace's signals: the saved fiddles and which one is open.
#[derive(Clone, Copy)]
pub struct WorkspaceUi {
    /// The saved fiddles, most recently updated first (`None`: not listed yet).
    pub entries: RwSignal<Option<Vec<edgeplay_web::workspace::EntryMeta>>>,
    /// The open entry's id.
    pub current: RwSignal<Option<String>>,
    /// The entry being renamed.
    pub renaming: RwSignal<Option<String>>,
    /// The workspace's last message (an error, a skipped record).
    pub message: RwSignal<Option<String>>,
}

impl FiddleUi {
    fn new(first: FiddleRequest) -> Self {
        FiddleUi {
            assertions: RwSignal::new(first.assertions.clone()),
            requests: RwSignal::new(vec![first]),
            current: RwSignal::new(0),
            runs: RwSignal::new(vec![None]),
            running_all: RwSignal::new(false),
            title: RwSignal::new(String::new()),
            recordings: RwSignal::new(Vec::new()),
            share_open: RwSignal::new(false),
            share: RwSignal::new(None),
            share_secrets: RwSignal::new(false),
            guest_url: RwSignal::new(String::new()),
            opened: RwSignal::new(None),
            record: RwSignal::new(false),
            record_note: RwSignal::new(None),
        }
    }
}

/// Where the worker's service state is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum StoredState {
    /// The worker is not up yet.
    Starting,
    /// The worker is reading IndexedDB.
    Loading,
    /// Loaded.
    Loaded {
        /// Keys loaded.
        keys: u32,
        /// Milliseconds reading IndexedDB took.
        load_ms: f64,
        /// Milliseconds from the worker's start to the loaded state.
        since_start_ms: f64,
        /// False when the state does not survive a reload (no IndexedDB).
        durable: bool,
    },
}

/// The request composer's fields (persisted).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedRequest {
    /// Method.
    pub method: String,
    /// URL or path.
    pub url: String,
    /// Header lines.
    pub headers: String,
    /// Body.
    pub body: String,
    /// Client IP.
    pub client_ip: String,
    /// CPU limit (ms, estimate).
    pub cpu_limit: String,
    /// Run with a fresh (empty, throwaway) cache.
    #[serde(default)]
    pub fresh_cache: bool,
}

/// The CPU limit the tab starts with: the platform's 50 ms, estimated with fuel.
pub const DEFAULT_CPU_LIMIT_MS: u64 = 50;

/// Every signal the app has.
#[derive(Clone, Copy)]
pub struct AppState {
    /// The loaded guest.
    pub guest: RwSignal<Option<LoadedGuest>>,
    /// The name of a guest being loaded.
    pub loading: RwSignal<Option<String>>,
    /// The error banner.
    pub error: RwSignal<Option<String>>,
    /// A short non-error note (restored guest, stopped run, ...).
    pub notice: RwSignal<Option<String>>,
    /// The worker is up.
    pub worker_ready: RwSignal<bool>,
    /// Request method.
    pub method: RwSignal<String>,
    /// URL or path.
    pub url: RwSignal<String>,
    /// Header lines.
    pub headers: RwSignal<String>,
    /// Body text.
    pub body: RwSignal<String>,
    /// Client IP.
    pub client_ip: RwSignal<String>,
    /// CPU limit text (ms).
    pub cpu_limit: RwSignal<String>,
    /// Runs start with an empty, throwaway cache.
    pub fresh_cache: RwSignal<bool>,
    /// fastly.toml text.
    pub config_text: RwSignal<String>,
    /// The run's phase.
    pub phase: RwSignal<Phase>,
    /// The current run's id.
    pub run_id: RwSignal<u32>,
    /// The request id the guest saw.
    pub request_id: RwSignal<Option<String>>,
    /// The response head.
    pub response: RwSignal<Option<ResponseView>>,
    /// The response body so far.
    pub response_body: RwSignal<Vec<u8>>,
    /// Body chunk arrivals.
    pub chunks: RwSignal<Vec<ChunkMark>>,
    /// The body ended normally.
    pub body_complete: RwSignal<bool>,
    /// The body was cut off.
    pub body_aborted: RwSignal<bool>,
    /// How the run ended.
    pub outcome: RwSignal<Option<Outcome>>,
    /// Timings.
    pub timings: RwSignal<Timings>,
    /// Logs in order.
    pub logs: RwSignal<Vec<LogEntry>>,
    /// Trace events, by `seq`.
    pub trace: RwSignal<Vec<TraceEvent>>,
    /// The run's profile (posted with its result).
    pub profile: RwSignal<Option<edgeplay_host::profile::Profile>>,
    /// What the last run used of the platform's limits (posted with its result).
    pub usage: RwSignal<Option<edgeplay_host::limits::Usage>>,
    /// The *production limits* switch: enforce the platform's limits.
    pub production_limits: RwSignal<bool>,
    /// Selected panel.
    pub tab: RwSignal<Tab>,
    /// Chosen body view (`None`: automatic).
    pub body_view: RwSignal<Option<BodyView>>,
    /// Trace filter: `all`, `hostcalls`, or a group (`http_req`, `wasi`, ...).
    pub trace_filter: RwSignal<String>,
    /// Selected trace event.
    pub selected: RwSignal<Option<u64>>,
    /// The examples menu's value.
    pub example: RwSignal<String>,
    /// A file is dragged over the page.
    pub dragging: RwSignal<bool>,
    /// The worker's service state.
    pub stored: RwSignal<StoredState>,
    /// Bumped whenever the service state changed (here or in another tab): the
    /// Stores panel lists again.
    pub state_version: RwSignal<u64>,
    /// The Stores panel.
    pub stores: StoresUi,
    /// The Cache inspector.
    pub cache: CacheUi,
    /// The fiddle: requests, assertions, sharing.
    pub fiddle: FiddleUi,
    /// The workspace: saved fiddles.
    pub workspace: WorkspaceUi,
}

impl AppState {
    /// Fresh state with the composer and config as given.
    pub fn new(req: SavedRequest, config_text: String) -> Self {
        let first = edgeplay_web::fiddle_tab::request_from_fields(
            &edgeplay_web::fiddle_tab::ComposerFields {
                method: req.method.clone(),
                url: req.url.clone(),
                headers: req.headers.clone(),
                body: req.body.clone(),
                client_ip: req.client_ip.clone(),
                fresh_cache: req.fresh_cache,
                assertions: String::new(),
            },
            &FiddleRequest::default(),
        );
        AppState {
            guest: RwSignal::new(None),
            loading: RwSignal::new(None),
            error: RwSignal::new(None),
            notice: RwSignal::new(None),
            worker_ready: RwSignal::new(false),
            method: RwSignal::new(req.method),
            url: RwSignal::new(req.url),
            headers: RwSignal::new(req.headers),
            body: RwSignal::new(req.body),
            client_ip: RwSignal::new(req.client_ip),
            cpu_limit: RwSignal::new(req.cpu_limit),
            fresh_cache: RwSignal::new(req.fresh_cache),
            config_text: RwSignal::new(config_text),
            phase: RwSignal::new(Phase::Idle),
            run_id: RwSignal::new(0),
            request_id: RwSignal::new(None),
            response: RwSignal::new(None),
            response_body: RwSignal::new(Vec::new()),
            chunks: RwSignal::new(Vec::new()),
            body_complete: RwSignal::new(false),
            body_aborted: RwSignal::new(false),
            usage: RwSignal::new(None),
            production_limits: super::limits::restore_switch(),
            outcome: RwSignal::new(None),
            timings: RwSignal::new(Timings::default()),
            logs: RwSignal::new(Vec::new()),
            trace: RwSignal::new(Vec::new()),
            profile: RwSignal::new(None),
            tab: RwSignal::new(Tab::Response),
            body_view: RwSignal::new(None),
            trace_filter: RwSignal::new("hostcalls".into()),
            selected: RwSignal::new(None),
            example: RwSignal::new(String::new()),
            dragging: RwSignal::new(false),
            stored: RwSignal::new(StoredState::Starting),
            state_version: RwSignal::new(0),
            stores: StoresUi::new(),
            cache: CacheUi::new(),
            fiddle: FiddleUi::new(first),
            workspace: WorkspaceUi {
                entries: RwSignal::new(None),
                current: RwSignal::new(None),
                renaming: RwSignal::new(None),
                message: RwSignal::new(None),
            },
        }
    }

    /// The composer's fields, for saving.
    pub fn saved_request(&self) -> SavedRequest {
        SavedRequest {
            method: self.method.get(),
            url: self.url.get(),
            headers: self.headers.get(),
            body: self.body.get(),
            client_ip: self.client_ip.get(),
            cpu_limit: self.cpu_limit.get(),
            fresh_cache: self.fresh_cache.get(),
        }
    }

    /// The CPU limit: `None` for 0 (no limit); bad text falls back to the default.
    pub fn cpu_limit_ms(&self) -> Option<u64> {
        match self.cpu_limit.get_untracked().trim().parse::<u64>() {
            Ok(0) => None,
            Ok(ms) => Some(ms),
            Err(_) => Some(DEFAULT_CPU_LIMIT_MS),
        }
    }
}

impl Default for SavedRequest {
    fn default() -> Self {
        SavedRequest {
            method: "GET".into(),
            url: "/".into(),
            headers: String::new(),
            body: String::new(),
            client_ip: "127.0.0.1".into(),
            cpu_limit: DEFAULT_CPU_LIMIT_MS.to_string(),
            fresh_cache: false,
        }
    }
}
