"""The load report says what the file says about itself: layout, release, synthetic or not, and
warns when study.yaml's ``synthetic:`` flag disagrees with the file."""

from __future__ import annotations

import shutil

import pyreadstat
import pytest

from valuesurvey.humans import load_mfq2, load_wvs7


def test_shipped_wvs_file_says_synthetic_and_its_version(files, tmp_path):
    report = load_wvs7(files["wvs7_sav"]).report
    assert report.layout == "WVS-7 cross-national release"
    assert report.release == "version SYNTHETIC 1.0"
    assert report.synthetic_in_file and report.synthetic
    assert report.synthetic_evidence.startswith("file label 'SYNTHETIC WVS-7 layout")
    assert report.synthetic_flag is False
    assert any("study.yaml does not say synthetic: true" in w for w in report.warnings)
    assert (
        "WARNING:" in report.format_text() and "layout: WVS-7 cross-national release" in report.format_text()
    )
    # a renamed copy still says so: the label is inside the file, not in its name
    renamed = tmp_path / "renamed.dta"
    shutil.copy2(files["wvs7_dta"], renamed)
    assert load_wvs7(renamed, synthetic=True).report.synthetic_in_file
    assert load_wvs7(renamed, synthetic=True).report.warnings == ()


def test_real_looking_release_with_a_copied_synthetic_flag(tmp_path, small_wvs):
    frame = small_wvs.assign(version="5-0-0 (2022-12-23)", doi="doi.org/10.14281/18241.20")
    path = tmp_path / "WVS_Cross-National_Wave_7_spss_v5_0.sav"
    pyreadstat.write_sav(frame, path, file_label="WVS Wave 7 cross-national")
    report = load_wvs7(path, synthetic=True).report
    assert report.release == "version 5-0-0 (2022-12-23); doi doi.org/10.14281/18241.20"
    assert not report.synthetic_in_file and report.synthetic_evidence is None
    assert report.synthetic  # the report still labels it, as study.yaml asks
    (warning,) = report.warnings
    assert "carries no synthetic label" in warning and "artifact treats it as microdata" in warning
    assert load_wvs7(path).report.warnings == () and not load_wvs7(path).report.synthetic


@pytest.mark.parametrize("key", ["mfq2_csv", "mfq2_sav"])
def test_mfq_files_carry_their_label(files, key, tmp_path):
    source = tmp_path / f"data.{files[key].suffix.lstrip('.')}"  # no SYNTHETIC in the name
    shutil.copy2(files[key], source)
    mapping = files["mfq2_mapping"] if key == "mfq2_sav" else None
    report = load_mfq2(source, mapping=mapping, synthetic=True).report
    assert report.synthetic_in_file and report.warnings == ()
    expected = "column data_label" if key == "mfq2_csv" else "file label"
    assert report.synthetic_evidence.startswith(expected)
    assert report.layout == (
        "MFQ-2, OSF Study-2 CSV layout"
        if key == "mfq2_csv"
        else "MFQ-2, column mapping SYNTHETIC_mfq2_MFQ_names.mapping.yaml"
    )


def test_a_name_is_not_a_label(files, tmp_path):
    import pandas as pd

    frame = pd.read_csv(files["mfq2_csv"]).drop(columns=["data_label"])
    path = tmp_path / "SYNTHETIC_looking_name.csv"
    frame.to_csv(path, index=False)
    report = load_mfq2(path).report
    assert not report.synthetic_in_file and not report.synthetic
