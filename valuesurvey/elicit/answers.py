"""Interpret a provider's response to a planned request as the fields stored for it.

One pure function, :func:`interpret`, from a :class:`~valuesurvey.elicit.plan.PlannedRequest` and
its :class:`~valuesurvey.elicit.providers.ChatResponse` to the answer fields of the stored row
(``status``, ``reason``, ``parsed_value``, ``parsed_order``, ``probabilities``); the runner adds
the bookkeeping (key, tokens, cost, timestamps). No I/O.
"""

from __future__ import annotations

import json
from typing import Any

from valuesurvey.elicit.parse import expected_value, parse_ranking, parse_rating, rating_distribution
from valuesurvey.elicit.plan import PlannedRequest
from valuesurvey.elicit.providers import ChatResponse

__all__ = ["interpret"]


def _unwrap_json_rating(text: str) -> str:
    """Constrained JSON answers (``{"rating": 4}``) become their number; other text is left as is."""
    try:
        data = json.loads(text)
    except ValueError:
        return text
    if isinstance(data, dict) and isinstance(data.get("rating"), int | float | str):
        return str(data["rating"])
    return text


def interpret(request: PlannedRequest, response: ChatResponse) -> dict[str, Any]:
    """The answer fields of the stored row for ``response`` to ``request``."""
    fields: dict[str, Any] = {}
    if request.kind == "ranking":
        parsed = parse_ranking(
            response.text,
            request.request.values,
            names=request.names,
            finish_reason=response.finish_reason,
        )
        status, reason = parsed.status, parsed.reason
        if parsed.status == "ok":
            fields["parsed_order"] = json.dumps(parsed.order)
    else:
        req = request.request
        assert req.scale_min is not None and req.scale_max is not None
        text = _unwrap_json_rating(response.text) if req.answer_mode == "constrained" else response.text
        rating = parse_rating(
            text,
            scale_min=req.scale_min,
            scale_max=req.scale_max,
            finish_reason=response.finish_reason,
            labels=request.labels,
        )
        status, reason = rating.status, rating.reason
        value: float | None = rating.value
        if req.answer_mode == "logprobs" and rating.status != "refusal":
            dist = rating_distribution(
                response.top_logprobs, scale_min=req.scale_min, scale_max=req.scale_max
            )
            if dist:
                status, value, reason = "ok", expected_value(dist), "expected value over top_logprobs"
                fields["probabilities"] = json.dumps({str(k): p for k, p in dist.items()})
            else:
                reason = f"no scale point in top_logprobs; text: {reason}"
        fields["parsed_value"] = float(value) if value is not None else None
    fields["status"] = status
    fields["reason"] = reason
    return fields
