"""Shared fixtures: an own adb server and an emulated device per test (harness/emulator).

Only emulator/adb fixtures live here. Every test that uses ``emulated_device`` gets a
fresh device process AND a fresh adb server on free ports with its own HOME (the server
writes ``$HOME/.android/adbkey``), without ADB_SERVER_SOCKET/ANDROID_SERIAL; both are
torn down afterwards whatever happened.

Options via a marker::

    @pytest.mark.emulator(profile="emulator-x86_64", app_version_code=None,
                          faults={...}, state={...}, hostrun_cmd=[...])
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from harness.emulator.server import free_port

ADB_FIXTURE_TIMEOUT_S = 20.0


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "emulator(**options): options for the emulated_device fixture (see tests/conftest.py)")


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@dataclasses.dataclass
class AdbServer:
    """A private adb server: ``port``, its ``env`` (own HOME) and a runner for the real adb binary."""

    port: int
    env: dict[str, str]
    home: Path

    def adb(self, *args: str, timeout: float = ADB_FIXTURE_TIMEOUT_S, input: bytes | None = None
            ) -> subprocess.CompletedProcess:
        """``adb -P port ARGS`` (bytes stdout/stderr), with a timeout (adb never times out a hung device)."""
        return subprocess.run(["adb", "-P", str(self.port), *args], capture_output=True, timeout=timeout,
                              env=self.env, input=input, stdin=None if input is not None else subprocess.DEVNULL)


def _adb_server(home: Path):
    if shutil.which("adb") is None:
        pytest.skip("the adb binary is not installed (apt-get install adb)")
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("ADB_SERVER_SOCKET", "ANDROID_SERIAL", "ANDROID_ADB_SERVER_PORT")}
    env["HOME"] = str(home)
    server = AdbServer(free_port(), env, home)
    result = server.adb("start-server")
    assert result.returncode == 0, result.stderr
    try:
        yield server
    finally:
        try:
            server.adb("kill-server", timeout=10)
        except Exception:
            pass
        deadline = time.monotonic() + 5
        while _port_open(server.port) and time.monotonic() < deadline:
            time.sleep(0.05)


@pytest.fixture
def adb_server(tmp_path) -> AdbServer:
    yield from _adb_server(tmp_path / "adb-home")


@pytest.fixture(scope="module")
def module_adb_server(tmp_path_factory) -> AdbServer:
    yield from _adb_server(tmp_path_factory.mktemp("adb") / "adb-home")


@dataclasses.dataclass
class EmulatedDevice:
    """What a test needs to drive one emulated device through the real adb server.

    serial, adb_port, client (adbutils.AdbClient), device (adbutils.AdbDevice),
    fs_root (host directory standing for the device's "/"), handle (EmulatorHandle),
    server (AdbServer); methods adb(), shell(), set_faults(), clear_faults(),
    set_state(), snapshot(), drop(), wait_online(), host_path().
    """

    serial: str
    adb_port: int
    client: Any
    device: Any
    fs_root: Path
    handle: Any
    server: AdbServer

    def adb(self, *args: str, timeout: float = ADB_FIXTURE_TIMEOUT_S, input: bytes | None = None
            ) -> subprocess.CompletedProcess:
        """``adb -P port -s serial ARGS`` through the real binary."""
        return self.server.adb("-s", self.serial, *args, timeout=timeout, input=input)

    def shell(self, command: str, timeout: float = ADB_FIXTURE_TIMEOUT_S) -> subprocess.CompletedProcess:
        return self.adb("shell", command, timeout=timeout)

    def host_path(self, device_path: str) -> Path:
        return self.fs_root / device_path.lstrip("/")

    def set_faults(self, **faults: Any) -> dict:
        return self.handle.set_faults(**faults)

    def clear_faults(self) -> dict:
        return self.handle.clear_faults()

    def set_state(self, **state: Any) -> dict:
        return self.handle.set_state(**state)

    def snapshot(self) -> dict:
        return self.handle.snapshot()

    def drop(self) -> int:
        """Pull the cable: close every ADB link (the device keeps listening)."""
        return self.handle.drop_connections()

    def state(self) -> str:
        r = self.server.adb("-s", self.serial, "get-state", timeout=10)
        return r.stdout.decode().strip() or r.stderr.decode().strip()

    def wait_online(self, timeout: float = 10.0) -> None:
        """Wait until the adb server lists the device as ``device`` again (it re-attaches by itself)."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            last = self.state()
            if last == "device":
                return
            time.sleep(0.1)
        raise AssertionError(f"{self.serial} not back online after {timeout} s (last state: {last!r})")


def _emulated_device(state_root: Path, adb_server: AdbServer, options: dict):
    import adbutils

    from harness.emulator import start_emulator, stop_emulator

    handle = start_emulator("dut", state_root=state_root, adb_port=adb_server.port, env=adb_server.env,
                            **options)
    try:
        client = adbutils.AdbClient(host="127.0.0.1", port=adb_server.port, socket_timeout=ADB_FIXTURE_TIMEOUT_S)
        yield EmulatedDevice(serial=handle.serial, adb_port=adb_server.port, client=client,
                             device=client.device(handle.serial), fs_root=handle.fs_root, handle=handle,
                             server=adb_server)
    finally:
        try:
            stop_emulator("dut", state_root=state_root, env=adb_server.env)
        except Exception:
            pass


@pytest.fixture
def emulated_device(request, tmp_path, adb_server) -> EmulatedDevice:
    marker = request.node.get_closest_marker("emulator")
    options = dict(marker.kwargs) if marker else {}
    yield from _emulated_device(tmp_path / "emulators", adb_server, options)


@pytest.fixture(scope="module")
def _module_device(tmp_path_factory, module_adb_server) -> EmulatedDevice:
    yield from _emulated_device(tmp_path_factory.mktemp("emulators"), module_adb_server, {})


# The state a shared device is put back to before each test that uses it.
SHARED_DEVICE_RESET = {"battery_level": 85, "battery_temp_tenths_c": 290, "charging": True, "thermal_status": 0,
                       "thermal_cool_every_queries": 0, "thermal_headroom": None, "quota_bytes": None,
                       "screen": "on", "locked": False, "secure_lock": False}


@pytest.fixture
def shared_device(_module_device) -> EmulatedDevice:
    """One emulated device (and adb server) for a whole test module: for tests that only read
    or that clean up after themselves. Faults and state are reset before each test."""
    _module_device.clear_faults()
    _module_device.set_state(**SHARED_DEVICE_RESET)
    return _module_device
