"""The report as a rich table on a terminal: banners first, warnings after.

The default table fits 100 columns for four variants; numbers are never cut (the notes
column wraps instead). Piped or logged (not a terminal), nothing is wrapped or cut.
"""
from __future__ import annotations

import io
import sys
from typing import Any

import pandas as pd

from harness.analysis.summary import Report
from harness.reporters.table import LEFT, finding_lines, footer, table_rows

NOT_A_TERMINAL_WIDTH = 400


def render_terminal(report: Report, console: Any = None, wide: bool = False) -> None:
    """Print the report as a rich table, banners first and warnings after."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    if console is None:
        console = Console() if sys.stdout.isatty() else Console(width=NOT_A_TERMINAL_WIDTH)
    say = lambda text, style=None: console.print(text, style=style, highlight=False, markup=False)  # noqa: E731
    for b in report.banners:
        say(f"WARNING: {b}", "bold red")
    header, rows, lines = table_rows(report, wide)
    for line in lines:
        say(line)
    if not rows:
        say("no measurements")
    else:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, collapse_padding=True)
        for h in header:
            table.add_column(h, justify="left" if h in LEFT else "right", no_wrap=h != "notes",
                             overflow="fold", min_width=min(len(h), 12))
        for r, (_, c) in zip(rows, report.cells.iterrows()):
            table.add_row(*r, style="yellow" if r[-1] else None)
        console.print(table)
    for line in finding_lines(report):
        say(line, "yellow")
    say(footer(report, wide), "dim")


def render(report: Report, df: pd.DataFrame, *, wide: bool = False) -> str:
    """Plain text as a wide console would show it (for files and pipes)."""
    from rich.console import Console

    buf = io.StringIO()
    render_terminal(report, Console(file=buf, width=NOT_A_TERMINAL_WIDTH, color_system=None), wide)
    return buf.getvalue()
