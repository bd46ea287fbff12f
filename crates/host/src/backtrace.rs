//! Guest backtraces at a trap.
//!
//! wasmi does not expose the guest call stack, so the guest keeps one itself: at load
//! time [`instrument`] rewrites the module so that every defined function records its
//! index on a *shadow call stack* on entry and removes it on every exit. After a trap
//! the shadow stack still holds the frames that were live, and the execution (`crate::exec`) reads it
//! and names them from the module's `name` section.
//!
//! The rewrite adds, after everything the module already has (so no existing index
//! moves, and exports, tables, element segments, the start function and the `name`
//! section stay valid as they are):
//!
//! - a memory of [`SHADOW_PAGES`] page(s), exported as [`SHADOW_EXPORT`] — the
//!   stack, one little-endian `u32` function index per live frame, outermost first;
//! - a mutable `i32` global, exported as [`SP_EXPORT`] — the stack pointer, in bytes;
//! - one `i32` local per function, where the function keeps the stack pointer it saw on entry.
//!
//! Each function body `B` of function `f` with results `R` becomes
//!
//! ```text
//! global.get $sp  local.tee $saved  i32.const f  i32.store $shadow    ;; push f
//! local.get $saved  i32.const 4  i32.add  global.set $sp
//! block (result R)
//!   B  ;; with `local.get $saved  global.set $sp` before every return,
//!      ;; return_call, return_call_indirect and return_call_ref
//! end
//! local.get $saved  global.set $sp                                     ;; pop
//! ```
//!
//! Branches to the body's outermost label now leave the new block and so also pass
//! through the epilogue. Original bytes are copied verbatim; only the locals header
//! and the insertions are new. A trap skips the epilogues, which is the point.
//!
//! The shadow stack cannot overflow before wasmi's own call-stack limit: the engine
//! sets [`MAX_RECURSION_DEPTH`] and the shadow memory holds more frames than that, so
//! deep recursion ends with wasmi's usual "call stack exhausted" trap.
//!
//! Finding the `return`s needs the operators decoded: `scan_exits` does it by
//! skipping immediates (about 4 ns per operator), with wasmparser's full decoder as
//! the fallback for anything it does not know. Any failure — the rewrite, or wasmi's
//! validation of its result — loads the original bytes instead, without backtraces.
//!
//! Costs (`cargo bench -p edgeplay-host --bench backtrace`, native, release): each
//! guest call runs 10 more wasm operators, so 10 more units of fuel. Recursive
//! `fib` (the worst case: tiny functions, nothing but calls) takes 16% more time and
//! 91% more fuel; the Rust `cpu` guest (SHA-256) 6–9% more time and 5.5% more fuel;
//! the JS SDK guest answering a request +1% fuel. Loading: the rewrite of the 11.5 MB
//! JS SDK guest takes 20 ms, and its load goes from 57 to 80 ms (once per guest:
//! compiled modules are cached).

use wasm_encoder::reencode::{Reencode, RoundtripReencoder};
use wasm_encoder::{BlockType, ConstExpr, Encode, ExportKind, GlobalType, Instruction, MemArg};
use wasmparser::{BinaryReader, FunctionBody, Operator, Payload, TypeRef};

/// Export name of the shadow stack pointer (a mutable `i32` global, in bytes).
pub const SP_EXPORT: &str = "__edgeplay_sp";

/// Export name of the shadow stack memory.
pub const SHADOW_EXPORT: &str = "__edgeplay_shadow";

/// Size of the shadow stack memory, in 64 KiB pages: 16384 frames.
pub const SHADOW_PAGES: u64 = 1;

/// The engine's maximum guest call depth (wasmi's default, set explicitly so the
/// shadow stack is sized against it).
pub const MAX_RECURSION_DEPTH: usize = 1000;

// The shadow stack must outlast wasmi's recursion limit, so that deep recursion ends
// with wasmi's stack-overflow trap and never with an out-of-bounds store in a prologue.
const _: () = assert!(SHADOW_PAGES * 65536 / 4 > MAX_RECURSION_DEPTH as u64);

/// Backtraces longer than this are shortened in messages (innermost and outermost kept).
pub const MAX_SHOWN_FRAMES: usize = 40;

/// Why a module could not be instrumented. The guest then loads as it is, without backtraces.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstrumentError {
    /// The module could not be parsed (it will fail validation too).
    #[error("the module could not be parsed for instrumentation: {0}")]
    Parse(String),
    /// The module is valid but has something the rewrite does not handle.
    #[error("the module cannot be instrumented for backtraces: {0}")]
    Unsupported(String),
}

impl From<wasmparser::BinaryReaderError> for InstrumentError {
    fn from(e: wasmparser::BinaryReaderError) -> Self {
        InstrumentError::Parse(e.to_string())
    }
}

fn unsupported(what: impl Into<String>) -> InstrumentError {
    InstrumentError::Unsupported(what.into())
}

const TYPE_SECTION: u8 = 1;
const MEMORY_SECTION: u8 = 5;
const GLOBAL_SECTION: u8 = 6;
const EXPORT_SECTION: u8 = 7;
const CODE_SECTION: u8 = 10;

/// Position of a known section id in the order the binary format requires.
fn section_rank(id: u8) -> Option<u8> {
    Some(match id {
        1 => 1,   // type
        2 => 2,   // import
        3 => 3,   // function
        4 => 4,   // table
        5 => 5,   // memory
        13 => 6,  // tag
        6 => 7,   // global
        7 => 8,   // export
        8 => 9,   // start
        9 => 10,  // element
        12 => 11, // data count
        10 => 12, // code
        11 => 13, // data
        _ => return None,
    })
}

/// What the rewrite needs to know about a module.
#[derive(Default)]
struct Layout<'a> {
    /// Every section in order: id and content range.
    sections: Vec<(u8, std::ops::Range<usize>)>,
    /// Per type index: params count and results of a function type; `None` for other types.
    types: Vec<Option<(usize, Vec<wasmparser::ValType>)>>,
    /// Type index of each defined function.
    func_types: Vec<u32>,
    imported_funcs: u32,
    imported_memories: u32,
    imported_globals: u32,
    defined_memories: u32,
    defined_globals: u32,
    bodies: Vec<FunctionBody<'a>>,
}

impl<'a> Layout<'a> {
    fn parse(wasm: &'a [u8]) -> Result<Self, InstrumentError> {
        let mut l = Layout::default();
        for payload in wasmparser::Parser::new(0).parse_all(wasm) {
            let payload = payload?;
            match &payload {
                Payload::Version { encoding, .. } if *encoding != wasmparser::Encoding::Module => {
                    return Err(unsupported("not a core module"));
                }
                Payload::TypeSection(r) => {
                    for group in r.clone() {
                        for sub in group?.into_types() {
                            l.types.push(match &sub.composite_type.inner {
                                wasmparser::CompositeInnerType::Func(f) => {
                                    Some((f.params().len(), f.results().to_vec()))
                                }
                                _ => None,
                            });
                        }
                    }
                }
                Payload::ImportSection(r) => {
                    for import in r.clone() {
                        match import?.ty {
                            TypeRef::Func(_) => l.imported_funcs += 1,
                            TypeRef::Memory(_) => l.imported_memories += 1,
                            TypeRef::Global(_) => l.imported_globals += 1,
                            _ => {}
                        }
                    }
                }
                Payload::FunctionSection(r) => {
                    for ty in r.clone() {
                        l.func_types.push(ty?);
                    }
                }
                Payload::MemorySection(r) => l.defined_memories = r.count(),
                Payload::GlobalSection(r) => l.defined_globals = r.count(),
                Payload::ExportSection(r) => {
                    for export in r.clone() {
                        let name = export?.name;
                        if name == SP_EXPORT || name == SHADOW_EXPORT {
                            return Err(unsupported(format!(
                                "the module already exports `{name}`"
                            )));
                        }
                    }
                }
                Payload::CodeSectionEntry(body) => l.bodies.push(body.clone()),
                _ => {}
            }
            if let Some((id, range)) = payload.as_section() {
                l.sections.push((id, range));
            }
        }
        if l.bodies.len() != l.func_types.len() {
            return Err(InstrumentError::Parse(
                "function and code section counts differ".into(),
            ));
        }
        Ok(l)
    }
}

/// Rewrite `wasm` so that it keeps a shadow call stack (see the module docs).
///
/// Never panics; an error means the module should be loaded as it is. The result is
/// valid whenever `wasm` is, except in corner cases at the validator's limits (a
/// function with exactly the maximum number of locals), which the caller detects by
/// validating and falling back to the original bytes.
pub fn instrument(wasm: &[u8]) -> Result<Vec<u8>, InstrumentError> {
    let layout = Layout::parse(wasm)?;
    let header = wasm
        .get(..8)
        .ok_or_else(|| InstrumentError::Parse("truncated header".into()))?;

    let sp_global = layout
        .imported_globals
        .checked_add(layout.defined_globals)
        .ok_or_else(|| unsupported("too many globals"))?;
    let shadow_memory = layout
        .imported_memories
        .checked_add(layout.defined_memories)
        .ok_or_else(|| unsupported("too many memories"))?;

    // Block types: functions with several results need a `[] -> results` type.
    let mut new_types: Vec<Vec<wasmparser::ValType>> = Vec::new();
    let mut new_types_bytes = Vec::new();
    let mut block_types = Vec::with_capacity(layout.func_types.len());
    let mut params = Vec::with_capacity(layout.func_types.len());
    let mut reencoder = RoundtripReencoder;
    for &ty in &layout.func_types {
        let Some(Some((nparams, results))) = layout.types.get(ty as usize) else {
            return Err(unsupported(format!(
                "function type {ty} is not a function type"
            )));
        };
        params.push(*nparams);
        block_types.push(match results.as_slice() {
            [] => BlockType::Empty,
            [one] => BlockType::Result(
                reencoder
                    .val_type(*one)
                    .map_err(|e| unsupported(e.to_string()))?,
            ),
            many => {
                let pos = match new_types.iter().position(|t| t.as_slice() == many) {
                    Some(p) => p,
                    None => {
                        new_types_bytes.push(0x60);
                        0u32.encode(&mut new_types_bytes);
                        (many.len() as u32).encode(&mut new_types_bytes);
                        for v in many {
                            reencoder
                                .val_type(*v)
                                .map_err(|e| unsupported(e.to_string()))?
                                .encode(&mut new_types_bytes);
                        }
                        new_types.push(many.to_vec());
                        new_types.len() - 1
                    }
                };
                let index = u32::try_from(layout.types.len() + pos)
                    .map_err(|_| unsupported("too many types"))?;
                BlockType::FunctionType(index)
            }
        });
    }

    let mut memory_entry = Vec::new();
    wasm_encoder::MemoryType {
        minimum: SHADOW_PAGES,
        maximum: Some(SHADOW_PAGES),
        memory64: false,
        shared: false,
        page_size_log2: None,
    }
    .encode(&mut memory_entry);
    let mut global_entry = Vec::new();
    GlobalType {
        val_type: wasm_encoder::ValType::I32,
        mutable: true,
        shared: false,
    }
    .encode(&mut global_entry);
    ConstExpr::i32_const(0).encode(&mut global_entry);
    let mut export_entries = Vec::new();
    SP_EXPORT.encode(&mut export_entries);
    ExportKind::Global.encode(&mut export_entries);
    sp_global.encode(&mut export_entries);
    SHADOW_EXPORT.encode(&mut export_entries);
    ExportKind::Memory.encode(&mut export_entries);
    shadow_memory.encode(&mut export_entries);

    // Sections to extend: (id, number of new entries, new entries, seen).
    let mut additions: [(u8, u32, &[u8], bool); 4] = [
        (
            TYPE_SECTION,
            new_types.len() as u32,
            &new_types_bytes,
            false,
        ),
        (MEMORY_SECTION, 1, &memory_entry, false),
        (GLOBAL_SECTION, 1, &global_entry, false),
        (EXPORT_SECTION, 2, &export_entries, false),
    ];
    for (id, ..) in &layout.sections {
        for a in additions.iter_mut() {
            if a.0 == *id {
                a.3 = true;
            }
        }
    }

    let mut out = Vec::with_capacity(wasm.len() + layout.bodies.len() * 40 + 256);
    out.extend_from_slice(header);
    let emit_missing =
        |out: &mut Vec<u8>, before: Option<u8>, additions: &mut [(u8, u32, &[u8], bool)]| {
            for a in additions.iter_mut() {
                let due = match (before, section_rank(a.0)) {
                    (Some(b), Some(r)) => r < b,
                    _ => true,
                };
                if !a.3 && a.1 > 0 && due {
                    let mut content = Vec::with_capacity(a.2.len() + 5);
                    a.1.encode(&mut content);
                    content.extend_from_slice(a.2);
                    out.push(a.0);
                    content.encode(out);
                    a.3 = true;
                }
            }
        };
    let ctx = BodyContext {
        sp_global,
        shadow_memory,
    };
    for (id, range) in &layout.sections {
        let data = wasm
            .get(range.clone())
            .ok_or_else(|| InstrumentError::Parse("section out of range".into()))?;
        if let Some(rank) = section_rank(*id) {
            emit_missing(&mut out, Some(rank), &mut additions);
        }
        if *id == CODE_SECTION {
            write_code_section(&mut out, &layout, &ctx, &params, &block_types)?;
        } else if let Some(a) = additions.iter().find(|a| a.0 == *id && a.1 > 0) {
            splice_section(&mut out, *id, data, a.1, a.2)?;
        } else {
            out.push(*id);
            data.encode(&mut out);
        }
    }
    emit_missing(&mut out, None, &mut additions);
    Ok(out)
}

/// Append a vector section `id` whose content is `data` plus `extra_count` entries `extra`.
fn splice_section(
    out: &mut Vec<u8>,
    id: u8,
    data: &[u8],
    extra_count: u32,
    extra: &[u8],
) -> Result<(), InstrumentError> {
    let mut r = BinaryReader::new(data, 0);
    let count = r.read_var_u32()?;
    let entries = data.get(r.current_position()..).unwrap_or_default();
    let total = count
        .checked_add(extra_count)
        .ok_or_else(|| unsupported("section too large"))?;
    let mut content = Vec::with_capacity(data.len() + extra.len() + 5);
    total.encode(&mut content);
    content.extend_from_slice(entries);
    content.extend_from_slice(extra);
    out.push(id);
    content.encode(out);
    Ok(())
}

/// Where the instrumentation keeps its state.
struct BodyContext {
    sp_global: u32,
    shadow_memory: u32,
}

/// Reserve a 5-byte LEB128 length to fill in with [`patch_len`].
fn reserve_len(out: &mut Vec<u8>) -> usize {
    let at = out.len();
    out.extend_from_slice(&[0x80, 0x80, 0x80, 0x80, 0x00]);
    at
}

/// Write the length of everything after the reserved slot at `at`, as a padded LEB128.
fn patch_len(out: &mut [u8], at: usize) -> Result<(), InstrumentError> {
    let len = out.len().saturating_sub(at + 5);
    let len = u32::try_from(len).map_err(|_| unsupported("section larger than 4 GiB"))?;
    if let Some(slot) = out.get_mut(at..at + 5) {
        for (i, b) in slot.iter_mut().enumerate() {
            let bits = ((len >> (7 * i)) & 0x7f) as u8;
            *b = if i < 4 { bits | 0x80 } else { bits };
        }
    }
    Ok(())
}

fn write_code_section(
    out: &mut Vec<u8>,
    layout: &Layout<'_>,
    ctx: &BodyContext,
    params: &[usize],
    block_types: &[BlockType],
) -> Result<(), InstrumentError> {
    out.push(CODE_SECTION);
    let section_at = reserve_len(out);
    (layout.bodies.len() as u32).encode(out);
    for (i, body) in layout.bodies.iter().enumerate() {
        let index = u32::try_from(i)
            .ok()
            .and_then(|i| i.checked_add(layout.imported_funcs))
            .ok_or_else(|| unsupported("too many functions"))?;
        let (Some(&nparams), Some(&block_type)) = (params.get(i), block_types.get(i)) else {
            return Err(InstrumentError::Parse("function without a type".into()));
        };
        let body_at = reserve_len(out);
        rewrite_body(out, body, index, nparams, block_type, ctx)?;
        patch_len(out, body_at)?;
    }
    patch_len(out, section_at)
}

/// Write the instrumented body of function `index` (without its length prefix).
fn rewrite_body(
    out: &mut Vec<u8>,
    body: &FunctionBody<'_>,
    index: u32,
    nparams: usize,
    block_type: BlockType,
    ctx: &BodyContext,
) -> Result<(), InstrumentError> {
    let bytes = body.as_bytes();
    let mut r = body.get_binary_reader();
    let groups = r.read_var_u32()?;
    let groups_start = r.current_position();
    let mut declared: u64 = 0;
    for _ in 0..groups {
        declared += u64::from(r.read_var_u32()?);
        r.read::<wasmparser::ValType>()?;
    }
    let ops_start = r.current_position();
    let saved =
        u32::try_from(nparams as u64 + declared).map_err(|_| unsupported("too many locals"))?;
    let groups = groups
        .checked_add(1)
        .ok_or_else(|| unsupported("too many locals"))?;

    groups.encode(out);
    out.extend_from_slice(bytes.get(groups_start..ops_start).unwrap_or_default());
    1u32.encode(out);
    wasm_encoder::ValType::I32.encode(out);

    let memarg = MemArg {
        offset: 0,
        align: 2,
        memory_index: ctx.shadow_memory,
    };
    for ins in [
        Instruction::GlobalGet(ctx.sp_global),
        Instruction::LocalTee(saved),
        // Function indices are below 2^32 and stored as raw bits.
        Instruction::I32Const(index as i32),
        Instruction::I32Store(memarg),
        Instruction::LocalGet(saved),
        Instruction::I32Const(4),
        Instruction::I32Add,
        Instruction::GlobalSet(ctx.sp_global),
        Instruction::Block(block_type),
    ] {
        ins.encode(out);
    }
    let epilogue = |out: &mut Vec<u8>| {
        Instruction::LocalGet(saved).encode(out);
        Instruction::GlobalSet(ctx.sp_global).encode(out);
    };

    let code = bytes.get(ops_start..).unwrap_or_default();
    let mut exits = Vec::new();
    if scan_exits(code, &mut exits).is_none() {
        exits.clear();
        scan_exits_wasmparser(body, ops_start, &mut exits)?;
    }
    let mut copied = 0;
    for &at in &exits {
        out.extend_from_slice(code.get(copied..at).unwrap_or_default());
        epilogue(out);
        copied = at;
    }
    // Everything up to the final `end`, which both scans check is the last byte.
    let end = code.len().saturating_sub(1);
    out.extend_from_slice(code.get(copied..end).unwrap_or_default());
    Instruction::End.encode(out);
    epilogue(out);
    Instruction::End.encode(out);
    Ok(())
}

/// Where the function's operators leave it other than by its final `end`: offsets in
/// `code` (the operators of one body, after the locals) of every `return`,
/// `return_call`, `return_call_indirect` and `return_call_ref`.
///
/// A fast scan that only decodes opcodes and skips immediates (a full decode with
/// wasmparser costs more than wasmi's whole validation on a big guest). `None` for
/// anything unexpected: an opcode wasmi does not support, or operators that do not
/// end with the body's final `end` at the last byte; the caller then uses
/// [`scan_exits_wasmparser`].
fn scan_exits(code: &[u8], exits: &mut Vec<usize>) -> Option<()> {
    let mut c = Cursor { code, pos: 0 };
    let mut depth: u32 = 0;
    loop {
        let at = c.pos;
        match c.byte()? {
            // No immediates: unreachable, nop, else, drop, select, numeric operators
            // (incl. sign extension), ref.is_null.
            0x00 | 0x01 | 0x05 | 0x1a | 0x1b | 0x45..=0xc4 | 0xd1 => {}
            // block, loop, if
            0x02..=0x04 => {
                depth += 1;
                c.block_type()?;
            }
            0x0b => {
                if depth == 0 {
                    // The body's final `end` must be its last byte.
                    return (c.pos == code.len()).then_some(());
                }
                depth -= 1;
            }
            // br, br_if, call, call_ref, local.*, global.*, table.get/set,
            // memory.size/grow, i32.const, i64.const, ref.null (heap type), ref.func
            0x0c | 0x0d | 0x10 | 0x14 | 0x20..=0x26 | 0x3f..=0x42 | 0xd0 | 0xd2 => c.leb()?,
            // br_table: n labels and the default
            0x0e => {
                let n = c.u32()?;
                for _ in 0..=n {
                    c.leb()?;
                }
            }
            0x0f => exits.push(at),
            // call_indirect
            0x11 => {
                c.leb()?;
                c.leb()?;
            }
            // return_call, return_call_ref
            0x12 | 0x15 => {
                exits.push(at);
                c.leb()?;
            }
            // return_call_indirect
            0x13 => {
                exits.push(at);
                c.leb()?;
                c.leb()?;
            }
            // typed select: one value type
            0x1c => {
                if c.u32()? != 1 {
                    return None;
                }
                c.value_type()?;
            }
            0x28..=0x3e => c.memarg()?,
            0x43 => c.skip(4)?,
            0x44 => c.skip(8)?,
            0xfc => match c.u32()? {
                // saturating truncations, wide arithmetic
                0x00..=0x07 | 0x13..=0x16 => {}
                // data.drop, memory.fill, elem.drop, table.grow/size/fill, memory.discard
                0x09 | 0x0b | 0x0d | 0x0f..=0x12 => c.leb()?,
                // memory.init, memory.copy, table.init, table.copy
                0x08 | 0x0a | 0x0c | 0x0e => {
                    c.leb()?;
                    c.leb()?;
                }
                _ => return None,
            },
            0xfd => match c.u32()? {
                // loads, store, load32/64_zero
                0x00..=0x0b | 0x5c | 0x5d => c.memarg()?,
                // v128.const, i8x16.shuffle
                0x0c | 0x0d => c.skip(16)?,
                // extract/replace lane
                0x15..=0x22 => c.skip(1)?,
                // load/store lane
                0x54..=0x5b => {
                    c.memarg()?;
                    c.skip(1)?;
                }
                0x0e..=0x14 | 0x23..=0x53 | 0x5e..=0x113 => {}
                _ => return None,
            },
            // Exceptions, GC, threads, stack switching...: not supported by wasmi.
            _ => return None,
        }
    }
}

/// A cursor over operator bytes for [`scan_exits`].
struct Cursor<'a> {
    code: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.code.get(self.pos)?;
        self.pos += 1;
        Some(b)
    }

    fn skip(&mut self, n: usize) -> Option<()> {
        let end = self.pos.checked_add(n)?;
        (end <= self.code.len()).then(|| self.pos = end)
    }

    /// Skip one LEB128 number (up to 64 bits).
    fn leb(&mut self) -> Option<()> {
        for _ in 0..10 {
            if self.byte()? & 0x80 == 0 {
                return Some(());
            }
        }
        None
    }

    /// Read an unsigned 32-bit LEB128 number.
    fn u32(&mut self) -> Option<u32> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let b = self.byte()?;
            value |= u32::from(b & 0x7f).checked_shl(7 * i)?;
            if b & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }

    /// A block type: empty, a one-byte value type, or a type index (s33, positive).
    fn block_type(&mut self) -> Option<()> {
        match *self.code.get(self.pos)? {
            0x40 => self.skip(1),
            // One-byte negative s33: must be a value type we know.
            b if b & 0xc0 == 0x40 => self.value_type(),
            _ => self.leb(),
        }
    }

    /// A value type that is one byte: a number, vector, funcref or externref.
    fn value_type(&mut self) -> Option<()> {
        match self.byte()? {
            0x7b..=0x7f | 0x70 | 0x6f => Some(()),
            _ => None,
        }
    }

    /// A memory argument: flags (bit 6: a memory index follows), offset.
    fn memarg(&mut self) -> Option<()> {
        let flags = self.u32()?;
        if flags & (1 << 6) != 0 {
            self.leb()?;
        }
        self.leb()
    }
}

/// [`scan_exits`] with wasmparser's full decoder: the slow path for the operators
/// the fast scan does not know.
fn scan_exits_wasmparser(
    body: &FunctionBody<'_>,
    ops_start: usize,
    exits: &mut Vec<usize>,
) -> Result<(), InstrumentError> {
    let base = body.range().start + ops_start;
    let len = body.range().len().saturating_sub(ops_start);
    let mut ops = body.get_operators_reader()?;
    let mut last_end = None;
    while !ops.eof() {
        let (op, offset) = ops.read_with_offset()?;
        let at = offset.saturating_sub(base);
        last_end = None;
        match op {
            Operator::Return
            | Operator::ReturnCall { .. }
            | Operator::ReturnCallIndirect { .. }
            | Operator::ReturnCallRef { .. } => exits.push(at),
            Operator::End => last_end = Some(at),
            _ => {}
        }
    }
    if last_end.is_some() && last_end == len.checked_sub(1) {
        Ok(())
    } else {
        Err(InstrumentError::Parse(
            "function body does not end with `end`".into(),
        ))
    }
}

/// The function indices on the shadow stack of `instance`, outermost first; `None`
/// when the instance was not instrumented.
pub fn shadow_frames(store: impl wasmi::AsContext, instance: &wasmi::Instance) -> Option<Vec<u32>> {
    let sp = match instance.get_global(&store, SP_EXPORT)?.get(&store) {
        wasmi::Val::I32(v) => v as u32 as usize,
        _ => return None,
    };
    let data = instance.get_memory(&store, SHADOW_EXPORT)?.data(&store);
    let end = sp.min(data.len()) & !3;
    Some(
        data.get(..end)?
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
    )
}

/// A function name as a backtrace shows it: Rust symbols (legacy `_ZN…E` and v0
/// `_R…` manglings) demangled without their hash, other names as they are.
pub fn display_name(name: &str) -> String {
    match rustc_demangle::try_demangle(name) {
        Ok(d) => format!("{d:#}"),
        Err(_) => name.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both scans agree on every function of `wasm`, and the fast one knows every operator.
    fn assert_scans_agree(wasm: &[u8], what: &str) -> usize {
        let mut functions = 0;
        for payload in wasmparser::Parser::new(0).parse_all(wasm) {
            let Ok(Payload::CodeSectionEntry(body)) = payload else {
                continue;
            };
            let mut r = body.get_binary_reader();
            let groups = r.read_var_u32().unwrap();
            for _ in 0..groups {
                r.read_var_u32().unwrap();
                r.read::<wasmparser::ValType>().unwrap();
            }
            let ops_start = r.current_position();
            let code = &body.as_bytes()[ops_start..];
            let (mut fast, mut slow) = (Vec::new(), Vec::new());
            assert!(
                scan_exits(code, &mut fast).is_some(),
                "{what}: function {functions}: the fast scan gave up"
            );
            scan_exits_wasmparser(&body, ops_start, &mut slow).unwrap();
            assert_eq!(fast, slow, "{what}: function {functions}");
            functions += 1;
        }
        functions
    }

    #[test]
    fn the_fast_scan_decodes_every_immediate_like_wasmparser() {
        let wat = r#"(module
            (type $pair (func (param i32) (result i32 i64)))
            (type $t (func (param i32) (result i32)))
            (memory $m0 1) (memory $m1 i64 1)
            (table $tab 2 funcref) (table $ext 1 externref)
            (global $g (mut i32) (i32.const 0))
            (data $d "xyz") (elem $e func $f)
            (func $f (type $t)
                (block (result i32) (local.get 0))
                (loop (result funcref) (ref.null func)) (drop)
                (if (result externref) (local.get 0) (then (ref.null extern)) (else (ref.null extern)))
                (drop)
                (block (type $pair) (drop) (return (i32.const 1)))
                (drop)
                (br_table 0 0 0 0 (i32.const -123456789) (local.get 0)))
            (func $g2 (param i32) (result i32)
                (return_call_indirect $tab (type $t) (local.get 0) (i32.const 0)))
            (func $h (param i32) (result i32)
                (i64.const -9223372036854775808) (drop)
                (f32.const 1.5) (drop) (f64.const -2.25) (drop)
                (select (result i32) (i32.const 1) (i32.const 2) (local.get 0)) (drop)
                (select (i32.const 1) (i32.const 2) (local.get 0)) (drop)
                (i32.load $m0 offset=65535 align=1 (i32.const 0)) (drop)
                (i64.load $m1 offset=0x1_0000_0000 (i64.const 0)) (drop)
                (i32.store8 $m1 (i64.const 0) (i32.const 7))
                (memory.size $m1) (drop) (memory.grow $m0 (i32.const 0)) (drop)
                (memory.init $m0 $d (i32.const 0) (i32.const 0) (i32.const 0))
                (data.drop $d)
                (memory.copy $m0 $m0 (i32.const 0) (i32.const 0) (i32.const 0))
                (memory.fill $m0 (i32.const 0) (i32.const 0) (i32.const 0))
                (table.init $tab $e (i32.const 0) (i32.const 0) (i32.const 0))
                (elem.drop $e)
                (table.copy $tab $tab (i32.const 0) (i32.const 0) (i32.const 0))
                (table.grow $tab (ref.func $f) (i32.const 0)) (drop)
                (table.size $tab) (drop)
                (table.fill $tab (i32.const 0) (ref.null func) (i32.const 0))
                (table.set $ext (i32.const 0) (table.get $ext (i32.const 0)))
                (ref.is_null (ref.func $f)) (drop)
                (i32.trunc_sat_f32_s (f32.const 0)) (drop)
                (i64.extend32_s (i64.const 0)) (drop)
                (global.set $g (global.get $g))
                (local.tee 0 (local.get 0)) (drop)
                (call_indirect $tab (type $t) (i32.const 0) (i32.const 0)) (drop)
                (v128.const i64x2 -1 1) (v128.load offset=3 (i32.const 0)) (i8x16.add) (drop)
                (i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 31
                    (v128.const i32x4 0 0 0 0) (v128.const i32x4 0 0 0 0))
                (i32x4.extract_lane 3) (drop)
                (v128.load8_lane 15 (i32.const 0) (v128.const i32x4 0 0 0 0)) (drop)
                (v128.store64_lane $m1 1 (i64.const 0) (v128.const i32x4 0 0 0 0))
                (v128.load32_zero (i32.const 0)) (drop)
                (i32x4.relaxed_trunc_f32x4_s (v128.const f32x4 0 0 0 0)) (drop)
                (if (local.get 0) (then (return (i32.const 5))))
                (return_call $f (local.get 0)))
            (func $start (export "_start")))"#;
        let wasm = wat::parse_str(wat).unwrap();
        assert_eq!(assert_scans_agree(&wasm, "WAT corpus"), 4);
    }

    #[test]
    fn the_fast_scan_agrees_with_wasmparser_on_real_guests() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut paths: Vec<std::path::PathBuf> =
            std::fs::read_dir(root.join("tests/guests/target/wasm32-wasip1/release"))
                .map(|d| d.flatten().map(|e| e.path()).collect())
                .unwrap_or_default();
        paths.retain(|p| p.extension().is_some_and(|e| e == "wasm"));
        paths.push(
            std::env::var("EDGEPLAY_JS_WASM")
                .unwrap_or_else(|_| "/tmp/js-app.wasm".into())
                .into(),
        );
        for path in paths {
            let Ok(wasm) = std::fs::read(&path) else {
                continue;
            };
            let n = assert_scans_agree(&wasm, &path.display().to_string());
            assert!(n > 0);
        }
    }

    #[test]
    fn patched_lengths_are_padded_leb128() {
        let mut out = vec![0xaa];
        let at = reserve_len(&mut out);
        out.extend(std::iter::repeat_n(0, 300));
        patch_len(&mut out, at).unwrap();
        let mut r = BinaryReader::new(&out[1..], 0);
        assert_eq!(r.read_var_u32().unwrap(), 300);
        assert_eq!(r.current_position(), 5);
    }
}
