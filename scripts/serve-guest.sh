#!/usr/bin/env bash
# Build the native runner and serve a Compute guest on 127.0.0.1:7676.
#   scripts/serve-guest.sh                 serves the hello example
#   scripts/serve-guest.sh app.wasm [-C fastly.toml] [--addr 127.0.0.1:7676]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh >/dev/null
cargo build --quiet --release -p edgeplay-cli
target=${CARGO_TARGET_DIR:-$root/target}
if [ $# -eq 0 ]; then
  bash scripts/build-guests.sh >/dev/null
  set -- "$target/guests/wasm/hello.wasm"
fi
exec "$target/release/edgeplay" serve "$@"
