"""Two origin groups: every ranking table stays byte-identical to the CN-vs-US analysis.

``golden/two_groups/`` holds every table of :func:`analyze_rankings` (R mixed models aside: the
slow ``tests/analysis/test_paper_coding.py`` pins ``ranking_mixed`` of the demo) on the ``shifted``
simulation (11 CN + 9 US models), written by the CN-vs-US code before the ranking study learnt k
origin groups (main at e5c6bc9). ``report_section.md`` is the report's ranking section of those tables. Regenerate only on purpose: ``python tests/ranking/test_two_groups_golden.py``.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import pytest

from valuesurvey.ranking import RankingResults, analyze_rankings, instrument_values
from valuesurvey.simulation.rankings import simulate_rankings

GOLDEN = Path(__file__).parent / "golden" / "two_groups"
SETTINGS = {"n_boot": 40, "seed": 3, "k_max": 6, "mixed": False}


def _results() -> RankingResults:
    sim = simulate_rankings(
        values=instrument_values(),
        repetitions=6,
        languages=("en", "zh"),
        cluster_strength=0.8,
        origin_shift={"Social": 3.0},
        invalid_rate=0.05,
        seed=11,
    )
    return analyze_rankings(sim.data, instrument_values(), **SETTINGS)


def _report(results: RankingResults) -> str:
    """The report's ranking section (pandoc markdown) of these tables, read back from CSV."""
    from valuesurvey.report._ranking import RankingContent
    from valuesurvey.report.content import markdown_table

    tables = {
        name: pd.read_csv(io.StringIO(_csv(getattr(results, name)))) for name in RankingResults.table_names()
        if getattr(results, name) is not None
    }  # fmt: skip
    return RankingContent(RankingResults(**tables)).section(markdown_table)


def _csv(frame) -> str:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def results() -> RankingResults:
    return _results()


@pytest.mark.parametrize(
    "name", [n for n in RankingResults.table_names() if n not in ("mixed", "mixed_steps")]
)
def test_table_is_identical_to_the_cn_us_analysis(results, name):
    expected = (GOLDEN / f"{name}.csv").read_text(encoding="utf-8")
    assert _csv(getattr(results, name)) == expected


def test_report_section_is_identical_to_the_cn_us_report(results):
    assert _report(results) == (GOLDEN / "report_section.md").read_text(encoding="utf-8")


if __name__ == "__main__":
    GOLDEN.mkdir(parents=True, exist_ok=True)
    fresh = _results()
    for table in RankingResults.table_names():
        if getattr(fresh, table) is not None:
            (GOLDEN / f"{table}.csv").write_text(_csv(getattr(fresh, table)), encoding="utf-8")
    (GOLDEN / "report_section.md").write_text(_report(fresh), encoding="utf-8")
