"""prepare_study_humans and the ``valuesurvey humans`` commands, on real files in a study directory."""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from valuesurvey.cli import app
from valuesurvey.errors import DataError
from valuesurvey.humans import load_mfq2, load_wvs7, prepare_study_humans
from valuesurvey.study import load_study


def _study(tmp_path, files, humans):
    for key in ("wvs7_dta", "mfq2_sav", "mfq2_mapping"):
        shutil.copy(files[key], tmp_path / files[key].name)
    spec = {
        "name": "t",
        "instruments": ["mfq2", "wvs7"],
        "models": [{"id": "sim", "provider": "simulated", "origin": "CN"}],
    }
    spec["humans"] = humans
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(spec))
    return load_study(tmp_path)


HUMANS = {
    "wvs7": {"path": "SYNTHETIC_wvs7_chn_usa.dta", "synthetic": True},
    "mfq2": {"path": "SYNTHETIC_mfq2_MFQ_names.sav", "mapping": "SYNTHETIC_mfq2_MFQ_names.mapping.yaml"},
}


def test_prepare_writes_tables_and_reports(tmp_path, files):
    study = _study(tmp_path, files, HUMANS)
    written = prepare_study_humans(study)
    assert written == {"wvs7": study.paths.humans("wvs7"), "mfq2": study.paths.humans("mfq2")}
    wvs = pd.read_parquet(written["wvs7"])
    pd.testing.assert_frame_equal(wvs, load_wvs7(files["wvs7_dta"]).table)
    mfq = pd.read_parquet(written["mfq2"])
    pd.testing.assert_frame_equal(mfq, load_mfq2(files["mfq2_sav"], mapping=files["mfq2_mapping"]).table)
    report = json.loads((study.paths.humans_dir / "wvs7_load_report.json").read_text())
    assert report["countries"]["CHN"]["complete"] == 2931
    assert report["synthetic"] is True
    manifest = json.loads(study.paths.manifest.read_text())
    assert "humans" in manifest["stages"]


def test_a_bad_file_writes_nothing(tmp_path, files):
    study = _study(tmp_path, files, HUMANS)
    bad = tmp_path / "SYNTHETIC_mfq2_MFQ_names.sav"
    bad.write_bytes(bad.read_bytes()[:5000])
    with pytest.raises(DataError, match=r"SYNTHETIC_mfq2_MFQ_names\.sav"):
        prepare_study_humans(study)
    assert not study.paths.humans_dir.exists()


runner = CliRunner()


def test_cli_load_prints_the_report(files):
    result = runner.invoke(
        app, ["humans", "load", str(files["wvs7_sav"]), "--instrument", "wvs7", "--countries", "CHN"]
    )
    assert result.exit_code == 0, result.output
    assert "CHN" in result.output and "USA" not in result.output.split("country   rows")[1]
    assert "2931" in result.output and "[SYNTHETIC]" in result.output
    result = runner.invoke(
        app,
        [
            "humans",
            "load",
            str(files["mfq2_sav"]),
            "-i",
            "mfq2",
            "--mapping",
            str(files["mfq2_mapping"]),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["missing_codes_mapped"]["-99"] > 0


def test_cli_load_error_is_one_line(tmp_path, files):
    bad = tmp_path / "cut.dta"
    bad.write_bytes(files["wvs7_dta"].read_bytes()[:100_000])
    result = runner.invoke(app, ["humans", "load", str(bad), "--instrument", "wvs7"])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "cut.dta: cannot read dta file" in result.stderr


def test_cli_synthesize_and_prepare(tmp_path, files):
    result = runner.invoke(app, ["humans", "synthesize", "--out", str(tmp_path / "syn")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "syn" / "SYNTHETIC_mfq2_study2_layout.csv").read_bytes() == files[
        "mfq2_csv"
    ].read_bytes()
    _study(tmp_path, files, HUMANS)
    result = runner.invoke(app, ["humans", "prepare", str(tmp_path / "study.yaml")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "humans" / "mfq2.parquet").is_file()
