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


# The executor's line at the start of each try of a block ("measuring fp32, max length ...").
BLOCK_START = "measuring "


class _Bar:
    """One device's count: generations of blocks over, plus those of the block under way."""

    def __init__(self, progress: Progress, alias: str, total: int, per_block: int, blocks_done: int):
        self.progress, self.total, self.per_block = progress, total, per_block
        self.base = min(total, blocks_done * per_block)
        self.current = 0
        self.current_block: str | None = None
        self.task = progress.add_task("", total=total, alias=alias, completed=self.base)

    def block(self, start_line: str) -> None:
        if self.current_block is not None and start_line != self.current_block:
            self.base += self.per_block        # the block before is over (measured, or failed for good)
        self.current, self.current_block = 0, start_line     # a new block, or the same one again
        self._show()

    def generation(self) -> None:
        self.current = min(self.current + 1, self.per_block)
        self._show()

    def _show(self) -> None:
        self.progress.update(self.task, completed=min(self.total, self.base + self.current))


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
    def run_progress(self, totals: dict[str, int], per_block: int, done: dict[str, int] | None = None):
        """One bar per device, in generations: ``totals[alias]`` in all, ``per_block`` in each
        block, ``done[alias]`` blocks finished before (a resumed run starts there).
        ``advance(alias, line)`` moves it on each finished generation."""
        progress = Progress(SpinnerColumn(), TextColumn("[bold]{task.fields[alias]}"), BarColumn(),
                            MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("{task.description}"),
                            console=console, transient=False)
        bars = Bars(progress, totals, per_block, done or {})
        with progress:
            yield bars.advance


class Bars:
    """The devices' bars and what moves them: a block tried again after a fault counts from its
    start again, so a bar never passes its total."""

    def __init__(self, progress: Progress, totals: dict[str, int], per_block: int, done: dict[str, int]):
        self.progress = progress
        self.bars = {alias: _Bar(progress, alias, total, per_block, done.get(alias, 0))
                     for alias, total in totals.items()}
        self._lock = threading.Lock()

    def completed(self, alias: str) -> int:
        task = self.bars[alias].task
        return int(next(t.completed for t in self.progress.tasks if t.id == task))

    def advance(self, alias: str, message: str) -> None:
        with self._lock:
            bar = self.bars.get(alias)
            if bar is None:
                return
            if message.startswith("HARNESS_PROGRESS"):
                bar.generation()
                return
            if message.startswith(BLOCK_START):
                bar.block(message)
            self.progress.update(bar.task, description=message[:70])
            if message.startswith(("models:", "installing", "cooling", "still thermal")) or \
                    "retry" in message or "fail" in message or "giving up" in message:
                self.progress.console.log(f"{alias}: {message}")
