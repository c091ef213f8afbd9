"""k origin groups: the omnibus permutation tests against brute force and scipy."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from valuesurvey.ranking._cluster import freeman_halton, freeman_halton_permutation
from valuesurvey.ranking._exact import group_permutation_pvalues, n_arrangements


def _brute_force(x: np.ndarray, labels: np.ndarray, statistic) -> float:
    """Share of the permutations of the labels at least as extreme: each distinct arrangement of the
    n! permutations (every one the image of the same number of them) scored with scipy."""
    observed = statistic(x, labels)
    distinct = set(itertools.permutations(labels.tolist()))
    hits = sum(statistic(x, np.array(a)) >= observed - 1e-9 * abs(observed) for a in distinct)
    return hits / len(distinct)


def _h(x, labels):
    return stats.kruskal(*[x[labels == g] for g in np.unique(labels)]).statistic


def _f(x, labels):
    return stats.f_oneway(*[x[labels == g] for g in np.unique(labels)]).statistic


TINY = np.array([2.5, 1.0, 4.0, 2.5, 6.0, 5.0, 0.5])  # one tie
TINY_LABELS = np.array([0, 0, 1, 1, 1, 2, 2])


@pytest.mark.parametrize(("name", "statistic"), [("kruskal", _h), ("anova", _f)])
def test_exact_omnibus_equals_brute_force_over_every_permutation(name, statistic):
    result = group_permutation_pvalues(TINY, TINY_LABELS, statistic=name)
    assert result.exact and result.n_permutations == n_arrangements(np.bincount(TINY_LABELS)) == 210
    assert result.p_value[0] == pytest.approx(_brute_force(TINY, TINY_LABELS, statistic), abs=1e-12)


def test_monte_carlo_omnibus_is_near_the_exact_one_within_its_interval():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(12, 3)) + np.repeat([0.0, 0.8, 1.6], 4)[:, None]
    labels = np.repeat([0, 1, 2], 4)
    exact = group_permutation_pvalues(x, labels, statistic="kruskal")  # 34,650 arrangements
    mc = group_permutation_pvalues(
        x, labels, statistic="kruskal", max_enumeration=100, n_draws=20_000, rng=np.random.default_rng(1)
    )
    assert exact.exact and not mc.exact and mc.n_permutations == 20_000
    assert np.all((mc.p_low <= exact.p_value) & (exact.p_value <= mc.p_high))
    assert "Monte Carlo" in mc.method


def test_kruskal_permutation_agrees_with_the_asymptotic_test_on_a_large_panel():
    rng = np.random.default_rng(2)
    x = rng.normal(size=60) + np.repeat([0.0, 0.3, 0.6, 0.9], 15)
    labels = np.repeat([0, 1, 2, 3], 15)
    mc = group_permutation_pvalues(x, labels, statistic="kruskal", n_draws=20_000, rng=rng)
    asymptotic = stats.kruskal(*[x[labels == g] for g in range(4)]).pvalue
    assert mc.p_value[0] == pytest.approx(asymptotic, abs=0.02)


def test_bad_labels_are_refused():
    with pytest.raises(ValueError, match="each present"):
        group_permutation_pvalues(TINY, np.array([0, 0, 2, 2, 2, 2, 2]))


def test_freeman_halton_permutation_equals_the_exact_r_by_2_test():
    rng = np.random.default_rng(8)
    clusters = rng.integers(1, 4, size=11)
    origins = np.where(rng.random(11) < 0.5, "CN", "US")
    p, how = freeman_halton_permutation(clusters, origins, ["CN", "US"])
    table = pd.crosstab(clusters, origins).reindex(columns=["CN", "US"], fill_value=0).to_numpy()
    assert how.startswith("exact") and p == pytest.approx(freeman_halton(table), abs=1e-12)


def test_freeman_halton_permutation_r_by_3_against_every_permutation():
    clusters = np.array([1, 1, 1, 2, 2, 3, 3, 3])
    origins = np.array(["CN", "CN", "US", "US", "TW", "TW", "TW", "CN"])
    p, _ = freeman_halton_permutation(clusters, origins, ["CN", "US", "TW"])

    codes = np.unique(origins, return_inverse=True)[1]

    def weight(o):  # sum of log n_ij!: larger = less probable table
        return sum(math.lgamma(v + 1) for v in np.bincount(clusters * 3 + o, minlength=12))

    observed = weight(codes)
    perms = itertools.permutations(range(8))  # 40,320
    brute = sum(weight(codes[list(q)]) >= observed - 1e-9 for q in perms) / math.factorial(8)
    assert p == pytest.approx(brute, abs=1e-12)
