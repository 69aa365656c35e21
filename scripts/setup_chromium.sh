#!/usr/bin/env bash
# Idempotent: Debian's Chromium for the report page's browser test (tests/e2e/test_report_page.py).
# Nothing happens when /usr/bin/chromium is already there.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
echo "setup: installing Debian's chromium (headless browser for the report page test)" >&2
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
