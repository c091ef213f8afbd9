"""Provider batch APIs: half the price for requests that can wait up to a day.

::

    BatchProtocol              what a provider's batch API does (_protocol.py), within its documented
    │                          limits: entries, upload, create, retrieve, find_created, results
    ├── OpenAIBatchProtocol    /v1/files + /v1/batches, JSONL in and out (openai.py); also spoken by
    │                          OpenAI-compatible endpoints that implement it
    └── AnthropicBatchProtocol /v1/messages/batches, requests inline, results JSONL (anthropic.py)

    BatchModelRunner           one model's batches (_engine.py): prepared, recorded, submitted,
                               polled, results stored; unanswered requests asked again

As inspect_ai's batchers (``util/batch.py``, ``file_batcher.py``): requests are grouped per model,
split within the provider's limits, polled, and routed back by ``custom_id``; unlike them, every
batch and every ``custom_id`` is committed to ``responses.sqlite`` before it is sent, so a killed run
resumes by polling what it submitted (:mod:`._engine` says how each step is recorded).

A model is batched when ``batch: true`` is set on it in study.yaml, or for every model whose
endpoint supports it with ``valuesurvey elicit --batch``. Its endpoint supports it when its provider
speaks a batch protocol (``openai_compatible``: OpenAI's; ``anthropic``: Anthropic's) and the registry
(or study.yaml) states the endpoint's ``batch_discount``. The request keys, the stored rows and the
response cache are the same for a batched request and a live one; the cost is the batch price.
"""

from __future__ import annotations

from collections.abc import Iterable

from valuesurvey.elicit.batch._engine import REQUEUE_MODES, BatchModelRunner, BatchSettings
from valuesurvey.elicit.batch._protocol import BatchLimits, BatchProtocol, RemoteBatch
from valuesurvey.elicit.batch.anthropic import AnthropicBatchProtocol
from valuesurvey.elicit.batch.openai import OpenAIBatchProtocol
from valuesurvey.elicit.providers import ModelInfo, Provider
from valuesurvey.errors import ConfigError

__all__ = [
    "PROTOCOLS",
    "REQUEUE_MODES",
    "AnthropicBatchProtocol",
    "BatchLimits",
    "BatchModelRunner",
    "BatchProtocol",
    "BatchSettings",
    "OpenAIBatchProtocol",
    "RemoteBatch",
    "batch_support",
    "batched_models",
]

PROTOCOLS: dict[str, type[BatchProtocol]] = {
    OpenAIBatchProtocol.name: OpenAIBatchProtocol,
    AnthropicBatchProtocol.name: AnthropicBatchProtocol,
}


def batch_support(model: ModelInfo, provider: type[Provider]) -> str | None:
    """Why ``model`` cannot be batched, or ``None`` when it can."""
    if provider.batch_protocol is None:
        names = ", ".join(sorted({"openai_compatible", "anthropic"}))
        return f"provider {provider.name} has no batch API (providers with one: {names})"
    if model.batch_discount is None:
        endpoint = model.base_url or getattr(provider, "default_base_url", "")
        return (
            f"the registry states no batch API for its endpoint {endpoint} (batch_discount); set "
            f"batch_discount on the model if that endpoint implements {provider.batch_protocol.capitalize()}'s "
            "batch API"
        )
    return None


def batched_models(
    models: Iterable[tuple[ModelInfo, type[Provider]]], *, every: bool, where: str
) -> dict[str, bool]:
    """Model id → whether its requests go through its batch API in this run.

    ``batch: true`` on a model that cannot be batched is a :class:`ConfigError` (one line naming the
    file, the model and why); with ``every`` (``elicit --batch``) such models are asked live. Every
    batched model's batch options are checked here too, before anything is sent.
    """
    chosen: dict[str, bool] = {}
    for model, provider in models:
        problem = batch_support(model, provider)
        if model.batch and problem is not None:
            raise ConfigError(f"{where}: model {model.id!r}: batch: true, but {problem}")
        chosen[model.id] = problem is None and (model.batch or every)
        if chosen[model.id]:
            BatchSettings.from_options(model.options, where=f"{where}: model {model.id!r}")
    return chosen
