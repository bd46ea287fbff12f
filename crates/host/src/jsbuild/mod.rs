//! Building JS Compute guests: what `js-compute-runtime` does with Wizer, in the core.
//!
//! The JS SDK's engine (`@fastly/js-compute`'s `fastly.wasm`) is an ordinary core
//! module. Building an app is running the engine's own initialisation — `_initialize`,
//! then `wizer.initialize`, which reads the script's path from stdin, opens it in a
//! preopened directory and evaluates it — and taking a snapshot of its memory and
//! globals. Here that runs under wasmi with an in-memory WASI view ([`wasi`]), no
//! file system, no threads: the same code builds natively and in the browser.
//!
//! ```text
//! let js = JsEngine::new(&engine, &fastly_wasm)?;          // prepare + compile, once
//! let built = js.build(&Source::single("app.js", src), &BuildOptions::default())?;
//! let wasm = js.write_module(&built.snapshot)?;             // (a) Wizer's output
//! let guest = js.guest_for(Arc::new(built.snapshot))?;      // (b) run from it
//! ```
//!
//! (a) [`JsEngine::write_module`] writes the module Wizer would (see [`rewrite`]), for
//! download and deploy; (b) [`JsEngine::guest_for`] keeps the compiled
//! engine and starts each request from the snapshot (instantiate, grow memory, copy
//! the image, set the globals, call `wizer.resume`), which skips compiling an 11 MB
//! output per build.
//!
//! The script runs in module mode (the CLI's `--module-mode`: no bundling, the
//! engine resolves `fastly:*` imports itself), so a single file needs no bundler.

pub mod rewrite;
pub mod wasi;

use crate::engine::{Engine, Guest};
pub use crate::snapshot::{GlobalValue, Snapshot};
use rewrite::Layout;
use std::collections::BTreeMap;
use std::sync::Arc;
use wasi::{BuildTrap, BuildWasi, PREOPEN};

/// Why a build failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The engine bytes are not a JS Compute engine.
    #[error("{0}")]
    Engine(String),
    /// The script did not evaluate: a syntax error or an exception at the top level.
    #[error("{0}")]
    Script(ScriptError),
    /// The script called a Fastly API while initialising.
    #[error("the app called the Fastly API `{import}` at initialisation (top-level code); Fastly APIs are available only while handling a request: move the call into the fetch handler{}", stderr_note(.stderr))]
    FastlyCall {
        /// The import, `module::name`.
        import: String,
        /// What the engine wrote to stderr before.
        stderr: String,
    },
    /// The initialisation ran out of its fuel budget (an endless loop at the top level?).
    #[error("the app's initialisation did not finish within the build's budget of {fuel} units of fuel (an endless loop in top-level code?)")]
    Budget {
        /// The budget.
        fuel: u64,
    },
    /// Anything else that stopped the engine.
    #[error("the engine failed while initialising the app: {message}{}", stderr_note(.stderr))]
    Trap {
        /// The trap.
        message: String,
        /// What the engine wrote to stderr before.
        stderr: String,
    },
}

fn stderr_note(s: &str) -> String {
    if s.trim().is_empty() {
        String::new()
    } else {
        format!("\n{}", s.trim_end())
    }
}

/// The engine's report of a script that failed to evaluate.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScriptError {
    /// The engine's message (its stderr), as it wrote it.
    pub message: String,
    /// 1-based line in the source, when the engine gave one.
    pub line: Option<u32>,
    /// 1-based column, when the engine gave one.
    pub column: Option<u32>,
    /// The exit code (`proc_exit`).
    pub exit_code: i32,
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message.trim_end())?;
        if self.message.trim().is_empty() {
            write!(
                f,
                "the engine exited with code {} while evaluating the app",
                self.exit_code
            )?;
        }
        Ok(())
    }
}

impl ScriptError {
    /// Parse the engine's stderr: the first `<file>:<line>:<column>` naming the script
    /// (the engine names it by its path relative to the app's directory).
    pub fn parse(message: String, file: &str, exit_code: i32) -> Self {
        let (line, column) = find_position(&message, file).unzip();
        ScriptError {
            message,
            line,
            column,
            exit_code,
        }
    }
}

/// The first `file:line:column` (or `file:line`) after an occurrence of `file`.
fn find_position(text: &str, file: &str) -> Option<(u32, u32)> {
    let mut rest = text;
    while let Some(i) = rest.find(file) {
        let after = &rest[i + file.len()..];
        let mut nums = after.split(':').skip(1);
        let digits = |s: Option<&str>| -> Option<u32> {
            let s = s?;
            let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
            s[..end].parse().ok()
        };
        if after.starts_with(':') {
            if let Some(line) = digits(nums.next()) {
                let col = digits(nums.next()).unwrap_or(1);
                return Some((line, col));
            }
        }
        rest = after;
    }
    None
}

/// The app's files.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Source {
    /// The entry point, a path relative to the app's directory (`app.js`).
    pub main: String,
    /// Every file, by path relative to the app's directory (the entry point among them).
    pub files: BTreeMap<String, Vec<u8>>,
}

impl Source {
    /// One file, `name`, holding `text`.
    pub fn single(name: &str, text: impl Into<Vec<u8>>) -> Self {
        let name = name.trim_start_matches("./").to_string();
        Source {
            files: BTreeMap::from([(name.clone(), text.into())]),
            main: name,
        }
    }

    /// The path the engine is given (and names in its messages).
    pub fn main_path(&self) -> String {
        format!("{PREOPEN}/{}", self.main)
    }
}

/// A build's environment and bounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuildOptions {
    /// Environment variables the engine sees (the CLI passes its own environment).
    pub env: Vec<(String, String)>,
    /// Fuel budget for the initialisation (about one unit per wasm instruction).
    pub fuel: u64,
    /// Most bytes the engine's memory may grow to.
    pub max_memory: usize,
}

impl BuildOptions {
    /// The two variables `js-compute-runtime` always sets (both off, as its defaults).
    pub fn default_env() -> Vec<(String, String)> {
        [
            ("ENABLE_EXPERIMENTAL_HIGH_RESOLUTION_TIME_METHODS", "0"),
            ("ENABLE_EXPERIMENTAL_HTTP_CACHE", "0"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }
}

impl Default for BuildOptions {
    fn default() -> Self {
        BuildOptions {
            env: Self::default_env(),
            // A hello app takes about 0.3 billion; this is a minute or more.
            fuel: 50_000_000_000,
            max_memory: 1 << 30,
        }
    }
}

/// A finished initialisation.
#[derive(Clone, Debug)]
pub struct Built {
    /// Memory and globals.
    pub snapshot: Snapshot,
    /// What the app wrote to stdout during initialisation (top-level `console.log`).
    pub stdout: String,
    /// What it wrote to stderr.
    pub stderr: String,
    /// Fuel the initialisation used.
    pub fuel: u64,
    /// The WASI calls it made, with counts.
    pub wasi_calls: BTreeMap<&'static str, u64>,
}

/// A JS Compute engine ready to build apps: prepared ([`rewrite::prepare`]) and
/// compiled once by the host's [`Engine`], which also runs what it builds.
pub struct JsEngine {
    original: Arc<[u8]>,
    layout: Layout,
    guest: Arc<Guest>,
    sha256: String,
}

impl std::fmt::Debug for JsEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsEngine")
            .field("sha256", &self.sha256)
            .finish()
    }
}

impl JsEngine {
    /// Prepare and compile `wasm` (the SDK's `fastly.wasm`) with `engine`.
    pub fn new(engine: &Engine, wasm: &[u8]) -> Result<Self, BuildError> {
        let (prepared, layout) = rewrite::prepare(wasm)?;
        let guest = engine
            .load(&prepared)
            .map_err(|e| BuildError::Engine(format!("the engine did not load: {e}")))?;
        let sha256 = crate::fiddle::model::sha256_hex(wasm);
        Ok(JsEngine {
            original: wasm.into(),
            layout,
            guest,
            sha256,
        })
    }

    /// SHA-256 of the engine's bytes, hex (a snapshot belongs to one engine).
    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The compiled, prepared engine (a guest whose `_start` is `wizer.resume`).
    pub fn guest(&self) -> &Arc<Guest> {
        &self.guest
    }

    /// Run the engine's initialisation on `source` and capture the result.
    pub fn build(
        &self,
        engine: &Engine,
        source: &Source,
        opts: &BuildOptions,
    ) -> Result<Built, BuildError> {
        let stdin = format!("{}\n", source.main_path()).into_bytes();
        let view = BuildWasi::new(
            stdin,
            source.files.clone(),
            opts.env.clone(),
            engine.platform.clone(),
            opts.max_memory,
        );
        let mut store = wasmi::Store::new(&engine.wasmi, view);
        store.limiter(|s| &mut s.limits);
        store
            .set_fuel(opts.fuel)
            .map_err(|e| BuildError::Engine(e.to_string()))?;
        let module = &self.guest.module;
        let mut linker = wasmi::Linker::new(&engine.wasmi);
        wasi::link(&mut linker, module).map_err(BuildError::Engine)?;
        let trap = |store: &wasmi::Store<BuildWasi>, e: wasmi::Error| {
            classify(store, e, source, opts.fuel)
        };
        let instance = match linker.instantiate_and_start(&mut store, module) {
            Ok(i) => i,
            Err(e) => return Err(trap(&store, e)),
        };
        let memory = instance
            .get_memory(&store, rewrite::MEMORY_EXPORT)
            .ok_or_else(|| BuildError::Engine("the prepared engine exports no memory".into()))?;
        store.data_mut().memory = Some(memory);
        for name in ["_initialize", rewrite::INIT_EXPORT] {
            if name == "_initialize" && !self.layout.has_initialize {
                continue;
            }
            let f = instance
                .get_typed_func::<(), ()>(&store, name)
                .map_err(|e| BuildError::Engine(format!("`{name}`: {e}")))?;
            if let Err(e) = f.call(&mut store, ()) {
                return Err(trap(&store, e));
            }
        }
        let mut globals = Vec::with_capacity(self.layout.defined_globals as usize);
        for i in 0..self.layout.defined_globals {
            let name = format!("{}{i}", rewrite::GLOBAL_EXPORT_PREFIX);
            let g = instance
                .get_global(&store, &name)
                .ok_or_else(|| BuildError::Engine(format!("no export {name}")))?;
            globals.push(match g.get(&store) {
                wasmi::Val::I32(v) => GlobalValue::I32(v),
                wasmi::Val::I64(v) => GlobalValue::I64(v),
                wasmi::Val::F32(v) => GlobalValue::F32(v.to_bits()),
                wasmi::Val::F64(v) => GlobalValue::F64(v.to_bits()),
                wasmi::Val::V128(v) => GlobalValue::V128(v.as_u128()),
                other => {
                    return Err(BuildError::Engine(format!(
                        "global {i} holds a reference ({other:?}); a snapshot holds numbers only"
                    )))
                }
            });
        }
        let fuel = opts.fuel - store.get_fuel().unwrap_or(0);
        let snapshot = Snapshot {
            memory: memory.data(&store).to_vec(),
            globals,
            engine_sha256: self.sha256.clone(),
        };
        let view = store.data();
        Ok(Built {
            snapshot,
            stdout: String::from_utf8_lossy(&view.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&view.stderr).into_owned(),
            fuel,
            wasi_calls: view.calls.clone(),
        })
    }

    /// (b) A guest that starts every request from `snapshot` (taken by [`Self::build`]
    /// of this engine): the compiled engine is shared, nothing is recompiled. Each
    /// [`crate::Execution`] instantiates the engine, restores the snapshot
    /// ([`crate::snapshot::restore`]) and calls `_start` (`wizer.resume`).
    ///
    /// A snapshot of another engine (another SDK version) is refused.
    pub fn guest_for(&self, snapshot: Arc<Snapshot>) -> Result<Arc<Guest>, BuildError> {
        if snapshot.engine_sha256 != self.sha256 {
            return Err(BuildError::Engine(format!(
                "the snapshot was taken from another engine (sha256 {}), not this one ({}): build the app again",
                snapshot.engine_sha256, self.sha256
            )));
        }
        let g = &self.guest;
        let mut info = g.info.clone();
        info.cached = true;
        info.load_us = 0;
        Ok(Arc::new(Guest {
            module: g.module.clone(),
            linker: g.linker.clone(),
            names: g.names.clone(),
            info,
            snapshot: Some(snapshot),
        }))
    }

    /// (a) The initialised module, as Wizer writes it ([`rewrite::finish`]).
    pub fn write_module(&self, snapshot: &Snapshot) -> Result<Vec<u8>, BuildError> {
        rewrite::finish(&self.original, snapshot)
    }
}

fn classify(
    store: &wasmi::Store<BuildWasi>,
    e: wasmi::Error,
    source: &Source,
    fuel: u64,
) -> BuildError {
    let stderr = String::from_utf8_lossy(&store.data().stderr).into_owned();
    match e.downcast_ref::<BuildTrap>() {
        Some(BuildTrap::Exit(code)) => {
            BuildError::Script(ScriptError::parse(stderr, &source.main, *code))
        }
        Some(BuildTrap::Fastly(import)) => BuildError::FastlyCall {
            import: import.clone(),
            stderr,
        },
        Some(t @ BuildTrap::Unknown(_)) => BuildError::Trap {
            message: t.to_string(),
            stderr,
        },
        None if e.as_trap_code() == Some(wasmi::TrapCode::OutOfFuel) => BuildError::Budget { fuel },
        None => BuildError::Trap {
            message: e.to_string(),
            stderr,
        },
    }
}

/// Build `source` with the engine bytes `engine_wasm` into a deployable module: (a)
/// in one call.
pub fn build_module(
    engine: &Engine,
    engine_wasm: &[u8],
    source: &Source,
    opts: &BuildOptions,
) -> Result<Vec<u8>, BuildError> {
    let js = JsEngine::new(engine, engine_wasm)?;
    let built = js.build(engine, source, opts)?;
    js.write_module(&built.snapshot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_found_after_the_script_path() {
        let msg = "Error while evaluating /app/app.js:3:11 SyntaxError: unexpected token";
        assert_eq!(find_position(msg, "/app/app.js"), Some((3, 11)));
        assert_eq!(
            find_position("at /app/app.js:7", "/app/app.js"),
            Some((7, 1))
        );
        assert_eq!(find_position("no position", "/app/app.js"), None);
    }
}
