"""The emulator's own child processes: an environment that can import harness, and stopping them."""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from harness.proc import pid_alive  # noqa: F401  (re-exported: manage.py and tests use it here)

# Where the harness package lives, so a child Python process can import it.
SOURCE_ROOT = str(Path(__file__).resolve().parents[2])
_POLL_S = 0.02


def python_env(env: dict[str, str]) -> dict[str, str]:
    """``env`` with the harness source tree first on PYTHONPATH (changes and returns ``env``)."""
    env["PYTHONPATH"] = SOURCE_ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def wait_gone(pid: int, timeout_s: float) -> bool:
    """Wait up to ``timeout_s`` for ``pid`` to end, reaping it if it is our child; True if it did."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            pass
        if not pid_alive(pid):
            return True
        time.sleep(_POLL_S)
    return False


def terminate(pid: int, grace_s: float) -> None:
    """SIGTERM, then SIGKILL, each followed by a wait of up to ``grace_s``; never raises."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except OSError:
            return
        if wait_gone(pid, grace_s):
            return
