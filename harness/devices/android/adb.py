"""The only module that talks to adb: the real adb server, through adbutils.

Every call has a timeout (a socket timeout on every read, so a device that hangs
without closing its connection cannot hang the harness) and every failure raises
``AdbCallError`` carrying the serial, the command, the exit status and the output.
A push the device refuses (``FAIL``, e.g. ``write failed: No space left on device``)
raises ``DeviceRefused`` with the device's own words, and is not retried: the link is
fine, the device said no. When the adb server dies, the harness restarts it itself, on
its own port and quietly (adbutils would run ``adb start-server`` without ``-P``).
Commands are argv lists, each element quoted with ``shlex.quote`` for the device's
shell; user text (prompts, file names) never travels on a command line at all — it
goes in files pushed with the sync protocol.
"""
from __future__ import annotations

import os
import shlex
import shutil
import socket
import struct
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import adbutils
import adbutils.errors

from harness.devices.android.line_stream import LineStream
from harness.errors import DeviceError, HarnessError, UserError

# Per read/write on an adb socket: a device silent this long is hung. Tests shorten it.
SOCKET_TIMEOUT_S = float(os.environ.get("HARNESS_ADB_TIMEOUT_S") or 30.0)
CONNECT_TIMEOUT_S = 10.0
SERVER_START_TIMEOUT_S = 20.0
PUSH_CHUNK_BYTES = 64 * 1024      # the sync protocol's largest DATA packet


class AdbCallError(DeviceError):
    """An adb call failed: which device, what command, what came back."""

    def __init__(self, serial: str, command: str, message: str, exit_status: int | None = None,
                 output: str = ""):
        detail = f"{command!r} failed: {message}"
        if exit_status is not None:
            detail += f" (exit {exit_status})"
        if output.strip():
            detail += f": {output.strip().splitlines()[-1][:200]}"
        super().__init__(serial, detail)
        self.serial, self.command, self.exit_status, self.output = serial, command, exit_status, output


class DeviceRefused(HarnessError):
    """The device answered a push with FAIL (storage full, read-only, no permission): not retried."""

    def __init__(self, serial: str, remote: str, reason: str):
        full = "No space left on device" in reason
        what = "storage full on the device" if full else "the device refused the file"
        super().__init__(f"{serial}: {what}: {reason} (pushing {remote})")
        self.serial, self.remote, self.reason, self.storage_full = serial, remote, reason, full


def _sync_error_text(e: BaseException) -> str:
    """adbutils' sync errors in words: ``AdbError('Invalid sync cmd', '')`` is a drop mid-transfer."""
    args = [str(a) for a in getattr(e, "args", ()) if str(a)]
    if args and args[0] == "Invalid sync cmd":
        return ("the connection to the device dropped mid-transfer" if len(args) == 1
                else f"the device sent an unexpected sync reply {args[1]!r}")
    if isinstance(e, (AssertionError, struct.error)):
        return "the connection to the device dropped mid-transfer"
    return ": ".join(args)


@dataclass(frozen=True)
class ShellResult:
    exit_status: int
    stdout: str
    stderr: str


def _adb_binary() -> str:
    path = shutil.which("adb")
    if not path:
        raise UserError("adb is not installed; run scripts/setup.sh (it installs Debian's adb)")
    return path


def _server_up(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


class _Connection(adbutils.AdbConnection):
    """adbutils' connection, except that a dead server is restarted on the right port, quietly."""

    def __init__(self, server: "AdbServer"):
        self._server = server
        super().__init__(server.host, server.port)

    def _safe_connect(self):
        try:
            return self._create_socket()
        except (adbutils.AdbTimeout, adbutils.errors.AdbConnectionError):
            pass
        try:
            self._server.ensure_running()
        except UserError as e:
            raise adbutils.errors.AdbConnectionError(str(e)) from None
        return self._create_socket()


class _Client(adbutils.AdbClient):
    """adbutils' client over ``_Connection``s (what every device call opens)."""

    def __init__(self, server: "AdbServer"):
        super().__init__(host=server.host, port=server.port, socket_timeout=SOCKET_TIMEOUT_S)
        self._server = server

    def make_connection(self, timeout: float | None = None) -> adbutils.AdbConnection:
        conn = _Connection(self._server)
        conn.conn.settimeout(timeout or SOCKET_TIMEOUT_S)
        return conn


class AdbServer:
    """An adb server: local (started if not running) or remote (``adb_server: host:port``)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 5037):
        self.host, self.port = host, port

    @classmethod
    def from_address(cls, address: str | None) -> "AdbServer":
        if not address:
            return cls()
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise UserError(f"adb_server must be host:port, got {address!r}")
        return cls(host, int(port))

    @property
    def local(self) -> bool:
        return self.host in ("127.0.0.1", "localhost", "::1")

    def ensure_running(self) -> None:
        if _server_up(self.host, self.port):
            return
        if not self.local:
            raise UserError(f"no adb server answers at {self.host}:{self.port}")
        proc = subprocess.run([_adb_binary(), "-P", str(self.port), "start-server"], capture_output=True,
                              text=True, timeout=SERVER_START_TIMEOUT_S)
        if proc.returncode != 0 or not _server_up(self.host, self.port):
            raise UserError(f"could not start the adb server on port {self.port}: {proc.stderr.strip()}")

    def client(self) -> adbutils.AdbClient:
        self.ensure_running()
        return _Client(self)

    def connect(self, endpoint: str) -> str:
        """``adb connect host:port`` (device labs, wireless debugging, emulated devices)."""
        try:
            answer = self.client().connect(endpoint, timeout=CONNECT_TIMEOUT_S)
        except adbutils.AdbError as e:
            raise AdbCallError(endpoint, f"connect {endpoint}", str(e) or type(e).__name__) from None
        if "connected to" not in answer:
            raise AdbCallError(endpoint, f"connect {endpoint}", answer)
        return endpoint

    def disconnect(self, endpoint: str) -> None:
        """``adb disconnect host:port``; never raises (the device may already be gone)."""
        try:
            self.client().disconnect(endpoint)
        except (adbutils.AdbError, OSError, UserError):
            pass

    def devices(self) -> list[tuple[str, str]]:
        """(serial, state) of every device the server knows, offline ones included."""
        try:
            with self.client().make_connection(timeout=SOCKET_TIMEOUT_S) as c:
                c.send_command("host:devices")
                c.check_okay()
                text = c.read_string_block()
        except (adbutils.AdbError, OSError, EOFError) as e:
            raise UserError(f"adb server at {self.host}:{self.port}: {e}") from None
        out = []
        for line in text.splitlines():
            if "\t" in line:
                serial, state = line.split("\t", 1)
                out.append((serial, state.strip()))
        return out


class Adb:
    """One device, by serial, on one adb server."""

    def __init__(self, server: AdbServer, serial: str):
        self.server, self.serial = server, serial
        self._device = None

    def _dev(self):
        if self._device is None:
            self._device = self.server.client().device(serial=self.serial)
        return self._device

    def _fail(self, command: str, e: BaseException, timeout_s: float | None = None) -> AdbCallError:
        self._device = None   # a new connection next time
        if isinstance(e, (socket.timeout, TimeoutError, adbutils.AdbTimeout)):
            silent = timeout_s or SOCKET_TIMEOUT_S
            return AdbCallError(self.serial, command, f"timed out after {silent:.0f} s without an answer")
        msg = _sync_error_text(e).strip() or "the connection to the device dropped"
        return AdbCallError(self.serial, command, msg)

    def state(self) -> str:
        for serial, state in self.server.devices():
            if serial == self.serial:
                return state
        return "absent"

    def shell(self, argv: list[str], timeout_s: float | None = None, check: bool = True) -> ShellResult:
        """Run ``argv`` on the device (each element quoted), shell v2: exit status and stderr apart.
        ``timeout_s``: how long the device may stay silent (default SOCKET_TIMEOUT_S; longer
        for commands that are slow to answer, such as hashing a model)."""
        command = shlex.join(argv)
        timeout_s = timeout_s or SOCKET_TIMEOUT_S
        try:
            r = self._dev().shell2(command, timeout=timeout_s, v2=True)
        except (adbutils.AdbError, OSError, EOFError) as e:
            raise self._fail(command, e, timeout_s) from None
        result = ShellResult(r.returncode, r.stdout, r.stderr)
        if check and result.exit_status != 0:
            raise AdbCallError(self.serial, command, "non-zero exit", result.exit_status,
                               result.stderr or result.stdout)
        return result

    def stream_lines(self, argv: list[str]) -> LineStream:
        """Start ``argv`` (quoted as in ``shell``) and stream its output lines as they come."""
        command = shlex.join(argv)
        try:
            conn = self._dev().shell(command, stream=True, timeout=SOCKET_TIMEOUT_S)
        except (adbutils.AdbError, OSError, EOFError) as e:
            raise self._fail(command, e) from None
        return LineStream(conn)

    def shell_batch(self, commands: list[list[str]], timeout_s: float | None = None) -> list[str]:
        """Run several harness-made commands in one shell call; their stdouts, in order.

        Each argv is quoted as in ``shell``; only the separators (``;`` and an echo of a
        fixed marker) are literal, so no user text reaches the device's shell. One round
        trip instead of one per command keeps the harness's per-block overhead small.
        """
        marker = "__HARNESS_SPLIT__"
        script = f" ; echo {marker} ; ".join(shlex.join(c) for c in commands)
        timeout_s = timeout_s or SOCKET_TIMEOUT_S
        try:
            r = self._dev().shell2(script, timeout=timeout_s, v2=True)
        except (adbutils.AdbError, OSError, EOFError) as e:
            raise self._fail(script, e, timeout_s) from None
        parts = r.stdout.split(marker + "\n")
        return (parts + [""] * len(commands))[:len(commands)]

    def getprop(self, name: str) -> str:
        return self.shell(["getprop", name]).stdout.strip()

    def props(self) -> dict[str, str]:
        """All properties (``getprop`` output ``[name]: [value]``)."""
        out = {}
        for line in self.shell(["getprop"]).stdout.splitlines():
            if line.startswith("[") and "]: [" in line:
                k, _, v = line.partition("]: [")
                out[k[1:]] = v.rstrip("]")
        return out

    def push(self, local: Path, remote: str, on_bytes: Callable[[int], None] | None = None) -> None:
        """Push a file through the sync protocol; ``on_bytes(n)`` is called as data goes out.

        Written here rather than with adbutils' ``sync.push``, which reads only the 4 bytes of a
        ``FAIL`` and drops the device's reason: here a refusal is ``DeviceRefused`` with it."""
        command = f"push {local} {remote}"
        try:
            with open(local, "rb") as f, self._dev().sync._prepare_sync(f"{remote},{0o100644}", "SEND") as c:
                try:
                    while chunk := f.read(PUSH_CHUNK_BYTES):
                        c.conn.sendall(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
                        if on_bytes:
                            on_bytes(len(chunk))
                    c.conn.sendall(b"DONE" + struct.pack("<I", int(time.time())))
                except OSError as e:     # the device may have said FAIL and closed: read why
                    self._raise_refusal(c, remote)
                    raise e
                self._raise_refusal(c, remote, expect_reply=True)
        except (adbutils.AdbError, OSError, EOFError, struct.error) as e:
            raise self._fail(command, e) from None

    def _raise_refusal(self, c, remote: str, expect_reply: bool = False) -> None:
        """Read the device's reply to a SEND: OKAY returns, FAIL raises DeviceRefused with its reason."""
        try:
            status = c.read(4)
        except (adbutils.AdbError, OSError):
            if expect_reply:
                raise
            return
        if status == b"OKAY":
            return
        if status == b"FAIL":
            length = struct.unpack("<I", c.read(4))[0]
            raise DeviceRefused(self.serial, remote, c.read(length).decode("utf-8", "replace").strip())
        if expect_reply:
            raise adbutils.AdbError("Invalid sync cmd", status.decode("ascii", "replace"))

    def pull_bytes(self, remote: str) -> bytes:
        try:
            return self._dev().sync.read_bytes(remote)
        except (adbutils.AdbError, OSError, EOFError, AssertionError, struct.error) as e:
            raise self._fail(f"pull {remote}", e) from None

    def list_dir(self, remote: str) -> list[str]:
        """Names in a remote directory ([] when it does not exist)."""
        try:
            return [e.path for e in self._dev().sync.list(remote) if e.path not in (".", "..")]
        except (adbutils.AdbError, OSError, EOFError, AssertionError, struct.error) as e:
            raise self._fail(f"ls {remote}", e) from None

    def stat_size(self, remote: str) -> int | None:
        """Size of a remote file, or None when it does not exist."""
        try:
            info = self._dev().sync.stat(remote)
        except (adbutils.AdbError, OSError, EOFError, AssertionError, struct.error) as e:
            raise self._fail(f"stat {remote}", e) from None
        return info.size if info.mode else None

    def install(self, apk: Path) -> None:
        """Push the APK and ``pm install -r`` it (what ``adb install`` does on old devices)."""
        remote = f"/data/local/tmp/{apk.name}"
        self.push(apk, remote)
        self.shell(["pm", "install", "-r", remote], timeout_s=180)
        self.shell(["rm", "-f", remote], check=False)

    def wait_for_device(self, timeout_s: float) -> bool:
        """Wait until the server lists the device as ``device`` again (after a drop)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if self.state() == "device":
                    self._device = None
                    return True
            except UserError:
                pass
            time.sleep(0.3)
        return False
