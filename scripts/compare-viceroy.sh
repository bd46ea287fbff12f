#!/usr/bin/env bash
# Fidelity check (not a test: Viceroy is optional): run the same guests under
# `viceroy serve` and `edgeplay serve` and diff what a client sees (status line,
# headers without `date`, body) and what each prints.
# Needs viceroy on PATH (`cargo install viceroy --locked`, a long build).
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
command -v viceroy >/dev/null || { echo "viceroy is not on PATH" >&2; exit 2; }
cargo build --quiet --release -p edgeplay-cli
bash scripts/build-guests.sh >/dev/null
target=${CARGO_TARGET_DIR:-$root/target}
edgeplay="$target/release/edgeplay"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
same=0; differ=0

check() { # guest path [curl args...]
  local g=$1 p=$2; shift 2
  local w="$target/guests/wasm/$g.wasm"
  viceroy serve "$w" --addr 127.0.0.1:17800 >"$work/v.log" 2>&1 & local vp=$!
  "$edgeplay" serve "$w" --addr 127.0.0.1:17801 >"$work/e.log" 2>&1 & local ep=$!
  for _ in $(seq 1 150); do
    curl -s -o /dev/null 127.0.0.1:17800/ && curl -s -o /dev/null 127.0.0.1:17801/ && break
    sleep 0.2
  done
  : >"$work/v.log"; : >"$work/e.log"
  curl -s -i "$@" "http://127.0.0.1:17800$p" | grep -vi '^date:' >"$work/v.out"
  curl -s -i "$@" "http://127.0.0.1:17801$p" | grep -vi '^date:' | sed 's/17801/17800/g' >"$work/e.out"
  sleep 0.3
  kill "$vp" "$ep" 2>/dev/null; wait "$vp" "$ep" 2>/dev/null
  if diff -q "$work/v.out" "$work/e.out" >/dev/null && diff -q "$work/v.log" "$work/e.log" >/dev/null; then
    echo "same    $g $p"; same=$((same + 1))
  else
    echo "DIFFERS $g $p"; differ=$((differ + 1))
    diff "$work/v.out" "$work/e.out" | head -8
    diff "$work/v.log" "$work/e.log" | head -8
  fi
}

check hello /
check status '/?status=418'
check status '/?status=nope'
check echo '/p?x=1' -X POST -d abc -H 'X-Echo-A: 1' -H 'X-Echo-A: 2'
check headers / -H "x-big: $(head -c 61440 /dev/zero | tr '\0' b)"
check stream '/?chunks=20'
check logging /
check env /
check downstream /
check geo /
check sleep '/?ms=10'
check no_response /
check err /
check config /secret-from-bytes/x
check panic /
echo "$same same, $differ differ"
