#!/usr/bin/env bash
# trunk's pre-build hook: build the example guests from source (scripts/build-guests.sh)
# and stage the ones the examples menu offers in web/examples/ (gitignored), which
# index.html copies into dist/examples/.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
guests=${EDGEPLAY_GUESTS:-$target/guests/wasm}
EDGEPLAY_GUESTS="$guests" bash "$root/scripts/build-guests.sh" >/dev/null
mkdir -p "$root/web/examples"
# The examples menu (src/examples.rs) lists these.
for g in hello echo stream logging config js-app fanout visits; do
  cp -u "$guests/$g.wasm" "$root/web/examples/$g.wasm"
done
