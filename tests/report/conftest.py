"""One analysed fixture study, rendered once (HTML and PDF) for every test in this folder."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fixture_study import write_fixture_study

from valuesurvey.study import Study, load_study


@pytest.fixture(scope="session")
def fixture_study(tmp_path_factory: pytest.TempPathFactory) -> Study:
    return load_study(write_fixture_study(tmp_path_factory.mktemp("study")))


@pytest.fixture(scope="session")
def rendered(fixture_study: Study) -> dict[str, Path]:
    from valuesurvey.report import render_report

    html, pdf = render_report(fixture_study, formats=("html", "pdf"), renderer="pandoc")
    return {"html": html, "pdf": pdf}
