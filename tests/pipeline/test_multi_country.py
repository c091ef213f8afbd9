"""examples/multi-country (CN, US, TW, SG; a simulated panel with origins in all four plus France;
synthetic humans of all four): ``valuesurvey run`` on a copy completes offline, and its estimates,
figures and report cover the four countries; the ranking study compares the five origin groups."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from valuesurvey.cli import app

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "multi-country"
COUNTRIES = {"CN", "US", "TW", "SG"}


def test_the_multi_country_example_runs_offline_and_covers_four_countries(tmp_path: Path) -> None:
    root = tmp_path / "mc"
    shutil.copytree(EXAMPLE, root)
    data = yaml.safe_load((root / "study.yaml").read_text(encoding="utf-8"))
    # The example as shipped, made quicker: fewer repetitions.
    data["repetitions"] = 2
    data["ranking"]["repetitions"] = 2
    (root / "study.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")

    result = CliRunner().invoke(app, ["run", str(root / "study.yaml")])
    assert result.exit_code == 0, result.output

    flow = pd.read_csv(root / "similarity" / "humans_flow.csv")
    assert set(flow["nationality"]) == COUNTRIES and (flow["n_analysed_rq1"] > 0).all()
    rq1 = pd.read_csv(root / "estimates" / "rq1_wvs7.csv")
    lm = set(rq1.loc[rq1["model"] == "lm", "term"])
    # Sum contrasts with Singapore (the last country) as the reference; France is a further origin.
    assert {"nationalityCN", "nationalityUS", "nationalityTW"} <= lm and "nationalitySG" not in lm
    assert {"originCN", "originUS", "originTW", "originFR"} <= lm and "originSG" not in lm
    coding = pd.read_csv(root / "estimates" / "coding.csv")
    nat = coding[(coding["analysis"] == "rq1_wvs7") & (coding["variable"] == "nationality")]
    assert set(nat["scheme"]) == {"contr_sum"} and set(nat["level"]) == COUNTRIES
    rq2 = pd.read_csv(root / "estimates" / "rq2_mfq2.csv")
    assert {"language_congruentyes", "persona_congruentyes", "origin_congruentyes"} <= set(rq2["term"])
    # RQ1's language matching: Taiwanese participants with zh answers, Singaporeans with en.
    export = pd.read_csv(root / "similarity" / "wvs7_rq.csv")
    matched = export[export["in_rq1"] == 1].groupby("nationality")["language"].unique()
    assert {k: list(v) for k, v in matched.items()} == {
        "CN": ["zh"],
        "SG": ["en"],
        "TW": ["zh"],
        "US": ["en"],
    }

    _check_ranking(root)

    figures = {p.stem for p in (root / "figures").glob("*.png")}
    assert {
        "fig1_similarity",
        "fig2_normalised",
        "fig3_per_model",
        "fig4_conditions",
        "fig5_removal",
        "f1_1_dimensions",
        "f2_top_bottom",
        "f3_dendrogram",
        "f4_heatmap",
    } <= figures
    html = next((root / "report").glob("*.html")).read_text(encoding="utf-8")
    for name in ("China", "USA", "Taiwan", "Singapore", "France"):
        assert name in html
    assert "The study compares 4 countries" in html
    assert "Singapore as the reference level" in html
    assert "The 5 origin groups (LLMs made in China, the USA, Taiwan, France and Singapore" in html
    assert "the pairwise overlaps of the 5 origin groups" in " ".join(html.split())
    assert "NA of 5" not in html and "made in China and the USA" not in " ".join(html.split())


GROUPS = ("CN", "US", "TW", "FR", "SG")  # study order, another country (FR), the reference (SG) last


def _check_ranking(root: Path) -> None:
    tests = pd.read_csv(root / "estimates" / "ranking_origin_tests.csv")
    omnibus = tests[tests["contrast"] == "omnibus"]
    assert set(omnibus["model"]) == {"kruskal_wallis", "anova_f"}
    # 9 models in groups of 2, 2, 2, 1, 2: all 22,680 arrangements counted.
    assert omnibus["p_method"].eq("exact: all 22,680 arrangements counted").all()
    assert {f"n_{g.lower()}" for g in GROUPS} <= set(tests.columns)
    pairs = set(tests.loc[tests["contrast"] != "omnibus", "contrast"])
    assert len(pairs) == 10 and {"CN - US", "TW - SG", "FR - SG"} <= pairs
    # France has one model: its pairs have no two-group test.
    assert (
        tests.loc[tests["contrast"].str.contains("FR") & (tests["model"] == "welch_t"), "p_value"]
        .isna()
        .all()
    )
    assert tests.loc[tests["contrast"] == "TW - SG", "p_value"].notna().all()
    equivalence = pd.read_csv(root / "estimates" / "ranking_equivalence.csv")
    assert set(equivalence["contrast"]) == pairs
    agreement = pd.read_csv(root / "estimates" / "ranking_agreement.csv")
    assert list(agreement["model"][:6]) == ["all", *GROUPS]
    mixed = pd.read_csv(root / "estimates" / "ranking_mixed.csv")
    nested = set(mixed.loc[mixed["model"] == "lmer_nested", "term"])
    assert {"originCN", "originUS", "originTW", "originFR"} <= nested and "originSG" not in nested
    assert "TW - SG | Social" in nested
