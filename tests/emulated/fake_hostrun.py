"""A stand-in for ``python -m harness.devices.host.reference_app`` with the same CLI, for fast app-path tests.

It reads the spec, prints one contract progress line per generation (sleeping
``--sleep`` seconds before each), and writes a schema-valid result atomically; it
needs no TensorFlow, so fault tests (crash, drop mid-run, force-stop) stay fast.
"""
import argparse
import datetime
import json
import os
import sys
import time

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from harness import contract  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--sleep", type=float, default=0.0)
    p.add_argument("--gen-ms", type=float, default=0.0, help="each generation's interpreter call takes this long "
                                                             "(a sleep: steady on a loaded machine), timed into wall_ms")
    p.add_argument("--work", type=float, default=0.0, help="millions of loop iterations per generation: a fixed "
                                                          "amount of CPU work (a SIGSTOP duty cycle slows it), timed "
                                                          "into wall_ms")
    p.add_argument("--spec", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--result", required=True)
    p.add_argument("--device-json")
    p.add_argument("--app-json")
    a = p.parse_args()
    spec = json.load(open(a.spec))
    device = json.load(open(a.device_json))
    app = json.load(open(a.app_json))
    app["tflite_version"] = "fake"
    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    gens = []
    for phase, n in (("warmup", spec["warmup_runs"]), ("measured", spec["measured_runs"])):
        for i in range(n):
            time.sleep(a.sleep)
            t0 = time.perf_counter()
            x = 0
            for k in range(int(a.work * 1e6)):   # CPU-bound work
                x += k
            time.sleep(a.gen_ms / 1000)
            state_file = os.environ.get("HARNESS_DEVICE_STATE_FILE")
            state = json.load(open(state_file)) if state_file else {}
            factor = state.get("slow_factor", 1.0)
            if (a.work or a.gen_ms) and factor > 1:      # as harness.devices.host.reference_app's _Stretched: inside the timed region
                time.sleep((time.perf_counter() - t0) * (factor - 1))
            wall_ms = (time.perf_counter() - t0) * 1000 if (a.work or a.gen_ms) else 1.5
            interactive = state.get("interactive")
            prompt = spec["prompts"][i % len(spec["prompts"])]
            gens.append(contract.new_generation(
                phase=phase, index=i, prompt_index=i % len(spec["prompts"]),
                prompt_used=contract.apply_context_window(prompt, spec["context_window_words"]),
                wall_ms=wall_ms, output_text=f"{prompt} ok interactive={interactive}", token_count=3,
                prompt_token_count=2, interactive_before=interactive, interactive_after=interactive))
            print(contract.progress_line(spec["run_id"], phase, i, n, wall_ms), flush=True)
    doc = contract.new_result(
        spec["run_id"], spec["model_path"], app=app, device=device,
        model={"path": spec["model_path"], "sha256": spec["model_sha256"], "size_bytes": os.path.getsize(a.model)},
        load_ms=1.0, load_kind="warm", threads_used=spec["threads"], cpu_count=os.cpu_count(), delegate_used="cpu",
        memory={"vmhwm_kb": 1, "pss_kb": None, "rss_before_load_kb": None}, generations=gens, started_at=now,
        finished_at=now)
    tmp = a.result + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.replace(tmp, a.result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
