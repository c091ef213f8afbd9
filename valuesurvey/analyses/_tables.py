"""The three tables a declared analysis can use, built from the study directory.

=============  ==============================================================================
``data``       rows, and where they come from
=============  ==============================================================================
similarity     one per person × LLM condition × removal level: ``similarity/<instrument>.parquet``
               of every rating instrument, with ``instrument`` and the model attributes
ratings        one per LLM answer (every repetition): ``llm_ratings.parquet`` with the item's
               ``dimension`` and the model attributes
rankings       one per value ranked in one repetition: ``rankings.parquet`` with the value's
               ``dimension`` and the model attributes
=============  ==============================================================================

Model attributes (``origin``, ``company``, ``provider``) come from the study's models completed by
the model registry. The columns, in order, are :data:`TABLE_COLUMNS`; ``rating``/``rank`` are
missing (NaN) where the answer was not valid, ``cosine`` where a vector had zero variance.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal

import pandas as pd

from valuesurvey.errors import DataError

if TYPE_CHECKING:
    from valuesurvey.analyses._where import Where
    from valuesurvey.study import Study

__all__ = ["DATA_KINDS", "NUMERIC", "TABLE_COLUMNS", "load_table", "model_attributes"]

DataKind = Literal["similarity", "ratings", "rankings"]
DATA_KINDS: tuple[DataKind, ...] = ("similarity", "ratings", "rankings")
MODEL_ATTRIBUTES = ("origin", "company", "provider")

#: Columns of each table, in order, with their kind (``numeric``, ``text`` or ``boolean``).
TABLE_COLUMNS: dict[str, dict[str, str]] = {
    "similarity": {
        "instrument": "text", "participant": "text", "nationality": "text", "model": "text",
        "origin": "text", "company": "text", "provider": "text", "language": "text",
        "persona": "text", "removed": "text", "cosine": "numeric",
    },
    "ratings": {
        "instrument": "text", "model": "text", "origin": "text", "company": "text", "provider": "text",
        "language": "text", "persona": "text", "rep": "numeric", "item": "text", "dimension": "text",
        "rating": "numeric", "status": "text", "answer_mode": "text",
    },
    "rankings": {
        "model": "text", "origin": "text", "company": "text", "provider": "text", "language": "text",
        "rep": "numeric", "value": "text", "dimension": "text", "rank": "numeric", "listed": "numeric",
        "copies_listing_order": "boolean", "status": "text",
    },
}  # fmt: skip
NUMERIC = {kind: tuple(c for c, t in cols.items() if t == "numeric") for kind, cols in TABLE_COLUMNS.items()}


def model_attributes(study: Study) -> pd.DataFrame:
    """model, origin, company, provider of every model of the study (study.yaml over the registry)."""
    from valuesurvey.elicit.registry import resolve_model

    rows = []
    for spec in study.models:
        try:
            resolved = resolve_model(spec)
            values = (resolved.origin, resolved.company, resolved.provider)
        except Exception:  # a model the registry cannot complete: what study.yaml says
            values = (spec.origin, spec.company, spec.provider)
        rows.append((spec.id, *(None if v is None else str(v) for v in values)))
    return pd.DataFrame(rows, columns=["model", *MODEL_ATTRIBUTES])


def _with_models(frame: pd.DataFrame, models: pd.DataFrame) -> pd.DataFrame:
    """Fill each model attribute from the study's models where the table lacks it."""
    known = models.set_index("model")
    out = frame.copy()
    key = out["model"].astype(str)
    for column in MODEL_ATTRIBUTES:
        from_study = key.map(known[column])
        if column in out.columns:
            out[column] = out[column].astype(object).where(out[column].notna(), from_study)
        else:
            out[column] = from_study
    return out


def _read(path: Path, what: str) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"{what} not found; run the stage that writes it first", path=path)
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise DataError(f"cannot read {what}: {exc}", path=path) from exc


def _dimensions(study: Study, kind: str) -> dict[tuple[str, str], str]:
    """(instrument, item id) → the item's dimension, for every instrument of the study."""
    from valuesurvey import instruments

    out: dict[tuple[str, str], str] = {}
    for instrument_id, inst in instruments.for_study(study).items():
        if (inst.kind == "ranking") == (kind == "rankings"):
            out.update({(instrument_id, item.id): item.dimension for item in inst.items})
    return out


def _filtered(frame: pd.DataFrame, where: Where | None) -> pd.DataFrame:
    if where is None or where.node is None:
        return frame.reset_index(drop=True)
    return frame[where.mask(frame)].reset_index(drop=True)


def _columns(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    return frame[[c for c in TABLE_COLUMNS[kind] if c in frame.columns]]


def _similarity(study: Study, models: pd.DataFrame, where: Where | None) -> pd.DataFrame:
    from valuesurvey import instruments

    rating = [i for i, inst in instruments.for_study(study).items() if inst.kind == "rating"]
    parts = []
    for instrument_id in rating:
        path = study.paths.similarity(instrument_id)
        if not path.exists():
            continue
        part = _read(path, f"similarity table of {instrument_id}")
        part.insert(0, "instrument", instrument_id)
        # filtered file by file: a whole WVS similarity table has millions of rows
        parts.append(_filtered(_columns(_with_models(part, models), "similarity"), where))
    if not parts:
        raise DataError(
            "no similarity table (similarity/<instrument>.parquet): the analysis stage writes them "
            "from human data (study.yaml humans)",
            path=study.paths.similarity_dir,
        )
    return pd.concat(parts, ignore_index=True)


def load_table(study: Study, kind: str, where: Where | None = None) -> pd.DataFrame:
    """The ``kind`` table (:data:`TABLE_COLUMNS`) of ``study``, filtered by ``where``.

    Raises
    ------
    DataError
        The file the table comes from is missing or unreadable.
    WhereError
        The filter does not fit the table (a column of the wrong type for its value).
    """
    models = model_attributes(study)
    if kind == "similarity":
        return _similarity(study, models, where)
    if kind == "ratings":
        frame = _with_models(_read(study.paths.llm_ratings, "LLM ratings"), models)
        dims = _dimensions(study, kind)
        frame["dimension"] = [
            dims.get((i, item)) for i, item in zip(frame["instrument"], frame["item"], strict=True)
        ]
    elif kind == "rankings":
        frame = _with_models(_read(study.paths.rankings, "rankings"), models)
        dims = {item: dim for (_, item), dim in _dimensions(study, kind).items()}
        frame["dimension"] = frame["value"].map(dims)
    else:
        raise ValueError(f"data must be one of {', '.join(DATA_KINDS)}, not {kind!r}")
    return _filtered(_columns(frame, kind), where)
