//! The two module rewrites of a build.
//!
//! - [`prepare`]: before initialisation, export every defined global (wasmi, like
//!   wasmtime, reads a global only through an export) and the memory, and alias
//!   `wizer.resume` as `_start` so the same bytes also load as a Compute guest that
//!   starts from a snapshot ([`super::JsEngine::guest_for`]).
//! - [`finish`]: after it, the module Wizer writes: the snapshot's memory as active
//!   data segments, the memory's minimum the snapshot's size, each defined global
//!   initialised to its snapshot value, the start section and the init exports
//!   (`wizer.initialize`, and `_initialize` when the module is a WASI reactor)
//!   dropped, and `wizer.resume` exported as `_start` (Wizer's `-r _start=wizer.resume`).
//!
//! Facts from Wizer (`src/rewrite.rs`, `src/snapshot.rs` before v11): the original
//! data section is replaced, not kept; a `datacount` section is rewritten to the new
//! count; the `name` section comes after the new data section; an export that a
//! rename overwrites is dropped.

use super::BuildError;
use crate::snapshot::{GlobalValue, Snapshot};
pub use crate::snapshot::{GLOBAL_EXPORT_PREFIX, MEMORY_EXPORT};
use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasm_encoder::{ConstExpr, RawSection};
use wasmparser::{Parser, Payload, TypeRef};

/// The export Wizer calls to initialise the module.
pub const INIT_EXPORT: &str = "wizer.initialize";
/// The export that becomes `_start`.
pub const RESUME_EXPORT: &str = "wizer.resume";

/// What [`prepare`] learnt about the module.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Layout {
    /// Number of defined (not imported) globals.
    pub defined_globals: u32,
    /// True when the module exports `_initialize` (a WASI reactor).
    pub has_initialize: bool,
}

fn parse_err(e: impl std::fmt::Display) -> BuildError {
    BuildError::Engine(format!("the engine is not a valid WebAssembly module: {e}"))
}

fn section(out: &mut wasm_encoder::Module, wasm: &[u8], id: u8, range: std::ops::Range<usize>) {
    out.section(&RawSection {
        id,
        data: &wasm[range],
    });
}

/// Rewrite the engine so every defined global and memory 0 are exported, and
/// `wizer.resume` is also `_start`. Checks that the module is an engine a build can
/// use (one defined memory, the init and resume exports).
pub fn prepare(wasm: &[u8]) -> Result<(Vec<u8>, Layout), BuildError> {
    let mut out = wasm_encoder::Module::new();
    let mut layout = Layout::default();
    let mut imported_globals = 0u32;
    let mut memories = 0u32;
    let mut has_init = false;
    let mut resume = None;
    let mut exported = false;
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(parse_err)?;
        match &payload {
            Payload::ImportSection(r) => {
                for imp in r.clone() {
                    match imp.map_err(parse_err)?.ty {
                        TypeRef::Global(_) => imported_globals += 1,
                        TypeRef::Memory(_) => memories += 1,
                        _ => {}
                    }
                }
            }
            Payload::MemorySection(r) => memories += r.count(),
            Payload::GlobalSection(r) => layout.defined_globals = r.count(),
            _ => {}
        }
        if let Payload::ExportSection(r) = &payload {
            let mut exports = wasm_encoder::ExportSection::new();
            for e in r.clone() {
                let e = e.map_err(parse_err)?;
                match e.name {
                    INIT_EXPORT => has_init = true,
                    "_initialize" => layout.has_initialize = true,
                    RESUME_EXPORT => resume = Some(e.index),
                    // Replaced by the alias below.
                    "_start" => continue,
                    _ => {}
                }
                exports.export(e.name, RoundtripReencoder.export_kind(e.kind), e.index);
            }
            if let Some(f) = resume {
                exports.export("_start", wasm_encoder::ExportKind::Func, f);
            }
            exports.export(MEMORY_EXPORT, wasm_encoder::ExportKind::Memory, 0);
            for g in 0..layout.defined_globals {
                exports.export(
                    &format!("{GLOBAL_EXPORT_PREFIX}{g}"),
                    wasm_encoder::ExportKind::Global,
                    imported_globals + g,
                );
            }
            out.section(&exports);
            exported = true;
            continue;
        }
        if let Some((id, range)) = payload.as_section() {
            section(&mut out, wasm, id, range);
        }
    }
    if !exported || !has_init || resume.is_none() {
        return Err(BuildError::Engine(format!(
            "the engine does not export `{INIT_EXPORT}` and `{RESUME_EXPORT}`: it is not a JS Compute engine (use @fastly/js-compute's fastly.wasm)"
        )));
    }
    if memories != 1 {
        return Err(BuildError::Engine(format!(
            "the engine has {memories} memories; a build snapshots exactly one"
        )));
    }
    Ok((out.finish(), layout))
}

fn const_expr(v: &GlobalValue) -> ConstExpr {
    match *v {
        GlobalValue::I32(x) => ConstExpr::i32_const(x),
        GlobalValue::I64(x) => ConstExpr::i64_const(x),
        GlobalValue::F32(bits) => ConstExpr::f32_const(f32::from_bits(bits)),
        GlobalValue::F64(bits) => ConstExpr::f64_const(f64::from_bits(bits)),
        GlobalValue::V128(x) => ConstExpr::v128_const(x as i128),
    }
}

/// Write the initialised module (Wizer's rewrite) from the original engine bytes and
/// the snapshot taken after its initialisation.
pub fn finish(wasm: &[u8], snap: &Snapshot) -> Result<Vec<u8>, BuildError> {
    let segments = snap.data_segments();
    let mut data = Some({
        let mut d = wasm_encoder::DataSection::new();
        for s in &segments {
            d.active(
                0,
                &ConstExpr::i32_const(s.offset as i32),
                snap.memory[s.offset as usize..(s.offset + s.len) as usize]
                    .iter()
                    .copied(),
            );
        }
        d
    });
    let add_data = |out: &mut wasm_encoder::Module,
                    data: &mut Option<wasm_encoder::DataSection>| {
        if let Some(d) = data.take() {
            if !d.is_empty() {
                out.section(&d);
            }
        }
    };
    let mut out = wasm_encoder::Module::new();
    let mut has_initialize = false;
    // A first pass: is the module a WASI reactor (`_initialize`, which Wizer ran)?
    for payload in Parser::new(0).parse_all(wasm) {
        if let Payload::ExportSection(r) = payload.map_err(parse_err)? {
            for e in r {
                has_initialize |= e.map_err(parse_err)?.name == "_initialize";
            }
        }
    }
    for payload in Parser::new(0).parse_all(wasm) {
        let payload = payload.map_err(parse_err)?;
        match &payload {
            Payload::MemorySection(r) => {
                let mut mems = wasm_encoder::MemorySection::new();
                for m in r.clone() {
                    let mut m = RoundtripReencoder.memory_type(m.map_err(parse_err)?);
                    m.minimum = snap.pages();
                    mems.memory(m);
                }
                out.section(&mems);
            }
            Payload::GlobalSection(r) => {
                let mut globals = wasm_encoder::GlobalSection::new();
                for (i, g) in r.clone().into_iter().enumerate() {
                    let g = g.map_err(parse_err)?;
                    let ty = RoundtripReencoder
                        .global_type(g.ty)
                        .map_err(|e| BuildError::Engine(e.to_string()))?;
                    let v = snap.globals.get(i).ok_or_else(|| {
                        BuildError::Engine(format!("the snapshot has no value for global {i}"))
                    })?;
                    globals.global(ty, &const_expr(v));
                }
                out.section(&globals);
            }
            Payload::ExportSection(r) => {
                let mut exports = wasm_encoder::ExportSection::new();
                for e in r.clone() {
                    let e = e.map_err(parse_err)?;
                    match e.name {
                        INIT_EXPORT | "_start" => continue,
                        "_initialize" if has_initialize => continue,
                        RESUME_EXPORT => {
                            exports.export("_start", wasm_encoder::ExportKind::Func, e.index)
                        }
                        _ => {
                            exports.export(e.name, RoundtripReencoder.export_kind(e.kind), e.index)
                        }
                    };
                }
                out.section(&exports);
            }
            Payload::StartSection { .. } => {}
            Payload::DataCountSection { .. } => {
                out.section(&wasm_encoder::DataCountSection {
                    count: segments.len() as u32,
                });
            }
            Payload::DataSection(_) => add_data(&mut out, &mut data),
            Payload::CustomSection(c) if c.name() == "name" => {
                add_data(&mut out, &mut data);
                if let Some((id, range)) = payload.as_section() {
                    section(&mut out, wasm, id, range);
                }
            }
            _ => {
                if let Some((id, range)) = payload.as_section() {
                    section(&mut out, wasm, id, range);
                }
            }
        }
    }
    add_data(&mut out, &mut data);
    Ok(out.finish())
}
