"""A planted API key appears in no output: store (and its WAL), parquet, run log, logs, exceptions."""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import pytest
from elicit_helpers import openai_model, write_study_yaml

from valuesurvey.elicit import ElicitConfig, run_elicitation
from valuesurvey.elicit.store import ResponseStore

# Made at run time so that no key-shaped literal is tracked in the repository.
PLANTED = "sk-" + "planted-" + secrets.token_hex(12)
FAST = ElicitConfig(timeout=0.5, max_retries=2, backoff_base=0.01, backoff_cap=0.02)


def _scan(root: Path) -> list[Path]:
    """Files under ``root`` whose bytes contain the key (or a long prefix of it)."""
    needles = [PLANTED.encode(), PLANTED[:16].encode()]
    return [p for p in root.rglob("*") if p.is_file() and any(n in p.read_bytes() for n in needles)]


def test_planted_key_is_sent_but_never_written(serve, make_study, monkeypatch, caplog, capsys) -> None:
    monkeypatch.setenv("VALUESURVEY_TEST_KEY", PLANTED)
    caplog.set_level(logging.DEBUG)
    # The server checks the key, so a completed run proves the key was really sent.
    server = serve(api_key=PLANTED, faults=("500", "429", "reset"), fault_rate=0.5)
    study = make_study(models=[openai_model(server.base_url)])
    summary = run_elicitation(study, progress=True, config=FAST)
    assert int(summary.per_model.loc[0, "ok"]) == 38
    with ResponseStore.open(study.paths.responses) as store:
        assert not store.frame()["request_json"].str.contains("Authorization").any()
    assert _scan(study.paths.root) == []
    captured = capsys.readouterr()
    assert PLANTED[:16] not in captured.out + captured.err + caplog.text


def test_key_echoed_by_provider_is_redacted(serve, make_study, monkeypatch, caplog) -> None:
    monkeypatch.setenv("VALUESURVEY_TEST_KEY", PLANTED)
    caplog.set_level(logging.DEBUG)
    server = serve(api_key="sk-the-right-one")  # rejects ours and echoes it back in the 401 message
    study = make_study(models=[openai_model(server.base_url)])
    run_elicitation(study, progress=False, config=FAST, limit=2)
    with ResponseStore.open(study.paths.responses) as store:
        rows = store.frame()
        attempts = store.attempts_frame()
    assert set(rows["status"]) == {"error"}
    assert rows["error"].str.contains("Incorrect API key provided: [REDACTED]", regex=False).all()
    assert attempts["message"].str.contains("[REDACTED]", regex=False).all()
    assert _scan(study.paths.root) == []
    assert PLANTED[:16] not in caplog.text


def test_missing_key_fails_before_sending(serve, make_study, monkeypatch) -> None:
    monkeypatch.delenv("VALUESURVEY_TEST_KEY", raising=False)
    server = serve()
    study = make_study(models=[openai_model(server.base_url)])
    with pytest.raises(Exception, match="VALUESURVEY_TEST_KEY is not set"):
        run_elicitation(study, progress=False)
    assert server.log == []


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("sk-abc\r\nX-Injected: yes", "a line break (CR or LF) at position 7"),
        ("sk-abc\n", "a line break (CR or LF) at position 7"),
        ("sk-ünïcode-key", "a non-ASCII character at position 4"),
        ("sk-abc def", "whitespace at position 7"),
    ],
    ids=["crlf-injection", "trailing-newline", "non-ascii", "space"],
)
def test_a_key_that_cannot_be_a_header_fails_at_start_naming_the_variable_not_the_key(
    serve, tmp_path, monkeypatch, key, problem
) -> None:
    from typer.testing import CliRunner

    from valuesurvey.cli import app

    monkeypatch.setenv("VALUESURVEY_TEST_KEY", key)
    server = serve()
    study = write_study_yaml(tmp_path / "s", models=[openai_model(server.base_url)])
    result = CliRunner().invoke(app, ["elicit", str(study), "--quiet"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert lines == [
        "error: model 'loopback': the API key in environment variable VALUESURVEY_TEST_KEY cannot be sent "
        f"in an HTTP header: {problem}; set the variable to the bare key"
    ]
    assert key.strip() not in result.output and "sk-abc" not in result.output
    assert server.log == []  # nothing was sent, so no header was injected anywhere


def test_an_extra_header_that_would_inject_another_is_a_config_error(make_study) -> None:
    from valuesurvey.elicit import plan_study
    from valuesurvey.errors import ConfigError

    model = openai_model(
        "http://127.0.0.1:9/v1", options={"extra_headers": {"X-Team": "a\r\nX-Injected: yes"}}
    )
    with pytest.raises(
        ConfigError, match=r"field models\[0\]\.options\.extra_headers\.X-Team: cannot be sent"
    ):
        plan_study(make_study(models=[model]))
