#!/usr/bin/env bash
# Install what a fresh machine lacks for building and testing edgeplay.
# Idempotent: every step is skipped when its tool is already there.
#
#   scripts/setup.sh            Rust targets and components, Node.js and npm
#   scripts/setup.sh --web      + what the browser build needs: trunk 0.21,
#                                 wasm-bindgen-cli at the Cargo.lock version, and
#                                 wasm-opt from npm's binaryen 132 (in ~/.cache/edgeplay)
#   scripts/setup.sh --browser  + headless Chromium and chromedriver (Debian packages)
#   scripts/setup.sh --fuzz     + a nightly toolchain and cargo-fuzz 0.13 (scripts/fuzz.sh)
#
# Then `source scripts/web-env.sh` puts the cached wasm-opt first on PATH.
set -euo pipefail

web=0
browser=0
fuzz=0
for a in "$@"; do
  case "$a" in
    --web) web=1 ;;
    --browser) browser=1 ;;
    --fuzz) fuzz=1 ;;
    *) echo "usage: $0 [--web] [--browser] [--fuzz]" >&2; exit 2 ;;
  esac
done

root=$(cd "$(dirname "$0")/.." && pwd)
cache=${EDGEPLAY_CACHE:-$HOME/.cache/edgeplay}
log() { printf '== setup: %s\n' "$*"; }
if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
apt_install() {
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@"
}

if ! command -v cargo >/dev/null; then
  echo "cargo is missing: install Rust with rustup first (https://rustup.rs)" >&2
  exit 1
fi

installed_targets=$(rustup target list --installed 2>/dev/null || true)
for t in wasm32-wasip1 wasm32-unknown-unknown; do
  if ! grep -qx "$t" <<<"$installed_targets"; then
    log "rustup target add $t"
    rustup target add "$t"
  fi
done
for c in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$c"; then
    log "rustup component add $c"
    rustup component add "$c"
  fi
done

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  log "installing Node.js and npm (the JS SDK test guest, the browser tests)"
  apt_install nodejs npm
fi

# The Go test guest's toolchain comes from PyPI (tests/go/build.sh) into a venv.
if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  log "installing python3-venv (the Go toolchain for the Go test guest comes from PyPI)"
  apt_install python3 python3-venv
fi

if [ "$web" = 1 ]; then
  # trunk 0.21 (a 15-35 minute build from source: only when missing).
  if ! trunk --version 2>/dev/null | grep -q '^trunk 0\.21\.'; then
    log "cargo install trunk --version ^0.21 --locked (takes a while)"
    cargo install trunk --version '^0.21' --locked
  fi
  # wasm-bindgen-cli exactly at the version Cargo.lock pins (trunk refuses others).
  want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$root/Cargo.lock")
  have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
  if [ -z "$want" ]; then
    echo "Cargo.lock pins no wasm-bindgen version" >&2
    exit 1
  fi
  if [ "$have" != "$want" ]; then
    log "cargo install wasm-bindgen-cli --version $want (found: ${have:-none})"
    cargo install wasm-bindgen-cli --version "$want"
  fi
  # wasm-opt from npm's binaryen 132. Debian's binaryen (108) builds a page that
  # dies at load, so it must not be the one trunk finds.
  wasm_opt="$cache/binaryen/node_modules/.bin/wasm-opt"
  if ! "$wasm_opt" --version 2>/dev/null | grep -q 'version 132'; then
    log "npm install binaryen@132 into $cache/binaryen"
    mkdir -p "$cache/binaryen"
    npm install --prefix "$cache/binaryen" --no-audit --no-fund --save-exact binaryen@132 >/dev/null
  fi
fi

if [ "$browser" = 1 ]; then
  if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    log "installing chromium and chromium-driver (headless browser tests)"
    apt_install chromium chromium-driver
  fi
fi

if [ "$fuzz" = 1 ]; then
  # libFuzzer needs nightly (-Zsanitizer); cargo-fuzz drives it (a 3-minute build: only when missing).
  if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    log "rustup toolchain install nightly --profile minimal"
    rustup toolchain install nightly --profile minimal
  fi
  if ! cargo fuzz --version 2>/dev/null | grep -q '^cargo-fuzz 0\.13\.'; then
    log "cargo install cargo-fuzz --version ^0.13 --locked"
    cargo install cargo-fuzz --version '^0.13' --locked
  fi
fi
