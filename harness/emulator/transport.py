"""The device side of the ADB transport over TCP: packets, the CNXN handshake, streams.

The real adb server connects here after ``adb connect 127.0.0.1:PORT``. We answer its
CNXN directly (no AUTH, so no keys matter), accept OPENs for the services a ``Router``
knows, and carry each stream with the protocol's flow control: every WRTE waits for
the peer's OKAY on that stream, in both directions (see docs/emulator.md and
AOSP packages/modules/adb/protocol.txt).

One thread reads packets; each open stream runs its service in a thread of its own,
so several streams (a pull while a shell runs) proceed at once.
"""
from __future__ import annotations

import collections
import logging
import socket
import struct
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)

A_SYNC = 0x434E5953
A_CNXN = 0x4E584E43
A_OPEN = 0x4E45504F
A_OKAY = 0x59414B4F
A_CLSE = 0x45534C43
A_WRTE = 0x45545257
A_AUTH = 0x48545541
A_STLS = 0x534C5453

# Version 0x01000001 lets both sides skip the payload checksum.
ADB_VERSION = 0x01000001
# What we accept per packet; the effective size is min(host's, ours).
DEVICE_MAX_PAYLOAD_BYTES = 1024 * 1024
HEADER_BYTES = 24
_HEADER = struct.Struct("<6I")

# Features we implement, and only those: abb/abb_exec change how `adb install`
# behaves and sendrecv_v2 makes newer clients use SND2/RCV2.
DEVICE_FEATURES = (
    "shell_v2",
    "cmd",
    "stat_v2",
    "ls_v2",
    "fixed_push_mkdir",
    "fixed_push_symlink_timestamp",
)

# How long a stream's writer waits for the peer's OKAY before checking if the link died.
_OKAY_POLL_S = 0.5

_NAMES = {A_SYNC: "SYNC", A_CNXN: "CNXN", A_OPEN: "OPEN", A_OKAY: "OKAY", A_CLSE: "CLSE",
          A_WRTE: "WRTE", A_AUTH: "AUTH", A_STLS: "STLS"}


class ConnectionDropped(Exception):
    """The TCP link is gone (peer closed, or a fault dropped it)."""


class StreamClosed(Exception):
    """The peer closed this stream; nothing more can be written."""


def encode_packet(command: int, arg0: int, arg1: int, data: bytes = b"") -> bytes:
    """One ADB packet. The checksum is left 0: adb >= 1.0.32 with version 0x01000001 ignores it."""
    return _HEADER.pack(command, arg0, arg1, len(data), 0, command ^ 0xFFFFFFFF) + bytes(data)


def banner(props: dict[str, str]) -> bytes:
    """The CNXN payload a device sends: its identity and features."""
    parts = [f"{k}={props.get(k, '')}" for k in ("ro.product.name", "ro.product.model", "ro.product.device")]
    return ("device::" + ";".join(parts) + ";features=" + ",".join(DEVICE_FEATURES)).encode()


class Stream:
    """One ADB stream seen from the device: a byte pipe with per-WRTE flow control.

    ``read_some`` hands out one received WRTE payload and only then OKAYs it, so a
    slow service throttles the sender as on a real device. ``write`` splits data into
    packets of at most ``max_payload`` bytes and waits for an OKAY after each.
    """

    def __init__(self, conn: "Connection", local_id: int, remote_id: int, service: str):
        self.conn = conn
        self.local_id = local_id
        self.remote_id = remote_id
        self.service = service
        self._inbox: collections.deque[bytes] = collections.deque()
        self._cv = threading.Condition()
        self._remote_closed = False
        self._local_closed = False
        self._okay = threading.Event()
        self._okay.set()
        self._buf = bytearray()

    # -- called by the connection's reader thread ---------------------------------
    def _deliver(self, data: bytes) -> None:
        with self._cv:
            self._inbox.append(data)
            self._cv.notify_all()

    def _on_okay(self) -> None:
        self._okay.set()

    def _on_remote_close(self) -> None:
        with self._cv:
            self._remote_closed = True
            self._cv.notify_all()
        self._okay.set()

    # -- used by services ---------------------------------------------------------
    @property
    def peer_gone(self) -> bool:
        """The host closed this stream, or the link is down."""
        return self._remote_closed or self.conn.closed

    @property
    def max_payload(self) -> int:
        return self.conn.max_payload

    def read_some(self, timeout: float | None = None) -> bytes:
        """The next payload the peer wrote; b"" once the stream or link is closed."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cv:
            while not self._inbox:
                if self._remote_closed or self.conn.closed:
                    return b""
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise TimeoutError("no data from host")
                self._cv.wait(_OKAY_POLL_S if remaining is None else min(remaining, _OKAY_POLL_S))
            data = self._inbox.popleft()
        self.conn.send_packet(A_OKAY, self.local_id, self.remote_id)
        return data

    def read_exact(self, n: int) -> bytes:
        """Exactly ``n`` bytes across WRTE boundaries; raises StreamClosed if the peer ends first."""
        while len(self._buf) < n:
            chunk = self.read_some()
            if not chunk:
                raise StreamClosed(f"stream closed with {len(self._buf)} of {n} bytes read")
            self._buf += chunk
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def read_buffered(self) -> bytes:
        """Whatever is buffered, else the next payload (b"" at end)."""
        if self._buf:
            out = bytes(self._buf)
            self._buf.clear()
            return out
        return self.read_some()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Send ``data`` as WRTE packets, each waiting for the peer's OKAY."""
        view = memoryview(data)
        step = self.max_payload
        for start in range(0, len(view), step):
            if self._remote_closed:
                raise StreamClosed(f"host closed stream {self.service!r}")
            self._okay.clear()
            self.conn.send_packet(A_WRTE, self.local_id, self.remote_id, view[start:start + step])
            while not self._okay.wait(_OKAY_POLL_S):
                if self.conn.closed:
                    raise ConnectionDropped("link closed while waiting for OKAY")
            if self.conn.closed:
                raise ConnectionDropped("link closed")

    def close(self) -> None:
        """Send CLSE unless the peer already closed (never answer a CLSE with a CLSE)."""
        if self._local_closed:
            return
        self._local_closed = True
        self.conn._forget(self.local_id)
        if not self._remote_closed and not self.conn.closed:
            try:
                self.conn.send_packet(A_CLSE, self.local_id, self.remote_id)
            except ConnectionDropped:
                pass


# A router turns a service name ("shell,v2,raw:ls", "sync:") into a handler run in its
# own thread, or None to refuse the service.
Router = Callable[[str], "Callable[[Stream], None] | None"]


class Connection:
    """One TCP link with the adb server: handshake, packet loop, stream table."""

    def __init__(self, sock: socket.socket, router: Router, props: dict[str, str], link=None,
                 on_close: Callable[["Connection"], None] | None = None):
        self.sock = sock
        self.router = router
        self.props = props
        # ``link`` shapes the wire (latency, bandwidth, hang); see faults.LinkShaper.
        self.link = link
        self.on_close = on_close
        self.max_payload = DEVICE_MAX_PAYLOAD_BYTES
        self.closed = False
        # Set by the hang fault: every thread touching the link blocks until it is dropped.
        self.hung = False
        self._send_lock = threading.Lock()
        self._streams: dict[int, Stream] = {}
        self._streams_lock = threading.Lock()
        self._next_id = 1
        self._closed_event = threading.Event()
        self.bytes_in = 0
        self.bytes_out = 0

    # -- wire ---------------------------------------------------------------------
    def _recv_exact(self, n: int) -> bytearray:
        buf = bytearray(n)
        view = memoryview(buf)
        got = 0
        while got < n:
            try:
                k = self.sock.recv_into(view[got:], n - got)
            except OSError as e:
                raise ConnectionDropped(str(e)) from None
            if k == 0:
                raise ConnectionDropped("peer closed the connection")
            got += k
        return buf

    def send_packet(self, command: int, arg0: int, arg1: int, data: bytes | memoryview = b"") -> None:
        if self.closed:
            raise ConnectionDropped("link closed")
        self._block_if_hung()
        if self.link is not None:
            self.link.before_send(self, len(data))
        header = _HEADER.pack(command, arg0, arg1, len(data), 0, command ^ 0xFFFFFFFF)
        with self._send_lock:
            try:
                if data:
                    self.sock.sendall(header)
                    self.sock.sendall(data)
                else:
                    self.sock.sendall(header)
            except OSError as e:
                self.drop(f"send failed: {e}")
                raise ConnectionDropped(str(e)) from None
        self.bytes_out += HEADER_BYTES + len(data)

    def read_packet(self) -> tuple[int, int, int, bytes]:
        command, arg0, arg1, length, _crc, magic = _HEADER.unpack(self._recv_exact(HEADER_BYTES))
        if magic != command ^ 0xFFFFFFFF:
            raise ConnectionDropped(f"bad packet magic {magic:#x} for command {command:#x}")
        if length > DEVICE_MAX_PAYLOAD_BYTES:
            raise ConnectionDropped(f"packet of {length} bytes exceeds {DEVICE_MAX_PAYLOAD_BYTES}")
        data = self._recv_exact(length) if length else b""
        self._block_if_hung()
        if self.link is not None:
            self.link.after_receive(self, length)
        self.bytes_in += HEADER_BYTES + length
        return command, arg0, arg1, data

    def _block_if_hung(self) -> None:
        if self.hung:
            self._closed_event.wait()
            raise ConnectionDropped("hung link was dropped")

    # -- life cycle -----------------------------------------------------------------
    def serve(self) -> None:
        """Run the packet loop until the link closes. Never raises."""
        try:
            self._loop()
        except ConnectionDropped as e:
            log.debug("connection ended: %s", e)
        except Exception:  # a bug here must not kill the device process
            log.exception("connection loop failed")
        finally:
            self.drop("packet loop ended")

    def _loop(self) -> None:
        while True:
            command, arg0, arg1, data = self.read_packet()
            if command == A_CNXN:
                self.max_payload = max(4096, min(arg1 or DEVICE_MAX_PAYLOAD_BYTES, DEVICE_MAX_PAYLOAD_BYTES))
                self._close_all_streams()
                self.send_packet(A_CNXN, ADB_VERSION, DEVICE_MAX_PAYLOAD_BYTES, banner(self.props))
            elif command == A_OPEN:
                self._open(arg0, bytes(data).rstrip(b"\0").decode("utf-8", "replace"))
            elif command == A_WRTE:
                stream = self._stream(arg1)
                if stream is None:
                    # Unknown stream: tell the host it is closed.
                    self.send_packet(A_CLSE, 0, arg0)
                else:
                    stream._deliver(bytes(data))
            elif command == A_OKAY:
                stream = self._stream(arg1)
                if stream is not None:
                    if stream.remote_id == 0:
                        stream.remote_id = arg0
                    stream._on_okay()
            elif command == A_CLSE:
                stream = self._stream(arg1)
                if stream is not None:
                    stream._on_remote_close()
                    self._forget(arg1)
            else:
                log.debug("ignoring packet %s", _NAMES.get(command, hex(command)))

    def _open(self, remote_id: int, service: str) -> None:
        handler = None
        try:
            handler = self.router(service)
        except Exception:
            log.exception("router failed for %r", service)
        if handler is None:
            self.send_packet(A_CLSE, 0, remote_id)
            return
        with self._streams_lock:
            local_id = self._next_id
            self._next_id += 1
            stream = Stream(self, local_id, remote_id, service)
            self._streams[local_id] = stream
        self.send_packet(A_OKAY, local_id, remote_id)
        threading.Thread(target=self._run_service, args=(handler, stream),
                         name=f"adb-stream-{local_id}", daemon=True).start()

    def _run_service(self, handler, stream: Stream) -> None:
        try:
            handler(stream)
        except (ConnectionDropped, StreamClosed) as e:
            log.debug("service %r ended: %s", stream.service, e)
        except Exception:
            log.exception("service %r failed", stream.service)
        finally:
            stream.close()

    def _stream(self, local_id: int) -> Stream | None:
        with self._streams_lock:
            return self._streams.get(local_id)

    def _forget(self, local_id: int) -> None:
        with self._streams_lock:
            self._streams.pop(local_id, None)

    def _close_all_streams(self) -> None:
        with self._streams_lock:
            streams = list(self._streams.values())
            self._streams.clear()
        for s in streams:
            s._on_remote_close()

    def wait_closed(self, timeout: float | None = None) -> bool:
        return self._closed_event.wait(timeout)

    def drop(self, reason: str = "dropped") -> None:
        """Close the TCP link at once (a pulled cable). Never raises."""
        if self.closed:
            return
        self.closed = True
        log.debug("dropping connection: %s", reason)
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        try:
            self.sock.close()
        except OSError:
            pass
        self._close_all_streams()
        self._closed_event.set()
        if self.on_close is not None:
            try:
                self.on_close(self)
            except Exception:
                log.exception("on_close failed")
