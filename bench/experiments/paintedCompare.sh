#!/bin/bash
# paintedBench.ts interleaved before/after as whole workbenches: a tree built from the base commit (with this tree's
# paintedBench.ts copied in) and this tree, base · after · base · after …, both on one copy of tableBench's store.
# Prints each run's lines, then per side and step the median painted ms and the median of each trace stage.
# Usage (from the repo root, both trees built with scripts/build.mjs; see BENCHMARKS.md, Experiments Table):
#   MLOOP_BENCH_PAIRS=3 MLOOP_BENCH_REPEAT=3 bash bench/experiments/paintedCompare.sh <base tree> <store folder>
set -euo pipefail
base=${1:?the base tree (built)}
store=${2:?the store folder (MLOOP_BENCH_STORE)}
after=$(pwd)
log=$(mktemp)
for pair in $(seq 1 "${MLOOP_BENCH_PAIRS:-3}"); do
  for side in base after; do
    dir=$after
    [ "$side" = base ] && dir=$base
    echo "=== $side pair $pair $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$log"
    (cd "$dir" && MLOOP_BENCH_STORE=$store MLOOP_BENCH_REPEAT=${MLOOP_BENCH_REPEAT:-3} bash scripts/with-node.sh node out/bench/experiments/paintedBench.js 2>&1) | tee -a "$log"
  done
done
echo "=== end $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$log" <<'PY'
import re, statistics, sys
side, data = None, {}
for line in open(sys.argv[1]):
    m = re.match(r'=== (\w+) pair', line)
    if m:
        side = m.group(1)
        continue
    m = re.match(r'\s+(early sort|early filter|sort|filter|LIKE|another sort): ([\d.]+) ms = (.*)', line)
    if m and side:
        stages = {k: int(v) for k, v in re.findall(r'(\w+) (-?\d+)', m.group(3))}
        b = re.search(r'(\d+) bytes', m.group(3))
        if b:
            stages['bytes'] = int(b.group(1))
        data.setdefault((side, m.group(1)), []).append((float(m.group(2)), stages))
for step in ['early sort', 'early filter', 'sort', 'filter', 'LIKE', 'another sort']:
    for side in ['base', 'after']:
        d = data.get((side, step), [])
        if not d:
            continue
        ms = [x[0] for x in d]
        stage = lambda k: f"{k} {statistics.median([x[1][k] for x in d]):.0f}"
        print(f"{step:12s} {side:5s} n={len(d)} painted {statistics.median(ms):.0f} ({min(ms):.0f}-{max(ms):.0f}) ms = "
              + ' + '.join(stage(k) for k in ['toHost', 'search', 'build', 'toPage', 'render', 'paint']) + ' (medians)'
              + (f" · {statistics.median([x[1]['bytes'] for x in d if 'bytes' in x[1]]):.0f} bytes" if any('bytes' in x[1] for x in d) else ''))
PY
rm -f "$log"
