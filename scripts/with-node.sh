#!/usr/bin/env bash
# Runs a command with Node >= 22 first on PATH (bootstrapped by node-env.sh) and node_modules/.bin after it.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/node-env.sh"
export PATH="$MLOOP_ROOT/node_modules/.bin:$PATH"
exec "$@"
