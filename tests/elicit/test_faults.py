"""A study elicited from a faulty loopback server (real HTTP) completes with every key stored once."""

from __future__ import annotations

import sqlite3

import pandas as pd
import pytest
from elicit_helpers import openai_model

from valuesurvey.elicit import ElicitConfig, plan_study, run_elicitation
from valuesurvey.elicit.store import ResponseStore

FAST = ElicitConfig(timeout=0.5, connect_timeout=1.0, max_retries=4, backoff_base=0.01, backoff_cap=0.05)


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VALUESURVEY_TEST_KEY", "sk-test-0000")


@pytest.mark.parametrize("http_transport", ["asyncio", "httpx"])
def test_every_fault_is_survived_and_every_key_stored_once(serve, make_study, http_transport) -> None:
    faults = ("429", "500", "503", "slow", "reset", "malformed", "empty")
    server = serve(faults=faults, fault_rate=0.6, fault_times=1, retry_after=0.05, slow_seconds=1.5)
    model = openai_model(server.base_url, max_concurrency=8, options={"http_transport": http_transport})
    study = make_study(repetitions=3, models=[model])
    summary = run_elicitation(study, progress=False, config=FAST)

    plan = plan_study(study)
    planned = plan.keys()
    assert summary.planned == len(planned) == 19 * 3
    with ResponseStore.open(study.paths.responses) as store:
        rows = store.frame()
        attempts = store.attempts_frame()
    assert sorted(rows["key"]) == sorted(planned)  # each planned key exactly once
    assert set(rows["status"]) == {"ok"}
    assert (rows["parsed_value"] == 3).all()
    seen_faults = {e["fault"] for e in server.log if e["fault"]}
    assert seen_faults == set(faults), seen_faults
    # Every failed attempt is recorded, typed, and followed by the successful one.
    failed = attempts[attempts["outcome"] != "ok"]
    assert set(failed["outcome"]) == {"rate_limit", "transient"}
    assert len(failed) == sum(1 for e in server.log if e["fault"])
    assert (rows["attempts"] == 2).sum() == len(failed)
    assert int(summary.per_model.loc[0, "retries"]) == len(failed)
    ratings = pd.read_parquet(study.paths.llm_ratings)
    assert len(ratings) == len(planned) and ratings["rating"].eq(3.0).all()


def test_retry_after_is_honoured(serve, make_study) -> None:
    server = serve(faults=("429",), fault_rate=1.0, fault_times=1, retry_after=0.4)
    study = make_study(repetitions=1, models=[openai_model(server.base_url)])
    run_elicitation(
        study, progress=False, config=FAST.merge(ElicitConfig(backoff_cap=5.0)), models=None, limit=2
    )
    by_key: dict[str, list[float]] = {}
    for entry in server.log:
        by_key.setdefault(entry["key"], []).append(entry["t"])
    gaps = [times[1] - times[0] for times in by_key.values()]
    assert len(gaps) == 2 and min(gaps) >= 0.39  # Retry-After 0.4 s, not the 0.01 s backoff


def test_client_errors_are_not_retried_and_report_the_provider_message(serve, make_study) -> None:
    server = serve(faults=("400",), fault_rate=1.0)
    study = make_study(repetitions=1, models=[openai_model(server.base_url)])
    summary = run_elicitation(study, progress=False, config=FAST, limit=3)
    assert len(server.log) == 3  # one attempt each
    with ResponseStore.open(study.paths.responses) as store:
        rows = store.frame()
    assert set(rows["status"]) == {"error"} and set(rows["attempts"]) == {1}
    assert rows["error"].str.contains("HTTP 400: injected fault 400").all()
    assert int(summary.per_model.loc[0, "errors"]) == 3
    # Errors are asked again by the next run (the row is replaced, not duplicated).
    run_elicitation(study, progress=False, config=FAST, limit=3)
    assert len(server.log) == 6
    db = sqlite3.connect(study.paths.responses)
    assert db.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == 3
    assert db.execute("SELECT COUNT(*) FROM attempts").fetchone()[0] == 6


def test_gives_up_after_max_retries(serve, make_study) -> None:
    server = serve(faults=("503",), fault_rate=1.0, fault_times=99)
    study = make_study(repetitions=1, models=[openai_model(server.base_url)])
    run_elicitation(study, progress=False, config=FAST.merge(ElicitConfig(max_retries=2)), limit=1)
    assert len(server.log) == 3
    with ResponseStore.open(study.paths.responses) as store:
        row = next(store.iter_rows())
    assert row.status == "error" and row.attempts == 3 and "HTTP 503" in (row.error or "")
