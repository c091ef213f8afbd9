"""Read only the needed columns of a .sav, .dta, .csv or .rds file, and say clearly when a file is bad.

Each format is read in two steps: :func:`read_header` (column names, row count, labels and SPSS
user-missing definitions, without the data) and :func:`read_columns` (the data of the named columns
only). A full WVS-7 release is ~97,000 rows x 600+ columns; the loaders need ~25 of them.
"""

from __future__ import annotations

import csv
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyreadstat

from valuesurvey.errors import DataError, MissingComponentError

__all__ = [
    "FORMATS",
    "LABEL_COLUMNS",
    "FileHeader",
    "detect_format",
    "file_synthetic_evidence",
    "read_columns",
    "read_header",
    "synthetic_evidence",
]

FORMATS = ("sav", "dta", "csv", "rds")
_SUFFIXES = {
    ".sav": "sav",
    ".zsav": "sav",
    ".dta": "dta",
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".rds": "rds",
}


@dataclass(frozen=True)
class FileHeader:
    """What a file declares about itself before its data are read."""

    path: Path
    format: str
    columns: tuple[str, ...]
    n_rows: int | None
    file_label: str | None = None
    column_labels: dict[str, str] = field(default_factory=dict)
    value_labels: dict[str, dict[Any, str]] = field(default_factory=dict)
    #: SPSS user-missing definitions: column -> list of (lo, hi) ranges (a single value has lo == hi).
    missing_ranges: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    delimiter: str = ","
    #: Document notes (SPSS ``DOCUMENT`` records), e.g. where the file came from.
    notes: tuple[str, ...] = ()

    def resolve(self, name: str) -> str | None:
        """The file's own spelling of column ``name`` (matched case-insensitively), or ``None``."""
        if name in self.columns:
            return name
        folded = name.casefold()
        for column in self.columns:
            if column.casefold() == folded:
                return column
        return None


#: Columns whose values label the file itself (the same in every row): the WVS releases' ``version``
#: and ``doi``; ``data_label`` of the shipped synthetic CSV (a CSV has no file label).
LABEL_COLUMNS = ("version", "doi", "data_label")
_SYNTHETIC = re.compile(r"\bsynthetic\b", re.IGNORECASE)


def synthetic_evidence(header: FileHeader, labels: dict[str, list[str]] | None = None) -> str | None:
    """Where the file itself says it is synthetic (its file label, notes or label columns), or None.

    The file name is not evidence: a renamed file keeps its label, and a real file may be named
    anything.

    Examples
    --------
    >>> header = FileHeader(Path("x.sav"), "sav", ("Q1",), 1, file_label="SYNTHETIC WVS-7 layout")
    >>> synthetic_evidence(header)
    "file label 'SYNTHETIC WVS-7 layout'"
    >>> synthetic_evidence(FileHeader(Path("SYNTHETIC.csv"), "csv", ("Q1",), None)) is None
    True
    """
    if header.file_label and _SYNTHETIC.search(header.file_label):
        return f"file label {header.file_label!r}"
    for note in header.notes:
        if _SYNTHETIC.search(note):
            return f"file note {note!r}"
    for column, values in (labels or {}).items():
        for value in values:
            if _SYNTHETIC.search(value):
                return f"column {column} {value!r}"
    return None


def file_synthetic_evidence(path: Path, format: str = "auto") -> str | None:
    """:func:`synthetic_evidence` of a file, reading its header and label columns only.

    Raises
    ------
    DataError
        The file is missing or unreadable.
    """
    header = read_header(path, format)
    columns = [c for c in (header.resolve(name) for name in LABEL_COLUMNS) if c]
    labels: dict[str, list[str]] = {}
    if columns:
        frame = read_columns(header, columns)
        for column in columns:
            values = [str(v).strip() for v in pd.unique(frame[column].dropna()) if str(v).strip()]
            labels[column.casefold()] = values[:3]
    return synthetic_evidence(header, labels)


def detect_format(path: Path, format: str = "auto") -> str:
    """The file format from ``format`` or, when ``"auto"``, from the file name's suffix."""
    if format != "auto":
        if format not in FORMATS:
            raise DataError(f"unknown format {format!r}; valid values: auto, {', '.join(FORMATS)}", path=path)
        return format
    suffix = path.suffix.lower()
    if suffix not in _SUFFIXES:
        raise DataError(
            f"cannot tell the format from the suffix {suffix!r}; pass format= one of {', '.join(FORMATS)}",
            path=path,
        )
    return _SUFFIXES[suffix]


def read_header(path: Path, format: str = "auto") -> FileHeader:
    """Column names, row count, labels and user-missing definitions, without reading the data."""
    fmt = detect_format(path, format)
    if not path.is_file():
        raise DataError("file not found", path=path)
    if path.stat().st_size == 0:
        raise DataError(f"empty file (0 bytes); not a valid {fmt} file", path=path)
    return {"sav": _sav_header, "dta": _dta_header, "csv": _csv_header, "rds": _rds_header}[fmt](path)


def read_columns(header: FileHeader, columns: list[str]) -> pd.DataFrame:
    """The data of ``columns`` (exact names from ``header.columns``), all rows, in file order.

    SPSS user-missing values are returned as their codes (the caller applies
    ``header.missing_ranges``), so that the load report can count each code.
    """
    reader = {"sav": _sav_data, "dta": _dta_data, "csv": _csv_data, "rds": _rds_data}[header.format]
    frame = reader(header, columns)
    if header.n_rows is not None and header.n_rows >= 0 and len(frame) != header.n_rows:
        raise DataError(
            f"cannot read {header.format} file (truncated or corrupt?): header declares {header.n_rows} rows, "
            f"{len(frame)} could be read",
            path=header.path,
        )
    return frame


# --- SPSS and Stata (pyreadstat) -----------------------------------------------------------------


def _corrupt(path: Path, fmt: str, exc: Exception) -> DataError:
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return DataError(f"cannot read {fmt} file (truncated or corrupt?): {reason}", path=path)


def _missing_ranges(meta: Any) -> dict[str, list[tuple[float, float]]]:
    ranges: dict[str, list[tuple[float, float]]] = {}
    for column, specs in (getattr(meta, "missing_ranges", None) or {}).items():
        numeric = [
            (float(s["lo"]), float(s["hi"]))
            for s in specs
            if isinstance(s.get("lo"), int | float) and isinstance(s.get("hi"), int | float)
        ]
        if numeric:
            ranges[column] = numeric
    return ranges


def _meta_header(path: Path, fmt: str, meta: Any) -> FileHeader:
    n_rows = meta.number_rows if isinstance(meta.number_rows, int) and meta.number_rows >= 0 else None
    return FileHeader(
        path=path,
        format=fmt,
        columns=tuple(meta.column_names),
        n_rows=n_rows,
        file_label=meta.file_label or None,
        column_labels={k: v for k, v in meta.column_names_to_labels.items() if v},
        value_labels=dict(meta.variable_value_labels),
        missing_ranges=_missing_ranges(meta),
        notes=tuple(str(note) for note in (getattr(meta, "notes", None) or []) if str(note).strip()),
    )


def _sav_header(path: Path) -> FileHeader:
    try:
        _, meta = pyreadstat.read_sav(path, metadataonly=True, user_missing=True)
    except Exception as exc:  # pyreadstat raises several unrelated types for bad files
        raise _corrupt(path, "sav", exc) from exc
    return _meta_header(path, "sav", meta)


def _check_dta_ending(path: Path) -> None:
    # Stata 13+ files are tagged like XML and end with </stata_dta>; ReadStat does not notice a file
    # cut inside the value-label section that follows the data, so check the closing tag ourselves.
    with path.open("rb") as handle:
        opening = handle.read(11)
        handle.seek(max(path.stat().st_size - 12, 0))
        ending = handle.read()
    if opening == b"<stata_dta>" and not ending.rstrip(b"\r\n").endswith(b"</stata_dta>"):
        raise DataError(
            "cannot read dta file (truncated or corrupt?): the closing </stata_dta> tag is missing", path=path
        )


def _dta_header(path: Path) -> FileHeader:
    _check_dta_ending(path)
    try:
        _, meta = pyreadstat.read_dta(path, metadataonly=True)
    except Exception as exc:
        raise _corrupt(path, "dta", exc) from exc
    return _meta_header(path, "dta", meta)


def _sav_data(header: FileHeader, columns: list[str]) -> pd.DataFrame:
    try:
        frame, _ = pyreadstat.read_sav(header.path, usecols=columns, user_missing=True)
    except Exception as exc:
        raise _corrupt(header.path, "sav", exc) from exc
    return frame


def _dta_data(header: FileHeader, columns: list[str]) -> pd.DataFrame:
    # Stata's extended missing values (.a-.z) become NaN: WVS .dta files code missing answers as
    # negative numbers with value labels instead, which the loaders map themselves.
    try:
        frame, _ = pyreadstat.read_dta(header.path, usecols=columns)
    except Exception as exc:
        raise _corrupt(header.path, "dta", exc) from exc
    return frame


# --- CSV (pyarrow: reads only the included columns, checks every row's field count) ------------


def _sniff_delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in (",", ";", "\t")}
    return max(counts, key=counts.__getitem__)


def _csv_header(path: Path) -> FileHeader:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            first = handle.readline()
    except UnicodeDecodeError as exc:
        raise DataError(f"not a UTF-8 text CSV file (corrupt or binary?): {exc.reason}", path=path) from exc
    if not first.strip():
        raise DataError("CSV file has no header line", path=path)
    delimiter = _sniff_delimiter(first)
    names = next(csv.reader([first], delimiter=delimiter))
    return FileHeader(
        path=path, format="csv", columns=tuple(n.strip() for n in names), n_rows=None, delimiter=delimiter
    )


def _csv_data(header: FileHeader, columns: list[str]) -> pd.DataFrame:
    try:
        table = pacsv.read_csv(
            header.path,
            read_options=pacsv.ReadOptions(encoding="utf8", use_threads=False),
            parse_options=pacsv.ParseOptions(delimiter=header.delimiter),
            convert_options=pacsv.ConvertOptions(
                include_columns=columns, strings_can_be_null=True, null_values=["", "NA", "NaN", "."]
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowException, UnicodeDecodeError) as exc:
        raise _corrupt(header.path, "csv", exc) from exc
    return table.to_pandas()


# --- R's .rds (read by Rscript; only the needed columns cross into Python) ----------------------

_R_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
x <- tryCatch(readRDS(args[[1]]), error = function(e) { message(conditionMessage(e)); quit(status = 3) })
if (!is.data.frame(x)) { message("the object in the file is not a data frame"); quit(status = 4) }
if (args[[2]] == "names") {
  writeLines(c(as.character(nrow(x)), names(x)), args[[3]], useBytes = TRUE)
} else {
  cols <- strsplit(args[[4]], "\t", fixed = TRUE)[[1]]
  y <- as.data.frame(lapply(as.list(x)[cols], function(v) {
    if (is.factor(v)) as.character(v) else as.vector(unclass(v))
  }), stringsAsFactors = FALSE, check.names = FALSE)
  utils::write.csv(y, args[[3]], row.names = FALSE, na = "", fileEncoding = "UTF-8")
}
"""


def _rscript(path: Path, mode: str, out: Path, columns: list[str] | None = None) -> None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        raise MissingComponentError("Rscript (needed to read .rds files)", "apt-get install r-base-core")
    with tempfile.TemporaryDirectory(prefix="valuesurvey-rds-") as tmp:
        script = Path(tmp) / "read_rds.R"
        script.write_text(_R_SCRIPT, encoding="utf-8")
        argv = [rscript, "--vanilla", str(script), str(path), mode, str(out)]
        if columns is not None:
            argv.append("\t".join(columns))
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        reason = " ".join(done.stderr.split()) or f"Rscript exit status {done.returncode}"
        raise DataError(f"cannot read rds file (truncated or corrupt?): {reason}", path=path)


def _rds_header(path: Path) -> FileHeader:
    with tempfile.TemporaryDirectory(prefix="valuesurvey-rds-") as tmp:
        out = Path(tmp) / "names.txt"
        _rscript(path, "names", out)
        lines = out.read_text(encoding="utf-8").splitlines()
    return FileHeader(path=path, format="rds", columns=tuple(lines[1:]), n_rows=int(lines[0]))


def _rds_data(header: FileHeader, columns: list[str]) -> pd.DataFrame:
    with tempfile.TemporaryDirectory(prefix="valuesurvey-rds-") as tmp:
        out = Path(tmp) / "columns.csv"
        _rscript(header.path, "columns", out, columns)
        csv_header = FileHeader(path=out, format="csv", columns=tuple(columns), n_rows=None)
        try:
            return _csv_data(csv_header, columns)
        except DataError as exc:
            raise DataError(f"cannot read the columns R extracted: {exc}", path=header.path) from exc
