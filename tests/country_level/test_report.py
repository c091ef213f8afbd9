"""The country level in the figures and the manuscript: numbers from the tables, exclusions named,
two countries rendered sensibly, and a real render (pandoc route) with resolved cross-references."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from valuesurvey.country_level import (
    CountryLevelConfig,
    country_level,
    fit_associations,
    read_country_tables,
    write_country_tables,
)
from valuesurvey.figures import available_figures, make_figures
from valuesurvey.figures._data import StudyTables
from valuesurvey.report._countries import CountryContent
from valuesurvey.report.content import ReportContent, fmt_num

pytestmark = pytest.mark.slow
WVS_ITEMS = [f"Q{q}" for q in range(177, 196)]


def _analyse(study) -> None:
    """The country level alone (the stage would also fit RQ1-RQ3, which these tests do not need)."""
    tables = country_level(
        pd.read_parquet(study.paths.humans("wvs7")), pd.read_parquet(study.paths.llm_ratings),
        instrument="wvs7", items=WVS_ITEMS, scale=(1, 10), config=CountryLevelConfig.from_study(study),
    )  # fmt: skip
    write_country_tables(study, fit_associations(tables))


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory, country_study_factory):
    study = country_study_factory(
        tmp_path_factory.mktemp("many"), small={"MV": 10}, not_asked={"JP": ["Q182", "Q183"]}, n_models=3
    )
    _analyse(study)
    return study


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory, country_study_factory):
    study = country_study_factory(
        tmp_path_factory.mktemp("two"), positions={"US": 0.0, "CN": 1.0}, n_models=2
    )
    _analyse(study)
    return study


def test_the_section_writes_the_tables_numbers_and_names_what_was_left_out(many) -> None:
    text = CountryContent(ReportContent(many)).section()
    tables = read_country_tables(many)
    assert "Reported but not estimated, with fewer than 30 usable people: Maldives (MV), n = 10." in text
    assert "Q182 and Q183 in Japan (JP)" in text and "WVS code −4" in text
    assert "6 of 7 countries were estimated (n = 60 usable people each)" in text
    slope = tables.association.query("condition == 'en/none' and model == 'all' and metric == 'slope'").iloc[
        0
    ]
    assert f"slope {fmt_num(slope['estimate'])} per unit of distance" in text
    assert f"95% CI {fmt_num(slope['conf_low'])} to {fmt_num(slope['conf_high'])}" in text
    sim = tables.similarity.query("condition == 'en/none' and removed == 'none'")
    means = sim.groupby("country")["estimate"].mean()
    assert f"(mean cosine {fmt_num(means.max())})" in text
    assert "@tbl-countries-wvs7" in text and "@tbl-countries-steps" in text
    assert "nan" not in text.lower().replace("nance", "")


def test_two_countries_render_sensibly(two) -> None:
    text = CountryContent(ReportContent(two)).section()
    assert "2 of 2 countries were estimated" in text
    assert "is not estimated: a slope needs at least 3 countries" in text
    assert "ranked 1 of 2" in text or "ranked 2 of 2" in text
    assert "@tbl-countries-steps" not in text  # no mixed model, so no reference to its table
    ready = available_figures(StudyTables(two))
    assert ready["fig_countries_ranked"] == ["wvs7"] and ready["fig_countries_distance"] == ["wvs7"]
    written = make_figures(two)
    assert two.paths.figures_dir / "fig_countries_distance.svg" in written
    assert "too few for a slope" in (two.paths.figures_dir / "fig_countries_distance.svg").read_text()


def test_a_study_without_the_country_level_says_so(country_study_factory, tmp_path: Path) -> None:
    study = country_study_factory(
        tmp_path, positions={"US": 0.0, "CN": 1.0}, n_models=1, analysis={"countries": None}
    )
    text = CountryContent(ReportContent(study)).section()
    assert "did not ask for the country-level analysis" in text
    assert "fig_countries_ranked" not in available_figures(StudyTables(study))


def test_figures_mark_the_reference_and_origin(many) -> None:
    make_figures(many)
    svg = (many.paths.figures_dir / "fig_countries_ranked.svg").read_text()
    assert "reference (US), 95% CI" in svg and "the model's origin (CN), 95% CI" in svg
    for model in ("sim-cn-00", "sim-us-02"):
        assert model in svg
    distance = (many.paths.figures_dir / "fig_countries_distance.svg").read_text()
    assert "Cultural distance from US (F_ST)" in distance and "slope" in distance


def test_the_manuscript_renders_the_section_with_resolved_references(many) -> None:
    pytest.importorskip("pypandoc")
    from valuesurvey.report import render_report

    (html,) = render_report(many, formats=("html",), renderer="pandoc")
    page = re.sub(r"\s+", " ", html.read_text(encoding="utf-8"))
    assert 'id="sec-countries"' in page and "Which humans? Every country" in page
    for ident in (
        "fig-fig-countries-ranked",
        "fig-fig-countries-distance",
        "tbl-countries-wvs7",
        "tbl-countries-steps",
    ):
        assert f'id="{ident}"' in page, ident
        assert f'href="#{ident}"' in page, ident
    assert not re.search(r"@(tbl|fig|sec)-", re.sub(r"<[^>]+>", "", page)), "an unresolved cross-reference"
    assert "Muthukrishna" in page and "WorldValuesBench" in page
