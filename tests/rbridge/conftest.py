from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from valuesurvey.rbridge import RSession, get_session


@pytest.fixture(scope="session")
def r_session() -> RSession:
    return get_session()


@pytest.fixture(scope="session")
def crossed_data() -> pd.DataFrame:
    """People x models with crossed random intercepts and sum-coded fixed effects."""
    rng = np.random.default_rng(11)
    people, models, rows = 120, 12, 3000
    participant = rng.integers(0, people, rows)
    model = rng.integers(0, models, rows)
    nationality = np.where(participant < people // 2, "CN", "US")
    origin = np.where(model < models // 2, "CN", "US")
    cosine = (
        0.3
        - 0.3 * np.where(nationality == "CN", 0.5, -0.5)
        + 0.03 * np.where(nationality == origin, 0.5, -0.5)
        + rng.normal(0, 0.08, people)[participant]
        + rng.normal(0, 0.04, models)[model]
        + rng.normal(0, 0.15, rows)
    )
    return pd.DataFrame(
        {
            "cosine": cosine,
            "nationality": nationality,
            "origin": origin,
            "participant": [f"p{i:03d}" for i in participant],
            "model": [f"m{i:02d}" for i in model],
        }
    )
