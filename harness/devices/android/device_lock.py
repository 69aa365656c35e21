"""The lock ON an Android device: one harness run at a time, whichever machine it runs on.

The lock is a folder, ``<work_dir>/lock`` (``mkdir`` either makes it or fails: the one
atomic step a device's shell offers), holding ``owner.json`` (host, pid, run id, since).
Its holder touches ``owner.json`` every HEARTBEAT_S. Another harness honours the lock and
breaks it only when it is stale: its holder was a process of this same host that is gone,
or nobody touched it for STALE_S (measured by the device's own clock: file times against
a file touched just now, so clocks of different hosts never matter).
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import tempfile
import threading
import time
from pathlib import Path

from harness.devices.android.adb import Adb
from harness.devices.base import ProgressFn
from harness.errors import DeviceError, UserError
from harness.hostinfo import utc_now
from harness.proc import pid_alive

HEARTBEAT_S = 60.0
STALE_S = 600.0            # no heartbeat for this long: the holder is gone (lost its host, say)
NO_OWNER_GRACE_S = 60.0    # a lock folder without owner.json (its taker died between two steps)
POLL_S = 2.0


class DeviceBusy(UserError):
    """The device is held by another run (past the wait limit)."""




def describe_owner(owner: dict | None) -> str:
    if not owner:
        return "another harness (no owner recorded yet)"
    run = f"run {owner.get('run_id')}, " if owner.get("run_id") else ""
    return f"{run}pid {owner.get('pid')} on {owner.get('host')}, since {owner.get('since')}"


class DeviceLock:
    """Hold ``<work_dir>/lock`` on the device behind ``adb`` for run ``run_id``."""

    def __init__(self, adb: Adb, alias: str, work_dir: str, run_id: str):
        self.adb, self.alias, self.run_id = adb, alias, run_id
        self.dir = f"{work_dir}/lock"
        self.owner_path = f"{self.dir}/owner.json"
        self.probe_path = f"{work_dir}/.lock-probe"
        self.work_dir = work_dir
        self.owner = {"host": socket.gethostname(), "pid": os.getpid(), "run_id": run_id, "since": utc_now(),
                      "token": secrets.token_hex(8)}
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    # ------------------------------------------------------------------ reading
    def read(self) -> tuple[dict | None, float | None]:
        """(owner.json or None, seconds since the lock was last touched, by the device's clock)."""
        out = self.adb.shell_batch([["cat", self.owner_path], ["touch", self.probe_path],
                                    ["stat", "-c", "%n %Y", self.dir, self.owner_path, self.probe_path]])
        try:
            owner = json.loads(out[0]) if out[0].strip() else None
        except ValueError:
            owner = None
        times = {}
        for line in out[2].splitlines():
            name, _, value = line.rpartition(" ")
            if value.isdigit():
                times[name] = int(value)
        now = times.get(self.probe_path)
        touched = times.get(self.owner_path) or times.get(self.dir)
        age = float(now - touched) if now is not None and touched is not None else None
        return (owner if isinstance(owner, dict) else None), age

    def stale_reason(self, owner: dict | None, age: float | None) -> str | None:
        """Why the lock may be broken, or None while its holder may be alive."""
        if owner is None:
            return f"it names no holder after {age:.0f} s" if age is not None and age > NO_OWNER_GRACE_S else None
        if owner.get("host") == socket.gethostname() and isinstance(owner.get("pid"), int) \
                and owner["pid"] != os.getpid() and not pid_alive(owner["pid"]):
            return f"its holder, pid {owner['pid']} on this host, is gone"
        if age is not None and age > STALE_S:
            return f"its holder has not touched it for {age:.0f} s"
        return None

    # ------------------------------------------------------------------ taking and letting go
    def _try_take(self) -> bool:
        self.adb.shell(["mkdir", "-p", self.work_dir])
        if self.adb.shell(["mkdir", self.dir], check=False).exit_status != 0:
            return False
        with tempfile.TemporaryDirectory(prefix="harness-lock-") as tmp:
            local = Path(tmp) / "owner.json"
            local.write_text(json.dumps(self.owner), encoding="utf-8")
            self.adb.push(local, self.owner_path + ".part")
        self.adb.shell(["mv", self.owner_path + ".part", self.owner_path])   # readers see all of it or none
        return True

    def _break(self, owner: dict | None, reason: str, say: ProgressFn) -> None:
        """Move the stale lock aside (one rename: of two breakers, one wins), then delete it."""
        aside = f"{self.dir}-broken-{secrets.token_hex(4)}"
        if self.adb.shell(["mv", self.dir, aside], check=False).exit_status != 0:
            return
        moved = self.adb.shell(["cat", f"{aside}/owner.json"], check=False).stdout
        try:
            moved_owner = json.loads(moved) if moved.strip() else None
        except ValueError:
            moved_owner = None
        if moved_owner != owner and self.adb.stat_size(self.dir) is None:
            self.adb.shell(["mv", aside, self.dir], check=False)   # a fresh lock, not the stale one: back
            return
        self.adb.shell(["rm", "-rf", aside], check=False)
        say(f"broke a stale device lock ({describe_owner(owner)}): {reason}")

    def acquire(self, wait_s: float, say: ProgressFn) -> None:
        """Take the lock, waiting up to ``wait_s`` (one line when the wait starts), else DeviceBusy."""
        deadline = time.monotonic() + max(0.0, wait_s)
        told = False
        while not self._try_take():
            owner, age = self.read()
            if owner is not None and owner.get("token") == self.owner["token"]:
                break                                   # ours (a retried push after a drop)
            reason = self.stale_reason(owner, age)
            if reason:
                self._break(owner, reason, say)
                continue
            if time.monotonic() >= deadline:
                hint = f"waited {wait_s:.0f} s" if wait_s > 0 else "pass --device-wait SECONDS to wait for it"
                raise DeviceBusy(f"{self.alias} is in use by another harness ({describe_owner(owner)}); {hint}")
            if not told:
                say(f"{self.alias} is in use by another harness ({describe_owner(owner)}); "
                    f"waiting up to {wait_s:.0f} s for it")
                told = True
            time.sleep(min(POLL_S, max(0.1, deadline - time.monotonic())))
        self._beat = threading.Thread(target=self._heartbeat, name=f"lock-{self.alias}", daemon=True)
        self._beat.start()

    def _heartbeat(self) -> None:
        adb = Adb(self.adb.server, self.adb.serial)     # its own connections, apart from the run's
        while not self._stop.wait(HEARTBEAT_S):
            try:
                adb.shell(["touch", self.owner_path], timeout_s=30, check=False)
            except (DeviceError, UserError):
                pass      # a dropped device: the run's own retries deal with it

    def release(self) -> None:
        """Let go when the lock is still ours. Never raises (the device may be gone)."""
        self._stop.set()
        try:
            owner, _ = self.read()
            if owner is not None and owner.get("token") == self.owner["token"]:
                self.adb.shell(["rm", "-rf", self.dir], timeout_s=10, check=False)
        except Exception:  # noqa: BLE001  cleanup never raises
            pass
