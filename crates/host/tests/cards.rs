//! The hostcall cards: every import the host links has exactly one card, every card
//! names a real import, and its statuses are names the trace can show.

mod common;

use edgeplay_host::abi::catalog::IMPORTS;
use edgeplay_host::cards;
use edgeplay_host::status::{errno_name, fastly_status_name};
use edgeplay_host::trace::EventKind;
use std::collections::BTreeSet;

/// The status names a module's calls can return, as the trace spells them.
fn status_names(module: &str) -> BTreeSet<&'static str> {
    if module == "wasi_snapshot_preview1" {
        (0..=76).map(errno_name).filter(|n| *n != "errno").collect()
    } else {
        (0..=14).map(fastly_status_name).collect()
    }
}

#[test]
fn the_card_files_parse_and_every_alias_resolves() {
    assert_eq!(cards::all().errors, Vec::<String>::new());
}

#[test]
fn every_import_has_a_card() {
    let missing: Vec<String> = IMPORTS
        .iter()
        .filter(|i| cards::card(i.module, i.name).is_none())
        .map(|i| format!("{}::{}", i.module, i.name))
        .collect();
    assert!(missing.is_empty(), "imports without a card: {missing:?}");
}

#[test]
fn every_card_names_a_real_import() {
    // The ABI data's imports, and the rest of WASI that the host links beside them.
    let engine = wasmi::Engine::default();
    let reg = edgeplay_host::abi::build_registry(&engine).expect("registry");
    let known: BTreeSet<(&str, &str)> = IMPORTS
        .iter()
        .map(|i| (i.module, i.name))
        .chain(
            reg.implemented
                .iter()
                .copied()
                .filter(|(m, _)| *m == "wasi_snapshot_preview1"),
        )
        .collect();
    let stray: Vec<String> = cards::all()
        .cards
        .values()
        .filter(|c| !known.contains(&(c.module.as_str(), c.name.as_str())))
        .map(|c| c.id())
        .collect();
    assert!(
        stray.is_empty(),
        "cards for imports that do not exist: {stray:?}"
    );
}

#[test]
fn every_status_on_a_card_is_a_real_status_name() {
    let mut bad = Vec::new();
    for c in cards::all().cards.values() {
        let names = status_names(&c.module);
        let mut seen = BTreeSet::new();
        for (s, when) in &c.statuses {
            if !names.contains(s.as_str()) {
                bad.push(format!("{}: `{s}` is not a status name", c.id()));
            }
            if !seen.insert(s) {
                bad.push(format!("{}: `{s}` listed twice", c.id()));
            }
            if when.trim().is_empty() {
                bad.push(format!("{}: `{s}` says nothing about when", c.id()));
            }
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn every_card_is_complete_and_matches_its_signature() {
    let mut bad = Vec::new();
    for i in IMPORTS {
        let Some(c) = cards::card(i.module, i.name) else {
            continue;
        };
        if c.summary.trim().is_empty() {
            bad.push(format!("{}: no summary", c.id()));
        }
        if c.args.len() != i.params.len() {
            bad.push(format!(
                "{}: {} args on the card, {} wasm params",
                c.id(),
                c.args.len(),
                i.params.len()
            ));
        }
        let ok = if i.module == "wasi_snapshot_preview1" {
            "success"
        } else {
            "ok"
        };
        if i.results.is_empty() {
            if !c.statuses.is_empty() {
                bad.push(format!("{}: returns nothing, yet lists statuses", c.id()));
            }
        } else if c.status(ok).is_none() {
            bad.push(format!("{}: no `{ok}` status", c.id()));
        }
        if c.rust.is_empty()
            && c.js.is_empty()
            && c.alias_of.is_none()
            && !c.host.as_deref().unwrap_or("").contains("SDK")
        {
            bad.push(format!("{}: names no SDK call and says why not", c.id()));
        }
    }
    assert!(bad.is_empty(), "{bad:#?}");
}

#[test]
fn a_card_names_js_calls_exactly_when_the_js_runtime_imports_the_call() {
    let mut bad = Vec::new();
    for i in IMPORTS
        .iter()
        .filter(|i| i.module != "env" && i.module != "fastly")
    {
        let Some(c) = cards::card(i.module, i.name) else {
            continue;
        };
        let imported = i.js_sdk_imports == "yes";
        if imported == c.js.is_empty() {
            bad.push(format!("{} (js_sdk_imports {})", c.id(), i.js_sdk_imports));
        }
    }
    assert!(
        bad.is_empty(),
        "JS calls listed for an import the JS runtime lacks, or missing: {bad:#?}"
    );
}

#[test]
fn a_stub_card_says_edgeplay_answers_unsupported() {
    let engine = wasmi::Engine::default();
    let reg = edgeplay_host::abi::build_registry(&engine).expect("registry");
    let mut bad = Vec::new();
    for i in IMPORTS {
        if reg.implemented.contains(&(i.module, i.name)) {
            continue;
        }
        let c = cards::card(i.module, i.name).expect("card");
        let code = if i.module == "wasi_snapshot_preview1" {
            "nosys"
        } else {
            "unsupported"
        };
        if c.status(code).is_none() || c.host.is_none() {
            bad.push(c.id());
        }
    }
    assert!(
        bad.is_empty(),
        "stubs whose card does not say edgeplay answers unsupported: {bad:?}"
    );
}

#[test]
fn an_emulated_imports_card_does_not_call_it_a_stub() {
    let engine = wasmi::Engine::default();
    let reg = edgeplay_host::abi::build_registry(&engine).expect("registry");
    let wrong: Vec<String> = IMPORTS
        .iter()
        .filter(|i| reg.implemented.contains(&(i.module, i.name)))
        .filter_map(|i| cards::card(i.module, i.name))
        .filter(|c| {
            c.host
                .as_deref()
                .is_some_and(|h| h.contains("always returns unsupported"))
        })
        .map(|c| c.id())
        .collect();
    assert!(
        wrong.is_empty(),
        "emulated, yet the card says stub: {wrong:?}"
    );
}

#[test]
fn a_card_reads_as_text_with_the_current_status_marked() {
    let c = cards::lookup("fastly_http_req::uri_get").expect("card");
    let text = c.to_text(Some("buflen"));
    assert!(text.starts_with("fastly_http_req::uri_get\n"), "{text}");
    assert!(text.contains(&c.summary));
    assert!(text.lines().any(|l| l.starts_with("> buflen")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("  ok")), "{text}");
    let legacy = cards::lookup("env.xqd_req_uri_get").expect("alias card");
    assert_eq!(legacy.summary, c.summary);
    assert_eq!(legacy.alias_of.as_deref(), Some("fastly_http_req::uri_get"));
}

#[test]
fn every_card_file_is_compiled_in() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("cards");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .expect("crates/host/cards")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    files.sort();
    let compiled: Vec<String> = cards::SOURCES
        .iter()
        .map(|(m, _)| format!("{m}.toml"))
        .collect();
    assert_eq!(files, compiled);
}

#[test]
fn every_status_the_sdk_guests_get_is_on_its_card() {
    let guests = [
        "hello",
        "headers",
        "echo",
        "status",
        "downstream",
        "backend_info",
        "send_error",
        "kv",
        "cache",
        "http_cache",
        "readthrough",
        "acl",
        "erl",
        "geo",
        "env",
        "dynamic",
        "shielding",
        "ngwaf",
        "logging",
        "config",
        "err",
        "panic",
        "stream",
        "no_response",
    ];
    let paths = ["/", "/a?x=1", "/missing", "/status/404", "/kv/k"];
    let mut missing = std::collections::BTreeSet::new();
    let mut seen = 0;
    for g in guests {
        for p in paths {
            let run = common::run_sdk(g, common::get(p));
            for e in run.trace.iter().filter(|e| e.kind == EventKind::Hostcall) {
                let Some(st) = e.status.as_deref() else {
                    continue;
                };
                seen += 1;
                let listed =
                    cards::card(&e.module, &e.name).is_some_and(|c| c.status(st).is_some());
                if !listed {
                    missing.insert(format!("{} answered {st} ({g} {p})", e.qualified_name()));
                }
            }
        }
    }
    assert!(seen > 1000, "only {seen} hostcalls ran");
    assert!(
        missing.is_empty(),
        "statuses the host answers that the card does not list: {missing:#?}"
    );
}
