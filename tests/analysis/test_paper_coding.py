"""For two countries every estimate equals the paper's coding as it was before countries became data.

``golden/paper_coding_demo.csv.gz`` holds every number of the RQ1–RQ3 estimates, simple effects,
variance components and the ranking study's origin tests, equivalence tests, dimension scores,
mean ranks and mixed models of a shrunk demo (3 + 3 simulated models, 30 synthetic people per
country, elicit and analyze), computed on the commit before the refactor (1413156). The same demo
run now must reproduce them: the same rows (file and key columns) and each number within the
spread two R processes show for the same fit (``tests/lmer_agreement.py``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from lmer_agreement import tolerance
from scipy import stats

from valuesurvey.pipeline.demo import DemoConfig, run_demo

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

GOLDEN = Path(__file__).parent / "golden" / "paper_coding_demo.csv.gz"
CONFIG = DemoConfig(
    panel_per_origin=3,
    local_model=False,
    instruments=("mfq2", "wvs7", "ai_values"),
    ranking_repetitions=3,
    humans_per_country=30,
    bootstrap=20,
    stages=("elicit", "analyze"),
)
FILES = (
    "rq1_mfq2", "rq1_wvs7", "rq2_mfq2", "rq2_wvs7", "rq3_mfq2", "rq3_wvs7", "simple_effects_mfq2",
    "simple_effects_wvs7", "random_effects", "ranking_origin_tests", "ranking_equivalence",
    "ranking_dimension_scores", "ranking_mean_ranks", "ranking_mixed",
)  # fmt: skip
KEYS = (
    "analysis", "model", "level", "effect", "at", "contrast", "group", "term", "dimension", "value",
    "origin", "fit", "statistic_name",
)  # fmt: skip


def pack(estimates: Path) -> pd.DataFrame:
    """Every number of the pinned tables, one row each: file, key (the key columns), column, value."""
    rows = []
    for name in FILES:
        frame = pd.read_csv(estimates / f"{name}.csv")
        keys = [k for k in KEYS if k in frame.columns]
        numeric = [c for c in frame.columns if c not in keys and pd.api.types.is_numeric_dtype(frame[c])]
        for _, row in frame.iterrows():
            key = "|".join(f"{k}={row[k]}" for k in keys)
            rows.extend((name, key, column, float(row[column])) for column in numeric)
    return pd.DataFrame(rows, columns=["file", "key", "column", "value"])


def _comparable(frame: pd.DataFrame) -> np.ndarray:
    """p-values as normal quantiles, confidence limits as distances from their estimate."""
    values = frame["value"].to_numpy(float).copy()
    column = frame["column"].to_numpy()
    p = np.char.endswith(column.astype(str), "p_value")
    values[p] = stats.norm.isf(np.maximum(values[p], 1e-300) / 2)
    estimate = frame.set_index(["file", "key", "column"])["value"]
    for i, (file, key, col) in enumerate(zip(frame["file"], frame["key"], column, strict=True)):
        if col.endswith(("conf_low", "conf_high")):
            base = col.removesuffix("conf_low").removesuffix("conf_high") + "estimate"
            values[i] -= estimate.get((file, key, base), 0.0)
    return values


def test_two_countries_reproduce_the_paper_coding_estimates(tmp_path: Path) -> None:
    run_demo(tmp_path / "demo", config=CONFIG, progress=False)
    ours = pack(tmp_path / "demo" / "estimates").sort_values(["file", "key", "column"], ignore_index=True)
    golden = pd.read_csv(GOLDEN).sort_values(["file", "key", "column"], ignore_index=True)
    golden_rows = set(zip(golden["file"], golden["key"], golden["column"], strict=True))
    our_rows = set(zip(ours["file"], ours["key"], ours["column"], strict=True))
    assert our_rows == golden_rows, (sorted(golden_rows - our_rows)[:5], sorted(our_rows - golden_rows)[:5])
    a, b = _comparable(ours), _comparable(golden)
    for column in sorted(set(golden["column"])):
        at = (golden["column"] == column).to_numpy()
        np.testing.assert_allclose(a[at], b[at], err_msg=column, equal_nan=True, **tolerance(column))
