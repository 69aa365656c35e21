#!/usr/bin/env python3
"""Time to first token against the full-length prefill of an older export, in one process.

Issue #16's goal: at L = 100, a 5-token prompt's TTFT at most a quarter of the full-length
prefill the export had before prefill took the prompt's length. Without the peer extra
(``scripts/bench_peer.py --also``) this measures just that: the BEFORE model's full-length
``prefill`` signature (its token input [1, L]) and this export's ``prefill`` fed n tokens,
interleaved call by call (``--rounds`` rounds, medians) so drift hits both, 1 thread.

    # the before model: convert with the commit before prefill took the prompt's length
    git worktree add /tmp/old 7702023~1 && (cd /tmp/old && HARNESS_CACHE=/tmp/old-cache \\
        /work/main/.venv/bin/python -m harness.cli convert --model synthetic:gpt2-base \\
        --variants dynamic --export prefill_decode)
    .venv/bin/python scripts/bench_ttft_before.py BEFORE.tflite AFTER.tflite [AFTER2.tflite ...] [--lengths 1,5,99]

Several AFTER models (e.g. two export code versions) are fed the same lengths in the same
interleaved rounds, so they compare with each other as well as with BEFORE.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import benchkit  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("before", type=Path, help="older prefill/decode model (full-length `prefill`)")
    p.add_argument("after", type=Path, nargs="+",
                   help="prefill/decode model(s) whose prefill takes the prompt's length")
    p.add_argument("--lengths", default="1,5,99", help="prompt lengths fed to AFTER's prefill")
    p.add_argument("--rounds", type=int, default=7, help="interleaved rounds of every call; medians")
    benchkit.add_arguments(p)
    args = p.parse_args(argv)
    for path in (args.before, *args.after):
        if not path.is_file():
            p.error(f"no such model file: {path}")
    import numpy as np

    from harness.devices.host.generate import load_interpreter

    watch = benchkit.Watch(benchkit.check_start(args, "bench_ttft_before"))
    before = load_interpreter(args.before, 1).get_signature_runner("prefill")
    afters = [load_interpreter(a, 1).get_signature_runner("prefill") for a in args.after]
    L = int(before.get_input_details()["token_ids"]["shape"][1])

    def feed(runner, width: int, n: int):
        return lambda: runner(token_ids=np.ones([1, width], np.int32), prompt_length=np.array(n, np.int32))

    calls = {f"before: full-length prefill [1, {L}]": feed(before, L, 5)}
    for i, after in enumerate(afters):
        tag = "after" if len(afters) == 1 else f"after {i + 1} ({args.after[i].parent.name[:8]})"
        calls.update({f"{tag}: {n} token(s) [1, {n}]": feed(after, n, n)
                      for n in (int(x) for x in args.lengths.split(","))})
    for call in calls.values():
        call()                                   # first call: allocation, not timed
    times: dict[str, list[float]] = {k: [] for k in calls}
    for _ in range(args.rounds):
        for name, call in calls.items():
            t0 = time.perf_counter_ns()
            call()
            times[name].append((time.perf_counter_ns() - t0) / 1e6)
    state = watch.stop()
    full = statistics.median(next(iter(times.values())))
    for name, ts in times.items():
        print(f"{name:<48} {statistics.median(ts):8.1f} ms   ÷ before {statistics.median(ts) / full:.2f}")
    print(f"1 thread, {args.rounds} interleaved rounds, medians; {os.cpu_count()} cores, {benchkit.label(state)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
