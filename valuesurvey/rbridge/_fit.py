"""Fit ``lm`` and ``lmer`` (lmerTest) in R from a formula string; tidy tables back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

from valuesurvey.rbridge._session import RSession, get_session

__all__ = ["TIDY_COLUMNS", "Coding", "FitResult", "fit_lm", "fit_lmer"]

TIDY_COLUMNS = ("term", "estimate", "std_error", "df", "statistic", "p_value", "conf_low", "conf_high")
Ddf = Literal["Satterthwaite", "Kenward-Roger"]


@dataclass(frozen=True)
class Coding:
    """How one factor enters the model.

    ``half_sum``: two levels, ``level`` = +0.5 and the other -0.5 (the paper's sum coding, so a main
    effect is the difference between the two levels); ``contr_sum``: R's ``contr.sum``;
    ``treatment``: ``level`` is the reference (0).
    """

    scheme: Literal["half_sum", "contr_sum", "treatment"]
    level: str = ""

    @classmethod
    def half_sum(cls, positive: str) -> Coding:
        return cls("half_sum", positive)

    @classmethod
    def contr_sum(cls) -> Coding:
        return cls("contr_sum")

    @classmethod
    def treatment(cls, reference: str) -> Coding:
        return cls("treatment", reference)


@dataclass(frozen=True)
class FitResult:
    """A fitted model: ``tidy`` fixed effects, ``random`` variance components, one-row ``glance``,
    ``coding`` (the contrast value of every level, long format)."""

    formula: str
    method: str
    tidy: pd.DataFrame
    random: pd.DataFrame
    glance: pd.DataFrame
    coding: pd.DataFrame = field(repr=False)

    @property
    def messages(self) -> list[str]:
        """Convergence, singular-fit and other warnings R raised while fitting."""
        text = str(self.glance["messages"].iloc[0] or "")
        return [part for part in text.split(" | ") if part]

    @property
    def singular(self) -> bool:
        return bool(self.glance["singular"].iloc[0])


def _coding_frame(coding: Mapping[str, Coding] | None) -> pd.DataFrame:
    items = dict(coding or {})
    return pd.DataFrame(
        {
            "variable": list(items),
            "scheme": [spec.scheme for spec in items.values()],
            "level": [spec.level for spec in items.values()],
        },
        dtype=object,
    )


def _fit(
    method: str,
    formula: str,
    data: pd.DataFrame,
    coding: Mapping[str, Coding] | None,
    control: Mapping[str, object],
    session: RSession | None,
) -> FitResult:
    session = session or get_session()
    r_control = session.call("vs_fit_control", **control)
    out = session.call(
        "vs_fit", formula, data, method=method, coding=_coding_frame(coding), control=r_control
    )
    tidy = out["tidy"][list(TIDY_COLUMNS)]
    return FitResult(formula, method, tidy, out["random"], out["glance"], out["coding"])


def fit_lm(
    formula: str,
    data: pd.DataFrame,
    *,
    coding: Mapping[str, Coding] | None = None,
    conf_level: float = 0.95,
    session: RSession | None = None,
) -> FitResult:
    """Ordinary least squares with R's ``lm``.

    Parameters
    ----------
    formula : R formula, e.g. ``"cosine ~ nationality * origin"``.
    data : frame holding every variable of the formula.
    coding : contrast coding per factor (see :class:`Coding`); others get R's defaults.
    conf_level : level of the t-based confidence intervals.

    Returns
    -------
    FitResult
        ``tidy`` has columns term, estimate, std_error, df (residual df), statistic (t), p_value,
        conf_low, conf_high.
    """
    return _fit("lm", formula, data, coding, {"conf_level": conf_level}, session)


def fit_lmer(
    formula: str,
    data: pd.DataFrame,
    *,
    coding: Mapping[str, Coding] | None = None,
    ddf: Ddf = "Satterthwaite",
    reml: bool = True,
    conf_level: float = 0.95,
    optimizer: str = "bobyqa",
    calc_derivs: bool = True,
    session: RSession | None = None,
) -> FitResult:
    """Linear mixed model with ``lmerTest::lmer``.

    Parameters
    ----------
    formula : lme4 formula with random effects, e.g.
        ``"cosine ~ nationality * origin + (1 | participant) + (1 | model)"``.
    data, coding, conf_level : as in :func:`fit_lm`.
    ddf : denominator degrees of freedom for the t tests: ``"Satterthwaite"`` (default) or
        ``"Kenward-Roger"`` (needs pbkrtest; slow on large data).
    reml : REML (default) or maximum likelihood.
    optimizer, calc_derivs : passed to ``lme4::lmerControl``.

    Returns
    -------
    FitResult
        ``tidy`` as in :func:`fit_lm` with per-term ``df``; confidence intervals are
        estimate ± t(df) × SE. ``random`` lists ``sd__(Intercept)`` per grouping factor and
        ``sd__Observation``; ``glance`` has nobs, sigma, logLik, AIC, BIC, deviance (REML criterion
        under REML), REML, optimizer, ddf, singular, messages and ``n_<group>`` per grouping factor.

    Notes
    -----
    Warnings about convergence or a singular fit are kept in ``glance.messages`` (and
    :attr:`FitResult.messages`), never printed or swallowed.
    """
    control = {
        "ddf": ddf,
        "REML": reml,
        "conf_level": conf_level,
        "optimizer": optimizer,
        "calc_derivs": calc_derivs,
    }
    return _fit("lmer", formula, data, coding, control, session)
