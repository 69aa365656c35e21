"""Output of a device command that keeps running (``logcat`` without ``-d``), line by line.

Part of the adb boundary (``adb.Adb.stream_lines`` opens it): a reader thread splits what
arrives into lines; a quiet stream is not a dead device, and ``close`` always ends it.
"""
from __future__ import annotations

import socket
import threading


class LineStream:
    """Output of a device command that keeps running (``logcat`` without ``-d``).

    A reader thread splits what arrives into lines; ``read(wait_s)`` hands out the lines
    that came since the last call, waiting up to ``wait_s`` for the first. ``ended`` is
    true once the device closed the stream or the link dropped; ``close`` stops it.
    """

    def __init__(self, conn):
        self._conn = conn
        self._lines: list[str] = []
        self._cv = threading.Condition()
        self._ended = False
        self._thread = threading.Thread(target=self._pump, name="adb-line-stream", daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        partial = b""
        try:
            while True:
                try:
                    chunk = self._conn.conn.recv(65536)
                except socket.timeout:
                    continue          # a quiet log is not a dead device; close() ends us
                if not chunk:
                    break
                partial += chunk
                *complete, partial = partial.split(b"\n")
                if complete:
                    with self._cv:
                        self._lines.extend(ln.decode("utf-8", "replace").rstrip("\r") for ln in complete)
                        self._cv.notify_all()
        except (OSError, ValueError):
            pass                      # closed by close(), or the link dropped
        finally:
            with self._cv:
                self._ended = True
                self._cv.notify_all()

    @property
    def ended(self) -> bool:
        with self._cv:
            return self._ended and not self._lines

    def read(self, wait_s: float) -> list[str]:
        with self._cv:
            if not self._lines and not self._ended:
                self._cv.wait(wait_s)
            lines, self._lines = self._lines, []
            return lines

    def close(self) -> None:
        try:   # shutdown wakes the reader's blocked recv; close alone may not
            self._conn.conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self._conn.close()
        except OSError:
            pass
        self._thread.join(timeout=2)
