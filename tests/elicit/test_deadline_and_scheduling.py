"""A deadline per attempt cuts a server dripping its body (both transports); a request waiting for its
retry does not hold a worker; a provider can set its own deadline (the hook local servers use)."""

from __future__ import annotations

import time

import pytest
from elicit_helpers import openai_model

from valuesurvey.elicit import ElicitConfig, plan_study, run_elicitation
from valuesurvey.elicit.providers.openai_compatible import OpenAICompatibleProvider
from valuesurvey.elicit.store import ResponseStore

NO_RETRY = ElicitConfig(max_retries=0, connect_timeout=1.0)


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VALUESURVEY_TEST_KEY", "sk-test-0000")


@pytest.mark.parametrize("http_transport", ["asyncio", "httpx"])
def test_a_server_dripping_its_body_is_cut_at_the_deadline(serve, make_study, http_transport) -> None:
    # One byte every 50 ms: no read ever waits long enough for a read timeout; the body would take ~15 s.
    server = serve(faults=("drip",), fault_rate=1.0, drip_seconds=0.05)
    model = openai_model(server.base_url, options={"timeout": 1.0, "http_transport": http_transport})
    study = make_study(repetitions=1, models=[model])
    t0 = time.monotonic()
    run_elicitation(study, progress=False, config=NO_RETRY, limit=1)
    elapsed = time.monotonic() - t0
    assert elapsed < 5.0, elapsed
    with ResponseStore.open(study.paths.responses) as store:
        attempts = store.attempts_frame()
        rows = store.frame()
    assert len(attempts) == 1 and attempts.loc[0, "outcome"] == "transient"
    assert 0.9 <= attempts.loc[0, "latency_s"] < 2.0
    assert "no complete response within the deadline of 1 s (options.timeout)" in rows.loc[0, "error"]


def test_a_provider_sets_its_own_deadline(serve, make_study, monkeypatch) -> None:
    server = serve(faults=("drip",), fault_rate=1.0, drip_seconds=0.05)
    monkeypatch.setattr(OpenAICompatibleProvider, "deadline", lambda self, request: 0.4)
    study = make_study(repetitions=1, models=[openai_model(server.base_url, options={"timeout": 30})])
    run_elicitation(study, progress=False, config=NO_RETRY, limit=1)
    with ResponseStore.open(study.paths.responses) as store:
        attempts = store.attempts_frame()
    assert 0.35 <= attempts.loc[0, "latency_s"] < 1.5
    assert "deadline of 0.4 s" in attempts.loc[0, "message"]


def test_a_request_waiting_for_its_retry_does_not_hold_the_worker(serve, make_study) -> None:
    probe = make_study("probe", models=[openai_model("http://127.0.0.1:9/v1")])
    third = plan_study(probe).models[0].ratings[2].key  # the keys do not depend on the port
    server = serve(latency=0.02, faults=("503",), fail_keys=(third,), fault_times=1)
    study = make_study(models=[openai_model(server.base_url, max_concurrency=1)])
    config = ElicitConfig(max_retries=2, backoff_base=2.0, jitter=0.0, timeout=5)
    summary = run_elicitation(study, progress=False, config=config)
    assert int(summary.per_model.loc[0, "ok"]) == 38 and summary.failed == 0
    order = [entry["key"] for entry in server.log]
    first, second = [i for i, key in enumerate(order) if key == third]
    # One worker: during the 2 s backoff it served all the other requests (~20 ms each) instead of
    # sleeping; had it slept, the run would take the backoff plus every request, one after another.
    assert second == len(order) - 1 and second - first - 1 == 35, (first, second)
    assert summary.run_seconds < 2.0 + 38 * 0.02
