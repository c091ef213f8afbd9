"""A small multi-country study directory: humans tables and LLM ratings written as the stages would.

Countries lie on a line between the USA's and China's item means (``position`` 0 = the USA's
profile, 1 = China's), so their cultural distance from the USA grows with the position, and LLMs
made in the USA (close to the USA's profile) are planted to resemble far countries less.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from valuesurvey import _io, instruments
from valuesurvey.simulation.ratings import SimulatedLLM, simulate_humans, simulate_llm_ratings
from valuesurvey.study import Study, load_study

#: Country → position between the USA's (0) and China's (1) item means.
POSITIONS = {"US": 0.0, "CA": 0.15, "DE": 0.35, "BR": 0.5, "JP": 0.7, "CN": 1.0}


def _profiles(items: Sequence[str], scale: tuple[int, int], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    lo, hi = scale
    mid, spread = (lo + hi) / 2, (hi - lo) / 3
    us = np.clip(mid + spread * rng.normal(size=len(items)), lo + 0.5, hi - 0.5)
    cn = np.clip(mid + spread * rng.normal(size=len(items)), lo + 0.5, hi - 0.5)
    return {"US": us, "CN": cn}


def make_country_study(
    root: Path,
    *,
    positions: Mapping[str, float] = POSITIONS,
    n_per_country: int = 60,
    small: Mapping[str, int] | None = None,
    not_asked: Mapping[str, Sequence[str]] | None = None,
    n_models: int = 2,
    repetitions: int = 4,
    instrument_id: str = "wvs7",
    weights: bool = False,
    analysis: Mapping[str, object] | None = None,
    seed: int = 3,
) -> Study:
    """Write study.yaml, humans/<instrument>.parquet and llm_ratings.parquet under ``root``.

    ``small``: extra countries with only this many respondents (at position 0.5); ``not_asked``:
    items whose answers are all missing in a country (the WVS code -4 after loading).
    """
    inst = instruments.get(instrument_id)
    items = [item.id for item in inst.items]
    scale = (int(inst.scale.min), int(inst.scale.max))
    base = _profiles(items, scale, seed)
    everyone = {**positions, **dict.fromkeys(small or {}, 0.5)}
    profiles = {c: base["US"] + t * (base["CN"] - base["US"]) for c, t in everyone.items()}
    frames = []
    for k, (country, profile) in enumerate(profiles.items()):
        n = (small or {}).get(country, n_per_country)
        frames.append(
            simulate_humans({country: profile}, items, n_per_nationality=n, scale=scale, seed=seed + k)
        )
    humans = pd.concat(frames, ignore_index=True)
    rng = np.random.default_rng(seed)
    humans["weight"] = np.repeat(rng.lognormal(0.0, 0.4, len(humans) // len(items)), len(items))
    for country, gone in (not_asked or {}).items():
        humans.loc[(humans["nationality"] == country) & humans["item"].isin(gone), "rating"] = np.nan
    _io.write_parquet(root / "humans" / f"{instrument_id}.parquet", humans)
    models = [
        SimulatedLLM(f"sim-{origin.lower()}-{i:02d}", origin, 0.85 if origin == "CN" else 0.05, noise_sd=0.5)
        for origin in ("CN", "US")
        for i in range(n_models)
    ]
    ratings = simulate_llm_ratings(
        base, items, models, instrument=instrument_id, repetitions=repetitions, scale=scale, seed=seed
    )
    _io.write_parquet(root / "llm_ratings.parquet", ratings)
    spec = {
        "name": "sim-countries",
        "instruments": [instrument_id],
        "repetitions": repetitions,
        "models": [
            {"id": m.id, "provider": "simulated", "origin": m.origin, "company": m.company} for m in models
        ],
        "analysis": {
            "fits": ["lm"],
            "countries": "all",
            "country_level": {"min_n": 30, "weights": weights, "bootstrap": 200},
            **(analysis or {}),
        },
        "synthetic_note": "SIMULATED data",
    }
    (root / "study.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return load_study(root / "study.yaml")


@pytest.fixture(scope="session")
def country_study_factory():
    """``make_country_study`` itself (test modules cannot import conftest under --import-mode=importlib)."""
    return make_country_study
