//! End to end: `edgeplay diff` compares two `edgeplay request --json` outputs —
//! exit 0 when they do not differ, 1 when they do (with the changed header and the
//! first diverging hostcall named), 2 when an input is not a run.

mod common;
use common::*;
use std::process::Command;

fn diff(
    a: &serde_json::Value,
    b: &serde_json::Value,
    extra: &[&str],
) -> (Option<i32>, String, String) {
    let (pa, pb) = (
        temp_file("a.json", &a.to_string()),
        temp_file("b.json", &b.to_string()),
    );
    let out = Command::new(edgeplay_bin())
        .arg("diff")
        .args([pa.to_str().unwrap(), pb.to_str().unwrap()])
        .args(extra)
        .output()
        .expect("run edgeplay diff");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn two_runs_are_compared_call_by_call() {
    let a = request_json("echo", &["-H", "x-demo: one", "/"]);
    let again = request_json("echo", &["-H", "x-demo: one", "/"]);
    let (code, out, _) = diff(&a, &again, &[]);
    assert_eq!((code, out.as_str()), (Some(0), "the runs do not differ\n"));

    let b = request_json("echo", &["-H", "x-demo: two", "/"]);
    let (code, out, err) = diff(&a, &b, &[]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("trace: first divergence at call"), "{out}");
    assert!(
        out.contains("\"one\"") && out.contains("\"two\""),
        "the changed value is shown: {out}"
    );

    let (code, json, _) = diff(&a, &b, &["--json"]);
    assert_eq!(code, Some(1));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let first = v["first_divergence"].as_u64().expect("a first divergence") as usize;
    assert_ne!(v["trace"][first]["kind"], "same");
}

#[test]
fn a_changed_response_header_is_named() {
    let a = request_json("echo", &["/a"]);
    let b = request_json("echo", &["-H", "x-more: 1", "/a"]);
    let (code, out, _) = diff(&a, &b, &[]);
    assert_eq!(code, Some(1));
    assert!(out.contains("header content-length:"), "{out}");
    assert!(
        out.contains("+       \"x-more\","),
        "the body lines added: {out}"
    );
}

#[test]
fn an_input_that_is_not_a_run_exits_two() {
    let a = request_json("hello", &["/"]);
    let (code, _, err) = diff(&a, &serde_json::json!({"not": "a run"}), &[]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("not an `edgeplay request --json` output"),
        "{err}"
    );
}
