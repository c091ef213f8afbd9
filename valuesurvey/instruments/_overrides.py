"""User translation files: a CSV (item id, text) that replaces one language's item texts.

The file needs a header naming an ``item`` column (or ``item_id`` / ``id``) and a ``text`` column; a
``definition`` column is optional (ranking instruments). Every item of the instrument must appear exactly
once, and no other id may appear: a partial or misspelt file is an error naming the file and row, never a
silent mix of two translations.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from valuesurvey.errors import ConfigError

__all__ = ["OFFICIAL_USER_FILE", "TranslationRow", "read_translation_file"]

#: Provenance recorded for texts that come from a user's translation file.
OFFICIAL_USER_FILE = "official (user file)"

_ID_COLUMNS = ("item", "item_id", "id")


@dataclass(frozen=True)
class TranslationRow:
    """One row of a translation file; ``row`` is the 1-based line number (the header is row 1)."""

    item: str
    text: str
    definition: str | None
    row: int


def read_translation_file(path: str | Path, item_ids: tuple[str, ...]) -> dict[str, TranslationRow]:
    """Read and check a translation CSV against the instrument's item ids.

    Parameters
    ----------
    path
        A UTF-8 CSV file (a byte-order mark is allowed) with columns ``item`` and ``text``.
    item_ids
        The ids of the instrument the file translates.

    Returns
    -------
    dict
        Item id to :class:`TranslationRow`, one entry per item.

    Raises
    ------
    ConfigError
        Unreadable file, missing columns, unknown or repeated id, empty text, or missing items; the
        message names the file and the row.
    """
    path = Path(path)
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return _read_rows(path, csv.reader(handle), item_ids)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read translation file ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: translation file is not UTF-8 ({exc.reason})") from exc
    except csv.Error as exc:
        raise ConfigError(f"{path}: invalid CSV ({exc})") from exc


def _read_rows(path: Path, reader: csv._reader, item_ids: tuple[str, ...]) -> dict[str, TranslationRow]:
    header = next(reader, None)
    if not header:
        raise ConfigError(f"{path}: row 1: empty file; expected a header with columns 'item' and 'text'")
    names = [name.strip().lower() for name in header]
    id_col = next((names.index(c) for c in _ID_COLUMNS if c in names), None)
    if id_col is None or "text" not in names:
        raise ConfigError(f"{path}: row 1: header must name columns 'item' and 'text' (found {header})")
    text_col = names.index("text")
    def_col = names.index("definition") if "definition" in names else None
    known = set(item_ids)
    rows: dict[str, TranslationRow] = {}
    for record in reader:
        row = reader.line_num
        if not any(cell.strip() for cell in record):
            continue  # blank line
        cells = record + [""] * (len(names) - len(record))
        item = cells[id_col].strip()
        text = cells[text_col].strip()
        if item not in known:
            raise ConfigError(f"{path}: row {row}: unknown item id {item!r}; valid: {_valid(item_ids)}")
        if item in rows:
            raise ConfigError(
                f"{path}: row {row}: item {item!r} appears again (first at row {rows[item].row})"
            )
        if not text:
            raise ConfigError(f"{path}: row {row}: item {item!r} has empty text")
        definition = cells[def_col].strip() if def_col is not None else None
        if def_col is not None and not definition:
            raise ConfigError(f"{path}: row {row}: item {item!r} has an empty definition")
        rows[item] = TranslationRow(item=item, text=text, definition=definition, row=row)
    missing = [item for item in item_ids if item not in rows]
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise ConfigError(f"{path}: missing item(s) {shown}; the file needs one row per item")
    return rows


def _valid(item_ids: tuple[str, ...]) -> str:
    return f"{item_ids[0]} ... {item_ids[-1]}" if len(item_ids) > 3 else ", ".join(item_ids)
