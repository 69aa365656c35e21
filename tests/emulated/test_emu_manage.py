"""``python -m harness.emulator start|list|stop`` and the Python API, with a private adb server."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from harness.emulator import list_emulators, start_emulator, stop_emulator
from harness.emulator.children import pid_alive
from harness.errors import UserError

pytestmark = pytest.mark.timeout(60)


def _cli(args, adb_server, cache):
    env = dict(adb_server.env, HARNESS_CACHE=str(cache))
    return subprocess.run([sys.executable, "-m", "harness.emulator", *args], capture_output=True, text=True,
                          env=env, timeout=40, cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))


def test_cli_start_list_stop(adb_server, tmp_path):
    cache = tmp_path / "cache"
    r = _cli(["start", "--profile", "pixel8", "--name", "p8", "--adb-port", str(adb_server.port)], adb_server, cache)
    assert r.returncode == 0, r.stderr
    serial = r.stdout.strip()
    assert serial.startswith("127.0.0.1:") and "stop it with" in r.stderr
    port = int(serial.split(":")[1])
    assert not 5554 <= port <= 5585
    assert "Pixel 8" in adb_server.adb("-s", serial, "shell", "getprop ro.product.model").stdout.decode()
    r = _cli(["list"], adb_server, cache)
    assert "p8" in r.stdout and serial in r.stdout
    r = _cli(["start", "--name", "p8", "--adb-port", str(adb_server.port)], adb_server, cache)
    assert r.returncode == 1 and "already running" in r.stderr and "Traceback" not in r.stderr
    r = _cli(["stop", "--all"], adb_server, cache)
    assert r.returncode == 0 and "p8" in r.stdout
    assert serial not in adb_server.adb("devices").stdout.decode()
    assert "no emulators running" in _cli(["list"], adb_server, cache).stdout


def test_api_start_stop_no_leaks(adb_server, tmp_path):
    root = tmp_path / "emus"
    h = start_emulator("a", profile="emulator-x86_64", adb_port=adb_server.port, state_root=root, env=adb_server.env)
    assert [x.name for x in list_emulators(root)] == ["a"]
    assert h.snapshot()["profile"] == "emulator-x86_64"
    assert stop_emulator("a", state_root=root, env=adb_server.env) == ["a"]
    assert not pid_alive(h.pid)
    assert list_emulators(root) == []
    assert stop_emulator("a", state_root=root) == []  # already gone: not an error
    with pytest.raises(UserError, match="no emulator named 'zz'"):
        stop_emulator("zz", state_root=root)
    with pytest.raises(UserError, match="5554-5585"):
        start_emulator("b", port=5560, state_root=root, connect=False)
    with pytest.raises(UserError, match="unknown emulator profile"):
        start_emulator("c", profile="iphone", state_root=root, connect=False)
