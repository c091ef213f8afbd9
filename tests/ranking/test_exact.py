"""Exact permutation p-values: against brute force in exact rationals and against R's own enumeration."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats

from valuesurvey.ranking import _exact, compare_origins
from valuesurvey.ranking._exact import merge_ties, midranks, permutation_pvalues

# Mean ranks are rationals; these are such values, several of them equal as rationals but computed
# by summing in different orders, so their floats differ in the last bits (0.1 + 0.2 != 0.3).
RATIONAL_SCORES = [
    "3/10", "1/10+2/10", "7/20", "3/10", "11/20", "2/10+1/10", "13/20", "1/2", "7/20", "3/4",
]  # fmt: skip
GROUP = np.array([1, 1, 0, 1, 0, 0, 1, 0, 1, 0], dtype=bool)


def _float(expr: str) -> float:
    return sum(float(Fraction(part)) for part in expr.split("+"))


def _fraction(expr: str) -> Fraction:
    return sum((Fraction(part) for part in expr.split("+")), Fraction(0))


def _exact_midranks(values: list[Fraction]) -> list[Fraction]:
    ordered = sorted(values)
    return [Fraction(2 * ordered.index(v) + 1 + ordered.count(v), 2) for v in values]


def _brute_force(values: list[Fraction], group: np.ndarray) -> float:
    """Share of all splits with |n S - k T| >= observed, in exact rational arithmetic."""
    n, k = len(values), int(group.sum())
    total = sum(values, Fraction(0))

    def deviation(members) -> Fraction:
        return abs(n * sum((values[i] for i in members), Fraction(0)) - k * total)

    observed = deviation(np.flatnonzero(group))
    splits = list(itertools.combinations(range(n), k))
    return sum(deviation(s) >= observed for s in splits) / len(splits)


def test_floats_of_equal_rationals_differ_but_are_one_tie():
    floats = np.array([_float(e) for e in RATIONAL_SCORES])
    assert floats[0] != floats[1]  # the trap: 0.3 and 0.1 + 0.2
    assert len(set(stats.rankdata(floats))) > len(
        set(_exact_midranks([_fraction(e) for e in RATIONAL_SCORES]))
    )
    assert midranks(floats).tolist() == [
        float(r) for r in _exact_midranks([_fraction(e) for e in RATIONAL_SCORES])
    ]
    merged = merge_ties(floats)
    assert merged[0] == merged[1] == merged[3] == merged[5]


@pytest.fixture(params=["meet_in_middle", "enumeration"])
def algorithm(request, monkeypatch):
    """Both exact counting algorithms: meeting in the middle (n <= 32) and direct enumeration."""
    if request.param == "enumeration":
        monkeypatch.setattr(_exact, "MITM_HALF", 0)
    return request.param


@pytest.mark.parametrize("statistic", ["mean", "rank"])
def test_exact_pvalues_equal_brute_force_in_rationals(statistic, algorithm):
    exact = [_fraction(e) for e in RATIONAL_SCORES]
    values = exact if statistic == "mean" else _exact_midranks(exact)
    expected = _brute_force(values, GROUP)
    floats = np.array([_float(e) for e in RATIONAL_SCORES])
    result = permutation_pvalues(floats, GROUP, statistic=statistic)
    assert result.exact and result.n_permutations == 252
    assert result.p_value[0] == pytest.approx(expected, abs=1e-15)
    # The floats as scipy ranks them (the broken ties) give another p-value: the test is not vacuous.
    broken = _brute_force([Fraction(r) for r in stats.rankdata(floats)], GROUP)
    if statistic == "rank":
        assert broken != pytest.approx(expected)


def test_many_terms_at_once_equal_one_at_a_time(algorithm):
    rng = np.random.default_rng(4)
    scores = rng.integers(0, 4, size=(9, 6)) / 4.0  # heavy ties
    group = np.arange(9) < 4
    both = permutation_pvalues(scores, group, statistic="rank")
    for j in range(6):
        assert both.p_value[j] == permutation_pvalues(scores[:, j], group, statistic="rank").p_value[0]
        values = [Fraction(v).limit_denominator(4) for v in scores[:, j]]
        assert both.p_value[j] == pytest.approx(_brute_force(_exact_midranks(values), group), abs=1e-15)


def test_group_order_does_not_matter():
    floats = np.array([_float(e) for e in RATIONAL_SCORES])
    a = permutation_pvalues(floats, GROUP).p_value[0]
    b = permutation_pvalues(floats, ~GROUP).p_value[0]
    order = np.random.default_rng(1).permutation(len(floats))
    c = permutation_pvalues(floats[order], GROUP[order]).p_value[0]
    assert a == b == c


def test_without_ties_rank_test_equals_scipy_exact():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(12, 3))
    group = np.arange(12) < 5
    ours = permutation_pvalues(x, group, statistic="rank").p_value
    scipy_p = stats.mannwhitneyu(x[group], x[~group], method="exact", axis=0).pvalue
    assert ours == pytest.approx(scipy_p, rel=1e-12)


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="needs R")
def test_exact_pvalues_equal_r_direct_enumeration(algorithm):
    """R enumerates every split with combn() on integer data with ties (exact in doubles)."""
    scores = np.array(
        [[3, 5], [7, 5], [7, 9], [2, 5], [9, 1], [7, 5], [4, 9], [3, 2], [8, 5], [5, 5], [6, 3]]
    )
    group = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0], dtype=bool)
    script = f"""
    x <- matrix(c({", ".join(map(str, scores.T.ravel()))}), ncol = {scores.shape[1]})
    g <- c({", ".join("TRUE" if v else "FALSE" for v in group)})
    n <- nrow(x); k <- sum(g); splits <- combn(n, k)
    p <- function(v) {{
      dev <- function(idx) abs(n * sum(v[idx]) - k * sum(v))
      mean(apply(splits, 2, dev) >= dev(which(g)))
    }}
    for (j in seq_len(ncol(x))) cat(sprintf("%.17g %.17g\\n", p(x[, j]), p(rank(x[, j]))))
    """
    out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=True).stdout
    r_values = np.array([[float(v) for v in line.split()] for line in out.strip().splitlines()])
    mean = permutation_pvalues(scores.astype(float) / 7.0, group, statistic="mean").p_value  # scale-free
    rank = permutation_pvalues(scores.astype(float), group, statistic="rank").p_value
    assert mean == pytest.approx(r_values[:, 0], abs=1e-14)
    assert rank == pytest.approx(r_values[:, 1], abs=1e-14)


def test_monte_carlo_brackets_the_exact_pvalue_and_is_reproducible(monkeypatch):
    monkeypatch.setattr(_exact, "MITM_HALF", 0)  # so max_enumeration decides
    rng = np.random.default_rng(7)
    x = np.round(rng.normal(size=(16, 2)), 1)
    group = np.arange(16) < 8
    exact = permutation_pvalues(x, group, statistic="mean")
    assert exact.exact and exact.n_permutations == 12870
    mc = permutation_pvalues(x, group, max_enumeration=1000, n_draws=20_000, rng=np.random.default_rng(3))
    again = permutation_pvalues(x, group, max_enumeration=1000, n_draws=20_000, rng=np.random.default_rng(3))
    assert not mc.exact and mc.n_permutations == 20_000 and "Monte Carlo" in mc.method
    assert (mc.p_low <= exact.p_value).all() and (exact.p_value <= mc.p_high).all()
    assert (mc.p_value >= 1 / 20_001).all()
    np.testing.assert_array_equal(mc.p_value, again.p_value)
    with pytest.raises(ValueError, match="pass rng"):
        permutation_pvalues(x, group, max_enumeration=1000)


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="NaN"):
        permutation_pvalues(np.array([1.0, np.nan, 2.0]), np.array([True, False, False]))
    with pytest.raises(ValueError, match="3 rows"):
        permutation_pvalues(np.array([1.0, 2.0, 3.0]), np.array([True, False]))
    with pytest.raises(ValueError, match="statistic"):
        permutation_pvalues(np.array([1.0, 2.0, 3.0]), np.array([True, False, False]), statistic="median")
    assert np.isnan(permutation_pvalues(np.ones(3), np.zeros(3, dtype=bool)).p_value).all()


def test_compare_origins_reports_exact_tests_with_ties():
    import pandas as pd

    floats = [_float(e) for e in RATIONAL_SCORES]
    frame = pd.DataFrame({"origin": np.where(GROUP, "CN", "US"), "term": "a", "score": floats})
    out = compare_origins(frame, level="value", term_column="term", score_column="score").set_index("model")
    exact = [_fraction(e) for e in RATIONAL_SCORES]
    assert out.loc["permutation", "p_value"] == pytest.approx(_brute_force(exact, GROUP), abs=1e-15)
    assert out.loc["mann_whitney_u", "p_value"] == pytest.approx(
        _brute_force(_exact_midranks(exact), GROUP), abs=1e-15
    )
    assert out.loc["mann_whitney_u", "p_method"] == "exact: all 252 splits counted"
    ranks = _exact_midranks(exact)
    u = sum(r for r, g in zip(ranks, GROUP, strict=True) if g) - 5 * 6 / Fraction(2)
    assert out.loc["mann_whitney_u", "statistic"] == float(u)
    assert out.loc["mann_whitney_u", "effect_size"] == pytest.approx(float(2 * u / 25 - 1))
    assert out.loc["permutation", "estimate"] == pytest.approx(out.loc["welch_t", "estimate"])


def test_meet_in_the_middle_is_exact_for_a_full_panel(monkeypatch):
    """32 models (601 million splits) are counted exactly; a Monte Carlo estimate brackets it."""
    rng = np.random.default_rng(11)
    x = np.round(rng.normal(size=(32, 2)), 1)
    group = np.arange(32) < 16
    result = permutation_pvalues(x, group, max_enumeration=0)
    assert result.exact and result.n_permutations == 601_080_390
    monkeypatch.setattr(_exact, "MITM_HALF", 0)
    mc = permutation_pvalues(x, group, max_enumeration=0, n_draws=50_000, rng=np.random.default_rng(0))
    assert not mc.exact
    assert (mc.p_low <= result.p_value).all() and (result.p_value <= mc.p_high).all()
