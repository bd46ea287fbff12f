//! End to end: `edgeplay test` runs fiddles (a JSON file or a link) with their
//! assertions: exit codes, printed results, JUnit XML, state carried from one
//! request to the next (KV, the readthrough cache, a fresh cache), inline and
//! URL guests checked against their SHA-256, and bad links; and `edgeplay request`
//! of a Fastly CLI package.

mod common;
use common::*;
use edgeplay_host::fiddle::model::sha256_hex;
use edgeplay_host::fiddle::{encode_link, Fiddle, FiddleRequest, GuestSource};
use std::path::Path;
use std::process::{Command, Output};

/// `edgeplay test ARGS...` with the built guests as the examples directory.
fn edgeplay_test(args: &[&str]) -> Output {
    Command::new(edgeplay_bin())
        .arg("test")
        .arg("--examples")
        .arg(guests_dir())
        .args(args)
        .output()
        .expect("run edgeplay test")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn request(path: &str, assertions: &str) -> FiddleRequest {
    FiddleRequest {
        path: path.into(),
        assertions: assertions.into(),
        ..FiddleRequest::default()
    }
}

fn example(name: &str) -> Fiddle {
    Fiddle::new(GuestSource::Example { name: name.into() })
}

fn write_fiddle(f: &Fiddle) -> std::path::PathBuf {
    temp_file("fiddle.json", &f.to_json())
}

#[test]
fn a_passing_fiddle_exits_zero_and_prints_each_result() {
    let mut f = example("hello");
    f.requests.push(request(
        "/",
        "clientFetch.status is 200\n\
         [says hello] clientFetch.bodyPreview includes \"Hello from edgeplay\"\n\
         clientFetch.resp includes \"X-Edgeplay: hello\"\n\
         clientFetch.complete is true\n\
         originFetches.count() is 0\n\
         events.where(fnName=send_downstream).count() is 1",
    ));
    let out = edgeplay_test(&[write_fiddle(&f).to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(text.contains("[1] GET / -> 200"), "{text}");
    assert!(text.contains("    pass  says hello"), "{text}");
    assert!(text.contains("6 assertions: 6 passed, 0 failed"), "{text}");
}

#[test]
fn a_failing_assertion_exits_one_with_expected_and_actual() {
    let mut f = example("hello");
    f.requests.push(request(
        "/",
        "clientFetch.status is 200\n[wrong status] clientFetch.status is 404",
    ));
    let junit = temp_file("junit.xml", "");
    let out = edgeplay_test(&[
        write_fiddle(&f).to_str().unwrap(),
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}\n{}", stderr(&out));
    assert!(
        text.contains("FAIL  wrong status (line 2): expected is 404, actual 200"),
        "{text}"
    );
    assert!(text.contains("2 assertions: 1 passed, 1 failed"), "{text}");
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(
        xml.contains("<testsuites name=\"") && xml.contains("tests=\"2\" failures=\"1\""),
        "{xml}"
    );
    assert!(
        xml.contains("<testsuite name=\"1. GET /\" tests=\"2\" failures=\"1\""),
        "{xml}"
    );
    assert!(
        xml.contains("<testcase classname=\"request 1\" name=\"clientFetch.status is 200\"/>"),
        "{xml}"
    );
    assert!(
        xml.contains("<failure message=\"expected is 404, actual 200\">"),
        "{xml}"
    );
}

#[test]
fn the_second_request_sees_the_kv_write_of_the_first() {
    let mut f = example("kv");
    f.fastly_toml = "[local_server.kv_stores]\nplayground = []\n".into();
    f.requests = vec![
        request(
            "/?key=name&value=you",
            "clientFetch.bodyPreview includes \"wrote name = you\"",
        ),
        FiddleRequest {
            delay_ms: 20,
            ..request(
                "/?key=name",
                "clientFetch.status is 200\nclientFetch.bodyPreview is \"you\"\nevents.where(fnName=lookup).count() is 1",
            )
        },
        // Visits of one path count up across requests.
        request("/page", "clientFetch.bodyPreview includes \"1\""),
        request("/page", "clientFetch.bodyPreview includes \"2\""),
    ];
    let out = edgeplay_test(&[write_fiddle(&f).to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(text.contains("[2] GET /?key=name -> 200"), "{text}");
}

#[test]
fn the_cache_carries_over_unless_a_request_asks_for_a_fresh_one() {
    let origin = Origin::start(|_| {
        let mut r = Reply::text(200, "from origin");
        r.headers
            .push(("cache-control".into(), "max-age=600".into()));
        r
    });
    let mut f = Fiddle::new(GuestSource::Url {
        url: format!("file://{}", guest("readthrough").display()),
        sha256: sha256_hex(&std::fs::read(guest("readthrough")).unwrap()),
    });
    f.fastly_toml = format!(
        "[local_server.backends.origin]\nurl = \"http://{}\"\n",
        origin.addr
    );
    let cached = "clientFetch.bodyPreview is \"from origin\"";
    f.requests = vec![
        request("/a", &format!("{cached}\noriginFetches.count() is 1\noriginFetches[0].status is 200\nevents.where(fnName=fetch)[0].cache is \"MISS\"")),
        request("/a", &format!("{cached}\noriginFetches.count() is 0\nevents.where(fnName=fetch)[0].cache is \"HIT\"")),
        FiddleRequest {
            fresh_cache: true,
            ..request("/a", &format!("{cached}\noriginFetches.count() is 1"))
        },
        // The fresh cache was thrown away: the stored object still answers.
        request("/a", "originFetches.count() is 0"),
    ];
    let out = edgeplay_test(&[write_fiddle(&f).to_str().unwrap()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert_eq!(origin.requests().len(), 2, "{text}");
}

#[test]
fn a_link_with_an_inline_guest_runs() {
    let wasm = std::fs::read(guest("hello")).unwrap();
    let mut f = Fiddle::new(GuestSource::inline(&wasm));
    f.requests.push(request("/", "clientFetch.status is 200"));
    // A link too long for a command line, in a file.
    let link = temp_file(
        "link.txt",
        &format!("https://play.example/#{}\n", encode_link(&f)),
    );
    let out = edgeplay_test(&[link.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("inline wasm"), "{}", stdout(&out));
}

#[test]
fn bad_links_and_fiddles_exit_two_with_a_clear_message() {
    let mut tampered = Fiddle::new(GuestSource::Inline {
        wasm: "AGFzbQEAAAA=".into(),
        sha256: Some(sha256_hex(b"something else")),
    });
    tampered
        .requests
        .push(request("/", "clientFetch.status is 200"));
    let mut newer = example("hello");
    newer.version = 9;
    let mut bad_assertion = example("hello");
    bad_assertion.requests.push(request(
        "/",
        "clientFetch.status is 200\nclientFetch.status equals 200",
    ));
    let good = encode_link(&{
        let mut f = example("hello");
        f.requests.push(request("/", "clientFetch.status is 200"));
        f
    });
    let cases: Vec<(String, &str)> = vec![
        ("#f=%%%not-base64".into(), "not base64url"),
        (good[..good.len() / 2].to_string(), "truncated or corrupt"),
        (
            format!("#{}", encode_link(&tampered)),
            "do not match the fiddle's SHA-256",
        ),
        (
            format!("#{}", encode_link(&newer)),
            "version 9, newer than this edgeplay",
        ),
        (
            format!("#{}", encode_link(&bad_assertion)),
            "request 1 (GET /): assertions line 2: unknown operator `equals`",
        ),
        (
            write_fiddle(&example("nope")).display().to_string(),
            "unknown example \"nope\"",
        ),
        (
            temp_file("notafiddle.json", "{\"hello\": 1}")
                .display()
                .to_string(),
            "is a bad fiddle: not a fiddle",
        ),
        (
            "missing.json".into(),
            "missing.json: no such file (and not a fiddle link)",
        ),
    ];
    for (arg, message) in cases {
        let out = edgeplay_test(&[&arg]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{arg}: {err}\n{}", stdout(&out));
        assert!(
            err.contains(message),
            "{arg}: expected {message:?} in {err}"
        );
    }
}

/// `pkg/NAME.tar.gz` as `fastly compute build` writes it.
fn package(dir: &Path, files: &[(&str, &[u8])]) -> std::path::PathBuf {
    let p = dir.join("hello.tar.gz");
    std::fs::write(&p, edgeplay_host::fiddle::package::write_package(files)).unwrap();
    p
}

/// `edgeplay request GUEST PATH`.
fn edgeplay_request(guest: &Path, path: &str) -> Output {
    Command::new(edgeplay_bin())
        .args(["request", guest.to_str().unwrap(), path])
        .output()
        .unwrap()
}

#[test]
fn a_fastly_cli_package_is_run_with_its_fastly_toml() {
    let wasm = std::fs::read(guest("config")).unwrap();
    let toml = b"name = \"pkg\"\n[local_server.config_stores.settings]\nformat = \"inline-toml\"\ncontents = { greeting = \"from the package\" }\n";
    let dir = temp_file("x", "");
    let dir = dir.parent().unwrap();
    let pkg = package(
        dir,
        &[("hello/bin/main.wasm", &wasm), ("hello/fastly.toml", toml)],
    );
    let out = edgeplay_request(&pkg, "/config/settings/greeting");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("from the package"),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );

    let no_wasm = package(dir, &[("hello/fastly.toml", toml)]);
    let out = edgeplay_request(&no_wasm, "/");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("has no bin/main.wasm"),
        "{}",
        stderr(&out)
    );

    let broken = dir.join("broken.tar.gz");
    let full = edgeplay_host::fiddle::package::write_package(&[("a/bin/main.wasm", &wasm)]);
    std::fs::write(&broken, &full[..full.len() / 3]).unwrap();
    let out = edgeplay_request(&broken, "/");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("not a Fastly package"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_url_guest_is_fetched_and_checked_against_its_hash() {
    let wasm = std::fs::read(guest("hello")).unwrap();
    let served = wasm.clone();
    let origin = Origin::start(move |_| Reply {
        status: 200,
        headers: vec![("content-type".into(), "application/wasm".into())],
        body: served.clone(),
        delay: std::time::Duration::ZERO,
    });
    let url = format!("http://{}/hello.wasm", origin.addr);
    let mut f = Fiddle::new(GuestSource::Url {
        url: url.clone(),
        sha256: sha256_hex(&wasm),
    });
    f.requests.push(request("/", "clientFetch.status is 200"));
    let out = edgeplay_test(&[write_fiddle(&f).to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );

    f.guest = GuestSource::Url {
        url,
        sha256: sha256_hex(b"another guest"),
    };
    let out = edgeplay_test(&[write_fiddle(&f).to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("do not match the fiddle's SHA-256"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn print_link_leaves_secrets_out_unless_asked() {
    let mut f = example("config");
    f.fastly_toml =
        "[local_server.secret_stores]\nvault = [{ key = \"token\", data = \"hunter2\" }]\n".into();
    let file = write_fiddle(&f);
    let out = edgeplay_test(&[file.to_str().unwrap(), "--print-link"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let link = stdout(&out);
    let shared = edgeplay_host::fiddle::decode_link(link.trim()).unwrap();
    assert!(
        !shared.fastly_toml.contains("hunter2"),
        "{}",
        shared.fastly_toml
    );
    assert!(
        shared.fastly_toml.contains("token"),
        "{}",
        shared.fastly_toml
    );
    assert!(
        stderr(&out).contains("left out of the link (blanked): vault/token"),
        "{}",
        stderr(&out)
    );

    let out = edgeplay_test(&[file.to_str().unwrap(), "--print-link", "--include-secrets"]);
    let shared = edgeplay_host::fiddle::decode_link(stdout(&out).trim()).unwrap();
    assert!(shared.fastly_toml.contains("hunter2"));
    assert!(
        stderr(&out).contains("warning: the link contains"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn recorded_exchanges_replay_without_the_origin() {
    let origin = Origin::start(|r| Reply::text(200, &format!("origin saw {}", r.target)));
    let toml = temp_file(
        "fastly.toml",
        &format!(
            "[local_server.backends.origin]\nurl = \"http://{}\"\n",
            origin.addr
        ),
    );
    let dir = toml.parent().unwrap().join("recordings");
    let run = |args: &[&str]| {
        Command::new(edgeplay_bin())
            .arg("request")
            .arg(guest("readthrough"))
            .arg("-C")
            .arg(&toml)
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["--record", dir.to_str().unwrap(), "/a?pass=1"]);
    assert!(
        stdout(&out).ends_with("origin saw /a?pass=1"),
        "{}",
        stderr(&out)
    );
    assert_eq!(origin.requests().len(), 1);
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
    assert_eq!(files.len(), 1, "one exchange, one file");

    let out = run(&["--replay", dir.to_str().unwrap(), "/a?pass=1"]);
    assert!(
        stdout(&out).ends_with("origin saw /a?pass=1"),
        "{}",
        stderr(&out)
    );
    let out = run(&[
        "--replay",
        dir.to_str().unwrap(),
        "--json",
        "/unrecorded?pass=1",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let note = v["trace"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["module"] == "backend")
        .map(|e| e["note"].to_string())
        .unwrap_or_default();
    assert!(note.contains("no recording of GET"), "{note}");
    assert_eq!(origin.requests().len(), 1, "replays never reach the origin");

    // A link that carries the recordings replays them too.
    let mut f = Fiddle::new(GuestSource::Url {
        url: format!("file://{}", guest("readthrough").display()),
        sha256: sha256_hex(&std::fs::read(guest("readthrough")).unwrap()),
    });
    f.fastly_toml = std::fs::read_to_string(&toml).unwrap();
    f.requests.push(request(
        "/a?pass=1",
        "clientFetch.bodyPreview is \"origin saw /a?pass=1\"\noriginFetches.count() is 1",
    ));
    let out = edgeplay_test(&[
        write_fiddle(&f).to_str().unwrap(),
        "--replay",
        dir.to_str().unwrap(),
        "--print-link",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let link = temp_file("recorded-link.txt", &stdout(&out));
    assert_eq!(
        edgeplay_host::fiddle::decode_link(&stdout(&out))
            .unwrap()
            .recordings
            .len(),
        1
    );
    let out = edgeplay_test(&[link.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(
        origin.requests().len(),
        1,
        "the link replayed its recording"
    );
}

#[test]
fn a_javascript_source_fiddle_is_built_and_run_as_the_tab_does() {
    // The JS SDK's engine is found where tests/js/build.sh installs it (or
    // $EDGEPLAY_JS_ENGINE), as `edgeplay build` finds it.
    let app = r#"
addEventListener("fetch", (event) => event.respondWith(handle(event.request)));
async function handle(req) {
  const url = new URL(req.url);
  console.log(`seen ${url.pathname}`);
  return new Response(`hi from ${url.pathname}`, { headers: { "x-from": "source" } });
}
"#;
    let mut f = Fiddle::new(GuestSource::javascript(app));
    f.requests.push(request(
        "/there",
        "clientFetch.status is 200\n\
         clientFetch.bodyPreview is \"hi from /there\"\n\
         clientFetch.resp includes \"x-from: source\"",
    ));
    let o = edgeplay_test(&[write_fiddle(&f).to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("3 assertions: 3 passed"),
        "{}",
        stdout(&o)
    );

    // A syntax error: exit 2, the engine's message at its line.
    let mut bad = f.clone();
    bad.guest = GuestSource::javascript("addEventListener(\"fetch\", (e) => {\n  let x = ;\n});\n");
    let o = edgeplay_test(&[write_fiddle(&bad).to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("app.js:2"), "{}", stderr(&o));

    // npm packages are bundled in the tab only: natively the error says what to do.
    let mut npm = f.clone();
    if let GuestSource::Source { dependencies, .. } = &mut npm.guest {
        dependencies.insert("lodash-es".into(), "^4.17.21".into());
    }
    let o = edgeplay_test(&[write_fiddle(&npm).to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stderr(&o).contains("imports npm packages (lodash-es)")
            && stderr(&o).contains("bundle the app first"),
        "{}",
        stderr(&o)
    );
}
