#!/usr/bin/env python
"""The harness's own overhead on the emulated device, next to the same model on the host.

    .venv/bin/python scripts/bench_overhead.py [--model synthetic:gpt2-base] [--variant dynamic] [--runs 5]

Runs one variant through `harness run --device emu-pixel7` (deploy, launch over ADB, poll
logcat, pull) and through `harness run --device host` (the same reference runner, no ADB),
then reports per block: wall time of the block, the app's model load, the sum of its
generation times, and the rest — the time the harness spends outside the app's measured
work (spec push, am start, polling, pull, cleanup). It also compares the app's median
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

ROOT = Path(__file__).resolve().parents[1]


def _t(s: str) -> float:
    return dt.datetime.fromisoformat(s).timestamp()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="synthetic:gpt2-base")
    ap.add_argument("--variant", default="dynamic")
    ap.add_argument("--runs", default="5")
    ap.add_argument("--max-length", default="100")
    args = ap.parse_args()
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
        app_s = (b["load_ms"] + sum(gens)) / 1000
        rows[device] = dict(block_s=block_s, load_s=b["load_ms"] / 1000, gen_s=sum(gens) / 1000,
                            overhead_s=block_s - app_s, measured_s=sum(measured) / 1000,
                            median_ms=statistics.median(measured))
    print(f"Command: `python scripts/bench_overhead.py --model {args.model} --variant {args.variant} "
          f"--runs {args.runs}`; {os.cpu_count()} cores.\n")
    print("| device | block s | app load s | app generations s | outside the app s | "
          "outside / measured | median generation ms |")
    print("|---|---|---|---|---|---|---|")
    for device, r in rows.items():
        print(f"| {device} | {r['block_s']:.2f} | {r['load_s']:.2f} | {r['gen_s']:.2f} | {r['overhead_s']:.2f} | "
              f"{r['overhead_s'] / r['measured_s']:.1%} | {r['median_ms']:.0f} |")
    h, e = rows["host"], rows["emu-pixel7"]
    adb_s = e["overhead_s"] - h["overhead_s"]
    print(f"\nThe ADB path's own cost (emulated minus host, outside the app): {adb_s:.2f} s per block, "
          f"{adb_s / e['measured_s']:.1%} of the measured time. The rest of 'outside the app' is the "
          "reference runner's process start (Python and TensorFlow imports), which both devices pay.")
    print(f"Median generation on the emulated device vs the host: {e['median_ms'] / h['median_ms'] - 1:+.1%}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
