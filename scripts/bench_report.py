#!/usr/bin/env python3
"""Benchmark `harness report` on 100,000 samples: the whole command, and each stage.

Usage: .venv/bin/python scripts/bench_report.py [--samples 100000] [--keep DIR] [--against REF] [--repeat 3]

Writes synthetic schema-v2 result files (2 devices x 3 variants x 4 max lengths x 2 threads
= 48 blocks per run, 50 samples per block cycling over 3 prompts, split over several runs),
then times
- the stages in this process (load -> tidy frame, aggregate, markdown, HTML), and
- the whole command `harness report --all --format html -o FILE` as a user runs it
  (Python start-up and imports included), ``--repeat`` times; with ``--against REF`` the
  same command from that git commit too (exported with `git archive`), alternating, so
  before and after come from one run on one machine state.
Wall time (perf_counter) and CPU time (the process's, or its children's) are both printed,
with the load average: on a busy machine wall time is inflated, CPU time much less.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchkit  # noqa: E402  (scripts/benchkit.py: refuse or flag a busy machine)

DEVICES = [("pixel7", "fp-pixel7", False), ("emu", "fp-emu", True)]
VARIANTS = {"fp32": (1.0, 497_759_232), "dynamic": (0.62, 131_203_072), "fp16": (0.97, 249_000_000)}
MAX_LENGTHS = [32, 64, 128, 256]
THREADS = [1, 4]
PROMPT_SCALE = [1.0, 0.55, 0.9]
BLOCKS_PER_RUN = len(DEVICES) * len(VARIANTS) * len(MAX_LENGTHS) * len(THREADS)


def _block(rng, alias, fp, emulated, variant, L, t, per_block) -> dict:
    speed, size = VARIANTS[variant]
    base = 12.0 * L * speed / (1 + 0.6 * (t - 1))
    samples = [{"phase": "measured", "index": i, "prompt_index": i % 3,
                "wall_ms": round(base * PROMPT_SCALE[i % 3] * rng.gauss(1, 0.03), 2), "token_count": L,
                "prompt_token_count": 5, "tokens_generated": L - 5, "stopped_early": False,
                "thermal_status_before": 0, "thermal_status_after": 0} for i in range(per_block)]
    return {"block_id": f"{alias}/{variant}/L{L}/cw50/t{t}", "status": "ok", "error": None,
            "device": {"alias": alias, "fingerprint": fp, "emulated": emulated},
            "model": {"source": "preset:gpt2_base_en", "synthetic": False, "variant": variant,
                      "export": "oneshot", "max_length": L, "sha256": variant * 8,
                      "size_bytes": size, "weight_bytes_by_dtype": {variant: size}},
            "params": {"context_window_words": 50, "threads_used": t, "prompts_sha256": "p" * 64},
            "load_ms": 900.0 * speed, "memory": {"vmhwm_kb": size // 800, "pss_kb": None},
            "samples": samples, "drift": None}


def make_runs(total_samples: int, out: Path, seed: int = 1) -> int:
    rng = random.Random(seed)
    per_block = 50
    n_runs = max(1, round(total_samples / (per_block * BLOCKS_PER_RUN)))
    written = 0
    for r in range(n_runs):
        blocks = [_block(rng, alias, fp, emu, v, L, t, per_block)
                  for alias, fp, emu in DEVICES for v in VARIANTS for L in MAX_LENGTHS for t in THREADS]
        written += per_block * len(blocks)
        doc = {"schema_version": 2, "run_id": f"bench-{r:03d}", "status": "complete",
               "started_at": f"2026-11-25T00:{r % 60:02d}:00+00:00", "harness": {"version": "0.1.0"},
               "blocks": blocks}
        (out / f"bench-{r:03d}.json").write_text(json.dumps(doc))
    return written


def stages(data: Path) -> None:
    """Each stage in this process: wall and CPU seconds."""
    clock = lambda: (time.perf_counter(), time.process_time())  # noqa: E731
    t0 = clock()
    from harness import reporters
    from harness.analysis.summary import build_report
    from harness.results.frame import load_frame
    t1 = clock()
    df = load_frame([str(data)], data)
    t2 = clock()
    report = build_report(df)
    t3 = clock()
    md = reporters.render(report, df, "markdown")
    t4 = clock()
    page = reporters.render(report, df, "html")
    t5 = clock()
    for name, a, b in (("imports", t0, t1), (f"load (JSON -> tidy frame, {len(df)} rows)", t1, t2),
                       (f"aggregate ({len(report.cells)} cells)", t2, t3), (f"render markdown ({len(md)} chars)", t3, t4),
                       (f"render html ({len(page) / 1e6:.2f} MB)", t4, t5), ("total", t0, t5)):
        print(f"  {name:<42} {b[0] - a[0]:6.2f} s wall {b[1] - a[1]:6.2f} s CPU")


def command(tree: Path, data: Path, out: Path) -> tuple[float, float]:
    """`harness report --all --format html` from ``tree``: (wall s, CPU s of the child)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "harness.cli", "report", "--all", "--format", "html", "-o", str(out),
                    "--results-dir", str(data)], env=env, cwd=tree, check=True, capture_output=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def export(ref: str, into: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
    with tempfile.NamedTemporaryFile(suffix=".tar") as f:
        f.write(archive)
        f.flush()
        with tarfile.open(f.name) as tar:
            tar.extractall(into, filter="data")
    return into


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=100_000)
    ap.add_argument("--keep", type=Path, help="write the generated results here instead of a temp dir")
    ap.add_argument("--against", metavar="REF", help="also time the command from this git commit (before/after)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of the whole command per tree")
    benchkit.add_arguments(ap)
    args = ap.parse_args()
    watch = benchkit.Watch()
    benchkit.check_start(args, 'bench_report')
    with tempfile.TemporaryDirectory() as tmp:
        data = args.keep or Path(tmp) / "results"
        data.mkdir(parents=True, exist_ok=True)
        n = make_runs(args.samples, data)
        size_mb = sum(p.stat().st_size for p in data.glob("*.json")) / 1e6
        print(f"{n} samples in {len(list(data.glob('*.json')))} result files ({size_mb:.1f} MB); "
              f"{os.cpu_count()} cores; load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print("stages (this tree, in-process):")
        stages(data)
        trees = {"this tree": ROOT}
        if args.against:
            trees[args.against] = export(args.against, Path(tmp) / "before")
        times: dict[str, list[tuple[float, float]]] = {k: [] for k in trees}
        for _ in range(args.repeat):
            for name, tree in trees.items():
                times[name].append(command(tree, data, Path(tmp) / "page.html"))
        print(f"`harness report --all --format html` (whole command, median of {args.repeat}):")
        for name, runs in times.items():
            print(f"  {name:<20} {statistics.median(w for w, _ in runs):6.2f} s wall "
                  f"{statistics.median(c for _, c in runs):6.2f} s CPU   (runs: "
                  + ", ".join(f"{w:.2f}" for w, _ in runs) + ")")
        print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"Machine during the measurement: {benchkit.label(watch.stop())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
