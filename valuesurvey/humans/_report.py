"""What a loader returns: the humans table plus a load report that says what happened to each row."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from valuesurvey.study import HUMANS_COLUMNS

__all__ = ["HUMANS_COLUMNS", "CountryCounts", "HumanData", "LoadReport"]


@dataclass(frozen=True)
class CountryCounts:
    """Row counts for one country of one file.

    ``zero_variance`` counts respondents who answered at least two items and gave every answered
    item the same rating (straight-liners): they cannot be z-scored, so later stages count them
    again; the loader keeps them in the table.
    """

    rows_read: int
    rows_any_missing: int
    rows_all_missing: int
    complete: int
    zero_variance: int
    zero_variance_complete: int


@dataclass(frozen=True)
class LoadReport:
    """What the loader read, mapped and found, one per file (written as ``<instrument>_load_report.json``)."""

    file: str
    format: str
    instrument: str
    countries: dict[str, CountryCounts]
    items: tuple[str, ...]
    columns_read: tuple[str, ...]
    columns_in_file: int
    rows_in_file: int
    missing_codes_mapped: dict[str, int]
    user_missing_definitions: dict[str, list[str]]
    system_missing: int
    weight_column: str | None
    id_column: str | None
    country_column: str
    synthetic: bool
    file_label: str | None = None
    notes: tuple[str, ...] = ()
    seconds: float = 0.0
    #: The layout the loader recognised (e.g. "WVS-7 cross-national release").
    layout: str = ""
    #: Release or version the file states about itself (WVS ``version`` and ``doi``), else None.
    release: str | None = None
    #: Distinct values of the file's label columns (``version``, ``doi``, ``data_label``).
    labels: dict[str, list[str]] = field(default_factory=dict)
    #: ``synthetic:`` of study.yaml (or the loader's ``synthetic=`` argument).
    synthetic_flag: bool = False
    #: What the file itself says (file label, notes, label columns); see ``synthetic_evidence``.
    synthetic_in_file: bool = False
    synthetic_evidence: str | None = None
    #: Disagreements a reader must know of (flag vs file), also logged as warnings.
    warnings: tuple[str, ...] = ()

    @property
    def complete(self) -> int:
        return sum(c.complete for c in self.countries.values())

    @property
    def zero_variance(self) -> int:
        return sum(c.zero_variance for c in self.countries.values())

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dictionary (the content of ``<instrument>_load_report.json``)."""
        data = asdict(self)
        data["items"] = list(self.items)
        data["columns_read"] = list(self.columns_read)
        data["notes"] = list(self.notes)
        data["warnings"] = list(self.warnings)
        return data

    def format_text(self) -> str:
        """A short human-readable summary (what ``valuesurvey humans load`` prints)."""
        lines = [
            f"file: {self.file}" + ("  [SYNTHETIC]" if self.synthetic else ""),
            f"layout: {self.layout or 'unknown'}; release: {self.release or 'not stated in the file'}",
            "synthetic: "
            + (
                f"yes, the file says so ({self.synthetic_evidence})"
                if self.synthetic_in_file
                else "not labelled in the file"
            )
            + f"; study.yaml synthetic: {str(self.synthetic_flag).lower()}",
            f"format: {self.format}; instrument: {self.instrument}; {len(self.items)} items; "
            f"read {len(self.columns_read)} of {self.columns_in_file} columns, "
            f"{self.rows_in_file} rows in file",
            f"country column: {self.country_column}; id column: {self.id_column or '(row number)'}; "
            f"weight column: {self.weight_column or '(none: weight 1)'}",
            "country   rows  any-missing  all-missing  complete  zero-variance (complete)",
        ]
        for code, c in self.countries.items():
            lines.append(
                f"{code:<7} {c.rows_read:>6} {c.rows_any_missing:>12} {c.rows_all_missing:>12} "
                f"{c.complete:>9} {c.zero_variance:>14} ({c.zero_variance_complete})"
            )
        mapped = ", ".join(f"{k}: {v}" for k, v in self.missing_codes_mapped.items()) or "none"
        lines.append(f"missing codes mapped to NA: {mapped}; blank/system missing: {self.system_missing}")
        if self.user_missing_definitions:
            lines.append(f"user-missing definitions applied to {len(self.user_missing_definitions)} columns")
        lines.extend(f"note: {note}" for note in self.notes)
        lines.extend(f"WARNING: {warning}" for warning in self.warnings)
        lines.append(f"seconds: {self.seconds:.2f}")
        return "\n".join(lines)


@dataclass(frozen=True)
class HumanData:
    """A loaded human data file.

    Attributes
    ----------
    table : pandas.DataFrame
        The humans table, long format: participant (str), nationality (CN/US), item, rating
        (float, NaN where the respondent gave a missing code), weight (float). Every respondent
        of the selected countries appears with every item.
    respondents : pandas.DataFrame
        One row per respondent: participant, nationality, country (ISO alpha-3), weight and,
        for WVS files, ``s018`` (the equilibrated weight) where the file has it.
    report : LoadReport
    metadata : dict
        File label, column labels and value labels of the columns read.
    """

    table: pd.DataFrame
    respondents: pd.DataFrame
    report: LoadReport
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> Path:
        return Path(self.report.file)

    def wide(self) -> pd.DataFrame:
        """Ratings as one row per participant and one column per item (items in instrument order)."""
        wide = self.table.pivot(index="participant", columns="item", values="rating")
        order = pd.Index(self.respondents["participant"])
        return wide.reindex(index=order, columns=list(self.report.items))
