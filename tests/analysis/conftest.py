"""A small simulated study directory: humans tables and LLM ratings written as the stages would."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from valuesurvey import _io, instruments
from valuesurvey.simulation.ratings import SimulatedLLM, simulate_humans, simulate_llm_ratings
from valuesurvey.study import Study, load_study


def _profiles(items: list[str], scale: tuple[int, int], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    lo, hi = scale
    mid, spread = (lo + hi) / 2, (hi - lo) / 4
    cn = mid + spread * rng.normal(size=len(items))
    us = mid + spread * rng.normal(size=len(items))
    return {"CN": np.clip(cn, lo, hi), "US": np.clip(us, lo, hi)}


def make_study(
    root: Path,
    *,
    instruments_ids: tuple[str, ...] = ("mfq2", "wvs7"),
    n_people: int = 12,
    n_models: int = 3,
    repetitions: int = 3,
    refusals: dict[str, frozenset[tuple[str, str, str]]] | None = None,
    seed: int = 7,
) -> Study:
    """Write study.yaml, humans/<instrument>.parquet and llm_ratings.parquet under ``root``."""
    refusals = refusals or {}
    models = [
        SimulatedLLM(
            f"sim-{origin.lower()}-{i:02d}",
            origin,
            0.7 if origin == "CN" else 0.2,
            refuses=refusals.get(f"sim-{origin.lower()}-{i:02d}", frozenset()),
        )
        for origin in ("CN", "US")
        for i in range(n_models)
    ]
    ratings = []
    for k, instrument_id in enumerate(instruments_ids):
        inst = instruments.get(instrument_id)
        items = [item.id for item in inst.items]
        scale = (int(inst.scale.min), int(inst.scale.max))
        profiles = _profiles(items, scale, seed + k)
        humans = simulate_humans(profiles, items, n_per_nationality=n_people, scale=scale, seed=seed + k)
        _io.write_parquet(root / "humans" / f"{instrument_id}.parquet", humans)
        ratings.append(
            simulate_llm_ratings(
                profiles,
                items,
                models,
                instrument=instrument_id,
                repetitions=repetitions,
                scale=scale,
                seed=seed + k,
            )
        )
    import pandas as pd

    _io.write_parquet(root / "llm_ratings.parquet", pd.concat(ratings, ignore_index=True))
    spec = {
        "name": "sim-analysis",
        "instruments": list(instruments_ids),
        "repetitions": repetitions,
        "models": [
            {"id": m.id, "provider": "simulated", "origin": m.origin, "company": m.company} for m in models
        ],
        "synthetic_note": "SIMULATED data",
    }
    (root / "study.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    return load_study(root / "study.yaml")


@pytest.fixture
def small_study(tmp_path: Path) -> Study:
    return make_study(tmp_path)


@pytest.fixture
def study_factory():
    """``make_study`` itself (test modules cannot import conftest under --import-mode=importlib)."""
    return make_study
