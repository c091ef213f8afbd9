"""The paper's models RQ1–RQ3: which rows, which formula, which coding, and both fits.

=========  ==============================================================  ==========================
analysis   rows of the similarity table                                    fixed effects
=========  ==============================================================  ==========================
``rq1``    persona none, language-matched, nothing removed                 nationality × origin
``rq2``    persona cn or us, both languages, nothing removed               language × persona ×
                                                                           origin congruence
``rq3``    persona none, language-matched, every removal level             nationality × origin ×
                                                                           removed
=========  ==============================================================  ==========================

Language-matched: seed 001 "paired human responses with LLM responses in the same language". The
human questionnaires were answered in each nationality's own language, so Chinese participants are
paired with the zh condition and American participants with the en condition.

Coding (done in R, ``R/rq_models.R``, so ``Rscript R/run_models.R`` codes identically):
nationality and origin half-sum coded with China = +0.5 (RQ1, RQ3); each congruence of the
participant's nationality with the prompt language, the persona and the LLM's origin coded
congruent = +0.5 (RQ2); removed treatment coded with ``none`` = 0 (RQ3).

Each model is fitted twice: ``lm`` exactly as the paper, and ``lmer`` with crossed random
intercepts ``(1 | participant) + (1 | model)`` and lmerTest Satterthwaite df.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

__all__ = [
    "ANALYSES",
    "RQ_MODELS",
    "RQFit",
    "RQModel",
    "analysis_rows",
    "design_matrix",
    "excluded_models",
    "fit_rq",
    "native_language",
    "side_by_side",
]

Analysis = Literal["rq1", "rq2", "rq3"]
ANALYSES: tuple[Analysis, ...] = ("rq1", "rq2", "rq3")
RQ3Lmer = Literal["full", "per_level", "skip"]

NATIVE_LANGUAGE = {"CN": "zh", "US": "en"}


@dataclass(frozen=True)
class RQModel:
    """One of the paper's models (the formula and coding live in R/rq_models.R)."""

    name: Analysis
    question: str
    fixed: str
    personas: tuple[str, ...]
    language_matched: bool
    all_removals: bool


RQ_MODELS: dict[str, RQModel] = {
    "rq1": RQModel(
        "rq1",
        "Do people and LLMs from the same country share values?",
        "cosine ~ nationality * origin",
        ("none",),
        True,
        False,
    ),
    "rq2": RQModel(
        "rq2",
        "Does language or persona steer LLMs toward human populations?",
        "cosine ~ language_congruent * persona_congruent * origin_congruent",
        ("cn", "us"),
        False,
        False,
    ),
    "rq3": RQModel(
        "rq3",
        "Which dimensions or items cause the greater similarity to Americans?",
        "cosine ~ nationality * origin * removed",
        ("none",),
        True,
        True,
    ),
}


@dataclass(frozen=True)
class RQFit:
    """Both fits of one analysis: tidy estimates, variance components, one glance row per fit."""

    analysis: str
    tidy: pd.DataFrame
    random: pd.DataFrame
    glance: pd.DataFrame
    coding: pd.DataFrame


def _spec(analysis: str) -> RQModel:
    try:
        return RQ_MODELS[analysis]
    except KeyError:
        raise ValueError(f"analysis must be one of {list(RQ_MODELS)}, not {analysis!r}") from None


def native_language(nationality: pd.Series) -> pd.Series:
    """The language a nationality answered the human questionnaire in (CN → zh, US → en).

    >>> native_language(pd.Series(["CN", "US"])).tolist()
    ['zh', 'en']
    """
    return nationality.astype(str).map(NATIVE_LANGUAGE)


def analysis_rows(similarity: pd.DataFrame, analysis: str) -> pd.Series:
    """Boolean mask of the similarity rows an analysis uses (before the exclusion rule).

    >>> s = pd.DataFrame({"nationality": ["CN", "CN", "US"], "language": ["zh", "en", "en"],
    ...     "persona": "none", "removed": "none"})
    >>> analysis_rows(s, "rq1").tolist()
    [True, False, True]
    """
    spec = _spec(analysis)
    mask = similarity["persona"].astype(str).isin(spec.personas)
    if spec.language_matched:
        mask &= similarity["language"].astype(str).to_numpy() == native_language(similarity["nationality"])
    if not spec.all_removals:
        mask &= similarity["removed"].astype(str) == "none"
    return mask


def analysis_conditions(analysis: str, languages: Sequence[str] = ("en", "zh")) -> list[tuple[str, str]]:
    """(language, persona) conditions an analysis draws LLM vectors from.

    >>> analysis_conditions("rq2")
    [('en', 'cn'), ('en', 'us'), ('zh', 'cn'), ('zh', 'us')]
    """
    spec = _spec(analysis)
    return [(language, persona) for language in languages for persona in spec.personas]


def excluded_models(llm_exclusions: pd.DataFrame, analysis: str) -> pd.DataFrame:
    """The exclusion rule: models with an incomplete vector in any condition the analysis uses.

    Parameters
    ----------
    llm_exclusions : DataFrame
        From :func:`valuesurvey.similarity.llm_exclusions` (one row per model × condition × item
        without a valid mean).

    Returns
    -------
    DataFrame
        The rows of ``llm_exclusions`` that exclude a model from ``analysis``, with ``analysis``.
    """
    conditions = set(analysis_conditions(analysis))
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
    fits: Iterable[str] = ("lm", "lmer"),
    ddf: str = "Satterthwaite",
    rq3_lmer: RQ3Lmer = "full",
    session: object | None = None,
) -> RQFit:
    """Fit one analysis in R (``rq_fit`` in R/rq_models.R) with each requested fit.

    Parameters
    ----------
    data : DataFrame
        The analysis rows: participant, nationality, model, origin, cosine, plus language and
        persona (rq2) or removed (rq3). No NaN cosines (zero-variance pairs are removed and
        reported before fitting).
    analysis : {"rq1", "rq2", "rq3"}
    instrument : str
        Appended to the ``analysis`` column of the output (``rq1_mfq2``).
    fits : iterable of {"lm", "lmer"}
    ddf : {"Satterthwaite", "Kenward-Roger"}
        lmer degrees of freedom.
    rq3_lmer : {"full", "per_level", "skip"}
        How lmer fits RQ3: the full model, one model per removal level (none + that level), or
        not at all.

    Returns
    -------
    RQFit
        ``tidy``: analysis, model (lm/lmer), term, estimate, std_error, df, statistic, p_value,
        conf_low, conf_high, method. ``glance`` adds seconds and formula per fit.
    """
    _spec(analysis)
    if data["cosine"].isna().any():
        raise ValueError(f"{analysis}: cosine has NaN rows; drop zero-variance pairs before fitting")
    out = _session(session).call(  # type: ignore[attr-defined]
        "rq_fit_with",
        data,
        analysis,
        instrument=instrument,
        fits=list(fits),
        ddf=ddf,
        rq3_lmer=rq3_lmer,
    )
    return RQFit(
        analysis=f"{analysis}_{instrument}" if instrument else analysis,
        tidy=out["tidy"],
        random=out["random"],
        glance=out["glance"],
        coding=out["coding"],
    )


def side_by_side(tidy: pd.DataFrame, *, session: object | None = None) -> pd.DataFrame:
    """Table-2 style: one row per analysis × term, lm and lmer columns side by side.

    Columns: analysis, term, then ``lm_`` and ``lmer_`` estimate, std_error, df, p_value,
    conf_low, conf_high, and se_ratio_lmer_lm.
    """
    return _session(session).call("rq_side_by_side", tidy)  # type: ignore[attr-defined]


def design_matrix(data: pd.DataFrame, analysis: str, *, session: object | None = None) -> pd.DataFrame:
    """The coded fixed-effects design matrix R builds for ``analysis`` (the coding made visible)."""
    _spec(analysis)
    return _session(session).call("rq_design_matrix", data, analysis)  # type: ignore[attr-defined]
