"""The three declared analyses of the test study equal lme4 / ordinal / emmeans called directly in
Rscript on the same exported rows, and ``Rscript R/run_models.R`` reproduces every declared table."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lmer_agreement import DF_DEPENDENT, ESTIMATE, P_QUANTILE, THETA_DEPENDENT, assert_fits_agree, comparable

from valuesurvey.study import Study

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
REPO = Path(__file__).resolve().parents[2]

# Written as an R user would, from the documentation of lme4, lmerTest, ordinal and emmeans: nothing
# of valuesurvey's R code is used. The coding is set with contrasts(); the optimizer is the one
# valuesurvey's fits record in declared_fit_info.csv (bobyqa; lme4's default is nloptwrap).
DIRECT_R = r"""
suppressPackageStartupMessages({ library(lmerTest); library(ordinal); library(emmeans) })
args <- commandArgs(trailingOnly = TRUE)
rows <- function(name) read.csv(file.path(args[1], paste0(name, "_rows.csv")), stringsAsFactors = FALSE)
out <- function(frame, name) write.csv(frame, file.path(args[2], paste0(name, ".csv")), row.names = FALSE)
# valuesurvey orders levels by code point (CN, US, none); R's factor() sorts by the locale
# (CN, none, US in en_US), so the direct fits give the levels in code-point order too.
code_point_factor <- function(x) factor(x, levels = sort(unique(x), method = "radix"))
half_sum <- function(x, positive) {
  x <- code_point_factor(x)
  contrasts(x) <- matrix(ifelse(levels(x) == positive, 0.5, -0.5), dimnames = list(levels(x), positive))
  x
}
treatment <- function(x, reference) {
  x <- code_point_factor(x)
  contrasts(x) <- contr.treatment(levels(x), base = match(reference, levels(x)))
  x
}
coefs <- function(fit) {
  co <- summary(fit)$coefficients
  data.frame(term = rownames(co), estimate = co[, 1], std_error = co[, 2], row.names = NULL)
}
grid <- function(s, label) {
  s <- as.data.frame(s)
  data.frame(label = label, estimate = s[[3 - (label == "contrast")]], std_error = s$SE, df = s$df,
             p_value = if (is.null(s$p.value)) NA else s$p.value)
}
ctrl <- lmerControl(optimizer = "bobyqa")

# 1. gaussian lmer with by-participant and by-model random slopes, on the similarity table
d <- rows("similarity_slopes")
d$nationality <- half_sum(d$nationality, "CN"); d$origin <- half_sum(d$origin, "CN")
d$language <- half_sum(d$language, "zh")
m1 <- lmer(cosine ~ nationality * origin + language + (1 + origin | participant) + (1 + nationality | model),
           data = d, control = ctrl)
t1 <- cbind(coefs(m1), df = summary(m1)$coefficients[, "df"])
out(t1, "similarity_slopes")

# 2. ordinal clmm on the MFQ-2 ratings, with emmeans of origin within each language
r <- rows("mfq_ordinal")
r$rating <- factor(r$rating, ordered = TRUE)
r$origin <- half_sum(r$origin, "CN"); r$language <- half_sum(r$language, "zh")
m2 <- clmm(rating ~ origin * language + (1 | model) + (1 | item), data = r, link = "logit")
out(coefs(m2), "mfq_ordinal")
e2 <- emmeans(m2, ~ origin | language)
out(cbind(as.data.frame(summary(e2))[c("origin", "language", "emmean", "SE")]), "mfq_ordinal_emmeans")
c2 <- summary(contrast(e2, "pairwise"), infer = c(TRUE, TRUE))
out(as.data.frame(c2)[c("contrast", "language", "estimate", "SE", "p.value")], "mfq_ordinal_contrasts")

# 3. emmeans contrasts: persona against no persona within each nationality (Holm), and two custom
#    contrasts averaged over nationality (Holm)
p <- rows("persona_contrast")
p$nationality <- half_sum(p$nationality, "CN"); p$persona <- treatment(p$persona, "none")
m3 <- lmer(cosine ~ nationality * persona + (1 | participant) + (1 | model), data = p, control = ctrl)
out(cbind(coefs(m3), df = summary(m3)$coefficients[, "df"]), "persona_contrast")
e3 <- emmeans(m3, ~ persona | nationality, lmer.df = "satterthwaite")
c3 <- summary(contrast(e3, "trt.vs.ctrl", ref = "none", adjust = "holm"), infer = c(TRUE, TRUE))
e4 <- emmeans(m3, ~ persona, lmer.df = "satterthwaite")
c4 <- summary(contrast(e4, list(cn_minus_us = c(1, -1, 0), persona_vs_none = c(0.5, 0.5, -1)), adjust = "holm"),
              infer = c(TRUE, TRUE))
keep <- c("contrast", "estimate", "SE", "df", "p.value")
out(rbind(as.data.frame(c3)[keep], as.data.frame(c4)[keep]), "persona_contrast_contrasts")
"""


@pytest.fixture(scope="module")
def direct(analyzed_study: Study, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("direct")
    script = out / "direct.R"
    script.write_text(DIRECT_R, encoding="utf-8")
    subprocess.run(
        ["Rscript", str(script), str(analyzed_study.root / "analyses"), str(out)],
        check=True,
        capture_output=True,
        timeout=500,
    )
    return out


def _close(ours: pd.Series, theirs: pd.Series, tolerance: dict[str, float], what: str) -> None:
    np.testing.assert_allclose(ours.to_numpy(float), theirs.to_numpy(float), err_msg=what, **tolerance)


def _fixed(study: Study, direct: Path, name: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    ours = pd.read_csv(study.paths.estimates(name))
    theirs = pd.read_csv(direct / f"{name}.csv")
    assert ours["term"].tolist() == theirs["term"].tolist(), name
    return ours, theirs


@pytest.mark.parametrize("name", ["similarity_slopes", "persona_contrast"])
def test_lmer_with_random_slopes_equals_lmertest(analyzed_study: Study, direct: Path, name: str) -> None:
    ours, theirs = _fixed(analyzed_study, direct, name)
    assert set(ours["model"]) == {"lmer"}
    _close(ours["estimate"], theirs["estimate"], ESTIMATE, f"{name} fixed effects")
    _close(ours["std_error"], theirs["std_error"], THETA_DEPENDENT, f"{name} SE")
    _close(ours["df"], theirs["df"], DF_DEPENDENT, f"{name} Satterthwaite df")
    info = pd.read_csv(analyzed_study.paths.estimates("declared_fit_info")).set_index("analysis")
    assert info.loc[name, "optimizer"] == "bobyqa"
    if name == "similarity_slopes":
        assert info.loc[name, "random_final"] == "(1 + originCN | participant) + (1 + nationalityCN | model)"


def test_clmm_on_mfq2_ratings_equals_ordinal(analyzed_study: Study, direct: Path) -> None:
    ours, theirs = _fixed(analyzed_study, direct, "mfq_ordinal")
    assert set(ours["model"]) == {"clmm"}
    assert ours.loc[ours["effect"] == "threshold", "term"].tolist() == ["1|2", "2|3", "3|4", "4|5"]
    _close(ours["estimate"], theirs["estimate"], ESTIMATE, "clmm coefficients")
    _close(ours["std_error"], theirs["std_error"], THETA_DEPENDENT, "clmm SE")
    emm = pd.read_csv(analyzed_study.paths.estimates("mfq_ordinal_emmeans"))
    theirs_emm = pd.read_csv(direct / "mfq_ordinal_emmeans.csv")
    assert emm["term"].tolist() == [f"origin = {o}" for o in theirs_emm["origin"]]
    assert emm["at"].tolist() == [f"language = {lang}" for lang in theirs_emm["language"]]
    _close(emm["estimate"], theirs_emm["emmean"], ESTIMATE, "clmm emmeans (latent scale)")
    _close(emm["std_error"], theirs_emm["SE"], THETA_DEPENDENT, "clmm emmeans SE")
    con = pd.read_csv(analyzed_study.paths.estimates("mfq_ordinal_contrasts"))
    theirs_con = pd.read_csv(direct / "mfq_ordinal_contrasts.csv")
    assert con["contrast"].tolist() == theirs_con["contrast"].tolist() == ["CN - US", "CN - US"]
    _close(con["estimate"], theirs_con["estimate"], ESTIMATE, "clmm contrasts")
    _close(con["std_error"], theirs_con["SE"], THETA_DEPENDENT, "clmm contrast SE")


def test_emmeans_contrasts_equal_emmeans(analyzed_study: Study, direct: Path) -> None:
    ours = pd.read_csv(analyzed_study.paths.estimates("persona_contrast_contrasts"))
    theirs = pd.read_csv(direct / "persona_contrast_contrasts.csv")
    assert ours["contrast"].tolist() == theirs["contrast"].tolist() == [
        "CN - none", "US - none", "CN - none", "US - none", "cn_minus_us", "persona_vs_none",
    ]  # fmt: skip
    assert ours["at"].fillna("").tolist() == ["nationality = CN"] * 2 + ["nationality = US"] * 2 + ["", ""]
    assert set(ours["adjust"]) == {"holm"} and ours["messages"].str.contains("holm method for 2 tests").all()
    _close(ours["estimate"], theirs["estimate"], ESTIMATE, "contrast estimates")
    _close(ours["std_error"], theirs["SE"], THETA_DEPENDENT, "contrast SE")
    _close(ours["df"], theirs["df"], DF_DEPENDENT, "contrast df")
    theirs = theirs.rename(columns={"p.value": "p_value"})
    _close(
        pd.Series(comparable(ours, "p_value")), pd.Series(comparable(theirs, "p_value")), P_QUANTILE, "Holm p"
    )


def test_exported_rows_are_the_filtered_table(analyzed_study: Study) -> None:
    rows = pd.read_csv(analyzed_study.root / "analyses" / "similarity_slopes_rows.csv")
    sim = pd.read_parquet(analyzed_study.paths.similarity("mfq2"))
    expected = sim[(sim["removed"] == "none") & (sim["persona"] == "none")].reset_index(drop=True)
    assert list(rows.columns) == [
        "instrument",
        "participant",
        "nationality",
        "model",
        "origin",
        "language",
        "cosine",
    ]
    assert len(rows) == len(expected) == 28 * 6 * 2
    np.testing.assert_array_equal(rows["cosine"].to_numpy(), expected["cosine"].to_numpy())
    ratings = pd.read_csv(analyzed_study.root / "analyses" / "mfq_ordinal_rows.csv")
    source = pd.read_parquet(analyzed_study.paths.llm_ratings)
    assert len(ratings) == int(((source["instrument"] == "mfq2") & (source["persona"] == "none")).sum())


def test_rscript_run_models_reproduces_the_declared_tables(analyzed_study: Study, tmp_path: Path) -> None:
    out = tmp_path / "r_estimates"
    result = subprocess.run(
        ["Rscript", str(REPO / "R" / "run_models.R"), str(analyzed_study.root), str(out)],
        capture_output=True,
        text=True,
        timeout=500,
    )
    assert result.returncode == 0, result.stderr
    for name in (
        "similarity_slopes", "mfq_ordinal", "mfq_ordinal_emmeans", "mfq_ordinal_contrasts", "persona_contrast",
        "persona_contrast_emmeans", "persona_contrast_contrasts", "declared_random_effects", "declared_coding",
        "declared_simplification",
    ):  # fmt: skip
        ours = pd.read_csv(analyzed_study.paths.estimates(name))
        theirs = pd.read_csv(out / f"{name}.csv")
        variance = ("estimate",) if name == "declared_random_effects" else ()
        assert_fits_agree(ours, theirs, name=name, variance=variance)
    info = pd.read_csv(analyzed_study.paths.estimates("declared_fit_info")).drop(columns="seconds")
    theirs = pd.read_csv(out / "declared_fit_info.csv").drop(columns="seconds")
    assert_fits_agree(info, theirs, name="declared_fit_info", exact=("nobs", "n_rows", "n_dropped"))
