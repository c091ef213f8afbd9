"""examples/ipip with the real local model (SmolLM2-135M via llama.cpp): elicit, analyze, and the
subscale scores equal a hand computation from llm_ratings.parquet, reverse keys applied."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml
from elicit_helpers import skip_without_local_model

from valuesurvey import instruments
from valuesurvey.analysis import analyze_study
from valuesurvey.elicit import run_elicitation
from valuesurvey.study import load_study

pytestmark = [pytest.mark.llama, pytest.mark.slow, pytest.mark.timeout(900)]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ipip" / "study.yaml"
# Two dimensions, each with one plain and one reverse-keyed item.
ITEMS = ["mini_ipip_01", "mini_ipip_02", "mini_ipip_06", "mini_ipip_07"]


def test_ipip_example_with_the_local_model_is_scored_with_reverse_keys(tmp_path: Path) -> None:
    skip_without_local_model()
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    # Small: 4 items x 2 repetitions x persona none (8 requests); everything else as in the example.
    data.update(
        instruments=[{"mini_ipip": {"items": ITEMS}}], personas=["none"], cache=str(tmp_path / "cache")
    )
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    study = load_study(tmp_path / "study.yaml")

    summary = run_elicitation(study, progress=False)
    assert summary.failed == 0
    analyze_study(study)

    ratings = pd.read_parquet(study.paths.llm_ratings)
    assert sorted(ratings["item"].unique()) == sorted(ITEMS) and len(ratings) == 8
    assert set(ratings["status"]) == {"ok"}  # constrained mode: the grammar admits only 1-5
    ipip = instruments.get("mini_ipip")
    item_mean = ratings.groupby("item")["rating"].mean()
    keyed = {item: (6 - m if ipip.item(item).reverse else m) for item, m in item_mean.items()}
    expected = {
        "Extraversion": (keyed["mini_ipip_01"] + keyed["mini_ipip_06"]) / 2,
        "Agreeableness": (keyed["mini_ipip_02"] + keyed["mini_ipip_07"]) / 2,
    }
    scores = pd.read_csv(study.paths.scores_dir / "mini_ipip_llm.csv")
    assert list(scores["dimension"]) == ["Extraversion", "Agreeableness"]
    assert set(scores["model"]) == {"smollm2-local"} and set(scores["persona"]) == {"none"}
    for row in scores.itertuples(index=False):
        assert row.score == pytest.approx(expected[row.dimension], abs=1e-12)
        assert (row.n_items, row.items_total) == (2, 2)
