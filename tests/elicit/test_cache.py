"""The response cache shared across studies: a second study asking the same model the same prompts
sends nothing; what defines an answer is the key; stats and prune."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from elicit_helpers import BATCH_KEY, batch_model, openai_model, sim_model, write_study_yaml
from typer.testing import CliRunner

from valuesurvey.cli import app
from valuesurvey.elicit import ElicitConfig, plan_study, run_elicitation
from valuesurvey.elicit.cache import CACHE_FILE, ResponseCache, cache_dir_for, cache_key
from valuesurvey.elicit.store import ResponseStore
from valuesurvey.study import load_study

FAST = ElicitConfig(backoff_base=0.01, backoff_cap=0.05, max_retries=2)


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VALUESURVEY_TEST_KEY", "sk-test")
    monkeypatch.delenv("VALUESURVEY_CACHE", raising=False)


def _rows(study) -> pd.DataFrame:
    with ResponseStore.open(study.paths.responses) as store:
        return store.frame()


def _study(tmp_path: Path, sub: str, *models: dict, **fields):
    return load_study(write_study_yaml(tmp_path / sub, name=sub, models=list(models), **fields))


def test_a_second_study_with_the_same_model_and_items_sends_nothing(serve, tmp_path) -> None:
    server = serve()
    cache = tmp_path / "cache"
    first = _study(tmp_path, "first", openai_model(server.base_url, model_id="gpt-a"), cache=str(cache))
    run_elicitation(first, progress=False, config=FAST)
    sent = len(server.log)
    assert sent == 38

    # Another study, another name for the same API model, the cache named by the environment.
    second = _study(tmp_path, "second", openai_model(server.base_url, model_id="gpt-b"))
    summary = run_elicitation(second, progress=False, config=FAST, cache=cache)
    assert len(server.log) == sent  # 0 requests sent
    assert summary.cached == 38 and summary.failed == 0
    rows = _rows(second)
    assert len(rows) == 38 and set(rows["source"]) == {"cache"} and rows["cost_usd"].eq(0).all()
    assert rows["cache_key"].notna().all() and set(rows["model"]) == {"gpt-b"}
    firsts = _rows(first).set_index("request_json")
    for row in rows.itertuples():
        # the same answers, interpreted again, and the reuse recorded in the study's store
        assert row.raw_text == firsts.loc[row.request_json.replace('"gpt-b"', '"gpt-a"'), "raw_text"]
    ratings = pd.read_parquet(second.paths.llm_ratings)
    assert len(ratings) == 38 and ratings["rating"].eq(3.0).all()
    with ResponseCache.open(cache) as opened:
        stats = opened.stats()
    assert stats[["entries", "hits", "studies"]].iloc[0].tolist() == [38, 38, 1]


def test_what_defines_an_answer_is_the_key(serve, tmp_path) -> None:
    server = serve()
    cache = tmp_path / "cache"
    base = openai_model(server.base_url)
    run_elicitation(_study(tmp_path, "a", base, cache=str(cache)), progress=False, config=FAST)
    sent = len(server.log)
    hotter = _study(tmp_path, "b", base, cache=str(cache), generation={"temperature": 0.7, "max_tokens": 8})
    assert run_elicitation(hotter, progress=False, config=FAST).cached == 0
    assert len(server.log) == 2 * sent  # another temperature: another answer, paid
    other_model = _study(tmp_path, "c", {**base, "api_model": "test-model-2"}, cache=str(cache))
    assert run_elicitation(other_model, progress=False, config=FAST).cached == 0
    more_reps = _study(tmp_path, "d", base, cache=str(cache), repetitions=3)
    summary = run_elicitation(more_reps, progress=False, config=FAST)
    assert summary.cached == 38 and len(server.log) == 3 * sent + 19  # only the new repetition sent
    plan = plan_study(more_reps).models[0]
    keys = {cache_key(r, plan.provider)[0] for r in plan.ratings}
    assert len(keys) == 57  # every repetition its own entry, even without a seed


def test_batch_answers_are_cached_and_reused_live(batch_serve, tmp_path, monkeypatch) -> None:
    server = batch_serve()
    cache = tmp_path / "cache"
    batched = _study(
        tmp_path,
        "batched",
        batch_model(server, "openai", options={"batch_poll_seconds": 0.02}),
        cache=str(cache),
    )
    run_elicitation(batched, progress=False, config=FAST)
    assert len(server.stats()["submitted"]["openai"]) == 38
    monkeypatch.setenv("VALUESURVEY_TEST_KEY", BATCH_KEY)
    live = _study(tmp_path, "live", openai_model(server.openai_url), cache=str(cache))
    summary = run_elicitation(live, progress=False, config=FAST)
    assert summary.cached == 38 and server.stats()["live"] == {}
    with ResponseCache.open(cache) as opened:
        sources = {row[0] for row in opened._db.execute("SELECT source FROM entries")}
    assert sources == {"batch"}


def test_ranking_re_asks_come_from_the_cache_too(tmp_path) -> None:
    cache = tmp_path / "cache"
    fields = {"instruments": ["ai_values"], "ranking": {"repetitions": 6, "languages": ["en"]}}
    model = sim_model(invalid_rate=0.5)
    first = _study(tmp_path, "first", model, cache=str(cache), **fields)
    run_elicitation(first, progress=False)
    asked = _rows(first)
    assert (asked["attempt"] > 0).any()  # some rankings were invalid and asked again
    second = _study(tmp_path, "second", model, cache=str(cache), **fields)
    summary = run_elicitation(second, progress=False)
    rows = _rows(second)
    assert set(rows["source"]) == {"cache"} and summary.cached == len(rows) == len(asked)
    assert sorted(rows["key"]) == sorted(asked["key"])


def test_no_cache_leaves_it_out(serve, tmp_path) -> None:
    server = serve()
    cache = tmp_path / "cache"
    model = openai_model(server.base_url)
    run_elicitation(_study(tmp_path, "a", model, cache=str(cache)), progress=False, config=FAST)
    again = _study(tmp_path, "b", model, cache=str(cache))
    result = CliRunner().invoke(app, ["elicit", str(again.paths.study_yaml), "-q", "--no-cache"])
    assert result.exit_code == 0, result.output
    assert len(server.log) == 76 and set(_rows(again)["source"]) == {"live"}


def test_the_cache_directory_comes_from_study_yaml_or_the_environment(tmp_path, monkeypatch) -> None:
    study = _study(tmp_path, "s", sim_model(), cache="shared-cache")
    assert cache_dir_for(study) == tmp_path / "s" / "shared-cache"
    plain = _study(tmp_path, "p", sim_model())
    assert cache_dir_for(plain) is None
    monkeypatch.setenv("VALUESURVEY_CACHE", str(tmp_path / "env-cache"))
    assert cache_dir_for(plain) == tmp_path / "env-cache"
    assert cache_dir_for(study) == tmp_path / "s" / "shared-cache"  # study.yaml wins


def test_every_answer_is_committed_to_the_cache_as_it_arrives(serve, tmp_path) -> None:
    server = serve(faults=("500",), fault_rate=0.2)
    cache = tmp_path / "cache"
    study = _study(tmp_path, "a", openai_model(server.base_url), cache=str(cache))
    run_elicitation(study, progress=False, config=FAST)
    db = sqlite3.connect(cache / CACHE_FILE)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT COUNT(*) FROM entries").fetchone()[0] == 38
    assert "sk-test" not in "".join(
        r[0] + r[1] for r in db.execute("SELECT request_json, response_json FROM entries")
    )


def test_cache_stats_and_prune(serve, tmp_path) -> None:
    server = serve()
    cache = tmp_path / "cache"
    run_elicitation(
        _study(tmp_path, "a", openai_model(server.base_url), cache=str(cache)), progress=False, config=FAST
    )
    runner = CliRunner()
    stats = runner.invoke(app, ["cache", "stats", "--cache", str(cache)], catch_exceptions=False)
    assert (
        stats.exit_code == 0 and "38 entries, reused 0 times" in stats.output and "test-model" in stats.output
    )
    by_study = runner.invoke(app, ["cache", "stats", "--study", str(tmp_path / "a" / "study.yaml")])
    assert by_study.exit_code == 0 and "38 entries" in by_study.output

    nothing = runner.invoke(app, ["cache", "prune", "--cache", str(cache)])
    assert nothing.exit_code == 1 and "prune needs a filter" in nothing.output
    young = runner.invoke(app, ["cache", "prune", "--cache", str(cache), "--older-than", "1d"])
    assert young.exit_code == 0 and "deleted 0 entries; 38 entries" in young.output
    dry = runner.invoke(
        app, ["cache", "prune", "--cache", str(cache), "--api-model", "test-model", "--dry-run"]
    )
    assert "would delete 38 entries; 38 entries" in dry.output
    gone = runner.invoke(app, ["cache", "prune", "--cache", str(cache), "--api-model", "test-model"])
    assert gone.exit_code == 0 and "deleted 38 entries; 0 entries" in gone.output
    bad = runner.invoke(app, ["cache", "prune", "--cache", str(cache), "--older-than", "soon"])
    assert bad.exit_code == 1 and "duration 'soon'" in bad.output


def test_cache_commands_without_a_cache_say_so(tmp_path) -> None:
    result = CliRunner().invoke(app, ["cache", "stats"])
    assert result.exit_code == 1
    assert (
        "no response cache: give --cache DIR or --study STUDY.yaml, or set VALUESURVEY_CACHE" in result.output
    )
    missing = CliRunner().invoke(app, ["cache", "stats", "--cache", str(tmp_path / "none")])
    assert missing.exit_code == 1 and "no such cache directory" in missing.output


def test_a_file_that_is_not_a_cache_is_refused(tmp_path) -> None:
    (tmp_path / CACHE_FILE).write_text("not sqlite at all, just text " * 100)
    with pytest.raises(Exception, match="not a valuesurvey response cache"):
        ResponseCache.open(tmp_path)
