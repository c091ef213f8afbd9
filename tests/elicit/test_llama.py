"""A few items against the real local llama.cpp server (SmolLM2-135M) in each answer mode."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from elicit_helpers import LOCAL_MODEL, skip_without_local_model

from valuesurvey.elicit import run_elicitation
from valuesurvey.elicit.store import ResponseStore

pytestmark = [pytest.mark.llama, pytest.mark.slow]

LOCAL = LOCAL_MODEL


@pytest.fixture(autouse=True)
def _needs_runtime() -> None:
    skip_without_local_model()


@pytest.mark.parametrize("mode", ["text", "constrained", "logprobs"])
def test_local_model_answers_in_each_mode(make_study, mode: str) -> None:
    study = make_study(
        instruments=["mfq2"],
        repetitions=2,
        answer_mode=mode,
        models=[LOCAL],
        generation={"temperature": 0.7, "max_tokens": 8, "seed": 1},
    )
    summary = run_elicitation(study, progress=False, limit=2)
    assert summary.sent == 2
    with ResponseStore.open(study.paths.responses) as store:
        rows = store.frame()
    assert len(rows) == 2 and rows["raw_text"].str.len().gt(0).all()
    assert set(rows["status"]) <= {"ok", "refusal", "invalid"}
    ratings = pd.read_parquet(study.paths.llm_ratings)
    assert set(ratings["answer_mode"]) == {mode}
    if mode == "constrained":  # the grammar admits only a scale point
        assert set(rows["status"]) == {"ok"} and rows["raw_text"].isin(["1", "2", "3", "4", "5"]).all()
    if mode == "logprobs":  # one request per cell (rep 0), probabilities of the scale points
        assert set(rows["rep"]) == {0} and set(rows["status"]) == {"ok"}
        for text, value in zip(rows["probabilities"], rows["parsed_value"], strict=True):
            probs = {int(k): v for k, v in json.loads(text).items()}
            assert abs(sum(probs.values()) - 1) < 1e-9 and set(probs) <= {1, 2, 3, 4, 5}
            assert value == pytest.approx(sum(k * p for k, p in probs.items()))


def test_default_context_fits_the_chinese_ranking_prompt() -> None:
    """The longest prompt of the design (~1,240 tokens) fits one slot of a default server."""
    import httpx

    from valuesurvey import instruments
    from valuesurvey.elicit.local_server import DEFAULT_SLOT_CTX, LlamaServer

    messages = instruments.build_ranking_messages(instruments.get("ai_values"), "zh")
    with LlamaServer() as server:
        assert server.slot_ctx == DEFAULT_SLOT_CTX
        response = httpx.post(
            f"{server.base_url}/chat/completions",
            json={"model": server.model_name, "messages": messages, "max_tokens": 2, "temperature": 0},
            timeout=300,  # a 1,240-token prefill took 76 s on a loaded 2-core machine; this is not a speed test
        )
    assert response.status_code == 200, response.text
    assert response.json()["usage"]["prompt_tokens"] > 1024  # more than a slot of the old default


def test_context_overflow_is_one_clear_error_not_retried(make_study) -> None:
    """Too small a context: the ranking fails at once, stored as an error naming model and request."""
    small = {**LOCAL, "options": {**LOCAL["options"], "n_ctx": 2048}}  # 1,024 tokens per slot
    study = make_study(
        instruments=["ai_values"],
        models=[small],
        ranking={"languages": ["zh"], "repetitions": 1, "max_invalid_retries": 0},
    )
    summary = run_elicitation(study, progress=False)
    assert summary.sent == 1
    with ResponseStore.open(study.paths.responses) as store:
        row = store.frame().iloc[0]
        attempts = store.attempts_frame()
    assert row["status"] == "error" and row["attempts"] == 1
    assert list(attempts["outcome"]) == ["context_overflow"]
    message = row["error"]
    assert "smollm2-local" in message and f"request {row['key'][:12]} (ranking" in message
    assert "context window" in message and "n_ctx" in message


def test_the_local_provider_measures_its_speed_and_sets_its_timeouts_from_it() -> None:
    import asyncio

    from valuesurvey.elicit._config import ElicitConfig
    from valuesurvey.elicit.plan import model_info
    from valuesurvey.elicit.providers import ChatRequest
    from valuesurvey.elicit.providers.llamacpp import (
        MIN_TIMEOUT_S,
        TIMEOUT_FACTOR,
        TIMEOUT_SLACK_S,
        LlamaCppProvider,
    )
    from valuesurvey.study import ModelSpec

    provider = LlamaCppProvider(
        model_info(ModelSpec(**LOCAL)), client=None, config=ElicitConfig(), api_key=None
    )
    request = ChatRequest("k", ({"role": "user", "content": "word " * 400},), max_tokens=64)

    async def measure() -> tuple[float | None, float | None, float]:
        provider.size_for([request])
        await provider.start()
        try:
            return provider.speed.prompt_s, provider.speed.token_s, provider.request_timeout(request).read
        finally:
            await provider.close()

    prompt_s, token_s, timeout = asyncio.run(measure())
    assert prompt_s is not None and token_s is not None and prompt_s > 0 and token_s > 0
    from valuesurvey.elicit.plan import estimate_tokens

    prompt_tokens = 2 * (estimate_tokens("word " * 400) + 4)  # the provider's generous estimate
    expected = prompt_tokens * prompt_s + 64 * token_s
    assert timeout == pytest.approx(max(MIN_TIMEOUT_S, TIMEOUT_FACTOR * expected + TIMEOUT_SLACK_S))
