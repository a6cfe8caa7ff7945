#!/usr/bin/env bash
# Before/after of the Experiments Table's SQL answers during the first read (store migration 023, issue 19):
# keyWalkBench.ts built against BASE's sources (before) and this tree's (after), run interleaved before, after,
# before, after on two copies of tableBench's 100,000-run store (the original is never opened). ~4 minutes idle.
#   bash bench/experiments/keyWalkCompare.sh [BASE commit, default 3c29f17] [store dir, default /tmp/mloop-table-100k]
# MLOOP_BENCH_SHARED=1: both sides read the store dir itself (no copies; it must already be at the schema both sides
# use, or the first side's open upgrades it). MLOOP_BENCH_ONLY=<text>: only the searches whose name holds it.
set -euo pipefail
cd "$(dirname "$0")/../.."
BASE=${1:-3c29f17}
SOURCE=${2:-/tmp/mloop-table-100k}
WORK=${MLOOP_BENCH_WORK:-/tmp/mloop-keywalk}
rm -rf "$WORK" && mkdir -p "$WORK/base" "$WORK/before/.mloop" "$WORK/after/.mloop"
if [ "${MLOOP_BENCH_SHARED:-}" = 1 ]; then
  rmdir "$WORK/before/.mloop" "$WORK/after/.mloop"
  ln -s "$SOURCE/.mloop" "$WORK/before/.mloop" && ln -s "$SOURCE/.mloop" "$WORK/after/.mloop"
else
  cp "$SOURCE/.mloop/mloop.db" "$WORK/before/.mloop/mloop.db"
  cp "$SOURCE/.mloop/mloop.db" "$WORK/after/.mloop/mloop.db"
fi
git archive "$BASE" src | tar -x -C "$WORK/base"
mkdir -p "$WORK/base/bench/experiments" && cp bench/experiments/keyWalkBench.ts "$WORK/base/bench/experiments/"
ln -sfn "$PWD/node_modules" "$WORK/base/node_modules"
bash scripts/with-node.sh esbuild "$WORK/base/bench/experiments/keyWalkBench.ts" --bundle --platform=node --format=cjs \
  --external:better-sqlite3 --outfile="$WORK/base/keyWalkBench.js" --log-level=error
bash scripts/with-node.sh esbuild bench/experiments/keyWalkBench.ts --bundle --platform=node --format=cjs \
  --external:better-sqlite3 --outfile=out/bench/experiments/keyWalkBench.js --log-level=error
for side in before after before after; do
  echo "== $side (load $(cut -d' ' -f1 /proc/loadavg))"
  if [ "$side" = before ]; then bundle="$WORK/base/keyWalkBench.js"; else bundle=out/bench/experiments/keyWalkBench.js; fi
  MLOOP_BENCH_STORE="$WORK/$side" bash scripts/with-node.sh node "$bundle" 2>&1 | sed -E 's/"cpu":\[[^]]*\],//'
done
rm -rf "$WORK"
