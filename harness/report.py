"""Reports: the tidy sample frame -> per-cell summary + warnings -> terminal / markdown / CSV / JSON / HTML.

A *cell* is one device x model x variant x export x max length x context window x
threads. Every figure is recomputed from raw samples (``harness.frame``);
warmups are counted apart and never enter the measured statistics. The same
warnings appear in every format, and emulated or synthetic rows always carry a
marker and a banner (pyperf's ``format_checks`` is the model).
"""
from __future__ import annotations

import html
import io
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harness import stats
from harness.errors import UserError
from harness.frame import dumps_stable, load_frame

DEFAULT_CV_THRESHOLD = 0.05       # fraction of the mean (5 %)
DEFAULT_MIN_SAMPLES = 5           # measured samples per cell
THROTTLED_THERMAL_STATUS = 2      # Android PowerManager THERMAL_STATUS_MODERATE ("severe" and up = 3+)
THROTTLED_HEADROOM = 1.0          # PowerManager.getThermalHeadroom: 1.0 = the severe-throttling threshold
BYTES_PER_MB = 1_000_000          # model sizes in MB (10^6 bytes), like file managers
KIB_PER_MIB = 1024                # memory (VmHWM) in MiB
REFERENCE_VARIANT = "fp32"
QUANTIZED_VARIANTS = ("dynamic", "fp16", "int8")
MAX_PLOT_WIDTH_IN = 18.0         # inches; wider sweeps get narrower boxes
MAX_STRIP_POINTS = 150           # points drawn per cell in the strip plot (SVG size)
VARIANT_ORDER = ("fp32", "dynamic", "fp16", "int8")
FORMATS = ("terminal", "markdown", "csv", "json", "html")
REPORT_JSON_SCHEMA = "harness-report/1"

CELL_KEYS = ["device_alias", "device_fingerprint", "emulated", "model_source", "synthetic",
             "variant", "export", "max_length", "context_window_words", "threads"]
# The reference (fp32) cell shares everything but the variant.
REFERENCE_KEYS = [k for k in CELL_KEYS if k != "variant"]

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

# Warning kinds, in the order they are listed, with their per-row marker.
MARKERS = {
    "emulated": "EMULATED", "synthetic": "SYNTHETIC", "failed": "FAILED",
    "few_samples": "few samples", "high_cv": "high CV", "throttled": "throttled",
    "not_quantized": "not quantized", "stopped_early": "stopped early",
}


@dataclass(frozen=True)
class Finding:
    """One warning: ``kind`` (a MARKERS key), the cell it concerns (label) or None, and the text."""

    kind: str
    cell: str | None
    message: str


@dataclass
class Report:
    """Per-cell summary (``cells``: one row per cell), warnings, banners and failed blocks."""

    cells: pd.DataFrame
    findings: list[Finding]
    banners: list[str]
    failed: list[dict]
    run_ids: list[str]
    cv_threshold: float
    min_samples: int
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- aggregation

def _variant_rank(v: Any) -> tuple[int, str]:
    v = str(v)
    return (VARIANT_ORDER.index(v) if v in VARIANT_ORDER else len(VARIANT_ORDER), v)


def cell_label(row: Any) -> str:
    """Short human label of a cell: 'pixel7 preset:gpt2 dynamic oneshot L128 cw50 t4'."""
    def g(k: str) -> Any:
        v = row[k]
        return "?" if v is None or (isinstance(v, float) and math.isnan(v)) else v
    return (f"{g('device_alias')} {g('model_source')} {g('variant')} {g('export')} "
            f"L{g('max_length')} cw{g('context_window_words')} t{g('threads')}")


def _first_generation_ms(group: pd.DataFrame) -> float:
    """First warmup sample of the earliest block if any, else the first measured sample."""
    for phase in ("warmup", "measured"):
        s = group[(group["phase"] == phase) & group["wall_ms"].notna()]
        if len(s):
            s = s.sort_values(["timestamp", "run_id", "index"], kind="stable")
            return float(s["wall_ms"].iloc[0])
    return math.nan


def _blocks(group: pd.DataFrame) -> pd.DataFrame:
    return group.drop_duplicates(["run_id", "block_id"])


def _summarise(group: pd.DataFrame) -> dict:
    measured = group[(group["phase"] == "measured") & group["wall_ms"].notna()]
    warmup = group[group["phase"] == "warmup"]
    blocks = _blocks(group)
    ok_blocks = blocks[blocks["block_status"] != "error"]
    wall = measured["wall_ms"].tolist()
    tok_s = (measured["tokens_generated"] / (measured["wall_ms"] / 1000.0)).tolist()
    headroom = pd.concat([measured["thermal_headroom_before"], measured["thermal_headroom_after"]])
    hot = measured[(measured["thermal_status_before"].fillna(0) >= THROTTLED_THERMAL_STATUS)
                   | (measured["thermal_status_after"].fillna(0) >= THROTTLED_THERMAL_STATUS)
                   | (measured["thermal_headroom_before"].fillna(0) >= THROTTLED_HEADROOM)
                   | (measured["thermal_headroom_after"].fillna(0) >= THROTTLED_HEADROOM)]
    sampled = group[group["phase"].isin(["warmup", "measured"])]
    early = sampled[sampled["stopped_early"].eq(True)]
    vmhwm = ok_blocks["vmhwm_kb"].dropna()
    # What loading and running the model cost: the peak minus the app's resident memory
    # just before the load (Python and TensorFlow on the host, ART on a phone).
    over_base = (ok_blocks["vmhwm_kb"] - ok_blocks["rss_before_load_kb"]).dropna()
    drift = ok_blocks["drift_token_agreement"] if "drift_token_agreement" in ok_blocks else pd.Series([], dtype=float)
    censuses = ok_blocks["weight_census"].dropna().unique().tolist()
    ops = ok_blocks["op_census"].dropna().unique().tolist()
    return {
        "n": len(measured),
        "n_warmup": len(warmup),
        "runs": blocks["run_id"].nunique(),
        "blocks": len(blocks),
        "failed_blocks": int((blocks["block_status"] == "error").sum()),
        "size_bytes": stats.median(ok_blocks["size_bytes"].tolist()),
        "size_mb": stats.median(ok_blocks["size_bytes"].tolist()) / BYTES_PER_MB,
        "load_ms": stats.median(ok_blocks["load_ms"].tolist()),
        "first_ms": _first_generation_ms(group),
        "median_ms": stats.median(wall),
        "p90_ms": stats.percentile(wall, 90),
        "mad_ms": stats.mad(wall),
        # Noise within repeats of the same prompt: different prompts differ by design.
        "cv": stats.within_group_cv(wall, measured["prompt_index"].fillna(-1).tolist()),
        "tokens_per_s": stats.median(tok_s),
        "peak_mem_mib": float(vmhwm.max()) / KIB_PER_MIB if len(vmhwm) else math.nan,
        "model_mem_mib": float(over_base.max()) / KIB_PER_MIB if len(over_base) else math.nan,
        "prefill_ms": stats.median(measured["prefill_ms"].tolist()),
        "decode_tokens_per_s": stats.median(measured["decode_tokens_per_s"].tolist()),
        "drift_token_agreement": stats.median(drift.tolist()),
        "throttled_samples": len(hot),
        "max_thermal_status": float(pd.concat([measured["thermal_status_before"],
                                               measured["thermal_status_after"]]).max())
        if len(measured) else math.nan,
        "max_thermal_headroom": float(headroom.max()) if headroom.notna().any() else math.nan,
        "stopped_early_samples": len(early),
        "int8_share": stats.median(ok_blocks["int8_share"].tolist()),
        "weight_census": censuses[0] if len(censuses) == 1 else None,
        "op_census": ops[0] if len(ops) == 1 else None,
        "app_version": ",".join(sorted({str(v) for v in blocks["app_version"].dropna()})) or None,
        "model_sha256": ",".join(sorted({str(v)[:12] for v in ok_blocks["model_sha256"].dropna()})) or None,
        "errors": [str(e) for e in blocks["block_error"].dropna()],
    }


def summarise_cells(df: pd.DataFrame) -> pd.DataFrame:
    """One row per cell with every figure of the report (before comparisons to fp32)."""
    if df.empty:
        return pd.DataFrame(columns=CELL_KEYS)
    rows = []
    for key, group in df.groupby(CELL_KEYS, dropna=False, sort=False):
        rows.append({**dict(zip(CELL_KEYS, key)), **_summarise(group)})
    cells = pd.DataFrame(rows)
    cells["_vrank"] = cells["variant"].map(_variant_rank)
    cells = cells.sort_values(["device_alias", "model_source", "export", "max_length",
                               "context_window_words", "threads", "_vrank"], kind="stable", na_position="last")
    return cells.drop(columns="_vrank").reset_index(drop=True)


def _add_reference_ratios(cells: pd.DataFrame) -> pd.DataFrame:
    """speedup = fp32 median / this median; size_ratio = this size / fp32 size (same cell but variant)."""
    ref = cells[cells["variant"] == REFERENCE_VARIANT].set_index(REFERENCE_KEYS)
    speed, size, ref_census, ref_size = [], [], [], []
    for _, row in cells.iterrows():
        key = tuple(row[k] for k in REFERENCE_KEYS)
        try:
            r = ref.loc[[key]].iloc[0]
        except (KeyError, TypeError):
            r = None
        if r is None:
            speed.append(math.nan); size.append(math.nan); ref_census.append(None); ref_size.append(math.nan)
            continue
        speed.append(r["median_ms"] / row["median_ms"] if row["median_ms"] else math.nan)
        size.append(row["size_bytes"] / r["size_bytes"] if r["size_bytes"] else math.nan)
        ref_census.append(r["weight_census"])
        ref_size.append(r["size_bytes"])
    cells = cells.copy()
    cells["speedup"] = speed
    cells["size_ratio"] = size
    cells["_ref_census"] = ref_census
    cells["_ref_size"] = ref_size
    return cells


def _fmt_pct(x: float) -> str:
    return f"{x * 100:.1f} %"


def build_report(df: pd.DataFrame, *, cv_threshold: float = DEFAULT_CV_THRESHOLD,
                 min_samples: int = DEFAULT_MIN_SAMPLES) -> Report:
    """Aggregate the tidy sample frame into cells and collect every warning a user must see."""
    cells = _add_reference_ratios(summarise_cells(df)) if not df.empty else pd.DataFrame(columns=CELL_KEYS)
    findings: list[Finding] = []
    markers: list[list[str]] = []
    for _, c in cells.iterrows():
        label = cell_label(c)
        m: list[str] = []

        def add(kind: str, message: str | None = None) -> None:
            m.append(MARKERS[kind])
            if message:
                findings.append(Finding(kind, label, message))

        if c["emulated"]:
            add("emulated")
        if c["synthetic"]:
            add("synthetic")
        if c["failed_blocks"]:
            for err in c["errors"] or ["(no error message)"]:
                add("failed", f"block failed: {err}")
        if c["n"] < min_samples and not (c["n"] == 0 and c["failed_blocks"]):
            add("few_samples", f"only {c['n']} measured samples (< {min_samples}); figures are unreliable")
        if math.isfinite(c["cv"]) and c["cv"] > cv_threshold:
            add("high_cv", f"CV {_fmt_pct(c['cv'])} of {c['n']} samples is above {_fmt_pct(cv_threshold)}; "
                           "the device was not stable (background load, thermal, frequency scaling)")
        if c["throttled_samples"]:
            headroom = (f", max thermal headroom {c['max_thermal_headroom']:.2f}"
                        if math.isfinite(c["max_thermal_headroom"]) else "")
            add("throttled", f"{c['throttled_samples']} of {c['n']} measured samples taken while thermal status "
                             f">= {THROTTLED_THERMAL_STATUS} or thermal headroom >= {THROTTLED_HEADROOM:g} "
                             f"(max status {c['max_thermal_status']:.0f}{headroom}); cool down and rerun")
        if c["variant"] in QUANTIZED_VARIANTS and c["n"] + c["n_warmup"] > 0:
            same_size = math.isfinite(c["_ref_size"]) and c["size_bytes"] == c["_ref_size"]
            same_census = c["weight_census"] is not None and c["weight_census"] == c["_ref_census"]
            if same_size or same_census:
                what = " and ".join(w for w, f in (("size", same_size), ("weight dtype census", same_census)) if f)
                add("not_quantized", f"'{c['variant']}' has the same {what} as fp32: the model was not really "
                                     "quantized; check the conversion")
        if c["stopped_early_samples"]:
            add("stopped_early", f"{c['stopped_early_samples']} generations stopped before max length "
                                 f"{c['max_length']}; tokens/s and time are not comparable with full generations")
        markers.append(m)
    cells = cells.copy()
    cells["notes"] = [", ".join(m) for m in markers]
    cells = cells.drop(columns=[c for c in ("_ref_census", "_ref_size") if c in cells.columns])
    findings.sort(key=lambda f: list(MARKERS).index(f.kind))

    banners = []
    if len(cells) and cells["emulated"].any():
        aliases = sorted({str(a) for a in cells.loc[cells["emulated"].astype(bool), "device_alias"]})
        banners.append(f"EMULATED DEVICE ({', '.join(aliases)}): rows marked EMULATED were measured on an "
                       "emulator, not a phone; their times say nothing about real hardware.")
    if len(cells) and cells["synthetic"].any():
        models = sorted({str(a) for a in cells.loc[cells["synthetic"].astype(bool), "model_source"]})
        banners.append(f"SYNTHETIC MODEL ({', '.join(models)}): rows marked SYNTHETIC use random weights; "
                       "their outputs and drift are meaningless.")
    failed = []
    if not df.empty:
        fb = df[df["block_status"] == "error"].drop_duplicates(["run_id", "block_id"])
        for _, b in fb.iterrows():
            failed.append({"run_id": b["run_id"], "block_id": b["block_id"], "device": b["device_alias"],
                           "variant": b["variant"], "error": b["block_error"]})
        if failed:
            banners.append(f"{len(failed)} block(s) FAILED; their errors are listed below.")
    run_ids = sorted({str(r) for r in df["run_id"].dropna()}) if not df.empty else []
    return Report(cells=cells, findings=findings, banners=banners, failed=failed, run_ids=run_ids,
                  cv_threshold=cv_threshold, min_samples=min_samples)


# ---------------------------------------------------------------- shared formatting

def _isnan(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def fmt_value(v: Any, kind: str) -> str:
    """Format one figure for tables; missing values are '—'."""
    if _isnan(v):
        return "—"
    if kind == "int":
        return str(int(v))
    if kind == "pct":
        return _fmt_pct(v)
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


def _finding_lines(report: Report) -> list[str]:
    return [f"[{MARKERS[f.kind]}] {f.cell}: {f.message}" if f.cell else f"[{MARKERS[f.kind]}] {f.message}"
            for f in report.findings]


def _footer(report: Report) -> str:
    return (f"n = measured samples per cell (warmups counted apart). Times are medians of wall time per "
            f"generation; speedup = fp32 median / this median; CV warning above {_fmt_pct(report.cv_threshold)}, "
            f"few-samples warning below {report.min_samples}. Runs: {', '.join(report.run_ids) or '—'}.")


# ---------------------------------------------------------------- renderers

def render_terminal(report: Report, console: Any = None) -> None:
    """Print the report as a rich table, banners first and warnings after."""
    from rich.console import Console
    from rich.table import Table

    if console is None:
        import sys

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
    for line in _finding_lines(report):
        console.print(line, style="yellow", highlight=False, markup=False)
    console.print(_footer(report), style="dim", highlight=False, markup=False)


def _md_escape(s: str) -> str:
    return s.replace("|", "\\|")


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub pipe table; numbers right-aligned."""
    left = {"device", "model", "variant", "export", "notes", "cell", "verdict"}
    out = ["| " + " | ".join(_md_escape(h) for h in header) + " |",
           "|" + "|".join(":---" if h in left else "---:" for h in header) + "|"]
    out += ["| " + " | ".join(_md_escape(v) for v in r) + " |" for r in rows]
    return "\n".join(out)


def render_markdown(report: Report) -> str:
    """Release-notes-ready markdown: banners, constant columns stated once, the table, warnings."""
    parts = []
    for b in report.banners:
        parts.append(f"> **Warning:** {b}")
    header, rows, lines = table_rows(report)
    if lines:
        parts.append("\n".join(f"- {line}" for line in lines))
    parts.append(markdown_table(header, rows) if rows else "_no measurements_")
    findings = _finding_lines(report)
    if findings:
        parts.append("**Warnings**\n\n" + "\n".join(f"- {_md_escape(f)}" for f in findings))
    parts.append(f"_{_footer(report)}_")
    return "\n\n".join(parts) + "\n"


CSV_COLUMNS = CELL_KEYS + [c for c, _, _ in DISPLAY_METRICS] + [
    "n_warmup", "runs", "blocks", "failed_blocks", "size_bytes", "throttled_samples", "stopped_early_samples",
    "int8_share", "app_version", "model_sha256", "notes"]


def render_csv(report: Report) -> str:
    """One CSV row per cell, every identity and metric column (floats rounded to 4 decimals)."""
    if report.cells.empty:
        return ",".join(CSV_COLUMNS) + "\n"
    out = report.cells.reindex(columns=CSV_COLUMNS).copy()
    for col in out.columns:
        if out[col].dtype.kind == "f":
            out[col] = out[col].round(4)
    return out.to_csv(index=False, lineterminator="\n")


def _jsonable(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float):
        return None if math.isnan(v) else round(v, 6)
    return v


def report_dict(report: Report) -> dict:
    """The report as plain data (what ``render_json`` prints)."""
    cells = []
    for _, c in report.cells.iterrows():
        d = {k: _jsonable(c[k]) for k in CSV_COLUMNS if k in c and k != "notes"}
        d["notes"] = [n for n in (c["notes"] or "").split(", ") if n]
        d["label"] = cell_label(c)
        cells.append(d)
    return {"schema": REPORT_JSON_SCHEMA, "run_ids": report.run_ids,
            "params": {"cv_threshold": report.cv_threshold, "min_samples": report.min_samples},
            "banners": report.banners,
            "warnings": [{"kind": f.kind, "cell": f.cell, "message": f.message} for f in report.findings],
            "failed_blocks": report.failed, "cells": cells}


def render_json(report: Report) -> str:
    return dumps_stable(report_dict(report))


# ---------------------------------------------------------------- HTML

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1600px}
h1{font-size:1.5em} h2{font-size:1.2em;margin-top:1.6em}
.banner{background:#fde2e1;border-left:6px solid #c62828;padding:8px 12px;margin:6px 0;font-weight:600}
table{border-collapse:collapse;font-size:12px;margin:8px 0}
th,td{border:1px solid #ccc;padding:2px 5px;text-align:right;white-space:nowrap}
th{background:#f0f0f0} td.l{text-align:left} tr.warn td{background:#fff8e1}
ul.warnings li{margin:2px 0} .scroll{overflow-x:auto} .const{color:#444} .plot{margin:10px 0} .plot svg{max-width:100%;height:auto} .foot{color:#666;font-size:12px}
"""


def _log_scale_if_wide(set_scale, values) -> None:
    """Log scale (``ax.set_xscale``/``set_yscale``) when the values span a decade or more;
    below that a log axis gets no labelled major tick, so it stays linear."""
    vals = [float(v) for v in values if v and v > 0]
    if vals and max(vals) / min(vals) >= 10:
        set_scale("log")


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    text = buf.getvalue()
    return text[text.index("<svg"):]


def _variant_colors(variants: list[str]) -> dict[str, str]:
    palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"]
    ordered = sorted(set(variants), key=_variant_rank)
    return {v: palette[i % len(palette)] for i, v in enumerate(ordered)}


def _short_label(c: Any, group: pd.DataFrame) -> str:
    """Variant, plus whichever of max length / context window / threads varies within the panel."""
    s = str(c["variant"])
    for col, prefix in (("max_length", "L"), ("context_window_words", "cw"), ("threads", "t")):
        if group[col].nunique(dropna=False) > 1:
            s += f"\n{prefix}{c[col]}"
    return s


def plot_svgs(report: Report, df: pd.DataFrame) -> list[tuple[str, str]]:
    """(title, inline SVG) for each plot that has data."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    cells = report.cells[report.cells["n"] > 0] if len(report.cells) else report.cells
    if cells.empty:
        return []
    measured = df[(df["phase"] == "measured") & df["wall_ms"].notna()]
    by_cell = {tuple(map(str, k)): g["wall_ms"].to_numpy()
               for k, g in measured.groupby(CELL_KEYS, dropna=False, sort=False)}
    colors = _variant_colors([str(v) for v in cells["variant"]])
    out = []
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "harness", "font.size": 9}):
        # 1. latency distribution per variant (box + strip), one panel per device x model x export
        groups = list(cells.groupby(["device_alias", "model_source", "export"], sort=False))
        # panels stacked vertically, so many cells never make the page scroll sideways
        most = max(len(gc) for _, gc in groups)
        fig = Figure(figsize=(min(MAX_PLOT_WIDTH_IN, max(6.0, 0.7 * most + 1.5)), 3.6 * len(groups) + 0.6))
        axes = fig.subplots(len(groups), 1, squeeze=False)[:, 0]
        for ax, ((dev, model, export), gc) in zip(axes, groups):
            data, labels, cols = [], [], []
            for _, c in gc.iterrows():
                key = tuple(str(c[k]) for k in CELL_KEYS)
                data.append(by_cell[key] if key in by_cell else np.array([]))
                labels.append(_short_label(c, gc))
                cols.append(colors[str(c["variant"])])
            ax.boxplot(data, showfliers=False, widths=0.55)
            ax.set_xticks(range(1, len(labels) + 1), labels)
            for i, (vals, col) in enumerate(zip(data, cols), start=1):
                if len(vals) > MAX_STRIP_POINTS:   # keep the SVG small: evenly spaced order statistics
                    vals = np.sort(vals)[np.linspace(0, len(vals) - 1, MAX_STRIP_POINTS).astype(int)]
                jitter = [i + ((j * 0.6180339) % 1 - 0.5) * 0.3 for j in range(len(vals))]
                ax.scatter(jitter, vals, s=10, color=col, alpha=0.75, zorder=3)
            tag = " [EMULATED]" if gc["emulated"].any() else ""
            tag += " [SYNTHETIC]" if gc["synthetic"].any() else ""
            ax.set_title(f"{dev} · {model} · {export}{tag}", fontsize=9)
            ax.set_ylabel("wall time per generation (ms)")
            ax.grid(axis="y", alpha=0.3)
        fig.suptitle("Latency distribution per variant (measured samples)")
        fig.tight_layout()
        out.append(("Latency distribution per variant", _svg(fig)))

        # 2. latency vs model size
        sized = cells[cells["size_mb"].notna() & cells["median_ms"].notna()]
        if len(sized):
            fig = Figure(figsize=(7, 4.5))
            ax = fig.subplots()
            markers = "osD^v<>"
            devices = list(dict.fromkeys(sized["device_alias"]))
            for _, c in sized.iterrows():
                ax.scatter(c["size_mb"], c["median_ms"], color=colors[str(c["variant"])],
                           marker=markers[devices.index(c["device_alias"]) % len(markers)], s=40, zorder=3)
            from matplotlib.lines import Line2D
            handles = [Line2D([], [], color=colors[v], marker="o", ls="", label=v) for v in colors] + \
                      [Line2D([], [], color="#555", marker=markers[i % len(markers)], ls="",
                              label=f"{d}{' (emulated)' if sized.loc[sized.device_alias == d, 'emulated'].any() else ''}")
                       for i, d in enumerate(devices)]
            ax.legend(handles=handles, fontsize=8)
            _log_scale_if_wide(ax.set_xscale, sized["size_mb"]); _log_scale_if_wide(ax.set_yscale, sized["median_ms"])
            ax.set_xlabel("model size (MB)"); ax.set_ylabel("median wall time (ms)")
            ax.set_title("Latency vs model size"); ax.grid(alpha=0.3, which="both")
            out.append(("Latency vs model size", _svg(fig)))

        # 3. tokens/s per device
        tps = cells[cells["tokens_per_s"].notna()]
        if len(tps):
            fig = Figure(figsize=(8, 0.32 * len(tps) + 1.6))
            ax = fig.subplots()
            labels = [f"{c['device_alias']}{' [EMULATED]' if c['emulated'] else ''} · {c['variant']} · "
                      f"L{c['max_length']} t{c['threads']}" for _, c in tps.iterrows()]
            ys = list(range(len(tps)))[::-1]
            ax.barh(ys, tps["tokens_per_s"], color=[colors[str(v)] for v in tps["variant"]])
            ax.set_yticks(ys, labels)
            ax.set_xlabel("tokens/s (median of measured samples)")
            ax.set_title("Tokens per second per device")
            ax.grid(axis="x", alpha=0.3)
            out.append(("Tokens per second per device", _svg(fig)))

        # 4. time vs max length, when a sweep has several max lengths
        sweep_keys = ["device_alias", "model_source", "export", "context_window_words", "threads"]
        sweeps = [(k, g) for k, g in cells.groupby(sweep_keys, sort=False) if g["max_length"].nunique() > 1]
        if sweeps:
            fig = Figure(figsize=(max(6.0, 4.5 * len(sweeps)), 4.2))
            axes = fig.subplots(1, len(sweeps), squeeze=False)[0]
            for ax, (key, g) in zip(axes, sweeps):
                for v, gv in g.groupby("variant", sort=False):
                    gv = gv.sort_values("max_length")
                    ax.errorbar(gv["max_length"], gv["median_ms"], yerr=gv["mad_ms"], marker="o",
                                capsize=3, color=colors[str(v)], label=str(v))
                ax.set_xlabel("max length (tokens)"); ax.set_ylabel("median wall time (ms, ± MAD)")
                ax.set_title(f"{key[0]} · {key[1]} · {key[2]} · cw{key[3]} · t{key[4]}", fontsize=9)
                ax.legend(fontsize=8); ax.grid(alpha=0.3)
            fig.suptitle("Time vs max length")
            out.append(("Time vs max length", _svg(fig)))
    return out


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
    findings = _finding_lines(report)
    if findings:
        parts.append('<h2>Warnings</h2><ul class="warnings">'
                     + "".join(f"<li>{html.escape(f)}</li>" for f in findings) + "</ul>")
    for title, svg in plot_svgs(report, df):
        parts.append(f'<h2>{html.escape(title)}</h2><div class="plot">{svg}</div>')
    parts.append(f'<p class="foot">{html.escape(_footer(report))}</p></body></html>')
    return "\n".join(parts) + "\n"


# ---------------------------------------------------------------- CLI glue

def render(report: Report, df: pd.DataFrame, fmt: str) -> str:
    """Render to text in one of FORMATS (terminal: plain text as a wide console would show it)."""
    if fmt == "markdown":
        return render_markdown(report)
    if fmt == "csv":
        return render_csv(report)
    if fmt == "json":
        return render_json(report)
    if fmt == "html":
        return render_html(report, df)
    if fmt == "terminal":
        from rich.console import Console
        buf = io.StringIO()
        render_terminal(report, Console(file=buf, width=220, color_system=None))
        return buf.getvalue()
    raise UserError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")


def main(paths: list[str], fmt: str, output: str | None, results_dir: Path,
         cv_threshold: float, min_samples: int) -> int:
    """`harness report`: load result files (paths, run ids, baseline names; default all of results_dir),
    render in ``fmt`` to ``output`` (None or '-' = stdout). Returns the exit code (0)."""
    if fmt not in FORMATS:
        raise UserError(f"unknown report format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not cv_threshold > 0:
        raise UserError(f"--cv-threshold must be > 0, got {cv_threshold}")
    if min_samples < 1:
        raise UserError(f"--min-samples must be >= 1, got {min_samples}")
    df = load_frame(list(paths) or None, Path(results_dir))
    report = build_report(df, cv_threshold=cv_threshold, min_samples=min_samples)
    if output in (None, "-"):
        if fmt == "terminal":
            render_terminal(report)
        else:
            sys.stdout.write(render(report, df, fmt))
        return 0
    try:
        Path(output).write_text(render(report, df, fmt), encoding="utf-8")
    except OSError as e:
        raise UserError(f"{output}: cannot write report ({e.strerror})") from None
    return 0
