//! `edgeplay build app.js -o app.wasm`: a JS Compute guest built by the core
//! ([`edgeplay_host::jsbuild`]) instead of `js-compute-runtime` and Wizer, with a cache
//! of finished builds keyed by the SHA-256 of engine, source and environment.

use anyhow::{anyhow, Context, Result};
use edgeplay_host::jsbuild::{BuildOptions, JsEngine, Source};
use edgeplay_host::{Engine, Guest};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// The engine's path inside an npm install of the JS SDK.
pub const ENGINE_IN_NODE_MODULES: &str = "node_modules/@fastly/js-compute/fastly.wasm";
/// The variable naming the engine.
pub const ENGINE_ENV: &str = "EDGEPLAY_JS_ENGINE";

/// Where the JS SDK's engine is: `explicit`, else `$EDGEPLAY_JS_ENGINE`, else
/// `node_modules/@fastly/js-compute/fastly.wasm` under the current directory or
/// `$EDGEPLAY_CACHE/js` (default `~/.cache/edgeplay/js`, where `tests/js/build.sh`
/// installs the SDK). The error says how to get it.
pub fn find_engine(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return if p.is_file() {
            Ok(p.to_path_buf())
        } else {
            Err(anyhow!("--engine {}: no such file", p.display()))
        };
    }
    if let Some(p) = std::env::var_os(ENGINE_ENV).filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(anyhow!("{ENGINE_ENV}={}: no such file", p.display()))
        };
    }
    let mut tried = vec![PathBuf::from(ENGINE_IN_NODE_MODULES)];
    if let Some(cache) = edgeplay_cache() {
        tried.push(cache.join("js").join(ENGINE_IN_NODE_MODULES));
    }
    tried.iter().find(|p| p.is_file()).cloned().ok_or_else(|| {
        anyhow!(
            "the JS SDK's engine (fastly.wasm) was not found; looked for {}. Install the SDK with `npm install @fastly/js-compute` (here, or in ~/.cache/edgeplay/js), or name the engine with --engine PATH or {ENGINE_ENV}",
            tried
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(" and ")
        )
    })
}

/// Most files [`read_source`] follows imports to.
pub const MAX_SOURCE_FILES: usize = 1000;

/// The app as the engine sees it: the file under its own name, and the files it
/// imports by relative path (`import … from "./lib.js"`, `import("./x.js")`,
/// transitively), found in the file's directory and below. The scan for specifiers
/// is textual and may pick up more than is imported; a file it misses makes the
/// engine's own "Error opening file" build error.
pub fn read_source(path: &Path) -> Result<Source> {
    let text = std::fs::read(path).with_context(|| format!("could not read {}", path.display()))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "app.js".into());
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut source = Source::single(&name, text);
    let mut todo = vec![name];
    while let Some(file) = todo.pop() {
        let base = Path::new(&file).parent().unwrap_or(Path::new(""));
        let text = String::from_utf8_lossy(&source.files[&file]).into_owned();
        for spec in relative_imports(&text) {
            let Some(rel) = normalise(&base.join(spec)) else {
                continue;
            };
            if source.files.contains_key(&rel) || source.files.len() >= MAX_SOURCE_FILES {
                continue;
            }
            if let Ok(bytes) = std::fs::read(dir.join(&rel)) {
                source.files.insert(rel.clone(), bytes);
                todo.push(rel);
            }
        }
    }
    Ok(source)
}

/// `a/./b/../c` as `a/c`; `None` when it leaves the app's directory.
fn normalise(p: &Path) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            std::path::Component::Normal(n) => parts.push(n.to_string_lossy().into_owned()),
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                parts.pop()?;
            }
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

/// The string literals starting `./` or `../` that follow `from` or `import`
/// (`import x from "./a.js"`, `export * from './b.js'`, `import "./c.js"`,
/// `import("./d.js")`).
fn relative_imports(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for kw in ["from", "import"] {
        let mut rest = text;
        while let Some(i) = rest.find(kw) {
            rest = &rest[i + kw.len()..];
            let after = rest.trim_start().trim_start_matches('(').trim_start();
            let Some(q) = after
                .chars()
                .next()
                .filter(|c| matches!(c, '"' | '\'' | '`'))
            else {
                continue;
            };
            let lit = &after[1..];
            if let Some(end) = lit.find(q) {
                let spec = &lit[..end];
                if spec.starts_with("./") || spec.starts_with("../") {
                    out.push(spec);
                }
            }
        }
    }
    out
}

/// The cache key of one build: engine, source files and environment.
pub fn cache_key(engine_wasm: &[u8], source: &Source, opts: &BuildOptions) -> String {
    let mut h = Sha256::new();
    h.update(b"edgeplay-jsbuild-1\0");
    h.update(Sha256::digest(engine_wasm));
    h.update(source.main.as_bytes());
    for (name, data) in &source.files {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((data.len() as u64).to_le_bytes());
        h.update(data);
    }
    for (k, v) in &opts.env {
        h.update(format!("{}={}\0", k.len(), k).as_bytes());
        h.update(v.as_bytes());
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// `$EDGEPLAY_CACHE`, else `~/.cache/edgeplay`.
fn edgeplay_cache() -> Option<PathBuf> {
    std::env::var_os("EDGEPLAY_CACHE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/edgeplay")))
}

/// The build cache's directory: `$EDGEPLAY_CACHE/builds`, else `~/.cache/edgeplay/builds`.
pub fn cache_dir() -> Option<PathBuf> {
    Some(edgeplay_cache()?.join("builds"))
}

/// What one build did.
#[derive(Debug)]
pub struct BuildReport {
    /// The module.
    pub wasm: Vec<u8>,
    /// True when it came from the cache.
    pub cached: bool,
    /// What the app printed during initialisation.
    pub stdout: String,
    /// Milliseconds: loading the engine, initialising, writing the module.
    pub times_ms: (f64, f64, f64),
    /// Fuel used and the WASI calls made (with counts), when not cached.
    pub details: Option<String>,
}

/// Build `source` with the engine at `engine_path` (cached unless `no_cache`).
pub fn build(
    engine: &Engine,
    engine_path: &Path,
    source: &Source,
    no_cache: bool,
) -> Result<BuildReport> {
    // The text format too, as for guests (a stand-in engine in a test).
    let engine_wasm = crate::load::read_guest(engine_path)?;
    let opts = BuildOptions::default();
    let key = cache_key(&engine_wasm, source, &opts);
    let cached_path = cache_dir().map(|d| d.join(format!("{key}.wasm")));
    if !no_cache {
        if let Some(wasm) = cached_path.as_ref().and_then(|p| std::fs::read(p).ok()) {
            return Ok(BuildReport {
                wasm,
                cached: true,
                stdout: String::new(),
                times_ms: (0.0, 0.0, 0.0),
                details: None,
            });
        }
    }
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1000.0;
    let t0 = Instant::now();
    let js = JsEngine::new(engine, &engine_wasm).map_err(|e| anyhow!("{e}"))?;
    let load = ms(t0);
    let t1 = Instant::now();
    let built = js
        .build(engine, source, &opts)
        .map_err(|e| anyhow!("could not build {}: {e}", source.main))?;
    let init = ms(t1);
    let t2 = Instant::now();
    let wasm = js
        .write_module(&built.snapshot)
        .map_err(|e| anyhow!("{e}"))?;
    let write = ms(t2);
    if let Some(p) = &cached_path {
        // A cache that cannot be written is no failure: the next build is a miss.
        if let Some(dir) = p.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let tmp = p.with_extension(format!("tmp{}", std::process::id()));
        if std::fs::write(&tmp, &wasm).is_ok() {
            let _ = std::fs::rename(&tmp, p);
        }
    }
    Ok(BuildReport {
        wasm,
        cached: false,
        details: Some(format!(
            "initialisation: {} units of fuel, {} bytes of memory; WASI calls: {}",
            built.fuel,
            built.snapshot.memory.len(),
            built
                .wasi_calls
                .iter()
                .map(|(n, c)| format!("{n} ×{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        stdout: built.stdout,
        times_ms: (load, init, write),
    })
}

/// True for a path `serve`, `run` and `request` build as JavaScript.
pub fn is_js(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("js" | "mjs")
    )
}

/// Build the app at `path` and return a guest that starts each request from its
/// snapshot (the compiled engine is kept: no module is written or recompiled).
pub fn load_js(engine: &Engine, path: &Path) -> Result<Arc<Guest>> {
    let source = read_source(path)?;
    load_source(engine, &source, &path.display().to_string())
}

/// Build `source` (called `what` in messages) with the engine [`find_engine`] finds
/// and return a guest that starts each request from its snapshot: `load_js` for a
/// file, and a fiddle's `source` guest for `edgeplay test`.
pub fn load_source(engine: &Engine, source: &Source, what: &str) -> Result<Arc<Guest>> {
    let engine_path = find_engine(None)?;
    let engine_wasm = crate::load::read_guest(&engine_path)?;
    let t0 = Instant::now();
    let js = JsEngine::new(engine, &engine_wasm).map_err(|e| anyhow!("{e}"))?;
    let built = js
        .build(engine, source, &BuildOptions::default())
        .map_err(|e| anyhow!("could not build {what}: {e}"))?;
    if !built.stdout.is_empty() {
        print!("{}", built.stdout);
    }
    tracing::info!(
        "built {what} in {:.0} ms (snapshot of {} KiB)",
        t0.elapsed().as_secs_f64() * 1000.0,
        built.snapshot.memory.len() / 1024
    );
    js.guest_for(Arc::new(built.snapshot))
        .map_err(|e| anyhow!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_import_specifiers_are_found() {
        let src = "import { a } from \"./a.js\";\nexport * from './lib/b.js';\nimport \"./c.js\";\nconst d = await import(\"../d.js\");\nimport { e } from \"fastly:env\";\n";
        let mut found = relative_imports(src);
        found.sort();
        assert_eq!(found, vec!["../d.js", "./a.js", "./c.js", "./lib/b.js"]);
        assert_eq!(
            normalise(Path::new("lib/./x/../b.js")).as_deref(),
            Some("lib/b.js")
        );
        assert_eq!(normalise(Path::new("../d.js")), None);
    }
}
