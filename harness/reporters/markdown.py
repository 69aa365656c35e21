"""The report as markdown for release notes: banners, constant columns stated once, the table, warnings."""
from __future__ import annotations

import pandas as pd

from harness.analysis.summary import Report
from harness.reporters.table import finding_lines, footer, markdown_table, md_escape, table_rows


def render_markdown(report: Report, wide: bool = False) -> str:
    """Release-notes-ready markdown: banners, constant columns stated once, the table, warnings."""
    parts = [f"> **Warning:** {b}" for b in report.banners]
    header, rows, lines = table_rows(report, wide)
    if lines:
        parts.append("\n".join(f"- {line}" for line in lines))
    parts.append(markdown_table(header, rows) if rows else "_no measurements_")
    findings = finding_lines(report)
    if findings:
        parts.append("**Warnings**\n\n" + "\n".join(f"- {md_escape(f)}" for f in findings))
    parts.append(f"_{footer(report, wide)}_")
    return "\n\n".join(parts) + "\n"


def render(report: Report, df: pd.DataFrame, *, wide: bool = False) -> str:
    return render_markdown(report, wide)
