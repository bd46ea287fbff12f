//! The lessons tell the truth: every step of every shipped lesson runs through
//! `edgeplay test` (its example guest, its fastly.toml, its requests in order against
//! one service state) and every assertion the step makes holds.

mod common;
use common::*;
use edgeplay_host::lessons;
use std::process::Command;

#[test]
fn every_lesson_step_runs_and_its_assertions_hold() {
    let all = lessons::all().expect("the shipped lessons parse");
    assert_eq!(
        all.iter().map(|l| l.id.as_str()).collect::<Vec<_>>(),
        ["life-of-a-request", "backends-and-concurrency", "caching"]
    );
    let mut failures = Vec::new();
    for lesson in all {
        for (i, step) in lesson.steps.iter().enumerate() {
            let file = temp_file(
                &format!("lesson-{}-{}.json", lesson.id, i + 1),
                &serde_json::to_string(&step.fiddle).unwrap(),
            );
            let out = Command::new(edgeplay_bin())
                .arg("test")
                .arg("--examples")
                .arg(guests_dir())
                .arg(&file)
                .output()
                .expect("run edgeplay test");
            let stdout = String::from_utf8_lossy(&out.stdout);
            if !out.status.success() || !stdout.contains(" 0 failed") {
                failures.push(format!(
                    "{} step {} ({}): exit {:?}\n{stdout}\n{}",
                    lesson.id,
                    i + 1,
                    step.title,
                    out.status.code(),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n---\n"));
}
