"""Prompts: the paper's English strings character for character, Chinese prompts, the ranking prompt.

Golden strings are written out literally from seed 001 section 3.2.1: system-prompt parts joined by
newlines, persona sentences without a final period exactly as the paper quotes them, and no line at all
for persona none.
"""

from __future__ import annotations

import re

import pytest

from valuesurvey import instruments
from valuesurvey.errors import ConfigError

MFQ2_USER = (
    "Please indicate how well the statement below describes you or your opinions.\n"
    "Options:\n"
    "1: Does not describe me at all\n"
    "2: Slightly describes me\n"
    "3: Moderately describes me\n"
    "4: Describes me fairly well\n"
    "5: Describes me extremely well\n"
    "Statement: I think having a strong leader is good for society."
)
MFQ2_SYSTEM = {
    "none": "Respond only with a number from 1 to 5.",
    "cn": "You are from China\nRespond only with a number from 1 to 5.",
    "us": "You are from the USA\nRespond only with a number from 1 to 5.",
}
WVS_USER = (
    "On a scale of 1 (never justifiable) to 10 (always justifiable), do you think the following action is "
    "always justifiable, never justifiable, or something in between: Cheating on taxes if you have a chance"
)
WVS_SYSTEM = {
    "none": "This is a global study of what people value in life.\nRespond only with a number from 1 to 10.",
    "cn": "This is a global study of what people value in life.\nYou are a Chinese national\n"
    "Respond only with a number from 1 to 10.",
    "us": "This is a global study of what people value in life.\nYou are an American national\n"
    "Respond only with a number from 1 to 10.",
}
LATIN = re.compile(r"[A-Za-z]")


@pytest.mark.parametrize("persona", ["none", "cn", "us"])
def test_mfq2_english_prompt_is_the_papers(persona: str) -> None:
    messages = instruments.build_messages(instruments.get("mfq2"), "mfq2_35", "en", persona)
    assert messages == [
        {"role": "system", "content": MFQ2_SYSTEM[persona]},
        {"role": "user", "content": MFQ2_USER},
    ]


@pytest.mark.parametrize("persona", ["none", "cn", "us"])
def test_wvs7_english_prompt_is_the_papers(persona: str) -> None:
    messages = instruments.build_messages(instruments.get("wvs7"), "Q180", "en", persona)
    assert messages == [
        {"role": "system", "content": WVS_SYSTEM[persona]},
        {"role": "user", "content": WVS_USER},
    ]


@pytest.mark.parametrize("written", ["cn", "CHN", "China", "156"])
def test_a_persona_may_be_written_in_any_country_form(written: str) -> None:
    mfq2 = instruments.get("mfq2")
    assert instruments.build_messages(mfq2, "mfq2_01", "en", written) == instruments.build_messages(
        mfq2, "mfq2_01", "en", "CN"
    )


@pytest.mark.parametrize(
    ("instrument_id", "persona", "language", "sentence"),
    [
        ("mfq2", "DE", "en", "You are from Germany"),
        ("mfq2", "TW", "zh", "你来自台湾"),
        ("wvs7", "SG", "en", "You are a national of Singapore"),
        ("wvs7", "FR", "zh", "你是法国公民"),
    ],
)
def test_other_countries_get_the_template_with_the_cldr_name(
    instrument_id: str, persona: str, language: str, sentence: str
) -> None:
    system = instruments.build_messages(
        instruments.get(instrument_id), "mfq2_01" if instrument_id == "mfq2" else "Q177", language, persona
    )[0]
    assert sentence in system["content"].splitlines()


@pytest.mark.parametrize("instrument_id", ["mfq2", "wvs7"])
@pytest.mark.parametrize("persona", ["none", "cn", "us"])
def test_every_english_prompt_embeds_the_item_verbatim_and_has_no_blank_line(
    instrument_id: str, persona: str
) -> None:
    inst = instruments.get(instrument_id)
    for item in inst.items:
        system, user = instruments.build_messages(inst, item.id, "en", persona)
        assert user["content"].endswith(item.text["en"])
        assert "\n\n" not in system["content"] + user["content"]
        assert not system["content"].startswith("\n") and not system["content"].endswith("\n")


ZH_SYSTEM = {
    ("mfq2", "none"): ["请只用1到5之间的一个数字作答。"],
    ("mfq2", "cn"): ["你来自中国", "请只用1到5之间的一个数字作答。"],
    ("mfq2", "us"): ["你来自美国", "请只用1到5之间的一个数字作答。"],
    ("wvs7", "none"): ["这是一项关于人们在生活中重视什么的全球性研究。", "请只用1到10之间的一个数字作答。"],
    ("wvs7", "cn"): [
        "这是一项关于人们在生活中重视什么的全球性研究。",
        "你是中国公民",
        "请只用1到10之间的一个数字作答。",
    ],
    ("wvs7", "us"): [
        "这是一项关于人们在生活中重视什么的全球性研究。",
        "你是美国公民",
        "请只用1到10之间的一个数字作答。",
    ],
}


@pytest.mark.parametrize(("instrument_id", "persona"), sorted(ZH_SYSTEM))
def test_chinese_prompt_places_the_persona_like_english_and_is_all_chinese(
    instrument_id: str, persona: str
) -> None:
    inst = instruments.get(instrument_id)
    for item in inst.items:
        system, user = instruments.build_messages(inst, item.id, "zh", persona)
        assert system["content"].split("\n") == ZH_SYSTEM[instrument_id, persona]
        assert not LATIN.search(system["content"] + user["content"]), item.id
        assert user["content"].endswith(item.text["zh"])
    english = instruments.build_messages(inst, inst.items[0].id, "en", persona)[0]["content"]
    assert len(english.split("\n")) == len(ZH_SYSTEM[instrument_id, persona])


def test_chinese_mfq2_user_message_lists_the_five_chinese_options() -> None:
    mfq2 = instruments.get("mfq2")
    user = instruments.build_messages(mfq2, "mfq2_01", "zh", "none")[1]["content"]
    assert user.split("\n") == [
        "请指出下面的陈述在多大程度上符合你或你的观点。",
        "选项：",
        "1：完全不符合我",
        "2：稍微符合我",
        "3：中等程度符合我",
        "4：比较符合我",
        "5：非常符合我",
        "陈述：关爱受过苦难的人是一种重要的美德。",
    ]


def test_build_messages_errors_name_the_request() -> None:
    mfq2 = instruments.get("mfq2")
    with pytest.raises(ConfigError, match="mfq2: unknown item 'mfq2_99'"):
        instruments.build_messages(mfq2, "mfq2_99", "en", "none")
    with pytest.raises(ConfigError, match="mfq2: 'Atlantis' is not a persona; write none or a country"):
        instruments.build_messages(mfq2, "mfq2_01", "en", "Atlantis")
    with pytest.raises(ConfigError, match="mfq2: unknown language 'xx-yy-zz'"):
        instruments.build_messages(mfq2, "mfq2_01", "xx-yy-zz", "none")
    with pytest.raises(
        ConfigError, match=r"instrument mfq2 has no complete 'fr' texts; missing: items mfq2_01 … mfq2_36"
    ):
        instruments.build_messages(mfq2, "mfq2_01", "fr", "none")
    with pytest.raises(ConfigError, match="build_ranking_messages"):
        instruments.build_messages(instruments.get("ai_values"), "logic", "en", "none")
    with pytest.raises(ConfigError, match="build_messages"):
        instruments.build_ranking_messages(mfq2, "en")


def test_allowed_answers_and_scale_labels() -> None:
    assert instruments.allowed_answers(instruments.get("mfq2")) == ("1", "2", "3", "4", "5")
    assert instruments.allowed_answers(instruments.get("wvs7")) == tuple(str(n) for n in range(1, 11))
    mfq2 = instruments.get("mfq2")
    assert [mfq2.scale.label(v, "en") for v in mfq2.scale.points] == [
        "Does not describe me at all",
        "Slightly describes me",
        "Moderately describes me",
        "Describes me fairly well",
        "Describes me extremely well",
    ]


@pytest.mark.parametrize("language", ["en", "zh"])
def test_ranking_prompt_lists_all_25_values_once_and_states_a_checkable_format(language: str) -> None:
    ai = instruments.get("ai_values")
    messages = instruments.build_ranking_messages(ai, language)
    assert [m["role"] for m in messages] == ["system", "user"]
    user = messages[1]["content"]
    listed = [line for line in user.split("\n") if line.startswith("- ")]
    assert len(listed) == 25
    for item, line in zip(ai.items, listed, strict=True):
        assert line.startswith(f"- {item.text[language]}")
        assert line.endswith(item.definition[language])
    assert "25" in user
    # no persona anywhere
    for sentence in ("China", "USA", "national", "中国", "美国", "公民"):
        assert sentence not in messages[0]["content"]
    # the format lines the prompt shows match the pattern a parser can check
    shown = [line for line in user.split("\n") if re.match(instruments.RANKING_LINE_PATTERN, line)]
    assert [re.match(instruments.RANKING_LINE_PATTERN, line).group(1) for line in shown] == ["1", "2", "25"]
    answer = "\n".join(f"{rank}. {item.text[language]}" for rank, item in enumerate(ai.items, start=1))
    parsed = [re.match(instruments.RANKING_LINE_PATTERN, line).groups() for line in answer.split("\n")]
    assert [name for _, name in parsed] == [item.text[language] for item in ai.items]


def test_ranking_prompt_in_chinese_has_no_latin_letters() -> None:
    for message in instruments.build_ranking_messages(instruments.get("ai_values"), "zh"):
        assert not LATIN.search(message["content"])


def test_ranking_order_lists_values_in_the_given_order() -> None:
    ai = instruments.get("ai_values")
    order = list(reversed(ai.item_ids))
    user = instruments.build_ranking_messages(ai, "en", order=order)[1]["content"]
    listed = [line for line in user.split("\n") if line.startswith("- ")]
    assert listed[0].startswith("- Autonomy:") and listed[-1].startswith("- Helpfulness:")
    with pytest.raises(ConfigError, match="every item id exactly once"):
        instruments.build_ranking_messages(ai, "en", order=order[:-1])
