"""Parameter recovery with by-model slopes: the recommended model's 95% CIs cover the true RQ1 effects at
about the nominal rate; the intercept-only model and lm do not (benchmarks/recovery.py does 300 studies)."""

from __future__ import annotations

import pytest

from valuesurvey.simulation.cosines import (
    KEY_TERMS,
    CosineDesign,
    CosineTruth,
    coverage_line,
    recovery,
    recovery_summary,
)

pytestmark = [pytest.mark.timeout(600), pytest.mark.slow]


def test_recommended_covers_truth_where_intercepts_and_lm_do_not() -> None:
    truth = CosineTruth()  # by-model nationality slope SD 0.05, by-participant origin slope SD 0.02
    results = recovery(range(30), truth, design=CosineDesign(people=(60, 60), models=(6, 6)))
    summary = recovery_summary(results).set_index(["model", "term"])
    recommended = summary.loc["recommended"].loc[list(KEY_TERMS["rq1"])]
    # 30 studies (fixed seeds): a binomial 95% band around 0.95 is about [0.85, 1.0]
    assert (recommended["coverage"] >= 0.85).all(), recommended
    assert abs(recommended.loc["nationalityCN:originCN", "bias"]) < 0.01
    assert 0.7 < recommended.loc["nationalityCN:originCN", "se_ratio"] < 1.5
    # the interaction varies between models: intercept-only SEs ignore that, lm's ignore everything
    assert summary.loc[("intercepts", "nationalityCN:originCN"), "coverage"] < 0.75
    assert summary.loc[("lm", "originCN"), "se_ratio"] < 0.5
    line = coverage_line(results, KEY_TERMS["rq1"])
    assert line.startswith("coverage: recommended ") and ", intercepts " in line and ", lm " in line
