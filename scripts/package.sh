#!/usr/bin/env bash
# `npm run package`: a production build and a .vsix. Pass `--target linux-x64` (etc.) for a
# platform VSIX that carries only that platform's better-sqlite3 binary.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/node-env.sh
export PATH="$PWD/node_modules/.bin:$PATH"
[ -d node_modules ] || npm ci
node scripts/build.mjs --production
vsce package --no-update-package-json --allow-missing-repository "$@"
ls -l ./*.vsix
