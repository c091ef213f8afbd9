"""MFQ-2 human data: the OSF Study-2 CSV layout, and any other layout through a YAML column mapping."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from valuesurvey._config import read_yaml_mapping, validation_message
from valuesurvey.design import DEFAULT_COUNTRIES
from valuesurvey.errors import ConfigError, DataError
from valuesurvey.humans._assemble import Layout, assemble
from valuesurvey.humans._countries import lookup, select_countries
from valuesurvey.humans._readers import LABEL_COLUMNS, read_columns, read_header
from valuesurvey.humans._report import HumanData

__all__ = [
    "MFQ2_DROPPED_COLUMNS",
    "MFQ2_ITEMS",
    "MFQ2_SCALE",
    "STUDY2_COLUMNS",
    "ColumnMapping",
    "load_mapping",
    "load_mfq2",
    "study2_mapping",
]

MFQ2_ITEMS = tuple(f"mfq2_{n:02d}" for n in range(1, 37))
MFQ2_FOUNDATIONS = ("Care", "Equality", "Proportionality", "Loyalty", "Authority", "Purity")
MFQ2_SCALE = (1.0, 5.0)

#: OSF srtxn Study-2 column of each final item, in published order (reference/instruments.md).
STUDY2_COLUMNS = (
    "care12", "equality4", "proportionality5", "loyalty5", "authority11", "purity3",
    "care11", "equality10", "propFairness3", "loyalty16", "authority6", "purity2",
    "care13", "equality2", "proportionality17", "loyalty12", "authority18", "purity17",
    "care3", "equalFairness6", "proportionality9", "loyalty13", "authority20", "purity13",
    "care14", "equalFairness10", "proportionality12", "loyalty14", "authority14", "purity9",
    "care1", "equality6", "propFairness1", "loyalty6", "authority8", "purity6",
)  # fmt: skip
#: The 14 Study-2 item columns that did not make the final 36 (column -> foundation).
MFQ2_DROPPED_COLUMNS = {
    "care4": "Care", "care8": "Care", "equality11": "Equality", "propFairness8": "Proportionality",
    "propFairness9": "Proportionality", "loyalty3": "Loyalty", "loyalty8": "Loyalty",
    "loyalty_new1": "Loyalty", "authority1": "Authority", "authority4": "Authority",
    "authority17": "Authority", "purity4": "Purity", "purity7": "Purity", "purity14": "Purity",
}  # fmt: skip


class ColumnMapping(BaseModel):
    """Where an MFQ-2 file keeps its items, country, respondent id and weight (a YAML file).

    Example (``data/synthetic/SYNTHETIC_mfq2_MFQ_names.mapping.yaml``)::

        instrument: mfq2
        country_column: nation
        countries: {1: CHN, 2: USA}     # file value -> country (codes or names)
        id_column: respondent_id        # optional: row number otherwise
        weight_column: null             # optional: weight 1 otherwise
        missing_codes: [-99]            # optional: values that mean "no answer"
        items: {MFQ_1: mfq2_01, MFQ_2: mfq2_02, ...}   # file column -> item id, all 36
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    instrument: str = "mfq2"
    items: dict[str, str] = Field(..., description="file column -> item id")
    country_column: str = "country"
    countries: dict[str, str] = Field(default_factory=dict, description="file value -> country code")
    id_column: str | None = None
    weight_column: str | None = None
    missing_codes: tuple[float, ...] = ()

    @field_validator("countries", mode="before")
    @classmethod
    def _keys_as_text(cls, value: Any) -> Any:
        # YAML reads `1: CHN` with an integer key; file values are compared as text.
        return {str(k): v for k, v in value.items()} if isinstance(value, dict) else value

    @field_validator("countries")
    @classmethod
    def _known_countries(cls, value: dict[str, str]) -> dict[str, str]:
        for key, code in value.items():
            if lookup(code) is None:
                raise ValueError(
                    f"value {key!r} maps to unknown country {code!r} (write an ISO 3166 code: CHN, USA, DEU, ...)"
                )
        return value

    @field_validator("items")
    @classmethod
    def _all_items_once(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value.values()) - set(MFQ2_ITEMS))
        if unknown:
            raise ValueError(f"unknown item ids {unknown}; valid: mfq2_01 ... mfq2_36")
        if len(set(value.values())) != len(value):
            raise ValueError("an item id is mapped from two columns")
        absent = [item for item in MFQ2_ITEMS if item not in set(value.values())]
        if absent:
            raise ValueError(f"items not mapped: {', '.join(absent)}")
        return value


def _instrument_study2_columns() -> dict[str, str] | None:
    """Study-2 column names from the instruments package (``Item.column``), when its items carry them."""
    try:
        from valuesurvey import instruments

        items = instruments.get("mfq2").items
        columns = {getattr(item, "column", None): item.id for item in items}
    except (ImportError, AttributeError, LookupError):
        return None
    if None in columns or set(columns.values()) != set(MFQ2_ITEMS):
        return None
    return columns  # type: ignore[return-value]


def study2_mapping() -> ColumnMapping:
    """The mapping of the OSF Study-2 CSV (``Study_2_raw_dat.csv``): item columns, ``country`` names."""
    columns = _instrument_study2_columns() or dict(zip(STUDY2_COLUMNS, MFQ2_ITEMS, strict=True))
    ordered = dict(sorted(columns.items(), key=lambda pair: pair[1]))
    return ColumnMapping(items=ordered, country_column="country")


def load_mapping(path: str | Path) -> ColumnMapping:
    """Read and validate a YAML column mapping; errors name the file and field."""
    path = Path(path)
    data = read_yaml_mapping(path, what="mapping", expected="'items' and 'country_column'")
    try:
        mapping = ColumnMapping.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(validation_message(path, exc)) from None
    if mapping.instrument != "mfq2":
        raise ConfigError(f"{path}: field instrument: {mapping.instrument!r} is not mfq2")
    return mapping


def _layout_name(mapping: str | Path | ColumnMapping | None) -> str:
    if mapping is None:
        return "MFQ-2, OSF Study-2 CSV layout"
    if isinstance(mapping, ColumnMapping):
        return "MFQ-2, column mapping given in code"
    return f"MFQ-2, column mapping {Path(mapping).name}"


def load_mfq2(
    path: str | Path,
    *,
    mapping: str | Path | ColumnMapping | None = None,
    countries: Sequence[str] | str = DEFAULT_COUNTRIES,
    format: str = "auto",
    synthetic: bool = False,
) -> HumanData:
    """Load MFQ-2 item ratings (``mfq2_01`` ... ``mfq2_36``, 1-5) from a .csv, .sav, .dta or .rds file.

    Parameters
    ----------
    path : str or Path
        The data file.
    mapping : path, ColumnMapping or None
        Where the file keeps items and country (see :class:`ColumnMapping`). ``None`` means the OSF
        Study-2 layout: 50 item columns named ``care12``, ``equality4``, ... (the 36 final items are
        kept) and a ``country`` column of country names.
    countries : sequence of str or str
        ISO 3166 codes (alpha-2 or alpha-3) of the countries to keep, or ``"all"`` (every country of
        the file). Default: the paper's China and the USA.
    format : {"auto", "sav", "dta", "csv", "rds"}
    synthetic : bool
        Mark the data as synthetic (also set when the file name or label says SYNTHETIC).

    Returns
    -------
    HumanData
        The humans table (participant, nationality, item, rating, weight) and the load report.

    Raises
    ------
    ConfigError
        The mapping file is invalid.
    DataError
        Naming the file and column: mapped columns missing, values outside 1-5, a text value,
        duplicated ids, no rows for a country, a truncated or corrupt file.

    Examples
    --------
    >>> from valuesurvey.humans.synthetic import shipped_files
    >>> data = load_mfq2(shipped_files()["mfq2_csv"])
    >>> data.table["item"].nunique(), sorted(data.table["nationality"].unique())
    (36, ['CN', 'US'])
    """
    started = time.perf_counter()
    path = Path(path)
    selected = select_countries(countries)
    if mapping is None:
        spec = study2_mapping()
    elif isinstance(mapping, ColumnMapping):
        spec = mapping
    else:
        spec = load_mapping(mapping)
    header = read_header(path, format)

    wanted = [*spec.items, spec.country_column, *(c for c in (spec.id_column, spec.weight_column) if c)]
    resolved = {name: header.resolve(name) for name in wanted}
    absent = [name for name, found in resolved.items() if found is None]
    if absent:
        shown = ", ".join(absent[:10]) + (f" (+{len(absent) - 10} more)" if len(absent) > 10 else "")
        hint = (
            ""
            if mapping is not None
            else "; not the OSF Study-2 layout? pass mapping= (a YAML column mapping)"
        )
        raise DataError(f"missing required column(s) {shown}{hint}", path=path)

    layout = Layout(
        instrument="mfq2",
        items={resolved[c]: item for c, item in sorted(spec.items.items(), key=lambda p: p[1])},  # type: ignore[misc]
        scale=MFQ2_SCALE,
        country_column=resolved[spec.country_column],  # type: ignore[arg-type]
        missing_codes=spec.missing_codes,
        country_values={k.casefold(): lookup(v) for k, v in spec.countries.items()},  # type: ignore[misc]
        id_column=resolved[spec.id_column] if spec.id_column else None,
        weight_column=resolved[spec.weight_column] if spec.weight_column else None,
        name=_layout_name(mapping),
        label_columns=tuple(c for c in (header.resolve(n) for n in LABEL_COLUMNS) if c),
    )
    notes = [] if mapping is not None else ["OSF Study-2 layout: 36 of the item columns kept"]
    frame = read_columns(header, layout.columns)
    return assemble(header, frame, layout, selected, synthetic=synthetic, notes=notes, started=started)
