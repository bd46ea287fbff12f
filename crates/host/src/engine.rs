//! Loading guests: validation with clear errors, the module cache keyed by content
//! hash, and what a guest imports.

use crate::abi::{self, Registry};
use crate::platform::Platform;
use crate::session::Session;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Why a guest could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The bytes are not WebAssembly at all.
    #[error("not a WebAssembly module: the file does not start with the wasm magic bytes (\\0asm); got {0}")]
    NotWasm(String),
    /// A WebAssembly component (wasip2), not a core module.
    #[error("this is a WebAssembly component (wasm32-wasip2), not a core module; edgeplay runs core modules built for wasm32-wasip1 (Rust `--target wasm32-wasip1`, the JS SDK, Go with GOOS=wasip1)")]
    Component,
    /// The module is malformed or truncated.
    #[error("malformed or truncated WebAssembly module: {0}")]
    Invalid(String),
    /// The module uses a WebAssembly proposal the interpreter does not support.
    #[error("the module uses a WebAssembly feature edgeplay's interpreter (wasmi) does not support: {0}")]
    UnsupportedFeature(String),
    /// No `_start` export.
    #[error("the module exports no `_start` function, so it is not a Compute program (a Compute guest is a WASI command)")]
    NoStart,
    /// Linking failed (an import with the wrong type).
    #[error("the module's imports could not be linked: {0}")]
    Link(String),
    /// `_start` takes parameters or returns results (its type, in WAT).
    #[error("the module's `_start` is `{0}`, but a Compute program's `_start` takes no parameters and returns nothing")]
    BadStart(String),
}

/// One import of a guest, as the load panel shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportInfo {
    /// Module.
    pub module: String,
    /// Name.
    pub name: String,
    /// `emulated`, `unsupported` (linked, answers UNSUPPORTED) or `unknown` (not part of the ABI: traps if called).
    pub support: String,
}

/// What a loaded guest is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestInfo {
    /// Size in bytes.
    pub size: usize,
    /// SHA-256 of the bytes, hex.
    pub sha256: String,
    /// Imports, in module order.
    pub imports: Vec<ImportInfo>,
    /// Function imports that are not part of the Compute ABI.
    pub unknown_imports: Vec<String>,
    /// Microseconds spent hashing, validating and preparing the module (0 when it came
    /// from the cache).
    pub load_us: u64,
    /// True when the module came from the cache.
    pub cached: bool,
    /// True when the module was instrumented for guest backtraces: a trap then reports
    /// the guest call stack. False when backtraces are off in the engine, or when the
    /// module could not be instrumented (it then runs as it is, without backtraces).
    #[serde(default)]
    pub backtraces: bool,
    /// Where `load_us` went (all 0 when the module came from the cache).
    #[serde(default)]
    pub load_phases: LoadPhases,
}

/// The parts of loading a guest, in microseconds ([`GuestInfo::load_phases`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadPhases {
    /// Hashing the bytes (the module cache's key).
    pub hash_us: u64,
    /// Rewriting the module for guest backtraces ([`crate::backtrace::instrument`]).
    pub instrument_us: u64,
    /// wasmi parsing and validating the module (functions are translated lazily, on
    /// their first call, during the run).
    pub compile_us: u64,
    /// Checking the imports against the ABI and linking them.
    pub link_us: u64,
    /// Reading the name section (function names for traces and backtraces).
    pub names_us: u64,
}

/// A loaded guest: a compiled module and a linker with every import it has.
pub struct Guest {
    pub(crate) module: wasmi::Module,
    pub(crate) linker: wasmi::Linker<Session>,
    pub(crate) names: Arc<crate::names::FuncNames>,
    /// The state each execution starts from instead of the module's own (a JS build
    /// run from its snapshot: [`crate::jsbuild::JsEngine::guest_for`]).
    pub(crate) snapshot: Option<Arc<crate::snapshot::Snapshot>>,
    /// What was loaded.
    pub info: GuestInfo,
}

impl std::fmt::Debug for Guest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guest").field("info", &self.info).finish()
    }
}

/// Engine-wide choices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineOptions {
    /// Instrument guests at load time so that a trap reports the guest backtrace
    /// (see [`crate::backtrace`]). On by default. Costs 10 wasm operators (and 10
    /// units of fuel, which the CPU-limit estimate counts) per guest call: a few
    /// percent on real guests, up to +16% time and +91% fuel on code that does
    /// nothing but call tiny functions; and about 40% more load time.
    pub backtraces: bool,
    /// What imports outside the Compute ABI get (Viceroy's
    /// `--unknown-import-behavior`). Default: [`UnknownImports::Trap`].
    #[serde(default)]
    pub unknown_imports: UnknownImports,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            backtraces: true,
            unknown_imports: UnknownImports::default(),
        }
    }
}

/// What a guest's imports outside the Compute ABI (and the WASI calls the host
/// defines) get: Viceroy's `--unknown-import-behavior`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnknownImports {
    /// Linked to a stub that traps, naming the import, when it is called; the guest
    /// loads and runs until then. edgeplay's default: a playground shows what a guest
    /// does rather than refusing it (Viceroy's `trap`).
    #[default]
    Trap,
    /// The guest does not load: a link error naming every such import (Viceroy's
    /// default, `link-error`).
    LinkError,
    /// Linked to a stub that returns zero for every result (a null reference for a
    /// reference result): Viceroy's `zero-or-null`.
    ZeroOrNull,
}

impl std::str::FromStr for UnknownImports {
    type Err = String;

    /// Viceroy's spellings: `link-error`, `trap`, `zero-or-null`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "trap" => Ok(UnknownImports::Trap),
            "link-error" => Ok(UnknownImports::LinkError),
            "zero-or-null" => Ok(UnknownImports::ZeroOrNull),
            _ => Err(format!(
                "unknown import behavior `{s}`: expected link-error, trap or zero-or-null"
            )),
        }
    }
}

/// The wasmi engine, the shared linker, and the module cache.
pub struct Engine {
    pub(crate) wasmi: wasmi::Engine,
    /// With a platform [`crate::platform::Validator`] `wasmi` parses function bodies
    /// lazily; this engine validates eagerly, for the wording of the error when the
    /// validator refuses a module.
    strict: Option<wasmi::Engine>,
    options: EngineOptions,
    registry: Registry,
    cache: Mutex<HashMap<[u8; 32], Arc<Guest>>>,
    pub(crate) platform: Platform,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Engine")
    }
}

/// wasmi's configuration: fuel metering, and function bodies translated on their
/// first call — validated then too when `lazy` (a platform validator checked the whole
/// module), else at load.
fn wasmi_config(lazy: bool) -> wasmi::Config {
    let mut config = wasmi::Config::default();
    config
        .consume_fuel(true)
        .compilation_mode(if lazy {
            wasmi::CompilationMode::Lazy
        } else {
            wasmi::CompilationMode::LazyTranslation
        })
        // The platform compiles guests ahead of time: translating (or validating) a
        // function on its first call must not count as guest CPU (nor trap a slice
        // mid-translation).
        .fuel_cost(wasmi::CustomFuelCosts {
            bytes_copied_per_fuel: 64,
            fuel_per_bytes_translated: 0,
            fuel_per_bytes_validated: 0,
        })
        // The backtrace instrumentation adds a memory to every guest.
        .wasm_multi_memory(true)
        .set_max_recursion_depth(crate::backtrace::MAX_RECURSION_DEPTH)
        // The platform's 1 MB stack (wasmi's default too, set here to say so).
        .set_max_stack_height(crate::limits::PLATFORM_STACK_BYTES);
    config
}

impl Engine {
    /// A new engine with the default [`EngineOptions`]: wasmi with fuel metering and
    /// lazy translation, every ABI import linked, guest backtraces on.
    pub fn new(platform: Platform) -> Self {
        Self::with_options(platform, EngineOptions::default())
    }

    /// A new engine with explicit options. With a platform validator function bodies
    /// are validated and translated on their first call (wasmi's lazy mode): the
    /// platform has validated the whole module already, faster.
    pub fn with_options(platform: Platform, options: EngineOptions) -> Self {
        let lazy = platform.validator.is_some();
        let wasmi = wasmi::Engine::new(&wasmi_config(lazy));
        let strict = lazy.then(|| wasmi::Engine::new(&wasmi_config(false)));
        let registry = abi::build_registry(&wasmi)
            .expect("the built-in import catalog links without duplicates");
        Engine {
            wasmi,
            strict,
            options,
            registry,
            cache: Mutex::new(HashMap::new()),
            platform,
        }
    }

    /// The options this engine was made with.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// The platform services.
    pub fn platform(&self) -> &Platform {
        &self.platform
    }

    /// Per ABI group: how many imports are emulated and how many answer UNSUPPORTED.
    pub fn coverage(&self) -> Vec<abi::Coverage> {
        abi::coverage(&self.registry)
    }

    /// True when `module.name` has a real implementation.
    pub fn is_emulated(&self, module: &str, name: &str) -> bool {
        self.registry
            .implemented
            .iter()
            .any(|(m, n)| *m == module && *n == name)
    }

    /// Load a guest, from the cache when the same bytes were loaded before.
    pub fn load(&self, wasm: &[u8]) -> Result<Arc<Guest>, LoadError> {
        let clock = &self.platform.clock;
        let t0 = clock.monotonic_ns();
        let hash = content_hash(wasm);
        if let Some(g) = self
            .cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&hash)
        {
            let mut g2 = Guest {
                module: g.module.clone(),
                linker: g.linker.clone(),
                names: g.names.clone(),
                info: g.info.clone(),
                snapshot: g.snapshot.clone(),
            };
            g2.info.cached = true;
            g2.info.load_us = 0;
            g2.info.load_phases = LoadPhases::default();
            return Ok(Arc::new(g2));
        }
        // Microseconds since `*mark`, moving the mark.
        let lap = |mark: &mut u64| {
            let now = clock.monotonic_ns();
            let us = now.saturating_sub(*mark) / 1000;
            *mark = now;
            us
        };
        let mut mark = t0;
        let mut phases = LoadPhases {
            hash_us: lap(&mut mark),
            ..LoadPhases::default()
        };
        check_header(wasm)?;
        let (module, backtraces, instrument_us) = self.compile(wasm)?;
        phases.instrument_us = instrument_us;
        phases.compile_us = lap(&mut mark).saturating_sub(instrument_us);
        match module.get_export("_start") {
            Some(wasmi::ExternType::Func(ty))
                if ty.params().is_empty() && ty.results().is_empty() => {}
            Some(wasmi::ExternType::Func(ty)) => {
                return Err(LoadError::BadStart(wat_type(ty.params(), ty.results())))
            }
            _ => return Err(LoadError::NoStart),
        }
        let mut linker = self.registry.linker.clone();
        let mut imports = Vec::new();
        let mut unknown = Vec::new();
        for imp in module.imports() {
            let (m, n) = (imp.module().to_string(), imp.name().to_string());
            let entry = abi::catalog::IMPORTS
                .iter()
                .find(|i| i.module == m && i.name == n);
            if let (Some(entry), wasmi::ExternType::Func(ty)) = (entry, imp.ty()) {
                check_signature(entry, ty)?;
            }
            let in_catalog = entry.is_some();
            // Not in the catalog but defined (the WASI calls no Compute SDK imports):
            // emulated all the same.
            let support = if !in_catalog && !self.is_emulated(&m, &n) {
                if let wasmi::ExternType::Func(ty) = imp.ty() {
                    let label = format!("{m}::{n}");
                    unknown.push(label.clone());
                    link_unknown(
                        &mut linker,
                        &m,
                        &n,
                        ty.clone(),
                        label,
                        self.options.unknown_imports,
                    )?;
                }
                "unknown"
            } else if self.is_emulated(&m, &n) {
                "emulated"
            } else {
                "unsupported"
            };
            imports.push(ImportInfo {
                module: m,
                name: n,
                support: support.to_string(),
            });
        }
        if self.options.unknown_imports == UnknownImports::LinkError && !unknown.is_empty() {
            return Err(LoadError::Link(format!(
                "{} {} not part of the Fastly Compute ABI and --unknown-import-behavior is link-error (`trap` links {} to a stub that traps when called, `zero-or-null` to one that returns zeros)",
                unknown.iter().map(|u| format!("`{u}`")).collect::<Vec<_>>().join(", "),
                if unknown.len() == 1 { "is" } else { "are" },
                if unknown.len() == 1 { "it" } else { "them" },
            )));
        }
        phases.link_us = lap(&mut mark);
        let names = Arc::new(crate::names::FuncNames::parse(wasm));
        phases.names_us = lap(&mut mark);
        let load_us = (clock.monotonic_ns().saturating_sub(t0)) / 1000;
        let guest = Arc::new(Guest {
            module,
            linker,
            names,
            snapshot: None,
            info: GuestInfo {
                size: wasm.len(),
                sha256: hash.iter().map(|b| format!("{b:02x}")).collect(),
                imports,
                unknown_imports: unknown,
                load_us,
                cached: false,
                backtraces,
                load_phases: phases,
            },
        });
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(hash, guest.clone());
        Ok(guest)
    }
}

impl Engine {
    /// Compile `wasm`, instrumented for backtraces when the engine has them on. Falls
    /// back to the bytes as they are when the rewrite fails or does not validate, so
    /// instrumentation never rejects a module wasmi accepts. Returns the module,
    /// whether it is instrumented and the microseconds the rewrite took.
    fn compile(&self, wasm: &[u8]) -> Result<(wasmi::Module, bool, u64), LoadError> {
        let mut instrument_us = 0;
        if self.options.backtraces {
            let t = self.platform.clock.monotonic_ns();
            let instrumented = crate::backtrace::instrument(wasm);
            instrument_us = self.platform.clock.monotonic_ns().saturating_sub(t) / 1000;
            if let Ok(instrumented) = instrumented {
                if let Ok(module) = self.module(&instrumented) {
                    return Ok((module, true, instrument_us));
                }
            }
        }
        Ok((self.module(wasm)?, false, instrument_us))
    }

    /// wasmi's module for `wasm`, validated: by the platform's validator when there is
    /// one (function bodies then parse lazily), else by wasmi at once. A module the
    /// validator refuses gets the interpreter's own error; one the interpreter accepts
    /// all the same loads.
    fn module(&self, wasm: &[u8]) -> Result<wasmi::Module, LoadError> {
        if let (Some(validator), Some(strict)) = (&self.platform.validator, &self.strict) {
            if !validator.validate(wasm) {
                wasmi::Module::new(strict, wasm).map_err(classify_error)?;
            }
        }
        wasmi::Module::new(&self.wasmi, wasm).map_err(classify_error)
    }
}

/// Bytes hashed per call of the SHA-256 compression loop in [`content_hash`].
pub const HASH_CHUNK: usize = 64 * 1024;

/// SHA-256 of `wasm`, fed in [`HASH_CHUNK`]-byte pieces. One `digest` of the whole
/// slice runs the compression loop as a single call, and a browser never swaps
/// optimized code into a call already running (wasm has no on-stack replacement):
/// in a fresh worker the 11 MB JS guest hashed in 410–450 ms on baseline code.
/// In pieces, the loop is hot after a few and every later piece runs optimized.
pub fn content_hash(wasm: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    for piece in wasm.chunks(HASH_CHUNK) {
        h.update(piece);
    }
    h.finalize().into()
}

/// Link an import that is not part of the ABI: it traps with a clear message when
/// called, or returns zeros (`behavior`).
fn link_unknown(
    linker: &mut wasmi::Linker<Session>,
    module: &str,
    name: &str,
    ty: wasmi::FuncType,
    label: String,
    behavior: UnknownImports,
) -> Result<(), LoadError> {
    let result_types: Vec<wasmi::ValType> = ty.results().to_vec();
    linker
        .func_new(module, name, ty, move |_caller, _params, results| {
            if behavior == UnknownImports::ZeroOrNull {
                for (r, t) in results.iter_mut().zip(&result_types) {
                    *r = wasmi::Val::default_for_ty(*t);
                }
                return Ok(());
            }
            Err(wasmi::Error::host(crate::abi::Flow::Trap(format!(
                "the guest called `{label}`, which is not part of the Fastly Compute ABI edgeplay knows"
            ))))
        })
        .map(|_| ())
        .map_err(|e| LoadError::Link(e.to_string()))
}

/// A function type in WAT: `(func (param i32) (result i32))`.
fn wat_type(params: &[wasmi::ValType], results: &[wasmi::ValType]) -> String {
    let names = |ts: &[wasmi::ValType]| {
        ts.iter()
            .map(|t| match t {
                wasmi::ValType::I32 => "i32",
                wasmi::ValType::I64 => "i64",
                wasmi::ValType::F32 => "f32",
                wasmi::ValType::F64 => "f64",
                wasmi::ValType::V128 => "v128",
                wasmi::ValType::FuncRef => "funcref",
                wasmi::ValType::ExternRef => "externref",
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    let mut out = String::from("(func");
    if !params.is_empty() {
        out.push_str(&format!(" (param {})", names(params)));
    }
    if !results.is_empty() {
        out.push_str(&format!(" (result {})", names(results)));
    }
    out.push(')');
    out
}

/// An ABI import must have the catalog's type (wasmi's own link error prints its
/// internal types).
fn check_signature(
    entry: &abi::catalog_types::Import,
    ty: &wasmi::FuncType,
) -> Result<(), LoadError> {
    use abi::catalog_types::ValTy;
    let want = |ts: &[ValTy]| -> Vec<wasmi::ValType> {
        ts.iter()
            .map(|t| match t {
                ValTy::I32 => wasmi::ValType::I32,
                ValTy::I64 => wasmi::ValType::I64,
            })
            .collect()
    };
    let (params, results) = (want(entry.params), want(entry.results));
    if ty.params() == params.as_slice() && ty.results() == results.as_slice() {
        return Ok(());
    }
    Err(LoadError::Link(format!(
        "the guest imports `{}::{}` as `{}`, but the Compute ABI's is `{}` (was it built for another SDK version?)",
        entry.module,
        entry.name,
        wat_type(ty.params(), ty.results()),
        wat_type(&params, &results),
    )))
}

fn check_header(wasm: &[u8]) -> Result<(), LoadError> {
    if wasm.len() < 8 || &wasm[0..4] != b"\0asm" {
        let head: String = wasm
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(" ");
        let what = if wasm.is_empty() {
            "an empty file".to_string()
        } else if wasm.starts_with(b"\0as") || wasm == b"\0asm" {
            return Err(LoadError::Invalid(format!(
                "the file is only {} bytes long",
                wasm.len()
            )));
        } else {
            format!("bytes {head}")
        };
        return Err(LoadError::NotWasm(what));
    }
    // Core modules are version 1 (01 00 00 00); components are 0d 00 01 00.
    match &wasm[4..8] {
        [1, 0, 0, 0] => Ok(()),
        [_, _, 1, 0] => Err(LoadError::Component),
        v => Err(LoadError::Invalid(format!("unknown wasm version {v:02x?}"))),
    }
}

fn classify_error(e: wasmi::Error) -> LoadError {
    let msg = e.to_string();
    let lower = msg.to_lowercase();
    if lower.contains("proposal") || lower.contains("not enabled") || lower.contains("support") {
        LoadError::UnsupportedFeature(msg)
    } else {
        LoadError::Invalid(msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_content_hash_in_pieces_is_the_sha256_of_the_whole() {
        for len in [0, 1, HASH_CHUNK - 1, HASH_CHUNK, 3 * HASH_CHUNK + 17] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let whole: [u8; 32] = Sha256::digest(&bytes).into();
            assert_eq!(content_hash(&bytes), whole, "{len} bytes");
        }
    }
}
