"""``valuesurvey power`` for k countries: the k-country sum coding the analysis uses, power per contrast.

``golden/power_two_countries.csv`` is the power table of a small seeded two-country run written by
the two-country code before power learnt k countries (main at e5c6bc9); two countries must give it
exactly. Regenerate only on purpose: ``python tests/analysis/test_power_countries.py``.
"""

from __future__ import annotations

import io
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from valuesurvey.cli import app
from valuesurvey.power import power_analysis, study_analyses, study_design
from valuesurvey.simulation.cosines import (
    CosineDesign,
    CosineTruth,
    k_country_coefficients,
    key_terms,
    recovery,
)
from valuesurvey.study import load_study

pytestmark = pytest.mark.timeout(600)

GOLDEN = Path(__file__).parent / "golden" / "power_two_countries.csv"
TWO = CosineDesign(people=(30, 25), models=(3, 3), languages=("en", "zh"), repetitions=4)


def _two_country_table() -> pd.DataFrame:
    return power_analysis(CosineTruth(), TWO, simulations=3, seed=5, fits=("lm", "intercepts")).table


def test_two_countries_give_exactly_the_two_country_table():
    fresh = pd.read_csv(io.StringIO(_two_country_table().to_csv(index=False)))
    pd.testing.assert_frame_equal(fresh, pd.read_csv(GOLDEN), check_exact=True)


if __name__ == "__main__":
    _two_country_table().to_csv(GOLDEN, index=False)


THREE = CosineDesign(
    people=(30, 25, 20),
    models=(3, 3, 2),
    countries=("CN", "US", "TW"),
    paired=("zh", "en", "zh"),
    repetitions=4,
)


def test_k_countries_simulate_the_sum_coding_the_analysis_fits():
    """Without noise the lm estimates are the truth: the simulated effects are exactly the sum-coded
    coefficients R's analysis estimates (reference TW, the last country)."""
    zero = {name: 0.0 for name in asdict(CosineTruth()) if name.startswith("sd_")}
    truth = CosineTruth(origin=0.04, interaction=0.2).with_values(**(zero | {"sd_residual": 1e-6}))
    fitted = recovery([3], truth, design=THREE, fits=("lm",))
    expected = k_country_coefficients(truth, THREE.countries)
    assert set(fitted["term"]) == set(expected)  # every sum-coded contrast, no TW term
    assert {"nationalityUS:originCN", "originUS"} <= set(expected) and "nationalityTW" not in expected
    for row in fitted.itertuples():
        assert row.estimate == pytest.approx(expected[row.term], abs=1e-5), row.term
    assert expected["nationalityCN:originCN"] == pytest.approx(0.2 * 0.5 * 0.5)


def test_k_country_power_reports_every_contrast():
    result = power_analysis(CosineTruth(), THREE, simulations=2, seed=7, fits=("lm",))
    table = result.table
    assert set(table["term"]) == set(key_terms(THREE.countries)["rq1"])
    assert len(table) == 2 + 2 + 4 and (table["n_simulations"] == 2).all()
    assert table.set_index("term").loc["nationalityCN", "truth"] == pytest.approx(-0.3 * 0.5)
    with pytest.raises(ValueError, match="rq1"):
        power_analysis(CosineTruth(), THREE, analyses=("rq2",), simulations=1, fits=("lm",))


def test_study_design_of_a_three_country_study(tmp_path: Path):
    models = [
        {"id": f"sim-{c.lower()}-{i}", "provider": "simulated", "origin": c, "company": "simulated"}
        for c in ("CN", "US", "TW")
        for i in (1, 2)
    ]
    spec = {
        "name": "three",
        "instruments": ["wvs7"],
        "countries": ["CN", "US", {"code": "TW", "languages": ["zh"]}],
        "models": models,
    }
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    study = load_study(tmp_path)
    design, source = study_design(study, people=(40, 30, 20))
    assert design.countries == ("CN", "US", "TW") and design.models == (2, 2, 2)
    assert design.paired == ("zh", "en", "zh") and source == "--people"
    assert study_analyses(study) == ["rq1"]
    result = CliRunner().invoke(app, ["power", str(tmp_path), "-n", "1", "--people", "40,30"])
    assert result.exit_code != 0
    assert "--people must be 3 integers CN,US,TW" in result.output
    result = CliRunner().invoke(
        app, ["power", str(tmp_path), "-n", "1", "--people", "4,3,3", "--analyses", "rq2"]
    )
    assert result.exit_code != 0 and "rq2 is simulated for two countries only" in result.output
