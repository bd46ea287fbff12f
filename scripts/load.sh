#!/usr/bin/env bash
# Load test of `edgeplay serve` from a second process (wrk on 127.0.0.1): requests per
# second, latency, non-2xx answers and the server's memory (RSS) after a warm-up and
# after each load, for the Rust hello guest and the JS hello guest.
#   scripts/load.sh [SECONDS] [CONNECTIONS]     (defaults: 10 s, 16 connections)
# Needs wrk (Debian's package) and the guests (scripts/build-guests.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
secs=${1:-10}
conns=${2:-16}
target=${CARGO_TARGET_DIR:-$root/target}
command -v wrk >/dev/null || { echo "load.sh needs wrk (apt-get install wrk)" >&2; exit 1; }
cargo build --release -p edgeplay-cli >&2
bin=$target/release/edgeplay
guests=$target/guests/wasm

rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

run() { # name wasm
  local name=$1 wasm=$2 log port pid
  log=$(mktemp)
  "$bin" serve "$wasm" --addr 127.0.0.1:0 >"$log" 2>&1 &
  pid=$!
  for _ in $(seq 100); do grep -q "Listening on" "$log" && break; sleep 0.1; done
  port=$(grep -o "127.0.0.1:[0-9]*" "$log" | head -n1 | cut -d: -f2)
  local url=http://127.0.0.1:$port/
  local rss0
  rss0=$(rss_kib "$pid")
  wrk -t2 -c"$conns" -d3s "$url" >/dev/null # warm-up
  local rss1
  rss1=$(rss_kib "$pid")
  local out
  out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency "$url")
  local rss2
  rss2=$(rss_kib "$pid")
  out2=$(wrk -t2 -c"$conns" -d"${secs}s" --latency "$url")
  local rss3
  rss3=$(rss_kib "$pid")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local rps p50 p99 errs non2xx
  for o in "$out" "$out2"; do
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$o")
    p50=$(awk '$1=="50%" {print $2}' <<<"$o")
    p99=$(awk '$1=="99%" {print $2}' <<<"$o")
    errs=$(awk '/Socket errors/ {print $0}' <<<"$o")
    non2xx=$(awk '/Non-2xx/ {print $NF}' <<<"$o")
    echo "| $name | $conns | ${secs} s | $rps | $p50 | $p99 | ${non2xx:-0} | ${errs:-none} |"
  done
  echo "| $name RSS | | | start $((rss0/1024)) MiB, after warm-up $((rss1/1024)) MiB, after load 1 $((rss2/1024)) MiB, after load 2 $((rss3/1024)) MiB | | | | |"
  rm -f "$log"
}

echo "| guest | connections | duration | requests/s | p50 | p99 | non-2xx | socket errors |"
echo "|---|---:|---:|---:|---:|---:|---:|---|"
run "Rust hello" "$guests/hello.wasm"
run "JS hello" "$guests/js-app.wasm"
