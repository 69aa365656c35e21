"""What a phone needs before its figures count, over the real adb server: awake and in front,
the app build it should have, a TFLite runtime new enough for the model (issues #12, #13)."""
from __future__ import annotations

from pathlib import Path

import pytest

from harness import cli, contract
from harness.emulator.apk import build_apk
from helpers import FAKE_RUNNER, TINY_MAX_LENGTH, load_result

pytestmark = pytest.mark.timeout(240)


def config(tmp_path: Path, dev, *, apk: Path | None = None) -> Path:
    lines = [f"adb_server: 127.0.0.1:{dev.adb_port}", "devices:", "  dut:", f"    endpoint: {dev.serial}"]
    if apk:
        lines.append(f"    apk: {apk}")
    path = tmp_path / "devices.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def run(tmp_path: Path, cfg: Path) -> int:
    return cli.main(["run", "--device", "dut", "--model", "synthetic:tiny", "--variants", "fp32",
                     "--max-length", str(TINY_MAX_LENGTH), "--context-window", "3", "--runs", "2",
                     "--warmup", "0", "--config", str(cfg), "--results-dir", str(tmp_path / "results"),
                     "--no-report"])


def last_run(tmp_path: Path) -> dict:
    return load_result(sorted((tmp_path / "results").glob("*.json"))[-1])


@pytest.mark.emulator(hostrun_cmd=FAKE_RUNNER, state={"screen": "off", "locked": True})
def test_a_sleeping_locked_phone_is_woken_and_the_setting_restored(tiny_models, emulated_device, tmp_path):
    dev = emulated_device
    dev.shell("settings put global stay_on_while_plugged_in 0")
    assert run(tmp_path, config(tmp_path, dev)) == 0
    (block,) = last_run(tmp_path)["blocks"]
    assert block["env_before"]["interactive"] is True and block["env_before"]["screen"] == "ON"
    assert all(s["interactive_before"] and s["interactive_after"] for s in block["samples"])
    state = dev.snapshot()["state"]
    assert state["screen"] == "on" and state["locked"] is False
    # stay awake while plugged in during the run, the user's own setting back afterwards
    assert dev.shell("settings get global stay_on_while_plugged_in").stdout.strip() == b"0"


@pytest.mark.emulator(hostrun_cmd=FAKE_RUNNER, state={"screen": "off", "locked": True, "secure_lock": True})
def test_a_phone_behind_a_pin_is_refused_in_one_line(tiny_models, emulated_device, tmp_path, capsys):
    assert run(tmp_path, config(tmp_path, emulated_device)) == 1
    err = capsys.readouterr().err
    assert "dut: the screen is locked with a PIN" in err and "Screen lock to None" in err
    assert last_run(tmp_path)["blocks"] == []


@pytest.mark.emulator(hostrun_cmd=FAKE_RUNNER)
def test_a_rebuilt_apk_with_the_same_version_code_is_reinstalled(tiny_models, emulated_device, tmp_path):
    apk = tmp_path / "app-release.apk"
    cfg = config(tmp_path, emulated_device, apk=apk)
    builds = [build_apk(contract.APP_PACKAGE, contract.APP_VERSION_CODE, contract.APP_VERSION_NAME,
                        payload=payload) for payload in (b"build 1", b"build 2")]
    installed = []
    for build in (builds[0], builds[0], builds[1]):
        apk.write_bytes(build)
        assert run(tmp_path, cfg) == 0
        installed.append(last_run(tmp_path)["deployments"][0]["app_installed"])
    # the first differs from the phone's, the second is the same build, the third a rebuild
    assert installed == [True, False, True]


@pytest.mark.emulator(hostrun_cmd=FAKE_RUNNER, app_version_name="0.2.0+tflite-2.10.0")
def test_a_model_newer_than_the_apps_runtime_is_refused_before_any_push(tiny_models, emulated_device, tmp_path,
                                                                        capsys):
    assert tiny_models["fp32"].min_runtime_version == "2.14.0"
    assert run(tmp_path, config(tmp_path, emulated_device)) == 1
    err = capsys.readouterr().err
    assert "needs TFLite runtime 2.14.0 or newer" in err and "runtime is 2.10.0" in err
    models = emulated_device.host_path(f"{contract.DEFAULT_WORK_DIR}/models")
    assert not models.exists() or not any(models.iterdir())


@pytest.mark.emulator(hostrun_cmd=FAKE_RUNNER)
def test_threads_beyond_the_phones_cores_are_refused(tiny_models, emulated_device, tmp_path, capsys):
    """A Pixel 7 has 8 cores (nproc, /sys/devices/system/cpu/possible); 9 threads would spin."""
    assert emulated_device.shell("nproc").stdout == b"8\n"
    assert emulated_device.shell("cat /sys/devices/system/cpu/possible").stdout == b"0-7\n"
    cfg = config(tmp_path, emulated_device)
    rc = cli.main(["run", "--device", "dut", "--model", "synthetic:tiny", "--variants", "fp32",
                   "--max-length", str(TINY_MAX_LENGTH), "--threads", "9", "--runs", "1", "--config", str(cfg),
                   "--results-dir", str(tmp_path / "results"), "--no-report"])
    err = capsys.readouterr().err
    assert rc == 1 and "9 threads" in err and "8" in err, err
