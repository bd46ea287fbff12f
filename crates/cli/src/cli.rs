//! The command line: Viceroy's (`edgeplay [serve] [OPTIONS] <input>`, `edgeplay run`),
//! with the same flags and defaults, plus edgeplay's own `request`, `coverage` and `test`, and
//! Fastlike's store flags.

use clap::{Args, Parser, Subcommand};
use edgeplay_host::config::BackendConfig;
use edgeplay_host::UnknownImports;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

/// edgeplay runs Fastly Compute programs locally: a drop-in for Viceroy's command line.
///
/// `edgeplay app.wasm` serves the program on http://127.0.0.1:7676 (as `edgeplay serve
/// app.wasm`); `edgeplay run app.wasm` runs it once; `edgeplay request app.wasm /path`
/// sends it one request without a server and prints the response.
#[derive(Parser, Debug)]
#[command(name = "edgeplay", version, about, long_about)]
#[command(propagate_version = true)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Opts {
    /// What to do; `serve` when none is given.
    #[command(subcommand)]
    pub command: Option<Commands>,

    /// The `serve` options, when no subcommand is given.
    #[command(flatten)]
    pub serve: ServeArgs,
}

impl Opts {
    /// The subcommand, `serve` when none was given (as Viceroy does).
    pub fn into_command(self) -> Commands {
        self.command.unwrap_or(Commands::Serve(self.serve))
    }
}

/// The subcommands.
#[derive(Subcommand, Debug, Clone)]
pub enum Commands {
    /// Run the wasm in a local server. This is the default if no subcommand is given.
    Serve(ServeArgs),

    /// Run the input wasm once and then exit.
    Run(RunArgs),

    /// Send the program one downstream request, without a server, and print the response.
    Request(RequestArgs),

    /// Print which Compute ABI imports edgeplay emulates, per group.
    Coverage(CoverageArgs),

    /// Run a fiddle (a JSON file or a link): its requests in order against one
    /// service state, with their assertions; exits 1 when one fails, 2 for a bad fiddle.
    Test(crate::fiddle::TestArgs),

    /// Build a JavaScript app into a Compute wasm with the JS SDK's engine, without
    /// Node or Wizer (the output is what `js-compute-runtime --module-mode` writes).
    Build(BuildArgs),

    /// Compare two runs (`edgeplay request --json` outputs): status, headers, body,
    /// logs, and the hostcall traces aligned call by call; exits 1 when they differ.
    Diff(DiffArgs),

    /// Explain a hostcall: print the card of an import (what it does, its arguments,
    /// results and statuses, the SDK calls that reach it, its limits).
    #[command(visible_alias = "card")]
    Explain(ExplainArgs),
}

/// `edgeplay explain`.
#[derive(Args, Debug, Clone)]
pub struct ExplainArgs {
    /// The import: `module::name` (`fastly_http_req::send_v2`), `module.name`, or a bare
    /// name when only one module has it (`send_v2`).
    #[arg(value_name = "IMPORT")]
    pub import: String,

    /// Mark this status on the card (the one a trace row shows, e.g. `buflen`).
    #[arg(long = "status", value_name = "NAME")]
    pub status: Option<String>,

    /// Print the card as JSON.
    #[arg(long = "json")]
    pub json: bool,
}

/// `edgeplay diff`.
#[derive(Args, Debug, Clone)]
pub struct DiffArgs {
    /// The first run's `edgeplay request --json` output.
    #[arg(value_name = "A_JSON")]
    pub a: PathBuf,

    /// The second run's.
    #[arg(value_name = "B_JSON")]
    pub b: PathBuf,

    /// Print the comparison as JSON (every aligned trace step) instead of text.
    #[arg(long = "json")]
    pub json: bool,
}

/// `edgeplay build`.
#[derive(Args, Debug, Clone)]
pub struct BuildArgs {
    /// The app's JavaScript source (one file, an ES module; `fastly:*` imports work).
    #[arg(value_name = "APP_JS")]
    pub input: PathBuf,

    /// Where to write the module.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "OUT_WASM",
        default_value = "bin/main.wasm"
    )]
    pub output: PathBuf,

    /// The JS SDK's engine (`fastly.wasm`); default `$EDGEPLAY_JS_ENGINE`, else
    /// `node_modules/@fastly/js-compute/fastly.wasm` here or in `~/.cache/edgeplay/js`.
    #[arg(long = "engine", value_name = "PATH")]
    pub engine: Option<PathBuf>,

    /// Build even when the same engine and source were built before (builds are
    /// cached in `~/.cache/edgeplay/builds`).
    #[arg(long = "no-cache")]
    pub no_cache: bool,

    /// Also print the fuel the initialisation used and the WASI calls it made.
    #[arg(short = 'v', long = "verbose")]
    pub verbose: bool,
}

/// `edgeplay serve`.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// The IP address and port the server listens on (port 0: any free port; the
    /// "Listening on" line then shows the port chosen).
    #[arg(long = "addr", value_name = "ADDR")]
    pub socket_addr: Option<SocketAddr>,

    /// Reload the input when it changes (a JavaScript app is rebuilt); requests under
    /// way finish with the old one, and a failed build keeps the old one serving.
    #[arg(long = "watch")]
    pub watch: bool,

    /// Options shared with `run`.
    #[command(flatten)]
    pub shared: SharedArgs,
}

impl ServeArgs {
    /// The address to bind: `--addr`, or Viceroy's default 127.0.0.1:7676.
    pub fn addr(&self) -> SocketAddr {
        self.socket_addr
            .unwrap_or_else(|| SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 7676))
    }
}

/// `edgeplay run`.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Options shared with `serve`.
    #[command(flatten)]
    pub shared: SharedArgs,

    /// Args to pass along to the binary being executed.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub wasm_args: Vec<String>,
}

/// Options of `serve` and `run` (Viceroy's shared options).
#[derive(Args, Debug, Clone)]
pub struct SharedArgs {
    /// The path to the service's Wasm module (binary, or text format), or a Fastly
    /// CLI package (`pkg/NAME.tar.gz`: its bin/main.wasm, and its fastly.toml unless -C is given).
    #[arg(required = true, value_name = "INPUT")]
    pub input: Option<PathBuf>,

    /// The configuration file and `--backend` flags.
    #[command(flatten)]
    pub config: ConfigArgs,

    /// Whether to treat stdout as a logging endpoint
    #[arg(long = "log-stdout")]
    pub log_stdout: bool,

    /// Whether to treat stderr as a logging endpoint
    #[arg(long = "log-stderr")]
    pub log_stderr: bool,

    /// Verbosity of logs for edgeplay. `-v` sets the log level to INFO, `-vv` to DEBUG
    /// (and prints every hostcall), and `-vvv` to TRACE. This option will not take
    /// effect if you set RUST_LOG to a value before starting edgeplay
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    pub verbosity: u8,

    /// Stop a guest after this many milliseconds of estimated platform CPU time (the
    /// platform allows 50). 0, the default, means no limit: the interpreter is much
    /// slower than the platform and the estimate is rough, so a limit is opt-in here.
    #[arg(long = "cpu-limit-ms", value_name = "MS", default_value_t = 0)]
    pub cpu_limit_ms: u64,

    /// Write a profile of every request: Fastlike's profile JSON
    /// (`<request id>.json`) and a Chrome/Perfetto trace (`<request id>.chrome.json`),
    /// into `guest-profiles/` or the DIR of Viceroy's `--profile=guest,DIR`. Viceroy's
    /// other strategies (perfmap, jitdump, vtune) are accepted and do the same.
    #[arg(
        long = "profile",
        value_name = "STRATEGY",
        num_args = 0..=1,
        require_equals = false,
        default_missing_value = "guest"
    )]
    pub profile: Option<String>,

    /// Write a profile of every request into DIR (as `--profile`, created when missing).
    #[arg(long = "profile-dir", value_name = "DIR")]
    pub profile_dir: Option<PathBuf>,

    /// Viceroy options edgeplay accepts and ignores.
    #[command(flatten)]
    pub compat: ViceroyCompatArgs,
}

/// Where the service's configuration comes from (`serve`, `run` and `request`).
#[derive(Args, Debug, Clone)]
pub struct ConfigArgs {
    /// The path to a TOML file containing `local_server` configuration.
    #[arg(short = 'C', long = "config", value_name = "CONFIG_PATH")]
    pub config_path: Option<PathBuf>,

    /// What the guest's imports outside the Compute ABI get, as Viceroy's flag:
    /// `trap` (edgeplay's default: linked to a stub that traps, naming the import, when
    /// called), `link-error` (Viceroy's default: the guest does not load) or
    /// `zero-or-null` (a stub that returns zeros).
    #[arg(long = "unknown-import-behavior", value_name = "BEHAVIOR", default_value = "trap", value_parser = clap::builder::ValueParser::new(parse_unknown_imports))]
    pub unknown_imports: UnknownImports,

    /// A backend, Fastlike's way: `NAME=HOST:PORT` or `NAME=URL`, with `@N` for an
    /// unreliable origin that N% of requests reach (the others get a synthetic 502).
    /// Repeatable; replaces a backend of the same name from the configuration file.
    #[arg(long = "backend", value_name = "NAME=HOST:PORT[@N]", value_parser = parse_backend)]
    pub backends: Vec<(String, BackendConfig)>,

    /// Keep the service's state (KV stores, ACLs, rate counters and penalty boxes) in
    /// DIR, across requests and restarts (created when missing; one process at a
    /// time). Without it the state lives in memory and starts from the configuration
    /// every time, as in Viceroy.
    #[arg(long = "state-dir", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// Fastlike's `-dictionary NAME=FILE.json` (a JSON object of strings): a
    /// dictionary (config store) from a file. Repeatable; replaces one of the same name.
    #[arg(long = "dictionary", value_name = "NAME=FILE.json", value_parser = parse_named_file)]
    pub dictionaries: Vec<(String, Option<PathBuf>)>,

    /// Fastlike's `-config-store NAME=FILE.json` (a JSON object of strings). Repeatable.
    #[arg(long = "config-store", value_name = "NAME=FILE.json", value_parser = parse_named_file)]
    pub config_stores: Vec<(String, Option<PathBuf>)>,

    /// Fastlike's `-kv NAME=FILE.json` (key → string, or key → {body, metadata}), or
    /// `-kv NAME` for an empty store. Repeatable.
    #[arg(long = "kv", value_name = "NAME[=FILE.json]", value_parser = parse_named_file)]
    pub kv_stores: Vec<(String, Option<PathBuf>)>,

    /// Fastlike's `-secret-store NAME=FILE.json` (a JSON object of strings). Repeatable.
    #[arg(long = "secret-store", value_name = "NAME=FILE.json", value_parser = parse_named_file)]
    pub secret_stores: Vec<(String, Option<PathBuf>)>,

    /// Fastlike's `-acl NAME=FILE.json` (`{"entries": [{"prefix", "action"}]}`). Repeatable.
    #[arg(long = "acl", value_name = "NAME=FILE.json", value_parser = parse_named_file)]
    pub acls: Vec<(String, Option<PathBuf>)>,

    /// Record every backend exchange (request, response head and body, timing) into
    /// DIR, one JSON file each, for --replay.
    #[arg(long = "record", value_name = "DIR", conflicts_with = "replay")]
    pub record: Option<PathBuf>,

    /// Answer backend requests from the recordings in DIR (matched by backend, method
    /// and URL; in recorded order), with no network.
    #[arg(long = "replay", value_name = "DIR")]
    pub replay: Option<PathBuf>,

    /// Put the state back to what the configuration seeds before the first request:
    /// every store holds exactly its configured entries, rate counters and penalty
    /// boxes are empty (for use with --state-dir).
    #[arg(long = "reset-state")]
    pub reset_state: bool,

    /// Stop a guest after this many milliseconds of wall-clock time (the platform's
    /// 2 minutes by default; 0: no limit).
    #[arg(long = "wall-limit-ms", value_name = "MS", default_value_t = edgeplay_host::limits::PLATFORM_WALL_MS)]
    pub wall_limit_ms: u64,

    /// After each request, print what it used of the platform's production limits:
    /// estimated CPU, heap, backend requests, dictionary lookups, wall time and
    /// package size, naming a limit that was passed and what the platform would have
    /// done (to stderr; `request --json` always has them as `limits`).
    #[arg(long = "limits")]
    pub limits: bool,

    /// Enforce every production limit as the platform does: 50 ms of estimated CPU
    /// (unless --cpu-limit-ms says otherwise), 2 minutes of wall time, 16 dictionary
    /// lookups, a package of at most 100 MB (the heap, backend request and dynamic
    /// backend limits always apply).
    #[arg(long = "production-limits")]
    pub production_limits: bool,

    /// The guest heap (wasm memory) all requests running at once may hold, in MiB
    /// (0: no pool, only each instance's 128 MiB). A guest that would pass it gets a
    /// failed `memory.grow`, as at its own heap limit, and everyone else goes on.
    #[arg(long = "memory-limit-mb", value_name = "MIB", default_value_t = 8192)]
    pub memory_limit_mb: u64,
}

/// `--unknown-import-behavior`'s value.
fn parse_unknown_imports(s: &str) -> Result<UnknownImports, String> {
    s.parse()
}

impl ConfigArgs {
    /// Apply the limit flags to `opts` (whose CPU limit `--cpu-limit-ms` set already).
    pub fn apply_limits(&self, opts: &mut edgeplay_host::ExecOptions) {
        use edgeplay_host::limits;
        opts.wall_limit_ms = (self.wall_limit_ms > 0).then_some(self.wall_limit_ms);
        opts.heap_pool = (self.memory_limit_mb > 0).then(|| {
            let bytes = usize::try_from(self.memory_limit_mb.saturating_mul(1 << 20));
            limits::HeapPool::new(bytes.unwrap_or(usize::MAX))
        });
        if self.production_limits {
            opts.cpu_limit_ms = opts.cpu_limit_ms.or(Some(limits::PLATFORM_CPU_MS));
            opts.dictionary_lookups = Some(limits::PLATFORM_DICTIONARY_LOOKUPS);
        }
    }

    /// With `--production-limits`, refuse a package the platform would not deploy.
    pub fn check_package(&self, bytes: u64) -> Result<(), String> {
        let max = edgeplay_host::limits::PLATFORM_PACKAGE_BYTES;
        if self.production_limits && bytes > max {
            return Err(format!(
                "production limits: the guest is {bytes} bytes; the platform deploys packages of at most {max} bytes"
            ));
        }
        Ok(())
    }

    /// True when a Fastlike store flag (`--dictionary`, `--kv`, …) was given.
    pub fn has_store_flags(&self) -> bool {
        !(self.dictionaries.is_empty()
            && self.config_stores.is_empty()
            && self.kv_stores.is_empty()
            && self.secret_stores.is_empty()
            && self.acls.is_empty())
    }
}

impl SharedArgs {
    /// The input path (clap makes it required).
    pub fn input(&self) -> PathBuf {
        self.input.clone().unwrap_or_default()
    }

    /// Where each request's profile goes (`--profile-dir`, else `--profile`'s), and
    /// a note about the strategy given.
    pub fn profile_dir(&self) -> (Option<PathBuf>, Option<String>) {
        match (&self.profile_dir, &self.profile) {
            (Some(dir), _) => (Some(dir.clone()), None),
            (None, Some(strategy)) => {
                let (dir, note) = crate::profile::strategy_dir(strategy);
                (Some(dir), note)
            }
            (None, None) => (None, None),
        }
    }
}

/// The help heading of [`ViceroyCompatArgs`].
const IGNORED: &str = "Viceroy options (accepted, ignored)";

/// Viceroy (and Fastly CLI) options that edgeplay accepts so existing invocations keep
/// working, but does not emulate: each one given prints a warning.
#[derive(Args, Debug, Clone, Default)]
pub struct ViceroyCompatArgs {
    /// Port of a local Pushpin proxy: `serve` hands GRIP redirects
    /// (`redirect_to_grip_proxy`) to it with `pushpin-route: BACKEND`, as Viceroy does
    /// (without it, edgeplay forwards them to the backend itself).
    #[arg(long = "local-pushpin-proxy-port", value_name = "PORT")]
    pub local_pushpin_proxy_port: Option<u16>,

    /// Experimental WASI modules to link against (wasi-nn). Accepted and ignored.
    #[arg(long = "experimental_modules", value_name = "MODULE", help_heading = IGNORED)]
    pub experimental_modules: Vec<String>,

    /// Adapt core wasm modules to components. Accepted and ignored.
    #[arg(long = "adapt", help_heading = IGNORED)]
    pub adapt: bool,

    /// Enable the Wasm Exception Handling feature. Accepted and ignored.
    #[arg(long = "wasm-exceptions", help_heading = IGNORED)]
    pub wasm_exceptions: bool,

    /// Enable the Wasm GC feature. Accepted and ignored.
    #[arg(long = "wasm-gc", help_heading = IGNORED)]
    pub wasm_gc: bool,

    /// Enable component-model GC integration. Accepted and ignored.
    #[arg(long = "wasm-cm-gc", help_heading = IGNORED)]
    pub wasm_cm_gc: bool,

    /// Debug Adapter mode (passed by `fastly compute serve --debug`). Accepted and ignored.
    #[arg(long = "debug", hide = true)]
    pub debug: bool,
}

impl ViceroyCompatArgs {
    /// One warning per option given that edgeplay ignores.
    pub fn ignored(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut flag = |given: bool, name: &str, why: &str| {
            if given {
                out.push(format!("ignoring `{name}`: {why}"));
            }
        };
        flag(
            !self.experimental_modules.is_empty(),
            "--experimental_modules",
            "experimental WASI modules are not emulated",
        );
        flag(
            self.adapt,
            "--adapt",
            "edgeplay runs core wasm modules as they are",
        );
        flag(
            self.wasm_exceptions || self.wasm_gc || self.wasm_cm_gc,
            "--wasm-exceptions/--wasm-gc/--wasm-cm-gc",
            "the interpreter's WebAssembly features are fixed",
        );
        flag(self.debug, "--debug", "Debug Adapter mode is not supported");
        out
    }
}

/// `edgeplay request`.
#[derive(Args, Debug, Clone)]
pub struct RequestArgs {
    /// The path to the service's Wasm module (binary, or text format), or a Fastly
    /// CLI package (`pkg/NAME.tar.gz`).
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,

    /// The URL (`http://example.com/path?q=1`) or path (`/path`, made absolute against
    /// http://127.0.0.1:7676, or the Host header given with -H).
    #[arg(value_name = "URL", default_value = "/")]
    pub url: String,

    /// The configuration file and `--backend` flags.
    #[command(flatten)]
    pub config: ConfigArgs,

    /// The request method (GET, or POST when --data is given).
    #[arg(short = 'X', long = "request", value_name = "METHOD")]
    pub method: Option<String>,

    /// A request header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,

    /// The request body: text, `@file` for a file's bytes, `@-` for stdin.
    #[arg(short = 'd', long = "data", value_name = "DATA")]
    pub data: Option<String>,

    /// The client address the guest sees (default 127.0.0.1, as Viceroy's loopback client).
    #[arg(long = "client-ip", value_name = "IP")]
    pub client_ip: Option<std::net::IpAddr>,

    /// The server address the guest sees (default 127.0.0.1).
    #[arg(long = "server-ip", value_name = "IP")]
    pub server_ip: Option<std::net::IpAddr>,

    /// Print one JSON object (status, headers, body, logs, stdout, stderr, trace, error,
    /// timing) instead of the response.
    #[arg(long = "json")]
    pub json: bool,

    /// Also print every hostcall the guest made (to stderr).
    #[arg(long = "trace")]
    pub trace: bool,

    /// Write the trace to FILE in the Chrome/Perfetto trace-event JSON format
    /// (open it at ui.perfetto.dev or chrome://tracing).
    #[arg(long = "trace-out", value_name = "FILE")]
    pub trace_out: Option<PathBuf>,

    /// Write the run's profile to FILE in Fastlike's profile JSON format, and a
    /// Chrome/Perfetto trace with the guest's functions, fetches and heap and fuel
    /// counters beside it (`FILE.json` → `FILE.chrome.json`).
    #[arg(long = "profile", value_name = "FILE")]
    pub profile: Option<PathBuf>,

    /// Write the run's profile into DIR as `<request id>.json` and `<request id>.chrome.json`.
    #[arg(long = "profile-dir", value_name = "DIR")]
    pub profile_dir: Option<PathBuf>,

    /// Stop the guest after this many milliseconds of estimated platform CPU time (0: no limit).
    #[arg(long = "cpu-limit-ms", value_name = "MS", default_value_t = 0)]
    pub cpu_limit_ms: u64,

    /// Verbosity of edgeplay's own messages (to stderr): -v INFO, -vv DEBUG, -vvv TRACE.
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    pub verbosity: u8,

    /// Step through the guest's hostcalls: pause before each one, print it decoded (to
    /// stderr) and wait for a line on stdin: Enter steps, `c` continues to the next
    /// `--break`, `r` runs to the end, `q` stops the guest.
    #[arg(long = "step")]
    pub step: bool,

    /// Pause at SPEC (repeatable; without --step the guest runs to the first one): a
    /// module (`fastly_http_req`, or `http_req`), `module::name`, `send` (a backend
    /// send), `kv` (a KV store call), `cache` (a cache call), or `status` (after a call
    /// that returned a status other than OK).
    #[arg(long = "break", value_name = "SPEC")]
    pub breakpoints: Vec<edgeplay_host::step::Breakpoint>,
}

/// Parse one `--backend` value (Fastlike's form; see
/// [`edgeplay_host::config::parse_backend_flag`]).
fn parse_backend(flag: &str) -> Result<(String, BackendConfig), String> {
    edgeplay_host::config::parse_backend_flag(flag)
}

/// Parse Fastlike's `NAME=FILE` (or `NAME`) store flags.
fn parse_named_file(flag: &str) -> Result<(String, Option<PathBuf>), String> {
    let (name, file) = match flag.split_once('=') {
        Some((n, f)) => (n, Some(f)),
        None => (flag, None),
    };
    if name.is_empty() {
        return Err(format!("{flag:?}: expected NAME=FILE.json"));
    }
    if file.is_some_and(str::is_empty) {
        return Err(format!("{flag:?}: the file name is empty"));
    }
    Ok((name.to_string(), file.map(PathBuf::from)))
}

/// `edgeplay coverage`.
#[derive(Args, Debug, Clone)]
pub struct CoverageArgs {
    /// Print a Markdown table (what the README embeds).
    #[arg(long = "markdown")]
    pub markdown: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Commands, clap::Error> {
        Opts::try_parse_from(args).map(Opts::into_command)
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Opts::command().debug_assert();
    }

    #[test]
    fn serve_is_the_default_with_viceroys_address() {
        match parse(&["edgeplay", "app.wasm"]).unwrap() {
            Commands::Serve(s) => {
                assert_eq!(s.addr(), "127.0.0.1:7676".parse().unwrap());
                assert_eq!(s.shared.input(), PathBuf::from("app.wasm"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn fastly_cli_invocations_parse() {
        let c = parse(&[
            "edgeplay",
            "-C",
            "/p/fastly.toml",
            "--addr",
            "127.0.0.1:7676",
            "bin/main.wasm",
            "--debug",
            "-v",
        ])
        .unwrap();
        match c {
            Commands::Serve(s) => {
                assert_eq!(s.shared.verbosity, 1);
                assert!(s.shared.compat.debug);
                assert_eq!(
                    s.shared.config.config_path,
                    Some(PathBuf::from("/p/fastly.toml"))
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn viceroy_only_flags_are_accepted() {
        let c = parse(&[
            "edgeplay",
            "serve",
            "--profile",
            "guest,/tmp/p,50us",
            "--unknown-import-behavior",
            "trap",
            "--experimental_modules",
            "wasi-nn",
            "--local-pushpin-proxy-port",
            "7999",
            "--adapt",
            "--wasm-gc",
            "-vv",
            "app.wasm",
        ])
        .unwrap();
        match c {
            Commands::Serve(s) => {
                assert_eq!(s.shared.compat.ignored().len(), 3);
                assert_eq!(s.shared.compat.local_pushpin_proxy_port, Some(7999));
                assert_eq!(s.shared.config.unknown_imports, UnknownImports::Trap);
                assert_eq!(s.shared.profile.as_deref(), Some("guest,/tmp/p,50us"));
                assert_eq!(s.shared.profile_dir().0, Some(PathBuf::from("/tmp/p")));
                assert_eq!(s.shared.verbosity, 2);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ipv6_and_bad_addresses() {
        match parse(&["edgeplay", "--addr", "[::1]:7676", "a.wasm"]).unwrap() {
            Commands::Serve(s) => assert_eq!(s.addr(), "[::1]:7676".parse().unwrap()),
            other => panic!("{other:?}"),
        }
        assert!(parse(&["edgeplay", "--addr", "999.0.0.1:7676", "a.wasm"]).is_err());
    }

    #[test]
    fn run_collects_trailing_args_as_viceroy_does() {
        for args in [
            &["edgeplay", "run", "a.wasm", "--", "--x", "-y"][..],
            &["edgeplay", "run", "--", "a.wasm", "--x", "-y"][..],
        ] {
            match parse(args).unwrap() {
                Commands::Run(r) => {
                    assert_eq!(r.shared.input(), PathBuf::from("a.wasm"));
                    assert_eq!(r.wasm_args, ["--x", "-y"]);
                }
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn request_takes_curl_like_options() {
        match parse(&[
            "edgeplay",
            "request",
            "a.wasm",
            "-X",
            "PUT",
            "-H",
            "x-a: 1",
            "-H",
            "x-b: 2",
            "--data",
            "@body.txt",
            "--json",
            "/p?q=1",
        ])
        .unwrap()
        {
            Commands::Request(r) => {
                assert_eq!(r.method.as_deref(), Some("PUT"));
                assert_eq!(r.headers.len(), 2);
                assert_eq!(r.url, "/p?q=1");
                assert!(r.json);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn backends_take_fastlikes_form() {
        match parse(&[
            "edgeplay",
            "--backend",
            "origin=127.0.0.1:9000",
            "--backend",
            "flaky=localhost:9001@50",
            "a.wasm",
        ])
        .unwrap()
        {
            Commands::Serve(s) => {
                let b = &s.shared.config.backends;
                assert_eq!(b.len(), 2);
                assert_eq!(b[0].0, "origin");
                assert_eq!(b[0].1.url, "http://127.0.0.1:9000");
                assert_eq!(b[0].1.reachable_percent, None);
                assert_eq!(b[1].0, "flaky");
                assert_eq!(b[1].1.reachable_percent, Some(50));
            }
            other => panic!("{other:?}"),
        }
        match parse(&[
            "edgeplay",
            "request",
            "a.wasm",
            "--backend",
            "o=http://h:1/",
        ])
        .unwrap()
        {
            Commands::Request(r) => assert_eq!(r.config.backends[0].1.url, "http://h:1/"),
            other => panic!("{other:?}"),
        }
        assert!(parse(&["edgeplay", "--backend", "no-name", "a.wasm"]).is_err());
        assert!(parse(&["edgeplay", "--backend", "o=h:1@101", "a.wasm"]).is_err());
    }

    #[test]
    fn an_input_is_required() {
        assert!(parse(&["edgeplay"]).is_err());
        assert!(parse(&["edgeplay", "run"]).is_err());
    }
}
