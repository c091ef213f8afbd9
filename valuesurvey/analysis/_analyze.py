"""``analyze_study``: humans → vectors → similarity → RQ1–RQ3 (lm and lmer) → ranking analysis."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from valuesurvey import _io
from valuesurvey.errors import DataError, MissingComponentError
from valuesurvey.regressions import ANALYSES, analysis_rows, excluded_models, fit_rq, side_by_side
from valuesurvey.similarity import (
    CONDITION,
    LLM_KEYS,
    PERSON_KEYS,
    item_means,
    llm_exclusions,
    pair_similarity,
    person_matrix,
    reference_similarity,
    wide,
    zero_variance_report,
    zscore,
)
from valuesurvey.study import Study

log = logging.getLogger(__name__)

__all__ = ["RQ3_FULL_LMER_MAX_ROWS", "InstrumentDesign", "analyze_study", "export_columns"]

#: Above this many RQ3 rows, lmer fits RQ3 per removal level (see R/rq_models.R) instead of as one
#: model: the full fit's Satterthwaite df need the Hessian of a model with n × levels rows.
RQ3_FULL_LMER_MAX_ROWS = 250_000

EXPORT_COLUMNS = [*PERSON_KEYS, *LLM_KEYS, "removed", "cosine", *(f"in_{a}" for a in ANALYSES)]


def export_columns() -> list[str]:
    """Columns of ``similarity/<instrument>_rq.csv`` (what ``R/run_models.R`` reads)."""
    return list(EXPORT_COLUMNS)


@dataclass(frozen=True)
class InstrumentDesign:
    """What the analysis needs to know about a rating instrument."""

    id: str
    items: tuple[str, ...]
    dimensions: Mapping[str, str]
    #: Removal level → items removed: each dimension (several items per dimension) or each item.
    removals: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_items(
        cls, instrument_id: str, items: Sequence[str], dimensions: Mapping[str, str]
    ) -> InstrumentDesign:
        groups: dict[str, list[str]] = {}
        for item in items:
            groups.setdefault(dimensions[item], []).append(item)
        if all(len(members) == 1 for members in groups.values()):
            removals = {item: (item,) for item in items}  # WVS: each item is its own dimension
        else:
            removals = {dim: tuple(members) for dim, members in groups.items()}
        return cls(instrument_id, tuple(items), dict(dimensions), {"none": (), **removals})


def _design(study: Study, instrument_id: str) -> InstrumentDesign | None:
    from valuesurvey import instruments

    inst = instruments.for_study(study)[instrument_id]
    if inst.kind != "rating":
        return None
    items = [item.id for item in inst.items]
    return InstrumentDesign.from_items(instrument_id, items, {item.id: item.dimension for item in inst.items})


def _humans_tables(study: Study, rating_instruments: Sequence[str]) -> dict[str, Path]:
    """Prepare humans tables from study.humans, or use tables already in the study directory."""
    if study.humans:
        try:
            from valuesurvey.humans import prepare_study_humans
        except ImportError as exc:
            raise MissingComponentError(
                "valuesurvey.humans.prepare_study_humans", "the humans stage"
            ) from exc
        written = prepare_study_humans(study)
    else:
        written = {}
    for instrument in rating_instruments:
        path = study.paths.humans(instrument)
        if instrument not in written and path.exists():
            written[instrument] = path
    return {k: v for k, v in written.items() if k in rating_instruments}


def _read_parquet(path: Path, what: str) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"{what} not found; run the previous stage first", path=path)
    try:
        return pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises several types for a broken file
        raise DataError(f"cannot read {what}: {exc}", path=path) from exc


@dataclass
class _Outputs:
    exclusions: list[pd.DataFrame] = field(default_factory=list)
    zero_variance: list[pd.DataFrame] = field(default_factory=list)
    summary: list[dict[str, object]] = field(default_factory=list)
    tidy: list[pd.DataFrame] = field(default_factory=list)
    glance: list[pd.DataFrame] = field(default_factory=list)
    random: list[pd.DataFrame] = field(default_factory=list)
    coding: list[pd.DataFrame] = field(default_factory=list)
    settings: list[dict[str, object]] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)


def _llm_vectors(ratings: pd.DataFrame, design: InstrumentDesign) -> tuple[pd.DataFrame, pd.DataFrame]:
    means = item_means(ratings, instrument=design.id)
    if means.empty:
        raise DataError(f"no LLM ratings for instrument {design.id!r}", column="instrument")
    incomplete = llm_exclusions(means, design.items)
    bad = incomplete[list(CONDITION)].drop_duplicates()
    complete = means.merge(bad, on=list(CONDITION), how="left", indicator=True)
    complete = complete[complete["_merge"] == "left_only"]
    llms = wide(complete, subject=LLM_KEYS, items=design.items, scores="mean_rating")
    return llms, incomplete.assign(instrument=design.id)


def _zscores_long(people: pd.DataFrame, llms: pd.DataFrame, design: InstrumentDesign) -> pd.DataFrame:
    """Long z-scores of every complete vector (seed 001 Figure 2)."""
    parts = []
    for source, frame, keys in (("human", people, PERSON_KEYS), ("llm", llms, LLM_KEYS)):
        long = frame.rename_axis(columns="item").stack().rename("mean_rating").reset_index()
        parts.append(zscore(long, subject=list(keys), scores="mean_rating").assign(source=source))
    out = pd.concat(parts, ignore_index=True)
    out["dimension"] = out["item"].map(design.dimensions)
    out["instrument"] = design.id
    cols = [
        "instrument",
        "source",
        *PERSON_KEYS,
        *LLM_KEYS,
        "item",
        "dimension",
        "mean_rating",
        "z",
        "zero_variance",
    ]
    return out.reindex(columns=cols)


def _references(people: pd.DataFrame, llms: pd.DataFrame) -> pd.DataFrame:
    """Seed 001 Fig. 3C/D: each person vs mean CN/US human ratings and mean CN/US LLM ratings.

    LLM means use persona none in the person's own language, like RQ1.
    """
    rows = []
    humans = people.groupby(level="nationality").mean()
    for group, vector in humans.iterrows():
        rows.append({"source": "human", "group": group, "language": "", **vector.to_dict()})
    none = llms[llms.index.get_level_values("persona") == "none"]
    for (origin, language), frame in none.groupby(level=["origin", "language"]):
        rows.append({"source": "llm", "group": origin, "language": language, **frame.mean().to_dict()})
    refs = pd.DataFrame(rows).set_index(["source", "group", "language"])
    out = reference_similarity(people, refs)
    native = out["nationality"].map({"CN": "zh", "US": "en"})
    return out[(out["source"] == "human") | (out["language"] == native)].reset_index(drop=True)


def _analyze_instrument(
    study: Study, design: InstrumentDesign, humans: pd.DataFrame, ratings: pd.DataFrame, out: _Outputs
) -> None:
    paths = study.paths
    llms, llm_incomplete = _llm_vectors(ratings, design)
    people, people_incomplete = person_matrix(humans, design.items)
    if people.empty or llms.empty:
        raise DataError(
            f"{design.id}: no complete vectors (people: {len(people)}, LLM conditions: {len(llms)})"
        )
    removals = {level: list(items) for level, items in design.removals.items()}
    started = time.perf_counter()
    sim = pair_similarity(people, llms, removals=removals)
    log.info("%s: %d similarities in %.2f s", design.id, len(sim), time.perf_counter() - started)
    out.written.append(_io.write_parquet(paths.similarity(design.id), sim))
    out.written.append(
        _io.write_parquet(paths.similarity_dir / f"{design.id}_reference.parquet", _references(people, llms))
    )
    out.written.append(
        _io.write_parquet(
            paths.similarity_dir / f"{design.id}_zscores.parquet", _zscores_long(people, llms, design)
        )
    )
    zero = zero_variance_report(people, llms, removals=removals).assign(instrument=design.id)
    out.zero_variance.append(zero)
    if not people_incomplete.empty:
        out.exclusions.append(
            people_incomplete.assign(
                instrument=design.id, analysis="all", kind="person", reason="incomplete_ratings"
            )
        )
    flags = {}
    for analysis in ANALYSES:
        excluded = excluded_models(llm_incomplete, analysis)
        if not excluded.empty:
            out.exclusions.append(excluded.assign(kind="llm"))
        mask = analysis_rows(sim, analysis) & ~sim["model"].astype(str).isin(set(excluded["model"]))
        zero_rows = mask & sim["cosine"].isna()
        flags[analysis] = mask & ~zero_rows
        rows = sim[flags[analysis]]
        out.summary.append(
            {
                "instrument": design.id,
                "analysis": analysis,
                "n_rows": int(flags[analysis].sum()),
                "n_rows_zero_variance": int(zero_rows.sum()),
                "n_people": int(rows["participant"].nunique()),
                "n_people_incomplete": len(people_incomplete),
                "n_models": int(rows["model"].nunique()),
                "n_models_excluded": int(excluded["model"].nunique()),
                "models_excluded": ";".join(sorted(excluded["model"].unique())),
                "n_zero_variance_people": int((zero["kind"] == "person").sum()),
                "n_zero_variance_llm": int((zero["kind"] == "llm").sum()),
            }
        )
    _export_and_fit(study, design, sim, flags, out)


def _analysis_first(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[["analysis", *(c for c in frame.columns if c != "analysis")]]


def _rq3_lmer_mode(n_rows: int) -> str:
    return "full" if n_rows <= RQ3_FULL_LMER_MAX_ROWS else "per_level"


def _export_and_fit(
    study: Study, design: InstrumentDesign, sim: pd.DataFrame, flags: Mapping[str, pd.Series], out: _Outputs
) -> None:
    paths = study.paths
    any_flag = flags["rq1"] | flags["rq2"] | flags["rq3"]
    export = sim[any_flag].copy()
    for analysis in ANALYSES:
        export[f"in_{analysis}"] = flags[analysis][any_flag].astype(int)
    with _io.atomic_path(paths.similarity_dir / f"{design.id}_rq.csv") as tmp:
        export.to_csv(tmp, index=False, float_format="%.17g")
    out.written.append(paths.similarity_dir / f"{design.id}_rq.csv")
    fits = tuple(study.analysis.fits)
    tidy_parts = []
    for analysis in ANALYSES:
        data = export[export[f"in_{analysis}"] == 1]
        if data["nationality"].nunique() < 2 or data["origin"].nunique() < 2:
            log.warning("%s %s: needs both nationalities and both origins; not fitted", design.id, analysis)
            continue
        mode = _rq3_lmer_mode(len(data)) if analysis == "rq3" else "full"
        out.settings.append(
            {
                "instrument": design.id,
                "analysis": analysis,
                "fits": "+".join(fits),
                "ddf": study.analysis.ddf,
                "rq3_lmer": mode,
            }
        )
        fitted = fit_rq(
            data[[*PERSON_KEYS, *LLM_KEYS, "removed", "cosine"]],
            analysis,
            instrument=design.id,
            fits=fits,
            ddf=study.analysis.ddf,
            rq3_lmer=mode,  # type: ignore[arg-type]
        )
        out.written.append(_io.write_csv(paths.estimates(fitted.analysis), fitted.tidy))
        tidy_parts.append(fitted.tidy)
        out.glance.append(fitted.glance)
        out.random.append(fitted.random)
        out.coding.append(fitted.coding.assign(analysis=fitted.analysis).pipe(_analysis_first))
    if tidy_parts:
        table = side_by_side(pd.concat(tidy_parts, ignore_index=True))
        out.written.append(_io.write_csv(paths.estimates(f"table2_{design.id}"), table))


def _write_reports(study: Study, out: _Outputs) -> None:
    paths = study.paths
    exclusion_cols = [
        "instrument", "analysis", "kind", "model", "origin", "language", "persona", "item", "reason",
        "n_reps", "n_refusal", "n_invalid", "n_error", "participant", "nationality", "n_missing",
    ]  # fmt: skip
    frames = [f for f in out.exclusions if not f.empty]
    exclusions = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    out.written.append(
        _io.write_csv(paths.similarity_dir / "exclusions.csv", exclusions.reindex(columns=exclusion_cols))
    )
    zero_cols = ["instrument", "kind", *PERSON_KEYS, *LLM_KEYS, "removed", "n_pairs"]
    frames = [f for f in out.zero_variance if not f.empty]
    zero = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    out.written.append(
        _io.write_csv(paths.similarity_dir / "zero_variance.csv", zero.reindex(columns=zero_cols))
    )
    out.written.append(
        _io.write_csv(paths.similarity_dir / "exclusions_summary.csv", pd.DataFrame(out.summary))
    )
    out.written.append(_io.write_csv(paths.similarity_dir / "rq_settings.csv", pd.DataFrame(out.settings)))
    for name, parts in (("fit_info", out.glance), ("random_effects", out.random), ("coding", out.coding)):
        if parts:
            out.written.append(_io.write_csv(paths.estimates(name), pd.concat(parts, ignore_index=True)))


def _run_ranking(study: Study) -> None:
    try:
        from valuesurvey.ranking import analyze_study as analyze_rankings
    except ImportError as exc:
        raise MissingComponentError(
            "valuesurvey.ranking.analyze_study (the ranking stage, needed because the study has ai_values)",
            "the ranking stage of valuesurvey",
        ) from exc
    analyze_rankings(study)


def analyze_study(study: Study) -> None:
    """Run the analysis stage of a study and write its files.

    Steps: prepare the humans tables (``valuesurvey.humans.prepare_study_humans``, or use
    ``humans/<instrument>.parquet`` already present when ``study.humans`` is empty); LLM means over
    repetitions; the exclusion rule; z-scores; cosine of every (person, LLM condition) pair at
    every removal level; the RQ1–RQ3 models in R (``study.analysis.fits``); the country-level
    analysis when ``study.analysis.countries`` is set (:mod:`valuesurvey.country_level`,
    ``estimates/countries_*.csv``); then the ranking analysis when the study has ``ai_values``.

    Writes ``similarity/<instrument>.parquet`` (+ ``_reference``, ``_zscores`` parquet and the
    ``_rq.csv`` export for ``R/run_models.R``), ``similarity/exclusions.csv``,
    ``similarity/zero_variance.csv``, ``similarity/exclusions_summary.csv``,
    ``similarity/rq_settings.csv``, ``estimates/rq{1,2,3}_<instrument>.csv``,
    ``estimates/table2_<instrument>.csv``, ``estimates/fit_info.csv``,
    ``estimates/random_effects.csv`` and ``estimates/coding.csv``.

    Raises
    ------
    DataError
        A missing or unreadable input table, or an instrument without complete vectors.
    MissingComponentError
        The humans or ranking stage is not installed.
    """
    started = time.perf_counter()
    designs = {i: d for i in study.instruments if (d := _design(study, i)) is not None}
    out = _Outputs()
    if designs:
        humans_paths = _humans_tables(study, list(designs))
        missing = [i for i in designs if i not in humans_paths]
        for instrument in missing:
            log.warning(
                "%s: no human data (study.humans or humans/%s.parquet); skipped", instrument, instrument
            )
        if len(missing) == len(designs):
            raise DataError(
                "no human data for any rating instrument; add 'humans' to study.yaml",
                path=study.paths.study_yaml,
            )
        ratings = _read_parquet(study.paths.llm_ratings, "LLM ratings")
        for instrument, path in humans_paths.items():
            humans = _read_parquet(path, f"humans table for {instrument}")
            _analyze_instrument(study, designs[instrument], humans, ratings, out)
        _write_reports(study, out)
        if study.analysis.countries is not None:  # every country with human data (issue 17)
            from valuesurvey.country_level import analyze_countries

            out.written += analyze_countries(study, designs, humans_paths, ratings)
    if "ai_values" in study.instruments:
        _run_ranking(study)
    _record(study, out, time.perf_counter() - started)


def _record(study: Study, out: _Outputs, seconds: float) -> None:
    try:
        from valuesurvey.manifest import record_stage
    except ImportError:  # the manifest is optional for the analysis itself
        return
    inputs = [
        study.paths.llm_ratings,
        *(study.paths.humans(i) for i in study.instruments if study.paths.humans(i).exists()),
    ]
    record_stage(
        study, "analyze", inputs=[p for p in inputs if p.exists()], outputs=out.written, seconds=seconds
    )
