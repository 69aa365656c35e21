"""Devices the runner can measure on, behind one small interface.

``HostDevice`` runs the reference runner (``harness.hostrun``) in a child process on
this machine. ``harness.android.AndroidDevice`` does the same through ADB and the
benchmark app. Both take an app-contract spec and give back an app-contract result,
so the runner and the result files do not care which one measured.
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable, Protocol

from harness import contract
from harness.convert import Converted
from harness.errors import DeviceError
from harness.hostrun import proc_kb

ProgressFn = Callable[[str], None]
# A generation of the tiny model takes milliseconds, of GPT-2 base seconds; the
# timeout allows this much per generation on top of a fixed start-up allowance.
HOST_START_TIMEOUT_S = 120.0
HOST_PER_GENERATION_TIMEOUT_S = 120.0


class Device(Protocol):
    alias: str

    def describe(self) -> dict: ...            # the result file's "device" record
    def app_info(self) -> dict | None: ...     # the benchmark app (package, version) or None
    def state(self) -> dict: ...               # thermal, battery, storage: around each block
    def wait_steady(self, on_wait: ProgressFn) -> dict: ...   # thermal gate; returns state
    def deploy(self, models: list[Converted], progress: ProgressFn) -> dict: ...
    def run(self, spec: dict, model: Converted, on_progress: ProgressFn) -> dict: ...
    def close(self) -> None: ...


class HostDevice:
    """This machine, running models with TensorFlow's interpreter (Flex + TF Text ops)."""

    kind = "host"

    def __init__(self, alias: str = "host"):
        self.alias = alias

    def describe(self) -> dict:
        from harness.hostrun import cpu_model, host_fingerprint

        return {"alias": self.alias, "kind": "host", "serial": None,
                "fingerprint": host_fingerprint(), "manufacturer": None, "model": cpu_model(),
                "device": platform.node(), "soc": cpu_model(), "abi": platform.machine(),
                "sdk": None, "android_version": None, "emulated": False,
                "cpu_count": os.cpu_count()}

    def app_info(self) -> dict | None:
        return None

    def state(self) -> dict:
        load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
        return {"thermal_status": None, "battery_level": None, "battery_temp_c": None,
                "load_avg_1m": round(load1, 2) if load1 is not None else None,
                "mem_available_kb": proc_kb("/proc/meminfo", "MemAvailable")}

    def wait_steady(self, on_wait: ProgressFn) -> dict:
        return self.state()

    def deploy(self, models: list[Converted], progress: ProgressFn) -> dict:
        return {"app_installed": False, "pushed": [], "pushed_bytes": 0, "already_there": len(models)}

    def run(self, spec: dict, model: Converted, on_progress: ProgressFn) -> dict:
        generations = spec["warmup_runs"] + spec["measured_runs"]
        timeout_s = HOST_START_TIMEOUT_S + HOST_PER_GENERATION_TIMEOUT_S * generations
        with tempfile.TemporaryDirectory(prefix="harness-host-") as tmp:
            spec_path, result_path = Path(tmp) / "spec.json", Path(tmp) / "result.json"
            spec_path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
            cmd = [sys.executable, "-m", "harness.hostrun", "--spec", str(spec_path),
                   "--model", str(model.path), "--result", str(result_path)]
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONUNBUFFERED": "1"}
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=open(Path(tmp) / "log", "wb"),
                                    env=env, text=True, encoding="utf-8", errors="replace")
            try:
                for line in proc.stdout:
                    if line.startswith("HARNESS_PROGRESS"):
                        on_progress(line.strip())
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
                raise DeviceError(self.alias, f"reference runner did not finish in {timeout_s:.0f} s") from None
            except BaseException:
                proc.kill()
                proc.wait()
                raise
            if not result_path.is_file():
                tail = (Path(tmp) / "log").read_text(errors="replace").strip().splitlines()[-3:]
                raise DeviceError(self.alias, f"reference runner exited {proc.returncode} without a "
                                  f"result: {' | '.join(tail)}")
            result = json.loads(result_path.read_text(encoding="utf-8"))
        contract.validate_result(result)
        return result

    def close(self) -> None:
        return None
