#!/usr/bin/env bash
# Benchmarks (not tests). Numbers go in the README.
#   scripts/bench.sh          both
#   scripts/bench.sh runner   the runner: load time and request latency (beside Viceroy
#                             when it is on PATH), and the backtrace instrumentation's cost
#   scripts/bench.sh side-by-side  edgeplay serve and viceroy serve alternately in one
#                             run (first answer, warm latency, CPU-bound guests; the
#                             ratios; Viceroy must be on PATH)
#   scripts/bench.sh calibrate  the CPU estimate: fuel against Viceroy's CPU time on a
#                             reference set of guests (Viceroy must be on PATH)
#   scripts/bench.sh jsbuild  edgeplay build beside js-compute-runtime (the JS SDK's CLI)
#   scripts/bench.sh step     step-through when it does not pause: step mode off vs
#                             breakpoints set but not hit, alternately
#   scripts/bench.sh web      the playground in headless Chromium: app load, drop →
#                             response, and the wasm-in-wasm overhead vs the native runner
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
what=${1:-all}
target=${CARGO_TARGET_DIR:-$root/target}

bash scripts/setup.sh >/dev/null
bash scripts/build-guests.sh >/dev/null
cargo build --quiet --release -p edgeplay-cli

if [ "$what" = all ] || [ "$what" = runner ]; then
  EDGEPLAY_BIN="$target/release/edgeplay" EDGEPLAY_GUESTS="$target/guests/wasm" \
    cargo bench --quiet -p edgeplay-cli --bench runner
fi

if [ "$what" = side-by-side ]; then
  EDGEPLAY_BIN="$target/release/edgeplay" EDGEPLAY_GUESTS="$target/guests/wasm" \
    cargo bench --quiet -p edgeplay-cli --bench side_by_side
fi

if [ "$what" = calibrate ]; then
  EDGEPLAY_GUESTS="$target/guests/wasm" cargo bench --quiet -p edgeplay-cli --bench calibrate
fi

if [ "$what" = all ] || [ "$what" = step ]; then
  EDGEPLAY_GUESTS="$target/guests/wasm" cargo bench --quiet -p edgeplay-host --bench step
fi

if [ "$what" = all ] || [ "$what" = jsbuild ]; then
  cargo bench --quiet -p edgeplay-cli --bench jsbuild
fi

if [ "$what" = all ] || [ "$what" = web ]; then
  bash scripts/setup.sh --web --browser >/dev/null
  source scripts/web-env.sh
  trunk build --release
  (cd tests/e2e && npm ci --no-audit --no-fund >/dev/null &&
    EDGEPLAY_BIN="$target/release/edgeplay" node bench.mjs)
fi
