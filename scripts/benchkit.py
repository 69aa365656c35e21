"""Shared by every ``scripts/bench_*.py``: refuse (or loudly flag) figures taken on a busy machine.

On this project's 2-core machine a busy core made figures 2.4× slow (FINDINGS §8), so a
benchmark records how busy the machine was and says so next to every figure:

- before it starts, the 1-minute load average must be at most ``BUSY_LOAD`` (0.3);
- while it runs, ``Watch`` measures the CPU time the rest of the machine used — all busy
  CPU time in ``/proc/stat`` minus this process's and its waited-for children's — as
  "other cores busy" (the load average cannot tell: a 1-thread benchmark adds 1.0 to it
  by itself). Above ``BUSY_LOAD`` the figures are marked BUSY.

A busy start refuses the run unless ``--allow-busy`` is given; then every printed
figure carries the BUSY label and the JSON records ``"busy": true``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

BUSY_LOAD = 0.3   # load average (or cores' worth of other work) above which a figure is suspect


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--allow-busy", action="store_true",
                   help=f"run even when the load average is above {BUSY_LOAD} (figures are then labelled BUSY)")


def _busy_jiffies() -> tuple[int, int]:
    """(busy, total) CPU jiffies over all cores since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)   # idle + iowait
    return sum(fields) - idle, sum(fields)


def _own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class Watch:
    """Measures how many cores' worth of work OTHER processes did between start and stop."""

    def __init__(self, start: dict | None = None):
        # The load average from ``check_start`` when given: taken before the benchmark's own
        # preparation (converting, writing GGUF files), which would otherwise count as busy.
        self.hz = os.sysconf("SC_CLK_TCK")
        self.load_at_start = tuple(start["load_avg_at_start"]) if start else os.getloadavg()
        self._busy0, _ = _busy_jiffies()
        self._own0 = _own_cpu_s()
        self._t0 = time.monotonic()

    def stop(self) -> dict:
        busy1, _ = _busy_jiffies()
        wall = max(1e-9, time.monotonic() - self._t0)
        others = ((busy1 - self._busy0) / self.hz - (_own_cpu_s() - self._own0)) / wall
        others = max(0.0, others)
        return {"load_avg_at_start": [round(x, 2) for x in self.load_at_start],
                "load_avg_at_end": [round(x, 2) for x in os.getloadavg()],
                "other_cores_busy": round(others, 2), "cpu_count": os.cpu_count(),
                "wall_s": round(wall, 1),
                "busy": self.load_at_start[0] > BUSY_LOAD or others > BUSY_LOAD}


def check_start(args, what: str) -> dict:
    """Refuse to start on a busy machine unless ``--allow-busy``; returns the starting state."""
    load = os.getloadavg()
    busy = load[0] > BUSY_LOAD
    if busy and not getattr(args, "allow_busy", False):
        sys.exit(f"{what}: refusing to measure: 1-minute load average {load[0]:.2f} > {BUSY_LOAD} on "
                 f"{os.cpu_count()} cores (another process is running). Rerun on a quiet machine, or "
                 "pass --allow-busy to measure anyway with every figure labelled BUSY.")
    if busy:
        print(f"WARNING: {what}: load average {load[0]:.2f} > {BUSY_LOAD}: every figure below is BUSY "
              "(not comparable with figures from a quiet machine)", file=sys.stderr, flush=True)
    return {"load_avg_at_start": [round(x, 2) for x in load], "busy_at_start": busy}


def label(state: dict) -> str:
    """``idle`` or ``BUSY (load 2.31, other cores 1.20)`` for a ``Watch.stop()`` record."""
    if not state.get("busy"):
        return f"idle (load {state['load_avg_at_start'][0]:.2f}, other cores {state.get('other_cores_busy', 0):.2f})"
    return (f"BUSY (load {state['load_avg_at_start'][0]:.2f} at start, other cores busy "
            f"{state.get('other_cores_busy', 0):.2f}) — not a figure to publish")
