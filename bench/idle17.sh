#!/usr/bin/env bash
# Session 17's headline peer rows, for an idle machine (≈ 3-4 min after the build): drift on flights-3m (mloop with
# both files, mloop against a stored reference profile, the pandas + scipy script, Evidently) and the content store's
# record / restore / unchanged against DVC. The drift part also times the stored-profile check with a cold and an off
# compile cache (--cache-rows; the mloop rows themselves run with a warmed cache folder of their own). Every Python
# peer runs with compiled bytecode (.pyc), as a pip install leaves it; the script refuses to run a venv without it
# (BENCHMARKS.md, "Python peers and compiled bytecode").
#
# Once (not in CI):
#   python3 -m venv --system-site-packages .venv-ev && .venv-ev/bin/pip install evidently==0.7.23 "pandas<3" \
#     && .venv-ev/bin/python -m compileall -q -j 2 .venv-ev/lib
#   uv venv /tmp/dvcenv && uv pip install --python /tmp/dvcenv/bin/python dvc==3.64.0 pathspec==0.12.1 \
#     && /tmp/dvcenv/bin/python -m compileall -q -j 2 /tmp/dvcenv/lib
# Then, after `bash scripts/with-node.sh node scripts/build.mjs`:  bash bench/idle17.sh
set -euo pipefail
cd "$(dirname "$0")/.."
EV=${EVIDENTLY_PYTHON:-.venv-ev/bin/python}
DVC=${MLOOP_BENCH_DVC:-/tmp/dvcenv/bin/dvc}
compiled() {
  local pkg
  pkg=$("$1" -c "import importlib.util, os; print(os.path.dirname(importlib.util.find_spec('$2').origin))")
  if ! find "$pkg" -name '*.pyc' -print -quit | grep -q .; then
    echo "$2 in $1's venv has no .pyc files: run $1 -m compileall -q -j 2 on its lib/ first" >&2
    exit 2
  fi
}
compiled "$EV" evidently
compiled "$(dirname "$DVC")/python" dvc
uptime
bash scripts/with-node.sh python3 bench/drift/driftBench.py --runs 3 --cache-rows --evidently-python "$EV"
uptime
bash scripts/with-node.sh npx esbuild bench/cache/cacheBench.ts --bundle --platform=node --format=cjs \
  --external:better-sqlite3 --loader:.py=text --outfile=.bench-out/cacheBench.js --log-level=warning
MLOOP_BENCH_RUNS=3 MLOOP_BENCH_DVC="$DVC" bash scripts/with-node.sh node .bench-out/cacheBench.js
uptime
