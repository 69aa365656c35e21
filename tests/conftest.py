"""Shared fixtures of every tier, defined once (so session fixtures really live once a session).

Tiers are folders, in the order they run: ``unit`` (pure, milliseconds), ``emulated`` (the
emulated phone over the real adb server), ``e2e`` (real conversions and whole runs), ``phone``
(a real phone: skipped unless ``HARNESS_PHONE`` names its alias). Each test gets its folder's
marker, so ``pytest -m unit`` and ``pytest tests/unit`` pick the same tests.

Models: ``harness_cache`` points ``HARNESS_CACHE`` at one session directory (shared by
pytest-xdist's workers), and ``tiny_models`` / ``gen_models`` convert synthetic:tiny once per
session — started in the background as the session starts (``_prewarm_models``).

Devices: every test that uses ``emulated_device`` gets a
fresh device process AND a fresh adb server on free ports with its own HOME (the server
writes ``$HOME/.android/adbkey``), without ADB_SERVER_SOCKET/ANDROID_SERIAL; both are
torn down afterwards whatever happened.

Options via markers (a module's ``pytestmark`` and the test's own are merged, the test's winning)::

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


TESTS = Path(__file__).resolve().parent
TIERS = ("unit", "emulated", "e2e", "phone")
TINY_MAX_LENGTH = 32
ALL_VARIANTS = ["fp32", "dynamic", "fp16", "int8"]


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "emulator(**options): options for the emulated_device fixture (see tests/conftest.py)")
    for tier in TIERS:
        config.addinivalue_line("markers", f"{tier}: a test of the tests/{tier} tier")


def pytest_collection_modifyitems(config, items):
    for item in items:
        parts = Path(str(item.fspath)).resolve().relative_to(TESTS).parts
        if parts and parts[0] in TIERS:
            item.add_marker(getattr(pytest.mark, parts[0]))


# ----------------------------------------------------------------- converted models

@pytest.fixture(scope="session")
def harness_cache(tmp_path_factory) -> Path:
    """One conversion cache for the whole session (HARNESS_TEST_CACHE reuses one across sessions).
    Under pytest-xdist the workers share it: each entry is built once, under its lock."""
    if os.environ.get("HARNESS_TEST_CACHE"):
        cache = Path(os.environ["HARNESS_TEST_CACHE"])
    elif os.environ.get("PYTEST_XDIST_WORKER"):
        cache = tmp_path_factory.getbasetemp().parent / "harness-cache"
        cache.mkdir(exist_ok=True)
    else:
        cache = tmp_path_factory.mktemp("harness-cache")
    old = os.environ.get("HARNESS_CACHE")
    os.environ["HARNESS_CACHE"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("HARNESS_CACHE", None)
    else:
        os.environ["HARNESS_CACHE"] = old


@pytest.fixture(scope="session")
def tiny_source():
    from harness.model import sources

    return sources.resolve("synthetic:tiny")


# The session's models of synthetic:tiny at TINY_MAX_LENGTH: fixture -> [(export, variants, stateful)].
SESSION_MODELS = {
    "tiny_models": [("oneshot", ALL_VARIANTS, False)],
    "gen_models": [("prefill_decode", ["fp32", "dynamic"], False), ("prefill_decode", ["fp32"], True),
                   ("oneshot", ["fp32"], False)],
}
PREWARM = """
import json, sys
from pathlib import Path
from harness.convert import convert
from harness.model import sources
for export, variants, stateful in json.loads(sys.argv[2]):
    convert(sources.resolve("synthetic:tiny"), variants, int(sys.argv[3]), export=export,
            stateful=stateful, cache=Path(sys.argv[1]))
"""


@pytest.fixture(scope="session", autouse=True)
def _prewarm_models(request, harness_cache):
    """Start converting the session's models in a process of their own as the session starts,
    so the tests before the first one that needs them run meanwhile (the cache's locks make
    the fixtures below wait for, then reuse, what it built). Only the models some collected
    test needs; a failure here is only a cache miss: the fixture converts, and says why."""
    wanted = [spec for name, specs in SESSION_MODELS.items()
              if any(name in item.fixturenames for item in request.session.items) for spec in specs]
    if not wanted:
        yield
        return
    import json
    import sys

    p = subprocess.Popen([sys.executable, "-c", PREWARM, str(harness_cache), json.dumps(wanted),
                          str(TINY_MAX_LENGTH)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True)
    yield
    if p.poll() is None:          # the session ended first (a failure, or -x)
        import signal

        os.killpg(p.pid, signal.SIGKILL)
    p.wait()


def _session_models(name: str, harness_cache, tiny_source) -> dict:
    from harness.convert import convert

    out = {}
    for export, variants, stateful in SESSION_MODELS[name]:
        for c in convert(tiny_source, variants, TINY_MAX_LENGTH, export=export, stateful=stateful,
                         cache=harness_cache):
            out[(export, c.variant, stateful)] = c
    return out


@pytest.fixture(scope="session")
def tiny_models(harness_cache, tiny_source):
    """Every variant of synthetic:tiny at max length 32 (one-shot), converted once: {variant: Converted}."""
    return {variant: c for (_, variant, _), c in _session_models("tiny_models", harness_cache, tiny_source).items()}


@pytest.fixture(scope="session")
def tiny_tokens(tiny_source):
    from harness.model.tokens import PromptTokenIds

    return PromptTokenIds(tiny_source)


@pytest.fixture(scope="session")
def gen_models(harness_cache, tiny_source):
    """{(export, variant, stateful): Converted} for the generation-metric tests, converted once."""
    return _session_models("gen_models", harness_cache, tiny_source)


# ----------------------------------------------------------------- adb and emulated devices


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
    options: dict = {}
    for marker in reversed(list(request.node.iter_markers("emulator"))):   # module first, the test's own last
        options.update(marker.kwargs)
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
