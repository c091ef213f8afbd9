"""The full-size 64-country SYNTHETIC WVS-7 file: written as .sav, read back by the loader with
``countries: all``; labelled synthetic; countries differ; items coded -4 in some countries."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from valuesurvey.humans import load_wvs7
from valuesurvey.humans.synthetic import (
    RELEASE_COUNTRIES,
    RELEASE_NOT_ASKED,
    release_size_frame,
    write_release_size_sav,
)
from valuesurvey.humans.wvs import WVS7_ITEMS


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_release_size_sav(
        tmp_path_factory.mktemp("release") / "SYNTHETIC_release.sav", n_rows=9_000, n_columns=80
    )


def test_the_loader_reads_every_country_of_the_file(release: Path) -> None:
    data = load_wvs7(release, "all")
    assert len(data.report.countries) == len(RELEASE_COUNTRIES) == 64
    assert data.report.synthetic and data.report.synthetic_in_file
    assert data.report.columns_in_file == 80 and data.report.rows_in_file == 9_000
    sizes = data.respondents["country"].value_counts()
    assert sizes["AND"] == 60 and sizes["MDV"] == 90  # the two deliberately small countries
    assert sizes.sum() == 9_000 and (sizes.drop(["AND", "MDV"]) >= 100).all()
    assert data.report.missing_codes_mapped["-4"] >= sum(
        sizes[c] * len(i) for c, i in RELEASE_NOT_ASKED.items()
    )


def test_items_not_asked_are_missing_for_every_respondent_of_the_country(release: Path) -> None:
    table = load_wvs7(release, "JOR,EGY,USA").table
    jordan = table[table["nationality"] == "JO"]
    assert jordan[jordan["item"].isin(["Q182", "Q183"])]["rating"].isna().all()
    assert jordan[~jordan["item"].isin(["Q182", "Q183"])]["rating"].notna().mean() > 0.95
    assert table[table["nationality"] == "US"]["rating"].notna().mean() > 0.95


def test_countries_have_their_own_profiles_and_china_usa_are_calibrated() -> None:
    frame = release_size_frame(20_000)
    answered = frame[list(WVS7_ITEMS)].where(frame[list(WVS7_ITEMS)] > 0)
    means = answered.groupby(frame["B_COUNTRY_ALPHA"]).mean()
    assert means.round(1).drop_duplicates().shape[0] == 64  # no two countries alike
    from valuesurvey.humans.synthetic import _reference

    reference = _reference("wvs7_q177_q195_chn_usa_means.csv").set_index("item")
    usa = means.loc["USA", list(WVS7_ITEMS)].to_numpy()
    # straight-liners and missing codes move the complete-case means a little
    assert np.abs(usa - reference.loc[list(WVS7_ITEMS), "usa_mean"].to_numpy()).max() < 0.35
    assert (frame["version"] == "SYNTHETIC 1.0").all()


def test_the_same_seed_gives_the_same_respondents() -> None:
    a, b = release_size_frame(7_000), release_size_frame(7_000)
    assert a.equals(b)
