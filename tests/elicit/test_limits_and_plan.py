"""The RPM/TPM rate limiter (real time, small numbers), the plan's token and cost estimates, and the
local server's context sizing."""

from __future__ import annotations

import asyncio
import time

import pytest
from elicit_helpers import openai_model

from valuesurvey.elicit import ElicitConfig, plan_study, run_elicitation
from valuesurvey.elicit._ratelimit import RateLimiter, TokenBucket
from valuesurvey.elicit.plan import ModelPlan, Plan, PlannedRequest, estimate_tokens
from valuesurvey.elicit.providers import ChatRequest, ModelInfo, provider_class

# ---------------------------------------------------------------------- rate limiter (real time)


def _grant_times(limiter: RateLimiter, tokens: list[int], tasks: int = 1) -> list[float]:
    """Seconds from the start at which each acquire returned (``tasks`` concurrent acquirers)."""

    async def go() -> list[float]:
        t0 = time.monotonic()
        queue = list(tokens)
        out: list[float] = []

        async def acquirer() -> None:
            while queue:
                await limiter.acquire(queue.pop(0))
                out.append(time.monotonic() - t0)

        await asyncio.gather(*(acquirer() for _ in range(tasks)))
        return out

    return asyncio.run(asyncio.wait_for(go(), timeout=10))


def test_requests_per_minute_burst_then_steady_rate() -> None:
    # 1,200/min = 20/s, burst 20: 20 at once, the next 10 spaced 50 ms apart (~0.5 s).
    times = _grant_times(RateLimiter(requests_per_minute=1200), [0] * 30, tasks=4)
    assert len(times) == 30
    assert max(times[:20]) < 0.2
    assert 0.4 <= times[-1] < 1.5
    # In no window does the count exceed burst + rate × window.
    for i, start in enumerate(times):
        for j in range(i, len(times)):
            assert j - i + 1 <= 20 + 20 * (times[j] - start) + 1


def test_tokens_per_minute_waits_for_tokens() -> None:
    # 6,000 tokens/min = 100/s, burst 4,096: 4,000 pass at once, then 50 more need ~0.5 s of refill
    # (96 left, 50 asked: immediate); 100 more then need ~0.54 s.
    times = _grant_times(RateLimiter(tokens_per_minute=6000), [4000, 50, 100])
    assert times[0] < 0.1 and times[1] < 0.1
    assert 0.4 <= times[2] < 1.5


def test_oversized_request_passes_when_full_and_is_repaid() -> None:
    # 20/s, burst 5: 15 units (more than the bucket) pass at once; the debt delays the next (~0.55 s).
    bucket = TokenBucket(1200, burst=5)

    async def go() -> tuple[float, float]:
        t0 = time.monotonic()
        await bucket.acquire(15)
        first = time.monotonic() - t0
        await bucket.acquire(1)
        return first, time.monotonic() - t0

    first, second = asyncio.run(asyncio.wait_for(go(), timeout=10))
    assert first < 0.1
    assert 0.45 <= second < 1.5


def test_unlimited_limiter_never_waits() -> None:
    times = _grant_times(RateLimiter(), [10**9] * 50)
    assert max(times) < 0.1
    with pytest.raises(ValueError, match="per_minute"):
        TokenBucket(0)


def test_runner_honours_the_model_rpm_over_real_http(serve, make_study, monkeypatch) -> None:
    monkeypatch.setenv("VALUESURVEY_TEST_KEY", "sk-test")
    server = serve()
    # 600/min = 10/s with a burst of 10: 16 requests need at least (16 − 10) / 10 = 0.6 s.
    study = make_study(models=[openai_model(server.base_url, requests_per_minute=600, max_concurrency=8)])
    summary = run_elicitation(study, progress=False, limit=16, config=ElicitConfig(timeout=5))
    assert summary.sent == 16 and int(summary.per_model["ok"].sum()) == 16
    stamps = sorted(entry["t"] for entry in server.log)
    assert len(stamps) == 16
    assert stamps[-1] - stamps[0] >= 0.5
    assert summary.run_seconds >= 0.55


# ---------------------------------------------------------------------- plan estimates


def test_estimate_tokens_hand_counted() -> None:
    assert estimate_tokens("") == 0
    assert estimate_tokens("Hello, world") == 3  # 12 ASCII characters // 4
    assert estimate_tokens("我选4") == 2  # 2 CJK characters + 1 ASCII character // 4
    assert estimate_tokens("Rate 1-5: 我选择") == 5  # 10 ASCII // 4 = 2, + 3 CJK


def _planned(key: str, est_in: int, est_out: int) -> PlannedRequest:
    request = ChatRequest(key=key, messages=({"role": "user", "content": "q"},))
    return PlannedRequest(key, request, "rating", "wvs7", "Q177", "en", "none", 0, 0, est_in, est_out)


def test_plan_summary_tokens_and_cost_hand_computed() -> None:
    model = ModelInfo(
        id="m",
        provider="openai_compatible",
        api_model="x",
        price_input_per_mtok=1.5,
        price_output_per_mtok=6.0,
    )
    mp = ModelPlan(
        model=model,
        provider=provider_class("openai_compatible"),
        answer_mode="text",
        ratings=[_planned("a", 1000, 4), _planned("b", 2000, 200)],
    )
    plan = Plan(study=None, models=[mp])  # type: ignore[arg-type]
    row = plan.summary().iloc[0]
    assert (row["requests"], row["stored"], row["to_send"]) == (2, 0, 2)
    assert (row["est_input_tokens"], row["est_output_tokens"]) == (3000, 204)
    # (3,000 × 1.5 + 204 × 6) / 1e6 = (4,500 + 1,224) / 1e6
    assert row["est_cost_usd"] == pytest.approx(0.005724)
    row = plan.summary({"a": "ok"}).iloc[0]
    assert (row["stored"], row["to_send"], row["est_input_tokens"], row["est_output_tokens"]) == (
        1,
        1,
        2000,
        200,
    )
    assert row["est_cost_usd"] == pytest.approx((2000 * 1.5 + 200 * 6.0) / 1e6)


def test_planned_request_estimates_follow_the_messages(make_study) -> None:
    study = make_study(
        instruments=["wvs7", "ai_values"],
        models=[openai_model("http://127.0.0.1:9/v1")],
        generation={"temperature": 0.0, "max_tokens": 8},
        ranking={"languages": ["zh"], "repetitions": 1},
    )
    mp = plan_study(study).models[0]
    assert len(mp.ratings) == 19 * 2 and len(mp.rankings) == 1
    for request in [*mp.ratings, *mp.rankings]:
        # 4 tokens of chat framing per message, plus ~4 ASCII characters or 1 CJK character per token
        expected = 0
        for message in request.request.messages:
            text = message["content"]
            cjk = sum(ord(ch) > 127 for ch in text)
            expected += (len(text) - cjk) // 4 + cjk + 4
        assert request.est_input_tokens == expected
    assert {r.est_output_tokens for r in mp.ratings} == {4}  # min(max_tokens 8, a rating's 4)
    assert mp.rankings[0].est_output_tokens == 8 * 25  # 25 values, under the 512-token cap
    row = plan_study(study).summary().iloc[0]
    assert row["est_output_tokens"] == 38 * 4 + 200
    tin = sum(r.est_input_tokens for r in mp.requests)
    assert row["est_cost_usd"] == pytest.approx((tin * 1.0 + 352 * 2.0) / 1e6)


def test_how_a_request_is_sent_does_not_change_its_key(make_study) -> None:
    # A run resumed with another transport or timeout must find the answers it already has.
    base = openai_model("http://127.0.0.1:9/v1")
    plain = plan_study(make_study("a", models=[base])).keys()
    tuned = {**base, "options": {"http_transport": "httpx", "timeout": 5, "extra_headers": {"X-A": "1"}}}
    assert plan_study(make_study("b", models=[tuned])).keys() == plain
    changed = {**base, "options": {"extra_body": {"top_k": 5}}}
    assert plan_study(make_study("c", models=[changed])).keys().isdisjoint(plain)


# ---------------------------------------------------------------------- local context sizing


def test_local_server_context_is_sized_from_the_run(make_study) -> None:
    from valuesurvey.elicit.local_server import DEFAULT_SLOT_CTX, LlamaServer
    from valuesurvey.elicit.providers.llamacpp import LlamaCppProvider

    assert LlamaServer().n_ctx == 2 * DEFAULT_SLOT_CTX and LlamaServer().slot_ctx == DEFAULT_SLOT_CTX
    assert LlamaServer(parallel=4).n_ctx == 4 * DEFAULT_SLOT_CTX
    local = {"id": "smollm2-local", "provider": "llamacpp", "origin": "US", "company": "HF"}
    study = make_study(instruments=["ai_values"], models=[local], ranking={"languages": ["zh"]})
    mp = plan_study(study).models[0]
    provider = LlamaCppProvider(mp.model, client=None, config=ElicitConfig(), api_key=None)
    assert provider.n_ctx() is None  # nothing seen yet: the server's default
    provider.size_for([r.request for r in mp.rankings])
    assert provider.n_ctx() == 2 * DEFAULT_SLOT_CTX  # 2 slots; 2 × ~706 estimated + 512 < 4,096
    long = ChatRequest("k", ({"role": "user", "content": "好" * 3000},), max_tokens=512)
    provider.size_for([long])  # 2 × 3,004 + 512 = 6,520 → 6,656 per slot
    assert provider.n_ctx() == 2 * 6656
    fixed = LlamaCppProvider(
        ModelInfo(id="smollm2-local", provider="llamacpp", api_model="x", options={"n_ctx": 3000}),
        client=None,
        config=ElicitConfig(),
        api_key=None,
    )
    fixed.size_for([long])
    assert fixed.n_ctx() == 3000  # the user's choice wins
