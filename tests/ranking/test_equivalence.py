"""TOST equivalence, minimum detectable effect and the conclusion of the CN-vs-US comparison."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from scipy import stats

from valuesurvey.ranking._equivalence import (
    equivalence_table,
    minimum_detectable_d,
    t_test_power,
    tost_welch,
)

CN = np.array([2.0, 4.0, 6.0, 8.0])
US = np.array([3.0, 5.0, 7.0])


def test_tost_equals_a_hand_computation():
    # By hand: means 5 and 5; variances 20/3 and 4; SE^2 = (20/3)/4 + 4/3 = 3;
    # Welch df = 3^2 / ((5/3)^2 / 3 + (4/3)^2 / 2) = 243/49.
    se, df = math.sqrt(3.0), 243.0 / 49.0
    res = tost_welch(CN, US, margin=4.0)
    assert res["estimate"] == 0.0
    assert res["std_error"] == pytest.approx(se)
    assert res["df"] == pytest.approx(df)
    assert res["t_lower"] == pytest.approx(4.0 / se)
    assert res["t_upper"] == pytest.approx(-4.0 / se)
    assert res["p_value"] == pytest.approx(stats.t.sf(4.0 / se, df))
    half = stats.t.ppf(0.95, df) * se
    assert (res["conf_low"], res["conf_high"]) == pytest.approx((-half, half))
    assert res["equivalence_bound"] == pytest.approx(half)
    # Equivalence at 0.05 exactly when the 90% CI lies inside the margin.
    for margin in (half * 0.99, half * 1.01):
        assert (tost_welch(CN, US, margin)["p_value"] < 0.05) == (half < margin)


def test_tost_with_a_shift_uses_the_less_favourable_side():
    shifted = US + 1.5
    res = tost_welch(CN, shifted, margin=3.0)
    se = math.sqrt(3.0)
    assert res["estimate"] == pytest.approx(-1.5)
    assert res["p_lower"] == pytest.approx(stats.t.sf((-1.5 + 3.0) / se, 243.0 / 49.0))
    assert res["p_upper"] == pytest.approx(stats.t.cdf((-1.5 - 3.0) / se, 243.0 / 49.0))
    assert res["p_value"] == res["p_lower"] > res["p_upper"]
    with pytest.raises(ValueError, match="margin"):
        tost_welch(CN, US, margin=0.0)


def test_minimum_detectable_effect_of_the_poster_panel():
    d = minimum_detectable_d(11, 9)
    assert d == pytest.approx(1.33, abs=0.005)  # the "d ≈ 1.3" for 11 vs 9 models
    assert t_test_power(d, 11, 9) == pytest.approx(0.8, abs=1e-8)
    assert d == pytest.approx(pg.power_ttest2n(11, 9, power=0.8, alpha=0.05), rel=1e-6)
    assert minimum_detectable_d(100, 100) < 0.4 < d
    # Power of the two-sided test by simulation at the MDE (noncentral t is exact for normal data).
    rng = np.random.default_rng(0)
    x, y = rng.normal(d, 1, size=(4000, 11)), rng.normal(0, 1, size=(4000, 9))
    rejected = stats.ttest_ind(x, y, axis=1).pvalue < 0.05
    assert rejected.mean() == pytest.approx(0.8, abs=0.025)


def _scores(shift: float, sd: float, n_cn: int, n_us: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cn = rng.normal(10 + shift, sd, n_cn)
    us = rng.normal(10, sd, n_us)
    return pd.DataFrame({"origin": ["CN"] * n_cn + ["US"] * n_us, "term": "a", "score": np.r_[cn, us]})


@pytest.mark.parametrize(
    ("shift", "sd", "n", "difference_p", "expected"),
    [
        (0.0, 0.3, 60, 0.9, "equivalence"),  # many models, small spread: shown within ±1
        (0.0, 2.0, 10, 0.9, "inconclusive"),  # the poster's situation: not shown
        (3.0, 1.0, 10, 0.001, "difference"),
        (0.3, 0.2, 60, 0.001, "difference_within_margin"),
    ],
)
def test_conclusion_from_the_tests(shift, sd, n, difference_p, expected):
    frame = _scores(shift, sd, n, n, seed=1)
    out = equivalence_table(
        frame,
        level="dimension",
        term_column="term",
        score_column="score",
        margin=1.0,
        difference_p={"a": difference_p},
    ).iloc[0]
    assert out["conclusion"] == expected
    x = frame.loc[frame["origin"] == "CN", "score"].to_numpy()
    y = frame.loc[frame["origin"] == "US", "score"].to_numpy()
    assert out["p_value"] == pytest.approx(tost_welch(x, y, 1.0)["p_value"])
    sd_pooled = math.sqrt((x.var(ddof=1) + y.var(ddof=1)) / 2)
    assert out["sd_pooled"] == pytest.approx(sd_pooled)
    assert out["mde"] == pytest.approx(minimum_detectable_d(n, n) * sd_pooled)
    assert out["power_at_margin"] == pytest.approx(t_test_power(1.0 / sd_pooled, n, n))


def test_equivalence_is_holm_adjusted_within_the_family():
    frames = [_scores(0.0, 0.5, 30, 30, seed=s).assign(term=f"t{s}") for s in range(4)]
    out = equivalence_table(pd.concat(frames), level="value", term_column="term", score_column="score")
    p = out["p_value"].to_numpy()
    assert out["p_holm"].to_numpy() == pytest.approx(pg.multicomp(p, method="holm")[1])
    assert (out["equivalent"] == (out["p_holm"] < 0.05)).all()
    assert list(out.columns[:3]) == ["analysis", "model", "term"] and (out["model"] == "tost_welch").all()
