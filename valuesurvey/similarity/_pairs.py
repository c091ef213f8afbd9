"""Similarity tables: every (person, LLM condition) pair, leave-one-out levels, mean-level references."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from valuesurvey.similarity._kernels import leave_out_zcosine, zcosine_matrix, zero_variance_rows
from valuesurvey.similarity._vectors import LLM_KEYS, PERSON_KEYS

__all__ = ["SIMILARITY_COLUMNS", "pair_similarity", "reference_similarity", "zero_variance_report"]

SIMILARITY_COLUMNS = [*PERSON_KEYS, *LLM_KEYS, "removed", "cosine"]


def _check_wide(frame: pd.DataFrame, keys: Sequence[str], what: str) -> None:
    if list(frame.index.names) != list(keys):
        raise ValueError(f"{what} must be indexed by {list(keys)}, got {list(frame.index.names)}")


def _removal_columns(items: Sequence[str], removals: Mapping[str, Sequence[str]]) -> dict[str, list[int]]:
    position = {item: i for i, item in enumerate(items)}
    out: dict[str, list[int]] = {}
    for level, removed in removals.items():
        unknown = [item for item in removed if item not in position]
        if unknown:
            raise ValueError(f"removal level {level!r} names items not in the vectors: {unknown}")
        out[level] = [position[item] for item in removed]
    return out


def _index_codes(index: pd.Index, name: str) -> tuple[np.ndarray, pd.Index]:
    codes, uniques = pd.factorize(index.get_level_values(name), sort=False)
    return codes, pd.Index(uniques.astype(str))


def pair_similarity(
    people: pd.DataFrame,
    llms: pd.DataFrame,
    *,
    removals: Mapping[str, Sequence[str]] | None = None,
    rezscore: bool = True,
) -> pd.DataFrame:
    """Cosine similarity of the z-scored vectors of every person and every LLM condition.

    Parameters
    ----------
    people : DataFrame
        Wide person ratings indexed by (participant, nationality), one column per item.
    llms : DataFrame
        Wide LLM mean ratings indexed by (model, origin, language, persona), same columns.
    removals : mapping, optional
        Removal level → items removed (RQ3). Default ``{"none": []}``; include ``"none"`` yourself
        when passing levels.
    rezscore : bool
        Re-z-score the remaining items at each removal level (default; see ``leave_out_zcosine``).

    Returns
    -------
    DataFrame
        participant, nationality, model, origin, language, persona, removed, cosine; one row per
        person × condition × level, categorical key columns. ``cosine`` is NaN when either vector
        has zero variance at that level (see :func:`zero_variance_report`); no row is dropped.

    Examples
    --------
    >>> people = pd.DataFrame([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]], columns=list("abc"),
    ...     index=pd.MultiIndex.from_tuples([("p1", "CN"), ("p2", "US")], names=PERSON_KEYS))
    >>> llms = pd.DataFrame([[1.0, 2.0, 4.0]], columns=list("abc"),
    ...     index=pd.MultiIndex.from_tuples([("m", "US", "en", "none")], names=LLM_KEYS))
    >>> pair_similarity(people, llms)[["participant", "model", "cosine"]].round(4).values.tolist()
    [['p1', 'm', 0.982], ['p2', 'm', -0.982]]
    """
    _check_wide(people, PERSON_KEYS, "people")
    _check_wide(llms, LLM_KEYS, "llms")
    if list(people.columns) != list(llms.columns):
        raise ValueError("people and llms must have the same item columns in the same order")
    removals = {"none": []} if removals is None else removals
    columns = _removal_columns(list(people.columns), removals)
    x, y = people.to_numpy(dtype=float), llms.to_numpy(dtype=float)
    if columns == {"none": []}:
        cosines = {"none": zcosine_matrix(x, y)}
    else:
        cosines = leave_out_zcosine(x, y, columns, rezscore=rezscore)
    n_p, n_c, n_l = len(people), len(llms), len(cosines)
    person_row = np.tile(np.repeat(np.arange(n_p), n_c), n_l)
    llm_row = np.tile(np.arange(n_c), n_p * n_l)
    data: dict[str, object] = {}
    for key, rows in ((PERSON_KEYS, person_row), (LLM_KEYS, llm_row)):
        frame = people if key is PERSON_KEYS else llms
        for name in key:
            codes, uniques = _index_codes(frame.index, name)
            data[name] = pd.Categorical.from_codes(codes[rows], categories=uniques)
    data["removed"] = pd.Categorical.from_codes(
        np.repeat(np.arange(n_l), n_p * n_c), categories=pd.Index(list(cosines))
    )
    data["cosine"] = np.concatenate([cosines[level].ravel() for level in cosines])
    return pd.DataFrame(data, columns=SIMILARITY_COLUMNS)


def zero_variance_report(
    people: pd.DataFrame,
    llms: pd.DataFrame,
    *,
    removals: Mapping[str, Sequence[str]] | None = None,
) -> pd.DataFrame:
    """Vectors that cannot be z-scored (all ratings equal), per removal level.

    Returns
    -------
    DataFrame
        kind (``person`` or ``llm``), participant, nationality, model, origin, language, persona,
        removed, n_pairs (the pairs whose cosine is NaN because of it). Empty when none.

    Examples
    --------
    >>> people = pd.DataFrame([[2.0, 2.0, 2.0], [3.0, 2.0, 1.0]], columns=list("abc"),
    ...     index=pd.MultiIndex.from_tuples([("p1", "CN"), ("p2", "US")], names=PERSON_KEYS))
    >>> llms = pd.DataFrame([[1.0, 2.0, 4.0]], columns=list("abc"),
    ...     index=pd.MultiIndex.from_tuples([("m", "US", "en", "none")], names=LLM_KEYS))
    >>> zero_variance_report(people, llms)[["kind", "participant", "removed", "n_pairs"]].values.tolist()
    [['person', 'p1', 'none', 1]]
    """
    removals = {"none": []} if removals is None else removals
    columns = _removal_columns(list(people.columns), removals)
    rows: list[pd.DataFrame] = []
    for level, removed in columns.items():
        keep = np.ones(people.shape[1], dtype=bool)
        keep[removed] = False
        for kind, frame, partners in (("person", people, len(llms)), ("llm", llms, len(people))):
            mask = zero_variance_rows(frame.to_numpy(dtype=float)[:, keep])
            if mask.any():
                hit = frame.index[mask].to_frame(index=False)
                rows.append(hit.assign(kind=kind, removed=level, n_pairs=partners))
    report_columns = ["kind", *PERSON_KEYS, *LLM_KEYS, "removed", "n_pairs"]
    if not rows:
        return pd.DataFrame(columns=report_columns)
    return pd.concat(rows, ignore_index=True).reindex(columns=report_columns)


def reference_similarity(people: pd.DataFrame, references: pd.DataFrame) -> pd.DataFrame:
    """Cosine of each person's z-scored vector with z-scored reference vectors (seed 001 Fig. 3C/D).

    Parameters
    ----------
    people : DataFrame
        Wide person ratings indexed by (participant, nationality).
    references : DataFrame
        Wide reference vectors (e.g. mean CN and US human ratings, mean ratings of CN and US
        LLMs), one row per reference; its index (any names) identifies each reference.

    Returns
    -------
    DataFrame
        participant, nationality, the reference index columns, cosine.

    Examples
    --------
    >>> people = pd.DataFrame([[1.0, 2.0, 3.0]], columns=list("abc"),
    ...     index=pd.MultiIndex.from_tuples([("p1", "CN")], names=PERSON_KEYS))
    >>> refs = pd.DataFrame([[1.0, 2.0, 3.5], [3.0, 2.0, 1.0]], columns=list("abc"),
    ...     index=pd.Index(["human_CN", "human_US"], name="reference"))
    >>> reference_similarity(people, refs)[["reference", "cosine"]].round(4).values.tolist()
    [['human_CN', 0.9934], ['human_US', -1.0]]
    """
    _check_wide(people, PERSON_KEYS, "people")
    if list(people.columns) != list(references.columns):
        raise ValueError("people and references must have the same item columns in the same order")
    cos = zcosine_matrix(people.to_numpy(dtype=float), references.to_numpy(dtype=float))
    left = people.index.to_frame(index=False).loc[np.repeat(np.arange(len(people)), len(references))]
    right = references.index.to_frame(index=False).loc[np.tile(np.arange(len(references)), len(people))]
    out = pd.concat([left.reset_index(drop=True), right.reset_index(drop=True)], axis=1)
    out["cosine"] = cos.ravel()
    return out
