#!/usr/bin/env bash
# Benchmarks (not tests): runner load time and request latency (beside Viceroy when it
# is on PATH), and the backtrace instrumentation's cost. Numbers go in the README.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh >/dev/null
bash scripts/build-guests.sh >/dev/null
cargo build --quiet --release -p edgeplay-cli
target=${CARGO_TARGET_DIR:-$root/target}
EDGEPLAY_BIN="$target/release/edgeplay" EDGEPLAY_GUESTS="$target/guests/wasm" \
  cargo bench --quiet -p edgeplay-cli --bench runner
