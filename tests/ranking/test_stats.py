"""Statistics of the ranking study against independent computations."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from valuesurvey.ranking import compare_origins, freeman_halton, hodges_lehmann, kendall_w
from valuesurvey.ranking._cluster import ARCHETYPE_SIGNATURES, label_clusters, poster_matches
from valuesurvey.ranking._stats import origin_pvalues


def test_kendall_w_matches_friedman():
    rng = np.random.default_rng(0)
    ratings = rng.integers(1, 6, size=(7, 10)).astype(float)  # with ties
    result = kendall_w(ratings)
    friedman = stats.friedmanchisquare(*ratings.T)  # tie-corrected chi2 over items
    m, n = ratings.shape
    assert result["w"] == pytest.approx(friedman.statistic / (m * (n - 1)))
    assert result["p_value"] == pytest.approx(friedman.pvalue)


def test_kendall_w_mean_spearman_identity():
    rng = np.random.default_rng(1)
    ratings = np.array([rng.permutation(12) for _ in range(6)], dtype=float)
    rho = stats.spearmanr(ratings, axis=1).statistic
    mean_rho = rho[np.triu_indices(6, 1)].mean()
    assert kendall_w(ratings)["mean_spearman"] == pytest.approx(mean_rho)


def test_hodges_lehmann():
    assert hodges_lehmann(np.array([1.0, 2.0, 3.0]), np.array([0.0])) == 2.0
    assert hodges_lehmann(np.array([5.0, 6.0]), np.array([1.0, 2.0])) == 4.0


def _brute_force_fisher(table: np.ndarray) -> float:
    rows = table.sum(axis=1)
    n_first = table[:, 0].sum()

    def prob(column):
        return np.prod([_comb(r, a) for r, a in zip(rows, column, strict=True)])

    observed = prob(table[:, 0])
    total = 0.0
    norm = 0.0
    for column in itertools.product(*[range(r + 1) for r in rows]):
        if sum(column) != n_first:
            continue
        p = prob(np.array(column))
        norm += p
        if p <= observed * (1 + 1e-7):
            total += p
    return total / norm


def _comb(n: int, k: int) -> float:
    from math import comb

    return float(comb(int(n), int(k)))


@pytest.mark.parametrize(
    "table",
    [[[3, 1], [1, 3]], [[3, 2], [1, 4], [4, 0], [2, 3]], [[5, 0], [0, 5], [3, 3]], [[2, 2], [3, 3], [1, 1]]],
)
def test_freeman_halton_is_exact(table):
    table = np.array(table)
    assert freeman_halton(table) == pytest.approx(_brute_force_fisher(table))
    if table.shape[0] == 2:
        assert freeman_halton(table) == pytest.approx(stats.fisher_exact(table).pvalue)


def test_compare_origins_columns_and_holm():
    rng = np.random.default_rng(3)
    rows = []
    for term, shift in (("a", 0.0), ("b", 3.0), ("c", 0.0)):
        for i in range(12):
            origin = "CN" if i < 6 else "US"
            rows.append({"origin": origin, "term": term, "score": rng.normal(shift * (origin == "CN"), 1)})
    out = compare_origins(pd.DataFrame(rows), level="dimension", term_column="term", score_column="score")
    assert list(out.columns[:11]) == [
        "analysis", "model", "term", "estimate", "std_error", "df", "statistic", "p_value",
        "conf_low", "conf_high", "method",
    ]  # fmt: skip
    assert set(out["model"]) == {"welch_t", "permutation", "mann_whitney_u"}
    for _, family in out.groupby("model"):
        p = family["p_value"].to_numpy()
        order = np.argsort(p)
        expected = np.minimum(1, np.maximum.accumulate(p[order] * (len(p) - np.arange(len(p)))))
        assert family["p_holm"].to_numpy()[order] == pytest.approx(expected)
    b = out[(out["term"] == "b") & (out["model"] == "welch_t")].iloc[0]
    welch = stats.ttest_ind(
        [r["score"] for r in rows if r["term"] == "b" and r["origin"] == "CN"],
        [r["score"] for r in rows if r["term"] == "b" and r["origin"] == "US"],
        equal_var=False,
    )
    assert b["statistic"] == pytest.approx(welch.statistic)
    assert b["p_value"] == pytest.approx(welch.pvalue)
    assert b["estimate"] > 0 and b["conf_low"] > 0


def test_compare_origins_degenerate_group_gives_nan():
    frame = pd.DataFrame({"origin": ["CN", "US", "US"], "term": "a", "score": [1.0, 2.0, 3.0]})
    out = compare_origins(frame, level="value", term_column="term", score_column="score")
    assert out["p_value"].isna().all()


def test_compare_origins_one_constant_group_is_exact_and_quiet():
    cn, us = [4.0, 4.0, 4.0], [2.0, 5.0, 9.0, 6.0]
    frame = pd.DataFrame({"origin": ["CN"] * 3 + ["US"] * 4, "term": "a", "score": cn + us})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = compare_origins(frame, level="value", term_column="term", score_column="score")
        vectorised = origin_pvalues(np.array(cn + us)[:, None], np.array([True] * 3 + [False] * 4))
    welch = out[out["model"] == "welch_t"].iloc[0]
    se = np.std(us, ddof=1) / np.sqrt(len(us))  # the constant group adds no variance
    assert welch["std_error"] == pytest.approx(se)
    assert welch["statistic"] == pytest.approx((4.0 - np.mean(us)) / se)
    assert welch["df"] == pytest.approx(len(us) - 1)
    assert welch["p_value"] == pytest.approx(2 * stats.t.sf(abs(welch["statistic"]), len(us) - 1))
    assert vectorised["welch_t"][0] == pytest.approx(welch["p_value"])


def test_origin_pvalues_without_one_origin_are_nan():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy: too few observations
        p = origin_pvalues(np.ones((3, 2)), np.zeros(3, dtype=bool))
    assert np.isnan(p["welch_t"]).all() and np.isnan(p["mann_whitney_u"]).all()


DIMS = ["Practical", "Epistemic", "Protective", "Social", "Personal"]


def test_cluster_labels_come_from_each_profile():
    profiles = pd.DataFrame(
        [
            [-1.0, -0.5, 1.0, 1.2, 0.0],  # Social + Protective up, Practical down
            [1.0, 1.3, 0.0, -1.0, -1.0],  # Epistemic + Practical up
            [-0.3, -1.0, 0.0, 0.8, 1.4],  # Personal + Social up
            [0.1, -0.2, 0.1, 0.0, 0.1],  # nothing distinctive
            [0.2, 0.0, 0.1, 0.0, -0.9],  # only a deprioritised dimension
        ],
        index=[1, 2, 3, 4, 5],
        columns=DIMS,
    )
    labels = label_clusters(profiles)
    assert labels == {
        1: "Social–Protective priority",
        2: "Epistemic–Practical priority",
        3: "Personal–Social priority",
        4: "average profile",
        5: "low Personal",
    }
    matches = poster_matches(profiles)
    assert {c: name for c, (name, _) in matches.items() if c <= 4} == {
        1: "Social-Ethical",
        2: "Rational-Instrumental",
        3: "Warm-Caring",
        4: "Balanced-General",
    }


def test_labels_are_not_forced_one_to_one():
    # Two clusters with the same profile shape get the same label (numbered), and the same closest
    # poster archetype; no cluster is pushed onto a list entry that does not describe it.
    profiles = pd.DataFrame(
        [[-1.0, -0.5, 1.0, 1.2, 0.0], [-0.8, -0.6, 0.9, 1.0, 0.1], [0.0, 0.0, 2.0, 0.0, 0.0]],
        index=[1, 2, 3],
        columns=DIMS,
    )
    labels = label_clusters(profiles)
    assert labels == {
        1: "Social–Protective priority (1)",
        2: "Social–Protective priority (2)",
        3: "Protective priority",
    }
    matches = poster_matches(profiles)
    assert matches[1][0] == matches[2][0] == "Social-Ethical"
    assert set(ARCHETYPE_SIGNATURES) >= {matches[1][0]}


def test_a_profile_unlike_every_poster_archetype_matches_none():
    # Protective clearly down, Practical a little down, Epistemic a little up: every signature's
    # match is negative, and the profile is distinctive, so not "Balanced-General" either.
    profiles = pd.DataFrame([[-0.4, 0.2, -1.0, 0.0, 0.0]], index=[1], columns=DIMS)
    name, score = poster_matches(profiles)[1]
    assert score < 0 and name == "none"
    assert label_clusters(profiles)[1] == "low Protective"
