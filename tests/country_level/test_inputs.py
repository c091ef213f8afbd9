"""The analysis's inputs: respondents by country from the humans table, LLM answer distributions
from repetitions or stored logprobs, and the errors a bad table gets."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from valuesurvey.country_level import (
    CountryLevelConfig,
    country_level,
    llm_conditions,
    respondents_by_country,
)
from valuesurvey.errors import DataError

ITEMS = ["q1", "q2", "q3"]


def _humans(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["participant", "nationality", "item", "rating", "weight"])


def test_respondents_are_split_by_country_and_keyed_by_nationality_and_id() -> None:
    # the same participant id in two countries is two people
    humans = _humans(
        [
            ("1", "NA", "q1", 2.0, 1.5),
            ("1", "NA", "q2", 3.0, 1.5),
            ("1", "DE", "q1", 4.0, 2.0),
            ("1", "DE", "q3", 5.0, 2.0),
        ]
    )
    people = respondents_by_country(humans, ITEMS, (1, 5))
    assert list(people) == ["NA", "DE"]  # Namibia's code is a country, not a missing value
    np.testing.assert_array_equal(people["NA"].ratings, [[2.0, 3.0, np.nan]])
    np.testing.assert_array_equal(people["DE"].ratings, [[4.0, np.nan, 5.0]])
    assert people["DE"].weights.tolist() == [2.0]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([("1", "DE", "q1", 2.5, 1.0)], "not a point of the scale 1-5"),
        ([("1", "DE", "q1", 2.0, 0.0)], "weight must be a positive number"),
        ([("1", "DE", "q1", 2.0, 1.0), ("1", "DE", "q1", 3.0, 1.0)], "same item in more than one row"),
        ([("1", "DE", "q1", 2.0, 1.0), ("1", "DE", "q2", 3.0, 2.0)], "weight differs between their rows"),
    ],
)
def test_a_bad_humans_table_is_a_data_error_naming_file_and_column(rows, message) -> None:
    with pytest.raises(DataError, match=message) as caught:
        respondents_by_country(_humans(rows), ITEMS, (1, 5), source="humans/toy.parquet")
    assert str(caught.value).startswith("humans/toy.parquet: column ")


def test_a_missing_column_is_named() -> None:
    with pytest.raises(DataError, match="'weight'"):
        respondents_by_country(_humans([("1", "DE", "q1", 2.0, 1.0)]).drop(columns="weight"), ITEMS, (1, 5))


def _ratings(**extra) -> pd.DataFrame:
    base = {
        "model": "m",
        "origin": "US",
        "company": "x",
        "instrument": "toy",
        "language": "en",
        "persona": "none",
    }
    return pd.DataFrame([{**base, **row} for row in extra["rows"]])


def test_distributions_from_repetitions() -> None:
    rows = [
        {"rep": r, "item": item, "rating": rating, "status": "ok"}
        for item, ratings in (("q1", [1, 1, 2, 5]), ("q2", [3, 3, 3, 3]), ("q3", [4, 5, 5, 5]))
        for r, rating in enumerate(ratings)
    ]
    rows.append({"rep": 4, "item": "q1", "rating": np.nan, "status": "refusal"})
    c = llm_conditions(_ratings(rows=rows), ITEMS, (1, 5), instrument="toy")
    np.testing.assert_allclose(c.distributions[0, 0], [0.5, 0.25, 0, 0, 0.25])
    np.testing.assert_allclose(c.means[0], [2.25, 3.0, 4.75])
    assert c.n_answers[0].tolist() == [4, 4, 4] and c.sources.tolist() == ["repetitions"]


def test_distributions_from_stored_logprobs() -> None:
    probabilities = {"1": 0.05, "2": 0.15, "3": 0.5, "4": 0.2, "5": 0.05}  # scale mass 0.95
    rows = [
        {"rep": 0, "item": item, "rating": 3.05, "status": "ok", "answer_mode": "logprobs",
         "probabilities": json.dumps(probabilities), "scale_mass": 0.95}
        for item in ITEMS
    ]  # fmt: skip
    c = llm_conditions(_ratings(rows=rows), ITEMS, (1, 5), instrument="toy")
    expected = np.array(list(probabilities.values())) / 0.95
    np.testing.assert_allclose(c.distributions[0, 1], expected, atol=1e-12)
    assert c.sources.tolist() == ["logprobs"]


def test_an_expected_value_without_its_distribution_is_refused() -> None:
    rows = [{"rep": 0, "item": item, "rating": 3.4, "status": "ok"} for item in ITEMS]
    with pytest.raises(DataError, match="not a scale point and has no probabilities"):
        llm_conditions(_ratings(rows=rows), ITEMS, (1, 5), instrument="toy")


def test_a_condition_refusing_an_item_in_every_repetition_is_left_out_and_said() -> None:
    rng = np.random.default_rng(0)
    people = [
        (f"p{i}", c, item, float(rng.integers(1, 6)), 1.0)
        for c in ("US", "DE", "JP")
        for i in range(40)
        for item in ITEMS
    ]
    rows = []
    for persona in ("none", "us"):
        for r in range(3):
            for item, value in zip(ITEMS, (1, 3, 5), strict=True):
                refused = persona == "us" and item == "q2"
                rows.append({"persona": persona, "rep": r, "item": item, "rating": np.nan if refused else float(value),
                             "status": "refusal" if refused else "ok"})  # fmt: skip
    tables = country_level(
        _humans(people), _ratings(rows=rows), instrument="toy", items=ITEMS, scale=(1, 5),
        config=CountryLevelConfig(min_n=10, n_boot=100),
    )  # fmt: skip
    assert set(tables.similarity["condition"]) == {"en/none"}
    left_out = tables.exclusions.query("kind == 'llm_condition'")
    assert left_out[["model", "condition", "item"]].values.tolist() == [["m", "en/us", "q2"]]
    assert "refused_all_reps" in left_out["reason"].iloc[0]


def test_the_profile_distance_is_the_rms_of_mean_z_profiles() -> None:
    rng = np.random.default_rng(5)
    means = {"US": [1.0, 3.0, 5.0], "DE": [2.0, 3.0, 4.0], "JP": [5.0, 3.0, 1.0]}
    people = [
        (f"p{i}", c, item, float(np.clip(round(m + rng.normal(0, 1)), 1, 5)), 1.0)
        for c, profile in means.items()
        for i in range(80)
        for item, m in zip(ITEMS, profile, strict=True)
    ]
    rows = [
        {"rep": r, "item": item, "rating": float(v), "status": "ok"}
        for r in range(3)
        for item, v in zip(ITEMS, (1, 3, 5), strict=True)
    ]
    tables = country_level(
        _humans(people), _ratings(rows=rows), instrument="toy", items=ITEMS, scale=(1, 5),
        config=CountryLevelConfig(min_n=10, n_boot=200, distance="profile"),
    )  # fmt: skip
    frame = _humans(people)
    wide = frame.pivot_table(index=["nationality", "participant"], columns="item", values="rating")[ITEMS]
    z = wide.sub(wide.mean(axis=1), axis=0).div(wide.std(axis=1), axis=0).dropna()
    profile = z.groupby(level="nationality").mean()
    by_hand = {c: float(np.sqrt(((profile.loc[c] - profile.loc["US"]) ** 2).mean())) for c in ("DE", "JP")}
    culture = tables.culture.set_index("country")
    assert set(culture["metric"]) == {"profile"} and culture.loc["US", "estimate"] == 0
    for country, value in by_hand.items():
        assert culture.loc[country, "estimate"] == pytest.approx(value, abs=1e-10)
    assert culture.loc["JP", "estimate"] > culture.loc["DE", "estimate"]
