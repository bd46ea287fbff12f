#!/usr/bin/env bash
# Build and run the fuzz targets of fuzz/ (cargo-fuzz, libFuzzer), one after another.
#
#   scripts/fuzz.sh --smoke          every target ~8 s (about a minute in all): CI's run
#   scripts/fuzz.sh SECONDS          every target SECONDS
#   scripts/fuzz.sh SECONDS T1 T2    only the targets named
#
# Exits non-zero when a target crashes (a panic, a sanitizer report, an input that
# runs over 10 s or past 2 GB); the input is kept in $CARGO_TARGET_DIR/fuzz/artifacts/T/.
# Prints each target's executions. The working corpus is kept between runs in
# $CARGO_TARGET_DIR/fuzz/corpus/T, seeded from fuzz/seeds/T and the built test guests.
# Runs niced, one fuzzer process at a time.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

usage() { echo "usage: $0 --smoke | SECONDS [TARGET...]" >&2; exit 2; }
[ $# -ge 1 ] || usage
smoke=0
case "$1" in
  --smoke) seconds=8; smoke=1 ;;
  ''|*[!0-9]*) usage ;;
  *) seconds=$1 ;;
esac
shift
all=(hostcalls loader config link package serve)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all[@]}"); fi

bash scripts/setup.sh --fuzz
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
export EDGEPLAY_GUESTS=${EDGEPLAY_GUESTS:-$CARGO_TARGET_DIR/guests/wasm}
# The loader's seeds and the serve target's guest.
bash scripts/build-guests.sh --rust-only >/dev/null

echo "== cargo +nightly fuzz build"
nice -n 10 cargo +nightly fuzz build >/dev/null
bin=$CARGO_TARGET_DIR/x86_64-unknown-linux-gnu/release
work=$CARGO_TARGET_DIR/fuzz

# Under the address sanitizer and cargo-fuzz's debug assertions wasmi needs far more
# native stack than the 8 MiB default (it overflows translating the echo guest); the
# 4 GiB are only reserved, not used.
ulimit -s 4194304

summary=()
failed=0
for t in "${targets[@]}"; do
  [ -x "$bin/$t" ] || { echo "no fuzz target $t (have: ${all[*]})" >&2; exit 2; }
  # The smoke run starts from the seeds alone: replaying a grown working corpus
  # would take longer than its minute.
  if [ "$smoke" = 1 ]; then corpus=$work/smoke-corpus/$t; rm -rf "$corpus"; else corpus=$work/corpus/$t; fi
  artifacts=$work/artifacts/$t
  mkdir -p "$corpus" "$artifacts"
  seeds=("fuzz/seeds/$t")
  max_len=65536
  case "$t" in
    # Programs of up to ~40 hostcalls: longer ones run at a few a second.
    hostcalls) max_len=1024 ;;
    # The malformed wasm corpus, and mutated real guests (up to ~900 KB each, a
    # few a second: not in the smoke run, where they would take its whole time).
    loader)
      seeds=("tests/malformed/wasm")
      [ "$smoke" = 1 ] || seeds+=("$EDGEPLAY_GUESTS")
      max_len=$((4 << 20)) ;;
  esac
  log=$work/$t.log
  echo "== fuzz $t: ${seconds}s"
  set +e
  nice -n 10 "$bin/$t" "$corpus" "${seeds[@]}" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len="$max_len" \
    -print_final_stats=1 -artifact_prefix="$artifacts/" >"$log" 2>&1
  rc=$?
  set -e
  runs=$(awk '/^stat::number_of_executed_units/ {print $NF}' "$log" | tail -n1)
  runs=${runs:-0}
  if [ "$rc" != 0 ]; then
    failed=1
    echo "!! $t crashed (exit $rc): see $log; the input is in $artifacts/"
    grep -E 'panicked at|ERROR: |SUMMARY: |Test unit written' "$log" | head -n 12 || true
    summary+=("$t: CRASH after ${runs} executions")
  else
    summary+=("$t: ${runs} executions in ${seconds}s, no crash")
  fi
done

echo "== fuzzing summary"
printf '%s\n' "${summary[@]}"
exit "$failed"
