"""Hierarchical clustering of models into value archetypes, its stability, and nationality mixing.

Methods
-------
``ward``
    Ward linkage on the Euclidean distances between models' mean-rank vectors (25 values).
``spearman``
    Average linkage on ``1 - Spearman rho`` between mean-rank vectors (Ward needs Euclidean
    distances, so the alternative metric uses average linkage).

The number of clusters k is the one with the largest mean silhouette (same distance as the
clustering) among ``2 <= k <= min(k_max, n_models - 1)``. Stability: the models' mean ranks are
recomputed from repetitions resampled with replacement within each model (``repetitions`` scheme), or
models are resampled with replacement (``models`` scheme, compared on the distinct models drawn); each
resample is clustered again with the same k and compared with the original partition by the adjusted
Rand index; each original cluster's stability is its mean best Jaccard similarity with the resampled
clusters (Hennig's clusterboot).

Archetype names (a fixed rule, not a judgement)
-----------------------------------------------
A cluster's profile is, per dimension, ``z = (overall mean score - cluster mean score) / SD over
models`` (positive = the cluster ranks the dimension as more important than models do on average).
A dimension is distinctive when ``|z| >= 0.5``. Each poster archetype is a signature over dimensions:

=====================  =====================================================
Social-Ethical         Social +1, Protective +1, Practical -1
Rational-Instrumental  Epistemic +1, Practical +1, Social -1, Personal -1
Warm-Caring            Personal +1, Social +1, Epistemic -1
Balanced-General       no distinctive dimension (score ``0.5 - max |z|``)
=====================  =====================================================

The match score of a named archetype is the dot product of the profile ``z`` with its signature
divided by the signature's norm. Names are assigned one-to-one by maximising the total match score
(Hungarian algorithm); clusters left over when k > 4 are called "Other: <prioritised dimensions>".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from scipy.cluster.hierarchy import fcluster, leaves_list, linkage
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import pdist, squareform
from scipy.special import gammaln
from sklearn.metrics import adjusted_rand_score, silhouette_score

METHODS = ("ward", "spearman")
DISTINCTIVE_Z = 0.5

ARCHETYPE_SIGNATURES: Mapping[str, Mapping[str, float]] = {
    "Social-Ethical": {"Social": 1.0, "Protective": 1.0, "Practical": -1.0},
    "Rational-Instrumental": {"Epistemic": 1.0, "Practical": 1.0, "Social": -1.0, "Personal": -1.0},
    "Warm-Caring": {"Personal": 1.0, "Social": 1.0, "Epistemic": -1.0},
}
BALANCED = "Balanced-General"


@dataclass(frozen=True)
class Clustering:
    """One method's clustering of the models."""

    method: str
    k: int
    labels: np.ndarray  # 1..k, in the order of the models
    linkage: np.ndarray
    leaf_order: np.ndarray
    silhouettes: dict[int, float]


def _distances(x: np.ndarray, method: str) -> np.ndarray:
    if method == "ward":
        return pdist(x, metric="euclidean")
    if method == "spearman":
        rho = stats.spearmanr(x, axis=1).statistic if len(x) > 2 else np.corrcoef(stats.rankdata(x, axis=1))
        rho = np.atleast_2d(rho)
        dist = np.clip(1.0 - rho, 0.0, 2.0)
        np.fill_diagonal(dist, 0.0)
        return squareform(dist, checks=False)
    raise ValueError(f"clustering method must be one of {METHODS}, got {method!r}")


def _linkage(x: np.ndarray, method: str) -> np.ndarray:
    dist = _distances(x, method)
    return linkage(dist, method="ward" if method == "ward" else "average")


def _cut(tree: np.ndarray, k: int) -> np.ndarray:
    return fcluster(tree, t=k, criterion="maxclust")


def cluster_models(x: np.ndarray, method: str, *, k_max: int = 8, k: int | None = None) -> Clustering:
    """Cluster the rows of ``x`` (models x values), choosing k by silhouette unless given."""
    n = len(x)
    if n < 3:
        raise ValueError(f"clustering needs at least 3 models, got {n}")
    tree = _linkage(x, method)
    dist = squareform(_distances(x, method))
    silhouettes: dict[int, float] = {}
    for candidate in range(2, min(k_max, n - 1) + 1):
        labels = _cut(tree, candidate)
        if len(set(labels)) < 2:
            continue
        silhouettes[candidate] = float(silhouette_score(dist, labels, metric="precomputed"))
    chosen = k if k is not None else max(silhouettes, key=lambda c: (silhouettes[c], -c))
    return Clustering(
        method=method,
        k=chosen,
        labels=_cut(tree, chosen),
        linkage=tree,
        leaf_order=leaves_list(tree),
        silhouettes=silhouettes,
    )


def _best_jaccard(original: np.ndarray, resampled: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros(k)
    for c in range(1, k + 1):
        a = original == c
        if not a.any():
            continue
        best = 0.0
        for d in np.unique(resampled):
            b = resampled == d
            best = max(best, (a & b).sum() / (a | b).sum())
        out[c - 1] = best
    return out


def stability(
    clustering: Clustering,
    x: np.ndarray,
    reps: list[np.ndarray],
    *,
    n_boot: int,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Bootstrap stability of a clustering, by both resampling schemes.

    Returns
    -------
    (DataFrame, ndarray)
        Per scheme: ``method, k, scheme, n_boot, ari_mean, ari_median, ari_low, ari_high``; and the
        mean best Jaccard of each original cluster under the repetitions scheme.
    """
    k, method = clustering.k, clustering.method
    rows = []
    jaccard = np.full(k, np.nan)
    for scheme in ("repetitions", "models"):
        aris, jac = [], []
        for _ in range(n_boot):
            if scheme == "repetitions":
                boot = np.vstack([r[rng.integers(0, len(r), len(r))].mean(axis=0) for r in reps])
                labels = _cut(_linkage(boot, method), k)
                aris.append(adjusted_rand_score(clustering.labels, labels))
                jac.append(_best_jaccard(clustering.labels, labels, k))
            else:
                drawn = np.unique(rng.integers(0, len(x), len(x)))
                if len(drawn) <= k:
                    continue
                labels = _cut(_linkage(x[drawn], method), k)
                aris.append(adjusted_rand_score(clustering.labels[drawn], labels))
        if scheme == "repetitions" and jac:
            jaccard = np.mean(jac, axis=0)
        a = np.asarray(aris, dtype=float)
        rows.append(
            {
                "method": method,
                "k": k,
                "scheme": scheme,
                "n_boot": len(a),
                "ari_mean": a.mean() if len(a) else np.nan,
                "ari_median": np.median(a) if len(a) else np.nan,
                "ari_low": np.quantile(a, 0.025) if len(a) else np.nan,
                "ari_high": np.quantile(a, 0.975) if len(a) else np.nan,
            }
        )
    return pd.DataFrame(rows), jaccard


def dimension_profiles(dim_scores: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
    """Per cluster and dimension: z = (overall mean - cluster mean) / SD over models.

    ``dim_scores`` is models (rows, same order as ``labels``) by dimensions.
    """
    sd = dim_scores.std(axis=0, ddof=1).replace(0.0, np.nan)
    means = dim_scores.groupby(labels).mean()
    return (dim_scores.mean(axis=0) - means) / sd


def name_archetypes(profiles: pd.DataFrame) -> tuple[dict[int, str], dict[int, float]]:
    """Name clusters from their profiles by the signature rule of this module's docstring."""
    names = [*ARCHETYPE_SIGNATURES, BALANCED]
    z = profiles.fillna(0.0)
    score = np.zeros((len(z), len(names)))
    for j, name in enumerate(names):
        if name == BALANCED:
            score[:, j] = DISTINCTIVE_Z - z.abs().max(axis=1).to_numpy()
            continue
        signature = pd.Series(ARCHETYPE_SIGNATURES[name]).reindex(z.columns).fillna(0.0)
        score[:, j] = z.to_numpy() @ signature.to_numpy() / np.linalg.norm(signature.to_numpy())
    rows, cols = linear_sum_assignment(-score)
    assigned = {int(z.index[r]): names[c] for r, c in zip(rows, cols, strict=True)}
    fit = {int(z.index[r]): float(score[r, c]) for r, c in zip(rows, cols, strict=True)}
    for cluster in z.index:
        if int(cluster) not in assigned:
            top = [d for d, v in z.loc[cluster].sort_values(ascending=False).items() if v >= DISTINCTIVE_Z]
            assigned[int(cluster)] = "Other: " + (", ".join(top) if top else "no distinctive dimension")
            fit[int(cluster)] = np.nan
    return assigned, fit


def describe(profile: pd.Series) -> tuple[str, str, str]:
    """(prioritised, deprioritised, sentence) from a cluster profile."""
    up = [d for d, v in profile.sort_values(ascending=False).items() if v >= DISTINCTIVE_Z]
    down = [d for d, v in profile.sort_values().items() if v <= -DISTINCTIVE_Z]
    parts = []
    if up:
        parts.append("prioritises " + ", ".join(up))
    if down:
        parts.append("deprioritises " + ", ".join(down))
    sentence = "; ".join(parts) if parts else "close to the average profile on every dimension"
    return ";".join(up), ";".join(down), sentence


def _log_comb(n: np.ndarray, k: np.ndarray) -> np.ndarray:
    return gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)


def freeman_halton(table: np.ndarray) -> float:
    """Exact test of independence (Fisher-Freeman-Halton) for an r x 2 table of counts.

    Enumerates every table with the observed margins; the p-value is the total probability of the
    tables no more probable than the observed one.

    Examples
    --------
    >>> round(freeman_halton(np.array([[3, 1], [1, 3]])), 4)
    0.4857
    """
    table = np.asarray(table, dtype=int)
    if table.ndim != 2 or table.shape[1] != 2:
        raise ValueError(f"expected an r x 2 table, got shape {table.shape}")
    rows = table.sum(axis=1)
    n_first = int(table[:, 0].sum())
    total = int(rows.sum())
    # P(column-0 counts = a) = prod C(rows_i, a_i) / C(total, n_first) (multivariate hypergeometric).
    log_norm = float(_log_comb(np.array(total), np.array(n_first)))
    observed = float(_log_comb(rows, table[:, 0]).sum()) - log_norm
    # Dynamic programming over rows: distribution of (partial sum) -> list of log-probabilities.
    states: dict[int, list[float]] = {0: [0.0]}
    for size in rows:
        nxt: dict[int, list[float]] = {}
        for partial, logs in states.items():
            for a in range(0, int(size) + 1):
                if partial + a > n_first:
                    break
                term = float(_log_comb(np.array(size), np.array(a)))
                nxt.setdefault(partial + a, []).extend(lp + term for lp in logs)
        states = nxt
    logs = np.asarray(states.get(n_first, []), dtype=float) - log_norm
    return float(min(1.0, np.exp(logs[logs <= observed + 1e-7]).sum()))


def origin_mixing(labels: np.ndarray, origins: np.ndarray, method: str) -> dict:
    """Fisher-Freeman-Halton test of cluster x origin, Cramér's V and the number of mixed clusters."""
    table = pd.crosstab(labels, origins).reindex(columns=["CN", "US"], fill_value=0)
    counts = table.to_numpy()
    n = counts.sum()
    chi2 = stats.chi2_contingency(counts, correction=False)[0] if (counts.sum(axis=0) > 0).all() else np.nan
    r = min(counts.shape) - 1
    v = float(np.sqrt(chi2 / (n * r))) if r > 0 and np.isfinite(chi2) else np.nan
    mixed = int(((counts > 0).sum(axis=1) == 2).sum())
    return {
        "analysis": "ranking_cluster_origin",
        "model": method,
        "term": "cluster x origin",
        "estimate": v,
        "statistic": chi2,
        "df": float((counts.shape[0] - 1) * (counts.shape[1] - 1)),
        "p_value": freeman_halton(counts),
        "method": "Fisher-Freeman-Halton exact test; estimate = Cramér's V, statistic = Pearson chi2",
        "k": int(counts.shape[0]),
        "mixed_clusters": mixed,
        "table": ";".join(f"{c}:CN={row[0]},US={row[1]}" for c, row in zip(table.index, counts, strict=True)),
    }
