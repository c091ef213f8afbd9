"""parse_ranking: tolerant matching, strict permutations; rating_distribution from top_logprobs."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from valuesurvey.elicit.parse import expected_value, parse_ranking, rating_distribution

# 25 ids in the shape of the AI-values instrument (the parser is generic over ids and names).
VALUES = [
    "helpfulness", "efficiency", "usability", "reliability", "productivity",
    "accuracy", "logic", "transparency", "objectivity", "curiosity",
    "harm_prevention", "human_rights", "privacy", "safety", "accountability",
    "empathy", "equity", "respect", "cooperation", "inclusiveness",
    "wellbeing", "emotional_expression", "pleasure", "meaning", "creativity",
]  # fmt: skip
ZH = {
    "helpfulness": "助人", "efficiency": "效率", "usability": "易用性", "reliability": "可靠性",
    "productivity": "生产力", "accuracy": "准确性", "logic": "逻辑", "transparency": "透明度",
    "objectivity": "客观性", "curiosity": "好奇心", "harm_prevention": "防止伤害", "human_rights": "人权",
    "privacy": "隐私", "safety": "安全", "accountability": "问责", "empathy": "同理心", "equity": "公平",
    "respect": "尊重", "cooperation": "合作", "inclusiveness": "包容", "wellbeing": "幸福感",
    "emotional_expression": "情感表达", "pleasure": "快乐", "meaning": "意义", "creativity": "创造力",
}  # fmt: skip
NAMES = {v: [v.replace("_", " ").title(), ZH[v]] for v in VALUES}


def english(value: str) -> str:
    return NAMES[value][0]


def test_numbered_markdown_list_with_explanations() -> None:
    order = list(reversed(VALUES))
    text = "Here is my ranking:\n\n" + "\n".join(
        f"{i}. **{english(v)}** – because it matters" for i, v in enumerate(order, 1)
    )
    parsed = parse_ranking(text, VALUES, names=NAMES)
    assert parsed.status == "ok", parsed.reason
    assert parsed.order == order


@pytest.mark.parametrize(
    "style",
    [
        "{i}. {name}",
        "{i}) {name}",
        "- {name}",
        "{i}、{name}",
        "#{i} {name}",
        "{i}. {name}: explanation",
        "{id}",
    ],
)
def test_many_list_styles(style: str) -> None:
    order = random.Random(4).sample(VALUES, len(VALUES))
    text = "\n".join(style.format(i=i, name=english(v), id=v) for i, v in enumerate(order, 1))
    parsed = parse_ranking(text, VALUES, names=NAMES)
    assert (parsed.status, parsed.order) == ("ok", order), parsed.reason


def test_chinese_names_and_full_width_numbering() -> None:
    order = random.Random(7).sample(VALUES, len(VALUES))
    digits = str.maketrans("0123456789", "０１２３４５６７８９")
    text = "\n".join(f"{str(i).translate(digits)}．{ZH[v]}" for i, v in enumerate(order, 1))
    parsed = parse_ranking(text, VALUES, names=NAMES)
    assert (parsed.status, parsed.order) == ("ok", order), parsed.reason


def test_one_line_comma_separated_with_underscores_and_case() -> None:
    order = random.Random(9).sample(VALUES, len(VALUES))
    text = ", ".join(v.upper() if i % 2 else v for i, v in enumerate(order))
    parsed = parse_ranking(text, VALUES)
    assert (parsed.status, parsed.order) == ("ok", order), parsed.reason


def test_numbers_give_the_order_when_lines_are_shuffled() -> None:
    order = VALUES[:]
    lines = [f"{i}. {english(v)}" for i, v in enumerate(order, 1)]
    random.Random(1).shuffle(lines)
    parsed = parse_ranking("\n".join(lines), VALUES, names=NAMES)
    assert parsed.order == order


def test_missing_duplicated_and_unknown_are_named() -> None:
    order = [*VALUES[:-1], "accuracy"]
    text = "\n".join(f"{i}. {english(v)}" for i, v in enumerate(order, 1)) + "\n26. Loyalty to the party"
    parsed = parse_ranking(text, VALUES, names=NAMES)
    assert parsed.status == "invalid" and parsed.order == []
    assert "missing creativity" in parsed.reason
    assert "duplicated accuracy" in parsed.reason
    assert "unknown 'Loyalty to the party'" in parsed.reason


def test_refusal_empty_and_filter() -> None:
    assert parse_ranking("I'm sorry, as an AI I cannot rank values.", VALUES).status == "refusal"
    assert parse_ranking("我无法对这些价值观进行排序。", VALUES).status == "refusal"
    assert parse_ranking("", VALUES).status == "invalid"
    assert parse_ranking(None, VALUES).reason == "empty answer"
    assert parse_ranking("1. accuracy", VALUES, finish_reason="content_filter").status == "refusal"
    assert parse_ranking("I like all of them.", VALUES).reason == "no value names found"


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300))
def test_ranking_never_crashes_and_ok_means_permutation(text: str) -> None:
    parsed = parse_ranking(text, VALUES[:5], names=NAMES)
    assert parsed.status in {"ok", "invalid", "refusal"}
    if parsed.status == "ok":
        assert sorted(parsed.order) == sorted(VALUES[:5])
    else:
        assert parsed.order == []


@settings(max_examples=100, deadline=None)
@given(
    order=st.permutations(VALUES), style=st.sampled_from(["{i}. {n}", "* {n}", "{i}) **{n}**", "{i}. {z}"])
)
def test_generated_rankings_round_trip(order: list[str], style: str) -> None:
    text = "\n".join(style.format(i=i, n=english(v), z=ZH[v]) for i, v in enumerate(order, 1))
    assert parse_ranking(text, VALUES, names=NAMES).order == list(order)


# ---------------------------------------------------------------- rating_distribution


def lp(token: str, p: float) -> dict[str, object]:
    return {"token": token, "logprob": math.log(p), "bytes": list(token.encode())}


def test_distribution_sums_variants_of_one_point_and_renormalises() -> None:
    top = [lp("4", 0.4), lp(" 4", 0.1), lp("４", 0.05), lp("5", 0.15), lp("The", 0.2), lp("9", 0.1)]
    dist = rating_distribution(top, scale_min=1, scale_max=5)
    assert dist is not None and list(dist) == [4, 5]
    assert dist[4] == pytest.approx(0.55 / 0.70)
    assert sum(dist.values()) == pytest.approx(1.0)
    assert expected_value(dist) == pytest.approx((4 * 0.55 + 5 * 0.15) / 0.70)


def test_distribution_handles_ten_as_one_token_and_chinese_numerals() -> None:
    dist = rating_distribution([lp("10", 0.5), lp("1", 0.25), lp("十", 0.25)], scale_min=1, scale_max=10)
    assert dist == pytest.approx({1: 0.25, 10: 0.75})


def test_distribution_none_without_scale_points_and_tolerates_junk() -> None:
    junk = [lp("I", 0.5), {"token": None, "logprob": -1.0}, {"token": "3", "logprob": float("nan")}, {}]
    assert rating_distribution(junk, scale_min=1, scale_max=5) is None
    assert rating_distribution(None, scale_min=1, scale_max=5) is None
    assert rating_distribution([], scale_min=1, scale_max=5) is None


def test_distribution_accepts_objects_with_attributes() -> None:
    class Entry:
        def __init__(self, token: str, logprob: float) -> None:
            self.token, self.logprob = token, logprob

    assert rating_distribution([Entry("2", -0.1)], scale_min=1, scale_max=5) == {2: 1.0}


def test_expected_value_rejects_an_empty_distribution() -> None:
    with pytest.raises(ValueError, match="positive total"):
        expected_value({})


@settings(max_examples=200, deadline=None)
@given(
    entries=st.lists(
        st.tuples(st.sampled_from(["1", " 2", "3", "4 ", "5", "６", "x", "10", "\n"]), st.floats(-30, 0)),
        max_size=20,
    )
)
def test_distribution_is_a_probability_over_the_scale(entries: list[tuple[str, float]]) -> None:
    dist = rating_distribution([{"token": t, "logprob": p} for t, p in entries], scale_min=1, scale_max=5)
    if dist is not None:
        assert set(dist) <= {1, 2, 3, 4, 5}
        assert sum(dist.values()) == pytest.approx(1.0)
        assert 1 <= expected_value(dist) <= 5


@pytest.mark.parametrize(
    "sub",
    [
        "   - because {other} depends on it",
        "  * {other} matters less",
        "\t• why: it protects people",
        "    It comes before {other}.",
        "- Reason: {other} follows from it",
    ],
)
def test_explanation_sub_bullets_under_numbered_entries_are_skipped(sub: str) -> None:
    order = random.Random(13).sample(VALUES, len(VALUES))
    lines = []
    for i, v in enumerate(order, 1):
        lines.append(f"{i}. **{english(v)}**")
        lines.append(sub.format(other=english(order[(i + 3) % len(order)])))
    parsed = parse_ranking("\n".join(lines), VALUES, names=NAMES)
    assert (parsed.status, parsed.order) == ("ok", order), parsed.reason


def test_a_bulleted_list_without_numbers_is_still_a_ranking() -> None:
    order = random.Random(14).sample(VALUES, len(VALUES))
    parsed = parse_ranking("\n".join(f"- {english(v)}" for v in order), VALUES, names=NAMES)
    assert (parsed.status, parsed.order) == ("ok", order), parsed.reason
