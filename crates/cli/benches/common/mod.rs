//! What the benchmarks share: where the built guests are, and the median.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where `scripts/build-guests.sh` puts the guests: `$EDGEPLAY_GUESTS`, else
/// `<cargo target dir>/guests/wasm`.
pub fn guests_dir() -> PathBuf {
    std::env::var("EDGEPLAY_GUESTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            let target = std::env::var("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
            target.join("guests/wasm")
        })
}

/// The median of `v`.
pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}
