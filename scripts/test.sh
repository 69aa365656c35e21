#!/usr/bin/env bash
# The README's test command: set up (venv, Debian's adb), then run the whole test suite.
# Models of tests are converted once per session (small shapes); emulated devices and
# their adb servers are started and stopped by the tests themselves.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
