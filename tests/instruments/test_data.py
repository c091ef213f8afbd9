"""The shipped instruments: counts, mappings, texts in both languages, provenance.

The golden CSVs beside this file were transcribed from ``reference/instruments.md`` (the English MFQ-2
items with their foundation and Study-2 column, the WVS items with their codebook label), independently
of the package's data files.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from valuesurvey import instruments

GOLDEN = Path(__file__).parent / "golden"
MFQ2_FOUNDATIONS = ("Care", "Equality", "Proportionality", "Loyalty", "Authority", "Purity")
AI_DIMENSIONS = ("Practical", "Epistemic", "Protective", "Social", "Personal")
POSTER_VALUES = {
    "helpfulness": ("Helpfulness", "Practical"),
    "efficiency": ("Efficiency", "Practical"),
    "accuracy": ("Accuracy", "Epistemic"),
    "logic": ("Logic", "Epistemic"),
    "harm_prevention": ("Harm prevention", "Protective"),
    "human_rights": ("Human rights", "Protective"),
    "empathy": ("Empathy", "Social"),
    "equity": ("Equity", "Social"),
    "wellbeing": ("Wellbeing", "Personal"),
    "emotional_expression": ("Emotional expression", "Personal"),
}
CJK = re.compile(r"[\u4e00-\u9fff]")


def test_list_instruments_ships_four() -> None:
    assert instruments.list_instruments() == ("mfq2", "wvs7", "ai_values", "mini_ipip")


def test_mfq2_has_36_items_six_per_foundation_cycling_in_published_order() -> None:
    mfq2 = instruments.get("mfq2")
    assert mfq2.kind == "rating"
    assert (mfq2.scale.min, mfq2.scale.max) == (1, 5)
    assert mfq2.dimensions == MFQ2_FOUNDATIONS
    assert mfq2.item_ids == tuple(f"mfq2_{n:02d}" for n in range(1, 37))
    assert Counter(item.dimension for item in mfq2.items) == dict.fromkeys(MFQ2_FOUNDATIONS, 6)
    for item in mfq2.items:
        assert item.dimension == MFQ2_FOUNDATIONS[(item.number - 1) % 6]
    assert {dim: len(items) for dim, items in mfq2.items_by_dimension().items()} == dict.fromkeys(
        MFQ2_FOUNDATIONS, 6
    )


def test_mfq2_english_texts_foundations_and_columns_match_the_reference() -> None:
    golden = pd.read_csv(GOLDEN / "mfq2_items_en.csv")
    mfq2 = instruments.get("mfq2")
    assert len(golden) == 36
    for row in golden.itertuples():
        item = mfq2.item(row.item)
        assert item.text["en"] == row.text
        assert item.dimension == row.foundation
        assert item.column == row.column
        assert item.provenance["en"].startswith("official")


def test_mfq2_item27_wordings_are_selectable_and_default_official() -> None:
    official = "In a fair society, I want people who work harder than others to end up richer than others."
    paper = "In a fair society, those who work hard should live with higher standards of living."
    default = instruments.get("mfq2")
    assert default.selected_options == {"item27": "official"}
    assert default.item("mfq2_27").text["en"] == official
    chosen = instruments.get("mfq2", options={"item27": "paper"})
    assert chosen.item("mfq2_27").text["en"] == paper
    assert chosen.item("mfq2_27").provenance["en"].startswith("published")
    assert chosen.selected_options == {"item27": "paper"}
    assert chosen.content_hash != default.content_hash
    assert instruments.get("mfq2", options={"item27": "official"}).content_hash == default.content_hash
    # every other item is untouched
    assert [i.text for i in chosen.items if i.id != "mfq2_27"] == [
        i.text for i in default.items if i.id != "mfq2_27"
    ]


def test_wvs7_has_q177_to_q195_with_codebook_labels_and_1_to_10_scale() -> None:
    wvs = instruments.get("wvs7")
    golden = pd.read_csv(GOLDEN / "wvs7_items_en.csv")
    assert wvs.item_ids == tuple(f"Q{n}" for n in range(177, 196)) == tuple(golden["item"])
    for row in golden.itertuples():
        item = wvs.item(row.item)
        assert (item.text["en"], item.label) == (row.text, row.label)
        assert item.dimension == item.id  # each WVS item is its own group
    assert wvs.dimensions == wvs.item_ids
    assert wvs.scale.points == tuple(range(1, 11))
    assert wvs.scale.label(1, "en") == "Never justifiable"
    assert wvs.scale.label(10, "en") == "Always justifiable"
    assert wvs.scale.label(5, "en") is None
    assert wvs.scale.label(10, "zh") == "总是合理"


def test_ai_values_has_25_values_five_per_dimension_with_the_poster_names() -> None:
    ai = instruments.get("ai_values")
    assert ai.kind == "ranking"
    assert ai.dimensions == AI_DIMENSIONS
    assert len(ai.items) == 25
    assert Counter(item.dimension for item in ai.items) == dict.fromkeys(AI_DIMENSIONS, 5)
    for item_id, (name, dimension) in POSTER_VALUES.items():
        assert (ai.item(item_id).text["en"], ai.item(item_id).dimension) == (name, dimension)
        assert "seed 000" in ai.item(item_id).provenance["en"]
    assert {"pleasure", "meaning"} <= set(ai.item_ids)
    for item in ai.items:
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", item.id)
        assert item.definition is not None
        assert item.definition["en"].endswith(".") and item.definition["zh"].endswith("。")
        if item.id not in POSTER_VALUES:
            assert "operationalization" in item.provenance["en"]
    assert ai.operationalization
    assert ai.rationale is not None and "operationalization" in ai.rationale["en"]
    assert "operationalization" in ai.citation


@pytest.mark.parametrize("language", ["en", "zh"])
def test_ai_value_names_are_unique_and_none_contains_another(language: str) -> None:
    # The ranking parser matches names tolerantly; a name inside another would make matches ambiguous.
    names = [item.text[language].casefold() for item in instruments.get("ai_values").items]
    assert len(set(names)) == 25
    for a in names:
        assert [b for b in names if a != b and a in b] == []


@pytest.mark.parametrize("instrument_id", ["mfq2", "wvs7", "ai_values"])
def test_every_item_has_english_and_chinese_text_with_provenance(instrument_id: str) -> None:
    inst = instruments.get(instrument_id)
    for item in inst.items:
        assert item.text["en"].strip() == item.text["en"] and item.text["en"]
        assert CJK.search(item.text["zh"]), item.id
        assert not re.search(r"[A-Za-z]", item.text["zh"]), item.id
        assert not CJK.search(item.text["en"]), item.id
        assert item.provenance["zh"] == "project translation"
    for label in inst.scale.labels:
        assert CJK.search(label.text["zh"])


def test_text_lookup_by_language_tag_and_unknown_language() -> None:
    item = instruments.get("mfq2").items[0]
    assert item.text["zh"] == item.text.zh == item.text.get("zh")
    assert item.text.languages == ("en", "zh") and "zh" in item.text and "fr" not in item.text
    with pytest.raises(KeyError, match="unknown language 'fr'; valid: en, zh"):
        item.text["fr"]
    with pytest.raises(KeyError, match="unknown language 'xx-yy-zz'"):
        item.text["xx-yy-zz"]


def test_instruments_are_frozen() -> None:
    from pydantic import ValidationError

    mfq2 = instruments.get("mfq2")
    with pytest.raises(ValidationError):
        mfq2.version = "x"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        mfq2.items[0].text.en = "x"  # type: ignore[misc]


def test_items_table_has_one_row_per_item_and_fixed_columns() -> None:
    table = instruments.items_table(instruments.get("mfq2"))
    assert tuple(table.columns) == instruments.ITEM_COLUMNS
    assert len(table) == 36
    assert table["column"].notna().all()
    assert table.loc[26, "text_en"].startswith("In a fair society, I want")
