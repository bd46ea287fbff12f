//! Every import of the ABI data links with its exact signature.

use edgeplay_host::abi::catalog::IMPORTS;
use edgeplay_host::{DownstreamRequest, Engine, ExecOptions, Execution, Exit, Platform, Poll};
use std::sync::Arc;

fn tsv_path() -> Option<std::path::PathBuf> {
    let p =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/abi/hostcalls.tsv");
    p.exists().then_some(p)
}

/// A guest importing every catalog row (with its signature) and calling none.
fn import_everything_wat() -> String {
    let mut wat = String::from("(module\n");
    for (i, imp) in IMPORTS.iter().enumerate() {
        let params: Vec<&str> = imp
            .params
            .iter()
            .map(|t| {
                if matches!(t, edgeplay_host::abi::catalog_types::ValTy::I64) {
                    "i64"
                } else {
                    "i32"
                }
            })
            .collect();
        let results: Vec<&str> = imp.results.iter().map(|_| "i32").collect();
        wat.push_str(&format!(
            "  (import \"{}\" \"{}\" (func $f{} (param {}) (result {})))\n",
            imp.module,
            imp.name,
            i,
            params.join(" "),
            results.join(" ")
        ));
    }
    wat.push_str("  (memory (export \"memory\") 1)\n  (func (export \"_start\"))\n)\n");
    wat.replace("(param )", "").replace("(result )", "")
}

#[test]
fn catalog_matches_the_abi_data() {
    let Some(path) = tsv_path() else {
        eprintln!("shared/abi/hostcalls.tsv not beside the repo; catalog check skipped");
        return;
    };
    let text = std::fs::read_to_string(path).unwrap();
    let rows: Vec<Vec<&str>> = text
        .lines()
        .skip(1)
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(
        rows.len(),
        IMPORTS.len(),
        "catalog is stale: run scripts/gen-catalog.py"
    );
    for (row, imp) in rows.iter().zip(IMPORTS) {
        assert_eq!((row[0], row[1]), (imp.module, imp.name));
        let params: Vec<String> = imp
            .params
            .iter()
            .map(|t| format!("{t:?}").to_lowercase())
            .collect();
        assert_eq!(row[2], params.join(","), "{}::{}", imp.module, imp.name);
    }
}

#[test]
fn every_import_links_with_its_signature() {
    let engine = Engine::new(Platform::deterministic());
    let wasm = wat::parse_str(import_everything_wat()).unwrap();
    let guest = engine
        .load(&wasm)
        .expect("a guest importing every ABI function loads");
    assert_eq!(guest.info.imports.len(), IMPORTS.len());
    assert!(guest.info.unknown_imports.is_empty());
    let mut exec = Execution::new(
        &engine,
        guest,
        Arc::default(),
        DownstreamRequest::new("GET", "/"),
        "0".into(),
        ExecOptions::default(),
    )
    .expect("instantiates");
    match exec.run() {
        Poll::Done(o) => assert_eq!(o.exit, Exit::Returned),
        other => panic!("unexpected {other:?}"),
    }
}
