"""The ranking study's mixed models: the simplification sequence, its record, and plain R agreeing."""

from __future__ import annotations

import shutil
import subprocess

import pandas as pd
import pytest

from valuesurvey.ranking import analyze_rankings
from valuesurvey.ranking._mixed import (
    DESIGN_TERM,
    MIXED_FORMULAS,
    _term_to_drop,
    fit_mixed_models,
    random_terms,
)
from valuesurvey.simulation.rankings import simulate_rankings

pytestmark = pytest.mark.skipif(shutil.which("Rscript") is None, reason="needs R")


@pytest.fixture(scope="module")
def shifted_means(shifted, values):
    return analyze_rankings(shifted.data, values, n_boot=0, seed=1, mixed=False).mean_ranks


@pytest.fixture(scope="module")
def shifted_fits(shifted_means):
    return fit_mixed_models(shifted_means)


def test_sequence_drops_the_zero_model_variance_and_recommends_a_clean_fit(shifted_fits):
    mixed, steps = shifted_fits
    nested = steps[steps["model"] == "lmer_nested"].reset_index(drop=True)
    assert nested.loc[0, "formula"] == MIXED_FORMULAS["lmer_nested"]
    assert nested.loc[0, "singular"] and "drop (1 | model)" in nested.loc[0, "action"]
    final = nested.iloc[-1]
    assert final["recommended"] and final["converged"] and not final["singular"]
    assert random_terms(final["formula"]) == [DESIGN_TERM, "value"]
    assert nested["recommended"].sum() == 1
    reported = mixed[mixed["model"] == "lmer_nested"]
    assert (reported["formula"] == final["formula"]).all() and reported["recommended"].all()
    assert (reported["conv_code"] == 0).all()
    # The model as first specified is kept for the record, singular and never recommended.
    lmer = mixed[mixed["model"] == "lmer"]
    assert lmer["singular"].all() and not lmer["recommended"].any()
    model_sd = lmer.loc[lmer["term"] == "model sd__(Intercept)", "estimate"].iloc[0]
    assert model_sd == pytest.approx(0.0, abs=1e-6)


def test_recommended_fit_equals_lmertest_run_directly(shifted_fits, shifted_means, tmp_path):
    mixed, _ = shifted_fits
    reported = mixed[mixed["model"] == "lmer_nested"]
    formula = reported["formula"].iloc[0]
    data = tmp_path / "means.csv"
    shifted_means[["model", "origin", "value", "dimension", "mean_rank"]].to_csv(data, index=False)
    out = tmp_path / "out.csv"
    script = f"""
    suppressPackageStartupMessages({{library(lmerTest); library(emmeans)}})
    d <- read.csv("{data}", stringsAsFactors = TRUE)
    d$origin <- factor(d$origin, levels = c("CN", "US"))
    contrasts(d$origin) <- matrix(c(0.5, -0.5), ncol = 1, dimnames = list(NULL, "CN"))
    contrasts(d$dimension) <- contr.sum(nlevels(d$dimension))
    colnames(contrasts(d$dimension)) <- levels(d$dimension)[-nlevels(d$dimension)]
    fit <- lmer({formula}, data = d, REML = TRUE, control = lmerControl(optimizer = "bobyqa"))
    co <- summary(fit, ddf = "Satterthwaite")$coefficients
    ct <- as.data.frame(pairs(emmeans(fit, ~ origin | dimension, lmer.df = "satterthwaite")))
    write.csv(rbind(data.frame(term = rownames(co), estimate = co[, 1], se = co[, 2], df = co[, 3]),
                    data.frame(term = paste0("CN - US | ", ct$dimension), estimate = ct$estimate,
                               se = ct$SE, df = ct$df)), "{out}", row.names = FALSE)
    """
    subprocess.run(["Rscript", "-e", script], check=True, capture_output=True, text=True)
    direct = pd.read_csv(out).set_index("term")
    ours = reported[reported["component"].isin(["fixed", "contrast"])].set_index("term")
    assert set(ours.index) == set(direct.index)
    for column, theirs in (("estimate", "estimate"), ("std_error", "se"), ("df", "df")):
        assert ours[column].to_numpy() == pytest.approx(direct.loc[ours.index, theirs].to_numpy(), rel=1e-5)


def test_no_mixed_model_is_recommended_when_the_design_term_is_zero(values):
    """Models that differ by repetition noise only: the model x dimension variance is estimated as
    zero, the sequence stops rather than drop the term that makes the model the unit."""
    sim = simulate_rankings(values=values, repetitions=6, cluster_strength=0.0, model_sd=0.0, seed=21)
    means = analyze_rankings(sim.data, values, n_boot=0, seed=1, mixed=False).mean_ranks
    mixed, steps = fit_mixed_models(means)
    nested = steps[steps["model"] == "lmer_nested"]
    assert not nested["recommended"].any()
    last = nested.iloc[-1]
    assert last["singular"] and DESIGN_TERM in random_terms(last["formula"])
    assert "stop, no mixed model recommended" in last["action"]
    assert not mixed["recommended"].any()
    reported = mixed[mixed["model"] == "lmer_nested"]
    assert (reported["formula"] == last["formula"]).all() and reported["singular"].all()


def test_boundary_sds_are_dropped_in_formula_order_not_by_their_noise():
    """SDs of 4e-8 and 0 are both zero (below 1e-4 residual SDs): which is "smaller" is numerical
    noise that differs between R processes, so the formula's order decides, never the noise."""
    terms = ["model", DESIGN_TERM, "value"]
    for noise in (
        {"model": 0.0, DESIGN_TERM: 0.0, "value": 4e-8},
        {"model": 3e-9, DESIGN_TERM: 0.0, "value": 0.0},
    ):
        assert _term_to_drop(terms, noise, sigma=3.7) == "model"
    assert _term_to_drop([DESIGN_TERM, "value"], {DESIGN_TERM: 4e-8, "value": 0.0}, sigma=3.7) == "value"
    assert _term_to_drop([DESIGN_TERM, "value"], {DESIGN_TERM: 0.0, "value": 1.3}, sigma=3.7) is None
    # Nothing at the boundary (a fit that did not converge): the smallest SD goes, never the design term.
    assert _term_to_drop([DESIGN_TERM, "value"], {DESIGN_TERM: 2.0, "value": 1.3}, sigma=3.7) == "value"
    assert _term_to_drop([DESIGN_TERM, "value"], {DESIGN_TERM: 0.5, "value": 1.3}, sigma=3.7) is None
