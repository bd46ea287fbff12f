#!/usr/bin/env bash
# Run every check and test edgeplay has: the README's test command, and what CI runs.
# Installs what a fresh machine lacks (scripts/setup.sh --web --browser).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/setup.sh --web --browser
source scripts/web-env.sh
target=${CARGO_TARGET_DIR:-$root/target}

echo "== import layers of the host core (scripts/check-layers.py)"
python3 scripts/check-layers.py crates/host/src

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

echo "== the web app and the host core for the browser: clippy on wasm32-unknown-unknown"
cargo clippy -p edgeplay-web --target wasm32-unknown-unknown --all-targets -- -D warnings

bash scripts/build-guests.sh

echo "== cargo test"
cargo test --workspace

echo "== fuzz smoke (scripts/fuzz.sh --smoke: every fuzz target ~8 s; fails on a crash)"
bash scripts/fuzz.sh --smoke

echo "== browser adapter tests (wasm-bindgen-test in headless Chromium)"
# A CORS origin on 127.0.0.1 for the fetch adapter tests.
cors_log=$(mktemp)
node tests/e2e/cors-server.mjs >"$cors_log" &
cors_pid=$!
trap 'kill "$cors_pid" 2>/dev/null || true; rm -f "$cors_log"' EXIT
for _ in $(seq 50); do [ -s "$cors_log" ] && break; sleep 0.1; done
origin=$(head -n1 "$cors_log")
EDGEPLAY_TEST_ORIGIN="$origin" \
  CHROMEDRIVER=/usr/bin/chromedriver \
  WASM_BINDGEN_TEST_WEBDRIVER_JSON="$root/tests/webdriver.json" \
  WASM_BINDGEN_TEST_TIMEOUT=120 \
  cargo test -p edgeplay-web --target wasm32-unknown-unknown --test browser
kill "$cors_pid" 2>/dev/null || true

echo "== trunk build --release (the playground, with the example guests)"
trunk build --release

echo "== end-to-end tests (playwright-core driving /usr/bin/chromium against dist/)"
(cd tests/e2e && npm ci --no-audit --no-fund >/dev/null && node --test --test-concurrency=1 ./*.test.mjs)
echo "== screenshots: $target/e2e/"
ls "$target/e2e"
