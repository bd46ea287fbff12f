//! End to end: Fastlike's store flags (`--dictionary`, `--config-store`, `--kv`,
//! `--secret-store`, `--acl`: NAME=FILE.json in Fastlike's JSON formats) configure
//! the stores a guest sees, with or without a `fastly.toml`.

mod common;
use common::*;
use std::process::Command;

fn request(guest_name: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(edgeplay_bin())
        .arg("request")
        .arg(guest(guest_name))
        .args(args)
        .output()
        .expect("run edgeplay request");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn fastlikes_store_flags_configure_the_stores() {
    let dict = temp_file("dict.json", r#"{"greeting": "hello from a Fastlike file"}"#);
    let secrets = temp_file("secrets.json", r#"{"token": "s3cret"}"#);
    let kv = temp_file(
        "kv.json",
        r#"{"name": "stored", "other": {"body": "b", "metadata": "m"}}"#,
    );
    let acl = temp_file(
        "acl.json",
        r#"{"entries": [{"prefix": "203.0.113.0/24", "action": "BLOCK"}]}"#,
    );
    let flag = |name: &str, p: &std::path::Path| format!("{name}={}", p.display());

    let (ok, out, err) = request(
        "config",
        &[
            "--dictionary",
            &flag("settings", &dict),
            "/config/settings/greeting",
        ],
    );
    assert!(
        ok && out.ends_with("hello from a Fastlike file"),
        "{out}\n{err}"
    );
    let (ok, out, err) = request(
        "config",
        &["--config-store", &flag("cs", &dict), "/config/cs/greeting"],
    );
    assert!(
        ok && out.ends_with("hello from a Fastlike file"),
        "{out}\n{err}"
    );
    let (ok, out, err) = request(
        "config",
        &[
            "--secret-store",
            &flag("vault", &secrets),
            "/secret/vault/token",
        ],
    );
    assert!(ok && out.ends_with("s3cret"), "{out}\n{err}");
    let (ok, out, err) = request("visits", &["--kv", &flag("playground", &kv), "/?key=name"]);
    assert!(ok && out.ends_with("stored"), "{out}\n{err}");
    let (_, out, _) = request("visits", &["--kv", "playground", "/?key=name"]);
    assert!(out.starts_with("HTTP/1.1 404"), "an empty store: {out}");
    let (_, out, err) = request(
        "acl",
        &[
            "--acl",
            &flag("blocklist", &acl),
            "--client-ip",
            "203.0.113.5",
            "/",
        ],
    );
    assert!(out.starts_with("HTTP/1.1 403"), "{out}\n{err}");

    let (ok, _, err) = request("visits", &["--kv", "playground=/no/such.json", "/"]);
    assert!(!ok);
    assert!(err.contains("no such file or directory"), "{err}");
    let (ok, _, err) = request("config", &["--dictionary", "settings", "/"]);
    assert!(!ok);
    assert!(
        err.contains("--dictionary settings: expected settings=FILE.json"),
        "{err}"
    );
}
