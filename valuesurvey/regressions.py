"""The paper's models RQ1–RQ3 and the inference beside them: which rows, which formulas, which fits.

=========  ==============================================================  ==========================
analysis   rows of the similarity table                                    fixed effects
=========  ==============================================================  ==========================
``rq1``    persona none, language-matched, nothing removed                 nationality × origin
``rq2``    a country persona, every language, nothing removed              language × persona ×
                                                                           origin congruence
``rq3``    persona none, language-matched, every removal level             nationality × origin ×
                                                                           removed
=========  ==============================================================  ==========================

Language-matched: seed 001 "paired human responses with LLM responses in the same language". The
human questionnaires were answered in each country's survey language, so participants of country C
are paired with the prompt language the study's design pairs with C
(:attr:`valuesurvey.design.StudyDesign.pairing`: zh for China, en for the USA in the paper).

Coding (done in R, ``R/rq_models.R``, so ``Rscript R/run_models.R`` codes identically, from the
levels and the pairing exported as data): nationality and origin half-sum coded with the first
country = +0.5 when they have two levels (the paper: China = +0.5, RQ1, RQ3), sum contrasts with
the study's last country as the reference when they have more; each congruence of the
participant's country with the prompt language's pairing, the persona's country and the LLM's
origin coded congruent = +0.5 (RQ2); removed treatment coded with ``none`` = 0 (RQ3).

Fits (the ``model`` column of the estimates):

* ``lm`` — exactly as published; ``lm_weighted`` beside it when the study asks for survey weights;
* ``lmer`` — the recommended mixed model: the random effects the design justifies (``maximal``:
  by-model slopes for person-level predictors, by-participant slopes for model-level ones,
  condition effects in RQ2, RQ3 on within-pair differences), ``intercepts`` (crossed random
  intercepts only) or the study's own lme4 terms, simplified by the recorded sequence of
  ``R/structures.R`` when singular or not converged; lmerTest Satterthwaite df. RQ2's mixed model
  adds the nationality and origin main effects. Complete crossings (every analysis after the
  exclusion rule) are fitted exactly from sufficient statistics (``R/crossed.R``), lme4 otherwise;
* ``two_stage`` — the design-based check: per-model contrasts of nationality means, then OLS across
  the models (df = models − 2).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from valuesurvey.design import NONE, StudyDesign, default_design

__all__ = [
    "ANALYSES",
    "RANDOM_KEYWORDS",
    "RQ_MODELS",
    "RQFit",
    "RQModel",
    "analysis_rows",
    "check_random_effects",
    "design_matrix",
    "excluded_models",
    "fit_rq",
    "native_language",
    "side_by_side",
]

Analysis = Literal["rq1", "rq2", "rq3"]
ANALYSES: tuple[Analysis, ...] = ("rq1", "rq2", "rq3")
RANDOM_KEYWORDS = ("maximal", "intercepts")

#: The variables a random-effect term may name, per analysis (R/rq_models.R rq_columns, plus the
#: numeric codes of the factors: nationality<level>, origin<level>, <congruence>yes).
_BASE_COLUMNS = ("participant", "nationality", "model", "origin", "language", "persona")
_CODES = {
    "language_congruent": "language_congruentyes",
    "persona_congruent": "persona_congruentyes",
    "origin_congruent": "origin_congruentyes",
}
_LEVEL_CODE = re.compile(r"^(nationality|origin)[A-Za-z][A-Za-z0-9_.]*$")
RANDOM_COLUMNS: dict[str, tuple[str, ...]] = {
    "rq1": _BASE_COLUMNS,
    "rq2": (*_BASE_COLUMNS, "language_congruent", "persona_congruent", "origin_congruent"),
    "rq3": (*_BASE_COLUMNS, "removed"),
}


@dataclass(frozen=True)
class RQModel:
    """One of the paper's models (the formula and coding live in R/rq_models.R).

    ``personas``: ``none`` (no persona) or ``countries`` (every country persona of the study).
    """

    name: Analysis
    question: str
    fixed: str
    personas: Literal["none", "countries"]
    language_matched: bool
    all_removals: bool

    def persona_labels(self, design: StudyDesign) -> tuple[str, ...]:
        return (NONE,) if self.personas == "none" else design.country_personas


RQ_MODELS: dict[str, RQModel] = {
    "rq1": RQModel(
        "rq1",
        "Do people and LLMs from the same country share values?",
        "cosine ~ nationality * origin",
        "none",
        True,
        False,
    ),
    "rq2": RQModel(
        "rq2",
        "Does language or persona steer LLMs toward human populations?",
        "cosine ~ language_congruent * persona_congruent * origin_congruent",
        "countries",
        False,
        False,
    ),
    "rq3": RQModel(
        "rq3",
        "Which dimensions or items cause the greater similarity to Americans?",
        "cosine ~ nationality * origin * removed",
        "none",
        True,
        True,
    ),
}


@dataclass(frozen=True)
class RQFit:
    """Every fit of one analysis: tidy estimates, variance components, one glance row per fit (per
    removal level for RQ3's mixed model), the coding, the simplification record and the simple
    effects."""

    analysis: str
    tidy: pd.DataFrame
    random: pd.DataFrame
    glance: pd.DataFrame
    coding: pd.DataFrame
    simplification: pd.DataFrame = field(default_factory=pd.DataFrame)
    simple_effects: pd.DataFrame = field(default_factory=pd.DataFrame)


def _term_variables(term: str) -> list[str]:
    return re.findall(r"[A-Za-z_.][A-Za-z0-9_.]*", term)


def check_random_effects(analysis: str, choice: str) -> str:
    """Check a study's random-effects choice for ``analysis`` without data; returns it.

    Raises ``ValueError`` naming the valid choices: ``maximal``, ``intercepts``, or lme4 terms
    whose variables the analysis has (see ``docs/study-yaml.md``).

    >>> check_random_effects("rq1", "(1 + nationality | model) + (1 | participant)")
    '(1 + nationality | model) + (1 | participant)'
    >>> check_random_effects("rq1", "maximum")
    Traceback (most recent call last):
    ValueError: 'maximum' is not a choice: use maximal, intercepts, or lme4 terms such as (1 + nationality | model) + (1 | participant)
    """
    _spec(analysis)
    if choice in RANDOM_KEYWORDS:
        return choice
    if "|" not in choice:
        raise ValueError(
            f"{choice!r} is not a choice: use maximal, intercepts, or lme4 terms such as "
            "(1 + nationality | model) + (1 | participant)"
        )
    allowed = set(RANDOM_COLUMNS[analysis]) | {_CODES[c] for c in RANDOM_COLUMNS[analysis] if c in _CODES}
    depth = 0
    current = ""
    terms: list[str] = []
    for char in choice:
        depth += char == "("
        depth -= char == ")"
        if char == "+" and depth == 0:
            terms.append(current.strip())
            current = ""
        else:
            current += char
    terms.append(current.strip())
    for term in terms:
        inner = term[1:-1] if term.startswith("(") and term.endswith(")") else ""
        if "|" not in inner or inner.count("(") != inner.count(")"):
            raise ValueError(
                f"{term!r} is not a random-effect term: write each as (1 + x | group), e.g. "
                "(1 + nationality | model) + (1 | participant)"
            )
        unknown = [v for v in _term_variables(inner) if v not in allowed and not _LEVEL_CODE.match(v)]
        if unknown:
            raise ValueError(
                f"term {term} uses {unknown[0]!r}, which is not in the {analysis} data; "
                f"variables are {', '.join(RANDOM_COLUMNS[analysis])}"
            )
    return choice


def _spec(analysis: str) -> RQModel:
    try:
        return RQ_MODELS[analysis]
    except KeyError:
        raise ValueError(f"analysis must be one of {list(RQ_MODELS)}, not {analysis!r}") from None


def native_language(nationality: pd.Series, design: StudyDesign | None = None) -> pd.Series:
    """The prompt language each participant is paired with: their country's (NaN when unpaired).

    >>> native_language(pd.Series(["CN", "US"])).tolist()
    ['zh', 'en']
    """
    design = design or default_design()
    return nationality.astype(str).map(design.pairing)


def analysis_rows(similarity: pd.DataFrame, analysis: str, design: StudyDesign | None = None) -> pd.Series:
    """Boolean mask of the similarity rows an analysis uses (before the exclusion rule).

    >>> s = pd.DataFrame({"nationality": ["CN", "CN", "US"], "language": ["zh", "en", "en"],
    ...     "persona": "none", "removed": "none"})
    >>> analysis_rows(s, "rq1").tolist()
    [True, False, True]
    """
    spec = _spec(analysis)
    design = design or default_design()
    mask = similarity["persona"].astype(str).isin(spec.persona_labels(design))
    if spec.language_matched:
        paired = native_language(similarity["nationality"], design).to_numpy(dtype=object)
        mask &= similarity["language"].astype(str).to_numpy(dtype=object) == paired
    if not spec.all_removals:
        mask &= similarity["removed"].astype(str) == "none"
    return mask


def analysis_conditions(analysis: str, design: StudyDesign | None = None) -> list[tuple[str, str]]:
    """(language, persona) conditions an analysis draws LLM vectors from: the language-matched
    analyses use the languages some country is paired with, RQ2 every language.

    >>> analysis_conditions("rq2")
    [('en', 'CN'), ('en', 'US'), ('zh', 'CN'), ('zh', 'US')]
    """
    spec = _spec(analysis)
    design = design or default_design()
    paired = set(design.pairing.values())
    languages = [x for x in design.languages if x in paired] if spec.language_matched else design.languages
    return [(language, persona) for language in languages for persona in spec.persona_labels(design)]


def excluded_models(
    llm_exclusions: pd.DataFrame, analysis: str, design: StudyDesign | None = None
) -> pd.DataFrame:
    """Incomplete LLM vectors in the conditions an analysis uses (one half of the exclusion rule;
    :func:`valuesurvey.analysis._exclusions.select_sample` adds zero-variance vectors).

    Parameters
    ----------
    llm_exclusions : DataFrame
        From :func:`valuesurvey.similarity.llm_exclusions` (one row per model × condition × item
        without a valid mean).
    design : StudyDesign
        The study's design (default: the paper's).

    Returns
    -------
    DataFrame
        The rows of ``llm_exclusions`` that exclude a model from ``analysis``, with ``analysis``.
    """
    conditions = set(analysis_conditions(analysis, design))
    keys = list(
        zip(llm_exclusions["language"].astype(str), llm_exclusions["persona"].astype(str), strict=True)
    )
    hit = llm_exclusions[np.array([key in conditions for key in keys], dtype=bool)]
    return hit.assign(analysis=analysis)


def _session(session: object | None) -> object:
    if session is not None:
        return session
    from valuesurvey.rbridge import get_session

    return get_session()


def fit_rq(
    data: pd.DataFrame,
    analysis: str,
    *,
    instrument: str = "",
    fits: Iterable[str] = ("lm", "lmer", "two_stage"),
    ddf: str = "Satterthwaite",
    random_effects: str = "maximal",
    weighted: bool = False,
    levels: dict[str, Sequence[str]] | None = None,
    session: object | None = None,
) -> RQFit:
    """Fit one analysis in R (``rq_fit`` in R/rq_models.R) with each requested fit.

    Parameters
    ----------
    data : DataFrame
        The analysis rows: participant, nationality, model, origin, cosine, plus language and
        persona (rq2) or removed (rq3), and ``weight`` when ``weighted``. No NaN cosines (the
        exclusion rule removes whole vectors before fitting).
    analysis : {"rq1", "rq2", "rq3"}
    instrument : str
        Appended to the ``analysis`` column of the output (``rq1_mfq2``).
    fits : iterable of {"lm", "lmer", "two_stage"}
        ``lm`` adds ``lm_weighted`` when ``weighted``.
    ddf : {"Satterthwaite", "Kenward-Roger"}
        lmer degrees of freedom (Kenward-Roger always goes through lme4 and is slow on large data).
    random_effects : str
        ``"maximal"``, ``"intercepts"`` or lme4 terms (see :func:`check_random_effects`).
    weighted : bool
        Fit ``lm_weighted`` and weight the two-stage means by the ``weight`` column.
    levels : dict, optional
        ``{"nationality": [...], "origin": [...]}``: the factors' levels in the study's order, the
        reference last (:meth:`StudyDesign.nationality_levels`); default sorted.

    Returns
    -------
    RQFit
        ``tidy``: analysis, model (lm, lm_weighted, lmer, two_stage), term, estimate, std_error,
        df, statistic, p_value, conf_low, conf_high, method, std_estimate (estimate / the lm
        residual SD), p_holm and p_bh (RQ3: the family of nationality × removed and origin ×
        removed terms of each fit). ``glance`` adds seconds, formula, level, random_requested,
        random_final, engine, converged, weighted. ``simplification``: every attempt of the
        simplification sequence. ``simple_effects``: effect, at, contrast, estimate … per fit.
    """
    _spec(analysis)
    if data["cosine"].isna().any():
        raise ValueError(f"{analysis}: cosine has NaN rows; apply the exclusion rule before fitting")
    check_random_effects(analysis, random_effects)
    out = _session(session).call(  # type: ignore[attr-defined]
        "rq_fit_with",
        data,
        analysis,
        instrument=instrument,
        fits=list(fits),
        ddf=ddf,
        random=random_effects,
        weighted=weighted,
        nationality_levels=list((levels or {}).get("nationality") or []) or None,
        origin_levels=list((levels or {}).get("origin") or []) or None,
    )

    def frame(name: str) -> pd.DataFrame:
        value = out.get(name)
        return value if isinstance(value, pd.DataFrame) else pd.DataFrame()

    return RQFit(
        analysis=f"{analysis}_{instrument}" if instrument else analysis,
        tidy=frame("tidy"),
        random=frame("random"),
        glance=frame("glance"),
        coding=frame("coding"),
        simplification=frame("simplification"),
        simple_effects=frame("simple_effects"),
    )


def side_by_side(tidy: pd.DataFrame, *, session: object | None = None) -> pd.DataFrame:
    """Table-2 style: one row per analysis × term, lm and lmer columns side by side.

    Columns: analysis, term, then per fit (``lm_``, ``lm_weighted_``, ``lmer_``, ``two_stage_``)
    estimate, std_error, df, p_value, conf_low, conf_high, and se_ratio_lmer_lm.
    """
    return _session(session).call("rq_side_by_side", tidy)  # type: ignore[attr-defined]


def design_matrix(
    data: pd.DataFrame,
    analysis: str,
    *,
    levels: dict[str, Sequence[str]] | None = None,
    session: object | None = None,
) -> pd.DataFrame:
    """The coded fixed-effects design matrix R builds for ``analysis`` (the coding made visible)."""
    _spec(analysis)
    return _session(session).call(  # type: ignore[attr-defined]
        "rq_design_matrix",
        data,
        analysis,
        nationality_levels=list((levels or {}).get("nationality") or []) or None,
        origin_levels=list((levels or {}).get("origin") or []) or None,
    )
