"""One country's estimates against hand computations: weighted mean cosines, their bootstrap
intervals, items never asked, too few people, straight-liners, weighted answer distributions, and
the nominal coverage of the intervals in simulation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from valuesurvey.country_level import CountryRespondents, Levels, LLMConditions, estimate_country
from valuesurvey.country_level._compute import QUANTILES, bootstrap_counts, child_seed, country_seed

ITEMS = ["a", "b", "c", "d", "e"]


def _llms(means: np.ndarray, k: int = 10) -> LLMConditions:
    n = len(means)
    keys = pd.DataFrame(
        {"model": [f"m{i}" for i in range(n)], "origin": "US", "language": "en", "persona": "none"}
    )
    dist = np.zeros((n, means.shape[1], k))
    for c in range(n):
        for j in range(means.shape[1]):
            dist[c, j, round(means[c, j]) - 1] = 1.0
    return LLMConditions(
        keys, means, dist, np.ones(means.shape, int), np.array(["repetitions"] * n, object), pd.DataFrame()
    )


def _estimate(x, w, llms, *, removals=None, weighted=True, min_n=2, n_boot=300, seed=1):
    levels = Levels.from_removals(ITEMS[: x.shape[1]], removals or {"none": ()})
    return estimate_country(
        CountryRespondents("DE", x, w), llms, levels, scale=(1, 10), n_boot=n_boot,
        seed=country_seed(seed, "wvs7", "DE"), weighted=weighted, min_n=min_n,
    )  # fmt: skip


X = np.array(
    [
        [1.0, 4.0, 2.0, 8.0, 10.0],
        [3.0, 3.0, 5.0, 6.0, 2.0],
        [9.0, 7.0, 2.0, 1.0, 5.0],
        [2.0, 2.0, 8.0, 9.0, 7.0],
        [5.0, 6.0, 7.0, 5.0, 4.0],
    ]
)
W = np.array([1.0, 2.0, 0.5, 3.0, 1.5])
LLM_MEANS = np.array([[2.0, 4.0, 6.0, 9.0, 7.0], [8.0, 6.0, 4.0, 2.0, 3.0]])


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.corrcoef(x, y)[0, 1])


def test_weighted_mean_cosine_is_the_hand_computation() -> None:
    est = _estimate(X, W, _llms(LLM_MEANS))
    for c in range(2):
        cosines = np.array([_pearson(X[i], LLM_MEANS[c]) for i in range(5)])  # cosine of z = Pearson r
        assert est.cosine[0, c] == pytest.approx((W * cosines).sum() / W.sum(), abs=1e-12)
    unweighted = _estimate(X, W, _llms(LLM_MEANS), weighted=False)
    cosines = np.array([_pearson(X[i], LLM_MEANS[0]) for i in range(5)])
    assert unweighted.cosine[0, 0] == pytest.approx(cosines.mean(), abs=1e-12)
    assert est.level_n[0] == 5 and est.status == "analysed"


def test_interval_is_the_percentile_of_hand_resampled_means() -> None:
    est = _estimate(X, W, _llms(LLM_MEANS), n_boot=400, seed=9)
    counts = bootstrap_counts(5, 400, child_seed(country_seed(9, "wvs7", "DE"), 0)).astype(float)
    cosines = np.array([_pearson(X[i], LLM_MEANS[1]) for i in range(5)])
    means = [(row * W * cosines).sum() / (row * W).sum() for row in counts]
    low, high = np.quantile(means, QUANTILES)
    assert est.cosine_ci[0, 0, 1] == pytest.approx(low, abs=1e-5)  # float32 replicates
    assert est.cosine_ci[1, 0, 1] == pytest.approx(high, abs=1e-5)
    assert (counts.sum(axis=1) == 5).all()


def test_an_item_never_asked_is_left_out_for_that_country_only() -> None:
    x = X.copy()
    x[:, 2] = np.nan  # "not asked in survey" (-4) for everyone here
    removals = {"none": (), "c": ("c",), "d": ("d",)}
    est = _estimate(x, W, _llms(LLM_MEANS), removals=removals)
    keep = [0, 1, 3, 4]
    cosines = np.array([_pearson(x[i, keep], LLM_MEANS[0, keep]) for i in range(5)])
    assert est.asked.tolist() == [True, True, False, True, True]
    assert est.n_complete == 5  # nobody is incomplete because of an item nobody was asked
    assert est.cosine[0, 0] == pytest.approx((W * cosines).sum() / W.sum(), abs=1e-12)
    assert est.level_applicable.tolist() == [True, False, True]  # removing "c" changes nothing here
    only = [0, 1, 4]
    cosines = np.array([_pearson(x[i, only], LLM_MEANS[0, only]) for i in range(5)])
    assert est.cosine[2, 0] == pytest.approx((W * cosines).sum() / W.sum(), abs=1e-12)
    assert np.isnan(est.distances["wasserstein"][:, 2]).all()
    assert not np.isnan(est.distances["wasserstein"][:, [0, 1, 3, 4]]).any()


def test_too_few_people_are_reported_not_estimated() -> None:
    est = _estimate(X, W, _llms(LLM_MEANS), min_n=6)
    assert est.status == "below_min_n" and "5 usable respondents" in est.reason
    assert est.cosine is None and est.n_respondents == 5 and int(est.level_n[0]) == 5


def test_straight_liners_count_in_distributions_not_in_cosines() -> None:
    x = np.vstack([X, [4.0, 4.0, 4.0, 4.0, 4.0]])
    w = np.append(W, 2.0)
    est = _estimate(x, w, _llms(LLM_MEANS))
    assert est.n_zero_variance == 1 and est.level_n[0] == 5 and est.n_respondents == 6
    cosines = np.array([_pearson(X[i], LLM_MEANS[0]) for i in range(5)])
    assert est.cosine[0, 0] == pytest.approx((W * cosines).sum() / W.sum(), abs=1e-12)
    # item "a": answers 1, 3, 9, 2, 5 and the straight-liner's 4, each with its weight
    by_hand = np.zeros(10)
    for answer, weight in zip(x[:, 0], w, strict=True):
        by_hand[int(answer) - 1] += weight
    np.testing.assert_allclose(est.distribution[0], by_hand / w.sum(), atol=1e-12)


def test_an_llm_condition_without_variance_is_flagged() -> None:
    means = np.vstack([LLM_MEANS, np.full(5, 5.0)])
    est = _estimate(X, W, _llms(means))
    assert est.llm_ok[0].tolist() == [True, True, False]
    assert np.isnan(est.cosine[0, 2])


@pytest.mark.slow
def test_intervals_cover_at_the_nominal_rate() -> None:
    """Weighted samples of 200 from a fixed population of 60,000: the 95% interval of the mean
    cosine should contain the population's weighted mean in about 95% of 300 samples."""
    rng = np.random.default_rng(2024)
    profile = np.array([3.0, 7.0, 2.0, 8.0, 5.0])
    population = np.clip(np.rint(profile + rng.normal(0, 2.2, (60_000, 5))), 1, 10)
    weights = rng.lognormal(0.0, 0.5, 60_000)
    llm = np.array([[2.0, 6.0, 3.0, 9.0, 4.0]])
    centred = population - population.mean(axis=1, keepdims=True)
    y = llm[0] - llm[0].mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        cosines = centred @ y / (np.linalg.norm(centred, axis=1) * np.linalg.norm(y))
    usable = ~np.isnan(cosines)
    truth = (weights[usable] * cosines[usable]).sum() / weights[usable].sum()
    hits = 0
    for s in range(300):
        rows = rng.choice(60_000, 200, replace=False)
        est = _estimate(population[rows], weights[rows], _llms(llm), n_boot=400, seed=s)
        hits += est.cosine_ci[0, 0, 0] <= truth <= est.cosine_ci[1, 0, 0]
    assert 0.91 <= hits / 300 <= 0.98, hits
