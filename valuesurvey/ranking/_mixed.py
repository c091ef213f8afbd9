"""CN vs US in R mixed models of the per-model mean ranks (lme4/lmerTest through the R bridge).

Two models are fitted on one row per model and value (the mean rank over valid repetitions):

``lmer``
    ``mean_rank ~ origin * dimension + (1 | model)``: the model the issue names. Because every
    ranking is a permutation, each model's mean rank over all values is the same constant, so the
    ``(1 | model)`` variance is zero (a singular fit, reported in ``messages``) and the origin main
    effect is zero by construction; the 5 values of a model-dimension are treated as independent,
    which overstates the df of the origin x dimension tests.
``lmer_nested``
    ``mean_rank ~ origin * dimension + (1 | model) + (1 | model:dimension) + (1 | value)``: the
    model-by-dimension random intercept makes the model the unit of the origin comparison within a
    dimension, and values are crossed. Use this one for inference.

For each: fixed effects (origin CN = +0.5 / US = -0.5, dimension ``contr.sum``), variance
components, type III F tests (Satterthwaite) and the CN - US contrast per dimension (emmeans), Holm
adjusted across dimensions in ``p_holm``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pingouin as pg

from valuesurvey.ranking._stats import ESTIMATE_COLUMNS

MIXED_FORMULAS = {
    "lmer": "mean_rank ~ origin * dimension + (1 | model)",
    "lmer_nested": "mean_rank ~ origin * dimension + (1 | model) + (1 | model:dimension) + (1 | value)",
}
EXTRA_COLUMNS = ["component", "p_holm", "num_df", "singular", "messages", "formula"]


def fit_mixed_models(means: pd.DataFrame, *, ddf: str = "Satterthwaite") -> pd.DataFrame:
    """Fit both mixed models; one tidy table (estimates columns + ``component`` etc.).

    Parameters
    ----------
    means : DataFrame
        ``model, origin, value, dimension, mean_rank`` (one row per model and value).
    ddf : str
        "Satterthwaite" or "Kenward-Roger".

    Returns
    -------
    DataFrame
        ``component`` is "fixed", "random", "anova" or "contrast".
    """
    from valuesurvey.rbridge import Coding, fit_lmer, get_session

    data = means[["model", "origin", "value", "dimension", "mean_rank"]].copy()
    data = data.astype({"model": str, "origin": str, "value": str, "dimension": str, "mean_rank": float})
    session = get_session()
    coding = {"origin": Coding.half_sum(positive="CN"), "dimension": Coding.contr_sum()}
    parts = []
    for name, formula in MIXED_FORMULAS.items():
        fit = fit_lmer(formula, data=data, coding=coding, ddf=ddf)  # type: ignore[arg-type]
        tests = session.call(
            "vs_ranking_origin_tests", formula, data, session.call("vs_fit_control", ddf=ddf)
        )
        parts.append(_assemble(name, formula, fit, tests))
    return pd.concat(parts, ignore_index=True)


def _assemble(name: str, formula: str, fit, tests: dict) -> pd.DataFrame:
    method = f"lmerTest::lmer (REML, {fit.glance['ddf'].iloc[0]} df)"
    fixed = fit.tidy.assign(component="fixed", method=method)
    random = fit.random.rename(columns={"group": "group_"}).assign(
        term=lambda f: f["group_"] + " " + f["term"], component="random", method=method
    )
    random = random.drop(columns="group_")
    anova = (
        tests["anova"]
        .rename(columns={"den_df": "df"})
        .assign(component="anova", method="type III F test, " + method)
    )
    contrasts = (
        tests["contrasts"]
        .drop(columns="dimension")
        .assign(component="contrast", method="emmeans CN - US within dimension, " + method)
    )
    p = contrasts["p_value"].to_numpy(float)
    contrasts["p_holm"] = pg.multicomp(p, method="holm")[1] if np.isfinite(p).all() else np.nan
    frame = pd.concat([fixed, random, anova, contrasts], ignore_index=True)
    frame["analysis"] = "ranking_mixed"
    frame["model"] = name
    frame["formula"] = formula
    frame["singular"] = bool(fit.singular)
    frame["messages"] = " | ".join(fit.messages)
    for column in [*ESTIMATE_COLUMNS, *EXTRA_COLUMNS]:
        if column not in frame.columns:
            frame[column] = np.nan
    return frame[ESTIMATE_COLUMNS + EXTRA_COLUMNS]
