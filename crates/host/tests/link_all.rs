//! The import catalog is the ABI data (every column of every row), and every import
//! links with its exact signature.

use edgeplay_host::abi::catalog::IMPORTS;
use edgeplay_host::abi::catalog_types::ValTy;
use edgeplay_host::{DownstreamRequest, Engine, ExecOptions, Execution, Exit, Platform, Poll};
use std::sync::Arc;

/// The ABI data, `shared/abi/hostcalls.tsv` beside the repository (where
/// `scripts/gen-catalog.py` reads it). Without it the catalog cannot be checked, and the
/// check fails rather than pass unchecked.
fn tsv_path() -> std::path::PathBuf {
    let p =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/abi/hostcalls.tsv");
    assert!(
        p.exists(),
        "the ABI data {} is missing: the catalog cannot be checked against it (it is \
         shared/abi/hostcalls.tsv beside the repository)",
        p.display()
    );
    p
}

/// A guest importing every catalog row (with its signature) and calling none.
fn import_everything_wat() -> String {
    let mut wat = String::from("(module\n");
    for (i, imp) in IMPORTS.iter().enumerate() {
        let wat_types = |tys: &[ValTy]| types(tys).replace(',', " ");
        wat.push_str(&format!(
            "  (import \"{}\" \"{}\" (func $f{} (param {}) (result {})))\n",
            imp.module,
            imp.name,
            i,
            wat_types(imp.params),
            wat_types(imp.results)
        ));
    }
    wat.push_str("  (memory (export \"memory\") 1)\n  (func (export \"_start\"))\n)\n");
    wat.replace("(param )", "").replace("(result )", "")
}

/// A signature column of the TSV: types, comma-separated (`i32,i64`; empty for none).
fn types(tys: &[ValTy]) -> String {
    tys.iter()
        .map(|t| format!("{t:?}").to_lowercase())
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn catalog_matches_the_abi_data() {
    let text = std::fs::read_to_string(tsv_path()).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("a header row").split('\t').collect();
    assert_eq!(
        header,
        [
            "module",
            "function",
            "wasm_params",
            "wasm_results",
            "group",
            "in_fastly_sys",
            "in_witx",
            "viceroy",
            "fastlike",
            "js_sdk_imports",
            "summary"
        ],
        "the ABI data's columns changed: update scripts/gen-catalog.py, `Import` and this test"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split('\t').collect()).collect();
    assert_eq!(
        rows.len(),
        IMPORTS.len(),
        "catalog is stale: run scripts/gen-catalog.py"
    );
    for (i, (row, imp)) in rows.iter().zip(IMPORTS).enumerate() {
        let catalog = [
            imp.module.to_string(),
            imp.name.to_string(),
            types(imp.params),
            types(imp.results),
            imp.group.to_string(),
            imp.in_fastly_sys.to_string(),
            imp.in_witx.to_string(),
            imp.viceroy.to_string(),
            imp.fastlike.to_string(),
            imp.js_sdk_imports.to_string(),
            imp.summary.to_string(),
        ];
        assert_eq!(
            row.len(),
            header.len(),
            "row {} ({}::{}) has {} columns",
            i + 2,
            imp.module,
            imp.name,
            row.len()
        );
        for ((column, tsv), ours) in header.iter().zip(row).zip(&catalog) {
            assert_eq!(
                tsv,
                ours,
                "catalog is stale at row {} ({}::{}), column {column}: run scripts/gen-catalog.py",
                i + 2,
                imp.module,
                imp.name
            );
        }
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
