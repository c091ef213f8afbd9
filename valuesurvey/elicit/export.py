"""Write ``llm_ratings.parquet`` and ``rankings.parquet`` from the store (atomically).

Only rows of the current plan are exported: a store that also holds answers to an earlier design
(other sampling settings, other models) keeps them, but they do not leak into the tables. The
design labels (origin, persona) come from the plan, so that answers stored under an earlier labelling
(personas ``cn``/``us`` before countries were study data, an origin corrected in study.yaml, which is
not part of any key) appear as the study names them now.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from valuesurvey import _io, study
from valuesurvey.elicit.plan import Plan
from valuesurvey.elicit.store import ResponseStore
from valuesurvey.study import StudyPaths

__all__ = ["LLM_RATINGS_COLUMNS", "RANKINGS_COLUMNS", "ranking_table", "ratings_table", "write_exports"]

LLM_RATINGS_COLUMNS = [*study.LLM_RATINGS_COLUMNS, "answer_mode", "probabilities", "scale_mass"]
#: ``listed``: the value's position in the prompt's list (1 = listed first); ``copies_listing_order``:
#: the answer ranked the values exactly in the order they were listed (a sign of copying, not ranking).
RANKINGS_COLUMNS = [*study.RANKINGS_COLUMNS, "attempt", "listed", "copies_listing_order"]


def _ranking_keys(plan: Plan) -> set[str]:
    keys = set()
    for mp in plan.models:
        for first in mp.rankings:
            keys.update(first.with_attempt(a).key for a in range(plan.max_invalid_retries + 1))
    return keys


def ratings_table(plan: Plan, store: ResponseStore) -> pd.DataFrame:
    """The ``llm_ratings`` table: one row per stored rating request of the plan."""
    keys = {r.key for mp in plan.models for r in mp.ratings}
    frame = store.frame(
        ["key", "kind", *[c for c in LLM_RATINGS_COLUMNS if c not in ("rating",)], "parsed_value"]
    )
    frame = frame[(frame["kind"] == "rating") & frame["key"].isin(keys)].copy()
    persona = {r.key: r.persona for mp in plan.models for r in mp.ratings}
    frame["persona"] = frame["key"].map(persona)
    frame["origin"] = frame["model"].map({mp.model.id: mp.model.origin for mp in plan.models})
    frame["rating"] = np.where(frame["status"] == "ok", frame["parsed_value"], np.nan).astype(float)
    frame["rep"] = frame["rep"].astype("int64")
    sort = ["model", "instrument", "language", "persona", "item", "rep"]
    return frame[LLM_RATINGS_COLUMNS].sort_values(sort, kind="stable").reset_index(drop=True)


def ranking_table(plan: Plan, store: ResponseStore) -> pd.DataFrame:
    """The ``rankings`` table: one row per value per stored ranking attempt (rank NaN unless ok)."""
    keys = _ranking_keys(plan)
    values_of = {mp.model.id: list(mp.rankings[0].request.values) for mp in plan.models if mp.rankings}
    frame = store.frame(
        [
            "key",
            "kind",
            "model",
            "origin",
            "company",
            "language",
            "rep",
            "attempt",
            "status",
            "parsed_order",
            "listing_order",
        ]
    )
    frame = frame[(frame["kind"] == "ranking") & frame["key"].isin(keys)].copy()
    frame["origin"] = frame["model"].map({mp.model.id: mp.model.origin for mp in plan.models})
    rows = []
    for rec in frame.itertuples(index=False):
        values = values_of[rec.model]
        order = json.loads(rec.parsed_order) if rec.status == "ok" and rec.parsed_order else None
        ranks = {v: float(i) for i, v in enumerate(order, start=1)} if order else {}
        listed_order = json.loads(rec.listing_order) if rec.listing_order else None
        listed = {v: i for i, v in enumerate(listed_order or (), start=1)}
        copies = bool(order) and order == listed_order
        for value in values:
            rows.append(
                (
                    rec.model,
                    rec.origin,
                    rec.company,
                    rec.language,
                    int(rec.rep),
                    value,
                    ranks.get(value, np.nan),
                    rec.status,
                    int(rec.attempt),
                    listed.get(value, pd.NA),
                    copies,
                )
            )
    table = pd.DataFrame(rows, columns=RANKINGS_COLUMNS)
    table["rank"] = table["rank"].astype(float)
    table["listed"] = table["listed"].astype("Int64")  # missing for answers stored before it was recorded
    table["copies_listing_order"] = table["copies_listing_order"].astype(bool)
    return table.sort_values(["model", "language", "rep", "attempt", "rank"], kind="stable").reset_index(
        drop=True
    )


def write_exports(plan: Plan, store: ResponseStore, paths: StudyPaths) -> list[Path]:
    """Write the ratings table (when the plan has rating requests) and the rankings table (when it
    has ranking requests); return the paths written."""
    written = []
    if any(mp.ratings for mp in plan.models):
        written.append(_io.write_parquet(paths.llm_ratings, ratings_table(plan, store)))
    if any(mp.rankings for mp in plan.models):
        written.append(_io.write_parquet(paths.rankings, ranking_table(plan, store)))
    return written
