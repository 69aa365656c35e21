"""Maps ADB service names to handlers: shell (v2 and legacy), exec, sync.

Shell v2 (``shell,v2,TERM=xterm,raw:CMD`` from adb 29, ``shell,v2:CMD`` from adbutils)
frames everything as ``id(1) + u32 length + data``: 0 stdin, 1 stdout, 2 stderr,
3 exit, 4 close-stdin, 5 window size (AOSP shell_protocol.h). We send the exit packet,
then CLSE. Legacy ``shell:CMD`` and ``exec:CMD`` carry raw bytes and no exit code.
"""
from __future__ import annotations

import logging
import struct

from harness.emulator.shell import Shell, Stdin
from harness.emulator.sync import SyncService
from harness.emulator.transport import Stream, StreamClosed

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


class _Buffered:
    """Coalesces many small writes (one per ``ls`` line) into few WRTEs."""

    FLUSH_BYTES = 256 * 1024

    def __init__(self, send):
        self.send = send
        self.buf = bytearray()

    def __call__(self, data: bytes) -> None:
        self.buf += data
        if len(self.buf) >= self.FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.buf:
            data = bytes(self.buf)
            self.buf.clear()
            self.send(data)


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


def _shell_v2(device, stream: Stream, command: str) -> None:
    out = _V2Writer(stream)
    if not command.strip():
        out.packet(ID_STDERR, b"emulated device: interactive shells are not supported; pass a command\n")
        out.packet(ID_EXIT, bytes([1]))
        return
    stdout = _Buffered(lambda b: out.packet(ID_STDOUT, b))
    stderr = _Buffered(lambda b: out.packet(ID_STDERR, b))
    shell = Shell(device, stdout, stderr, stdin=Stdin(source=_v2_stdin_source(stream)), stream=stream)
    status = shell.run(command)
    stdout.flush()
    stderr.flush()
    out.packet(ID_EXIT, bytes([status & 0xFF]))


def _shell_raw(device, stream: Stream, command: str) -> None:
    if not command.strip():
        stream.write(b"emulated device: interactive shells are not supported; pass a command\n")
        return
    output = _Buffered(stream.write)
    shell = Shell(device, output, output, stdin=Stdin(source=stream.read_buffered), stream=stream)
    shell.run(command)
    output.flush()
