"""Origin groups (CN vs US) in R mixed models of the per-model mean ranks (lme4/lmerTest, R bridge).

The data are one row per model and value (the mean rank over valid repetitions). Two models:

``lmer``
    ``mean_rank ~ origin * dimension + (1 | model)``, the model as first specified, fitted once and
    kept for the record, never recommended: its 5 values per model and dimension enter as
    independent rows. Every ranking is a permutation, so each model's mean rank over all values is
    the same constant: the ``(1 | model)`` variance cannot be told from zero and the origin main
    effect is zero by construction; the fit facts (singular, convergence) say what happened.
``lmer_nested``
    starts from ``mean_rank ~ origin * dimension + (1 | model) + (1 | model:dimension) +
    (1 | value)`` (the model-by-dimension intercept makes the model the unit of the origin
    comparison within a dimension; values are crossed) and is simplified by a fixed sequence:

    1. fit with each optimizer of :data:`OPTIMIZERS` in turn until one converges (optimizer code 0
       and no lme4 convergence warning);
    2. if the fit is singular, or no optimizer converged, drop a random term: the first (in the
       formula's order) whose SD is at the boundary (below ``ZERO_THETA`` = 1e-4 residual SDs, lme4's
       singular tolerance), else the one with the smallest SD; and go back to 1. Never
       ``(1 | model:dimension)`` (:data:`DESIGN_TERM`): without it the rows of a model are
       independent values and the model is no longer the unit of the CN - US comparison, so when
       it is the only term left to drop the sequence stops instead;
    3. stop at the first fit that converged and is not singular: it is the ``recommended`` fit.
       When the sequence stops without one, no mixed model is recommended, and the model-level
       tests (:func:`valuesurvey.ranking.compare_origins`, one score per model) are the inference.

    Every attempt is a row of ``ranking_mixed_steps`` (formula, optimizer, code, singular,
    variance components, action); the fixed effects, variance components, type III F tests and
    contrasts of the last fit with a random term are in ``ranking_mixed``.

For each reported fit: fixed effects (two origin groups: the paper's half-sum, CN = +0.5 / US =
-0.5, term ``originCN``; k > 2 groups: ``contr.sum`` with the last group of the order (the
reference) at -1, one term ``origin<group>`` per other group, each a deviation from the unweighted
mean of the groups; dimension ``contr.sum``), variance components, type III F tests
(Satterthwaite) and the pairwise origin contrasts per dimension (emmeans; "CN - US | Social"), Holm
adjusted across dimensions (and, with k > 2 groups, across pairs) in ``p_holm``; ``recommended`` is True only for a fit that
converged and is not singular, and the report uses no other for inference.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pingouin as pg

from valuesurvey.ranking._stats import ESTIMATE_COLUMNS

RESPONSE = "mean_rank ~ origin * dimension"
MIXED_FORMULAS = {
    "lmer": f"{RESPONSE} + (1 | model)",
    "lmer_nested": f"{RESPONSE} + (1 | model) + (1 | model:dimension) + (1 | value)",
}
#: The random term the simplification never drops (it makes the model the unit of the comparison).
DESIGN_TERM = "model:dimension"
#: An SD below this many residual SDs is zero (lme4's isSingular tolerance on theta).
ZERO_THETA = 1e-4
#: Optimizers tried in turn (lme4's lmerControl names), as lme4::allFit would.
OPTIMIZERS = ("bobyqa", "Nelder_Mead", "nloptwrap")
EXTRA_COLUMNS = [
    "component", "p_holm", "num_df", "recommended", "singular", "converged", "conv_code", "optimizer",
    "messages", "formula",
]  # fmt: skip
STEP_COLUMNS = [
    "model", "step", "formula", "optimizer", "conv_code", "converged", "singular", "variance",
    "action", "recommended", "messages",
]  # fmt: skip
_TERM = re.compile(r"\(\s*1\s*\|\s*([^)]+?)\s*\)")


@dataclass(frozen=True)
class _Fit:
    formula: str
    out: dict

    @property
    def facts(self) -> pd.Series:
        return self.out["facts"].iloc[0]

    @property
    def ok(self) -> bool:
        return bool(self.facts["converged"]) and not bool(self.facts["singular"])

    def sds(self) -> dict[str, float]:
        """SD of each random intercept by its grouping factor (the residual excluded)."""
        random = self.out["random"]
        part = random[random["group"] != "Residual"]
        return dict(zip(part["group"], part["estimate"].astype(float), strict=True))

    @property
    def sigma(self) -> float:
        random = self.out["random"]
        return float(random.loc[random["group"] == "Residual", "estimate"].iloc[0])

    def variance_text(self) -> str:
        """SD per random term; an SD at the boundary (below ``ZERO_THETA`` residual SDs) as 0, since
        its digits are numerical noise that differs between R processes."""
        random = self.out["random"]
        return "; ".join(
            f"{g}: SD {0 if g != 'Residual' and v < ZERO_THETA * self.sigma else float(f'{v:.4g}'):g}"
            for g, v in zip(random["group"], random["estimate"], strict=True)
        )


def random_terms(formula: str) -> list[str]:
    """Grouping factors of the ``(1 | g)`` terms of a formula, in order.

    Examples
    --------
    >>> random_terms("y ~ x + (1 | model) + (1 | model:dimension)")
    ['model', 'model:dimension']
    """
    return _TERM.findall(formula)


def _formula(terms: list[str]) -> str:
    return RESPONSE + "".join(f" + (1 | {t})" for t in terms)


def fit_mixed_models(
    means: pd.DataFrame, *, ddf: str = "Satterthwaite", groups: tuple[str, ...] = ("CN", "US")
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit ``lmer`` once and ``lmer_nested`` by the simplification sequence of the module docstring.

    Parameters
    ----------
    means : DataFrame
        ``model, origin, value, dimension, mean_rank`` (one row per model and value).
    ddf : str
        "Satterthwaite" or "Kenward-Roger".
    groups : tuple of str
        The origin levels in order (every one with models; the last is the sum-coding reference).

    Returns
    -------
    (DataFrame, DataFrame)
        The tidy ``ranking_mixed`` table (``component`` is "fixed", "random", "anova" or
        "contrast") and ``ranking_mixed_steps`` (one row per attempted fit).
    """
    data = means[["model", "origin", "value", "dimension", "mean_rank"]].copy()
    data = data.astype({"model": str, "origin": str, "value": str, "dimension": str, "mean_rank": float})
    origins = ";".join(groups)
    steps: list[dict] = []
    tables = []
    single = _fit(data, MIXED_FORMULAS["lmer"], OPTIMIZERS[0], ddf, origins)
    record = "fitted once as specified; kept for the record, not recommended (values as independent rows)"
    steps.append(_step("lmer", 1, single, record, False))
    tables.append(_assemble("lmer", single, ddf, recommended=False))
    final, nested_steps = _simplify(data, ddf, origins)
    steps += nested_steps
    if final is not None:
        tables.append(_assemble("lmer_nested", final, ddf, recommended=final.ok))
    return pd.concat(tables, ignore_index=True), pd.DataFrame(steps, columns=STEP_COLUMNS)


def _simplify(data: pd.DataFrame, ddf: str, origins: str) -> tuple[_Fit | None, list[dict]]:
    terms = random_terms(MIXED_FORMULAS["lmer_nested"])
    steps: list[dict] = []
    last: _Fit | None = None
    while terms:
        fit = last = _first_converging(data, _formula(terms), ddf, origins, steps)
        if fit.ok:
            steps.append(
                _step("lmer_nested", len(steps) + 1, fit, "converged, not singular: recommended", True)
            )
            return fit, steps
        sds = fit.sds()
        why = "singular" if fit.facts["singular"] else "no optimizer converged"
        drop = _term_to_drop(terms, sds, fit.sigma)
        if drop is None:
            action = (
                f"{why}; the only component left to drop is (1 | {DESIGN_TERM}) "
                f"({_sd_text(sds.get(DESIGN_TERM, 0.0), fit.sigma)}), which the design needs: "
                "stop, no mixed model recommended"
            )
            steps.append(_step("lmer_nested", len(steps) + 1, fit, action, False))
            return last, steps
        action = f"{why}: drop (1 | {drop}) ({_sd_text(sds.get(drop, 0.0), fit.sigma)})"
        steps.append(_step("lmer_nested", len(steps) + 1, fit, action, False))
        terms = [t for t in terms if t != drop]
    return last, steps


def _term_to_drop(terms: list[str], sds: dict[str, float], sigma: float) -> str | None:
    """The random term the sequence drops next, or None when only the design term could go.

    Terms at the boundary (SD below ``ZERO_THETA`` residual SDs, lme4's ``isSingular`` tolerance)
    go first, in the order of the formula: their estimates are zero up to numerical noise, so which
    of them is "smallest" would depend on that noise (and differ between R processes). Without one,
    the term with the smallest SD goes.
    """
    at_zero = [t for t in terms if sds.get(t, 0.0) < ZERO_THETA * sigma]
    candidates = at_zero or [min(terms, key=lambda t: (sds.get(t, 0.0), terms.index(t)))]
    droppable = [t for t in candidates if t != DESIGN_TERM]
    return droppable[0] if droppable else None


def _sd_text(sd: float, sigma: float) -> str:
    return "SD 0, at the boundary" if sd < ZERO_THETA * sigma else f"SD {sd:.4g}, the smallest"


def _first_converging(data: pd.DataFrame, formula: str, ddf: str, origins: str, steps: list[dict]) -> _Fit:
    """The fit with the first optimizer that converges (or the last optimizer's fit)."""
    for optimizer in OPTIMIZERS[:-1]:
        fit = _fit(data, formula, optimizer, ddf, origins)
        if fit.facts["converged"]:
            return fit
        steps.append(_step("lmer_nested", len(steps) + 1, fit, "did not converge: next optimizer", False))
    return _fit(data, formula, OPTIMIZERS[-1], ddf, origins)


def _fit(data: pd.DataFrame, formula: str, optimizer: str, ddf: str, origins: str = "CN;US") -> _Fit:
    from valuesurvey.rbridge import get_session

    session = get_session()
    control = session.call("vs_fit_control", ddf=ddf, optimizer=optimizer)
    return _Fit(formula, session.call("vs_ranking_fit", formula, data, control, origins=origins))


def _step(model: str, step: int, fit: _Fit, action: str, recommended: bool) -> dict:
    facts = fit.facts
    return {
        "model": model,
        "step": step,
        "formula": fit.formula,
        "optimizer": facts["optimizer"],
        "conv_code": facts["conv_code"],
        "converged": bool(facts["converged"]),
        "singular": bool(facts["singular"]),
        "variance": fit.variance_text(),
        "action": action,
        "recommended": recommended,
        "messages": facts["messages"],
    }


def _pairs(contrasts: pd.DataFrame) -> str:
    """ "CN - US" for two groups, else "pairwise origin contrasts"."""
    labels = {str(t).split(" | ")[0] for t in contrasts["term"]}
    return labels.pop() if len(labels) == 1 else "pairwise origin contrasts"


def _assemble(name: str, fit: _Fit, ddf: str, *, recommended: bool) -> pd.DataFrame:
    out, facts = fit.out, fit.facts
    method = f"lmerTest::lmer (REML, {ddf} df, {facts['optimizer']})"
    fixed = out["tidy"].assign(component="fixed", method=method)
    random = out["random"].rename(columns={"group": "group_"})
    random = random.assign(term=random["group_"] + " " + random["term"], component="random", method=method)
    random = random.drop(columns="group_")
    anova = (
        out["anova"]
        .rename(columns={"den_df": "df"})
        .assign(component="anova", method=f"type III F test, {method}")
    )
    contrasts = (
        out["contrasts"]
        .drop(columns="dimension")
        .assign(component="contrast", method=f"emmeans {_pairs(out['contrasts'])} within dimension, {method}")
    )
    p = contrasts["p_value"].to_numpy(float)
    contrasts["p_holm"] = pg.multicomp(p, method="holm")[1] if np.isfinite(p).all() else np.nan
    frame = pd.concat([fixed, random, anova, contrasts], ignore_index=True)
    frame["analysis"] = "ranking_mixed"
    frame["model"] = name
    frame["formula"] = fit.formula
    frame["recommended"] = recommended
    frame["singular"] = bool(facts["singular"])
    frame["converged"] = bool(facts["converged"])
    frame["conv_code"] = facts["conv_code"]
    frame["optimizer"] = facts["optimizer"]
    frame["messages"] = facts["messages"]
    for column in [*ESTIMATE_COLUMNS, *EXTRA_COLUMNS]:
        if column not in frame.columns:
            frame[column] = np.nan
    return frame[ESTIMATE_COLUMNS + EXTRA_COLUMNS]
