"""Parameter recovery on the cosine scale: data-generating processes whose truth is the RQ1/RQ2 model.

RQ1 is simulated directly at the level the regression models it::

    cosine[p, m] = b0 + b_nat·s[p] + b_org·o[m] + b_int·s[p]·o[m]
                   + u0[p] + u1[p]·o[m]                 (person intercept, by-person origin slope)
                   + v0[m] + v1[m]·s[p]                 (model intercept, by-model nationality slope)
                   + c[m, s[p]] + e[p, m]

with s, o = +0.5 for the design's first country and −0.5 for its second (the paper: China, the
USA; :attr:`CosineDesign.countries`), every effect normal with the SDs of :class:`CosineTruth`, and
``c`` the noise of an LLM condition's mean vector: each model is asked in the language paired with
each country's participants (zh for China, en for the USA) and that vector is a mean over
``repetitions`` answers, so ``c ~ N(0, sd_condition_noise² / repetitions)``.

RQ2 (the two countries' personas × both languages) adds by-person slopes for the three
congruences and condition effects (model × language × persona, intercept and nationality slope)::

    cosine[p, c] = b0 + b_nat·s + b_org·o + b_lc·lc + b_pc·pc + b_oc·oc
                   + u0[p] + u_lc[p]·lc + u_pc[p]·pc + u_oc[p]·oc + v0[m] + v1[m]·s
                   + w0[c] + w1[c]·s + c[c, s] + e

Here "truth" is exact: the coefficients are what every fit estimates, so 95% CIs should cover them
95% of the time. The paper's lm treats the rows as independent; the intercept-only mixed model
ignores that the nationality effect differs between models; the recommended mixed model has the
random effects of the data-generating process. :func:`recovery` measures all three.

An item-level simulation through statistical respondents (:mod:`valuesurvey.simulation.ratings`)
checks the whole pipeline instead; there the coefficients on the cosine scale are not known in
closed form, so it checks directions, not coverage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd

from valuesurvey.design import DEFAULT_COUNTRIES, default_design

__all__ = [
    "FITS",
    "KEY_TERMS",
    "RQ1_TERMS",
    "RQ2_TERMS",
    "CosineDesign",
    "CosineTruth",
    "coverage_line",
    "key_terms",
    "recovery",
    "recovery_summary",
    "rq1_terms",
    "simulate_cosines",
    "simulate_rq1_cosines",
]


def rq1_terms(first: str = DEFAULT_COUNTRIES[0]) -> dict[str, str]:
    """R's names of the RQ1 coefficients under half-sum coding with ``first`` = +0.5 (R/rq_models.R).

    >>> rq1_terms("CN")["interaction"]
    'nationalityCN:originCN'
    """
    return {
        "intercept": "(Intercept)",
        "nationality": f"nationality{first}",
        "origin": f"origin{first}",
        "interaction": f"nationality{first}:origin{first}",
    }


def key_terms(first: str = DEFAULT_COUNTRIES[0]) -> dict[str, tuple[str, ...]]:
    """The terms whose coverage and power are reported, per analysis."""
    return {"rq1": tuple(rq1_terms(first).values())[1:], "rq2": tuple(RQ2_TERMS.values())}


#: R's names of the RQ1 coefficients of the paper's design (China = +0.5).
RQ1_TERMS = rq1_terms()
#: RQ2's congruence terms (congruent = +0.5).
RQ2_TERMS = {
    "language_congruence": "language_congruentyes",
    "persona_congruence": "persona_congruentyes",
    "origin_congruence": "origin_congruentyes",
}
#: The terms whose coverage and power are reported, per analysis (the paper's design).
KEY_TERMS = key_terms()
#: The fits compared: (label, fits passed to fit_rq, random effects).
FITS: tuple[tuple[str, str, str], ...] = (
    ("lm", "lm", "maximal"),
    ("intercepts", "lmer", "intercepts"),
    ("recommended", "lmer", "maximal"),
)


@dataclass(frozen=True)
class CosineTruth:
    """Known effects and variance components (SDs) on the cosine scale.

    The defaults resemble the paper's fits: a large nationality effect, a small interaction,
    and a by-model nationality slope of SD 0.05 (the size that made the intercept-only model's
    95% CIs cover 0.51 of the time in the issue that motivated this simulation).
    """

    intercept: float = 0.30
    nationality: float = -0.30
    origin: float = 0.0
    interaction: float = 0.03
    language_congruence: float = 0.01
    persona_congruence: float = 0.01
    origin_congruence: float = 0.015
    sd_participant: float = 0.08
    sd_participant_slope: float = 0.02
    sd_model: float = 0.04
    sd_model_slope: float = 0.05
    sd_condition: float = 0.01
    sd_condition_slope: float = 0.01
    sd_condition_noise: float = 0.02
    sd_residual: float = 0.10

    def coefficients(self, analysis: str = "rq1", first: str = DEFAULT_COUNTRIES[0]) -> dict[str, float]:
        """R term name → true value (``first``: the country coded +0.5)."""
        values = asdict(self)
        names = rq1_terms(first)
        if analysis == "rq2":
            out = {term: values[name] for name, term in RQ2_TERMS.items()}
            out.update(
                {
                    "(Intercept)": self.intercept,
                    names["nationality"]: self.nationality,
                    names["origin"]: self.origin,
                }
            )
            return out
        return {term: values[name] for name, term in names.items()}

    def with_values(self, **changes: float) -> CosineTruth:
        """A copy with some fields changed (``--effect``/``--sd`` of ``valuesurvey power``)."""
        unknown = sorted(set(changes) - set(asdict(self)))
        if unknown:
            raise ValueError(f"unknown truth field {unknown[0]!r}; fields are {', '.join(asdict(self))}")
        return replace(self, **changes)


@dataclass(frozen=True)
class CosineDesign:
    """The crossed design of two countries: people per nationality, LLMs per origin (in the order of
    ``countries``, the first coded +0.5), the prompt language paired with each country's
    participants, the study's languages and repetitions."""

    people: tuple[int, int] = (200, 200)
    models: tuple[int, int] = (10, 10)
    languages: tuple[str, ...] = ("en", "zh")
    repetitions: int = 20
    countries: tuple[str, str] = DEFAULT_COUNTRIES  # type: ignore[assignment]
    paired: tuple[str, str] = tuple(default_design().pairing[c] for c in DEFAULT_COUNTRIES)  # type: ignore[assignment]


def _codes(design: CosineDesign, counts: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    first, second = design.countries
    labels = np.array([first] * counts[0] + [second] * counts[1])
    return labels, np.where(labels == first, 0.5, -0.5)


def simulate_cosines(
    truth: CosineTruth, design: CosineDesign, *, analysis: str = "rq1", seed: int = 0
) -> pd.DataFrame:
    """One simulated analysis table (``rq1`` or ``rq2``) of the design.

    Returns
    -------
    DataFrame
        participant, nationality, model, origin, language, persona, removed (``none``), cosine.

    Examples
    --------
    >>> d = simulate_cosines(CosineTruth(), CosineDesign(people=(3, 2), models=(2, 2)), seed=1)
    >>> d.shape, sorted(d["nationality"].unique())
    ((20, 9), ['CN', 'US'])
    >>> simulate_cosines(CosineTruth(), CosineDesign(people=(3, 2), models=(2, 2)), analysis="rq2").shape
    (80, 9)
    """
    rng = np.random.default_rng(seed)
    nationality, s = _codes(design, design.people)
    origin, o = _codes(design, design.models)
    lang_plus, lang_minus = design.paired
    pers_plus, pers_minus = design.countries
    n_p, n_m = s.size, o.size
    people = np.array([f"P{i:05d}" for i in range(n_p)])
    models = np.array([f"llm{j:02d}_{origin[j]}" for j in range(n_m)])
    noise_sd = truth.sd_condition_noise / np.sqrt(design.repetitions)
    u0 = rng.normal(0.0, truth.sd_participant, n_p)
    v0 = rng.normal(0.0, truth.sd_model, n_m)
    v1 = rng.normal(0.0, truth.sd_model_slope, n_m)
    if analysis == "rq1":
        u1 = rng.normal(0.0, truth.sd_participant_slope, n_p)
        cell = rng.normal(0.0, noise_sd, (2, n_m))  # each model's condition paired with each country
        y = (
            truth.intercept
            + truth.nationality * s[:, None]
            + truth.origin * o[None, :]
            + truth.interaction * s[:, None] * o[None, :]
            + u0[:, None]
            + u1[:, None] * o[None, :]
            + v0[None, :]
            + v1[None, :] * s[:, None]
            + cell[np.where(s > 0, 0, 1)]
            + rng.normal(0.0, truth.sd_residual, (n_p, n_m))
        )
        return pd.DataFrame(
            {
                "participant": np.repeat(people, n_m),
                "nationality": np.repeat(nationality, n_m),
                "model": np.tile(models, n_p),
                "origin": np.tile(origin, n_p),
                "language": np.repeat(np.where(s > 0, lang_plus, lang_minus), n_m),
                "persona": "none",
                "removed": "none",
                "cosine": y.ravel(),
                "participant_language": np.repeat(np.where(s > 0, lang_plus, lang_minus), n_m),
            }
        )
    if analysis != "rq2":
        raise ValueError(f"analysis must be 'rq1' or 'rq2', not {analysis!r}")
    conditions = [
        (m, lang, pers) for m in range(n_m) for lang in design.languages for pers in design.countries
    ]
    cm = np.array([c[0] for c in conditions])
    lang = np.array([0.5 if c[1] == lang_plus else -0.5 for c in conditions])
    pers = np.array([0.5 if c[2] == pers_plus else -0.5 for c in conditions])
    n_c = len(conditions)
    u_slopes = rng.normal(0.0, truth.sd_participant_slope, (n_p, 3))
    w0 = rng.normal(0.0, truth.sd_condition, n_c)
    w1 = rng.normal(0.0, truth.sd_condition_slope, n_c)
    cell = rng.normal(0.0, noise_sd, (2, n_c))
    lc = 2 * s[:, None] * lang[None, :]
    pc = 2 * s[:, None] * pers[None, :]
    oc = 2 * s[:, None] * o[cm][None, :]
    y = (
        truth.intercept
        + truth.nationality * s[:, None]
        + truth.origin * o[cm][None, :]
        + truth.language_congruence * lc
        + truth.persona_congruence * pc
        + truth.origin_congruence * oc
        + u0[:, None]
        + u_slopes[:, [0]] * lc
        + u_slopes[:, [1]] * pc
        + u_slopes[:, [2]] * oc
        + v0[cm][None, :]
        + v1[cm][None, :] * s[:, None]
        + w0[None, :]
        + w1[None, :] * s[:, None]
        + cell[np.where(s > 0, 0, 1)]
        + rng.normal(0.0, truth.sd_residual, (n_p, n_c))
    )
    return pd.DataFrame(
        {
            "participant": np.repeat(people, n_c),
            "nationality": np.repeat(nationality, n_c),
            "model": np.tile(models[cm], n_p),
            "origin": np.tile(origin[cm], n_p),
            "language": np.tile(np.where(lang > 0, lang_plus, lang_minus), n_p),
            "persona": np.tile(np.where(pers > 0, pers_plus, pers_minus), n_p),
            "removed": "none",
            "cosine": y.ravel(),
            "participant_language": np.repeat(np.where(s > 0, lang_plus, lang_minus), n_c),
        }
    )


def simulate_rq1_cosines(
    truth: CosineTruth = CosineTruth(),
    *,
    n_people: int = 200,
    n_models: int = 10,
    seed: int = 0,
) -> pd.DataFrame:
    """One simulated RQ1 table: ``n_people`` per nationality × ``n_models`` per origin.

    Examples
    --------
    >>> d = simulate_rq1_cosines(n_people=3, n_models=2, seed=1)
    >>> d.shape, sorted(d["nationality"].unique()), sorted(d["origin"].unique())
    ((24, 9), ['CN', 'US'], ['CN', 'US'])
    """
    design = CosineDesign(people=(n_people, n_people), models=(n_models, n_models))
    return simulate_cosines(truth, design, analysis="rq1", seed=seed)


def _fit_all(data: pd.DataFrame, analysis: str, fits: Iterable[str], design: CosineDesign) -> pd.DataFrame:
    from valuesurvey.regressions import fit_rq

    levels = {"nationality": list(design.countries), "origin": list(design.countries)}
    parts = []
    for label, fit, random in FITS:
        if label not in fits:
            continue
        tidy = fit_rq(data, analysis, fits=(fit,), random_effects=random, levels=levels).tidy
        parts.append(tidy[tidy["model"] == fit].assign(model=label))
    return pd.concat(parts, ignore_index=True)


def recovery(
    seeds: Iterable[int],
    truth: CosineTruth = CosineTruth(),
    *,
    design: CosineDesign | None = None,
    n_people: int = 200,
    n_models: int = 10,
    analysis: str = "rq1",
    fits: Iterable[str] = ("lm", "intercepts", "recommended"),
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Fit one simulated table per seed with each fit, through the R bridge.

    ``design`` (default: ``n_people`` per nationality, ``n_models`` per origin) sets the panel.

    Returns
    -------
    DataFrame
        seed, model (lm, intercepts, recommended), term, truth, estimate, std_error, df, p_value,
        conf_low, conf_high, covered.
    """
    design = design or CosineDesign(people=(n_people, n_people), models=(n_models, n_models))
    true_values = truth.coefficients(analysis, design.countries[0])
    fits = tuple(fits)
    rows: list[pd.DataFrame] = []
    for seed in seeds:
        data = simulate_cosines(truth, design, analysis=analysis, seed=seed)
        tidy = _fit_all(data, analysis, fits, design)
        tidy = tidy[tidy["term"].isin(true_values)].copy()
        tidy["truth"] = tidy["term"].map(true_values)
        tidy["covered"] = (tidy["conf_low"] <= tidy["truth"]) & (tidy["truth"] <= tidy["conf_high"])
        tidy["seed"] = seed
        rows.append(tidy)
        if progress is not None:
            progress(1)
    keep = [
        "seed", "model", "term", "truth", "estimate", "std_error", "df", "p_value",
        "conf_low", "conf_high", "covered",
    ]  # fmt: skip
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


def coverage_line(results: pd.DataFrame, terms: Iterable[str]) -> str:
    """``coverage: recommended x, intercepts y, lm z`` over the key terms (pooled intervals)."""
    key = results[results["term"].isin(list(terms))]
    by_fit = key.groupby("model")["covered"].mean()
    parts = [f"{fit} {by_fit[fit]:.3f}" for fit in ("recommended", "intercepts", "lm") if fit in by_fit]
    return "coverage: " + ", ".join(parts)
