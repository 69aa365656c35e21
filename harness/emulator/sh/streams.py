"""Byte streams of the emulated shell: stdin sources, pipes between pipeline stages, file sinks.

Every pipeline stage runs in a thread of its own, joined by a ``Pipe`` (a bounded buffer):
``logcat | grep X`` follows the log, ``cmd | head -1`` ends the producer (its next write
raises ``PipeClosed``, as SIGPIPE ends a process on a phone), and output reaches the host
as it is written (services.py sends it from a pump thread). ``Ctx`` is what a command sees.
"""
from __future__ import annotations

import collections
import dataclasses
import threading
import time
from typing import Callable

PIPE_BUF_BYTES = 64 * 1024
SH = "/system/bin/sh"        # the shell's path: the first word of its error messages


class PipeClosed(Exception):
    """Written to a pipe whose reader has gone (SIGPIPE on a phone)."""


class InStream:
    """A command's standard input: ``read_chunk()`` gives the next bytes, b"" at the end."""

    def read_chunk(self) -> bytes:
        return b""

    def close(self) -> None:
        pass

    def read(self) -> bytes:
        parts = []
        while chunk := self.read_chunk():
            parts.append(chunk)
        return b"".join(parts)

    def lines(self):
        """Lines (with their newline) as they arrive."""
        buf = b""
        while chunk := self.read_chunk():
            buf += chunk
            *complete, buf = buf.split(b"\n")
            for line in complete:
                yield line + b"\n"
        if buf:
            yield buf

    def read_exact(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            chunk = self.read_chunk()
            if not chunk:
                break
            out += chunk
        if len(out) > n:
            self.unread(bytes(out[n:]))
            del out[n:]
        return bytes(out)

    def unread(self, data: bytes) -> None:
        raise NotImplementedError


class Stdin(InStream):
    """Bytes given up front, or a callable source (the adb stream) read on demand."""

    def __init__(self, data: bytes | None = None, source: Callable[[], bytes] | None = None):
        self._pending = collections.deque([data] if data else [])
        self._source = source

    def read_chunk(self) -> bytes:
        if self._pending:
            return self._pending.popleft()
        if self._source is None:
            return b""
        chunk = self._source()
        if not chunk:
            self._source = None
        return chunk

    def unread(self, data: bytes) -> None:
        self._pending.appendleft(data)


class Pipe(InStream):
    """One pipeline joint: the writer blocks when PIPE_BUF_BYTES are waiting; a closed reader
    makes the writer's next write raise PipeClosed; a closed writer is EOF for the reader."""

    def __init__(self, cancelled: Callable[[], bool] = lambda: False):
        self._buf = collections.deque()
        self._size = 0
        self._cv = threading.Condition()
        self.writer_closed = False
        self.reader_closed = False
        self._cancelled = cancelled

    def write(self, data: bytes) -> None:
        if not data:
            return
        with self._cv:
            while self._size >= PIPE_BUF_BYTES and not self.reader_closed:
                self._cv.wait(0.2)
                if self._cancelled():
                    raise PipeClosed("host went away")
            if self.reader_closed:
                raise PipeClosed("reader closed")
            self._buf.append(bytes(data))
            self._size += len(data)
            self._cv.notify_all()

    __call__ = write

    def close_writer(self) -> None:
        with self._cv:
            self.writer_closed = True
            self._cv.notify_all()

    def read_chunk(self) -> bytes:
        with self._cv:
            while not self._buf and not self.writer_closed:
                self._cv.wait(0.2)
                if self._cancelled():
                    return b""
            if not self._buf:
                return b""
            data = self._buf.popleft()
            self._size -= len(data)
            self._cv.notify_all()
            return data

    def unread(self, data: bytes) -> None:
        with self._cv:
            self._buf.appendleft(data)
            self._size += len(data)

    def close(self) -> None:
        with self._cv:
            self.reader_closed = True
            self._buf.clear()
            self._size = 0
            self._cv.notify_all()

    @property
    def broken(self) -> bool:
        return self.reader_closed


class FileSink:
    """``> file`` / ``>> file`` on the device file system, within its free space."""

    def __init__(self, device, path: str, append: bool, cwd: str = "/"):
        dev_path = device.fs.normalize(path, cwd)
        device.fs.check_writable(dev_path)
        host = device.fs.host(dev_path)
        if host.is_dir():
            raise IsADirectoryError(21, "Is a directory", path)
        self.budget = device.free_bytes() + (host.stat().st_size if host.is_file() and not append else 0)
        self.f = open(host, "ab" if append else "wb")
        self.error = None

    def __call__(self, data: bytes) -> None:
        if self.error:
            return
        if len(data) > self.budget:
            self.error = "No space left on device"
            return
        self.budget -= len(data)
        self.f.write(data)
        self.f.flush()

    def close(self) -> None:
        self.f.close()


def null_sink(_data: bytes) -> None:
    pass


class Capture:
    """Collects output (command substitution)."""

    def __init__(self):
        self.parts: list[bytes] = []

    def __call__(self, data: bytes) -> None:
        self.parts.append(bytes(data))

    def text(self) -> str:
        return b"".join(self.parts).decode("utf-8", "surrogateescape")


@dataclasses.dataclass
class IO:
    stdin: InStream
    out: Callable[[bytes], None]
    err: Callable[[bytes], None]


@dataclasses.dataclass
class Ctx:
    """What a command sees: its argv, its output sinks, its stdin, the device."""

    device: object
    argv: list[str]
    out_sink: Callable[[bytes], None]
    err_sink: Callable[[bytes], None]
    stdin: InStream
    cwd: str = "/"
    conn_stream: object = None
    env: dict = dataclasses.field(default_factory=dict)
    shell: object = None

    def out(self, text: str | bytes) -> None:
        self.out_sink(text if isinstance(text, (bytes, bytearray)) else text.encode("utf-8", "surrogateescape"))

    def err(self, text: str | bytes) -> None:
        self.err_sink(text if isinstance(text, (bytes, bytearray)) else text.encode("utf-8", "surrogateescape"))

    def path(self, p: str) -> str:
        return self.device.fs.normalize(p, self.cwd)

    def cancelled(self) -> bool:
        """The host hung up (the command should end, as SIGHUP ends it on a phone)."""
        s = self.conn_stream
        return s is not None and s.peer_gone

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; False if the host hung up meanwhile."""
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if self.cancelled():
                return False
            if left <= 0:
                return True
            time.sleep(min(left, 0.1))
