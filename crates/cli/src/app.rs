//! The subcommands: what `edgeplay` does once its command line is parsed.

use crate::cli::{Commands, ConfigArgs, CoverageArgs, RequestArgs, RunArgs, ServeArgs, SharedArgs};
use crate::driver::{
    run_request_stepping, viceroy_request_id, RequestResult, StepAnswer, StepUser,
};
use crate::load::{load_config, load_guest, read_data};
use crate::logging::{init_tracing, GuestPrinter, LogDest, COMPAT_TARGET};
use crate::platform::native_platform;
use crate::serve::{bind, serve, ServeCtx};
use crate::state::ServiceState;
use anyhow::{anyhow, Result};
use base64::Engine as _;
use edgeplay_host::abi::Coverage;
use edgeplay_host::step::{Resume, StepPolicy};
use edgeplay_host::{
    Capabilities, DownstreamRequest, Engine, ExecOptions, Exit, Guest, ServiceConfig,
    UnknownImports,
};
use serde::Serialize;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use tracing::{error, info, warn};

/// The exit code of a guest that trapped under `run`: 128 + SIGABRT on Unix, as Viceroy
/// (and wasmtime) report a trap; 3 on Windows.
pub const TRAP_EXIT_CODE: u8 = if cfg!(windows) { 3 } else { 134 };

/// Run a parsed command; the process exits with the code returned.
pub async fn main(cmd: Commands) -> ExitCode {
    match cmd {
        Commands::Serve(a) => serve_cmd(a).await,
        Commands::Run(a) => run_cmd(a).await,
        Commands::Request(a) => request_cmd(a).await,
        Commands::Coverage(a) => coverage_cmd(a),
        Commands::Test(a) => crate::fiddle::test_cmd(a).await,
        Commands::Build(a) => build_cmd(a),
        Commands::Diff(a) => diff_cmd(a),
        Commands::Explain(a) => explain_cmd(a),
    }
}

/// `edgeplay build`.
pub fn build_cmd(args: crate::cli::BuildArgs) -> ExitCode {
    init_tracing(0, LogDest::Stderr, false);
    let run = || -> Result<()> {
        let engine_path = crate::jsbuild::find_engine(args.engine.as_deref())?;
        let source = crate::jsbuild::read_source(&args.input)?;
        let engine = Engine::new(native_platform());
        let t0 = std::time::Instant::now();
        let r = crate::jsbuild::build(&engine, &engine_path, &source, args.no_cache)?;
        print!("{}", r.stdout);
        if let Some(d) = r.details.as_ref().filter(|_| args.verbose) {
            eprintln!("{d}");
        }
        if let Some(dir) = args.output.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| anyhow!("could not create {}: {e}", dir.display()))?;
        }
        std::fs::write(&args.output, &r.wasm)
            .map_err(|e| anyhow!("could not write {}: {e}", args.output.display()))?;
        let (load, init, write) = r.times_ms;
        eprintln!(
            "built {} ({} bytes) in {:.0} ms{}",
            args.output.display(),
            r.wasm.len(),
            t0.elapsed().as_secs_f64() * 1000.0,
            if r.cached {
                " (cached)".to_string()
            } else {
                format!(": engine {load:.0} ms, initialisation {init:.0} ms, module {write:.0} ms")
            }
        );
        Ok(())
    };
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The execution options the command line asks for.
pub fn exec_options(cpu_limit_ms: u64, trace: bool) -> ExecOptions {
    ExecOptions {
        cpu_limit_ms: (cpu_limit_ms > 0).then_some(cpu_limit_ms),
        trace,
        wall_limit_ms: Some(edgeplay_host::limits::PLATFORM_WALL_MS),
        ..ExecOptions::default()
    }
}

/// The engine, with what `--unknown-import-behavior` asks for.
fn engine_for(args: &ConfigArgs) -> Engine {
    Engine::with_options(
        native_platform(),
        edgeplay_host::EngineOptions {
            unknown_imports: args.unknown_imports,
            ..Default::default()
        },
    )
}

/// Engine, guest and service state for `serve` and `run`, with Viceroy's warnings.
fn prepare(shared: &SharedArgs) -> Result<(Arc<Engine>, Arc<Guest>, ServiceState)> {
    for w in shared.compat.ignored() {
        warn!(target: COMPAT_TARGET, "{w}");
    }
    let engine = Arc::new(engine_for(&shared.config));
    let input = shared.input();
    let (guest, config) = load_inputs(&engine, &input, &shared.config)?;
    let state = service_state(config, &shared.config)?;
    Ok((engine, guest, state))
}

/// The service's state: in memory, or in `--state-dir` (seeded from the
/// configuration either way; `--reset-state` puts it back to the seed first).
fn service_state(config: ServiceConfig, args: &ConfigArgs) -> Result<ServiceState> {
    if args.reset_state && args.state_dir.is_none() {
        info!("--reset-state without --state-dir: the state starts from the configuration anyway");
    }
    let state = ServiceState::open(
        Arc::new(config),
        args.state_dir.as_deref(),
        args.reset_state,
    )?;
    if let Some(dir) = state.dir() {
        info!("service state kept in {}", dir.display());
    }
    Ok(state)
}

/// The size of what the platform would deploy: a Fastly CLI package's file, else the
/// guest's wasm (a JavaScript app: the wasm it was built into).
pub fn package_bytes(input: &Path, guest: &Guest) -> u64 {
    let name = input.to_string_lossy();
    if name.ends_with(".tar.gz") || name.ends_with(".tgz") {
        if let Ok(m) = std::fs::metadata(input) {
            return m.len();
        }
    }
    guest.info.size as u64
}

/// Load the guest and the configuration (the file, then the `--backend` flags),
/// logging what was loaded.
fn load_inputs(
    engine: &Engine,
    input: &Path,
    args: &ConfigArgs,
) -> Result<(Arc<Guest>, ServiceConfig)> {
    let (guest, package_toml, took) = load_guest(engine, input)?;
    args.check_package(package_bytes(input, &guest))
        .map_err(|e| anyhow!(e))?;
    info!(
        "loaded {} ({} bytes) in {:.1?}",
        input.display(),
        guest.info.size,
        took
    );
    for imp in &guest.info.unknown_imports {
        match args.unknown_imports {
            UnknownImports::ZeroOrNull => warn!("the guest imports `{imp}`, which is not part of the Compute ABI: calling it returns zeros (--unknown-import-behavior=zero-or-null)"),
            _ => warn!("the guest imports `{imp}`, which is not part of the Compute ABI: calling it traps"),
        }
    }
    let mut config = match &args.config_path {
        Some(p) => {
            let c = load_config(p)?;
            if c.backends.is_empty() && args.backends.is_empty() {
                warn!("no backend definitions found in {}", p.display());
            }
            c
        }
        // A Fastly CLI package brings its own fastly.toml (files it names are read
        // beside the package).
        None if package_toml.is_some() => {
            let text = package_toml.unwrap_or_default();
            let at = input.with_file_name("fastly.toml");
            info!("using the fastly.toml inside {}", input.display());
            crate::load::load_config_text(&text, &at)?
        }
        None if !args.backends.is_empty() || args.has_store_flags() => ServiceConfig::default(),
        None => {
            warn!("no configuration provided, invoke with `-C <TOML_FILE>` to provide a configuration");
            ServiceConfig::default()
        }
    };
    crate::load::apply_fastlike_stores(&mut config, args)?;
    install_tap(args.record.as_deref(), args.replay.as_deref(), Vec::new())?;
    for (name, backend) in &args.backends {
        if config
            .backends
            .insert(name.clone(), backend.clone())
            .is_some()
        {
            info!(
                "--backend {name}={} replaces the configuration file's backend {name:?}",
                backend.url
            );
        }
    }
    Ok((guest, config))
}

/// Install `--record DIR` or `--replay DIR`, else replay `recordings` when there
/// are any (a fiddle's).
pub fn install_tap(
    record: Option<&Path>,
    replay: Option<&Path>,
    recordings: Vec<edgeplay_host::fiddle::Recording>,
) -> Result<()> {
    use crate::tap;
    if let Some(dir) = record {
        info!("recording backend exchanges in {}", dir.display());
        return tap::install(tap::recorder(dir)?);
    }
    let recordings = match replay {
        Some(dir) => {
            let r = tap::load_dir(dir)?;
            info!(
                "replaying {} recorded exchanges from {}",
                r.len(),
                dir.display()
            );
            r
        }
        None => recordings,
    };
    if replay.is_some() || !recordings.is_empty() {
        let replayer = edgeplay_host::fiddle::Replayer::new(recordings);
        tap::install(tap::Tap::Replay(std::sync::Mutex::new(replayer)))?;
    }
    Ok(())
}

/// `edgeplay serve`.
pub async fn serve_cmd(args: ServeArgs) -> ExitCode {
    let addr = args.addr();
    init_tracing(args.shared.verbosity, LogDest::Viceroy, addr.port() == 0);
    let (engine, guest, state) = match prepare(&args.shared) {
        Ok(p) => p,
        Err(e) => {
            error!("{e:#}");
            return ExitCode::FAILURE;
        }
    };
    let (profile_dir, note) = args.shared.profile_dir();
    if let Some(note) = note {
        warn!("{note}");
    }
    let mut ctx = ServeCtx::with_state(
        engine,
        guest,
        state,
        // A profile needs the hostcalls traced.
        {
            let mut opts = exec_options(
                args.shared.cpu_limit_ms,
                args.shared.verbosity >= 2 || profile_dir.is_some(),
            );
            args.shared.config.apply_limits(&mut opts);
            opts
        },
        GuestPrinter {
            log_stdout: args.shared.log_stdout,
            log_stderr: args.shared.log_stderr,
            all_to_stderr: false,
        },
    );
    ctx.profile_dir = profile_dir;
    ctx.limits = args.shared.config.limits;
    ctx.pushpin_port = args.shared.compat.local_pushpin_proxy_port;
    let ctx = Arc::new(ctx);
    let stop = interrupted();
    let listener = match bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            error!("could not listen on {addr}: {e}");
            return ExitCode::FAILURE;
        }
    };
    if args.watch {
        tokio::spawn(watch(ctx.clone(), args.shared.input()));
    }
    serve(listener, ctx, stop).await;
    info!("shutting down");
    ExitCode::SUCCESS
}

/// Ctrl-C (SIGINT). The handler is registered now, before the server accepts
/// anything: `tokio::signal::ctrl_c` registers only when first polled, and a
/// signal that came before that would end the process without a clean shutdown.
fn interrupted() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let sig = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
    async move {
        #[cfg(unix)]
        if let Ok(mut sig) = sig {
            sig.recv().await;
            return;
        }
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// `serve --watch`: poll the input's bytes (a JavaScript app's files) and reload it
/// (rebuild a JavaScript app) when they change. A failed load is logged and the old guest keeps serving.
async fn watch(ctx: Arc<ServeCtx>, input: std::path::PathBuf) {
    // A JavaScript app is its files (the entry point and what it imports).
    let read = |p: &Path| -> Option<Vec<u8>> {
        if crate::jsbuild::is_js(p) {
            let src = crate::jsbuild::read_source(p).ok()?;
            Some(serde_json::to_vec(&src.files).unwrap_or_default())
        } else {
            std::fs::read(p).ok()
        }
    };
    let mut last = read(&input);
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        let now = read(&input);
        if now.is_none() || now == last {
            continue;
        }
        last = now;
        info!("{} changed: reloading", input.display());
        let (engine, path) = (ctx.engine.clone(), input.clone());
        let loaded = tokio::task::spawn_blocking(move || load_guest(&engine, &path)).await;
        match loaded {
            Ok(Ok((guest, _, took))) => {
                ctx.set_guest(guest);
                info!("reloaded {} in {took:.1?}", input.display());
            }
            Ok(Err(e)) => error!("{e:#}; still serving the previous version"),
            Err(e) => error!("reloading {} failed: {e}", input.display()),
        }
    }
}

/// `edgeplay run`: one execution, no server, the guest's exit code passed through.
pub async fn run_cmd(args: RunArgs) -> ExitCode {
    init_tracing(args.shared.verbosity, LogDest::Viceroy, false);
    let (engine, guest, state) = match prepare(&args.shared) {
        Ok(p) => p,
        Err(e) => {
            error!("{e:#}");
            return ExitCode::FAILURE;
        }
    };
    let input = args.shared.input();
    let program_name = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "main".to_string());
    // Viceroy's placeholder request for `run`: GET http://example.com/, no body,
    // client and server on loopback.
    let request = DownstreamRequest::new("GET", "http://example.com/");
    let (profile_dir, note) = args.shared.profile_dir();
    if let Some(note) = note {
        warn!("{note}");
    }
    let mut opts = exec_options(
        args.shared.cpu_limit_ms,
        args.shared.verbosity >= 2 || profile_dir.is_some(),
    );
    args.shared.config.apply_limits(&mut opts);
    // Viceroy's argv for `run`: the file stem, then the args after `--`.
    let mut argv = vec![program_name];
    argv.extend(args.wasm_args.iter().cloned());
    opts.args = Some(argv);
    let exec = match crate::driver::start(
        &engine,
        guest,
        state.service.clone(),
        request,
        viceroy_request_id(0),
        opts,
        Capabilities::NATIVE,
    ) {
        Ok(e) => e,
        Err(e) => {
            error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let printer = GuestPrinter {
        log_stdout: args.shared.log_stdout,
        log_stderr: args.shared.log_stderr,
        all_to_stderr: false,
    };
    let on_output = |o: edgeplay_host::Output| {
        printer.print(&o);
    };
    let (outcome, trace, profile, _) =
        crate::driver::drive_profiled(exec, on_output, std::future::pending(), None).await;
    if let Err(e) = state.flush() {
        error!("{e:#}");
        return ExitCode::FAILURE;
    }
    if let (Some(dir), Some(profile)) = (&profile_dir, &profile) {
        if let Err(e) = crate::profile::write_in(dir, profile, &trace) {
            error!("{e:#}");
            return ExitCode::FAILURE;
        }
    }
    for ev in &trace {
        tracing::debug!("{}", ev.summary());
    }
    let message = outcome.exit.error_message().unwrap_or_default();
    match outcome.exit {
        Exit::Returned => ExitCode::SUCCESS,
        // As Viceroy: `proc_exit(n)` exits with n (as a byte), silently.
        Exit::Exit(code) => ExitCode::from(code as u8),
        Exit::Trap { .. } => {
            error!("{message}");
            ExitCode::from(TRAP_EXIT_CODE)
        }
        Exit::CpuLimit { .. } | Exit::Stopped => {
            error!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// Parse `-H 'Name: value'`.
fn parse_header(h: &str) -> Result<(String, String)> {
    let (name, value) = h
        .split_once(':')
        .ok_or_else(|| anyhow!("invalid header {h:?}: expected `Name: value`"))?;
    let name = name.trim();
    if name.is_empty() || http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(anyhow!("invalid header name in {h:?}"));
    }
    Ok((name.to_string(), value.trim().to_string()))
}

/// The downstream request `edgeplay request` sends.
pub fn build_request(args: &RequestArgs) -> Result<DownstreamRequest> {
    let headers = args
        .headers
        .iter()
        .map(|h| parse_header(h))
        .collect::<Result<Vec<_>>>()?;
    let body = match &args.data {
        Some(d) => Some(read_data(d)?),
        None => None,
    };
    let method = match &args.method {
        Some(m) => m.clone(),
        None if body.is_some() => "POST".to_string(),
        None => "GET".to_string(),
    };
    if http::Method::from_bytes(method.as_bytes()).is_err() {
        return Err(anyhow!("invalid method {method:?}"));
    }
    let host = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("host"))
        .map(|(_, v)| v.clone());
    let url = match (&host, args.url.starts_with('/')) {
        (Some(h), true) => format!("http://{h}{}", args.url),
        _ => args.url.clone(),
    };
    let mut req = DownstreamRequest::new(&method, &url);
    if !is_absolute_url(&req.url) {
        return Err(anyhow!("invalid URL {:?}", args.url));
    }
    for (name, value) in headers {
        if name.eq_ignore_ascii_case("host") {
            req.headers.insert("host", value.as_bytes());
            req.original_header_names
                .retain(|n| !n.eq_ignore_ascii_case("host"));
            req.original_header_names.insert(0, name);
        } else {
            req = req.with_header(&name, value.as_bytes());
        }
    }
    if let Some(b) = body {
        req.body = b;
    }
    if let Some(ip) = args.client_ip {
        req.client_ip = ip;
    }
    if let Some(ip) = args.server_ip {
        req.server_ip = ip;
    }
    Ok(req)
}

/// True for a valid absolute URL.
fn is_absolute_url(u: &str) -> bool {
    u.parse::<http::Uri>()
        .is_ok_and(|u| u.scheme().is_some() && u.authority().is_some())
}

/// The `--json` output of `edgeplay request`.
#[derive(Serialize)]
struct RequestJson<'a> {
    status: u16,
    headers: Vec<[String; 2]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    body_base64: Option<String>,
    logs: &'a [edgeplay_host::LogLine],
    stdout: String,
    stderr: String,
    trace: &'a [edgeplay_host::TraceEvent],
    /// Informational (1xx) responses the guest sent before the final one.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    informational: Vec<Informational>,
    error: Option<String>,
    timing: Timing,
}

/// One informational response in the `--json` output.
#[derive(Serialize)]
struct Informational {
    status: u16,
    headers: Vec<[String; 2]>,
}

fn header_pairs(h: &edgeplay_host::Headers) -> Vec<[String; 2]> {
    h.iter()
        .map(|(n, v)| [n.to_string(), String::from_utf8_lossy(v).into_owned()])
        .collect()
}

#[derive(Serialize)]
struct Timing {
    load_us: u64,
    run_us: u64,
    fuel: u64,
    cpu_ms_estimate: f64,
}

/// The JSON object `edgeplay request --json` prints.
pub fn request_json(r: &RequestResult, load_us: u64) -> serde_json::Value {
    let (body, body_base64) = match std::str::from_utf8(&r.response.body) {
        Ok(s) => (Some(s.to_string()), None),
        Err(_) => (
            None,
            Some(base64::engine::general_purpose::STANDARD.encode(&r.response.body)),
        ),
    };
    let j = RequestJson {
        status: r.response.status,
        headers: header_pairs(&r.response.headers),
        body,
        body_base64,
        logs: &r.collected.logs,
        stdout: String::from_utf8_lossy(&r.collected.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&r.collected.stderr).into_owned(),
        trace: &r.trace,
        informational: r
            .collected
            .informational
            .iter()
            .map(|h| Informational {
                status: h.status,
                headers: header_pairs(&h.headers),
            })
            .collect(),
        error: r.response.error.clone(),
        timing: Timing {
            load_us,
            run_us: r.run_us,
            fuel: r.outcome.fuel,
            cpu_ms_estimate: r.outcome.cpu_ms_estimate,
        },
    };
    serde_json::to_value(j).unwrap_or(serde_json::Value::Null)
}

/// The response as `curl -i` shows it: status line, headers, blank line, body.
pub fn response_text(r: &RequestResult) -> Vec<u8> {
    let version = r
        .collected
        .head
        .as_ref()
        .map_or("HTTP/1.1", |h| h.version.as_str());
    let reason = http::StatusCode::from_u16(r.response.status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    let mut out = format!("{version} {} {reason}", r.response.status)
        .trim_end()
        .as_bytes()
        .to_vec();
    out.push(b'\n');
    for (n, v) in r.response.headers.iter() {
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v);
        out.push(b'\n');
    }
    out.push(b'\n');
    out.extend_from_slice(&r.response.body);
    out
}

/// What `edgeplay request --step` prompts with.
pub const STEP_PROMPT: &str = "step> [Enter] step, c continue, r run to end, q stop";

/// One answer line of `--step`: Enter steps, `c` continues, `r` runs to the end, `q`
/// stops; `None` for anything else.
pub fn step_answer(line: &str) -> Option<StepAnswer> {
    Some(match line.trim() {
        "" | "s" => StepAnswer::Resume(Resume::Step),
        "c" => StepAnswer::Resume(Resume::Continue),
        "r" => StepAnswer::Resume(Resume::RunToEnd),
        "q" => StepAnswer::Stop,
        _ => return None,
    })
}

/// The `--step` user: paused calls are printed to stderr, answers read from stdin by
/// a thread of their own (so outside work goes on while the guest is paused). The
/// end of stdin runs the guest to its end.
fn step_user_on_stdin() -> StepUser {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        let mut line = String::new();
        loop {
            line.clear();
            match stdin.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            match step_answer(&line) {
                Some(a) => {
                    if tx.send(a).is_err() {
                        return;
                    }
                }
                None => eprintln!("{STEP_PROMPT}"),
            }
        }
    });
    StepUser {
        show: Box::new(|call| {
            let mut err = std::io::stderr().lock();
            let _ = writeln!(err, "{call}\n{STEP_PROMPT}");
            let _ = err.flush();
        }),
        answers: rx,
    }
}

/// `edgeplay request`.
pub async fn request_cmd(args: RequestArgs) -> ExitCode {
    init_tracing(args.verbosity, LogDest::Stderr, false);
    let engine = engine_for(&args.config);
    let t0 = std::time::Instant::now();
    let loaded = load_inputs(&engine, &args.input, &args.config).and_then(|(g, c)| {
        let request = build_request(&args)?;
        Ok((g, service_state(c, &args.config)?, request))
    });
    let (guest, state, request) = match loaded {
        Ok(x) => x,
        Err(e) => {
            error!("{e:#}");
            return ExitCode::FAILURE;
        }
    };
    let load_us = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
    let printer = GuestPrinter {
        log_stdout: false,
        log_stderr: false,
        all_to_stderr: true,
    };
    let json = args.json;
    let package = package_bytes(&args.input, &guest);
    let load_phases = guest.info.load_phases;
    let mut opts = exec_options(args.cpu_limit_ms, true);
    args.config.apply_limits(&mut opts);
    let fuel_per_cpu_ms = opts.fuel_per_cpu_ms;
    let mut user = None;
    if args.step || !args.breakpoints.is_empty() {
        let bps = args.breakpoints.clone();
        opts.step = Some(if args.step {
            StepPolicy::stepping(bps)
        } else {
            StepPolicy::at(bps)
        });
        user = Some(step_user_on_stdin());
    }
    let result = run_request_stepping(
        &engine,
        guest,
        state.service.clone(),
        request,
        opts,
        |o| {
            if !json {
                printer.print(o);
            }
        },
        user,
    )
    .await;
    if let Err(e) = state.flush() {
        error!("{e:#}");
        return ExitCode::FAILURE;
    }
    if let Some(profile) = &result.profile {
        let written = match (&args.profile, &args.profile_dir) {
            (Some(file), _) => Some(crate::profile::write(file, profile, &result.trace)),
            (None, Some(dir)) => {
                Some(crate::profile::write_in(dir, profile, &result.trace).map(|_| ()))
            }
            (None, None) => None,
        };
        if let Some(Err(e)) = written {
            error!("{e:#}");
            return ExitCode::FAILURE;
        }
    }
    if let Some(path) = &args.trace_out {
        let doc = edgeplay_host::trace::to_chrome_trace(&result.trace);
        if let Err(e) = std::fs::write(path, doc.to_string()) {
            error!("could not write the trace to {}: {e}", path.display());
            return ExitCode::FAILURE;
        }
    }
    let gauges =
        edgeplay_host::limits::gauges(&result.usage, fuel_per_cpu_ms, result.run_us, package);
    if json {
        let mut v = request_json(&result, load_us);
        // Where the module's load went (the engine's own part of `load_us`).
        v["timing"]["load_phases"] = serde_json::to_value(load_phases).unwrap_or_default();
        v["limits"] = serde_json::to_value(&gauges).unwrap_or_default();
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "{v}");
        let _ = stdout.flush();
    } else {
        if args.trace {
            let mut events: Vec<_> = result.trace.iter().collect();
            events.sort_by_key(|e| e.seq);
            let mut err = std::io::stderr().lock();
            for ev in events {
                let _ = writeln!(
                    err,
                    "[{:>4}] {:>10.1}us  {}",
                    ev.seq,
                    ev.start_us,
                    ev.summary()
                );
            }
        }
        if let Some(e) = &result.response.error {
            error!("{e}");
        }
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(&response_text(&result));
        let _ = stdout.flush();
        if args.config.limits {
            eprint!("{}", edgeplay_host::limits::gauges_text(&gauges));
        }
    }
    if result.outcome.exit.is_success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The coverage table: plain columns, or Markdown (the README's table, rendered by the
/// core): a row per ABI group and a total row; the plain table then lists the
/// unsupported imports by name.
pub fn coverage_table(rows: &[Coverage], markdown: bool) -> String {
    let emulated: usize = rows.iter().map(|r| r.emulated).sum();
    let unsupported: usize = rows.iter().map(|r| r.unsupported).sum();
    let mut out = String::new();
    if markdown {
        out = edgeplay_host::abi::coverage_markdown(rows);
    } else {
        let w = rows.iter().map(|r| r.group.len()).max().unwrap_or(5).max(5);
        out.push_str(&format!(
            "{:<w$}  {:>8}  {:>11}\n",
            "group", "emulated", "unsupported"
        ));
        for r in rows {
            out.push_str(&format!(
                "{:<w$}  {:>8}  {:>11}\n",
                r.group, r.emulated, r.unsupported
            ));
        }
        out.push_str(&format!(
            "{:<w$}  {:>8}  {:>11}\n",
            "total", emulated, unsupported
        ));
        let names: Vec<&str> = rows
            .iter()
            .flat_map(|r| r.unsupported_names.iter().map(String::as_str))
            .collect();
        if !names.is_empty() {
            out.push_str("\nunsupported (answer UNSUPPORTED, ENOSYS for WASI):\n");
            for n in names {
                out.push_str(&format!("  {n}\n"));
            }
        }
    }
    out
}

/// `edgeplay diff A B`: 0 when the runs do not differ, 1 when they do, 2 when an
/// input is not a run.
pub fn diff_cmd(args: crate::cli::DiffArgs) -> ExitCode {
    use edgeplay_host::rundiff::{diff, RunView};
    let read = |p: &Path| -> Result<RunView> {
        let text = std::fs::read_to_string(p)
            .map_err(|e| anyhow!("could not read {}: {e}", p.display()))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| anyhow!("{} is not JSON: {e}", p.display()))?;
        RunView::from_request_json(&v).map_err(|e| anyhow!("{}: {e}", p.display()))
    };
    let (a, b) = match (read(&args.a), read(&args.b)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    let d = diff(&a, &b);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&d).unwrap_or_default());
    } else {
        print!("{}", d.to_text());
    }
    if d.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `edgeplay coverage`.
pub fn coverage_cmd(args: CoverageArgs) -> ExitCode {
    let engine = Engine::new(native_platform());
    print!("{}", coverage_table(&engine.coverage(), args.markdown));
    ExitCode::SUCCESS
}

/// The cards an `edgeplay explain` argument names: `module::name` or `module.name`
/// exactly, else every card whose import name is the argument.
pub fn find_cards(import: &str) -> Vec<&'static edgeplay_host::cards::Card> {
    if let Some(c) = edgeplay_host::cards::lookup(import) {
        return vec![c];
    }
    edgeplay_host::cards::all()
        .cards
        .values()
        .filter(|c| c.name == import)
        .collect()
}

/// `edgeplay explain`: print one import's card; exits 2 when the argument names no
/// import, or several (it lists them).
pub fn explain_cmd(args: crate::cli::ExplainArgs) -> ExitCode {
    match find_cards(&args.import).as_slice() {
        [card] => {
            if args.json {
                match serde_json::to_string_pretty(card) {
                    Ok(j) => println!("{j}"),
                    Err(e) => {
                        eprintln!("edgeplay: {e}");
                        return ExitCode::from(1);
                    }
                }
            } else {
                print!("{}", card.to_text(args.status.as_deref()));
            }
            if let Some(st) = args.status.as_deref().filter(|s| card.status(s).is_none()) {
                eprintln!("edgeplay: {} does not list status {st:?}", card.id());
            }
            ExitCode::SUCCESS
        }
        [] => {
            eprintln!(
                "edgeplay: no import {:?}; name one as module::name (edgeplay coverage lists the groups)",
                args.import
            );
            ExitCode::from(2)
        }
        many => {
            eprintln!(
                "edgeplay: {:?} is an import of several modules: {}",
                args.import,
                many.iter().map(|c| c.id()).collect::<Vec<_>>().join(", ")
            );
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn request_args(args: &[&str]) -> RequestArgs {
        let mut v = vec!["edgeplay", "request", "a.wasm"];
        v.extend_from_slice(args);
        match crate::cli::Opts::parse_from(v).into_command() {
            Commands::Request(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn step_flags_and_answers_parse() {
        use edgeplay_host::step::Breakpoint;
        let r = request_args(&["--step", "--break", "send", "--break", "fastly_log::write"]);
        assert!(r.step);
        assert_eq!(
            r.breakpoints,
            vec![
                Breakpoint::Send,
                Breakpoint::Import {
                    module: "fastly_log".into(),
                    name: "write".into()
                }
            ]
        );
        let bad =
            crate::cli::Opts::try_parse_from(["edgeplay", "request", "a.wasm", "--break", "a b"]);
        assert!(bad.is_err());
        assert_eq!(step_answer("\n"), Some(StepAnswer::Resume(Resume::Step)));
        assert_eq!(
            step_answer("c\n"),
            Some(StepAnswer::Resume(Resume::Continue))
        );
        assert_eq!(
            step_answer(" r "),
            Some(StepAnswer::Resume(Resume::RunToEnd))
        );
        assert_eq!(step_answer("q"), Some(StepAnswer::Stop));
        assert_eq!(step_answer("x"), None);
    }

    #[test]
    fn requests_are_built_like_curl() {
        let r = build_request(&request_args(&["-H", "X-A:  1 ", "/p?q=1"])).unwrap();
        assert_eq!(r.method, "GET");
        assert_eq!(r.url, "http://127.0.0.1:7676/p?q=1");
        assert_eq!(r.headers.get("x-a"), Some(&b"1"[..]));
        assert_eq!(r.original_header_names, ["host", "X-A"]);

        let r = build_request(&request_args(&[
            "-d",
            "hi",
            "-H",
            "Host: example.com",
            "/x",
        ]))
        .unwrap();
        assert_eq!(r.method, "POST");
        assert_eq!(r.url, "http://example.com/x");
        assert_eq!(r.headers.get_all("host"), [&b"example.com"[..]]);
        assert_eq!(r.original_header_names, ["Host"]);
        assert_eq!(r.body, b"hi");

        let r = build_request(&request_args(&["--client-ip", "203.0.113.7", "/"])).unwrap();
        assert_eq!(r.client_ip.to_string(), "203.0.113.7");
        assert_eq!(r.server_ip.to_string(), "127.0.0.1");

        assert!(build_request(&request_args(&["-H", "nocolon"])).is_err());
        assert!(build_request(&request_args(&["-X", "BAD METHOD"])).is_err());
    }

    #[test]
    fn coverage_markdown_has_a_total_row() {
        let rows = vec![
            Coverage {
                group: "a",
                emulated: 2,
                unsupported: 1,
                unsupported_names: vec![],
            },
            Coverage {
                group: "b",
                emulated: 0,
                unsupported: 3,
                unsupported_names: vec!["m::x".into(), "m::y".into(), "m::z".into()],
            },
        ];
        let md = coverage_table(&rows, true);
        assert_eq!(
            md,
            "| ABI group | emulated | unsupported (links, answers UNSUPPORTED) |\n|---|---:|---:|\n| `a` | 2 | 1 |\n| `b` | 0 | 3 |\n| **all 6 imports** | **2** | **4** |\n"
        );
        let plain = coverage_table(&rows, false);
        assert!(plain.lines().any(|l| l.starts_with("total")));
        assert!(plain.ends_with(
            "unsupported (answer UNSUPPORTED, ENOSYS for WASI):\n  m::x\n  m::y\n  m::z\n"
        ));
        assert!(!md.contains("m::x"));
    }
}
