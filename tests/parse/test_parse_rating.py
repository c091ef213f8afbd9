"""parse_rating: table tests of real-looking answers and hypothesis properties."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from valuesurvey import instruments
from valuesurvey.elicit.parse import ParsedAnswer, parse_rating

MFQ_LABELS = {
    1: ["Does not describe me at all", "完全不符合"],
    2: ["Slightly describes me", "有点符合"],
    3: ["Moderately describes me", "中等程度符合"],
    4: ["Describes me fairly well", "比较符合"],
    5: ["Describes me extremely well", "非常符合"],
}
WVS_LABELS = {1: ["Never justifiable", "从不合理"], 10: ["Always justifiable", "总是合理"]}


def mfq(text: str | None, **kwargs: object) -> ParsedAnswer:
    return parse_rating(text, scale_min=1, scale_max=5, labels=MFQ_LABELS, **kwargs)  # type: ignore[arg-type]


def wvs(text: str | None, **kwargs: object) -> ParsedAnswer:
    return parse_rating(text, scale_min=1, scale_max=10, labels=WVS_LABELS, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------- ok answers, English and Chinese

OK_MFQ = [
    ("4", 4),
    ("4\n", 4),
    (" 4 ", 4),
    ("４", 4),  # full-width digit
    ("四", 4),  # Chinese numeral
    ("我选4", 4),
    ("我选择四。", 4),
    ("我的回答是：5", 5),
    ("答案：五", 5),
    ("4分", 4),
    ("我会给4分。", 4),
    ("4分（满分5分）", 4),
    ("**4**", 4),
    ("__4__", 4),
    ("`3`", 3),
    ("## 2", 2),
    ("5/5", 5),
    ("4 / 5", 4),
    ("4 out of 5", 4),
    ("I'd say 4.", 4),
    ("I\u2019d say 4", 4),  # curly apostrophe
    ("Rating: 4", 4),
    ("rating: **2**", 2),
    ("Answer: 3", 3),
    ("My answer is 1.", 1),
    ("4.", 4),
    ("4: Describes me fairly well", 4),
    ("4 - Describes me fairly well", 4),
    ("4 (Describes me fairly well)", 4),
    ("Describes me fairly well", 4),
    ("Describes me fairly well.", 4),
    ("It does not describe me at all.", 1),
    ("比较符合", 4),
    ("On a scale of 1 to 5, I would rate this a 4.", 4),
    ("From 1-5, I'd pick 2", 2),
    ("4. I believe compassion for those who suffer is very important.", 4),
    ("5\n\nCaring for people who have suffered is a virtue I strongly hold.", 5),
    ("As an AI I don't have personal opinions, but I'd say 4.", 4),
    ("<think>Maybe 2 or 3... the statement is about elders.</think>\n3", 3),
    ("GPT-4 would answer 3", 3),
    ("作为一个人工智能，我没有个人观点，但我会选择3。", 3),
    ("5 out of 5", 5),
]


@pytest.mark.parametrize(("text", "value"), OK_MFQ)
def test_ok_answers_on_the_mfq2_scale(text: str, value: int) -> None:
    parsed = mfq(text)
    assert (parsed.status, parsed.value) == ("ok", value), parsed.reason


OK_WVS = [
    ("10", 10),
    ("十", 10),
    ("10/10", 10),
    ("7 out of 10", 7),
    ("1 (never justifiable)", 1),
    ("Never justifiable.", 1),
    ("我选十。", 10),
    ("我的回答：十分", 10),
    ("On a scale of 1 (never justifiable) to 10 (always justifiable), I'd say 3.", 3),
    ("1 to 10: 6", 6),
]


@pytest.mark.parametrize(("text", "value"), OK_WVS)
def test_ok_answers_on_the_wvs_scale(text: str, value: int) -> None:
    parsed = wvs(text)
    assert (parsed.status, parsed.value) == ("ok", value), parsed.reason


# ---------------------------------------------------------------- invalid and refusals

INVALID_MFQ = [
    ("", "empty"),
    ("   \n ", "empty"),
    (None, "empty"),
    ("3 or 4", "ambiguous"),
    ("3或4", "ambiguous"),
    ("3-4", "ambiguous"),
    ("3–4", "ambiguous"),
    ("3 to 4", "ambiguous"),
    ("between 3 and 4", "ambiguous"),
    ("3/4", "ambiguous"),
    ("1\n3", "ambiguous"),
    ("I'd say 2, maybe 3", "ambiguous"),
    ("8/10", "another scale"),
    ("7 out of 10", "another scale"),
    ("4分（满分10分）", "another scale"),
    ("4.5", "not a scale point"),
    ("3.5 out of 5", "not a scale point"),
    ("0", "out of range"),
    ("6", "out of range"),
    ("-1", "out of range"),
    ("10", "out of range"),
    ("Rating: 7", "out of range"),
    ("4 - Moderately describes me", "disagree"),
    ("1: Does not describe me at all\n2: Slightly describes me\n3: Moderately", "labels"),
    ("1. \n2. \n3.", "options"),
    ("<think>The statement is about 2 things", "reasoning"),
]


@pytest.mark.parametrize(("text", "why"), INVALID_MFQ)
def test_invalid_answers_name_the_rule(text: str | None, why: str) -> None:
    parsed = mfq(text)
    assert parsed.status == "invalid" and parsed.value is None, parsed
    assert why in parsed.reason


# No rating and no refusal: prose that neither answers on the scale nor declines.
NONSENSE_MFQ = [
    ("I am not sure", "no rating"),
    ("我十分同意", "no rating"),  # 十分 = "very much", not ten
    ("四分之一", "no rating"),  # a quarter
    ("The statement is about caring.", "no rating"),
    ("合理", "no rating"),
]


@pytest.mark.parametrize(("text", "why"), NONSENSE_MFQ)
def test_nonsense_is_neither_a_rating_nor_a_refusal(text: str, why: str) -> None:
    parsed = mfq(text)
    assert (parsed.status, parsed.value) == ("nonsense", None), parsed
    assert why in parsed.reason


REFUSALS = [
    "As an AI, I don't have personal opinions.",
    "As an AI language model, I do not have personal beliefs or feelings.",
    "I cannot provide a personal rating for this statement.",
    "I can't answer that.",
    "I'm not able to provide personal opinions.",
    "I'm sorry, but I can't rate moral questions on a scale of 1 to 10.",
    "I'm unable to share personal views on abortion.",
    "I would prefer not to answer this question.",
    "我无法回答这个问题。",
    "我无法对此进行评分。",
    "作为一个人工智能，我没有个人观点。",
    "作为AI助手，我不能提供个人意见。",
    "抱歉，我不能回答。",
    "I cannot choose between 3 and 4 as an AI.",
]


@pytest.mark.parametrize("text", REFUSALS)
def test_refusals(text: str) -> None:
    parsed = wvs(text)
    assert (parsed.status, parsed.value) == ("refusal", None), parsed


@pytest.mark.parametrize("finish_reason", ["content_filter", "safety", "SAFETY", "refusal"])
def test_filter_finish_reasons_are_refusals_whatever_the_text(finish_reason: str) -> None:
    parsed = wvs("5", finish_reason=finish_reason)
    assert parsed.status == "refusal" and finish_reason in parsed.reason


def test_ordinary_finish_reasons_do_not_change_the_answer() -> None:
    assert wvs("5", finish_reason="stop").value == 5
    assert wvs("5", finish_reason="length").value == 5


def test_labels_are_optional_and_digits_inside_labels_are_not_ratings() -> None:
    assert parse_rating("Describes me fairly well", scale_min=1, scale_max=5).status == "nonsense"
    labels = {1: ["1 star"], 2: ["2 stars"]}
    assert parse_rating("2 stars", scale_min=1, scale_max=2, labels=labels).value == 2


def test_a_negated_label_does_not_count() -> None:
    assert wvs("It is not always justifiable").status == "nonsense"


def test_a_reversed_scale_is_a_usage_error() -> None:
    with pytest.raises(ValueError, match="scale_min 5 is greater than scale_max 1"):
        parse_rating("3", scale_min=5, scale_max=1)


# ---------------------------------------------------------------- what SmolLM2-135M-Instruct says
# Verbatim answers of the real model (llama.cpp, temperature 1, max_tokens 16) to the paper's MFQ-2 and
# WVS prompts built by valuesurvey.instruments, collected while writing this parser; the live check is
# tests/parse/test_local_server.py. (instrument, text, finish_reason, status, value)

SMOLLM2_ANSWERS = [
    ("mfq2", "4", "stop", "ok", 4),
    ("mfq2", "3. Slightly describes me", "stop", "ok", 3),  # the number wins over a mismatched label text
    ("mfq2", "3. Moderately describes me", "stop", "ok", 3),
    (
        "mfq2",
        "4.\nThe original statement is not entirely accurate and is based on a linguistic",
        "length",
        "ok",
        4,
    ),
    ("mfq2", "1\n3", "stop", "invalid", None),
    ("mfq2", "1\nWe need to learn from our elders.\n2\nLearning from our", "length", "invalid", None),
    ("mfq2", "1: Yes\n2: No", "stop", "invalid", None),
    ("mfq2", "5. I believe chastity is an important virtue.", "stop", "ok", 5),
    ("mfq2", "I believe chastity is an important virtue.", "stop", "nonsense", None),
    ("mfq2", "S1: It's a fact. The oldest person you've ever met,", "length", "nonsense", None),
    ("mfq2", "1\nThe answer is 1", "stop", "ok", 1),
    ("mfq2", "系穴苦难的人是一", "length", "invalid", None),  # cut off inside 一个/一种
    ("mfq2", "1\n完全不符合我，选", "length", "ok", 1),
    ("mfq2", "默认是稍微符合", "stop", "nonsense", None),
    ("wvs7", "10, 11, 12, 13, ", "length", "invalid", None),
    (
        "wvs7",
        "10, Homosexuality\n\nHomosexuality is considered an immoral behavior and is",
        "length",
        "ok",
        10,
    ),
    ("wvs7", "1 (not justifiable)", "stop", "ok", 1),
    ("wvs7", "你能在1（绝不合理）到10", "length", "nonsense", None),  # restates the scale, no answer
    ("wvs7", "On a scale of 1 (never justifiable) to 5 (always", "length", "nonsense", None),
    (
        "wvs7",
        "2 to 4 (always justifiable). The death penalty is a highly controversial",
        "length",
        "invalid",
        None,
    ),
    ("wvs7", "(I'm an AI assistant, so my response is a single sentence. Here", "length", "refusal", None),
    ("wvs7", "你离不开1000人以内", "length", "invalid", None),
    ("wvs7", "10 + 11 = 22 \n他们", "length", "invalid", None),
    ("wvs7", "什乱\n1－3、2－3\nTrue", "stop", "invalid", None),
    ("wvs7", "No.", "stop", "nonsense", None),
]


@pytest.mark.parametrize(("instrument", "text", "finish_reason", "status", "value"), SMOLLM2_ANSWERS)
def test_real_smollm2_answers(
    instrument: str, text: str, finish_reason: str, status: str, value: int | None
) -> None:
    high = 5 if instrument == "mfq2" else 10
    parsed = parse_rating(text, scale_min=1, scale_max=high, finish_reason=finish_reason)
    assert (parsed.status, parsed.value) == (status, value), parsed.reason


@pytest.mark.parametrize(
    ("text", "high", "status", "value"),
    [
        ("1", 10, "invalid", None),  # may be the first digit of 10
        ("The answer is 1", 10, "invalid", None),
        ("4", 5, "ok", 4),  # one more digit would leave the scale: complete
        ("9", 10, "ok", 9),
        ("我选四", 5, "invalid", None),  # a final Chinese numeral may start a word
        ("4\nbecause I think", 5, "ok", 4),
    ],
)
def test_truncated_answers(text: str, high: int, status: str, value: int | None) -> None:
    parsed = parse_rating(text, scale_min=1, scale_max=high, finish_reason="length")
    assert (parsed.status, parsed.value) == (status, value), parsed.reason


# ---------------------------------------------------------------- properties

SCALES = st.sampled_from([(1, 5), (1, 10), (0, 10), (1, 7)])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.text(max_size=200), scale=SCALES, finish=st.none() | st.sampled_from(["stop", "length"]))
@example(text="10", scale=(1, 5), finish=None)
@example(text="十一", scale=(1, 10), finish=None)
@example(text="-0", scale=(1, 5), finish=None)
@example(text="1. Cheating on taxes…", scale=(1, 10), finish=None)
@example(text="4: This sentence is quite complex…", scale=(1, 10), finish=None)
@example(text="从1（", scale=(1, 10), finish="length")
@example(text="a scale of 10 can", scale=(1, 10), finish=None)
def test_never_crashes_and_never_out_of_range(text: str, scale: tuple[int, int], finish: str | None) -> None:
    low, high = scale
    parsed = parse_rating(text, scale_min=low, scale_max=high, finish_reason=finish, labels=MFQ_LABELS)
    assert parsed.status in {"ok", "refusal", "invalid", "nonsense"}
    assert isinstance(parsed.reason, str) and parsed.reason
    if parsed.status == "ok":
        assert isinstance(parsed.value, int) and low <= parsed.value <= high
    else:
        assert parsed.value is None


DIGIT_TEXTS = st.text(alphabet=st.sampled_from("0123456789 ./-:，。分十四一或or\n*"), max_size=30)


@settings(max_examples=300, deadline=None)
@given(text=DIGIT_TEXTS, scale=SCALES)
def test_number_heavy_noise_never_out_of_range(text: str, scale: tuple[int, int]) -> None:
    low, high = scale
    parsed = parse_rating(text, scale_min=low, scale_max=high)
    assert parsed.value is None or low <= parsed.value <= high


FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
CN_NUMERALS = {1: "一", 2: "二", 3: "三", 4: "四", 5: "五", 6: "六", 7: "七", 8: "八", 9: "九", 10: "十"}
PHRASINGS = [
    "{n}",
    "{n}.",
    "**{n}**",
    "Rating: {n}",
    "I'd say {n}.",
    "I would rate this {n}.",
    "My answer is {n}",
    "{n}/{max}",
    "{n} out of {max}",
    "{n}\n\nThis reflects my view.",
    "On a scale of {min} to {max}, I'd choose {n}.",
    "我选{n}",
    "我的回答是{n}。",
    "{n}分",
    "答案：{n}",
    "{fw}",
    "我选{cn}",
    "{cn}分",
    "As an AI I have no personal opinions, but I would say {n}.",
    "<think>Let me think about it.</think>{n}",
]


@settings(max_examples=300, deadline=None)
@given(scale=SCALES, data=st.data(), phrasing=st.sampled_from(PHRASINGS))
def test_generated_valid_answers_round_trip(
    scale: tuple[int, int], data: st.DataObject, phrasing: str
) -> None:
    low, high = scale
    value = data.draw(st.integers(low, high))
    if "{cn}" in phrasing and value not in CN_NUMERALS:
        value = max(low, 1)
    text = phrasing.format(
        n=value, max=high, min=low, fw=str(value).translate(FULL_WIDTH), cn=CN_NUMERALS.get(value, "")
    )
    parsed = parse_rating(text, scale_min=low, scale_max=high)
    assert (parsed.status, parsed.value) == ("ok", value), (text, parsed.reason)


@settings(max_examples=200, deadline=None)
@given(scale=SCALES, data=st.data(), joiner=st.sampled_from([" or ", "-", " to ", "或", ", maybe ", "\n"]))
def test_two_different_ratings_are_never_ok(scale: tuple[int, int], data: st.DataObject, joiner: str) -> None:
    low, high = scale
    first = data.draw(st.integers(low, high))
    second = data.draw(st.integers(low, high).filter(lambda v: v != first))
    if joiner in {"-", " to "} and {first, second} == {low, high}:
        return  # "1-5" restates the scale; it is not an answer (covered by the table tests)
    parsed = parse_rating(f"{first}{joiner}{second}", scale_min=low, scale_max=high)
    assert parsed.status == "invalid" and "ambiguous" in parsed.reason, parsed


# ---------------------------------------------------------------- echoes, list numbering, scale names
# Mis-parses found with real models (issue 13): a leading "1." or "4:" that numbers a list or heads an
# echo of the prompt, and the scale's own numbers, are not ratings.

WVS = instruments.get("wvs7")
MFQ = instruments.get("mfq2")


def prompt_of(inst, item: str, language: str = "en", persona: str = "none") -> str:
    return "\n".join(m["content"] for m in instruments.build_messages(inst, item, language, persona))


MISPARSES = [
    ("1. Cheating on taxes if you have a chance", "Q180", "en", "stop"),
    ("1. Cheating on taxes…", "Q180", "en", "stop"),
    ("1. Cheating on taxes if you have a chance\n\nCheating on taxes is a crime", "Q180", "en", "length"),
    ("4: This sentence is quite complex and hard to", "Q180", "en", "length"),
    ("从1（", "Q180", "zh", "length"),
    ("从1（绝不合理）到10（总是", "Q180", "zh", "length"),
    ("a scale of 10 can", "Q180", "en", "stop"),
    ("On a scale of 10 can you tell me", "Q180", "en", "length"),
    ("2. 一有机会就逃税", "Q180", "zh", "stop"),
]


@pytest.mark.parametrize(("text", "item", "language", "finish"), MISPARSES)
def test_list_numbering_echoes_and_scale_names_are_not_ratings(
    text: str, item: str, language: str, finish: str
) -> None:
    parsed = wvs(text, prompt=prompt_of(WVS, item, language), finish_reason=finish)
    assert parsed.value is None and parsed.status in {"nonsense", "invalid"}, parsed


def test_an_echoed_option_line_chooses_that_option_and_answers_after_an_echo_count() -> None:
    prompt = prompt_of(MFQ, "mfq2_01")
    assert mfq("4: Describes me fairly well", prompt=prompt).value == 4
    assert parse_rating("4: Describes me fairly well", scale_min=1, scale_max=5, prompt=prompt).value == 4
    echo = "On a scale of 1 (never justifiable) to 10 (always justifiable), I'd say 3."
    assert wvs(echo, prompt=prompt_of(WVS, "Q180")).value == 3
    assert wvs("10 (always justifiable)", prompt=prompt_of(WVS, "Q180")).value == 10
    # Without the prompt the parser cannot know that the statement is an echo.
    assert mfq("5. I believe chastity is an important virtue.").value == 5
    assert mfq("5. I believe chastity is an important virtue.", prompt=prompt_of(MFQ, "mfq2_12")).status == (
        "nonsense"
    )


@pytest.mark.parametrize(
    ("item", "text"),
    [  # verbatim SmolLM2 answers (WVS, en, persona cn, max_tokens 8)
        ("Q182", "1. Homosexuality\n2. Hom"),
        ("Q185", "1. Divorce\n2. Self"),
    ],
)
def test_a_numbered_list_is_not_a_rating(item: str, text: str) -> None:
    parsed = wvs(text, prompt=prompt_of(WVS, item, "en", "cn"), finish_reason="length")
    assert (parsed.status, parsed.value) == ("invalid", None) and "numbered list" in parsed.reason, parsed


@pytest.mark.parametrize(
    ("item", "text"),
    [  # verbatim SmolLM2 answers (WVS, en, max_tokens 8): the number rates, the words explain it
        ("Q179", "1. Stealing property is never just"),
        ("Q180", "1. Cheating on taxes is never"),
        ("Q186", "1. Never justifiable: Sex before"),  # the label of 1 (the scale labels are known)
    ],
)
def test_own_words_after_an_echo_make_the_number_an_answer(item: str, text: str) -> None:
    parsed = wvs(text, prompt=prompt_of(WVS, item), finish_reason="length")
    assert (parsed.status, parsed.value) == ("ok", 1), parsed


def test_colon_heading_versus_colon_answer() -> None:
    assert wvs("4: This sentence is quite complex").status == "nonsense"
    assert mfq("4: I strongly agree with it").value == 4
    assert mfq("4: because caring matters").value == 4


WVS_ITEMS = st.sampled_from(list(WVS.item_ids))
NUMBERINGS = st.sampled_from([". ", ": ", ") ", "、", ".\n", " . "])


@settings(max_examples=200, deadline=None)
@given(
    item=WVS_ITEMS,
    language=st.sampled_from(["en", "zh"]),
    number=st.integers(1, 10),
    numbering=NUMBERINGS,
    tail=st.text(alphabet=st.sampled_from(" .,;!?…"), max_size=5),
    next_lines=st.text(alphabet=st.sampled_from("abc xyz.,;!?\n"), max_size=30),
)
@example(item="Q180", language="en", number=1, numbering=". ", tail="…", next_lines="")  # issue 13
@example(item="Q180", language="zh", number=1, numbering="、", tail="", next_lines="")
def test_a_numbered_echo_of_the_statement_is_never_a_rating(
    item: str, language: str, number: int, numbering: str, tail: str, next_lines: str
) -> None:
    statement = WVS.item(item).text[language]
    text = f"{number}{numbering}{statement}{tail}\n{next_lines}"
    parsed = wvs(text, prompt=prompt_of(WVS, item, language))
    assert parsed.value is None, parsed


@settings(max_examples=300, deadline=None)
@given(
    item=WVS_ITEMS,
    language=st.sampled_from(["en", "zh"]),
    data=st.data(),
    phrasing=st.sampled_from(PHRASINGS),
)
@example(item="Q180", language="en", data=None, phrasing="{n}")  # type: ignore[arg-type]
def test_valid_answers_still_round_trip_when_the_prompt_is_known(
    item: str, language: str, data: st.DataObject | None, phrasing: str
) -> None:
    value = data.draw(st.integers(1, 10)) if data is not None else 10
    text = phrasing.format(
        n=value, max=10, min=1, fw=str(value).translate(FULL_WIDTH), cn=CN_NUMERALS.get(value, "")
    )
    parsed = wvs(text, prompt=prompt_of(WVS, item, language, "cn"))
    assert (parsed.status, parsed.value) == ("ok", value), (text, parsed.reason)


@settings(max_examples=300, deadline=None)
@given(
    scale=st.sampled_from([(1, 5), (1, 10), (0, 10)]),
    number=st.integers(min_value=0, max_value=120),
    pad=st.sampled_from(["", " ", "\n", " \n ", "\t"]),
    prompt=st.sampled_from([None, "On a scale of 1 to 10, where 1 means never and 10 means always: 3"]),
)
def test_a_bare_scale_point_is_decided_as_the_full_rules_decide(scale, number, pad, prompt) -> None:
    """parse_rating takes a short cut for an answer that is only a scale point; it must agree with
    the rules it skips."""
    from valuesurvey.elicit.parse import _decide_rating, _normalize

    text = f"{pad}{number}{pad}"
    quick = parse_rating(text, scale_min=scale[0], scale_max=scale[1], prompt=prompt)
    full = _decide_rating(_normalize(text), scale[0], scale[1], {}, False, prompt)
    assert quick == full
