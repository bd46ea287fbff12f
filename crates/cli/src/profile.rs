//! Profiles out: `serve --profile` / `--profile-dir DIR` (one pair of files per
//! request) and `request --profile FILE`. Each profile is written twice: Fastlike's
//! profile JSON ([`edgeplay_host::profile::fastlike`]) and a Chrome/Perfetto trace
//! ([`edgeplay_host::profile::chrome`]).

use anyhow::{anyhow, Result};
use edgeplay_host::profile::{chrome, fastlike, Profile};
use edgeplay_host::TraceEvent;
use std::path::{Path, PathBuf};

/// Where Viceroy's `--profile=guest` writes its profiles, and so where ours go by default.
pub const DEFAULT_DIR: &str = "guest-profiles";

/// The directory a `--profile` strategy names, and a note when the strategy asks for
/// something edgeplay does not do. Viceroy's forms: `guest`, `guest,DIR`,
/// `guest,DIR,INTERVAL` (DIR is where its per-request guest profiles go), and the
/// native profilers `perfmap`, `jitdump`, `vtune`.
pub fn strategy_dir(strategy: &str) -> (PathBuf, Option<String>) {
    let mut parts = strategy.splitn(3, ',');
    let kind = parts.next().unwrap_or_default();
    let dir = parts
        .next()
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR));
    let note = match kind {
        "guest" | "" => parts
            .next()
            .map(|i| format!("`--profile`: edgeplay profiles at every hostcall; the sampling interval {i} is ignored")),
        other => Some(format!(
            "`--profile={other}`: edgeplay interprets the guest, so there is no native code to profile; \
             it writes its own guest profiles to {} instead",
            dir.display()
        )),
    };
    (dir, note)
}

/// The Chrome trace's path beside a Fastlike profile's: `p.json` → `p.chrome.json`,
/// anything else gets `.chrome.json` appended.
pub fn chrome_path(fastlike: &Path) -> PathBuf {
    let s = fastlike.to_string_lossy();
    match s.strip_suffix(".json") {
        Some(stem) => PathBuf::from(format!("{stem}.chrome.json")),
        None => PathBuf::from(format!("{s}.chrome.json")),
    }
}

/// Write `profile` (with its `trace`) to `file` (Fastlike's JSON) and
/// [`chrome_path`]`(file)` (the Chrome trace).
pub fn write(file: &Path, profile: &Profile, trace: &[TraceEvent]) -> Result<()> {
    let doc = fastlike::to_fastlike(profile, trace);
    let text = serde_json::to_string_pretty(&doc)?;
    std::fs::write(file, text).map_err(|e| anyhow!("could not write {}: {e}", file.display()))?;
    let chrome_file = chrome_path(file);
    let text = chrome::to_chrome(profile, trace).to_string();
    std::fs::write(&chrome_file, text)
        .map_err(|e| anyhow!("could not write {}: {e}", chrome_file.display()))
}

/// Write one request's profile into `dir` (created when missing) as
/// `<request id>.json` and `<request id>.chrome.json`; returns the first path.
pub fn write_in(dir: &Path, profile: &Profile, trace: &[TraceEvent]) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| anyhow!("could not create {}: {e}", dir.display()))?;
    let file = dir.join(format!("{}.json", profile.run.request_id));
    write(&file, profile, trace)?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viceroys_strategies_name_the_directory() {
        assert_eq!(strategy_dir("guest"), (PathBuf::from(DEFAULT_DIR), None));
        assert_eq!(strategy_dir("guest,/tmp/p").0, PathBuf::from("/tmp/p"));
        let (dir, note) = strategy_dir("guest,/tmp/p,50us");
        assert_eq!(dir, PathBuf::from("/tmp/p"));
        assert!(note.unwrap().contains("50us"));
        let (dir, note) = strategy_dir("jitdump");
        assert_eq!(dir, PathBuf::from(DEFAULT_DIR));
        assert!(note.unwrap().contains("no native code"));
        assert_eq!(
            chrome_path(Path::new("a/p.json")),
            PathBuf::from("a/p.chrome.json")
        );
        assert_eq!(chrome_path(Path::new("p")), PathBuf::from("p.chrome.json"));
    }
}
