"""The emulated device's process: the ADB listener, the control channel, shutdown.

The ADB listener accepts the adb server's TCP connections (it reconnects by itself
after a drop, so the listener outlives every connection). The control channel is a
JSON-lines TCP socket on 127.0.0.1: one request object per line, one reply per line
(``{"ok": true, ...}`` or ``{"ok": false, "error": "..."}``). Tests use it to arm
faults and script state mid-run.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import struct
import threading
import time

from harness import contract
from harness.emulator.device import Device
from harness.emulator.faults import LinkShaper
from harness.emulator.services import make_router
from harness.emulator.transport import Connection
from harness.errors import HarnessError, UserError

log = logging.getLogger(__name__)

# The adb server probes 127.0.0.1:5555-5585 for emulators: never listen there.
ADB_EMULATOR_PORT_RANGE = range(5554, 5586)
STATE_FILE = "emulator.json"
_CONTROL_LINE_MAX_BYTES = 1 << 20


def free_port(host: str = "127.0.0.1") -> int:
    """A port free right now outside the emulator range (for an adb server a test or benchmark starts)."""
    while True:
        with socket.socket() as s:
            s.bind((host, 0))
            port = s.getsockname()[1]
        if port not in ADB_EMULATOR_PORT_RANGE:
            return port


def bind_listener(port: int | None, host: str = "127.0.0.1") -> socket.socket:
    """A listening socket on ``port`` or, if None, on a free port outside the emulator range."""
    if port is not None and port in ADB_EMULATOR_PORT_RANGE:
        raise UserError(f"port {port} is in 5554-5585, which the adb server probes for emulators; pick another")
    for _ in range(50):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port or 0))
        except OSError as e:
            s.close()
            raise UserError(f"cannot listen on {host}:{port}: {e.strerror}") from None
        if s.getsockname()[1] in ADB_EMULATOR_PORT_RANGE:
            s.close()
            continue
        s.listen(16)
        return s
    raise UserError("no free port outside the adb emulator range")


def _shutdown_listener(sock: socket.socket) -> None:
    """Close a listener so that a thread blocked in accept() wakes up (close alone does not)."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class EmulatorServer:
    """Owns one Device and its two listeners."""

    def __init__(self, device: Device, port: int | None = None, control_port: int | None = None,
                 adb_port: int | None = None):
        self.device = device
        self.adb_port = adb_port
        self.listener = bind_listener(port)
        self.port = self.listener.getsockname()[1]
        self.control = bind_listener(control_port)
        self.control_port = self.control.getsockname()[1]
        self.router = make_router(device)
        self.shaper = LinkShaper(device.faults)
        self.stopped = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def serial(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        for listener, handle, name in ((self.listener, self._adb_client, "adb-accept"),
                                       (self.control, self._control_accepted, "control-accept")):
            t = threading.Thread(target=self._accept_loop, args=(listener, handle), name=name, daemon=True)
            t.start()
            self._threads.append(t)
        self.write_state_file()

    def write_state_file(self) -> None:
        info = {"name": self.device.name, "pid": os.getpid(), "port": self.port, "serial": self.serial,
                "control_port": self.control_port, "profile": self.device.profile.name,
                "adb_port": self.adb_port, "state_dir": str(self.device.state_dir),
                "fs_root": str(self.device.fs.root), "started_at": time.time()}
        path = self.device.state_dir / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(info, indent=1))
        os.replace(tmp, path)

    def _accept_loop(self, listener: socket.socket, handle) -> None:
        """Hand each connection ``listener`` accepts to ``handle`` until the server stops."""
        while not self.stopped.is_set():
            try:
                sock, _addr = listener.accept()
            except OSError:
                if self.stopped.is_set():
                    return
                time.sleep(0.05)
                continue
            handle(sock)

    # -- ADB ------------------------------------------------------------------------------
    def _adb_client(self, sock: socket.socket) -> None:
        if self.device.faults.take_refusal():
            # RST instead of FIN: the closest thing to "connection refused" on a live port.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
            return
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn = Connection(sock, self.router, self.device.props, link=self.shaper,
                          on_close=self.device.connections.discard)
        self.device.connections.add(conn)
        threading.Thread(target=conn.serve, name="adb-conn", daemon=True).start()

    # -- control channel --------------------------------------------------------------------
    def _control_accepted(self, sock: socket.socket) -> None:
        threading.Thread(target=self._control_client, args=(sock,), name="control", daemon=True).start()

    def _control_client(self, sock: socket.socket) -> None:
        with sock, sock.makefile("rwb") as f:
            for raw in f:
                if len(raw) > _CONTROL_LINE_MAX_BYTES:
                    reply = {"ok": False, "error": "request too long"}
                else:
                    try:
                        request = json.loads(raw)
                        if not isinstance(request, dict):
                            raise UserError("a control request is a JSON object")
                        reply = {"ok": True, **(self.handle(request) or {})}
                    except (ValueError, HarnessError) as e:
                        reply = {"ok": False, "error": str(e)}
                    except Exception as e:  # report, never kill the device
                        log.exception("control request failed")
                        reply = {"ok": False, "error": f"{type(e).__name__}: {e}"}
                try:
                    f.write(json.dumps(reply).encode() + b"\n")
                    f.flush()
                except OSError:
                    return
                if self.stopped.is_set():
                    return

    def handle(self, req: dict) -> dict:
        """Run one control request (also callable in-process)."""
        op = req.get("op")
        dev = self.device
        if op == "ping":
            return {"serial": self.serial, "pid": os.getpid()}
        if op == "set_faults":
            return {"faults": dev.faults.update(req.get("faults") or {})}
        if op == "clear_faults":
            return {"faults": dev.faults.clear()}
        if op == "set_state":
            dev.set_state(req.get("state") or {})
            return {"snapshot": dev.snapshot()}
        if op == "snapshot":
            return {"snapshot": dev.snapshot()}
        if op == "drop":
            return {"dropped": dev.drop_connections()}
        if op == "set_props":
            dev.props.update({str(k): str(v) for k, v in (req.get("props") or {}).items()})
            return {}
        if op == "install_package":
            dev.install_package(str(req["package"]), int(req["version_code"]), str(req.get("version_name", "1.0")))
            return {}
        if op == "kill_app":
            return {"killed": dev.apps.kill(str(req.get("package", contract.APP_PACKAGE)))}
        if op == "uninstall_package":
            return {"removed": dev.uninstall_package(str(req["package"]))}
        if op == "log":
            dev.logcat.log(str(req.get("tag", "Test")), str(req.get("message", "")), level=str(req.get("level", "I")),
                           pid=int(req.get("pid", 1000)), buffer=req.get("buffer"))
            return {}
        if op == "logcat":
            return {"text": dev.logcat.dump()}
        if op == "stop":
            threading.Thread(target=self.stop, daemon=True).start()
            return {}
        raise UserError(f"unknown control op {op!r}")

    # -- shutdown ---------------------------------------------------------------------------
    def stop(self) -> None:
        """Stop listening, drop links, kill app runs. Never raises."""
        if self.stopped.is_set():
            return
        self.stopped.set()
        _shutdown_listener(self.listener)
        _shutdown_listener(self.control)
        try:
            self.device.drop_connections()
            self.device.apps.stop_all()
        except Exception:
            log.exception("stopping the device failed")
        try:
            (self.device.state_dir / STATE_FILE).unlink(missing_ok=True)
        except OSError:
            pass

    def wait(self) -> None:
        self.stopped.wait()
