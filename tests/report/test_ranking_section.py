"""The report's ranking study reads the ranking analysis's tables: names and numbers equal the CSVs."""

from __future__ import annotations

import html as htmllib
import re
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import yaml

from valuesurvey.ranking import analyze_rankings, instrument_values, write_results
from valuesurvey.report._ranking import RankingContent
from valuesurvey.report.content import fmt_num, fmt_p, markdown_table
from valuesurvey.simulation.rankings import simulate_rankings
from valuesurvey.study import Study, load_study


def _text(path: Path) -> str:
    raw = path.read_text(encoding="utf-8")
    return re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", raw)))


def _csv(study: Study, name: str) -> pd.DataFrame:
    return pd.read_csv(study.paths.estimates(f"ranking_{name}"))


def _table_block(raw: str, ident: str) -> str:
    block = re.search(rf'<div id="{ident}".*?</table>', raw, re.S)
    assert block, ident
    return re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", block.group(0))))


def test_archetype_names_are_the_analysis_names(fixture_study: Study, rendered: dict[str, Path]) -> None:
    archetypes = _csv(fixture_study, "archetypes").query("method == 'ward'")
    validity = _csv(fixture_study, "cluster_validity").set_index("method").loc["ward"]
    raw = rendered["html"].read_text(encoding="utf-8")
    if validity["structure"]:
        block = _table_block(raw, "tbl-archetypes")
        for row in archetypes.itertuples():
            assert row.archetype in block, row.archetype
            assert f"{row.n_cn}/{row.n_us}" in block
            assert row.poster_match in block
        assert "Cluster 1" not in block
    else:  # no structure: no archetype table and no archetype name anywhere
        assert 'id="tbl-archetypes"' not in raw
        for name in archetypes["archetype"]:
            assert name not in _text(rendered["html"]), name
    validity_block = _table_block(raw, "tbl-rank-cluster-validity")
    selection = _csv(fixture_study, "cluster_selection").query("method == 'ward'")
    for row in selection.itertuples():
        assert f"{fmt_num(row.gap, 2)} ({fmt_num(row.gap_se, 2)})" in validity_block


def test_kendall_w_equals_the_csv(fixture_study: Study, rendered: dict[str, Path]) -> None:
    agreement = _csv(fixture_study, "agreement").set_index("model")
    text = _text(rendered["html"])
    w = fmt_num(agreement.loc["all", "estimate"], 2)
    assert f"Kendall’s W = {w}" in text  # the inline {python} number of the manuscript
    assert f"Kendall’s W across all models is {w}" in text
    assert f"{fmt_num(agreement.loc['CN', 'estimate'], 2)} among LLMs made in China" in text


def test_top5_overlap_equals_the_csv(fixture_study: Study, rendered: dict[str, Path]) -> None:
    overlap = _csv(fixture_study, "overlap").set_index("term")
    top = overlap.loc["top5_jaccard"]
    text = _text(rendered["html"])
    assert (
        f"share {int(top['statistic'])} of 5 values (Jaccard {fmt_num(top['estimate'], 2)}, "
        f"hypergeometric p" in text
    )
    lists = _csv(fixture_study, "top_bottom").query("group == 'US' and list == 'top' and position == 1")
    block = _table_block(rendered["html"].read_text(encoding="utf-8"), "tbl-topbottom")
    assert f"({fmt_num(lists['mean_rank'].iloc[0], 1)})" in block


def test_cluster_origin_test_and_mixed_model_reported(
    fixture_study: Study, rendered: dict[str, Path]
) -> None:
    text = _text(rendered["html"])
    validity = _csv(fixture_study, "cluster_validity").set_index("method").loc["ward"]
    if validity["structure"]:
        ffh = _csv(fixture_study, "cluster_origin").set_index("model").loc["ward"]
        p = fmt_p(ffh["p_value"])
        phrase = f"cluster × origin, p {p if p.startswith('<') else '= ' + p}"
        assert phrase.replace("\xa0", " ") in text
        assert f"the models fall into {int(validity['k'])} clusters" in text
    else:
        assert "show no cluster structure" in text
    mixed = _csv(fixture_study, "mixed")
    record = mixed.query("model == 'lmer'")
    assert record["singular"].all() and not record["recommended"].any()
    assert f"{record['formula'].iloc[0]} , is singular: its model SD is estimated as 0.000" in text
    nested = mixed.query("model == 'lmer_nested'")
    if nested["recommended"].all():
        assert f"ends with {nested['formula'].iloc[0]} : it converged" in text
        anova = nested.query("component == 'anova' and term == 'origin:dimension'")
        assert f"= {fmt_num(anova['statistic'].iloc[0], 2)}, p" in text
    else:
        assert "No mixed model of the value-level mean ranks is recommended" in text
    steps = _table_block(rendered["html"].read_text(encoding="utf-8"), "tbl-rank-mixed-steps")
    for action in _csv(fixture_study, "mixed_steps")["action"]:
        assert action in steps


def test_origin_conclusions_equal_the_equivalence_csv(
    fixture_study: Study, rendered: dict[str, Path]
) -> None:
    equivalence = _csv(fixture_study, "equivalence").query("level == 'dimension'")
    text = _text(rendered["html"])
    block = _table_block(rendered["html"].read_text(encoding="utf-8"), "tbl-rank-origin")
    margin = f"{equivalence['margin'].iloc[0]:g}"
    for row in equivalence.itertuples():
        assert f"{fmt_num(row.conf_low, 2)} to {fmt_num(row.conf_high, 2)}" in block
    inconclusive = equivalence.query("conclusion == 'inconclusive'")
    if len(inconclusive):
        assert f"no difference detected; equivalence not shown within ±{margin} rank position" in text
    assert f"d = {fmt_num(equivalence['mde_d'].iloc[0], 2)} standard deviations" in text
    _assert_never_bare_no_difference(text)


def _assert_never_bare_no_difference(text: str) -> None:
    """'no difference' only as 'no difference detected', and then always with the equivalence verdict."""
    for match in re.finditer(r"no (CN[–-]US )?difference", text, flags=re.IGNORECASE):
        following = text[match.end() : match.end() + 120]
        assert following.startswith(" detected"), text[match.start() : match.end() + 60]
        assert "equivalence" in following, following


def test_counts_and_exclusions_reported(fixture_study: Study, rendered: dict[str, Path]) -> None:
    counts = _csv(fixture_study, "counts")
    text = _text(rendered["html"])
    assert f"used {int(counts['valid'].sum()):,} valid rankings" in text
    assert f"{int(counts['invalid_attempts'].sum()):,} invalid answers" in text
    excluded = _csv(fixture_study, "exclusions")
    assert len(excluded) == 1 and f"Excluded models (1): {excluded['model'].iloc[0]}" in text


def test_values_are_named_never_by_id(rendered: dict[str, Path]) -> None:
    text = _text(rendered["html"])
    for value_id in ("harm_prevention", "human_rights", "emotional_expression"):
        assert value_id not in text, value_id
    assert "Harm prevention" in text and "Human rights" in text


def test_p_values_do_not_wrap() -> None:
    assert fmt_p(1e-9) == "<\u00a00.001"


# ---- text generated from the analysis's facts, both cases (no rendering) -----------------------------


@pytest.fixture(scope="module")
def values() -> dict[str, str]:
    return instrument_values()


def _content(values: dict[str, str], *, cluster_strength: float, seed: int, mixed: bool = False):
    sim = simulate_rankings(
        values=values,
        repetitions=6,
        cluster_strength=cluster_strength,
        model_sd=0.3 if cluster_strength else 0.0,
        seed=seed,
    )
    return RankingContent(analyze_rankings(sim.data, values, n_boot=60, seed=1, mixed=mixed))


@pytest.fixture(scope="module")
def planted_content(values):
    return _content(values, cluster_strength=1.5, seed=12)


@pytest.fixture(scope="module")
def noise_content(values):
    """Pure noise, with the R models: no cluster structure and no recommendable mixed model."""
    return _content(values, cluster_strength=0.0, seed=21, mixed=True)


def test_planted_clusters_are_named_from_their_profiles(planted_content):
    text = planted_content.section(markdown_table)
    assert planted_content.structure()
    assert "All three criteria are met" in text and "{#tbl-archetypes}" in text
    ward = planted_content.results.archetypes.query("method == 'ward'")
    for row in ward.itertuples():
        assert row.archetype in text
        assert row.archetype.split(" (")[0].endswith(
            ("priority", "average profile")
        ) or row.archetype.startswith("low ")
    assert planted_content.key("cluster_summary").startswith(
        "By the stated validity rule the models fall into"
    )


def test_pure_noise_names_no_archetype(noise_content):
    text = noise_content.section(markdown_table)
    assert not noise_content.structure()
    assert "By this rule the models show no cluster structure" in text
    assert "We therefore name no archetypes" in text
    assert "{#tbl-archetypes}" not in text and "{#tbl-rank-cluster-validity}" in text
    for name in noise_content.results.archetypes["archetype"]:
        assert name not in text, name
    assert "Fisher–Freeman–Halton" not in text  # no association test of clusters that are not there
    summary = noise_content.key("cluster_summary")
    assert "show no cluster structure" in summary and "no archetypes are named" in summary


def test_no_singular_fit_is_recommended(noise_content):
    mixed = noise_content.results.mixed
    assert not mixed["recommended"].any()
    text = noise_content.section(markdown_table)
    assert "No mixed model of the value-level mean ranks is recommended" in text
    assert "which is singular (SDs: model × dimension 0.000" in text
    assert "It is the recommended mixed model" not in text
    assert noise_content.key("interaction_p") == "NA"
    assert "Mixed CN − US" not in noise_content.origin_table().columns
    _assert_never_bare_no_difference(text)


def _issue_fit(content: RankingContent) -> RankingContent:
    """The issue's case: the nested fit singular (model variance 0) and the optimizer returned code 3;
    the flag 'recommended' wrongly set, as an older analysis might have written it."""
    mixed = content.results.mixed.copy()
    nested = mixed["model"] == "lmer_nested"
    mixed.loc[nested, ["singular", "converged", "conv_code", "recommended"]] = [True, False, 3, True]
    mixed.loc[nested & (mixed["term"] == "model:dimension sd__(Intercept)"), "estimate"] = 0.0
    return RankingContent(replace(content.results, mixed=mixed))


def test_prose_follows_the_fit_facts_not_a_flag(noise_content):
    content = _issue_fit(noise_content)
    text = content.section(markdown_table)
    assert "It is the recommended mixed model" not in text
    assert "is singular and did not converge (optimizer bobyqa, code 3)" in text
    assert "cautious" not in text
    assert content.key("interaction_p") == "NA"


def test_no_structure_figures_show_no_archetypes(tmp_path, noise_content):
    from valuesurvey.figures import make_figures

    models = noise_content.results.mean_ranks[["model", "origin"]].drop_duplicates()
    spec = {
        "name": "noise",
        "instruments": ["ai_values"],
        "models": [
            {"id": m, "provider": "simulated", "origin": o} for m, o in models.itertuples(index=False)
        ],
        "synthetic_note": "SIMULATED",
    }
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    study = load_study(tmp_path / "study.yaml")
    write_results(study, noise_content.results)
    make_figures(study)
    names = set(noise_content.results.archetypes["archetype"])
    for figure in ("f3_dendrogram", "f4_heatmap"):
        svg = (study.paths.figures_dir / f"{figure}.svg").read_text(encoding="utf-8")
        assert "no cluster structure" in svg, figure
        assert not any(name in svg for name in names), figure
        assert "LLMs made in China" in svg  # the legend is origin, not archetype


def test_two_groups_other_than_china_and_the_usa_are_named_as_such(values, tmp_path) -> None:
    from valuesurvey.figures import make_figures

    sim = simulate_rankings(values=values, repetitions=4, cluster_strength=0.5, model_sd=0.3, seed=5)
    origin = {"CN": "DE", "US": "JP"}
    data = sim.data.assign(origin=sim.data["origin"].map(origin))
    content = RankingContent(analyze_rankings(data, values, n_boot=20, seed=1, mixed=False))
    assert content.groups == ("DE", "JP")
    md = content.section(markdown_table)
    assert "China" not in md and "USA" not in md and "CN" not in md
    assert "LLMs made in Germany and Japan differ" in md
    assert "LLMs made in Germany versus Japan, by dimension" in md and "(DE − JP;" in md
    w = content.results.agreement.set_index("model")["estimate"]
    assert f"{fmt_num(w['DE'], 2)} among LLMs made in Germany and {fmt_num(w['JP'], 2)}" in md
    assert "The top-5 lists of LLMs made in Germany and Japan share" in md
    assert "| DE − JP |" in md or "DE − JP" in md.split("tbl-rank-origin")[0]

    models = content.results.mean_ranks[["model", "origin"]].drop_duplicates()
    spec = {
        "name": "de-jp",
        "instruments": ["ai_values"],
        "countries": ["DE", "JP"],
        "models": [
            {"id": m, "provider": "simulated", "origin": o} for m, o in models.itertuples(index=False)
        ],
        "synthetic_note": "SIMULATED",
    }
    (tmp_path / "study.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    study = load_study(tmp_path / "study.yaml")
    write_results(study, content.results)
    make_figures(study)
    for figure in ("f1_1_dimensions", "f2_top_bottom", "f3_dendrogram", "f4_heatmap"):
        svg = (study.paths.figures_dir / f"{figure}.svg").read_text(encoding="utf-8")
        assert "China" not in svg and "USA" not in svg, figure
    assert "LLMs made in Germany" in (study.paths.figures_dir / "f3_dendrogram.svg").read_text(
        encoding="utf-8"
    )
