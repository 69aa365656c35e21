#!/usr/bin/env python
"""Benchmark of the vertical slice on the GPT-2 base shape (issue: conversion memory and host latency).

    .venv/bin/python scripts/bench_vertical.py [--variants fp32,dynamic,fp16,int8] [--runs 5]

Converts synthetic:gpt2-base at max length 100 into each variant in a FRESH cache (so
every conversion really runs), then runs them on the host with `harness run --device host`
(1 thread), and prints a markdown table: size, weight dtypes, export and conversion peak
memory and time, load, first and median generation time, tokens/s. Run it alone: it takes
several minutes and up to ~4 GB per conversion step on a 2-core machine.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchkit  # noqa: E402  (scripts/benchkit.py: refuse or flag a busy machine)

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--variants", default="fp32,dynamic,fp16,int8")
    ap.add_argument("--runs", default="5")
    ap.add_argument("--max-length", default="100")
    ap.add_argument("--cache", default=None, help="conversion cache (default: a fresh temporary one)")
    benchkit.add_arguments(ap)
    args = ap.parse_args()
    watch = benchkit.Watch()
    benchkit.check_start(args, 'bench_vertical')
    cache = Path(args.cache or tempfile.mkdtemp(prefix="bench-vertical-"))
    results_dir = cache / "results"
    env = {**os.environ, "HARNESS_CACHE": str(cache)}
    harness = [sys.executable, "-m", "harness.cli"]
    subprocess.run(harness + ["convert", "--model", "synthetic:gpt2-base", "--variants", args.variants,
                              "--max-length", args.max_length], check=True, env=env, cwd=ROOT)
    subprocess.run(harness + ["run", "--device", "host", "--model", "synthetic:gpt2-base", "--variants",
                              args.variants, "--max-length", args.max_length, "--context-window", "50",
                              "--runs", args.runs, "--warmup", "1", "--threads", "1",
                              "--results-dir", str(results_dir), "--no-report"], check=True, env=env, cwd=ROOT)
    reports = {}
    for p in (cache / "models").glob("*/conversion.json"):
        r = json.loads(p.read_text())
        reports[r["variant"]] = r
    exports = {json.loads(p.read_text())["export"]: json.loads(p.read_text())
               for p in (cache / "exports").glob("*/export.json")}
    run_file = max(results_dir.glob("*.json"), key=lambda p: p.stat().st_mtime)   # this run's
    doc = json.loads(run_file.read_text())
    import statistics

    from harness.hostinfo import cpu_model

    cpu = cpu_model()
    print(f"Machine: {os.cpu_count()} cores, {cpu}; Python {platform.python_version()}; "
          f"TensorFlow {doc['host']['tensorflow']}. Command: `{' '.join(['python', *sys.argv])}`\n")
    ex = exports.get("oneshot", {})
    print(f"Export (build the model, trace, save the SavedModel; once for all variants): "
          f"{ex.get('wall_s', 0):.0f} s, peak {ex.get('peak_rss_kb', 0) / 1048576:.2f} GiB.\n")
    print("| variant | size MB | vs fp32 | weights | convert s | convert peak GiB | load ms | "
          "first gen ms | median gen ms | tokens/s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    fp32 = reports.get("fp32", {}).get("size_bytes")
    for b in doc["blocks"]:
        v = b["model"]["variant"]
        r = reports[v]
        measured = [s for s in b["samples"] if s["phase"] == "measured"]
        first = b["samples"][0]["wall_ms"]
        med = statistics.median(s["wall_ms"] for s in measured)
        toks = statistics.median(s["tokens_generated"] / (s["wall_ms"] / 1000) for s in measured)
        shares = ", ".join(f"{d} {x:.0%}" for d, x in sorted(r["weight_share"].items(), key=lambda kv: -kv[1]) if x >= 0.005)
        ratio = f"{r['size_bytes'] / fp32:.0%}" if fp32 else ""
        print(f"| {v} | {r['size_bytes'] / 1e6:.0f} | {ratio} | {shares} | {r['convert_wall_s']:.0f} | "
              f"{r['convert_peak_rss_mb'] / 1024:.2f} | {b['load_ms']:.0f} | {first:.0f} | {med:.0f} | {toks:.1f} |")
    for v in dict.fromkeys(b["model"]["variant"] for b in doc["blocks"]):   # table order
        stages = reports[v].get("convert_stages") or []
        if len(stages) > 1:
            print(f"\n{v} conversion, one process per step: " + "; ".join(
                f"{st['stage']} {st['wall_s']:.0f} s, peak {st['peak_rss_mb'] / 1024:.2f} GiB" for st in stages))
    print(f"\n{len(measured)} measured generations per variant after 1 warm-up, max length "
          f"{args.max_length}, context window 50 words, 1 thread; tokens/s counts generated tokens only.")
    print(f"\nMachine during the measurement: {benchkit.label(watch.stop())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
