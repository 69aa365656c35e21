"""The tidy sample frame -> one summary row per cell, and every warning a user must see.

A *cell* is one device x model x variant x export x max length x context window x
threads. Every figure is recomputed from raw samples (``harness.results.frame``);
warmups are counted apart and never enter the measured statistics. Every reporter
shows the same warnings, and emulated or synthetic rows always carry a marker and a
banner (pyperf's ``format_checks`` is the model).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from harness.analysis import stats
from harness.convert import variants as variants_mod

DEFAULT_CV_THRESHOLD = 0.05       # fraction of the mean (5 %)
DEFAULT_MIN_SAMPLES = 5           # measured samples per cell
THROTTLED_THERMAL_STATUS = 2      # Android PowerManager THERMAL_STATUS_MODERATE ("severe" and up = 3+)
THROTTLED_HEADROOM = 1.0          # PowerManager.getThermalHeadroom: 1.0 = the severe-throttling threshold
BYTES_PER_MB = 1_000_000          # model sizes in MB (10^6 bytes), like file managers
KIB_PER_MIB = 1024                # memory (VmHWM) in MiB
REFERENCE_VARIANT = variants_mod.reference()

CELL_KEYS = ["device_alias", "device_fingerprint", "emulated", "model_source", "synthetic",
             "variant", "export", "max_length", "context_window_words", "threads"]
# The reference (fp32) cell shares everything but the variant.
REFERENCE_KEYS = [k for k in CELL_KEYS if k != "variant"]

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
    cells["_vrank"] = cells["variant"].map(variants_mod.rank)
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


def fmt_pct(x: float) -> str:
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
            add("high_cv", f"CV {fmt_pct(c['cv'])} of {c['n']} samples is above {fmt_pct(cv_threshold)}; "
                           "the device was not stable (background load, thermal, frequency scaling)")
        if c["throttled_samples"]:
            headroom = (f", max thermal headroom {c['max_thermal_headroom']:.2f}"
                        if math.isfinite(c["max_thermal_headroom"]) else "")
            add("throttled", f"{c['throttled_samples']} of {c['n']} measured samples taken while thermal status "
                             f">= {THROTTLED_THERMAL_STATUS} or thermal headroom >= {THROTTLED_HEADROOM:g} "
                             f"(max status {c['max_thermal_status']:.0f}{headroom}); cool down and rerun")
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
