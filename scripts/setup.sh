#!/usr/bin/env bash
# Install what a fresh machine lacks for building and testing edgeplay.
# Idempotent: every step is skipped when its tool is already there.
set -euo pipefail

log() { printf '== setup: %s\n' "$*"; }

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
  log "installing Node.js and npm (for the JS SDK test guest)"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq nodejs npm
fi
