"""Signals that end a run the way Ctrl-C does, and cleanup that a second signal cannot cut short.

SIGTERM (CI cancelling a job, ``timeout``) and SIGHUP (a closed terminal) raise
KeyboardInterrupt in the main thread, so the run is marked ``interrupted``, the devices
the harness started are stopped, and the "finish with --resume" line is printed.
While that cleanup runs, further SIGINT/SIGTERM/SIGHUP are held back.
"""
from __future__ import annotations

import contextlib
import signal
import threading

HANDLED = (signal.SIGTERM, signal.SIGHUP)


def _raise_interrupt(signum, _frame):
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


def install() -> None:
    """SIGTERM and SIGHUP behave as Ctrl-C (main thread only; a no-op elsewhere)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in HANDLED:
        signal.signal(sig, _raise_interrupt)


def ignore_further() -> None:
    """The run is over and its cleanup done: a late signal must not turn exit 130 into a kill."""
    if threading.current_thread() is threading.main_thread():
        for s in (signal.SIGINT, *HANDLED):
            signal.signal(s, signal.SIG_IGN)


@contextlib.contextmanager
def shielded():
    """Hold back SIGINT/SIGTERM/SIGHUP while cleanup runs; deliver nothing twice."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    sigs = (signal.SIGINT, *HANDLED)
    old = {s: signal.signal(s, signal.SIG_IGN) for s in sigs}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
