"""Distances between answer distributions on an ordinal scale, and the cultural fixation index.

Every function takes probabilities along the last axis and broadcasts over the others, so one call
compares a country's distribution with every LLM condition, or every bootstrap replicate. The
float64 functions are the estimates (checked against SciPy to 1e-12 in the tests); the
``*_replicates`` kernels compute the same quantities in float32 chunks for bootstrap intervals,
where a relative error of 1e-6 is far below the resampling error.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "cultural_fst",
    "fst_components",
    "jensen_shannon",
    "jensen_shannon_replicates",
    "wasserstein_ordinal",
    "wasserstein_replicates",
]

#: Bootstrap replicates per block in the float32 kernels (keeps the temporaries in cache).
REPLICATE_BLOCK = 16


def _probabilities(values: np.ndarray | list, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim == 0 or array.shape[-1] < 2:
        raise ValueError(f"{name} needs at least two scale points on its last axis, got shape {array.shape}")
    if not np.isfinite(array).all() or (array < 0).any():
        raise ValueError(f"{name} must hold finite, non-negative probabilities")
    total = array.sum(axis=-1, keepdims=True)
    if (total <= 0).any():
        raise ValueError(f"{name} has a distribution whose probabilities sum to 0")
    return array / total


def wasserstein_ordinal(
    p: np.ndarray | list,
    q: np.ndarray | list,
    *,
    points: np.ndarray | list | None = None,
    normalize: bool = True,
) -> np.ndarray:
    """Wasserstein-1 (earth mover's) distance between distributions on the same ordered scale.

    Parameters
    ----------
    p, q : array_like
        Probabilities (or non-negative weights, normalised here) of the scale points, along the
        last axis; the other axes broadcast.
    points : array_like, optional
        The scale points, increasing (default 0, 1, ..., K-1: equally spaced).
    normalize : bool
        Divide by the scale's range, so that 0 ≤ W1 ≤ 1 whatever the scale (as WorldValuesBench
        does with its normalised answers); False gives the distance in scale units.

    Returns
    -------
    ndarray
        ``sum_k |F_p(k) - F_q(k)| (x_{k+1} - x_k)`` (divided by ``x_K - x_1``), the broadcast shape
        of ``p`` and ``q`` without the last axis.

    Notes
    -----
    Equal to ``scipy.stats.wasserstein_distance(points, points, p, q)`` (divided by the range).

    Examples
    --------
    >>> float(wasserstein_ordinal([1, 0, 0, 0, 0], [0, 0, 0, 0, 1]))
    1.0
    >>> float(wasserstein_ordinal([0.5, 0.5, 0], [0, 0.5, 0.5], normalize=False))
    1.0
    """
    p, q = _probabilities(p, "p"), _probabilities(q, "q")
    if p.shape[-1] != q.shape[-1]:
        raise ValueError(f"p has {p.shape[-1]} scale points but q has {q.shape[-1]}")
    x = np.arange(p.shape[-1], dtype=float) if points is None else np.asarray(points, dtype=float)
    if x.shape != (p.shape[-1],) or (np.diff(x) <= 0).any():
        raise ValueError(f"points must be {p.shape[-1]} increasing numbers")
    gaps = np.diff(x)
    distance = (np.abs(np.cumsum(p, axis=-1) - np.cumsum(q, axis=-1))[..., :-1] * gaps).sum(axis=-1)
    return distance / (x[-1] - x[0]) if normalize else distance


def jensen_shannon(p: np.ndarray | list, q: np.ndarray | list, *, base: float = 2.0) -> np.ndarray:
    """Jensen–Shannon distance (the square root of the divergence), as GlobalOpinionQA uses.

    Parameters
    ----------
    p, q : array_like
        Probabilities (or non-negative weights, normalised here) along the last axis.
    base : float
        Logarithm base; 2 (default) bounds the distance by 1.

    Returns
    -------
    ndarray
        ``sqrt((KL(p || m) + KL(q || m)) / 2)`` with ``m = (p + q) / 2``.

    Notes
    -----
    Equal to ``scipy.spatial.distance.jensenshannon(p, q, base=base, axis=-1)``.

    Examples
    --------
    >>> float(jensen_shannon([1, 0], [0, 1])), float(jensen_shannon([0.5, 0.5], [0.5, 0.5]))
    (1.0, 0.0)
    """
    from scipy.special import rel_entr

    p, q = _probabilities(p, "p"), _probabilities(q, "q")
    if p.shape[-1] != q.shape[-1]:
        raise ValueError(f"p has {p.shape[-1]} scale points but q has {q.shape[-1]}")
    m = (p + q) / 2.0
    divergence = (rel_entr(p, m).sum(axis=-1) + rel_entr(q, m).sum(axis=-1)) / (2.0 * np.log(base))
    return np.sqrt(np.maximum(divergence, 0.0))


def fst_components(
    p: np.ndarray | list,
    q: np.ndarray | list,
    n_p: np.ndarray | float,
    n_q: np.ndarray | float,
    *,
    resampled: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Hudson's within- and between-population diversity of one item (Hudson et al. 1992).

    ``within``: the mean over the two populations of the chance that two different people of one
    population answer differently, ``n / (n - 1) * (1 - sum_k p_k**2)`` (unbiased in a sample of
    n); ``between``: the chance that a person of each answers differently, ``1 - sum_k p_k q_k``.

    Parameters
    ----------
    p, q : array_like
        Answer distributions along the last axis.
    n_p, n_q : array_like
        Sample sizes (with survey weights, Kish's effective sizes ``(sum w)**2 / sum w**2``),
        broadcast with the other axes; each must exceed 1.
    resampled : bool
        ``p`` and ``q`` are bootstrap resamples of samples of ``n_p`` and ``n_q``: a resample draws
        a person twice with chance 1/n, which lowers its diversity by (n - 1)/n once more, so the
        correction is applied twice and the replicates centre on the sample's estimate.
    """
    p, q = _probabilities(p, "p"), _probabilities(q, "q")
    n_p, n_q = np.asarray(n_p, dtype=float), np.asarray(n_q, dtype=float)
    if (n_p <= 1).any() or (n_q <= 1).any():
        raise ValueError("each population needs more than one person answering")
    power = 2 if resampled else 1
    within_p = (n_p / (n_p - 1)) ** power * (1.0 - (p**2).sum(axis=-1))
    within_q = (n_q / (n_q - 1)) ** power * (1.0 - (q**2).sum(axis=-1))
    return (within_p + within_q) / 2.0, 1.0 - (p * q).sum(axis=-1)


def cultural_fst(
    p: np.ndarray | list,
    q: np.ndarray | list,
    n_p: np.ndarray | float,
    n_q: np.ndarray | float,
    *,
    resampled: bool = False,
) -> np.ndarray:
    """Cultural fixation index of two populations over items: Hudson's F_ST.

    ``1 - sum_items within / sum_items between`` (:func:`fst_components`; a ratio of averages
    over the items, as Bhatia et al. 2013 recommend): the share of the answers' variation that lies
    between the two populations, answers treated as categories, the quantity CF_ST (Muthukrishna et
    al. 2020) measures. Unlike the plug-in ``(H_T - H_S) / H_T``, it is not inflated by sampling
    noise (about 1/n for similar populations), so two samples of one population give about 0 (a
    small negative value is noise, kept as it is).

    Parameters
    ----------
    p, q : array_like
        Answer distributions, items × K (the items along the second-to-last axis; more leading axes
        broadcast).
    n_p, n_q : array_like
        People answering each item (items, broadcast likewise), or Kish's effective sizes.
    resampled : bool
        The distributions are bootstrap resamples (see :func:`fst_components`).

    Returns
    -------
    ndarray
        F_ST, the shape of the leading axes.

    Examples
    --------
    >>> round(float(cultural_fst([[1, 0]], [[0, 1]], [100], [100])), 4)  # no overlap at all
    1.0
    >>> round(float(cultural_fst([[0.5, 0.5]], [[0.5, 0.5]], [100], [100])), 4)  # the same answers
    -0.0101
    """
    within, between = fst_components(p, q, n_p, n_q, resampled=resampled)
    return 1.0 - within.sum(axis=-1) / between.sum(axis=-1)


def _scale_first(values: np.ndarray) -> np.ndarray:
    """(..., items, K) → (K, ..., items), contiguous, float32: each step then works on one slab."""
    return np.ascontiguousarray(np.moveaxis(values.astype(np.float32, copy=False), -1, 0))


def wasserstein_replicates(humans: np.ndarray, llms: np.ndarray) -> np.ndarray:
    """Normalised W1 of every replicate × condition × item, in float32 (equally spaced scale).

    Parameters
    ----------
    humans : ndarray
        Replicates × items × K probabilities.
    llms : ndarray
        Conditions × items × K probabilities.

    Returns
    -------
    ndarray
        Replicates × conditions × items, float32.
    """
    k = humans.shape[-1]
    cdf_h = _scale_first(np.cumsum(humans, axis=-1)[..., :-1])  # K-1 × B × J
    cdf_l = _scale_first(np.cumsum(llms, axis=-1)[..., :-1])  # K-1 × C × J
    n_b, n_c, n_j = humans.shape[0], llms.shape[0], humans.shape[1]
    out = np.empty((n_b, n_c, n_j), dtype=np.float32)
    for start in range(0, n_b, REPLICATE_BLOCK):
        stop = min(n_b, start + REPLICATE_BLOCK)
        acc = np.zeros((stop - start, n_c, n_j), dtype=np.float32)
        step = np.empty_like(acc)
        for point in range(k - 1):
            np.subtract(cdf_h[point, start:stop, None, :], cdf_l[point, None], out=step)
            np.abs(step, out=step)
            acc += step
        out[start:stop] = acc
    out /= np.float32(k - 1)
    return out


def _neg_entropy(probabilities: np.ndarray) -> np.ndarray:
    """sum_k p log p along the last axis (0 log 0 = 0), float32."""
    p = probabilities.astype(np.float32, copy=False)
    return (p * np.log(np.maximum(p, _TINY))).sum(axis=-1, dtype=np.float32)


#: Below this a probability is 0 (p log p < 1e-28): clamps the logarithm's argument.
_TINY = np.float32(1e-30)


def jensen_shannon_replicates(humans: np.ndarray, llms: np.ndarray, *, base: float = 2.0) -> np.ndarray:
    """Jensen–Shannon distance of every replicate × condition × item, in float32.

    Uses JSD = (H(p) + H(q)) / 2 - H(m) with m the mixture, so that only the mixture's entropy is
    computed per pair.

    Returns
    -------
    ndarray
        Replicates × conditions × items, float32.
    """
    half_h = np.float32(0.5) * _neg_entropy(humans)  # B × J
    half_l = np.float32(0.5) * _neg_entropy(llms)  # C × J
    # Halves, each lifted by half of _TINY, so the mixture is never 0 and needs no clamping.
    h_t = _scale_first(humans) * np.float32(0.5) + _TINY / 2
    l_t = _scale_first(llms) * np.float32(0.5) + _TINY / 2
    n_b, n_c, n_j = humans.shape[0], llms.shape[0], humans.shape[1]
    out = np.empty((n_b, n_c, n_j), dtype=np.float32)
    for start in range(0, n_b, REPLICATE_BLOCK):
        stop = min(n_b, start + REPLICATE_BLOCK)
        acc = np.zeros((stop - start, n_c, n_j), dtype=np.float32)  # sum m log m
        mixture, logs = np.empty_like(acc), np.empty_like(acc)
        for point in range(h_t.shape[0]):
            np.add(h_t[point, start:stop, None, :], l_t[point, None], out=mixture)
            np.log(mixture, out=logs)
            logs *= mixture
            acc += logs
        np.subtract(half_h[start:stop, None, :], acc, out=acc)  # sum p log p / 2 - sum m log m
        acc += half_l[None, :, :]
        out[start:stop] = acc
    out /= np.float32(np.log(base))
    np.maximum(out, np.float32(0), out=out)
    return np.sqrt(out, out=out)
