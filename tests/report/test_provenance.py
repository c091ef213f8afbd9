"""The report's statements about data come from the stage outputs: the humans stage's load report
(file, layout, release, synthetic by file and by study.yaml, the warning when they disagree) and the
instruments as elicited (the items actually used, user files and their hashes)."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import yaml

from valuesurvey import instruments
from valuesurvey._io import sha256_file
from valuesurvey.figures._data import DEFAULT_SYNTHETIC_NOTE, synthetic_label
from valuesurvey.humans import prepare_study_humans
from valuesurvey.humans.synthetic import shipped_files
from valuesurvey.report.content import ReportContent
from valuesurvey.study import load_study

SUBSET = ["Q177", "Q178", "Q179", "Q180", "Q182", "Q184", "Q190", "Q191"]


def _study(tmp_path: Path) -> Path:
    root = tmp_path / "study"
    (root / "data").mkdir(parents=True)
    # the shipped synthetic file, renamed, and study.yaml does NOT flag it synthetic
    shutil.copy2(shipped_files()["wvs7_sav"], root / "data" / "wvs_file.sav")
    record = instruments.instrument_record(instruments.get("wvs7"))
    record["items"] = [item for item in record["items"] if item["id"] in SUBSET]
    (root / "data" / "wvs7_subset.json").write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    with (root / "data" / "wvs7_zh.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item", "text"])
        writer.writerows([item, f"官方译文 {item}"] for item in SUBSET)
    study = {
        "name": "provenance",
        "instruments": ["wvs7"],
        "instrument_options": {"wvs7": {"file": "data/wvs7_subset.json"}},
        "translations": {"wvs7": "data/wvs7_zh.csv"},
        "models": [
            {
                "id": "m1",
                "provider": "openai_compatible",
                "origin": "CN",
                "company": "lab",
                "api_model": "m1",
                "base_url": "http://127.0.0.1:9/v1",
            }
        ],
        "humans": {"wvs7": {"path": "data/wvs_file.sav"}},
    }
    (root / "study.yaml").write_text(yaml.safe_dump(study), encoding="utf-8")
    return root


def test_provenance_comes_from_the_load_report(tmp_path: Path) -> None:
    root = _study(tmp_path)
    study = load_study(root)
    assert synthetic_label(study) is None  # nothing says synthetic before the file is read
    prepare_study_humans(study)
    content = ReportContent(study)
    (row,) = content.provenance_rows().to_dict("records")
    assert row["File"] == "wvs_file.sav"
    assert row["Layout"] == "WVS-7 cross-national release"
    assert row["Release"] == "version SYNTHETIC 1.0"
    assert row["Synthetic (file)"] == "yes (file label)"
    assert row["Evidence"].startswith("file label 'SYNTHETIC WVS-7 layout")
    assert row["Synthetic (study.yaml)"] == "no"
    assert row["Weighting"] == "none (the models are unweighted; W_WEIGHT not applied)"
    assert row["sha256 (16)"] == sha256_file(root / "data" / "wvs_file.sav")[:16]
    (warning,) = content.provenance_warnings()
    assert "does not say synthetic: true" in warning
    section = content.provenance_section()
    assert "{#tbl-provenance}" in section
    assert "**Warning:** WVS-7: wvs_file.sav: the file is labelled" in section
    assert "| File | wvs_\u200bfile.sav |" in section  # one column per file; long names may wrap
    assert "WVS-7: the file says it is synthetic, file label 'SYNTHETIC WVS-7 layout" in section
    # the file's own label puts the synthetic banner on the report although study.yaml is silent
    assert synthetic_label(study) == DEFAULT_SYNTHETIC_NOTE
    assert content.synthetic_banner().startswith("::: {.synthetic-note}")


def test_instruments_as_elicited(tmp_path: Path) -> None:
    root = _study(tmp_path)
    content = ReportContent(load_study(root))
    assert content.item_set("wvs7") == "8 items: Q177–Q180, Q182, Q184, Q190–Q191"
    assert content.instrument_list() == "WVS-7 (8 items: Q177–Q180, Q182, Q184, Q190–Q191)"
    table = content.instruments_table()
    elicited = instruments.for_study(load_study(root))["wvs7"]
    assert elicited.content_hash != instruments.get("wvs7").content_hash
    assert elicited.content_hash.removeprefix("sha256:")[:16] in table
    assert instruments.get("wvs7").content_hash.removeprefix("sha256:")[:16] not in table
    assert (
        f"user file wvs7_subset.json (sha256 {sha256_file(root / 'data' / 'wvs7_subset.json')[:16]})" in table
    )
    assert f"zh texts from wvs7_zh.csv (sha256 {sha256_file(root / 'data' / 'wvs7_zh.csv')[:16]})" in table
    assert "Q177–Q195" not in table
