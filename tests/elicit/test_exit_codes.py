"""Runs that fail do not look like successes: exit codes, fail-fast per model, the failure table.

Real HTTP against the fault-injecting loopback server (or a closed port); the CLI is called in-process
through typer's runner, with output captured as a pipe would see it.
"""

from __future__ import annotations

import json
import socket

import httpx
import pandas as pd
import pytest
from elicit_helpers import openai_model, sim_model, write_study_yaml
from typer.testing import CliRunner

from valuesurvey.cli import app
from valuesurvey.elicit import ElicitConfig, run_elicitation
from valuesurvey.elicit.store import ResponseStore

FAST = ElicitConfig(timeout=2.0, connect_timeout=1.0, max_retries=2, backoff_base=0.01, backoff_cap=0.02)
PLANNED = 19 * 2  # wvs7 × 2 repetitions (en, no persona)


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VALUESURVEY_TEST_KEY", "sk-test-0000")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed when the block ends: connections are refused


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("fault", "kind", "status"),
    [("401", "auth", 401), ("404", "not_found", 404), ("html", "html", 200)],
)
def test_a_model_that_cannot_succeed_stops_after_its_first_answer(serve, make_study, fault, kind, status):
    server = serve(faults=(fault,), fault_rate=1.0)
    study = make_study(models=[openai_model(server.base_url, max_concurrency=8)])
    summary = run_elicitation(study, progress=False, config=FAST)
    assert len(server.log) == 1  # the first request goes alone; its answer stops the model
    assert summary.failed == PLANNED and summary.not_sent == PLANNED - 1
    failures = summary.failures.set_index("failure")
    assert failures.loc[kind, "requests"] == 1 and failures.loc["not_sent", "requests"] == PLANNED - 1
    assert "loopback" in summary.stopped
    with ResponseStore.open(study.paths.responses) as store:
        rows = store.frame()
        attempts = store.attempts_frame()
    assert len(rows) == 1 and rows.loc[0, "error_kind"] == kind and rows.loc[0, "attempts"] == 1
    assert attempts["http_status"].tolist() == [status]
    runlog = json.loads(summary.runlog.read_text())  # type: ignore[union-attr]
    assert runlog["status"] == "completed" and runlog["failed"] == PLANNED
    assert runlog["not_sent"] == PLANNED - 1


def test_html_is_reported_as_html_not_as_malformed_json(serve, make_study) -> None:
    server = serve(faults=("html",), fault_rate=1.0)
    study = make_study(models=[openai_model(server.base_url)])
    summary = run_elicitation(study, progress=False, config=FAST)
    message = summary.failures.set_index("failure").loc["html", "first_message"]
    assert "an HTML page ('Welcome to nginx!')" in message and "base_url" in message
    assert "malformed" not in message and "<html" not in message


def test_a_401_stops_the_model_but_not_the_others(serve, make_study) -> None:
    good, bad = serve(), serve(faults=("401",), fault_rate=1.0)
    study = make_study(
        models=[openai_model(bad.base_url, "bad", max_concurrency=4), openai_model(good.base_url, "good")]
    )
    summary = run_elicitation(study, progress=False, config=FAST)
    assert len(bad.log) == 1 and len(good.log) == PLANNED
    assert set(summary.stopped) == {"bad"}
    by_model = summary.failures.groupby("model")["requests"].sum()
    assert by_model.to_dict() == {"bad": PLANNED}
    ratings = pd.read_parquet(study.paths.llm_ratings)
    assert (ratings[ratings["model"] == "good"]["status"] == "ok").sum() == PLANNED


def test_an_unreachable_server_stops_after_the_first_request_has_used_its_retries(make_study) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    study = make_study(models=[openai_model(url, max_concurrency=8)])
    summary = run_elicitation(study, progress=False, config=FAST)
    with ResponseStore.open(study.paths.responses) as store:
        attempts = store.attempts_frame()
    assert len(attempts) == 3  # one request: the first attempt and max_retries=2 retries
    assert summary.failed == PLANNED and summary.not_sent == PLANNED - 1
    message = summary.failures.set_index("failure").loc["transient", "first_message"]
    assert message.count(f"POST {url}/chat/completions") == 1 and "connection failed" in message
    assert "\n" not in message


def test_garbage_bodies_are_retried_then_stop_the_model(serve, make_study) -> None:
    server = serve(faults=("garbage",), fault_rate=1.0, fault_times=99)
    study = make_study(models=[openai_model(server.base_url, max_concurrency=4)])
    summary = run_elicitation(study, progress=False, config=FAST)
    assert len(server.log) == 3 and summary.failed == PLANNED
    message = summary.failures.set_index("failure").loc["transient", "first_message"]
    assert "is not JSON (3 bytes starting 'OK')" in message


def test_a_server_that_dies_mid_run_stops_the_model_after_consecutive_failures(make_study) -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) <= 5:
            body = {"choices": [{"message": {"content": "3"}, "finish_reason": "stop"}], "usage": {}}
            return httpx.Response(200, json=body)
        return httpx.Response(503, json={"error": {"message": "down"}})

    study = make_study(models=[openai_model("http://127.0.0.1:9/v1", max_concurrency=1)])
    config = FAST.merge(ElicitConfig(max_retries=1, max_consecutive_failures=4))
    summary = run_elicitation(study, progress=False, config=config, transport=httpx.MockTransport(handler))
    # 5 answers; then while retries are pending new requests wait (after 3 failed attempts in a row),
    # so the dead server sees a few requests and their retries, not all 33 left, before the stop.
    attempted = summary.failed - summary.not_sent
    assert 4 <= attempted <= 10 and len(calls) <= 5 + 2 * attempted
    assert "4 requests in a row failed" in summary.stopped["loopback"]
    assert summary.not_sent == PLANNED - 5 - attempted


def test_per_request_rejections_do_not_stop_the_model(serve, make_study) -> None:
    server = serve(faults=("400",), fault_rate=1.0)
    study = make_study(models=[openai_model(server.base_url)])
    summary = run_elicitation(study, progress=False, config=FAST)
    assert len(server.log) == PLANNED and summary.not_sent == 0 and summary.stopped == {}
    assert summary.failures.to_dict(orient="records") == [
        {
            "model": "loopback",
            "failure": "rejected",
            "requests": PLANNED,
            "first_message": "model 'loopback' HTTP 400: injected fault 400",
        }
    ]


# --------------------------------------------------------------------------------------------- the CLI


def test_cli_exit_code_and_failure_table_when_every_request_fails(serve, tmp_path) -> None:
    server = serve(faults=("401",), fault_rate=1.0)
    study = write_study_yaml(tmp_path / "s", models=[openai_model(server.base_url)])
    code, out = _cli("elicit", str(study), "--quiet")
    assert code == 3
    assert "failed requests of run" in out and "not_sent" in out and "auth" in out
    assert f"{PLANNED} requests failed or were not sent ({PLANNED - 1} not sent)" in out
    assert "answers stored in" in out and f"{PLANNED:,} answers stored" not in out
    assert len(server.log) == 1


def test_cli_exit_code_zero_when_everything_succeeds(tmp_path) -> None:
    study = write_study_yaml(tmp_path / "s", models=[sim_model()])
    code, out = _cli("elicit", str(study), "-q")
    assert code == 0, out
    assert f"{PLANNED} answers stored" in out  # -q hides the progress display, not the summary


@pytest.mark.parametrize(
    ("base_url", "problem"),
    [
        ("htp://127.0.0.1:8000/v1", "the scheme is 'htp', not http or https"),
        ("http://127.0.0.1:99999/v1", "the port 99999 is not in 1-65535"),
    ],
)
def test_cli_bad_base_url_is_a_config_error_before_anything_is_sent(tmp_path, base_url, problem) -> None:
    study = write_study_yaml(tmp_path / "s", models=[sim_model(), openai_model(base_url, "mine")])
    for command in ("plan", "elicit"):
        code, out = _cli(command, str(study))
        assert code == 1
        lines = out.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in out
        assert lines[0].startswith("error: ") and str(study) in lines[0]
        assert (
            f"model 'mine', field models[1].base_url: '{base_url}' cannot be requested: {problem}" in lines[0]
        )
    assert not (tmp_path / "s" / "responses.sqlite").exists()


def test_cli_unknown_provider_names_file_field_and_valid_providers(tmp_path) -> None:
    model = {**openai_model("http://127.0.0.1:9/v1"), "provider": "openai"}
    study = write_study_yaml(tmp_path / "s", models=[sim_model(), model])
    code, out = _cli("plan", str(study))
    assert code == 1
    assert f"{study}: model 'loopback', field models[1].provider: unknown provider 'openai'" in out
    assert "valid providers: anthropic, llamacpp, openai_compatible, simulated" in out


def test_unknown_provider_in_a_registry_file_names_that_file(tmp_path, monkeypatch) -> None:
    registry = tmp_path / "team.yaml"
    registry.write_text(
        "prices_as_of: '2026-01-01'\nmodels:\n  - {id: team-llm, provider: openia, origin: US, company: T}\n"
    )
    monkeypatch.setenv("VALUESURVEY_REGISTRY", str(registry))
    study = write_study_yaml(tmp_path / "s", models=[{"id": "team-llm"}])
    code, out = _cli("plan", str(study))
    assert code == 1
    assert f"{registry}: field models[team-llm].provider: unknown provider 'openia'" in out
    assert "(did you mean openai_compatible?)" in out or "valid providers" in out


def test_plan_table_is_not_cut_when_output_is_not_a_terminal(tmp_path) -> None:
    long_id = "a-model-with-a-rather-long-identifier-for-the-plan-table"
    study = write_study_yaml(tmp_path / "s", models=[sim_model(f"sim-{long_id}")])
    code, out = _cli("plan", str(study))
    assert code == 0
    assert f"sim-{long_id}" in out and "est_cost_usd" in out
    assert max(len(line) for line in out.splitlines()) > 120  # one row per model, whole


def test_cli_run_exits_3_when_its_elicitation_left_requests_failed(serve, tmp_path) -> None:
    server = serve(faults=("401",), fault_rate=1.0)
    study = write_study_yaml(tmp_path / "s", models=[openai_model(server.base_url)])
    code, out = _cli("run", str(study), "--stages", "elicit", "-q")
    assert code == 3, out
    assert "partial (run 'valuesurvey resume' to complete): elicit" in out
    assert f"{PLANNED} requests failed or were not sent" in out
    assert len(server.log) == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"timeout": "soon"}, "options.timeout: expected a number of seconds > 0, got 'soon'"),
        ({"timeout": 0}, "options.timeout: expected a number of seconds > 0, got 0"),
        ({"max_retries": -1}, "options.max_retries: expected an integer >= 0, got -1"),
    ],
)
def test_cli_bad_transport_option_is_a_config_error(tmp_path, options, message) -> None:
    study = write_study_yaml(tmp_path / "s", models=[openai_model("http://127.0.0.1:9/v1", options=options)])
    code, out = _cli("plan", str(study))
    assert code == 1 and out.strip().splitlines() == [
        f"error: {study}: model 'loopback', field models[0].{message}"
    ]
