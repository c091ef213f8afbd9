"""The manuscript's subscale-score section: its numbers are scores/<instrument>_*.csv."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from valuesurvey.analysis import analyze_study
from valuesurvey.report._scores import scores_section

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))
from test_scores import _ipip_study


def test_scores_section_tabulates_llm_and_human_scores(tmp_path: Path) -> None:
    study, _ = _ipip_study(tmp_path, humans=True)
    assert scores_section(study) == ""  # not analysed yet: no section
    analyze_study(study)
    text = scores_section(study)
    assert text.startswith("## Subscale scores {#sec-scores}")
    assert "{#tbl-scores-mini_ipip}" in text and "11 reverse-keyed items scored 6 − rating" in text
    header = next(line for line in text.splitlines() if line.startswith("| Source"))
    assert header == "| Source | Extraversion | Agreeableness | Conscientiousness | Neuroticism | Intellect |"
    llm = pd.read_csv(tmp_path / "scores" / "mini_ipip_llm.csv")
    row = llm[(llm["model"] == "sim-us") & (llm["persona"] == "none")].set_index("dimension")
    line = next(line for line in text.splitlines() if line.startswith("| sim-us, en, persona none |"))
    cells = [cell.strip() for cell in line.strip().strip("|").split("|")][1:]
    dimensions = ["Extraversion", "Agreeableness", "Conscientiousness", "Neuroticism", "Intellect"]
    assert cells == [f"{row.loc[d, 'score']:.2f}" for d in dimensions]
    people = pd.read_csv(tmp_path / "scores" / "mini_ipip_humans.csv")
    us = people[people["nationality"] == "US"].set_index("dimension")
    line = next(line for line in text.splitlines() if line.startswith("| people of US (n = 15) |"))
    assert f"| {us.loc['Neuroticism', 'score']:.2f} |" in line


def test_no_section_for_instruments_whose_items_are_their_own_dimensions(tmp_path: Path) -> None:
    import yaml

    from valuesurvey.study import load_study

    spec = {
        "name": "w",
        "instruments": ["wvs7"],
        "models": [{"id": "m", "provider": "simulated", "origin": "US"}],
    }
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    (tmp_path / "scores").mkdir()
    pd.DataFrame(
        {
            "model": ["m"],
            "origin": ["US"],
            "language": ["en"],
            "persona": ["none"],
            "dimension": ["Q177"],
            "score": [3.0],
            "n_items": [1],
            "items_total": [1],
        }
    ).to_csv(tmp_path / "scores" / "wvs7_llm.csv", index=False)
    assert scores_section(load_study(tmp_path / "study.yaml")) == ""


def test_the_instruments_table_states_a_subset_compactly(tmp_path: Path) -> None:
    import yaml

    from valuesurvey.report.content import open_study

    spec = {
        "name": "s",
        "instruments": [{"mfq2": {"items": ["mfq2_01", "mfq2_02", "mfq2_03", "mfq2_07"]}}],
        "models": [{"id": "m", "provider": "simulated", "origin": "US"}],
    }
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    table = open_study(tmp_path).instruments_table()
    assert "shipped with valuesurvey; items: mfq2_01–mfq2_03, mfq2_07" in table
    assert "4 items: mfq2_01–mfq2_03, mfq2_07" in table
