"""RQ1–RQ3 in R: coding visible in the design matrix, estimates equal a direct Rscript fit."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lmer_agreement import assert_fits_agree

from valuesurvey.regressions import analysis_rows, design_matrix, excluded_models, fit_rq, side_by_side
from valuesurvey.simulation.cosines import simulate_rq1_cosines

pytestmark = pytest.mark.timeout(300)


def _rq2_data(seed: int = 2) -> pd.DataFrame:
    base = simulate_rq1_cosines(n_people=8, n_models=3, seed=seed)
    rng = np.random.default_rng(seed)
    parts = [base.assign(language=lang, persona=pers) for lang in ("en", "zh") for pers in ("cn", "us")]
    data = pd.concat(parts, ignore_index=True)
    return data.assign(cosine=data["cosine"] + rng.normal(0, 0.05, len(data)))


def _rq3_data(seed: int = 3) -> pd.DataFrame:
    base = simulate_rq1_cosines(n_people=8, n_models=3, seed=seed)
    rng = np.random.default_rng(seed)
    parts = [base.assign(removed=level) for level in ("none", "Care", "Purity")]
    data = pd.concat(parts, ignore_index=True)
    return data.assign(cosine=data["cosine"] + rng.normal(0, 0.05, len(data)))


def test_rq1_half_sum_coding_in_design_matrix() -> None:
    data = simulate_rq1_cosines(n_people=2, n_models=1, seed=0)
    mm = design_matrix(data, "rq1")
    assert list(mm.columns) == ["(Intercept)", "nationalityCN", "originCN", "nationalityCN:originCN"]
    expected_nat = np.where(data["nationality"] == "CN", 0.5, -0.5)
    expected_org = np.where(data["origin"] == "CN", 0.5, -0.5)
    np.testing.assert_array_equal(mm["nationalityCN"], expected_nat)
    np.testing.assert_array_equal(mm["originCN"], expected_org)
    np.testing.assert_array_equal(mm["nationalityCN:originCN"], expected_nat * expected_org)


def test_rq2_congruence_coding_in_design_matrix() -> None:
    data = _rq2_data()
    mm = design_matrix(data, "rq2")
    native = np.where(data["nationality"] == "CN", "zh", "en")
    lang = np.where(data["language"] == native, 0.5, -0.5)
    pers = np.where(data["persona"].str.upper() == data["nationality"], 0.5, -0.5)
    orig = np.where(data["origin"] == data["nationality"], 0.5, -0.5)
    np.testing.assert_array_equal(mm["language_congruentyes"], lang)
    np.testing.assert_array_equal(mm["persona_congruentyes"], pers)
    np.testing.assert_array_equal(mm["origin_congruentyes"], orig)
    three = "language_congruentyes:persona_congruentyes:origin_congruentyes"
    np.testing.assert_array_equal(mm[three], lang * pers * orig)


def test_rq3_removed_treatment_coded_none_zero() -> None:
    data = _rq3_data()
    mm = design_matrix(data, "rq3")
    np.testing.assert_array_equal(mm["removedCare"], (data["removed"] == "Care").astype(float))
    np.testing.assert_array_equal(mm["removedPurity"], (data["removed"] == "Purity").astype(float))
    assert "removednone" not in mm.columns
    none_rows = data["removed"] == "none"
    assert (mm.loc[none_rows, [c for c in mm.columns if "removed" in c]] == 0).all().all()


DIRECT_R = r"""
suppressPackageStartupMessages(library(lmerTest))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
d$nat <- ifelse(d$nationality == "CN", 0.5, -0.5)
d$org <- ifelse(d$origin == "CN", 0.5, -0.5)
if (args[3] == "rq3") {
  d$removed <- factor(d$removed, levels = c("none", setdiff(unique(d$removed), "none")))
  f_lm <- cosine ~ nat * org * removed
} else f_lm <- cosine ~ nat * org
m1 <- lm(f_lm, data = d)
m2 <- lmer(update(f_lm, . ~ . + (1 | participant) + (1 | model)), data = d, REML = TRUE,
           control = lmerControl(optimizer = "bobyqa"))
c1 <- summary(m1)$coefficients; c2 <- summary(m2, ddf = "Satterthwaite")$coefficients
out <- rbind(data.frame(model = "lm", estimate = c1[, 1], std_error = c1[, 2], df = m1$df.residual, p_value = c1[, 4]),
             data.frame(model = "lmer", estimate = c2[, 1], std_error = c2[, 2], df = c2[, "df"], p_value = c2[, 5]))
write.csv(out, args[2], row.names = FALSE)
"""


@pytest.mark.parametrize("analysis", ["rq1", "rq3"])
def test_estimates_equal_direct_rscript_fit(tmp_path: Path, analysis: str) -> None:
    data = simulate_rq1_cosines(n_people=15, n_models=4, seed=11) if analysis == "rq1" else _rq3_data(5)
    data.to_csv(tmp_path / "d.csv", index=False, float_format="%.17g")
    (tmp_path / "direct.R").write_text(DIRECT_R)
    subprocess.run(
        ["Rscript", str(tmp_path / "direct.R"), str(tmp_path / "d.csv"), str(tmp_path / "out.csv"), analysis],
        check=True,
        capture_output=True,
    )
    direct = pd.read_csv(tmp_path / "out.csv")
    ours = fit_rq(data, analysis).tidy
    assert list(ours.columns[:11]) == [
        "analysis", "model", "term", "estimate", "std_error", "df", "statistic", "p_value",
        "conf_low", "conf_high", "method",
    ]  # fmt: skip
    columns = list(direct.columns)  # model, estimate, std_error, df, p_value
    for model, exact in (("lm", tuple(columns[1:])), ("lmer", ())):  # lmer: see tests/lmer_agreement.py
        rows = ours["model"] == model
        assert_fits_agree(ours.loc[rows, columns], direct.loc[rows, columns], name=model, exact=exact)


def test_side_by_side_and_fit_info() -> None:
    fitted = fit_rq(simulate_rq1_cosines(n_people=15, n_models=4, seed=1), "rq1", instrument="toy")
    table = side_by_side(fitted.tidy)
    assert table["term"].tolist() == ["(Intercept)", "nationalityCN", "originCN", "nationalityCN:originCN"]
    assert {"lm_estimate", "lmer_estimate", "lmer_df", "se_ratio_lmer_lm"} <= set(table.columns)
    np.testing.assert_allclose(table["lm_estimate"], table["lmer_estimate"], atol=1e-10)  # balanced design
    assert set(fitted.glance["model"]) == {"lm", "lmer"}
    lmer = fitted.glance[fitted.glance["model"] == "lmer"].iloc[0]
    assert lmer["n_participant"] == 30 and lmer["n_model"] == 8


def test_rq3_per_level_lmer_matches_two_level_fits() -> None:
    data = _rq3_data(8)
    per = fit_rq(data, "rq3", fits=("lmer",), rq3_lmer="per_level").tidy.set_index("term")
    care = fit_rq(data[data["removed"].isin(["none", "Care"])], "rq3", fits=("lmer",)).tidy.set_index("term")
    for term in care.index:
        assert per.loc[term, "estimate"] == pytest.approx(care.loc[term, "estimate"], abs=1e-8)
    assert "removedPurity" in per.index and "fitted per removal level" in per["method"].iloc[0]


def test_rows_and_exclusions_per_analysis() -> None:
    sim = pd.DataFrame(
        {
            "nationality": ["CN", "CN", "US", "US", "CN"], "language": ["zh", "en", "en", "en", "zh"],
            "persona": ["none", "none", "none", "cn", "none"], "removed": ["none", "none", "none", "none", "Care"],
        }
    )  # fmt: skip
    assert analysis_rows(sim, "rq1").tolist() == [True, False, True, False, False]
    assert analysis_rows(sim, "rq2").tolist() == [False, False, False, True, False]
    assert analysis_rows(sim, "rq3").tolist() == [True, False, True, False, True]
    excl = pd.DataFrame(
        {"model": ["a", "b"], "language": ["en", "zh"], "persona": ["none", "us"], "item": "Q184"}
    )
    assert excluded_models(excl, "rq1")["model"].tolist() == ["a"]
    assert excluded_models(excl, "rq2")["model"].tolist() == ["b"]
