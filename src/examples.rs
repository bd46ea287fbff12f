//! The example guests the examples menu offers. They are the project's own test
//! guests (tests/guests, tests/js), built from source by the trunk build's
//! pre-build hook (`scripts/stage-examples.sh`) and copied into `dist/examples/`.

/// One example: what it is, what it teaches, and a request that shows it off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Example {
    /// Short name (the menu's value).
    pub name: &'static str,
    /// File under `examples/`.
    pub file: &'static str,
    /// What it teaches, in one line.
    pub teaches: &'static str,
    /// Request method to try.
    pub method: &'static str,
    /// Path to try.
    pub path: &'static str,
    /// Request headers to try (`Name: value` lines).
    pub headers: &'static str,
    /// Request body to try.
    pub body: &'static str,
    /// Backends the example needs, as `(name, fastly.toml table)`: picking the example
    /// adds the ones the config does not declare ([`with_backends`]).
    pub backends: &'static [(&'static str, &'static str)],
}

/// Every example, in menu order.
pub const EXAMPLES: &[Example] = &[
    Example {
        name: "hello",
        file: "hello.wasm",
        teaches: "The smallest guest: a fixed response with a status, headers and a body.",
        method: "GET",
        path: "/",
        headers: "",
        body: "",
        backends: &[],
    },
    Example {
        name: "echo",
        file: "echo.wasm",
        teaches: "Reading the whole downstream request: method, URL, every header in order, the body.",
        method: "POST",
        path: "/echo?lang=en",
        headers: "content-type: application/json\nx-echo-demo: copied back",
        body: "{\"hello\": \"edgeplay\"}",
        backends: &[],
    },
    Example {
        name: "stream",
        file: "stream.wasm",
        teaches: "Streaming with stream_to_client(): chunks arrive while the guest still runs.",
        method: "GET",
        path: "/?chunks=8&sleep_ms=150",
        headers: "",
        body: "",
        backends: &[],
    },
    Example {
        name: "logging",
        file: "logging.wasm",
        teaches: "Logs: stdout, stderr and named log endpoints, in the order they were written.",
        method: "GET",
        path: "/",
        headers: "",
        body: "",
        backends: &[],
    },
    Example {
        name: "config",
        file: "config.wasm",
        teaches: "Config stores, dictionaries and secret stores, read from the fastly.toml on the left.",
        method: "GET",
        path: "/config/settings/greeting",
        headers: "",
        body: "",
        backends: &[],
    },
    Example {
        name: "js-app",
        file: "js-app.wasm",
        teaches: "A JavaScript guest (@fastly/js-compute): a whole JS engine running on the same hostcalls.",
        method: "GET",
        path: "/",
        headers: "",
        body: "",
        backends: &[],
    },
    Example {
        name: "fanout",
        file: "fanout.wasm",
        teaches: "Two backend requests at once (send_async + select) to the mock backends a and b in fastly.toml: the Trace tab's waterfall shows them overlap. No network needed.",
        method: "GET",
        path: "/",
        headers: "",
        body: "",
        backends: &[("a", MOCK_A), ("b", MOCK_B)],
    },
    Example {
        name: "kv",
        file: "visits.wasm",
        teaches: "A KV store that lasts: each run counts one more visit in the store `playground`; the Stores tab shows the key, and it survives a reload. Try /?key=name&value=you.",
        method: "GET",
        path: "/",
        headers: "",
        body: "",
        backends: &[],
    },
    Example {
        name: "proxy",
        file: "proxy.wasm",
        teaches: "One backend request: the client's request forwarded to the mock backend origin (send, through the readthrough cache), its answer returned.",
        method: "GET",
        path: "/hello",
        headers: "",
        body: "",
        backends: &[("origin", MOCK_ORIGIN)],
    },
    Example {
        name: "cache",
        file: "readthrough.wasm",
        teaches: "The readthrough cache: run twice for a miss then a hit; ?ttl=N overrides the TTL, ?pass=1 skips the cache, /purge/greeting purges by surrogate key.",
        method: "GET",
        path: "/hello",
        headers: "",
        body: "",
        backends: &[("origin", MOCK_CACHED_ORIGIN)],
    },
];

/// The proxy example's mock origin.
const MOCK_ORIGIN: &str = r#"# A mock backend: edgeplay answers it itself (no network), after delay_ms.
[local_server.backends.origin]
mock = { status = 200, headers = { "content-type" = "text/plain" }, body = "hello from the origin", delay_ms = 300 }
"#;

/// The cache example's mock origin: its answer may be cached for 60 s, tagged `greeting`.
const MOCK_CACHED_ORIGIN: &str = r#"# A mock origin whose answer may be cached for 60 s, with the surrogate key `greeting`.
[local_server.backends.origin]
mock = { status = 200, headers = { "content-type" = "text/plain", "cache-control" = "max-age=60", "surrogate-key" = "greeting" }, body = "hello from the origin", delay_ms = 300 }
"#;

/// The fanout example's slow mock backend.
const MOCK_A: &str = r#"# A mock backend: edgeplay answers it itself (no network), after delay_ms.
[local_server.backends.a]
mock = { status = 200, headers = { "content-type" = "text/plain" }, body = "slow answer from a", delay_ms = 400 }
"#;

/// The fanout example's faster mock backend.
const MOCK_B: &str = r#"[local_server.backends.b]
mock = { status = 200, headers = { "content-type" = "text/plain" }, body = "fast answer from b", delay_ms = 150 }
"#;

/// `config_text` with the tables of the backends `ex` needs that it does not declare
/// yet, appended: `Ok(None)` when nothing is missing, `Ok(Some((text, added)))`
/// otherwise. An error (the config does not validate, before or after) leaves the
/// config as it is.
pub fn with_backends(
    config_text: &str,
    ex: &Example,
) -> Result<Option<(String, Vec<&'static str>)>, String> {
    if ex.backends.is_empty() {
        return Ok(None);
    }
    let cfg = crate::request::parse_config(config_text).map_err(|e| e.to_string())?;
    let missing: Vec<_> = ex
        .backends
        .iter()
        .filter(|(name, _)| !cfg.backends.contains_key(*name))
        .collect();
    if missing.is_empty() {
        return Ok(None);
    }
    let mut text = config_text.trim_end().to_string();
    if !text.is_empty() {
        text.push_str("\n\n");
    }
    for (i, (_, table)) in missing.iter().enumerate() {
        if i > 0 {
            text.push('\n');
        }
        text.push_str(table);
    }
    crate::request::parse_config(&text).map_err(|e| e.to_string())?;
    Ok(Some((text, missing.iter().map(|(n, _)| *n).collect())))
}

/// The example called `name`.
pub fn find(name: &str) -> Option<&'static Example> {
    EXAMPLES.iter().find(|e| e.name == name)
}

/// The `fastly.toml` the config editor starts with: a config store, a dictionary and
/// a secret store, so the config example (and the JS example's `/config/<key>`)
/// answer, and the two mock backends of the fanout example.
pub const DEFAULT_CONFIG: &str = r#"# fastly.toml: the [local_server] tables the runner (and Viceroy) read.
manifest_version = 3
name = "playground"

[local_server.config_stores.settings]
format = "inline-toml"
[local_server.config_stores.settings.contents]
greeting = "Hello from the config store!"
answer = "42"

[local_server.dictionaries.legacy]
format = "inline-toml"
[local_server.dictionaries.legacy.contents]
colour = "blue"

[local_server.secret_stores]
vault = [{ key = "token", data = "s3cr3t" }]

# A KV store: its seed is written once; what guests write stays (in this browser).
[local_server.kv_stores]
playground = [{ key = "greeting", data = "Hello from the KV store!" }]

# Mock backends (an edgeplay extension): answered without any network, so the
# fanout example works offline. `mock = "echo"` echoes the request instead.
[local_server.backends.a]
mock = { status = 200, headers = { "content-type" = "text/plain" }, body = "slow answer from a", delay_ms = 400 }

[local_server.backends.b]
mock = { status = 200, headers = { "content-type" = "text/plain" }, body = "fast answer from b", delay_ms = 150 }
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_config_is_valid() {
        let cfg =
            edgeplay_host::ServiceConfig::from_toml_str(DEFAULT_CONFIG, "fastly.toml", &|p| {
                Err(format!("no file {p}"))
            })
            .unwrap();
        assert_eq!(cfg.config_stores["settings"]["answer"], "42");
        assert_eq!(cfg.config_stores["legacy"]["colour"], "blue");
        assert_eq!(cfg.secret_stores["vault"]["token"], b"s3cr3t".to_vec());
        assert!(cfg.kv_stores["playground"].entries.contains_key("greeting"));
        for name in ["a", "b"] {
            assert!(cfg.backends[name].mock.is_some(), "{name} is a mock");
        }
        // The fanout example needs nothing more from the default config.
        assert_eq!(
            with_backends(DEFAULT_CONFIG, find("fanout").unwrap()),
            Ok(None)
        );
    }

    #[test]
    fn picking_an_example_adds_the_backends_it_needs() {
        let fanout = find("fanout").unwrap();
        let (text, added) = with_backends("manifest_version = 3\n", fanout)
            .unwrap()
            .unwrap();
        assert_eq!(added, vec!["a", "b"]);
        assert!(text.starts_with("manifest_version = 3\n\n"));
        let cfg = crate::request::parse_config(&text).unwrap();
        assert_eq!(cfg.backends["a"].mock.as_ref().unwrap().delay_ms, 400);
        // Only what is missing; a backend the user declared is kept as it is.
        let mine = "[local_server.backends.a]\nurl = \"http://127.0.0.1:9000\"\n";
        let (text, added) = with_backends(mine, fanout).unwrap().unwrap();
        assert_eq!(added, vec!["b"]);
        assert!(text.starts_with(mine));
        assert_eq!(
            with_backends("", fanout).unwrap().unwrap().1,
            vec!["a", "b"]
        );
        // A config that does not validate is left alone.
        assert!(with_backends("[local_server\n", fanout).is_err());
        // An inline `local_server` table cannot take more tables: left alone too.
        assert!(with_backends("local_server = { backends = {} }\n", fanout).is_err());
        // Examples without backends never touch the config.
        assert_eq!(
            with_backends("[local_server\n", find("hello").unwrap()),
            Ok(None)
        );
    }

    #[test]
    fn every_example_has_a_guest_source() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        for e in EXAMPLES {
            let stem = e.file.trim_end_matches(".wasm");
            let src = if stem == "js-app" {
                root.join("tests/js/app.js")
            } else {
                root.join(format!("tests/guests/src/bin/{stem}.rs"))
            };
            assert!(
                src.exists(),
                "{} has no source at {}",
                e.name,
                src.display()
            );
            assert!(find(e.name).is_some());
        }
    }

    #[test]
    fn the_menu_and_the_cores_example_files_agree() {
        // Links and fiddle files name examples; the runner resolves them through the
        // core's table, the tab through this menu: both must say the same.
        use edgeplay_host::fiddle::model::{example_file, EXAMPLE_FILES};
        for e in EXAMPLES {
            assert_eq!(example_file(e.name), Some(e.file), "{}", e.name);
        }
        assert_eq!(EXAMPLES.len(), EXAMPLE_FILES.len());
    }
}
