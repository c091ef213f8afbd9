"""Shared fixtures of the ranking tests: the instrument's 25 values and simulated rankings."""

from __future__ import annotations

import pytest

from valuesurvey.ranking import instrument_values
from valuesurvey.simulation.rankings import simulate_rankings


@pytest.fixture(scope="session")
def values() -> dict[str, str]:
    return instrument_values()


@pytest.fixture(scope="session")
def planted(values):
    """20 models (11 CN, 9 US) in 4 planted clusters dealt independently of origin; 5% invalid."""
    return simulate_rankings(
        values=values,
        repetitions=10,
        languages=("en", "zh"),
        cluster_strength=1.5,
        invalid_rate=0.05,
        seed=12,
    )


@pytest.fixture(scope="session")
def shifted(values):
    """20 models with weak clusters and CN models ranking Social values higher (planted shift)."""
    return simulate_rankings(
        values=values,
        repetitions=10,
        languages=("en", "zh"),
        cluster_strength=0.5,
        origin_shift={"Social": 3.0},
        seed=11,
    )
