#!/usr/bin/env python3
"""Decode time per token and prefill time of two prefill/decode models (e.g. two export code
versions), interleaved.

Each round generates once per model and thread count (same prompt, greedy to max length),
in turn, so drift in the machine hits both; the figure is the median decode call over all
rounds (``PrefillDecodeRunner``: the signature call with its input and output copies, as a
harness run times it). Memory needs a fresh process per model: ``scripts/bench_memory.py``.

    .venv/bin/python scripts/bench_decode_ab.py A.tflite B.tflite [--threads 1,2] [--rounds 5]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent), str(HERE)]

import benchkit  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("models", type=Path, nargs=2, metavar="MODEL", help="two prefill/decode models of one max length")
    p.add_argument("--threads", default="1,2", help="interpreter thread counts")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds; medians over every decode call")
    p.add_argument("--prompt-tokens", type=int, default=5, help="prompt length (token ids 1..n)")
    benchkit.add_arguments(p)
    args = p.parse_args(argv)
    for path in args.models:
        if not path.is_file():
            p.error(f"no such model file: {path}")
    from harness.devices.host.generate import PrefillDecodeRunner, load_interpreter

    watch = benchkit.Watch(benchkit.check_start(args, "bench_decode_ab"))
    threads = [int(t) for t in args.threads.split(",")]
    runners = {}
    for path in args.models:
        for t in threads:
            it = load_interpreter(path, t)
            L = int(it.get_signature_runner("decode").get_input_details()["cache"]["shape"][2])
            runners[(path, t)] = PrefillDecodeRunner(it, L)
    ids = list(range(1, args.prompt_tokens + 1))
    decode_ms: dict[tuple, list[float]] = {k: [] for k in runners}
    prefill_ms: dict[tuple, list[float]] = {k: [] for k in runners}
    tokens: dict[tuple, list[int]] = {}
    for r in runners.values():
        r.run(ids)                                   # warm-up: allocation, first-call costs
    for _ in range(args.rounds):
        for key, r in runners.items():
            out = r.run(ids)
            decode_ms[key] += [d / 1e6 for d in out["decode_ns"]]
            prefill_ms[key].append(out["prefill_ns"] / 1e6)
            tokens[key] = out["output_token_ids"]
    state = watch.stop()
    a, b = args.models
    for t in threads:
        same = "same tokens" if tokens[(a, t)] == tokens[(b, t)] else "TOKENS DIFFER"
        pa, pb = statistics.median(prefill_ms[(a, t)]), statistics.median(prefill_ms[(b, t)])
        line = f"{t} thread(s): prefill A {pa:7.2f} ms   B {pb:7.2f} ms   B/A {pb / pa:.3f}"
        if decode_ms[(a, t)]:     # a prompt that fills max length leaves no decode call
            ma, mb = statistics.median(decode_ms[(a, t)]), statistics.median(decode_ms[(b, t)])
            line += f"   decode A {ma:7.2f} ms/token   B {mb:7.2f} ms/token   B/A {mb / ma:.3f}"
        print(f"{line}   ({same})")
    print(f"A = {a}\nB = {b}\n{args.rounds} interleaved rounds, prompt of {len(ids)} tokens; "
          f"{os.cpu_count()} cores, {benchkit.label(state)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
