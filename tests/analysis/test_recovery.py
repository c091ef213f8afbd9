"""Parameter recovery: 95% CIs of the lmer fit cover the true RQ1 effects at about the nominal rate."""

from __future__ import annotations

import pytest

from valuesurvey.simulation.cosines import CosineTruth, recovery, recovery_summary

pytestmark = [pytest.mark.timeout(300), pytest.mark.slow]


def test_lmer_covers_truth_and_lm_understates_origin_uncertainty() -> None:
    truth = CosineTruth()  # nationality -0.30, nationality x origin +0.03
    summary = recovery_summary(recovery(range(40), truth, n_people=40, n_models=6)).set_index(
        ["model", "term"]
    )
    lmer = summary.loc["lmer"]
    # 40 seeds: a binomial 95% band around 0.95 is about [0.85, 1.0]
    assert (lmer["coverage"] >= 0.85).all(), lmer
    assert abs(lmer.loc["nationalityCN", "bias"]) < 0.01
    assert abs(lmer.loc["nationalityCN:originCN", "bias"]) < 0.01
    # origin varies only between models: lm treats rows as independent and its SE is far too small
    lm_origin = summary.loc[("lm", "originCN")]
    assert lm_origin["se_ratio"] < 0.5 and lm_origin["coverage"] < 0.7
    assert 0.7 < lmer.loc["originCN", "se_ratio"] < 1.4
