"""The host's benchmark app: executes an app-contract spec with TensorFlow's interpreter.

It is the app of the ``host`` device and of the emulated device's benchmark app, so
both produce exactly the result file a phone's app does (docs/app-contract.md). Run it
as a separate process — the interpreter, Flex delegate and TF Text ops then live and die
with the measurement, and its peak memory is the model's, not the orchestrator's:

    python -m harness.devices.host.reference_app --spec S.json --model M.tflite --result R.json \
        [--device-json D.json] [--app-json A.json]

It prints the contract's progress lines on stdout while it runs, writes the result
atomically, and exits 0 whenever it wrote a result (even one of status ``error``).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from harness import contract  # noqa: E402
from harness.files import sha256_file, write_json_atomic  # noqa: E402
from harness.devices.host.generate import Oneshot, PrefillDecodeRunner, load_with_text_ops  # noqa: E402
from harness.hostinfo import cpu_model, host_fingerprint, package_version, proc_kb, utc_now  # noqa: E402


def _default_app() -> dict:
    return {"package": "harness.devices.host.reference_app", "version_name": package_version("harness", "unknown"),
            "version_code": 0, "runtime": "host-tensorflow-interpreter",
            "tflite_version": package_version("tensorflow", "unknown")}


def slow_factor() -> float:
    """The emulated phone's slowdown (docs/emulator.md, fault ``slow_factor`` and the screen-off
    model): ``slow_factor`` in the JSON file named by $HARNESS_DEVICE_STATE_FILE, else 1."""
    path = os.environ.get("HARNESS_DEVICE_STATE_FILE")
    if not path:
        return 1.0
    try:
        return max(1.0, float(json.loads(Path(path).read_text()).get("slow_factor", 1.0)))
    except (OSError, ValueError, TypeError):
        return 1.0


class _Stretched:
    """An interpreter signature runner whose calls take ``slow_factor()`` times as long: after
    the call it waits (factor - 1) x the call's duration, inside the caller's timed region."""

    def __init__(self, runner):
        self.runner = runner

    def __call__(self, **inputs):
        t0 = time.perf_counter()
        out = self.runner(**inputs)
        factor = slow_factor()
        if factor > 1.0:
            time.sleep((time.perf_counter() - t0) * (factor - 1.0))
        return out

    def __getattr__(self, name):
        return getattr(self.runner, name)


def run_spec(spec: dict, model_path: Path, device: dict, app: dict, emit=print) -> dict:
    """Execute ``spec`` against the model at ``model_path``; return a contract result."""
    ok = isinstance(spec, dict)
    result = contract.new_result(str(spec.get("run_id", "unknown")) if ok else "unknown",
                                 str(spec.get("model_path", model_path)) if ok else str(model_path),
                                 app=app, device=device, cpu_count=os.cpu_count(), started_at=utc_now())
    run_id = result["run_id"]
    try:
        contract.validate_spec(spec)
        if not model_path.is_file():
            raise RuntimeError(f"model not found: {spec['model_path']}")
        # Streamed: reading a 500 MB model whole would add 500 MB to the peak memory we report.
        result["model"]["sha256"] = sha256_file(model_path)
        result["model"]["size_bytes"] = model_path.stat().st_size
        if result["model"]["sha256"] != spec["model_sha256"]:
            raise RuntimeError(f"model sha256 {result['model']['sha256'][:12]} does not match the "
                               f"spec's {spec['model_sha256'][:12]}")
        _import_runtime()   # imports are not load time
        # The runtime's own share (Python, TensorFlow): reports subtract it from the peak.
        result["memory"]["rss_before_load_kb"] = proc_kb("/proc/self/status", "VmRSS")
        t0 = time.perf_counter_ns()
        interpreter = load_with_text_ops(model_path, spec["threads"], spec["delegate"])
        gen = (Oneshot(interpreter) if spec["export"] == "oneshot"
               else PrefillDecodeRunner(interpreter, spec["max_length"]))
        if os.environ.get("HARNESS_DEVICE_STATE_FILE"):     # on the emulated phone only
            for attr in ("runner", "prefill", "decode"):
                if hasattr(gen, attr):
                    setattr(gen, attr, _Stretched(getattr(gen, attr)))
        result["load_ms"] = (time.perf_counter_ns() - t0) / 1e6
        result["load_kind"] = "warm"               # the sha256 above read the whole file
        result["threads_used"] = spec["threads"]   # the interpreter's num_threads
        result["delegate_used"] = spec["delegate"]   # the op resolver load_with_text_ops chose for it
        prompts = spec["prompts"]
        for phase, total in (("warmup", spec["warmup_runs"]), ("measured", spec["measured_runs"])):
            for i in range(total):
                pi = i % len(prompts)
                used = contract.apply_context_window(prompts[pi], spec["context_window_words"])
                rec = contract.new_generation(phase=phase, index=i, prompt_index=pi, prompt_used=used,
                                              **gen.generate(used, spec, pi))
                result["generations"].append(rec)
                emit(contract.progress_line(run_id, phase, i, total, rec["wall_ms"]))
    except Exception as e:  # the contract: every failure becomes a result of status error
        msg = str(e).strip().splitlines()
        result["status"] = "error"
        result["error"] = f"{type(e).__name__}: {msg[-1] if msg else ''}"[:1000]
    result["memory"]["vmhwm_kb"] = proc_kb("/proc/self/status", "VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result["finished_at"] = utc_now()
    return result


def _import_runtime() -> None:
    import tensorflow_text  # noqa: F401
    from tensorflow.lite.python import interpreter  # noqa: F401


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m harness.devices.host.reference_app", description=__doc__.split("\n\n")[0])
    p.add_argument("--spec", required=True, type=Path)
    p.add_argument("--model", required=True, type=Path)
    p.add_argument("--result", required=True, type=Path)
    p.add_argument("--device-json", type=Path)
    p.add_argument("--app-json", type=Path)
    args = p.parse_args(argv)
    device = (json.loads(args.device_json.read_text()) if args.device_json else
              {"fingerprint": host_fingerprint(), "model": cpu_model(), "emulated": False})
    app = json.loads(args.app_json.read_text()) if args.app_json else _default_app()
    app = {**_default_app(), **app}
    try:
        spec = json.loads(args.spec.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        spec = {"run_id": "unknown", "_load_error": str(e)}
    result = run_spec(spec, args.model, device, app, emit=lambda line: print(line, flush=True))
    write_json_atomic(args.result, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
