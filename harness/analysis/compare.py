"""The regression gate: baseline vs candidate, cell by cell, with one verdict per cell.

Cells are matched on what makes two measurements comparable: device (build
fingerprint), model *source* (two conversions of one model have different sha256,
so the hash is shown but not matched), variant, export, max length, context window
and threads. Comparing across devices or models is refused unless allowed; a cell
measured on one side only, or no cell in common, is an error (exit 2), not a pass.

Per cell, times are divided per prompt by a common constant (``stats.normalise_by_group``)
so that prompts of different lengths are not counted as noise. The unit of comparison is
then the BLOCK (one app process, one stretch of time) when each side has at least
``min_blocks`` of them: samples of one process are not independent — on the emulated phone
whole processes have sat up to 1.8x apart while their own samples agreed (docs/reports.md) — so each
block gives one value (the median of its normalised times) and the ratio, its 95 % interval
and p come from Welch's t on the logs of those values. With fewer blocks (``--rounds 1``) the
samples are the unit: a Hodges-Lehmann ratio with Moses' interval and the Mann-Whitney p,
and a cell whose within-prompt CV is above the threshold is *unstable*; process-to-process
variation is not measured there and the comparison says so. Either way, Holm's correction
over all cells, and the verdict of ``stats.verdict``: *slower* only when the corrected p <
alpha AND the interval's lower bound > 1 + min effect; *unstable* when a side has too few
samples, or the interval is too wide to rule a regression in or out.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from harness.analysis import defaults, stats
from harness.analysis.cells import key_of
from harness.errors import UserError

DEFAULT_MIN_EFFECT = defaults.GATE_MIN_EFFECT
DEFAULT_ALPHA = defaults.GATE_ALPHA
DEFAULT_CV_THRESHOLD = defaults.GATE_CV_THRESHOLD
DEFAULT_MIN_SAMPLES = defaults.GATE_MIN_SAMPLES
DEFAULT_MIN_BLOCKS = defaults.GATE_MIN_BLOCKS
BLOCKS, SAMPLES = "blocks", "samples"     # the unit a cell was judged on
CONFIDENCE = 0.95           # of the ratio's interval
EXIT_OK = 0
EXIT_REGRESSION = 1

MATCH_KEYS = ["device_fingerprint", "model_source", "variant", "export", "max_length",
              "context_window_words", "threads", "delegate"]
# How a matched key reads in a cell label (the device is shown by alias).
_LABEL = {"device_fingerprint": ("device_alias", ""), "device_alias": ("device_alias", ""),
          "model_source": ("model_source", ""), "variant": ("variant", ""), "export": ("export", ""),
          "max_length": ("max_length", "L"), "context_window_words": ("context_window_words", "cw"),
          "threads": ("threads", "t"), "delegate": ("delegate", "")}


@dataclass(frozen=True)
class Settings:
    """The gate's parameters, as the user set them."""

    min_effect: float = DEFAULT_MIN_EFFECT
    alpha: float = DEFAULT_ALPHA
    cv_threshold: float = DEFAULT_CV_THRESHOLD
    min_samples: int = DEFAULT_MIN_SAMPLES
    min_blocks: int = DEFAULT_MIN_BLOCKS
    confidence: float = CONFIDENCE

    def check(self) -> "Settings":
        if not 0 < self.alpha < 1:
            raise UserError(f"--alpha must be within (0, 1), got {self.alpha}")
        if not 0 <= self.min_effect < 1:
            raise UserError(f"--min-effect must be within [0, 1), got {self.min_effect}")
        if not self.cv_threshold > 0:
            raise UserError(f"--cv-threshold must be above 0, got {self.cv_threshold}")
        if self.min_samples < 2:
            raise UserError(f"--min-samples must be at least 2, got {self.min_samples}")
        if self.min_blocks < 2:
            raise UserError(f"--min-blocks must be at least 2, got {self.min_blocks}")
        return self


@dataclass(frozen=True)
class Side:
    """One side as the user named it, with what its result files say: runs, dates, commits."""

    given: str
    name: str | None = None              # the baseline's saved name, when it is one
    run_ids: tuple[str, ...] = ()
    started: tuple[str, ...] = ()        # ISO times
    commits: tuple[str, ...] = ()        # harness git commits

    @classmethod
    def from_docs(cls, given: str, docs) -> "Side":
        """From the loaded RunDocuments of this side (a baseline document names its source runs)."""
        run_ids, started, commits, name = [], [], [], None
        for doc in docs:
            info = doc.baseline or {}
            name = name or info.get("name")
            run_ids += [str(r) for r in info.get("runs") or []] or [doc.run_id]
            if doc.started_at:
                started.append(str(doc.started_at))
            commit = (doc.harness or {}).get("git_commit")
            if commit:
                commits.append(str(commit))
        return cls(given, name, tuple(dict.fromkeys(run_ids)), tuple(sorted(set(started))),
                   tuple(dict.fromkeys(commits)))

    @property
    def title(self) -> str:
        """The short name used in the summary line: the baseline name, else what was given."""
        return self.name or self.given

    def describe(self) -> str:
        """'v1.2 — run 20261201T010123Z-a8eff8, 2026-12-01 01:01 UTC, harness c19025b'."""
        parts = []
        if self.run_ids != (self.given,):
            ids = self.run_ids if len(self.run_ids) <= 3 else (self.run_ids[0], "…", self.run_ids[-1])
            parts.append(f"run {self.run_ids[0]}" if len(self.run_ids) == 1
                         else f"{len(self.run_ids)} runs ({', '.join(ids)})")
        if self.started:
            first, last = _short_time(self.started[0]), _short_time(self.started[-1])
            parts.append(first if first == last else f"{first} … {last}")
        if self.commits:
            parts.append("harness " + ", ".join(c[:7] for c in self.commits))
        head = self.title if self.title == self.given else f"{self.title} ({self.given})"
        return f"{head} — {', '.join(parts)}" if parts else head


def _short_time(iso: str) -> str:
    return iso[:16].replace("T", " ") + (" UTC" if iso.endswith(("Z", "+00:00")) else "")


@dataclass
class Comparison:
    """Per-cell results (``rows``), what was compared, warnings and notes shown to the user."""

    rows: pd.DataFrame
    settings: Settings = field(default_factory=Settings)
    baseline: Side = field(default_factory=lambda: Side("baseline"))
    candidate: Side = field(default_factory=lambda: Side("candidate"))
    constant: list[str] = field(default_factory=list)      # label parts shared by every cell
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    only_baseline: list[str] = field(default_factory=list)
    only_candidate: list[str] = field(default_factory=list)

    def having(self, verdict: str) -> pd.DataFrame:
        return self.rows[self.rows["verdict"] == verdict] if len(self.rows) else self.rows

    @property
    def regressions(self) -> pd.DataFrame:
        return self.having(stats.SLOWER)


def exit_code(comparison: Comparison, fail_on_unstable: bool = False) -> int:
    """1 when any cell is slower (or unstable, with ``fail_on_unstable``), else 0."""
    failing = len(comparison.regressions) + (len(comparison.having(stats.UNSTABLE)) if fail_on_unstable else 0)
    return EXIT_REGRESSION if failing else EXIT_OK


def _pct(ratio: float) -> str:
    return f"{(ratio - 1) * 100:+.1f} %".replace("-", "−")


def summary_line(comparison: Comparison, fail_on_unstable: bool = False) -> str:
    """The one line a release manager scans for: 'FAIL: 1 of 3 cells slower than v1.2 (fp32 +19.8 %)'."""
    cmp, base = comparison, comparison.baseline.title
    n = len(cmp.rows)
    slow, unstable, fast = cmp.regressions, cmp.having(stats.UNSTABLE), cmp.having(stats.FASTER)
    what = "cell" if n == 1 else "cells"
    slow_txt = ", ".join(f"{r['cell']} {_pct(r['ratio'])}" for _, r in slow.iterrows())
    unstable_txt = ", ".join(str(c) for c in unstable["cell"]) if len(unstable) else ""
    tail = []
    if len(fast):
        tail.append(f"{len(fast)} faster ({', '.join(f'{r.cell} {_pct(r.ratio)}' for r in fast.itertuples())})")
    if len(unstable) and not fail_on_unstable:
        tail.append(f"{len(unstable)} unstable, not judged ({unstable_txt}): rerun with more --rounds")
    extra = "; " + "; ".join(tail) if tail else ""
    if exit_code(cmp, fail_on_unstable):
        if fail_on_unstable and len(unstable):
            failing = len(slow) + len(unstable)
            detail = "; ".join(x for x in (slow_txt, f"unstable: {unstable_txt}") if x)
            return f"FAIL: {failing} of {n} {what} slower or unstable vs {base} ({detail}){extra}"
        return f"FAIL: {len(slow)} of {n} {what} slower than {base} ({slow_txt}){extra}"
    return f"PASS: {n} {what}, none slower than {base}{extra}"


# ----------------------------------------------------------------- matching

def _measured(df: pd.DataFrame) -> pd.DataFrame:
    return df[(df["phase"] == "measured") & df["wall_ms"].notna()]


def _single(values: pd.Series) -> set[str]:
    return {str(v) for v in values.dropna().unique()}


def _cross_device(base: pd.DataFrame, cand: pd.DataFrame, allowed: bool, keys: list[str],
                  notes: list[str]) -> None:
    bd, cd = _single(base["device_fingerprint"]), _single(cand["device_fingerprint"])
    if not (bd and cd) or bd & cd:
        return
    ba, ca = _single(base["device_alias"]), _single(cand["device_alias"])
    if not allowed:
        raise UserError(f"baseline and candidate were measured on different devices ({', '.join(sorted(ba))} "
                        f"vs {', '.join(sorted(ca))}: no common build fingerprint); pass --allow-cross-device "
                        "to compare anyway")
    keys.remove("device_fingerprint")
    if len(ba) > 1 or len(ca) > 1:
        keys.insert(0, "device_alias")
        notes.append("cross-device comparison: devices matched by alias, not by build fingerprint")
    else:
        notes.append(f"cross-device comparison: {', '.join(ba)} (baseline) vs {', '.join(ca)} (candidate)")


def _cross_model(base: pd.DataFrame, cand: pd.DataFrame, allowed: bool, keys: list[str],
                 notes: list[str]) -> None:
    bm, cm = _single(base["model_source"]), _single(cand["model_source"])
    if not (bm and cm) or bm & cm:
        return
    if not allowed:
        raise UserError(f"baseline and candidate measured different models ({', '.join(sorted(bm))} vs "
                        f"{', '.join(sorted(cm))}); pass --allow-cross-model to compare anyway")
    if len(bm) > 1 or len(cm) > 1:
        raise UserError("cross-model comparison needs one model on each side")
    keys.remove("model_source")
    notes.append(f"cross-model comparison: {', '.join(bm)} (baseline) vs {', '.join(cm)} (candidate)")


def _labels(keys: list[str], cells: list[dict]) -> tuple[list[str], list[str]]:
    """(short label per cell from the keys that vary, the constant parts stated once)."""
    def part(c: dict, col: str, prefix: str) -> str:
        text = f"{prefix}{c.get(col)}"
        if col == "device_alias" and c.get("emulated"):
            text += " (EMULATED)"
        if col == "model_source" and c.get("synthetic"):
            text += " (SYNTHETIC)"
        return text

    varying, constant = [], []
    for k in keys:
        col, prefix = _LABEL[k]
        if len({str(c.get(col)) for c in cells}) > 1 or k == "variant":
            varying.append((col, prefix))
        elif cells:
            constant.append(part(cells[0], col, prefix))
    return [" ".join(part(c, col, p) for col, p in varying) for c in cells], constant


def _describe_cell(key: tuple, keys: list[str], g: pd.DataFrame) -> dict:
    d = dict(zip(keys, key))
    d["device_alias"] = "/".join(sorted(_single(g["device_alias"]))) or "?"
    d["model_source"] = d.get("model_source") or "/".join(sorted(_single(g["model_source"])))
    d["emulated"], d["synthetic"] = bool(g["emulated"].any()), bool(g["synthetic"].any())
    return d


# ----------------------------------------------------------------- per cell

def _prompts_match(b: pd.DataFrame, c: pd.DataFrame) -> bool:
    """Same prompt set on both sides (by the plan's prompts sha256; unknown on a side counts as same)."""
    pb, pc = _single(b["prompts_sha256"]), _single(c["prompts_sha256"])
    return not (pb and pc) or pb == pc


def _pct_above(value: float, threshold: float) -> str:
    """A percentage with enough digits to read as above ``threshold`` (10.04 %, not 10.0 %)."""
    for digits in (1, 2, 3):
        text = f"{value * 100:.{digits}f}"
        if float(text) > threshold * 100:
            return f"{text} %"
    return f"{value * 100:.4f} %"


def _cell_figures(b: pd.DataFrame, c: pd.DataFrame, settings: Settings) -> dict:
    """Everything but the verdict for one matched cell (the verdict needs every cell's p-value)."""
    bw, cw = b["wall_ms"].to_numpy(float), c["wall_ms"].to_numpy(float)
    bp, cp = b["prompt_index"].fillna(-1).tolist(), c["prompt_index"].fillna(-1).tolist()
    bb, cb = ((df["run_id"].astype(str) + "/" + df["block_id"].astype(str)).to_numpy(object) for df in (b, c))
    by_prompt = _prompts_match(b, c)
    nb, nc = bw, cw
    if by_prompt:        # divided per prompt; prompts on one side only dropped, with their blocks' labels
        scales = stats.group_scales(bw, bp, cw, cp)
        (nb, keep_b), (nc, keep_c) = stats.divide_by_group(bw, bp, scales), stats.divide_by_group(cw, cp, scales)
        bb, cb = bb[keep_b], cb[keep_c]
    blocks_b, blocks_c = stats.group_medians(nb, bb), stats.group_medians(nc, cb)
    unit = BLOCKS if min(len(blocks_b), len(blocks_c)) >= settings.min_blocks else SAMPLES
    if unit == BLOCKS:
        est, p_value = stats.welch_ratio(blocks_b, blocks_c, settings.confidence)
    else:
        est = stats.hodges_lehmann_ratio(nb, nc, settings.confidence)
        p_value = stats.mann_whitney_p(nb, nc)
    cv_b, cv_c = stats.within_group_cv(bw, bp), stats.within_group_cv(cw, cp)
    noise = []
    for side, n, cv in (("baseline", len(bw), cv_b), ("candidate", len(cw), cv_c)):
        if n < settings.min_samples:
            noise.append(f"{n} samples in the {side} (< {settings.min_samples})")
        # On blocks the interval carries the noise; on samples of one process a high CV is a warning sign.
        if unit == SAMPLES and math.isfinite(cv) and cv > settings.cv_threshold:
            noise.append(f"{side} CV {_pct_above(cv, settings.cv_threshold)} (> {settings.cv_threshold * 100:g} %)")
    notes = []
    if _single(b["model_sha256"]) != _single(c["model_sha256"]):
        notes.append("model file differs")
    if not by_prompt:
        notes.append("prompts differ")
    elif len(nb) < len(bw) or len(nc) < len(cw):
        notes.append("prompts on one side only left out")
    return {
        "n_baseline": len(bw), "n_candidate": len(cw),
        "blocks_baseline": len(blocks_b), "blocks_candidate": len(blocks_c), "unit": unit,
        "median_baseline_ms": stats.median(bw), "median_candidate_ms": stats.median(cw),
        "ratio": est.ratio, "ci_low": est.low, "ci_high": est.high, "p_value": p_value,
        "cv_baseline": cv_b, "cv_candidate": cv_c,
        "noise": "; ".join(noise), "notes": ", ".join(notes),
    }


def _data_warnings(base: pd.DataFrame, cand: pd.DataFrame) -> list[str]:
    """Same data on both sides, overlapping runs, different prompt sets."""
    def blocks(df: pd.DataFrame) -> set[tuple[str, str]]:
        pairs = df[["run_id", "block_id"]].drop_duplicates().itertuples(index=False)
        return {(str(r), str(bid).removeprefix(f"{r}/")) for r, bid in pairs}

    out = []
    bb, cb = blocks(base), blocks(cand)
    shared = bb & cb
    runs = ", ".join(sorted({r for r, _ in shared}))
    if shared and bb == cb:
        out.append(f"baseline and candidate are the same data (run {runs}): this comparison cannot find anything")
    elif shared:
        out.append(f"{len(shared)} block(s) of run {runs} are on both sides: the candidate overlaps the baseline")
    pb, pc = _single(base["prompts_sha256"]), _single(cand["prompts_sha256"])
    if pb and pc and pb != pc:
        out.append("the prompt sets differ (prompts sha256): times are compared as they are, prompt by prompt "
                   "matching is off, and a change may come from the prompts")
    return out


def _missing_error(only_b: list[str], only_c: list[str], n_common: int) -> UserError:
    def some(cells: list[str]) -> str:
        return "; ".join(cells[:3]) + (f"; … ({len(cells)} in all)" if len(cells) > 3 else "")

    if not n_common:
        return UserError(f"baseline and candidate share no cell (baseline: {some(only_b)}; candidate: "
                         f"{some(only_c)}); nothing to compare — same max length, context window, threads and delegate?")
    parts = [f"{len(x)} only in the {side} ({some(x)})" for side, x in (("baseline", only_b), ("candidate", only_c))
             if x]
    return UserError(f"cells measured on one side only: {'; '.join(parts)}; pass --allow-missing to compare "
                     "the rest")


def compare(baseline_df: pd.DataFrame, candidate_df: pd.DataFrame, settings: Settings | None = None, *,
            baseline: Side | None = None, candidate: Side | None = None, allow_missing: bool = False,
            allow_cross_device: bool = False, allow_cross_model: bool = False) -> Comparison:
    """Compare measured wall times cell by cell (see the module docstring for the rule)."""
    settings = (settings or Settings()).check()
    base, cand = _measured(baseline_df), _measured(candidate_df)
    for side, df in (("baseline", base), ("candidate", cand)):
        if df.empty:
            raise UserError(f"the {side} has no measured samples")
    notes: list[str] = []
    keys = list(MATCH_KEYS)
    _cross_device(base, cand, allow_cross_device, keys, notes)
    _cross_model(base, cand, allow_cross_model, keys, notes)
    # NaN != NaN: keys with a missing part (e.g. no context window) are made comparable first.
    bg = {key_of(k): g for k, g in base.groupby(keys, dropna=False, sort=False)}
    cg = {key_of(k): g for k, g in cand.groupby(keys, dropna=False, sort=False)}
    common = [k for k in bg if k in cg]
    described = {k: _describe_cell(k, keys, bg.get(k, cg.get(k))) for k in [*bg, *(k for k in cg if k not in bg)]}
    labels, constant = _labels(keys, list(described.values()))
    label = dict(zip(described, labels))
    only_b = [label[k] for k in bg if k not in cg]
    only_c = [label[k] for k in cg if k not in bg]
    if not common or ((only_b or only_c) and not allow_missing):
        raise _missing_error(only_b, only_c, len(common))
    rows = [{"cell": label[k], **described[k], **_cell_figures(bg[k], cg[k], settings)} for k in common]
    for row, p_adj in zip(rows, stats.holm([r["p_value"] for r in rows])):
        est = stats.RatioEstimate(row["ratio"], row["ci_low"], row["ci_high"], settings.confidence, "hodges-lehmann")
        row["p_adjusted"] = p_adj
        row["verdict"] = stats.verdict(est, p_adj, alpha=settings.alpha, min_effect=settings.min_effect,
                                       too_noisy=bool(row["noise"]))
    warnings = _data_warnings(base, cand)
    warnings += [f"{r['cell']}: {r['noise']}: too noisy to judge" for r in rows if r["noise"]]
    on_samples = [r for r in rows if r["unit"] == SAMPLES]
    if on_samples:
        what = "every cell" if len(on_samples) == len(rows) else f"{len(on_samples)} of {len(rows)} cells"
        notes.append(f"{what} judged on samples: fewer than {settings.min_blocks} blocks (app processes) a side, "
                     "so the variation from one process to the next is not measured and the interval is too "
                     f"narrow; measure with --rounds {settings.min_blocks} or more for a gate")
    if only_b or only_c:
        notes.append("compared without the cells measured on one side only (--allow-missing)")
    if any(r["emulated"] for r in rows):
        notes.append("EMULATED: measured on an emulated device, not a phone; says nothing about real hardware")
    if any(r["synthetic"] for r in rows):
        notes.append("SYNTHETIC: a model with random weights")
    return Comparison(rows=pd.DataFrame(rows), settings=settings, baseline=baseline or Side("baseline"),
                      candidate=candidate or Side("candidate"), constant=constant, warnings=warnings,
                      notes=notes, only_baseline=only_b, only_candidate=only_c)
