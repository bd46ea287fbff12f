#!/usr/bin/env bash
# Build the playground and serve it on http://127.0.0.1:8080 (PORT=... to change).
# Installs what a fresh machine lacks first (scripts/setup.sh --web). The trunk build
# also builds the example guests from source (scripts/stage-examples.sh).
# The native runner has its own command: scripts/serve-guest.sh (see the README).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh --web
source scripts/web-env.sh
echo "== trunk build --release"
trunk build --release
port=${PORT:-8080}
echo "== serving dist/ — open http://127.0.0.1:$port/"
exec node scripts/serve-dist.mjs dist "$port"
