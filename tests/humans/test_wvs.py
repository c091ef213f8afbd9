"""load_wvs7 on real .sav, .dta, .csv and .rds files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from valuesurvey.errors import ConfigError, DataError
from valuesurvey.humans import HUMANS_COLUMNS, WVS7_ITEMS, load_wvs7


def test_sav_and_dta_load_to_the_same_table(files):
    sav = load_wvs7(files["wvs7_sav"])
    dta = load_wvs7(files["wvs7_dta"])
    pd.testing.assert_frame_equal(sav.table, dta.table)
    pd.testing.assert_frame_equal(sav.respondents, dta.respondents)
    assert sav.report.countries == dta.report.countries
    assert list(sav.table.columns) == list(HUMANS_COLUMNS)
    assert sav.table["item"].unique().tolist() == list(WVS7_ITEMS)
    assert set(sav.table["nationality"]) == {"CN", "US"}
    assert sav.table["rating"].dropna().between(1, 10).all()


def test_report_counts_complete_missing_and_zero_variance_rows(files, wvs_frame):
    data = load_wvs7(files["wvs7_sav"])
    items = wvs_frame[list(WVS7_ITEMS)]
    for alpha3, code in (("CHN", "CN"), ("USA", "US")):
        rows = items[wvs_frame["B_COUNTRY_ALPHA"] == alpha3]
        answered = rows.where(rows >= 1)
        counts = data.report.countries[alpha3]
        assert counts.rows_read == len(rows)
        assert counts.complete == int(answered.notna().all(axis=1).sum())
        assert counts.rows_any_missing == len(rows) - counts.complete
        flat = (answered.notna().sum(axis=1) >= 2) & (answered.max(axis=1) == answered.min(axis=1))
        assert counts.zero_variance == int(flat.sum()) > 0
        # straight-liners are kept in the table, never dropped
        assert (data.respondents["nationality"] == code).sum() == len(rows)
    assert data.report.complete == 2931 + 2443
    assert sum(data.report.missing_codes_mapped.values()) == int((items < 0).sum().sum())
    assert data.table["rating"].isna().sum() == int((items < 0).sum().sum())


def test_weights_ids_and_s018_are_kept(files, wvs_frame):
    data = load_wvs7(files["wvs7_sav"], countries="USA")
    usa = wvs_frame[wvs_frame["B_COUNTRY_ALPHA"] == "USA"]
    assert data.report.weight_column == "W_WEIGHT"
    np.testing.assert_allclose(data.respondents["weight"], usa["W_WEIGHT"])
    np.testing.assert_allclose(data.respondents["s018"], usa["S018"])
    assert data.respondents["participant"].tolist() == [str(int(v)) for v in usa["D_INTERVIEW"]]
    first = data.table[data.table["participant"] == data.respondents["participant"].iloc[0]]
    assert first["weight"].nunique() == 1 and len(first) == 19


def test_only_needed_columns_are_read(files, monkeypatch):
    calls = []
    real = pyreadstat.read_sav

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(pyreadstat, "read_sav", spy)
    data = load_wvs7(files["wvs7_sav"])
    data_reads = [c for c in calls if not c.get("metadataonly")]
    assert len(data_reads) == 1
    used = set(data_reads[0]["usecols"])
    assert used == {"B_COUNTRY_ALPHA", "D_INTERVIEW", "W_WEIGHT", "S018", "version", *WVS7_ITEMS}
    assert "Q260" not in data.report.columns_read


def test_spss_user_missing_definitions_become_na(tmp_path, small_wvs):
    frame = small_wvs.copy()
    frame.loc[0, "Q177"] = 99.0  # declared user-missing below, not one of the WVS codes
    frame.loc[1, "Q178"] = -1.0
    path = tmp_path / "user_missing.sav"
    pyreadstat.write_sav(frame, path, missing_ranges={"Q177": [99.0], "Q178": [{"lo": -5.0, "hi": -1.0}]})
    data = load_wvs7(path)
    wide = data.wide()
    assert np.isnan(wide.iloc[0]["Q177"]) and np.isnan(wide.iloc[1]["Q178"])
    assert data.report.missing_codes_mapped["99"] == 1
    assert data.report.user_missing_definitions == {"Q177": ["99"], "Q178": ["-5..-1"]}
    # without the definition, 99 is out of range
    pyreadstat.write_sav(frame, path)
    with pytest.raises(DataError, match=r"column 'Q177': value 99 outside the scale 1-10"):
        load_wvs7(path)


def test_v5_numeric_country_lowercase_names_and_no_weight(tmp_path, small_wvs):
    frame = small_wvs.drop(columns=["B_COUNTRY_ALPHA", "W_WEIGHT"])
    frame.columns = [c.lower() for c in frame.columns]
    path = tmp_path / "v5.dta"
    pyreadstat.write_dta(frame, path)
    data = load_wvs7(path, countries=("CHN", "USA"))
    assert data.report.country_column == "b_country"
    assert data.report.weight_column is None
    assert any("weight 1" in note for note in data.report.notes)
    assert (data.table["weight"] == 1.0).all()
    assert data.report.countries["CHN"].rows_read == 60


def test_csv_semicolon_release_loads_like_sav(tmp_path, small_wvs):
    sav_path = tmp_path / "small.sav"
    pyreadstat.write_sav(
        small_wvs, sav_path, missing_ranges={q: [{"lo": -5.0, "hi": -1.0}] for q in WVS7_ITEMS}
    )
    csv_path = tmp_path / "small.csv"
    small_wvs.to_csv(csv_path, sep=";", index=False)
    pd.testing.assert_frame_equal(load_wvs7(csv_path).table, load_wvs7(sav_path).table)


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="needs Rscript")
def test_rds_through_rscript(tmp_path, small_wvs):
    import subprocess

    csv_path = tmp_path / "small.csv"
    small_wvs.to_csv(csv_path, index=False)
    rds_path = tmp_path / "small.rds"
    subprocess.run(
        ["Rscript", "--vanilla", "-e", f"saveRDS(read.csv('{csv_path}'), '{rds_path}')"],
        check=True,
        capture_output=True,
    )
    pd.testing.assert_frame_equal(load_wvs7(rds_path).table, load_wvs7(csv_path).table)
    (tmp_path / "bad.rds").write_bytes(rds_path.read_bytes()[:200])
    with pytest.raises(DataError, match=r"bad.rds: cannot read rds file"):
        load_wvs7(tmp_path / "bad.rds")


# --- validation errors ----------------------------------------------------------------------------


def _write(tmp_path: Path, frame: pd.DataFrame, name: str = "bad.sav") -> Path:
    path = tmp_path / name
    if name.endswith(".sav"):
        pyreadstat.write_sav(frame, path)
    elif name.endswith(".dta"):
        pyreadstat.write_dta(frame, path)
    else:
        frame.to_csv(path, index=False)
    return path


def test_missing_required_columns(tmp_path, small_wvs):
    path = _write(tmp_path, small_wvs.drop(columns=["Q180", "Q181"]))
    with pytest.raises(DataError, match=r"bad.sav: missing required column\(s\) Q180, Q181"):
        load_wvs7(path)
    path = _write(tmp_path, small_wvs.drop(columns=["B_COUNTRY", "B_COUNTRY_ALPHA"]), "nocountry.dta")
    with pytest.raises(DataError, match=r"nocountry.dta: missing required column B_COUNTRY_ALPHA"):
        load_wvs7(path)


def test_out_of_range_value(tmp_path, small_wvs):
    frame = small_wvs.copy()
    frame.loc[5, "Q190"] = 11.0
    with pytest.raises(
        DataError, match=r"bad.dta: column 'Q190': value 11 outside the scale 1-10 \(1 rows\)"
    ):
        load_wvs7(_write(tmp_path, frame, "bad.dta"))
    frame.loc[5, "Q190"] = 2.5
    with pytest.raises(DataError, match=r"column 'Q190': value 2.5 outside"):
        load_wvs7(_write(tmp_path, frame))


def test_text_value_in_item_column(tmp_path, small_wvs):
    frame = small_wvs.astype({"Q183": object})
    frame.loc[7, "Q183"] = "seven"
    with pytest.raises(DataError, match=r"bad.csv: column 'Q183': text value 'seven' in row 8"):
        load_wvs7(_write(tmp_path, frame, "bad.csv"))


def test_duplicated_respondent_id(tmp_path, small_wvs):
    frame = small_wvs.copy()
    frame.loc[3, "D_INTERVIEW"] = frame.loc[2, "D_INTERVIEW"]
    with pytest.raises(DataError, match=r"column 'D_INTERVIEW': duplicated respondent id '156070003'"):
        load_wvs7(_write(tmp_path, frame))


def test_empty_country_subset(tmp_path, small_wvs):
    path = _write(tmp_path, small_wvs[small_wvs["B_COUNTRY_ALPHA"] == "USA"])
    with pytest.raises(DataError, match=r"column 'B_COUNTRY_ALPHA': no respondents for country CHN"):
        load_wvs7(path)
    assert load_wvs7(path, countries=["USA"]).report.countries["USA"].rows_read == 60
    with pytest.raises(ConfigError, match="unknown country 'ATL'"):
        load_wvs7(path, countries=["ATL"])


def test_bad_weight(tmp_path, small_wvs):
    frame = small_wvs.copy()
    frame.loc[0, "W_WEIGHT"] = 0.0
    with pytest.raises(DataError, match=r"column 'W_WEIGHT': weight must be a positive number"):
        load_wvs7(_write(tmp_path, frame))


@pytest.mark.parametrize("key", ["wvs7_sav", "wvs7_dta"])
@pytest.mark.parametrize("fraction", [0.002, 0.5, 0.999])
def test_truncated_files(tmp_path, files, key, fraction):
    source = files[key]
    data = source.read_bytes()
    path = tmp_path / f"truncated{source.suffix}"
    path.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(DataError, match=rf"truncated{source.suffix}: .*(truncated or corrupt)") as caught:
        load_wvs7(path)
    assert "\n" not in str(caught.value)


def test_corrupt_and_empty_files(tmp_path):
    noise = tmp_path / "noise.sav"
    noise.write_bytes(np.random.default_rng(0).bytes(5000))
    with pytest.raises(DataError, match=r"noise.sav: cannot read sav file"):
        load_wvs7(noise)
    empty = tmp_path / "empty.dta"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty.dta: empty file"):
        load_wvs7(empty)
    binary_csv = tmp_path / "binary.csv"
    binary_csv.write_bytes(b"\xff\xfe\x00\x81" * 100)
    with pytest.raises(DataError, match=r"binary.csv: "):
        load_wvs7(binary_csv)
    with pytest.raises(DataError, match=r"cannot tell the format"):
        load_wvs7(tmp_path / "file.xlsx")


def test_truncated_csv_row(tmp_path, small_wvs):
    path = tmp_path / "cut.csv"
    small_wvs.to_csv(path, index=False)
    text = path.read_text()
    path.write_text(text[: len(text) - 40])
    with pytest.raises(DataError, match=r"cut.csv: cannot read csv file \(truncated or corrupt\?\)"):
        load_wvs7(path)
