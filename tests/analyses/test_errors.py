"""Bad declared analyses fail with one line naming the study.yaml field and the valid choices: when the
study is loaded (no data needed), before anything is fitted (against the table itself), and in R (R's
own message, with the analysis)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from valuesurvey.analyses import TABLE_COLUMNS, run_declared_analyses
from valuesurvey.errors import ConfigError, DataError, RError
from valuesurvey.study import Study, load_study

RATINGS = {"name": "r", "data": "ratings", "formula": "rating ~ origin + (1 | model)"}


def _study_with(tmp_path: Path, analyses: list[dict[str, Any]]) -> Path:
    spec = {"name": "bad", "models": [{"id": "sim-cn-01"}], "instruments": ["mfq2"], "analyses": analyses}
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    return tmp_path / "study.yaml"


@pytest.mark.parametrize(
    ("analysis", "field", "message"),
    [
        (
            {**RATINGS, "formula": "rating ~ orign + (1 | model)"},
            "analyses.0.formula",
            "column 'orign' is not in the ratings table; columns are: " + ", ".join(TABLE_COLUMNS["ratings"]),
        ),
        (
            {**RATINGS, "where": "persna == 'none'"},
            "analyses.0.where",
            "column 'persna' is not in the ratings table; columns are: instrument, model, origin",
        ),
        (
            {**RATINGS, "where": "persona = 'none'"},
            "analyses.0.where",
            "at character 9: '=' is not an operator",
        ),
        (
            {
                **RATINGS,
                "data": "similarity",
                "formula": "cosine ~ origin + (1 | model)",
                "family": "ordinal",
            },
            "analyses.0.family",
            "family ordinal cannot model data similarity; allowed combinations: gaussian with similarity, "
            "ratings or rankings; ordinal with ratings",
        ),
        (
            {**RATINGS, "formula": "rep ~ origin + (1 | model)", "family": "ordinal"},
            "analyses.0.family",
            "the response must be rating, not rep",
        ),
        (
            {**RATINGS, "formula": "item ~ origin + (1 | model)"},
            "analyses.0.family",
            "family gaussian needs a numeric response; numeric columns of the ratings table are: rep, rating",
        ),
        ({**RATINGS, "family": "poisson"}, "analyses.0.family", "Input should be 'gaussian' or 'ordinal'"),
        ({**RATINGS, "data": "humans"}, "analyses.0.data", "'similarity', 'ratings' or 'rankings'"),
        ({**RATINGS, "link": "probit"}, "analyses.0.link", "link is for family ordinal"),
        (
            {**RATINGS, "coding": {"origin": {"effect": "CN"}}},
            "analyses.0.coding",
            "schemes are half_sum, sum, treatment, not 'effect'",
        ),
        (
            {**RATINGS, "coding": {"language": "sum"}},
            "analyses.0.coding",
            "coding.language: the formula does not use 'language'; it uses rating, origin, model",
        ),
        (
            {**RATINGS, "coding": {"origin": {"half_sum": True}}},
            "analyses.0.coding",
            "YAML read the level as true: quote it",
        ),
        (
            {**RATINGS, "name": "rq1_mine"},
            "analyses.0.name",
            "would clash with the analysis stage's own files",
        ),
        ({**RATINGS, "name": "Mine"}, "analyses.0.name", "lower-case letters, digits and _"),
        (
            {**RATINGS, "emmeans": [{"specs": "~ language"}]},
            "analyses.0",
            "emmeans.0.specs: 'language' is not a predictor of the formula; it uses origin, model",
        ),
        (
            {**RATINGS, "emmeans": [{"specs": "~ origin", "contrasts": "all_pairs"}]},
            "analyses.0.emmeans.0.contrasts",
            "is not a contrast method; choose from pairwise, revpairwise",
        ),
        (
            {**RATINGS, "emmeans": [{"specs": "~ origin", "ref": "CN"}]},
            "analyses.0.emmeans.0.ref",
            "ref names the control level of contrasts: trt.vs.ctrl",
        ),
        (
            {**RATINGS, "emmeans": [{"specs": "~ origin", "adjust": "holms"}]},
            "analyses.0.emmeans.0.adjust",
            "'holms' is not an adjustment; choose from none, tukey, holm",
        ),
        (
            {**RATINGS, "emmeans": [{"specs": "~ origin", "mode": "prob"}]},
            "analyses.0",
            "emmeans.0.mode is for family ordinal",
        ),
        (
            {**RATINGS, "formula": "rating ~ origin", "simplify": True},
            "analyses.0.simplify",
            "needs random effects",
        ),
        ({**RATINGS, "formula": "~ origin"}, "analyses.0.formula", "has no response"),
        ({**RATINGS, "extra": 1}, "analyses.0.extra", "Extra inputs are not permitted"),
    ],
)
def test_load_errors_name_the_field_and_the_choices(
    tmp_path: Path, analysis: dict[str, Any], field: str, message: str
) -> None:
    path = _study_with(tmp_path, [analysis])
    with pytest.raises(ConfigError) as info:
        load_study(path)
    text = str(info.value)
    assert text.startswith(f"{path}: field {field}: "), text
    assert message in text and "\n" not in text


def test_duplicate_names(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"field analyses: .*analysis name 'r' appears twice"):
        load_study(_study_with(tmp_path, [RATINGS, RATINGS]))


@pytest.fixture
def ratings_study(tmp_path: Path, study_writer) -> Study:
    return study_writer(tmp_path, analyses=[])


def _declare(study: Study, analyses: list[dict[str, Any]]) -> Study:
    data = yaml.safe_load(study.paths.study_yaml.read_text(encoding="utf-8"))
    data["analyses"] = analyses
    study.paths.study_yaml.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return load_study(study.paths.study_yaml)


@pytest.mark.parametrize(
    ("analysis", "message"),
    [
        (
            {**RATINGS, "where": "persona == 'None'"},
            "field analyses.0.where: no row of the ratings table (3,888 rows) matches \"persona == 'None'\"; "
            "values present: persona: CN, US, none",
        ),
        (
            {**RATINGS, "coding": {"origin": {"treatment": "China"}}},
            "field analyses.0.coding.origin: level 'China' is not in the rows; levels are: CN, US",
        ),
        (
            {
                **RATINGS,
                "formula": "rating ~ persona + (1 | model)",
                "coding": {"persona": {"half_sum": "CN"}},
            },
            "field analyses.0.coding.persona: half_sum needs exactly 2 levels, the rows have 3: CN, US, none",
        ),
        (
            {**RATINGS, "family": "ordinal"},
            "field analyses.0.where: family ordinal models one rating scale, but the rows come from mfq2, wvs7",
        ),
    ],
)
def test_errors_against_the_table_come_before_any_fit(
    ratings_study: Study, analysis: dict, message: str
) -> None:
    ratings = pd.read_parquet(ratings_study.paths.llm_ratings)
    if analysis.get("family") == "ordinal":  # a second instrument in the same table
        pd.concat([ratings, ratings.assign(instrument="wvs7")]).to_parquet(ratings_study.paths.llm_ratings)
    study = _declare(ratings_study, [analysis, {**RATINGS, "name": "never_fitted"}])
    with pytest.raises(ConfigError) as info:
        run_declared_analyses(study, session=object())  # no R: the checks come first
    assert str(info.value).startswith(f"{study.paths.study_yaml}: {message}"), str(info.value)
    assert not (study.root / "analyses").exists() and not study.paths.estimates("r").exists()


def test_missing_table_names_the_file(ratings_study: Study) -> None:
    study = _declare(ratings_study, [{**RATINGS, "data": "similarity", "formula": "cosine ~ origin"}])
    with pytest.raises(
        DataError, match=r"similarity: no similarity table \(similarity/<instrument>\.parquet\)"
    ):
        run_declared_analyses(study)


def test_r_error_is_one_line_with_the_field_and_the_analysis(ratings_study: Study) -> None:
    study = _declare(
        ratings_study,
        [{**RATINGS, "name": "uses_foo", "formula": "rating ~ foo(origin) + (1 | model)"}],
    )
    with pytest.raises(RError) as info:
        run_declared_analyses(study)
    text = str(info.value)
    assert re.fullmatch(
        rf'R error: {re.escape(str(study.paths.study_yaml))}: field analyses\.0 \(uses_foo\): .*could not find function "foo"',
        text,
    ), text
    assert "\n" not in text
    assert (study.root / "analyses" / "uses_foo_rows.csv").exists()  # what R was given stays for a look
    assert not study.paths.estimates("uses_foo").exists()


def test_cli_analyze_exits_1_with_the_message(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from valuesurvey.cli import app

    path = _study_with(tmp_path, [{**RATINGS, "formula": "rating ~ orign + (1 | model)"}])
    result = CliRunner().invoke(app, ["analyze", str(path)])
    assert result.exit_code == 1
    assert (
        "field analyses.0.formula: Value error, column 'orign' is not in the ratings table" in result.output
    )
