"""The summary of a set of runs: one row per cell (``analysis.cells``) and every warning a user must see.

Every reporter shows the same warnings; emulated or synthetic rows always carry a
marker and a banner (pyperf's ``format_checks`` is the model).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import pandas as pd

from harness import contract
from harness.analysis import defaults

from harness.analysis.cells import (BYTES_PER_MB, CELL_KEYS, KIB_PER_MIB, REFERENCE_KEYS,  # noqa: F401
                                    REFERENCE_VARIANT, THROTTLED_HEADROOM, THROTTLED_THERMAL_STATUS,
                                    add_reference_ratios, summarise_cells)
from harness.convert import variants as variants_mod

DEFAULT_CV_THRESHOLD = defaults.REPORT_CV_THRESHOLD
DEFAULT_MIN_SAMPLES = defaults.REPORT_MIN_SAMPLES

# Warning kinds, in the order they are listed, with their per-row marker.
MARKERS = {
    "emulated": "EMULATED", "synthetic": "SYNTHETIC", "failed": "FAILED",
    "few_samples": "few samples", "high_cv": "high CV", "throttled": "throttled",
    "not_interactive": "screen off",
    "not_quantized": "not quantized", "stopped_early": "stopped early",
}
# Markers a banner already states for the whole page: tables leave them out of a row's notes.
BANNER_MARKERS = {MARKERS["emulated"], MARKERS["synthetic"]}


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
    # {cell key (analysis.cells.key_of): (measured wall ms, prompt index)}: what the plots draw
    samples: dict = field(default_factory=dict, repr=False)


def cell_label(row: Any) -> str:
    """Short human label of a cell: 'pixel7 preset:gpt2 dynamic oneshot L128 cw50 t4'."""
    def g(k: str) -> Any:
        v = row[k]
        return "?" if v is None or (isinstance(v, float) and math.isnan(v)) else v
    d = row.get("delegate")
    extra = f" {d}" if isinstance(d, str) and d != contract.DELEGATE_DEFAULT else ""
    return (f"{g('device_alias')} {g('model_source')} {g('variant')} {g('export')} "
            f"L{g('max_length')} cw{g('context_window_words')} t{g('threads')}{extra}")


def fmt_pct(x: float) -> str:
    return f"{x * 100:.1f} %"


# ---------------------------------------------------------------- warnings per cell

def _quality_checks(c: Any, add: Callable[..., None]) -> None:
    """Throttling, fake quantization and early stops of one cell."""
    if c["throttled_samples"]:
        headroom = (f", max thermal headroom {c['max_thermal_headroom']:.2f}"
                    if math.isfinite(c["max_thermal_headroom"]) else "")
        add("throttled", f"{c['throttled_samples']} of {c['n']} measured samples taken while thermal status "
                         f">= {THROTTLED_THERMAL_STATUS} or thermal headroom >= {THROTTLED_HEADROOM:g} "
                         f"(max status {c['max_thermal_status']:.0f}{headroom}); cool down and rerun")
    if c.get("not_interactive_samples"):
        add("not_interactive", f"{c['not_interactive_samples']} of {c['n']} measured samples ran while the screen "
                               "was off or the device locked: a phone then runs the app in the background "
                               "(slower, or frozen); keep it awake and unlocked, and rerun")
    quantized = c["variant"] in variants_mod.VARIANTS and variants_mod.VARIANTS[c["variant"]].quantized
    if quantized and c["n"] + c["n_warmup"] > 0:
        same_size = math.isfinite(c["_ref_size"]) and c["size_bytes"] == c["_ref_size"]
        same_census = c["weight_census"] is not None and c["weight_census"] == c["_ref_census"]
        if same_size or same_census:
            what = " and ".join(w for w, f in (("size", same_size), ("weight dtype census", same_census)) if f)
            add("not_quantized", f"'{c['variant']}' has the same {what} as fp32: the model was not really "
                                 "quantized; check the conversion")
    if c["stopped_early_samples"]:
        add("stopped_early", f"{c['stopped_early_samples']} generations stopped before max length "
                             f"{c['max_length']}; tokens/s and time are not comparable with full generations")


def _cell_findings(c: Any, cv_threshold: float, min_samples: int) -> tuple[list[str], list[Finding]]:
    """(markers of the row, findings) for one cell."""
    label, markers, findings = cell_label(c), [], []

    def add(kind: str, message: str | None = None) -> None:
        markers.append(MARKERS[kind])
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
        add("few_samples", f"only {c['n']} measured samples (< {min_samples}); figures are unreliable; "
                           "rerun with more --runs")
    if math.isfinite(c["cv"]) and c["cv"] > cv_threshold:
        add("high_cv", f"CV {fmt_pct(c['cv'])} of {c['n']} samples is above {fmt_pct(cv_threshold)}; "
                       "the device was not stable (background load, thermal, frequency scaling); rerun on a "
                       "quiet device, with --rounds 3 to spread each cell over time")
    _quality_checks(c, add)
    return markers, findings


def _banners(cells: pd.DataFrame, failed: list[dict]) -> list[str]:
    banners = []
    if len(cells) and cells["emulated"].any():
        aliases = sorted({str(a) for a in cells.loc[cells["emulated"].astype(bool), "device_alias"]})
        banners.append(f"EMULATED DEVICE ({', '.join(aliases)}): rows marked EMULATED were measured on an "
                       "emulator, not a phone; their times say nothing about real hardware.")
    if len(cells) and cells["synthetic"].any():
        models = sorted({str(a) for a in cells.loc[cells["synthetic"].astype(bool), "model_source"]})
        banners.append(f"SYNTHETIC MODEL ({', '.join(models)}): rows marked SYNTHETIC use random weights; "
                       "their outputs and drift are meaningless.")
    if failed:
        banners.append(f"{len(failed)} block(s) FAILED; their errors are listed below.")
    return banners


def _failed_blocks(df: pd.DataFrame) -> list[dict]:
    if df.empty:
        return []
    fb = df[df["block_status"] == "error"].drop_duplicates(["run_id", "block_id"])
    return [{"run_id": b["run_id"], "block_id": b["block_id"], "device": b["device_alias"],
             "variant": b["variant"], "error": b["block_error"]} for _, b in fb.iterrows()]


def build_report(df: pd.DataFrame, *, cv_threshold: float = DEFAULT_CV_THRESHOLD,
                 min_samples: int = DEFAULT_MIN_SAMPLES) -> Report:
    """Aggregate the tidy sample frame into cells and collect every warning a user must see."""
    cells, samples = summarise_cells(df)
    cells = add_reference_ratios(cells, samples) if len(cells) else cells
    findings: list[Finding] = []
    notes = []
    for c in cells.to_dict("records"):
        markers, found = _cell_findings(c, cv_threshold, min_samples)
        notes.append(", ".join(markers))
        findings += found
    cells = cells.copy()
    cells["notes"] = notes
    cells = cells.drop(columns=[c for c in ("_ref_census", "_ref_size") if c in cells.columns])
    findings.sort(key=lambda f: list(MARKERS).index(f.kind))
    failed = _failed_blocks(df)
    run_ids = sorted({str(r) for r in df["run_id"].dropna().unique()}) if not df.empty else []
    return Report(cells=cells, findings=findings, banners=_banners(cells, failed), failed=failed,
                  run_ids=run_ids, cv_threshold=cv_threshold, min_samples=min_samples, samples=samples)
