#!/usr/bin/env bash
# The mloop release check, written by `mloop init --ci github` (.github/workflows/mloop.yml runs it; it runs anywhere).
#
#   bash scripts/mloop-ci.sh <pipeline> <model> [<current data>]
#
# In the folder of mloop.yaml: validate -> train <pipeline> (registers a candidate version of <model>, gated with its
# prediction tests) -> drift of <current data> (the candidate's training data) against the champion's training data
# -> the model card diff, candidate vs champion. A Markdown summary goes to $GITHUB_STEP_SUMMARY (stdout when unset).
# Exit code: the first failing step's mloop exit code (1 failure, 3 drift, 4 release gate; docs/cli.md#exit-codes);
# 0 when every step passed. Values only ever travel as quoted arguments: nothing here evaluates text.
set -uo pipefail

if [ "$#" -lt 2 ]; then
  echo "usage: $0 <pipeline> <model> [<current data>]" >&2
  exit 2
fi
pipeline=$1
model=$2
current=${3:-}
summary=${GITHUB_STEP_SUMMARY:-/dev/stdout}

if ! command -v mloop >/dev/null 2>&1; then
  echo "mloop-ci: mloop is not on PATH (npm install --global mloop)" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
rows=()

# record <step> <exit code> <what it means>: a row of the summary; the first non-zero code is the script's
record() {
  local mark="✅"
  if [ "$2" -ne 0 ]; then mark="❌"; fi
  rows+=("| $1 | $mark | $2 | $3 |")
  if [ "$2" -ne 0 ] && [ "$status" -eq 0 ]; then status=$2; fi
}
skip() {
  rows+=("| $1 | ⏭️ | — | $2 |")
}

# finish [<file with more Markdown>]: writes the summary and exits with the first failing step's code
finish() {
  {
    echo "## mloop release check: $model"
    echo
    echo "| step | | exit | result |"
    echo "|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    echo
    if [ "$#" -gt 0 ] && [ -s "$1" ]; then cat "$1"; fi
  } >>"$summary"
  exit "$status"
}

step() {
  echo "::group::mloop $*"
}
endstep() {
  echo "::endgroup::"
}

step validate
mloop validate
code=$?
endstep
if [ "$code" -ne 0 ]; then
  record validate "$code" "a dataset breaks its rules in mloop.yaml"
  skip train "not run: the data is invalid"
  finish
fi
record validate 0 "every dataset passes its rules"

# the champion before this run: what the candidate is compared with
champion=0
if mloop card "$model@champion" --format json --out "$work/champion.json" >/dev/null 2>&1; then champion=1; fi

step train "$pipeline"
mloop train "$pipeline" --register always
code=$?
endstep
case $code in
  0 | 4) record train 0 "the run finished; $model@latest registered" ;;
  *)
    record train "$code" "the run failed or registered nothing"
    finish
    ;;
esac

mloop card "$model@latest" --out "$work/candidate.md"
tests=$(grep -m 1 -E '^(Passed|Failed): prediction tests' "$work/candidate.md")
if [ "$code" -eq 4 ]; then
  record "release gate" 4 "the candidate failed its gate (rules below)"
else
  record "release gate" 0 "the candidate passed its gate"
fi
case $tests in
  Failed:*) record "prediction tests" 4 "${tests#Failed: }" ;;
  Passed:*) record "prediction tests" 0 "${tests#Passed: }" ;;
  *) skip "prediction tests" "none configured (models.$model.tests)" ;;
esac

if [ "$champion" -eq 0 ]; then
  skip drift "no champion yet"
elif [ -z "$current" ]; then
  skip drift "no current data given"
else
  step drift --model "$model" --current "$current"
  mloop drift --model "$model" --current "$current"
  code=$?
  endstep
  case $code in
    0) record drift 0 "$current has not drifted from the champion's training data" ;;
    3) record drift 3 "$current drifted from the champion's training data" ;;
    *) record drift "$code" "the drift check failed" ;;
  esac
fi

if [ "$champion" -eq 1 ]; then
  mloop card "$model@latest" --compare "$model@champion" --format md --out "$work/diff.md"
  code=$?
  if [ "$code" -eq 0 ]; then
    record "model card diff" 0 "below: $model@champion -> $model@latest"
  else
    record "model card diff" "$code" "the comparison failed"
  fi
  finish "$work/diff.md"
fi
skip "model card diff" "no champion yet: the candidate's card is below"
finish "$work/candidate.md"
