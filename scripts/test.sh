#!/usr/bin/env bash
# The README's test command: set up (venv, Debian's adb), then run the whole test suite.
# Models of tests are converted once per session (small shapes); emulated devices and
# their adb servers are started and stopped by the tests themselves. The tests run in one
# worker more than the cores (pytest-xdist, at most 4), sharing one conversion cache; HARNESS_TEST_WORKERS=0
# runs them in this process, in order (unit, emulated, e2e, phone).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
# One worker more than the cores, at most 4: much of the suite waits on subprocesses (workers,
# adb, emulated phones, Maven), and on 2 cores 3 workers took it from 309 s to 236 s.
cores=$(nproc 2>/dev/null || echo 2)
workers=${HARNESS_TEST_WORKERS:-$(( cores + 1 > 4 ? 4 : cores + 1 ))}
if [ "$workers" = "0" ]; then
  exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
fi
exec .venv/bin/python -m pytest -q -p no:cacheprovider -n "$workers" --dist loadgroup "$@"
