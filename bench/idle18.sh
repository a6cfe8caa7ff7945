#!/usr/bin/env bash
# Session 18's two rows, for an idle machine (≈ 2-3 min after the build): drift against a stored reference profile vs
# the pandas + scipy script on flights-3m (plus mloop with both files read; Evidently is left out, see bench/idle17.sh),
# and the content store's restore vs `dvc checkout` (sealed object: kernel copy, no re-hash, as DVC trusts its state db;
# and with --verify: the object read and hashed while it is copied, work DVC does not do). DVC must be compiled (.pyc).
#
# Once (not in CI):
#   uv venv /tmp/dvcenv && uv pip install --python /tmp/dvcenv/bin/python dvc==3.64.0 pathspec==0.12.1 \
#     && /tmp/dvcenv/bin/python -m compileall -q -j 2 /tmp/dvcenv/lib
# Then, after `bash scripts/with-node.sh node scripts/build.mjs`:  bash bench/idle18.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DVC=${MLOOP_BENCH_DVC:-/tmp/dvcenv/bin/dvc}
pkg=$("$(dirname "$DVC")/python" -c "import importlib.util, os; print(os.path.dirname(importlib.util.find_spec('dvc').origin))")
if ! find "$pkg" -name '*.pyc' -print -quit | grep -q .; then
  echo "dvc in $DVC's venv has no .pyc files: run $(dirname "$DVC")/python -m compileall -q -j 2 on its lib/ first" >&2
  exit 2
fi
uptime
bash scripts/with-node.sh python3 bench/drift/driftBench.py --runs 5 --skip-evidently
uptime
bash scripts/with-node.sh npx esbuild bench/cache/cacheBench.ts --bundle --platform=node --format=cjs \
  --external:better-sqlite3 --loader:.py=text --outfile=.bench-out/cacheBench.js --log-level=warning
MLOOP_BENCH_RUNS=3 MLOOP_BENCH_DVC="$DVC" bash scripts/with-node.sh node .bench-out/cacheBench.js
uptime
