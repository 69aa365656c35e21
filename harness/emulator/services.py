"""Maps ADB service names to handlers: shell (v2 and legacy), exec, sync.

Shell v2 (``shell,v2,TERM=xterm,raw:CMD`` from adb 29, ``shell,v2:CMD`` from adbutils)
frames everything as ``id(1) + u32 length + data``: 0 stdin, 1 stdout, 2 stderr,
3 exit, 4 close-stdin, 5 window size (AOSP shell_protocol.h). We send the exit packet,
then CLSE. Legacy ``shell:CMD`` and ``exec:CMD`` carry raw bytes and no exit code.
"""
from __future__ import annotations

import logging
import struct
import threading

from harness.emulator.sh.shell import Shell
from harness.emulator.sh.streams import Stdin
from harness.emulator.sync import SyncService
from harness.emulator.transport import ConnectionDropped, Stream, StreamClosed

log = logging.getLogger(__name__)

ID_STDIN, ID_STDOUT, ID_STDERR, ID_EXIT, ID_CLOSE_STDIN, ID_WINDOW = range(6)
_V2_HEADER = struct.Struct("<BI")


def make_router(device):
    """A transport Router for ``device``."""

    def route(service: str):
        name, _, command = service.partition(":")
        if name == "sync":
            return lambda stream: SyncService(device, stream).run()
        if name == "shell" or name.startswith("shell,"):
            options = name.split(",")[1:]
            if "v2" in options:
                return lambda stream: _shell_v2(device, stream, command)
            return lambda stream: _shell_raw(device, stream, command)
        if name == "exec":
            return lambda stream: _shell_raw(device, stream, command)
        log.info("refusing service %r", service)
        return None

    return route


class _V2Writer:
    """Frames output as shell-v2 packets; one packet never straddles another."""

    def __init__(self, stream: Stream):
        self.stream = stream

    def packet(self, kind: int, data: bytes) -> None:
        step = self.stream.max_payload - _V2_HEADER.size
        view = memoryview(data)
        for start in range(0, max(len(view), 1), step):
            piece = view[start:start + step]
            if not piece and kind in (ID_STDOUT, ID_STDERR):
                return
            self.stream.write(_V2_HEADER.pack(kind, len(piece)) + bytes(piece))


class _Pump:
    """Sends a shell's output as it is written, from a thread of its own.

    Commands append; the pump sends whatever has accumulated while the previous WRTE
    waited for its OKAY (so output streams, and many small writes still coalesce into few
    packets). Writers block when more than MAX_PENDING bytes wait (flow control).
    """

    MAX_PENDING = 1 << 20

    def __init__(self, send, merge_kinds: bool = False):
        self.send = send                   # send(kind, bytes)
        self.merge_kinds = merge_kinds
        self.pending: list[list] = []
        self.size = 0
        self.cv = threading.Condition()
        self.closed = False
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="shell-pump", daemon=True)
        self.thread.start()

    def writer(self, kind: int):
        def write(data: bytes) -> None:
            if not data:
                return
            with self.cv:
                if self.error is not None:
                    raise self.error
                while self.size >= self.MAX_PENDING and self.error is None:
                    self.cv.wait(0.5)
                if self.error is not None:
                    raise self.error
                k = ID_STDOUT if self.merge_kinds else kind
                if self.pending and self.pending[-1][0] == k:
                    self.pending[-1][1] += data
                else:
                    self.pending.append([k, bytearray(data)])
                self.size += len(data)
                self.cv.notify_all()
        return write

    def _run(self) -> None:
        while True:
            with self.cv:
                while not self.pending and not self.closed:
                    self.cv.wait()
                if not self.pending and self.closed:
                    return
                batch, self.pending, self.size = self.pending, [], 0
                self.cv.notify_all()
            try:
                for kind, data in batch:
                    self.send(kind, bytes(data))
            except BaseException as e:  # noqa: BLE001  the host went away: writers see it
                with self.cv:
                    self.error = e if isinstance(e, Exception) else StreamClosed(str(e))
                    self.pending, self.size = [], 0
                    self.cv.notify_all()
                return

    def close(self) -> None:
        """Flush everything, then stop the pump thread."""
        with self.cv:
            self.closed = True
            self.cv.notify_all()
        self.thread.join()
        if self.error is not None:
            raise self.error


def _v2_stdin_source(stream: Stream):
    """Yields stdin bytes from v2 packets until close-stdin or the stream ends."""
    state = {"done": False}

    def next_chunk() -> bytes:
        while not state["done"]:
            try:
                kind, length = _V2_HEADER.unpack(stream.read_exact(_V2_HEADER.size))
                data = stream.read_exact(length) if length else b""
            except StreamClosed:
                state["done"] = True
                return b""
            if kind == ID_STDIN and data:
                return data
            if kind == ID_CLOSE_STDIN:
                state["done"] = True
        return b""

    return next_chunk


def _run_shell(device, stream: Stream, command: str, out, err, stdin) -> int:
    """Run one command line; an emulator bug becomes a message and status 255, never a
    stream closed without an exit code."""
    shell = Shell(device, out, err, stdin=stdin, stream=stream)
    try:
        return shell.run(command)
    except (StreamClosed, ConnectionDropped):
        raise
    except Exception as e:  # noqa: BLE001
        log.exception("shell failed on %r", command)
        try:
            err(f"/system/bin/sh: the emulated phone failed: {type(e).__name__}: {e}\n".encode("utf-8", "replace"))
        except Exception:  # noqa: BLE001
            pass
        return 255


def _shell_v2(device, stream: Stream, command: str) -> None:
    out = _V2Writer(stream)
    if not command.strip():
        out.packet(ID_STDERR, b"emulated device: interactive shells are not supported; pass a command\n")
        out.packet(ID_EXIT, bytes([1]))
        return
    pump = _Pump(out.packet)
    status = _run_shell(device, stream, command, pump.writer(ID_STDOUT), pump.writer(ID_STDERR),
                        Stdin(source=_v2_stdin_source(stream)))
    pump.close()
    out.packet(ID_EXIT, bytes([status & 0xFF]))


def _shell_raw(device, stream: Stream, command: str) -> None:
    if not command.strip():
        stream.write(b"emulated device: interactive shells are not supported; pass a command\n")
        return
    pump = _Pump(lambda _kind, data: stream.write(data), merge_kinds=True)
    _run_shell(device, stream, command, pump.writer(ID_STDOUT), pump.writer(ID_STDERR),
               Stdin(source=stream.read_buffered))
    pump.close()
