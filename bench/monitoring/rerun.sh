#!/usr/bin/env bash
# The headline monitoring comparison, short (about 3-4 minutes on the idle 2-core machine once the data exist):
# `mloop monitor --once` on 1M predictions (3 runs), CBPE vs NannyML (with the reads, and fit + estimate alone) and
# group metrics vs fairlearn on 200k (3 runs each, interleaved). Groups vs fairlearn on 1M is separate (fairlearn
# takes about a minute a run idle): MLOOP_BENCH_ONLY=groups MLOOP_BENCH_SKIP_CLI=1 node out/bench/monitoring/monitorBench.js /tmp/mb1m 3
# The data are made once and reused: /tmp/mb1m and /tmp/mb200k (make_data.py, seeded).
# usage (from the repository root, after `node scripts/build.mjs`): bash bench/monitoring/rerun.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -f /tmp/mb1m/logs/labels.csv ] || python3 bench/monitoring/make_data.py /tmp/mb1m 1000000 100000
[ -f /tmp/mb200k/logs/labels.csv ] || python3 bench/monitoring/make_data.py /tmp/mb200k 200000 50000
bash scripts/with-node.sh npx esbuild bench/monitoring/monitorBench.ts --bundle --platform=node --format=cjs \
  --external:better-sqlite3 --loader:.py=text --outfile=out/bench/monitoring/monitorBench.js --log-level=warning
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
MLOOP_BENCH_SKIP_PEERS=1 bash scripts/with-node.sh node out/bench/monitoring/monitorBench.js /tmp/mb1m 3
MLOOP_BENCH_SKIP_CLI=1 bash scripts/with-node.sh node out/bench/monitoring/monitorBench.js /tmp/mb200k 3
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
