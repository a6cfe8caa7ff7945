#!/usr/bin/env bash
# Every headline row of BENCHMARKS.md in one command, each with its peer interleaved run by run, for an idle machine
# (≈ 15–20 min after the data exist; the first run also makes the data and the Python venvs, ≈ 5 more). It reuses the
# row benches under bench/ as they are; this script only builds them, makes their data under one scratch folder, runs
# them in turn with the time and load average around each step, keeps each step's whole output, and extracts each
# row's figures (bench/collect.mjs) into a JSON-lines summary that bench/summarize.mjs turns into BENCHMARKS.md's
# table:
#   bash bench/all.sh && bash scripts/with-node.sh node bench/summarize.mjs "$MLOOP_BENCH_DIR/summary.jsonl"
#
# Knobs:
#   MLOOP_BENCH_DIR     scratch folder (default /tmp/mloop-bench-all): data, venvs, logs/, summary.jsonl
#   MLOOP_BENCH_QUICK=1 a quick pass that proves every step works (fewer runs, smaller files, shorter gateway rounds);
#                       its figures are not the goals' (the summary marks them "quick")
#   MLOOP_BENCH_STEPS   the steps to run, comma-separated (default: all of them, in this order):
#                       drift,profile,history,ingest,cache,monitor,monitorPeers,gateway,addedP99,sweep,repro
#                       (their rows are added to the summary already there, replacing those rows in the table)
#   MLOOP_BENCH_SKIP_BUILD=1   use the dist/ and out/ already built
#   MLOOP_BENCH_DVC / EVIDENTLY_PYTHON   a DVC executable / an Evidently venv's python to use instead of making them
# Peers it installs once into the scratch folder, all compiled to .pyc as a pip install leaves them (BENCHMARKS.md,
# "Python peers and compiled bytecode"): Evidently 0.7.23 (pip, its own venv on top of the system's pandas/scipy) and
# DVC 3.64.0 (uv). nginx and wrk must be on PATH for the gateway steps (apt-get install -y nginx-light wrk).
# The Experiments Table rows (a 100,000-run store of ~1 GB, minutes to write) are not in this script: their commands
# are in BENCHMARKS.md's table.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DIR=${MLOOP_BENCH_DIR:-/tmp/mloop-bench-all}
QUICK=${MLOOP_BENCH_QUICK:-0}
STEPS=${MLOOP_BENCH_STEPS:-drift,profile,history,ingest,cache,monitor,monitorPeers,gateway,addedP99,sweep,repro}
SUMMARY=$DIR/summary.jsonl
LOGS=$DIR/logs
mkdir -p "$DIR" "$LOGS"
node_() { bash scripts/with-node.sh node "$@"; }
# the Python peers' console scripts (`mlflow server`) sit next to python3's executable; a pyenv shim folder may not have them
PATH="$(python3 -c 'import os, sys; print(os.path.dirname(os.path.realpath(sys.executable)))'):$PATH"
export PATH
# per knob: the full pass's value, then the quick pass's
pick() { if [ "$QUICK" = 1 ]; then echo "$2"; else echo "$1"; fi; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
now() { date -u +%H:%M:%S; }
want() { [[ ",$STEPS," == *",$1,"* ]]; }
# a whole pass starts a new summary; a pass of some steps adds to it (summarize.mjs reads the last row of each goal)
[ -z "${MLOOP_BENCH_STEPS:-}" ] && : >"$SUMMARY"
started=$(date +%s)
echo "{\"type\":\"pass\",\"date\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"commit\":\"$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo '+dirty')\",\"quick\":$([ "$QUICK" = 1 ] && echo true || echo false),\"machine\":\"$(nproc) × $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(($(grep MemTotal /proc/meminfo | awk '{print $2}') / 1048576)) GB\",\"node\":\"$(node_ -v)\",\"load\":\"$(load)\"}" >>"$SUMMARY"

failed=()
# run_step <name> <command…>: the command's whole output goes to logs/<name>.log (and the terminal); then its rows are
# extracted. A failed step is recorded and the next one runs.
run_step() {
  local name=$1
  shift
  local t0 l0 rc
  t0=$(date +%s.%N)
  l0=$(load)
  echo "##### $name $(now) load $l0"
  "$@" > >(tee "$LOGS/$name.log") 2>&1
  rc=$?
  sleep 0.2 # let tee finish the log
  local secs
  secs=$(printf "%.3f" "$(echo "$(date +%s.%N) - $t0" | bc)") # a leading 0 below 1 s: JSON has no ".2"
  echo "##### $name done (exit $rc) $(now) after ${secs%.*} s, load $(load)"
  echo "{\"type\":\"step\",\"step\":\"$name\",\"exit\":$rc,\"seconds\":$secs,\"loadBefore\":\"$l0\",\"loadAfter\":\"$(load)\",\"log\":\"$LOGS/$name.log\"}" >>"$SUMMARY"
  if [ "$rc" -ne 0 ]; then
    failed+=("$name")
    return
  fi
  node_ bench/collect.mjs "$name" "$LOGS/$name.log" "$QUICK" >>"$SUMMARY" || failed+=("$name (collect)")
}

# ---- build: the product, then the row benches that scripts/build.mjs does not bundle ----
if [ "${MLOOP_BENCH_SKIP_BUILD:-0}" != 1 ]; then
  echo "##### build $(now) load $(load)"
  node_ scripts/build.mjs || exit 1
  for b in datasets/datasetsBench metrics/historyBench ingest/ingestBench monitoring/monitorBench; do
    bash scripts/with-node.sh npx esbuild "bench/$b.ts" --bundle --platform=node --format=cjs --external:better-sqlite3 \
      --loader:.py=text --outfile="out/bench/$b.js" --log-level=warning || exit 1
  done
  # cacheBench finds dist/cli.js next to its bundle's folder
  bash scripts/with-node.sh npx esbuild bench/cache/cacheBench.ts --bundle --platform=node --format=cjs \
    --external:better-sqlite3 --loader:.py=text --outfile=.bench-out/cacheBench.js --log-level=warning || exit 1
fi

# ---- data and peers, made once under $DIR ----
echo "##### data $(now) load $(load)"
FLIGHTS=node_modules/vega-datasets/data/flights-3m.parquet
[ -f "$FLIGHTS" ] || { echo "$FLIGHTS is missing: npm ci installs vega-datasets" >&2; exit 1; }
compiled() { # <python> <package>: refuse a venv whose package has no .pyc (its imports would be charged a compile)
  local pkg
  pkg=$("$1" -c "import importlib.util, os; print(os.path.dirname(importlib.util.find_spec('$2').origin))") || return 1
  find "$pkg" -name '*.pyc' -print -quit | grep -q . || { echo "$2 in $1's venv has no .pyc files: run $1 -m compileall -q -j 2 on its lib/" >&2; return 1; }
}
EV=${EVIDENTLY_PYTHON:-$DIR/evenv/bin/python}
if want drift && ! "$EV" -c "import evidently" 2>/dev/null; then
  python3 -m venv --system-site-packages "$DIR/evenv" && "$DIR/evenv/bin/pip" install -q evidently==0.7.23 "pandas<3" &&
    "$DIR/evenv/bin/python" -m compileall -q -j 2 "$DIR/evenv/lib" || { echo "Evidently venv failed" >&2; exit 1; }
fi
DVC=${MLOOP_BENCH_DVC:-$DIR/dvcenv/bin/dvc}
if { want cache || want repro; } && [ ! -x "$DVC" ]; then
  uv venv -q "$DIR/dvcenv" && uv pip install -q --compile-bytecode --python "$DIR/dvcenv/bin/python" dvc==3.64.0 pathspec==0.12.1 ||
    { echo "DVC venv failed" >&2; exit 1; }
fi
if want drift; then compiled "$EV" evidently || exit 1; fi
if want cache || want repro; then compiled "$(dirname "$DVC")/python" dvc || exit 1; fi
MONITOR_ROWS=$(pick 1000000 1000000)
PEER_ROWS=$(pick 200000 50000)
if want monitor && [ ! -f "$DIR/monitor$MONITOR_ROWS/logs/labels.csv" ]; then
  python3 bench/monitoring/make_data.py "$DIR/monitor$MONITOR_ROWS" "$MONITOR_ROWS" 100000 || exit 1
fi
if want monitorPeers && [ ! -f "$DIR/monitor$PEER_ROWS/logs/labels.csv" ]; then
  python3 bench/monitoring/make_data.py "$DIR/monitor$PEER_ROWS" "$PEER_ROWS" $((PEER_ROWS / 4)) || exit 1
fi
echo "##### data ready $(now) after $(($(date +%s) - started)) s, load $(load)"

# ---- the rows, one step each ----
want drift && run_step drift bash scripts/with-node.sh python3 bench/drift/driftBench.py --runs "$(pick 5 2)" --evidently-python "$EV"
want profile && run_step profile env MLOOP_BENCH_ONLY=profile MLOOP_BENCH_RUNS="$(pick 9 3)" \
  bash scripts/with-node.sh node out/bench/datasets/datasetsBench.js
want history && run_step history env MLOOP_BENCH_RUNS="$(pick 7 2)" bash scripts/with-node.sh node out/bench/metrics/historyBench.js
want ingest && run_step ingest env MLOOP_BENCH_RUNS="$(pick 5 1)" MLOOP_BENCH_POINTS="$(pick 1000000 200000)" \
  MLOOP_BENCH_MLFLOW_WORKERS=1 MLOOP_BENCH_MLFLOW_POINTS="$(pick 100000 20000)" \
  bash scripts/with-node.sh node out/bench/ingest/ingestBench.js
want cache && run_step cache env MLOOP_BENCH_RUNS="$(pick 3 1)" MLOOP_BENCH_BIG_BYTES="$(pick $((1 << 30)) $((1 << 28)))" \
  MLOOP_BENCH_DVC="$DVC" bash scripts/with-node.sh node .bench-out/cacheBench.js
want monitor && run_step monitor env MLOOP_BENCH_SKIP_PEERS=1 \
  bash scripts/with-node.sh node out/bench/monitoring/monitorBench.js "$DIR/monitor$MONITOR_ROWS" "$(pick 3 1)"
want monitorPeers && run_step monitorPeers env MLOOP_BENCH_SKIP_CLI=1 MLOOP_BENCH_COMPUTE_RUNS="$(pick 9 3)" \
  bash scripts/with-node.sh node out/bench/monitoring/monitorBench.js "$DIR/monitor$PEER_ROWS" "$(pick 3 1)"
want gateway && run_step gateway env ROUNDS="$(pick 3 1)" WRK_SECONDS="$(pick 4 2)" RATE_SECONDS="$(pick 5 2)" \
  bash scripts/with-node.sh node bench/gateway/nginxBench.mjs
# the full pass runs the bench's sequential decision (looks every 12 cycles, up to 48); the quick pass 4 fixed cycles
want addedP99 && run_step addedP99 env $([ "$QUICK" = 1 ] && echo CYCLES=4) bash scripts/with-node.sh node bench/gateway/addedLatency.mjs
want sweep && run_step sweep env MLOOP_BENCH_RUNS="$(pick 3 1)" MLOOP_BENCH_TRIALS=20 \
  bash scripts/with-node.sh node out/bench/experiments/sweepBench.js
want repro && run_step repro env MLOOP_BENCH_RUNS="$(pick 5 2)" MLOOP_BENCH_BYTES="$(pick $((1 << 30)) $((1 << 28)))" \
  MLOOP_BENCH_DVC="$DVC" bash scripts/with-node.sh node out/bench/experiments/reproBench.js

echo "{\"type\":\"end\",\"seconds\":$(($(date +%s) - started)),\"load\":\"$(load)\",\"failed\":\"${failed[*]:-}\"}" >>"$SUMMARY"
echo "##### all done $(now) after $(($(date +%s) - started)) s, load $(load); summary: $SUMMARY"
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed steps: ${failed[*]}" >&2
  exit 1
fi
