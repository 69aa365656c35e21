"""What every table shows: which columns, their labels and formats, the rows, the footnote.

Shared by the terminal, markdown and HTML reporters, so a figure reads the same everywhere.
"""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

from harness.analysis.summary import MARKERS, Report, fmt_pct

# Identity columns as shown: (cell column, label). ``variant`` is always shown.
DISPLAY_IDENTITY = [("device_alias", "device"), ("model_source", "model"), ("variant", "variant"),
                    ("export", "export"), ("max_length", "max len"),
                    ("context_window_words", "ctx words"), ("threads", "threads")]
# Metric columns as shown: (cell column, label, format). Optional ones vanish when empty everywhere.
DISPLAY_METRICS = [
    ("n", "n", "int"), ("size_mb", "size MB", "f1"),
    ("size_ratio", "size ×fp32", "f2"), ("load_ms", "load ms", "f1"), ("first_ms", "first gen ms", "f1"),
    ("median_ms", "median ms", "f1"), ("p90_ms", "p90 ms", "f1"), ("mad_ms", "MAD ms", "f1"),
    ("cv", "CV", "pct"), ("tokens_per_s", "tok/s", "f2"), ("speedup", "speedup ×fp32", "x"),
    ("peak_mem_mib", "peak MiB", "f1"), ("model_mem_mib", "peak-base MiB", "f1"),
    ("max_thermal_headroom", "max headroom", "f2"),
    ("prefill_ms", "prefill ms", "f1"),
    ("decode_tokens_per_s", "decode tok/s", "f2"), ("drift_token_agreement", "token agreement", "f3"),
]
OPTIONAL_METRICS = {"size_ratio", "speedup", "peak_mem_mib", "model_mem_mib", "max_thermal_headroom", "prefill_ms", "decode_tokens_per_s",
                    "drift_token_agreement", "load_ms", "size_mb", "n_warmup"}


def _isnan(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def fmt_value(v: Any, kind: str) -> str:
    """Format one figure for tables; missing values are '—'."""
    if _isnan(v):
        return "—"
    if kind == "int":
        return str(int(v))
    if kind == "pct":
        return fmt_pct(v)
    if kind == "x":
        return f"{v:.2f}×"
    digits = int(kind[1:])
    return f"{v:,.{digits}f}"


def _constant_and_varying(cells: pd.DataFrame) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Split identity columns into (constant across all rows, varying); variant always varies."""
    constant, varying = [], []
    for col, label in DISPLAY_IDENTITY:
        values = {str(v) for v in cells[col]}
        if col != "variant" and len(values) == 1:
            constant.append((col, label))
        else:
            varying.append((col, label))
    return constant, varying


def _metric_columns(cells: pd.DataFrame) -> list[tuple[str, str, str]]:
    return [(c, l, k) for c, l, k in DISPLAY_METRICS
            if c not in OPTIONAL_METRICS or (c in cells and cells[c].notna().any() and
                                             not (c == "n_warmup" and (cells[c] == 0).all()))]


def _identity_value(row: Any, col: str) -> str:
    v = row[col]
    if _isnan(v):
        return "—"
    if col == "device_alias":
        return f"{v} (emulated)" if row["emulated"] else str(v)
    if col == "model_source":
        return f"{v} (synthetic)" if row["synthetic"] else str(v)
    return str(v)


def table_rows(report: Report) -> tuple[list[str], list[list[str]], list[str]]:
    """(header, rows, constant-column lines) shared by the terminal, markdown and HTML tables."""
    cells = report.cells
    constant, varying = _constant_and_varying(cells)
    metrics = _metric_columns(cells)
    header = [label for _, label in varying] + [label for _, label, _ in metrics] + ["notes"]
    rows = []
    for _, c in cells.iterrows():
        rows.append([_identity_value(c, col) for col, _ in varying]
                    + [fmt_value(c[col], kind) for col, _, kind in metrics]
                    + [c["notes"] or ""])
    lines = []
    if len(cells):
        first = cells.iloc[0]
        for col, label in constant:
            text = _identity_value(first, col)
            if col == "device_alias":
                text += f" — {first['device_fingerprint']}"
            lines.append(f"{label}: {text}")
    return header, rows, lines


def finding_lines(report: Report) -> list[str]:
    return [f"[{MARKERS[f.kind]}] {f.cell}: {f.message}" if f.cell else f"[{MARKERS[f.kind]}] {f.message}"
            for f in report.findings]


def footer(report: Report) -> str:
    return (f"n = measured samples per cell (warmups counted apart). Times are medians of wall time per "
            f"generation; speedup = fp32 median / this median; CV warning above {fmt_pct(report.cv_threshold)}, "
            f"few-samples warning below {report.min_samples}. Runs: {', '.join(report.run_ids) or '—'}.")



def md_escape(s: str) -> str:
    return s.replace("|", "\\|")


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub pipe table; numbers right-aligned."""
    left = {"device", "model", "variant", "export", "notes", "cell", "verdict"}
    out = ["| " + " | ".join(md_escape(h) for h in header) + " |",
           "|" + "|".join(":---" if h in left else "---:" for h in header) + "|"]
    out += ["| " + " | ".join(md_escape(v) for v in r) + " |" for r in rows]
    return "\n".join(out)
