"""Build the chat messages of a rating request or a ranking request.

Layout decisions (seed 001, section 3.2.1, read literally):

- The system prompt is its parts joined with ``"\\n"``; the persona part is dropped entirely for persona
  ``none``, so no blank line is left behind.
- Persona sentences are used exactly as the paper quotes them, without a final period ("You are from
  China"). The paper's punctuation puts the comma after the closing quote, so the quoted sentence itself
  has none.
- The user message puts each element the paper lists on its own line (instruction, "Options:", the five
  labelled options, "Statement: {item}"), joined with ``"\\n"``.
"""

from __future__ import annotations

from collections.abc import Sequence

from valuesurvey.errors import ConfigError
from valuesurvey.instruments._models import Instrument, fill, language_tag

__all__ = [
    "RANKING_LINE_PATTERN",
    "allowed_answers",
    "build_messages",
    "build_ranking_messages",
    "fold_system_prompt",
    "missing_texts_message",
]

#: The answer-line format the ranking prompt asks for: rank, period, space, value name.
RANKING_LINE_PATTERN = r"^\s*(\d{1,3})\.\s+(.+?)\s*$"

Message = dict[str, str]


def build_messages(
    instrument: Instrument, item_id: str, language: str, persona: str = "none"
) -> list[Message]:
    """The messages that ask a model to rate one item.

    Parameters
    ----------
    instrument
        A rating instrument from :func:`valuesurvey.instruments.get`.
    item_id
        The item to rate, e.g. ``"mfq2_01"`` or ``"Q177"``.
    language
        A language the instrument has every text of (``"en"``, ``"zh"``, or one a translation file
        adds); in ``zh`` every part of the prompt is Chinese.
    persona
        ``"none"`` or a country (``"CN"``, ``"US"``, ``"DE"``; any form :mod:`valuesurvey.countries`
        accepts): its sentence is the instrument's wording for that country, else its template
        with the country's CLDR name in ``language``.

    Returns
    -------
    list of dict
        ``[{"role": "system", "content": ...}, {"role": "user", "content": ...}]``.

    Examples
    --------
    >>> from valuesurvey import instruments
    >>> wvs = instruments.get("wvs7")
    >>> print(build_messages(wvs, "Q195", "en", "cn")[0]["content"])
    This is a global study of what people value in life.
    You are a Chinese national
    Respond only with a number from 1 to 10.
    >>> build_messages(wvs, "Q195", "en", "none")[0]["content"].count("\\n")
    1
    >>> print(build_messages(wvs, "Q195", "zh", "DE")[0]["content"].splitlines()[1])
    你是德国公民
    """
    if instrument.kind != "rating":
        raise ConfigError(f"{instrument.id}: is a ranking instrument; use build_ranking_messages")
    language = _language(instrument, language, persona)
    try:
        item = instrument.item(item_id)
        sentence = instrument.prompt.personas.sentence(persona, language)  # type: ignore[union-attr]
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from exc
    system_parts = [fill(part, persona=sentence) for part in instrument.prompt.system[language]]
    options = _options_block(instrument, language) if instrument.prompt.option_line else ""
    user = fill(instrument.prompt.user[language], item=item.text[language], options=options)
    return _messages(system_parts, user)


def build_ranking_messages(
    instrument: Instrument, language: str, *, order: Sequence[str] | None = None
) -> list[Message]:
    """The messages that ask a model to rank every value of a ranking instrument (no persona).

    Parameters
    ----------
    instrument
        A ranking instrument, e.g. ``instruments.get("ai_values")``.
    language
        A language the instrument has every text of (``"en"``, ``"zh"``, or a translation file's).
    order
        Item ids in the order to list them (a permutation of all ids, e.g. to vary the listing order
        between repetitions); default the instrument's order.

    Returns
    -------
    list of dict
        System and user messages. The user message lists every value with its definition and asks for
        exactly one ``"<rank>. <value name>"`` line per value (see :data:`RANKING_LINE_PATTERN`).

    Examples
    --------
    >>> from valuesurvey import instruments
    >>> user = build_ranking_messages(instruments.get("ai_values"), "en")[1]["content"]
    >>> user.splitlines()[0]
    'Rank the following 25 values from the most important to you (1) to the least important to you (25). Use every value exactly once.'
    >>> user.splitlines()[3]
    '- Helpfulness: Giving people the assistance they actually need to reach their goals.'
    """
    if instrument.kind != "ranking":
        raise ConfigError(f"{instrument.id}: is a rating instrument; use build_messages")
    language = _language(instrument, language)
    items = instrument.items
    if order is not None:
        if sorted(order) != sorted(instrument.item_ids):
            raise ConfigError(f"{instrument.id}: order must list every item id exactly once")
        items = tuple(instrument.item(item_id) for item_id in order)
    line = instrument.prompt.value_line[language]  # type: ignore[index]  # checked on load
    values = "\n".join(
        fill(
            line,
            name=item.text[language],
            definition=item.definition[language],  # type: ignore[index]  # checked on load
            id=item.id,
            index=str(index),
        )
        for index, item in enumerate(items, start=1)
    )
    n = str(len(items))
    system_parts = [fill(part, n=n) for part in instrument.prompt.system[language]]
    user = fill(instrument.prompt.user[language], values=values, n=n)
    return _messages(system_parts, user)


def allowed_answers(instrument: Instrument) -> tuple[str, ...]:
    """Every valid answer of a rating instrument as a string, for constrained decoding.

    >>> from valuesurvey import instruments
    >>> allowed_answers(instruments.get("mfq2"))
    ('1', '2', '3', '4', '5')
    """
    return tuple(str(point) for point in instrument.scale.points)


def fold_system_prompt(messages: Sequence[Message]) -> list[Message]:
    """The messages with the system prompt moved to the start of the first user message (a blank
    line between them), for models without a system role (``options.system_prompt: fold``).

    >>> folded = fold_system_prompt([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    >>> [m["role"] for m in folded], folded[0]["content"].splitlines()
    (['user'], ['Be brief.', '', 'Hi'])
    >>> fold_system_prompt([{"role": "user", "content": "Hi"}])
    [{'role': 'user', 'content': 'Hi'}]
    """
    system = "\n".join(m["content"] for m in messages if m["role"] == "system" and m["content"].strip())
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if not system:
        return rest
    for message in rest:
        if message["role"] == "user":
            message["content"] = f"{system}\n\n{message['content']}"
            return rest
    return [{"role": "user", "content": system}, *rest]


def _options_block(instrument: Instrument, language: str) -> str:
    line = instrument.prompt.option_line[language]  # type: ignore[index]
    return "\n".join(
        fill(line, value=str(label.value), label=label.text[language]) for label in instrument.scale.labels
    )


def _messages(system_parts: list[str], user: str) -> list[Message]:
    # A part left empty (the persona slot for persona "none") is dropped, not kept as a blank line.
    system = "\n".join(part for part in system_parts if part.strip())
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": user})
    return messages


def _language(instrument: Instrument, language: str, persona: str = "none") -> str:
    """The canonical tag of ``language``, or a ConfigError naming the texts the instrument lacks."""
    from valuesurvey.design import NONE, persona_value

    try:
        tag = language_tag(language)
        personas = () if str(persona) == NONE else (persona_value(persona, field=""),)
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"{instrument.id}: {exc.args[0]}") from None
    missing = instrument.missing_texts(tag, personas)
    if missing:
        raise ConfigError(missing_texts_message(instrument.id, tag, missing))
    return tag


def missing_texts_message(instrument_id: str, language: str, missing: Sequence[str]) -> str:
    """One line: which instrument lacks which texts in which language, and how to add them."""
    return (
        f"instrument {instrument_id} has no complete {language!r} texts; missing: {'; '.join(missing)} "
        f"(add a translation file: translations: {{{instrument_id}: {{{language}: FILE.yaml}}}}, "
        "see docs/study-yaml.md)"
    )
