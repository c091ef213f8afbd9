"""Item-level simulation: people and LLMs rating items, written as the study-directory tables.

People of nationality n rate item i as round(μ_n(i) + a_p + b_p(i)) clipped to the scale (a_p a
person's overall level, which z-scoring removes; b_p(i) their own view). An LLM rates item i in a
condition as in the simulated provider (:mod:`valuesurvey.elicit.providers.simulated`): a mixture
w·μ_CN(i) + (1 − w)·μ_US(i) plus a fixed idiosyncrasy per model and item and fresh noise per
repetition, where w = cn_weight + persona_shift·s_p + language_shift·s_l. With LLMs closer to
μ_US (small cn_weight) the RQ1 nationality effect is negative; its exact value on the cosine scale
has no closed form, so tests built on this check directions and the pipeline, while
:mod:`valuesurvey.simulation.cosines` checks coverage against exact truth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["SimulatedLLM", "simulate_humans", "simulate_llm_ratings"]

_PERSONA_SIGN = {"none": 0.0, "cn": 1.0, "us": -1.0}
_LANGUAGE_SIGN = {"en": -0.5, "zh": 0.5}


@dataclass(frozen=True)
class SimulatedLLM:
    """A statistical respondent posing as an LLM (ids start with ``sim-``)."""

    id: str
    origin: str
    cn_weight: float
    company: str = "SIMULATED"
    persona_shift: float = 0.2
    language_shift: float = 0.1
    item_sd: float = 0.3
    noise_sd: float = 0.7
    #: (language, persona, item) cells the model refuses in every repetition.
    refuses: frozenset[tuple[str, str, str]] = field(default_factory=frozenset)


def _clip_round(values: np.ndarray, scale: tuple[int, int]) -> np.ndarray:
    return np.clip(np.rint(values), scale[0], scale[1])


def simulate_humans(
    profiles: Mapping[str, Sequence[float]],
    items: Sequence[str],
    *,
    n_per_nationality: int = 50,
    scale: tuple[int, int] = (1, 5),
    level_sd: float = 0.5,
    item_sd: float = 0.8,
    seed: int = 0,
) -> pd.DataFrame:
    """Simulated human microdata in the humans-table layout.

    Parameters
    ----------
    profiles : mapping
        Nationality (``CN``/``US``) → item means in the order of ``items``.

    Returns
    -------
    DataFrame
        participant, nationality, item, rating, weight (1.0).

    Examples
    --------
    >>> h = simulate_humans({"CN": [1, 2, 3], "US": [3, 2, 1]}, ["a", "b", "c"], n_per_nationality=2)
    >>> h.shape, list(h.columns)
    ((12, 5), ['participant', 'nationality', 'item', 'rating', 'weight'])
    """
    rng = np.random.default_rng(seed)
    frames = []
    for nationality, means in profiles.items():
        mu = np.asarray(means, dtype=float)
        level = rng.normal(0.0, level_sd, (n_per_nationality, 1))
        own = rng.normal(0.0, item_sd, (n_per_nationality, mu.size))
        ratings = _clip_round(mu[None, :] + level + own, scale)
        ids = [f"sim-{nationality}-{i:05d}" for i in range(n_per_nationality)]
        frames.append(
            pd.DataFrame(
                {
                    "participant": np.repeat(ids, mu.size),
                    "nationality": nationality,
                    "item": np.tile(list(items), n_per_nationality),
                    "rating": ratings.ravel(),
                    "weight": 1.0,
                }
            )
        )
    return pd.concat(frames, ignore_index=True)


def simulate_llm_ratings(
    profiles: Mapping[str, Sequence[float]],
    items: Sequence[str],
    models: Sequence[SimulatedLLM],
    *,
    instrument: str,
    languages: Sequence[str] = ("en", "zh"),
    personas: Sequence[str] = ("none", "cn", "us"),
    repetitions: int = 5,
    scale: tuple[int, int] = (1, 5),
    seed: int = 0,
) -> pd.DataFrame:
    """Simulated ``llm_ratings.parquet`` rows (text answer mode).

    Returns
    -------
    DataFrame
        model, origin, company, instrument, language, persona, rep, item, rating, status,
        answer_mode; refused cells have status ``refusal`` and a NaN rating.
    """
    rng = np.random.default_rng(seed)
    mu_cn = np.asarray(profiles["CN"], dtype=float)
    mu_us = np.asarray(profiles["US"], dtype=float)
    frames = []
    for llm in models:
        own = rng.normal(0.0, llm.item_sd, mu_cn.size)
        for language in languages:
            for persona in personas:
                w = llm.cn_weight + llm.persona_shift * _PERSONA_SIGN[persona]
                w = float(np.clip(w + llm.language_shift * _LANGUAGE_SIGN[language], 0.0, 1.0))
                mean = w * mu_cn + (1.0 - w) * mu_us + own
                draws = _clip_round(
                    mean[None, :] + rng.normal(0.0, llm.noise_sd, (repetitions, mu_cn.size)), scale
                )
                refused = np.array([(language, persona, item) in llm.refuses for item in items])
                status = np.where(refused[None, :], "refusal", "ok").repeat(1, axis=0)
                status = np.broadcast_to(status, draws.shape)
                frames.append(
                    pd.DataFrame(
                        {
                            "model": llm.id,
                            "origin": llm.origin,
                            "company": llm.company,
                            "instrument": instrument,
                            "language": language,
                            "persona": persona,
                            "rep": np.repeat(np.arange(repetitions), mu_cn.size),
                            "item": np.tile(list(items), repetitions),
                            "rating": np.where(status == "ok", draws, np.nan).ravel(),
                            "status": status.ravel(),
                            "answer_mode": "text",
                        }
                    )
                )
    return pd.concat(frames, ignore_index=True)
