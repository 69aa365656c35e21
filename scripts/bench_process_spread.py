#!/usr/bin/env python3
"""How far apart fresh processes sit: the same one-shot model and prompt, N processes in turn.

Why the regression gate judges cells on blocks (one app process each) rather than samples:
if a process's own generations agree while processes differ, samples of one process say
nothing about the next. Each child process loads the model (Flex + TF Text ops, 1 thread),
runs ``--warmup`` generations, times ``--generations`` more and prints their median; the
parent prints every child's median, their spread and the machine's load.

    .venv/bin/python scripts/bench_process_spread.py MODEL.tflite            # 6 processes
    .venv/bin/python scripts/bench_process_spread.py MODEL.tflite --processes 10 --taskset 0

MODEL.tflite is a one-shot export (``harness convert`` prints its path). Figures are this
host's, not a phone's.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchkit  # noqa: E402  (scripts/benchkit.py, beside this file)

PROMPT = "The quick brown fox jumps over the lazy dog"
CHILD = "child"


def child(model: str, warmup: int, generations: int) -> None:
    sys.path.insert(0, str(ROOT))
    from harness.devices.host.generate import Oneshot, load_with_text_ops

    gen = Oneshot(load_with_text_ops(Path(model), 1))
    times = [gen.generate(PROMPT, {}, 0)["wall_ms"] for _ in range(warmup + generations)][warmup:]
    print(json.dumps({"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times)}))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [CHILD]:
        child(argv[1], int(argv[2]), int(argv[3]))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    ap.add_argument("model", help="a one-shot .tflite model")
    ap.add_argument("--processes", type=int, default=6, help="fresh processes, one after the other")
    ap.add_argument("--warmup", type=int, default=1, help="untimed generations per process")
    ap.add_argument("--generations", type=int, default=4, help="timed generations per process")
    ap.add_argument("--taskset", metavar="CPUS", help="pin each process (taskset -c CPUS)")
    benchkit.add_arguments(ap)
    args = ap.parse_args(argv)
    if not Path(args.model).is_file():
        raise SystemExit(f"bench_process_spread: no such model file: {args.model}")
    watch = benchkit.Watch(benchkit.check_start(args, "bench_process_spread"))
    cmd = [sys.executable, __file__, CHILD, args.model, str(args.warmup), str(args.generations)]
    if args.taskset:
        cmd = ["taskset", "-c", args.taskset, *cmd]
    medians = []
    for i in range(args.processes):
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
        rec = json.loads(out)
        medians.append(rec["median_ms"])
        print(f"process {i + 1}: median {rec['median_ms']:.1f} ms (min {rec['min_ms']:.1f}, max {rec['max_ms']:.1f})",
              flush=True)
    state = watch.stop()
    spread = max(medians) / min(medians)
    cv = statistics.stdev(medians) / statistics.mean(medians) if len(medians) > 1 else float("nan")
    print(f"{args.processes} processes: medians {min(medians):.1f}-{max(medians):.1f} ms, max/min {spread:.2f}, "
          f"CV {cv * 100:.1f} %; machine {os.cpu_count()} cores, {benchkit.label(state)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
