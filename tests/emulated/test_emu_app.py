"""The emulated benchmark app: am start, progress in logcat, result file, crash, force-stop."""
from __future__ import annotations

import hashlib
import json
import shlex
import sys
import time
from pathlib import Path

import pytest

from harness import contract

pytestmark = pytest.mark.timeout(60)
FAKE_RUNNER = [sys.executable, str(Path(__file__).with_name("fake_hostrun.py"))]


def _spec(run_id: str, model_path: str, sha: str, measured: int = 3) -> dict:
    return {"contract_version": contract.CONTRACT_VERSION, "run_id": run_id, "model_path": model_path, "model_sha256": sha,
            "export": "oneshot", "prompts": ["hello 'world'; $(rm -rf /)", "naïve"], "max_length": 16,
            "context_window_words": None, "warmup_runs": 1, "measured_runs": measured, "threads": 2,
            "delegate": "cpu"}


def _launch(dev, run_id: str, measured: int = 3) -> None:
    model = b"not really a tflite model"
    sha = hashlib.sha256(model).hexdigest()
    model_path = contract.model_device_path(contract.DEFAULT_WORK_DIR, sha)
    dev.device.sync.push(model, model_path)
    spec_path = contract.spec_device_path(contract.DEFAULT_WORK_DIR, run_id)
    dev.device.sync.push(json.dumps(_spec(run_id, model_path, sha, measured)).encode(), spec_path)
    argv = ["am", "start", "-S", "-W", "-n", contract.APP_COMPONENT, "--es", contract.EXTRA_SPEC_PATH, spec_path,
            "--es", contract.EXTRA_RUN_ID, run_id]
    r = dev.adb("shell", " ".join(shlex.quote(a) for a in argv))
    assert r.returncode == 0, r.stdout + r.stderr
    assert b"Status: ok" in r.stdout


def _wait_done(dev, run_id: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = dev.shell(f"logcat -d -s {contract.LOG_TAG}").stdout.decode()
        status = contract.find_done(text, run_id)
        if status:
            return text
        time.sleep(0.2)
    raise AssertionError("no done line")


@pytest.mark.emulator(hostrun_cmd=FAKE_RUNNER, state={"thermal_headroom": 0.37})
def test_benchmark_run_writes_result_and_logs(emulated_device, tmp_path):
    _launch(emulated_device, "run-1")
    text = _wait_done(emulated_device, "run-1")
    assert contract.start_line("run-1") in text and contract.find_done(text, "run-1") == "ok"
    assert contract.count_progress(text, "run-1") == 4
    r = emulated_device.adb("pull", contract.result_device_path("run-1"), str(tmp_path / "r.json"))
    assert r.returncode == 0
    doc = json.loads((tmp_path / "r.json").read_text())
    contract.validate_result(doc)
    assert doc["device"] == {"fingerprint": emulated_device.device.prop.get("ro.build.fingerprint"),
                             "model": "Pixel 7", "emulated": True}
    assert doc["app"]["runtime"] == "emulated-app/host-tensorflow-interpreter"
    assert doc["generations"][0]["prompt_used"] == "hello 'world'; $(rm -rf /)"
    # The app reads thermal state around each generation, headroom included.
    assert all(g["thermal_headroom_before"] == g["thermal_headroom_after"] == 0.37 for g in doc["generations"])
    assert all(g["thermal_status_before"] == 0 for g in doc["generations"])
    assert emulated_device.adb("shell", "pidof", contract.APP_PACKAGE).returncode == 1


@pytest.mark.emulator(hostrun_cmd=FAKE_RUNNER + ["--sleep", "0.3"])
def test_pidof_and_force_stop(emulated_device):
    _launch(emulated_device, "run-2", measured=20)
    r = emulated_device.shell(f"pidof {contract.APP_PACKAGE}")
    assert r.returncode == 0 and r.stdout.strip().isdigit()
    emulated_device.shell(f"am force-stop {contract.APP_PACKAGE}")
    assert emulated_device.shell(f"pidof {contract.APP_PACKAGE}").returncode == 1
    time.sleep(0.5)
    assert not emulated_device.host_path(contract.result_device_path("run-2")).exists()


@pytest.mark.emulator(hostrun_cmd=FAKE_RUNNER + ["--sleep", "0.1"], faults={"app_crash": True})
def test_app_crash_leaves_fatal_exception_and_no_result(emulated_device):
    _launch(emulated_device, "run-3")
    deadline = time.monotonic() + 10
    while emulated_device.shell(f"pidof {contract.APP_PACKAGE}").returncode == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    text = emulated_device.shell("logcat -d").stdout.decode()
    assert "FATAL EXCEPTION" in text and f"Process: {contract.APP_PACKAGE}" in text
    assert contract.find_done(text, "run-3") is None
    time.sleep(0.3)
    assert not emulated_device.host_path(contract.result_device_path("run-3")).exists()


@pytest.mark.emulator(hostrun_cmd=FAKE_RUNNER + ["--sleep", "0.2"])
def test_drop_during_benchmark_run_continues(emulated_device):
    emulated_device.set_faults(drop_during_benchmark=True)
    _launch(emulated_device, "run-4")
    time.sleep(0.5)
    emulated_device.wait_online()
    text = _wait_done(emulated_device, "run-4")
    assert contract.find_done(text, "run-4") == "ok"


@pytest.mark.emulator(hostrun_cmd=FAKE_RUNNER)
def test_bad_spec_gives_error_result(emulated_device, tmp_path):
    spec_path = contract.spec_device_path(contract.DEFAULT_WORK_DIR, "bad")
    emulated_device.device.sync.push(b'{"contract_version": 99}', spec_path)
    emulated_device.shell(f"am start -n {contract.APP_COMPONENT} --es spec_path {spec_path} --es run_id bad")
    text = _wait_done(emulated_device, "bad")
    assert contract.find_done(text, "bad") == "error"
    doc = json.loads(emulated_device.device.sync.read_text(contract.result_device_path("bad")))
    contract.validate_result(doc)
    assert doc["status"] == "error" and "contract" in doc["error"]


@pytest.mark.emulator(app_version_code=None)
def test_app_not_installed_then_install(emulated_device, tmp_path):
    r = emulated_device.shell(f"am start -n {contract.APP_COMPONENT}")
    assert r.returncode != 0 and b"does not exist" in r.stdout
    assert emulated_device.shell(f"pm path {contract.APP_PACKAGE}").returncode == 1
    apk = tmp_path / "app.apk"
    apk.write_bytes(b"PK fake apk")
    r = emulated_device.adb("install", "-r", str(apk))
    assert r.returncode == 0 and b"Success" in r.stdout, r.stdout + r.stderr
    out = emulated_device.shell(f"dumpsys package {contract.APP_PACKAGE}").stdout.decode()
    assert f"versionName={contract.APP_VERSION_NAME}" in out


@pytest.mark.emulator(app_version_code=0 + 1, app_version_name="0.0.9")
def test_pm_install_with_sidecar_upgrades(emulated_device):
    d = emulated_device
    d.device.sync.push(b"PK", "/data/local/tmp/app.apk")
    d.device.sync.push(json.dumps({"package": contract.APP_PACKAGE, "version_code": 2,
                                   "version_name": "0.2.0"}).encode(), "/data/local/tmp/app.apk.json")
    assert d.shell("pm install -r /data/local/tmp/app.apk").stdout == b"Success\n"
    assert b"versionName=0.2.0" in d.shell(f"dumpsys package {contract.APP_PACKAGE}").stdout
    d.device.sync.push(json.dumps({"package": contract.APP_PACKAGE, "version_code": 1}).encode(),
                       "/data/local/tmp/app.apk.json")
    r = d.shell("pm install -r /data/local/tmp/app.apk")
    assert r.returncode == 1 and b"INSTALL_FAILED_VERSION_DOWNGRADE" in r.stdout


@pytest.mark.timeout(120)
def test_real_host_runner_reports_a_broken_model_as_error(emulated_device, tmp_path):
    """The default runner is the real ``python -m harness.devices.host.reference_app``: a garbage model gives status error."""
    _launch(emulated_device, "real-1", measured=1)
    text = _wait_done(emulated_device, "real-1", timeout=100)
    assert contract.find_done(text, "real-1") == "error"
    doc = json.loads(emulated_device.device.sync.read_text(contract.result_device_path("real-1")))
    contract.validate_result(doc)
    assert doc["device"]["emulated"] is True and doc["status"] == "error"
