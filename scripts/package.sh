#!/usr/bin/env bash
# `npm run package`: a production build and a .vsix. `npm run package -- --target linux-x64` (etc.)
# makes a platform VSIX that carries only that platform's better-sqlite3 binary.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/node-env.sh
export PATH="$PWD/node_modules/.bin:$PATH"
[ -d node_modules ] || npm ci
target=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --target) target="$2"; args+=("$1" "$2"); shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
ignore=.vscodeignore
if [ -n "$target" ]; then
  prebuild="node_modules/better-sqlite3/prebuilds/$target.node"
  [ -f "$prebuild" ] || { echo "no better-sqlite3 prebuild for $target (have: $(ls node_modules/better-sqlite3/prebuilds | tr '\n' ' '))" >&2; exit 2; }
  ignore=$(mktemp)
  trap 'rm -f "$ignore"' EXIT
  # vsce includes whatever any "!" line matches, so swap the all-prebuilds line for the one binary
  sed "s#^!node_modules/better-sqlite3/prebuilds/\*\*\$#!$prebuild#" .vscodeignore > "$ignore"
fi
node scripts/build.mjs --production
vsce package --no-update-package-json --allow-missing-repository --no-rewrite-relative-links --ignoreFile "$ignore" "${args[@]}"
ls -l ./*.vsix
