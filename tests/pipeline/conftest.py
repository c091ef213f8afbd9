"""Shared fixtures: a small study directory and fake stages that count their runs."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from valuesurvey._io import write_text
from valuesurvey.pipeline import Stage
from valuesurvey.study import Study

MINIMAL_STUDY = {
    "name": "tiny",
    "instruments": ["wvs7"],
    "languages": ["en"],
    "personas": ["none"],
    "repetitions": 1,
    "models": [{"id": "sim-cn-01", "provider": "simulated", "origin": "CN", "company": "simulated"}],
}


@pytest.fixture
def study_dir(tmp_path: Path) -> Path:
    root = tmp_path / "study"
    root.mkdir()
    (root / "study.yaml").write_text(yaml.safe_dump(MINIMAL_STUDY), encoding="utf-8")
    (root / "source.txt").write_text("hello\n", encoding="utf-8")
    return root


class FakePipeline:
    """Two stages: ``first`` copies source.txt upper-cased (depends on ``repetitions``), ``second``
    reverses first's output. Each counts its runs; ``fail`` makes a stage raise once."""

    def __init__(self) -> None:
        self.runs: Counter[str] = Counter()
        self.fail: set[str] = set()

    def _maybe_fail(self, name: str) -> None:
        if name in self.fail:
            self.fail.discard(name)
            raise RuntimeError(f"{name} crashed")

    def first(self, study: Study, context: object) -> dict[str, int]:
        self.runs["first"] += 1
        self._maybe_fail("first")
        text = (study.root / "source.txt").read_text(encoding="utf-8").upper()
        write_text(study.root / "out" / "first.txt", text * study.repetitions)
        return {"chars": len(text)}

    def second(self, study: Study, context: object) -> None:
        self.runs["second"] += 1
        self._maybe_fail("second")
        text = (study.root / "out" / "first.txt").read_text(encoding="utf-8")
        write_text(study.root / "out" / "second.txt", text[::-1])
        write_text(study.root / "out" / "undeclared.txt", "found by the directory snapshot")

    @property
    def stages(self) -> tuple[Stage, ...]:
        return (
            Stage(
                "first",
                "upper-case",
                lambda s: {"repetitions": s.repetitions, "source": s.root / "source.txt"},
                lambda s: [s.root / "out" / "first.txt"],
                self.first,
            ),
            Stage(
                "second",
                "reverse",
                lambda s: {"first": s.root / "out" / "first.txt"},
                lambda s: [s.root / "out" / "second.txt"],
                self.second,
            ),
        )


@pytest.fixture
def fake() -> FakePipeline:
    return FakePipeline()
