"""From the columns a loader read to the humans table and its load report (shared by every layout)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from valuesurvey.errors import DataError
from valuesurvey.humans._countries import Country, lookup
from valuesurvey.humans._readers import FileHeader, synthetic_evidence
from valuesurvey.humans._report import HUMANS_COLUMNS, CountryCounts, HumanData, LoadReport


@dataclass(frozen=True)
class Layout:
    """Where one file keeps what the humans table needs (columns are the file's own spellings)."""

    instrument: str
    items: Mapping[str, str]  # file column -> item id, in instrument order
    scale: tuple[float, float]
    country_column: str
    missing_codes: tuple[float, ...] = ()
    #: file value (as text, case-folded) -> country; values not listed go through the code/name table.
    country_values: Mapping[str, Country] = field(default_factory=dict)
    id_column: str | None = None
    weight_column: str | None = None
    #: respondent-level columns kept beside the table: file column -> name in ``respondents``.
    extra_columns: Mapping[str, str] = field(default_factory=dict)
    #: What the loader recognised the file as, for the load report ("WVS-7 cross-national release").
    name: str = ""
    #: Columns that label the file itself (``version``, ``doi``, ``data_label``; file spellings).
    label_columns: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        wanted = [self.country_column, *self.items]
        wanted += [c for c in (self.id_column, self.weight_column) if c]
        wanted += list(self.extra_columns)
        wanted += list(self.label_columns)
        return list(dict.fromkeys(wanted))


def _country_of(value: object, layout: Layout, labels: Mapping[object, str]) -> Country | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value).strip()
    if text.casefold() in layout.country_values:
        return layout.country_values[text.casefold()]
    found = lookup(text)
    if found is None and value in labels:
        found = lookup(labels[value])
    return found


def _select_countries(
    frame: pd.DataFrame, header: FileHeader, layout: Layout, countries: Sequence[Country] | None
) -> tuple[pd.Series, np.ndarray, tuple[Country, ...], list[str]]:
    """The alpha-3 code of each kept row, the mask of kept rows, the countries kept (``None``: every
    country in the file, in code order) and notes on values that name no country."""
    raw = frame[layout.country_column]
    labels = header.value_labels.get(layout.country_column, {})
    mapping = {value: _country_of(value, layout, labels) for value in pd.unique(raw.dropna())}
    codes = raw.map(lambda v: getattr(mapping.get(v), "alpha3", None))
    notes: list[str] = []
    if countries is None:
        countries = tuple(sorted({c for c in mapping.values() if c is not None}, key=lambda c: c.alpha2))
        unknown = [v for v, c in mapping.items() if c is None]
        if unknown:
            rows = int(raw.isin(unknown).sum())
            shown = ", ".join(repr(v) for v in unknown[:5])
            notes.append(f"countries all: {rows} rows with values that name no country skipped ({shown})")
        if not countries:
            raise DataError(
                "no value of the country column names a country",
                path=header.path,
                column=layout.country_column,
            )
    for country in countries:
        if not (codes == country.alpha3).any():
            seen = ", ".join(repr(v) for v in list(mapping)[:8]) or "none"
            raise DataError(
                f"no respondents for country {country.alpha3} (values found: {seen})",
                path=header.path,
                column=layout.country_column,
            )
    keep = codes.isin([c.alpha3 for c in countries]).to_numpy()
    return codes[keep].reset_index(drop=True), keep, tuple(countries), notes


def _numeric(series: pd.Series, header: FileHeader, column: str) -> np.ndarray:
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.to_numpy(dtype=float, na_value=np.nan)
    stripped = series.astype("string").str.strip()
    numbers = pd.to_numeric(stripped, errors="coerce")
    bad = stripped.notna() & (stripped != "") & numbers.isna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataError(
            f"text value {stripped.iloc[row]!r} in row {row + 1} (of the rows kept), {int(bad.sum())} such rows; "
            "expected numbers",
            path=header.path,
            column=column,
        )
    return numbers.to_numpy(dtype=float, na_value=np.nan)


def _map_missing(
    values: np.ndarray, column: str, header: FileHeader, layout: Layout, tally: Counter[str]
) -> tuple[np.ndarray, int]:
    system = int(np.isnan(values).sum())
    missing = np.isin(values, layout.missing_codes)
    for lo, hi in header.missing_ranges.get(column, []):
        missing |= (values >= lo) & (values <= hi)
    if missing.any():
        codes, counts = np.unique(values[missing], return_counts=True)
        for code, count in zip(codes, counts, strict=True):
            tally[f"{code:g}"] += int(count)
        values = np.where(missing, np.nan, values)
    return values, system


def _check_range(values: np.ndarray, column: str, header: FileHeader, layout: Layout) -> None:
    lo, hi = layout.scale
    answered = ~np.isnan(values)
    bad = answered & ((values < lo) | (values > hi) | (values != np.round(values)))
    if bad.any():
        first = values[np.flatnonzero(bad)[0]]
        raise DataError(
            f"value {first:g} outside the scale {lo:g}-{hi:g} ({int(bad.sum())} rows); "
            "declare missing codes in the mapping file if it is one",
            path=header.path,
            column=column,
        )


def _participants(frame: pd.DataFrame, keep: np.ndarray, header: FileHeader, layout: Layout) -> np.ndarray:
    if layout.id_column is None:
        return np.flatnonzero(keep).astype(np.int64) + 1  # 1-based row number in the file
    ids = frame.loc[keep, layout.id_column].reset_index(drop=True)
    if ids.isna().any():
        row = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise DataError(
            f"missing respondent id in row {row + 1} (of the rows kept)",
            path=header.path,
            column=layout.id_column,
        )
    if pd.api.types.is_float_dtype(ids) and (ids == ids.round()).all():
        ids = ids.astype(np.int64)
    text = ids.astype(str).str.strip().to_numpy()
    duplicated = pd.Series(text).duplicated(keep=False)
    if duplicated.any():
        first = text[np.flatnonzero(duplicated.to_numpy())[0]]
        raise DataError(
            f"duplicated respondent id {first!r} ({int(duplicated.sum())} rows share an id)",
            path=header.path,
            column=layout.id_column,
        )
    return text


def _weights(frame: pd.DataFrame, keep: np.ndarray, header: FileHeader, layout: Layout) -> np.ndarray:
    if layout.weight_column is None:
        return np.ones(int(keep.sum()))
    column = layout.weight_column
    weights = _numeric(frame.loc[keep, column].reset_index(drop=True), header, column)
    bad = ~np.isfinite(weights) | (weights <= 0)
    if bad.any():
        raise DataError(
            f"weight must be a positive number; {int(bad.sum())} rows are missing, zero or negative "
            f"(first: {weights[np.flatnonzero(bad)[0]]:g})",
            path=header.path,
            column=column,
        )
    return weights


def _counts(ratings: np.ndarray) -> CountryCounts:
    answered = ~np.isnan(ratings)
    n_answered = answered.sum(axis=1)
    k = ratings.shape[1]
    with np.errstate(all="ignore"):
        spread = np.where(
            n_answered > 0, np.nanmax(np.where(answered, ratings, -np.inf), axis=1), 0
        ) - np.where(n_answered > 0, np.nanmin(np.where(answered, ratings, np.inf), axis=1), 0)
    flat = (n_answered >= 2) & (spread == 0)
    complete = n_answered == k
    return CountryCounts(
        rows_read=len(ratings),
        rows_any_missing=int((n_answered < k).sum()),
        rows_all_missing=int((n_answered == 0).sum()),
        complete=int(complete.sum()),
        zero_variance=int(flat.sum()),
        zero_variance_complete=int((flat & complete).sum()),
    )


def _labels(frame: pd.DataFrame, layout: Layout) -> dict[str, list[str]]:
    """Distinct values (at most three, in file order) of each label column."""
    labels = {}
    for column in layout.label_columns:
        values = [str(v).strip() for v in pd.unique(frame[column].dropna()) if str(v).strip()]
        if values:
            labels[column.casefold()] = values[:3]
    return labels


def _release(labels: Mapping[str, list[str]]) -> str | None:
    parts = [f"{name} {', '.join(labels[name])}" for name in ("version", "doi") if name in labels]
    return "; ".join(parts) or None


def _synthetic_warnings(path: Path, flag: bool, evidence: str | None) -> tuple[str, ...]:
    if flag and evidence is None:
        return (
            f"{path.name}: study.yaml says synthetic, but the file carries no synthetic label; "
            "the report labels it synthetic, the artifact treats it as microdata",
        )
    if evidence is not None and not flag:
        return (
            f"{path.name}: the file is labelled synthetic ({evidence}) but study.yaml does not say "
            "synthetic: true; the report labels it synthetic",
        )
    return ()


def assemble(
    header: FileHeader,
    frame: pd.DataFrame,
    layout: Layout,
    countries: Sequence[Country] | None,
    *,
    synthetic: bool,
    notes: Sequence[str] = (),
    started: float | None = None,
) -> HumanData:
    """Validate the columns read and build the long humans table plus its load report
    (``countries`` None: every country of the file)."""
    codes, keep, countries, country_notes = _select_countries(frame, header, layout, countries)
    notes = [*notes, *country_notes]
    participants = _participants(frame, keep, header, layout)
    weights = _weights(frame, keep, header, layout)
    tally: Counter[str] = Counter()
    system_missing = 0
    ratings = np.empty((int(keep.sum()), len(layout.items)))
    for j, column in enumerate(layout.items):
        values = _numeric(frame.loc[keep, column].reset_index(drop=True), header, column)
        values, system = _map_missing(values, column, header, layout, tally)
        _check_range(values, column, header, layout)
        ratings[:, j] = values
        system_missing += system

    by_alpha3 = {c.alpha3: c for c in countries}
    nationality = codes.map(lambda a: by_alpha3[a].alpha2).to_numpy(dtype=object)
    item_ids = list(layout.items.values())
    participant_text = participants.astype(str).astype(object)
    table = pd.DataFrame(
        {
            "participant": np.repeat(participant_text, len(item_ids)),
            "nationality": np.repeat(nationality, len(item_ids)),
            "item": np.tile(np.asarray(item_ids, dtype=object), len(participants)),
            "rating": ratings.ravel(),
            "weight": np.repeat(weights, len(item_ids)),
        },
        columns=list(HUMANS_COLUMNS),
    )
    respondents = pd.DataFrame(
        {
            "participant": participant_text,
            "nationality": nationality,
            "country": codes.to_numpy(dtype=object),
            "weight": weights,
        }
    )
    for column, name in layout.extra_columns.items():
        respondents[name] = frame.loc[keep, column].to_numpy()

    all_notes = list(notes)
    if layout.weight_column is None:
        all_notes.append("no weight column: every respondent has weight 1")
    if layout.id_column is None:
        all_notes.append("no respondent id column: participant is the 1-based row number in the file")
    labels = _labels(frame, layout)
    evidence = synthetic_evidence(header, labels)
    report = LoadReport(
        file=str(header.path),
        format=header.format,
        instrument=layout.instrument,
        countries={c.alpha3: _counts(ratings[(codes == c.alpha3).to_numpy()]) for c in countries},
        items=tuple(item_ids),
        columns_read=tuple(layout.columns),
        columns_in_file=len(header.columns),
        rows_in_file=len(frame),
        missing_codes_mapped=dict(sorted(tally.items())),
        user_missing_definitions={
            column: [f"{lo:g}..{hi:g}" if lo != hi else f"{lo:g}" for lo, hi in header.missing_ranges[column]]
            for column in layout.items
            if column in header.missing_ranges
        },
        system_missing=system_missing,
        weight_column=layout.weight_column,
        id_column=layout.id_column,
        country_column=layout.country_column,
        synthetic=synthetic or evidence is not None,
        file_label=header.file_label,
        notes=tuple(all_notes),
        seconds=round(time.perf_counter() - started, 3) if started is not None else 0.0,
        layout=layout.name,
        release=_release(labels),
        labels=labels,
        synthetic_flag=synthetic,
        synthetic_in_file=evidence is not None,
        synthetic_evidence=evidence,
        warnings=_synthetic_warnings(Path(header.path), synthetic, evidence),
    )
    metadata = {
        "file_label": header.file_label,
        "column_labels": {c: header.column_labels[c] for c in layout.columns if c in header.column_labels},
        "value_labels": {c: header.value_labels[c] for c in layout.columns if c in header.value_labels},
    }
    return HumanData(table=table, respondents=respondents, report=report, metadata=metadata)
