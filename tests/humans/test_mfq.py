"""load_mfq2: the OSF Study-2 CSV layout and YAML mappings for .sav, .dta and .csv files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from valuesurvey.errors import ConfigError, DataError
from valuesurvey.humans import load_mapping, load_mfq2
from valuesurvey.humans.mfq import MFQ2_DROPPED_COLUMNS, MFQ2_ITEMS, STUDY2_COLUMNS


def test_study2_csv_layout(files):
    raw = pd.read_csv(files["mfq2_csv"])
    assert len([c for c in raw.columns if c in STUDY2_COLUMNS or c in MFQ2_DROPPED_COLUMNS]) == 50
    data = load_mfq2(files["mfq2_csv"])
    assert data.report.items == MFQ2_ITEMS
    assert data.report.countries["CHN"].rows_read == 517
    assert data.report.countries["USA"].rows_read == 515
    wide = data.wide()
    # item mfq2_02 is the Study-2 column equality4; participant = 1-based row number
    assert wide.loc["1", "mfq2_02"] == raw.loc[0, "equality4"]
    np.testing.assert_array_equal(wide.to_numpy(), raw[list(STUDY2_COLUMNS)].to_numpy(dtype=float))
    assert data.respondents["nationality"].tolist() == ["CN"] * 517 + ["US"] * 515


def test_mfq_names_sav_with_mapping_matches_csv(files):
    csv = load_mfq2(files["mfq2_csv"]).wide()
    sav = load_mfq2(files["mfq2_sav"], mapping=files["mfq2_mapping"])
    assert sav.report.id_column == "respondent_id"
    assert sav.respondents["participant"].iloc[0] == "5001"
    wide = sav.wide().to_numpy()
    holes = np.isnan(wide)
    assert holes.sum() == sav.report.missing_codes_mapped["-99"] > 0
    np.testing.assert_array_equal(wide[~holes], csv.to_numpy()[~holes])


def test_mapping_for_a_dta_file_with_other_names(tmp_path, files):
    frame, _ = pyreadstat.read_sav(files["mfq2_sav"], user_missing=True)
    frame = frame.rename(columns={f"MFQ_{i}": f"item{i}" for i in range(1, 37)})
    frame["wt"] = 2.0
    path = tmp_path / "other.dta"
    pyreadstat.write_dta(frame.drop(columns=["respondent_id"]), path)
    mapping = tmp_path / "other.yaml"
    items = "\n".join(f"  item{i}: {item}" for i, item in enumerate(MFQ2_ITEMS, start=1))
    mapping.write_text(
        "country_column: nation\ncountries: {1: China, 2: United States}\nweight_column: wt\n"
        f"missing_codes: [-99]\nitems:\n{items}\n"
    )
    data = load_mfq2(path, mapping=mapping, countries="USA")
    assert set(data.table["nationality"]) == {"US"}
    assert (data.table["weight"] == 2.0).all()
    reference = load_mfq2(files["mfq2_sav"], mapping=files["mfq2_mapping"], countries="USA")
    np.testing.assert_array_equal(data.wide().to_numpy(), reference.wide().to_numpy())


def test_mapping_file_errors(tmp_path, files):
    text = files["mfq2_mapping"].read_text()
    broken = tmp_path / "broken.yaml"
    broken.write_text(text.replace("  MFQ_36: mfq2_36\n", ""))
    with pytest.raises(ConfigError, match=r"broken.yaml: field items: .*items not mapped: mfq2_36"):
        load_mapping(broken)
    broken.write_text(text.replace("2: USA", "2: Atlantis"))
    with pytest.raises(ConfigError, match=r"broken.yaml: field countries: .*unknown country 'Atlantis'"):
        load_mapping(broken)
    broken.write_text(text + "colour: blue\n")
    with pytest.raises(ConfigError, match=r"broken.yaml: field colour"):
        load_mapping(broken)
    broken.write_text(text.replace("MFQ_7:", "MFQ_77:"))
    with pytest.raises(DataError, match=r"MFQ_names.sav: missing required column\(s\) MFQ_77"):
        load_mfq2(files["mfq2_sav"], mapping=broken)


def test_validation_errors(tmp_path, files):
    raw = pd.read_csv(files["mfq2_csv"])
    bad = raw.copy()
    bad.loc[10, "care3"] = 6
    path = tmp_path / "study2.csv"
    bad.to_csv(path, index=False)
    with pytest.raises(DataError, match=r"study2.csv: column 'care3': value 6 outside the scale 1-5"):
        load_mfq2(path)
    raw.drop(columns=["country"]).to_csv(path, index=False)
    with pytest.raises(DataError, match=r"missing required column\(s\) country; not the OSF Study-2 layout"):
        load_mfq2(path)
    # the OSF Study-2 file has no China or USA rows: that is an empty country subset
    other = raw.assign(country=np.where(raw["country"] == "China", "Japan", "Peru"))
    other.to_csv(path, index=False)
    with pytest.raises(
        DataError, match=r"column 'country': no respondents for country CHN \(values found: 'Japan'"
    ):
        load_mfq2(path)
    # the 14 dropped item columns are not needed
    raw.drop(columns=list(MFQ2_DROPPED_COLUMNS)).to_csv(path, index=False)
    assert load_mfq2(path).report.columns_in_file == 63 - 14  # 62 columns and the data_label


def test_study2_columns_come_from_the_instrument():
    from valuesurvey import instruments
    from valuesurvey.humans import study2_mapping

    inst = instruments.get("mfq2")
    assert study2_mapping().items == {item.column: item.id for item in inst.items}
    assert tuple(item.column for item in inst.items) == STUDY2_COLUMNS
