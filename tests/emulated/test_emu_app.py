"""The emulated benchmark app: am start, progress in logcat, result file, process lifetime,
crash, force-stop, installs, permissions, screen, thermal headroom, slow_factor."""
from __future__ import annotations

import hashlib
import json
import re
import shlex
import statistics
import sys
import time
from pathlib import Path

import pytest

from harness import contract
from harness.emulator.apk import build_apk

pytestmark = pytest.mark.timeout(60)
FAKE_RUNNER = [sys.executable, str(Path(__file__).with_name("fake_hostrun.py"))]


def _spec(run_id: str, model_path: str, sha: str, measured: int = 3, warmup: int = 1) -> dict:
    return {"contract_version": contract.CONTRACT_VERSION, "run_id": run_id, "model_path": model_path, "model_sha256": sha,
            "export": "oneshot", "prompts": ["hello 'world'; $(rm -rf /)", "naïve"], "max_length": 16,
            "context_window_words": None, "warmup_runs": warmup, "measured_runs": measured, "threads": 2,
            "delegate": "cpu"}


def _push_spec(dev, run_id: str, measured: int = 3, warmup: int = 1, spec_mode: int = 0o644) -> str:
    model = b"not really a tflite model"
    sha = hashlib.sha256(model).hexdigest()
    model_path = contract.model_device_path(contract.DEFAULT_WORK_DIR, sha)
    dev.device.sync.push(model, model_path)
    spec_path = contract.spec_device_path(contract.DEFAULT_WORK_DIR, run_id)
    dev.device.sync.push(json.dumps(_spec(run_id, model_path, sha, measured, warmup)).encode(), spec_path,
                         mode=spec_mode)
    return spec_path


def _am_start(dev, run_id: str, spec_path: str, flags=("-S", "-W")):
    argv = ["am", "start", *flags, "-n", contract.APP_COMPONENT, "--es", contract.EXTRA_SPEC_PATH, spec_path,
            "--es", contract.EXTRA_RUN_ID, run_id]
    return dev.adb("shell", " ".join(shlex.quote(a) for a in argv))


def _launch(dev, run_id: str, measured: int = 3, warmup: int = 1) -> None:
    r = _am_start(dev, run_id, _push_spec(dev, run_id, measured, warmup))
    assert r.returncode == 0, r.stdout + r.stderr
    assert b"Status: ok" in r.stdout


def _wait_done(dev, run_id: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = dev.shell(f"logcat -d -s {contract.LOG_TAG}").stdout.decode()
        if contract.find_done(text, run_id):
            return text
        time.sleep(0.2)
    raise AssertionError("no done line")


def _result(dev, run_id: str) -> dict:
    doc = json.loads(dev.device.sync.read_text(contract.result_device_path(run_id)))
    contract.validate_result(doc)
    return doc


@pytest.mark.emulator(hostrun_cmd=FAKE_RUNNER, state={"thermal_headroom": 0.37})
def test_benchmark_run_writes_result_and_the_process_stays_cached(emulated_device, tmp_path):
    d = emulated_device
    _launch(d, "run-1")
    pid = d.shell(f"pidof {contract.APP_PACKAGE}").stdout.strip()
    text = _wait_done(d, "run-1")
    assert contract.start_line("run-1") in text and contract.find_done(text, "run-1") == "ok"
    assert contract.count_progress(text, "run-1") == 4
    r = d.adb("pull", contract.result_device_path("run-1"), str(tmp_path / "r.json"))
    assert r.returncode == 0
    doc = json.loads((tmp_path / "r.json").read_text())
    contract.validate_result(doc)
    assert doc["device"] == {"fingerprint": d.device.prop.get("ro.build.fingerprint"), "model": "Pixel 7",
                             "emulated": True}
    assert doc["app"]["runtime"] == "emulated-app/host-tensorflow-interpreter"
    assert doc["generations"][0]["prompt_used"] == "hello 'world'; $(rm -rf /)"
    assert all(g["thermal_status_before"] == 0 for g in doc["generations"])
    # One real getThermalHeadroom read, then that reading reused with its age (the v2 app's
    # sampler): every generation has both values.
    heads = [h for g in doc["generations"] for h in (g["thermal_headroom_before"], g["thermal_headroom_after"])]
    assert heads == [0.37] * len(heads) and doc["generations"][0]["thermal_headroom_before_age_ms"] == 0
    # finishAndRemoveTask() leaves the process cached: pidof still answers, until force-stop.
    time.sleep(0.3)
    assert d.shell(f"pidof {contract.APP_PACKAGE}").stdout.strip() == pid != b""
    assert f"** MEMINFO in pid {pid.decode()} [{contract.APP_PACKAGE}] **" in \
        d.shell(f"dumpsys meminfo {contract.APP_PACKAGE}").stdout.decode()
    status = d.shell(f"cat /proc/{pid.decode()}/status").stdout.decode()
    assert re.search(r"^VmRSS:\s+\d+ kB$", status, re.M) and re.search(r"^VmHWM:\s+\d+ kB$", status, re.M)
    assert any(ln.split()[-1] == contract.APP_PACKAGE for ln in d.shell("ps -A").stdout.decode().splitlines())
    assert d.shell(f"am force-stop {contract.APP_PACKAGE}").returncode == 0
    assert d.shell(f"pidof {contract.APP_PACKAGE}").returncode == 1


@pytest.mark.emulator(hostrun_cmd=FAKE_RUNNER + ["--sleep", "0.35"], state={"thermal_headroom": 0.5})
def test_every_generation_has_both_headroom_values(emulated_device):
    """As the v2 app: getThermalHeadroom at most once a second, else the last reading with its
    age — so no generation loses a value to Android's NaN rule (review C1)."""
    _launch(emulated_device, "head", measured=4, warmup=0)
    _wait_done(emulated_device, "head")
    gens = _result(emulated_device, "head")["generations"]
    heads = [g[f"thermal_headroom_{w}"] for g in gens for w in ("before", "after")]
    ages = [g[f"thermal_headroom_{w}_age_ms"] for g in gens for w in ("before", "after")]
    assert heads == [0.5] * 8
    assert ages[0] == 0 and all(a is not None and a >= 0 for a in ages)
    assert any(a >= 300 for a in ages)           # reused readings carry their age
    assert all(g["interactive_before"] is True and g["interactive_after"] is True for g in gens)


def test_headroom_is_nan_when_asked_again_within_500_ms():
    """The emulated PowerManager itself (MINIMUM_HEADROOM_TIME_MILLIS = 500), below the app's sampler."""
    from types import SimpleNamespace

    from harness.emulator.app import AppManager

    device = SimpleNamespace(state=SimpleNamespace(thermal_headroom=0.4))
    manager = AppManager(device)
    proc = SimpleNamespace(last_headroom_ok=-1e9)
    assert manager._headroom(proc) == 0.4
    assert manager._headroom(proc) is None       # at once again: NaN (null)
    proc.last_headroom_ok -= 0.6                 # 600 ms later
    assert manager._headroom(proc) == 0.4


@pytest.mark.emulator(hostrun_cmd=FAKE_RUNNER + ["--sleep", "0.3"])
def test_second_start_without_S_brings_the_task_to_front(emulated_device):
    d = emulated_device
    _launch(d, "first", measured=20)
    pid = d.shell(f"pidof {contract.APP_PACKAGE}").stdout
    r = _am_start(d, "second", _push_spec(d, "second"), flags=("-W",))
    assert r.returncode == 0
    assert b"Warning: Activity not started, its current task has been brought to the front\n" in r.stdout
    assert b"LaunchState: HOT" in r.stdout
    assert d.shell(f"pidof {contract.APP_PACKAGE}").stdout == pid
    assert contract.start_line("second") not in d.shell("logcat -d -s HarnessBench").stdout.decode()
    r = _am_start(d, "third", _push_spec(d, "third"))
    assert r.stdout.startswith(f"Stopping: {contract.APP_PACKAGE}\nStarting: Intent {{ cmp={contract.APP_COMPONENT} "
                               "(has extras) }\n".encode())
    assert re.search(rb"Status: ok\nLaunchState: COLD\nActivity: dev.harness.benchmark/.BenchmarkActivity\n"
                     rb"TotalTime: \d+\nWaitTime: \d+\nComplete\n$", r.stdout)
    assert d.shell(f"pidof {contract.APP_PACKAGE}").stdout != pid
    d.shell(f"am force-stop {contract.APP_PACKAGE}")


@pytest.mark.emulator(hostrun_cmd=FAKE_RUNNER + ["--sleep", "0.3"])
def test_pidof_and_force_stop_and_low_memory_kill(emulated_device):
    d = emulated_device
    _launch(d, "run-2", measured=20)
    r = d.shell(f"pidof {contract.APP_PACKAGE}")
    assert r.returncode == 0 and r.stdout.strip().isdigit()
    d.shell(f"am force-stop {contract.APP_PACKAGE}")
    assert d.shell(f"pidof {contract.APP_PACKAGE}").returncode == 1
    time.sleep(0.5)
    assert not d.host_path(contract.result_device_path("run-2")).exists()
    _launch(d, "run-3", measured=1, warmup=0)
    _wait_done(d, "run-3")
    assert d.handle.control("kill_app")["killed"] is True
    assert d.shell(f"pidof {contract.APP_PACKAGE}").returncode == 1
    log = d.shell("logcat -d").stdout.decode()
    assert "lowmemorykiller" in log and f"Process {contract.APP_PACKAGE} (pid" in log and "has died" in log


@pytest.mark.emulator(hostrun_cmd=FAKE_RUNNER + ["--sleep", "0.1"], faults={"app_crash": True})
def test_app_crash_leaves_fatal_exception_and_no_result(emulated_device):
    _launch(emulated_device, "run-3")
    deadline = time.monotonic() + 10
    while emulated_device.shell(f"pidof {contract.APP_PACKAGE}").returncode == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    text = emulated_device.shell("logcat -d").stdout.decode()
    assert "FATAL EXCEPTION" in text and f"Process: {contract.APP_PACKAGE}" in text
    assert "--------- beginning of crash" in emulated_device.shell("logcat -d -b crash").stdout.decode()
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
def test_bad_spec_and_unreadable_files_give_error_results(emulated_device):
    d = emulated_device
    spec_path = contract.spec_device_path(contract.DEFAULT_WORK_DIR, "bad")
    d.device.sync.push(b'{"contract_version": 99}', spec_path)
    r = d.shell(f"am start -n {contract.APP_COMPONENT} --es spec_path {spec_path} --es run_id bad")
    assert r.returncode == 0
    assert contract.find_done(_wait_done(d, "bad"), "bad") == "error"
    doc = _result(d, "bad")
    assert doc["status"] == "error" and "contract" in doc["error"]
    # The app's uid is "other" to shell's files: a 0600 spec cannot be read ...
    spec = _push_spec(d, "private", spec_mode=0o600)
    _am_start(d, "private", spec)
    _wait_done(d, "private")
    assert _result(d, "private")["error"] == f"cannot read spec file {spec}: {spec}: open failed: EACCES " \
                                             "(Permission denied)"
    # ... nor anything below a directory without o+x.
    spec = _push_spec(d, "hidden")
    d.shell(f"chmod 770 {contract.DEFAULT_WORK_DIR}/specs")
    _am_start(d, "hidden", spec)
    _wait_done(d, "hidden")
    assert _result(d, "hidden")["error"] == f"spec file not found: {spec}"
    d.shell(f"chmod 777 {contract.DEFAULT_WORK_DIR}/specs")
    spec = _push_spec(d, "model")
    d.shell(f"chmod 600 {contract.DEFAULT_WORK_DIR}/models/*")
    _am_start(d, "model", spec)
    _wait_done(d, "model")
    assert _result(d, "model")["error"].startswith("model not readable by the app: ")


@pytest.mark.emulator(app_version_code=None)
def test_app_not_installed_then_install(emulated_device, tmp_path):
    d = emulated_device
    r = d.shell(f"am start -n {contract.APP_COMPONENT}")
    # Android 14: exit 0, the error on stderr without -W and on stdout with it.
    assert r.returncode == 0 and b"does not exist" in r.stderr and b"Error" not in r.stdout
    r = d.shell(f"am start -W -n {contract.APP_COMPONENT}")
    assert r.returncode == 0 and b"Error type 3\nError: Activity class {dev.harness.benchmark/dev.harness.benchmark." \
                                  b"BenchmarkActivity} does not exist.\n" in r.stdout
    assert d.shell(f"pm path {contract.APP_PACKAGE}").returncode == 1
    junk = tmp_path / "junk.apk"
    junk.write_bytes(b"PK fake apk")
    r = d.adb("install", "-r", str(junk))
    assert r.returncode != 0 and b"INSTALL_PARSE_FAILED_NOT_APK" in r.stdout + r.stderr
    apk = tmp_path / "app.apk"
    apk.write_bytes(build_apk(contract.APP_PACKAGE, 1, "0.1.0"))
    r = d.adb("install", "-r", str(apk))
    assert r.returncode == 0 and b"Success" in r.stdout, r.stdout + r.stderr
    out = d.shell(f"dumpsys package {contract.APP_PACKAGE}").stdout.decode()
    assert "versionName=0.1.0" in out and "targetSdk=35" in out


@pytest.mark.emulator(app_version_code=1, app_version_name="0.0.9")
def test_pm_install_checks_the_apk_as_android_does(emulated_device, tmp_path):
    d = emulated_device
    sh = d.shell

    def install(data: bytes, *flags: str):
        d.device.sync.push(data, "/data/local/tmp/app.apk")
        return sh("pm install " + " ".join(flags) + " /data/local/tmp/app.apk")

    r = install(b"not a zip", "-r")
    assert r.returncode == 255 and b"Error: Failed to parse APK file: /data/local/tmp/app.apk" in r.stderr
    r = install(build_apk(contract.APP_PACKAGE, 2, "0.2.0"), "-r")
    assert (r.returncode, r.stdout) == (0, b"Success\n")
    out = sh(f"dumpsys package {contract.APP_PACKAGE}").stdout.decode()
    assert "versionCode=2 minSdk=24 targetSdk=35" in out and "versionName=0.2.0" in out
    for data, flags, code in [
        (build_apk(contract.APP_PACKAGE, 1, "0.1.0"), ["-r"], "INSTALL_FAILED_VERSION_DOWNGRADE: Downgrade detected: "
                                                               "Update version code 1 is older than current 2"),
        (build_apk(contract.APP_PACKAGE, 1, "0.1.0"), ["-r", "-d"], "INSTALL_FAILED_VERSION_DOWNGRADE"),  # not debuggable
        (build_apk(contract.APP_PACKAGE, 3, "0.3.0", signer="someone-else"), ["-r"],
         "INSTALL_FAILED_UPDATE_INCOMPATIBLE: Existing package dev.harness.benchmark signatures do not match"),
        (build_apk(contract.APP_PACKAGE, 3, "0.3.0", abis=("armeabi-v7a",)), ["-r"], "INSTALL_FAILED_NO_MATCHING_ABIS"),
        (build_apk(contract.APP_PACKAGE, 3, "0.3.0", test_only=True), ["-r"], "INSTALL_FAILED_TEST_ONLY: installPackageLI"),
    ]:
        r = install(data, *flags)
        assert r.returncode == 1 and r.stdout.startswith(b"Failure [" + code.encode()), (flags, r.stdout, r.stderr)
    assert install(build_apk(contract.APP_PACKAGE, 3, "0.3.0", test_only=True), "-r", "-t").stdout == b"Success\n"


@pytest.mark.emulator(app_version_code=None)
def test_same_version_code_reinstall_is_told_apart_by_base_apk(emulated_device, tmp_path):
    """Issue #13: a rebuilt APK with the same versionCode replaces the installed one, and the
    host can tell which build is installed from `pm path` + sha256sum of base.apk."""
    d = emulated_device
    first, second = (build_apk(contract.APP_PACKAGE, 1, "0.1.0", payload=p) for p in (b"build 1", b"build 2"))
    seen = []
    for data in (first, second):
        (tmp_path / "a.apk").write_bytes(data)
        assert d.adb("install", "-r", str(tmp_path / "a.apk")).returncode == 0
        path = d.shell(f"pm path {contract.APP_PACKAGE}").stdout.decode().strip()
        assert re.fullmatch(r"package:/data/app/~~[\w-]{22}==/dev\.harness\.benchmark-[\w-]{22}==/base\.apk", path)
        digest = d.shell(f"sha256sum {path[len('package:'):]}").stdout.split()[0].decode()
        assert digest == hashlib.sha256(data).hexdigest()
        out = d.shell(f"dumpsys package {contract.APP_PACKAGE}").stdout.decode()
        seen.append((re.search(r"lastUpdateTime=(.+)", out).group(1), re.search(r"firstInstallTime=(.+)", out).group(1)))
        time.sleep(1.1)
    assert seen[0][0] != seen[1][0] and seen[0][1] == seen[1][1]      # updated, first install kept
    assert d.shell("ls /data/app").stderr == b"ls: /data/app: Permission denied\n"


def _median_wall(dev, run_id: str) -> float:
    _launch(dev, run_id, measured=7, warmup=1)
    _wait_done(dev, run_id, timeout=50)
    gens = _result(dev, run_id)["generations"]
    return statistics.median(g["wall_ms"] for g in gens if g["phase"] == "measured")


@pytest.mark.timeout(120)
@pytest.mark.emulator(hostrun_cmd=FAKE_RUNNER + ["--gen-ms", "60"])
def test_slow_factor_slows_the_measured_generations(emulated_device):
    d = emulated_device
    base = _median_wall(d, "base")
    d.set_faults(slow_factor=1.2)
    slowed = _median_wall(d, "slow")
    # A functional check of the knob (sleep-based generations, so load barely moves it); the
    # accuracy is measured by scripts/bench_gate.py, not asserted here.
    assert 1.1 <= slowed / base <= 1.45, (base, slowed)
    # The screen off (a background-group app) uses the same mechanism: background_slowdown x.
    d.clear_faults()
    d.set_state(screen="off", locked=True, background_slowdown=2.0)
    dark = _median_wall(d, "dark")
    assert 1.6 <= dark / base <= 2.6, (base, dark)
    assert "interactive=False" in _result(d, "dark")["generations"][0]["output_text"]
    d.shell("input keyevent 224; wm dismiss-keyguard")
    assert d.snapshot()["state"]["screen"] == "on" and d.snapshot()["state"]["locked"] is False


@pytest.mark.timeout(120)
def test_real_host_runner_reports_a_broken_model_as_error(emulated_device, tmp_path):
    """The default runner is the real ``python -m harness.devices.host.reference_app``: a garbage model gives status error."""
    _launch(emulated_device, "real-1", measured=1)
    text = _wait_done(emulated_device, "real-1", timeout=100)
    assert contract.find_done(text, "real-1") == "error"
    doc = _result(emulated_device, "real-1")
    assert doc["device"]["emulated"] is True and doc["status"] == "error"
    assert f"HARNESS_ERROR run_id=real-1 {doc['error']}" in text


def test_hostrun_stretches_interpreter_calls_by_the_state_files_factor(tmp_path, monkeypatch):
    """The real runner's mechanism (harness.devices.host.reference_app._Stretched), without
    TensorFlow and without timing: a clock that advances 30 ms per call, and the waits asked for."""
    from harness.devices.host import reference_app as hostrun

    state = tmp_path / "state.json"
    monkeypatch.setenv("HARNESS_DEVICE_STATE_FILE", str(state))

    class Clock:
        now, waits = 0.0, []

        def perf_counter(self):
            return self.now

        def sleep(self, s):
            self.waits.append(s)

    clock = Clock()
    monkeypatch.setattr(hostrun, "time", clock)

    def call(**_inputs):
        clock.now += 0.030                       # the interpreter call takes 30 ms
        return {"text": b"x"}

    for factor, wait in ((1.0, None), (1.2, 0.006), (3.0, 0.060)):
        state.write_text(json.dumps({"slow_factor": factor}))
        clock.waits.clear()
        assert hostrun._Stretched(call)(prompt=b"p") == {"text": b"x"}
        assert clock.waits == ([] if wait is None else [pytest.approx(wait)])
    state.write_text("not json")                 # a damaged state file: no slowdown, no crash
    clock.waits.clear()
    hostrun._Stretched(call)(prompt=b"p")
    assert clock.waits == []


@pytest.mark.emulator(hostrun_cmd=FAKE_RUNNER, faults={"lose_done_line": True})
def test_host_notices_a_finished_run_without_its_done_line(emulated_device):
    """The process stays cached after the run, so the host must see the result file itself."""
    from harness.devices.android import app_client as host_app
    from harness.devices.android.adb import Adb, AdbServer

    d = emulated_device
    adb = Adb(AdbServer(port=d.adb_port), d.serial)
    model = b"m"
    sha = hashlib.sha256(model).hexdigest()
    model_path = contract.model_device_path(contract.DEFAULT_WORK_DIR, sha)
    d.device.sync.push(model, model_path)
    spec = _spec("lost", model_path, sha, measured=2)
    t0 = time.monotonic()
    result = host_app.run_block(adb, contract.DEFAULT_WORK_DIR, spec, lambda _line: None)
    assert result["status"] == "ok" and len(result["generations"]) == 3
    assert time.monotonic() - t0 < 15
    assert contract.find_done(d.shell("logcat -d -s HarnessBench").stdout.decode(), "lost") is None
    assert d.shell(f"pidof {contract.APP_PACKAGE}").returncode == 0
