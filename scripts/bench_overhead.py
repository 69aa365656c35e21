#!/usr/bin/env python
"""The harness's own overhead on the emulated device, next to the same model on the host.

    .venv/bin/python scripts/bench_overhead.py [--model synthetic:gpt2-base] [--variant dynamic] [--runs 5]

Runs one variant through `harness run --device emu-pixel7` (deploy, launch over ADB, watch
logcat, pull) and through `harness run --device host` (the same reference runner, no ADB),
then reports per block: wall time of the block, the app's model load, the sum of its
generation times, and the rest — the time the harness spends outside the app's measured
work (spec push, am start, watching logcat, pull, cleanup). It also compares the app's median
generation time on the emulated device with the host's: the ADB path must not change
what is measured. Use HARNESS_CACHE to reuse converted models.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchkit  # noqa: E402  (scripts/benchkit.py: refuse or flag a busy machine)

ROOT = Path(__file__).resolve().parents[1]


def _t(s: str) -> float:
    return dt.datetime.fromisoformat(s).timestamp()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="synthetic:gpt2-base")
    ap.add_argument("--variant", default="dynamic")
    ap.add_argument("--runs", default="5")
    ap.add_argument("--max-length", default="100")
    benchkit.add_arguments(ap)
    args = ap.parse_args()
    watch = benchkit.Watch()
    benchkit.check_start(args, 'bench_overhead')
    out = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    rows = {}
    for device in ("host", "emu-pixel7"):
        rd = out / device
        cmd = [sys.executable, "-m", "harness.cli", "run", "--device", device, "--model", args.model,
               "--variants", args.variant, "--max-length", args.max_length, "--context-window", "50",
               "--runs", args.runs, "--warmup", "1", "--threads", "1", "--results-dir", str(rd), "--no-report"]
        subprocess.run(cmd, check=True, cwd=ROOT)
        (f,) = rd.glob("*.json")
        doc = json.loads(f.read_text())
        (b,) = doc["blocks"]
        block_s = _t(b["finished_at"]) - _t(b["started_at"])
        gens = [s["wall_ms"] for s in b["samples"]]
        measured = [s["wall_ms"] for s in b["samples"] if s["phase"] == "measured"]
        app_s = _t(b["app_finished_at"]) - _t(b["app_started_at"])   # the app's own span
        rows[device] = dict(block_s=block_s, app_s=app_s, load_s=b["load_ms"] / 1000, gen_s=sum(gens) / 1000,
                            overhead_s=block_s - app_s, measured_s=sum(measured) / 1000,
                            median_ms=statistics.median(measured))
    print(f"Command: `python scripts/bench_overhead.py --model {args.model} --variant {args.variant} "
          f"--runs {args.runs}`; {os.cpu_count()} cores.\n")
    print("| device | block s | app span s | app load s | app generations s | harness outside the app s | "
          "harness / measured | median generation ms |")
    print("|---|---|---|---|---|---|---|---|")
    for device, r in rows.items():
        print(f"| {device} | {r['block_s']:.2f} | {r['app_s']:.2f} | {r['load_s']:.2f} | {r['gen_s']:.2f} | "
              f"{r['overhead_s']:.2f} | {r['overhead_s'] / r['measured_s']:.1%} | {r['median_ms']:.0f} |")
    h, e = rows["host"], rows["emu-pixel7"]
    print("\nThe app span runs from the app's start to its result (its own clock; for these runners it"
          " includes the Python and TensorFlow imports a phone's app does not have). What is left of the"
          " block is the harness: on the emulated device, spec push, am start, watching logcat, pull and cleanup"
          " over ADB, and the device-state reads before and after the block.")
    print(f"Median generation on the emulated device vs the host: {e['median_ms'] / h['median_ms'] - 1:+.1%}.")
    print(f"\nMachine during the measurement: {benchkit.label(watch.stop())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
