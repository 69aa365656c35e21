"""The ``sync:`` service: what ``adb push/pull`` and adbutils' ``sync`` speak.

Requests are ``id(4) + u32 length + payload``. Implemented: STAT (v1, what adbutils
uses), STA2/LST2 (v2, what adb 29 uses; 72-byte replies carrying errno), LIST/LIS2,
SEND (``path,mode`` split at the last comma; DATA chunks of at most 64 KiB; DONE
carries the mtime), RECV, QUIT. See AOSP ``packages/modules/adb/SYNC.TXT`` and
``file_sync_protocol.h``.

Replies are packed: several 64 KiB DATA messages go into one WRTE of up to the
link's max payload (1 MiB), which is what makes pulls fast.
"""
from __future__ import annotations

import errno
import logging
import os
import stat as stat_mod
import struct
import time

from harness.emulator.faults import hang
from harness.emulator.transport import ConnectionDropped, Stream, StreamClosed

log = logging.getLogger(__name__)

SYNC_CHUNK_BYTES = 64 * 1024
SYNC_MAX_PATH_BYTES = 1024
_REQ = struct.Struct("<4sI")
_STAT_V1 = struct.Struct("<4sIII")
_STAT_V2 = struct.Struct("<4sIQQIIIIQqqq")          # 72 bytes
_DENT_V1 = struct.Struct("<4sIIII")
_DENT_V2 = struct.Struct("<4sIQQIIIIQqqqI")         # 76 bytes + name
DIR_MODE = stat_mod.S_IFDIR | 0o771
VIRTUAL_MODE = stat_mod.S_IFREG | 0o444


class SyncFail(Exception):
    """A request failed; the message goes to the host in a FAIL reply."""


class PackedWriter:
    """Buffers sync replies and sends them in WRTEs of exactly the link's max payload."""

    def __init__(self, stream: Stream):
        self.stream = stream
        self.buf = bytearray()

    def put(self, data: bytes) -> None:
        self.buf += data
        limit = self.stream.max_payload
        if len(self.buf) >= limit:
            whole = len(self.buf) - len(self.buf) % limit
            self.stream.write(memoryview(self.buf)[:whole])
            del self.buf[:whole]

    def flush(self) -> None:
        if self.buf:
            self.stream.write(bytes(self.buf))
            self.buf.clear()


def _ids(st: os.stat_result, path: str) -> tuple[int, int]:
    return (0, 1078) if path.startswith("/sdcard") else (2000, 2000)


class SyncService:
    """One ``sync:`` stream: a loop of requests until QUIT or the host closes."""

    def __init__(self, device, stream: Stream):
        self.device = device
        self.fs = device.fs
        self.stream = stream
        self.out = PackedWriter(stream)

    def run(self) -> None:
        while True:
            try:
                header = self.stream.read_exact(8)
            except StreamClosed:
                return
            req_id, length = _REQ.unpack(header)
            if length > SYNC_MAX_PATH_BYTES:
                self._fail(f"path too long: {length} bytes")
                return
            raw_path = self.stream.read_exact(length)
            path = raw_path.decode("utf-8", "surrogateescape")
            if req_id == b"STAT":
                self._stat_v1(path)
            elif req_id in (b"STA2", b"LST2"):
                self._stat_v2(req_id, path)
            elif req_id in (b"LIST", b"LIS2"):
                self._list(req_id == b"LIS2", path)
            elif req_id == b"SEND":
                if not self._send(path):
                    return
            elif req_id == b"RECV":
                if not self._recv(path):
                    return
            elif req_id == b"QUIT":
                return
            else:
                self._fail(f"unknown sync command {req_id!r}")
                return
            self.out.flush()

    # -- helpers ---------------------------------------------------------------------------
    def _fail(self, message: str) -> None:
        data = message.encode("utf-8", "replace")
        self.out.put(b"FAIL" + struct.pack("<I", len(data)) + data)
        self.out.flush()

    def _lstat(self, path: str, follow: bool) -> os.stat_result | None:
        host = self.fs.host(path)
        return os.stat(host) if follow else os.lstat(host)

    # -- STAT ------------------------------------------------------------------------------
    def _stat_v1(self, path: str) -> None:
        if self.fs.is_virtual(path):
            self.out.put(_STAT_V1.pack(b"STAT", VIRTUAL_MODE, 0, int(time.time())))
            return
        try:
            st = self._lstat(path, follow=False)
            self.out.put(_STAT_V1.pack(b"STAT", st.st_mode, st.st_size & 0xFFFFFFFF, int(st.st_mtime)))
        except OSError:
            self.out.put(_STAT_V1.pack(b"STAT", 0, 0, 0))  # a missing file is all zeros in v1

    def _stat_v2(self, req_id: bytes, path: str) -> None:
        if self.fs.is_virtual(path):
            now = int(time.time())
            self.out.put(_STAT_V2.pack(req_id, 0, 0, 1, VIRTUAL_MODE, 1, 0, 0, 0, now, now, now))
            return
        try:
            st = self._lstat(path, follow=req_id == b"STA2")
        except OSError as e:
            self.out.put(_STAT_V2.pack(req_id, e.errno or errno.ENOENT, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
            return
        uid, gid = _ids(st, self.fs.normalize(path))
        self.out.put(_STAT_V2.pack(req_id, 0, st.st_dev, st.st_ino, st.st_mode, st.st_nlink, uid, gid,
                                   st.st_size, int(st.st_atime), int(st.st_mtime), int(st.st_ctime)))

    # -- LIST ------------------------------------------------------------------------------
    def _list(self, v2: bool, path: str) -> None:
        host = self.fs.host(path)
        dev_path = self.fs.normalize(path)
        try:
            names = [".", ".."] + sorted(os.listdir(host))
        except OSError:
            names = []
        if dev_path == "/proc":
            names += [n for n in self.device.proc_entries() if n not in names]
        if not self.fs.listable(dev_path, "shell"):
            names = []          # adbd's opendir fails with EACCES: the listing is just DONE
        for name in names:
            try:
                st = os.lstat(os.path.join(host, name))
                mode, size, mtime = st.st_mode, st.st_size, int(st.st_mtime)
            except OSError:
                st, mode, size, mtime = None, VIRTUAL_MODE, 0, int(time.time())
            encoded = name.encode("utf-8", "surrogateescape")
            if v2:
                uid, gid = _ids(st, dev_path) if st else (0, 0)
                self.out.put(_DENT_V2.pack(b"DNT2", 0, st.st_dev if st else 0, st.st_ino if st else 0, mode,
                                           st.st_nlink if st else 1, uid, gid, size,
                                           mtime, mtime, mtime, len(encoded)) + encoded)
            else:
                self.out.put(_DENT_V1.pack(b"DENT", mode, size & 0xFFFFFFFF, mtime, len(encoded)) + encoded)
        self.out.put(b"DONE" + bytes(72 if v2 else 16))

    # -- SEND ------------------------------------------------------------------------------
    def _send(self, arg: str) -> bool:
        """Receive one file. Returns False when the stream must close (after a FAIL)."""
        path, _, mode_text = arg.rpartition(",")
        if not path:
            path, mode_text = arg, "33188"
        try:
            mode = int(mode_text)
        except ValueError:
            mode = stat_mod.S_IFREG | 0o644
        host = self.fs.host(path)
        try:
            self.fs.check_writable(path)
            host.parent.mkdir(parents=True, exist_ok=True)  # fixed_push_mkdir
        except OSError as e:
            return self._fail_and_drain(f"secure_mkdirs failed: {e.strerror}")
        try:
            previous = host.stat().st_size if host.is_file() else 0
        except OSError:
            previous = 0
        budget = self.device.free_bytes() + previous
        try:
            f = open(host, "wb")
        except OSError as e:
            return self._fail_and_drain(f"couldn't create file: {e.strerror}")
        written = 0
        try:
            while True:
                req_id, length = _REQ.unpack(self.stream.read_exact(8))
                if req_id == b"DATA":
                    if length > SYNC_CHUNK_BYTES:
                        raise SyncFail(f"data chunk of {length} bytes exceeds {SYNC_CHUNK_BYTES}")
                    data = self.stream.read_exact(length)
                    written += length
                    if written > budget:
                        raise SyncFail(f"write failed: {os.strerror(errno.ENOSPC)}")
                    f.write(data)
                    self._transfer_fault("push", written)
                elif req_id == b"DONE":
                    f.close()
                    os.chmod(host, stat_mod.S_IMODE(mode) or 0o644)
                    os.utime(host, (length, length))
                    self.out.put(b"OKAY" + bytes(4))
                    return True
                else:
                    raise SyncFail(f"invalid data message {req_id!r}")
        except SyncFail as e:
            f.close()
            _unlink_quietly(host)
            return self._fail_and_drain(str(e), already_failed=False)
        except (ConnectionDropped, StreamClosed):
            f.close()
            _unlink_quietly(host)
            raise

    def _fail_and_drain(self, message: str, already_failed: bool = False) -> bool:
        """Send FAIL, then swallow the rest of the file until DONE, as adbd does."""
        self._fail(message)
        try:
            while True:
                req_id, length = _REQ.unpack(self.stream.read_exact(8))
                if req_id != b"DATA":
                    break
                self.stream.read_exact(length)
        except StreamClosed:
            pass
        return False

    def _transfer_fault(self, direction: str, transferred: int) -> None:
        action = self.device.faults.transfer_action(direction, transferred)
        if action == "drop":
            self.stream.conn.drop(f"fault: drop {direction} after {transferred} bytes")
            raise ConnectionDropped(f"fault dropped the link during a {direction}")
        if action == "hang":
            hang(self.stream.conn)

    # -- RECV ------------------------------------------------------------------------------
    def _recv(self, path: str) -> bool:
        if self.fs.is_virtual(path):
            data = self.fs.read_bytes(path)
            self.out.put(b"DATA" + struct.pack("<I", len(data)) + data)
            self.out.put(b"DONE" + bytes(4))
            return True
        try:
            f = open(self.fs.host(path), "rb")
        except IsADirectoryError:
            self._fail(f"open failed: {os.strerror(errno.EISDIR)}")
            return False
        except OSError as e:
            self._fail(f"open failed: {e.strerror}")
            return False
        sent = 0
        with f:
            while True:
                try:
                    chunk = f.read(SYNC_CHUNK_BYTES)
                except OSError as e:
                    self._fail(f"read failed: {e.strerror}")
                    return False
                if not chunk:
                    break
                self.out.put(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
                sent += len(chunk)
                if self.device.faults.faults.drop_pull_after_bytes is not None or \
                        self.device.faults.faults.hang_pull_after_bytes is not None:
                    self.out.flush()
                    self._transfer_fault("pull", sent)
        self.out.put(b"DONE" + bytes(4))
        return True


def _unlink_quietly(path) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
