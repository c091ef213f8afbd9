"""Parameter recovery on the cosine scale: a data-generating process whose truth is the RQ1 model.

The RQ1 table is simulated directly at the level the regression models it::

    cosine[p, m] = b0 + b_nat·x_nat[p] + b_org·x_org[m] + b_int·x_nat[p]·x_org[m]
                   + u[p] + v[m] + e[p, m]

with x = +0.5 for China and −0.5 for the USA, person intercepts ``u ~ N(0, sd_participant²)``,
model intercepts ``v ~ N(0, sd_model²)`` and residuals ``e ~ N(0, sd_residual²)``. Here "truth"
is exact: the coefficients are what both fits estimate, so 95% CIs should cover them 95% of the
time. The lmer fit (crossed random intercepts) is the correctly specified model; the paper's lm
treats the person × model rows as independent, so its SEs for between-model (origin) and
between-person (nationality) effects are too small. :func:`recovery` measures both.

An item-level simulation through statistical respondents (:mod:`valuesurvey.simulation.ratings`)
checks the whole pipeline instead; there the coefficients on the cosine scale are not known in
closed form, so it checks directions, not coverage.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

__all__ = ["RQ1_TERMS", "CosineTruth", "recovery", "recovery_summary", "simulate_rq1_cosines"]

#: R's names of the RQ1 coefficients under half-sum coding (see R/rq_models.R).
RQ1_TERMS = {
    "intercept": "(Intercept)",
    "nationality": "nationalityCN",
    "origin": "originCN",
    "interaction": "nationalityCN:originCN",
}


@dataclass(frozen=True)
class CosineTruth:
    """Known effects (cosine scale) and variance components of the simulated RQ1 table."""

    intercept: float = 0.30
    nationality: float = -0.30
    origin: float = 0.0
    interaction: float = 0.03
    sd_participant: float = 0.08
    sd_model: float = 0.04
    sd_residual: float = 0.10

    def coefficients(self) -> dict[str, float]:
        """R term name → true value."""
        values = asdict(self)
        return {term: values[name] for name, term in RQ1_TERMS.items()}


def simulate_rq1_cosines(
    truth: CosineTruth = CosineTruth(),
    *,
    n_people: int = 200,
    n_models: int = 10,
    seed: int = 0,
) -> pd.DataFrame:
    """One simulated RQ1 table: ``n_people`` per nationality × ``n_models`` per origin.

    Returns
    -------
    DataFrame
        participant, nationality, model, origin, language (the participant's own), persona
        (``none``), removed (``none``), cosine.

    Examples
    --------
    >>> d = simulate_rq1_cosines(n_people=3, n_models=2, seed=1)
    >>> d.shape, sorted(d["nationality"].unique()), sorted(d["origin"].unique())
    ((24, 8), ['CN', 'US'], ['CN', 'US'])
    """
    rng = np.random.default_rng(seed)
    nationality = np.repeat(["CN", "US"], n_people)
    origin = np.repeat(["CN", "US"], n_models)
    x_nat = np.where(nationality == "CN", 0.5, -0.5)
    x_org = np.where(origin == "CN", 0.5, -0.5)
    u = rng.normal(0.0, truth.sd_participant, nationality.size)
    v = rng.normal(0.0, truth.sd_model, origin.size)
    fixed = (
        truth.intercept
        + truth.nationality * x_nat[:, None]
        + truth.origin * x_org[None, :]
        + truth.interaction * x_nat[:, None] * x_org[None, :]
    )
    noise = rng.normal(0.0, truth.sd_residual, fixed.shape)
    cosine = fixed + u[:, None] + v[None, :] + noise
    n_p, n_m = nationality.size, origin.size
    return pd.DataFrame(
        {
            "participant": np.repeat([f"P{i:05d}" for i in range(n_p)], n_m),
            "nationality": np.repeat(nationality, n_m),
            "model": np.tile([f"llm{j:02d}_{o}" for j, o in enumerate(origin)], n_p),
            "origin": np.tile(origin, n_p),
            "language": np.repeat(np.where(nationality == "CN", "zh", "en"), n_m),
            "persona": "none",
            "removed": "none",
            "cosine": cosine.ravel(),
        }
    )


def recovery(
    seeds: Iterable[int],
    truth: CosineTruth = CosineTruth(),
    *,
    n_people: int = 200,
    n_models: int = 10,
    fits: tuple[str, ...] = ("lm", "lmer"),
) -> pd.DataFrame:
    """Fit RQ1 (both fits, through the R bridge) to one simulated table per seed.

    Returns
    -------
    DataFrame
        seed, model (lm/lmer), term, truth, estimate, std_error, conf_low, conf_high, covered.
    """
    from valuesurvey.regressions import fit_rq

    true_values = truth.coefficients()
    rows: list[pd.DataFrame] = []
    for seed in seeds:
        data = simulate_rq1_cosines(truth, n_people=n_people, n_models=n_models, seed=seed)
        tidy = fit_rq(data, "rq1", fits=fits).tidy
        tidy = tidy[tidy["term"].isin(true_values)].copy()
        tidy["truth"] = tidy["term"].map(true_values)
        tidy["covered"] = (tidy["conf_low"] <= tidy["truth"]) & (tidy["truth"] <= tidy["conf_high"])
        tidy["seed"] = seed
        rows.append(tidy)
    keep = ["seed", "model", "term", "truth", "estimate", "std_error", "conf_low", "conf_high", "covered"]
    return pd.concat(rows, ignore_index=True)[keep]


def recovery_summary(results: pd.DataFrame) -> pd.DataFrame:
    """Coverage and SE calibration per fit and term.

    Returns
    -------
    DataFrame
        model, term, truth, n_seeds, coverage (share of 95% CIs holding the truth), bias,
        empirical_sd (SD of the estimates across seeds), mean_se, se_ratio (mean_se /
        empirical_sd: 1 is calibrated, below 1 understates the uncertainty).
    """
    grouped = results.groupby(["model", "term"], sort=False)
    out = grouped.agg(
        truth=("truth", "first"),
        n_seeds=("seed", "nunique"),
        coverage=("covered", "mean"),
        mean_estimate=("estimate", "mean"),
        empirical_sd=("estimate", "std"),
        mean_se=("std_error", "mean"),
    ).reset_index()
    out["bias"] = out["mean_estimate"] - out["truth"]
    out["se_ratio"] = out["mean_se"] / out["empirical_sd"]
    cols = ["model", "term", "truth", "n_seeds", "coverage", "bias", "empirical_sd", "mean_se", "se_ratio"]
    return out[cols]
