//! Recording and replaying backend exchanges: `--record DIR`, `--replay DIR`, and a
//! fiddle's `recordings`.
//!
//! One tap per process, installed before the first request ([`install`]); the
//! driver asks it about every backend fetch ([`replaying`], [`recording`]).
//! Recording writes each exchange as it completes to `DIR/NNNNNN-BACKEND.json` (a
//! [`Recording`]); the response is fetched whole, so what the guest reads is what
//! was kept. Replaying loads every `*.json` of DIR in name order and answers
//! fetches from them ([`Replayer`]) at once, with no network. Mock backends are
//! answered by the core and are neither recorded nor replayed.

use anyhow::{anyhow, Context, Result};
use edgeplay_host::fiddle::{Recording, Replayer};
use edgeplay_host::{FetchRequest, FetchResponse, WorkResult};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// What the process does with backend exchanges.
pub enum Tap {
    /// Keep each exchange in a directory.
    Record {
        /// The directory.
        dir: PathBuf,
        /// The next file number.
        next: AtomicUsize,
    },
    /// Answer from recordings.
    Replay(Mutex<Replayer>),
}

static TAP: OnceLock<Tap> = OnceLock::new();

/// Install the process's tap (once; a second call is an error).
pub fn install(tap: Tap) -> Result<()> {
    TAP.set(tap)
        .map_err(|_| anyhow!("only one of --record and --replay can be given"))
}

/// A tap that records into `dir` (created when missing; numbering goes on after
/// the files already there).
pub fn recorder(dir: &Path) -> Result<Tap> {
    std::fs::create_dir_all(dir)
        .with_context(|| format!("could not create the recording directory {}", dir.display()))?;
    let existing = std::fs::read_dir(dir)
        .with_context(|| format!("could not read {}", dir.display()))?
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json"))
        })
        .count();
    Ok(Tap::Record {
        dir: dir.to_path_buf(),
        next: AtomicUsize::new(existing + 1),
    })
}

/// The recordings in `dir` (every `*.json`, in name order).
pub fn load_dir(dir: &Path) -> Result<Vec<Recording>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("could not read the recordings in {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let text =
                std::fs::read(p).with_context(|| format!("could not read {}", p.display()))?;
            serde_json::from_slice(&text)
                .map_err(|e| anyhow!("{} is not a recording: {e}", p.display()))
        })
        .collect()
}

/// True when fetches are answered from recordings.
pub fn replaying() -> bool {
    matches!(TAP.get(), Some(Tap::Replay(_)))
}

/// True when fetches are recorded.
pub fn recording() -> bool {
    matches!(TAP.get(), Some(Tap::Record { .. }))
}

/// The replayed answer to `req`.
pub fn replay(req: &FetchRequest) -> WorkResult {
    let Some(Tap::Replay(r)) = TAP.get() else {
        return WorkResult::FetchFailed(edgeplay_host::FetchError {
            kind: edgeplay_host::FetchErrorKind::InternalError,
            message: "no recordings to replay".into(),
            headers_not_sent: Vec::new(),
            notes: Vec::new(),
        });
    };
    let mut r = r.lock().unwrap_or_else(|p| p.into_inner());
    match r.answer(req) {
        Ok(resp) => WorkResult::Fetched(Box::new(resp)),
        Err(e) => WorkResult::FetchFailed(e),
    }
}

/// Keep the exchange of `req` answered by `resp` (a failure to write is logged).
pub fn record(req: &FetchRequest, resp: &FetchResponse) {
    let Some(Tap::Record { dir, next }) = TAP.get() else {
        return;
    };
    let n = next.fetch_add(1, Ordering::SeqCst);
    let safe: String = req
        .backend
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let path = dir.join(format!("{n:06}-{safe}.json"));
    let rec = Recording::of(req, resp);
    let text = serde_json::to_vec_pretty(&rec).unwrap_or_default();
    if let Err(e) = std::fs::write(&path, text) {
        tracing::error!("could not write the recording {}: {e}", path.display());
    }
}
