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
    },
    Example {
        name: "echo",
        file: "echo.wasm",
        teaches: "Reading the whole downstream request: method, URL, every header in order, the body.",
        method: "POST",
        path: "/echo?lang=en",
        headers: "content-type: application/json\nx-echo-demo: copied back",
        body: "{\"hello\": \"edgeplay\"}",
    },
    Example {
        name: "stream",
        file: "stream.wasm",
        teaches: "Streaming with stream_to_client(): chunks arrive while the guest still runs.",
        method: "GET",
        path: "/?chunks=8&sleep_ms=150",
        headers: "",
        body: "",
    },
    Example {
        name: "logging",
        file: "logging.wasm",
        teaches: "Logs: stdout, stderr and named log endpoints, in the order they were written.",
        method: "GET",
        path: "/",
        headers: "",
        body: "",
    },
    Example {
        name: "config",
        file: "config.wasm",
        teaches: "Config stores, dictionaries and secret stores, read from the fastly.toml on the left.",
        method: "GET",
        path: "/config/settings/greeting",
        headers: "",
        body: "",
    },
    Example {
        name: "js-app",
        file: "js-app.wasm",
        teaches: "A JavaScript guest (@fastly/js-compute): a whole JS engine running on the same hostcalls.",
        method: "GET",
        path: "/",
        headers: "",
        body: "",
    },
];

/// The example called `name`.
pub fn find(name: &str) -> Option<&'static Example> {
    EXAMPLES.iter().find(|e| e.name == name)
}

/// The `fastly.toml` the config editor starts with: a config store, a dictionary and
/// a secret store, so the config example (and the JS example's `/config/<key>`) answer.
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
}
