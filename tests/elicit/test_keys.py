"""Request keys hold what defines an answer and nothing else; per-repetition seeds; old stores are
re-keyed, not re-paid."""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from elicit_helpers import openai_model

from valuesurvey.elicit import ElicitConfig, plan_study, run_elicitation
from valuesurvey.elicit.plan import KEY_FIELDS, canonical_json, request_seed
from valuesurvey.elicit.store import SCHEMA_VERSION, ResponseStore

URL = "http://127.0.0.1:8000/v1"
FAST = ElicitConfig(timeout=2.0, max_retries=1, backoff_base=0.01, backoff_cap=0.02)


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VALUESURVEY_TEST_KEY", "sk-test-0000")


def _keys(make_study, name: str, model: dict[str, Any], **fields: Any) -> set[str]:
    return plan_study(make_study(name, models=[model], **fields)).keys()


def _local(**options: Any) -> dict[str, Any]:
    return {"id": "smollm2-local", "options": options}


# ------------------------------------------------------------------------------- which fields


@pytest.mark.parametrize("answer_mode", ["text", "constrained", "logprobs"])
def test_the_key_is_the_hash_of_exactly_these_fields(make_study, answer_mode: str) -> None:
    # Logprobs mode cannot score WVS's 1-10 without continuations (openai_compatible has none): MFQ-2.
    rating_instrument = "mfq2" if answer_mode == "logprobs" else "wvs7"
    study = make_study(
        instruments=[rating_instrument, "ai_values"],
        ranking={"repetitions": 1, "languages": ["en"]},
        answer_mode=answer_mode,
        generation={"temperature": 0.7, "top_p": 0.9, "max_tokens": 8, "seed": 11},
        models=[openai_model(URL, options={"extra_body": {"top_k": 5}, "max_retries": 3})],
    )
    for request in plan_study(study).models[0].requests:
        data = json.loads(request.request_json)
        assert tuple(sorted(data)) == tuple(sorted(KEY_FIELDS))
        assert set(KEY_FIELDS) == {
            "model", "provider", "api_model", "options", "messages", "settings", "answer_mode",
            "constraint", "rep", "attempt",
        }  # fmt: skip
        assert request.key == hashlib.sha256(canonical_json(data).encode()).hexdigest()
        assert (data["model"], data["provider"], data["api_model"]) == (
            "loopback",
            "openai_compatible",
            "test-model",
        )
        assert data["options"] == {"extra_body": {"top_k": 5}}  # max_retries is not in it
        expected = {"temperature", "top_p", "max_tokens", "seed"}
        mode = data["answer_mode"]
        if mode == "logprobs":
            expected.add("top_logprobs")
        assert set(data["settings"]) == expected
        assert data["settings"]["seed"] == request.request.seed is not None
        if request.kind == "rating" and mode == "constrained":
            assert data["constraint"]["response_format"]["json_schema"]["schema"]["properties"]["rating"] == {
                "type": "integer",
                "enum": list(range(1, 11)),
            }
        elif mode == "text":
            assert data["constraint"] is None
        assert "base_url" not in request.request_json and "sk-test" not in request.request_json


TRANSPORT_CHANGES = {
    "base_url port": {"base_url": "http://127.0.0.1:9999/v1"},
    "base_url host": {"base_url": "https://gateway.example.org/openai/v1"},
    "max_retries": {"options": {"max_retries": 0}},
    "timeout": {"options": {"timeout": 5}},
    "connect_timeout": {"options": {"connect_timeout": 1}},
    "http_transport": {"options": {"http_transport": "httpx"}},
    "extra_headers": {"options": {"extra_headers": {"X-Team": "a"}}},
    "max_concurrency": {"max_concurrency": 32},
    "rate limits": {"requests_per_minute": 60, "tokens_per_minute": 10_000},
    "prices": {"price_input_per_mtok": 9.0, "price_output_per_mtok": 9.0},
    "api_key_env": {"api_key_env": "OTHER_KEY"},
    "batch": {"batch": True, "batch_discount": 0.5},
    "batch options": {
        "options": {
            "batch_poll_seconds": 5,
            "batch_requeue": "live",
            "batch_max_requests": 10,
            "batch_max_bytes": 4096,
        }
    },
}


@pytest.mark.parametrize("change", TRANSPORT_CHANGES.values(), ids=TRANSPORT_CHANGES.keys())
def test_how_and_where_a_request_is_sent_does_not_change_its_key(make_study, change) -> None:
    base = openai_model(URL)
    assert _keys(make_study, "a", base) == _keys(make_study, "b", {**base, **change})


@pytest.mark.parametrize(
    "options", [{"parallel": 4}, {"threads": 1}, {"n_ctx": 8192}, {"timeout": 600, "max_retries": 1}]
)
def test_llama_cpp_slots_threads_and_context_do_not_change_keys(make_study, options) -> None:
    assert _keys(make_study, "a", _local()) == _keys(make_study, "b", _local(**options))


ANSWER_CHANGES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "model id": ({"id": "other"}, {}),
    "api_model": ({"api_model": "test-model-2"}, {}),
    "provider": ({"provider": "anthropic"}, {}),
    "extra_body": ({"options": {"extra_body": {"top_k": 5}}}, {}),
    "temperature": ({}, {"generation": {"temperature": 0.5, "max_tokens": 8}}),
    "top_p": ({}, {"generation": {"temperature": 0.0, "top_p": 0.5, "max_tokens": 8}}),
    "max_tokens": ({}, {"generation": {"temperature": 0.0, "max_tokens": 9}}),
    "seed": ({}, {"generation": {"temperature": 0.0, "max_tokens": 8, "seed": 1}}),
    "answer mode": ({}, {"answer_mode": "constrained"}),
    "messages (persona)": ({}, {"personas": ["cn"]}),
}


@pytest.mark.parametrize("change", ANSWER_CHANGES.values(), ids=ANSWER_CHANGES.keys())
def test_what_defines_the_answer_changes_every_key(make_study, change) -> None:
    model_change, study_change = change
    base = openai_model(URL)
    before = _keys(make_study, "a", base)
    after = _keys(make_study, "b", {**base, **model_change}, **study_change)
    assert before.isdisjoint(after)


def test_the_constraint_is_part_of_the_key(make_study) -> None:
    schema = openai_model(URL)
    grammar = {**schema, "options": {"constrained_via": "grammar"}}
    constrained = {"answer_mode": "constrained"}
    assert _keys(make_study, "a", schema, **constrained).isdisjoint(
        _keys(make_study, "b", grammar, **constrained)
    )
    assert _keys(make_study, "c", schema) == _keys(make_study, "d", grammar)  # text mode: no constraint


def test_repetitions_add_keys_and_keep_the_others(make_study) -> None:
    base = openai_model(URL)
    assert _keys(make_study, "a", base, repetitions=2) < _keys(make_study, "b", base, repetitions=3)


def test_model_path_resolves_against_the_study_directory_and_the_key_keeps_the_file_name(
    make_study, tmp_path: Path
) -> None:
    first = make_study("first", models=[_local(model_path="models/tiny.gguf")])
    second = make_study("elsewhere/second", models=[_local(model_path="models/tiny.gguf")])
    model = plan_study(first).models[0].model
    assert model.options["model_path"] == str(tmp_path / "first" / "models" / "tiny.gguf")
    assert plan_study(first).keys() == plan_study(second).keys()
    assert plan_study(first).keys().isdisjoint(_keys(make_study, "third", _local(model_path="other.gguf")))


# ------------------------------------------------------------------------------- seeds


def test_each_repetition_gets_its_own_seed(make_study) -> None:
    def seeds(name: str, seed: int) -> list[int | None]:
        generation = {"temperature": 1.0, "max_tokens": 8, "seed": seed}
        study = make_study(name, repetitions=5, generation=generation, models=[openai_model(URL)])
        return [r.request.seed for r in plan_study(study).models[0].ratings]

    first = seeds("a", 42)
    assert len(set(first)) == len(first) == 19 * 5  # every cell and repetition its own
    assert all(s is not None and 0 <= s < 2**31 for s in first)
    assert seeds("b", 42) == first  # deterministic
    assert set(first).isdisjoint(seeds("c", 43))
    cell = {"kind": "rating", "instrument": "wvs7", "item": "Q177", "language": "en", "persona": "none"}
    assert first[:5] == [request_seed(42, cell, rep) for rep in range(5)]


def test_a_ranking_asked_again_gets_a_new_seed(make_study) -> None:
    study = make_study(
        instruments=["ai_values"],
        ranking={"repetitions": 1, "languages": ["en"]},
        generation={"temperature": 1.0, "max_tokens": 8, "seed": 42},
        models=[openai_model(URL)],
    )
    first = plan_study(study).models[0].rankings[0]
    second = first.with_attempt(1)
    assert second.request.seed != first.request.seed and second.key != first.key
    assert json.loads(second.request_json)["settings"]["seed"] == second.request.seed


def test_seeds_are_sent_and_stored_per_request_and_none_without_a_study_seed(serve, make_study) -> None:
    server = serve()
    seeded = make_study(
        "seeded", repetitions=3, generation={"temperature": 1.0, "max_tokens": 8, "seed": 5},
        models=[openai_model(server.base_url)],
    )  # fmt: skip
    run_elicitation(seeded, progress=False, config=FAST)
    sent = {entry["key"]: entry["seed"] for entry in server.log}
    with ResponseStore.open(seeded.paths.responses) as store:
        stored = dict(store.frame(["key", "seed"]).itertuples(index=False))
    assert sent == {k: int(v) for k, v in stored.items()} and len(set(sent.values())) == 19 * 3
    unseeded = make_study("unseeded", models=[openai_model(server.base_url)])
    before = len(server.log)
    run_elicitation(unseeded, progress=False, config=FAST)
    assert {entry["seed"] for entry in server.log[before:]} == {None}
    with ResponseStore.open(unseeded.paths.responses) as store:
        assert store.frame(["seed"])["seed"].isna().all()


# ------------------------------------------------------------------------------- schema 1 stores

_V1_SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE responses (
    key TEXT PRIMARY KEY, run_id TEXT, model TEXT NOT NULL, provider TEXT, origin TEXT, company TEXT,
    kind TEXT NOT NULL, instrument TEXT, language TEXT, persona TEXT, rep INTEGER, item TEXT,
    attempt INTEGER NOT NULL DEFAULT 0, answer_mode TEXT, request_json TEXT NOT NULL, raw_text TEXT,
    finish_reason TEXT, parsed_value REAL, parsed_order TEXT, probabilities TEXT, status TEXT NOT NULL,
    reason TEXT, input_tokens INTEGER, output_tokens INTEGER, cost_usd REAL, latency_s REAL,
    attempts INTEGER NOT NULL, error TEXT, started_at TEXT, completed_at TEXT
);
CREATE TABLE attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, run_id TEXT, model TEXT NOT NULL,
    number INTEGER NOT NULL, outcome TEXT NOT NULL, http_status INTEGER, message TEXT, latency_s REAL,
    started_at TEXT
);
CREATE TABLE runs (run_id TEXT PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT, info TEXT);
INSERT INTO meta VALUES ('schema_version', '1');
"""
# Schema 1's key: the base URL and every option but these were in it.
_V1_NOT_IN_KEY = {
    "latency",
    "threads",
    "n_ctx",
    "timeout",
    "extra_headers",
    "http_transport",
    "shuffle_ranking_order",
}


def _v1_request_json(new_json: str, base_url: str, options: dict[str, Any], seed: int | None = None) -> str:
    data = json.loads(new_json)
    old = {
        "provider": data["provider"],
        "api_model": data["api_model"],
        "base_url": base_url,
        "options": {k: v for k, v in sorted(options.items()) if k not in _V1_NOT_IN_KEY},
        "messages": data["messages"],
        "settings": {**data["settings"], "seed": seed},
        "answer_mode": data["answer_mode"],
        "rep": data["rep"],
        "attempt": data["attempt"],
    }
    return canonical_json(old)


def _write_v1_store(path: Path, rows: list[tuple[Any, ...]]) -> None:
    db = sqlite3.connect(path)
    db.executescript(_V1_SCHEMA)
    for key, model, mode, text, item, rep, value in rows:
        db.execute(
            "INSERT INTO responses (key, run_id, model, provider, origin, company, kind, instrument, language,"
            " persona, rep, item, attempt, answer_mode, request_json, raw_text, parsed_value, status, attempts,"
            " completed_at) VALUES (?, 'old-run', ?, 'openai_compatible', 'US', 'Loopback', 'rating', 'wvs7',"
            " 'en', 'none', ?, ?, 0, ?, ?, ?, ?, 'ok', 1, '2026-01-01T00:00:00.000+00:00')",
            (key, model, rep, item, mode, text, str(value), value),
        )
        db.execute(
            "INSERT INTO attempts (key, run_id, model, number, outcome) VALUES (?, 'old-run', ?, 1, 'ok')",
            (key, model),
        )
    db.commit()
    db.close()


def test_a_schema_1_store_is_rekeyed_so_that_changing_port_and_retries_resends_nothing(
    serve, make_study, caplog
) -> None:
    caplog.set_level(logging.WARNING)
    server = serve(answer="7")
    old_options = {"max_retries": 6, "timeout": 60}
    # The study as it is now: another port, other retries.
    study = make_study(models=[openai_model(server.base_url, options={"max_retries": 2})])
    planned = plan_study(study).models[0].ratings
    old_url = "http://127.0.0.1:8011/v1"
    rows = []
    for request in planned:
        text = _v1_request_json(request.request_json, old_url, old_options)
        rows.append(
            (
                hashlib.sha256(text.encode()).hexdigest(),
                "loopback",
                "text",
                text,
                request.item,
                request.rep,
                4.0,
            )
        )
    # Answers schema 2 measures differently: a logprobs answer and one asked with one seed for all reps.
    lp = _v1_request_json(planned[0].request_json.replace('"text"', '"logprobs"'), old_url, old_options)
    rows.append((hashlib.sha256(lp.encode()).hexdigest(), "loopback", "logprobs", lp, "Q177", 0, 4.2))
    seeded = _v1_request_json(planned[1].request_json, old_url, old_options, seed=7)
    rows.append((hashlib.sha256(seeded.encode()).hexdigest(), "loopback", "text", seeded, "Q177", 1, 4.0))
    _write_v1_store(study.paths.responses, rows)

    with ResponseStore.open(study.paths.responses) as store:
        assert store.schema_version() == SCHEMA_VERSION == 3
        frame = store.frame()
        attempts = store.attempts_frame()
    assert "upgraded to store schema 2: 38 answers re-keyed" in caplog.text
    assert "1 logprobs/constrained and 1 seeded answers are kept but asked again" in caplog.text
    assert len(frame) == 40 and frame["previous_key"].notna().sum() == 38
    assert set(frame["key"]) >= {r.key for r in planned}
    assert set(attempts["key"]) == set(frame["key"])  # attempts followed their answers

    summary = run_elicitation(study, progress=False, config=FAST)
    assert server.log == [] and summary.sent == 0 and summary.already_stored == 38  # nothing re-paid
    ratings = pd.read_parquet(study.paths.llm_ratings)
    assert len(ratings) == 38 and ratings["rating"].eq(4.0).all()  # the stored answers, not the server's 7
    with sqlite3.connect(study.paths.responses) as db:
        counts = json.loads(db.execute("SELECT value FROM meta WHERE name = 'migration_v1'").fetchone()[0])
    assert counts == {"rekeyed": 38, "not_reused_mode": 1, "not_reused_seed": 1, "kept_duplicate": 0}


def test_two_schema_1_rows_that_are_one_request_now_keep_the_final_answer(make_study) -> None:
    study = make_study(models=[openai_model(URL)])
    request = plan_study(study).models[0].ratings[0]
    rows = []
    for port, value in ((8001, 3.0), (8002, 5.0)):  # the same request asked on two ports
        text = _v1_request_json(request.request_json, f"http://127.0.0.1:{port}/v1", {})
        rows.append((hashlib.sha256(text.encode()).hexdigest(), "loopback", "text", text, "Q177", 0, value))
    _write_v1_store(study.paths.responses, rows)
    with sqlite3.connect(study.paths.responses) as db:
        db.execute(
            "UPDATE responses SET completed_at = '2026-02-01T00:00:00.000+00:00' WHERE parsed_value = 5"
        )
    with ResponseStore.open(study.paths.responses) as store:
        frame = store.frame(["key", "parsed_value", "previous_key"])
    kept = frame[frame["key"] == request.key]
    assert kept["parsed_value"].tolist() == [5.0]  # the later one
    assert Counter(frame["previous_key"].isna()) == Counter({False: 1, True: 1})


def test_a_store_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "responses.sqlite"
    with ResponseStore.open(path):
        pass
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE name = 'schema_version'")
    with pytest.raises(Exception, match=r"newer valuesurvey \(store schema 99"):
        ResponseStore.open(path)
