"""A small simulated study (MFQ-2: 2 x 14 people, 3 + 3 simulated LLMs, 2 languages x 3 personas x 3
repetitions) that declares analyses in study.yaml; ``analyzed_study`` has run ``valuesurvey analyze``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from valuesurvey import _io, instruments
from valuesurvey.simulation.ratings import SimulatedLLM, simulate_humans, simulate_llm_ratings
from valuesurvey.study import Study, load_study

#: The three analyses of the issue's "Must show" (docs/study-yaml.md has the same worked example).
ANALYSES: list[dict[str, Any]] = [
    {
        "name": "similarity_slopes",
        "data": "similarity",
        "where": "removed == 'none' and persona == 'none'",
        "formula": "cosine ~ nationality * origin + language + (1 + origin | participant) + (1 + nationality | model)",
        "coding": {
            "nationality": {"half_sum": "CN"},
            "origin": {"half_sum": "CN"},
            "language": {"half_sum": "zh"},
        },
    },
    {
        "name": "mfq_ordinal",
        "data": "ratings",
        "where": {"instrument": "mfq2", "persona": "none"},
        "formula": "rating ~ origin * language + (1 | model) + (1 | item)",
        "family": "ordinal",
        "coding": {"origin": {"half_sum": "CN"}, "language": {"half_sum": "zh"}},
        "emmeans": [{"specs": "~ origin | language", "contrasts": "pairwise"}],
    },
    {
        "name": "persona_contrast",
        "data": "similarity",
        "where": "removed == 'none' and language in ['en', 'zh']",
        "formula": "cosine ~ nationality * persona + (1 | participant) + (1 | model)",
        "coding": {"nationality": {"half_sum": "CN"}, "persona": {"treatment": "none"}},
        "emmeans": [
            {"specs": "~ persona | nationality", "contrasts": "trt.vs.ctrl", "ref": "none", "adjust": "holm"},
            {
                "specs": "~ persona",
                "contrasts": {"cn_minus_us": [1, -1, 0], "persona_vs_none": [0.5, 0.5, -1]},
                "adjust": "holm",
            },
        ],
    },
]


def _profiles(items: list[str], seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {nat: np.clip(3 + 0.9 * rng.normal(size=len(items)), 1, 5) for nat in ("CN", "US")}


def write_study(
    root: Path, analyses: list[dict[str, Any]] | None = None, *, n_people: int = 14, seed: int = 3
) -> Study:
    """Write study.yaml, humans/mfq2.parquet and llm_ratings.parquet under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    inst = instruments.get("mfq2")
    items = [item.id for item in inst.items]
    profiles = _profiles(items, seed)
    models = [
        SimulatedLLM(f"sim-{origin.lower()}-{i:02d}", origin, 0.75 if origin == "CN" else 0.25)
        for origin in ("CN", "US")
        for i in range(3)
    ]
    humans = simulate_humans(profiles, items, n_per_nationality=n_people, seed=seed)
    _io.write_parquet(root / "humans" / "mfq2.parquet", humans)
    ratings = simulate_llm_ratings(profiles, items, models, instrument="mfq2", repetitions=3, seed=seed)
    _io.write_parquet(root / "llm_ratings.parquet", pd.DataFrame(ratings))
    spec = {
        "name": "declared",
        "instruments": ["mfq2"],
        "repetitions": 3,
        "models": [
            {"id": m.id, "provider": "simulated", "origin": m.origin, "company": m.company} for m in models
        ],
        "analysis": {"fits": ["lm"]},
        "analyses": ANALYSES if analyses is None else analyses,
        "synthetic_note": "SIMULATED data",
    }
    (root / "study.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return load_study(root / "study.yaml")


@pytest.fixture
def declared_analyses() -> list[dict[str, Any]]:
    return ANALYSES


@pytest.fixture
def study_writer() -> Callable[..., Study]:
    return write_study


@pytest.fixture(scope="session")
def analyzed_study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    from valuesurvey.analysis import analyze_study

    study = write_study(tmp_path_factory.mktemp("declared") / "study")
    analyze_study(study)
    return study
