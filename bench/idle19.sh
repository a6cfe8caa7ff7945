#!/usr/bin/env bash
# Session 19's three issue-16 rows, for an idle machine (≈ 3 min after the build), each peer interleaved run by run in
# the same run:
#  1. profile of flights-3m vs pandas + pyarrow computing the same statistics (imports excluded on both sides);
#  2. restore of a sealed 1 GiB object, `mloop datasets checkout` (the CLI) vs `dvc checkout` (and `--verify`);
#  3. drift against a stored reference profile vs the pandas + scipy script (process start included on both sides).
# DVC must be compiled (.pyc): see bench/idle18.sh for its venv. Then, after `bash scripts/with-node.sh node
# scripts/build.mjs`:  bash bench/idle19.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DVC=${MLOOP_BENCH_DVC:-/tmp/dvcenv/bin/dvc}
step() { echo "##### $1 $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"; }
step "profile (datasetsBench, 5 interleaved runs)"
bash scripts/with-node.sh npx esbuild bench/datasets/datasetsBench.ts --bundle --platform=node --format=cjs \
  --external:better-sqlite3 --outfile=out/bench/datasets/datasetsBench.js --log-level=warning
MLOOP_BENCH_ONLY=profile MLOOP_BENCH_RUNS=5 bash scripts/with-node.sh node out/bench/datasets/datasetsBench.js
step "restore (cacheBench, 3 interleaved runs)"
bash scripts/with-node.sh npx esbuild bench/cache/cacheBench.ts --bundle --platform=node --format=cjs \
  --external:better-sqlite3 --loader:.py=text --outfile=.bench-out/cacheBench.js --log-level=warning
MLOOP_BENCH_RUNS=3 MLOOP_BENCH_DVC="$DVC" bash scripts/with-node.sh node .bench-out/cacheBench.js
step "drift against a stored profile (driftBench.py, 5 interleaved runs)"
bash scripts/with-node.sh python3 bench/drift/driftBench.py --runs 5 --skip-evidently
step "end"
