"""What every table shows: which columns, their labels and formats, the rows, the footnote.

Shared by the terminal, markdown and HTML reporters, so a figure reads the same everywhere.
The default table is compact (it fits 100 columns for four variants); ``wide`` shows every
column. Identity columns that are the same in every row are stated once above the table.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import pandas as pd

from harness.analysis.summary import BANNER_MARKERS, MARKERS, Report, fmt_pct

# Identity columns as shown: (cell column, label). ``variant`` is always shown.
DISPLAY_IDENTITY = [("device_alias", "device"), ("model_source", "model"), ("variant", "variant"),
                    ("export", "export"), ("max_length", "max len"),
                    ("context_window_words", "ctx words"), ("threads", "threads"), ("delegate", "delegate")]
# Every metric column (--wide and CSV): (cell column, label, format). Optional ones vanish when empty.
DISPLAY_METRICS = [
    ("n", "n", "int"), ("size_mb", "size MB", "num"),
    ("size_ratio", "size ×fp32", "f2"), ("load_ms", "load ms", "num"), ("first_ms", "first gen ms", "num"),
    ("median_ms", "median ms", "num"), ("p90_ms", "p90 ms", "num"), ("mad_ms", "MAD ms", "num"),
    ("cv", "CV", "pct"), ("tokens_per_s", "tok/s", "num"), ("speedup", "speedup ×fp32", "x"),
    ("speedup_ci", "speedup 95 % CI", "ci"),
    ("peak_mem_mib", "peak MiB", "num"), ("model_mem_mib", "peak-base MiB", "num"),
    ("max_thermal_headroom", "max headroom", "f2"),
    ("prefill_ms", "TTFT ms", "num"),
    ("decode_tokens_per_s", "decode tok/s", "num"), ("drift_token_agreement", "token agreement", "f3"),
    ("runs", "runs", "int"),
]
OPTIONAL_METRICS = {"size_ratio", "speedup", "speedup_ci", "peak_mem_mib", "model_mem_mib", "max_thermal_headroom",
                    "prefill_ms", "decode_tokens_per_s", "drift_token_agreement", "load_ms", "size_mb"}
LEFT = {"device", "model", "variant", "export", "notes", "cell", "verdict"}


def _isnan(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def fmt_num(v: Any) -> str:
    """A measured figure with sensible precision: 12,374 / 87.6 / 4.25 / 0.613 (never 12,373.76)."""
    if _isnan(v):
        return "—"
    a = abs(v)
    return f"{v:,.0f}" if a >= 100 else f"{v:.1f}" if a >= 10 else f"{v:.2f}" if a >= 1 else f"{v:.3f}"


def fmt_spread(v: float) -> str:
    """A spread (MAD) to two significant digits, never rounded to a bare 0: 54 / 7.2 / 0.4."""
    return f"{v:,.0f}" if abs(v) >= 10 else f"{v:.2g}"


def speedup_significant(c: Any) -> bool | None:
    """True when the speedup's 95 % interval excludes 1; None when there is no interval (fp32)."""
    low, high = c.get("speedup_low"), c.get("speedup_high")
    if _isnan(low) or _isnan(high):
        return None
    return low > 1 or high < 1


def _speedup_text(c: Any) -> str:
    v = c.get("speedup")
    if _isnan(v):
        return "—"
    return f"{v:.2f}×" + (" (ns)" if speedup_significant(c) is False else "")


def fmt_value(c: Any, col: str, kind: str) -> str:
    """Format one figure of a cell row for tables; missing values are '—'."""
    v = c.get(col) if col != "speedup_ci" else None
    if kind == "ci":
        low, high = c.get("speedup_low"), c.get("speedup_high")
        return "—" if _isnan(low) or _isnan(high) else f"{low:.2f}–{high:.2f}×"
    if kind == "x":
        return _speedup_text(c)
    if _isnan(v):
        return "—"
    if kind == "int":
        return str(int(v))
    if kind == "pct":
        return fmt_pct(v)
    if kind == "num":
        return fmt_num(v)
    return f"{v:,.{int(kind[1:])}f}"


def _compact_columns(cells: pd.DataFrame) -> list[tuple[str, Callable[[Any], str]]]:
    """The default table: size (×fp32), median ± MAD, tok/s, speedup, peak memory, TTFT when measured."""
    def size(c):
        if _isnan(c["size_mb"]):
            return "—"
        return fmt_num(c["size_mb"]) + ("" if _isnan(c.get("size_ratio")) else f" ({c['size_ratio']:.2f}×)")

    def median(c):
        if _isnan(c["median_ms"]):
            return "—"
        return fmt_num(c["median_ms"]) + ("" if _isnan(c["mad_ms"]) else f" ± {fmt_spread(c['mad_ms'])}")

    cols = [("size MB", size), ("median ms", median), ("tok/s", lambda c: fmt_num(c["tokens_per_s"])),
            ("speedup", _speedup_text)]
    for col, label in (("prefill_ms", "TTFT ms"), ("decode_tokens_per_s", "decode tok/s"),
                       ("peak_mem_mib", "peak MiB")):
        if col in cells and cells[col].notna().any():
            cols.append((label, lambda c, col=col: fmt_num(c[col])))
    return cols


def _wide_columns(cells: pd.DataFrame) -> list[tuple[str, Callable[[Any], str]]]:
    def present(col: str) -> bool:
        if col == "speedup_ci":
            return "speedup_low" in cells and cells["speedup_low"].notna().any()
        return col in cells and cells[col].notna().any()

    return [(label, lambda c, col=col, kind=kind: fmt_value(c, col, kind))
            for col, label, kind in DISPLAY_METRICS if col not in OPTIONAL_METRICS or present(col)]


def _constant_and_varying(cells: pd.DataFrame) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Split identity columns into (constant across all rows, varying); variant always varies."""
    constant, varying = [], []
    for col, label in DISPLAY_IDENTITY:
        if col != "variant" and len({str(v) for v in cells[col]}) == 1:
            constant.append((col, label))
        else:
            varying.append((col, label))
    return constant, varying


def _identity_value(row: Any, col: str) -> str:
    v = row[col]
    if _isnan(v):
        return "—"
    if col == "device_alias":
        return f"{v} (emulated)" if row["emulated"] else str(v)
    if col == "model_source":
        return f"{v} (synthetic)" if row["synthetic"] else str(v)
    return str(v)


def row_notes(c: Any) -> str:
    """A row's own notes: the markers a banner does not already say for the whole page."""
    return ", ".join(n for n in (c["notes"] or "").split(", ") if n and n not in BANNER_MARKERS)


def table_rows(report: Report, wide: bool = False) -> tuple[list[str], list[list[str]], list[str]]:
    """(header, rows, constant-column lines) shared by the terminal, markdown and HTML tables."""
    cells = report.cells
    constant, varying = _constant_and_varying(cells)
    metrics = _wide_columns(cells) if wide else _compact_columns(cells)
    header = [label for _, label in varying] + [label for label, _ in metrics] + ["notes"]
    rows = [[_identity_value(c, col) for col, _ in varying] + [f(c) for _, f in metrics] + [row_notes(c)]
            for c in cells.to_dict("records")]
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


def footer(report: Report, wide: bool = False) -> str:
    columns = ("size MB (× the fp32 size); median ms ± MAD (median absolute deviation) of wall time per "
               "generation; " if not wide else "")
    return (f"n = measured samples per cell (warmups counted apart). {columns}tok/s = generated tokens per "
            f"second, median over generations; speedup = fp32 time ÷ this time, matched prompt by prompt "
            f"(Hodges-Lehmann), (ns) = not significant: its 95 % interval includes 1; TTFT = prefill time. "
            f"CV warning above {fmt_pct(report.cv_threshold)}, few-samples warning below {report.min_samples}. "
            f"Runs: {', '.join(report.run_ids) or '—'}.")


def md_escape(s: str) -> str:
    return s.replace("|", "\\|")


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub pipe table; numbers right-aligned."""
    out = ["| " + " | ".join(md_escape(h) for h in header) + " |",
           "|" + "|".join(":---" if h in LEFT else "---:" for h in header) + "|"]
    out += ["| " + " | ".join(md_escape(v) for v in r) + " |" for r in rows]
    return "\n".join(out)
