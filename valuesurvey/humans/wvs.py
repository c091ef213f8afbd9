"""WVS-7 (cross-national release, v5 and v6): Q177-Q195, the ethical values and norms items."""

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

__all__ = ["WVS7_ITEMS", "WVS7_MISSING_CODES", "WVS7_SCALE", "load_wvs7"]

WVS7_ITEMS = tuple(f"Q{number}" for number in range(177, 196))
#: -1 Don't know, -2 No answer, -3 Not applicable, -4 Not asked in survey, -5 Missing; Not available.
WVS7_MISSING_CODES = (-1.0, -2.0, -3.0, -4.0, -5.0)
WVS7_SCALE = (1.0, 10.0)


def load_wvs7(
    path: str | Path,
    countries: Sequence[str] | str = DEFAULT_COUNTRIES,
    *,
    format: str = "auto",
    synthetic: bool = False,
) -> HumanData:
    """Load Q177-Q195 of the WVS-7 cross-national release for some countries.

    Reads only the columns it needs (country, respondent id, weights, the 19 items), from a
    .sav, .dta, .csv or .rds file (the last through ``Rscript``).

    Parameters
    ----------
    path : str or Path
        The release file, e.g. ``WVS_Cross-National_Wave_7_spss_v6_0.sav``.
    countries : sequence of str or str
        ISO 3166 codes of any WVS-7 countries (alpha-2 or alpha-3; ``"CHN,USA,TWN,HKG"`` also
        works), or ``"all"``: every country of the file. Default: the paper's China and the USA.
        Selected by ``B_COUNTRY_ALPHA`` or, when the file lacks it, by the numeric ``B_COUNTRY``
        (156 China, 840 USA).
    format : {"auto", "sav", "dta", "csv", "rds"}
        ``"auto"`` decides by the file name's suffix.
    synthetic : bool
        Mark the data as synthetic in the report (also set when the file name or label says SYNTHETIC).

    Returns
    -------
    HumanData
        ``.table``: participant (``D_INTERVIEW``, else the row number), nationality (alpha-2),
        item (Q177...Q195), rating (1-10; NaN for the codes -1...-5, SPSS user-missing values
        and blanks), weight (``W_WEIGHT``, else 1 with a note). ``.respondents`` keeps ``S018``.
        ``.report``: rows per country, rows with any missing item, complete rows, zero-variance rows.

    Raises
    ------
    DataError
        Naming the file and column: required columns missing, values outside 1-10, a text value,
        duplicated ``D_INTERVIEW``, no rows for a country, a truncated or corrupt file.

    Examples
    --------
    >>> from valuesurvey.humans.synthetic import shipped_files
    >>> data = load_wvs7(shipped_files()["wvs7_sav"])
    >>> data.table.columns.tolist()
    ['participant', 'nationality', 'item', 'rating', 'weight']
    >>> sorted(data.report.countries), data.report.synthetic
    (['CHN', 'USA'], True)
    """
    started = time.perf_counter()
    path = Path(path)
    selected = select_countries(countries)
    header = read_header(path, format)

    missing = [item for item in WVS7_ITEMS if header.resolve(item) is None]
    if missing:
        raise DataError(
            f"missing required column(s) {', '.join(missing)} ({len(header.columns)} columns in the file); "
            "is this the WVS-7 cross-national release?",
            path=path,
        )
    country_column = header.resolve("B_COUNTRY_ALPHA") or header.resolve("B_COUNTRY")
    if country_column is None:
        raise DataError("missing required column B_COUNTRY_ALPHA (or B_COUNTRY)", path=path)

    notes: list[str] = []
    s018 = header.resolve("S018")
    if s018 is None:
        notes.append("no S018 column (equilibrated weight)")
    layout = Layout(
        instrument="wvs7",
        items={header.resolve(item): item for item in WVS7_ITEMS},  # type: ignore[misc]
        scale=WVS7_SCALE,
        country_column=country_column,
        missing_codes=WVS7_MISSING_CODES,
        id_column=header.resolve("D_INTERVIEW"),
        weight_column=header.resolve("W_WEIGHT"),
        extra_columns={s018: "s018"} if s018 else {},
        name="WVS-7 cross-national release",
        label_columns=tuple(c for c in (header.resolve(n) for n in LABEL_COLUMNS) if c),
    )
    frame = read_columns(header, layout.columns)
    return assemble(header, frame, layout, selected, synthetic=synthetic, notes=notes, started=started)
