"""Simulated value rankings with planted structure, for testing the ranking analysis.

Each model ``m`` has a latent utility for each value ``v``::

    u[m, v] = base[v] + strength * centroid[cluster(m), v] + shift[dim(v)] * origin(m) + model_sd * e[m, v]

with ``origin(m) = +0.5`` for Chinese and ``-0.5`` for US models (the half-sum coding used everywhere in
this project). Each repetition ranks the values by ``u + Gumbel noise`` (a Plackett-Luce draw: the value
with the largest perturbed utility gets rank 1, "most important"). The output has the schema of
``rankings.parquet`` written by :mod:`valuesurvey.elicit`, including invalid attempts (``rank`` NaN,
``status`` "invalid") that are asked again up to ``max_retries`` times, as the engine does.

Pure numpy (pandas only to shape the table); deterministic for a given ``seed``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["DEFAULT_DIMENSION_BASE", "SimulatedRankings", "default_values", "simulate_rankings"]

#: Baseline priority per dimension (higher = more important), shaped like the poster's finding:
#: Protective and Epistemic first, Personal last.
DEFAULT_DIMENSION_BASE: Mapping[str, float] = {
    "Protective": 1.0,
    "Epistemic": 0.8,
    "Practical": 0.4,
    "Social": 0.0,
    "Personal": -1.0,
}

RANKING_COLUMNS = ["model", "origin", "company", "language", "rep", "value", "rank", "status", "attempt"]


@dataclass(frozen=True)
class SimulatedRankings:
    """A simulated ``rankings.parquet`` table and the truth planted in it.

    Attributes
    ----------
    data : pandas.DataFrame
        Columns ``model, origin, company, language, rep, value, rank, status, attempt``.
    models : pandas.DataFrame
        One row per model: ``model, origin, company, cluster`` (the planted cluster).
    values : dict
        Value id to dimension.
    origin_shift : dict
        Planted CN-minus-US utility difference per dimension (positive = CN models rank it higher,
        i.e. give it a smaller rank number).
    """

    data: pd.DataFrame
    models: pd.DataFrame
    values: dict[str, str]
    origin_shift: dict[str, float] = field(default_factory=dict)


def default_values() -> dict[str, str]:
    """The 25 AI values and their dimensions, from the ``ai_values`` instrument."""
    from valuesurvey import instruments

    inst = instruments.get("ai_values")
    return {item.id: item.dimension for item in inst.items}


def _model_table(n_cn: int, n_us: int, n_clusters: int, rng: np.random.Generator) -> pd.DataFrame:
    origins = ["CN"] * n_cn + ["US"] * n_us
    names = [f"sim-{o.lower()}-{i + 1:02d}" for o, i in _numbered(origins)]
    # Clusters are dealt round-robin over a shuffled order, so each cluster mixes nationalities.
    order = rng.permutation(len(origins))
    cluster = np.empty(len(origins), dtype=int)
    cluster[order] = np.arange(len(origins)) % n_clusters
    return pd.DataFrame(
        {
            "model": names,
            "origin": origins,
            "company": [f"{name}-lab" for name in names],
            "cluster": cluster,
        }
    )


def _numbered(origins: Sequence[str]) -> list[tuple[str, int]]:
    seen: dict[str, int] = {}
    out = []
    for origin in origins:
        out.append((origin, seen.get(origin, 0)))
        seen[origin] = seen.get(origin, 0) + 1
    return out


def _utilities(
    models: pd.DataFrame,
    value_ids: list[str],
    dims: list[str],
    *,
    base: Mapping[str, float],
    strength: float,
    origin_shift: Mapping[str, float],
    model_sd: float,
    rng: np.random.Generator,
) -> np.ndarray:
    n_values = len(value_ids)
    n_clusters = int(models["cluster"].max()) + 1
    baseline = np.array([base.get(d, 0.0) for d in dims]) + rng.normal(0.0, 0.3, n_values)
    # A cluster centroid moves whole dimensions (what archetypes are about) plus single values.
    unique_dims = sorted(set(dims))
    dim_index = np.array([unique_dims.index(d) for d in dims])
    dim_offsets = rng.normal(0.0, 1.0, (n_clusters, len(unique_dims)))
    centroids = dim_offsets[:, dim_index] + rng.normal(0.0, 0.5, (n_clusters, n_values))
    sign = np.where(models["origin"].to_numpy() == "CN", 0.5, -0.5)
    shift = np.array([origin_shift.get(d, 0.0) for d in dims])
    return (
        baseline[None, :]
        + strength * centroids[models["cluster"].to_numpy()]
        + sign[:, None] * shift[None, :]
        + model_sd * rng.normal(0.0, 1.0, (len(models), n_values))
    )


def simulate_rankings(
    *,
    values: Mapping[str, str] | None = None,
    n_cn: int = 11,
    n_us: int = 9,
    n_clusters: int = 4,
    repetitions: int = 20,
    languages: Sequence[str] = ("en",),
    cluster_strength: float = 1.5,
    origin_shift: Mapping[str, float] | None = None,
    dimension_base: Mapping[str, float] = DEFAULT_DIMENSION_BASE,
    model_sd: float = 0.3,
    rep_scale: float = 1.0,
    invalid_rate: float = 0.0,
    max_retries: int = 3,
    zero_valid_models: int = 0,
    seed: int = 0,
) -> SimulatedRankings:
    """Simulate rankings of values by models with planted clusters and a planted CN-US difference.

    Parameters
    ----------
    values : mapping, optional
        Value id to dimension; defaults to the ``ai_values`` instrument.
    n_cn, n_us : int
        Number of Chinese and US models.
    n_clusters : int
        Number of planted clusters (models dealt to clusters independently of origin).
    repetitions : int
        Rankings per model and language.
    languages : sequence of str
        Languages to simulate (the latent utilities do not depend on language).
    cluster_strength : float
        Scale of the cluster centroids; 0 plants no clusters.
    origin_shift : mapping, optional
        Dimension to CN-minus-US utility difference; empty or None plants no difference.
    dimension_base : mapping
        Baseline utility per dimension.
    model_sd : float
        Model-specific utility noise.
    rep_scale : float
        Scale of the Gumbel noise of each repetition (larger = less consistent repetitions).
    invalid_rate : float
        Probability that an attempt is invalid; invalid attempts are asked again up to ``max_retries``.
    max_retries : int
        Extra attempts after an invalid one.
    zero_valid_models : int
        Number of models (the last ones) whose every attempt is invalid.
    seed : int
        Seed of the random generator.

    Returns
    -------
    SimulatedRankings

    Examples
    --------
    >>> vals = {f"v{i}": d for i, d in enumerate(["Practical", "Epistemic"] * 3)}
    >>> sim = simulate_rankings(values=vals, n_cn=2, n_us=2, n_clusters=2, repetitions=3, seed=1)
    >>> sim.data.groupby(["model", "rep"])["rank"].apply(sorted).iloc[0]
    [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    >>> sorted(sim.models["origin"].unique())
    ['CN', 'US']
    """
    if not 0.0 <= invalid_rate <= 1.0:
        raise ValueError(f"invalid_rate must be in [0, 1], got {invalid_rate}")
    if n_cn + n_us < 1 or n_clusters < 1:
        raise ValueError("need at least one model and one cluster")
    values = dict(values) if values is not None else default_values()
    value_ids = list(values)
    dims = [values[v] for v in value_ids]
    shift = dict(origin_shift or {})
    rng = np.random.default_rng(seed)
    models = _model_table(n_cn, n_us, n_clusters, rng)
    utilities = _utilities(
        models,
        value_ids,
        dims,
        base=dimension_base,
        strength=cluster_strength,
        origin_shift=shift,
        model_sd=model_sd,
        rng=rng,
    )
    always_invalid = (
        set(models["model"].iloc[len(models) - zero_valid_models :]) if zero_valid_models else set()
    )
    frames = []
    for m, row in models.iterrows():
        for language in languages:
            for rep in range(1, repetitions + 1):
                frames.extend(
                    _one_request(
                        row,
                        language,
                        rep,
                        utilities[m],
                        value_ids,
                        invalid_rate=1.0 if row["model"] in always_invalid else invalid_rate,
                        max_retries=max_retries,
                        rep_scale=rep_scale,
                        rng=rng,
                    )
                )
    data = pd.DataFrame(frames, columns=RANKING_COLUMNS)
    data["rep"] = data["rep"].astype(int)
    data["attempt"] = data["attempt"].astype(int)
    data["rank"] = data["rank"].astype(float)
    return SimulatedRankings(data=data, models=models, values=values, origin_shift=shift)


def _one_request(
    row: pd.Series,
    language: str,
    rep: int,
    utility: np.ndarray,
    value_ids: list[str],
    *,
    invalid_rate: float,
    max_retries: int,
    rep_scale: float,
    rng: np.random.Generator,
) -> list[tuple]:
    """Rows of one ranking request: invalid attempts (rank NaN) until a valid one or retries run out."""
    rows: list[tuple] = []
    head = (row["model"], row["origin"], row["company"], language, rep)
    for attempt in range(1, max_retries + 2):
        if rng.random() < invalid_rate:
            rows.extend((*head, v, np.nan, "invalid", attempt) for v in value_ids)
            continue
        perturbed = utility + rng.gumbel(0.0, rep_scale, len(value_ids))
        ranks = np.empty(len(value_ids))
        ranks[np.argsort(-perturbed)] = np.arange(1, len(value_ids) + 1)
        rows.extend((*head, v, r, "ok", attempt) for v, r in zip(value_ids, ranks, strict=True))
        break
    return rows
