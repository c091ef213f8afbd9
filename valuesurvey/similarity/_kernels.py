"""Vectorized kernels: row z-scores, cosine, and cosine of z-scores with items left out.

All functions take 2-D float arrays with one respondent (a person or an LLM condition) per row
and one item per column, and never drop rows: a row that cannot be z-scored (zero variance or a
missing value) yields NaN, and the caller counts it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

__all__ = [
    "cosine_matrix",
    "leave_out_zcosine",
    "zcosine_matrix",
    "zero_variance_rows",
    "zscore_rows",
]

#: Below this standard deviation a vector counts as constant (ratings are small integers or means).
ZERO_VARIANCE_TOL = 1e-12


def _as_matrix(values: np.ndarray | Sequence[Sequence[float]], name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D (respondents × items), got shape {array.shape}")
    return array


def zero_variance_rows(values: np.ndarray, tol: float = ZERO_VARIANCE_TOL) -> np.ndarray:
    """Boolean mask of rows whose (complete) values are all equal.

    >>> zero_variance_rows(np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 3.0]])).tolist()
    [True, False]
    """
    values = _as_matrix(values, "values")
    return np.nanstd(values, axis=1) <= tol


def zscore_rows(values: np.ndarray, *, ddof: int = 1, tol: float = ZERO_VARIANCE_TOL) -> np.ndarray:
    """Z-score each row: subtract the row mean, divide by the row standard deviation.

    Rows with zero variance or any missing value become all-NaN (they cannot be z-scored).
    ``ddof=1`` matches R's ``scale()``; cosine similarity does not depend on it.

    >>> zscore_rows(np.array([[1.0, 2.0, 3.0], [2.0, 2.0, 2.0]])).round(3).tolist()
    [[-1.0, 0.0, 1.0], [nan, nan, nan]]
    """
    values = _as_matrix(values, "values")
    centered = values - values.mean(axis=1, keepdims=True)
    sd = np.sqrt((centered**2).sum(axis=1, keepdims=True) / (values.shape[1] - ddof))
    with np.errstate(invalid="ignore", divide="ignore"):
        z = centered / sd
    z[~(sd[:, 0] > tol)] = np.nan
    return z


def cosine_matrix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Cosine similarity of every row of ``x`` with every row of ``y`` (NaN for a zero row).

    >>> cosine_matrix(np.array([[1.0, 0.0]]), np.array([[1.0, 1.0], [0.0, 2.0]])).round(4).tolist()
    [[0.7071, 0.0]]
    """
    x, y = _as_matrix(x, "x"), _as_matrix(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x has {x.shape[1]} items but y has {y.shape[1]}")
    nx = np.linalg.norm(x, axis=1)
    ny = np.linalg.norm(y, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (x @ y.T) / np.outer(nx, ny)
    out[nx == 0, :] = np.nan
    out[:, ny == 0] = np.nan
    return out


def zcosine_matrix(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Cosine similarity of the row z-scores of ``x`` and ``y`` (every pair).

    Equal to the Pearson correlation of the raw rows. NaN where either row has zero variance.

    >>> zcosine_matrix(np.array([[1.0, 2.0, 4.0]]), np.array([[2.0, 4.0, 8.0], [4.0, 2.0, 1.0]])).round(4).tolist()
    [[1.0, -0.9286]]
    """
    return cosine_matrix(zscore_rows(x), zscore_rows(y))


def leave_out_zcosine(
    x: np.ndarray,
    y: np.ndarray,
    removals: Mapping[str, Sequence[int]],
    *,
    rezscore: bool = True,
) -> dict[str, np.ndarray]:
    """Cosine of z-scored rows with groups of items removed, for every pair of rows.

    Parameters
    ----------
    x, y : ndarray
        Respondents × items (same items in the same column order).
    removals : mapping
        Level name → column indices removed at that level. Use ``"none"`` → ``[]`` for the full
        vectors.
    rezscore : bool
        If True (default) the remaining items are z-scored again before the cosine, so every
        similarity is a cosine of z-vectors (the Pearson correlation over the remaining items).
        If False, the cosine is taken of the full-vector z-scores restricted to the remaining items.

    Returns
    -------
    dict
        Level name → ``len(x) × len(y)`` array of cosines.

    Notes
    -----
    With ``rezscore=True`` the work per level is one matrix product of the centered, scaled
    remaining columns, so the whole table costs ``levels × (n_x × n_y × items)`` flops.

    >>> x = np.array([[1.0, 2.0, 3.0, 5.0]]); y = np.array([[1.0, 3.0, 2.0, 4.0]])
    >>> out = leave_out_zcosine(x, y, {"none": [], "i2": [1]})
    >>> round(float(out["none"][0, 0]), 4), round(float(out["i2"][0, 0]), 4)
    (0.8315, 0.982)
    """
    x, y = _as_matrix(x, "x"), _as_matrix(y, "y")
    n_items = x.shape[1]
    if y.shape[1] != n_items:
        raise ValueError(f"x has {n_items} items but y has {y.shape[1]}")
    full_x, full_y = (zscore_rows(x), zscore_rows(y)) if not rezscore else (x, y)
    out: dict[str, np.ndarray] = {}
    for level, removed in removals.items():
        keep = np.ones(n_items, dtype=bool)
        keep[list(removed)] = False
        if keep.sum() < 2:
            raise ValueError(f"removal level {level!r} leaves fewer than 2 items")
        if rezscore:
            out[level] = zcosine_matrix(x[:, keep], y[:, keep])
        else:
            out[level] = cosine_matrix(full_x[:, keep], full_y[:, keep])
    return out
