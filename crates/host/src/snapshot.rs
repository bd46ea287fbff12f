//! The state an initialised engine is captured as ([`crate::jsbuild`]): its memory and
//! its defined globals, and putting it back into a fresh instance ([`restore`]).
//!
//! [`Snapshot::data_segments`] cuts the memory the way Wizer does (`snapshot.rs`): each
//! 64 KiB page is scanned for runs of non-zero bytes (a run never crosses a page
//! boundary), runs closer than [`MIN_ACTIVE_SEGMENT_OVERHEAD`] bytes are merged (a
//! segment costs about that much to encode), and while there are more than
//! [`MAX_DATA_SEGMENTS`] the runs with the smallest gaps between them are merged
//! (engines limit a module's data segments; Wizer keeps under 10,000).

use serde::{Deserialize, Serialize};

/// WebAssembly page size.
pub const PAGE_SIZE: usize = 65_536;
/// Most data segments a snapshot is written as.
pub const MAX_DATA_SEGMENTS: usize = 10_000;
/// Gaps of zeros up to this many bytes are kept inside one segment.
pub const MIN_ACTIVE_SEGMENT_OVERHEAD: u32 = 4;

/// The value of one global, as its bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GlobalValue {
    /// An `i32`.
    I32(i32),
    /// An `i64`.
    I64(i64),
    /// An `f32`, its bits.
    F32(u32),
    /// An `f64`, its bits.
    F64(u64),
    /// A `v128`.
    V128(u128),
}

/// An initialised engine: memory 0 and every defined global, in module order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The whole memory (a multiple of [`PAGE_SIZE`] bytes).
    #[serde(with = "crate::serde_b64")]
    pub memory: Vec<u8>,
    /// Each defined global's value.
    pub globals: Vec<GlobalValue>,
    /// SHA-256 (hex) of the engine the snapshot was taken from: a snapshot only
    /// restores into that engine.
    pub engine_sha256: String,
}

/// One run of memory written as an active data segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Byte offset in memory.
    pub offset: u32,
    /// Length in bytes.
    pub len: u32,
}

impl Segment {
    fn end(&self) -> u32 {
        self.offset + self.len
    }
    fn gap(&self, next: &Segment) -> u32 {
        next.offset - self.end()
    }
}

impl Snapshot {
    /// Memory size in pages.
    pub fn pages(&self) -> u64 {
        (self.memory.len() / PAGE_SIZE) as u64
    }

    /// The non-zero runs of memory, as Wizer writes them (see the module docs).
    pub fn data_segments(&self) -> Vec<Segment> {
        let mem = &self.memory;
        let mut runs: Vec<Segment> = Vec::new();
        for page in mem.chunks(PAGE_SIZE).enumerate() {
            let (i, bytes) = page;
            let base = i * PAGE_SIZE;
            let mut at = 0;
            while let Some(nz) = bytes[at..].iter().position(|b| *b != 0) {
                let start = at + nz;
                let end = bytes[start..]
                    .iter()
                    .position(|b| *b == 0)
                    .map_or(bytes.len(), |z| start + z);
                let seg = Segment {
                    offset: (base + start) as u32,
                    len: (end - start) as u32,
                };
                match runs.last_mut() {
                    Some(last) if last.gap(&seg) <= MIN_ACTIVE_SEGMENT_OVERHEAD => {
                        last.len = seg.end() - last.offset;
                    }
                    _ => runs.push(seg),
                }
                at = end;
            }
        }
        if runs.len() > MAX_DATA_SEGMENTS {
            // Merge across the smallest gaps until MAX_DATA_SEGMENTS runs are left.
            let excess = runs.len() - MAX_DATA_SEGMENTS;
            let mut gaps: Vec<(u32, usize)> = runs
                .windows(2)
                .enumerate()
                .map(|(i, w)| (w[0].gap(&w[1]), i))
                .collect();
            gaps.sort_unstable();
            let mut merge_into_prev = vec![false; runs.len()];
            for &(_, i) in &gaps[..excess] {
                merge_into_prev[i + 1] = true;
            }
            let mut merged: Vec<Segment> = Vec::with_capacity(MAX_DATA_SEGMENTS);
            for (i, seg) in runs.into_iter().enumerate() {
                match merged.last_mut() {
                    Some(last) if merge_into_prev[i] => last.len = seg.end() - last.offset,
                    _ => merged.push(seg),
                }
            }
            runs = merged;
        }
        runs
    }
}

/// Export name prefix of the globals a prepared engine exports: `__edgeplay_global_<n>`,
/// `n` counting the module's defined globals (imported ones are not part of a snapshot).
pub const GLOBAL_EXPORT_PREFIX: &str = "__edgeplay_global_";
/// Export name of memory 0 in a prepared engine.
pub const MEMORY_EXPORT: &str = "__edgeplay_memory";

/// Put `snap` into a fresh `instance` of the prepared engine it was taken from: grow
/// the memory to the snapshot's size, copy the image, set every mutable global. The
/// instance then behaves as the module Wizer writes from the snapshot.
pub fn restore(
    mut store: impl wasmi::AsContextMut,
    instance: &wasmi::Instance,
    snap: &Snapshot,
) -> Result<(), String> {
    let memory = instance
        .get_memory(&store, MEMORY_EXPORT)
        .ok_or("the module is not a prepared engine: it exports no memory for a snapshot")?;
    let pages = memory.size(&store);
    if snap.pages() > pages {
        memory.grow(&mut store, snap.pages() - pages).map_err(|e| {
            format!(
                "could not grow memory to the snapshot's {} pages: {e}",
                snap.pages()
            )
        })?;
    }
    memory
        .write(&mut store, 0, &snap.memory)
        .map_err(|e| format!("could not write the snapshot's memory: {e}"))?;
    for (i, v) in snap.globals.iter().enumerate() {
        let name = format!("{GLOBAL_EXPORT_PREFIX}{i}");
        let g = instance
            .get_global(&store, &name)
            .ok_or_else(|| format!("the module has no export {name}"))?;
        if g.ty(&store).mutability() == wasmi::Mutability::Const {
            continue;
        }
        let val = match *v {
            GlobalValue::I32(x) => wasmi::Val::I32(x),
            GlobalValue::I64(x) => wasmi::Val::I64(x),
            GlobalValue::F32(x) => wasmi::Val::F32(f32::from_bits(x).into()),
            GlobalValue::F64(x) => wasmi::Val::F64(f64::from_bits(x).into()),
            GlobalValue::V128(x) => wasmi::Val::V128(x.into()),
        };
        g.set(&mut store, val).map_err(|e| format!("{name}: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(memory: Vec<u8>) -> Snapshot {
        Snapshot {
            memory,
            globals: vec![],
            engine_sha256: String::new(),
        }
    }

    #[test]
    fn runs_of_non_zero_bytes_with_small_gaps_merged() {
        let mut m = vec![0u8; PAGE_SIZE * 2];
        m[10..20].fill(1);
        m[24..30].fill(2); // gap 4: merged
        m[100..101].fill(3); // gap 70: its own
        m[PAGE_SIZE - 2..PAGE_SIZE + 2].fill(4); // split at the page boundary, then merged (gap 0)
        let segs = snap(m).data_segments();
        assert_eq!(
            segs,
            vec![
                Segment {
                    offset: 10,
                    len: 20
                },
                Segment {
                    offset: 100,
                    len: 1
                },
                Segment {
                    offset: PAGE_SIZE as u32 - 2,
                    len: 4
                },
            ]
        );
    }

    #[test]
    fn at_most_max_data_segments() {
        let pages = 4;
        let mut m = vec![0u8; PAGE_SIZE * pages];
        // 16 bytes apart; every 7th gap wider, so the narrow ones merge first.
        let mut n = 0;
        let mut at = 0;
        while at + 1 < m.len() {
            m[at] = 1;
            n += 1;
            at += if n % 7 == 0 { 40 } else { 16 };
        }
        assert!(n > MAX_DATA_SEGMENTS);
        let s = snap(m.clone());
        let segs = s.data_segments();
        assert_eq!(segs.len(), MAX_DATA_SEGMENTS);
        // Every non-zero byte is covered, segments are ordered and disjoint.
        let mut covered = vec![false; m.len()];
        let mut prev_end = 0;
        for seg in &segs {
            assert!(seg.offset >= prev_end);
            prev_end = seg.end();
            covered[seg.offset as usize..seg.end() as usize].fill(true);
        }
        assert!(m.iter().zip(&covered).all(|(b, c)| *b == 0 || *c));
    }
}
