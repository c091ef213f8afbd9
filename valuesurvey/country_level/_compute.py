"""One pass over one country's respondents: mean cosine to every LLM condition at every removal
level, the country's answer distributions, their distances to the LLMs', all with bootstrap CIs.

People are resampled within the country (``n_boot`` multinomial count vectors, seeded by the
study seed, the instrument and the country, so a country's intervals do not change when another
country is added). Every estimate of a replicate is a weighted sum over people, so the whole
bootstrap is matrix products of the counts with per-person values, accumulated over chunks of
people: memory is bounded by the chunk, not by people × conditions × levels. Cosines for the
intervals are float32 (their error, ~1e-7, is far below the resampling error); point estimates
are float64.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from valuesurvey.country_level._distances import (
    jensen_shannon,
    jensen_shannon_replicates,
    wasserstein_ordinal,
    wasserstein_replicates,
)
from valuesurvey.country_level._inputs import CountryRespondents, LLMConditions
from valuesurvey.similarity._kernels import ZERO_VARIANCE_TOL

__all__ = [
    "DISTANCE_METRICS",
    "CountryEstimate",
    "Levels",
    "bc_interval",
    "bootstrap_counts",
    "child_seed",
    "country_seed",
    "estimate_country",
    "percentile_interval",
]

#: Distribution distances, by the metric name the tables use.
DISTANCE_METRICS = {"wasserstein": wasserstein_ordinal, "jensen_shannon": jensen_shannon}
#: Fewest items left after exclusions for a cosine of z-scores to mean something.
MIN_ITEMS = 3
#: Upper bound on the elements of one chunk's cosine block (people × levels × conditions).
CHUNK_ELEMENTS = 8_000_000
QUANTILES = (0.025, 0.975)


def _at(ordered: np.ndarray, position: np.ndarray) -> np.ndarray:
    """Values at fractional ``position`` (linear interpolation) of sorted replicates (axis 0)."""
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, ordered.shape[0] - 1)
    lo_value = np.take_along_axis(ordered, np.broadcast_to(low, ordered.shape[1:])[None], axis=0)[0]
    hi_value = np.take_along_axis(ordered, np.broadcast_to(high, ordered.shape[1:])[None], axis=0)[0]
    return lo_value + (position - low) * (hi_value - lo_value)


def percentile_interval(replicates: np.ndarray) -> np.ndarray:
    """The 2.5% and 97.5% percentiles of the replicates (axis 0; as ``np.quantile``, which is slower
    than sorting here): the mean cosines' interval."""
    ordered = np.sort(replicates, axis=0)
    n = replicates.shape[0]
    return np.stack([_at(ordered, np.full(replicates.shape[1:], q * (n - 1))) for q in QUANTILES])


def bc_interval(replicates: np.ndarray, point: np.ndarray) -> np.ndarray:
    """Bias-corrected percentile interval (Efron 1987) of the replicates (axis 0) around ``point``.

    Distances between a sample's answer distribution and another are inflated by sampling noise,
    and a resample adds the same noise again, so the plain percentile interval sits too high; the
    bias correction moves both percentiles by the share of replicates below the estimate.

    >>> rng = np.random.default_rng(0)
    >>> low, high = bc_interval(rng.normal(1.2, 0.1, (2000, 1)), np.array([1.0]))[:, 0]
    >>> bool(low < 1.0 < high), bool(high < 1.2)
    (False, True)
    """
    from scipy.special import ndtr, ndtri

    n = replicates.shape[0]
    below = (
        np.count_nonzero(replicates < point, axis=0) + 0.5 * np.count_nonzero(replicates == point, axis=0)
    ) / n
    z0 = ndtri(np.clip(below, 1.0 / (n + 1), n / (n + 1.0)))
    z = ndtri(QUANTILES[1])
    ordered = np.sort(replicates, axis=0)
    out = [_at(ordered, ndtr(2 * z0 + shift) * (n - 1)) for shift in (-z, z)]
    return np.stack(out)


@dataclass(frozen=True)
class Levels:
    """Removal levels: ``names[i]`` removes the items where ``removed[i]`` is True (``none``: none)."""

    names: tuple[str, ...]
    removed: np.ndarray  # levels × items, bool

    @classmethod
    def from_removals(cls, items: Sequence[str], removals: Mapping[str, Sequence[str]]) -> Levels:
        position = {item: j for j, item in enumerate(items)}
        mask = np.zeros((len(removals), len(items)), dtype=bool)
        for i, removed in enumerate(removals.values()):
            mask[i, [position[item] for item in removed]] = True
        return cls(tuple(removals), mask)


def country_seed(seed: int, instrument: str, country: str) -> np.random.SeedSequence:
    """The seed of one country's resamples: the study seed, the instrument and the country."""
    return np.random.SeedSequence([seed, zlib.crc32(instrument.encode()), zlib.crc32(country.encode())])


def child_seed(seed: np.random.SeedSequence, stream: int) -> np.random.SeedSequence:
    """Stream ``stream`` of a country's seed (0 cosines, 1 answer distributions, 2 z-profiles),
    the same however often it is asked for (``SeedSequence.spawn`` would count calls)."""
    return np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, stream))


def bootstrap_counts(n: int, n_boot: int, seed: np.random.SeedSequence, block: int = 64) -> np.ndarray:
    """``n_boot`` × ``n`` counts: how often each person is drawn in each resample of n people.

    >>> counts = bootstrap_counts(5, 3, np.random.SeedSequence(1))
    >>> counts.shape, counts.sum(axis=1).tolist()
    ((3, 5), [5, 5, 5])
    """
    rng = np.random.default_rng(seed)
    out = np.empty((n_boot, n), dtype=np.uint16 if n < 65_535 else np.uint32)
    for start in range(0, n_boot, block):
        rows = min(block, n_boot - start)
        draws = rng.integers(0, n, size=(rows, n)) + (np.arange(rows) * n)[:, None]
        out[start : start + rows] = np.bincount(draws.ravel(), minlength=rows * n).reshape(rows, n)
    return out


@dataclass
class CountryEstimate:
    """Everything one country contributes to the tables (arrays over levels L, conditions C, items J)."""

    country: str
    n_respondents: int
    n_complete: int
    n_zero_variance: int
    asked: np.ndarray  # J bool: items with at least one valid answer
    status: str = "analysed"
    reason: str = ""
    level_applicable: np.ndarray | None = None  # L bool
    level_n: np.ndarray | None = None  # L int: usable people
    llm_ok: np.ndarray | None = None  # L × C bool: the condition's vector varies over the items
    cosine: np.ndarray | None = None  # L × C
    cosine_ci: np.ndarray | None = None  # 2 × L × C
    item_n: np.ndarray | None = None  # J int: respondents answering
    effective_n: np.ndarray | None = None  # J: Kish's effective n of those answering
    distribution: np.ndarray | None = None  # J × K (NaN rows where not asked)
    replicate_distribution: np.ndarray | None = field(default=None, repr=False)  # B × J × K float32
    distances: dict[str, np.ndarray] = field(default_factory=dict)  # metric → C × J (NaN: not asked)
    distance_ci: dict[str, np.ndarray] = field(default_factory=dict)  # metric → 2 × C × J
    mean_distance: dict[str, np.ndarray] = field(default_factory=dict)  # metric → C
    mean_distance_ci: dict[str, np.ndarray] = field(default_factory=dict)  # metric → 2 × C


def _unit_rows(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows centred and scaled to unit length (the cosine of two is their z-scores' cosine), and
    whether each row varies at all."""
    centred = values - values.mean(axis=1, keepdims=True)
    norm = np.sqrt((centred**2).sum(axis=1))
    varies = norm / np.sqrt(max(values.shape[1] - 1, 1)) > ZERO_VARIANCE_TOL
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = np.where(varies[:, None], centred / norm[:, None], 0.0)
    return unit, varies


def _one_hot(ratings: np.ndarray, low: int, k: int) -> np.ndarray:
    """Respondents × items × K indicators of each answer (all 0 where missing), float32."""
    out = np.zeros((*ratings.shape, k), dtype=np.float32)
    answered = ~np.isnan(ratings)
    rows, cols = np.nonzero(answered)
    out[rows, cols, (ratings[answered] - low).astype(np.int64)] = 1.0
    return out


def estimate_country(
    respondents: CountryRespondents,
    llms: LLMConditions,
    levels: Levels,
    *,
    scale: tuple[int, int],
    n_boot: int,
    seed: np.random.SeedSequence,
    weighted: bool,
    min_n: int,
    keep_replicates: bool = True,
) -> CountryEstimate:
    """Estimate one country's similarity and distribution tables (see the module docstring).

    A country with fewer than ``min_n`` usable people (complete on the items asked there and not
    straight-lining), or fewer than 3 items asked, gets its counts and a ``status`` instead.
    """
    x = respondents.ratings
    n = x.shape[0]
    low, k = scale[0], scale[1] - scale[0] + 1
    w = respondents.weights if weighted else np.ones(n)
    asked = ~np.isnan(x).all(axis=0)
    complete = ~np.isnan(x[:, asked]).any(axis=1)
    estimate = CountryEstimate(respondents.country, n, int(complete.sum()), 0, asked)
    if asked.sum() < MIN_ITEMS:
        estimate.status, estimate.reason = "too_few_items", f"only {int(asked.sum())} items asked"
        return estimate

    keep = asked[None, :] & ~levels.removed  # L × J
    applicable = (keep.sum(axis=1) >= MIN_ITEMS) & (
        (np.arange(len(levels.names)) == 0) | (levels.removed & asked[None, :]).any(axis=1)
    )
    llm_units, llm_ok = [], np.zeros((len(levels.names), len(llms)), dtype=bool)
    for level in range(len(levels.names)):
        unit, varies = _unit_rows(llms.means[:, keep[level]])
        llm_units.append(unit)
        llm_ok[level] = varies & applicable[level]
    person_ok = np.zeros((n, len(levels.names)), dtype=bool)
    for level in np.flatnonzero(applicable):
        person_ok[complete, level] = _unit_rows(x[np.ix_(complete, keep[level])])[1]
    estimate.n_zero_variance = int((complete & ~person_ok[:, 0]).sum())
    estimate.level_applicable, estimate.level_n, estimate.llm_ok = applicable, person_ok.sum(axis=0), llm_ok
    if estimate.level_n[0] < min_n:
        estimate.status = "below_min_n"
        estimate.reason = f"{int(estimate.level_n[0])} usable respondents, fewer than min_n = {min_n}"
        return estimate

    people = np.flatnonzero(person_ok[:, 0])
    _cosines(estimate, x[people], w[people], person_ok[people], keep, llm_units, n_boot, child_seed(seed, 0))
    histograms = _histograms(x, w, low, k, n_boot, child_seed(seed, 1))
    _distributions(estimate, x, histograms, llms, k, keep_replicates)
    return estimate


def _chunk_rows(width: int) -> int:
    return max(256, min(8192, CHUNK_ELEMENTS // max(width, 1)))


def _cosines(
    estimate: CountryEstimate,
    x: np.ndarray,
    w: np.ndarray,
    ok: np.ndarray,
    keep: np.ndarray,
    llm_units: list[np.ndarray],
    n_boot: int,
    seed: np.random.SeedSequence,
) -> None:
    """Weighted mean cosine of the usable people to every condition at every level, resampling them.

    ``ok``: people × levels, usable at that level (the people here are those usable at ``none``).
    """
    applicable, llm_ok = estimate.level_applicable, estimate.llm_ok
    n_levels, n_conditions = llm_ok.shape
    width = n_levels * n_conditions
    counts = bootstrap_counts(len(x), n_boot, seed)
    num_point, den_point = np.zeros(width), np.zeros(n_levels)
    num_boot = np.zeros((n_boot, width), dtype=np.float32)
    den_boot = np.zeros((n_boot, n_levels), dtype=np.float32)
    chunk = _chunk_rows(width)
    for start in range(0, len(x), chunk):
        rows = slice(start, min(len(x), start + chunk))
        xc, wc, okc = x[rows], w[rows], ok[rows]
        cos = np.zeros((xc.shape[0], n_levels, n_conditions))
        for level in np.flatnonzero(applicable):
            users = okc[:, level]
            if users.any():
                unit = _unit_rows(xc[np.ix_(users, keep[level])])[0]
                cos[users, level] = unit @ llm_units[level].T
        cos = cos.reshape(xc.shape[0], width)
        usable = okc.astype(np.float64)
        num_point += wc @ cos
        den_point += wc @ usable
        weighted_counts = counts[:, rows].astype(np.float32) * wc.astype(np.float32)
        num_boot += weighted_counts @ cos.astype(np.float32)
        den_boot += weighted_counts @ usable.astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        estimate.cosine = num_point.reshape(n_levels, n_conditions) / den_point[:, None]
        replicates = num_boot.reshape(n_boot, n_levels, n_conditions) / den_boot[:, :, None]
    estimate.cosine_ci = percentile_interval(replicates)
    estimate.cosine[~llm_ok] = np.nan
    estimate.cosine_ci[:, ~llm_ok] = np.nan


@dataclass(frozen=True)
class _Histograms:
    """Weighted answer counts per item × scale point and the summed (and squared) weights of the
    people answering each item; per resample (float32) too."""

    counts: np.ndarray  # J·K
    weight: np.ndarray  # J
    weight_sq: np.ndarray  # J
    boot_counts: np.ndarray  # B × J·K
    boot_weight: np.ndarray  # B × J


def _histograms(
    x: np.ndarray, w: np.ndarray, low: int, k: int, n_boot: int, seed: np.random.SeedSequence
) -> _Histograms:
    """Weighted answer counts of every item (point and per resample of all respondents)."""
    n_items = x.shape[1]
    counts = bootstrap_counts(len(x), n_boot, seed)
    point = [np.zeros(n_items * k), np.zeros(n_items), np.zeros(n_items)]
    boot = [np.zeros((n_boot, n_items * k), np.float32), np.zeros((n_boot, n_items), np.float32)]
    chunk = _chunk_rows(n_items * k)
    for start in range(0, len(x), chunk):
        rows = slice(start, min(len(x), start + chunk))
        xc, wc = x[rows], w[rows]
        hot = _one_hot(xc, low, k).reshape(xc.shape[0], n_items * k)
        answered = (~np.isnan(xc)).astype(np.float32)
        weighted = counts[:, rows].astype(np.float32) * wc.astype(np.float32)
        point[0] += wc @ hot
        point[1] += wc @ answered
        point[2] += wc**2 @ answered
        boot[0] += weighted @ hot
        boot[1] += weighted @ answered
    return _Histograms(*point, *boot)


def _distributions(
    estimate: CountryEstimate,
    x: np.ndarray,
    hist: _Histograms,
    llms: LLMConditions,
    k: int,
    keep_replicates: bool,
) -> None:
    asked = estimate.asked
    n_items = len(asked)
    estimate.item_n = (~np.isnan(x)).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        distribution = hist.counts.reshape(n_items, k) / hist.weight[:, None]
        replicate = hist.boot_counts.reshape(-1, n_items, k) / hist.boot_weight[:, :, None]
        estimate.effective_n = hist.weight**2 / hist.weight_sq  # Kish; n when unweighted
    distribution[~asked] = np.nan
    estimate.distribution = distribution
    humans, llm = replicate[:, asked], llms.distributions[:, asked].astype(np.float32)
    kernels = {"wasserstein": wasserstein_replicates, "jensen_shannon": jensen_shannon_replicates}
    for metric, point_fn in DISTANCE_METRICS.items():
        point = np.full((len(llms), n_items), np.nan)
        point[:, asked] = point_fn(distribution[asked][None], llms.distributions[:, asked])
        boot = kernels[metric](humans, llm)  # B × C × J_asked
        ci = np.full((2, len(llms), n_items), np.nan)
        ci[:, :, asked] = bc_interval(boot, point[:, asked])
        estimate.distances[metric], estimate.distance_ci[metric] = point, ci
        estimate.mean_distance[metric] = point[:, asked].mean(axis=1)
        estimate.mean_distance_ci[metric] = bc_interval(boot.mean(axis=2), estimate.mean_distance[metric])
    if keep_replicates:
        estimate.replicate_distribution = replicate
