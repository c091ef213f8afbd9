"""Simulated respondents: a statistical model posing as an LLM, for tests and power analyses.

Nothing is sent anywhere. Simulated models must be named so that nobody mistakes them for real
ones: ids start with ``sim-`` (e.g. ``sim-cn-01``) and display names with ``SIMULATED``
(e.g. "SIMULATED CN respondent 01"); :func:`check_simulated_name` enforces it.

Generative model (all parameters in the model's ``options``; defaults in brackets)
---------------------------------------------------------------------------------
Rating item *i* of an instrument with scale [lo, hi], asked in language *l* with persona *p*:

1. Human profiles: μ_c(i), the human mean of the item in country c (WVS-7: per item; MFQ-2: per
   foundation of the item; :mod:`valuesurvey.humans.profiles`: the published aggregates of China
   and the USA, a labelled SYNTHETIC profile for every other country; items not found: the scale
   midpoint).
2. The model's mix of countries: ``mixture`` (country → weight); ``cn_weight`` w is the paper
   panel's shorthand for {CN: w, US: 1 − w} (the two reference countries of the shipped
   aggregates). Default: origin China or the USA, cn_weight 0.8 for China and 0.2 for the USA; any
   other country c, {c: 0.8, US: 0.2} (LLMs resemble Americans most, seed 001); no country or a
   company label, {CN: 0.5, US: 0.5}.
3. Condition weights (:func:`valuesurvey.simulation.ratings.condition_weights`): the persona moves
   ``persona_shift`` [0.2] of weight to its country, the prompt language ``language_shift`` [0.1]
   / 2 to the countries speaking it. For China and the USA this is the paper panel's
   w = clip(cn_weight + persona_shift·s_p + language_shift·s_l, 0, 1) with s_p = +1 (persona CN),
   0 (none), −1 (US) and s_l = +½ (zh), −½ (en).
4. Latent mean: μ = Σ_c w_c·μ_c(i) + δ_i, where δ_i ~ N(0, ``item_sd`` [0.3]) is fixed
   per model and item (the model's own idiosyncrasy, the same in every condition and repetition).
5. Each repetition r: y = μ + ε, ε ~ N(0, ``noise_sd`` [0.7]); the answer is round(y) clipped to
   [lo, hi]. With probability ``refusal_rate`` [0] it refuses instead ("As an AI language model, I
   cannot ...", or "作为一个人工智能，我无法…" in zh).
6. Logprobs mode: P(k) = Φ((k + ½ − μ)/σ) − Φ((k − ½ − μ)/σ) for inner points, open intervals at
   lo and hi (an ordered probit of the same latent variable, σ = noise_sd), returned as OpenAI-style
   ``top_logprobs`` of the first token; the text is the most probable point.

Ranking task (``ai_values``): the importance of value v is
s_v = profile(v) + η_v + ν_v, with profile(v) from ``ranking_profile`` (a mapping of value ids or
dimension names to importance; a value's own entry wins) [Protective 2.0, Epistemic 1.8,
Practical 1.2, Social 0.9, Personal 0.0], η_v ~ N(0, ``value_sd`` [0.3]) fixed per model and value,
ν_v ~ N(0, ``ranking_noise`` [0.5]) fresh per request. The answer lists the values by decreasing
s_v, one per line ("1. Accuracy"). With probability ``invalid_rate`` [0] a value is left out (an
invalid ranking, which the runner asks again).

Every draw comes from a generator seeded by (``seed`` [0], model id, design cell, repetition,
attempt; the persona as its lowercase code, as request seeds take it): the same study gives the
same answers, in any order and after any resume.
``latency`` [0] seconds are awaited per request (to exercise concurrency without a network).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import math
import random
from typing import Any, ClassVar

from valuesurvey.design import NONE, persona_key
from valuesurvey.elicit._exceptions import ElicitError
from valuesurvey.elicit.providers._base import ChatRequest, ChatResponse, ModelInfo, Provider

__all__ = ["DEFAULT_RANKING_PROFILE", "SimulatedProvider", "check_simulated_name", "rating_probabilities"]

DEFAULT_RANKING_PROFILE: dict[str, float] = {
    "Protective": 2.0,
    "Epistemic": 1.8,
    "Practical": 1.2,
    "Social": 0.9,
    "Personal": 0.0,
}
_REFUSALS = {
    "en": "As an AI language model, I cannot share personal opinions on this.",
    "zh": "作为一个人工智能，我无法表达个人观点。",
}


def check_simulated_name(model: ModelInfo) -> None:
    """Refuse a simulated model whose id or display name could pass for a real model."""
    if not model.id.startswith("sim-"):
        raise ElicitError(f"model {model.id!r}: simulated models need an id starting with 'sim-'")
    if model.display_name and "SIMULATED" not in model.display_name:
        raise ElicitError(f"model {model.id!r}: a simulated model's display_name must contain 'SIMULATED'")


@functools.cache
def _country_means(country: str) -> dict[str, float]:
    """μ_c per WVS item id and per MFQ-2 foundation name (:mod:`valuesurvey.humans.profiles`)."""
    from valuesurvey.humans.profiles import mfq2_profile, wvs7_profile

    return {**wvs7_profile(country)["mean"].to_dict(), **mfq2_profile(country)["mean"].to_dict()}


@functools.cache
def _poles() -> tuple[str, str]:
    """The two countries of the shipped reference aggregates (China, the USA): cn_weight's mix."""
    from valuesurvey.humans.profiles import reference_countries

    first, second = reference_countries("wvs7")[:2]
    return first, second


def _rng(*parts: Any) -> random.Random:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def rating_probabilities(mu: float, sigma: float, lo: int, hi: int) -> dict[int, float]:
    """Ordered-probit probabilities of each scale point (step 5 of the generative model).

    >>> p = rating_probabilities(3.0, 0.7, 1, 5)
    >>> round(sum(p.values()), 12), max(p, key=p.get)
    (1.0, 3)
    """
    sigma = max(sigma, 1e-6)
    probs = {}
    for k in range(lo, hi + 1):
        upper = 1.0 if k == hi else _phi((k + 0.5 - mu) / sigma)
        lower = 0.0 if k == lo else _phi((k - 0.5 - mu) / sigma)
        probs[k] = max(upper - lower, 0.0)
    total = sum(probs.values())
    return {k: v / total for k, v in probs.items()}


class SimulatedProvider(Provider):
    """Statistical respondents with a declared origin (see the module docstring for the model)."""

    name: ClassVar[str] = "simulated"
    supports_logprobs: ClassVar[bool] = True
    single_token_numbers: ClassVar[bool] = True  # its top_logprobs name every point whole ("10")
    supports_constrained: ClassVar[bool] = True
    answer_depends_on_model_id: ClassVar[bool] = True  # its generator is seeded by the model's id

    def __init__(self, model: ModelInfo, **kwargs: Any) -> None:
        check_simulated_name(model)
        super().__init__(model, **kwargs)
        opts = model.options
        self.mixture = self._mixture(opts, model.origin)
        self.noise_sd = float(opts.get("noise_sd", 0.7))
        self.item_sd = float(opts.get("item_sd", 0.3))
        self.persona_shift = float(opts.get("persona_shift", 0.2))
        self.language_shift = float(opts.get("language_shift", 0.1))
        self.refusal_rate = float(opts.get("refusal_rate", 0.0))
        self.invalid_rate = float(opts.get("invalid_rate", 0.0))
        self.value_sd = float(opts.get("value_sd", 0.3))
        self.ranking_noise = float(opts.get("ranking_noise", 0.5))
        self.ranking_profile = {**DEFAULT_RANKING_PROFILE, **opts.get("ranking_profile", {})}
        self.seed = int(opts.get("seed", 0))
        self.latency = float(opts.get("latency", 0.0))

    @staticmethod
    def _mixture(opts: dict[str, Any], origin: str | None) -> dict[str, float]:
        """The model's mix of country profiles (step 2)."""
        from valuesurvey.countries import get_country

        first, second = _poles()
        if "mixture" in opts:
            raw = {
                get_country(k, field="options.mixture").alpha2: float(v) for k, v in opts["mixture"].items()
            }
            total = sum(raw.values())
            if total <= 0 or min(raw.values()) < 0:
                raise ElicitError("options.mixture: weights must be >= 0 and not all 0")
            return {k: v / total for k, v in raw.items()}
        if "cn_weight" in opts or origin in (first, second):
            w = float(opts.get("cn_weight", 0.8 if origin == first else 0.2))
            return {first: w, second: 1 - w}
        if origin is None or origin == NONE or str(origin).startswith("company:"):
            return {first: 0.5, second: 0.5}
        return {origin: 0.8, second: 0.2}

    def latent_mean(
        self, instrument: str, item: str, dimension: str | None, language: str, persona: str, lo: int, hi: int
    ) -> float:
        """μ of steps 1–4 for one item and condition."""
        from valuesurvey.simulation.ratings import condition_weights

        mid = (lo + hi) / 2
        weights = condition_weights(
            self.mixture,
            str(persona),
            language,
            persona_shift=self.persona_shift,
            language_shift=self.language_shift,
        )
        mu = 0.0
        for country, weight in weights.items():
            means = _country_means(country)
            mu += weight * means.get(item, means.get(dimension or "", mid))
        delta = _rng(self.seed, self.model.id, "item", instrument, item).gauss(0.0, self.item_sd)
        return mu + delta

    async def generate(self, request: ChatRequest, *, client: Any = None) -> ChatResponse:
        if self.latency:
            await asyncio.sleep(self.latency)
        meta = request.meta
        language = meta.get("language", "en")
        rng = _rng(
            self.seed,
            self.model.id,
            meta.get("instrument"),
            meta.get("item"),
            language,
            persona_key(meta.get("persona")),
            meta.get("rep"),
            meta.get("attempt"),
        )
        n_in = sum(len(m["content"]) for m in request.messages) // 4 + 1
        if rng.random() < self.refusal_rate:
            return ChatResponse(
                _REFUSALS.get(language, _REFUSALS["en"]), "stop", n_in, 12, model=self.model.id
            )
        if request.values:
            text = self._ranking(request, rng)
            return ChatResponse(text, "stop", n_in, 4 * len(request.values), model=self.model.id)
        return self._rating(request, rng, n_in)

    def _rating(self, request: ChatRequest, rng: random.Random, n_in: int) -> ChatResponse:
        meta = request.meta
        lo, hi = request.scale_min or 1, request.scale_max or 5
        mu = self.latent_mean(
            meta.get("instrument", ""),
            meta.get("item", ""),
            meta.get("dimension"),
            meta.get("language", "en"),
            meta.get("persona", "none"),
            lo,
            hi,
        )
        if request.answer_mode == "logprobs":
            probs = rating_probabilities(mu, self.noise_sd, lo, hi)
            top = [
                {"token": str(k), "logprob": math.log(p) if p > 0 else -1e4}
                for k, p in sorted(probs.items(), key=lambda kv: -kv[1])
            ][: request.top_logprobs]
            best = int(top[0]["token"])
            return ChatResponse(str(best), "stop", n_in, 1, top_logprobs=top, model=self.model.id)
        value = min(hi, max(lo, round(mu + rng.gauss(0.0, self.noise_sd))))
        text = f'{{"rating": {value}}}' if request.answer_mode == "constrained" else str(value)
        return ChatResponse(text, "stop", n_in, 1, model=self.model.id)

    def _ranking(self, request: ChatRequest, rng: random.Random) -> ChatResponse | str:
        dims: dict[str, str] = request.meta.get("value_dimensions", {})
        labels: dict[str, str] = request.meta.get("value_labels", {})
        scores = {}
        for value in request.values:
            base = self.ranking_profile.get(value, self.ranking_profile.get(dims.get(value, ""), 0.0))
            eta = _rng(self.seed, self.model.id, "value", value).gauss(0.0, self.value_sd)
            scores[value] = base + eta + rng.gauss(0.0, self.ranking_noise)
        order = sorted(request.values, key=lambda v: -scores[v])
        if rng.random() < self.invalid_rate:
            order = order[:-1]
        return "\n".join(f"{i}. {labels.get(v, v)}" for i, v in enumerate(order, start=1))
