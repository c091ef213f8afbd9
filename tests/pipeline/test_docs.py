"""docs/study-yaml.md documents every field of the study model; the examples load."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from valuesurvey.study import Study, load_study

ROOT = Path(__file__).resolve().parents[2]


def _fields(model: type[BaseModel], prefix: str = "") -> set[str]:
    names: set[str] = set()
    for name, info in model.model_fields.items():
        if info.exclude:
            continue
        names.add(name)
        for arg in (info.annotation, *typing.get_args(info.annotation)):
            inner = typing.get_args(arg) or (arg,)
            for candidate in inner:
                if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                    names |= _fields(candidate)
    return names


def test_every_study_field_is_documented() -> None:
    text = (ROOT / "docs" / "study-yaml.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `([a-z_]+)` \|", text, flags=re.MULTILINE))
    missing = _fields(Study) - documented
    assert not missing, f"fields missing from docs/study-yaml.md: {sorted(missing)}"


@pytest.mark.parametrize("name", ["paper", "poster"])
def test_examples_load(name: str) -> None:
    study = load_study(ROOT / "examples" / name / "study.yaml")
    assert len(study.models) == 20
    assert {m.origin for m in study.models} <= {"CN", "US", None}
