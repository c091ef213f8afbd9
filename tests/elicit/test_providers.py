"""Provider units: Anthropic's wire format (MockTransport), the simulated respondents, the CLI."""

from __future__ import annotations

import asyncio
import json

import httpx
import pandas as pd
import pytest
from elicit_helpers import sim_model, write_study_yaml

from valuesurvey.elicit import ElicitConfig, ElicitError, run_elicitation
from valuesurvey.elicit.providers import ChatRequest, ModelInfo, provider_class
from valuesurvey.elicit.providers.simulated import SimulatedProvider


def test_anthropic_messages_api_and_rate_limit_mapping(monkeypatch) -> None:
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(429, headers={"retry-after": "0"}, json={"error": {"message": "slow down"}})
        body = {
            "content": [{"type": "text", "text": "4"}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 20, "output_tokens": 1},
        }
        return httpx.Response(200, json=body)

    model = ModelInfo(id="claude", provider="anthropic", api_model="claude-x", api_key_env="K")
    cls = provider_class("anthropic")

    async def go():
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            provider = cls(model, client=client, config=ElicitConfig(), api_key="sk-ant-secret")
            req = ChatRequest(
                key="k",
                messages=({"role": "system", "content": "S"}, {"role": "user", "content": "Q"}),
                temperature=1.0,
                top_p=0.9,
                max_tokens=8,
            )
            with pytest.raises(ElicitError, match="slow down") as info:
                await provider.generate(req)
            assert info.value.retry_after == 0.0
            return await provider.generate(req)

    response = asyncio.run(go())
    assert response.text == "4" and response.input_tokens == 20
    sent = json.loads(seen[-1].content)
    assert sent["system"] == "S" and sent["messages"] == [{"role": "user", "content": "Q"}]
    assert "top_p" not in sent and seen[-1].headers["x-api-key"] == "sk-ant-secret"


def test_simulated_models_must_look_simulated() -> None:
    with pytest.raises(ElicitError, match="sim-"):
        SimulatedProvider(
            ModelInfo(id="gpt-4o", provider="simulated", api_model="gpt-4o"),
            client=None,
            config=ElicitConfig(),
            api_key=None,
        )


def test_simulated_respondents_are_deterministic_and_follow_their_origin(make_study) -> None:
    # Weights set here: the registry's sim-* entries carry their own (milder) cn_weight defaults.
    models = [
        sim_model("sim-cn-01", "CN", noise_sd=0.3, cn_weight=0.8),
        sim_model("sim-us-01", "US", noise_sd=0.3, cn_weight=0.2),
    ]
    first = make_study("a", repetitions=3, models=models)
    second = make_study("b", repetitions=3, models=models)
    run_elicitation(first, progress=False)
    run_elicitation(second, progress=False)
    a, b = pd.read_parquet(first.paths.llm_ratings), pd.read_parquet(second.paths.llm_ratings)
    pd.testing.assert_frame_equal(a, b)  # same seed, same answers
    means = a.groupby(["model", "item"])["rating"].mean().unstack(0)
    # Q182 (homosexuality): China 2.3, USA 6.5 in WVS-7; the simulated models keep that gap.
    assert means.loc["Q182", "sim-us-01"] - means.loc["Q182", "sim-cn-01"] > 2


def test_cli_plan_and_elicit(tmp_path, capsys) -> None:
    from valuesurvey.cli.elicit import elicit, plan

    study_dir = tmp_path / "s"
    write_study_yaml(
        study_dir,
        instruments=["wvs7", "ai_values"],
        ranking={"repetitions": 3, "languages": ["en"]},
        models=[sim_model(invalid_rate=0.9)],
    )
    plan(study_dir)
    out = capsys.readouterr().out
    assert "nothing sent" in out and not (study_dir / "responses.sqlite").exists()
    elicit(study_dir, quiet=True)
    rankings = pd.read_parquet(study_dir / "rankings.parquet")
    assert (
        set(rankings["status"]) <= {"ok", "invalid"} and rankings["attempt"].max() >= 1
    )  # invalid asked again
    ok = rankings[rankings["status"] == "ok"]
    assert ok.groupby(["rep", "attempt"])["rank"].apply(lambda r: sorted(r) == list(range(1, 26))).all()


def test_transport_session_posts_like_the_client() -> None:
    """The runner's per-worker session: JSON body, our headers, the default timeout, a read response."""
    from valuesurvey.elicit.providers._http import TransportSession, post_json

    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True, "echo": json.loads(request.content)})

    async def go() -> dict:
        session = TransportSession(httpx.MockTransport(handler), timeout=httpx.Timeout(7.0, connect=2.0))
        async with session:
            return await post_json(
                session,
                "http://127.0.0.1:9/v1/chat/completions",
                body={"messages": ["é"]},
                headers={"X-Valuesurvey-Key": "k1"},
                model="m",
                secret=None,
            )

    data = asyncio.run(go())
    assert data == {"ok": True, "echo": {"messages": ["é"]}}
    request = seen[0]
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-valuesurvey-key"] == "k1" and request.headers["user-agent"].startswith(
        "valuesurvey"
    )
    assert request.extensions["timeout"] == {"connect": 2.0, "read": 7.0, "write": 7.0, "pool": 7.0}
