"""This machine as a device: the host's benchmark app (``reference_app``) in a child process.

It runs models with TensorFlow's own interpreter (Flex + TF Text ops), takes the same
app-contract spec a phone's app takes and gives back the same result, so host and phone
figures land in the same result files. Each block runs in a fresh child process with a
deadline that holds even when the child hangs without closing its output; a block whose
app hangs is stopped at the deadline and recorded as failed, and the run goes on.
"""
from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
from pathlib import Path

from harness import contract, proc
from harness.convert.artifact import Converted
from harness.devices.base import ProgressFn, check_runtime
from harness.errors import DeviceError
from harness.hostinfo import cpu_model, host_fingerprint, load_average_1m, package_version, proc_kb

# A generation of the tiny model takes milliseconds, of GPT-2 base seconds; the
# deadline allows this much per generation on top of a fixed start-up allowance.
HOST_START_TIMEOUT_S = 120.0
HOST_PER_GENERATION_TIMEOUT_S = 120.0
REFERENCE_APP = "harness.devices.host.reference_app"


def block_deadline_s(spec: dict) -> float:
    return HOST_START_TIMEOUT_S + HOST_PER_GENERATION_TIMEOUT_S * (spec["warmup_runs"] + spec["measured_runs"])


class HostDevice:
    """This machine, running models with TensorFlow's interpreter (Flex + TF Text ops)."""

    kind = "host"
    default_threads = 1

    def __init__(self, alias: str = "host"):
        self.alias = alias

    def lock_key(self) -> str:
        return "host"

    def claim(self, run_id: str, wait_s: float, on_wait: ProgressFn) -> None:
        return None      # the machine-wide lock (registry) is all there is to hold

    def cpu_count(self) -> int | None:
        """The cores this process may run on (its affinity: a CI container's share, not the machine's)."""
        try:
            return len(os.sched_getaffinity(0))
        except (AttributeError, OSError):
            return os.cpu_count()

    def describe(self) -> dict:
        return {"alias": self.alias, "kind": "host", "serial": None,
                "fingerprint": host_fingerprint(), "manufacturer": None, "model": cpu_model(),
                "device": platform.node(), "soc": cpu_model(), "abi": platform.machine(),
                "sdk": None, "android_version": None, "emulated": False,
                "cpu_count": os.cpu_count()}

    def app_info(self) -> dict | None:
        return None

    def state(self) -> dict:
        return {"thermal_status": None, "battery_level": None, "battery_temp_c": None,
                "load_avg_1m": load_average_1m(), "mem_available_kb": proc_kb("/proc/meminfo", "MemAvailable")}

    def wait_steady(self, on_wait: ProgressFn) -> dict:
        return self.state()

    def deploy(self, models: list[Converted], progress: ProgressFn) -> dict:
        check_runtime(self.alias, models, package_version("tensorflow"),
                      "upgrade the tensorflow package to the converter's version")
        return {"app_installed": False, "pushed": [], "pushed_bytes": 0, "already_there": len(models)}

    def model_path(self, model: Converted) -> str:
        return str(model.path)

    def run(self, spec: dict, model: Converted, on_progress: ProgressFn) -> dict:
        deadline = block_deadline_s(spec)
        with tempfile.TemporaryDirectory(prefix="harness-host-") as tmp:
            spec_path, result_path, log = Path(tmp) / "spec.json", Path(tmp) / "result.json", Path(tmp) / "log"
            spec_path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
            cmd = [sys.executable, "-m", REFERENCE_APP, "--spec", str(spec_path),
                   "--model", str(model.path), "--result", str(result_path)]
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}

            def on_line(line: str) -> None:
                if line.startswith("HARNESS_PROGRESS"):
                    on_progress(line.strip())

            try:
                done = proc.run(cmd, what="the host's benchmark app", deadline_s=deadline, env=env,
                                stderr_path=log, on_line=on_line)
            except proc.Deadline as e:     # a hung app fails its block; retrying would hang again
                return contract.error_result(spec, str(e))
            if not result_path.is_file():
                tail = log.read_text(errors="replace").strip().splitlines()[-3:]
                raise DeviceError(self.alias, f"the host's benchmark app exited {done.returncode} without a "
                                  f"result: {' | '.join(tail)}")
            result = json.loads(result_path.read_text(encoding="utf-8"))
        contract.validate_result(result)
        return result

    def recover(self, models: list[Converted]) -> dict | None:
        return None      # nothing to reattach: the next block starts a fresh child

    def cleanup_run(self, run_id: str) -> None:
        """Stop a benchmark app still running (an interrupted run's, in the device's thread);
        its files live in a temporary directory. The host's apps are the only children then."""
        proc.kill_all()

    def close(self) -> None:
        return None
