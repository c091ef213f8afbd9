"""The report's ranking study reads the ranking analysis's tables: names and numbers equal the CSVs."""

from __future__ import annotations

import html as htmllib
import re
from pathlib import Path

import pandas as pd

from valuesurvey.report.content import fmt_num, fmt_p
from valuesurvey.study import Study


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
    block = _table_block(rendered["html"].read_text(encoding="utf-8"), "tbl-archetypes")
    for row in archetypes.itertuples():
        assert row.archetype in block, row.archetype
        assert f"{row.n_cn}/{row.n_us}" in block
    assert "Cluster 1" not in block


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
    ffh = _csv(fixture_study, "cluster_origin").set_index("model").loc["ward"]
    p = fmt_p(ffh["p_value"])
    phrase = f"cluster × origin, p {p if p.startswith('<') else '= ' + p}"
    assert phrase.replace("\xa0", " ") in text
    mixed = _csv(fixture_study, "mixed")
    assert "(lmer_nested)" in text and "singular by construction" in text
    anova = mixed.query("model == 'lmer_nested' and component == 'anova' and term == 'origin:dimension'")
    assert f"= {fmt_num(anova['statistic'].iloc[0], 2)}, p" in text


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
