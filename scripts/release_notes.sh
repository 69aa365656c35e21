#!/usr/bin/env bash
# The release-notes recipe in one command: check the previous release's baseline, run the
# agreed matrix, gate it against that baseline, write a docs/-ready markdown page, and
# keep this run as the next baseline only when the gate passes.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: scripts/release_notes.sh [--force] PREVIOUS NEW [harness run options...]

  PREVIOUS  the previous release's baseline name (RESULTS/baselines/PREVIOUS.json), or
            "none" for the first release measured. Checked BEFORE anything runs.
  NEW       this release's name: the page docs/release-notes/NEW.md and, when the gate
            passes, the baseline RESULTS/baselines/NEW.json.
  --force   save NEW as a baseline even when the gate fails or a block failed, and
            replace an existing baseline NEW.

Steps: harness run (--rounds 5 --runs 3, then the options given) -> harness report (markdown) -> harness compare
PREVIOUS (the gate; its summary line is printed) -> the page -> harness baseline save NEW.

Rounds: the gate judges a cell on its blocks (one app process each) once both sides have
at least 3, because whole processes can sit apart while their own samples agree; so the
run measures 5 blocks of 3 generations per cell unless --rounds/--runs say otherwise.

Files: the page goes to docs/release-notes/ under the CURRENT directory; results go to
$HARNESS_RESULTS, else ./results (the current directory's). Standard output is the page's
path; progress, the comparison and the verdict go to standard error.

Exit status: 0 the gate passed (or PREVIOUS is none) and NEW was saved; 1 the gate found a
regression (page written, NEW not saved unless --force); 2 a usage error, an unknown or
existing baseline name, or a gate that could not judge (nothing in common, ...); otherwise
that of `harness run` when a block failed.

example:
  scripts/release_notes.sh v0.3.0 v0.4.0 --device pixel7,pixel8 --variants fp32,dynamic,fp16
EOF
}

force=0
args=()
for a in "$@"; do
  case "$a" in
    -h|--help) usage; exit 0 ;;
    --force) force=1 ;;
    *) args+=("$a") ;;
  esac
done
if [ ${#args[@]} -lt 2 ]; then
  usage >&2
  exit 2
fi
prev=${args[0]} new=${args[1]}
run_args=("${args[@]:2}")
root=$(cd "$(dirname "$0")/.." && pwd)
harness="$root/.venv/bin/harness"
[ -x "$harness" ] || bash "$root/scripts/setup.sh"
results=${HARNESS_RESULTS:-$PWD/results}
rd=(--results-dir "$results")
say() { echo "release_notes: $*" >&2; }

# Bad names fail here, in seconds, not after an hour of measuring.
if [ "$prev" != "none" ] && ! "$harness" baseline show "$prev" "${rd[@]}" >/dev/null; then
  say "no previous baseline '$prev' in $results/baselines (\`harness baseline list\`; 'none' for a first release)"
  exit 2
fi
if [ -f "$results/baselines/$new.json" ] && [ "$force" -eq 0 ]; then
  say "baseline '$new' already exists ($results/baselines/$new.json); choose another name or pass --force"
  exit 2
fi

mkdir -p "$results"
before=$(find "$results" -maxdepth 1 -name '*.json' | sort)
run_status=0
# The release defaults first: options given after them win (argparse keeps the last).
"$harness" run --no-report --rounds 5 --runs 3 "${rd[@]}" "${run_args[@]}" || run_status=$?
new_files=$(comm -13 <(echo "$before") <(find "$results" -maxdepth 1 -name '*.json' | sort))
if [ -z "$new_files" ] || [ "$(echo "$new_files" | wc -l)" -ne 1 ]; then
  say "expected one new result file in $results, found: ${new_files:-none} (harness run exit $run_status)"
  exit "$(( run_status ? run_status : 1 ))"
fi
run_id=$(basename "$new_files" .json)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
gate=0
verdict="no previous baseline: nothing to compare"
if [ "$prev" != "none" ]; then
  "$harness" compare "$prev" "$run_id" "${rd[@]}" --markdown "$tmp/compare.md" >"$tmp/compare.txt" 2>"$tmp/compare.err" || gate=$?
  cat "$tmp/compare.txt" "$tmp/compare.err" >&2
  if [ -s "$tmp/compare.txt" ]; then
    verdict=$(tail -n 1 "$tmp/compare.txt")
  else
    verdict="the gate could not judge (exit $gate): $(tail -n 1 "$tmp/compare.err")"
  fi
fi

out="docs/release-notes/$new.md"
mkdir -p "$(dirname "$out")"
{
  echo "# Benchmarks: $new"
  echo
  echo "Run \`$run_id\`."
  echo
  "$harness" report "$run_id" "${rd[@]}" --format markdown
  echo
  if [ "$prev" = "none" ]; then
    echo "_No previous baseline: this is the first release measured._"
  else
    echo "## Changes since $prev"
    echo
    if [ -s "$tmp/compare.md" ]; then cat "$tmp/compare.md"; else echo "**$verdict**"; fi
  fi
} > "$out"

if [ "$force" -eq 1 ] || { [ "$gate" -eq 0 ] && [ "$run_status" -eq 0 ]; }; then
  save=(baseline save "$new" "$run_id" "${rd[@]}")
  [ "$force" -eq 0 ] || save+=(--force)
  "$harness" "${save[@]}" >&2
else
  why=$([ "$gate" -ne 0 ] && echo "the gate did not pass" || echo "harness run exited $run_status")
  say "NOT saved as baseline '$new': $why (--force saves it anyway)"
fi
say "gate: $verdict"
echo "$out"
if [ "$gate" -ne 0 ]; then exit "$gate"; fi
exit "$run_status"
