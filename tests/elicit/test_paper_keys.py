"""The paper's request keys and per-repetition seeds never move: no stored answer is asked again.

``golden/paper_keys.json`` was computed on the commit before countries, languages and personas
became study data (1413156): for each model of ``examples/paper/study.yaml`` the number of requests
and the sha256 of its sorted ``key seed`` lines, the same for two of its models with
``generation.seed`` set, and for two models of the demo's simulated panel (logprobs, seeded, with
the ranking task). Regenerate it only for a change that is meant to re-ask every stored answer.

One entry was re-keyed on purpose since: ``deepseek-v2-lite-chat`` (issue 19), whose registry entry
moved from ``openai_compatible`` with ``constrained_via: grammar`` (a field vLLM does not read) to the
``vllm`` provider. It is a self-hosted open-weight model at price 0, so re-asking costs compute only;
every other model's keys are those of 1413156.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from valuesurvey.elicit import plan_study
from valuesurvey.pipeline.demo import DemoConfig, demo_study_dict
from valuesurvey.study import Study, load_study, study_from_dict

ROOT = Path(__file__).resolve().parents[2]
PAPER = ROOT / "examples" / "paper" / "study.yaml"
GOLDEN = json.loads((Path(__file__).parent / "golden" / "paper_keys.json").read_text(encoding="utf-8"))


def _digest(study: Study) -> dict[str, dict[str, Any]]:
    out = {}
    for mp in plan_study(study).models:
        lines = sorted(f"{r.key} {r.request.seed}" for r in mp.requests)
        out[mp.model.id] = {
            "n": len(lines),
            "sha256": hashlib.sha256("\n".join(lines).encode()).hexdigest(),
            "first": sorted(r.key for r in mp.requests)[:2],
        }
    return out


def _paper_with(**changes: Any) -> Study:
    data = yaml.safe_load(PAPER.read_text(encoding="utf-8"))
    return study_from_dict({**data, **changes}, root=PAPER.parent, source=PAPER)


@pytest.mark.timeout(300)
def test_the_paper_design_keeps_every_request_key() -> None:
    assert _digest(load_study(PAPER)) == GOLDEN["paper"]


def test_a_seeded_paper_design_keeps_its_keys_and_seeds() -> None:
    data = yaml.safe_load(PAPER.read_text(encoding="utf-8"))
    models = [m for m in data["models"] if m["id"] in GOLDEN["paper_seeded"]]
    study = _paper_with(models=models, generation={**data["generation"], "seed": 20251123})
    assert _digest(study) == GOLDEN["paper_seeded"]


def test_the_demo_panel_keeps_its_keys_and_seeds() -> None:
    demo = demo_study_dict(DemoConfig(panel_per_origin=1, local_model=False), {})
    assert _digest(study_from_dict(demo, root=PAPER.parent, source=PAPER)) == GOLDEN["demo_panel"]
