#!/usr/bin/env bash
# The release-notes recipe in one command: run the agreed matrix, write a docs/-ready
# markdown page with the latency table and the deltas against the previous release's
# baseline, and store this run as the next baseline.
#
#   scripts/release_notes.sh PREVIOUS NEW [harness run options...]
#   scripts/release_notes.sh v0.3.0 v0.4.0 --device pixel7,pixel8 --variants fp32,dynamic,fp16
#
# PREVIOUS is a baseline name (results/baselines/PREVIOUS.json) or "none" for the first
# release. Writes docs/release-notes/NEW.md (relative to the current directory) and
# results/baselines/NEW.json. Exit status: 1 when the gate finds a regression, else that
# of the run.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 PREVIOUS_BASELINE|none NEW_NAME [harness run options...]" >&2
  exit 2
fi
prev=$1 new=$2
shift 2
root=$(cd "$(dirname "$0")/.." && pwd)
harness="$root/.venv/bin/harness"
[ -x "$harness" ] || { bash "$root/scripts/setup.sh"; }

mkdir -p results
before=$(find results -maxdepth 1 -name '*.json' | sort)
run_status=0
"$harness" run --no-report "$@" || run_status=$?
run_file=$(comm -13 <(echo "$before") <(find results -maxdepth 1 -name '*.json' | sort) | tail -n 1)
if [ -z "$run_file" ]; then
  echo "release_notes: the run wrote no result file" >&2
  exit 1
fi
run_id=$(basename "$run_file" .json)

out="docs/release-notes/$new.md"
mkdir -p "$(dirname "$out")"
gate=0
{
  echo "# Benchmarks: $new"
  echo
  echo "Run \`$run_id\`."
  echo
  "$harness" report "$run_id" --format markdown
  echo
  if [ "$prev" = "none" ]; then
    echo "_No previous baseline: this is the first release measured._"
  else
    echo "## Changes since $prev"
    echo
    "$harness" compare "$prev" "$run_id" --markdown - || gate=$?
  fi
} > "$out"
"$harness" baseline save "$new" "$run_id" >&2
echo "$out"
if [ "$gate" -ne 0 ]; then exit "$gate"; fi
exit "$run_status"
