#!/usr/bin/env bash
# Before/after of the ingest server (rows 6-7): mloop alone (MLOOP_BENCH_SKIP_MLFLOW=1), the same generator and bodies,
# two builds interleaved A B B A … pair by pair, RUNS runs of 1,000,000 points a side in each pair.
#   bash bench/ingest/compareBuilds.sh <base commit> [pairs=4] [runs=3]      (from the repository root)
# A is <base commit>, B this working tree; each is built into its own folder under $TMPDIR (the ingest bench bundle and
# dist/metricWriter.js, laid out as the bench finds them). Prints every run, then the medians of each side: points/s,
# server CPU per point, the two busiest server threads and the generator, with the load average before each run, and the
# server's CPU over the generator's (same generator work on both sides: steadier than either under load).
set -euo pipefail
base=${1:?usage: compareBuilds.sh <base commit> [pairs] [runs]}
pairs=${2:-4}
runs=${3:-3}
root=$(pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/mloop-ingest-ab-XXXXXX")
trap 'rm -rf "$work"' EXIT

build() { # <source tree> <output folder>
  mkdir -p "$2/dist" "$2/out/bench/ingest"
  ln -sfn "$root/node_modules" "$2/node_modules"
  (cd "$1" && bash "$root/scripts/with-node.sh" npx esbuild src/core/tracking/metricWriterMain.ts --bundle --platform=node --target=node22 \
    --format=cjs --external:better-sqlite3 --outfile="$2/dist/metricWriter.js" --log-level=warning)
  (cd "$1" && bash "$root/scripts/with-node.sh" npx esbuild bench/ingest/ingestBench.ts --bundle --platform=node --format=cjs \
    --external:better-sqlite3 --outfile="$2/out/bench/ingest/ingestBench.js" --log-level=warning)
}
mkdir -p "$work/src-a"
git archive "$base" | tar -x -C "$work/src-a"
ln -s "$root/node_modules" "$work/src-a/node_modules"
build "$work/src-a" "$work/a"
build "$root" "$work/b"

side() { # <label> <build folder>
  MLOOP_BENCH_SKIP_MLFLOW=1 MLOOP_BENCH_RUNS="$runs" bash "$root/scripts/with-node.sh" node "$2/out/bench/ingest/ingestBench.js" 2>&1 >/dev/null |
    grep '^mloop run' | sed "s/^/$1 /" | tee -a "$work/runs.log"
}
echo "A = $base, B = the working tree ($(git rev-parse --short HEAD)$(git diff --quiet || echo ', with changes')); $pairs pairs of $runs runs a side"
for p in $(seq "$pairs"); do
  if [ $((p % 2)) = 1 ]; then side A "$work/a"; side B "$work/b"; else side B "$work/b"; side A "$work/a"; fi
done
bash "$root/scripts/with-node.sh" node -e '
const lines = require("node:fs").readFileSync(process.argv[1], "utf8").split("\n");
const re = /^(A|B) mloop run .*= (\d+) points\/s; server CPU ([\d.]+) µs\/point \(busiest threads ([\d.]+), ([\d.]+)\), generator ([\d.]+) µs\/point, load ([\d.]+)/;
const median = (v) => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
for (const side of ["A", "B"]) {
  const rows = lines.map((l) => re.exec(l)).filter((m) => m && m[1] === side).map((m) => m.slice(2).map(Number));
  const col = (i) => rows.map((r) => r[i]);
  // server CPU over generator CPU, run by run: the generator does the same work on both sides, so on a shared machine
  // (where a CPU second of every process stretches with the load) this ratio is the steadier figure
  const perGenerator = rows.map((r) => r[1] / r[4]);
  console.log(`${side}: ${rows.length} runs; ${median(col(0))} points/s; server CPU ${median(col(1))} µs/point (busiest threads ${median(col(2))}, ${median(col(3))}); generator ${median(col(4))} µs/point; server/generator CPU ${median(perGenerator).toFixed(2)}; load ${Math.min(...col(5))}-${Math.max(...col(5))}`);
}' "$work/runs.log"
