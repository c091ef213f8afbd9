"""The manuscript's RQ text from real fits: the human-data table equals the analysed n, the exclusion
table counts people once, and no sentence recommends a singular fit or calls smaller SEs cautious."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from valuesurvey import _io
from valuesurvey.analysis import analyze_study
from valuesurvey.report.content import ReportContent
from valuesurvey.study import HumanDataSpec, load_study

pytestmark = pytest.mark.timeout(600)


def _table(markdown: str, first_column: str) -> pd.DataFrame:
    lines = [ln for ln in markdown.splitlines() if ln.startswith("|")]
    start = next(i for i, ln in enumerate(lines) if ln.split("|")[1].strip() == first_column)
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    rows = []
    for line in lines[start + 2 :]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) != len(header):
            break
        rows.append(cells)
    return pd.DataFrame(rows, columns=header)


@pytest.fixture(scope="module")
def analysed(tmp_path_factory, study_factory_module):
    root = tmp_path_factory.mktemp("inference")
    study = study_factory_module(root, instruments_ids=("wvs7",), n_people=9, n_models=3)
    humans = pd.read_parquet(study.paths.humans("wvs7"))
    humans.loc[humans["participant"] == humans["participant"].iloc[0], "rating"] = 4.0  # a straight-liner
    _io.write_parquet(study.paths.humans("wvs7"), humans)
    analyze_study(study)
    return study


@pytest.fixture(scope="module")
def study_factory_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "analysis_conftest", Path(__file__).with_name("conftest.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.make_study


def test_human_table_equals_the_analysed_n(analysed) -> None:
    doc = ReportContent(analysed)
    table = _table(doc._humans_paragraph(), "Instrument")
    assert list(table.columns) == [
        "Instrument",
        "Country",
        "Loaded",
        "Complete",
        "Z-scorable",
        "Analysed",
        "Source",
    ]
    rows = pd.read_csv(analysed.paths.similarity_dir / "wvs7_rq.csv")
    info = pd.read_csv(analysed.paths.estimates("fit_info"))
    for country, nationality in (("China", "CN"), ("USA", "US")):
        row = table[table["Country"] == country].iloc[0]
        for analysis in ("rq1", "rq2", "rq3"):
            fitted = rows[(rows[f"in_{analysis}"] == 1) & (rows["nationality"] == nationality)]
            assert int(row["Analysed"]) == fitted["participant"].nunique()
        assert int(row["Loaded"]) == 9 and int(row["Complete"]) == 9
    assert table["Z-scorable"].astype(int).sum() == 17
    lmer = info[(info["model"] == "lmer") & (info["analysis"] == "rq1_wvs7")].iloc[0]
    assert table["Analysed"].astype(int).sum() == lmer["n_participant"]


def test_exclusion_table_counts_people_once(analysed) -> None:
    doc = ReportContent(analysed)
    table = _table(doc._exclusions_paragraph(), "Instrument")
    people = table[table["Excluded"] == "participants"]
    assert set(people["Analysis"]) == {"RQ1", "RQ2", "RQ3"}
    assert (people["n"] == "1").all() and (people["Reason"].str.startswith("zero variance")).all()


def test_sections_show_the_record_and_the_two_stage_check(analysed) -> None:
    doc = ReportContent(analysed)
    for rq in (1, 2, 3):
        text = doc.rq_section(rq)
        assert f"tbl-simplification-rq{rq}-wvs7" in text
        assert "Recommended mixed model:" in text and "Design-based check (two-stage" in text
        assert "2-stage β" in text
    assert "tbl-simple-rq1-wvs7" in doc.rq_section(1)
    assert "cautious" not in " ".join(doc.rq_section(rq) for rq in (1, 2, 3))
    assert "not cautious" in doc.inference_limitations()


def test_a_singular_fit_is_never_recommended(analysed, tmp_path: Path) -> None:
    info = pd.read_csv(analysed.paths.estimates("fit_info"))
    lmer = (info["analysis"] == "rq1_wvs7") & (info["model"] == "lmer")
    info.loc[lmer, "singular"] = True
    original = analysed.paths.estimates("fit_info").read_bytes()
    try:
        _io.write_csv(analysed.paths.estimates("fit_info"), info)
        text = ReportContent(analysed).rq_section(1)
    finally:
        analysed.paths.estimates("fit_info").write_bytes(original)
    assert "shown but not recommended" in text and "Recommended mixed model:" not in text
    key = re.search(r"Key effects: (.*)", text).group(1)
    assert "lmer β" not in key  # the singular fit is in the table, never quoted as a result


def test_intercept_only_smaller_ses_are_called_smaller(
    analysed, tmp_path: Path, study_factory_module
) -> None:
    study = study_factory_module(tmp_path, instruments_ids=("wvs7",), n_people=9, n_models=3)
    data = yaml.safe_load(study.paths.study_yaml.read_text())
    data["analysis"] = {"random_effects": "intercepts", "fits": ["lm", "lmer"]}
    study.paths.study_yaml.write_text(yaml.safe_dump(data))
    study = load_study(study.paths.study_yaml)
    analyze_study(study)
    est = pd.read_csv(study.paths.estimates("rq1_wvs7"))
    se = est.pivot(index="term", columns="model", values="std_error")
    smaller = se["lmer"] < se["lm"]
    assert smaller["nationalityCN:originCN"]  # within-model contrast: intercept-only SEs shrink
    text = ReportContent(study).rq_section(1)
    assert "smaller than lm's for nationality × LLM origin" in text
    assert "cautious" not in text


@pytest.mark.parametrize(
    ("in_file", "flagged", "source"),
    [
        (True, False, "synthetic (file label)"),
        (True, True, "synthetic (file label)"),
        (False, True, "synthetic (study.yaml; the file has no label)"),
        (False, False, "microdata"),
        (None, True, "synthetic (study.yaml)"),
        (None, False, "microdata (not checked in the file)"),
    ],
)
def test_human_table_source_follows_the_files_label(analysed, in_file, flagged, source) -> None:
    report_path = analysed.paths.humans_dir / "wvs7_load_report.json"
    original = analysed.humans.get("wvs7")
    try:
        analysed.humans["wvs7"] = HumanDataSpec(path=Path("wvs7.sav"), synthetic=flagged)
        if in_file is not None:
            report_path.write_text(
                json.dumps({"file": "wvs7.sav", "synthetic_in_file": in_file, "synthetic_flag": flagged})
            )
        table = _table(ReportContent(analysed)._humans_paragraph(), "Instrument")
    finally:
        if original is None:
            del analysed.humans["wvs7"]
        else:
            analysed.humans["wvs7"] = original
        report_path.unlink(missing_ok=True)
    assert set(table["Source"]) == {source}
