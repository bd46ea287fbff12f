//! JavaScript in the tab, platform-neutral (issue 12): the engine the trunk build
//! ships ([`EngineManifest`], staged by `scripts/stage-examples.sh` from the npm
//! package), the worker's builder ([`Builder`]: the core's
//! [`JsEngine`](edgeplay_host::jsbuild::JsEngine) compiled once, builds cached by the
//! SHA-256 of engine and source, each a guest that starts from its snapshot), what a
//! failed build tells the editor ([`BuildFailure`]), the starter [`TEMPLATES`], and
//! the Fastly CLI package of a built module ([`package`]).
//!
//! The worker (`crate::js_worker`) fetches the engine and calls [`Builder`]; the UI
//! (`src/ui/js*.rs`) shows the editor, the errors and the downloads.

use edgeplay_host::engine::{Engine, Guest};
use edgeplay_host::jsbuild::{BuildError, BuildOptions, JsEngine, Snapshot, Source};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Arc;

/// Where the engine's manifest is, relative to the page (and to the worker's script).
pub const ENGINE_MANIFEST_URL: &str = "engine/engine.json";

/// The file name the editor's source builds as (and the engine names in its messages).
pub const DEFAULT_FILE_NAME: &str = "app.js";

/// How many builds the worker keeps (each holds a snapshot of the engine's memory,
/// about 7 MiB): the same source built again is answered from them.
pub const MAX_CACHED_BUILDS: usize = 4;

/// `engine/engine.json`, written by the trunk build beside `engine/fastly.wasm`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineManifest {
    /// The npm package the engine comes from (`@fastly/js-compute`).
    pub package: String,
    /// Its version (`3.46.0`).
    pub version: String,
    /// The engine's file, relative to the manifest (`fastly.wasm`).
    pub file: String,
    /// The file's size in bytes (0: not given).
    #[serde(default)]
    pub size: u64,
}

impl EngineManifest {
    /// Parse the manifest's JSON.
    pub fn parse(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map_err(|e| format!("engine/engine.json is not valid: {e}"))
    }

    /// The engine file's URL, relative to the page (`engine/fastly.wasm`).
    pub fn engine_url(&self) -> String {
        let dir = ENGINE_MANIFEST_URL.rsplit_once('/').map_or("", |(d, _)| d);
        format!("{dir}/{}", self.file.trim_start_matches("./"))
    }

    /// `@fastly/js-compute 3.46.0`.
    pub fn label(&self) -> String {
        format!("{} {}", self.package, self.version)
    }
}

/// The cache key of a build: the SHA-256 (hex) of the engine's SHA-256, the file name
/// and the source. A snapshot belongs to one engine, so another engine version never
/// finds an old build.
pub fn build_key(engine_sha256: &str, file_name: &str, source: &str) -> String {
    let mut bytes = Vec::with_capacity(engine_sha256.len() + file_name.len() + source.len() + 2);
    bytes.extend_from_slice(engine_sha256.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(file_name.as_bytes());
    bytes.push(0);
    bytes.extend_from_slice(source.as_bytes());
    edgeplay_host::fiddle::model::sha256_hex(&bytes)
}

/// Why a build failed, as the editor shows it: the engine's message and, for a
/// syntax error or an exception at the top level, its line and column (1-based).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildFailure {
    /// The message, for people.
    pub message: String,
    /// The line in the source, when the engine gave one.
    pub line: Option<u32>,
    /// The column, when the engine gave one.
    pub column: Option<u32>,
}

impl From<BuildError> for BuildFailure {
    fn from(e: BuildError) -> Self {
        match e {
            BuildError::Script(s) => BuildFailure {
                message: s.to_string(),
                line: s.line,
                column: s.column,
            },
            other => BuildFailure {
                message: other.to_string(),
                line: None,
                column: None,
            },
        }
    }
}

/// A finished build.
#[derive(Clone, Debug)]
pub struct Build {
    /// Its cache key ([`build_key`]).
    pub key: String,
    /// The guest that starts each request from the build's snapshot.
    pub guest: Arc<Guest>,
    /// True when it came from the cache (nothing was built).
    pub cached: bool,
    /// What the top-level code wrote to stdout and stderr while it was built.
    pub output: String,
    /// Fuel the initialisation used (0 when cached).
    pub fuel: u64,
}

struct Cached {
    key: String,
    snapshot: Arc<Snapshot>,
    output: String,
}

/// The worker's JS builder: the engine, prepared and compiled once, and the last
/// [`MAX_CACHED_BUILDS`] builds by key, the newest last.
pub struct Builder {
    js: JsEngine,
    manifest: EngineManifest,
    builds: VecDeque<Cached>,
}

impl Builder {
    /// Prepare and compile the engine `wasm` (what `manifest` describes).
    pub fn new(engine: &Engine, wasm: &[u8], manifest: EngineManifest) -> Result<Self, String> {
        let js = JsEngine::new(engine, wasm).map_err(|e| {
            format!(
                "the JavaScript engine ({}) did not load: {e}",
                manifest.label()
            )
        })?;
        Ok(Builder {
            js,
            manifest,
            builds: VecDeque::new(),
        })
    }

    /// What the engine is.
    pub fn manifest(&self) -> &EngineManifest {
        &self.manifest
    }

    /// The engine's SHA-256.
    pub fn engine_sha256(&self) -> &str {
        self.js.sha256()
    }

    /// Build `source` as `file_name` (a single module, the engine resolves
    /// `fastly:*` imports), bounded as the core bounds a build
    /// ([`BuildOptions::default`]); the same engine, name and source again is
    /// answered from the cache.
    pub fn build(
        &mut self,
        engine: &Engine,
        file_name: &str,
        source: &str,
    ) -> Result<Build, BuildFailure> {
        let key = build_key(self.js.sha256(), file_name, source);
        if let Some(at) = self.builds.iter().position(|b| b.key == key) {
            let hit = self.builds.remove(at).expect("found above");
            let guest = self.js.guest_for(hit.snapshot.clone())?;
            let output = hit.output.clone();
            self.builds.push_back(hit);
            return Ok(Build {
                key,
                guest,
                cached: true,
                output,
                fuel: 0,
            });
        }
        let built = self.js.build(
            engine,
            &Source::single(file_name, source),
            &BuildOptions::default(),
        )?;
        let snapshot = Arc::new(built.snapshot);
        let guest = self.js.guest_for(snapshot.clone())?;
        let output = format!("{}{}", built.stdout, built.stderr);
        self.builds.push_back(Cached {
            key: key.clone(),
            snapshot,
            output: output.clone(),
        });
        while self.builds.len() > MAX_CACHED_BUILDS {
            self.builds.pop_front();
        }
        Ok(Build {
            key,
            guest,
            cached: false,
            output,
            fuel: built.fuel,
        })
    }

    /// The deployable module of the build `key` (Wizer's rewrite of the engine with
    /// the build's snapshot): what `edgeplay build` and `js-compute-runtime` write.
    pub fn module(&self, key: &str) -> Result<Vec<u8>, String> {
        let b = self
            .builds
            .iter()
            .find(|b| b.key == key)
            .ok_or("that build is no longer in this worker: run the app again")?;
        self.js.write_module(&b.snapshot).map_err(|e| e.to_string())
    }
}

/// A Fastly CLI package (`pkg/NAME.tar.gz`) of `wasm` with `fastly_toml`:
/// `NAME/bin/main.wasm` and `NAME/fastly.toml`, as `fastly compute pack` makes it.
/// NAME is the `fastly.toml`'s `name` when it has one, else `app`.
pub fn package(wasm: &[u8], fastly_toml: &str) -> (String, Vec<u8>) {
    let name = package_name(fastly_toml);
    let bin = format!("{name}/bin/main.wasm");
    let toml = format!("{name}/fastly.toml");
    let bytes = edgeplay_host::fiddle::package::write_package(&[
        (bin.as_str(), wasm),
        (toml.as_str(), fastly_toml.as_bytes()),
    ]);
    (name, bytes)
}

/// The service name in `fastly_toml` (letters, digits, `-`, `_`, `.`), or `app`.
pub fn package_name(fastly_toml: &str) -> String {
    let name = fastly_toml
        .parse::<toml_edit::DocumentMut>()
        .ok()
        .and_then(|d| d.get("name").and_then(|n| n.as_str()).map(str::to_string))
        .unwrap_or_default();
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let clean = clean.trim_matches(['-', '.']).to_string();
    if clean.is_empty() {
        "app".into()
    } else {
        clean
    }
}

/// A starter app for the editor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Template {
    /// The menu's value.
    pub name: &'static str,
    /// What it shows, in a few words.
    pub title: &'static str,
    /// The source.
    pub source: &'static str,
}

/// The editor's starter apps, for `@fastly/js-compute` 3.46.0. Each answers any
/// path and uses only what the tab's default `fastly.toml` defines (the config
/// store `settings`, the KV store `playground`, the mock backends `a` and `b`).
pub const TEMPLATES: &[Template] = &[
    Template {
        name: "hello",
        title: "Hello: a response and a log line",
        source: HELLO,
    },
    Template {
        name: "proxy",
        title: "Proxy to a backend",
        source: PROXY,
    },
    Template {
        name: "config-store",
        title: "Read a config store",
        source: CONFIG_STORE,
    },
    Template {
        name: "kv-store",
        title: "Count visits in a KV store",
        source: KV_STORE,
    },
    Template {
        name: "cache-override",
        title: "Cache a backend's answer (CacheOverride)",
        source: CACHE_OVERRIDE,
    },
    Template {
        name: "streaming",
        title: "Stream the body in chunks",
        source: STREAMING,
    },
];

/// The template the editor starts with.
pub const HELLO: &str = r#"/// <reference types="@fastly/js-compute" />
// Hello: the smallest JavaScript Compute app. Edit it and press Run: the tab
// builds it with the JS SDK's own engine and runs it here, no server involved.
addEventListener("fetch", (event) => event.respondWith(handle(event.request)));

async function handle(request) {
  const url = new URL(request.url);
  console.log(`${request.method} ${url.pathname}`);
  return new Response(`Hello from JavaScript! You asked for ${url.pathname}\n`, {
    status: 200,
    headers: { "content-type": "text/plain; charset=utf-8", "x-edgeplay": "js" },
  });
}
"#;

const PROXY: &str = r#"/// <reference types="@fastly/js-compute" />
// Proxy: send the request on to the backend "b" (a mock backend of the tab's
// fastly.toml: no network needed) and answer with what it said.
addEventListener("fetch", (event) => event.respondWith(handle(event.request)));

async function handle(request) {
  const url = new URL(request.url);
  const upstream = await fetch(`https://origin.example${url.pathname}${url.search}`, {
    backend: "b",
    headers: { "x-forwarded-by": "edgeplay" },
  });
  const text = await upstream.text();
  console.log(`backend b answered ${upstream.status} with ${text.length} bytes`);
  return new Response(`backend b said: ${text}\n`, {
    status: upstream.status,
    headers: { "content-type": "text/plain", "x-upstream-status": String(upstream.status) },
  });
}
"#;

const CONFIG_STORE: &str = r#"/// <reference types="@fastly/js-compute" />
// Config store: read a key (?key=greeting, the default, or ?key=answer) from the
// config store "settings" that the fastly.toml on the left defines.
import { ConfigStore } from "fastly:config-store";

addEventListener("fetch", (event) => event.respondWith(handle(event.request)));

function handle(request) {
  const key = new URL(request.url).searchParams.get("key") ?? "greeting";
  const value = new ConfigStore("settings").get(key);
  if (value === null) {
    return new Response(`no key "${key}" in the config store "settings"\n`, { status: 404 });
  }
  console.log(`settings.${key} = ${value}`);
  return new Response(`${key}: ${value}\n`, { headers: { "content-type": "text/plain" } });
}
"#;

const KV_STORE: &str = r#"/// <reference types="@fastly/js-compute" />
// KV store: count visits in the KV store "playground" (it lasts: run it again),
// and read the greeting the fastly.toml seeds it with.
import { KVStore } from "fastly:kv-store";

addEventListener("fetch", (event) => event.respondWith(handle(event.request)));

async function handle(request) {
  const store = new KVStore("playground");
  const seen = await store.get("visits");
  const visits = seen === null ? 1 : Number(await seen.text()) + 1;
  await store.put("visits", String(visits));
  const greeting = await store.get("greeting");
  console.log(`visit number ${visits}`);
  return new Response(`${greeting ? await greeting.text() : "Hello"}\nvisits: ${visits}\n`, {
    headers: { "content-type": "text/plain" },
  });
}
"#;

const CACHE_OVERRIDE: &str = r#"/// <reference types="@fastly/js-compute" />
// Cache override: fetch from the slow backend "a" (a mock that takes 400 ms) and
// cache its answer for 60 s whatever it says. Run it twice: the second run is a
// cache HIT (see the Trace tab's waterfall) and answers at once.
import { CacheOverride } from "fastly:cache-override";

addEventListener("fetch", (event) => event.respondWith(handle(event.request)));

async function handle(request) {
  const started = Date.now();
  const upstream = await fetch("https://origin.example/slow", {
    backend: "a",
    cacheOverride: new CacheOverride("override", { ttl: 60 }),
  });
  const text = await upstream.text();
  const ms = Date.now() - started;
  console.log(`backend a: ${upstream.status} in ${ms} ms`);
  return new Response(`${text}\n(${ms} ms)\n`, {
    status: upstream.status,
    headers: { "content-type": "text/plain", "x-fetch-ms": String(ms) },
  });
}
"#;

const STREAMING: &str = r#"/// <reference types="@fastly/js-compute" />
// Streaming: the body is a ReadableStream; each chunk reaches the client while
// the app is still running (watch the Response tab count them).
addEventListener("fetch", (event) => event.respondWith(handle(event.request)));

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function handle(request) {
  const encoder = new TextEncoder();
  let n = 0;
  const body = new ReadableStream({
    async pull(controller) {
      if (n === 5) {
        controller.close();
        return;
      }
      n += 1;
      await sleep(100);
      controller.enqueue(encoder.encode(`chunk ${n}\n`));
    },
  });
  console.log("streaming 5 chunks");
  return new Response(body, { headers: { "content-type": "text/plain" } });
}
"#;

/// The template called `name`.
pub fn template(name: &str) -> Option<&'static Template> {
    TEMPLATES.iter().find(|t| t.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_names_the_engine_beside_it() {
        let m = EngineManifest::parse(
            r#"{"package":"@fastly/js-compute","version":"3.46.0","file":"fastly.wasm","size":10}"#,
        )
        .unwrap();
        assert_eq!(m.engine_url(), "engine/fastly.wasm");
        assert_eq!(m.label(), "@fastly/js-compute 3.46.0");
        assert!(EngineManifest::parse("{}").is_err());
    }

    #[test]
    fn build_keys_change_with_engine_name_and_source() {
        let k = build_key("e1", "app.js", "x");
        assert_eq!(k.len(), 64);
        assert_eq!(k, build_key("e1", "app.js", "x"));
        assert_ne!(k, build_key("e2", "app.js", "x"));
        assert_ne!(k, build_key("e1", "main.js", "x"));
        assert_ne!(k, build_key("e1", "app.js", "y"));
        // The separators keep name and source apart.
        assert_ne!(build_key("e", "a", "bc"), build_key("e", "ab", "c"));
    }

    #[test]
    fn a_package_holds_the_module_and_the_config_under_the_services_name() {
        let toml = "manifest_version = 3\nname = \"my service\"\n";
        let (name, tgz) = package(b"\0asm\x01\0\0\0", toml);
        assert_eq!(name, "my-service");
        let p = edgeplay_host::fiddle::read_package(&tgz).unwrap();
        assert_eq!(p.name.as_deref(), Some("my-service"));
        assert_eq!(p.wasm, b"\0asm\x01\0\0\0");
        assert_eq!(p.fastly_toml.as_deref(), Some(toml));
        assert_eq!(package_name("not = [toml"), "app");
        assert_eq!(package_name(""), "app");
    }

    #[test]
    fn script_errors_keep_their_position_and_other_errors_have_none() {
        let f = BuildFailure::from(BuildError::Script(
            edgeplay_host::jsbuild::ScriptError::parse(
                "Error while evaluating /app/app.js:3:7 SyntaxError: bad".into(),
                "app.js",
                1,
            ),
        ));
        assert_eq!((f.line, f.column), (Some(3), Some(7)));
        assert!(f.message.contains("SyntaxError"), "{}", f.message);
        let f = BuildFailure::from(BuildError::Budget { fuel: 5 });
        assert_eq!((f.line, f.column), (None, None));
        assert!(f.message.contains("budget"), "{}", f.message);
    }

    #[test]
    fn templates_have_unique_names_and_start_with_hello() {
        assert_eq!(TEMPLATES[0].name, "hello");
        for t in TEMPLATES {
            assert_eq!(template(t.name), Some(t));
            assert!(
                t.source.contains("addEventListener(\"fetch\""),
                "{}",
                t.name
            );
        }
    }
}
