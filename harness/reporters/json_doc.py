"""The report as JSON (``harness-report/1``): cells, warnings, banners and failed blocks as plain data."""
from __future__ import annotations

import math
from typing import Any

import pandas as pd

from harness.analysis.summary import Report, cell_label
from harness.reporters.csv_table import CSV_COLUMNS
from harness.results.frame import dumps_stable

REPORT_JSON_SCHEMA = "harness-report/1"


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


def render(report: Report, df: pd.DataFrame, *, wide: bool = False) -> str:
    return render_json(report)
