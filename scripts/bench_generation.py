"""Benchmark generation metrics on the host: prefill (≈ time to first token), decode
tokens/s and end-to-end time per variant on the prefill/decode export, next to the
one-shot graph's end-to-end time, and the streaming bound of a decode step.

    .venv/bin/python scripts/bench_generation.py [--model synthetic:gpt2-base] [--max-length 100]
        [--variants fp32,dynamic,fp16] [--threads 1] [--runs 5] [--oneshot-runs 3]
        [--stateful dynamic] [--stream-gb-s 36.6] [--json out.json] [--allow-busy]

The bound is weight bytes per decode step ÷ a streaming rate: ``--stream-gb-s`` (give
the rate llama.cpp's f32 decode reaches, printed by ``scripts/bench_peer.py``: the best
this machine is known to do), else numpy's 1-thread float32 matrix-vector product
measured here (lower than the peer's: numpy's ``max()``, used before, reached 15.7 GB/s
where llama.cpp streams ~36 GB/s from one core). The table says which.

Conversions go through harness.convert (cached under HARNESS_CACHE), one at a time, each
in its own worker process. Every model is then timed in a fresh subprocess of this
script (``--measure``) so one model's memory never affects the next.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

import benchkit  # noqa: E402


def bandwidth(stream_gb_s: float | None) -> dict:
    """The streaming rate of the bound: the peer's (given) or numpy's sgemv (measured, 1 thread)."""
    if stream_gb_s:
        return {"read_gb_s": stream_gb_s, "source": "given (--stream-gb-s: llama.cpp f32 decode, bench_peer.py)"}
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, str(Path(__file__).with_name("bench_peer.py")), "--child",
                           json.dumps({"kind": "sgemv"})], env=env, capture_output=True, text=True, check=True)
    rate = json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1][7:])["gb_s"]
    return {"read_gb_s": rate, "source": "numpy float32 matrix-vector, 1 thread, 512 MB (measured here)"}


def runtime_weight_bytes(census: dict, variant: str) -> int:
    """Weight bytes a decode step streams at run time: fp16 weights are widened to float32
    once at load on CPU, so they are read as 4 bytes; int8 (dynamic range) stay 1 byte."""
    w = census["weight_bytes_by_dtype"]
    return int(w.get("float32", 0) + 2 * w.get("float16", 0) + w.get("int8", 0))


# --------------------------------------------------------------------------- measuring child

def measure_prefill_decode(model: str, max_length: int, threads: int, ids: list[list[int]],
                           runs: int) -> dict:
    from harness.devices.host.generate import PrefillDecodeRunner, load_interpreter

    t = time.perf_counter()
    gen = PrefillDecodeRunner(load_interpreter(model, threads), max_length)
    load_s = time.perf_counter() - t
    first = gen.run(ids[0])                      # the first invoke is slow: reported apart
    samples = []
    for r in range(runs):
        samples.append(gen.run(ids[r % len(ids)]))
    prefill = [s["prefill_ns"] / 1e6 for s in samples]
    step = [d / 1e6 for s in samples for d in s["decode_ns"]]
    tps = [len(s["decode_ns"]) / (sum(s["decode_ns"]) / 1e9) for s in samples if s["decode_ns"]]
    wall = [s["wall_ns"] / 1e9 for s in samples]
    by_prompt = {}
    for r, s in enumerate(samples):
        by_prompt.setdefault(r % len(ids), []).append(s["wall_ns"] / 1e9)
    # What crossing the interpreter boundary with the stateless cache costs per step:
    # one copy in (set input) and one out (read output) of a cache-sized float32 array.
    import numpy as np

    cache_bytes = 0
    copy_ms = None
    if not gen.stateful:
        shape = gen.decode.get_input_details()["cache"]["shape"]
        a = np.ones(shape, np.float32)
        b = np.empty_like(a)
        cache_bytes = a.nbytes
        times = []
        for _ in range(20):
            t = time.perf_counter_ns()
            np.copyto(b, a)
            np.copyto(a, b)
            times.append((time.perf_counter_ns() - t) / 1e6)
        copy_ms = statistics.median(times)
    overhead = [(s["wall_ns"] - s["prefill_ns"] - sum(s["decode_ns"])) / s["wall_ns"] for s in samples]
    return {"load_s": load_s, "first_wall_s": first["wall_ns"] / 1e9,
            "prefill_ms": statistics.median(prefill), "prefill_ms_all": prefill,
            "decode_ms_median": statistics.median(step),
            "decode_ms_p90": sorted(step)[int(0.9 * (len(step) - 1))],
            "decode_tokens_per_s": statistics.median(tps), "wall_s": statistics.median(wall),
            "wall_s_all": wall, "host_overhead_share_max": max(overhead),
            "wall_s_by_prompt": {k: statistics.median(v) for k, v in by_prompt.items()},
            "wall_s_mean_over_prompts": statistics.mean(statistics.median(v) for v in by_prompt.values()),
            "cache_bytes": cache_bytes, "cache_copy_in_out_ms": copy_ms,
            "generated_tokens": [len(s["output_token_ids"]) - s["prompt_token_count"] for s in samples],
            "stateful": gen.stateful}


def measure_oneshot(model: str, threads: int, prompts: list[str], runs: int) -> dict:
    from harness.devices.host.generate import Oneshot, load_with_text_ops

    t = time.perf_counter()
    gen = Oneshot(load_with_text_ops(Path(model), threads))
    load_s = time.perf_counter() - t
    first = gen.generate(prompts[0], {}, 0)
    wall = [gen.generate(prompts[r % len(prompts)], {}, r)["wall_ms"] / 1e3 for r in range(runs)]
    by_prompt = {}
    for r, w in enumerate(wall):
        by_prompt.setdefault(r % len(prompts), []).append(w)
    return {"load_s": load_s, "first_wall_s": first["wall_ms"] / 1e3, "wall_s": statistics.median(wall),
            "wall_s_all": wall, "wall_s_by_prompt": {k: statistics.median(v) for k, v in by_prompt.items()},
            "wall_s_mean_over_prompts": statistics.mean(statistics.median(v) for v in by_prompt.values())}


def child(args) -> int:
    job = json.loads(args.measure)
    if job["kind"] == "oneshot":
        out = measure_oneshot(job["model"], job["threads"], job["prompts"], job["runs"])
    else:
        out = measure_prefill_decode(job["model"], job["max_length"], job["threads"], job["ids"], job["runs"])
    print("RESULT " + json.dumps(out))
    return 0


def run_child(job: dict) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--measure", json.dumps(job)], capture_output=True,
                          text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"measuring {job['model']} failed:\n{proc.stderr[-3000:]}")
    return json.loads(lines[-1][7:])


# --------------------------------------------------------------------------- main

def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="synthetic:gpt2-base")
    p.add_argument("--max-length", type=int, default=100)
    p.add_argument("--variants", default="fp32,dynamic,fp16")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs", type=int, default=6, help="prefill/decode generations (prompts in turn)")
    p.add_argument("--oneshot-runs", type=int, default=3, help="0 skips the one-shot graph")
    p.add_argument("--stateful", default="dynamic", help="variants also measured stateful ('' for none)")
    p.add_argument("--context-window", type=int, default=50)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--drift", action="store_true", help="also drift of each variant against fp32")
    p.add_argument("--stream-gb-s", type=float, default=None,
                   help="streaming rate for the bound (llama.cpp's f32 decode rate from bench_peer.py)")
    p.add_argument("--measure", help=argparse.SUPPRESS)
    benchkit.add_arguments(p)
    args = p.parse_args()
    if args.measure:
        return child(args)
    start = benchkit.check_start(args, "bench_generation")

    from harness import convert
    from harness.model import prompts as prompts_mod, sources as models
    from harness.contract import apply_context_window
    from harness.model.tokens import PromptTokenIds
    from harness.hostinfo import cpu_model
    from harness.run.plan import Cell

    def log(msg):
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    source = models.resolve(args.model)
    variants = [v for v in args.variants.split(",") if v]
    stateful = [v for v in args.stateful.split(",") if v]
    prompts = list(prompts_mod.BUILTIN["en"])
    used = [apply_context_window(q, args.context_window) for q in prompts]
    ids = PromptTokenIds(source)(Cell("fp32", args.max_length, args.context_window, args.threads), prompts)
    log(f"prompt tokens: {[len(i) for i in ids]}")
    bw = bandwidth(args.stream_gb_s)
    log(f"streaming rate for the bound: {bw['read_gb_s']:.1f} GB/s ({bw['source']})")
    report = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "model": args.model,
              "max_length": args.max_length, "threads": args.threads, "runs": args.runs,
              "host": {"cpu": cpu_model(), "cpu_count": os.cpu_count(), "platform": platform.platform(),
                       "load_avg_at_start": os.getloadavg()}, "start": start,
              "bandwidth": bw, "prompt_token_counts": [len(i) for i in ids], "variants": {}}

    def convert_one(variant, export, is_stateful=False):
        t = time.monotonic()
        (c,) = convert.convert(source, [variant], args.max_length, export=export, stateful=is_stateful,
                               progress=log)
        log(f"{variant} {export}{' stateful' if is_stateful else ''}: {c.size_bytes / 1e6:.1f} MB "
            f"({'cached' if c.cache_hit else f'{time.monotonic() - t:.0f} s'}, convert peak "
            f"{c.report['convert_peak_rss_mb']:.0f} MB)")
        return c

    # Convert everything first (one at a time), then measure back to back.
    models_ = {}
    for v in variants:
        models_[v] = {"pd": convert_one(v, "prefill_decode")}
        if v in stateful:
            models_[v]["stateful"] = convert_one(v, "prefill_decode", True)
        if args.oneshot_runs:
            models_[v]["oneshot"] = convert_one(v, "oneshot")
    watch = benchkit.Watch(start)
    for v in variants:
        c = models_[v]["pd"]
        log(f"measuring {v} prefill_decode (load avg {os.getloadavg()[0]:.2f})")
        pd = run_child({"kind": "pd", "model": str(c.path), "max_length": args.max_length,
                        "threads": args.threads, "ids": ids, "runs": args.runs})
        wbytes = runtime_weight_bytes(c.report["census"], v)
        entry = {"size_mb": c.size_bytes / 1e6, "weight_bytes_file": sum(c.report["census"]["weight_bytes_by_dtype"].values()),
                 "weight_bytes_read_per_step": wbytes, "prefill_decode": pd,
                 "bound_ms_per_step": wbytes / (bw["read_gb_s"] * 1e9) * 1e3,
                 "bound_tokens_per_s": bw["read_gb_s"] * 1e9 / wbytes,
                 "convert_wall_s": c.report["convert_wall_s"], "convert_peak_rss_mb": c.report["convert_peak_rss_mb"]}
        entry["bound_share"] = pd["decode_tokens_per_s"] / entry["bound_tokens_per_s"]
        if v in stateful:
            cs = models_[v]["stateful"]
            log(f"measuring {v} prefill_decode stateful (load avg {os.getloadavg()[0]:.2f})")
            entry["stateful"] = run_child({"kind": "pd", "model": str(cs.path), "max_length": args.max_length,
                                           "threads": args.threads, "ids": ids, "runs": args.runs})
            entry["stateful_size_mb"] = cs.size_bytes / 1e6
        if args.oneshot_runs:
            co = models_[v]["oneshot"]
            log(f"measuring {v} oneshot (load avg {os.getloadavg()[0]:.2f})")
            entry["oneshot"] = run_child({"kind": "oneshot", "model": str(co.path), "threads": args.threads,
                                          "prompts": used, "runs": args.oneshot_runs})
            entry["oneshot_size_mb"] = co.size_bytes / 1e6
        report["variants"][v] = entry
        log(json.dumps({k: v2 for k, v2 in entry.items() if k not in ("prefill_decode",)}, default=str)[:600])
        if args.json:
            args.json.write_text(json.dumps(report, indent=1))
    if args.drift and "fp32" in models_:
        from harness.run import drift

        for v in variants:
            log(f"drift {v} vs fp32")
            t = time.monotonic()
            d = drift.measure(models_["fp32"]["pd"].path, models_[v]["pd"].path, args.max_length, ids)
            d["wall_s"] = time.monotonic() - t
            report["variants"][v]["drift"] = d
            log(json.dumps(d))
    report["host"]["load_avg_at_end"] = os.getloadavg()
    report["machine"] = watch.stop()
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    print(table(report))
    return 0


def table(r: dict) -> str:
    bw = r["bandwidth"]
    lines = [f"model {r['model']}, max length {r['max_length']}, {r['threads']} thread(s), "
             f"{r['runs']} measured runs (prompts in turn; end-to-end = mean over prompts of the median); "
             f"prompt tokens {r['prompt_token_counts']}; bound at {bw['read_gb_s']:.1f} GB/s ({bw['source']}); "
             f"machine {benchkit.label(r['machine']) if 'machine' in r else '?'}", "",
             "| variant | size MB | prefill ms | decode ms/token (p90) | decode tok/s | end-to-end s | "
             "one-shot end-to-end s | stateful decode ms/token | cache copy ms/step | weight MB read/step | "
             "bound tok/s | measured/bound |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for v, e in r["variants"].items():
        pd = e["prefill_decode"]
        st = e.get("stateful", {}).get("decode_ms_median")
        os_ = e.get("oneshot", {}).get("wall_s_mean_over_prompts")
        cc = pd.get("cache_copy_in_out_ms")
        lines.append(
            f"| {v} | {e['size_mb']:.1f} | {pd['prefill_ms']:.1f} | {pd['decode_ms_median']:.2f} "
            f"({pd['decode_ms_p90']:.2f}) | {pd['decode_tokens_per_s']:.1f} | {pd['wall_s_mean_over_prompts']:.2f} | "
            f"{'—' if os_ is None else f'{os_:.2f}'} | {'—' if st is None else f'{st:.2f}'} | "
            f"{'—' if cc is None else f'{cc:.2f}'} | "
            f"{e['weight_bytes_read_per_step'] / 1e6:.0f} | {e['bound_tokens_per_s']:.1f} | "
            f"{e['bound_share']:.0%} |")
    if any("drift" in e for e in r["variants"].values()):
        lines += ["", "| variant | token agreement | first divergence | mean KL(fp32‖variant) | top-1 agreement | positions |",
                  "|---|---|---|---|---|---|"]
        for v, e in r["variants"].items():
            d = e.get("drift")
            if d:
                lines.append(f"| {v} | {d['token_agreement']:.3f} | {d['first_divergence']} | {d['mean_kl']:.3g} | "
                             f"{d['top1_agreement']:.3f} | {d['positions']} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
