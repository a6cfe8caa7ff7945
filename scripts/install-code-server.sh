#!/usr/bin/env bash
# Installs the pinned code-server (VS Code's workbench + a Node extension host) into .tools/code-server,
# outside the extension's own dependencies. Needs Node 24 (engines.node of code-server) and libkrb5-dev.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/node-env.sh"
CODE_SERVER_VERSION="${CODE_SERVER_VERSION:-4.139.1}"
DEST="$MLOOP_ROOT/.tools/code-server"
BIN="$DEST/node_modules/.bin/code-server"
installed_version() { node -p "require('$DEST/node_modules/code-server/package.json').version" 2>/dev/null; }
# read the version from package.json: running `code-server --version` writes a config into $HOME
if [ -x "$BIN" ] && [ "$(installed_version)" = "$CODE_SERVER_VERSION" ]; then
  echo "code-server $CODE_SERVER_VERSION already in $DEST" >&2
  exit 0
fi
if ! [ -e /usr/include/gssapi/gssapi.h ] && ! [ -e /usr/include/krb5.h ]; then
  echo "mloop: code-server compiles kerberos and needs libkrb5-dev: apt-get install -y libkrb5-dev" >&2
  exit 1
fi
mkdir -p "$DEST"
[ -f "$DEST/package.json" ] || echo '{"name":"mloop-code-server","private":true}' > "$DEST/package.json"
echo "mloop: installing code-server@$CODE_SERVER_VERSION into $DEST (about 2 minutes)" >&2
# code-server's postinstall reads the Node version from $npm_config_user_agent, which an outer
# `npm test` / `npm run demo` started by an older system Node would leak into this install
( cd "$DEST" && env -u npm_config_user_agent npm install --no-save --no-package-lock "code-server@$CODE_SERVER_VERSION" >&2 )
echo "installed code-server $(installed_version)" >&2
