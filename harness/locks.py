"""Exclusive locks between processes on this machine: a lock file held with ``fcntl.flock``.

The kernel drops a flock when its holder exits, however it exits (SIGKILL included), so
a lock here is never stale. The file names its holder (pid, host, what it is doing,
since when) so the one who waits can say who it waits for. The holder removes the file
when it lets go; a waiter that locked a file removed under it starts again, so a lock
folder does not fill up with old lock files.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from harness.errors import HarnessError
from harness.hostinfo import utc_now

POLL_S = 0.1


class LockHeld(HarnessError):
    """Another process holds the lock (and kept it past the wait limit)."""

    def __init__(self, message: str, holder: "Holder | None"):
        super().__init__(message)
        self.holder = holder


@dataclass(frozen=True)
class Holder:
    pid: int | None
    host: str | None
    what: str | None
    since: str | None

    @classmethod
    def me(cls, what: str) -> "Holder":
        return cls(os.getpid(), socket.gethostname(), what, utc_now())

    def to_dict(self) -> dict:
        return {"pid": self.pid, "host": self.host, "what": self.what, "since": self.since}

    @classmethod
    def from_dict(cls, d: dict) -> "Holder":
        pid = d.get("pid")
        return cls(pid if isinstance(pid, int) else None, d.get("host"), d.get("what"), d.get("since"))

    def describe(self) -> str:
        where = f"pid {self.pid} on {self.host}" if self.pid else "another process"
        what = f" ({self.what}" + (f", since {self.since}" if self.since else "") + ")" if self.what else ""
        return where + what


class FileLock:
    """An exclusive lock on ``path``; ``what`` says what the holder does (for waiters' messages)."""

    def __init__(self, path: Path, what: str):
        self.path = Path(path)
        self.what = what
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def holder(self) -> Holder | None:
        """Who holds the lock now, as its file says (None when nobody says)."""
        try:
            d = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            return None
        return Holder.from_dict(d) if isinstance(d, dict) and d else None

    def _try_once(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EACCES, errno.EAGAIN):
                return False
            raise
        try:        # the holder we waited for may have removed the file just before letting go
            same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            return self._try_once()
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(Holder.me(self.what).to_dict()).encode())
        self._fd = fd
        return True

    def acquire(self, wait_s: float = 0.0, on_wait: Callable[[Holder | None], None] | None = None,
                describe: str | None = None) -> "FileLock":
        """Take the lock, waiting up to ``wait_s`` seconds (``on_wait(holder)`` once, when the
        wait starts); raise LockHeld naming the holder when it is still held after that."""
        deadline = time.monotonic() + max(0.0, wait_s)
        told = False
        while not self._try_once():
            holder = self.holder()
            if time.monotonic() >= deadline:
                who = holder.describe() if holder else "another process"
                waited = f" after waiting {wait_s:.0f} s" if wait_s > 0 else ""
                raise LockHeld(f"{describe or self.path} is held by {who}{waited}", holder)
            if not told and on_wait is not None:
                on_wait(holder)
                told = True
            time.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))
        return self

    def release(self) -> None:
        """Let go (removing the lock file first, so nobody waits on a file nobody holds)."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        except OSError:
            pass
        try:
            os.close(self._fd)       # closing drops the flock
        finally:
            self._fd = None

    def __enter__(self) -> "FileLock":
        return self if self.held else self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
