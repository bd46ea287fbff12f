#!/usr/bin/env bash
# trunk's pre-build hook: build the example guests from source (scripts/build-guests.sh)
# and stage the ones the examples menu offers in web/examples/ (gitignored), which
# index.html copies into dist/examples/. Also stage the JS SDK's engine (the
# `fastly.wasm` of the pinned @fastly/js-compute that tests/js/build.sh installs from
# npm) in web/engine/ (gitignored) with its version, for building JavaScript in the tab.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
guests=${EDGEPLAY_GUESTS:-$target/guests/wasm}
EDGEPLAY_GUESTS="$guests" bash "$root/scripts/build-guests.sh" >/dev/null
mkdir -p "$root/web/examples"
# The examples menu (src/examples.rs) lists these.
for g in hello echo stream logging config js-app fanout visits proxy readthrough; do
  cp -u "$guests/$g.wasm" "$root/web/examples/$g.wasm"
done
# The engine comes from the npm package (build-guests.sh installed it for js-app),
# never from git: dist/engine/fastly.wasm and dist/engine/engine.json.
sdk="${EDGEPLAY_CACHE:-$HOME/.cache/edgeplay}/js/node_modules/@fastly/js-compute"
if [ ! -f "$sdk/fastly.wasm" ] || [ ! -f "$sdk/package.json" ]; then
  echo "stage-examples: $sdk/fastly.wasm is missing (tests/js/build.sh installs it)" >&2
  exit 1
fi
mkdir -p "$root/web/engine"
cp -u "$sdk/fastly.wasm" "$root/web/engine/fastly.wasm"
version=$(node -p "require(process.argv[1]).version" "$sdk/package.json")
printf '{"package":"@fastly/js-compute","version":"%s","file":"fastly.wasm","size":%s}\n' \
  "$version" "$(stat -c %s "$root/web/engine/fastly.wasm")" >"$root/web/engine/engine.json.tmp"
mv "$root/web/engine/engine.json.tmp" "$root/web/engine/engine.json"
# The JS editor: CodeMirror 6 from npm (web/editor/package-lock.json), bundled by
# esbuild into web/codemirror/editor.js (gitignored), which index.html copies.
editor="$root/web/editor"
if [ ! -x "$editor/node_modules/.bin/esbuild" ] || [ "$editor/package-lock.json" -nt "$editor/node_modules/.package-lock.json" ]; then
  (cd "$editor" && npm ci --no-audit --no-fund >/dev/null)
fi
mkdir -p "$root/web/codemirror"
if [ ! -f "$root/web/codemirror/editor.js" ] || [ "$editor/editor.src.js" -nt "$root/web/codemirror/editor.js" ] \
   || [ "$editor/package-lock.json" -nt "$root/web/codemirror/editor.js" ]; then
  "$editor/node_modules/.bin/esbuild" "$editor/editor.src.js" --bundle --minify --format=iife \
    --log-level=warning --outfile="$root/web/codemirror/editor.js"
fi
# The bundler for npm imports in the tab: esbuild-wasm from the same lockfile, in
# web/esbuild/ (gitignored); the worker loads it on first use (web/bundler.js).
mkdir -p "$root/web/esbuild"
cp -u "$editor/node_modules/esbuild-wasm/esbuild.wasm" "$root/web/esbuild/esbuild.wasm"
cp -u "$editor/node_modules/esbuild-wasm/lib/browser.min.js" "$root/web/esbuild/browser.min.js"
