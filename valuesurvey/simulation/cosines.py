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

More than two countries (RQ1 only): nationality and origin are sum-coded as the analysis codes them
(R/rq_models.R: the study's countries in order, the last the reference), and the truth spreads the
two-country effects over the countries by their scores ``c = linspace(+0.5, -0.5, k)`` (the first
country +0.5, the last -0.5; for two countries exactly the half-sum codes)::

    cosine[p, m] = b0 + b_nat·c[s_p] + b_org·c[o_m] + b_int·c[s_p]·c[o_m]
                   + u0[p] + u1[p]·Z[o_m] + v0[m] + v1[m]·Z[s_p] + c[m, language of s_p] + e

with ``Z`` the k - 1 sum-code columns of a country and ``u1``, ``v1`` independent normal slopes of
SD ``sd_participant_slope`` / ``sd_model_slope`` per column. The sum-coded coefficients are then
``nationality<c_i> = b_nat·c_i``, ``origin<c_i> = b_org·c_i`` and ``nationality<c_i>:origin<c_j> =
b_int·c_i·c_j`` for the non-reference countries (:func:`k_country_coefficients`): every one is a
contrast whose power is reported. The condition noise is shared by the countries whose
participants' language is the same (one LLM condition per language).

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
    "country_scores",
    "coverage_line",
    "k_country_coefficients",
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


def key_terms(first: str | tuple[str, ...] = DEFAULT_COUNTRIES[0]) -> dict[str, tuple[str, ...]]:
    """The terms whose coverage and power are reported, per analysis (``first``: the country coded
    +0.5, or the tuple of a design's countries; more than two: every sum-coded RQ1 contrast)."""
    if isinstance(first, tuple):
        if len(first) > 2:
            return {"rq1": tuple(k_country_coefficients(CosineTruth(), first))[1:]}
        first = first[0]
    return {"rq1": tuple(rq1_terms(first).values())[1:], "rq2": tuple(RQ2_TERMS.values())}


def country_scores(k: int) -> np.ndarray:
    """Each country's score in the k-country truth: evenly from +0.5 (first) to -0.5 (last).

    >>> country_scores(2).tolist(), country_scores(3).tolist()
    ([0.5, -0.5], [0.5, 0.0, -0.5])
    """
    return np.linspace(0.5, -0.5, k)


def _sum_codes(k: int) -> np.ndarray:
    """R's contr.sum(k): rows are countries, columns the k - 1 non-reference countries."""
    return np.vstack([np.eye(k - 1), -np.ones((1, k - 1))])


def k_country_coefficients(truth: CosineTruth, countries: tuple[str, ...]) -> dict[str, float]:
    """R term name → true value of the sum-coded RQ1 model of k countries (module docstring).

    >>> k_country_coefficients(CosineTruth(), ("CN", "US", "TW"))["nationalityCN:originCN"]
    0.0075
    """
    c = [float(v) + 0.0 for v in country_scores(len(countries))]  # + 0.0: no -0.0
    rest = countries[:-1]
    out = {"(Intercept)": truth.intercept}
    out |= {f"nationality{a}": truth.nationality * c[i] + 0.0 for i, a in enumerate(rest)}
    out |= {f"origin{a}": truth.origin * c[i] + 0.0 for i, a in enumerate(rest)}
    out |= {
        f"nationality{a}:origin{b}": truth.interaction * c[i] * c[j] + 0.0
        for j, b in enumerate(rest)
        for i, a in enumerate(rest)
    }
    return out


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

    def coefficients(
        self, analysis: str = "rq1", first: str | tuple[str, ...] = DEFAULT_COUNTRIES[0]
    ) -> dict[str, float]:
        """R term name → true value (``first``: the country coded +0.5, or a design's countries)."""
        if isinstance(first, tuple):
            if len(first) > 2:
                if analysis != "rq1":
                    raise ValueError("the k-country simulation covers rq1 only")
                return k_country_coefficients(self, first)
            first = first[0]
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
    """The crossed design of the countries: people per nationality, LLMs per origin (in the order of
    ``countries``; two countries: the first coded +0.5; more: sum-coded, the last the reference),
    the prompt language paired with each country's participants, the study's languages and
    repetitions."""

    people: tuple[int, ...] = (200, 200)
    models: tuple[int, ...] = (10, 10)
    languages: tuple[str, ...] = ("en", "zh")
    repetitions: int = 20
    countries: tuple[str, ...] = DEFAULT_COUNTRIES
    paired: tuple[str, ...] = tuple(default_design().pairing[c] for c in DEFAULT_COUNTRIES)

    def __post_init__(self) -> None:
        k = len(self.countries)
        if k < 2 or not len(self.people) == len(self.models) == len(self.paired) == k:
            raise ValueError(
                f"a design needs people, models and a paired language for each of its {k} countries "
                f"(at least 2): people {self.people}, models {self.models}, paired {self.paired}"
            )


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
    if len(design.countries) > 2:
        if analysis != "rq1":
            raise ValueError(f"the k-country simulation covers rq1 only, not {analysis!r}")
        return _simulate_k_rq1(truth, design, seed)
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


def _simulate_k_rq1(truth: CosineTruth, design: CosineDesign, seed: int) -> pd.DataFrame:
    """RQ1 of k > 2 countries, sum-coded (module docstring)."""
    rng = np.random.default_rng(seed)
    k = len(design.countries)
    scores, codes = country_scores(k), _sum_codes(k)
    nat = np.repeat(np.arange(k), design.people)
    org = np.repeat(np.arange(k), design.models)
    n_p, n_m = nat.size, org.size
    people = np.array([f"P{i:05d}" for i in range(n_p)])
    origin = np.array(design.countries)[org]
    models = np.array([f"llm{j:02d}_{origin[j]}" for j in range(n_m)])
    languages = list(dict.fromkeys(design.paired))
    language_of = np.array([languages.index(design.paired[i]) for i in nat])
    noise_sd = truth.sd_condition_noise / np.sqrt(design.repetitions)
    u0 = rng.normal(0.0, truth.sd_participant, n_p)
    u1 = rng.normal(0.0, truth.sd_participant_slope, (n_p, k - 1))
    v0 = rng.normal(0.0, truth.sd_model, n_m)
    v1 = rng.normal(0.0, truth.sd_model_slope, (n_m, k - 1))
    cell = rng.normal(0.0, noise_sd, (len(languages), n_m))  # one LLM condition per language
    s, o = scores[nat], scores[org]
    y = (
        truth.intercept
        + truth.nationality * s[:, None]
        + truth.origin * o[None, :]
        + truth.interaction * s[:, None] * o[None, :]
        + u0[:, None]
        + u1 @ codes[org].T
        + v0[None, :]
        + codes[nat] @ v1.T
        + cell[language_of]
        + rng.normal(0.0, truth.sd_residual, (n_p, n_m))
    )
    language = np.array(design.paired)[nat]
    return pd.DataFrame(
        {
            "participant": np.repeat(people, n_m),
            "nationality": np.repeat(np.array(design.countries)[nat], n_m),
            "model": np.tile(models, n_p),
            "origin": np.tile(origin, n_p),
            "language": np.repeat(language, n_m),
            "persona": "none",
            "removed": "none",
            "cosine": y.ravel(),
            "participant_language": np.repeat(language, n_m),
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
    true_values = truth.coefficients(analysis, design.countries)
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
