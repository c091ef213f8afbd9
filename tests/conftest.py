"""Makes the helper modules at the top of tests/ importable by name (tests use importlib mode)."""

from __future__ import annotations

import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)

#: The slowest test files, slowest first, with their seconds on an idle 2-core machine (from
#: `pytest --durations`). `make test` runs two workers a file at a time (`--dist loadfile`,
#: `--no-loadscope-reorder`): starting these first keeps one long file from running alone at the end.
SLOWEST_FIRST = (
    "tests/pipeline/test_demo.py",  # ~260 s: the demo with the real SmolLM2 and Quarto
    "tests/report/test_quarto.py",  # ~250 s: real Quarto, through the package and by hand
    "tests/pipeline/test_multi_country.py",  # ~150-280 s with the ranking study
    "tests/pipeline/test_integration.py",  # ~110 s
    "tests/elicit/test_llama_scale.py",  # ~110 s
    "tests/analysis/test_analyze.py",  # ~90 s
    "tests/analyses/test_report.py",  # ~80 s
    "tests/elicit/test_llama.py",  # ~80 s
    "tests/analyses/test_golden.py",  # ~70 s
    "tests/pipeline/test_artifact_privacy.py",  # ~60 s
)


def pytest_collection_modifyitems(items: list) -> None:
    """Run the slowest files first (see SLOWEST_FIRST); the order inside a file is unchanged."""
    rank = {path: i for i, path in enumerate(SLOWEST_FIRST)}
    last = len(rank)

    def key(item) -> int:
        return rank.get(item.nodeid.split("::", 1)[0], last)

    items.sort(key=key)  # stable: the other files keep their collection order
