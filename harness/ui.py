"""What the user sees while things run: a status line, progress bars, one-line summaries.

All output goes to standard error, so standard output stays clean for tables and reports.
"""
from __future__ import annotations

import contextlib
import sys
import threading

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

# No source locations after log lines (they are for debugging rich, not for users), and no
# wrapping when standard error is a log file or a CI pipe rather than a terminal.
console = Console(stderr=True, highlight=False, log_path=False, soft_wrap=not sys.stderr.isatty())


class _Status:
    def __init__(self, status):
        self._status = status

    def update(self, message: str) -> None:
        self._status.update(f"{message} …")
        console.log(message)


class Display:
    """A thin layer over rich for the harness's progress output."""

    @contextlib.contextmanager
    def status(self):
        with console.status("starting …") as st:
            yield _Status(st)

    def conversion_line(self, c) -> None:
        r = c.report
        shares = ", ".join(f"{d} {s:.0%}" for d, s in sorted(r["weight_share"].items(), key=lambda kv: -kv[1]))
        how = "cached" if c.cache_hit else f"converted in {r['total_wall_s']:.1f} s, peak {r['convert_peak_rss_mb']:.0f} MB"
        console.print(f"  {r['variant']:<8} L={r['max_length']:<4} {r['size_bytes'] / 1e6:8.2f} MB  "
                      f"weights: {shares}  ({how})  {c.path}")

    @contextlib.contextmanager
    def run_progress(self, totals: dict[str, int]):
        """One bar per device; ``advance(alias, line)`` moves it on each finished generation."""
        progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.fields[alias]}"), BarColumn(),
                            MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.description}"),
                            console=console, transient=False)
        tasks = {alias: progress.add_task("", total=total, alias=alias) for alias, total in totals.items()}
        lock = threading.Lock()

        def advance(alias: str, message: str) -> None:
            with lock:
                task = tasks.get(alias)
                if task is None:
                    return
                if message.startswith("HARNESS_PROGRESS"):
                    progress.advance(task)
                else:
                    progress.update(task, description=message[:70])
                    if message.startswith(("models:", "installing", "cooling", "still thermal")) or \
                            "retry" in message or "fail" in message or "giving up" in message:
                        progress.console.log(f"{alias}: {message}")

        with progress:
            yield advance
