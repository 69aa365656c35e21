"""Step 7 of the pipeline: a report rendered in one format; each format registers itself here.

A reporter is a module with ``render(report, df, *, wide=False) -> str``; ``FORMATS`` maps the
name the CLI offers (``--format``) to it. A new format is one module plus one entry.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from harness.errors import UserError

if TYPE_CHECKING:                 # the CLI reads FORMATS without loading pandas
    import pandas as pd

    from harness.analysis.summary import Report

FORMATS = {
    "terminal": "harness.reporters.terminal",
    "markdown": "harness.reporters.markdown",
    "csv": "harness.reporters.csv_table",
    "json": "harness.reporters.json_doc",
    "html": "harness.reporters.html_page",
}


def render(report: Report, df: pd.DataFrame, fmt: str, *, wide: bool = False) -> str:
    """The report in format ``fmt``; ``wide`` shows every column in the tables."""
    if fmt not in FORMATS:
        raise UserError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")
    return importlib.import_module(FORMATS[fmt]).render(report, df, wide=wide)
