"""The report as a rich table on a terminal: banners first, warnings after."""
from __future__ import annotations

import io
import sys
from typing import Any

import pandas as pd

from harness.analysis.summary import Report
from harness.reporters.table import finding_lines, footer, table_rows


def render_terminal(report: Report, console: Any = None) -> None:
    """Print the report as a rich table, banners first and warnings after."""
    from rich.console import Console
    from rich.table import Table

    if console is None:
        # A table is wide: give logs and pipes (not a terminal) room instead of 80 columns.
        console = Console() if sys.stdout.isatty() else Console(width=200)
    for b in report.banners:
        console.print(f"[bold red]WARNING:[/] {b}", highlight=False)
    header, rows, lines = table_rows(report)
    for line in lines:
        console.print(line, highlight=False, markup=False)
    if not rows:
        console.print("no measurements")
    else:
        table = Table(show_lines=False)
        for h in header:
            table.add_column(h, justify="left" if h in {"device", "model", "variant", "export", "notes"} else "right")
        for r, (_, c) in zip(rows, report.cells.iterrows()):
            style = "yellow" if c["notes"] else None
            table.add_row(*r, style=style)
        console.print(table)
    for line in finding_lines(report):
        console.print(line, style="yellow", highlight=False, markup=False)
    console.print(footer(report), style="dim", highlight=False, markup=False)




def render(report: Report, df: pd.DataFrame) -> str:
    """Plain text as a wide console would show it (for files and pipes)."""
    from rich.console import Console

    buf = io.StringIO()
    render_terminal(report, Console(file=buf, width=220, color_system=None))
    return buf.getvalue()
