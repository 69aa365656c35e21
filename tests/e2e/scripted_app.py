"""A benchmark app with scripted times, for testing the regression gate end to end.

Same command line as ``python -m harness.devices.host.reference_app`` (the emulated phone
runs it with ``--hostrun-cmd``). Each generation "takes" a fixed time per prompt, times
the factor read from ``--factor-file`` (1.3 = a 30 % slowdown), with a small repeatable
jitter: the gate's verdict on such runs is known in advance, on any machine, busy or not.
"""
import argparse
import datetime
import json
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from harness import contract  # noqa: E402

BASE_MS = (20.0, 11.0, 18.0)      # per prompt: a longer prompt leaves fewer tokens to generate


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--factor-file", required=True)
    for name in ("--spec", "--model", "--result", "--device-json", "--app-json"):
        p.add_argument(name, required=name in ("--spec", "--model", "--result"))
    a = p.parse_args()
    factor = float(open(a.factor_file).read().strip() or 1)
    spec = json.load(open(a.spec))
    app = {**json.load(open(a.app_json)), "tflite_version": "scripted"}
    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    gens = []
    for phase, n in (("warmup", spec["warmup_runs"]), ("measured", spec["measured_runs"])):
        for i in range(n):
            pi = i % len(spec["prompts"])
            wall = BASE_MS[pi % 3] * factor * (1 + 0.004 * ((i * 7) % 5 - 2))
            gens.append(contract.new_generation(
                phase=phase, index=i, prompt_index=pi,
                prompt_used=contract.apply_context_window(spec["prompts"][pi], spec["context_window_words"]),
                wall_ms=wall, output_text="scripted", token_count=spec["max_length"], prompt_token_count=4))
            print(contract.progress_line(spec["run_id"], phase, i, n, wall), flush=True)
    doc = contract.new_result(
        spec["run_id"], spec["model_path"], app=app, device=json.load(open(a.device_json)),
        model={"path": spec["model_path"], "sha256": spec["model_sha256"], "size_bytes": os.path.getsize(a.model)},
        load_ms=1.0, load_kind="warm", threads_used=spec["threads"], cpu_count=os.cpu_count(), delegate_used="cpu",
        memory={"vmhwm_kb": 1, "pss_kb": None, "rss_before_load_kb": None}, generations=gens,
        started_at=now, finished_at=now)
    with open(a.result + ".tmp", "w") as f:
        json.dump(doc, f)
    os.replace(a.result + ".tmp", a.result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
