"""Exact two-group permutation tests (CN vs US models) in integer arithmetic, ties decided exactly.

Both tests of :func:`permutation_pvalues` are permutation tests of the sum of one group's scores:
``"mean"`` permutes the scores themselves (the test of the difference in means), ``"rank"``
permutes their mid-ranks (the Mann-Whitney / Wilcoxon rank-sum test, with ties). With ``n`` models
of which ``k`` are in the group, the statistic is ``D = n S - k T`` (``S`` the group's sum, ``T``
the total), which is ``k (n - k)`` times the difference in means (or mean ranks); the two-sided
p-value is the share of the ``C(n, k)`` splits of the models with ``|D| >= |D_observed|``.

Ties, decided before any arithmetic
-----------------------------------
Scores that differ by at most ``TIE_TOLERANCE`` (relative to the largest absolute score of the
column) are one tie: mean ranks that are equal as rationals but were summed in another order (and
so differ in the last bits, e.g. ``0.1 + 0.2`` and ``0.3``) are tied, never split by rounding noise.
Each tie becomes one value, and the values are then written as integers on a grid of ``2**-bits``
of the largest score (``bits`` at least 34, far finer than the tolerance), so every sum and every
comparison below is exact integer arithmetic (carried in float64, exact below ``2**53``).
Mid-ranks are computed from the merged ties and doubled, so they are integers too.

Exact or Monte Carlo
--------------------
Every split is counted, exactly, whenever ``n <= 2 * MITM_HALF`` (32 models: up to C(32, 16) =
601 million splits) by meeting in the middle: the models are cut into two halves, the sums of every
subset of each half are listed by size, and for each size ``j`` the splits made of ``j`` models of the
first half and ``k - j`` of the second that are at least as extreme are counted by binary search in
the sorted second list (``2**(n/2)`` sums instead of ``C(n, k)`` splits). Larger panels enumerate the
``C(n, k)`` splits directly when there are at most ``max_enumeration``; otherwise ``n_draws`` random
splits are drawn and the p-value is ``(b + 1) / (B + 1)`` (``b`` of the ``B`` draws at least as
extreme; Phipson and Smyth 2010: never zero, valid as a test), reported with a 99% Clopper-Pearson
interval for the permutation p-value it estimates.

References
----------
Phipson B, Smyth GK (2010). Permutation p-values should never be zero. Stat Appl Genet Mol Biol 9:39.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np
from scipy import stats

__all__ = [
    "MAX_ENUMERATION",
    "MITM_HALF",
    "MONTE_CARLO_CONFIDENCE",
    "MONTE_CARLO_DRAWS",
    "TIE_TOLERANCE",
    "PermutationResult",
    "arrangements",
    "exact_integers",
    "group_permutation_pvalues",
    "merge_ties",
    "midranks",
    "n_arrangements",
    "permutation_pvalues",
]

#: Scores closer than this (relative to the largest absolute score of the column) are one tie.
TIE_TOLERANCE = 1e-9
#: Largest half of the meet-in-the-middle count (2**16 subset sums per half): exact up to 32 models.
MITM_HALF = 16
#: Beyond 2 * MITM_HALF models: splits enumerated at most; beyond, Monte Carlo.
MAX_ENUMERATION = 1_000_000
#: Random splits drawn when the enumeration would be larger than ``MAX_ENUMERATION``.
MONTE_CARLO_DRAWS = 100_000
#: Level of the Clopper-Pearson interval of a Monte Carlo p-value.
MONTE_CARLO_CONFIDENCE = 0.99
_MIN_BITS = 34  # grid step 2**-34 (6e-11) of the largest score: well below the tie tolerance
_EXACT_FLOAT = 53  # integers below 2**53 are exact in float64
_CHUNK = 65_536
_CACHED_SPLITS = 250_000  # indicator matrices up to this many rows are kept (n = 20: 30 MB)

Statistic = Literal["mean", "rank"]


@dataclass(frozen=True)
class PermutationResult:
    """Two-sided permutation p-values of every column, and how they were obtained.

    Attributes
    ----------
    p_value : ndarray
        One per column (NaN where a group is empty).
    exact : bool
        Every split was enumerated (otherwise Monte Carlo).
    n_permutations : int
        Splits enumerated (``C(n, k)``) or drawn.
    p_low, p_high : ndarray
        The 99% Clopper-Pearson interval of a Monte Carlo p-value; equal to ``p_value`` when exact.
    unit : str
        What was permuted, in words: "splits" (two groups) or "arrangements" (k groups).
    """

    p_value: np.ndarray
    exact: bool
    n_permutations: int
    p_low: np.ndarray
    p_high: np.ndarray
    unit: str = "splits"

    @property
    def method(self) -> str:
        """How the p-value was obtained, in words."""
        if self.exact:
            return f"exact: all {self.n_permutations:,} {self.unit} counted"
        level = round(100 * MONTE_CARLO_CONFIDENCE)
        return f"Monte Carlo: {self.n_permutations:,} random {self.unit}, {level}% Clopper-Pearson CI"


def merge_ties(x: np.ndarray, tolerance: float = TIE_TOLERANCE) -> np.ndarray:
    """``x`` (1-D) with scores closer than ``tolerance`` x max|x| set equal (to the smallest of them).

    Neighbours in sorted order closer than the tolerance are chained into one tie.

    Examples
    --------
    >>> merge_ties(np.array([0.1 + 0.2, 0.3, 0.5])).tolist()
    [0.3, 0.3, 0.5]
    """
    x = np.asarray(x, dtype=float)
    if x.size < 2:
        return x.copy()
    scale = float(np.max(np.abs(x)))
    order = np.argsort(x, kind="mergesort")
    ordered = x[order]
    new_tie = np.concatenate([[True], np.diff(ordered) > tolerance * scale])
    first = np.maximum.accumulate(np.where(new_tie, np.arange(x.size), 0))
    merged = np.empty_like(x)
    merged[order] = ordered[first]
    return merged


def midranks(x: np.ndarray, tolerance: float = TIE_TOLERANCE) -> np.ndarray:
    """Mid-ranks of ``x`` (1 = smallest) after :func:`merge_ties`; ties share their mean rank.

    Examples
    --------
    >>> midranks(np.array([0.3, 0.1 + 0.2, 2.0, 1.0])).tolist()
    [1.5, 1.5, 4.0, 3.0]
    """
    return stats.rankdata(merge_ties(x, tolerance), method="average")


def _bits(n: int, k: int) -> int:
    # |n S - k T| <= 2 n k max|z|: keep it below 2**53 so float64 carries it exactly.
    bits = _EXACT_FLOAT - 1 - math.ceil(math.log2(max(2 * n * k, 2)))
    if bits < _MIN_BITS:
        raise ValueError(
            f"{n} observations are too many for exact integer permutation arithmetic (at most about 500)"
        )
    return bits


def exact_integers(x: np.ndarray, bits: int) -> np.ndarray:
    """Merged-tie scores of ``x`` (1-D) as integers on a grid of ``2**-bits`` x max|x| (float64).

    Distinct scores (further apart than the tie tolerance) stay distinct and keep their order.
    """
    merged = merge_ties(x)
    scale = float(np.max(np.abs(merged))) if merged.size else 0.0
    if scale == 0.0:
        return np.zeros_like(merged)
    step = 2.0 ** (math.ceil(math.log2(scale)) - bits)
    return np.round(merged / step)


@lru_cache(maxsize=2)
def _cached_indicator(n: int, k: int) -> np.ndarray:
    block = _indicator(itertools.combinations(range(n), k), n, k, math.comb(n, k))
    block.flags.writeable = False
    return block


def _indicator(subsets: itertools.combinations, n: int, k: int, rows: int) -> np.ndarray:
    flat = np.fromiter(itertools.chain.from_iterable(subsets), dtype=np.int32, count=rows * k)
    out = np.zeros((rows, n), dtype=float)  # float64: the product with integer scores is BLAS, exact
    out[np.repeat(np.arange(rows), k), flat] = 1.0
    return out


def _split_blocks(n: int, k: int):
    """Indicator matrices (splits x models) of every k-subset of n, in blocks."""
    total = math.comb(n, k)
    if total <= _CACHED_SPLITS:
        yield _cached_indicator(n, k)
        return
    subsets = itertools.combinations(range(n), k)
    done = 0
    while done < total:
        rows = min(_CHUNK, total - done)
        yield _indicator(itertools.islice(subsets, rows), n, k, rows)  # type: ignore[arg-type]
        done += rows


def _random_blocks(n: int, k: int, draws: int, rng: np.random.Generator):
    done = 0
    while done < draws:
        rows = min(_CHUNK // 4, draws - done)
        chosen = np.argpartition(rng.random((rows, n)), k - 1, axis=1)[:, :k]
        block = np.zeros((rows, n), dtype=float)
        np.put_along_axis(block, chosen, 1.0, axis=1)
        yield block
        done += rows


def permutation_pvalues(
    scores: np.ndarray,
    in_group: np.ndarray,
    *,
    statistic: Statistic = "mean",
    max_enumeration: int = MAX_ENUMERATION,
    n_draws: int = MONTE_CARLO_DRAWS,
    rng: np.random.Generator | None = None,
) -> PermutationResult:
    """Two-sided permutation p-values of a two-group comparison, for every column of ``scores``.

    Parameters
    ----------
    scores : ndarray, shape (n,) or (n, m)
        One row per unit (model), one column per term; no NaN.
    in_group : bool ndarray, shape (n,)
        Membership of the first group (CN); the rest is the second group.
    statistic : "mean" or "rank"
        Permute the scores (difference in means) or their mid-ranks (Mann-Whitney).
    max_enumeration : int
        Beyond ``2 * MITM_HALF`` models, enumerate every split when there are at most this many;
        else Monte Carlo.
    n_draws : int
        Random splits of the Monte Carlo test.
    rng : numpy Generator, optional
        Source of the Monte Carlo draws (required for them to be reproducible).

    Returns
    -------
    PermutationResult

    Examples
    --------
    >>> r = permutation_pvalues(np.array([1.0, 2.0, 3.0, 4.0]), np.array([True, True, False, False]))
    >>> float(r.p_value[0]), r.n_permutations, r.exact
    (0.3333333333333333, 6, True)
    """
    x = np.asarray(scores, dtype=float)
    x = x[:, None] if x.ndim == 1 else x
    group = np.asarray(in_group, dtype=bool)
    if len(group) != len(x):
        raise ValueError(f"in_group has {len(group)} entries for {len(x)} rows of scores")
    if np.isnan(x).any():
        raise ValueError("scores contain NaN; drop the missing units first")
    n, m = x.shape
    k_first = int(group.sum())
    if k_first == 0 or k_first == n:
        nan = np.full(m, np.nan)
        return PermutationResult(nan, True, 1, nan, nan)
    # The smaller group is enumerated: |n S - k T| is the same for a split and its complement.
    small = group if k_first <= n - k_first else ~group
    k = int(small.sum())
    if statistic == "mean":
        bits = _bits(n, k)
        z = np.column_stack([exact_integers(x[:, j], bits) for j in range(m)])
    elif statistic == "rank":
        z = np.column_stack([2.0 * midranks(x[:, j]) for j in range(m)])
    else:
        raise ValueError(f"statistic must be 'mean' or 'rank', got {statistic!r}")
    total = z.sum(axis=0)
    observed = np.abs(n * z[small].sum(axis=0) - k * total)
    n_splits = math.comb(n, k)
    if n <= 2 * MITM_HALF:
        p = _count_meet_in_middle(z, k, observed) / n_splits
        return PermutationResult(p, True, n_splits, p, p)
    if n_splits <= max_enumeration:
        p = _count_enumerated(_split_blocks(n, k), z, k, observed) / n_splits
        return PermutationResult(p, True, n_splits, p, p)
    if rng is None:
        raise ValueError(f"{n_splits:,} splits exceed max_enumeration; pass rng for the Monte Carlo test")
    extreme = _count_enumerated(_random_blocks(n, k, n_draws, rng), z, k, observed)
    low, high = _clopper_pearson(extreme, n_draws, MONTE_CARLO_CONFIDENCE)
    return PermutationResult((extreme + 1) / (n_draws + 1), False, n_draws, low, high)


def _count_enumerated(blocks, z: np.ndarray, k: int, observed: np.ndarray) -> np.ndarray:
    """Splits (rows of the indicator blocks) with ``|n S - k T| >= observed``, per column."""
    n, total = len(z), z.sum(axis=0)
    extreme = np.zeros(z.shape[1], dtype=np.int64)
    for block in blocks:
        extreme += (np.abs(n * (block @ z) - k * total) >= observed).sum(axis=0)
    return extreme


def _subset_sums(part: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sums (subsets x columns) and sizes of every subset of the rows of ``part``."""
    h = len(part)
    bits = ((np.arange(2**h)[:, None] >> np.arange(h)) & 1).astype(float)
    return bits @ part, bits.sum(axis=1).astype(int)


def _count_meet_in_middle(z: np.ndarray, k: int, observed: np.ndarray) -> np.ndarray:
    """Exact count of the k-subsets with ``|n S - k T| >= observed``, per column (module docstring).

    With ``D`` the observed deviation, a split (a from the first half, b from the second) is extreme
    when ``n b >= D + k T - n a`` or ``n b <= k T - D - n a``; both sides are integers below 2**53.
    """
    n = len(z)
    half = n // 2
    sums_a, size_a = _subset_sums(z[:half])
    sums_b, size_b = _subset_sums(z[half:])
    total = z.sum(axis=0)
    extreme = np.zeros(z.shape[1], dtype=np.int64)
    for col in range(z.shape[1]):
        d, kt = observed[col], k * total[col]
        if d == 0:  # every split is at least as extreme as no difference at all
            extreme[col] = math.comb(n, k)
            continue
        for j in range(max(0, k - (n - half)), min(k, half) + 1):
            na = n * sums_a[size_a == j, col]
            nb = np.sort(n * sums_b[size_b == k - j, col])
            extreme[col] += int((len(nb) - np.searchsorted(nb, d + kt - na, side="left")).sum())
            extreme[col] += int(np.searchsorted(nb, kt - d - na, side="right").sum())
    return extreme


def _clopper_pearson(successes: np.ndarray, trials: int, level: float) -> tuple[np.ndarray, np.ndarray]:
    alpha = 1.0 - level
    b = np.asarray(successes, dtype=float)
    low = np.where(b > 0, stats.beta.ppf(alpha / 2, b, trials - b + 1), 0.0)
    high = np.where(b < trials, stats.beta.ppf(1 - alpha / 2, b + 1, trials - b), 1.0)
    return low, high


# --- k groups --------------------------------------------------------------------------------------

GroupStatistic = Literal["kruskal", "anova"]
#: Relative tolerance under which a permuted ANOVA statistic counts as equal to the observed one.
ANOVA_TOLERANCE = 1e-9


def arrangements(labels: np.ndarray) -> np.ndarray:
    """Every distinct arrangement of the multiset ``labels`` (rows); read-only, cached per multiset."""
    return _cached_arrangements(tuple(int(v) for v in np.bincount(labels)))


@lru_cache(maxsize=2)
def _cached_arrangements(sizes_key: tuple[int, ...]) -> np.ndarray:
    sizes = np.array(sizes_key)
    n = int(sizes.sum())
    rows = [np.full(n, -1, dtype=np.int8)]
    for group, size in enumerate(sizes[:-1]):
        grown = []
        for row in rows:
            free = np.flatnonzero(row < 0)
            for chosen in itertools.combinations(free, int(size)):
                new = row.copy()
                new[list(chosen)] = group
                grown.append(new)
        rows = grown
    out = np.array(rows, dtype=np.int8)
    out[out < 0] = len(sizes) - 1
    out.flags.writeable = False
    return out


def n_arrangements(sizes: np.ndarray) -> int:
    """Distinct assignments of ``sum(sizes)`` units to groups of these sizes (the multinomial)."""
    total, count = 0, 1
    for size in sizes:
        total += int(size)
        count *= math.comb(total, int(size))
    return count


def _between(blocks, z: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Per assignment (rows) and column: ``sum_g S_g^2 * (L / n_g)`` with ``L`` the lcm of the sizes."""
    weight = math.lcm(*[int(s) for s in sizes]) / sizes
    parts = []
    for block in blocks:
        stat = np.zeros((len(block), z.shape[1]))
        for group, w in enumerate(weight):
            stat += w * ((block == group).astype(float) @ z) ** 2
        parts.append(stat)
    return np.concatenate(parts) if parts else np.empty((0, z.shape[1]))


def group_permutation_pvalues(
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    statistic: GroupStatistic = "kruskal",
    max_enumeration: int = MAX_ENUMERATION,
    n_draws: int = MONTE_CARLO_DRAWS,
    rng: np.random.Generator | None = None,
) -> PermutationResult:
    """Omnibus permutation p-values of a k-group comparison, for every column of ``scores``.

    The group labels are permuted over the units (models). ``"kruskal"`` permutes the mid-ranks
    (after :func:`merge_ties`): the statistic ``sum_g R_g^2 / n_g`` orders the arrangements as the
    tie-corrected Kruskal-Wallis H does, and with doubled mid-ranks it is an integer, so ties are
    decided exactly. ``"anova"`` permutes the merged-tie scores: ``sum_g S_g^2 / n_g`` orders them as
    the one-way ANOVA F does (the total sum of squares is fixed); an arrangement counts as extreme
    when its statistic is within :data:`ANOVA_TOLERANCE` (relative) of the observed one or above.
    Every distinct arrangement (the multinomial ``n! / prod n_g!``) is counted when there are at most
    ``max_enumeration``; else ``n_draws`` random permutations give ``(b + 1) / (B + 1)`` with a 99%
    Clopper-Pearson interval, as :func:`permutation_pvalues` does.

    Parameters
    ----------
    scores : ndarray, shape (n,) or (n, m)
        One row per unit, one column per term; no NaN.
    labels : int ndarray, shape (n,)
        Group of each unit, ``0 .. k - 1`` (every group present).
    statistic : "kruskal" or "anova"
    max_enumeration, n_draws, rng
        As in :func:`permutation_pvalues`.

    Returns
    -------
    PermutationResult

    Examples
    --------
    >>> r = group_permutation_pvalues(np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), np.array([0, 0, 1, 1, 2, 2]))
    >>> round(float(r.p_value[0]), 4), r.n_permutations, r.exact
    (0.0667, 90, True)
    """
    x = np.asarray(scores, dtype=float)
    x = x[:, None] if x.ndim == 1 else x
    codes = np.asarray(labels, dtype=np.int8)
    if len(codes) != len(x):
        raise ValueError(f"labels has {len(codes)} entries for {len(x)} rows of scores")
    if np.isnan(x).any():
        raise ValueError("scores contain NaN; drop the missing units first")
    sizes = np.bincount(codes)
    if len(sizes) < 2 or (sizes == 0).any():
        raise ValueError("labels must number groups 0 .. k - 1 with k >= 2, each present")
    if statistic == "kruskal":
        z = np.column_stack([2.0 * midranks(x[:, j]) for j in range(x.shape[1])])
        tolerance = 0.0
    elif statistic == "anova":
        z = np.column_stack([merge_ties(x[:, j]) for j in range(x.shape[1])])
        z = z - z.mean(axis=0)  # centring changes no ordering and keeps the squares small
        tolerance = ANOVA_TOLERANCE
    else:
        raise ValueError(f"statistic must be 'kruskal' or 'anova', got {statistic!r}")
    observed = _between([codes[None, :]], z, sizes)[0]
    threshold = observed - tolerance * np.abs(observed)
    total = n_arrangements(sizes)
    if total <= max_enumeration:
        every = arrangements(codes)
        blocks = (every[i : i + _CHUNK] for i in range(0, len(every), _CHUNK))
        extreme = (_between(blocks, z, sizes) >= threshold).sum(axis=0)
        p = extreme / total
        return PermutationResult(p, True, total, p, p, "arrangements")
    if rng is None:
        raise ValueError(f"{total:,} arrangements exceed max_enumeration; pass rng for the Monte Carlo test")
    extreme = np.zeros(z.shape[1], dtype=np.int64)
    done = 0
    while done < n_draws:
        rows = min(_CHUNK // 4, n_draws - done)
        block = rng.permuted(np.tile(codes, (rows, 1)), axis=1)
        extreme += (_between([block], z, sizes) >= threshold).sum(axis=0)
        done += rows
    low, high = _clopper_pearson(extreme, n_draws, MONTE_CARLO_CONFIDENCE)
    return PermutationResult((extreme + 1) / (n_draws + 1), False, n_draws, low, high, "arrangements")
