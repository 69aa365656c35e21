"""Reliability over the real adb server: the device's own lock (D3), storage full (D10), the adb
server restarted on the right port (D15), and signals with an emulated phone the harness
started itself (D6, D11). Runs that need no real measurement use the fake benchmark runner."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import cli
from harness.devices.android.adb import Adb, AdbServer
from harness.emulator.server import free_port
from helpers import FAKE_RUNNER, HARNESS, TINY_MAX_LENGTH, load_result

pytestmark = pytest.mark.timeout(300)
SLOW_APP = {"hostrun_cmd": [*FAKE_RUNNER, "--sleep", "0.4"]}
SLOWER_APP = {"hostrun_cmd": [*FAKE_RUNNER, "--sleep", "2.0"]}
LOCK_DIR = "/data/local/tmp/harness/lock"


def write_config(tmp_path: Path, adb_port: int, body: str) -> Path:
    path = tmp_path / "devices.yaml"
    path.write_text(f"adb_server: 127.0.0.1:{adb_port}\ndevices:\n  dut:\n{body}")
    return path


def endpoint_config(tmp_path, emulated_device) -> Path:
    return write_config(tmp_path, emulated_device.adb_port, f"    endpoint: {emulated_device.serial}\n")


def run_argv(cfg: Path, tmp_path: Path, *extra: str, variants: str = "dynamic", runs: str = "2") -> list[str]:
    return [*HARNESS, "run", "--device", "dut", "--model", "synthetic:tiny", "--variants", variants,
            "--max-length", str(TINY_MAX_LENGTH), "--context-window", "3", "--runs", runs, "--warmup", "0",
            "--config", str(cfg), "--results-dir", str(tmp_path / "results"), "--no-report", *extra]


def start(argv: list[str]) -> subprocess.Popen:
    return subprocess.Popen(argv, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def harness_lines(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.startswith("harness:")]


def wait_for(cond, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


@pytest.mark.emulator(**SLOWER_APP)
def test_two_runs_on_one_phone_take_turns(tiny_models, emulated_device, tmp_path):
    """D3 (3.4): the second run's `am start -S` killed the first run's benchmark."""
    cfg = endpoint_config(tmp_path, emulated_device)
    first = start(run_argv(cfg, tmp_path, variants="dynamic,fp16", runs="3"))
    owner_file = emulated_device.host_path(LOCK_DIR + "/owner.json")
    wait_for(owner_file.exists)
    owner = json.loads(owner_file.read_text())
    assert owner["pid"] == first.pid and owner["host"] == os.uname().nodename and owner["run_id"]
    refused = subprocess.run(run_argv(cfg, tmp_path, "--device-wait", "0"), capture_output=True, text=True,
                             timeout=120)
    assert refused.returncode == 1
    (line,) = harness_lines(refused.stderr)
    assert line.startswith(f"harness: dut is in use by pid {first.pid} on ") and f"run {owner['run_id']}" in line
    second = start(run_argv(cfg, tmp_path, runs="1"))
    _, err1 = first.communicate(timeout=240)
    _, err2 = second.communicate(timeout=240)
    assert first.returncode == 0, err1
    assert second.returncode == 0, err2
    assert "dut is in use by" in err2 and "waiting up to" in err2
    docs = [load_result(p) for p in sorted((tmp_path / "results").glob("*.json"))]
    assert len(docs) == 2 and all(d["status"] == "complete" for d in docs)
    assert sum(len(d["blocks"]) for d in docs) == 3
    assert not emulated_device.host_path(LOCK_DIR).exists()          # let go at the end


def _plant_lock(emulated_device, owner: dict | None, age_s: float = 0.0) -> None:
    lock = emulated_device.host_path(LOCK_DIR)
    lock.mkdir(parents=True)
    if owner is not None:
        (lock / "owner.json").write_text(json.dumps(owner))
    when = time.time() - age_s
    for p in (lock, lock / "owner.json"):
        if p.exists():
            os.utime(p, (when, when))


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


@pytest.mark.parametrize("owner,age_s,broken", [
    ({"host": os.uname().nodename, "pid": "DEAD", "run_id": "old-run", "since": "x"}, 0, "is gone"),
    ({"host": "another-host", "pid": 1, "run_id": "far-run", "since": "x"}, 3600, "has not touched it for"),
    (None, 3600, "names no holder"),
])
@pytest.mark.emulator(**SLOW_APP)
def test_a_stale_device_lock_is_broken_with_one_line(tiny_models, emulated_device, tmp_path, capsys,
                                                     owner, age_s, broken):
    if owner and owner["pid"] == "DEAD":
        owner = {**owner, "pid": _dead_pid()}
    _plant_lock(emulated_device, owner, age_s)
    cfg = endpoint_config(tmp_path, emulated_device)
    assert cli.main(run_argv(cfg, tmp_path, runs="1")[len(HARNESS):]) == 0
    err = capsys.readouterr().err
    assert "broke a stale device lock" in err and broken in err
    assert not emulated_device.host_path(LOCK_DIR).exists()


@pytest.mark.emulator(**SLOW_APP)
def test_a_live_lock_from_another_host_is_honoured(tiny_models, emulated_device, tmp_path, capsys):
    _plant_lock(emulated_device, {"host": "lab-runner-7", "pid": 4242, "run_id": "20261201T000000Z-aaaaaa",
                                  "since": "2026-12-01T00:00:00Z"})
    cfg = endpoint_config(tmp_path, emulated_device)
    assert cli.main(run_argv(cfg, tmp_path, "--device-wait", "0")[len(HARNESS):]) == 1
    err = capsys.readouterr().err
    assert ("harness: dut is in use by another harness (run 20261201T000000Z-aaaaaa, pid 4242 on lab-runner-7, "
            "since 2026-12-01T00:00:00Z); pass --device-wait SECONDS to wait for it") in err
    assert emulated_device.host_path(LOCK_DIR + "/owner.json").exists()      # not ours to break


@pytest.mark.emulator(**SLOW_APP)
def test_a_phone_that_hangs_as_the_run_starts_is_reconnected(tiny_models, emulated_device, tmp_path, capsys,
                                                            monkeypatch):
    """Found by the soak: the claim was the run's first adb call and had no retry, so a phone left
    hung by an earlier fault failed every run that came after (12 of 32 in one soak)."""
    import harness.devices.android.adb

    monkeypatch.setattr(harness.devices.android.adb, "SOCKET_TIMEOUT_S", 2.0)
    monkeypatch.setattr("harness.devices.android.device.CLAIM_RETRY_S", (0.2, 0.5, 1.0))
    cfg = endpoint_config(tmp_path, emulated_device)
    emulated_device.set_faults(hang_now=True)
    assert cli.main(run_argv(cfg, tmp_path, runs="1")[len(HARNESS):]) == 0
    err = capsys.readouterr().err
    assert "timed out after 2 s without an answer; reconnecting, then asking again" in err
    (doc,) = [load_result(p) for p in (tmp_path / "results").glob("*.json")]
    assert doc["status"] == "complete"


@pytest.mark.emulator(**SLOW_APP)
def test_storage_full_mid_push_says_so_once_and_is_not_retried(tiny_models, emulated_device, tmp_path, capsys):
    """D10 (1.5b): ENOSPC on a push showed 'failed: FAIL' four times over 14 s, as a transient fault."""
    cfg = endpoint_config(tmp_path, emulated_device)
    assert cli.main(run_argv(cfg, tmp_path, runs="1")[len(HARNESS):]) == 0     # models on the device
    used = sum(f.stat().st_size for top in ("data", "sdcard")
               for f in (emulated_device.fs_root / top).rglob("*") if f.is_file())
    emulated_device.set_state(quota_bytes=used + 350)      # the lock's owner.json fits, a spec does not
    t0 = time.monotonic()
    assert cli.main(run_argv(cfg, tmp_path, runs="1")[len(HARNESS):]) == 1
    assert time.monotonic() - t0 < 60
    err = capsys.readouterr().err
    assert "storage full on the device: write failed: No space left on device" in err
    assert "retrying" not in err and "FAIL;" not in err


def test_a_dead_adb_server_is_restarted_on_its_own_port_quietly(emulated_device, capfd):
    """D15 (1.7): adbutils ran `adb start-server` without -P; its banner leaked into our output,
    and with no ANDROID_ADB_SERVER_PORT it would start a server on the default port, not ours."""
    from harness.errors import DeviceError

    server = AdbServer("127.0.0.1", emulated_device.adb_port)
    adb = Adb(server, emulated_device.serial)
    assert adb.shell(["echo", "hi"]).stdout.strip() == "hi"          # the device object is cached now
    emulated_device.server.adb("kill-server", timeout=10)
    wait_for(lambda: not _port_open(emulated_device.adb_port), timeout=10)
    capfd.readouterr()
    with pytest.raises(DeviceError, match="not found"):             # a fresh server knows no device yet
        adb.shell(["echo", "again"])
    assert _port_open(emulated_device.adb_port)                      # ... but it is up, on our port
    out, err = capfd.readouterr()
    assert out + err == ""                                           # and said nothing into our output
    server.connect(emulated_device.serial)
    assert adb.shell(["echo", "again"]).stdout.strip() == "again"


def _port_open(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.3):
            return True
    except OSError:
        return False


@pytest.mark.parametrize("signals_", [[signal.SIGTERM], [signal.SIGHUP], [signal.SIGINT, signal.SIGINT]],
                         ids=["sigterm", "sighup", "double-ctrl-c"])
def test_a_signal_stops_the_emulated_phone_the_run_started(tiny_models, adb_server, tmp_path, signals_):
    """D6 (2.9): SIGTERM left the status 'running' and the phone the harness started running on;
    D11 (2.8): a second Ctrl-C during cleanup orphaned it."""
    from harness.emulator import list_emulators

    name = f"rel-{os.getpid()}-{signals_[0].name.lower()}-{len(signals_)}"
    cfg = write_config(tmp_path, adb_server.port, f"    emulated: {{port: {free_port()}, name: {name}}}\n")
    env = {**os.environ, "HOME": str(adb_server.home)}
    p = subprocess.Popen(run_argv(cfg, tmp_path, variants="dynamic,fp16", runs="3"), env=env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    results = tmp_path / "results"
    wait_for(lambda: any(len(json.loads(f.read_text())["blocks"]) >= 1 for f in results.glob("*.json")), 240)
    handle = next(h for h in list_emulators() if h.name == name)
    for i, sig in enumerate(signals_):
        if i:
            time.sleep(0.05)             # the second one lands during the cleanup
        p.send_signal(sig)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    (doc,) = [load_result(f) for f in results.glob("*.json")]
    assert doc["status"] == "interrupted" and len(doc["blocks"]) >= 1, err
    assert f"finish with: harness run --resume {doc['run_id']}" in err
    wait_for(lambda: not handle.alive(), timeout=30)
    assert name not in {h.name for h in list_emulators()}
    fs = handle.fs_root
    assert not list((fs / "data/local/tmp/harness/specs").glob("*")), err
    assert not (fs / LOCK_DIR.lstrip("/")).exists(), err
