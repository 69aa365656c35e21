"""A device that fails on command, for fast tests of the executor (no adb, no TensorFlow)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness import contract
from harness.convert.artifact import Converted
from harness.errors import DeviceError, HarnessError


def converted(variant: str = "fp32", max_length: int = 8, sha: str | None = None) -> Converted:
    """A Converted whose report has what the executor reads (no file behind it)."""
    sha = sha or (variant.encode().hex() * 64)[:64]
    report = {"variant": variant, "max_length": max_length, "export": "oneshot", "sha256": sha,
              "size_bytes": 1000, "conversion_id": f"key-{variant}", "synthetic": True,
              "model": {"spec": "synthetic:tiny"}, "parameters": 1,
              "census": {"weight_bytes_by_dtype": {"float32": 1000}, "op_counts": {"builtin": 1}}}
    return Converted(Path(f"/nonexistent/{variant}.tflite"), report, cache_hit=True)


def result(spec: dict, wall_ms: float = 5.0, status: str = "ok") -> dict:
    gens = []
    for phase, total in (("warmup", spec["warmup_runs"]), ("measured", spec["measured_runs"])):
        for i in range(total):
            gens.append(contract.new_generation(
                phase=phase, index=i, prompt_index=i % len(spec["prompts"]),
                prompt_used=spec["prompts"][i % len(spec["prompts"])], wall_ms=wall_ms, output_text="x",
                token_count=spec["max_length"], prompt_token_count=2))
    return contract.new_result(
        spec["run_id"], spec["model_path"], status=status, error=None if status == "ok" else "boom",
        app={"package": "fake", "version_name": "1", "version_code": 1, "runtime": "fake", "tflite_version": "0"},
        device={"fingerprint": "fake/fp", "model": "Fake", "emulated": False},
        model={"path": spec["model_path"], "sha256": spec["model_sha256"], "size_bytes": 1000},
        load_ms=1.0, threads_used=spec["threads"], delegate_used=spec["delegate"],
        memory={"vmhwm_kb": 1, "pss_kb": None, "rss_before_load_kb": None}, generations=gens,
        started_at="2026-12-01T00:00:00.000+00:00", finished_at="2026-12-01T00:00:01.000+00:00")


@dataclass
class FakeDevice:
    """Scripted faults: ``fail_runs`` DeviceErrors before runs succeed, ``fatal_on_run`` a
    non-device error, ``recover_fails`` recoveries that fail, ``error_variants`` results of
    status error. Records every call in ``calls``."""

    alias: str = "fake"
    kind: str = "fake"
    default_threads: int = 2
    fail_runs: int = 0
    fail_deploys: int = 0
    fatal_on_run: bool = False
    recover_fails: int = 0
    error_variants: tuple[str, ...] = ()
    on_run: object = None                 # callable(spec) called before each run (e.g. raise Ctrl-C)
    calls: list[tuple] = field(default_factory=list)

    def lock_key(self) -> str:
        return f"fake-{self.alias}"

    def claim(self, run_id: str, wait_s: float, on_wait) -> None:
        self.calls.append(("claim", run_id))

    def cpu_count(self) -> int | None:
        return 4

    def describe(self) -> dict:
        self.calls.append(("describe",))
        return {"alias": self.alias, "kind": "fake", "serial": None, "fingerprint": "fake/fp",
                "model": "Fake", "emulated": False}

    def app_info(self):
        return None

    def state(self) -> dict:
        return {"thermal_status": 0}

    def wait_steady(self, on_wait) -> dict:
        return self.state()

    def deploy(self, models, progress) -> dict:
        self.calls.append(("deploy", len(models)))
        if self.fail_deploys:
            self.fail_deploys -= 1
            raise DeviceError(self.alias, "deploy dropped")
        return {"app_installed": False, "pushed": [], "pushed_bytes": 0, "already_there": len(models)}

    def model_path(self, model) -> str:
        return f"/fake/{model.sha256}.tflite"

    def run(self, spec, model, on_progress) -> dict:
        self.calls.append(("run", model.variant, spec["threads"]))
        if self.on_run:
            self.on_run(spec)
        if self.fatal_on_run:
            raise HarnessError(f"{self.alias}: storage full")
        if self.fail_runs:
            self.fail_runs -= 1
            raise DeviceError(self.alias, "link dropped")
        return result(spec, status="error" if model.variant in self.error_variants else "ok")

    def recover(self, models):
        self.calls.append(("recover",))
        if self.recover_fails:
            self.recover_fails -= 1
            raise DeviceError(self.alias, "still gone")
        return {"recovered": True}

    def cleanup_run(self, run_id: str) -> None:
        self.calls.append(("cleanup", run_id))

    def close(self) -> None:
        self.calls.append(("close",))
