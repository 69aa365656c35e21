"""The report as CSV: one row per cell, every identity and metric column, and where it came from."""
from __future__ import annotations

import pandas as pd

from harness.analysis.summary import CELL_KEYS, Report
from harness.reporters.table import DISPLAY_METRICS

# Every row says which runs it comes from, when, and which harness commit measured it.
PROVENANCE = ["run_ids", "started_at", "harness_commit"]
CSV_COLUMNS = CELL_KEYS + [c for c, _, _ in DISPLAY_METRICS if c != "speedup_ci"] + [
    "speedup_low", "speedup_high", "n_warmup", "blocks", "failed_blocks", "size_bytes",
    "throttled_samples", "stopped_early_samples", "int8_share", "app_version", "model_sha256", *PROVENANCE, "notes"]


def render_csv(report: Report) -> str:
    """One CSV row per cell, every identity and metric column (floats rounded to 4 decimals)."""
    if report.cells.empty:
        return ",".join(CSV_COLUMNS) + "\n"
    out = report.cells.reindex(columns=CSV_COLUMNS).copy()
    for col in out.columns:
        if out[col].dtype.kind == "f":
            out[col] = out[col].round(4)
    return out.to_csv(index=False, lineterminator="\n")


def render(report: Report, df: pd.DataFrame, *, wide: bool = False) -> str:
    return render_csv(report)
