"""Statistics: hand-computed values and the verdict rule."""
import math

import numpy as np
import pytest

from harness.analysis import stats


def test_median_even_odd_and_empty():
    assert stats.median([3, 1, 2]) == 2
    assert stats.median([4, 1, 3, 2]) == 2.5
    assert math.isnan(stats.median([]))
    assert stats.median([1, None, float("nan"), 3]) == 2


def test_percentile_linear_interpolation():
    # ranks 0..4 over [10,20,30,40,50]; p90 -> position 3.6 -> 40 + 0.6*10
    assert stats.percentile([50, 10, 40, 20, 30], 90) == pytest.approx(46.0)
    assert stats.percentile([1, 2], 50) == 1.5
    with pytest.raises(ValueError):
        stats.percentile([1], 101)


def test_mad_hand_computed():
    # median 3; |x-3| = 2,1,0,1,97 -> median 1
    assert stats.mad([1, 2, 3, 4, 100]) == 1.0


def test_cv_hand_computed():
    # mean 5, sample sd of [4, 6] = sqrt(2) -> cv = 0.28284
    assert stats.cv([4, 6]) == pytest.approx(math.sqrt(2) / 5)
    assert math.isnan(stats.cv([5]))


def test_mann_whitney_exact_hand_computed():
    # complete separation 3 vs 3: two-sided exact p = 2 / C(6,3) = 0.1
    assert stats.mann_whitney_p([1, 2, 3], [4, 5, 6]) == pytest.approx(0.1)
    assert stats.mann_whitney_p([5, 5], [5, 5]) == 1.0
    assert math.isnan(stats.mann_whitney_p([], [1]))


def test_hodges_lehmann_ratio_hand_computed():
    # candidate exactly 2x baseline: every pairwise log difference is centred on log 2
    base = [10.0, 20.0, 40.0]
    est = stats.hodges_lehmann_ratio(base, [20.0, 40.0, 80.0])
    # pairwise ratios: {2, 4, 8, 1, 2, 4, 0.5, 1, 2} -> median 2
    assert est.ratio == pytest.approx(2.0)
    # m=n=3: k = floor(4.5 - 1.96*sqrt(9*7/12)) = floor(0.009) = 0 -> clamped to 1: min..max
    assert est.low == pytest.approx(0.5) and est.high == pytest.approx(8.0)


def test_hodges_lehmann_ci_covers_true_ratio():
    rng = np.random.default_rng(1)
    base = rng.normal(100, 5, 30)
    cand = rng.normal(120, 6, 30)
    est = stats.hodges_lehmann_ratio(base, cand)
    assert est.low < 1.2 < est.high
    assert est.low < est.ratio < est.high


def test_hodges_lehmann_on_quantile_summaries_matches_the_exact_figures(monkeypatch):
    """Thousands of samples a side: the summary path gives the exact path's figures."""
    rng = np.random.default_rng(2)
    base, cand = rng.lognormal(0, 0.05, 1200), rng.lognormal(0.1, 0.05, 1100)
    exact = stats.hodges_lehmann_ratio(base, cand)
    monkeypatch.setattr(stats, "HL_MAX_PAIRS", 10_000)      # 1200 x 1100 pairs: the summary path
    fast = stats.hodges_lehmann_ratio(base, cand)
    for f, e in ((fast.ratio, exact.ratio), (fast.low, exact.low), (fast.high, exact.high)):
        assert f == pytest.approx(e, rel=2e-4)


def test_bootstrap_is_reproducible_with_fixed_seed():
    a, b = [10, 11, 12, 13, 14], [12, 13, 14, 15, 16]
    e1, e2 = stats.bootstrap_ratio_ci(a, b), stats.bootstrap_ratio_ci(a, b)
    assert e1 == e2
    assert e1.ratio == pytest.approx(14 / 12)
    assert e1.low <= e1.ratio <= e1.high


def _est(low, high):
    return stats.RatioEstimate((low + high) / 2, low, high, 0.95, "hodges-lehmann")


@pytest.mark.parametrize("low,high,p,noisy,expected", [
    (1.10, 1.30, 0.001, False, stats.SLOWER),
    (1.043, 1.496, 0.014, False, stats.UNSTABLE),   # the review's false alarm: lower bound below 1.05
    (1.06, 1.30, 0.20, False, stats.UNSTABLE),      # clears the effect, but not significant after Holm
    (1.10, 1.30, 0.001, True, stats.UNSTABLE),      # too noisy to judge, whatever the figures say
    (0.70, 0.90, 0.001, False, stats.FASTER),
    (0.97, 1.04, 0.50, False, stats.SAME),
    (1.01, 1.04, 0.001, False, stats.SAME),         # significant, but a slowdown of 5 % is ruled out
    (0.60, 1.02, 0.20, False, stats.SAME),          # maybe faster; a regression is ruled out
    (0.98, 1.08, 0.30, False, stats.UNSTABLE),      # cannot rule a 5 % slowdown in or out
    (float("nan"), float("nan"), float("nan"), False, stats.UNSTABLE),
])
def test_verdict_needs_lower_bound_and_corrected_significance(low, high, p, noisy, expected):
    assert stats.verdict(_est(low, high), p, alpha=0.05, min_effect=0.05, too_noisy=noisy) == expected


def test_holm_hand_computed():
    # sorted 0.01, 0.02, 0.04 -> 3*0.01=0.03, 2*0.02=0.04, 1*0.04=0.04 (monotone), in input order
    assert stats.holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    # 0.03*2 = 0.06, then max(0.06, 0.5) = 0.5; capped at 1; NaN not counted in m
    assert stats.holm([0.5, float("nan"), 0.03]) == pytest.approx([0.5, float("nan"), 0.06], nan_ok=True)
    assert stats.holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])
    assert stats.holm([]) == []


def test_normalise_by_group_keeps_ratios_within_group_and_drops_one_sided_groups():
    base, bg = [10, 12, 100, 120, 7], [0, 0, 1, 1, 2]
    cand, cg = [11, 13, 110, 130], [0, 0, 1, 1]
    nb, nc = stats.normalise_by_group(base, bg, cand, cg)
    # group 0: medians 11 and 12 -> scale sqrt(132); group 1: 110 and 120 -> sqrt(13200); group 2 dropped
    s0, s1 = 132 ** 0.5, 13200 ** 0.5
    assert nb.tolist() == pytest.approx([10 / s0, 12 / s0, 100 / s1, 120 / s1])
    assert nc.tolist() == pytest.approx([11 / s0, 13 / s0, 110 / s1, 130 / s1])
    # the spread between groups is gone: both groups now centre on the same value
    assert abs(np.median(nb[:2]) - np.median(nb[2:])) < 1e-9


def test_welch_ratio_by_hand():
    """Logs {0, a, 2a} + const on each side (a = ln 1.1): equal variances a^2, so the degrees of
    freedom are exactly 2 (n - 1) = 4, d = ln 1.2 and se = a sqrt(2/3)."""
    from scipy import stats as sp

    base = [100.0, 110.0, 121.0]
    est, p = stats.welch_ratio(base, [1.2 * x for x in base])
    a = math.log(1.1)
    se, d = a * math.sqrt(2 / 3), math.log(1.2)
    assert est.ratio == pytest.approx(1.2)
    assert p == pytest.approx(2 * sp.t.sf(d / se, 4))
    assert 0.07 < p < 0.09
    half = sp.t.ppf(0.975, 4) * se
    assert (est.low, est.high) == pytest.approx((math.exp(d - half), math.exp(d + half)))
    assert est.low < 1 < est.high          # three processes a side: a 20 % shift at 10 % spread is not shown
    _, p_same = stats.welch_ratio([5.0, 5.0], [5.0, 5.0])
    steady, p_steady = stats.welch_ratio([5.0, 5.0], [6.0, 6.0])
    assert p_same == 1.0 and p_steady == 0.0 and steady.low == pytest.approx(1.2)
    nan, p_nan = stats.welch_ratio([5.0], [6.0, 6.1])       # one value a side: no variance, no test
    assert math.isnan(nan.ratio) and math.isnan(p_nan)


def test_group_medians_in_order_of_appearance():
    assert stats.group_medians([3, 1, 10, 2, 30, float("nan")], ["b", "b", "a", "b", "a", "c"]).tolist() == [2, 20]


def test_within_group_cv_ignores_differences_between_prompts():
    values = [100, 101, 99, 200, 202, 198]
    groups = [0, 0, 0, 1, 1, 1]
    # by hand: ratios 1, 1.01, 0.99 and 1, 1.01, 0.99; squared deviations sum 4e-4 over 6 - 2 dof
    assert stats.within_group_cv(values, groups) == pytest.approx((4e-4 / 4) ** 0.5)
    assert stats.cv(values) > 0.3        # the plain CV would cry wolf
    assert math.isnan(stats.within_group_cv([1, 2, 3], [0, 1, 2]))   # no repeats: no estimate
