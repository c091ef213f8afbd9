"""The analysis stage reruns when the declared analyses change: study.yaml's ``analyses`` and the
``valuesurvey/analyses`` code are among its hashed inputs, ``analyses/`` among its outputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from valuesurvey.manifest import hash_inputs, source_fingerprint
from valuesurvey.pipeline._stages import DEFAULT_STAGES
from valuesurvey.study import load_study

ANALYSIS = {"name": "r", "data": "ratings", "formula": "rating ~ origin + (1 | model)"}


def _stage(name: str):
    return next(stage for stage in DEFAULT_STAGES if stage.name == name)


def _hashes(tmp_path: Path, analyses: list[dict[str, Any]], stage: str = "analyze") -> dict[str, str]:
    spec = {"name": "s", "models": [{"id": "sim-cn-01"}], "instruments": ["mfq2"], "analyses": analyses}
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    study = load_study(tmp_path / "study.yaml")
    return hash_inputs(study, _stage(stage).inputs(study))


def test_every_part_of_an_analysis_is_an_input_of_the_analysis_stage(tmp_path: Path) -> None:
    base = _hashes(tmp_path, [ANALYSIS])
    assert _hashes(tmp_path, [ANALYSIS]) == base  # deterministic
    changes = [
        [],
        [{**ANALYSIS, "formula": "rating ~ origin + (1 | item)"}],
        [{**ANALYSIS, "where": "persona == 'none'"}],
        [{**ANALYSIS, "coding": {"origin": {"half_sum": "US"}}}],
        [{**ANALYSIS, "family": "ordinal"}],
        [{**ANALYSIS, "simplify": True}],
        [{**ANALYSIS, "emmeans": [{"specs": "~ origin", "contrasts": "none"}]}],
        [ANALYSIS, {**ANALYSIS, "name": "r2"}],
    ]
    for analyses in changes:
        hashes = _hashes(tmp_path, analyses)
        assert hashes["study"] != base["study"], analyses
        assert {k for k in hashes if hashes[k] != base[k]} == {"study"}, analyses


def test_the_analyses_code_and_folder_belong_to_the_stages(tmp_path: Path, monkeypatch) -> None:
    import valuesurvey.pipeline._stages as stages

    _hashes(tmp_path, [ANALYSIS])
    study = load_study(tmp_path / "study.yaml")
    assert study.root / "analyses" in _stage("analyze").outputs(study)
    assert source_fingerprint("analyses") != source_fingerprint()  # the subpackage exists and is hashed
    hashed: list[tuple[str | Path, ...]] = []
    monkeypatch.setattr(stages, "source_fingerprint", lambda *where: hashed.append(where) or "")
    for stage in ("analyze", "report"):  # the report prints the specs as valuesurvey.analyses reads them
        hashed.clear()
        _stage(stage).inputs(study)
        assert len(hashed) == 1 and "analyses" in hashed[0], (stage, hashed)
    monkeypatch.undo()
    assert _hashes(tmp_path, [ANALYSIS], "report")["study"] != _hashes(tmp_path, [], "report")["study"]
