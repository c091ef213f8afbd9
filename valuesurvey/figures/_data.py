"""Read the study directory's tables for figures and the report, strictly by column.

A table that is absent is ``None`` (its figure or section is skipped with a sentence); a table that
is present but lacks a column the figures need raises :class:`DataError` naming file and column.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from valuesurvey.errors import DataError
from valuesurvey.ranking import RankingResults, load_results
from valuesurvey.study import (
    ESTIMATE_COLUMNS,
    HUMANS_COLUMNS,
    LLM_RATINGS_COLUMNS,
    RANKINGS_COLUMNS,
    SIMILARITY_COLUMNS,
    Study,
)

__all__ = [
    "ESTIMATE_COLUMNS",
    "MFQ2_FOUNDATIONS",
    "StudyTables",
    "item_dimensions",
    "synthetic_label",
    "value_names",
]

#: MFQ-2 foundations in published item order: item k belongs to ``MFQ2_FOUNDATIONS[(k - 1) % 6]``.
MFQ2_FOUNDATIONS = ("Care", "Equality", "Proportionality", "Loyalty", "Authority", "Purity")

#: Columns of the ranking analysis's tables that the figures and the report read.
RANKING_COLUMNS_USED = {
    "mean_ranks": ("model", "origin", "value", "mean_rank"),
    "hierarchy": ("term", "estimate", "conf_low", "conf_high", "level", "dimension", "position"),
    "top_bottom": ("group", "list", "position", "value", "mean_rank"),
    "overlap": ("term", "estimate", "statistic", "p_value", "shared"),
    "clusters": ("method", "model", "origin", "cluster", "archetype", "leaf_order"),
    "linkage": ("method", "step", "node", "left", "right", "height", "size"),
    # and n_<group> per origin group (n_cn, n_us in the paper), read by the report
    "archetypes": ("method", "cluster", "archetype", "models", "stability_jaccard"),
}

DEFAULT_SYNTHETIC_NOTE = "SYNTHETIC / SIMULATED DATA: not real survey or model responses"


def _require(frame: pd.DataFrame, columns: tuple[str, ...], path: Path) -> pd.DataFrame:
    for column in columns:
        if column not in frame.columns:
            raise DataError("required column is missing", path=path, column=column)
    return frame


def _read(path: Path, columns: tuple[str, ...]) -> pd.DataFrame | None:
    if not path.exists():
        return None
    try:
        frame = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
    except Exception as exc:  # pyarrow and pandas raise many types; all mean "unreadable"
        raise DataError(f"cannot read table ({type(exc).__name__}: {exc})", path=path) from exc
    return _require(frame, columns, path)


@dataclass
class StudyTables:
    """Lazy, cached access to one study directory's tables.

    Parameters
    ----------
    study : Study
        The loaded study; its ``root`` is the study directory.
    """

    study: Study
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def _cached(self, key: str, path: Path, columns: tuple[str, ...]) -> pd.DataFrame | None:
        if key not in self._cache:
            self._cache[key] = _read(path, columns)
        return self._cache[key]

    def llm_ratings(self) -> pd.DataFrame | None:
        return self._cached("llm_ratings", self.study.paths.llm_ratings, LLM_RATINGS_COLUMNS)

    def rankings(self) -> pd.DataFrame | None:
        return self._cached("rankings", self.study.paths.rankings, RANKINGS_COLUMNS)

    def ranking(self) -> RankingResults | None:
        """The ranking analysis's tables (:func:`valuesurvey.ranking.load_results`), or ``None``
        when the study has no ranking task or the analysis has not written them."""
        if "ranking" not in self._cache:
            written = self.study.paths.estimates("ranking_mean_ranks").exists()
            has_task = "ai_values" in self.study.instruments
            results = load_results(self.study) if has_task and written else None
            if results is not None:
                for name, columns in RANKING_COLUMNS_USED.items():
                    _require(getattr(results, name), columns, self.study.paths.estimates(f"ranking_{name}"))
            self._cache["ranking"] = results
        return self._cache["ranking"]

    def humans(self, instrument: str) -> pd.DataFrame | None:
        return self._cached(f"humans/{instrument}", self.study.paths.humans(instrument), HUMANS_COLUMNS)

    def similarity(self, instrument: str) -> pd.DataFrame | None:
        path = self.study.paths.similarity(instrument)
        return self._cached(f"similarity/{instrument}", path, SIMILARITY_COLUMNS)

    def estimates(self, analysis: str) -> pd.DataFrame | None:
        path = self.study.paths.estimates(analysis)
        return self._cached(f"estimates/{analysis}", path, ESTIMATE_COLUMNS)

    def estimate_names(self, prefix: str = "") -> list[str]:
        """Analyses with an estimates CSV whose name starts with ``prefix``, sorted."""
        folder = self.study.paths.estimates_dir
        if not folder.is_dir():
            return []
        return sorted(p.stem for p in folder.glob(f"{prefix}*.csv"))

    def exclusions(self) -> pd.DataFrame | None:
        path = self.study.paths.similarity_dir / "exclusions.csv"
        if "exclusions" not in self._cache:
            self._cache["exclusions"] = pd.read_csv(path) if path.exists() else None
        return self._cache["exclusions"]

    def manifest(self) -> dict[str, Any] | None:
        path = self.study.paths.manifest
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"invalid JSON at line {exc.lineno}", path=path) from exc

    def rating_instruments(self) -> list[str]:
        """Rating instruments of the study (``ai_values`` is a ranking task)."""
        return [name for name in self.study.instruments if name != "ai_values"]


def item_dimensions(
    instrument: str, items: list[str] | None = None, *, study: Study | None = None
) -> dict[str, str]:
    """Map item ids to their dimension (WVS items are their own dimension).

    Uses :func:`valuesurvey.instruments.get` where available; otherwise the published MFQ-2 order.

    Examples
    --------
    >>> item_dimensions("mfq2", ["mfq2_01", "mfq2_08"])
    {'mfq2_01': 'Care', 'mfq2_08': 'Equality'}
    >>> item_dimensions("wvs7", ["Q182"])
    {'Q182': 'Q182'}
    """
    if instrument == "wvs7":
        return {item: item for item in items or []}
    try:
        from valuesurvey import instruments

        # The study's own instrument (a user's file, a subset) when known, else the shipped one.
        inst = instruments.for_study(study)[instrument] if study is not None else instruments.get(instrument)
        mapping = {item.id: item.dimension for item in inst.items}
        if items is None or all(item in mapping for item in items):
            return mapping if items is None else {item: mapping[item] for item in items}
    except Exception:  # the instruments module may be absent or not know this id: use the fallback
        pass
    if instrument == "mfq2":
        return {item: MFQ2_FOUNDATIONS[(int(item.rsplit("_", 1)[1]) - 1) % 6] for item in items or []}
    raise DataError(f"no dimension mapping for instrument {instrument!r} (valuesurvey.instruments)")


def value_names(instrument: str = "ai_values") -> dict[str, str]:
    """Item id to its English text (for ``ai_values``: the value's name, e.g. "Harm prevention").

    Examples
    --------
    >>> value_names()["harm_prevention"]
    'Harm prevention'
    """
    from valuesurvey import instruments

    return {item.id: item.text["en"] for item in instruments.get(instrument).items}


def _labelled_synthetic(study: Study, instrument: str) -> bool:
    """The humans stage's load report found a synthetic label in the file itself."""
    path = study.paths.humans_dir / f"{instrument}_load_report.json"
    try:
        return bool(json.loads(path.read_text(encoding="utf-8")).get("synthetic_in_file"))
    except (OSError, ValueError, AttributeError):
        return False


def synthetic_label(study: Study, tables: StudyTables | None = None) -> str | None:
    """The footer text when any data are synthetic or simulated, else ``None``."""
    if study.synthetic_note:
        return study.synthetic_note
    if any(spec.synthetic for spec in study.humans.values()):
        return DEFAULT_SYNTHETIC_NOTE
    if any(_labelled_synthetic(study, instrument) for instrument in study.instruments):
        return DEFAULT_SYNTHETIC_NOTE  # the file says so though study.yaml does not
    if any((m.company or "").upper() == "SIMULATED" or m.provider == "simulated" for m in study.models):
        return DEFAULT_SYNTHETIC_NOTE
    if tables is not None:
        for frame in (tables.llm_ratings(), tables.rankings()):
            if frame is not None and (frame["company"].astype(str).str.upper() == "SIMULATED").any():
                return DEFAULT_SYNTHETIC_NOTE
    return None
