"""The report as one self-contained HTML page: banners, figures with their warnings beside them,
the table (every column one click away), all warnings. Inline SVG; no script, no CDN."""
from __future__ import annotations

import html

import pandas as pd

from harness.analysis.summary import MARKERS, Report
from harness.reporters.plots import Figure, figures
from harness.reporters.table import LEFT, finding_lines, footer, table_rows

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{font-size:1.5em;margin-bottom:.2em} h2{font-size:1.2em;margin-top:1.6em} .sub{color:#555;margin-top:0}
.banner{background:#fde2e1;border-left:6px solid #c62828;padding:8px 12px;margin:6px 0;font-weight:600}
table{border-collapse:collapse;font-size:12px;margin:8px 0}
th,td{border:1px solid #ccc;padding:2px 6px;text-align:right;white-space:nowrap}
th{background:#f0f0f0} td.l{text-align:left} tr.warn td{background:#fff8e1}
.scroll{overflow-x:auto} .const{color:#444;margin:4px 0;padding-left:18px}
.fig{display:grid;grid-template-columns:minmax(0,3fr) minmax(220px,1fr);gap:18px;align-items:start}
.fig svg{max-width:100%;height:auto} .caption{color:#555;font-size:12px;margin:4px 0}
.side{font-size:12px;background:#fffbe6;border-left:4px solid #e0a800;padding:6px 10px}
.side.ok{background:#f3f8f3;border-left-color:#7cb07c} .side ul{margin:4px 0;padding-left:16px}
nav a{margin-right:12px} details{margin:8px 0} .foot{color:#666;font-size:12px}
@media (max-width:900px){.fig{grid-template-columns:1fr}}
"""


def _table(header: list[str], rows: list[list[str]], warn: list[bool]) -> str:
    h = "".join(f"<th>{html.escape(x)}</th>" for x in header)
    body = []
    for r, w in zip(rows, warn):
        tds = "".join(f'<td class="l">{html.escape(v)}</td>' if hd in LEFT else f"<td>{html.escape(v)}</td>"
                      for hd, v in zip(header, r))
        body.append(f'<tr class="warn">{tds}</tr>' if w else f"<tr>{tds}</tr>")
    return f'<div class="scroll"><table><thead><tr>{h}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _side(report: Report, fig: Figure) -> str:
    """The warnings of the cells a figure shows, to sit beside it."""
    found = [f for f in report.findings if f.cell in fig.cells]
    if not found:
        return '<aside class="side ok">No warnings for the cells in this figure.</aside>'
    items = "".join(f"<li><b>{html.escape(MARKERS[f.kind])}</b> {html.escape(f.cell or '')}: "
                    f"{html.escape(f.message)}</li>" for f in found)
    return f'<aside class="side"><b>Warnings for these cells</b><ul>{items}</ul></aside>'


def _figure(report: Report, fig: Figure) -> str:
    return (f'<section id="{fig.key}"><h2>{html.escape(fig.title)}</h2><div class="fig"><div>'
            f'<div class="plot">{fig.svg}</div><p class="caption">{html.escape(fig.caption)}</p></div>'
            f"{_side(report, fig)}</div></section>")


def _title(report: Report) -> str:
    runs = report.run_ids
    return (f"run {runs[0]}" if len(runs) == 1 else f"{len(runs)} runs pooled" if runs else "no runs")


def render_html(report: Report, df: pd.DataFrame | None = None, wide: bool = False) -> str:
    """A self-contained HTML page: banners, figures with their warnings, the table, warnings."""
    header, rows, lines = table_rows(report, wide)
    figs = figures(report, report.samples)
    warn = [bool(r[-1]) for r in rows]
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>harness benchmark report — {html.escape(_title(report))}</title>",
             f"<style>{_CSS}</style></head><body>", "<h1>Benchmark report</h1>",
             f'<p class="sub">{html.escape(_title(report))}: {html.escape(", ".join(report.run_ids))}</p>']
    parts += [f'<div class="banner">WARNING: {html.escape(b)}</div>' for b in report.banners]
    if lines:
        parts.append('<ul class="const">' + "".join(f"<li>{html.escape(x)}</li>" for x in lines) + "</ul>")
    if figs:
        parts.append("<nav>" + "".join(f'<a href="#{f.key}">{html.escape(f.title)}</a>' for f in figs)
                     + '<a href="#results">Table</a></nav>')
    parts.append('<section id="results"><h2>Results</h2>')
    parts.append(_table(header, rows, warn) if rows else "<p>no measurements</p>")
    if rows and not wide:
        wh, wr, _ = table_rows(report, True)
        parts.append(f"<details><summary>Every column</summary>{_table(wh, wr, warn)}</details>")
    parts.append("</section>")
    parts += [_figure(report, f) for f in figs]
    findings = finding_lines(report)
    if findings:
        parts.append('<section id="warnings"><h2>All warnings</h2><ul>'
                     + "".join(f"<li>{html.escape(f)}</li>" for f in findings) + "</ul></section>")
    parts.append(f'<p class="foot">{html.escape(footer(report, wide))}</p></body></html>')
    return "\n".join(parts) + "\n"


def render(report: Report, df: pd.DataFrame, *, wide: bool = False) -> str:
    return render_html(report, df, wide)
