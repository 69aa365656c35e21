"""The host's side of the app contract (docs/app-contract.md): launch, wait, fetch the result.

All device access goes through ``harness.devices.android.adb.Adb``. The spec travels as a pushed file;
the command line carries only the harness-made spec path and run id.
"""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Callable

from harness import contract
from harness.devices.android.adb import Adb, AdbCallError
from harness.errors import DeviceError

# The app's log lines arrive on one streaming `logcat` connection, opened before the
# app starts: nothing runs on the device per progress line. Whether the app's process
# still lives is asked every LIVENESS_S. If the stream cannot be opened or ends early
# (logd can drop a reader), the loop polls `logcat -d` instead: slowly while the app
# generates (a dump competes with the measurement), fast after its last generation.
LIVENESS_S = 1.0
POLL_S = 0.25
FINAL_POLL_S = 0.03
# Timeout for one block: a fixed allowance for start-up and model load, plus this much
# per generated token (a phone's GPT-2 base dynamic model takes ~67 ms per token).
START_ALLOWANCE_S = 120.0
PER_TOKEN_ALLOWANCE_S = 0.5
MIN_PER_GENERATION_S = 10.0
# The app is declared dead when its process is gone this long without a done line.
GONE_GRACE_S = 3.0


def block_timeout_s(spec: dict) -> float:
    generations = spec["warmup_runs"] + spec["measured_runs"]
    return START_ALLOWANCE_S + generations * max(MIN_PER_GENERATION_S, spec["max_length"] * PER_TOKEN_ALLOWANCE_S)


def _crash_text(logcat: str) -> str | None:
    lines = logcat.splitlines()
    for i, line in enumerate(lines):
        if "FATAL EXCEPTION" in line and any(f"Process: {contract.APP_PACKAGE}" in ln for ln in lines[i:i + 4]):
            detail = next((ln.split(": ", 1)[-1] for ln in lines[i + 2:i + 6] if "Exception" in ln or "Error" in ln), "")
            return f"the app crashed (FATAL EXCEPTION{': ' + detail.strip() if detail else ''})"
        if f"Process {contract.APP_PACKAGE} " in line and "has died" in line:
            return "the app's process died"
    return None


class _Watch:
    """The app's log lines and, now and then, whether its process lives.

    ``poll(fast)`` returns ``(log text so far, alive)``; ``alive`` is None when this
    poll did not ask. Streams from ``logcat`` while it can, else polls ``logcat -d``.
    """

    def __init__(self, adb: Adb):
        self.adb = adb
        self.text = ""
        self.polls = 0
        self._last_liveness = time.monotonic()
        try:
            self.stream = adb.stream_lines(["logcat", "-s", contract.LOG_TAG])
        except AdbCallError:
            self.stream = None

    @property
    def streaming(self) -> bool:
        return self.stream is not None and not self.stream.ended

    def poll(self, fast: bool) -> tuple[str, bool | None]:
        if self.streaming:
            lines = self.stream.read(LIVENESS_S)
            if lines:
                self.text += "\n".join(lines) + "\n"
            if time.monotonic() - self._last_liveness < LIVENESS_S and not self.stream.ended:
                return self.text, None
            self._last_liveness = time.monotonic()
            pids = self.adb.shell(["pidof", contract.APP_PACKAGE], timeout_s=30, check=False).stdout
            return self.text, bool(pids.strip())
        if self.polls:
            time.sleep(FINAL_POLL_S if fast else POLL_S)
        self.polls += 1
        # One round trip a poll: the app's log lines and whether its process lives.
        self.text, pids = self.adb.shell_batch([["logcat", "-d", "-s", contract.LOG_TAG],
                                                ["pidof", contract.APP_PACKAGE]], timeout_s=30)
        return self.text, bool(pids.strip())

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()


def run_block(adb: Adb, work_dir: str, spec: dict, on_progress: Callable[[str], None]) -> dict:
    """Push the spec, start the activity, wait for the done line or the result, pull it."""
    run_id = spec["run_id"]
    spec_path = contract.spec_device_path(work_dir, run_id)
    result_path = contract.result_device_path(run_id)
    with tempfile.TemporaryDirectory(prefix="harness-spec-") as tmp:
        local = Path(tmp) / "spec.json"
        local.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
        adb.push(local, spec_path)      # deploy made the directory
    watch = _Watch(adb)                 # listening before the app can log anything
    try:
        out = adb.shell(["am", "start", "-S", "-W", "-n", contract.APP_COMPONENT,
                         "--es", contract.EXTRA_SPEC_PATH, spec_path, "--es", contract.EXTRA_RUN_ID, run_id],
                        timeout_s=60, check=False)
        text = out.stdout + out.stderr
        if out.exit_status != 0 or "Error" in text:
            raise AdbCallError(adb.serial, "am start", "the benchmark activity did not start", out.exit_status, text)
        failure = _wait(adb, spec, result_path, watch, on_progress)
        if failure:
            return contract.error_result(spec, failure)
        # The done line can come just before the rename lands: wait briefly for the file.
        for _ in range(20):
            if adb.stat_size(result_path) is not None:
                break
            time.sleep(0.1)
        else:
            return contract.error_result(spec, "the app logged done but left no result file")
        raw = adb.pull_bytes(result_path)
        try:
            result = json.loads(raw.decode("utf-8"))
            contract.validate_result(result)
        except (ValueError, contract.ContractError) as e:
            return contract.error_result(spec, f"the app's result does not follow the contract: {e}")
        return result
    finally:
        watch.close()
        cleanup(adb, [spec_path, result_path])


def _wait(adb: Adb, spec: dict, result_path: str, watch: _Watch,
          on_progress: Callable[[str], None]) -> str | None:
    """Until the app is done: None when it finished, else why it failed (app gone)."""
    run_id = spec["run_id"]
    generations = spec["warmup_runs"] + spec["measured_runs"]
    deadline = time.monotonic() + block_timeout_s(spec)
    seen_progress = 0
    gone_since = None
    while True:
        log, running = watch.poll(fast=seen_progress >= generations)
        n = contract.count_progress(log, run_id)
        for _ in range(n - seen_progress):
            on_progress("HARNESS_PROGRESS")
        seen_progress = max(seen_progress, n)
        if contract.find_done(log, run_id) is not None:
            return None
        if running is not None and adb.stat_size(result_path) is not None:
            # Finished (the app renames its result into place), whether or not the done line was
            # seen: logd may have dropped it, and the app's process stays cached after a run.
            return None
        if running is False:
            crash = _crash_text(adb.shell(["logcat", "-d", "-s", "AndroidRuntime", "ActivityManager"],
                                          timeout_s=30).stdout)
            gone_since = gone_since or time.monotonic()
            if crash or time.monotonic() - gone_since > GONE_GRACE_S:
                return crash or "the app's process is gone and left no result"
        elif running:
            gone_since = None
        if time.monotonic() > deadline:
            adb.shell(["am", "force-stop", contract.APP_PACKAGE], check=False)
            raise DeviceError(adb.serial, f"the benchmark app did not finish in {block_timeout_s(spec):.0f} s")


def cleanup(adb: Adb, paths: list[str]) -> None:
    """Remove device-side leftovers. Never raises: the device may be gone."""
    try:
        adb.shell(["rm", "-f", *paths], timeout_s=10, check=False)
    except Exception:  # noqa: BLE001
        pass
