"""Subscale scores: each dimension's score is the mean of its items after reverse keying.

A reverse-keyed item (``reverse: true`` in the instrument file) is scored ``min + max - rating`` on
the instrument's scale, so that a high score always means more of the dimension. The prompt is not
changed: the model (or person) answers the item as written.

- LLMs: per condition (model × language × persona), each item's mean over valid repetitions
  (:func:`valuesurvey.similarity.item_means`), reverse-keyed, then averaged over the dimension's
  items that have a valid mean (``n_items`` of ``items_total``).
- Humans: per participant, the mean of the answered keyed items of each dimension; then per
  nationality the mean and SD of those participant scores, and their weighted mean when the study
  weights people.

The analysis stage writes ``scores/<instrument>_llm.csv`` (:data:`LLM_SCORE_COLUMNS`), the item
means behind it ``scores/<instrument>_llm_items.csv`` (:data:`LLM_ITEM_COLUMNS`) and, with human
data, ``scores/<instrument>_humans.csv`` (:data:`HUMAN_SCORE_COLUMNS`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from valuesurvey import _io
from valuesurvey.instruments import Instrument
from valuesurvey.similarity import CONDITION, item_means

if TYPE_CHECKING:
    from valuesurvey.study import Study

__all__ = [
    "HUMAN_SCORE_COLUMNS",
    "LLM_ITEM_COLUMNS",
    "LLM_SCORE_COLUMNS",
    "human_scores",
    "keyed",
    "llm_item_means",
    "llm_scores",
    "score_study",
    "write_scores",
]

LLM_SCORE_COLUMNS = (*CONDITION, "dimension", "score", "n_items", "items_total")
LLM_ITEM_COLUMNS = (
    *CONDITION, "item", "dimension", "reverse", "mean_rating", "keyed_mean", "n_reps", "n_ok",
)  # fmt: skip
HUMAN_SCORE_COLUMNS = ("nationality", "dimension", "n", "score", "sd", "weighted_score", "weighted")


def keyed(items: pd.Series, values: pd.Series, inst: Instrument) -> pd.Series:
    """``values`` (ratings of ``items``) with reverse-keyed items reversed: ``min + max - value``.

    >>> from valuesurvey import instruments
    >>> ipip = instruments.get("mini_ipip")
    >>> keyed(pd.Series(["mini_ipip_01", "mini_ipip_06"]), pd.Series([2.0, 2.0]), ipip).tolist()
    [2.0, 4.0]
    """
    reverse = items.isin([item.id for item in inst.items if item.reverse]).to_numpy()
    flipped = inst.scale.min + inst.scale.max - values.to_numpy(float)
    return pd.Series(np.where(reverse, flipped, values.to_numpy(float)), index=values.index)


def _with_dimension(frame: pd.DataFrame, inst: Instrument) -> pd.DataFrame:
    dimensions = {item.id: item.dimension for item in inst.items}
    frame = frame[frame["item"].astype(str).isin(dimensions)]
    return frame.assign(dimension=frame["item"].astype(str).map(dimensions))


def llm_scores(ratings: pd.DataFrame, inst: Instrument) -> pd.DataFrame:
    """Dimension scores of every LLM condition (columns :data:`LLM_SCORE_COLUMNS`).

    ``ratings`` is ``llm_ratings.parquet`` (all instruments; only ``inst``'s rows are used). A
    condition with no valid rating on any item of a dimension gets a NaN score and ``n_items`` 0.
    """
    means = _with_dimension(item_means(ratings, instrument=inst.id), inst)
    means = means.assign(keyed=keyed(means["item"], means["mean_rating"], inst))
    totals = {dim: len(members) for dim, members in inst.items_by_dimension().items()}
    grouped = means.groupby([*CONDITION, "dimension"], observed=True, sort=False)
    out = grouped.agg(score=("keyed", "mean"), n_items=("keyed", "count")).reset_index()
    out["items_total"] = out["dimension"].map(totals).astype(int)
    order = {dim: i for i, dim in enumerate(inst.dimensions)}
    out = out.sort_values(
        [*CONDITION, "dimension"], key=lambda c: c.map(order) if c.name == "dimension" else c
    )
    return out[list(LLM_SCORE_COLUMNS)].reset_index(drop=True)


def llm_item_means(ratings: pd.DataFrame, inst: Instrument) -> pd.DataFrame:
    """Each item's mean in each LLM condition, with its dimension, reverse key and keyed mean
    (columns :data:`LLM_ITEM_COLUMNS`): the numbers behind :func:`llm_scores`."""
    means = _with_dimension(item_means(ratings, instrument=inst.id), inst)
    reverse = {item.id: item.reverse for item in inst.items}
    means = means.assign(
        reverse=means["item"].map(reverse).astype(bool),
        keyed_mean=keyed(means["item"], means["mean_rating"], inst),
    )
    return means[list(LLM_ITEM_COLUMNS)].reset_index(drop=True)


def human_scores(humans: pd.DataFrame, inst: Instrument, *, weighted: bool) -> pd.DataFrame:
    """Dimension scores of each nationality (columns :data:`HUMAN_SCORE_COLUMNS`).

    ``humans`` is ``humans/<instrument>.parquet`` (participant, nationality, item, rating, weight).
    """
    answered = _with_dimension(humans[humans["rating"].notna()], inst)
    answered = answered.assign(keyed=keyed(answered["item"], answered["rating"], inst))
    people = answered.groupby(["participant", "nationality", "dimension"], observed=True).agg(
        person_score=("keyed", "mean"), weight=("weight", "first")
    )
    people = people.reset_index()
    w = people["weight"].to_numpy(float) if weighted else np.ones(len(people))
    people = people.assign(_w=w, _wx=w * people["person_score"].to_numpy(float))
    grouped = people.groupby(["nationality", "dimension"], observed=True, sort=False)
    out = grouped.agg(
        n=("person_score", "size"),
        score=("person_score", "mean"),
        sd=("person_score", "std"),
        _w=("_w", "sum"),
        _wx=("_wx", "sum"),
    ).reset_index()
    out["weighted_score"] = out["_wx"] / out["_w"]
    out["weighted"] = weighted
    order = {dim: i for i, dim in enumerate(inst.dimensions)}
    out = out.sort_values(
        ["nationality", "dimension"], key=lambda c: c.map(order) if c.name == "dimension" else c.astype(str)
    )
    return out[list(HUMAN_SCORE_COLUMNS)].reset_index(drop=True)


def write_scores(
    scores_dir: Path,
    inst: Instrument,
    ratings: pd.DataFrame | None,
    humans: pd.DataFrame | None,
    *,
    weighted: bool = False,
) -> list[Path]:
    """Write ``<instrument>_llm.csv`` and ``_llm_items.csv`` (when there are ratings) and
    ``<instrument>_humans.csv`` (when there are human data)."""
    written: list[Path] = []
    if ratings is not None and "instrument" in ratings.columns and (ratings["instrument"] == inst.id).any():
        path = scores_dir / f"{inst.id}_llm.csv"
        _io.write_csv(path, llm_scores(ratings, inst))
        written.append(path)
        path = scores_dir / f"{inst.id}_llm_items.csv"
        _io.write_csv(path, llm_item_means(ratings, inst))
        written.append(path)
    if humans is not None:
        path = scores_dir / f"{inst.id}_humans.csv"
        _io.write_csv(path, human_scores(humans, inst, weighted=weighted))
        written.append(path)
    return written


def score_study(study: Study, ratings: pd.DataFrame, humans_paths: Mapping[str, Path]) -> list[Path]:
    """Write the score tables of every rating instrument of ``study`` into ``scores/``.

    Stale tables of an earlier run (an instrument no longer in the study, human data removed) are
    deleted, so ``scores/`` always describes this run.
    """
    from valuesurvey import instruments

    scores_dir = study.paths.scores_dir
    written: list[Path] = []
    for instrument_id, inst in instruments.for_study(study).items():
        if inst.kind != "rating":
            continue
        path = humans_paths.get(instrument_id)
        humans = pd.read_parquet(path) if path is not None else None
        spec = study.humans.get(instrument_id)
        weighted = spec is not None and spec.weighted
        written += write_scores(scores_dir, inst, ratings, humans, weighted=weighted)
    if scores_dir.is_dir():
        for stale in set(scores_dir.glob("*.csv")) - set(written):
            stale.unlink()
    return written
