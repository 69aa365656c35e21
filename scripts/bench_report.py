#!/usr/bin/env python3
"""Benchmark the report pipeline: N samples of schema-v1 results -> load, aggregate, render.

Usage: .venv/bin/python scripts/bench_report.py [--samples 100000] [--keep DIR]

Writes synthetic result files (2 devices x 3 variants x 4 max lengths x 2 threads
= 48 blocks per run, split over several runs) to a temporary directory, then
times each stage with time.perf_counter and prints one line per stage.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchkit  # noqa: E402  (scripts/benchkit.py: refuse or flag a busy machine)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import reporters  # noqa: E402
from harness.analysis.summary import build_report  # noqa: E402
from harness.results.frame import load_frame  # noqa: E402

DEVICES = [("pixel7", "fp-pixel7", False), ("emu", "fp-emu", True)]
VARIANTS = {"fp32": (1.0, 497_759_232), "dynamic": (0.62, 131_203_072), "fp16": (0.97, 249_000_000)}
MAX_LENGTHS = [32, 64, 128, 256]
THREADS = [1, 4]
BLOCKS_PER_RUN = len(DEVICES) * len(VARIANTS) * len(MAX_LENGTHS) * len(THREADS)


def make_runs(total_samples: int, out: Path, seed: int = 1) -> int:
    rng = random.Random(seed)
    per_block = 50
    n_runs = max(1, round(total_samples / (per_block * BLOCKS_PER_RUN)))
    written = 0
    for r in range(n_runs):
        blocks = []
        for alias, fp, emulated in DEVICES:
            for variant, (speed, size) in VARIANTS.items():
                for L in MAX_LENGTHS:
                    for t in THREADS:
                        base = 12.0 * L * speed / (1 + 0.6 * (t - 1))
                        samples = [{"phase": "measured", "index": i, "prompt_index": i % 4,
                                    "wall_ms": round(base * rng.gauss(1, 0.03), 2), "token_count": L,
                                    "prompt_token_count": 5, "tokens_generated": L - 5,
                                    "stopped_early": False, "thermal_status_before": 0,
                                    "thermal_status_after": 0} for i in range(per_block)]
                        written += len(samples)
                        blocks.append({
                            "block_id": f"{alias}/{variant}/L{L}/cw50/t{t}", "status": "ok", "error": None,
                            "device": {"alias": alias, "fingerprint": fp, "emulated": emulated},
                            "model": {"source": "preset:gpt2_base_en", "synthetic": False, "variant": variant,
                                      "export": "oneshot", "max_length": L, "sha256": variant * 8,
                                      "size_bytes": size, "weight_bytes_by_dtype": {variant: size}},
                            "params": {"context_window_words": 50, "threads_used": t},
                            "load_ms": 900.0 * speed, "memory": {"vmhwm_kb": size // 800, "pss_kb": None},
                            "samples": samples, "drift": None})
        doc = {"schema_version": 2, "run_id": f"bench-{r:03d}", "status": "complete",
               "started_at": f"2026-11-25T00:{r % 60:02d}:00+00:00", "harness": {"version": "0.1.0"},
               "blocks": blocks}
        (out / f"bench-{r:03d}.json").write_text(json.dumps(doc))
    return written


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=100_000)
    ap.add_argument("--keep", type=Path, help="write the generated results here instead of a temp dir")
    benchkit.add_arguments(ap)
    args = ap.parse_args()
    watch = benchkit.Watch()
    benchkit.check_start(args, 'bench_report')
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        n = make_runs(args.samples, out)
        size_mb = sum(p.stat().st_size for p in out.glob("*.json")) / 1e6
        print(f"{n} samples in {len(list(out.glob('*.json')))} result files ({size_mb:.1f} MB)")
        t0 = time.perf_counter()
        df = load_frame([str(out)], out)
        t1 = time.perf_counter()
        report = build_report(df)
        t2 = time.perf_counter()
        md = reporters.render(report, df, "markdown")
        t3 = time.perf_counter()
        page = reporters.render(report, df, "html")
        t4 = time.perf_counter()
        print(f"load (JSON -> tidy DataFrame, {len(df)} rows): {t1 - t0:7.2f} s")
        print(f"aggregate ({len(report.cells)} cells):              {t2 - t1:7.2f} s")
        print(f"render markdown ({len(md)} chars):          {t3 - t2:7.2f} s")
        print(f"render html ({len(page) / 1e6:.2f} MB, 4 plots):            {t4 - t3:7.2f} s")
        print(f"total:                                       {t4 - t0:7.2f} s")
    print(f"\nMachine during the measurement: {benchkit.label(watch.stop())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
