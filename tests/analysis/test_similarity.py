"""Vectors, z-scores, cosine, exclusions and zero variance against hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from valuesurvey.similarity import (
    LLM_KEYS,
    PERSON_KEYS,
    item_means,
    leave_out_zcosine,
    llm_exclusions,
    pair_similarity,
    person_matrix,
    reference_similarity,
    zcosine_matrix,
    zero_variance_report,
    zscore,
    zscore_rows,
)


def _people(rows: dict[tuple[str, str], list[float]], items: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        list(rows.values()), columns=items, index=pd.MultiIndex.from_tuples(list(rows), names=PERSON_KEYS)
    )


def _llms(rows: dict[tuple[str, str, str, str], list[float]], items: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        list(rows.values()), columns=items, index=pd.MultiIndex.from_tuples(list(rows), names=LLM_KEYS)
    )


def test_zscore_by_hand() -> None:
    # [2, 4, 9]: mean 5, sample sd sqrt((9 + 1 + 16) / 2) = sqrt(13)
    z = zscore_rows(np.array([[2.0, 4.0, 9.0]]))
    s = math.sqrt(13)
    np.testing.assert_allclose(z, [[-3 / s, -1 / s, 4 / s]])


def test_cosine_of_zscores_by_hand() -> None:
    # person [1, 2, 3] -> z [-1, 0, 1]; LLM [5, 1, 3] -> z [1, -1, 0] (sd 2)
    # cosine = (-1*1 + 0*-1 + 1*0) / (sqrt(2) * sqrt(2)) = -0.5
    out = zcosine_matrix(np.array([[1.0, 2.0, 3.0]]), np.array([[5.0, 1.0, 3.0]]))
    assert out[0, 0] == pytest.approx(-0.5)


def test_long_zscore_matches_wide_and_flags_zero_variance() -> None:
    data = pd.DataFrame(
        {"p": ["a"] * 3 + ["b"] * 3, "item": list("xyz") * 2, "rating": [2.0, 4.0, 9.0, 3.0, 3.0, 3.0]}
    )
    out = zscore(data, subject="p")
    np.testing.assert_allclose(out["z"][:3], zscore_rows(np.array([[2.0, 4.0, 9.0]]))[0])
    assert out["zero_variance"].tolist() == [False] * 3 + [True] * 3
    assert out["z"][3:].isna().all()
    with pytest.raises(ValueError, match="nan_policy"):
        zscore(data.assign(rating=[1.0, np.nan, 2.0, 1.0, 2.0, 3.0]), subject="p")


def test_item_means_average_reps_and_handle_logprobs_single_rep() -> None:
    ratings = pd.DataFrame(
        {
            "model": "m", "origin": "US", "instrument": "wvs7", "language": "en", "persona": "none",
            "rep": [0, 1, 2, 0], "item": ["Q177", "Q177", "Q177", "Q178"],
            "rating": [2.0, 4.0, np.nan, 3.25], "status": ["ok", "ok", "invalid", "ok"],
        }
    )  # fmt: skip
    means = item_means(ratings, instrument="wvs7").set_index("item")
    assert means.loc["Q177", "mean_rating"] == 3.0  # invalid repetition ignored
    assert means.loc["Q177", "n_reps"] == 3 and means.loc["Q177", "n_invalid"] == 1
    assert means.loc["Q178", "mean_rating"] == 3.25  # logprobs: one rep whose rating is the expected value


def test_exclusion_rule_all_reps_refused_versus_some() -> None:
    rows = []
    for rep in range(3):
        rows.append(("m1", "Q1", np.nan, "refusal"))  # refused in all reps -> excluded
        rows.append(("m1", "Q2", 5.0, "ok"))
        rows.append(("m2", "Q1", np.nan if rep < 2 else 4.0, "refusal" if rep < 2 else "ok"))  # one valid rep
        rows.append(("m2", "Q2", 5.0, "ok"))
        rows.append(("m3", "Q1", np.nan, "refusal" if rep == 0 else "invalid"))  # mixture, no valid rep
        rows.append(("m3", "Q2", 5.0, "ok"))
    ratings = pd.DataFrame(rows, columns=["model", "item", "rating", "status"]).assign(
        origin="CN", language="zh", persona="none", rep=0
    )
    excluded = llm_exclusions(item_means(ratings), ["Q1", "Q2"])
    assert excluded[["model", "item", "reason"]].values.tolist() == [
        ["m1", "Q1", "refused_all_reps"],
        ["m3", "Q1", "no_valid_rating"],
    ]


def test_person_matrix_lists_incomplete_people() -> None:
    humans = pd.DataFrame(
        {
            "participant": ["a", "a", "b", "b"], "nationality": ["CN", "CN", "US", "US"],
            "item": ["x", "y", "x", "y"], "rating": [1.0, 2.0, 3.0, np.nan], "weight": 1.0,
        }
    )  # fmt: skip
    complete, incomplete = person_matrix(humans, ["x", "y"])
    assert complete.index.get_level_values("participant").tolist() == ["a"]
    assert incomplete[["participant", "n_missing"]].values.tolist() == [["b", 1]]


def test_zero_variance_pairs_are_nan_and_reported_not_dropped() -> None:
    items = ["a", "b", "c"]
    people = _people({("p1", "CN"): [2.0, 2.0, 2.0], ("p2", "US"): [1.0, 2.0, 4.0]}, items)
    llms = _llms(
        {("m", "US", "en", "none"): [1.0, 3.0, 2.0], ("k", "CN", "zh", "none"): [4.0, 4.0, 1.0]}, items
    )
    sim = pair_similarity(people, llms)
    assert len(sim) == 4
    assert sim[sim["participant"] == "p1"]["cosine"].isna().all()
    assert sim[sim["participant"] == "p2"]["cosine"].notna().all()
    # Removing item c leaves k = [4, 4]: zero variance at that level only.
    removals = {"none": [], "c": ["c"]}
    report = zero_variance_report(people, llms, removals=removals)
    assert sorted(map(tuple, report[["kind", "removed"]].values.tolist())) == [
        ("llm", "c"), ("person", "c"), ("person", "none"),
    ]  # fmt: skip


def test_pair_similarity_layout_and_values() -> None:
    rng = np.random.default_rng(3)
    items = [f"i{k}" for k in range(6)]
    people = _people({(f"p{i}", "CN" if i % 2 else "US"): list(rng.normal(size=6)) for i in range(4)}, items)
    llms = _llms(
        {(f"m{j}", "US", lang, "none"): list(rng.normal(size=6)) for j in range(2) for lang in ("en", "zh")},
        items,
    )
    removals = {"none": [], "D1": ["i0", "i1"], "D2": ["i5"]}
    sim = pair_similarity(people, llms, removals=removals)
    assert list(sim.columns) == [*PERSON_KEYS, *LLM_KEYS, "removed", "cosine"]
    assert len(sim) == 4 * 4 * 3
    for _, row in sim.sample(10, random_state=1).iterrows():
        keep = [i for i in items if i not in removals[row["removed"]]]
        x = people.loc[(row["participant"], row["nationality"]), keep].to_numpy(dtype=float)
        y = llms.loc[(row["model"], row["origin"], row["language"], row["persona"]), keep].to_numpy(
            dtype=float
        )
        assert row["cosine"] == pytest.approx(np.corrcoef(x, y)[0, 1])


def test_leave_out_without_rezscore_uses_full_vector_zscores() -> None:
    x = np.array([[1.0, 2.0, 3.0, 5.0]])
    y = np.array([[1.0, 3.0, 2.0, 4.0]])
    out = leave_out_zcosine(x, y, {"i2": [1]}, rezscore=False)["i2"][0, 0]
    zx, zy = zscore_rows(x)[0, [0, 2, 3]], zscore_rows(y)[0, [0, 2, 3]]
    assert out == pytest.approx(zx @ zy / np.linalg.norm(zx) / np.linalg.norm(zy))


def test_reference_similarity_against_group_means() -> None:
    items = ["a", "b", "c"]
    people = _people({("p1", "CN"): [1.0, 2.0, 3.0], ("p2", "US"): [3.0, 1.0, 2.0]}, items)
    refs = pd.DataFrame([[1.0, 2.0, 4.0]], columns=items, index=pd.Index(["human_CN"], name="reference"))
    out = reference_similarity(people, refs)
    assert out["cosine"].tolist() == pytest.approx(
        [np.corrcoef([1, 2, 3], [1, 2, 4])[0, 1], np.corrcoef([3, 1, 2], [1, 2, 4])[0, 1]]
    )
