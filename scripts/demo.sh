#!/usr/bin/env bash
# The README's main command: set up (venv, Debian's adb) and run the embedded default —
# synthetic:tiny (random weights, no network) on an emulated Pixel 7 that speaks the real
# ADB protocol, through the real adb server — then print the latency table.
# Extra arguments go to `harness run` (e.g. --variants fp32,dynamic,fp16,int8).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
exec .venv/bin/harness run --device emu-pixel7 --model synthetic:tiny --variants fp32,dynamic,fp16 "$@"
