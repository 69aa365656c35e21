"""The regression gate: baseline vs candidate, per cell, with named baselines.

Cells are matched on what makes two measurements comparable: device (build
fingerprint), model *source* (two conversions of one model have different
sha256, so the hash is shown but not matched), variant, export, max length,
context window and threads. Comparing across devices or models is refused
unless explicitly allowed.

Per cell: ratio of medians candidate/baseline, a Hodges-Lehmann ratio with a
distribution-free CI (on log times), the two-sided Mann-Whitney p-value and a
verdict. ``slower`` needs BOTH p < alpha AND ratio > 1 + min_effect (asv's
rule); everything else is said out loud as "no significant change".
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from harness.analysis import stats
from harness.errors import UserError

DEFAULT_MIN_EFFECT = 0.05   # fraction: 5 % slower before a significant change counts as a regression
DEFAULT_ALPHA = 0.05        # Mann-Whitney two-sided significance level
CONFIDENCE = 0.95           # of the ratio's CI
EXIT_OK = 0
EXIT_REGRESSION = 1

MATCH_KEYS = ["device_fingerprint", "model_source", "variant", "export", "max_length",
              "context_window_words", "threads"]


@dataclass
class Comparison:
    """Per-cell results (``rows``), cells present on one side only, and notes shown to the user."""

    rows: pd.DataFrame
    only_baseline: list[str]
    only_candidate: list[str]
    notes: list[str] = field(default_factory=list)
    min_effect: float = DEFAULT_MIN_EFFECT
    alpha: float = DEFAULT_ALPHA

    @property
    def regressions(self) -> pd.DataFrame:
        return self.rows[self.rows["verdict"] == stats.SLOWER] if len(self.rows) else self.rows


def exit_code(comparison: Comparison) -> int:
    """0 when nothing regressed, 1 when any cell is ``slower``."""
    return EXIT_REGRESSION if len(comparison.regressions) else EXIT_OK


def _measured(df: pd.DataFrame) -> pd.DataFrame:
    return df[(df["phase"] == "measured") & df["wall_ms"].notna()]


def _single(values: pd.Series) -> set[str]:
    return {str(v) for v in values.dropna().unique()}


def _match_keys(base: pd.DataFrame, cand: pd.DataFrame, allow_cross_device: bool,
                allow_cross_model: bool, notes: list[str]) -> list[str]:
    """Choose the matching columns, refusing cross-device / cross-model comparisons unless allowed."""
    keys = list(MATCH_KEYS)
    bd, cd = _single(base["device_fingerprint"]), _single(cand["device_fingerprint"])
    if bd and cd and not (bd & cd):
        if not allow_cross_device:
            raise UserError(
                f"baseline and candidate were measured on different devices "
                f"({', '.join(sorted(_single(base['device_alias'])))} vs "
                f"{', '.join(sorted(_single(cand['device_alias'])))}: no common build fingerprint); "
                "pass --allow-cross-device to compare anyway")
        keys.remove("device_fingerprint")
        ba, ca = _single(base["device_alias"]), _single(cand["device_alias"])
        if len(ba) > 1 or len(ca) > 1:
            keys.insert(0, "device_alias")
            notes.append("cross-device comparison: devices matched by alias, not by build fingerprint")
        else:
            notes.append(f"cross-device comparison: {', '.join(ba)} (baseline) vs {', '.join(ca)} (candidate)")
    bm, cm = _single(base["model_source"]), _single(cand["model_source"])
    if bm and cm and not (bm & cm):
        if not allow_cross_model:
            raise UserError(
                f"baseline and candidate measured different models ({', '.join(sorted(bm))} vs "
                f"{', '.join(sorted(cm))}); pass --allow-cross-model to compare anyway")
        keys.remove("model_source")
        if len(bm) > 1 or len(cm) > 1:
            raise UserError("cross-model comparison needs one model on each side")
        notes.append(f"cross-model comparison: {', '.join(bm)} (baseline) vs {', '.join(cm)} (candidate)")
    return keys


def _label(key: dict) -> str:
    dev = key.get("device_alias") or key.get("_alias", "?")
    return (f"{dev} {key.get('model_source', '')} {key['variant']} {key['export']} "
            f"L{key['max_length']} cw{key['context_window_words']} t{key['threads']}").replace("  ", " ")


def compare(baseline_df: pd.DataFrame, candidate_df: pd.DataFrame, *, min_effect: float = DEFAULT_MIN_EFFECT,
            alpha: float = DEFAULT_ALPHA, allow_cross_device: bool = False,
            allow_cross_model: bool = False) -> Comparison:
    """Compare measured wall times cell by cell (see the module docstring for the rule)."""
    if not 0 < alpha < 1:
        raise UserError(f"alpha must be within (0, 1), got {alpha}")
    if min_effect < 0:
        raise UserError(f"min effect must be >= 0, got {min_effect}")
    base, cand = _measured(baseline_df), _measured(candidate_df)
    if base.empty:
        raise UserError("baseline has no measured samples")
    if cand.empty:
        raise UserError("candidate has no measured samples")
    notes: list[str] = []
    keys = _match_keys(base, cand, allow_cross_device, allow_cross_model, notes)
    bg = {k: g for k, g in base.groupby(keys, dropna=False, sort=False)}
    cg = {k: g for k, g in cand.groupby(keys, dropna=False, sort=False)}

    def label_of(k: tuple, g: pd.DataFrame) -> str:
        d = dict(zip(keys, k))
        d["_alias"] = "/".join(sorted(_single(g["device_alias"])))
        if "model_source" not in d:
            d["model_source"] = "/".join(sorted(_single(g["model_source"])))
        return _label(d)

    rows = []
    for k, b in bg.items():
        if k not in cg:
            continue
        c = cg[k]
        bw, cw = b["wall_ms"].tolist(), c["wall_ms"].tolist()
        mb, mc = stats.median(bw), stats.median(cw)
        ratio = mc / mb if mb else math.nan
        hl = stats.hodges_lehmann_ratio(bw, cw, CONFIDENCE)
        p = stats.mann_whitney_p(bw, cw)
        sha_b, sha_c = _single(b["model_sha256"]), _single(c["model_sha256"])
        row_notes = []
        if sha_b != sha_c:
            row_notes.append("model file differs")
        if b["emulated"].any() or c["emulated"].any():
            row_notes.append("EMULATED")
        if b["synthetic"].any() or c["synthetic"].any():
            row_notes.append("SYNTHETIC")
        rows.append({
            "cell": label_of(k, c), **dict(zip(keys, k)),
            "n_baseline": len(bw), "n_candidate": len(cw),
            "median_baseline_ms": mb, "median_candidate_ms": mc, "ratio": ratio,
            "hl_ratio": hl.ratio, "ci_low": hl.low, "ci_high": hl.high, "p_value": p,
            "verdict": stats.verdict(ratio, p, alpha=alpha, min_effect=min_effect),
            "notes": ", ".join(row_notes),
        })
    only_b = [label_of(k, g) for k, g in bg.items() if k not in cg]
    only_c = [label_of(k, g) for k, g in cg.items() if k not in bg]
    if not rows:
        notes.append("no cell was measured on both sides")
    elif any("EMULATED" in r["notes"] for r in rows):
        notes.append("rows marked EMULATED were measured on an emulator, not a phone")
    if rows and any("SYNTHETIC" in r["notes"] for r in rows):
        notes.append("rows marked SYNTHETIC use a model with random weights")
    return Comparison(rows=pd.DataFrame(rows), only_baseline=only_b, only_candidate=only_c,
                      notes=notes, min_effect=min_effect, alpha=alpha)
