"""The tidy sample frame -> one row of figures per cell, and each variant against fp32.

A *cell* is one device x model x variant x export x max length x context window x
threads x delegate. Every figure is recomputed from raw samples; warmups are counted apart and
never enter the measured statistics. The work is done on numpy arrays per group (a
pandas operation per figure per cell would cost seconds at 100,000 samples).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from harness.analysis import stats
from harness.convert import variants as variants_mod

THROTTLED_THERMAL_STATUS = 2      # Android PowerManager THERMAL_STATUS_MODERATE ("severe" and up = 3+)
THROTTLED_HEADROOM = 1.0          # PowerManager.getThermalHeadroom: 1.0 = the severe-throttling threshold
BYTES_PER_MB = 1_000_000          # model sizes in MB (10^6 bytes), like file managers
KIB_PER_MIB = 1024                # memory (VmHWM) in MiB
SPEEDUP_CONFIDENCE = 0.95         # of the speedup's interval against fp32
REFERENCE_VARIANT = variants_mod.reference()

CELL_KEYS = ["device_alias", "device_fingerprint", "emulated", "model_source", "synthetic",
             "variant", "export", "max_length", "context_window_words", "threads", "delegate"]
# The reference (fp32) cell shares everything but the variant.
REFERENCE_KEYS = [k for k in CELL_KEYS if k != "variant"]
_FLOAT = ["wall_ms", "tokens_generated", "prompt_index", "size_bytes", "load_ms", "vmhwm_kb", "rss_before_load_kb",
          "prefill_ms", "decode_tokens_per_s", "thermal_status_before", "thermal_status_after",
          "thermal_headroom_before", "thermal_headroom_after", "thermal_headroom_before_age_ms",
          "thermal_headroom_after_age_ms", "interactive_before", "interactive_after",
          "int8_share", "index", "drift_token_agreement"]
_OBJECT = ["phase", "block_status", "run_id", "block_id", "stopped_early", "weight_census", "op_census", "app_version",
           "model_sha256", "block_error", "timestamp", "harness_commit"]


def _nanmedian(a: np.ndarray) -> float:
    a = a[np.isfinite(a)]
    return float(np.median(a)) if a.size else math.nan


def _nanmax(a: np.ndarray) -> float:
    a = a[np.isfinite(a)]
    return float(a.max()) if a.size else math.nan


def key_of(values) -> tuple:
    """A cell key that compares equal to itself (NaN -> None), for dictionaries."""
    return tuple(None if v is None or (isinstance(v, float) and math.isnan(v)) else v for v in values)


def _distinct(values: np.ndarray) -> list[str]:
    return sorted({str(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))})


class Columns:
    """The frame's columns as numpy arrays, plus which row is the first of its block."""

    def __init__(self, df: pd.DataFrame):
        self.a: dict[str, np.ndarray] = {}
        for c in _FLOAT:
            self.a[c] = (pd.to_numeric(df[c], errors="coerce").to_numpy(float) if c in df
                         else np.full(len(df), math.nan))
        for c in _OBJECT:
            self.a[c] = df[c].to_numpy(object) if c in df else np.full(len(df), None, dtype=object)
        self.first_of_block = ~df.duplicated(["run_id", "block_id"]).to_numpy()
        self.first_of_block_phase = ~df.duplicated(["run_id", "block_id", "phase"]).to_numpy()
        self.measured = (self.a["phase"] == "measured") & np.isfinite(self.a["wall_ms"])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.a[name]


def _first_generation_ms(c: Columns, idx: np.ndarray) -> float:
    """First warmup sample of the earliest block if any, else its first measured sample."""
    for phase in ("warmup", "measured"):
        rows = idx[(c["phase"][idx] == phase) & np.isfinite(c["wall_ms"][idx])]
        if rows.size:
            starts = rows[c.first_of_block_phase[rows]]          # one row per block
            block = min(starts, key=lambda i: (str(c["timestamp"][i]), str(c["run_id"][i])))
            same = rows[(c["run_id"][rows] == c["run_id"][block]) & (c["block_id"][rows] == c["block_id"][block])]
            return float(c["wall_ms"][same[np.argmin(c["index"][same])]])
    return math.nan


def _timing(c: Columns, idx: np.ndarray) -> dict:
    m = idx[c.measured[idx]]
    wall = c["wall_ms"][m]
    tok_s = c["tokens_generated"][m] / (wall / 1000.0)
    return {
        "n": int(m.size), "n_warmup": int((c["phase"][idx] == "warmup").sum()),
        "first_ms": _first_generation_ms(c, idx), "median_ms": stats.median(wall),
        "p90_ms": stats.percentile(wall, 90), "mad_ms": stats.mad(wall),
        # Noise within repeats of the same prompt: different prompts differ by design.
        "cv": stats.within_group_cv(wall, np.nan_to_num(c["prompt_index"][m], nan=-1).tolist()),
        "tokens_per_s": _nanmedian(tok_s), "prefill_ms": _nanmedian(c["prefill_ms"][m]),
        "decode_tokens_per_s": _nanmedian(c["decode_tokens_per_s"][m]),
    }


def real_headroom(c: Columns, m: np.ndarray, when: str) -> np.ndarray:
    """Thermal headroom values that were read at that moment: a reused reading (age > 0, the
    app asked Android at most once a second) repeats an earlier one and is not counted again;
    an unknown age (older files) counts as a reading."""
    age = c[f"thermal_headroom_{when}_age_ms"][m]
    return np.where(np.isnan(age) | (age == 0), c[f"thermal_headroom_{when}"][m], np.nan)


def _conditions(c: Columns, idx: np.ndarray) -> dict:
    """Thermal state, the display, and early stops of the measured samples."""
    m = idx[c.measured[idx]]
    status = np.concatenate([c["thermal_status_before"][m], c["thermal_status_after"][m]])
    before, after = real_headroom(c, m, "before"), real_headroom(c, m, "after")
    hot = ((np.nan_to_num(c["thermal_status_before"][m]) >= THROTTLED_THERMAL_STATUS)
           | (np.nan_to_num(c["thermal_status_after"][m]) >= THROTTLED_THERMAL_STATUS)
           | (np.nan_to_num(before) >= THROTTLED_HEADROOM) | (np.nan_to_num(after) >= THROTTLED_HEADROOM))
    # interactive is 1.0/0.0/NaN: 0 = the screen was off or locked at that moment
    dark = (c["interactive_before"][m] == 0) | (c["interactive_after"][m] == 0)
    sampled = idx[np.isin(c["phase"][idx], ["warmup", "measured"])]
    return {"throttled_samples": int(hot.sum()), "max_thermal_status": _nanmax(status),
            "max_thermal_headroom": _nanmax(np.concatenate([before, after])),
            "not_interactive_samples": int(dark.sum()),
            "stopped_early_samples": int((c["stopped_early"][sampled] == True).sum())}  # noqa: E712 (None too)


def _block_figures(c: Columns, idx: np.ndarray) -> dict:
    """Figures of the blocks (one launch each): size, load, memory, census, versions, errors."""
    blocks = idx[c.first_of_block[idx]]
    ok = blocks[c["block_status"][blocks] != "error"]
    vmhwm = c["vmhwm_kb"][ok]
    # What loading and running the model cost: the peak minus the app's resident memory
    # just before the load (Python and TensorFlow on the host, ART on a phone).
    over_base = vmhwm - c["rss_before_load_kb"][ok]
    censuses, ops = _distinct(c["weight_census"][ok]), _distinct(c["op_census"][ok])
    size = stats.median(c["size_bytes"][ok])
    return {
        "runs": len(_distinct(c["run_id"][blocks])), "blocks": int(blocks.size),
        "failed_blocks": int((c["block_status"][blocks] == "error").sum()),
        "size_bytes": size, "size_mb": size / BYTES_PER_MB, "load_ms": stats.median(c["load_ms"][ok]),
        "peak_mem_mib": _nanmax(vmhwm) / KIB_PER_MIB, "model_mem_mib": _nanmax(over_base) / KIB_PER_MIB,
        "drift_token_agreement": stats.median(c["drift_token_agreement"][ok]),
        "int8_share": stats.median(c["int8_share"][ok]),
        "weight_census": censuses[0] if len(censuses) == 1 else None,
        "op_census": ops[0] if len(ops) == 1 else None,
        "app_version": ",".join(_distinct(c["app_version"][blocks])) or None,
        "model_sha256": ",".join(sorted({s[:12] for s in _distinct(c["model_sha256"][ok])})) or None,
        "errors": [str(e) for e in c["block_error"][blocks] if e is not None and e == e],
        "run_ids": ",".join(_distinct(c["run_id"][blocks])),
        "started_at": min(_distinct(c["timestamp"][blocks]), default=None),
        "harness_commit": ",".join(_distinct(c["harness_commit"][blocks])) or None,
    }


def summarise_cells(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[tuple, tuple[np.ndarray, np.ndarray]]]:
    """(one row per cell with every figure, {cell key: (measured wall ms, prompt index)})."""
    if df.empty:
        return pd.DataFrame(columns=CELL_KEYS), {}
    c = Columns(df)
    rows, samples = [], {}
    for key, idx in df.groupby(CELL_KEYS, dropna=False, sort=False).indices.items():
        idx = np.asarray(idx)
        m = idx[c.measured[idx]]
        samples[key_of(key)] = (c["wall_ms"][m], np.nan_to_num(c["prompt_index"][m], nan=-1))
        rows.append({**dict(zip(CELL_KEYS, key)), **_timing(c, idx), **_conditions(c, idx),
                     **_block_figures(c, idx)})
    cells = pd.DataFrame(rows)
    cells["_vrank"] = cells["variant"].map(variants_mod.rank)
    cells = cells.sort_values(["device_alias", "model_source", "export", "max_length",
                               "context_window_words", "threads", "_vrank"], kind="stable", na_position="last")
    return cells.drop(columns="_vrank").reset_index(drop=True), samples


def _speedup(ref: tuple[np.ndarray, np.ndarray], own: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
    """fp32 time / this time, matched prompt by prompt: Hodges-Lehmann point and 95 % interval."""
    nb, nc = stats.normalise_by_group(ref[0], ref[1].tolist(), own[0], own[1].tolist())
    if not nb.size:
        return {"speedup": math.nan, "speedup_low": math.nan, "speedup_high": math.nan}
    est = stats.hodges_lehmann_ratio(nb, nc, SPEEDUP_CONFIDENCE)
    return {"speedup": 1 / est.ratio, "speedup_low": 1 / est.high, "speedup_high": 1 / est.low}


def add_reference_ratios(cells: pd.DataFrame, samples: dict) -> pd.DataFrame:
    """speedup (with its interval) and size ratio against the fp32 cell that shares everything else."""
    records = cells.to_dict("records")
    refs = {key_of(r[k] for k in REFERENCE_KEYS): r for r in records if r["variant"] == REFERENCE_VARIANT}
    extra = []
    for row in records:
        ref = refs.get(key_of(row[k] for k in REFERENCE_KEYS))
        key = key_of(row[k] for k in CELL_KEYS)
        if ref is None or not row["n"] or not ref["n"]:
            figures = _speedup((np.array([]), np.array([])), (np.array([]), np.array([])))
        elif row["variant"] == REFERENCE_VARIANT:
            figures = {"speedup": 1.0, "speedup_low": math.nan, "speedup_high": math.nan}
        else:
            figures = _speedup(samples[key_of(ref[k] for k in CELL_KEYS)], samples[key])
        ref_size = ref["size_bytes"] if ref is not None else math.nan
        figures.update(size_ratio=row["size_bytes"] / ref_size if ref_size else math.nan,
                       _ref_census=ref["weight_census"] if ref is not None else None, _ref_size=ref_size)
        extra.append(figures)
    return pd.concat([cells, pd.DataFrame(extra, index=cells.index)], axis=1) if len(cells) else cells
