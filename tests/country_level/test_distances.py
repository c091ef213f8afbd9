"""Distribution distances against SciPy (to 1e-12), the float32 replicate kernels against them, and
the cultural fixation index against its two-group formula."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

from valuesurvey.country_level import cultural_fst, jensen_shannon, wasserstein_ordinal
from valuesurvey.country_level._distances import jensen_shannon_replicates, wasserstein_replicates


def _random_distributions(rng: np.random.Generator, n: int, k: int, zeros: float = 0.3) -> np.ndarray:
    weights = rng.random((n, k))
    weights[rng.random((n, k)) < zeros] = 0.0
    weights[weights.sum(axis=1) == 0, 0] = 1.0
    return weights


@pytest.mark.parametrize("k", [2, 5, 10])
def test_wasserstein_equals_scipy_on_random_inputs(k: int) -> None:
    rng = np.random.default_rng(k)
    p, q = _random_distributions(rng, 500, k), _random_distributions(rng, 500, k)
    points = np.arange(1, k + 1, dtype=float)
    ours = wasserstein_ordinal(p, q)  # weights, not yet normalised: both normalise
    theirs = np.array([wasserstein_distance(points, points, a, b) for a, b in zip(p, q, strict=True)])
    np.testing.assert_allclose(ours, theirs / (k - 1), rtol=0, atol=1e-12)
    raw = wasserstein_ordinal(p, q, normalize=False)
    np.testing.assert_allclose(raw, theirs, rtol=0, atol=1e-12)


def test_wasserstein_with_unequal_spacing_equals_scipy() -> None:
    rng = np.random.default_rng(0)
    points = np.array([0.0, 1.0, 3.0, 7.5])
    p, q = _random_distributions(rng, 200, 4), _random_distributions(rng, 200, 4)
    theirs = np.array([wasserstein_distance(points, points, a, b) for a, b in zip(p, q, strict=True)])
    np.testing.assert_allclose(wasserstein_ordinal(p, q, points=points, normalize=False), theirs, atol=1e-12)
    np.testing.assert_allclose(wasserstein_ordinal(p, q, points=points), theirs / 7.5, atol=1e-12)


@pytest.mark.parametrize(("k", "base"), [(2, 2.0), (5, 2.0), (10, 2.0), (10, np.e)])
def test_jensen_shannon_equals_scipy_on_random_inputs(k: int, base: float) -> None:
    rng = np.random.default_rng(k + 100)
    p, q = _random_distributions(rng, 500, k), _random_distributions(rng, 500, k)
    ours = jensen_shannon(p, q, base=base)
    theirs = np.array([jensenshannon(a, b, base=base) for a, b in zip(p, q, strict=True)])
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


probabilities = arrays(np.float64, 10, elements=st.floats(0.0, 1.0, allow_subnormal=False)).filter(
    lambda a: a.sum() > 1e-6
)


@settings(max_examples=200, deadline=None)
@given(probabilities, probabilities)
def test_distances_match_scipy_for_any_distributions(p: np.ndarray, q: np.ndarray) -> None:
    points = np.arange(1.0, 11.0)
    assert abs(wasserstein_ordinal(p, q) - wasserstein_distance(points, points, p, q) / 9) < 1e-12
    assert abs(jensen_shannon(p, q) - jensenshannon(p, q, base=2)) < 1e-12
    assert 0.0 <= wasserstein_ordinal(p, q) <= 1.0 + 1e-12
    assert 0.0 <= jensen_shannon(p, q) <= 1.0 + 1e-12


def test_distances_broadcast_one_country_against_many_conditions() -> None:
    rng = np.random.default_rng(3)
    human = _random_distributions(rng, 19, 10)  # items × K
    llms = _random_distributions(rng, 7 * 19, 10).reshape(7, 19, 10)  # conditions × items × K
    out = wasserstein_ordinal(human[None], llms)
    assert out.shape == (7, 19)
    assert out[4, 11] == pytest.approx(float(wasserstein_ordinal(human[11], llms[4, 11])), abs=1e-15)


def test_replicate_kernels_agree_with_the_estimates() -> None:
    rng = np.random.default_rng(4)
    humans = _random_distributions(rng, 40 * 19, 10).reshape(40, 19, 10)
    humans /= humans.sum(axis=-1, keepdims=True)
    llms = _random_distributions(rng, 9 * 19, 10, zeros=0.6).reshape(9, 19, 10)
    llms /= llms.sum(axis=-1, keepdims=True)
    w1 = wasserstein_replicates(humans, llms)
    js = jensen_shannon_replicates(humans, llms)
    assert w1.shape == js.shape == (40, 9, 19) and w1.dtype == js.dtype == np.float32
    np.testing.assert_allclose(w1, wasserstein_ordinal(humans[:, None], llms[None]), atol=1e-6)
    np.testing.assert_allclose(js, jensen_shannon(humans[:, None], llms[None]), atol=5e-5)


def test_cultural_fst_is_hudsons_estimator_by_hand() -> None:
    # Two items; Hudson et al. (1992): 1 - sum(H_within) / sum(H_between), with
    # H_within = mean of n/(n-1) (1 - sum p^2) over the two samples, H_between = 1 - sum p q.
    p = np.array([[0.25, 0.75], [0.6, 0.4]])
    q = np.array([[0.75, 0.25], [0.1, 0.9]])
    n_p, n_q = np.array([120.0, 110.0]), np.array([80.0, 70.0])
    within = sum(
        (n_p[j] / (n_p[j] - 1) * (1 - (p[j] ** 2).sum()) + n_q[j] / (n_q[j] - 1) * (1 - (q[j] ** 2).sum()))
        / 2
        for j in range(2)
    )
    between = sum(1 - (p[j] * q[j]).sum() for j in range(2))
    assert float(cultural_fst(p, q, n_p, n_q)) == pytest.approx(1 - within / between, abs=1e-12)


def test_cultural_fst_is_unbiased_for_samples_of_one_population() -> None:
    """Pairs of samples of 150 from one population: Hudson's F_ST averages 0 (the plug-in
    (H_T - H_S) / H_T would average about 1/(2n) > 0)."""
    rng = np.random.default_rng(11)
    truth = rng.dirichlet(np.ones(10), size=19)
    values = []
    for _ in range(400):
        a = np.stack([rng.multinomial(150, t) / 150 for t in truth])
        b = np.stack([rng.multinomial(150, t) / 150 for t in truth])
        values.append(float(cultural_fst(a, b, np.full(19, 150.0), np.full(19, 150.0))))
    assert abs(np.mean(values)) < 3 * np.std(values) / np.sqrt(len(values))
    disjoint = cultural_fst([[1.0, 0.0]], [[0.0, 1.0]], [50], [50])
    assert float(disjoint) == pytest.approx(1.0)


def test_bad_distributions_are_refused() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        wasserstein_ordinal([0.5, -0.5], [0.5, 0.5])
    with pytest.raises(ValueError, match="sum to 0"):
        jensen_shannon([0.0, 0.0], [0.5, 0.5])
    with pytest.raises(ValueError, match="scale points"):
        jensen_shannon([1.0, 0.0, 0.0], [0.5, 0.5])
    with pytest.raises(ValueError, match="increasing"):
        wasserstein_ordinal([0.5, 0.5], [0.5, 0.5], points=[2.0, 1.0])
