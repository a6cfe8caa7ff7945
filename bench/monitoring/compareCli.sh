#!/usr/bin/env bash
# Two builds of the CLI on the same project, interleaved run by run (A, B, A, B, …): wall, user and system CPU, peak
# RSS (/usr/bin/time) and the 1-minute load before and after each run. Each run's JSON report is kept for comparing:
# $COMPARE_OUT.A.<run>.json and .B.<run>.json (COMPARE_OUT defaults to /tmp/compareCli).
# usage: [COMPARE_OUT=/tmp/x] bash bench/monitoring/compareCli.sh <project> <cliA.js> <cliB.js> [runs=3]
set -uo pipefail
project=$1
a=$2
b=$3
runs=${4:-3}
out=${COMPARE_OUT:-/tmp/compareCli}
here="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$project"
for run in $(seq 1 "$runs"); do
  for side in A B; do
    cli=$a
    [ "$side" = B ] && cli=$b
    l0=$(cut -d' ' -f1 /proc/loadavg)
    /usr/bin/time -f '%e %U %S %M' bash "$here/scripts/with-node.sh" node "$cli" monitor --once --no-store --json >"$out.$side.$run.json" 2>"$out.$side.$run.time"
    rc=$?
    l1=$(cut -d' ' -f1 /proc/loadavg)
    read -r wall user sys rss < <(tail -1 "$out.$side.$run.time")
    echo "$side run $run exit $rc wall ${wall}s cpu $(echo "$user + $sys" | bc)s peak $((rss / 1024))MB load $l0..$l1"
  done
done
