"""Cultural distance of each country from a reference country, from the same human data.

``fst``
    The cultural fixation index, the measure "Which humans?" (Atari et al.) uses for distance from
    the USA (CF_ST, Muthukrishna et al. 2020): the share of the answers' variation (treated as
    categories) that lies between the two countries, over the items asked in both; estimated with
    Hudson's F_ST (:func:`~valuesurvey.country_level.cultural_fst`), which sampling noise does not
    inflate, so near countries are not pushed apart by small samples.
``profile``
    The root mean square difference of the two countries' mean within-person z-score profiles over
    the items asked in both (people complete on them and not straight-lining).

Both are resampled: each country's people within the country and the reference's within the
reference, independently (bias-corrected percentile intervals); the reference's distance from
itself is 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from valuesurvey.country_level._compute import (
    CountryEstimate,
    _unit_rows,
    bc_interval,
    bootstrap_counts,
    child_seed,
)
from valuesurvey.country_level._distances import cultural_fst
from valuesurvey.country_level._inputs import CountryRespondents

__all__ = ["CulturalDistance", "fst_distance", "profile_distance"]


@dataclass(frozen=True)
class CulturalDistance:
    estimate: float
    conf_low: float
    conf_high: float
    n_items: int


def fst_distance(country: CountryEstimate, reference: CountryEstimate) -> CulturalDistance:
    """Hudson's F_ST over the items both countries asked (point and bias-corrected interval)."""
    common = country.asked & reference.asked
    if country.country == reference.country:
        return CulturalDistance(0.0, 0.0, 0.0, int(common.sum()))
    point = cultural_fst(
        country.distribution[common],
        reference.distribution[common],
        country.effective_n[common],
        reference.effective_n[common],
    )
    replicates = cultural_fst(
        country.replicate_distribution[:, common].astype(float),
        reference.replicate_distribution[:, common].astype(float),
        country.effective_n[common],
        reference.effective_n[common],
        resampled=True,
    )
    low, high = bc_interval(replicates, np.asarray(point))
    return CulturalDistance(float(point), float(low), float(high), int(common.sum()))


def _mean_zprofile(
    respondents: CountryRespondents,
    items: np.ndarray,
    weighted: bool,
    n_boot: int,
    seed: np.random.SeedSequence,
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted mean z-profile over ``items`` (point, and replicates × items)."""
    x = respondents.ratings[:, items]
    complete = ~np.isnan(x).any(axis=1)
    unit, varies = _unit_rows(np.where(complete[:, None], x, 0.0))
    usable = complete & varies
    z = unit * np.sqrt(items.sum() - 1)  # unit length → z-scores with ddof = 1
    w = (respondents.weights if weighted else np.ones(respondents.n)) * usable
    counts = bootstrap_counts(respondents.n, n_boot, child_seed(seed, 2)).astype(float) * w
    point = (w @ z) / w.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        replicates = (counts @ z) / counts.sum(axis=1, keepdims=True)
    return point, replicates


def profile_distance(
    country: CountryRespondents,
    reference: CountryRespondents,
    common: np.ndarray,
    *,
    weighted: bool,
    n_boot: int,
    country_seed: np.random.SeedSequence,
    reference_seed: np.random.SeedSequence,
) -> CulturalDistance:
    """RMS difference of the mean z-profiles over the ``common`` items (point and interval)."""
    if country.country == reference.country:
        return CulturalDistance(0.0, 0.0, 0.0, int(common.sum()))
    point_c, rep_c = _mean_zprofile(country, common, weighted, n_boot, country_seed)
    point_r, rep_r = _mean_zprofile(reference, common, weighted, n_boot, reference_seed)
    point = float(np.sqrt(((point_c - point_r) ** 2).mean()))
    replicates = np.sqrt(((rep_c - rep_r) ** 2).mean(axis=1))
    low, high = bc_interval(replicates, np.asarray(point))
    return CulturalDistance(point, float(low), float(high), int(common.sum()))
