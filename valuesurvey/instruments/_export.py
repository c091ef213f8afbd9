"""Instruments as tables and records, for the CLI's ``export`` and for the report."""

from __future__ import annotations

from typing import Any

import pandas as pd

from valuesurvey.instruments._models import LANGUAGES, Instrument

__all__ = ["ITEM_COLUMNS", "instrument_record", "items_table"]

#: Columns of :func:`items_table`, in order (an instrument with more languages adds ``text_<tag>``,
#: ``provenance_<tag>`` and ``definition_<tag>`` after them).
ITEM_COLUMNS = (
    "instrument",
    "number",
    "item",
    "dimension",
    "column",
    "label",
    "text_en",
    "text_zh",
    "provenance_en",
    "provenance_zh",
    "definition_en",
    "definition_zh",
)


def items_table(instrument: Instrument) -> pd.DataFrame:
    """One row per item: ids, dimension, data-file column, texts and provenance in each language.

    >>> from valuesurvey import instruments
    >>> table = items_table(instruments.get("wvs7"))
    >>> table.shape, table.loc[0, "label"]
    ((19, 12), 'Justifiable: Claiming government benefits to which you are not entitled')
    """
    extra = [lang for lang in instrument.languages if lang not in LANGUAGES]
    columns = [*ITEM_COLUMNS] + [
        f"{kind}_{lang}" for lang in extra for kind in ("text", "provenance", "definition")
    ]
    rows = []
    for item in instrument.items:
        row: dict[str, Any] = {
            "instrument": instrument.id,
            "number": item.number,
            "item": item.id,
            "dimension": item.dimension,
            "column": item.column,
            "label": item.label,
        }
        for language in (*LANGUAGES, *extra):
            row[f"text_{language}"] = item.text.get(language)
            row[f"provenance_{language}"] = item.provenance.get(language)
            has_definition = item.definition is not None and language in item.definition
            row[f"definition_{language}"] = item.definition[language] if has_definition else None
        rows.append(row)
    return pd.DataFrame(rows, columns=columns)


def instrument_record(instrument: Instrument) -> dict[str, Any]:
    """The whole instrument as plain data, plus its ``content_hash`` (for JSON/YAML export)."""
    record = instrument.model_dump(mode="json")
    record["content_hash"] = instrument.content_hash
    return record
