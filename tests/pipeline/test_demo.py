"""The demo on a reduced configuration: real SmolLM2 over loopback HTTP, simulated panel, synthetic
humans, analysis in R, figures and the HTML report; then a second run does nothing."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from valuesurvey.pipeline import DemoConfig, run_demo
from valuesurvey.pipeline.demo import DEMO_NOTE, LOCAL_MODEL_ID

# The demo runs SmolLM2 for real: 260 s on an idle 2-core machine, over 600 s when it is loaded.
pytestmark = [pytest.mark.slow, pytest.mark.llama, pytest.mark.timeout(1800)]

SMALL = DemoConfig(
    panel_per_origin=2,
    instruments=("wvs7", "ai_values"),
    languages=("en", "zh"),
    personas=("none", "cn"),
    ranking_repetitions=1,
    ranking_languages=("en",),  # a SmolLM2 ranking is ~400 tokens: the slowest request of the demo
    ranking_retries=0,
    bootstrap=10,
    humans_per_country=40,
    formats=("html",),
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    pytest.importorskip("xllamacpp")
    return run_demo(tmp_path_factory.mktemp("demo") / "demo-study", config=SMALL, progress=False)


def test_demo_writes_a_labelled_study(demo) -> None:
    root = demo.study_yaml.parent
    study = yaml.safe_load(demo.study_yaml.read_text())
    assert study["synthetic_note"] == DEMO_NOTE
    assert all(spec["synthetic"] for spec in study["humans"].values())
    assert [m["id"] for m in study["models"]] == [
        "sim-cn-01",
        "sim-cn-02",
        "sim-us-01",
        "sim-us-02",
        LOCAL_MODEL_ID,
    ]
    assert all("SIMULATED" in m["display_name"] for m in study["models"] if m["id"].startswith("sim-"))
    assert study["answer_mode"] == "logprobs"
    humans = pd.read_parquet(root / "humans" / "wvs7.parquet")
    assert humans.groupby("nationality")["participant"].nunique().to_dict() == {"CN": 40, "US": 40}


def test_smollm2_was_really_asked(demo) -> None:
    root = demo.study_yaml.parent
    ratings = pd.read_parquet(root / "llm_ratings.parquet")
    local = ratings[ratings["model"] == LOCAL_MODEL_ID]
    # logprobs mode: one request per item x language x persona, rep 0
    assert len(local) == 19 * 2 * 2
    assert set(local["answer_mode"]) == {"logprobs"}
    ok = local[local["status"] == "ok"]
    assert len(ok) > 0 and ok["rating"].between(1, 10).all()
    rankings = pd.read_parquet(root / "rankings.parquet")
    assert LOCAL_MODEL_ID in set(rankings["model"])


def test_analysis_figures_and_report(demo) -> None:
    root = demo.study_yaml.parent
    assert sorted(p.name for p in (root / "estimates").glob("rq1_*.csv")) == ["rq1_wvs7.csv"]
    assert list((root / "figures").glob("*.png"))
    assert [p.suffix for p in demo.reports] == [".html"]
    assert "SYNTHETIC" in demo.reports[0].read_text(encoding="utf-8")


def test_second_run_does_nothing(demo) -> None:
    again = run_demo(demo.study_yaml.parent, config=SMALL, progress=False)
    assert again.summary.nothing_to_do, again.summary.results
