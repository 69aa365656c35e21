"""The lock file between processes (D2, D3), the run lock, the progress totals and adb's
sync errors in words (D15)."""
from __future__ import annotations

import io
import os
import subprocess
import sys
import time

import pytest
from rich.console import Console
from rich.progress import Progress

from harness import locks, ui
from harness.errors import UserError
from harness.results import store

HOLD = """
import sys, time
from harness.locks import FileLock
FileLock(sys.argv[1], "holding it for a test").acquire()
print("held", flush=True)
time.sleep(float(sys.argv[2]))
"""


def hold_in_another_process(path, seconds: float) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(path), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def test_a_held_lock_names_its_holder_and_is_free_once_the_holder_dies(tmp_path):
    path = tmp_path / "x.lock"
    p = hold_in_another_process(path, 30)
    with pytest.raises(locks.LockHeld) as e:
        locks.FileLock(path, "me").acquire(0, describe="the thing")
    assert e.value.holder.pid == p.pid and e.value.holder.what == "holding it for a test"
    assert str(e.value).startswith(f"the thing is held by pid {p.pid} on {os.uname().nodename} (holding it for a test")
    p.kill()                    # the kernel lets go of a dead holder's flock: never a stale lock
    p.wait()
    lock = locks.FileLock(path, "me").acquire(5)
    lock.release()
    assert not path.exists()    # no lock file left behind


def test_a_waiter_says_so_once_and_gets_the_lock_when_it_is_let_go(tmp_path):
    path = tmp_path / "x.lock"
    p = hold_in_another_process(path, 0.5)
    told = []
    t0 = time.monotonic()
    lock = locks.FileLock(path, "me").acquire(30, told.append)
    assert 0.2 < time.monotonic() - t0 < 20 and len(told) == 1 and told[0].pid == p.pid
    assert lock.holder().pid == os.getpid()
    lock.release()
    p.wait()


def test_one_process_holds_a_run(tmp_path):
    lock = store.lock_run("20261201T000000Z-abcdef", tmp_path)
    with pytest.raises(UserError, match=f"run 20261201T000000Z-abcdef is in use by pid {os.getpid()}"):
        store.lock_run("20261201T000000Z-abcdef", tmp_path)
    lock.release()
    store.lock_run("20261201T000000Z-abcdef", tmp_path).release()


def bars(total=12, per_block=4, done=0) -> ui.Bars:
    progress = Progress(console=Console(file=io.StringIO(), width=120))
    return ui.Bars(progress, {"dev": total}, per_block, {"dev": done})


def test_a_retried_block_counts_from_its_start_again(monkeypatch):
    """D15: the total overshot on every retry (16/12, 28/24, 8/4)."""
    b = bars()
    advance = b.advance
    for block in ("measuring a (round 1 of 1)", "measuring b (round 1 of 1)"):
        advance("dev", block)
        for _ in range(3):
            advance("dev", "HARNESS_PROGRESS")
        if block.endswith("b (round 1 of 1)"):
            advance("dev", "link dropped; retrying in 1 s")
            advance("dev", block)                       # the same block again
            for _ in range(4):
                advance("dev", "HARNESS_PROGRESS")
    advance("dev", "measuring c (round 1 of 1)")
    for _ in range(6):                                  # more lines than a block has: capped
        advance("dev", "HARNESS_PROGRESS")
    assert b.completed("dev") == 12


def test_a_resumed_run_starts_at_the_blocks_it_has():
    """D15: a resume counted up from 0 against the full total (24/36 at the end)."""
    b = bars(total=36, per_block=4, done=6)
    advance = b.advance
    assert b.completed("dev") == 24
    for i in range(3):
        advance("dev", f"measuring cell{i} (round 1 of 1)")
        for _ in range(4):
            advance("dev", "HARNESS_PROGRESS")
    assert b.completed("dev") == 36


def test_sync_errors_read_as_what_happened():
    """D15: a pull that dropped said ``('Invalid sync cmd', '')``."""
    import adbutils

    from harness.devices.android.adb import _sync_error_text

    assert _sync_error_text(adbutils.AdbError("Invalid sync cmd", "")) == \
        "the connection to the device dropped mid-transfer"
    assert _sync_error_text(adbutils.AdbError("Invalid sync cmd", "XXXX")) == \
        "the device sent an unexpected sync reply 'XXXX'"
    assert _sync_error_text(AssertionError()) == "the connection to the device dropped mid-transfer"
    assert _sync_error_text(adbutils.AdbError("device offline")) == "device offline"
