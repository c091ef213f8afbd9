"""``analyze_study``: humans → vectors → exclusion rule → similarity → RQ1–RQ3 fits → ranking analysis."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from valuesurvey import _io
from valuesurvey.analyses import run_declared_analyses
from valuesurvey.analysis._exclusions import EXCLUSION_RULE, humans_flow, select_sample
from valuesurvey.design import StudyDesign, canonical_labels
from valuesurvey.errors import DataError, MissingComponentError
from valuesurvey.regressions import ANALYSES, RANDOM_COLUMNS, fit_rq, side_by_side
from valuesurvey.scoring import score_study
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

__all__ = ["EXCLUSION_RULE", "InstrumentDesign", "analyze_study", "export_columns"]

EXPORT_COLUMNS = [
    *PERSON_KEYS, *LLM_KEYS, "removed", "cosine", "weight", "participant_language",
    *(f"in_{a}" for a in ANALYSES),
]  # fmt: skip


#: Columns of ``similarity/rq_settings.csv`` (written with its header even when nothing was fitted).
_SETTINGS_COLUMNS = (
    "instrument", "analysis", "fits", "ddf", "random", "weighted", "nationality_levels", "origin_levels",
)  # fmt: skip


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
    simplification: list[pd.DataFrame] = field(default_factory=list)
    flow: list[pd.DataFrame] = field(default_factory=list)
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


def _person_weights(humans: pd.DataFrame, people: pd.DataFrame, weighted: bool) -> pd.Series:
    """Each complete person's survey weight (1 when the study does not ask for weights)."""
    if not weighted:
        return pd.Series(1.0, index=people.index.get_level_values("participant"))
    per_person = humans.drop_duplicates("participant").set_index("participant")["weight"]
    return per_person.reindex(people.index.get_level_values("participant")).astype(float)


def _references(
    people: pd.DataFrame, llms: pd.DataFrame, weights: pd.Series, design: StudyDesign
) -> pd.DataFrame:
    """Seed 001 Fig. 3C/D: each person vs the mean human ratings of each country and the mean LLM
    ratings of each origin.

    Human means are weighted when the study asks for weights. LLM means use persona none in the
    language the person's country is paired with, like RQ1.
    """
    rows = []
    w = weights.to_numpy()
    weighted_sum = people.mul(w, axis=0).groupby(level="nationality").sum()
    humans = weighted_sum.div(pd.Series(w, index=people.index).groupby(level="nationality").sum(), axis=0)
    for group, vector in humans.iterrows():
        rows.append({"source": "human", "group": group, "language": "", **vector.to_dict()})
    none = llms[llms.index.get_level_values("persona") == "none"]
    for (origin, language), frame in none.groupby(level=["origin", "language"]):
        rows.append({"source": "llm", "group": origin, "language": language, **frame.mean().to_dict()})
    refs = pd.DataFrame(rows).set_index(["source", "group", "language"])
    out = reference_similarity(people, refs)
    native = out["nationality"].astype(str).map(design.pairing)
    return out[(out["source"] == "human") | (out["language"] == native)].reset_index(drop=True)


def _human_summary(humans: pd.DataFrame, weighted: bool) -> pd.DataFrame:
    """Per nationality × item × rating: count and share, weighted share when weights are used."""
    answered = humans[humans["rating"].notna()]
    weight = answered["weight"] if weighted else pd.Series(1.0, index=answered.index)
    frame = answered.assign(_w=weight.to_numpy())
    counts = frame.groupby(["nationality", "item", "rating"], observed=True).agg(
        n=("participant", "size"), weight=("_w", "sum")
    )
    totals = counts.groupby(level=["nationality", "item"], observed=True).transform("sum")
    out = counts.assign(share=counts["n"] / totals["n"], weighted_share=counts["weight"] / totals["weight"])
    out = out.drop(columns="weight").reset_index()
    out["weighted"] = weighted
    return out


def _human_means(humans: pd.DataFrame, weighted: bool) -> pd.DataFrame:
    """Per nationality × item: n, mean and SD, weighted when weights are used (else equal)."""
    answered = humans[humans["rating"].notna()]
    w = answered["weight"].to_numpy(float) if weighted else np.ones(len(answered))
    frame = answered.assign(_w=w, _wx=w * answered["rating"].to_numpy(float))
    grouped = frame.groupby(["nationality", "item"], observed=True)
    out = grouped.agg(
        n=("rating", "size"),
        mean=("rating", "mean"),
        sd=("rating", "std"),
        _w=("_w", "sum"),
        _wx=("_wx", "sum"),
    )
    out["weighted_mean"] = out["_wx"] / out["_w"]
    dev = (
        frame["rating"].to_numpy(float)
        - frame.join(out["weighted_mean"], on=["nationality", "item"])["weighted_mean"].to_numpy()
    )
    frame = frame.assign(_wd2=w * dev**2)
    out["weighted_sd"] = np.sqrt(
        frame.groupby(["nationality", "item"], observed=True)["_wd2"].sum() / out["_w"]
    )
    out = out.drop(columns=["_w", "_wx"]).reset_index()
    out["weighted"] = weighted
    return out


def _analyze_instrument(
    study: Study, design: InstrumentDesign, humans: pd.DataFrame, ratings: pd.DataFrame, out: _Outputs
) -> None:
    paths = study.paths
    spec = study.humans.get(design.id)
    weighted = spec is not None and spec.weighted
    llms, llm_incomplete = _llm_vectors(ratings, design)
    people, people_incomplete = person_matrix(humans, design.items)
    if people.empty or llms.empty:
        raise DataError(
            f"{design.id}: no complete vectors (people: {len(people)}, LLM conditions: {len(llms)})"
        )
    weights = _person_weights(humans, people, weighted)
    removals = {level: list(items) for level, items in design.removals.items()}
    started = time.perf_counter()
    sim = pair_similarity(people, llms, removals=removals, rezscore=study.analysis.rezscore_after_removal)
    log.info("%s: %d similarities in %.2f s", design.id, len(sim), time.perf_counter() - started)
    out.written.append(_io.write_parquet(paths.similarity(design.id), sim))
    out.written.append(
        _io.write_parquet(
            paths.similarity_dir / f"{design.id}_reference.parquet",
            _references(people, llms, weights, study.design),
        )
    )
    out.written.append(
        _io.write_parquet(
            paths.similarity_dir / f"{design.id}_zscores.parquet", _zscores_long(people, llms, design)
        )
    )
    out.written.append(
        _io.write_csv(paths.similarity_dir / f"{design.id}_human_means.csv", _human_means(humans, weighted))
    )
    out.written.append(
        _io.write_csv(
            paths.similarity_dir / f"{design.id}_human_distribution.csv", _human_summary(humans, weighted)
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
    n_loaded = int(humans["participant"].nunique())
    models_elicited = int(llms.index.get_level_values("model").nunique())
    flags: dict[str, np.ndarray] = {}
    analysed: dict[str, pd.DataFrame] = {}
    for analysis in ANALYSES:
        sample = select_sample(
            sim,
            analysis,
            llm_incomplete=llm_incomplete,
            zero_variance=zero,
            design=study.design,
        )
        if len(sample.llm_exclusions):
            out.exclusions.append(
                sample.llm_exclusions.assign(instrument=design.id, analysis=analysis, kind="llm")
            )
        if len(sample.person_exclusions):
            out.exclusions.append(
                sample.person_exclusions.assign(instrument=design.id, analysis=analysis, kind="person")
            )
        flags[analysis] = sample.rows
        rows = sim.loc[sample.rows, ["participant", "nationality", "model"]]
        analysed[analysis] = rows[["participant", "nationality"]]
        out.summary.append(
            {
                "instrument": design.id,
                "analysis": analysis,
                "n_rows": int(sample.rows.sum()),
                "n_people_loaded": n_loaded,
                "n_people_incomplete": len(people_incomplete),
                "n_people_zero_variance": int(sample.person_exclusions["participant"].nunique()),
                "n_people": int(rows["participant"].nunique()),
                "n_models_elicited": models_elicited,
                "n_models_excluded": len(sample.models_excluded),
                "models_excluded": ";".join(sample.models_excluded),
                "n_llm_conditions_zero_variance": int(
                    (sample.llm_exclusions["reason"] == "zero_variance").sum()
                ),
                "n_models": int(rows["model"].nunique()),
                "n_pairs_zero_variance_before_rule": sample.n_pairs_zero_variance,
                "rezscore_after_removal": bool(study.analysis.rezscore_after_removal),
                "weights": spec.weights if spec is not None else "none",
            }
        )
    out.flow.append(humans_flow(humans, people, zero, analysed).assign(instrument=design.id))
    _export_and_fit(study, design, sim, flags, weights, weighted, out)


def _analysis_first(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[["analysis", *(c for c in frame.columns if c != "analysis")]]


def _export_and_fit(
    study: Study,
    design: InstrumentDesign,
    sim: pd.DataFrame,
    flags: Mapping[str, np.ndarray],
    weights: pd.Series,
    weighted: bool,
    out: _Outputs,
) -> None:
    paths = study.paths
    any_flag = flags["rq1"] | flags["rq2"] | flags["rq3"]
    export = sim[any_flag].copy()
    export["weight"] = export["participant"].astype(str).map(weights.groupby(level=0).first()).astype(float)
    # The pairing as data: R codes language congruence from it (Rscript R/run_models.R too).
    export["participant_language"] = export["nationality"].astype(str).map(study.design.pairing)
    for analysis in ANALYSES:
        export[f"in_{analysis}"] = flags[analysis][any_flag].astype(int)
    with _io.atomic_path(paths.similarity_dir / f"{design.id}_rq.csv") as tmp:
        export.to_csv(tmp, index=False, float_format="%.17g")
    out.written.append(paths.similarity_dir / f"{design.id}_rq.csv")
    fits = tuple(study.analysis.fits)
    tidy_parts, simple_parts = [], []
    for analysis in ANALYSES:
        data = export[export[f"in_{analysis}"] == 1]
        if data["nationality"].nunique() < 2 or data["origin"].nunique() < 2:
            log.warning(
                "%s %s: needs at least two nationalities and two origins (has %d and %d); not fitted",
                design.id,
                analysis,
                data["nationality"].nunique(),
                data["origin"].nunique(),
            )
            continue
        paired = data[data["participant_language"].notna()]  # R leaves unpaired participants out
        congruent = paired["language"] == paired["participant_language"]
        if "language_congruent" in RANDOM_COLUMNS[analysis] and congruent.nunique() < 2:
            log.warning(  # e.g. an instrument asked in English only: every pair is language-congruent
                "%s %s: needs language-congruent and -incongruent pairs (prompt languages %s); not fitted",
                design.id,
                analysis,
                ", ".join(map(str, data["language"].unique())),
            )
            continue
        random = study.analysis.random_for(analysis)
        levels = {
            "nationality": study.design.nationality_levels(data["nationality"].astype(str).unique()),
            "origin": study.design.origin_levels(data["origin"].astype(str).unique()),
        }
        out.settings.append(
            {
                "instrument": design.id,
                "analysis": analysis,
                "fits": "+".join(fits),
                "ddf": study.analysis.ddf,
                "random": random,
                "weighted": int(weighted),
                "nationality_levels": ";".join(levels["nationality"]),
                "origin_levels": ";".join(levels["origin"]),
            }
        )
        started = time.perf_counter()
        fitted = fit_rq(
            data[[*PERSON_KEYS, *LLM_KEYS, "removed", "cosine", "weight", "participant_language"]],
            analysis,
            instrument=design.id,
            fits=fits,
            ddf=study.analysis.ddf,
            random_effects=random,
            weighted=weighted,
            levels=levels,
        )
        log.info("%s %s: fitted in %.1f s", design.id, analysis, time.perf_counter() - started)
        out.written.append(_io.write_csv(paths.estimates(fitted.analysis), fitted.tidy))
        tidy_parts.append(fitted.tidy)
        out.glance.append(fitted.glance)
        out.random.append(fitted.random)
        out.coding.append(fitted.coding.assign(analysis=fitted.analysis).pipe(_analysis_first))
        if not fitted.simplification.empty:
            out.simplification.append(fitted.simplification)
        if not fitted.simple_effects.empty:
            simple_parts.append(fitted.simple_effects)
    if tidy_parts:
        table = side_by_side(pd.concat(tidy_parts, ignore_index=True))
        out.written.append(_io.write_csv(paths.estimates(f"table2_{design.id}"), table))
    if simple_parts:
        simple = pd.concat(simple_parts, ignore_index=True)
        out.written.append(_io.write_csv(paths.estimates(f"simple_effects_{design.id}"), simple))


def _write_reports(study: Study, out: _Outputs) -> None:
    paths = study.paths
    exclusion_cols = [
        "instrument", "analysis", "kind", "model", "origin", "language", "persona", "item", "removed",
        "reason", "n_reps", "n_refusal", "n_invalid", "n_error", "participant", "nationality", "n_missing",
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
    if out.flow:
        flow = pd.concat(out.flow, ignore_index=True)
        flow = flow[["instrument", *(c for c in flow.columns if c != "instrument")]]
        out.written.append(_io.write_csv(paths.similarity_dir / "humans_flow.csv", flow))
    settings = pd.DataFrame(out.settings, columns=None if out.settings else list(_SETTINGS_COLUMNS))
    out.written.append(_io.write_csv(paths.similarity_dir / "rq_settings.csv", settings))
    parts = (
        ("fit_info", out.glance),
        ("random_effects", out.random),
        ("coding", out.coding),
        ("simplification", out.simplification),
    )
    for name, frames in parts:
        if frames:
            out.written.append(_io.write_csv(paths.estimates(name), pd.concat(frames, ignore_index=True)))


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
    repetitions; z-scores; cosine of every (person, LLM condition) pair at every removal level
    (``analysis.rezscore_after_removal``); the exclusion rule (:data:`EXCLUSION_RULE`); the RQ1–RQ3 fits in
    R (``study.analysis.fits``, ``random_effects``, survey weights where ``humans.<i>.weights``
    asks); the country-level analysis when ``study.analysis.countries`` is set
    (:mod:`valuesurvey.country_level`, ``estimates/countries_*.csv``); then the ranking analysis
    when the study has ``ai_values``; then the analyses declared in study.yaml
    (``study.analyses``, :func:`valuesurvey.analyses.run_declared_analyses`).

    Writes ``similarity/<instrument>.parquet`` (+ ``_reference``, ``_zscores`` parquet, the
    ``_human_means.csv`` and ``_human_distribution.csv`` summaries and the ``_rq.csv`` export for
    ``R/run_models.R``), ``similarity/exclusions.csv``, ``similarity/zero_variance.csv``,
    ``similarity/exclusions_summary.csv``, ``similarity/humans_flow.csv``,
    ``similarity/rq_settings.csv``, ``estimates/rq{1,2,3}_<instrument>.csv``,
    ``estimates/table2_<instrument>.csv``, ``estimates/simple_effects_<instrument>.csv``,
    ``estimates/fit_info.csv``, ``estimates/random_effects.csv``, ``estimates/coding.csv`` and
    ``estimates/simplification.csv``.

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
        ratings = canonical_labels(_read_parquet(study.paths.llm_ratings, "LLM ratings"))
        out.written += score_study(study, ratings, humans_paths)  # dimension scores (valuesurvey.scoring)
        if len(missing) == len(designs):
            log.warning(
                "no human data for any rating instrument: only the dimension scores (scores/) were "
                "computed; add 'humans' to study.yaml for similarity and RQ1-RQ3"
            )
        for code in study.design.unpaired():
            log.warning(
                "%s answered in %s, which the study does not elicit (languages %s): its participants "
                "are in no language-matched analysis (RQ1, RQ3)",
                code,
                ", ".join(study.design.country(code).languages),
                ", ".join(study.design.languages),
            )
        for instrument, path in humans_paths.items():
            humans = _read_parquet(path, f"humans table for {instrument}")
            _analyze_instrument(study, designs[instrument], humans, ratings, out)
        if humans_paths:
            _write_reports(study, out)
        if humans_paths and study.analysis.countries is not None:  # every country with human data (issue 17)
            from valuesurvey.country_level import analyze_countries

            out.written += analyze_countries(study, designs, humans_paths, ratings)
    if "ai_values" in study.instruments:
        _run_ranking(study)
    out.written.extend(run_declared_analyses(study))  # study.yaml analyses: (valuesurvey.analyses)
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
