"""logd's ring buffers and logcat's printer: what the emulated phone logged, filtered and formatted."""
from __future__ import annotations

import collections
import threading
import time

LOGCAT_RING_LINES = 20000


class Logcat:
    """logd's ring buffers (main, system, crash), printed as logcat does.

    Entries are (time, pid, tid, level, tag, message, buffer). ``seq`` counts every line ever
    logged, so a follower (``logcat`` without ``-d``) can wait for the lines after the ones
    it has printed. Which buffer a line goes to follows Android: app logs to main,
    ActivityManager/PackageManager to system, ``FATAL EXCEPTION`` (RuntimeInit) to crash.
    """

    BUFFERS = ("main", "system", "crash")
    _SYSTEM_TAGS = {"ActivityManager", "PackageManager", "ActivityTaskManager", "WindowManager", "PowerManagerService",
                    "lowmemorykiller", "lmkd", "ThermalManagerService"}

    def __init__(self, max_lines: int = LOGCAT_RING_LINES):
        self._lines: collections.deque = collections.deque(maxlen=max_lines)
        self._cv = threading.Condition()
        self._seq = 0

    def log(self, tag: str, message: str, level: str = "I", pid: int = 1000, tid: int | None = None,
            buffer: str | None = None) -> None:
        now = time.time()
        buf = buffer or ("system" if tag in self._SYSTEM_TAGS else "main")
        with self._cv:
            for line in message.splitlines() or [""]:
                self._lines.append((now, pid, tid if tid is not None else pid, level, tag, line, buf))
                self._seq += 1
            self._cv.notify_all()

    def clear(self, buffers=None) -> None:
        with self._cv:
            if buffers is None:
                self._lines.clear()
            else:
                kept = [e for e in self._lines if e[6] not in buffers]
                self._lines.clear()
                self._lines.extend(kept)

    def entries(self, since: int | None = None, wait_s: float = 0.0) -> tuple[list, int]:
        """The lines logged after line number ``since`` (all kept lines if None), waiting up
        to ``wait_s`` for one to arrive; and the number to pass as ``since`` next time."""
        with self._cv:
            if since is not None and self._seq <= since and wait_s > 0:
                self._cv.wait_for(lambda: self._seq > since, timeout=wait_s)
            kept = list(self._lines)
            if since is not None:
                kept = kept[len(kept) - min(len(kept), self._seq - since):]
            return kept, self._seq

    def dump(self) -> str:
        return LogcatPrinter().render(self.entries()[0])


class LogcatPrinter:
    """Filters and formats entries as Android 14's logcat (``-v``, ``-b``, ``-s``, ``TAG:L``,
    ``-e``, ``--pid``); prints ``--------- beginning of <buffer>`` once per buffer, before
    its first printed entry (logcat.cpp ``PrintDividers``)."""

    ORDER = "VDIWEFS"
    FORMATS = ("threadtime", "brief", "time", "tag", "process", "raw")

    def __init__(self, fmt: str = "threadtime", buffers=("main", "system", "crash"), tags: dict | None = None,
                 default_level: str = "V", regex=None, pid: int | None = None):
        self.fmt, self.buffers, self.tags = fmt, set(buffers), tags or {}
        self.default_level, self.regex, self.pid = default_level, regex, pid
        self.started: set = set()
        self.last = None

    def accepts(self, e) -> bool:
        _ts, pid, _tid, level, tag, msg, buf = e
        if buf not in self.buffers:
            return False
        minimum = self.tags.get(tag, self.default_level)
        if minimum == "S" or self.ORDER.index(level) < self.ORDER.index(minimum):
            return False
        if self.pid is not None and pid != self.pid:
            return False
        return self.regex is None or bool(self.regex.search(msg))

    def line(self, e) -> str:
        ts, pid, tid, level, tag, msg, _buf = e
        stamp = time.strftime("%m-%d %H:%M:%S", time.localtime(ts)) + f".{int(ts * 1000) % 1000:03d}"
        if self.fmt == "brief":
            return f"{level}/{tag:<8}({pid:5d}): {msg}\n"
        if self.fmt == "time":
            return f"{stamp} {level}/{tag:<8}({pid:5d}): {msg}\n"
        if self.fmt == "tag":
            return f"{level}/{tag:<8}: {msg}\n"
        if self.fmt == "process":
            return f"{level}({pid:5d}) {msg}  ({tag})\n"
        if self.fmt == "raw":
            return f"{msg}\n"
        return f"{stamp} {pid:5d} {tid:5d} {level} {tag:<8}: {msg}\n"

    def render(self, entries) -> str:
        out = []
        for e in entries:
            if not self.accepts(e):
                continue
            buf = e[6]
            if buf != self.last:
                if buf not in self.started:
                    out.append(f"--------- beginning of {buf}\n")
                self.started.add(buf)
                self.last = buf
            out.append(self.line(e))
        return "".join(out)
