"""Plan the design: every request a study needs, each with its request key.

Rating instruments: models × instruments × items × languages × personas × repetitions (in
``logprobs`` mode, where the provider exposes logprobs, one request per cell with ``rep = 0``
replaces the repetitions). The ranking instrument (``ai_values``): models × ``ranking.languages`` ×
``ranking.repetitions``, no persona; an invalid ranking is asked again with ``attempt`` 1, 2, …
(planned lazily by the runner, each attempt with its own key).

Listing order of the ranking task: by default (``shuffle_ranking_order: true``, a model option in
``study.yaml`` or the registry, or a ``ranking.shuffle_ranking_order`` setting when the study model
has one) repetition ``rep`` lists the 25 values in a permutation drawn from a generator seeded with
the study's sampling seed (``generation.seed``) and ``rep``: deterministic, the same for every model
and language of that repetition (so order effects are crossed with models), different between
repetitions, so that a model copying the list cannot pass for a ranking. ``shuffle_ranking_order:
false`` lists them in the instrument's order. The order listed is stored with each answer
(``listing_order``) and an answer identical to it is flagged in ``rankings.parquet``. The order is
part of the messages, hence of the request key; the option itself is not (rating keys do not move).

The request key is the SHA-256 of the canonical JSON (sorted keys, no spaces) of what defines the
answer, and of nothing else (:data:`KEY_FIELDS`): the model (its id in the study), the provider, the
API model and the model options that change answers (:func:`~valuesurvey.elicit.providers._base.answer_options`), the messages, the
sampling settings (with the request's own seed), the answer mode and the constraint sent with it
(a grammar or JSON schema), the repetition and the attempt. How and where a request is sent — the
base URL (host, port), timeouts, retries, llama.cpp's ``parallel`` slots, the HTTP transport, extra
headers — is not in the key: changing it reuses every stored answer. That same JSON is stored as
``request_json``; it holds no API key (keys live in environment variables only).

Seeds: with ``generation.seed`` set, each request is sent its own seed (:func:`request_seed`),
derived from the study's seed, the design cell, the repetition and the attempt, so that repetitions
are independent samples and a re-asked ranking is a new draw; the same study always sends the same
seeds. Without ``generation.seed`` no seed is sent. A persona enters the seed as its lowercase code
(:func:`valuesurvey.design.persona_key`: ``cn``, ``us``), the labels the paper's design was keyed
with, while every table names it by its alpha-2 code (``CN``).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from valuesurvey.design import persona_key
from valuesurvey.elicit._config import ElicitConfig
from valuesurvey.elicit.providers import ChatRequest, ModelInfo, Provider, provider_class
from valuesurvey.errors import ConfigError
from valuesurvey.study import ModelSpec, Study

__all__ = [
    "KEY_FIELDS",
    "RANKING_MAX_TOKENS",
    "ModelPlan",
    "Plan",
    "PlannedRequest",
    "canonical_json",
    "estimate_tokens",
    "model_info",
    "plan_study",
    "ranking_order",
    "request_key",
    "request_seed",
    "shuffle_ranking_order",
]

RANKING_MAX_TOKENS = 512
"""Completion cap for the ranking task (25 values need ~150 tokens), unless the study asks for more."""

KEY_FIELDS = (
    "model",
    "provider",
    "api_model",
    "options",
    "messages",
    "settings",
    "answer_mode",
    "constraint",
    "rep",
    "attempt",
)
"""The fields of a request's canonical JSON, hence of its key (see the module docstring)."""

_SEED_CELL = ("kind", "instrument", "item", "language", "persona")


def canonical_json(obj: Any) -> str:
    """Sorted keys, no spaces, UTF-8 kept: the same object always gives the same text.

    >>> canonical_json({"b": 1, "a": ["é", None]})
    '{"a":["é",null],"b":1}'
    """
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def request_key(request_json: str) -> str:
    """SHA-256 (hex) of a request's canonical JSON."""
    return hashlib.sha256(request_json.encode("utf-8")).hexdigest()


def request_seed(seed: int | None, cell: Mapping[str, Any], rep: int, attempt: int = 0) -> int | None:
    """The seed sent with one request: ``None`` without a study seed, else a number in [0, 2³¹)
    fixed by the study's ``seed``, the design cell (kind, instrument, item, language, persona), the
    repetition and the attempt.

    >>> cell = {"kind": "rating", "instrument": "wvs7", "item": "Q177", "language": "en", "persona": "none"}
    >>> request_seed(None, cell, 0) is None
    True
    >>> request_seed(7, cell, 0) == request_seed(7, cell, 0) != request_seed(7, cell, 1)
    True
    >>> request_seed(7, {**cell, "persona": "CN"}, 0) == request_seed(7, {**cell, "persona": "cn"}, 0)
    True
    """
    if seed is None:
        return None
    fixed = {k: cell.get(k) for k in _SEED_CELL}
    fixed["persona"] = persona_key(fixed["persona"])
    text = canonical_json({"seed": seed, "cell": fixed, "rep": rep, "attempt": attempt})
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:4], "big") & 0x7FFFFFFF


def estimate_tokens(text: str) -> int:
    """Rough token count for planning: ~4 ASCII characters per token, ~1 token per CJK character.

    >>> estimate_tokens("abcdefgh"), estimate_tokens("你好")
    (2, 2)
    """
    ascii_chars = len(text.encode("ascii", "ignore"))  # C speed: plans hold 100,000s of prompts
    return ascii_chars // 4 + len(text) - ascii_chars


@dataclass(frozen=True)
class PlannedRequest:
    """One request of the design with its key; :attr:`request_json` is what the key hashes."""

    key: str
    request: ChatRequest
    kind: str  # rating | ranking
    instrument: str
    item: str | None
    language: str
    persona: str | None
    rep: int
    attempt: int
    est_input_tokens: int
    est_output_tokens: int
    labels: dict[int, list[str]] | None = None
    names: dict[str, list[str]] | None = None
    base: dict[str, Any] = field(default_factory=dict, repr=False)
    study_seed: int | None = None  # generation.seed, from which each attempt's own seed is derived

    @property
    def request_json(self) -> str:
        """The canonical JSON of :data:`KEY_FIELDS` (stored as ``request_json``), computed when asked:
        a plan of the paper's 132,000 requests would otherwise hold 100 MB of it."""
        return canonical_json(self.base)

    def with_attempt(self, attempt: int) -> PlannedRequest:
        """The same request asked again (after an invalid ranking): a new attempt, a new seed (when
        the study has one), a new key."""
        meta = {**self.request.meta, "attempt": attempt}
        seed = request_seed(self.study_seed, meta, self.rep, attempt)
        data = {**self.base, "attempt": attempt, "settings": {**self.base["settings"], "seed": seed}}
        key = request_key(canonical_json(data))
        return replace(
            self,
            key=key,
            attempt=attempt,
            request=replace(self.request, key=key, meta=meta, seed=seed),
            base=data,
        )


@dataclass
class ModelPlan:
    """All planned requests of one model."""

    model: ModelInfo
    provider: type[Provider]
    answer_mode: str
    ratings: list[PlannedRequest] = field(default_factory=list)
    rankings: list[PlannedRequest] = field(default_factory=list)  # attempt 0 of each ranking

    @property
    def requests(self) -> list[PlannedRequest]:
        return self.ratings + self.rankings


@dataclass
class Plan:
    """The study's design as requests, per model."""

    study: Study
    models: list[ModelPlan]
    max_invalid_retries: int = 0

    def keys(self) -> set[str]:
        return {r.key for m in self.models for r in m.requests}

    def summary(self, done: dict[str, str] | None = None) -> pd.DataFrame:
        """Per model: planned requests, already stored, still to send, tokens and cost estimates.

        ``done`` maps stored keys to their final status (:meth:`ResponseStore.final_statuses`).
        Ranking retries after invalid answers are not foreseeable and not counted.
        """
        done = done or {}
        rows = []
        for mp in self.models:
            todo = [r for r in mp.requests if r.key not in done]
            tin = sum(r.est_input_tokens for r in todo)
            tout = sum(r.est_output_tokens for r in todo)
            rows.append(
                {
                    "model": mp.model.id,
                    "provider": mp.model.provider,
                    "answer_mode": mp.answer_mode,
                    "requests": len(mp.requests),
                    "stored": len(mp.requests) - len(todo),
                    "to_send": len(todo),
                    "est_input_tokens": tin,
                    "est_output_tokens": tout,
                    "est_cost_usd": mp.model.cost_usd(tin, tout),
                }
            )
        return pd.DataFrame(rows)


def model_info(resolved: Any) -> ModelInfo:
    """Convert the registry's ``ResolvedModel`` (or a :class:`ModelSpec`) into a :class:`ModelInfo`."""

    def get(*names: str, default: Any = None) -> Any:
        for name in names:
            value = getattr(resolved, name, None)
            if value is not None:
                return value
        return default

    prices = get("prices")
    price_in = get("price_input_per_mtok", "input_price_per_mtok", default=0.0)
    price_out = get("price_output_per_mtok", "output_price_per_mtok", default=0.0)
    if prices is not None:
        price_in = getattr(prices, "input_per_mtok", None) or getattr(prices, "input", None) or price_in
        price_out = getattr(prices, "output_per_mtok", None) or getattr(prices, "output", None) or price_out
        if isinstance(prices, dict):
            price_in = prices.get("input_per_mtok", prices.get("input", price_in))
            price_out = prices.get("output_per_mtok", prices.get("output", price_out))
    origin = get("origin")
    return ModelInfo(
        id=resolved.id,
        provider=str(get("provider", default="")),
        api_model=str(get("api_model", default=resolved.id)),
        base_url=get("base_url"),
        api_key_env=get("api_key_env"),
        origin=None if origin is None else str(getattr(origin, "value", origin)),
        company=get("company"),
        display_name=get("display_name"),
        price_input_per_mtok=float(price_in or 0.0),
        price_output_per_mtok=float(price_out or 0.0),
        max_concurrency=get("max_concurrency", "concurrency"),
        requests_per_minute=get("requests_per_minute", "rpm"),
        tokens_per_minute=get("tokens_per_minute", "tpm"),
        options=dict(get("options", default={}) or {}),
        batch_discount=get("batch_discount"),
        batch=bool(get("batch", default=False)),
    )


def resolve_models(study: Study, models: Sequence[str] | None = None) -> list[ModelInfo]:
    """The study's models (all, or those named), completed from the registry.

    A relative ``options.model_path`` is resolved against the study directory, as every path in
    study.yaml is. Errors name study.yaml and the model's position (``models[2]``).
    """
    from valuesurvey.elicit import registry

    specs: list[ModelSpec] = list(study.models)
    if models:
        known = {s.id for s in specs}
        unknown = [m for m in models if m not in known]
        if unknown:
            raise ConfigError(
                f"--models names models not in study.yaml: {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
    resolved = []
    for position, spec in enumerate(specs):
        if models and spec.id not in set(models):
            continue
        where = f"{study.paths.study_yaml}: model {spec.id!r}, field models[{position}]"
        info = model_info(registry.resolve_model(spec, where=where))
        model_path = info.options.get("model_path")
        if model_path is not None and not Path(str(model_path)).expanduser().is_absolute():
            options = {**info.options, "model_path": str(study.resolve(Path(str(model_path))))}
            info = replace(info, options=options)
        resolved.append(info)
    return resolved


def _settings(study: Study, answer_mode: str, *, ranking: bool) -> dict[str, Any]:
    gen = study.generation
    settings: dict[str, Any] = {
        "temperature": gen.temperature,
        "top_p": gen.top_p,
        "max_tokens": max(gen.max_tokens or 0, RANKING_MAX_TOKENS) if ranking else gen.max_tokens,
        "seed": gen.seed,
    }
    if answer_mode == "logprobs":
        settings["top_logprobs"] = gen.top_logprobs
    return settings


def _message_tokens(messages: list[dict[str, str]]) -> int:
    """Estimated prompt tokens: the texts plus ~4 tokens of chat framing per message."""
    return sum(estimate_tokens(m["content"]) + 4 for m in messages)


def _build(
    model: ModelInfo,
    provider: type[Provider],
    *,
    messages: list[dict[str, str]],
    settings: dict[str, Any],
    answer_mode: str,
    rep: int,
    attempt: int,
    meta: dict[str, Any],
    scale: tuple[int, int] | None = None,
    values: tuple[str, ...] = (),
    est_output: int = 8,
    constraint: dict[str, Any] | None = None,
) -> tuple[str, ChatRequest, dict[str, Any], int, int]:
    seed = request_seed(settings["seed"], meta, rep, attempt)
    if seed is not None:  # without a study seed every request shares one settings dict (memory)
        settings = {**settings, "seed": seed}
    base = {
        **provider.identity(model),
        "messages": messages,
        "settings": settings,
        "answer_mode": answer_mode,
        "constraint": constraint or None,
        "rep": rep,
        "attempt": attempt,
    }
    key = request_key(canonical_json(base))
    request = ChatRequest(
        key=key,
        messages=tuple(messages),
        answer_mode=answer_mode,
        temperature=settings["temperature"],
        top_p=settings["top_p"],
        max_tokens=settings["max_tokens"],
        seed=settings["seed"],
        top_logprobs=settings.get("top_logprobs", 20),
        scale_min=scale[0] if scale else None,
        scale_max=scale[1] if scale else None,
        values=values,
        meta={**meta, "rep": rep, "attempt": attempt},
    )
    est_in = _message_tokens(messages)
    est_out = min(settings["max_tokens"] or est_output, est_output)
    return key, request, base, est_in, est_out


SYSTEM_PROMPT_MODES = ("keep", "fold")


def system_prompt_mode(model: ModelInfo) -> str:
    """``options.system_prompt`` of ``model``: ``keep`` (default, a system message) or ``fold``."""
    mode = str(model.options.get("system_prompt", "keep"))
    if mode not in SYSTEM_PROMPT_MODES:
        raise ConfigError(
            f"model {model.id!r}: options.system_prompt must be one of {', '.join(SYSTEM_PROMPT_MODES)}, "
            f"got {mode!r}"
        )
    return mode


def _for_model(model: ModelInfo, messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """The messages as ``model`` receives them: the system prompt folded into the user message for
    a model without a system role (``options.system_prompt: fold``)."""
    from valuesurvey import instruments

    return instruments.fold_system_prompt(messages) if system_prompt_mode(model) == "fold" else messages


def _rating_requests(
    study: Study, model: ModelInfo, provider: type[Provider], inst: Any, answer_mode: str
) -> list[PlannedRequest]:
    from valuesurvey import instruments

    reps = [0] if answer_mode == "logprobs" else list(range(study.repetitions))
    settings = _settings(study, answer_mode, ranking=False)
    scale = (int(inst.scale.min), int(inst.scale.max))
    constraint = _constraint(model, provider, answer_mode, scale)
    # The parser accepts a scale label as the answer, in any language the instrument has.
    labels = {
        lab.value: [lab.text[lang] for lang in lab.text.languages]
        for lab in getattr(inst.scale, "labels", ())
    } or None
    out: list[PlannedRequest] = []
    for item in inst.items:
        for language in study.design.languages:
            for persona in study.design.personas:
                messages = _for_model(
                    model, instruments.build_messages(inst, item.id, str(language), str(persona))
                )
                meta = {
                    "kind": "rating",
                    "instrument": inst.id,
                    "item": item.id,
                    "dimension": item.dimension,
                    "language": str(language),
                    "persona": str(persona),
                }
                for rep in reps:
                    key, req, base, est_in, est_out = _build(
                        model,
                        provider,
                        messages=messages,
                        settings=settings,
                        answer_mode=answer_mode,
                        rep=rep,
                        attempt=0,
                        meta=meta,
                        scale=scale,
                        est_output=4,
                        constraint=constraint,
                    )
                    out.append(
                        PlannedRequest(
                            key,
                            req,
                            "rating",
                            inst.id,
                            item.id,
                            str(language),
                            str(persona),
                            rep,
                            0,
                            est_in,
                            est_out,
                            labels=labels,
                            base=base,
                            study_seed=study.generation.seed,
                        )
                    )
    return out


def _constraint(
    model: ModelInfo, provider: type[Provider], answer_mode: str, scale: tuple[int, int]
) -> dict[str, Any] | None:
    """The constraint the provider sends with ``answer_mode`` on ``scale`` (as it builds its body)."""
    if answer_mode not in ("constrained", "logprobs"):
        return None
    probe = ChatRequest(key="", messages=(), answer_mode=answer_mode, scale_min=scale[0], scale_max=scale[1])
    return provider(model, client=None, config=ElicitConfig(), api_key=None).constraint(probe) or None


def shuffle_ranking_order(study: Study, model: ModelInfo) -> bool:
    """Whether ``model``'s rankings list the values in a per-repetition order (default true)."""
    study_level = getattr(study.ranking, "shuffle_ranking_order", None)
    if study_level is not None:
        return bool(study_level)
    return bool(model.options.get("shuffle_ranking_order", True))


def ranking_order(values: Sequence[str], *, seed: int | None, rep: int) -> list[str]:
    """The listing order of repetition ``rep``: a permutation of ``values`` fixed by ``seed`` and ``rep``.

    >>> values = ["a", "b", "c", "d", "e"]
    >>> ranking_order(values, seed=1, rep=0) == ranking_order(values, seed=1, rep=0)
    True
    >>> sorted(ranking_order(values, seed=1, rep=3)) == values
    True
    """
    order = list(values)
    # A string seed is hashed by random's version-2 seeding: stable across processes and platforms.
    random.Random(f"valuesurvey-ranking-order|{seed}|{rep}").shuffle(order)
    return order


def _ranking_requests(
    study: Study, model: ModelInfo, provider: type[Provider], inst: Any
) -> list[PlannedRequest]:
    from valuesurvey import instruments

    settings = _settings(study, "text", ranking=True)
    values = tuple(item.id for item in inst.items)
    names = {item.id: [item.text[lang] for lang in item.text.languages] for item in inst.items}
    dims = {item.id: item.dimension for item in inst.items}
    shuffle = shuffle_ranking_order(study, model)
    out: list[PlannedRequest] = []
    for language in study.design.ranking_languages:
        messages = _for_model(model, instruments.build_ranking_messages(inst, str(language)))
        labels = {item.id: item.text[str(language)] for item in inst.items}
        meta = {
            "kind": "ranking",
            "instrument": inst.id,
            "language": str(language),
            "persona": None,
            "value_dimensions": dims,
            "value_labels": labels,
        }
        for rep in range(study.ranking.repetitions):
            if shuffle:
                order = ranking_order(values, seed=study.generation.seed, rep=rep)
                messages = _for_model(
                    model, instruments.build_ranking_messages(inst, str(language), order=order)
                )
                meta = {**meta, "listing_order": order}
            key, req, base, est_in, est_out = _build(
                model,
                provider,
                messages=messages,
                settings=settings,
                answer_mode="text",
                rep=rep,
                attempt=0,
                meta=meta,
                values=values,
                est_output=8 * len(values),
            )
            out.append(
                PlannedRequest(
                    key,
                    req,
                    "ranking",
                    inst.id,
                    None,
                    str(language),
                    None,
                    rep,
                    0,
                    est_in,
                    est_out,
                    names=names,
                    base=base,
                    study_seed=study.generation.seed,
                )
            )
    return out


def plan_study(study: Study, *, models: Sequence[str] | None = None) -> Plan:
    """Plan every request of ``study`` (or of the ``models`` named), nothing sent.

    The answer mode of a model falls back to ``text`` when its provider cannot honour the study's
    (``logprobs`` or ``constrained``); each request records the mode it was asked in. Logprobs mode
    on a scale with multi-token points (1–10) is refused with a :class:`ConfigError` for a provider
    that can neither continue an answer nor declares one token per point
    (:meth:`Provider.scale_refusal`).
    """
    from valuesurvey import instruments

    loaded = list(instruments.for_study(study).values())
    plans: list[ModelPlan] = []
    for model in resolve_models(study, models):
        provider = provider_class(model.provider)
        mode = str(study.answer_mode)
        if not provider.can(model, mode):
            mode = "text"
        mp = ModelPlan(model=model, provider=provider, answer_mode=mode)
        if mode == "logprobs":
            for inst in loaded:
                refusal = (
                    provider.scale_refusal(model, int(inst.scale.min), int(inst.scale.max))
                    if inst.kind == "rating"
                    else None
                )
                if refusal is not None:
                    raise ConfigError(f"{refusal} (instrument {inst.id})")
        for inst in loaded:
            if inst.kind == "ranking":
                mp.rankings.extend(_ranking_requests(study, model, provider, inst))
            else:
                mp.ratings.extend(_rating_requests(study, model, provider, inst, mode))
        plans.append(mp)
    return Plan(study=study, models=plans, max_invalid_retries=study.ranking.max_invalid_retries)
