"""The stored row of an answer or a failure, the same whether it came live, from a batch or from the
response cache (only ``source``, ``batch_id``, ``cache_key`` and the cost tell them apart)."""

from __future__ import annotations

from typing import Any

from valuesurvey.elicit._exceptions import ProviderError
from valuesurvey.elicit.answers import interpret
from valuesurvey.elicit.plan import PlannedRequest
from valuesurvey.elicit.providers import ChatResponse, ModelInfo
from valuesurvey.elicit.store import StoredResponse, utcnow

__all__ = ["answer_row", "attempt_row", "error_row"]


def _common(
    model: ModelInfo, request: PlannedRequest, *, run_id: str, attempts: int, started: str
) -> dict[str, Any]:
    return {
        "key": request.key,
        "run_id": run_id,
        "model": model.id,
        "provider": model.provider,
        "origin": model.origin,
        "company": model.company,
        "kind": request.kind,
        "instrument": request.instrument,
        "language": request.language,
        "persona": request.persona,
        "rep": request.rep,
        "item": request.item,
        "attempt": request.attempt,
        "answer_mode": request.request.answer_mode,
        "request_json": request.request_json,
        "seed": request.request.seed,
        "attempts": attempts,
        "started_at": started,
        "completed_at": utcnow(),
    }


def answer_row(
    model: ModelInfo,
    request: PlannedRequest,
    response: ChatResponse,
    *,
    run_id: str,
    attempts: int,
    started: str,
    latency: float | None,
    source: str = "live",
    batch_id: str | None = None,
    cache_key: str | None = None,
) -> StoredResponse:
    """The row of an answer: its interpretation (:func:`~valuesurvey.elicit.answers.interpret`) and
    bookkeeping. A batch answer costs the batch price; one reused from the cache costs nothing."""
    if source == "cache":
        cost = 0.0
    else:
        cost = model.cost_usd(response.input_tokens, response.output_tokens, batch=source == "batch")
    return StoredResponse(
        **_common(model, request, run_id=run_id, attempts=attempts, started=started),
        **interpret(request, response),
        raw_text=response.text,
        finish_reason=response.finish_reason,
        input_tokens=response.input_tokens,
        output_tokens=response.output_tokens,
        cost_usd=cost,
        latency_s=latency,
        source=source,
        batch_id=batch_id,
        cache_key=cache_key,
    )


def error_row(
    model: ModelInfo,
    request: PlannedRequest,
    message: str,
    *,
    run_id: str,
    attempts: int,
    started: str,
    error: ProviderError | None = None,
    source: str = "live",
    batch_id: str | None = None,
) -> StoredResponse:
    """The row of a request that failed (asked again by the next run)."""
    return StoredResponse(
        **_common(model, request, run_id=run_id, attempts=attempts, started=started),
        status="error",
        error=message,
        error_kind=error.kind if error is not None else "error",
        source=source,
        batch_id=batch_id,
    )


def attempt_row(
    model: ModelInfo,
    request: PlannedRequest,
    *,
    run_id: str,
    number: int,
    outcome: str,
    started: str,
    latency: float | None,
    status: int | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """One row of ``attempts``."""
    return {
        "key": request.key,
        "run_id": run_id,
        "model": model.id,
        "number": number,
        "outcome": outcome,
        "http_status": status,
        "message": message,
        "latency_s": latency,
        "started_at": started,
    }
