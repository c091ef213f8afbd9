"""Country profiles: the item means and SDs that calibrate synthetic humans and simulated LLMs.

Two sources, each labelled in what it returns (``source``):

- ``published``: per-item means and SDs of WVS-7 Q177–Q195 for the countries of
  ``reference/wvs7_q177_q195_chn_usa_means.csv`` (computed from respondent-level WVS-7 answers, see
  ``reference/README.md``); for MFQ-2 the per-foundation profiles of
  ``reference/mfq2_foundation_profiles.csv``, which are this project's **assumption** (``assumed``),
  not published aggregates.
- ``synthetic``: every other country. No aggregates of it ship with the package, so its profile is
  made up, deterministically from its code, and labelled SYNTHETIC: a position α on the axis between
  the two reference countries (α uniform in [0.2, 0.8]), mean = α·mean₁ + (1 − α)·mean₂ plus a
  country-and-item deviation drawn from N(0, (0.25·SD)²), SD the same mixture of the reference SDs;
  means are kept 0.3 inside the scale and SDs below 0.85 of the largest SD a distribution on the
  scale can have at that mean. It exists so that tests and demos can run k countries; it
  says nothing about the real country.

>>> float(wvs7_profile("CN").loc["Q182", "mean"]), wvs7_profile("CN").loc["Q182", "source"]
(2.318, 'published')
>>> wvs7_profile("TW")["source"].iloc[0], wvs7_profile("TW").equals(wvs7_profile("TW"))
('synthetic', True)
>>> reference_countries("wvs7")
('CN', 'US')
"""

from __future__ import annotations

import functools
import hashlib
from importlib import resources

import numpy as np
import pandas as pd

from valuesurvey.countries import get_country, lookup

__all__ = ["SYNTHETIC_ALPHA_RANGE", "mfq2_profile", "profile", "reference_countries", "wvs7_profile"]

#: Where a synthetic country sits between the two reference countries.
SYNTHETIC_ALPHA_RANGE = (0.2, 0.8)
_FILES = {"wvs7": "wvs7_q177_q195_chn_usa_means.csv", "mfq2": "mfq2_foundation_profiles.csv"}
_SCALES = {"wvs7": (1.0, 10.0), "mfq2": (1.0, 5.0)}
_KEY = {"wvs7": "item", "mfq2": "foundation"}
_SOURCE = {"wvs7": "published", "mfq2": "assumed"}


@functools.cache
def _reference(instrument: str) -> dict[str, pd.DataFrame]:
    """Country (alpha-2) → its rows (index item or foundation; mean, sd) from the reference file."""
    with resources.files("valuesurvey.humans").joinpath("reference", _FILES[instrument]).open("rb") as f:
        table = pd.read_csv(f).set_index(_KEY[instrument])
    out: dict[str, pd.DataFrame] = {}
    for column in table.columns:
        prefix, _, stat = column.rpartition("_")
        country = lookup(prefix)
        if country is None or stat not in ("mean", "sd"):
            continue
        frame = out.setdefault(country.alpha2, pd.DataFrame(index=table.index))
        frame[stat] = table[column].astype(float)
    return out


def reference_countries(instrument: str) -> tuple[str, ...]:
    """The countries whose profile ships with the package, in the file's order."""
    return tuple(_reference(instrument))


def _unit(*parts: object) -> np.random.Generator:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


@functools.cache
def profile(instrument: str, country: str) -> pd.DataFrame:
    """Mean and SD per item (WVS-7) or foundation (MFQ-2) of one country, with ``source``.

    Returns a frame indexed like the reference file with columns ``mean``, ``sd``, ``source``
    (``published``, ``assumed`` or ``synthetic``). Treat it as read-only (it is cached).
    """
    code = get_country(country).alpha2
    reference = _reference(instrument)
    if code in reference:
        return reference[code].assign(source=_SOURCE[instrument])
    first, second = (reference[c] for c in reference_countries(instrument)[:2])
    rng = _unit("valuesurvey-synthetic-profile", instrument, code)
    alpha = rng.uniform(*SYNTHETIC_ALPHA_RANGE)
    sd = alpha * first["sd"] + (1 - alpha) * second["sd"]
    mean = alpha * first["mean"] + (1 - alpha) * second["mean"] + rng.normal(0.0, 0.25, len(sd)) * sd
    low, high = _SCALES[instrument]
    mean = mean.clip(low + 0.3, high - 0.3)
    # An SD a distribution on the scale can have at that mean (at most sqrt((m - lo)(hi - m))).
    sd = np.minimum(sd, 0.85 * np.sqrt((mean - low) * (high - mean)))
    return pd.DataFrame(
        {"mean": mean.round(3), "sd": sd.round(3), "source": "synthetic"},
        index=first.index,
    )


def wvs7_profile(country: str) -> pd.DataFrame:
    """:func:`profile` of WVS-7 Q177–Q195."""
    return profile("wvs7", country)


def mfq2_profile(country: str) -> pd.DataFrame:
    """:func:`profile` of the six MFQ-2 foundations."""
    return profile("mfq2", country)
