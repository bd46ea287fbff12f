//! Service state that lasts: `--state-dir` across `request` runs and `serve`
//! restarts (a kill included), `--reset-state`, and a state dir that cannot be used.

mod common;

use common::{edgeplay_bin, guest, request_json, temp_file, Server};
use std::path::{Path, PathBuf};
use std::process::Command;

const CONFIG: &str = r#"
[local_server.kv_stores]
store = [
  { key = "seeded", data = "from the config" },
]
"#;

fn fresh_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("edgeplay-state-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn kv(config: &Path, state: &Path, args: &[&str]) -> (u64, String) {
    let mut all = vec![
        "-C",
        config.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
    ];
    all.extend_from_slice(args);
    let v = request_json("kv", &all);
    (
        v["status"].as_u64().unwrap(),
        v["body"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn request_runs_share_a_state_dir_and_reset_state_restores_the_seed() {
    let cfg = temp_file("fastly.toml", CONFIG);
    let dir = fresh_dir("request");
    assert_eq!(
        kv(&cfg, &dir, &["/kv/store/seeded"]),
        (200, "from the config".into())
    );
    assert_eq!(
        kv(
            &cfg,
            &dir,
            &["-X", "POST", "-d", "written", "/kv/store/new"]
        )
        .0,
        200
    );
    assert_eq!(
        kv(
            &cfg,
            &dir,
            &["-X", "POST", "-d", "changed", "/kv/store/seeded"]
        )
        .0,
        200
    );
    // A later process sees both writes: the seed is not applied again.
    assert_eq!(kv(&cfg, &dir, &["/kv/store/new"]), (200, "written".into()));
    assert_eq!(
        kv(&cfg, &dir, &["/kv/store/seeded"]),
        (200, "changed".into())
    );
    // Without --state-dir every run starts from the configuration.
    let v = request_json("kv", &["-C", cfg.to_str().unwrap(), "/kv/store/new"]);
    assert_eq!(v["status"], 404, "{v}");
    // --reset-state: exactly the configured entries again.
    assert_eq!(
        kv(&cfg, &dir, &["--reset-state", "/kv/store/seeded"]),
        (200, "from the config".into())
    );
    assert_eq!(kv(&cfg, &dir, &["/kv/store/new"]).0, 404);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn serve_keeps_what_finished_requests_wrote_across_a_kill_and_a_restart() {
    let cfg = temp_file("fastly.toml", CONFIG);
    let dir = fresh_dir("serve");
    let args = [
        "-C",
        cfg.to_str().unwrap(),
        "--state-dir",
        dir.to_str().unwrap(),
    ];
    {
        let server = Server::start(&guest("kv"), &args);
        for i in 0..20 {
            let r = server.request(
                "POST",
                &format!("/kv/store/k{i}"),
                &[],
                format!("v{i}").as_bytes(),
            );
            assert_eq!(r.status, 200, "{}", r.text());
        }
        let r = server.request("GET", "/kv/store/k7", &[], b"");
        assert_eq!((r.status, r.text().as_str()), (200, "v7"));
        // Dropping the server kills it (SIGKILL): no shutdown code runs.
    }
    let server = Server::start(&guest("kv"), &args);
    for i in [0, 7, 19] {
        let r = server.request("GET", &format!("/kv/store/k{i}"), &[], b"");
        assert_eq!(
            (r.status, r.text()),
            (200, format!("v{i}")),
            "k{i} was written by a finished request before the kill"
        );
    }
    let r = server.request("GET", "/kv/store/seeded", &[], b"");
    assert_eq!((r.status, r.text().as_str()), (200, "from the config"));
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_damaged_state_dir_is_a_clear_error_and_is_left_as_it_was() {
    let cfg = temp_file("fastly.toml", CONFIG);
    let dir = fresh_dir("damaged");
    std::fs::create_dir_all(&dir).unwrap();
    let junk = b"not a database".repeat(300);
    std::fs::write(dir.join("state.redb"), &junk).unwrap();
    for cmd in [&["request"][..], &["serve", "--addr", "127.0.0.1:0"][..]] {
        let out = Command::new(edgeplay_bin())
            .args(cmd)
            .arg(guest("kv"))
            .args([
                "-C",
                cfg.to_str().unwrap(),
                "--state-dir",
                dir.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "{cmd:?} refused the damaged state dir"
        );
        assert!(
            stderr.contains("cannot be used") && stderr.contains("state.redb"),
            "{cmd:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert_eq!(std::fs::read(dir.join("state.redb")).unwrap(), junk);
    let _ = std::fs::remove_dir_all(&dir);
}
