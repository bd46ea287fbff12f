//! Hostile arguments never panic the host: a guest calls every import of the ABI
//! catalog with seeded random handles, pointers and lengths (in and out of bounds,
//! sentinels, huge values), many rounds: every call returns a status and the guest
//! ends normally — never a host panic.

mod common;
use common::*;
use edgeplay_host::abi::catalog::IMPORTS;
use edgeplay_host::abi::catalog_types::ValTy;
use edgeplay_host::{DownstreamRequest, ExecOptions, ServiceConfig};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// An argument a hostile or buggy guest might pass.
    fn arg(&mut self) -> i64 {
        const SPECIAL: [i64; 10] = [0, 1, 2, 3, -1, -2, 0x7fff_ffff, 65_535, 65_536, 1 << 40];
        match self.next() % 5 {
            0 => SPECIAL[(self.next() % SPECIAL.len() as u64) as usize],
            1 => (self.next() % 8) as i64,      // a plausible handle
            2 => (self.next() % 60_000) as i64, // a pointer inside the page
            3 => (self.next() % 5_000) as i64,  // a length
            _ => self.next() as u32 as i64,     // anything
        }
    }
}

fn chaos_guest(seed: u64, rounds: usize) -> String {
    let mut rng = Rng(seed);
    let mut wat = String::from("(module\n");
    let callable: Vec<(usize, &_)> = IMPORTS
        .iter()
        .enumerate()
        // proc_exit would end the run early; everything else is fair game.
        .filter(|(_, i)| i.name != "proc_exit")
        .collect();
    for (i, imp) in IMPORTS.iter().enumerate() {
        let params: Vec<&str> = imp
            .params
            .iter()
            .map(|t| if *t == ValTy::I64 { "i64" } else { "i32" })
            .collect();
        let results: Vec<&str> = imp.results.iter().map(|_| "i32").collect();
        let p = if params.is_empty() {
            String::new()
        } else {
            format!("(param {})", params.join(" "))
        };
        let r = if results.is_empty() {
            String::new()
        } else {
            format!("(result {})", results.join(" "))
        };
        wat.push_str(&format!(
            "  (import \"{}\" \"{}\" (func $f{i} {p} {r}))\n",
            imp.module, imp.name
        ));
    }
    wat.push_str("  (memory (export \"memory\") 1)\n  (func (export \"_start\")\n");
    for _ in 0..rounds {
        for (i, imp) in &callable {
            let mut call = format!("    (call $f{i}");
            for t in imp.params {
                let v = rng.arg();
                call.push_str(&match t {
                    ValTy::I64 => format!(" (i64.const {v})"),
                    ValTy::I32 => format!(" (i32.const {})", v as i32),
                });
            }
            call.push(')');
            if imp.results.is_empty() {
                wat.push_str(&format!("{call}\n"));
            } else {
                wat.push_str(&format!("    (drop {call})\n"));
            }
        }
    }
    wat.push_str("  ))\n");
    wat
}

#[test]
fn hostile_arguments_to_every_import_never_panic_the_host() {
    let engine = engine();
    let per_run = 4 * IMPORTS.iter().filter(|i| i.name != "proc_exit").count();
    for seed in 1..=20u64 {
        let wasm = wat::parse_str(chaos_guest(seed * 0x9e37_79b9, 4)).expect("valid WAT");
        let opts = ExecOptions {
            cpu_limit_ms: Some(2_000),
            ..ExecOptions::default()
        };
        // A host panic fails the test. The platform answers bad arguments with a
        // status, never a trap, so every call must return and the guest must end.
        let run = run_with(
            &engine,
            &wasm,
            ServiceConfig::default(),
            DownstreamRequest::new("POST", "/chaos").with_body("body"),
            opts,
        );
        let calls = run
            .trace
            .iter()
            .filter(|e| e.kind == edgeplay_host::trace::EventKind::Hostcall)
            .count();
        assert_eq!(
            run.outcome.exit,
            edgeplay_host::Exit::Returned,
            "seed {seed}"
        );
        assert_eq!(calls, per_run, "seed {seed}: every hostile call returns");
    }
}
