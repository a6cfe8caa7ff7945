#!/usr/bin/env bash
# `npm test`: installs what a fresh machine lacks, builds, type-checks and lints, then runs the
# unit, integration (inside a real VS Code) and e2e (driving its UI) suites. Args pick suites.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
fail() { echo "$1" >&2; echo "0 passed, 1 failed"; exit 1; }

# code-server installs in the background while the build, the checks and the unit tests run (test/runAll.ts waits)
MLOOP_CODE_SERVER_IN_BACKGROUND=1 bash scripts/setup.sh || fail "setup failed (see above)"
source scripts/node-env.sh || fail "could not provide Node >= 22"
export PATH="$PWD/node_modules/.bin:$PATH"

node scripts/build.mjs || fail "build failed"
echo "type-checking (extension, vscode-free core, webviews) and linting…"
tsc --noEmit -p . && tsc --noEmit -p src/core && tsc --noEmit -p webview || fail "type check failed"
biome format . >/dev/null || fail "formatting differs from biome.json: run npm run format (biome format . shows the diff)"
eslint . || fail "lint failed"

node --expose-gc out/test/runAll.js "$@"
