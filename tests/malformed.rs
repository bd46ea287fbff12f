//! The malformed-input corpus (tests/malformed/, written by its make.py): every
//! file goes through the command line as a user would hand it over, and gets the
//! clear message tests/malformed/expected.toml gives for it, never a panic.
//!
//! - `wasm/*`, `package/*`: `edgeplay request FILE` (a module, WAT, or a Fastly package);
//! - `config/*`: `edgeplay request GUEST -C FILE` with a trivial guest;
//! - `link/*`: `edgeplay test LINK`, the file's text being the link.

mod common;
use common::{edgeplay_bin, repo_root, temp_file};
use std::path::Path;
use std::process::Command;

/// What a user sees: exit code, stdout and stderr.
fn run(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let out = Command::new(edgeplay_bin())
        .args(args)
        .output()
        .expect("run edgeplay");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code(), text)
}

fn case(dir: &Path, rel: &str, guest: &Path) -> (Option<i32>, String) {
    let file = dir.join(rel);
    let kind = rel.split('/').next().unwrap_or_default();
    match kind {
        "wasm" | "package" => run(&["request".as_ref(), file.as_os_str()]),
        "config" => run(&[
            "request".as_ref(),
            guest.as_os_str(),
            "-C".as_ref(),
            file.as_os_str(),
        ]),
        "link" => {
            let link = std::fs::read_to_string(&file).expect("a link is text");
            run(&["test".as_ref(), link.trim().as_ref()])
        }
        _ => panic!("{rel}: unknown kind of input `{kind}` (wasm, package, config, link)"),
    }
}

#[test]
fn every_malformed_input_gets_its_clear_message() {
    let dir = repo_root().join("tests/malformed");
    let expected: toml_edit::DocumentMut = std::fs::read_to_string(dir.join("expected.toml"))
        .expect("tests/malformed/expected.toml")
        .parse()
        .expect("expected.toml is TOML");
    let guest = temp_file(
        "trivial.wat",
        r#"(module (memory (export "memory") 1) (func (export "_start")))"#,
    );
    let mut listed = Vec::new();
    let mut failures = Vec::new();
    for (kind, table) in expected.iter() {
        let table = table
            .as_table()
            .unwrap_or_else(|| panic!("expected.toml: [{kind}] is not a table"));
        for (name, message) in table.iter() {
            let rel = format!("{kind}/{name}");
            let message = message
                .as_str()
                .unwrap_or_else(|| panic!("expected.toml: {rel}: the message is not a string"));
            listed.push(rel.clone());
            let (code, text) = case(&dir, &rel, &guest);
            if code == Some(101) || text.contains("panicked") {
                failures.push(format!("{rel}: edgeplay panicked:\n{text}"));
            } else if !text.contains(message) {
                failures.push(format!(
                    "{rel}: expected the message `{message}`, got (exit {code:?}):\n{text}"
                ));
            }
        }
    }
    // Every file of the corpus is listed (and there are at least 30).
    let mut files = Vec::new();
    for kind in ["wasm", "package", "config", "link"] {
        for e in std::fs::read_dir(dir.join(kind)).expect("corpus directory") {
            let name = e.expect("entry").file_name();
            files.push(format!("{kind}/{}", name.to_string_lossy()));
        }
    }
    files.sort();
    listed.sort();
    assert_eq!(
        files, listed,
        "expected.toml lists every file of the corpus"
    );
    assert!(files.len() >= 30, "the corpus has {} files", files.len());
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
