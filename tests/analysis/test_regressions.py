"""RQ1–RQ3 in R: coding visible in the design matrix; every fit equals plain R run directly (lm,
lmerTest on the recommended formula, emmeans); the simplification sequence on singular data;
the two-stage check; Holm/BH; bad random-effects settings."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lmer_agreement import assert_fits_agree
from statsmodels.stats.multitest import multipletests

from valuesurvey.errors import RError
from valuesurvey.regressions import (
    analysis_rows,
    check_random_effects,
    design_matrix,
    excluded_models,
    fit_rq,
    side_by_side,
)
from valuesurvey.simulation.cosines import CosineDesign, CosineTruth, simulate_cosines, simulate_rq1_cosines

pytestmark = pytest.mark.timeout(600)

TIDY = ["term", "estimate", "std_error", "df", "p_value"]


def _rq2_data(seed: int = 2) -> pd.DataFrame:
    return simulate_cosines(
        CosineTruth(), CosineDesign(people=(14, 12), models=(4, 4)), analysis="rq2", seed=seed
    )


def _rq3_data(seed: int = 3, levels: tuple[str, ...] = ("none", "Care", "Purity")) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    base = simulate_cosines(CosineTruth(), CosineDesign(people=(16, 13), models=(4, 4)), seed=seed)
    parts = []
    for k, level in enumerate(levels):
        model_shift = rng.normal(0, 0.04, 8)[base["model"].str[3:5].astype(int)] * (k > 0)
        parts.append(
            base.assign(removed=level, cosine=base["cosine"] + model_shift + rng.normal(0, 0.04, len(base)))
        )
    return pd.concat(parts, ignore_index=True)


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


# Plain R: the paper's lm, and lmerTest::lmer on the formula our simplification recommends.
DIRECT_R = r"""
suppressPackageStartupMessages({library(lmerTest); library(emmeans)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1], stringsAsFactors = FALSE)
analysis <- args[3]
half <- function(x, level) { f <- factor(x, levels = sort(unique(x))); contrasts(f) <- matrix(
  ifelse(levels(f) == level, .5, -.5), ncol = 1, dimnames = list(levels(f), level)); f }
d$nationalityCN <- ifelse(d$nationality == "CN", .5, -.5); d$originCN <- ifelse(d$origin == "CN", .5, -.5)
if (analysis == "rq2") {
  native <- ifelse(d$nationality == "CN", "zh", "en")
  d$language_congruent <- half(ifelse(d$language == native, "yes", "no"), "yes")
  d$persona_congruent <- half(ifelse(toupper(d$persona) == d$nationality, "yes", "no"), "yes")
  d$origin_congruent <- half(ifelse(d$origin == d$nationality, "yes", "no"), "yes")
  for (v in c("language_congruent", "persona_congruent", "origin_congruent")) d[[paste0(v, "yes")]] <- ifelse(d[[v]] == "yes", .5, -.5)
}
d$nationality <- half(d$nationality, "CN"); d$origin <- half(d$origin, "CN")
paper <- switch(analysis, rq1 = cosine ~ nationality * origin,
                rq2 = cosine ~ language_congruent * persona_congruent * origin_congruent)
out <- list()
m1 <- lm(paper, d)
c1 <- summary(m1)$coefficients
out$lm <- data.frame(model = "lm", term = rownames(c1), estimate = c1[, 1], std_error = c1[, 2],
                     df = m1$df.residual, p_value = c1[, 4])
m2 <- lmer(as.formula(args[4]), data = d, REML = TRUE, control = lmerControl(optimizer = "bobyqa"))
c2 <- summary(m2, ddf = "Satterthwaite")$coefficients
out$lmer <- data.frame(model = "lmer", term = rownames(c2), estimate = c2[, 1], std_error = c2[, 2],
                       df = c2[, "df"], p_value = c2[, 5])
write.csv(do.call(rbind, out), paste0(args[2], "_tidy.csv"), row.names = FALSE)
write.csv(data.frame(singular = isSingular(m2)), paste0(args[2], "_singular.csv"), row.names = FALSE)
if (analysis == "rq1") {
  emm_options(lmer.df = "satterthwaite")
  ct <- as.data.frame(pairs(emmeans(m2, ~ nationality | origin)))
  write.csv(ct, paste0(args[2], "_emmeans.csv"), row.names = FALSE)
}
"""


def _direct(tmp_path: Path, data: pd.DataFrame, analysis: str, formula: str) -> dict[str, pd.DataFrame]:
    data.to_csv(tmp_path / "d.csv", index=False, float_format="%.17g")
    (tmp_path / "direct.R").write_text(DIRECT_R)
    subprocess.run(
        [
            "Rscript",
            str(tmp_path / "direct.R"),
            str(tmp_path / "d.csv"),
            str(tmp_path / "out"),
            analysis,
            formula,
        ],
        check=True,
        capture_output=True,
    )
    out = {
        "tidy": pd.read_csv(tmp_path / "out_tidy.csv"),
        "singular": pd.read_csv(tmp_path / "out_singular.csv"),
    }
    if (tmp_path / "out_emmeans.csv").exists():
        out["emmeans"] = pd.read_csv(tmp_path / "out_emmeans.csv")
    return out


def _lmer_formula(fitted, level: str | None = None) -> str:
    glance = fitted.glance[fitted.glance["model"] == "lmer"]
    if level is not None:
        glance = glance[glance["level"] == level]
    return str(glance["formula"].iloc[0])


@pytest.mark.parametrize("analysis", ["rq1", "rq2"])
def test_recommended_and_lm_equal_plain_r(tmp_path: Path, analysis: str) -> None:
    if analysis == "rq1":
        data = simulate_cosines(CosineTruth(), CosineDesign(people=(24, 19), models=(5, 5)), seed=11)
    else:
        data = _rq2_data(4)
    fitted = fit_rq(data, analysis)
    assert list(fitted.tidy.columns[:11]) == [
        "analysis", "model", "term", "estimate", "std_error", "df", "statistic", "p_value",
        "conf_low", "conf_high", "method",
    ]  # fmt: skip
    formula = _lmer_formula(fitted)
    direct = _direct(tmp_path, data, analysis, formula)
    assert not bool(direct["singular"]["singular"].iloc[0]), f"the recommended {formula} is singular in lme4"
    for model, exact in (("lm", tuple(TIDY[1:])), ("lmer", ())):
        ours = fitted.tidy[fitted.tidy["model"] == model][TIDY].reset_index(drop=True)
        theirs = direct["tidy"][direct["tidy"]["model"] == model][TIDY].reset_index(drop=True)
        assert_fits_agree(ours, theirs, name=f"{analysis} {model}", exact=exact)
    if analysis == "rq1":  # nationality within each origin, as emmeans computes it
        ours = fitted.simple_effects
        ours = ours[(ours["model"] == "lmer") & (ours["effect"] == "nationality")].reset_index(drop=True)
        emm = direct["emmeans"].sort_values("origin").reset_index(drop=True)  # origin = CN, then US
        assert list(ours["at"]) == ["origin = CN", "origin = US"]
        np.testing.assert_allclose(ours["estimate"], emm["estimate"], atol=1e-8)
        np.testing.assert_allclose(ours["std_error"], emm["SE"], rtol=3e-4)
        np.testing.assert_allclose(ours["df"], emm["df"], rtol=2e-3)


def test_rq3_lm_and_differences_equal_plain_r(tmp_path: Path) -> None:
    data = _rq3_data(5)
    fitted = fit_rq(data, "rq3")
    tidy = fitted.tidy
    # lm: the paper's full model, exactly (computed level by level in R/rq_models.R)
    script = r"""
    suppressPackageStartupMessages(library(lmerTest))
    args <- commandArgs(trailingOnly = TRUE)
    d <- read.csv(args[1], stringsAsFactors = FALSE)
    half <- function(x) { f <- factor(x); contrasts(f) <- matrix(ifelse(levels(f) == "CN", .5, -.5), ncol = 1,
      dimnames = list(levels(f), "CN")); f }
    d$nationalityCN <- ifelse(d$nationality == "CN", .5, -.5); d$originCN <- ifelse(d$origin == "CN", .5, -.5)
    d$nationality <- half(d$nationality); d$origin <- half(d$origin)
    d$removed <- factor(d$removed, levels = c("none", setdiff(unique(d$removed), "none")))
    m <- lm(cosine ~ nationality * origin * removed, d)
    co <- summary(m)$coefficients
    out <- data.frame(level = "", term = rownames(co), estimate = co[, 1], std_error = co[, 2],
                      df = m$df.residual, p_value = co[, 4])
    # lmer: each removal level on the within-pair differences, with the formula our record selected
    formulas <- read.csv(args[3], stringsAsFactors = FALSE)
    none <- d[d$removed == "none", ]
    for (i in seq_len(nrow(formulas))) {
      lv <- formulas$level[i]
      x <- if (lv == "none") none else {
        at <- d[d$removed == lv, ]
        at$cosine <- at$cosine - none$cosine[match(paste(at$participant, at$model), paste(none$participant, none$model))]
        at
      }
      f <- lmer(as.formula(formulas$formula[i]), data = x, REML = TRUE, control = lmerControl(optimizer = "bobyqa"))
      co <- summary(f, ddf = "Satterthwaite")$coefficients
      out <- rbind(out, data.frame(level = lv, term = rownames(co), estimate = co[, 1], std_error = co[, 2],
                                   df = co[, "df"], p_value = co[, 5]))
    }
    write.csv(out, args[2], row.names = FALSE)
    """
    glance = fitted.glance[fitted.glance["model"] == "lmer"][["level", "formula"]]
    assert set(glance["level"]) == {"none", "Care", "Purity"}
    glance.to_csv(tmp_path / "formulas.csv", index=False)
    data.to_csv(tmp_path / "d.csv", index=False, float_format="%.17g")
    (tmp_path / "direct.R").write_text(script)
    subprocess.run(
        [
            "Rscript",
            str(tmp_path / "direct.R"),
            str(tmp_path / "d.csv"),
            str(tmp_path / "out.csv"),
            str(tmp_path / "formulas.csv"),
        ],
        check=True,
        capture_output=True,
    )
    direct = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    lm_direct = direct[direct["level"] == ""][TIDY].reset_index(drop=True)
    ours_lm = tidy[tidy["model"] == "lm"][TIDY].reset_index(drop=True)
    assert_fits_agree(ours_lm, lm_direct, name="rq3 lm", exact=tuple(TIDY[1:]))
    rename = {"(Intercept)": "removed{}", "nationalityCN": "nationalityCN:removed{}", "originCN": "originCN:removed{}",
              "nationalityCN:originCN": "nationalityCN:originCN:removed{}"}  # fmt: skip
    lmer_direct = direct[direct["level"] != ""].copy()
    lmer_direct["term"] = [
        term if level == "none" else rename[term].format(level)
        for term, level in zip(lmer_direct["term"], lmer_direct["level"], strict=True)
    ]
    ours = tidy[tidy["model"] == "lmer"].set_index("term")[TIDY[1:]]
    theirs = lmer_direct.set_index("term")[TIDY[1:]].reindex(ours.index)
    assert_fits_agree(ours.reset_index(), theirs.reset_index(), name="rq3 lmer on differences")
    # the removal terms' point estimates are the full model's (lm), the within-pair differences' SEs are not
    removal = [t for t in ours.index if "removed" in t]
    np.testing.assert_allclose(
        ours.loc[removal, "estimate"], ours_lm.set_index("term").loc[removal, "estimate"], atol=1e-10
    )


def _singular_rq1(seed: int) -> pd.DataFrame:
    """Data built to be singular: every model's nationality difference equals its origin's mean and
    every person's origin difference its nationality's mean, so both slope variances are exactly 0."""
    data = simulate_cosines(CosineTruth(), CosineDesign(people=(30, 30), models=(5, 5)), seed=seed)
    s = np.where(data["nationality"] == "CN", 0.5, -0.5)
    o = np.where(data["origin"] == "CN", 0.5, -0.5)
    cells = data.groupby(["model", "nationality"])["cosine"].mean().unstack()
    delta = (cells["CN"] - cells["US"]).rename("delta").reset_index()
    delta["excess"] = delta["delta"] - delta.groupby(delta["model"].str[-2:])["delta"].transform("mean")
    data["cosine"] -= s * data["model"].map(delta.set_index("model")["excess"]).to_numpy()
    cells = data.groupby(["participant", "origin"])["cosine"].mean().unstack()
    eps = (cells["CN"] - cells["US"]).rename("eps").reset_index()
    eps["nationality"] = eps["participant"].map(
        data.drop_duplicates("participant").set_index("participant")["nationality"]
    )
    eps["excess"] = eps["eps"] - eps.groupby("nationality")["eps"].transform("mean")
    data["cosine"] -= o * data["participant"].map(eps.set_index("participant")["excess"]).to_numpy()
    return data


def test_simplification_on_singular_data(tmp_path: Path) -> None:
    """No by-model or by-person slope variation in the data: the maximal model is singular, and the
    recorded sequence drops the correlations, then the components estimated at zero."""
    data = _singular_rq1(2)
    fitted = fit_rq(data, "rq1", fits=("lmer",))
    record = fitted.simplification
    assert list(record["step"]) == list(range(1, len(record) + 1))
    assert record["singular"].iloc[0]
    assert record["decision"].iloc[0] == "singular: drop the correlations (||)"
    assert record["random"].iloc[1] == "(1 + originCN || participant) + (1 + nationalityCN || model)"
    assert "estimated at zero" in record["decision"].iloc[1]
    final = record[record["selected"]].iloc[0]
    assert not final["singular"] and final["converged"] and final["decision"].startswith("accepted")
    assert final["random"] == "(1 | participant) + (1 | model)"
    glance = fitted.glance[fitted.glance["model"] == "lmer"].iloc[0]
    assert glance["random_final"] == final["random"] and not glance["singular"]
    assert glance["random_requested"] == "(1 + originCN | participant) + (1 + nationalityCN | model)"
    # lme4 agrees: the maximal structure is singular there, the selected one is not
    maximal = "cosine ~ nationality * origin + " + glance["random_requested"]
    assert bool(_direct(tmp_path, data, "rq1", maximal)["singular"]["singular"].iloc[0])
    assert not bool(_direct(tmp_path, data, "rq1", glance["formula"])["singular"]["singular"].iloc[0])


def test_two_stage_is_the_design_based_check() -> None:
    data = simulate_cosines(CosineTruth(), CosineDesign(people=(20, 15), models=(4, 5)), seed=9)
    fitted = fit_rq(data, "rq1", fits=("lm", "two_stage"))
    two = fitted.tidy[fitted.tidy["model"] == "two_stage"].set_index("term")
    lm = fitted.tidy[fitted.tidy["model"] == "lm"].set_index("term")
    # a complete crossing: the per-model contrasts average to the lm estimates
    np.testing.assert_allclose(two["estimate"], lm.loc[two.index, "estimate"], atol=1e-12)
    assert (two["df"] == 9 - 2).all()
    # by hand: per model, the CN - US difference of person means, regressed on origin
    means = data.groupby(["model", "origin", "nationality"])["cosine"].mean().unstack()
    delta = (means["CN"] - means["US"]).reset_index()
    o = np.where(delta["origin"] == "CN", 0.5, -0.5)
    X = np.column_stack([np.ones(len(o)), o])
    beta, rss, *_ = np.linalg.lstsq(X, delta[0].to_numpy(), rcond=None)
    np.testing.assert_allclose(
        two.loc[["nationalityCN", "nationalityCN:originCN"], "estimate"], beta, atol=1e-12
    )
    se = np.sqrt(rss[0] / (len(o) - 2) * np.diag(np.linalg.inv(X.T @ X)))
    np.testing.assert_allclose(
        two.loc[["nationalityCN", "nationalityCN:originCN"], "std_error"], se, rtol=1e-10
    )


def test_holm_and_bh_over_the_rq3_removal_family() -> None:
    fitted = fit_rq(_rq3_data(6, ("none", "Care", "Purity", "Loyalty")), "rq3", fits=("lm", "two_stage"))
    for model, part in fitted.tidy.groupby("model"):
        family = part[part["term"].str.match(r"^(nationalityCN|originCN):removed")]
        assert len(family) == 6, model
        np.testing.assert_allclose(family["p_holm"], multipletests(family["p_value"], method="holm")[1])
        np.testing.assert_allclose(family["p_bh"], multipletests(family["p_value"], method="fdr_bh")[1])
        assert part.loc[~part.index.isin(family.index), "p_holm"].isna().all()


def test_weighted_lm_and_two_stage() -> None:
    data = simulate_cosines(CosineTruth(), CosineDesign(people=(20, 15), models=(4, 4)), seed=12)
    weight = dict(
        zip(data["participant"].unique(), np.random.default_rng(1).uniform(0.5, 2, 35), strict=True)
    )
    data["weight"] = data["participant"].map(weight)
    fitted = fit_rq(data, "rq1", weighted=True)
    assert set(fitted.tidy["model"]) == {"lm", "lm_weighted", "lmer", "two_stage"}
    glance = fitted.glance.set_index("model")
    assert glance.loc["lm_weighted", "weighted"] and glance.loc["two_stage", "weighted"]
    assert not glance.loc["lm", "weighted"] and not glance.loc["lmer", "weighted"]
    import statsmodels.formula.api as smf

    coded = data.assign(
        nat=np.where(data["nationality"] == "CN", 0.5, -0.5), org=np.where(data["origin"] == "CN", 0.5, -0.5)
    )
    wls = smf.wls("cosine ~ nat * org", coded, weights=coded["weight"]).fit()
    ours = fitted.tidy[fitted.tidy["model"] == "lm_weighted"]
    np.testing.assert_allclose(ours["estimate"], wls.params.to_numpy(), atol=1e-12)
    np.testing.assert_allclose(ours["std_error"], wls.bse.to_numpy(), rtol=1e-9)


def test_side_by_side_and_fit_info() -> None:
    fitted = fit_rq(simulate_rq1_cosines(n_people=15, n_models=4, seed=1), "rq1", instrument="toy")
    table = side_by_side(fitted.tidy)
    assert table["term"].tolist() == ["(Intercept)", "nationalityCN", "originCN", "nationalityCN:originCN"]
    assert {"lm_estimate", "lmer_estimate", "lmer_df", "two_stage_estimate", "se_ratio_lmer_lm"} <= set(
        table.columns
    )
    np.testing.assert_allclose(table["lm_estimate"], table["lmer_estimate"], atol=1e-10)  # balanced design
    assert set(fitted.glance["model"]) == {"lm", "lmer", "two_stage"}
    lmer = fitted.glance[fitted.glance["model"] == "lmer"].iloc[0]
    assert lmer["n_participant"] == 30 and lmer["n_model"] == 8
    assert lmer["engine"] == "complete crossing (exact)"


def test_rows_and_exclusions_per_analysis() -> None:
    sim = pd.DataFrame(
        {
            "nationality": ["CN", "CN", "US", "US", "CN"], "language": ["zh", "en", "en", "en", "zh"],
            "persona": ["none", "none", "none", "CN", "none"], "removed": ["none", "none", "none", "none", "Care"],
        }
    )  # fmt: skip
    assert analysis_rows(sim, "rq1").tolist() == [True, False, True, False, False]
    assert analysis_rows(sim, "rq2").tolist() == [False, False, False, True, False]
    assert analysis_rows(sim, "rq3").tolist() == [True, False, True, False, True]
    excl = pd.DataFrame(
        {"model": ["a", "b"], "language": ["en", "zh"], "persona": ["none", "US"], "item": "Q184"}
    )
    assert excluded_models(excl, "rq1")["model"].tolist() == ["a"]
    assert excluded_models(excl, "rq2")["model"].tolist() == ["b"]


@pytest.mark.parametrize(
    ("choice", "message"),
    [
        ("maximum", "'maximum' is not a choice: use maximal, intercepts, or lme4 terms"),
        (
            "(1 + age | model)",
            "term (1 + age | model) uses 'age', which is not in the rq1 data; variables are participant",
        ),
        ("1 + nationality | model", "is not a random-effect term"),
    ],
)
def test_bad_random_effects_name_the_choices(choice: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        check_random_effects("rq1", choice)


def test_custom_random_effects_are_fitted_and_checked_in_r() -> None:
    data = simulate_rq1_cosines(n_people=10, n_models=3, seed=4)
    fitted = fit_rq(
        data, "rq1", fits=("lmer",), random_effects="(1 + nationality | model) + (1 | participant)"
    )
    glance = fitted.glance.iloc[0]
    assert (
        glance["random_requested"] == "(1 | participant) + (1 + nationalityCN | model)"
        or glance["random_requested"] == "(1 + nationalityCN | model) + (1 | participant)"
    )
    from valuesurvey.rbridge import get_session

    with pytest.raises(RError, match=r"random effects for rq2: term .* uses 'removed', not in the data"):
        get_session().call("rq_check_random", "rq2", "(1 | removed)", "random effects for rq2")
