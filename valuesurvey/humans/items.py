"""Human item responses in the generic layout, for any rating instrument (``format: items``).

The file (.csv, .sav, .dta or .rds) has one row per respondent: a ``country`` column (ISO 3166 code
or English name), one column per item id of the instrument (``mini_ipip_01`` ... ``mini_ipip_20``)
with ratings on the instrument's scale (empty: not answered), and optionally ``participant`` (a
respondent id) and ``weight`` (a survey weight; ``weights: weight`` in study.yaml uses it). Column
names match case-insensitively; other columns are ignored.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from valuesurvey.design import DEFAULT_COUNTRIES
from valuesurvey.errors import DataError
from valuesurvey.humans._assemble import Layout, assemble
from valuesurvey.humans._countries import select_countries
from valuesurvey.humans._readers import LABEL_COLUMNS, read_columns, read_header
from valuesurvey.humans._report import HumanData
from valuesurvey.instruments import Instrument

__all__ = ["COUNTRY_COLUMN", "ID_COLUMNS", "WEIGHT_COLUMN", "load_item_responses"]

COUNTRY_COLUMN = "country"
#: Respondent id columns, the first one present is used.
ID_COLUMNS = ("participant", "id")
WEIGHT_COLUMN = "weight"


def load_item_responses(
    path: str | Path,
    instrument: Instrument,
    *,
    countries: Sequence[str] | str = DEFAULT_COUNTRIES,
    format: str = "auto",
    synthetic: bool = False,
) -> HumanData:
    """Load one rating per respondent and item of ``instrument`` from a file in the generic layout.

    Parameters
    ----------
    path : str or Path
        The data file.
    instrument : Instrument
        A rating instrument; its item ids are the columns read, its scale the valid range.
    countries : sequence of str or str
        Codes of the countries to keep, or ``"all"``.
    format : {"auto", "sav", "dta", "csv", "rds"}
        The file format (``auto``: from the file's extension).
    synthetic : bool
        Mark the data as synthetic.

    Returns
    -------
    HumanData
        The humans table (participant, nationality, item, rating, weight) and the load report.

    Raises
    ------
    DataError
        Naming the file and column: no ``country`` column, item columns missing, a text value, a
        value outside the scale, a country that is not one, no rows for a country.
    """
    started = time.perf_counter()
    path = Path(path)
    if instrument.kind != "rating":
        raise DataError(
            f"{instrument.id} is a {instrument.kind} task; item responses need a rating scale", path=path
        )
    selected = select_countries(countries)
    header = read_header(path, format)
    country = header.resolve(COUNTRY_COLUMN)
    if country is None:
        raise DataError(
            f"no {COUNTRY_COLUMN!r} column (the respondent's country: an ISO 3166 code or English name); "
            f"columns: {', '.join(header.columns[:12])}{' …' if len(header.columns) > 12 else ''}",
            path=path,
        )
    resolved = {item: header.resolve(item) for item in instrument.item_ids}
    absent = [item for item, column in resolved.items() if column is None]
    if absent:
        shown = ", ".join(absent[:10]) + (f" (+{len(absent) - 10} more)" if len(absent) > 10 else "")
        raise DataError(
            f"missing item column(s) {shown}: format items needs one column per item id of {instrument.id}",
            path=path,
        )
    id_column = next((c for c in (header.resolve(n) for n in ID_COLUMNS) if c is not None), None)
    layout = Layout(
        instrument=instrument.id,
        items={column: item for item, column in resolved.items()},  # type: ignore[misc]
        scale=(float(instrument.scale.min), float(instrument.scale.max)),
        country_column=country,
        id_column=id_column,
        weight_column=header.resolve(WEIGHT_COLUMN),
        name=f"{instrument.id}, generic item-response layout (country + one column per item)",
        label_columns=tuple(c for c in (header.resolve(n) for n in LABEL_COLUMNS) if c),
    )
    frame = read_columns(header, layout.columns)
    return assemble(header, frame, layout, selected, synthetic=synthetic, started=started)
