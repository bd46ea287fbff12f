//! Guest backtraces: a trap reports the guest call stack, named from the `name` section.

mod common;

use common::{assert_returned, run_wasm, run_wat, Run};
use edgeplay_host::backtrace::{instrument, SHADOW_EXPORT, SP_EXPORT};
use edgeplay_host::{DownstreamRequest, Engine, EngineOptions, Exit, Platform, ServiceConfig};

fn req() -> DownstreamRequest {
    DownstreamRequest::new("GET", "http://localhost/")
}

fn backtrace(run: &Run) -> Vec<String> {
    match &run.outcome.exit {
        Exit::Trap { backtrace, .. } => backtrace.clone(),
        other => panic!("expected a trap, got {other:?}"),
    }
}

fn trap_message(run: &Run) -> String {
    match &run.outcome.exit {
        Exit::Trap { message, .. } => message.clone(),
        other => panic!("expected a trap, got {other:?}"),
    }
}

/// `(call $expect (actual) (expected))` traps when they differ.
const EXPECT: &str = r#"(func $expect (param i32 i32)
    (if (i32.ne (local.get 0) (local.get 1)) (then unreachable)))"#;

#[test]
fn a_trap_reports_the_named_call_stack_innermost_first() {
    let run = run_wat(
        r#"(module
            (memory (export "memory") 1)
            (func $inner unreachable)
            (func $middle (call $inner))
            (func $outer (call $middle))
            (func $start (export "_start") (call $outer)))"#,
        req(),
    );
    assert_eq!(backtrace(&run), ["inner", "middle", "outer", "start"]);
    assert_eq!(
        trap_message(&run),
        "wasm `unreachable` instruction executed"
    );
    assert_eq!(run.response.status, 500);
    let body = run.body_text();
    assert!(body.contains("unreachable"), "{body}");
    assert!(
        body.contains("guest backtrace:\n  0: inner\n  1: middle\n  2: outer\n  3: start"),
        "{body}"
    );
    let end = run
        .trace
        .iter()
        .rev()
        .find(|e| e.name == "end")
        .expect("an end event");
    let note = end.note.as_deref().unwrap_or_default();
    assert!(
        note.contains("0: inner") && note.contains("3: start"),
        "{note}"
    );
}

#[test]
fn functions_without_names_show_their_index() {
    // No `$names`: the module has no name section. Index 0 is the import.
    let run = run_wat(
        r#"(module
            (import "env" "f" (func))
            (func unreachable)
            (func (call 1))
            (func (export "_start") (call 2)))"#,
        req(),
    );
    assert_eq!(backtrace(&run), ["func[1]", "func[2]", "func[3]"]);
}

#[test]
fn rust_symbols_are_demangled() {
    use edgeplay_host::backtrace::display_name;
    assert_eq!(
        display_name("_ZN5panic4main17h3c7685cf1bee1748E"),
        "panic::main"
    );
    assert_eq!(
        display_name("_RNvNtCset5xJoy1xWQ_3std9panicking12default_hook"),
        "std::panicking::default_hook"
    );
    assert_eq!(display_name("__main_void"), "__main_void");
    assert_eq!(display_name("_start"), "_start");
}

#[test]
fn every_kind_of_trap_gets_a_backtrace() {
    let run = run_wat(
        r#"(module
            (memory (export "memory") 1)
            (func $load (param i32) (result i32) (i32.load (local.get 0)))
            (func $start (export "_start") (drop (call $load (i32.const 70000)))))"#,
        req(),
    );
    assert_eq!(trap_message(&run), "out of bounds memory access");
    assert_eq!(backtrace(&run), ["load", "start"]);

    let run = run_wat(
        r#"(module
            (func $div (param i32) (result i32) (i32.div_u (i32.const 1) (local.get 0)))
            (table 1 funcref)
            (elem (i32.const 0) $div)
            (type $t (func (param i32) (result i32)))
            (func $start (export "_start")
                (drop (call_indirect (type $t) (i32.const 0) (i32.const 0)))))"#,
        req(),
    );
    assert_eq!(trap_message(&run), "integer divide by zero");
    assert_eq!(backtrace(&run), ["div", "start"]);
}

#[test]
fn a_host_trap_reports_the_guest_frames_that_called_it() {
    let run = run_wat(
        r#"(module
            (import "env" "not_in_the_abi" (func $missing))
            (func $caller (call $missing))
            (func $start (export "_start") (call $caller)))"#,
        req(),
    );
    assert!(trap_message(&run).contains("env::not_in_the_abi"));
    assert_eq!(backtrace(&run), ["caller", "start"]);
}

#[test]
fn deep_recursion_is_wasmi_stack_overflow_with_a_shortened_backtrace() {
    let run = run_wat(
        r#"(module
            (func $down (param i32) (result i32)
                (i32.add (call $down (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
            (func $start (export "_start") (drop (call $down (i32.const 0)))))"#,
        req(),
    );
    assert_eq!(trap_message(&run), "call stack exhausted");
    let bt = backtrace(&run);
    assert!(bt.len() > 900, "{} frames", bt.len());
    assert_eq!(bt.last().map(String::as_str), Some("start"));
    assert!(bt[..bt.len() - 1].iter().all(|f| f == "down"));
    assert_eq!(run.response.status, 500);
    let body = run.body_text();
    assert!(body.contains("call stack exhausted"), "{body}");
    assert!(body.contains("more frames ..."), "{body}");
    assert!(body.lines().count() < 60, "{body}");
}

#[test]
fn instrumented_guests_compute_the_same_results() {
    let fib = r#"
        (func $fib (param $n i32) (result i32)
            (if (result i32) (i32.lt_u (local.get $n) (i32.const 2))
                (then (local.get $n))
                (else (i32.add
                    (call $fib (i32.sub (local.get $n) (i32.const 1)))
                    (call $fib (i32.sub (local.get $n) (i32.const 2)))))))"#;
    let run = run_wat(
        &format!(
            r#"(module {EXPECT} {fib}
                (func $start (export "_start")
                    (call $expect (call $fib (i32.const 10)) (i32.const 55))
                    (call $expect (call $fib (i32.const 24)) (i32.const 46368))))"#
        ),
        req(),
    );
    assert_returned(&run);
}

#[test]
fn returns_branches_and_tail_calls_keep_the_shadow_stack_balanced() {
    // Every way out of a function: falling off the end, `return` deep inside blocks,
    // `br`/`br_if`/`br_table` to the body's label, and tail calls (100 000 of them,
    // far more than the call-depth limit). A trap afterwards shows only `_start`.
    let run = run_wat(
        &format!(
            r#"(module {EXPECT}
                (type $t (func (param i32) (result i32)))
                (table 1 funcref)
                (elem (i32.const 0) $count)
                (func $ret (param i32) (result i32)
                    (block (loop
                        (br_if 1 (i32.eqz (local.get 0)))
                        (if (i32.eq (local.get 0) (i32.const 3)) (then (return (i32.const 30))))
                        (local.set 0 (i32.sub (local.get 0) (i32.const 1)))
                        (br 0)))
                    (i32.const 0))
                (func $br (param i32) (result i32)
                    (br_if 0 (i32.const 11) (local.get 0))
                    (drop)
                    (i32.const 12))
                (func $table (param i32) (result i32)
                    (block $inner (result i32)
                        (br_table $inner 1 (i32.const 20) (local.get 0)))
                    (i32.const 1)
                    (i32.add))
                (func $count (param i32) (result i32)
                    (if (result i32) (i32.eqz (local.get 0))
                        (then (i32.const 7))
                        (else (return_call $count (i32.sub (local.get 0) (i32.const 1))))))
                (func $count_indirect (param i32) (result i32)
                    (return_call_indirect (type $t) (local.get 0) (i32.const 0)))
                (func $start (export "_start")
                    (local $sum i32)
                    (local.set $sum (i32.add (call $ret (i32.const 5)) (call $ret (i32.const 2))))
                    (local.set $sum (i32.add (local.get $sum) (call $br (i32.const 1))))
                    (local.set $sum (i32.add (local.get $sum) (call $br (i32.const 0))))
                    (local.set $sum (i32.add (local.get $sum) (call $table (i32.const 0))))
                    (local.set $sum (i32.add (local.get $sum) (call $table (i32.const 1))))
                    (local.set $sum (i32.add (local.get $sum) (call $table (i32.const 2))))
                    (local.set $sum (i32.add (local.get $sum) (call $count (i32.const 100000))))
                    (local.set $sum (i32.add (local.get $sum) (call $count_indirect (i32.const 5000))))
                    ;; 30 + 0 + 11 + 12 + 21 + 20 + 20 + 7 + 7 = 128
                    (call $expect (local.get $sum) (i32.const 128))
                    unreachable))"#
        ),
        req(),
    );
    assert_eq!(
        trap_message(&run),
        "wasm `unreachable` instruction executed"
    );
    assert_eq!(backtrace(&run), ["start"]);
}

#[test]
fn multi_value_functions_work() {
    let run = run_wat(
        &format!(
            r#"(module {EXPECT}
                (func $pair (param i32) (result i32 i64)
                    (if (i32.eqz (local.get 0)) (then (return (i32.const 1) (i64.const 2))))
                    (br_if 0 (i32.const 3) (i64.const 4) (i32.eq (local.get 0) (i32.const 1)))
                    (drop) (drop)
                    (i32.const 5) (i64.const 6))
                (func $three (result i32 i32 i32)
                    (i32.const 10) (i32.const 20) (i32.const 30))
                (func $same (result i32 i32 i32) (call $three))
                (func $add (param i32 i64) (result i32)
                    (i32.add (local.get 0) (i32.wrap_i64 (local.get 1))))
                (func $start (export "_start")
                    (local $sum i32)
                    (local.set $sum (call $add (call $pair (i32.const 0))))
                    (local.set $sum (i32.add (local.get $sum) (call $add (call $pair (i32.const 1)))))
                    (local.set $sum (i32.add (local.get $sum) (call $add (call $pair (i32.const 2)))))
                    (call $same) (i32.add) (i32.add)
                    (local.get $sum) (i32.add)
                    ;; 3 + 7 + 11 + 60 = 81
                    (i32.const 81)
                    (call $expect)))"#
        ),
        req(),
    );
    assert_returned(&run);
}

#[test]
fn guest_memory_is_still_the_one_hostcalls_see() {
    let wasm =
        wat::parse_str(r#"(module (memory (export "memory") 1) (func $start (export "_start")))"#)
            .unwrap();
    let instrumented = instrument(&wasm).unwrap();
    let mut exports = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(&instrumented) {
        if let wasmparser::Payload::ExportSection(r) = payload.unwrap() {
            for e in r {
                let e = e.unwrap();
                exports.push((e.name.to_string(), e.kind, e.index));
            }
        }
    }
    use wasmparser::ExternalKind::{Func, Global, Memory};
    assert_eq!(
        exports,
        [
            ("memory".to_string(), Memory, 0),
            ("_start".to_string(), Func, 0),
            (SP_EXPORT.to_string(), Global, 0),
            (SHADOW_EXPORT.to_string(), Memory, 1),
        ]
    );

    if !common::engine().is_emulated("wasi_snapshot_preview1", "fd_write") {
        return;
    }
    let run = run_wat(
        r#"(module
            (import "wasi_snapshot_preview1" "fd_write"
                (func $fd_write (param i32 i32 i32 i32) (result i32)))
            (memory (export "memory") 1)
            (data (i32.const 16) "hello from the guest\n")
            (func $write (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
            (func $start (export "_start")
                (i32.store (i32.const 0) (i32.const 16))
                (i32.store (i32.const 4) (i32.const 21))
                (call $write)))"#,
        req(),
    );
    assert_eq!(run.outcome.exit, Exit::Returned);
    assert_eq!(run.stdout(), "hello from the guest\n");
}

#[test]
fn modules_without_memory_with_imported_memory_or_with_several_sections_instrument() {
    let engine = common::engine();
    let cases = [
        // No memory, no globals, no exports besides _start.
        r#"(module (func $start (export "_start")))"#,
        // Imported memory and global: the new memory and global come after them.
        r#"(module
            (import "env" "memory" (memory 1))
            (import "env" "g" (global $g i32))
            (global $h (mut i32) (global.get $g))
            (func $start (export "_start") (i32.store (i32.const 0) (global.get $h))))"#,
        // Two memories already, a start function, tables, passive data, data count.
        r#"(module
            (memory $a 1) (memory $b 1)
            (global $x (mut i64) (i64.const 5))
            (table 2 funcref)
            (elem (i32.const 0) $start $helper)
            (data $d "abc")
            (func $helper (result i32) (i32.load8_u $b (i32.const 0)))
            (func $init (memory.init $d (i32.const 0) (i32.const 0) (i32.const 3)))
            (start $init)
            (func $start (export "_start") (drop (call $helper))))"#,
        // Only an import and a `_start` that calls it (a `_start` that is the import
        // itself would return a value: not a Compute program's `_start`).
        r#"(module
            (import "wasi_snapshot_preview1" "sched_yield" (func $y (result i32)))
            (func (export "_start") (drop (call $y))))"#,
    ];
    for wat in cases {
        let wasm = wat::parse_str(wat).expect("valid WAT");
        let instrumented = instrument(&wasm).expect("instruments");
        let module = wasmi::Module::new(&wasmi::Engine::default(), &instrumented)
            .expect("the instrumented module validates");
        assert!(module.get_export(SP_EXPORT).is_some());
        assert!(module.get_export(SHADOW_EXPORT).is_some());
        let guest = engine.load(&wasm).expect("loads");
        assert!(guest.info.backtraces, "{wat}");
    }
    // The one without imports also runs.
    let run = run_wat(cases[0], req());
    assert_eq!(run.outcome.exit, Exit::Returned);
}

/// Load and run `wasm`, which cannot be instrumented and traps at `unreachable`: it
/// loads without backtraces, and its trap has the message but no backtrace.
fn run_uninstrumented(wasm: &[u8]) -> Run {
    let engine = common::engine();
    let guest = engine.load(wasm).expect("loads without instrumentation");
    assert!(!guest.info.backtraces);
    let run = run_wasm(&engine, wasm, ServiceConfig::default(), req());
    assert_eq!(
        trap_message(&run),
        "wasm `unreachable` instruction executed"
    );
    assert!(backtrace(&run).is_empty());
    run
}

#[test]
fn a_module_that_cannot_be_instrumented_runs_without_backtraces() {
    // It already uses one of the reserved export names.
    let wasm = wat::parse_str(
        r#"(module
            (global (export "__edgeplay_sp") i32 (i32.const 0))
            (func $inner unreachable)
            (func $start (export "_start") (call $inner)))"#,
    )
    .unwrap();
    let run = run_uninstrumented(&wasm);
    assert_eq!(run.response.status, 500);
}

#[test]
fn a_module_whose_rewrite_does_not_validate_loads_as_it_is() {
    // 50 000 locals is the validator's limit: the instrumentation's extra local is one too many.
    let locals = " i32".repeat(50_000);
    let wasm = wat::parse_str(format!(
        r#"(module
            (func $big (local{locals}))
            (func $inner unreachable)
            (func $start (export "_start") (call $inner)))"#
    ))
    .unwrap();
    assert!(instrument(&wasm).is_ok());
    run_uninstrumented(&wasm);
}

#[test]
fn backtraces_can_be_turned_off() {
    let engine = Engine::with_options(
        Platform::deterministic(),
        EngineOptions {
            backtraces: false,
            ..EngineOptions::default()
        },
    );
    let wasm = wat::parse_str(
        r#"(module (func $inner unreachable) (func $start (export "_start") (call $inner)))"#,
    )
    .unwrap();
    assert!(!engine.load(&wasm).unwrap().info.backtraces);
    let run = run_wasm(&engine, &wasm, ServiceConfig::default(), req());
    assert!(backtrace(&run).is_empty());
}

#[test]
fn malformed_modules_still_get_the_validation_error() {
    let mut wasm =
        wat::parse_str(r#"(module (func $start (export "_start") (call $start)))"#).unwrap();
    wasm.truncate(wasm.len() - 3);
    let err = common::engine().load(&wasm).unwrap_err();
    assert!(
        matches!(err, edgeplay_host::LoadError::Invalid(_)),
        "{err:?}"
    );
}

#[test]
fn a_rust_panic_names_the_panicking_functions() {
    let wasm = common::sdk_guest("panic");
    let run = run_wasm(&common::engine(), &wasm, ServiceConfig::default(), req());
    let bt = backtrace(&run);
    assert_eq!(bt.last().map(String::as_str), Some("_start"), "{bt:?}");
    // Rust symbols are demangled, without their hash.
    assert!(bt.iter().any(|f| f == "panic::main"), "{bt:?}");
    assert!(
        bt.iter()
            .all(|f| !f.starts_with("_ZN") && !f.starts_with("_R")),
        "{bt:?}"
    );
    assert_eq!(run.response.status, 500);
    assert!(run.body_text().contains("guest backtrace:"));
}
