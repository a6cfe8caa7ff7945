#!/usr/bin/env bash
# Branch speed18b's row, for an idle machine (≈ 1-2 min after the build): drift against a stored reference profile vs
# the pandas + scipy script on flights-3m, whole processes interleaved (bench/drift/driftBench.py, no Evidently).
# Run after `bash scripts/with-node.sh node scripts/build.mjs`.
set -euo pipefail
cd "$(dirname "$0")/.."
uptime
bash scripts/with-node.sh python3 bench/drift/driftBench.py --runs 5 --skip-evidently | grep -E 'mloop|pandas'
uptime
