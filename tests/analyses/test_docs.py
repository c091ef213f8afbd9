"""docs/study-yaml.md's worked example of ``analyses`` is the study the golden test fits, and it loads."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from valuesurvey.study import study_from_dict

DOCS = Path(__file__).resolve().parents[2] / "docs" / "study-yaml.md"


def test_worked_example_is_the_tested_study(tmp_path: Path, declared_analyses: list[dict[str, Any]]) -> None:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("### Worked example", 1)[1]
    block = re.search(r"```yaml\n(analyses:\n.*?)```", section, re.S)
    assert block, "no yaml block in the worked example"
    example = yaml.safe_load(block.group(1))["analyses"]
    assert example == declared_analyses
    study = study_from_dict(
        {"name": "docs", "instruments": ["mfq2"], "models": [{"id": "sim-cn-01"}], "analyses": example},
        root=tmp_path,
    )
    assert [spec.name for spec in study.analyses] == [a["name"] for a in declared_analyses]
