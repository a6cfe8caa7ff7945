#!/usr/bin/env bash
# `npm run demo`: sets up, builds, and opens examples/weather with this checkout's mloop loaded.
#   - desktop VS Code (`code` on PATH): opens a window with --extensionDevelopmentPath
#   - otherwise code-server on 127.0.0.1 with a random password, mloop installed by symlink;
#     runs in the foreground until Ctrl-C, then stops its whole process group
#   --check  (CI) start the code-server demo, wait in headless Chromium until the mloop icon shows
#            in the activity bar, save test-results/demo.png, stop; exit 0 when the icon showed
#   --server use code-server even when `code` exists
# Env: MLOOP_DEMO_PORT (default: a free port), MLOOP_DEMO_WORKSPACE (default: examples/weather)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
say() { echo "demo: $*" >&2; }
die() { echo "demo: ERROR: $*" >&2; exit 1; }

CHECK=0
FORCE_SERVER=0
for arg in "$@"; do
  case "$arg" in
    --check) CHECK=1 ;;
    --server) FORCE_SERVER=1 ;;
    -h|--help) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $arg (use --check, --server or --help)" ;;
  esac
done

bash "$ROOT/scripts/setup.sh" || die "setup failed (see above)"
# shellcheck source=node-env.sh
source "$ROOT/scripts/node-env.sh"
export PATH="$ROOT/node_modules/.bin:$PATH"
say "building"
node scripts/build.mjs >&2 || die "build failed"

WORKSPACE="${MLOOP_DEMO_WORKSPACE:-$ROOT/examples/weather}"
if ! [ -d "$WORKSPACE" ]; then
  WORKSPACE="$(mktemp -d "${TMPDIR:-/tmp}/mloop-demo-XXXXXX")"
  say "examples/weather is missing; opening an empty folder $WORKSPACE instead"
fi
WORKSPACE="$(cd "$WORKSPACE" && pwd)"

# the extension opens "Get started with mloop" on this workspace's first start (src/vscode/project/walkthrough.ts)
export MLOOP_OPEN_WALKTHROUGH=1
next_step() { node scripts/demoNextStep.mjs "$WORKSPACE" >&2 || true; }

if [ "$CHECK" -eq 0 ] && [ "$FORCE_SERVER" -eq 0 ] && command -v code >/dev/null; then
  say "opening $WORKSPACE in desktop VS Code with this checkout as the extension under development"
  next_step
  exec code --new-window --extensionDevelopmentPath="$ROOT" "$WORKSPACE"
fi

# --- code-server --------------------------------------------------------------------------------
ENTRY="$ROOT/.tools/code-server/node_modules/code-server/out/node/entry.js"
[ -f "$ENTRY" ] || die "code-server is not installed in .tools/code-server (scripts/setup.sh should have done it)"
VERSION="$(node -p 'require("./package.json").version')"
PUBLISHER="$(node -p 'require("./package.json").publisher')"
NAME="$(node -p 'require("./package.json").name')"

# the demo keeps its settings between runs; the check starts from nothing every time
if [ "$CHECK" -eq 1 ]; then RUN="$ROOT/.tools/demo-check"; rm -rf "$RUN"; else RUN="$ROOT/.tools/demo"; fi
EXTS="$RUN/exts"
mkdir -p "$RUN/ud/User" "$EXTS" "$RUN/xdg"
# an installed extension that IS this checkout: a rebuild shows up on the next window reload
find "$EXTS" -maxdepth 1 -name "$PUBLISHER.$NAME-*" ! -name "$PUBLISHER.$NAME-$VERSION" -exec rm -rf {} + 2>/dev/null || true
ln -sfn "$ROOT" "$EXTS/$PUBLISHER.$NAME-$VERSION"
if ! [ -f "$RUN/ud/User/settings.json" ]; then
  cat > "$RUN/ud/User/settings.json" <<'JSON'
{
  "workbench.startupEditor": "none",
  "workbench.tips.enabled": false,
  "workbench.secondarySideBar.defaultVisibility": "hidden",
  "telemetry.telemetryLevel": "off",
  "update.mode": "none",
  "extensions.autoCheckUpdates": false,
  "extensions.autoUpdate": false,
  "extensions.ignoreRecommendations": true,
  "chat.disableAIFeatures": true,
  "git.openRepositoryInParentFolders": "never"
}
JSON
fi

free_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
PORT="${MLOOP_DEMO_PORT:-$(free_port)}"
PASSWORD="$(node -p 'require("crypto").randomBytes(18).toString("base64url")')"
# the password lives in a 0600 file, never in argv where `ps` shows it
( umask 077; printf 'bind-addr: 127.0.0.1:%s\nauth: password\npassword: %s\ncert: false\n' "$PORT" "$PASSWORD" > "$RUN/config.yaml" )

LOG="$RUN/code-server.log"
: > "$LOG"
# VS Code terminals export IPC hooks that would make code-server talk to that editor instead
for var in $(env | sed -n 's/^\(VSCODE_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$var"; done
unset ELECTRON_RUN_AS_NODE
XDG_CONFIG_HOME="$RUN/xdg/config" XDG_DATA_HOME="$RUN/xdg/data" XDG_CACHE_HOME="$RUN/xdg/cache" XDG_STATE_HOME="$RUN/xdg/state" \
  setsid node "$ENTRY" \
    --config "$RUN/config.yaml" \
    --bind-addr "127.0.0.1:$PORT" \
    --auth password \
    --disable-telemetry \
    --disable-update-check \
    --disable-workspace-trust \
    --disable-getting-started-override \
    --user-data-dir "$RUN/ud" \
    --extensions-dir "$EXTS" \
    "$WORKSPACE" >"$LOG" 2>&1 < /dev/null &
PID=$!  # setsid without --fork execs in place: this pid leads the server's process group

stop_server() {
  trap - INT TERM EXIT
  if kill -0 "$PID" 2>/dev/null; then
    say "stopping code-server (process group $PID)"
    kill -TERM -- "-$PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    # the file watcher and other helpers can outlive the main process
    kill -KILL -- "-$PID" 2>/dev/null || true
  fi
  # deployments outlive the editor on purpose (a served model keeps answering): say what still serves and how to stop it
  if [ "$CHECK" -eq 0 ] && [ -f "$WORKSPACE/.mloop/mloop.db" ]; then
    local serving
    serving="$(cd "$WORKSPACE" && node "$ROOT/dist/cli.js" undeploy --all --dry-run 2>/dev/null | grep -v 'nothing serves' || true)"
    if [ -n "$serving" ]; then
      say "deployments outlive the editor on purpose; still serving:"
      echo "$serving" >&2
      say "stop them with: (cd '$WORKSPACE' && node '$ROOT/dist/cli.js' undeploy --all)"
    fi
  fi
}
trap 'stop_server; exit 130' INT
trap 'stop_server; exit 143' TERM
trap stop_server EXIT

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }
for _ in $(seq 300); do
  listening && break
  kill -0 "$PID" 2>/dev/null || { tail -n 30 "$LOG" >&2; die "code-server exited before listening (log $LOG)"; }
  sleep 0.1
done
listening || { tail -n 30 "$LOG" >&2; die "code-server did not listen on 127.0.0.1:$PORT within 30 s (log $LOG)"; }

URL="http://127.0.0.1:$PORT/?folder=$(node -p 'encodeURIComponent(process.argv[1])' "$WORKSPACE")"
if [ "$CHECK" -eq 1 ]; then
  say "checking that the workbench shows mloop ($URL)"
  status=0
  MLOOP_DEMO_PASSWORD="$PASSWORD" node out/test/harness/demoCheck.js --url "$URL" --screenshot "$ROOT/test-results/demo.png" || status=$?
  [ "$status" -eq 0 ] || tail -n 30 "$LOG" >&2
  exit "$status"
fi

cat >&2 <<EOF

  mloop demo is running (code-server, loopback only; mloop loaded from $ROOT)
    URL:       $URL
    password:  $PASSWORD
    workspace: $WORKSPACE
    log:       $LOG
  From another machine: ssh -L $PORT:127.0.0.1:$PORT <this host>, then open the URL.
  After "npm run build", reload the browser window to load the new build.
  Ctrl-C stops it.

EOF
next_step
echo >&2
# stay in the foreground until the server exits or Ctrl-C runs the trap
wait "$PID" || true
say "code-server exited (log $LOG)"
