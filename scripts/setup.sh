#!/usr/bin/env bash
# Idempotent set-up for a fresh machine: Debian's adb and a virtual environment
# with the pinned stack. Used by `scripts/demo.sh`, `scripts/test.sh` and CI.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

if ! command -v adb >/dev/null 2>&1; then
  echo "setup: installing Debian's adb" >&2
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq adb >/dev/null
fi

bash "$root/scripts/setup_chromium.sh"   # the report page's browser test
venv="$root/.venv"
stamp="$venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "setup: creating $venv with the pinned stack (first time: a few minutes)" >&2
  python3.11 -m venv "$venv" 2>/dev/null || python3 -m venv "$venv"
  log="$venv/install.log"
  if ! { "$venv/bin/python" -m pip install -q --upgrade pip && \
         "$venv/bin/python" -m pip install -q -e ".[test]"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "setup: pip install failed (full log: $log)" >&2
    exit 1
  fi
  rm -f "$venv"/.installed-*
  touch "$stamp"
fi
bash "$root/android/benchmark_app/jvm/setup.sh"   # the app's Maven/Robolectric build, offline afterwards
