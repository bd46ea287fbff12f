#!/usr/bin/env bash
# Run every check and test edgeplay has: the README's test command, and what CI runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/setup.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

echo "== the host core builds for the browser (wasm32-unknown-unknown)"
cargo check -p edgeplay-host --target wasm32-unknown-unknown

bash scripts/build-guests.sh

echo "== cargo test"
cargo test --workspace
