"""The SYNTHETIC files: labelled, calibrated to the reference aggregates, reproducible."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from valuesurvey.humans import load_mfq2, load_wvs7
from valuesurvey.humans.synthetic import SYNTHETIC_FILES, maxent_distribution, write_synthetic_files
from valuesurvey.humans.wvs import WVS7_ITEMS

REFERENCE = "valuesurvey/humans/reference/"


@pytest.fixture(scope="module")
def wvs(files):
    return load_wvs7(files["wvs7_sav"])


def test_every_file_says_synthetic(files):
    assert all("SYNTHETIC" in path.name for path in files.values())
    for key in ("wvs7_sav", "mfq2_sav"):
        _, meta = pyreadstat.read_sav(files[key], metadataonly=True)
        assert meta.file_label.startswith("SYNTHETIC")
    _, meta = pyreadstat.read_dta(files["wvs7_dta"], metadataonly=True)
    assert meta.file_label.startswith("SYNTHETIC")
    assert files["mfq2_mapping"].read_text().startswith("# SYNTHETIC")


def test_wvs_layout_labels_and_user_missing(files):
    _, meta = pyreadstat.read_sav(files["wvs7_sav"], metadataonly=True, user_missing=True)
    for column in ("B_COUNTRY", "B_COUNTRY_ALPHA", "D_INTERVIEW", "W_WEIGHT", "S018", *WVS7_ITEMS):
        assert column in meta.column_names
    assert meta.variable_value_labels["Q182"][1.0] == "Never justifiable"
    assert meta.variable_value_labels["Q182"][-1.0] == "Don't know"
    assert meta.variable_value_labels["B_COUNTRY"] == {156.0: "China", 840.0: "United States"}
    assert meta.missing_ranges["Q195"] == [{"lo": -5.0, "hi": -1.0}]
    assert meta.column_names_to_labels["Q182"] == "Justifiable: Homosexuality"


def test_wvs_calibrated_to_reference_aggregates(wvs):
    reference = pd.read_csv(REFERENCE + "wvs7_q177_q195_chn_usa_means.csv").set_index("item")
    wide = wvs.wide().dropna()
    nationality = wvs.respondents.set_index("participant").loc[wide.index, "nationality"]
    for code, prefix, n in (("CN", "chn", 2931), ("US", "usa", 2443)):
        rows = wide[nationality == code]
        assert len(rows) == n  # complete cases, as in the reference
        assert (rows.mean() - reference[f"{prefix}_mean"]).abs().max() < 0.15
        assert (rows.std() - reference[f"{prefix}_sd"]).abs().max() < 0.15
        # realistic within-person correlation: every pair positive, a clear common factor
        correlations = rows.corr().to_numpy()[np.triu_indices(19, 1)]
        assert correlations.mean() > 0.2


def test_wvs_has_straight_liners_and_missing_codes(wvs):
    for counts in wvs.report.countries.values():
        assert counts.zero_variance_complete >= 10
        assert counts.rows_all_missing >= 1
    assert set(wvs.report.missing_codes_mapped) == {"-1", "-2", "-4", "-5"}


def test_mfq_calibrated_to_foundation_profile(files):
    profiles = pd.read_csv(REFERENCE + "mfq2_foundation_profiles.csv").set_index("foundation")
    data = load_mfq2(files["mfq2_csv"])
    frame = data.table.assign(
        foundation=data.table["item"].map(lambda i: profiles.index[(int(i[-2:]) - 1) % 6])
    )
    means = frame.groupby(["nationality", "foundation"])["rating"].mean()
    for code, prefix in (("CN", "cn"), ("US", "us")):
        gap = (means.loc[code] - profiles[f"{prefix}_mean"]).abs()
        assert gap.max() < 0.15, gap


def test_generator_reproduces_the_shipped_files(tmp_path, files):
    written = write_synthetic_files(tmp_path)
    assert {k: p.name for k, p in written.items()} == SYNTHETIC_FILES
    for key in ("mfq2_csv", "mfq2_mapping"):
        assert written[key].read_bytes() == files[key].read_bytes()
    for key, reader in (
        ("wvs7_sav", pyreadstat.read_sav),
        ("wvs7_dta", pyreadstat.read_dta),
        ("mfq2_sav", pyreadstat.read_sav),
    ):
        new, new_meta = reader(written[key])
        old, old_meta = reader(files[key])
        pd.testing.assert_frame_equal(new, old)
        assert new_meta.variable_value_labels == old_meta.variable_value_labels
        assert new_meta.column_names_to_labels == old_meta.column_names_to_labels
        assert new_meta.missing_ranges == old_meta.missing_ranges
        assert new_meta.file_label == old_meta.file_label
    assert (
        write_synthetic_files(tmp_path / "other", seed=1)["mfq2_csv"].read_bytes()
        != files["mfq2_csv"].read_bytes()
    )


@pytest.mark.parametrize(
    ("mean", "sd", "low", "high"), [(1.286, 1.075, 1, 10), (5.5, 3.573, 1, 10), (4.1, 0.85, 1, 5)]
)
def test_maxent_distribution_hits_the_moments(mean, sd, low, high):
    p = maxent_distribution(mean, sd, low, high)
    x = np.arange(low, high + 1)
    assert p.sum() == pytest.approx(1)
    assert p @ x == pytest.approx(mean, abs=1e-6)
    assert np.sqrt(p @ (x - mean) ** 2) == pytest.approx(sd, abs=1e-6)
    with pytest.raises(ValueError, match="no distribution"):
        maxent_distribution(1.2, 3.0, 1, 5)


def test_k_country_files_load_with_every_country_labelled_synthetic(tmp_path):
    from valuesurvey.humans import load_mfq2, load_wvs7
    from valuesurvey.humans.profiles import wvs7_profile
    from valuesurvey.humans.synthetic import write_country_files

    paths = write_country_files(tmp_path, ["CN", "US", "TW", "SG"], n=300)
    wvs = load_wvs7(paths["wvs7"], "all")
    mfq = load_mfq2(paths["mfq2"], countries=["CN", "US", "TW", "SG"])
    for data in (wvs, mfq):
        assert data.report.synthetic_in_file
        people = data.table.drop_duplicates("participant")["nationality"].value_counts()
        assert set(people.index) == {"CN", "US", "TW", "SG"} and people.min() > 250
    # Each country follows its profile (TW: a made-up one): the item means are near it.
    means = wvs.table.groupby(["nationality", "item"])["rating"].mean()
    for code in ("TW", "US"):
        target = wvs7_profile(code)["mean"]
        assert (means[code].reindex(target.index) - target).abs().max() < 0.6
    # A country's rows do not depend on the other countries written; the defaults stay the paper's.
    alone = write_country_files(tmp_path / "alone", ["TW"], n=300)
    tw = pd.read_csv(paths["wvs7"]).query("B_COUNTRY_ALPHA == 'TWN'").reset_index(drop=True)
    pd.testing.assert_frame_equal(tw, pd.read_csv(alone["wvs7"]))
