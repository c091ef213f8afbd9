"""Hierarchical clustering of models, whether it shows structure, profile labels, nationality mixing.

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

Is there cluster structure? (a stated rule, decided before naming anything)
-----------------------------------------------------------------------------
A hierarchical clustering always returns clusters, even of pure noise, so a partition is reported
as cluster structure only when all three criteria hold (constants of this module):

1. **Gap statistic** (Tibshirani, Walther and Hastie 2001): ``Gap(k) = E*[log W_k] - log W_k`` with
   ``W_k`` the pooled within-cluster dissimilarity (squared Euclidean for ``ward``, ``1 - rho`` for
   ``spearman``) and the expectation over reference data drawn uniformly in the box of the data's
   principal components (their method b), clustered the same way. The global 1-SE rule (Dudoit and
   Fridlyand 2002; ``globalSEmax`` of R's ``cluster::maxSE``: the smallest k with
   ``Gap(k) >= Gap(k*) - s(k*)``, k* the maximum of the gap) must choose **k >= 2**; it can choose
   k = 1, "no clusters", which the silhouette cannot. (Tibshirani's first-SE rule stops at k = 1
   whenever two clusters fit no better than one, as with four symmetric clusters, so it is not used.)
2. **Silhouette**: the chosen partition's mean silhouette is at least ``SILHOUETTE_MIN`` = 0.25
   (Kaufman and Rousseeuw 1990: below 0.25 "no substantial structure has been found").
3. **Stability**: the mean bootstrap ARI is at least ``STABILITY_MIN`` = 0.75 under both resampling
   schemes (a partition that resampling does not reproduce is not a property of the models).

When any fails, the analysis still writes the partition (the dendrogram's order, for transparency)
but marks ``structure = False`` with the reasons, and the report and figures name no archetypes.

Cluster labels (from the profile, never forced onto a list)
-------------------------------------------------------------
A cluster's profile is, per dimension, ``z = (overall mean score - cluster mean score) / SD over
models`` (positive = the cluster ranks the dimension as more important than models do on average);
a dimension is distinctive when ``|z| >= 0.5``. A cluster's label names its prioritised dimensions
(largest z first): "Social–Protective priority"; with none, its deprioritised ones: "low Personal";
with neither: "average profile". Two clusters with the same label get their cluster number added.
For comparison with the poster, ``poster_match`` names the poster archetype whose signature is
closest to the profile (match = dot product of z with the signature / its norm; several clusters may
share one, none is assigned one-to-one, and a cluster no signature matches positively gets "none"):

=====================  =====================================================
Social-Ethical         Social +1, Protective +1, Practical -1
Rational-Instrumental  Epistemic +1, Practical +1, Social -1, Personal -1
Warm-Caring            Personal +1, Social +1, Epistemic -1
Balanced-General       no distinctive dimension (score ``0.5 - max |z|``)
=====================  =====================================================

References
----------
Tibshirani R, Walther G, Hastie T (2001). Estimating the number of clusters in a data set via the
gap statistic. J R Stat Soc B 63:411-423.
Dudoit S, Fridlyand J (2002). A prediction-based resampling method for estimating the number of
clusters in a dataset. Genome Biol 3:research0036.
Kaufman L, Rousseeuw PJ (1990). Finding Groups in Data. Wiley (silhouette thresholds, ch. 2).
Hennig C (2007). Cluster-wise assessment of cluster stability. Comput Stat Data Anal 52:258-271.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats
from scipy.cluster.hierarchy import fcluster, leaves_list, linkage
from scipy.spatial.distance import pdist, squareform
from scipy.special import gammaln
from sklearn.metrics import adjusted_rand_score, silhouette_score

from valuesurvey.ranking import _exact

METHODS = ("ward", "spearman")
DISTINCTIVE_Z = 0.5
#: Criteria of cluster structure (see the module docstring).
SILHOUETTE_MIN = 0.25
STABILITY_MIN = 0.75
#: Reference data sets of the gap statistic (at most; fewer when the study's bootstrap is smaller).
GAP_REFERENCES = 200

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


def _log_within(x: np.ndarray, method: str, ks: np.ndarray) -> np.ndarray:
    """log W_k for each k: pooled within-cluster dissimilarity of the method's tree cut at k."""
    dist = squareform(_distances(x, method))
    if method == "ward":
        dist = dist**2  # W_k is then the within-cluster sum of squares
    tree = _linkage(x, method)
    out = np.empty(len(ks))
    for i, k in enumerate(ks):
        labels = _cut(tree, int(k)) if k > 1 else np.ones(len(x), dtype=int)
        within = 0.0
        for c in np.unique(labels):
            member = labels == c
            within += dist[np.ix_(member, member)].sum() / (2.0 * member.sum())
        out[i] = np.log(within) if within > 0 else -np.inf
    return out


@dataclass(frozen=True)
class Gap:
    """The gap statistic of one method for k = 1..k_max, and the k its global 1-SE rule chooses."""

    ks: np.ndarray
    gap: np.ndarray
    se: np.ndarray  # s_k = sd_k * sqrt(1 + 1/B)
    k: int
    n_ref: int


def gap_statistic(x: np.ndarray, method: str, *, k_max: int, n_ref: int, rng: np.random.Generator) -> Gap:
    """Tibshirani's gap statistic with reference data uniform in the principal-component box.

    Parameters
    ----------
    x : ndarray, shape (models, values)
    method : "ward" or "spearman"
    k_max : int
        Largest k (at most ``n - 1``).
    n_ref : int
        Reference data sets (B).
    rng : numpy Generator
    """
    n = len(x)
    ks = np.arange(1, max(2, min(k_max, n - 1)) + 1)
    if n_ref < 1:
        nan = np.full(len(ks), np.nan)
        return Gap(ks, nan, nan, 0, 0)
    observed = _log_within(x, method, ks)
    centre = x.mean(axis=0)
    _, _, vt = np.linalg.svd(x - centre, full_matrices=False)
    rotated = (x - centre) @ vt.T
    low, high = rotated.min(axis=0), rotated.max(axis=0)
    reference = np.array(
        [
            _log_within(rng.uniform(low, high, size=rotated.shape) @ vt + centre, method, ks)
            for _ in range(n_ref)
        ]
    )
    gap = reference.mean(axis=0) - observed
    se = reference.std(axis=0) * np.sqrt(1.0 + 1.0 / n_ref)
    best = int(np.argmax(gap))
    chosen = int(ks[np.flatnonzero(gap >= gap[best] - se[best])[0]])
    return Gap(ks, gap, se, chosen, n_ref)


def assess_structure(clustering: Clustering, gap: Gap, stability_table: pd.DataFrame) -> dict:
    """Apply the module's rule: is the partition cluster structure? One row of ``cluster_validity``.

    Returns
    -------
    dict
        ``method, k, silhouette, gap_k, gap_references, ari_repetitions, ari_models,
        smallest_cluster, structure, reason`` (the failed criteria, or "all criteria met").
    """
    ari = stability_table.set_index("scheme")["ari_mean"]
    silhouette = clustering.silhouettes.get(clustering.k, np.nan)
    sizes = np.bincount(clustering.labels)[1:]
    failed = []
    if gap.n_ref == 0:
        failed.append("gap statistic not computed (analysis.bootstrap = 0)")
    elif gap.k < 2:
        failed.append("the gap statistic prefers a single cluster (k = 1)")
    if not silhouette >= SILHOUETTE_MIN:
        failed.append(f"silhouette {silhouette:.2f} < {SILHOUETTE_MIN}")
    for scheme in ("repetitions", "models"):
        value = float(ari.get(scheme, np.nan))
        if not value >= STABILITY_MIN:
            failed.append(f"bootstrap ARI ({scheme}) {value:.2f} < {STABILITY_MIN}")
    return {
        "method": clustering.method,
        "k": clustering.k,
        "silhouette": silhouette,
        "silhouette_max": max(clustering.silhouettes.values(), default=np.nan),
        "gap_k": gap.k if gap.n_ref else np.nan,
        "gap_references": gap.n_ref,
        "ari_repetitions": float(ari.get("repetitions", np.nan)),
        "ari_models": float(ari.get("models", np.nan)),
        "smallest_cluster": int(sizes.min()) if len(sizes) else 0,
        "structure": not failed,
        "reason": "; ".join(failed) if failed else "all criteria met",
    }


def dimension_profiles(dim_scores: pd.DataFrame, labels: np.ndarray) -> pd.DataFrame:
    """Per cluster and dimension: z = (overall mean - cluster mean) / SD over models.

    ``dim_scores`` is models (rows, same order as ``labels``) by dimensions.
    """
    sd = dim_scores.std(axis=0, ddof=1).replace(0.0, np.nan)
    means = dim_scores.groupby(labels).mean()
    return (dim_scores.mean(axis=0) - means) / sd


def _poster_scores(profiles: pd.DataFrame) -> pd.DataFrame:
    """Match score of every cluster (rows) with every poster archetype (columns)."""
    z = profiles.fillna(0.0)
    scores = {}
    for name, weights in ARCHETYPE_SIGNATURES.items():
        signature = pd.Series(weights).reindex(z.columns).fillna(0.0).to_numpy()
        scores[name] = z.to_numpy() @ signature / np.linalg.norm(signature)
    scores[BALANCED] = DISTINCTIVE_Z - z.abs().max(axis=1).to_numpy()
    return pd.DataFrame(scores, index=z.index)


def poster_matches(profiles: pd.DataFrame) -> dict[int, tuple[str, float]]:
    """Per cluster, the closest poster archetype and its match score (many-to-one allowed); "none"
    when no signature matches positively (the profile resembles none of them)."""
    scores = _poster_scores(profiles)
    return {
        int(c): (str(row.idxmax()) if row.max() > 0 else "none", float(row.max()))
        for c, row in scores.iterrows()
    }


def profile_label(profile: pd.Series) -> str:
    """A cluster's label from its profile (module docstring): prioritised, else deprioritised dims.

    Examples
    --------
    >>> profile_label(pd.Series({"Social": 1.2, "Protective": 0.9, "Practical": -1.0}))
    'Social–Protective priority'
    >>> profile_label(pd.Series({"Social": 0.1, "Personal": -0.8}))
    'low Personal'
    """
    up, down, _ = describe(profile)
    if up:
        return up.replace(";", "–") + " priority"
    if down:
        return "low " + down.replace(";", "–")
    return "average profile"


def label_clusters(profiles: pd.DataFrame) -> dict[int, str]:
    """Label every cluster from its own profile; equal labels get the cluster number added."""
    labels = {int(c): profile_label(profiles.loc[c]) for c in profiles.index}
    counts = pd.Series(list(labels.values())).value_counts()
    return {c: (f"{name} ({c})" if counts[name] > 1 else name) for c, name in labels.items()}


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


def origin_mixing(
    labels: np.ndarray,
    origins: np.ndarray,
    method: str,
    groups: Sequence[str] = ("CN", "US"),
    rng: np.random.Generator | None = None,
) -> dict:
    """Fisher-Freeman-Halton test of cluster x origin, Cramér's V and the number of mixed clusters.

    Only models of the origin ``groups`` enter (origin ``none`` or a company label is no group).
    With two groups the exact r x 2 test of :func:`freeman_halton`; with more, the same test as a
    permutation test of the origins over the models (:func:`freeman_halton_permutation`).
    """
    groups = tuple(groups)
    keep = np.isin(origins, groups)
    table = pd.crosstab(labels[keep], origins[keep]).reindex(columns=list(groups), fill_value=0)
    counts = table.to_numpy()
    n = counts.sum()
    chi2 = stats.chi2_contingency(counts, correction=False)[0] if (counts.sum(axis=0) > 0).all() else np.nan
    r = min(counts.shape) - 1
    v = float(np.sqrt(chi2 / (n * r))) if r > 0 and np.isfinite(chi2) else np.nan
    mixed = int(((counts > 0).sum(axis=1) >= 2).sum())
    test = "Fisher-Freeman-Halton exact test"
    if len(groups) == 2:
        p = freeman_halton(counts)
    else:
        p, how = freeman_halton_permutation(labels[keep], origins[keep], groups, rng=rng)
        test = f"Fisher-Freeman-Halton test ({how})"
    return {
        "analysis": "ranking_cluster_origin",
        "model": method,
        "term": "cluster x origin",
        "estimate": v,
        "statistic": chi2,
        "df": float((counts.shape[0] - 1) * (counts.shape[1] - 1)),
        "p_value": p,
        "method": f"{test}; estimate = Cramér's V, statistic = Pearson chi2",
        "k": int(counts.shape[0]),
        "mixed_clusters": mixed,
        "table": ";".join(
            f"{c}:" + ",".join(f"{g}={count}" for g, count in zip(groups, row, strict=True))
            for c, row in zip(table.index, counts, strict=True)
        ),
    }


def freeman_halton_permutation(
    clusters: np.ndarray,
    origins: np.ndarray,
    groups: Sequence[str],
    *,
    max_enumeration: int = _exact.MAX_ENUMERATION,
    n_draws: int = _exact.MONTE_CARLO_DRAWS,
    rng: np.random.Generator | None = None,
) -> tuple[float, str]:
    """The Fisher-Freeman-Halton test of an r x c table as a permutation test, and how it was done.

    With both margins fixed a table's probability is proportional to ``1 / prod n_ij!``; the
    p-value is the share of arrangements of the origins over the models whose table is no more
    probable than the observed one: every arrangement when there are at most ``max_enumeration``,
    else ``n_draws`` random permutations (``(b + 1) / (B + 1)``).

    Examples
    --------
    >>> c = np.array([1, 1, 2, 2, 3, 3])
    >>> p, how = freeman_halton_permutation(c, np.array(["A", "A", "B", "B", "C", "C"]), ["A", "B", "C"])
    >>> round(p, 4), how
    (0.0667, 'exact: all 90 arrangements counted')
    """
    codes = np.array([list(groups).index(o) for o in origins], dtype=np.int8)
    sizes = np.bincount(codes, minlength=len(groups))
    present = sizes > 0
    codes = (np.cumsum(present) - 1)[codes].astype(np.int8)  # renumber the groups present
    _, cluster_codes = np.unique(clusters, return_inverse=True)
    member = np.eye(int(cluster_codes.max()) + 1)[cluster_codes]

    def log_weight(block: np.ndarray) -> np.ndarray:
        out = np.zeros(len(block))
        for g in range(int(present.sum())):
            out += gammaln((block == g).astype(float) @ member + 1.0).sum(axis=1)
        return out

    observed = log_weight(codes[None, :])[0] - 1e-7
    total = _exact.n_arrangements(sizes[present])
    if total <= max_enumeration:
        every = _exact.arrangements(codes)
        extreme = sum(
            int((log_weight(every[i : i + 65_536]) >= observed).sum()) for i in range(0, total, 65_536)
        )
        return extreme / total, f"exact: all {total:,} arrangements counted"
    if rng is None:
        raise ValueError(f"{total:,} arrangements exceed max_enumeration; pass rng for the Monte Carlo test")
    extreme = 0
    for start in range(0, n_draws, 16_384):
        block = rng.permuted(np.tile(codes, (min(16_384, n_draws - start), 1)), axis=1)
        extreme += int((log_weight(block) >= observed).sum())
    return (extreme + 1) / (n_draws + 1), f"Monte Carlo: {n_draws:,} random permutations"
