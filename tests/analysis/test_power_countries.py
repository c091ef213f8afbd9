"""``valuesurvey power`` for k countries: the k-country sum coding the analysis uses, power per contrast.

``golden/power_two_countries.csv`` is the power table of a small seeded two-country run written by
the two-country code before power learnt k countries (main at e5c6bc9); two countries must give it
exactly. Regenerate only on purpose: ``python tests/analysis/test_power_countries.py``.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from valuesurvey.power import power_analysis
from valuesurvey.simulation.cosines import CosineDesign, CosineTruth

pytestmark = pytest.mark.timeout(600)

GOLDEN = Path(__file__).parent / "golden" / "power_two_countries.csv"
TWO = CosineDesign(people=(30, 25), models=(3, 3), languages=("en", "zh"), repetitions=4)


def _two_country_table() -> pd.DataFrame:
    return power_analysis(CosineTruth(), TWO, simulations=3, seed=5, fits=("lm", "intercepts")).table


def test_two_countries_give_exactly_the_two_country_table():
    fresh = pd.read_csv(io.StringIO(_two_country_table().to_csv(index=False)))
    pd.testing.assert_frame_equal(fresh, pd.read_csv(GOLDEN), check_exact=True)


if __name__ == "__main__":
    _two_country_table().to_csv(GOLDEN, index=False)
