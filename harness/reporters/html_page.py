"""The report as one self-contained HTML page: banners, the table, warnings, plots (inline SVG)."""
from __future__ import annotations

import html

import pandas as pd

from harness.analysis.summary import Report
from harness.reporters.plots import plot_svgs
from harness.reporters.table import finding_lines, footer, table_rows

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1600px}
h1{font-size:1.5em} h2{font-size:1.2em;margin-top:1.6em}
.banner{background:#fde2e1;border-left:6px solid #c62828;padding:8px 12px;margin:6px 0;font-weight:600}
table{border-collapse:collapse;font-size:12px;margin:8px 0}
th,td{border:1px solid #ccc;padding:2px 5px;text-align:right;white-space:nowrap}
th{background:#f0f0f0} td.l{text-align:left} tr.warn td{background:#fff8e1}
ul.warnings li{margin:2px 0} .scroll{overflow-x:auto} .const{color:#444} .plot{margin:10px 0} .plot svg{max-width:100%;height:auto} .foot{color:#666;font-size:12px}
"""


def _html_table(header: list[str], rows: list[list[str]], warn: list[bool]) -> str:
    left = {"device", "model", "variant", "export", "notes"}
    h = "".join(f"<th>{html.escape(x)}</th>" for x in header)
    body = []
    for r, w in zip(rows, warn):
        tds = "".join(f'<td class="l">{html.escape(v)}</td>' if hd in left else f"<td>{html.escape(v)}</td>"
                      for hd, v in zip(header, r))
        body.append(f'<tr class="warn">{tds}</tr>' if w else f"<tr>{tds}</tr>")
    return f"<table><thead><tr>{h}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def render_html(report: Report, df: pd.DataFrame) -> str:
    """A self-contained HTML page: banners, plots (inline SVG), the table, warnings. No JS, no CDN."""
    header, rows, lines = table_rows(report)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             "<title>harness benchmark report</title>", f"<style>{_CSS}</style></head><body>",
             "<h1>Benchmark report</h1>"]
    parts += [f'<div class="banner">WARNING: {html.escape(b)}</div>' for b in report.banners]
    if lines:
        parts.append('<ul class="const">' + "".join(f"<li>{html.escape(x)}</li>" for x in lines) + "</ul>")
    parts.append("<h2>Results</h2>")
    parts.append('<div class="scroll">' + _html_table(header, rows, [bool(n) for n in report.cells.get("notes", [])])
                 + "</div>" if rows else "<p>no measurements</p>")
    findings = finding_lines(report)
    if findings:
        parts.append('<h2>Warnings</h2><ul class="warnings">'
                     + "".join(f"<li>{html.escape(f)}</li>" for f in findings) + "</ul>")
    for title, svg in plot_svgs(report, df):
        parts.append(f'<h2>{html.escape(title)}</h2><div class="plot">{svg}</div>')
    parts.append(f'<p class="foot">{html.escape(footer(report))}</p></body></html>')
    return "\n".join(parts) + "\n"


def render(report: Report, df: pd.DataFrame) -> str:
    return render_html(report, df)
