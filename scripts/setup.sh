#!/usr/bin/env bash
# Makes a fresh Debian/Ubuntu machine ready to build, test and demo mloop. Idempotent and
# non-interactive (fine under CI=true): each step runs only when its result is missing.
# Downloads come only from the apt mirrors and the npm registry.
#   1. Node >= 22 first on PATH (node-env.sh bootstraps Node 24 from npm when needed)
#   2. apt: chromium (the e2e tests' browser), openssh-client (ssh-keygen) and, when code-server still has to be built, libkrb5-dev
#   3. npm ci when node_modules is missing or older than package-lock.json
#   4. code-server (pinned) into .tools/code-server (in the background with MLOOP_CODE_SERVER_IN_BACKGROUND=1)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
say() { echo "setup: $*" >&2; }
die() { echo "setup: ERROR: $*" >&2; exit 1; }

# shellcheck source=node-env.sh
source "$ROOT/scripts/node-env.sh" || die "could not provide Node >= 22 (see the message above)"
say "node $(node -v) at $(command -v node)"

apt_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
code_server_ready() {
  local manifest="$ROOT/.tools/code-server/node_modules/code-server/package.json" want
  want="$(sed -n 's/^CODE_SERVER_VERSION="\${CODE_SERVER_VERSION:-\(.*\)}"$/\1/p' "$ROOT/scripts/install-code-server.sh")"
  # read the manifest rather than run `code-server --version`, which writes a config file into $HOME
  [ -f "$manifest" ] && [ "$(node -p 'require(process.argv[1]).version' "$manifest")" = "${CODE_SERVER_VERSION:-$want}" ]
}

# --- 2. system packages -------------------------------------------------------------------------
missing=()
if [ -z "${MLOOP_CHROMIUM:-}" ] && ! [ -x /usr/bin/chromium ]; then missing+=(chromium); fi
# ssh-keygen signs and verifies audit entries (mloop audit sign / verify, and their tests)
if ! command -v ssh-keygen >/dev/null; then missing+=(openssh-client); fi
# libkrb5-dev is only needed to compile code-server's kerberos module during its install
if ! code_server_ready && ! [ -e /usr/include/gssapi/gssapi.h ] && ! [ -e /usr/include/krb5.h ]; then missing+=(libkrb5-dev); fi
if [ "${#missing[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null || die "missing ${missing[*]} and this system has no apt-get: install them with your package manager (or point MLOOP_CHROMIUM at a Chromium binary)"
  if [ "$(id -u)" -eq 0 ]; then
    as_root=()
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  else
    die "missing ${missing[*]}; installing them needs root. Run: sudo apt-get install -y ${missing[*]}  (then re-run this script)"
  fi
  say "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # a fresh container has empty package lists; refresh them once, only when the install needs it
  if ! "${as_root[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >&2; then
    say "apt-get update (package lists may be stale)"
    "${as_root[@]}" apt-get update >&2 || die "apt-get update failed"
    "${as_root[@]}" apt-get install -y --no-install-recommends "${missing[@]}" >&2 || die "apt-get install ${missing[*]} failed"
  fi
else
  say "system packages present (chromium${MLOOP_CHROMIUM:+ at $MLOOP_CHROMIUM}; libkrb5-dev not needed or present)"
fi

# --- 3. npm dependencies ------------------------------------------------------------------------
# Installed means: node_modules holds what this exact package-lock.json describes (its hash is stamped
# after a successful npm ci). Content, not mtimes: a checkout or merge that rewrites an unchanged lockfile
# must not trigger a reinstall.
lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1)"
stamp=node_modules/.mloop-lock-sha256
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$lock_hash" ]; then
  say "node_modules up to date with package-lock.json"
elif [ -L node_modules ]; then
  # a shared node_modules (a git worktree's symlink): npm ci would replace the link and empty its target
  die "node_modules is a symlink to $(readlink node_modules) whose install does not match this package-lock.json; run npm ci where it points"
else
  say "npm ci (node_modules missing or not installed from this package-lock.json)"
  npm ci --no-audit --no-fund >&2 || die "npm ci failed"
  printf '%s\n' "$lock_hash" > "$stamp"
fi

# --- 4. code-server -----------------------------------------------------------------------------
# MLOOP_CODE_SERVER_IN_BACKGROUND=1 (npm test): the install runs while the build, the checks and the unit tests do,
# none of which need it; test/runAll.js waits for .tools/code-server-install.status before the first suite that does.
pending="$ROOT/.tools/code-server-install.pending"
if code_server_ready; then
  say "code-server present in .tools/code-server"
elif [ "${MLOOP_CODE_SERVER_IN_BACKGROUND:-}" = 1 ]; then
  mkdir -p "$ROOT/.tools"
  rm -f "$ROOT/.tools/code-server-install.status"
  say "installing code-server into .tools/code-server in the background (log: .tools/code-server-install.log)"
  (
    bash "$ROOT/scripts/install-code-server.sh" </dev/null >"$ROOT/.tools/code-server-install.log" 2>&1
    echo "$?" >"$ROOT/.tools/code-server-install.status"
  ) &
  echo "$!" >"$pending"
else
  say "installing code-server into .tools/code-server (about 2 minutes)"
  bash "$ROOT/scripts/install-code-server.sh" || die "code-server install failed (see above)"
fi
say "ready"
