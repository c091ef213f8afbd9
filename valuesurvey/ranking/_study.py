"""The ranking stage: ``rankings.parquet`` in, ``estimates/ranking_*.csv`` out."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd

from valuesurvey import _io
from valuesurvey.design import StudyDesign, default_design
from valuesurvey.errors import DataError
from valuesurvey.ranking import _cluster, _data, _equivalence, _exact, _stats
from valuesurvey.study import Study

log = logging.getLogger(__name__)

INSTRUMENT = "ai_values"
TOP_K = 5
OPTIONAL_TABLES = ("mixed", "mixed_steps")


@dataclass(frozen=True)
class RankingResults:
    """Every table the ranking stage writes (``estimates/ranking_<field>.csv``).

    ``mixed`` and ``mixed_steps`` are None when the R models were not fitted. See the package
    docstring for the columns.
    """

    counts: pd.DataFrame
    exclusions: pd.DataFrame
    mean_ranks: pd.DataFrame
    mean_ranks_by_language: pd.DataFrame
    dimension_scores: pd.DataFrame
    hierarchy: pd.DataFrame
    agreement: pd.DataFrame
    origin_tests: pd.DataFrame
    equivalence: pd.DataFrame
    top_bottom: pd.DataFrame
    overlap: pd.DataFrame
    clusters: pd.DataFrame
    cluster_selection: pd.DataFrame
    cluster_stability: pd.DataFrame
    cluster_validity: pd.DataFrame
    archetypes: pd.DataFrame
    cluster_origin: pd.DataFrame
    linkage: pd.DataFrame
    mixed: pd.DataFrame | None = None
    mixed_steps: pd.DataFrame | None = None

    @classmethod
    def table_names(cls) -> list[str]:
        """Field names, each written as ``ranking_<name>.csv``."""
        return [f.name for f in fields(cls)]


def instrument_values() -> dict[str, str]:
    """Value id to dimension, in the instrument's order."""
    from valuesurvey import instruments

    inst = instruments.get(INSTRUMENT)
    return {item.id: item.dimension for item in inst.items}


def analyze_rankings(
    frame: pd.DataFrame,
    values: Mapping[str, str],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    k_max: int = 8,
    mixed: bool = True,
    ddf: str = "Satterthwaite",
    equivalence_margin: float = _equivalence.DEFAULT_MARGIN,
    permutations: int = _exact.MONTE_CARLO_DRAWS,
    design: StudyDesign | None = None,
    source: object = "rankings",
) -> RankingResults:
    """Run the whole ranking analysis on a ``rankings.parquet`` table.

    Parameters
    ----------
    frame : DataFrame
        Columns ``model, origin, company, language, rep, value, rank, status, attempt``.
    values : mapping
        Value id to dimension.
    n_boot : int
        Bootstrap resamples for the hierarchy CIs and the cluster stability.
    seed : int
        Seed of every random draw (results are reproducible).
    k_max : int
        Largest number of clusters considered.
    mixed : bool
        Fit the R mixed models (needs R, lme4, lmerTest, emmeans).
    ddf : str
        Denominator df of the mixed models.
    equivalence_margin : float
        Smallest CN-US difference of interest in mean-rank positions (the TOST margin).
    permutations : int
        Monte Carlo splits of the permutation tests when exact enumeration is too large.
    design : StudyDesign, optional
        Orders the origin groups (:func:`valuesurvey.ranking._data.origin_groups`; default the
        paper's design). Models of origin ``none`` or a company label are in the hierarchy,
        agreement of all models and the clusters, but in no origin comparison.
    source : object
        Named in error messages.

    Returns
    -------
    RankingResults
    """
    rng = np.random.default_rng(seed)
    valid = _data.validate_rankings(frame, values, source=source)
    if valid.long.empty:
        raise DataError("no valid ranking from any model; see the counts of invalid attempts", path=source)
    value_ids = list(values)
    means = _data.mean_ranks(valid.long)
    matrix = _data.rank_matrix(means, value_ids)
    dims = _data.dimension_scores(means)
    origins = valid.models.set_index("model")["origin"].reindex(matrix.index)
    groups = _data.origin_groups(origins, design)
    if len(groups) < 2:  # the tests still report the study's other countries, as empty groups
        fill = [c for c in (design or default_design()).codes if c not in groups]
        groups = (*groups, *fill[: 2 - len(groups)])
    reps = _data.rep_rank_arrays(valid.long, value_ids)
    lists = _stats.top_bottom(means, values, TOP_K, groups=groups)
    clustering = _cluster_all(matrix, dims, origins, reps, groups, n_boot=n_boot, rng=rng, k_max=k_max)
    levels = (("dimension", dims, "dimension", "score"), ("value", means, "value", "mean_rank"))
    origin_tests = pd.concat(
        [
            _stats.compare_origins(
                table,
                level=level,
                term_column=term,
                score_column=score,
                groups=groups,
                n_draws=permutations,
                rng=rng,
            )
            for level, table, term, score in levels
        ],
        ignore_index=True,
    )
    equivalence = pd.concat(
        [
            _equivalence.equivalence_table(
                table,
                level=level,
                term_column=term,
                score_column=score,
                margin=equivalence_margin,
                difference_p=_difference_p(origin_tests, level),
                groups=groups,
            )
            for level, table, term, score in levels
        ],
        ignore_index=True,
    )
    mixed_tables = _fit_mixed(means, ddf, groups) if mixed else None
    return RankingResults(
        counts=valid.counts,
        exclusions=valid.exclusions,
        mean_ranks=means,
        mean_ranks_by_language=_data.mean_ranks(valid.long, by=("language",)),
        dimension_scores=dims,
        hierarchy=_stats.hierarchy_table(matrix, values, n_boot=n_boot, rng=rng),
        agreement=_stats.agreement_table(matrix, origins, reps, groups),
        origin_tests=origin_tests,
        equivalence=equivalence,
        top_bottom=lists,
        overlap=_stats.overlap_table(lists, means, len(value_ids), TOP_K, groups=groups),
        mixed=mixed_tables[0] if mixed_tables else None,
        mixed_steps=mixed_tables[1] if mixed_tables else None,
        **clustering,
    )


#: The difference test whose Holm-adjusted p-value decides "difference detected".
DIFFERENCE_TEST = "permutation"


def _difference_p(origin_tests: pd.DataFrame, level: str) -> dict:
    """Term (with more than two groups: (term, contrast)) to the difference test's Holm p."""
    rows = origin_tests[(origin_tests["level"] == level) & (origin_tests["model"] == DIFFERENCE_TEST)]
    keys = zip(rows["term"], rows["contrast"], strict=True) if "contrast" in rows else rows["term"]
    return dict(zip(keys, rows["p_holm"], strict=True))


def _fit_mixed(
    means: pd.DataFrame, ddf: str, groups: tuple[str, ...]
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    if means["origin"].isin(groups).groupby(means["origin"]).any().sum() < 2:
        log.warning("mixed models skipped: fewer than two origin groups among the models with valid rankings")
        return None
    from valuesurvey.ranking._mixed import fit_mixed_models

    return fit_mixed_models(means[means["origin"].isin(groups)], ddf=ddf, groups=groups)


def _cluster_all(
    matrix: pd.DataFrame,
    dims: pd.DataFrame,
    origins: pd.Series,
    reps: Mapping[str, np.ndarray],
    groups: tuple[str, ...],
    *,
    n_boot: int,
    rng: np.random.Generator,
    k_max: int,
) -> dict[str, pd.DataFrame]:
    names = [
        "clusters", "cluster_selection", "cluster_stability", "cluster_validity", "archetypes",
        "cluster_origin", "linkage",
    ]  # fmt: skip
    parts: dict[str, list[pd.DataFrame]] = {name: [] for name in names}
    if len(matrix) < 4:
        log.warning("clustering skipped: %d models with valid rankings (at least 4 needed)", len(matrix))
        return {name: pd.DataFrame() for name in names}
    x = matrix.to_numpy(dtype=float)
    dim_wide = dims.pivot(index="model", columns="dimension", values="score").reindex(matrix.index)
    rep_list = [reps[m] for m in matrix.index]
    n_ref = min(n_boot, _cluster.GAP_REFERENCES)
    for method in _cluster.METHODS:
        result = _cluster.cluster_models(x, method, k_max=k_max)
        stab, jaccard = _cluster.stability(result, x, rep_list, n_boot=n_boot, rng=rng)
        gap = _cluster.gap_statistic(x, method, k_max=k_max, n_ref=n_ref, rng=rng)
        validity = _cluster.assess_structure(result, gap, stab)
        profiles = _cluster.dimension_profiles(dim_wide, result.labels)
        labels = _cluster.label_clusters(profiles)
        parts["clusters"].append(_assignments(matrix.index, origins, result, labels))
        parts["cluster_selection"].append(_selection(result, gap))
        parts["cluster_stability"].append(stab)
        parts["cluster_validity"].append(pd.DataFrame([validity]))
        parts["archetypes"].append(
            _archetypes(result, profiles, dim_wide, origins, groups, labels, jaccard, matrix.index, validity)
        )
        parts["cluster_origin"].append(
            _stats.tidy([_cluster.origin_mixing(result.labels, origins.to_numpy(), method, groups, rng)])
        )
        parts["linkage"].append(_linkage_frame(method, result.linkage, list(matrix.index)))
    return {name: pd.concat(frames, ignore_index=True) for name, frames in parts.items()}


def _selection(result: _cluster.Clustering, gap: _cluster.Gap) -> pd.DataFrame:
    ks = [int(k) for k in gap.ks]
    return pd.DataFrame(
        {
            "method": result.method,
            "k": ks,
            "silhouette": [result.silhouettes.get(k, np.nan) for k in ks],
            "gap": gap.gap,
            "gap_se": gap.se,
            "chosen": [k == result.k for k in ks],
            "chosen_gap": [k == gap.k for k in ks],
        }
    )


def _assignments(
    models: pd.Index, origins: pd.Series, result: _cluster.Clustering, names: dict
) -> pd.DataFrame:
    position = np.empty(len(models), dtype=int)
    position[result.leaf_order] = np.arange(1, len(models) + 1)
    return pd.DataFrame(
        {
            "method": result.method,
            "model": models,
            "origin": origins.to_numpy(),
            "cluster": result.labels,
            "archetype": [names[int(c)] for c in result.labels],
            "leaf_order": position,
        }
    )


def _archetypes(
    result: _cluster.Clustering,
    profiles: pd.DataFrame,
    dim_wide: pd.DataFrame,
    origins: pd.Series,
    groups: tuple[str, ...],
    labels: dict,
    jaccard: np.ndarray,
    models: pd.Index,
    validity: dict,
) -> pd.DataFrame:
    rows = []
    poster = _cluster.poster_matches(profiles)
    for cluster in sorted(set(result.labels)):
        members = models[result.labels == cluster]
        up, down, sentence = _cluster.describe(profiles.loc[cluster])
        row = {
            "method": result.method,
            "cluster": int(cluster),
            "archetype": labels[int(cluster)],
            "structure": bool(validity["structure"]),
            "n_models": len(members),
            **{f"n_{g.lower()}": int((origins.loc[members] == g).sum()) for g in groups},
            "models": ";".join(members),
            "prioritised": up,
            "deprioritised": down,
            "description": sentence,
            "stability_jaccard": jaccard[int(cluster) - 1],
            "poster_match": poster[int(cluster)][0],
            "poster_match_score": poster[int(cluster)][1],
        }
        row.update({f"z_{d}": profiles.loc[cluster, d] for d in profiles.columns})
        row.update({f"score_{d}": dim_wide.loc[members, d].mean() for d in dim_wide.columns})
        rows.append(row)
    return pd.DataFrame(rows)


def _linkage_frame(method: str, tree: np.ndarray, labels: list[str]) -> pd.DataFrame:
    n = len(labels)

    def name(node: float) -> str:
        node = int(node)
        return labels[node] if node < n else f"node{node}"

    return pd.DataFrame(
        {
            "method": method,
            "step": np.arange(1, len(tree) + 1),
            "node": [f"node{n + i}" for i in range(len(tree))],
            "left": [name(v) for v in tree[:, 0]],
            "right": [name(v) for v in tree[:, 1]],
            "height": tree[:, 2],
            "size": tree[:, 3].astype(int),
        }
    )


def _table_path(study: Study, name: str) -> Path:
    return study.paths.estimates(f"ranking_{name}")


def write_results(study: Study, results: RankingResults) -> list[Path]:
    """Write every table of ``results`` atomically into the study's ``estimates/``."""
    written = []
    for name in RankingResults.table_names():
        table = getattr(results, name)
        if table is None:
            _table_path(study, name).unlink(missing_ok=True)  # no stale table from an earlier run
            continue
        written.append(_io.write_csv(_table_path(study, name), table))
    return written


def analyze_study(study: Study) -> None:
    """Ranking stage: read ``rankings.parquet``, write ``estimates/ranking_*.csv``.

    Uses ``study.analysis.bootstrap`` resamples, ``study.analysis.seed``, ``study.analysis.ddf`` and
    ``study.analysis.ranking`` (equivalence margin, Monte Carlo permutations).
    Records the stage in ``manifest.json`` when :mod:`valuesurvey.manifest` is available.

    Raises
    ------
    DataError
        ``rankings.parquet`` is missing or unreadable, or holds no valid ranking.
    """
    started = time.perf_counter()
    source = study.paths.rankings
    if not source.exists():
        raise DataError("not found; run `valuesurvey elicit` on a study with ai_values first", path=source)
    try:
        frame = pd.read_parquet(source)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read parquet ({exc})", path=source) from exc
    results = analyze_rankings(
        frame,
        instrument_values(),
        n_boot=study.analysis.bootstrap,
        seed=study.analysis.seed,
        ddf=study.analysis.ddf,
        equivalence_margin=study.analysis.ranking.equivalence_margin,
        permutations=study.analysis.ranking.permutations,
        design=study.design,
        source=source,
    )
    outputs = write_results(study, results)
    _record(study, source, outputs, time.perf_counter() - started, results)


def _record(study: Study, source: Path, outputs: list[Path], seconds: float, results: RankingResults) -> None:
    try:
        from valuesurvey.manifest import record_stage
    except ImportError:  # the manifest module is optional for this stage
        return
    extra = {
        "excluded_models": results.exclusions["model"].tolist(),
        "n_models": len(results.mean_ranks["model"].unique()),
    }
    record_stage(study, "ranking", inputs=[source], outputs=outputs, seconds=seconds, extra=extra)


def load_results(study: Study) -> RankingResults:
    """Read the tables written by :func:`analyze_study` (for figures and the report).

    Raises
    ------
    DataError
        A table is missing (``mixed`` and ``mixed_steps`` may be absent: they are then None).
    """
    tables: dict[str, pd.DataFrame | None] = {}
    for name in RankingResults.table_names():
        path = _table_path(study, name)
        if not path.exists():
            if name in OPTIONAL_TABLES:
                tables[name] = None
                continue
            raise DataError("not found; run `valuesurvey analyze` first", path=path)
        try:
            tables[name] = pd.read_csv(path, keep_default_na=True)
        except pd.errors.EmptyDataError:
            tables[name] = pd.DataFrame()
    return RankingResults(**tables)  # type: ignore[arg-type]
