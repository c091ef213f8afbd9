"""The vllm provider against a loopback server of vLLM's chat API and extras (structured outputs,
continue_final_message, /version): exact labels in constrained mode, multi-token labels scored in
logprobs mode, a constraint the server would ignore refused or caught."""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pandas as pd
import pytest
from elicit_helpers import write_study_yaml
from typer.testing import CliRunner

from valuesurvey.cli import app
from valuesurvey.elicit import ElicitConfig, plan_study, run_elicitation
from valuesurvey.elicit._exceptions import ConstraintIgnoredError
from valuesurvey.elicit.store import ResponseStore
from valuesurvey.study import load_study

_spec = importlib.util.spec_from_file_location(
    "elicit_vllm_server", Path(__file__).with_name("vllm_server.py")
)
assert _spec is not None and _spec.loader is not None
vllm_server = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = vllm_server
_spec.loader.exec_module(vllm_server)

FAST = ElicitConfig(backoff_base=0.01, backoff_cap=0.05, max_retries=1)
LABELS_1_5 = ["1", "2", "3", "4", "5"]
REGEX_1_10 = "(1|2|3|4|5|6|7|8|9|10)[^0-9]?"


@pytest.fixture
def vllm():
    servers = []

    def start(**config):
        server = vllm_server.VLLMServer(vllm_server.VLLMConfig(**config)).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def _model(server, **options) -> dict:
    return {
        "id": "local-vllm",
        "provider": "vllm",
        "api_model": "deepseek-ai/DeepSeek-V2-Lite-Chat",
        "base_url": server.base_url,
        "origin": "CN",
        "company": "DeepSeek",
        "options": options,
    }


def _study(tmp_path: Path, server, mode: str, sub: str = "study", instruments=("mfq2", "wvs7"), **options):
    return load_study(
        write_study_yaml(
            tmp_path / sub,
            instruments=list(instruments),
            answer_mode=mode,
            repetitions=1,
            models=[_model(server, **options)],
        )
    )


def _ratings(study) -> pd.DataFrame:
    return pd.read_parquet(study.paths.llm_ratings)


def test_constrained_mode_sends_exactly_the_scale_labels(vllm, tmp_path) -> None:
    server = vllm()
    study = _study(tmp_path, server, "constrained")
    summary = run_elicitation(study, progress=False, config=FAST)
    assert summary.failed == 0
    constraints = {json.dumps(r["structured_outputs"]) for r in server.requests}
    assert constraints == {json.dumps({"choice": LABELS_1_5}), json.dumps({"regex": REGEX_1_10})}
    assert not any(k.startswith("guided_") for r in server.requests for k in r)
    ratings = _ratings(study)
    by_instrument = ratings.groupby("instrument")["rating"].unique().map(list).to_dict()
    # The model's own answer is "1." on every item: the regex lets "1" end with "." (WVS), the
    # choice of five labels lets "1" end (MFQ-2).
    assert by_instrument == {"mfq2": [1.0], "wvs7": [1.0]}


def test_the_exact_choice_on_the_ten_point_scale_turns_1_into_10(vllm, tmp_path) -> None:
    """Why the regex is the default where one label starts another: under the choice "1"…"10", after
    "1" the model may only write "0" or end its turn, and it is likelier to write "0"."""
    server = vllm()
    study = _study(tmp_path, server, "constrained", instruments=("wvs7",), constrained_via="choice")
    run_elicitation(study, progress=False, config=FAST)
    assert {json.dumps(r["structured_outputs"]) for r in server.requests} == {
        json.dumps({"choice": [str(k) for k in range(1, 11)]})
    }
    assert _ratings(study)["rating"].eq(10.0).all()


def test_vllm_before_0_10_2_gets_the_guided_fields(vllm, tmp_path) -> None:
    server = vllm(version="0.9.2")
    study = _study(tmp_path, server, "constrained", structured_outputs=False)
    assert run_elicitation(study, progress=False, config=FAST).failed == 0
    assert {json.dumps(r.get("guided_choice") or r.get("guided_regex")) for r in server.requests} == {
        json.dumps(LABELS_1_5),
        json.dumps(REGEX_1_10),
    }
    assert _ratings(study)["rating"].eq(1.0).all()


@pytest.mark.parametrize(
    ("version", "options", "message"),
    [
        (
            "0.9.2",
            {},
            r"version 0\.9\.2 .* does not know structured_outputs .* options\.structured_outputs: false",
        ),
        ("0.12.0", {"structured_outputs": False}, r"version 0\.12\.0 .* removed guided_choice"),
        (
            "nightly",
            {},
            r"GET http://127\.0\.0\.1:\d+/version: not a vLLM version; set options\.vllm_version",
        ),
    ],
)
def test_a_constraint_the_server_would_ignore_is_refused_before_anything_is_sent(
    vllm, tmp_path, version, options, message
) -> None:
    server = vllm(version=version)
    study = _study(tmp_path, server, "constrained", **options)
    with pytest.raises(ConstraintIgnoredError, match=message):
        run_elicitation(study, progress=False, config=FAST)
    assert server.requests == []
    result = CliRunner().invoke(app, ["elicit", str(study.paths.study_yaml), "-q"])
    assert result.exit_code == 1 and len([ln for ln in result.output.splitlines() if ln.strip()]) == 1


def test_an_answer_outside_the_constraint_stops_the_model_after_one_request(vllm, tmp_path) -> None:
    server = vllm(version="0.9.2")  # ignores structured_outputs, as vLLM before 0.10.2 does
    study = _study(tmp_path, server, "constrained", vllm_version="0.11.0")  # stated wrongly
    summary = run_elicitation(study, progress=False, config=FAST)
    assert len(server.requests) == 1
    failures = summary.failures.set_index("failure")
    assert failures.loc["constraint_ignored", "requests"] == 1
    assert (
        "is not one the constraint allows (structured_outputs)"
        in failures.loc["constraint_ignored", "first_message"]
    )
    assert failures.loc["not_sent", "requests"] == 36 + 19 - 1


def test_logprobs_mode_scores_the_two_token_label_by_continuing_the_answer(vllm, tmp_path) -> None:
    server = vllm()
    study = _study(tmp_path, server, "logprobs", logprobs_constraint=True)
    assert run_elicitation(study, progress=False, config=FAST).failed == 0
    continuations = [r for r in server.requests if r.get("continue_final_message")]
    assert len(continuations) == 19  # one per WVS item (1-10), none for MFQ-2 (no label starts another)
    for body in continuations:
        assert body["add_generation_prompt"] is False and body["max_tokens"] == 1
        assert body["messages"][-1] == {"role": "assistant", "content": "1"}
        assert "structured_outputs" not in body and body["logprobs"] is True and body["top_logprobs"] == 20
    first, after_1 = vllm_server.FIRST, vllm_server.AFTER_1
    mass = sum(p for t, p in first.items() if t.isdigit())
    with ResponseStore.open(study.paths.responses) as store:
        rows = store.frame()
    wvs = rows[rows["instrument"] == "wvs7"]
    for row in wvs.itertuples():
        dist = {int(k): v for k, v in json.loads(row.probabilities).items()}
        assert dist[10] == pytest.approx(first["1"] * after_1["0"] / mass)  # P("1")·P("0" | "1")
        assert dist[1] == pytest.approx(first["1"] * (1 - after_1["0"]) / mass)
        assert dist[3] == pytest.approx(first["3"] / mass)
        assert row.scale_mass == pytest.approx(mass) and row.status == "ok"
        expected = sum(k * p for k, p in dist.items())
        assert row.parsed_value == pytest.approx(expected)
    mfq = rows[rows["instrument"] == "mfq2"]
    masses = mfq["scale_mass"].unique()
    assert masses == pytest.approx([sum(first[str(k)] for k in range(1, 6))])
    assert math.isclose(json.loads(mfq["probabilities"].iloc[0])["1"], first["1"] / masses[0])


def test_logprobs_mode_sends_no_constraint_by_default(vllm, tmp_path) -> None:
    server = vllm()
    study = _study(tmp_path, server, "logprobs", instruments=("wvs7",))
    run_elicitation(study, progress=False, config=FAST)
    asked = [r for r in server.requests if not r.get("continue_final_message")]
    assert asked and not any("structured_outputs" in r or "guided_regex" in r for r in asked)
    with ResponseStore.open(study.paths.responses) as store:
        rows = store.frame()
    # The model's own sampled answer is prose: no rating (text-mode check), its distribution kept.
    assert set(rows["status"]) == {"nonsense"} and rows["probabilities"].notna().all()


def test_vllm_is_planned_in_logprobs_mode_on_the_ten_point_scale(tmp_path) -> None:
    study = load_study(
        write_study_yaml(
            tmp_path / "s",
            answer_mode="logprobs",
            models=[_model(type("S", (), {"base_url": "http://127.0.0.1:8000/v1"})())],
        )
    )
    plan = plan_study(study)  # openai_compatible would refuse the 1-10 scale here
    assert plan.models[0].answer_mode == "logprobs" and len(plan.models[0].ratings) == 19


def test_the_registry_serves_deepseek_v2_lite_with_vllm() -> None:
    from valuesurvey.elicit.registry import get_entry

    entry = get_entry("deepseek-v2-lite-chat")
    assert entry.provider == "vllm" and entry.base_url == "http://127.0.0.1:8000/v1"
