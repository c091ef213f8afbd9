"""Interpret a provider's response to a planned request as the fields stored for it.

One pure function, :func:`interpret`, from a :class:`~valuesurvey.elicit.plan.PlannedRequest` and
its :class:`~valuesurvey.elicit.providers.ChatResponse` to the answer fields of the stored row
(``status``, ``reason``, ``parsed_value``, ``parsed_order``, ``listing_order``, ``probabilities``,
``scale_mass``); the
runner adds the bookkeeping (key, tokens, cost, timestamps). No I/O.

Ratings are parsed by :func:`~valuesurvey.elicit.parse.parse_rating` with the request's prompt (so
an echo of it is not a rating) and its scale labels.

* ``constrained``: a JSON answer (``{"rating": 4}``) becomes its number. A JSON object that closed
  is complete even when ``finish_reason`` is ``length`` (the cap fell on the closing brace or on
  whitespace after it); an unclosed one (``{"rating": 1``) may have been cut inside ``10``.
* ``logprobs``: the sampled answer must pass the text-mode check first. A row whose sampled text is
  not a rating (``合理``, ``0``, an echo) keeps that status (``nonsense``, ``invalid``, ``refusal``)
  and no rating, even when the alternatives of its first token held digits: the model did not answer
  on the scale, and a distribution renormalised over the digits it happened to consider would
  invent an answer. Its distribution and ``scale_mass`` are still stored, for audit. A valid row's
  rating is the expected value of :func:`~valuesurvey.elicit.parse.scale_point_distribution`, which
  scores multi-token points (``"10"`` = ``"1"`` then ``"0"``) from the provider's continuations.
"""

from __future__ import annotations

import json
from typing import Any

from valuesurvey.elicit.parse import (
    expected_value,
    parse_ranking,
    parse_rating,
    scale_point_distribution,
)
from valuesurvey.elicit.plan import PlannedRequest
from valuesurvey.elicit.providers import ChatResponse

__all__ = ["LOW_SCALE_MASS", "interpret", "low_scale_mass_warnings", "unwrap_json_rating"]

#: Warn when, on average over a model's logprobs rows, less of the first token's probability than this
#: fell on scale points: its ratings then describe the rare answers that start with a number.
LOW_SCALE_MASS = 0.5


def unwrap_json_rating(text: str) -> tuple[str, bool]:
    """A constrained JSON answer as its number, and whether the JSON object was complete.

    >>> unwrap_json_rating('{"rating": 1}')
    ('1', True)
    >>> unwrap_json_rating('{"rating": 1')
    ('{"rating": 1', False)
    """
    try:
        data = json.loads(text)
    except ValueError:
        return text, False
    if isinstance(data, dict) and isinstance(data.get("rating"), int | float | str):
        return str(data["rating"]), True
    return text, False


def prompt_text(request: PlannedRequest) -> str:
    """The messages of ``request`` as one text: what an answer may echo."""
    return "\n".join(m["content"] for m in request.request.messages)


def low_scale_mass_warnings(rows: Any, threshold: float = LOW_SCALE_MASS) -> list[str]:
    """One message per model whose mean ``scale_mass`` (a frame with ``model``, ``scale_mass``) is below
    ``threshold``.

    >>> import pandas as pd
    >>> low_scale_mass_warnings(pd.DataFrame({"model": ["m", "m"], "scale_mass": [0.1, 0.2]}))[0][:60]
    'model m: on average 15% of the first-token probability fell '
    """
    out = []
    masses = rows.dropna(subset=["scale_mass"]).groupby("model", sort=True)["scale_mass"]
    for model, mean in masses.mean().items():
        if mean < threshold:
            below = int((masses.get_group(model) < threshold).sum())
            out.append(
                f"model {model}: on average {mean:.0%} of the first-token probability fell on scale points "
                f"({below} of {masses.get_group(model).size} logprobs answers below {threshold:.0%}); its "
                "ratings are renormalised over a small share of what it would say: check the prompt, or "
                "prefer text mode (scale_mass in llm_ratings.parquet)"
            )
    return out


def interpret(request: PlannedRequest, response: ChatResponse) -> dict[str, Any]:
    """The answer fields of the stored row for ``response`` to ``request``."""
    if request.kind == "ranking":
        parsed = parse_ranking(
            response.text,
            request.request.values,
            names=request.names,
            finish_reason=response.finish_reason,
        )
        listed = list(request.request.meta.get("listing_order") or request.request.values)
        fields: dict[str, Any] = {
            "status": parsed.status,
            "reason": parsed.reason,
            "listing_order": json.dumps(listed),
        }
        if parsed.status == "ok":
            fields["parsed_order"] = json.dumps(parsed.order)
            if parsed.order == listed:  # flagged, not rejected: rankings.parquet copies_listing_order
                fields["reason"] = f"{parsed.reason}; identical to the listing order"
        return fields
    return _rating_fields(request, response)


def _rating_fields(request: PlannedRequest, response: ChatResponse) -> dict[str, Any]:
    req = request.request
    assert req.scale_min is not None and req.scale_max is not None
    text, finish = response.text, response.finish_reason
    if req.answer_mode == "constrained":
        text, complete = unwrap_json_rating(text)
        if complete and finish == "length":
            finish = "stop"  # the object closed: its number is whole
    rating = parse_rating(
        text,
        scale_min=req.scale_min,
        scale_max=req.scale_max,
        finish_reason=finish,
        labels=request.labels,
        prompt=prompt_text(request),
    )
    fields: dict[str, Any] = {"status": rating.status, "reason": rating.reason}
    value: float | None = rating.value
    if req.answer_mode == "logprobs":
        scored = scale_point_distribution(
            response.top_logprobs,
            response.continuations,
            scale_min=req.scale_min,
            scale_max=req.scale_max,
        )
        if scored is not None:
            dist, mass = scored
            fields["probabilities"] = json.dumps({str(k): p for k, p in dist.items()})
            fields["scale_mass"] = mass
        if rating.status != "ok":
            fields["reason"] = f"sampled answer is no rating ({rating.reason}); top_logprobs not used"
        elif scored is None:  # keep the sampled answer, as text mode would
            fields["reason"] = f"no scale point in top_logprobs; sampled answer: {rating.reason}"
        else:
            value = expected_value(scored[0])
            fields["reason"] = "expected value over the scale points' probabilities"
    fields["parsed_value"] = float(value) if value is not None else None
    return fields
