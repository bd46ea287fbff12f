#!/usr/bin/env bash
# Build tests/js/app.js into a Compute wasm with @fastly/js-compute.
#
# usage: tests/js/build.sh OUTPUT.wasm
#
# The SDK lives in ${EDGEPLAY_CACHE:-$HOME/.cache/edgeplay}/js, installed with npm only
# when the pinned version is missing. The build is skipped when OUTPUT is newer than
# both app.js and the cache's package.json. Never built with --enable-aot: edgeplay
# interprets the guest, it cannot run AOT-compiled code.
set -euo pipefail

JS_COMPUTE_VERSION=3.46.0

if [ $# -ne 1 ]; then
    echo "usage: $0 OUTPUT.wasm" >&2
    exit 2
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
app="$here/app.js"
out_dir=$(dirname "$1")
mkdir -p "$out_dir"
out="$(cd "$out_dir" && pwd)/$(basename "$1")"
cache="${EDGEPLAY_CACHE:-$HOME/.cache/edgeplay}/js"

installed_version() {
    local pkg="$cache/node_modules/@fastly/js-compute/package.json"
    [ -f "$pkg" ] && node -p "require(process.argv[1]).version" "$pkg" 2>/dev/null || true
}

if [ "$(installed_version)" != "$JS_COMPUTE_VERSION" ]; then
    echo "installing @fastly/js-compute@$JS_COMPUTE_VERSION into $cache" >&2
    mkdir -p "$cache"
    if [ ! -f "$cache/package.json" ]; then
        printf '{\n  "name": "edgeplay-js-sdk",\n  "private": true\n}\n' >"$cache/package.json"
    fi
    (cd "$cache" && npm install --save-exact --no-audit --no-fund \
        "@fastly/js-compute@$JS_COMPUTE_VERSION" >&2)
fi

if [ -f "$out" ] && [ "$out" -nt "$app" ] && [ "$out" -nt "$cache/package.json" ]; then
    echo "$out is up to date" >&2
    exit 0
fi

echo "building $out from $app" >&2
# Run from the cache so the SDK resolves its own dependencies from there.
(cd "$cache" && ./node_modules/.bin/js-compute-runtime "$app" "$out")
