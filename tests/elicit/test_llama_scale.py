"""The real SmolLM2 on the WVS 1–10 scale in each answer mode: logprobs and constrained agree with
text mode, and an answer "10" is never stored as 1 (the multi-token point "10" = "1" then "0")."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from elicit_helpers import LOCAL_MODEL, skip_without_local_model

from valuesurvey.elicit import run_elicitation
from valuesurvey.elicit.store import ResponseStore

pytestmark = [pytest.mark.llama, pytest.mark.slow]

N_ITEMS = 8  # the first WVS items (Q177-Q184): the plan orders requests by item
LOCAL = LOCAL_MODEL


@pytest.fixture(autouse=True)
def _needs_runtime() -> None:
    skip_without_local_model()


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[str, pd.DataFrame]:
    """One study per answer mode on the same items; the rows of each store."""
    from elicit_helpers import write_study_yaml

    from valuesurvey.study import load_study

    out = {}
    for mode in ("text", "constrained", "logprobs"):
        root = tmp_path_factory.mktemp(mode)
        study = load_study(
            write_study_yaml(
                root,
                instruments=["wvs7"],
                repetitions=1,
                answer_mode=mode,
                models=[LOCAL],
                # Greedy: the same answers on every machine and run, whatever the seeds; SmolLM2
                # then rates 6 of the 8 items in text mode ("1. Stealing property is never just").
                generation={"temperature": 0.0, "max_tokens": 8},
            )
        )
        run_elicitation(study, progress=False, limit=N_ITEMS)
        with ResponseStore.open(study.paths.responses) as store:
            out[mode] = store.frame()
        out[mode + "_table"] = pd.read_parquet(study.paths.llm_ratings)
    return out


def _item_means(rows: pd.DataFrame) -> pd.Series:
    return rows[rows["status"] == "ok"].groupby("item")["parsed_value"].mean()


def test_constrained_and_logprobs_stay_within_one_point_of_text_mode(stores) -> None:
    text = _item_means(stores["text"])
    assert len(text) >= 2, f"text mode gave too few ratings to compare: {stores['text']['raw_text'].tolist()}"
    for mode in ("constrained", "logprobs"):
        other = _item_means(stores[mode]).reindex(text.index)
        assert other.notna().all(), (mode, other)
        gap = abs(other.mean() - text.mean())
        assert gap <= 1.0, (mode, other.round(2).to_dict(), text.round(2).to_dict())


def test_an_answer_ten_is_never_stored_as_one(stores) -> None:
    for mode in ("text", "constrained"):
        rows = stores[mode]
        tens = rows[rows["raw_text"].str.strip().str.match(r"^10(?![0-9])")]
        assert (tens["parsed_value"] == 10).all(), tens[["raw_text", "parsed_value"]]
    rows = stores["logprobs"]
    assert set(rows["status"]) == {"ok"} and set(rows["rep"]) == {0}
    for rec in rows.itertuples():
        probs = {int(k): v for k, v in json.loads(rec.probabilities).items()}
        assert abs(sum(probs.values()) - 1) < 1e-9 and set(probs) <= set(range(1, 11))
        assert rec.parsed_value == pytest.approx(sum(k * p for k, p in probs.items()))
        assert 0 < rec.scale_mass <= 1
        if 1 in probs:  # "1" was scored as a whole answer: its continuation "0" went to 10
            assert 10 in probs, probs
        if rec.raw_text.strip().startswith("10"):
            assert rec.parsed_value > 1.5, rec
    from valuesurvey.elicit.answers import LOW_SCALE_MASS, low_scale_mass_warnings

    if rows["scale_mass"].mean() < LOW_SCALE_MASS:  # SmolLM2 mostly starts with words: warned about
        assert low_scale_mass_warnings(rows)
    table = stores["logprobs_table"]
    assert "scale_mass" in table.columns and table["scale_mass"].between(0, 1).all()


def test_the_constrained_grammar_lets_one_end_where_the_model_stops(stores) -> None:
    raw = stores["constrained"]["raw_text"]
    assert raw.str.fullmatch(r"(10|[1-9])[^0-9]?").all(), raw.tolist()
    assert set(stores["constrained"]["status"]) == {"ok"}
