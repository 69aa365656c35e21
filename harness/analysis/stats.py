"""Statistics for reports and the regression gate. Pure functions, no I/O.

Everything takes plain sequences of numbers (milliseconds, tokens/s, ...) and
returns plain floats, so each figure in a report can be recomputed by hand.

The gate (``verdict``) calls a cell *slower* only when its Mann-Whitney p-value, corrected
for the number of cells (Holm), is below alpha AND the LOWER bound of the ratio's confidence
interval is above 1 + the minimum effect; a cell too noisy to judge is *unstable*, never a
silent pass (docs/reports.md states the rule).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Sequence

import numpy as np

SLOWER = "slower"
FASTER = "faster"
SAME = "same"
UNSTABLE = "unstable"
VERDICTS = (SLOWER, FASTER, SAME, UNSTABLE)

DEFAULT_CONFIDENCE = 0.95
DEFAULT_BOOTSTRAP_RESAMPLES = 2000
DEFAULT_BOOTSTRAP_SEED = 20261125
# Above this many pairwise differences, Hodges-Lehmann works on quantile summaries of each side.
HL_MAX_PAIRS = 250_000
HL_SUMMARY_POINTS = 200


def _clean(xs: Sequence[float]) -> np.ndarray:
    """Finite values of ``xs`` as a float array (NaN and None dropped)."""
    if isinstance(xs, np.ndarray) and xs.dtype.kind == "f":
        return xs[np.isfinite(xs)]
    a = np.asarray([x for x in xs if x is not None], dtype=float)
    return a[np.isfinite(a)]


def median(xs: Sequence[float]) -> float:
    """Median; NaN for an empty sequence."""
    a = _clean(xs)
    return float(np.median(a)) if a.size else math.nan


def percentile(xs: Sequence[float], q: float) -> float:
    """q-th percentile (0..100), linear interpolation between closest ranks; NaN if empty."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be within 0..100, got {q}")
    a = _clean(xs)
    return float(np.percentile(a, q)) if a.size else math.nan


def mad(xs: Sequence[float]) -> float:
    """Median absolute deviation from the median (unscaled, same unit as ``xs``); NaN if empty."""
    a = _clean(xs)
    if not a.size:
        return math.nan
    return float(np.median(np.abs(a - np.median(a))))


def cv(xs: Sequence[float]) -> float:
    """Coefficient of variation: sample standard deviation (ddof=1) / mean.

    NaN with fewer than two values or a zero mean.
    """
    a = _clean(xs)
    if a.size < 2:
        return math.nan
    mean = float(np.mean(a))
    if mean == 0:
        return math.nan
    return float(np.std(a, ddof=1) / abs(mean))


def within_group_cv(xs: Sequence[float], groups: Sequence) -> float:
    """CV of the noise within groups (e.g. repeats of the same prompt), pooled over groups.

    Generations of different prompts differ by design (more or fewer tokens to generate),
    so the plain CV of a block that cycles through prompts is not noise. Each value is
    divided by its group's mean; the pooled standard deviation of those ratios (ddof = one
    per group) is the CV. NaN when no group has two values.
    """
    a = np.asarray(xs, dtype=float)
    g = np.asarray(list(groups), dtype=object)
    keep = np.isfinite(a)
    a, g = a[keep], g[keep]
    squares, n_values, n_groups = 0.0, 0, 0
    for key in dict.fromkeys(g.tolist()):
        vals = a[g == key]
        if vals.size < 2 or np.mean(vals) == 0:
            continue
        squares += float(np.sum((vals / np.mean(vals) - 1.0) ** 2))
        n_values += vals.size
        n_groups += 1
    dof = n_values - n_groups
    if dof < 1:
        return math.nan
    return math.sqrt(squares / dof)


def mann_whitney_p(baseline: Sequence[float], candidate: Sequence[float]) -> float:
    """Two-sided Mann-Whitney U p-value (scipy; exact for small samples without ties).

    NaN when a side is empty; 1.0 when every value on both sides is identical.
    """
    a, b = _clean(baseline), _clean(candidate)
    if not a.size or not b.size:
        return math.nan
    if np.all(a == a[0]) and np.all(b == a[0]):
        return 1.0
    from scipy import stats as sp   # imported here: reports that never test need not pay for scipy

    return float(sp.mannwhitneyu(b, a, alternative="two-sided", method="auto").pvalue)


@dataclass(frozen=True)
class RatioEstimate:
    """A candidate/baseline ratio with a confidence interval (``low`` <= ``ratio`` <= ``high``)."""

    ratio: float
    low: float
    high: float
    confidence: float
    method: str


def _summary(a: np.ndarray) -> np.ndarray:
    """``HL_SUMMARY_POINTS`` evenly spaced quantiles of ``a`` (midpoint plotting positions)."""
    return np.quantile(a, (np.arange(HL_SUMMARY_POINTS) + 0.5) / HL_SUMMARY_POINTS)


def hodges_lehmann_ratio(
    baseline: Sequence[float], candidate: Sequence[float], confidence: float = DEFAULT_CONFIDENCE
) -> RatioEstimate:
    """Hodges-Lehmann estimate of candidate/baseline on log times, with Moses' distribution-free CI.

    The estimate is exp(median of all m*n pairwise differences log(c_j) - log(b_i)).
    The interval takes the k-th smallest and k-th largest differences, k from the
    Mann-Whitney U critical value (normal approximation):
    k = floor(m*n/2 - z * sqrt(m*n*(m+n+1)/12)), at least 1. Values must be > 0.
    With more than ``HL_MAX_PAIRS`` pairs (thousands of samples a side), each side is first
    reduced to ``HL_SUMMARY_POINTS`` quantiles and the same ranks are read as fractions of
    the differences: the same figures to a fraction of a percent, in milliseconds.
    """
    a, b = _clean(baseline), _clean(candidate)
    if not a.size or not b.size:
        return RatioEstimate(math.nan, math.nan, math.nan, confidence, "hodges-lehmann")
    if (a <= 0).any() or (b <= 0).any():
        raise ValueError("hodges_lehmann_ratio needs positive values (times)")
    m, n = a.size, b.size
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    k = max(int(math.floor(m * n / 2 - z * math.sqrt(m * n * (m + n + 1) / 12))), 1)
    la, lb = np.log(a), np.log(b)
    if m * n > HL_MAX_PAIRS:
        la, lb = _summary(la), _summary(lb)
    diffs = np.sort((lb[None, :] - la[:, None]).ravel())
    if m * n > HL_MAX_PAIRS:
        lo, hi = np.quantile(diffs, [(k - 1) / (m * n - 1), (m * n - k) / (m * n - 1)])
    else:
        lo, hi = diffs[k - 1], diffs[m * n - k]
    return RatioEstimate(
        float(np.exp(np.median(diffs))), float(np.exp(lo)), float(np.exp(hi)), confidence, "hodges-lehmann"
    )


def bootstrap_ratio_ci(
    baseline: Sequence[float],
    candidate: Sequence[float],
    confidence: float = DEFAULT_CONFIDENCE,
    resamples: int = DEFAULT_BOOTSTRAP_RESAMPLES,
    seed: int = DEFAULT_BOOTSTRAP_SEED,
) -> RatioEstimate:
    """Ratio of medians candidate/baseline with a percentile bootstrap CI (fixed seed: reproducible)."""
    a, b = _clean(baseline), _clean(candidate)
    if not a.size or not b.size:
        return RatioEstimate(math.nan, math.nan, math.nan, confidence, "bootstrap")
    rng = np.random.default_rng(seed)
    ma = np.median(rng.choice(a, size=(resamples, a.size), replace=True), axis=1)
    mb = np.median(rng.choice(b, size=(resamples, b.size), replace=True), axis=1)
    ratios = mb / ma
    tail = (1 - confidence) / 2 * 100
    return RatioEstimate(
        float(np.median(b) / np.median(a)),
        float(np.percentile(ratios, tail)),
        float(np.percentile(ratios, 100 - tail)),
        confidence,
        "bootstrap",
    )


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order (NaN stays NaN and is not counted).

    Sort the m finite p-values ascending; the i-th smallest (i from 0) becomes
    max over j <= i of min(1, (m - j) * p_(j)). Rejecting where the adjusted value is below
    alpha keeps the chance of ANY false rejection among the m tests at most alpha.
    """
    p = [float(x) if x is not None else math.nan for x in p_values]
    finite = sorted((v, i) for i, v in enumerate(p) if math.isfinite(v))
    m = len(finite)
    out = [math.nan] * len(p)
    running = 0.0
    for j, (v, i) in enumerate(finite):
        running = max(running, min(1.0, (m - j) * v))
        out[i] = running
    return out


def welch_ratio(baseline: Sequence[float], candidate: Sequence[float],
                confidence: float = DEFAULT_CONFIDENCE) -> tuple[RatioEstimate, float]:
    """Ratio candidate/baseline of geometric means with Welch's t interval, and Welch's two-sided p.

    For a few values a side that are each a summary of many (one median per app process):
    on log values, d = mean(log c) - mean(log b), se = sqrt(var_b/m + var_c/n) (ddof 1), the
    Welch-Satterthwaite degrees of freedom, and exp(d -/+ t * se). Needs two values a side
    (else NaN). Identical values on each side: p = 1 when the sides are equal, else 0.
    """
    a, b = _clean(baseline), _clean(candidate)
    nan = RatioEstimate(math.nan, math.nan, math.nan, confidence, "welch")
    if a.size < 2 or b.size < 2:
        return nan, math.nan
    if (a <= 0).any() or (b <= 0).any():
        raise ValueError("welch_ratio needs positive values (times)")
    la, lb = np.log(a), np.log(b)
    d = float(np.mean(lb) - np.mean(la))
    va, vb = float(np.var(la, ddof=1)) / a.size, float(np.var(lb, ddof=1)) / b.size
    se = math.sqrt(va + vb)
    if se == 0:
        return RatioEstimate(math.exp(d), math.exp(d), math.exp(d), confidence, "welch"), 1.0 if d == 0 else 0.0
    from scipy import stats as sp

    dof = (va + vb) ** 2 / (va ** 2 / (a.size - 1) + vb ** 2 / (b.size - 1))
    half = float(sp.t.ppf(0.5 + confidence / 2, dof)) * se
    p = float(2 * sp.t.sf(abs(d) / se, dof))
    return RatioEstimate(math.exp(d), math.exp(d - half), math.exp(d + half), confidence, "welch"), p


def group_medians(values: Sequence[float], groups: Sequence) -> np.ndarray:
    """The median of each group's finite values, groups in order of first appearance."""
    a = np.asarray(values, dtype=float)
    g = np.asarray(list(groups), dtype=object)
    out = [float(np.median(a[(g == key) & np.isfinite(a)])) for key in dict.fromkeys(g.tolist())
           if ((g == key) & np.isfinite(a)).any()]
    return np.asarray(out)


def group_scales(baseline: Sequence[float], baseline_groups: Sequence, candidate: Sequence[float],
                 candidate_groups: Sequence) -> dict:
    """Per group on both sides: the geometric mean of the two sides' medians (see normalise_by_group)."""
    a, b = np.asarray(baseline, dtype=float), np.asarray(candidate, dtype=float)
    ga, gb = np.asarray(list(baseline_groups), dtype=object), np.asarray(list(candidate_groups), dtype=object)
    scales = {}
    for key in dict.fromkeys(ga.tolist()):
        va, vb = a[(ga == key) & np.isfinite(a)], b[(gb == key) & np.isfinite(b)]
        if va.size and vb.size:
            scale = math.sqrt(float(np.median(va)) * float(np.median(vb)))
            if scale > 0:
                scales[key] = scale
    return scales


def divide_by_group(values: Sequence[float], groups: Sequence, scales: dict) -> tuple[np.ndarray, np.ndarray]:
    """Each finite value whose group has a scale, divided by that scale, in input order; and
    the mask of the values kept (to carry other labels, e.g. the block of each, along)."""
    a = np.asarray(values, dtype=float)
    g = list(groups)
    keep = np.array([k in scales for k in g], dtype=bool) & np.isfinite(a)
    return a[keep] / np.array([scales[k] for k, kept in zip(g, keep) if kept], dtype=float), keep


def normalise_by_group(baseline: Sequence[float], baseline_groups: Sequence, candidate: Sequence[float],
                       candidate_groups: Sequence) -> tuple[np.ndarray, np.ndarray]:
    """Both sides' values divided by a per-group constant (e.g. per prompt), groups on one side dropped.

    The constant is the geometric mean of the two sides' medians for that group, the same on
    both sides, so a candidate/baseline ratio within a group is unchanged while the difference
    BETWEEN groups (a longer prompt generates fewer tokens) no longer counts as noise.
    """
    scales = group_scales(baseline, baseline_groups, candidate, candidate_groups)
    return divide_by_group(baseline, baseline_groups, scales)[0], divide_by_group(candidate, candidate_groups, scales)[0]


def verdict(est: RatioEstimate, p_adjusted: float, *, alpha: float = 0.05, min_effect: float = 0.05,
            too_noisy: bool = False) -> str:
    """The gate's decision for one cell; ``est`` is candidate/baseline time (> 1: slower).

    - ``unstable`` when ``too_noisy`` (high CV or few samples, decided by the caller);
    - ``slower`` when p_adjusted < alpha AND est.low > 1 + min_effect;
    - ``faster`` when p_adjusted < alpha AND est.high < 1 - min_effect;
    - ``same`` when est.high <= 1 + min_effect (a slowdown of the minimum effect is ruled out);
    - ``unstable`` otherwise: the interval reaches past 1 + min_effect without clearing it,
      so the data can neither show nor rule out a regression (also for NaN figures).
    """
    if too_noisy or not all(math.isfinite(v) for v in (est.low, est.high)):
        return UNSTABLE
    significant = math.isfinite(p_adjusted) and p_adjusted < alpha
    if significant and est.low > 1 + min_effect:
        return SLOWER
    if significant and est.high < 1 - min_effect:
        return FASTER
    if est.high <= 1 + min_effect:
        return SAME
    return UNSTABLE
