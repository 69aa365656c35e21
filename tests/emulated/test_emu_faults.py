"""Each fault knob gives the error a real device would, and the adb server recovers."""
from __future__ import annotations

import os
import subprocess
import time

import adbutils
import pytest

pytestmark = pytest.mark.timeout(60)


def _blob(tmp_path, size):
    p = tmp_path / "blob.bin"
    p.write_bytes(os.urandom(size))
    return p


def test_drop_during_push_then_recover(emulated_device, tmp_path):
    src = _blob(tmp_path, 4 * 1024 * 1024)
    emulated_device.set_faults(drop_push_after_bytes=1024 * 1024)
    r = emulated_device.adb("push", str(src), "/data/local/tmp/x.bin")
    assert r.returncode == 1
    # The device removes the partial file when its side of the link fails, which can be a
    # moment after the client has already given up: wait for it (bounded).
    partial = emulated_device.host_path("/data/local/tmp/x.bin")
    deadline = time.monotonic() + 5
    while partial.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not partial.exists()  # partial file removed
    emulated_device.wait_online()
    assert emulated_device.adb("push", str(src), "/data/local/tmp/x.bin").returncode == 0
    assert emulated_device.host_path("/data/local/tmp/x.bin").read_bytes() == src.read_bytes()


def test_drop_during_pull_adbutils_raises_then_recover(emulated_device):
    data = os.urandom(3 * 1024 * 1024)
    emulated_device.host_path("/data/local/tmp/y.bin").write_bytes(data)
    emulated_device.set_faults(drop_pull_after_bytes=512 * 1024)
    with pytest.raises(adbutils.AdbError):
        emulated_device.device.sync.read_bytes("/data/local/tmp/y.bin")
    emulated_device.wait_online()
    assert emulated_device.device.sync.read_bytes("/data/local/tmp/y.bin") == data


def test_storage_full_fails_like_a_device(emulated_device, tmp_path):
    emulated_device.set_state(quota_bytes=2 * 1024 * 1024)
    src = _blob(tmp_path, 3 * 1024 * 1024)
    r = emulated_device.adb("push", str(src), "/data/local/tmp/full.bin")
    assert r.returncode == 1
    assert b"No space left on device" in r.stdout + r.stderr
    assert not emulated_device.host_path("/data/local/tmp/full.bin").exists()
    with pytest.raises(adbutils.AdbError):
        emulated_device.device.sync.push(src.read_bytes(), "/data/local/tmp/full.bin")
    # The link survives an ENOSPC; a small file still fits.
    assert emulated_device.adb("push", str(_blob(tmp_path, 1000)), "/data/local/tmp/ok.bin").returncode == 0
    assert emulated_device.shell("echo x > /sdcard/y").returncode == 0
    avail_kb = int(emulated_device.shell("df /data").stdout.decode().splitlines()[1].split()[3])
    assert 2046 <= avail_kb <= 2048


def test_slow_device_latency_and_bandwidth(emulated_device, tmp_path):
    t0 = time.monotonic()
    emulated_device.shell("echo fast")
    fast_s = time.monotonic() - t0
    emulated_device.set_faults(latency_ms_per_packet=100)
    t0 = time.monotonic()
    assert emulated_device.shell("echo slow").stdout == b"slow\n"
    assert time.monotonic() - t0 >= fast_s + 0.2
    emulated_device.set_faults(latency_ms_per_packet=0, bandwidth_bytes_per_s=2_000_000)
    src = _blob(tmp_path, 1_000_000)
    t0 = time.monotonic()
    assert emulated_device.adb("push", str(src), "/data/local/tmp/s.bin").returncode == 0
    assert time.monotonic() - t0 >= 0.45


def test_hang_mid_pull_needs_a_timeout_then_recovers(emulated_device, tmp_path):
    emulated_device.host_path("/data/local/tmp/h.bin").write_bytes(os.urandom(4 * 1024 * 1024))
    emulated_device.set_faults(hang_pull_after_bytes=1024 * 1024)
    with pytest.raises(subprocess.TimeoutExpired):
        emulated_device.adb("pull", "/data/local/tmp/h.bin", str(tmp_path / "h.bin"), timeout=2)
    # adb never times a hung TCP device out by itself: it still looks attached.
    assert emulated_device.state() == "device"
    emulated_device.drop()
    emulated_device.wait_online()
    assert emulated_device.shell("echo back").stdout == b"back\n"


def test_hang_now_blocks_shell(emulated_device):
    emulated_device.set_faults(hang_now=True)
    with pytest.raises(subprocess.TimeoutExpired):
        emulated_device.shell("echo x", timeout=2)
    emulated_device.drop()
    emulated_device.wait_online()
    assert emulated_device.shell("echo y").stdout == b"y\n"


def test_refused_connections_then_reattach(emulated_device):
    emulated_device.set_faults(refuse_connections=2)
    emulated_device.drop()
    emulated_device.wait_online(timeout=30)
    assert emulated_device.snapshot()["faults"]["refuse_connections"] == 0
    assert emulated_device.shell("echo ok").stdout == b"ok\n"


def test_bad_knob_is_refused_clearly(emulated_device):
    with pytest.raises(Exception, match="unknown fault knob 'nope'"):
        emulated_device.set_faults(nope=1)
    with pytest.raises(Exception, match="thermal_status must be an integer 0-6"):
        emulated_device.set_state(thermal_status=9)


@pytest.mark.emulator(faults={"refuse_connections": 0, "latency_ms_per_packet": 1})
def test_faults_settable_at_start(emulated_device):
    assert emulated_device.snapshot()["faults"]["latency_ms_per_packet"] == 1
