"""Batch mode against the loopback server of both batch protocols (real HTTP, real SQLite)."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from elicit_helpers import BATCH_KEY, batch_model, openai_model, sim_model, write_study_yaml
from typer.testing import CliRunner

from valuesurvey.cli import app
from valuesurvey.elicit import ElicitConfig, plan_study, run_elicitation
from valuesurvey.elicit.batch import AnthropicBatchProtocol, BatchLimits, OpenAIBatchProtocol
from valuesurvey.elicit.batch._protocol import BatchFile
from valuesurvey.elicit.providers import ModelInfo, provider_class
from valuesurvey.elicit.store import ResponseStore
from valuesurvey.errors import ConfigError
from valuesurvey.study import load_study

PROTOCOLS = ["openai", "anthropic"]
FAST = ElicitConfig(backoff_base=0.01, backoff_cap=0.05, max_retries=3)


def _study(tmp_path: Path, *models: dict[str, Any], sub: str = "study", **fields: Any):
    return load_study(write_study_yaml(tmp_path / sub, models=list(models), **fields))


def _rows(study) -> pd.DataFrame:
    with ResponseStore.open(study.paths.responses) as store:
        return store.frame()


def _submitted(server, protocol: str) -> dict[str, int]:
    return server.stats()["submitted"][protocol]


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_batched_study_stores_every_answer_once_at_the_batch_price(batch_serve, tmp_path, protocol) -> None:
    server = batch_serve()
    study = _study(tmp_path, batch_model(server, protocol))
    planned = plan_study(study).keys()
    summary = run_elicitation(study, progress=False, config=FAST)

    rows = _rows(study)
    assert set(rows["key"]) == planned and len(rows) == len(planned) == 38
    assert set(rows["status"]) == {"ok"} and set(rows["source"]) == {"batch"}
    assert rows["parsed_value"].eq(3.0).all()
    list_price = (rows["input_tokens"] * 1.0 + rows["output_tokens"] * 2.0) / 1e6
    assert rows["cost_usd"].tolist() == pytest.approx((list_price * 0.5).tolist())  # batch_discount 0.5
    assert _submitted(server, protocol) == dict.fromkeys(planned, 1)  # custom_id = request key, once
    stats = server.stats()
    assert stats["creates"] == 1 and stats["live"] == {} and stats["key_seen"] is False
    assert summary.failed == 0 and summary.batched == [f"batched-{protocol}"]
    with ResponseStore.open(study.paths.responses) as store:
        (batch,) = store.batches()
    assert (
        batch.state == "processed"
        and batch.requests == 38
        and batch.remote_id.startswith("batch_" if protocol == "openai" else "msgbatch_")
    )
    assert not list((study.paths.root / ".valuesurvey-batches").glob("*"))  # files gone once submitted
    ratings = pd.read_parquet(study.paths.llm_ratings)
    assert len(ratings) == 38 and ratings["rating"].eq(3.0).all()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_requests_are_split_within_the_limits(batch_serve, tmp_path, protocol) -> None:
    server = batch_serve()
    options = {"batch_max_requests": 10}
    study = _study(tmp_path, batch_model(server, protocol, options=options))
    run_elicitation(study, progress=False, config=FAST)
    assert [b["requests"] for b in server.stats()["batches"]] == [10, 10, 10, 8]

    with ResponseStore.open(study.paths.responses) as store:
        entry = max(b.bytes / b.requests for b in store.batches())
    limit = int(3.5 * entry)
    study2 = _study(
        tmp_path,
        batch_model(server, protocol, model_id="small", options={"batch_max_bytes": limit}),
        sub="s2",
    )
    run_elicitation(study2, progress=False, config=FAST)
    with ResponseStore.open(study2.paths.responses) as store:
        batches = store.batches()
    assert len(batches) >= 12 and max(b.bytes for b in batches) <= limit  # every batch within the bytes
    assert sum(b.requests for b in batches) == 38 and len(_rows(study2)) == 38


def test_the_documented_limits_are_the_providers() -> None:
    assert OpenAIBatchProtocol.limits == BatchLimits(50_000, 200 * 1024 * 1024)
    assert AnthropicBatchProtocol.limits == BatchLimits(100_000, 256 * 1024 * 1024)


def _protocol(cls: type, provider: str) -> Any:
    model = ModelInfo(id="m", provider=provider, api_model="m")
    return cls(
        provider_class(provider)(model, client=None, config=ElicitConfig(), api_key=None), None, secret=None
    )


def test_a_batch_file_stops_exactly_at_its_limits(tmp_path: Path) -> None:
    protocol = _protocol(AnthropicBatchProtocol, "anthropic")
    entry = protocol.entry("k" * 64, {"model": "m", "messages": []})
    framing = len(protocol.prefix) + len(protocol.suffix)
    handle = BatchFile(tmp_path / "b.json", protocol, BatchLimits(3, framing + 2 * len(entry) + 1))
    assert handle.fits(len(entry)) and handle.add(entry) == 1
    assert handle.fits(len(entry))
    handle.add(entry)
    assert not handle.fits(len(entry))  # bytes, with the separator
    handle.close()
    data = json.loads((tmp_path / "b.json").read_bytes())
    assert len(data["requests"]) == 2 and handle.bytes == (tmp_path / "b.json").stat().st_size
    counted = BatchFile(tmp_path / "c.json", protocol, BatchLimits(1, 10**9))
    counted.add(entry)
    assert not counted.fits(1)  # count
    counted.close()


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("fate", ["expire", "cancel"])
def test_expired_and_cancelled_requests_are_asked_again_in_a_new_batch(
    batch_serve, tmp_path, protocol, fate
) -> None:
    server = batch_serve(fates=[fate])
    study = _study(tmp_path, batch_model(server, protocol))
    planned = plan_study(study).keys()
    summary = run_elicitation(study, progress=False, config=FAST)
    rows = _rows(study)
    assert set(rows["key"]) == planned and set(rows["status"]) == {"ok"} and summary.failed == 0
    submitted = _submitted(server, protocol)
    assert sorted(submitted.values()) == [1] * 19 + [2] * 19  # half unfinished, each asked once more
    assert [b["requests"] for b in server.stats()["batches"]] == [38, 19]
    attempts = rows.set_index("key")["attempts"]
    assert sorted(attempts.tolist()) == [1] * 19 + [2] * 19


def test_a_failed_batch_stores_the_lines_it_names_and_asks_the_others_again(batch_serve, tmp_path) -> None:
    server = batch_serve(fates=["fail"])  # the provider names line 2
    study = _study(tmp_path, batch_model(server, "openai"))
    summary = run_elicitation(study, progress=False, config=FAST)
    rows = _rows(study)
    failed = rows[rows["status"] == "error"]
    assert len(failed) == 1 and failed["error_kind"].tolist() == ["rejected"]
    assert "line 2" in failed["error"].iloc[0]
    assert (rows["status"] == "ok").sum() == 37 and summary.failed == 1
    assert [b["requests"] for b in server.stats()["batches"]] == [38, 37]


def test_a_batch_failed_for_capacity_is_submitted_again(batch_serve, tmp_path, caplog) -> None:
    server = batch_serve(fates=["fail_capacity"])
    study = _study(tmp_path, batch_model(server, "openai"))
    with caplog.at_level(logging.WARNING):
        summary = run_elicitation(study, progress=False, config=FAST)
    assert summary.failed == 0 and set(_rows(study)["status"]) == {"ok"}
    assert [b["requests"] for b in server.stats()["batches"]] == [38, 38]
    (line,) = [r.getMessage() for r in caplog.records if "failed at the provider" in r.getMessage()]
    assert "token_limit_exceeded" in line and "\n" not in line


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_requests_not_answered_can_be_asked_again_live(batch_serve, tmp_path, protocol) -> None:
    server = batch_serve(fates=["expire"])
    study = _study(tmp_path, batch_model(server, protocol, options={"batch_requeue": "live"}))
    summary = run_elicitation(study, progress=False, config=FAST)
    rows = _rows(study)
    assert summary.failed == 0 and rows["source"].value_counts().to_dict() == {"batch": 19, "live": 19}
    stats = server.stats()
    assert len(stats["batches"]) == 1 and sorted(stats["live"].values()) == [1] * 19


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_partial_errors_server_side_are_retried_client_side_are_stored(
    batch_serve, tmp_path, protocol
) -> None:
    server = batch_serve(error_rate=0.3, error_status=500)
    study = _study(tmp_path, batch_model(server, protocol))
    assert run_elicitation(study, progress=False, config=FAST).failed == 0
    assert set(_rows(study)["status"]) == {"ok"}
    assert len(server.stats()["batches"]) == 2  # the failed ones, once more

    rejecting = batch_serve(error_rate=0.3, error_status=400)
    study2 = _study(tmp_path, batch_model(rejecting, protocol), sub="s2")
    summary = run_elicitation(study2, progress=False, config=FAST)
    rows = _rows(study2)
    rejected = rows[rows["status"] == "error"]
    assert len(rejected) == summary.failed > 0 and set(rejected["error_kind"]) == {"rejected"}
    assert len(rejecting.stats()["batches"]) == 1  # a rejected request is not asked again in the run


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_429_at_creation_is_retried(batch_serve, tmp_path, protocol, caplog) -> None:
    server = batch_serve(reject_create=[429, 429])
    study = _study(tmp_path, batch_model(server, protocol))
    with caplog.at_level(logging.WARNING):
        summary = run_elicitation(study, progress=False, config=FAST)
    assert summary.failed == 0 and set(_rows(study)["status"]) == {"ok"}
    assert server.stats()["creates"] == 1
    retries = [r.getMessage() for r in caplog.records if "creation failed" in r.getMessage()]
    assert len(retries) == 2 and all("HTTP 429" in m and "\n" not in m for m in retries)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("status", [400, 429])
def test_a_batch_rejected_at_creation_loses_nothing(batch_serve, tmp_path, protocol, status) -> None:
    server = batch_serve(reject_create_always=status)
    # Two retries, not the default six: a 429 answered at every creation otherwise waits ~25 s of backoff.
    options = {"batch_max_requests": 20, "max_retries": 2}
    study = _study(tmp_path, batch_model(server, protocol, options=options))
    planned = plan_study(study).keys()
    runner = CliRunner()
    result = runner.invoke(app, ["elicit", str(study.paths.study_yaml), "-q"], catch_exceptions=False)
    assert result.exit_code == 3, result.output
    rows = _rows(study)
    # The first batch's requests are stored as failed, the second batch was never sent: nothing lost.
    kind = "rate_limit" if status == 429 else "rejected"
    assert rows["error_kind"].tolist() == [kind] * 20 and set(rows["status"]) == {"error"}
    assert f"rejected at creation: model '{study.models[0].id}' HTTP {status}" in rows["error"].iloc[0]
    assert "not_sent" in result.output and kind in result.output
    assert server.stats()["creates"] == 0
    server.control(reject_create_always=None)
    again = runner.invoke(app, ["elicit", str(study.paths.study_yaml), "-q"], catch_exceptions=False)
    assert again.exit_code == 0, again.output
    rows = _rows(study)
    assert set(rows["key"]) == planned and set(rows["status"]) == {"ok"}


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_results_with_unknown_custom_ids_and_malformed_lines(batch_serve, tmp_path, protocol, caplog) -> None:
    server = batch_serve(unknown_lines=2, malformed_lines=3)
    study = _study(tmp_path, batch_model(server, protocol))
    planned = plan_study(study).keys()
    with caplog.at_level(logging.WARNING):
        summary = run_elicitation(study, progress=False, config=FAST)
    rows = _rows(study)
    assert set(rows["key"]) == planned and set(rows["status"]) == {"ok"} and summary.failed == 0
    messages = [r.getMessage() for r in caplog.records]
    unknown = [m for m in messages if "custom_ids it did not submit" in m]
    malformed = [m for m in messages if "malformed lines" in m]
    assert len(unknown) == 1 and "2 custom_ids" in unknown[0]  # one line for the batch
    assert len(malformed) == 1 and "3 malformed lines" in malformed[0] and "not JSON" in malformed[0]
    assert all("\n" not in m for m in unknown + malformed)
    submitted = _submitted(server, protocol)
    assert sorted(submitted.values()).count(2) == 3  # the 3 on malformed lines, asked once more


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_results_file_that_fails_to_download_is_read_again(batch_serve, tmp_path, protocol, caplog) -> None:
    server = batch_serve(results_error=[500, 503])
    study = _study(tmp_path, batch_model(server, protocol))
    planned = plan_study(study).keys()
    with caplog.at_level(logging.WARNING):
        summary = run_elicitation(study, progress=False, config=FAST)
    rows = _rows(study)
    assert set(rows["key"]) == planned and len(rows) == len(planned) and set(rows["status"]) == {"ok"}
    assert summary.failed == 0
    retries = [r.getMessage() for r in caplog.records if "reading the results of batch" in r.getMessage()]
    assert len(retries) == 2 and all("\n" not in m for m in retries), retries
    assert "HTTP 500" in retries[0] and "HTTP 503" in retries[1]
    assert set(_submitted(server, protocol).values()) == {1}  # read again, never submitted again


def test_results_that_cannot_be_read_stop_the_model_with_one_line_and_nothing_lost(
    batch_serve, tmp_path, caplog
) -> None:
    server = batch_serve(results_error_always=502)
    study = _study(tmp_path, batch_model(server, "anthropic"))
    planned = plan_study(study).keys()
    with caplog.at_level(logging.WARNING):
        summary = run_elicitation(study, progress=False, config=FAST)
    (stop,) = [r.getMessage() for r in caplog.records if "could not be read" in r.getMessage()]
    assert "11 times in a row" in stop and "HTTP 502" in stop and "rerun to read them" in stop
    assert "\n" not in stop
    assert summary.in_batch == len(planned) and len(_rows(study)) == 0  # still in the batch, none failed
    runner = CliRunner()
    server.control(results_error_always=None)
    again = runner.invoke(app, ["elicit", str(study.paths.study_yaml), "-q"], catch_exceptions=False)
    assert again.exit_code == 0, again.output
    rows = _rows(study)
    assert set(rows["key"]) == planned and len(rows) == len(planned) and set(rows["status"]) == {"ok"}
    assert set(_submitted(server, "anthropic").values()) == {1} and server.stats()["creates"] == 1


def test_a_provider_without_a_batch_api_is_refused_with_one_line(tmp_path) -> None:
    simulated = {**sim_model(), "batch": True}
    study = _study(tmp_path, simulated)
    with pytest.raises(
        ConfigError, match=r"model 'sim-cn-01': batch: true, but provider simulated has no batch API"
    ):
        run_elicitation(study, progress=False)
    assert not study.paths.responses.exists()
    deepseek = _study(tmp_path, {"id": "deepseek-v3", "batch": True}, sub="ds")
    result = CliRunner().invoke(app, ["elicit", str(deepseek.paths.study_yaml)])
    assert result.exit_code == 1
    (line,) = [ln for ln in result.output.splitlines() if ln.strip()]
    assert "the registry states no batch API for its endpoint https://api.deepseek.com/v1" in line


def test_elicit_batch_batches_the_models_that_can_and_asks_the_others_live(batch_serve, tmp_path) -> None:
    server = batch_serve()
    batched = {**batch_model(server, "openai"), "batch": None}
    study = _study(tmp_path, batched, sim_model())
    result = CliRunner().invoke(
        app, ["elicit", str(study.paths.study_yaml), "--batch", "-q"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    sources = _rows(study).groupby("model")["source"].unique().map(list).to_dict()
    assert sources == {"batched-openai": ["batch"], "sim-cn-01": ["live"]}
    assert "Batched: batched-openai" in result.output


def test_plan_shows_batch_prices_beside_list_prices(tmp_path) -> None:
    study = _study(tmp_path, {"id": "gpt-4o"}, {"id": "deepseek-v3"})
    result = CliRunner().invoke(app, ["plan", str(study.paths.study_yaml)], catch_exceptions=False)
    assert result.exit_code == 0
    lines = {ln.split("│")[1].strip(): ln for ln in result.output.splitlines() if ln.startswith("│")}
    gpt = [c.strip() for c in lines["gpt-4o"].split("│")]
    deepseek = [c.strip() for c in lines["deepseek-v3"].split("│")]
    assert gpt[-3] == "no" and float(gpt[-2]) == pytest.approx(float(gpt[-4]) * 0.5, abs=1e-4)  # half
    assert deepseek[-3] == "n/a" and deepseek[-2] == "—"
    assert "with every model that has a batch API batched (1 of 2: elicit --batch)" in result.output


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_the_key_reaches_no_batch_file_log_or_store(batch_serve, tmp_path, protocol, caplog) -> None:
    server = batch_serve(fates=["expire"], unknown_lines=1)
    study = _study(tmp_path, batch_model(server, protocol))
    with caplog.at_level(logging.DEBUG):
        run_elicitation(study, progress=False, config=FAST)
    assert server.stats()["key_seen"] is False  # not in an uploaded file or a request body
    assert BATCH_KEY not in caplog.text
    for path in study.paths.root.rglob("*"):
        if path.is_file():
            assert BATCH_KEY.encode() not in path.read_bytes(), path
    for path in Path(server.state.root).rglob("*"):  # what the provider keeps: files, batches
        if path.is_file() and path.name != "index.json":
            assert BATCH_KEY.encode() not in path.read_bytes(), path


def test_the_progress_display_shows_batches_by_state(batch_serve, tmp_path) -> None:
    server = batch_serve(processing_seconds=0.4, fates=["expire"])
    study = _study(tmp_path, batch_model(server, "openai"))

    class Recording:
        def __init__(self) -> None:
            self.states: list[dict[str, int]] = []
            self.advanced = 0

        def add_model(self, model: str, *, total: int, done: int) -> None:
            pass

        def advance(self, model: str, **counts: Any) -> None:
            self.advanced += 1

        def retry(self, model: str) -> None:
            pass

        def batches(self, model: str, states: dict[str, int]) -> None:
            self.states.append(dict(states))

        def close(self) -> None:
            pass

    import asyncio

    from valuesurvey.elicit.batch import batched_models
    from valuesurvey.elicit.runner import run_plan

    plan = plan_study(study)
    chosen = batched_models(((mp.model, mp.provider) for mp in plan.models), every=False, where="study.yaml")
    sink = Recording()
    with ResponseStore.open(study.paths.responses) as store:
        asyncio.run(
            run_plan(plan, store, run_id="r1", config=FAST, sink=sink, batched=chosen, workdir=tmp_path / "w")
        )
    seen = {state for states in sink.states for state in states}
    assert {"in_progress", "processed"} <= seen
    assert {"expired"} & seen or any(s.get("processed") == 1 for s in sink.states)
    assert sink.states[-1] == {"processed": 2} and sink.advanced == 38


def test_a_store_of_schema_2_gains_the_batch_tables(tmp_path: Path) -> None:
    path = tmp_path / "responses.sqlite"
    with ResponseStore.open(path):
        pass
    with sqlite3.connect(path) as db:  # as schema 2 left it
        db.execute("DROP TABLE batches")
        db.execute("DROP TABLE batch_requests")
        db.execute("ALTER TABLE responses DROP COLUMN source")
        db.execute("UPDATE meta SET value = '2' WHERE name = 'schema_version'")
    with ResponseStore.open(path) as store:
        assert store.schema_version() == 3 and store.batches() == [] and "source" in store.frame().columns


def test_batch_options_are_checked_before_anything_is_sent(batch_serve, tmp_path) -> None:
    server = batch_serve()
    study = _study(tmp_path, batch_model(server, "openai", options={"batch_requeue": "later"}))
    with pytest.raises(ConfigError, match=r"options.batch_requeue: expected one of batch, live, got 'later'"):
        run_elicitation(study, progress=False)
    assert server.stats()["uploads"] == 0


def test_a_batched_and_a_live_model_share_a_server(batch_serve, tmp_path, monkeypatch) -> None:
    """Batched requests go to the batch API only, the live model's to the chat endpoint only."""
    server = batch_serve()
    study = _study(tmp_path, batch_model(server, "openai"), openai_model(server.openai_url, model_id="live"))
    monkeypatch.setenv("VALUESURVEY_TEST_KEY", BATCH_KEY)
    summary = run_elicitation(study, progress=False, config=FAST)
    assert summary.failed == 0
    assert len(server.stats()["live"]) == 38 and len(_submitted(server, "openai")) == 38
