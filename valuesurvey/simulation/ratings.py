"""Item-level simulation: people and LLMs rating items, written as the study-directory tables.

People of nationality n rate item i as round(μ_n(i) + a_p + b_p(i)) clipped to the scale (a_p a
person's overall level, which z-scoring removes; b_p(i) their own view). An LLM rates item i in a
condition as in the simulated provider (:mod:`valuesurvey.elicit.providers.simulated`): a mixture
Σ_c w_c·μ_c(i) of country profiles plus a fixed idiosyncrasy per model and item and fresh noise per
repetition, the weights moved toward the persona's country and toward the countries whose language
the prompt is in (:func:`condition_weights`). The paper's panel mixes China and the USA:
w·μ_CN(i) + (1 − w)·μ_US(i) with w = cn_weight + persona_shift·s_p + language_shift·s_l. With
LLMs closer to μ_US (small cn_weight) the RQ1 nationality effect is negative; its exact value on
the cosine scale has no closed form, so tests built on this check directions and the pipeline,
while :mod:`valuesurvey.simulation.cosines` checks coverage against exact truth.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["SimulatedLLM", "condition_weights", "simulate_humans", "simulate_llm_ratings"]


def _speaks(country: str, language: str) -> bool:
    from valuesurvey.design import default_survey_languages, pair_language

    return pair_language(default_survey_languages(country), [language]) is not None


def condition_weights(
    mixture: Mapping[str, float],
    persona: str,
    language: str,
    *,
    persona_shift: float = 0.2,
    language_shift: float = 0.1,
) -> dict[str, float]:
    """The weights of the country profiles an LLM answers from in one condition.

    ``mixture`` (country → weight, summing to 1) is the model's own mix. A persona moves
    ``persona_shift`` of weight to its country (from the others, in proportion to their weights); a
    prompt language moves ``language_shift``/2 to the countries that speak it (CLDR official
    languages) from those that do not. Weights are clipped at 0 and renormalised. With two countries
    this is the paper panel's w = clip(w_a + persona_shift·s_p + language_shift·s_l, 0, 1),
    s_p = ±1 for a persona of country a / b, s_l = ±½ for a language of country a / b, computed
    exactly so.

    >>> {k: round(v, 12) for k, v in condition_weights({"CN": 0.6, "US": 0.4}, "CN", "zh").items()}
    {'CN': 0.85, 'US': 0.15}
    >>> w = condition_weights({"TW": 0.8, "US": 0.2}, "SG", "en")
    >>> sorted(w), round(sum(w.values()), 12)
    (['SG', 'TW', 'US'], 1.0)
    """
    poles = list(mixture) + ([persona] if persona not in mixture and persona != "none" else [])
    speaks = {country: _speaks(country, language) for country in poles}
    if len(poles) == 2:
        a, b = poles
        s_p = 1.0 if persona == a else -1.0 if persona == b else 0.0
        s_l = 0.5 if speaks[a] and not speaks[b] else -0.5 if speaks[b] and not speaks[a] else 0.0
        w = mixture.get(a, 0.0) + persona_shift * s_p
        w = min(1.0, max(0.0, w + language_shift * s_l))
        return {a: w, b: 1 - w}
    weights = {country: float(mixture.get(country, 0.0)) for country in poles}
    if persona in weights:
        rest = sum(v for c, v in weights.items() if c != persona)
        for country in weights:
            if country == persona:
                weights[country] += persona_shift
            elif rest > 0:
                weights[country] -= persona_shift * weights[country] / rest
    up = [c for c in poles if speaks[c]]
    down = [c for c in poles if not speaks[c]]
    if up and down:
        for country in up:
            weights[country] += language_shift / 2 / len(up)
        for country in down:
            weights[country] -= language_shift / 2 / len(down)
    weights = {c: max(v, 0.0) for c, v in weights.items()}
    total = sum(weights.values()) or 1.0
    return {c: v / total for c, v in weights.items()}


@dataclass(frozen=True)
class SimulatedLLM:
    """A statistical respondent posing as an LLM (ids start with ``sim-``).

    ``cn_weight`` is the paper panel's mix ``{CN: cn_weight, US: 1 − cn_weight}``; ``mixture``
    (country → weight) replaces it for any countries.
    """

    id: str
    origin: str
    cn_weight: float = 0.5
    mixture: Mapping[str, float] | None = None
    company: str = "SIMULATED"
    persona_shift: float = 0.2
    language_shift: float = 0.1
    item_sd: float = 0.3
    noise_sd: float = 0.7
    #: (language, persona, item) cells the model refuses in every repetition.
    refuses: frozenset[tuple[str, str, str]] = field(default_factory=frozenset)

    def weights(self, countries: Sequence[str]) -> dict[str, float]:
        """The model's own mix over ``countries`` (the profiles given): ``mixture``, else
        ``cn_weight`` on China and the rest on the USA (on the first two countries when the profiles
        are not China's and the USA's), whatever order the profiles come in.

        >>> SimulatedLLM("sim-us", "US", 0.05).weights(["US", "CN"])
        {'CN': 0.05, 'US': 0.95}
        """
        if self.mixture is not None:
            return dict(self.mixture)
        first, second = ("CN", "US") if {"CN", "US"} <= set(countries) else tuple(countries[:2])
        return {first: self.cn_weight, second: 1.0 - self.cn_weight}


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
        Nationality (alpha-2 code) → item means in the order of ``items``.

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
    personas: Sequence[str] | None = None,
    repetitions: int = 5,
    scale: tuple[int, int] = (1, 5),
    seed: int = 0,
) -> pd.DataFrame:
    """Simulated ``llm_ratings.parquet`` rows (text answer mode).

    Parameters
    ----------
    profiles : mapping
        Country (alpha-2) → item means in the order of ``items``; a model's ``cn_weight`` mixes
        the first two.
    personas : sequence of str, optional
        ``none`` and countries; default ``none`` and every country of ``profiles``.

    Returns
    -------
    DataFrame
        model, origin, company, instrument, language, persona, rep, item, rating, status,
        answer_mode; refused cells have status ``refusal`` and a NaN rating.
    """
    rng = np.random.default_rng(seed)
    mu = {country: np.asarray(means, dtype=float) for country, means in profiles.items()}
    countries = list(mu)
    size = len(items)
    personas = ("none", *countries) if personas is None else tuple(personas)
    frames = []
    for llm in models:
        own = rng.normal(0.0, llm.item_sd, size)
        for language in languages:
            for persona in personas:
                weights = condition_weights(
                    llm.weights(countries),
                    persona,
                    language,
                    persona_shift=llm.persona_shift,
                    language_shift=llm.language_shift,
                )
                mean = None
                for country, weight in weights.items():
                    term = weight * mu[country]
                    mean = term if mean is None else mean + term
                mean = mean + own
                draws = _clip_round(mean[None, :] + rng.normal(0.0, llm.noise_sd, (repetitions, size)), scale)
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
                            "rep": np.repeat(np.arange(repetitions), size),
                            "item": np.tile(list(items), repetitions),
                            "rating": np.where(status == "ok", draws, np.nan).ravel(),
                            "status": status.ravel(),
                            "answer_mode": "text",
                        }
                    )
                )
    return pd.concat(frames, ignore_index=True)
