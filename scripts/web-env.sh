# Sourced by scripts/run.sh, test.sh and bench.sh: the tools the browser build uses
# first on PATH (wasm-opt from npm's binaryen 132, cargo-installed trunk and
# wasm-bindgen), so trunk finds the pinned versions and downloads nothing.
EDGEPLAY_CACHE=${EDGEPLAY_CACHE:-$HOME/.cache/edgeplay}
export PATH="$EDGEPLAY_CACHE/binaryen/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
