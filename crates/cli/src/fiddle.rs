//! `edgeplay test FIDDLE.json|LINK`: a fiddle's requests, in order, against one
//! service state, with its assertions; a summary, an exit code, and JUnit XML.
//!
//! Exit codes: 0 every assertion held; 1 one failed; 2 the fiddle could not be run
//! (a bad link or file, an assertion that does not parse, a guest that cannot be
//! found, fetched, verified or loaded, a configuration that does not parse).

use crate::app::exec_options;
use crate::driver::run_request_with;
use crate::load::{load_config_text, read_guest_bytes};
use crate::logging::{init_tracing, LogDest};
use crate::platform::native_platform;
use anyhow::{anyhow, Context, Result};
use edgeplay_host::fiddle::model::{example_file, EXAMPLE_FILES};
use edgeplay_host::fiddle::{
    decode_link, evaluate, parse_assertions, Assertion, AssertionResult, Fiddle, FiddleRequest,
    GuestSource, RunRecord,
};
use edgeplay_host::fresh_cache::FreshCache;
use edgeplay_host::storage::SharedStorage;
use edgeplay_host::{Engine, Guest, Headers, Service, ServiceConfig};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Exit code of a fiddle that could not be run.
pub const BAD_FIDDLE_EXIT: u8 = 2;

/// `edgeplay test`'s arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct TestArgs {
    /// A fiddle: a JSON file (`fiddle.json`), a link (`https://…/#f=…`, `#f=…`, or
    /// the bare payload), a file holding a link, or `-` for either on stdin.
    #[arg(value_name = "FIDDLE|LINK")]
    pub fiddle: String,

    /// Write the results as JUnit XML to FILE (one test suite per request, one test
    /// case per assertion).
    #[arg(long = "junit", value_name = "FILE")]
    pub junit: Option<PathBuf>,

    /// Where `example` guests are found (`NAME.wasm` as the tab stages them). Default:
    /// $EDGEPLAY_EXAMPLES, else `web/examples` and `$CARGO_TARGET_DIR/guests/wasm`
    /// (or `target/guests/wasm`) under the current directory.
    #[arg(long = "examples", value_name = "DIR")]
    pub examples: Option<PathBuf>,

    /// Record every backend exchange into DIR (one JSON file each).
    #[arg(long = "record", value_name = "DIR", conflicts_with = "replay")]
    pub record: Option<PathBuf>,

    /// Answer backend requests from the recordings in DIR instead of the network
    /// (a fiddle's own `recordings` are replayed without this).
    #[arg(long = "replay", value_name = "DIR")]
    pub replay: Option<PathBuf>,

    /// Do not run: print the fiddle's link fragment (`f=…`, to put after `#` in the
    /// playground's URL), with its size on stderr. Secrets are left out (and listed)
    /// unless --include-secrets is given; with --replay DIR the link carries DIR's
    /// recordings.
    #[arg(long = "print-link")]
    pub print_link: bool,

    /// With --print-link: keep secret-store contents in the link (anyone with the
    /// link can read them).
    #[arg(long = "include-secrets", requires = "print_link")]
    pub include_secrets: bool,

    /// Verbosity of edgeplay's own messages (to stderr): -v INFO, -vv DEBUG.
    #[arg(short = 'v', action = clap::ArgAction::Count)]
    pub verbosity: u8,
}

/// One request's results.
pub struct RequestReport {
    /// The request as the fiddle has it.
    pub request: FiddleRequest,
    /// What it answered.
    pub record: RunRecord,
    /// Its assertions' results.
    pub results: Vec<AssertionResult>,
    /// Wall time of the run.
    pub took: Duration,
}

/// `edgeplay test`.
pub async fn test_cmd(args: TestArgs) -> ExitCode {
    init_tracing(args.verbosity, LogDest::Stderr, false);
    let (fiddle, base) = match load_fiddle(&args.fiddle) {
        Ok(f) => f,
        Err(e) => return bad(&format!("{e:#}")),
    };
    if args.print_link {
        let mut fiddle = fiddle;
        if let Some(dir) = &args.replay {
            // The link carries the recordings: it then replays with no origin.
            match crate::tap::load_dir(dir) {
                Ok(r) => fiddle.recordings = r,
                Err(e) => return bad(&format!("{e:#}")),
            }
        }
        return print_link(&fiddle, args.include_secrets);
    }
    let assertions = match parse_all(&fiddle) {
        Ok(a) => a,
        Err(e) => return bad(&e),
    };
    if let Err(e) = crate::app::install_tap(
        args.record.as_deref(),
        args.replay.as_deref(),
        fiddle.recordings.clone(),
    ) {
        return bad(&format!("{e:#}"));
    }
    let engine = Engine::new(native_platform());
    let guest = match resolve_guest(&engine, &fiddle.guest, &base, args.examples.as_deref()).await {
        Ok(g) => g,
        Err(e) => return bad(&format!("{e:#}")),
    };
    let config = match config_of(&fiddle, &base) {
        Ok(c) => Arc::new(c),
        Err(e) => return bad(&format!("{e:#}")),
    };
    let title = if fiddle.title.is_empty() {
        args.fiddle.chars().take(60).collect::<String>()
    } else {
        fiddle.title.clone()
    };
    let mut out = std::io::stdout();
    let _ = writeln!(
        out,
        "fiddle {title}: {}, {} request{}",
        fiddle.guest.describe(),
        fiddle.requests.len(),
        if fiddle.requests.len() == 1 { "" } else { "s" }
    );
    let reports = run_sequence(&engine, guest, config, &fiddle.requests, &assertions).await;
    let (mut passed, mut failed) = (0, 0);
    for (i, r) in reports.iter().enumerate() {
        let _ = writeln!(
            out,
            "[{}] {} {} -> {} ({:.1} ms){}",
            i + 1,
            r.request.method,
            r.request.path,
            r.record.status,
            r.took.as_secs_f64() * 1000.0,
            label_suffix(&r.request)
        );
        if let Some(e) = &r.record.error {
            let _ = writeln!(out, "    error: {}", e.lines().next().unwrap_or(""));
        }
        for a in &r.results {
            if a.pass {
                passed += 1;
                let _ = writeln!(out, "    pass  {}", a.name);
            } else {
                failed += 1;
                let _ = writeln!(
                    out,
                    "    FAIL  {} (line {}): expected {}, actual {}",
                    a.name, a.line, a.expected, a.actual
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "{} assertion{}: {passed} passed, {failed} failed",
        passed + failed,
        if passed + failed == 1 { "" } else { "s" }
    );
    let _ = out.flush();
    if let Some(path) = &args.junit {
        if let Err(e) = std::fs::write(path, junit_xml(&title, &reports)) {
            return bad(&format!("could not write {}: {e}", path.display()));
        }
    }
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// `--print-link`: the link fragment on stdout; its size and what was left out on stderr.
fn print_link(fiddle: &Fiddle, include_secrets: bool) -> ExitCode {
    let (shared, left) = fiddle.for_sharing(include_secrets);
    let link = edgeplay_host::fiddle::encode_link(&shared);
    println!("{link}");
    eprintln!("link fragment: {} characters", link.len() + 1);
    if include_secrets {
        eprintln!("warning: the link contains the fastly.toml's secrets");
    } else if !left.is_empty() {
        eprintln!(
            "left out of the link (blanked): {}; --include-secrets keeps them",
            left.secrets.join(", ")
        );
    }
    ExitCode::SUCCESS
}

fn label_suffix(r: &FiddleRequest) -> String {
    if r.label.is_empty() {
        String::new()
    } else {
        format!("  {}", r.label)
    }
}

fn bad(message: &str) -> ExitCode {
    eprintln!("edgeplay test: {message}");
    ExitCode::from(BAD_FIDDLE_EXIT)
}

/// The fiddle `arg` names and the directory relative names in it are read from:
/// a file (JSON, or a link as text, for links longer than a command line allows),
/// `-` (the same from stdin), else a link.
pub fn load_fiddle(arg: &str) -> Result<(Fiddle, PathBuf)> {
    let path = Path::new(arg);
    let (text, base) = if arg == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)
            .context("could not read the fiddle from stdin")?;
        (buf, PathBuf::from("."))
    } else if path.is_file() {
        let bytes =
            std::fs::read(path).with_context(|| format!("could not read {}", path.display()))?;
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        (bytes, base)
    } else {
        // A payload is base64url: no `/` or `.`, which a file name usually has.
        let looks_like_link =
            arg.contains('#') || arg.starts_with("f=") || !(arg.contains('/') || arg.contains('.'));
        if !looks_like_link {
            return Err(anyhow!("{arg}: no such file (and not a fiddle link)"));
        }
        let f = decode_link(arg).map_err(|e| anyhow!("bad fiddle link: {e}"))?;
        return Ok((f, PathBuf::from(".")));
    };
    let name = if arg == "-" { "stdin" } else { arg };
    let json = text
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{');
    let f = if json {
        Fiddle::from_json_bytes(&text).map_err(|e| anyhow!("{name} is a bad fiddle: {e}"))?
    } else {
        let link = String::from_utf8_lossy(&text);
        decode_link(&link).map_err(|e| anyhow!("{name}: bad fiddle link: {e}"))?
    };
    Ok((f, base))
}

/// Every request's assertions, parsed; an error names the request and the line.
pub fn parse_all(fiddle: &Fiddle) -> Result<Vec<Vec<Assertion>>, String> {
    fiddle
        .requests
        .iter()
        .enumerate()
        .map(|(i, r)| {
            parse_assertions(&r.assertions).map_err(|e| {
                format!(
                    "request {} ({} {}): assertions {e}",
                    i + 1,
                    r.method,
                    r.path
                )
            })
        })
        .collect()
}

/// The directories an `example` guest is looked for in.
fn example_dirs(flag: Option<&Path>) -> Vec<PathBuf> {
    if let Some(d) = flag {
        return vec![d.to_path_buf()];
    }
    if let Ok(d) = std::env::var("EDGEPLAY_EXAMPLES") {
        return vec![PathBuf::from(d)];
    }
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    vec![
        PathBuf::from("web/examples"),
        Path::new(&target).join("guests/wasm"),
    ]
}

/// Load the fiddle's guest: an example from the examples directory, an inline one
/// from the fiddle, a `url` one fetched (or read, for a `file:` URL or a path
/// relative to the fiddle) and checked against its SHA-256.
pub async fn resolve_guest(
    engine: &Engine,
    source: &GuestSource,
    base: &Path,
    examples: Option<&Path>,
) -> Result<Arc<Guest>> {
    let (bytes, what) = match source {
        GuestSource::Example { name } => {
            let file = example_file(name).map(str::to_string).ok_or_else(|| {
                let known: Vec<&str> = EXAMPLE_FILES.iter().map(|(n, _)| *n).collect();
                anyhow!("unknown example {name:?} (known: {})", known.join(", "))
            })?;
            let dirs = example_dirs(examples);
            let found = dirs.iter().map(|d| d.join(&file)).find(|p| p.is_file());
            let Some(path) = found else {
                let looked: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
                return Err(anyhow!(
                    "the example {name:?} ({file}) is not in {}: build the examples (scripts/build-guests.sh) or pass --examples DIR",
                    looked.join(" or ")
                ));
            };
            (read_guest_bytes(&path)?, path.display().to_string())
        }
        GuestSource::Inline { .. } => {
            let bytes = source
                .inline_bytes()
                .unwrap_or_else(|| Ok(Vec::new()))
                .map_err(|e| anyhow!("{e}"))?;
            (bytes, "the inline guest".to_string())
        }
        GuestSource::Url { url, .. } => {
            let bytes = if url.starts_with("http://") || url.starts_with("https://") {
                fetch_url(url).await?
            } else {
                let p = url.strip_prefix("file://").unwrap_or(url);
                let p = base.join(p);
                std::fs::read(&p).with_context(|| format!("could not read {}", p.display()))?
            };
            source.verify(&bytes).map_err(|e| anyhow!("{url}: {e}"))?;
            (bytes, url.clone())
        }
        GuestSource::Source {
            language,
            text,
            dependencies,
            ..
        } => {
            if !language.eq_ignore_ascii_case("javascript") {
                return Err(anyhow!(
                    "this fiddle's guest is {language} source: edgeplay builds JavaScript only"
                ));
            }
            if !dependencies.is_empty() {
                return Err(anyhow!(
                    "this fiddle's JavaScript imports npm packages ({}): the tab bundles them with esbuild; natively, bundle the app first (`npx esbuild app.js --bundle --format=esm --conditions=fastly --external:fastly:*`) and run the bundle",
                    dependencies.keys().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
            // Built as the tab builds it: one module-mode file, the JS SDK's engine.
            let source = edgeplay_host::jsbuild::Source::single("app.js", text.as_bytes());
            return crate::jsbuild::load_source(engine, &source, "the fiddle's JavaScript source");
        }
    };
    engine
        .load(&bytes)
        .map_err(|e| anyhow!("could not load {what}: {e}"))
}

/// GET `url`'s whole body (a guest a fiddle links to).
async fn fetch_url(url: &str) -> Result<Vec<u8>> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| anyhow!("bad guest URL {url}: {e}"))?;
    let mut headers = Headers::new();
    if let Some(a) = uri.authority() {
        headers.insert("host", a.as_str().as_bytes());
    }
    let req = edgeplay_host::FetchRequest {
        headers,
        connect_timeout_ms: Some(10_000),
        first_byte_timeout_ms: Some(30_000),
        between_bytes_timeout_ms: Some(30_000),
        ..edgeplay_host::FetchRequest::get("guest", url)
    };
    match crate::fetch::fetch(req).await {
        edgeplay_host::WorkResult::Fetched(r) if r.status == 200 => Ok(r.body),
        edgeplay_host::WorkResult::Fetched(r) => Err(anyhow!(
            "could not fetch the guest {url}: HTTP {}",
            r.status
        )),
        edgeplay_host::WorkResult::FetchFailed(e) => {
            Err(anyhow!("could not fetch the guest {url}: {}", e.message))
        }
        _ => Err(anyhow!("could not fetch the guest {url}")),
    }
}

/// The fiddle's configuration (its `fastly.toml` text; files it names are read
/// relative to the fiddle's directory).
fn config_of(fiddle: &Fiddle, base: &Path) -> Result<ServiceConfig> {
    if fiddle.fastly_toml.trim().is_empty() {
        return Ok(ServiceConfig::default());
    }
    load_config_text(&fiddle.fastly_toml, &base.join("fastly.toml"))
}

/// Run `requests` in order against one service (state carries over; a request with
/// `fresh_cache` gets an empty cache of its own), waiting each one's `delay_ms`
/// first, and evaluate each one's assertions.
pub async fn run_sequence(
    engine: &Engine,
    guest: Arc<Guest>,
    config: Arc<ServiceConfig>,
    requests: &[FiddleRequest],
    assertions: &[Vec<Assertion>],
) -> Vec<RequestReport> {
    let service = Service::new(config.clone());
    let mut reports = Vec::new();
    for (i, r) in requests.iter().enumerate() {
        if r.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(r.delay_ms)).await;
        }
        let svc = if r.fresh_cache {
            Service::with_state(
                config.clone(),
                SharedStorage::new(FreshCache::new(service.state.clone())),
            )
        } else {
            service.clone()
        };
        let request = r.to_downstream();
        let t0 = Instant::now();
        let result = run_request_with(
            engine,
            guest.clone(),
            svc,
            request.clone(),
            exec_options(0, true),
            |_| {},
        )
        .await;
        let took = t0.elapsed();
        service.state.take_journal();
        let record = RunRecord::new(&request, &result.response, result.trace);
        let results = evaluate(assertions.get(i).map_or(&[][..], |a| a), &record);
        reports.push(RequestReport {
            request: r.clone(),
            record,
            results,
            took,
        });
    }
    reports
}

/// Escape text for XML.
fn xml(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t') => {}
            c => o.push(c),
        }
    }
    o
}

/// The results as JUnit XML: a `<testsuite>` per request, a `<testcase>` per
/// assertion, a `<failure>` with expected and actual for each that failed.
pub fn junit_xml(title: &str, reports: &[RequestReport]) -> String {
    let total: usize = reports.iter().map(|r| r.results.len()).sum();
    let failures: usize = reports
        .iter()
        .map(|r| r.results.iter().filter(|a| !a.pass).count())
        .sum();
    let time: f64 = reports.iter().map(|r| r.took.as_secs_f64()).sum();
    let mut s = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    s.push_str(&format!(
        "<testsuites name=\"{}\" tests=\"{total}\" failures=\"{failures}\" time=\"{time:.3}\">\n",
        xml(title)
    ));
    for (i, r) in reports.iter().enumerate() {
        let name = format!(
            "{}. {} {}{}",
            i + 1,
            r.request.method,
            r.request.path,
            label_suffix(&r.request)
        );
        let fails = r.results.iter().filter(|a| !a.pass).count();
        s.push_str(&format!(
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{fails}\" time=\"{:.3}\">\n",
            xml(&name),
            r.results.len(),
            r.took.as_secs_f64()
        ));
        for a in &r.results {
            s.push_str(&format!(
                "    <testcase classname=\"{}\" name=\"{}\"",
                xml(&format!("request {}", i + 1)),
                xml(&a.name)
            ));
            if a.pass {
                s.push_str("/>\n");
            } else {
                s.push_str(&format!(
                    ">\n      <failure message=\"{}\">line {}: {}\nexpected {}\nactual {}</failure>\n    </testcase>\n",
                    xml(&format!("expected {}, actual {}", a.expected, a.actual)),
                    a.line,
                    xml(&a.text),
                    xml(&a.expected),
                    xml(&a.actual)
                ));
            }
        }
        s.push_str("  </testsuite>\n");
    }
    s.push_str("</testsuites>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_is_escaped() {
        assert_eq!(xml("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot;");
    }
}
