"""Run the analyses declared in study.yaml: select the rows, export them, fit them in R, write the tables.

Every analysis is checked against its table before anything is fitted (columns, rows left by the
filter, coding levels, one rating scale for an ordinal model), so a typo in the last analysis fails
in seconds, not after the first analysis has been fitted. Errors name the study.yaml field.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from valuesurvey import _io
from valuesurvey.analyses._spec import AnalysisSpec
from valuesurvey.analyses._tables import TABLE_COLUMNS, load_table
from valuesurvey.analyses._where import WhereError
from valuesurvey.errors import ConfigError, RError

if TYPE_CHECKING:
    from valuesurvey.study import Study

__all__ = ["DeclaredFit", "declared_dir", "export_analysis", "fit_declared", "run_declared_analyses"]

log = logging.getLogger(__name__)

#: Tables of all declared analyses together (estimates/<name>.csv is each analysis's own).
COMBINED = {
    "glance": "declared_fit_info",
    "random": "declared_random_effects",
    "coding": "declared_coding",
    "simplification": "declared_simplification",
}
SETTINGS_FILES = ("settings.csv", "coding.csv", "emmeans.csv", "contrast_weights.csv", "columns.csv")


def declared_dir(study: Study) -> Path:
    """``STUDY_DIR/analyses``: the exported rows and settings ``Rscript R/run_models.R`` reads."""
    return study.root / "analyses"


@dataclass(frozen=True)
class DeclaredFit:
    """One declared analysis fitted: the tables R returned (empty frames where there are none)."""

    name: str
    tidy: pd.DataFrame
    random: pd.DataFrame
    glance: pd.DataFrame
    coding: pd.DataFrame
    simplification: pd.DataFrame
    emmeans: pd.DataFrame
    contrasts: pd.DataFrame


def _field(study: Study, index: int, field: str | None = None) -> str:
    where = f"analyses.{index}" + (f".{field}" if field else "")
    return f"{study.paths.study_yaml}: field {where}"


def _values_text(frame: pd.DataFrame, column: str, limit: int = 12) -> str:
    values = sorted(map(str, pd.unique(frame[column].dropna())))
    shown = ", ".join(values[:limit])
    return shown + (f", … ({len(values)} in all)" if len(values) > limit else "")


def _check_rows(
    study: Study, index: int, spec: AnalysisSpec, table: pd.DataFrame, rows: pd.DataFrame
) -> None:
    name = spec.data
    available = list(table.columns)
    for field, columns in (("where", spec.filter.columns), ("formula", spec.parsed_formula.variables)):
        unknown = [c for c in columns if c not in available]
        if unknown:
            raise ConfigError(
                f"{_field(study, index, field)}: column {unknown[0]!r} is not in this study's {name} table; "
                f"columns are: {', '.join(available)}"
            )
    if rows.empty:
        hints = "; ".join(f"{c}: {_values_text(table, c)}" for c in sorted(spec.filter.columns))
        raise ConfigError(
            f"{_field(study, index, 'where')}: no row of the {name} table ({len(table):,} rows) matches "
            f"{spec.filter.text!r}" + (f"; values present: {hints}" if hints else "")
        )
    if spec.family == "ordinal" and rows["instrument"].nunique() > 1:
        raise ConfigError(
            f"{_field(study, index, 'where')}: family ordinal models one rating scale, but the rows come "
            f"from {_values_text(rows, 'instrument')}; add e.g. instrument == "
            f"'{rows['instrument'].iloc[0]}' to where"
        )
    for coding in spec.codings:
        present = sorted(map(str, pd.unique(rows[coding.variable].dropna())))
        field = _field(study, index, f"coding.{coding.variable}")
        if coding.scheme == "half_sum" and len(present) != 2:
            raise ConfigError(
                f"{field}: half_sum needs exactly 2 levels, the rows have {len(present)}: "
                f"{', '.join(present[:12])}; filter with where or use sum or treatment"
            )
        if coding.level is not None and coding.level not in present:
            raise ConfigError(
                f"{field}: level {coding.level!r} is not in the rows; levels are: {', '.join(present[:40])}"
            )


def _table(study: Study, index: int, spec: AnalysisSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The analysis's whole table (columns only, for messages) and its rows after ``where``."""
    try:
        rows = load_table(study, spec.data, spec.filter)
    except WhereError as exc:
        raise ConfigError(f"{_field(study, index, 'where')}: {exc}") from None
    if rows.empty and spec.filter.node is not None:
        return load_table(study, spec.data), rows
    return rows, rows


def export_analysis(study: Study, index: int, spec: AnalysisSpec) -> pd.DataFrame:
    """Select, check and return the rows of one analysis (only the columns its formula uses, and the
    instrument beside a participant: ids are a person's only within one instrument's file)."""
    table, rows = _table(study, index, spec)
    _check_rows(study, index, spec, table, rows)
    variables = set(spec.parsed_formula.variables)
    if "participant" in variables and "instrument" in table.columns:
        variables.add("instrument")
    used = [c for c in table.columns if c in variables]
    return rows[used].reset_index(drop=True)


def _settings_frames(study: Study, exported: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    settings, coding, emmeans, weights, columns = [], [], [], [], []
    for spec in study.analyses:
        settings.append(
            {
                "name": spec.name,
                "data": spec.data,
                "family": spec.family,
                "link": spec.link_function,
                "formula": spec.formula,
                "simplify": "true" if spec.simplify else "false",
                "ddf": study.analysis.ddf,
                "conf_level": 0.95,
                "where": spec.filter.text,
            }
        )
        coding += [
            {"analysis": spec.name, "variable": c.variable, "scheme": c.scheme, "level": c.level or ""}
            for c in spec.codings
        ]
        for k, emm in enumerate(spec.emmeans, start=1):
            emmeans.append(
                {
                    "analysis": spec.name,
                    "index": k,
                    "specs": emm.specs,
                    "contrasts": emm.contrast_method,
                    "ref": emm.ref or "",
                    "adjust": emm.adjust or "",
                    "mode": emm.mode or "",
                }
            )
            if isinstance(emm.contrasts, dict):
                weights += [
                    {"analysis": spec.name, "index": k, "contrast": label, "weights": " ".join(map(repr, w))}
                    for label, w in emm.contrasts.items()
                ]
        kinds = TABLE_COLUMNS[spec.data]
        columns += [
            {"analysis": spec.name, "column": c, "kind": kinds[c]} for c in exported[spec.name].columns
        ]
    frames = {
        "settings.csv": (
            settings,
            ["name", "data", "family", "link", "formula", "simplify", "ddf", "conf_level", "where"],
        ),
        "coding.csv": (coding, ["analysis", "variable", "scheme", "level"]),
        "emmeans.csv": (emmeans, ["analysis", "index", "specs", "contrasts", "ref", "adjust", "mode"]),
        "contrast_weights.csv": (weights, ["analysis", "index", "contrast", "weights"]),
        "columns.csv": (columns, ["analysis", "column", "kind"]),
    }
    return {name: pd.DataFrame(rows, columns=cols) for name, (rows, cols) in frames.items()}


def _previous_names(folder: Path) -> list[str]:
    path = folder / "settings.csv"
    if not path.exists():
        return []
    try:
        return [str(n) for n in pd.read_csv(path, dtype=str)["name"].dropna()]
    except Exception:  # an unreadable old file: nothing to clean up
        return []


def _remove_stale(study: Study, current: Sequence[str]) -> None:
    """Files of analyses no longer declared (a renamed or deleted analysis leaves nothing behind)."""
    folder = declared_dir(study)
    for name in set(_previous_names(folder)) - set(current):
        for path in (
            folder / f"{name}_rows.csv",
            *(study.paths.estimates(f"{name}{suffix}") for suffix in ("", "_emmeans", "_contrasts")),
        ):
            path.unlink(missing_ok=True)
    if not current:
        for name in SETTINGS_FILES:
            (folder / name).unlink(missing_ok=True)
        for name in COMBINED.values():
            study.paths.estimates(name).unlink(missing_ok=True)


def _frame(value: Any) -> pd.DataFrame:
    return value if isinstance(value, pd.DataFrame) else pd.DataFrame()


def _none_if_empty(frame: pd.DataFrame) -> pd.DataFrame | None:
    return None if frame.empty else frame


def fit_declared(
    study: Study,
    index: int,
    spec: AnalysisSpec,
    rows: pd.DataFrame,
    settings: dict[str, pd.DataFrame],
    *,
    session: object | None = None,
) -> DeclaredFit:
    """Fit one analysis in R (``decl_fit_with`` in R/declared.R) on its exported rows."""
    if session is None:
        from valuesurvey.rbridge import get_session

        session = get_session()

    def mine(name: str, columns: list[str]) -> pd.DataFrame | None:
        frame = settings[name]
        return _none_if_empty(frame.loc[frame["analysis"] == spec.name, columns].reset_index(drop=True))

    started = time.perf_counter()
    try:
        out = session.call(  # type: ignore[attr-defined]
            "decl_fit_with",
            rows,
            spec.name,
            spec.formula,
            family=spec.family,
            link=spec.link_function,
            simplify=spec.simplify,
            ddf=study.analysis.ddf,
            conf_level=0.95,
            coding=mine("coding.csv", ["variable", "scheme", "level"]),
            emmeans=mine("emmeans.csv", ["index", "specs", "contrasts", "ref", "adjust", "mode"]),
            weights=mine("contrast_weights.csv", ["index", "contrast", "weights"]),
        )
    except RError as exc:
        message = exc.r_message.strip().replace("\n", " ").removeprefix(f"analysis '{spec.name}': ")
        raise RError(f"{_field(study, index)} ({spec.name}): {message}") from None
    log.info(
        "declared analysis %s: %s fitted in %.1f s", spec.name, spec.method, time.perf_counter() - started
    )
    return DeclaredFit(spec.name, *(_frame(out.get(part)) for part in (
        "tidy", "random", "glance", "coding", "simplification", "emmeans", "contrasts",
    )))  # fmt: skip


def run_declared_analyses(study: Study, *, session: object | None = None) -> list[Path]:
    """Fit every analysis of ``study.analyses`` and write its files; returns the files written.

    Writes ``analyses/<name>_rows.csv`` (the rows each analysis was fitted on, only the columns its
    formula uses), ``analyses/{settings,coding,emmeans,contrast_weights,columns}.csv`` (what
    ``Rscript R/run_models.R`` needs to fit them again), ``estimates/<name>.csv`` (tidy, the
    estimate columns of :data:`valuesurvey.study.ESTIMATE_COLUMNS` plus ``effect``),
    ``estimates/<name>_emmeans.csv`` and ``_contrasts.csv`` when the analysis asks for emmeans, and
    ``estimates/declared_{fit_info,random_effects,coding,simplification}.csv``.

    Raises
    ------
    ConfigError
        An analysis does not fit its table (unknown column, no rows, a coding level the rows lack).
    RError
        R failed on an analysis: R's message in one line, with the field and the analysis name.
    DataError
        The table an analysis needs is missing or unreadable.
    """
    names = [spec.name for spec in study.analyses]
    _remove_stale(study, names)
    if not study.analyses:
        return []
    exported = {spec.name: export_analysis(study, i, spec) for i, spec in enumerate(study.analyses)}
    folder = declared_dir(study)
    written: list[Path] = []
    settings = _settings_frames(study, exported)
    for name, rows in exported.items():
        written.append(_write_rows(folder / f"{name}_rows.csv", rows))
    for file_name, frame in settings.items():
        written.append(_io.write_csv(folder / file_name, frame))
    combined: dict[str, list[pd.DataFrame]] = {part: [] for part in COMBINED}
    for index, spec in enumerate(study.analyses):
        fitted = fit_declared(study, index, spec, exported[spec.name], settings, session=session)
        written.append(_io.write_csv(study.paths.estimates(spec.name), fitted.tidy))
        for part in ("emmeans", "contrasts"):
            path = study.paths.estimates(f"{spec.name}_{part}")
            frame = getattr(fitted, part)
            if frame.empty:
                path.unlink(missing_ok=True)
            else:
                written.append(_io.write_csv(path, frame))
        for part in COMBINED:
            frame = getattr(fitted, part)
            if not frame.empty:
                combined[part].append(frame)
    for part, file_name in COMBINED.items():
        path = study.paths.estimates(file_name)
        if combined[part]:
            written.append(_io.write_csv(path, pd.concat(combined[part], ignore_index=True)))
        else:
            path.unlink(missing_ok=True)
    return written


def _write_rows(path: Path, rows: pd.DataFrame) -> Path:
    with _io.atomic_path(path) as tmp:
        rows.to_csv(tmp, index=False, float_format="%.17g")
    return path
