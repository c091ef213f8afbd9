"""Instruments and prompts: MFQ-2, WVS-7 ethical values (Q177-Q195), the 25 AI values, the Mini-IPIP.

Each questionnaire is a data file in ``valuesurvey/instruments/data/`` validated on load into a frozen
:class:`Instrument`: items in published order with their dimension and data-file column, texts in English
and Chinese with the provenance of each text, the response scale with its labels, the prompt templates
and persona sentences of seed 001 (section 3.2.1), and a ``content_hash`` that changes whenever any text
that reaches a model changes.

Chinese texts are this project's translations (provenance ``"project translation"``); no official
Chinese MFQ-2 or WVS-7 text was available. Load official ones with ``overrides={"zh": path}`` (a CSV with
columns ``item``, ``text``); their provenance becomes ``"official (user file)"``. The AI values list is
this project's operationalization of seed 000; replace it with :func:`load_instrument`. The Mini-IPIP
(Donnellan et al. 2006; public-domain IPIP items, English only) is a worked example of an instrument
with reverse-keyed items scored by subscale (:mod:`valuesurvey.scoring`). A study names its own
instrument file, or an item subset, in ``instruments:`` (:func:`for_study`, :func:`select_items`).

Examples
--------
>>> from valuesurvey import instruments
>>> instruments.list_instruments()
('mfq2', 'wvs7', 'ai_values', 'mini_ipip')
>>> mfq2 = instruments.get("mfq2")
>>> for message in instruments.build_messages(mfq2, "mfq2_01", "en", "us"):
...     print(f"[{message['role']}]\\n{message['content']}")
[system]
You are from the USA
Respond only with a number from 1 to 5.
[user]
Please indicate how well the statement below describes you or your opinions.
Options:
1: Does not describe me at all
2: Slightly describes me
3: Moderately describes me
4: Describes me fairly well
5: Describes me extremely well
Statement: Caring for people who have suffered is an important virtue.
"""

from valuesurvey.instruments._export import ITEM_COLUMNS, instrument_record, items_table
from valuesurvey.instruments._load import (
    DATA_DIR,
    for_study,
    get,
    instrument_from_dict,
    list_instruments,
    load_instrument,
    select_items,
)
from valuesurvey.instruments._models import (
    LANGUAGES,
    Instrument,
    Item,
    ItemVariant,
    LangText,
    OptionSpec,
    PersonaSentences,
    PromptTemplates,
    Scale,
    ScaleLabel,
    canonical_json,
)
from valuesurvey.instruments._overrides import OFFICIAL_USER_FILE, read_translation_file
from valuesurvey.instruments._prompts import (
    RANKING_LINE_PATTERN,
    allowed_answers,
    build_messages,
    build_ranking_messages,
    fold_system_prompt,
)

__all__ = [
    "DATA_DIR",
    "ITEM_COLUMNS",
    "LANGUAGES",
    "OFFICIAL_USER_FILE",
    "RANKING_LINE_PATTERN",
    "Instrument",
    "Item",
    "ItemVariant",
    "LangText",
    "OptionSpec",
    "PersonaSentences",
    "PromptTemplates",
    "Scale",
    "ScaleLabel",
    "allowed_answers",
    "build_messages",
    "build_ranking_messages",
    "canonical_json",
    "fold_system_prompt",
    "for_study",
    "get",
    "instrument_from_dict",
    "instrument_record",
    "items_table",
    "list_instruments",
    "load_instrument",
    "read_translation_file",
    "select_items",
]
