"""elicit.answers.interpret on real planned requests: logprobs validity and multi-token points,
constrained JSON, rankings' listing order; the plan refuses scales a provider cannot score; the local
provider's timeouts follow its measured speed."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from elicit_helpers import openai_model, sim_model

from valuesurvey.elicit import plan_study
from valuesurvey.elicit.answers import interpret
from valuesurvey.elicit.export import ranking_table, ratings_table
from valuesurvey.elicit.providers import ChatResponse
from valuesurvey.elicit.store import ResponseStore, StoredResponse
from valuesurvey.errors import ConfigError


def _top(probs: dict[str, float]) -> list[dict]:
    return [{"token": t, "logprob": math.log(p)} for t, p in probs.items()]


def _wvs_request(make_study, mode: str, model: dict | None = None):
    study = make_study(mode, answer_mode=mode, models=[model or sim_model()], repetitions=1)
    return study, plan_study(study).models[0].ratings[0]


def test_logprobs_scores_ten_as_one_then_zero(make_study) -> None:
    _, request = _wvs_request(make_study, "logprobs")
    response = ChatResponse(
        "10",
        "stop",
        top_logprobs=_top({"1": 0.5, "2": 0.1, "The": 0.4}),
        continuations={"1": _top({"0": 0.8, ".": 0.2})},
    )
    fields = interpret(request, response)
    probs = {int(k): v for k, v in json.loads(fields["probabilities"]).items()}
    assert probs == pytest.approx({1: 0.1 / 0.6, 2: 0.1 / 0.6, 10: 0.4 / 0.6})
    assert fields["scale_mass"] == pytest.approx(0.6)
    assert fields["status"] == "ok" and fields["parsed_value"] == pytest.approx((0.1 + 0.2 + 4.0) / 0.6)


@pytest.mark.parametrize(
    "text", ["合理", "0", "1. Claiming government benefits to which you are not entitled"]
)
def test_a_logprobs_row_whose_sampled_text_is_no_rating_keeps_that_status(make_study, text: str) -> None:
    _, request = _wvs_request(make_study, "logprobs")
    response = ChatResponse(text, "stop", top_logprobs=_top({"5": 0.2, "6": 0.1}))
    fields = interpret(request, response)
    assert fields["status"] in {"nonsense", "invalid"} and fields["parsed_value"] is None, fields
    assert "top_logprobs not used" in fields["reason"]
    assert fields["scale_mass"] == pytest.approx(0.3)  # stored for audit


@pytest.mark.parametrize(
    ("text", "finish", "status", "value"),
    [
        ('{"rating": 1}', "length", "ok", 1.0),  # closed: complete although the cap was reached
        ('{"rating": 10}', "stop", "ok", 10.0),
        ('{"rating": 1', "length", "invalid", None),  # may have been cut inside 10
    ],
)
def test_constrained_json_answers(make_study, text: str, finish: str, status: str, value) -> None:
    _, request = _wvs_request(make_study, "constrained")
    fields = interpret(request, ChatResponse(text, finish))
    assert (fields["status"], fields["parsed_value"]) == (status, value), fields


def test_logprobs_on_a_ten_point_scale_is_refused_for_a_provider_that_cannot_continue(make_study) -> None:
    study = make_study(
        "refused", answer_mode="logprobs", models=[openai_model("http://127.0.0.1:9/v1")], repetitions=1
    )
    with pytest.raises(ConfigError, match=r"'loopback'.*cannot score the 1-10 scale.*single_token_numbers"):
        plan_study(study)
    mfq = make_study(
        "mfq", instruments=["mfq2"], answer_mode="logprobs", models=[openai_model("http://127.0.0.1:9/v1")]
    )
    assert plan_study(mfq).models[0].answer_mode == "logprobs"  # 1-5: every point is one token
    declared = openai_model("http://127.0.0.1:9/v1", options={"single_token_numbers": True})
    ok = make_study("declared", answer_mode="logprobs", models=[declared], repetitions=1)
    assert plan_study(ok).models[0].answer_mode == "logprobs"


def test_listing_order_is_stored_and_a_copied_ranking_flagged(make_study, tmp_path) -> None:
    study = make_study(
        "rank",
        instruments=["ai_values"],
        models=[sim_model()],
        ranking={"languages": ["en"], "repetitions": 2, "max_invalid_retries": 0},
    )
    plan = plan_study(study)
    first, second = plan.models[0].rankings
    listed = first.request.meta["listing_order"]
    assert listed != list(first.request.values)  # shuffled by default
    copied = "\n".join(f"{i}. {v}" for i, v in enumerate(listed, 1))
    ranked = "\n".join(f"{i}. {v}" for i, v in enumerate(sorted(listed), 1))
    with ResponseStore.open(tmp_path / "r.sqlite") as store:
        for request, text in ((first, copied), (second, ranked)):
            fields = interpret(request, ChatResponse(text, "stop"))
            store.save(
                StoredResponse(
                    key=request.key,
                    model="sim-cn-01",
                    kind="ranking",
                    request_json=request.request_json,
                    attempts=1,
                    origin="CN",
                    language="en",
                    rep=request.rep,
                    **fields,
                )
            )
        assert json.loads(store.get(first.key).listing_order) == listed
        table = ranking_table(plan, store)
    flags = table.groupby("rep")["copies_listing_order"].agg(["all", "any"])
    assert flags.loc[0, "all"] and not flags.loc[1, "any"]
    rep0 = table[table["rep"] == 0].set_index("value")
    assert (rep0["listed"] == rep0["rank"]).all()  # copied: each value ranked where it was listed
    assert table["listed"].notna().all() and set(table["listed"]) == set(range(1, 26))


def test_scale_mass_reaches_llm_ratings(make_study) -> None:
    from valuesurvey.elicit import run_elicitation

    study = make_study("sim", answer_mode="logprobs", models=[sim_model()], repetitions=1)
    run_elicitation(study, progress=False)
    table = pd.read_parquet(study.paths.llm_ratings)
    assert table["scale_mass"].between(0.99, 1.0 + 1e-9).all()  # the simulated model answers on the scale
    with ResponseStore.open(study.paths.responses) as store:
        assert ratings_table(plan_study(study), store)["scale_mass"].notna().all()


def test_local_timeouts_follow_the_measured_speed() -> None:
    import httpx

    from valuesurvey import instruments
    from valuesurvey.elicit._config import ElicitConfig
    from valuesurvey.elicit.providers import ChatRequest, ModelInfo
    from valuesurvey.elicit.providers.llamacpp import MIN_TIMEOUT_S, LlamaCppProvider

    model = ModelInfo(id="local", provider="llamacpp", api_model="m", max_concurrency=2)
    provider = LlamaCppProvider(model, client=None, config=ElicitConfig(), api_key=None)
    messages = instruments.build_ranking_messages(instruments.get("ai_values"), "zh")
    ranking = ChatRequest("k", tuple(messages), max_tokens=512)
    assert provider.request_timeout(ranking).read == 600.0  # nothing measured yet: patient
    # A loaded machine: 8 prompt tokens and 8 generated tokens per second.
    provider.speed.update({"prompt_n": 80, "prompt_ms": 10_000.0, "predicted_n": 8, "predicted_ms": 1000.0})
    slow = provider.request_timeout(ranking).read
    assert slow > 8 * (1240 / 8 + 512 / 8)  # the whole prompt and answer, eight times over
    fast = LlamaCppProvider(model, client=None, config=ElicitConfig(), api_key=None)
    fast.speed.update({"prompt_n": 1000, "prompt_ms": 1000.0, "predicted_n": 100, "predicted_ms": 1000.0})
    assert MIN_TIMEOUT_S <= fast.request_timeout(ranking).read < slow / 5
    queued = ModelInfo(id="local", provider="llamacpp", api_model="m", max_concurrency=4)
    behind = LlamaCppProvider(queued, client=None, config=ElicitConfig(), api_key=None)
    behind.speed = provider.speed
    assert behind.request_timeout(ranking).read > 1.9 * (slow - 60)  # two waves through 2 slots
    fixed = ModelInfo(id="local", provider="llamacpp", api_model="m", options={"timeout": 5})
    assert (
        LlamaCppProvider(fixed, client=None, config=ElicitConfig(), api_key=None).request_timeout(ranking)
        is None
    )
    assert isinstance(provider.request_timeout(ranking), httpx.Timeout)
    # The runner's deadline for the whole attempt is the measured one, not the 60 s default.
    assert provider.deadline(ranking) == slow
    fixed_provider = LlamaCppProvider(fixed, client=None, config=ElicitConfig(timeout=5), api_key=None)
    assert fixed_provider.deadline(ranking) == 5


def test_a_low_scale_mass_is_warned_about_with_its_threshold(make_study, caplog) -> None:
    from valuesurvey.elicit import run_elicitation
    from valuesurvey.elicit.answers import LOW_SCALE_MASS, low_scale_mass_warnings

    rows = pd.DataFrame({"model": ["a", "a", "b"], "scale_mass": [0.1, 0.6, 0.9]})
    (message,) = low_scale_mass_warnings(rows)
    assert message.startswith("model a: on average 35%") and "1 of 2 logprobs answers below 50%" in message
    assert LOW_SCALE_MASS == 0.5
    study = make_study("sim-warn", answer_mode="logprobs", models=[sim_model()], repetitions=1)
    with caplog.at_level("WARNING", logger="valuesurvey.elicit"):
        run_elicitation(study, progress=False, limit=3)
    assert not [r for r in caplog.records if "scale points" in r.getMessage()]  # 100% on the scale
