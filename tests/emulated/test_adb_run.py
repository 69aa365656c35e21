"""`harness run` over the real adb server against emulated devices: the whole ADB path,
its faults, and what is kept on disk when things go wrong."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness import cli, contract
from helpers import FAKE_RUNNER, TINY_MAX_LENGTH, load_result

# The harness's ADB path and its fault handling are under test here, not TensorFlow: the
# emulated app runs the fake runner (tests/emulated/fake_hostrun.py, the same contract)
# except where a test says otherwise. test_run_end_to_end_then_nothing_pushed runs the real one.
pytestmark = [pytest.mark.timeout(300), pytest.mark.emulator(hostrun_cmd=FAKE_RUNNER)]


@pytest.fixture(autouse=True)
def short_adb_timeout(monkeypatch):
    """A hung device is detected after 3 s instead of 30 (the socket timeout)."""
    import harness.devices.android.adb

    monkeypatch.setattr(harness.devices.android.adb, "SOCKET_TIMEOUT_S", 3.0)
    monkeypatch.setattr("harness.run.executor.RETRY_BACKOFF_S", (0.2, 0.5, 1.0))
    monkeypatch.setattr("harness.devices.android.device.RECONNECT_TIMEOUT_S", 8.0)


def write_config(path: Path, adb_port: int, devices: dict[str, str], cooldown: str = "") -> Path:
    lines = [f"adb_server: 127.0.0.1:{adb_port}", "devices:"]
    for alias, serial in devices.items():
        lines += [f"  {alias}:", f"    endpoint: {serial}"]
        if cooldown:
            lines.append(f"    cooldown: {cooldown}")
    path.write_text("\n".join(lines) + "\n")
    return path


def run(tmp_path, config, *extra, device="dut", variants="dynamic,fp16", runs="2"):
    return cli.main(["run", "--device", device, "--model", "synthetic:tiny", "--variants", variants,
                     "--max-length", str(TINY_MAX_LENGTH), "--context-window", "3", "--runs", runs,
                     "--warmup", "1", "--config", str(config), "--results-dir", str(tmp_path / "results"),
                     "--no-report", *extra])


def runs_in(tmp_path) -> list[dict]:
    return [load_result(p) for p in sorted((tmp_path / "results").glob("*.json"))]


def assert_no_duplicates(doc):
    ids = [b["block_id"] for b in doc["blocks"]]
    assert len(ids) == len(set(ids)), ids
    for b in doc["blocks"]:
        keys = [(s["phase"], s["index"]) for s in b["samples"]]
        assert len(keys) == len(set(keys))


@pytest.mark.emulator(hostrun_cmd=None)      # the real host app: TensorFlow on the pushed models
def test_run_end_to_end_with_the_real_app(tiny_models, emulated_device, tmp_path):
    cfg = write_config(tmp_path / "devices.yaml", emulated_device.adb_port, {"dut": emulated_device.serial})
    assert run(tmp_path, cfg) == 0
    (doc,) = runs_in(tmp_path)
    assert doc["status"] == "complete"
    assert doc["deployments"][0]["pushed"] and doc["deployments"][0]["pushed_bytes"] > 0
    for b in doc["blocks"]:
        assert b["status"] == "ok", b["error"]
        assert b["device"]["kind"] == "adb" and b["device"]["emulated"] is True
        assert b["device"]["model"] == "Pixel 7"
        assert b["device"]["fingerprint"].startswith("google/panther/panther:")
        assert b["app"]["package"] == contract.APP_PACKAGE
        assert b["app"]["version_code"] == contract.APP_VERSION_CODE
        assert [s["phase"] for s in b["samples"]] == ["warmup", "measured", "measured"]
        assert all(s["wall_ms"] > 0 and s["token_count"] == TINY_MAX_LENGTH for s in b["samples"])
        # Every sample carries the device state around it (the emulated app reads its own state).
        assert all(s["thermal_status_before"] == 0 and s["battery_temp_c_after"] == 29.0 for s in b["samples"])
        assert b["env_before"]["battery_level"] is not None and b["env_before"]["thermal_status"] == 0
        assert b["env_before"]["screen"] == "ON" and b["env_before"]["charging"] is True
    # Models sit on the device under their sha256.
    for v in ("dynamic", "fp16"):
        remote = emulated_device.host_path(contract.model_device_path(contract.DEFAULT_WORK_DIR, tiny_models[v].sha256))
        assert remote.read_bytes() == tiny_models[v].path.read_bytes()
    # Each block's app was watched on one following logcat: no log dumps were polled.
    assert emulated_device.snapshot()["logcat_reads"] == {"dump": 0, "follow": 2}
    # No spec or result left behind on the device.
    assert not list(emulated_device.host_path(contract.RESULT_DIR).glob("*.json"))
    assert not list(emulated_device.host_path(contract.DEFAULT_WORK_DIR + "/specs").glob("*"))


def test_a_second_run_pushes_nothing_and_a_changed_model_again(tiny_models, emulated_device, tmp_path):
    cfg = write_config(tmp_path / "devices.yaml", emulated_device.adb_port, {"dut": emulated_device.serial})
    assert run(tmp_path, cfg) == 0
    (doc,) = runs_in(tmp_path)
    assert doc["deployments"][0]["pushed"] and doc["deployments"][0]["pushed_bytes"] > 0

    # Second run: nothing pushed.
    assert run(tmp_path, cfg) == 0
    second = runs_in(tmp_path)[-1] if runs_in(tmp_path)[-1]["run_id"] != doc["run_id"] else runs_in(tmp_path)[0]
    assert second["deployments"][0]["pushed"] == [] and second["deployments"][0]["already_there"] == 2

    # A model changed on the device (same size, other bytes) is pushed again.
    remote = emulated_device.host_path(contract.model_device_path(contract.DEFAULT_WORK_DIR, tiny_models["fp16"].sha256))
    data = bytearray(remote.read_bytes())
    data[len(data) // 2] ^= 0xFF
    remote.write_bytes(bytes(data))
    assert run(tmp_path, cfg) == 0
    third = max(runs_in(tmp_path), key=lambda d: d["started_at"])
    assert third["deployments"][0]["pushed"] == [tiny_models["fp16"].sha256]
    assert remote.read_bytes() == tiny_models["fp16"].path.read_bytes()


def test_two_devices_in_parallel(tiny_models, emulated_device, adb_server, tmp_path):
    from harness.emulator import start_emulator, stop_emulator

    second = start_emulator("dut2", profile="pixel8", state_root=tmp_path / "emu2", adb_port=adb_server.port,
                            env=adb_server.env, hostrun_cmd=FAKE_RUNNER)
    try:
        cfg = write_config(tmp_path / "devices.yaml", adb_server.port,
                           {"dut": emulated_device.serial, "dut2": second.serial})
        assert run(tmp_path, cfg, device="dut,dut2") == 0
    finally:
        stop_emulator("dut2", state_root=tmp_path / "emu2", env=adb_server.env)
    (doc,) = runs_in(tmp_path)
    by_device = {}
    for b in doc["blocks"]:
        by_device.setdefault(b["device"]["alias"], []).append(b)
    assert set(by_device) == {"dut", "dut2"}
    assert {b["device"]["model"] for b in by_device["dut2"]} == {"Pixel 8"}
    assert all(len(v) == 2 for v in by_device.values())
    assert_no_duplicates(doc)


HOSTILE_PROMPTS = [
    "it's a \"quoted\" prompt; echo pwned > /sdcard/pwned",
    "$(touch /sdcard/pwned2) and `touch /sdcard/pwned3`",
    "line one\\nstill one line && rm -rf /data/local/tmp",
    "Ünïcödé 東京 Самое — émoji 🎉 | cat /proc/meminfo",
]


def test_hostile_prompts_arrive_byte_for_byte(tiny_models, emulated_device, tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text("\n".join(json.dumps(p, ensure_ascii=False) for p in HOSTILE_PROMPTS + ["a\nb"]) + "\n")
    cfg = write_config(tmp_path / "devices.yaml", emulated_device.adb_port, {"dut": emulated_device.serial})
    status = cli.main(["run", "--device", "dut", "--model", "synthetic:tiny", "--variants", "fp32",
                       "--max-length", str(TINY_MAX_LENGTH), "--context-window", "all", "--runs", "5",
                       "--warmup", "0", "--prompts", str(prompts), "--config", str(cfg),
                       "--results-dir", str(tmp_path / "results"), "--no-report"])
    assert status == 0
    (doc,) = runs_in(tmp_path)
    used = [s["prompt_used"] for s in doc["blocks"][0]["samples"]]
    assert used == HOSTILE_PROMPTS + ["a\nb"]
    for name in ("pwned", "pwned2", "pwned3"):
        assert not emulated_device.host_path(f"/sdcard/{name}").exists()
    assert emulated_device.host_path("/data/local/tmp/harness/models").is_dir()


def test_drop_mid_push_is_retried(tiny_models, emulated_device, tmp_path):
    emulated_device.set_faults(drop_push_after_bytes=50_000)
    cfg = write_config(tmp_path / "devices.yaml", emulated_device.adb_port, {"dut": emulated_device.serial})
    assert run(tmp_path, cfg) == 0
    (doc,) = runs_in(tmp_path)
    assert doc["status"] == "complete" and len(doc["blocks"]) == 2
    assert len(doc["deployments"]) >= 2           # the first push dropped, recovery re-deployed
    assert_no_duplicates(doc)


@pytest.mark.parametrize("fault", ["drop_during_benchmark", "drop_pull"])
def test_drop_mid_run_or_pull_loses_and_duplicates_nothing(tiny_models, emulated_device, tmp_path, fault):
    cfg = write_config(tmp_path / "devices.yaml", emulated_device.adb_port, {"dut": emulated_device.serial})
    # Deploy first, so the fault hits the benchmark, not the model push.
    assert run(tmp_path, cfg, variants="dynamic", runs="1") == 0
    if fault == "drop_pull":
        emulated_device.set_faults(drop_pull_after_bytes=100)
    else:
        emulated_device.set_faults(drop_during_benchmark=True)
    assert run(tmp_path, cfg, variants="dynamic,fp16", runs="3") == 0
    doc = max(runs_in(tmp_path), key=lambda d: d["started_at"])
    assert doc["status"] == "complete"
    assert sorted(b["model"]["variant"] for b in doc["blocks"]) == ["dynamic", "fp16"]
    assert all(len(b["samples"]) == 4 for b in doc["blocks"])
    assert_no_duplicates(doc)
    assert not list(emulated_device.host_path(contract.RESULT_DIR).glob("*.json"))


@pytest.mark.emulator(faults={"logcat_no_follow": True})
def test_a_logcat_that_stops_following_falls_back_to_polling(tiny_models, emulated_device, tmp_path):
    cfg = write_config(tmp_path / "devices.yaml", emulated_device.adb_port, {"dut": emulated_device.serial})
    assert run(tmp_path, cfg, variants="dynamic") == 0
    (doc,) = runs_in(tmp_path)
    (block,) = doc["blocks"]
    assert block["status"] == "ok" and len(block["samples"]) == 3
    reads = emulated_device.snapshot()["logcat_reads"]
    assert reads["follow"] == 0 and reads["dump"] >= 2      # the stream's one dump, then polls


def test_app_crash_is_a_failed_block_with_the_reason(tiny_models, emulated_device, tmp_path):
    cfg = write_config(tmp_path / "devices.yaml", emulated_device.adb_port, {"dut": emulated_device.serial})
    emulated_device.set_faults(app_crash=True)
    assert run(tmp_path, cfg, variants="dynamic,fp16") == 1
    (doc,) = runs_in(tmp_path)
    assert doc["status"] == "failed"
    failed = [b for b in doc["blocks"] if b["status"] == "error"]
    ok = [b for b in doc["blocks"] if b["status"] == "ok"]
    assert len(failed) == 1 and "crashed" in failed[0]["error"]
    assert len(ok) == 1 and len(ok[0]["samples"]) == 3     # the other block is kept whole


def test_storage_full_stops_the_device_with_a_clear_message(tiny_models, emulated_device, tmp_path, capsys):
    cfg = write_config(tmp_path / "devices.yaml", emulated_device.adb_port, {"dut": emulated_device.serial})
    emulated_device.set_state(quota_bytes=100_000)
    assert run(tmp_path, cfg) == 1
    err = capsys.readouterr().err
    assert "not enough storage" in err
    (doc,) = runs_in(tmp_path)
    assert doc["blocks"] == [] and doc["status"] == "failed"


def test_hung_device_times_out_and_keeps_finished_blocks(tiny_models, emulated_device, tmp_path, capsys):
    cfg = write_config(tmp_path / "devices.yaml", emulated_device.adb_port, {"dut": emulated_device.serial})
    assert run(tmp_path, cfg, variants="dynamic", runs="1") == 0        # deployed
    emulated_device.set_faults(hang_pull_after_bytes=10)                  # the first result pull hangs
    t0 = time.monotonic()
    assert run(tmp_path, cfg, variants="dynamic,fp16", runs="2") == 0
    assert time.monotonic() - t0 < 120
    doc = max(runs_in(tmp_path), key=lambda d: d["started_at"])
    assert doc["status"] == "complete" and len(doc["blocks"]) == 2
    assert "timed out" in capsys.readouterr().err
    assert_no_duplicates(doc)


@pytest.mark.emulator(faults={"latency_ms_per_packet": 2, "bandwidth_bytes_per_s": 2_000_000})
def test_slow_device_still_completes(tiny_models, emulated_device, tmp_path):
    cfg = write_config(tmp_path / "devices.yaml", emulated_device.adb_port, {"dut": emulated_device.serial})
    assert run(tmp_path, cfg, variants="dynamic", runs="1") == 0
    (doc,) = runs_in(tmp_path)
    assert doc["status"] == "complete" and len(doc["blocks"][0]["samples"]) == 2


@pytest.mark.emulator(state={"thermal_status": 4, "thermal_cool_every_queries": 2})
def test_hot_device_is_waited_for_until_it_cools(tiny_models, emulated_device, tmp_path):
    cfg = write_config(tmp_path / "devices.yaml", emulated_device.adb_port, {"dut": emulated_device.serial},
                       cooldown="{thermal_ceiling: 1, max_wait_s: 30, poll_s: 0.05}")
    assert run(tmp_path, cfg, variants="dynamic", runs="1") == 0
    (doc,) = runs_in(tmp_path)
    env = doc["blocks"][0]["env_before"]
    assert env["thermal_status"] <= 1 and env["thermal_wait_s"] > 0
    assert not env.get("thermal_gate_timed_out")


@pytest.mark.emulator(hostrun_cmd=FAKE_RUNNER + ["--sleep", "0.4"])   # slow enough to interrupt between blocks
def test_interrupted_run_resumes_without_duplicates(tiny_models, emulated_device, tmp_path):
    cfg = write_config(tmp_path / "devices.yaml", emulated_device.adb_port, {"dut": emulated_device.serial})
    env = {**os.environ, "HARNESS_CACHE": os.environ["HARNESS_CACHE"]}
    argv = [sys.executable, "-m", "harness.cli", "run", "--device", "dut", "--model", "synthetic:tiny",
            "--variants", "fp32,dynamic,fp16", "--max-length", str(TINY_MAX_LENGTH), "--context-window", "3",
            "--runs", "2", "--warmup", "0", "--rounds", "2", "--config", str(cfg),
            "--results-dir", str(tmp_path / "results"), "--no-report"]
    # Ctrl-C as a terminal sends it, even when this test runs in a background job (which
    # bash starts with SIGINT ignored, and a child inherits that).
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        files = list((tmp_path / "results").glob("*.json"))
        if files and len(json.loads(files[0].read_text())["blocks"]) >= 1:
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    (doc,) = runs_in(tmp_path)
    assert doc["status"] == "interrupted"
    kept = {b["block_id"]: b["samples"] for b in doc["blocks"]}
    assert 1 <= len(kept) < 6
    assert cli.main(["run", "--resume", doc["run_id"], "--results-dir", str(tmp_path / "results"),
                     "--config", str(cfg), "--no-report"]) == 0
    (done,) = runs_in(tmp_path)
    assert done["status"] == "complete" and len(done["blocks"]) == 6
    assert_no_duplicates(done)
    for b in done["blocks"]:
        if b["block_id"] in kept:
            assert b["samples"] == kept[b["block_id"]]      # finished blocks were not measured again


@pytest.mark.parametrize("yaml_text,message", [
    ("devices:\n  p7:\n    serial: x\n    thread: 2\n", "devices.p7.thread: unknown key"),
    ("devices:\n  p7:\n    serial: x\n    threads: two\n", "devices.p7.threads: expected int"),
    ("devices:\n  p7: {}\n", "say how to find it"),
    ("devices:\n  p7:\n    endpoint: nohost\n", "expected host:port"),
    ("devices:\n  p7:\n    serial: x\n    cooldown: {thermal_ceiling: 9}\n", "must be 0..6"),
    ("devices:\n  p7:\n    emulated: {port: 5555}\n", "outside 5555-5585"),
    ("devices: [1, 2\n", "not valid YAML"),
    ("colour: blue\n", "(top).colour: unknown key"),
])
def test_bad_devices_yaml_is_one_line(yaml_text, message, tmp_path):
    cfg = tmp_path / "devices.yaml"
    cfg.write_text(yaml_text)
    proc = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--device", "p7", "--config", str(cfg),
                           "--results-dir", str(tmp_path)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HARNESS_CACHE": str(tmp_path / "c")})
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 1 and len(lines) == 1, proc.stderr
    assert message in lines[0] and "Traceback" not in proc.stderr


def test_unknown_alias_is_one_line(tmp_path):
    cfg = tmp_path / "devices.yaml"
    cfg.write_text("devices:\n  p7:\n    serial: x\n")
    assert cli.main(["run", "--device", "p9", "--config", str(cfg), "--results-dir", str(tmp_path)]) == 1


def test_an_emulated_device_never_matches_a_phone_alias(emulated_device, tmp_path, capsys):
    """`pixel7` (model match) must not silently measure an emulated Pixel 7."""
    cfg = tmp_path / "devices.yaml"
    cfg.write_text(f"adb_server: 127.0.0.1:{emulated_device.adb_port}\n"
                   "devices:\n  pixel7:\n    match: {model: \"Pixel 7\"}\n")
    assert emulated_device.device.prop.model == "Pixel 7"
    assert cli.main(["run", "--device", "pixel7", "--config", str(cfg), "--results-dir", str(tmp_path)]) == 1
    assert "'pixel7' (model 'Pixel 7') is not attached" in capsys.readouterr().err


@pytest.mark.emulator(app_version_code=None)
def test_missing_app_without_an_apk_names_the_build_script(tiny_models, emulated_device, tmp_path, capsys):
    cfg = tmp_path / "devices.yaml"
    cfg.write_text(f"adb_server: 127.0.0.1:{emulated_device.adb_port}\ndevices:\n  dut:\n"
                   f"    endpoint: {emulated_device.serial}\n    apk: {tmp_path / 'no-such.apk'}\n")
    assert run(tmp_path, cfg) == 1
    err = capsys.readouterr().err
    assert "benchmark app is not installed" in err and "build_apk.sh" in err


@pytest.mark.emulator(app_version_code=None)
def test_missing_app_is_installed_from_the_built_apk(tiny_models, emulated_device, tmp_path):
    from harness.emulator.apk import build_apk

    apk = tmp_path / "app-release.apk"      # an APK the emulated package manager accepts
    apk.write_bytes(build_apk(contract.APP_PACKAGE, contract.APP_VERSION_CODE, contract.APP_VERSION_NAME))
    cfg = tmp_path / "devices.yaml"
    cfg.write_text(f"adb_server: 127.0.0.1:{emulated_device.adb_port}\ndevices:\n  dut:\n"
                   f"    endpoint: {emulated_device.serial}\n    apk: {apk}\n")
    assert run(tmp_path, cfg, variants="dynamic", runs="1") == 0
    (doc,) = runs_in(tmp_path)
    assert doc["deployments"][0]["app_installed"] is True
    assert doc["blocks"][0]["app"]["version_code"] == contract.APP_VERSION_CODE
    out = emulated_device.shell(f"dumpsys package {contract.APP_PACKAGE}").stdout.decode()
    assert f"versionCode={contract.APP_VERSION_CODE}" in out


def test_harness_devices_lists_the_attached_device(emulated_device, tmp_path, capsys):
    cfg = write_config(tmp_path / "devices.yaml", emulated_device.adb_port, {"dut": emulated_device.serial})
    assert cli.main(["devices", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if emulated_device.serial in line)
    app = f"{contract.APP_VERSION_NAME} ({contract.APP_VERSION_CODE}) build "
    for cell in ("dut", "Pixel 7", "14", "arm64-v8a", "85%", "29.0", app, "yes"):
        assert cell in row, (cell, row)
