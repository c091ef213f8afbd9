"""Fixtures: the shipped SYNTHETIC files and small real files written with pyreadstat."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

from valuesurvey.humans.synthetic import shipped_files


@pytest.fixture(scope="session")
def files() -> dict[str, Path]:
    return shipped_files()


@pytest.fixture(scope="session")
def wvs_frame(files: dict[str, Path]) -> pd.DataFrame:
    frame, _ = pyreadstat.read_sav(files["wvs7_sav"], user_missing=True)
    return frame


@pytest.fixture()
def small_wvs(wvs_frame: pd.DataFrame) -> pd.DataFrame:
    """60 respondents per country of the shipped file, all columns (user-missing codes as numbers)."""
    chn = wvs_frame[wvs_frame["B_COUNTRY_ALPHA"] == "CHN"].head(60)
    usa = wvs_frame[wvs_frame["B_COUNTRY_ALPHA"] == "USA"].head(60)
    return pd.concat([chn, usa], ignore_index=True)
