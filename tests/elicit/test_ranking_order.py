"""``shuffle_ranking_order``: each ranking repetition lists the 25 values in its own fixed order."""

from __future__ import annotations

import pandas as pd
from elicit_helpers import sim_model

from valuesurvey import instruments
from valuesurvey.elicit import plan_study, run_elicitation

RANKING = {"languages": ["en", "zh"], "repetitions": 3, "max_invalid_retries": 0}


def _study(make_study, sub: str, *, shuffle: bool | None, seed: int = 11):
    options = {} if shuffle is None else {"shuffle_ranking_order": shuffle}
    return make_study(
        sub,
        instruments=["wvs7", "ai_values"],
        models=[sim_model(**options)],
        ranking=RANKING,
        generation={"temperature": 0.0, "max_tokens": 8, "seed": seed},
    )


def _listed(request, language: str) -> list[str]:
    """Value ids in the order the user message lists them."""
    inst = instruments.get("ai_values")
    user = request.request.messages[-1]["content"]
    positions = {item.id: user.index(item.text[language]) for item in inst.items}
    return sorted(positions, key=positions.get)


def test_shuffled_orders_are_per_rep_deterministic_and_crossed(make_study) -> None:
    ids = list(instruments.get("ai_values").item_ids)
    mp = plan_study(_study(make_study, "a", shuffle=True)).models[0]
    assert len(mp.rankings) == 2 * 3
    orders = {(r.language, r.rep): _listed(r, r.language) for r in mp.rankings}
    for (_language, rep), order in orders.items():
        assert sorted(order) == sorted(ids)  # a permutation of the 25 values
        assert order == orders[("en", rep)]  # the same order in both languages of a repetition
        assert order == next(r for r in mp.rankings if r.rep == rep).request.meta["listing_order"]
    by_rep = [orders[("en", rep)] for rep in range(3)]
    assert len({tuple(o) for o in by_rep}) == 3 and ids not in by_rep  # reps differ; none unshuffled
    again = plan_study(_study(make_study, "b", shuffle=True)).models[0]
    assert [r.key for r in again.rankings] == [r.key for r in mp.rankings]  # deterministic
    other_seed = plan_study(_study(make_study, "c", shuffle=True, seed=12)).models[0]
    assert _listed(other_seed.rankings[0], "en") != by_rep[0]


def test_default_shuffles_off_lists_the_instrument_order_and_option_leaves_rating_keys(make_study) -> None:
    ids = list(instruments.get("ai_values").item_ids)
    default = plan_study(_study(make_study, "a", shuffle=None)).models[0]
    off = plan_study(_study(make_study, "b", shuffle=False)).models[0]
    on = plan_study(_study(make_study, "c", shuffle=True)).models[0]
    assert all(_listed(r, r.language) == ids for r in off.rankings)
    assert [r.key for r in on.rankings] == [r.key for r in default.rankings]  # shuffled by default
    assert [r.key for r in on.ratings] == [r.key for r in off.ratings]  # ratings are not asked again
    assert not {r.key for r in on.rankings} & {r.key for r in off.rankings}


def test_shuffled_rankings_elicit_and_export(make_study) -> None:
    study = make_study(
        instruments=["ai_values"], models=[sim_model(shuffle_ranking_order=True)], ranking=RANKING
    )
    summary = run_elicitation(study, progress=False)
    assert summary.sent == 6
    table = pd.read_parquet(study.paths.rankings)
    assert len(table) == 6 * 25 and set(table["status"]) == {"ok"}
    for _, group in table.groupby(["language", "rep"]):
        assert sorted(group["rank"]) == list(range(1, 26))
