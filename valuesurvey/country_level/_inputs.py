"""The analysis's inputs as arrays: each country's respondents, and each LLM condition's answers.

People: the humans table (participant, nationality, item, rating, weight) as one respondents ×
items matrix per country (NaN where an answer is missing), with the survey weight of each. LLMs:
the mean rating of each item in each condition (model × language × persona; the paper's exclusion
rule applied) and the answer distribution behind it, from the repetitions' ratings or, where the
answer mode stored them, from the scale points' probabilities.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from valuesurvey.errors import DataError
from valuesurvey.similarity import CONDITION, item_means, llm_exclusions

__all__ = ["CountryRespondents", "LLMConditions", "llm_conditions", "respondents_by_country"]


@dataclass(frozen=True)
class CountryRespondents:
    """One country's respondents: ``ratings`` (respondents × items, NaN = missing) and ``weights``."""

    country: str
    ratings: np.ndarray
    weights: np.ndarray

    @property
    def n(self) -> int:
        return len(self.weights)


def _require(frame: pd.DataFrame, columns: Sequence[str], source: object) -> None:
    for column in columns:
        if column not in frame.columns:
            raise DataError(
                f"required column is missing (has {list(frame.columns)})", path=source, column=column
            )


def respondents_by_country(
    humans: pd.DataFrame, items: Sequence[str], scale: tuple[int, int], *, source: object = "humans table"
) -> dict[str, CountryRespondents]:
    """Split the humans table into one respondents × items matrix per country.

    Parameters
    ----------
    humans : DataFrame
        participant, nationality (ISO alpha-2), item, rating (NaN = missing), weight.
    items : sequence of str
        The instrument's items, in column order; other items are ignored.
    scale : (int, int)
        Lowest and highest scale point: every rating must be one of them or in between.
    source : object
        Named in errors (the file the table came from).

    Returns
    -------
    dict of str to CountryRespondents
        By country code, in order of first appearance; a respondent is a (nationality, participant).

    Raises
    ------
    DataError
        A missing column, a rating that is not a scale point, a respondent with an item twice, a
        weight that is not a positive number or differs between a respondent's rows.

    Examples
    --------
    >>> h = pd.DataFrame({"participant": ["a", "a", "b", "b"], "nationality": ["DE", "DE", "JP", "JP"],
    ...     "item": ["q1", "q2", "q1", "q2"], "rating": [1.0, 2.0, 3.0, np.nan], "weight": 1.0})
    >>> {c: r.ratings.tolist() for c, r in respondents_by_country(h, ["q1", "q2"], (1, 5)).items()}
    {'DE': [[1.0, 2.0]], 'JP': [[3.0, nan]]}
    """
    _require(humans, ["participant", "nationality", "item", "rating", "weight"], source)
    # Factorize instead of comparing strings: a WVS-7 table has 1.8 million rows.
    item_codes, item_values = pd.factorize(humans["item"], sort=False)
    item_index = {item: j for j, item in enumerate(items)}
    lookup = np.array([item_index.get(str(v), -1) for v in item_values] + [-1], dtype=np.int64)
    column = lookup[item_codes]  # a missing item (code -1) maps to the sentinel -1
    kept = column >= 0
    frame = humans.loc[kept] if not kept.all() else humans
    column = column[kept]
    country_codes, countries = pd.factorize(frame["nationality"], sort=False)
    participant_codes, participants = pd.factorize(frame["participant"], sort=False)
    key = country_codes.astype(np.int64) * (len(participants) + 1) + participant_codes
    person, _ = pd.factorize(key, sort=False)
    ratings = frame["rating"].to_numpy(dtype=float, na_value=np.nan)
    low, high = scale
    answered = ~np.isnan(ratings)
    bad = answered & ((ratings < low) | (ratings > high) | (ratings != np.round(ratings)))
    if bad.any():
        first = ratings[np.flatnonzero(bad)[0]]
        raise DataError(
            f"rating {first:g} is not a point of the scale {low}-{high} ({int(bad.sum())} rows)",
            path=source,
            column="rating",
        )
    weights = frame["weight"].to_numpy(dtype=float, na_value=np.nan)
    if not (np.isfinite(weights) & (weights > 0)).all():
        raise DataError("weight must be a positive number in every row", path=source, column="weight")
    n_people = int(person.max()) + 1 if len(person) else 0
    cells = person * len(items) + column
    if len(np.unique(cells)) != len(cells):
        raise DataError("a respondent has the same item in more than one row", path=source, column="item")
    matrix = np.full((n_people, len(items)), np.nan)
    matrix.ravel()[cells] = ratings
    first = np.full(n_people, np.nan)
    first[person[::-1]] = weights[::-1]  # the first row's weight (later writes win, so reverse)
    if not np.allclose(first[person], weights, rtol=0, atol=1e-12):
        raise DataError("a respondent's weight differs between their rows", path=source, column="weight")
    person_country = np.empty(n_people, dtype=np.int64)
    person_country[person] = country_codes
    out: dict[str, CountryRespondents] = {}
    for code in pd.unique(person_country):
        rows = person_country == code
        out[str(countries[code])] = CountryRespondents(str(countries[code]), matrix[rows], first[rows])
    return out


@dataclass(frozen=True)
class LLMConditions:
    """The LLM conditions that answered every item, as arrays aligned with ``keys``.

    ``keys``: model, origin, language, persona (one row per condition); ``means``: conditions ×
    items mean ratings; ``distributions``: conditions × items × scale points; ``n_answers``: the
    valid answers behind each (repetitions, or 1 logprobs request); ``sources``: ``repetitions`` or
    ``logprobs`` per condition; ``incomplete``: the conditions left out and why (the items with no
    valid rating, as :func:`valuesurvey.similarity.llm_exclusions` gives them).
    """

    keys: pd.DataFrame
    means: np.ndarray
    distributions: np.ndarray
    n_answers: np.ndarray
    sources: np.ndarray
    incomplete: pd.DataFrame

    def __len__(self) -> int:
        return len(self.keys)


def _logprob_vector(text: object, points: np.ndarray) -> np.ndarray | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        raw = json.loads(text)
    except ValueError:
        return None
    vector = np.array([float(raw.get(f"{p:g}", raw.get(str(int(p)), 0.0))) for p in points])
    return vector / vector.sum() if vector.sum() > 0 else None


def llm_conditions(
    ratings: pd.DataFrame,
    items: Sequence[str],
    scale: tuple[int, int],
    *,
    instrument: str,
    source: object = Path("llm_ratings.parquet"),
) -> LLMConditions:
    """Mean ratings and answer distributions of every complete LLM condition of one instrument.

    Parameters
    ----------
    ratings : DataFrame
        ``llm_ratings.parquet``; ``answer_mode`` and ``probabilities`` are used where present.
    items, scale : as in :func:`respondents_by_country`.
    instrument : str
        Keep this instrument's rows.

    Returns
    -------
    LLMConditions

    Raises
    ------
    DataError
        No rows for the instrument, or a valid rating that is not a scale point and has no
        probabilities (a logprobs expected value without its distribution).

    Examples
    --------
    >>> r = pd.DataFrame({"model": "m", "origin": "US", "language": "en", "persona": "none",
    ...     "instrument": "toy", "rep": [0, 1, 0, 1], "item": ["a", "a", "b", "b"],
    ...     "rating": [1.0, 3.0, 2.0, 2.0], "status": "ok"})
    >>> c = llm_conditions(r, ["a", "b"], (1, 3), instrument="toy")
    >>> c.means.tolist(), c.distributions[0].tolist()
    ([[2.0, 2.0]], [[0.5, 0.0, 0.5], [0.0, 1.0, 0.0]])
    """
    means = item_means(ratings, instrument=instrument)
    if means.empty:
        raise DataError(f"no LLM ratings for instrument {instrument!r}", path=source, column="instrument")
    incomplete = llm_exclusions(means, items)
    bad = incomplete[list(CONDITION)].drop_duplicates()
    complete = means.merge(bad, on=list(CONDITION), how="left", indicator=True)
    complete = complete[(complete["_merge"] == "left_only") & complete["item"].isin(items)]
    keys = complete[list(CONDITION)].drop_duplicates().reset_index(drop=True)
    condition_of = {tuple(row): i for i, row in enumerate(keys.itertuples(index=False, name=None))}
    item_of = {item: j for j, item in enumerate(items)}
    table = np.full((len(keys), len(items)), np.nan)
    rows = complete[list(CONDITION)].itertuples(index=False, name=None)
    c_index = np.fromiter((condition_of[row] for row in rows), dtype=np.int64, count=len(complete))
    table[c_index, complete["item"].map(item_of).to_numpy(dtype=np.int64)] = complete["mean_rating"]

    points = np.arange(scale[0], scale[1] + 1, dtype=float)
    frame = ratings
    if "instrument" in frame.columns:
        frame = frame[frame["instrument"] == instrument]
    frame = frame[(frame["status"] == "ok") & frame["rating"].notna() & frame["item"].isin(items)]
    frame_keys = frame[list(CONDITION)].astype(str).itertuples(index=False, name=None)
    c_rows = np.fromiter((condition_of.get(k, -1) for k in frame_keys), dtype=np.int64, count=len(frame))
    frame, c_rows = frame[c_rows >= 0], c_rows[c_rows >= 0]
    j_rows = frame["item"].map(item_of).to_numpy(dtype=np.int64)
    distributions = np.zeros((len(keys), len(items), len(points)))
    n_answers = np.zeros((len(keys), len(items)), dtype=np.int64)
    np.add.at(n_answers, (c_rows, j_rows), 1)
    logprobs = np.zeros(len(frame), dtype=bool)
    if "probabilities" in frame.columns and "answer_mode" in frame.columns:
        candidates = np.flatnonzero((frame["answer_mode"] == "logprobs").to_numpy())
        for row, text in zip(candidates, frame["probabilities"].to_numpy()[candidates], strict=True):
            vector = _logprob_vector(text, points)
            if vector is not None:
                distributions[c_rows[row], j_rows[row]] += vector
                logprobs[row] = True
    value = frame["rating"].to_numpy(dtype=float)
    plain = ~logprobs
    off_scale = plain & ((value != np.round(value)) | (value < scale[0]) | (value > scale[1]))
    if off_scale.any():
        first = frame.iloc[int(np.flatnonzero(off_scale)[0])]
        raise DataError(
            f"rating {first['rating']:g} of model {first['model']!r}, item {first['item']!r} is not a "
            f"scale point and has no probabilities to give its answer distribution",
            path=source,
            column="rating",
        )
    np.add.at(distributions, (c_rows[plain], j_rows[plain], (value[plain] - scale[0]).astype(np.int64)), 1.0)
    distributions /= np.maximum(n_answers, 1)[..., None]
    uses_logprobs = np.zeros(len(keys), dtype=bool)
    uses_logprobs[np.unique(c_rows[logprobs])] = True
    sources = np.where(uses_logprobs, "logprobs", "repetitions").astype(object)
    return LLMConditions(keys, table, distributions, n_answers, sources, incomplete)
