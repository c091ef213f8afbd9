"""The study design as data: countries, languages, personas and origins read from study.yaml.

One place (``Study.design``) holds the countries with their survey languages, the prompt languages,
the personas, and the pairing participants' country ↔ prompt language; bad values fail at load with
one line naming the field and the valid forms; a language is usable once a translation file gives
every string its prompts need.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from valuesurvey import instruments
from valuesurvey.elicit import plan_study
from valuesurvey.errors import ConfigError
from valuesurvey.study import load_study

DATA = Path(__file__).parent / "data"
GOOD = "name: demo\ninstruments: [wvs7]\nmodels:\n  - id: sim-cn-01\n"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_default_design_is_the_papers(tmp_path: Path) -> None:
    design = load_study(write(tmp_path, GOOD)).design
    assert design.codes == ("CN", "US")
    assert design.languages == ("en", "zh")
    assert design.personas == ("none", "CN", "US")
    assert design.pairing == {"CN": "zh", "US": "en"}
    assert design.coding_sentence("nationality", ["CN", "US"]).startswith("nationality half-sum coded")


def test_countries_in_any_form_with_survey_languages_and_names(tmp_path: Path) -> None:
    text = GOOD + (
        "countries: [CHN, USA, {code: TWN, languages: [zh-Hant], name: Taiwan}, {code: '702', languages: [en]}]\n"
        "personas: [none, cn, TW, Singapore]\n"
    )
    design = load_study(write(tmp_path, text)).design
    assert design.codes == ("CN", "US", "TW", "SG")
    assert design.personas == ("none", "CN", "TW", "SG")
    # Taiwan's zh-Hant participants are paired with the zh prompts, Singapore's with en.
    assert design.pairing == {"CN": "zh", "US": "en", "TW": "zh", "SG": "en"}
    assert design.reference == "SG"
    assert design.name("TW") == "Taiwan"
    sentence = design.coding_sentence("origin", design.origin_levels(["CN", "US", "TW", "SG", "FR"]))
    assert "Singapore as the reference level" in sentence


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "countries: [CN, XX]\n",
            r"study.yaml: field countries\.1\.code: Value error, unknown country 'XX'; write an ISO 3166",
        ),
        (
            "personas: [none, DE]\n",
            r"field personas: Value error, personas\[1\]: 'DE' is not a country of the study; "
            r"valid: none, CN, US \(add DE to countries\)",
        ),
        (
            "personas: [none, Atlantis]\n",
            r"field personas: Value error, personas\[1\]: 'Atlantis' is not a persona; write none or a country",
        ),
    ],
)
def test_bad_countries_and_personas_fail_in_one_line(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        load_study(write(tmp_path, GOOD + extra))
    assert "\n" not in str(info.value)


def test_origins_are_any_country_none_or_a_company(tmp_path: Path) -> None:
    text = (
        "name: demo\ninstruments: [wvs7]\nmodels:\n"
        "  - {id: sim-fr, provider: simulated, origin: FRA}\n"
        "  - {id: sim-none, provider: simulated, origin: none}\n"
        "  - {id: sim-co, provider: simulated, origin: company, company: Example AI}\n"
    )
    study = load_study(write(tmp_path, text))
    assert [m.origin for m in study.models] == ["FR", "none", "company"]
    plan = plan_study(study)
    assert [mp.model.origin for mp in plan.models] == ["FR", "none", "company:Example AI"]
    assert study.design.name("company:Example AI") == "Example AI (company)"
    with pytest.raises(
        ConfigError, match=r"field models\.0\.origin: Value error, 'Atlantis' is not a country or none"
    ) as info:
        load_study(
            write(tmp_path, "name: demo\nmodels:\n  - {id: sim-x, provider: simulated, origin: Atlantis}\n")
        )
    assert "\n" not in str(info.value) and "none (no country) or company" in str(info.value)


def test_a_language_without_texts_fails_at_load_listing_the_missing_strings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_study(write(tmp_path, GOOD + "languages: [en, de]\n"))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(
        f"{tmp_path / 'study.yaml'}: field languages: instrument wvs7 has no complete 'de' texts"
    )
    assert (
        "items Q177 … Q195 (19 of 19 texts); scale.labels 1 … 10 (2 of 2); prompt.system; prompt.user"
        in message
    )
    assert "prompt.personas.template" in message


def test_a_translation_file_adds_a_language_and_elicits_german_prompts(tmp_path: Path) -> None:
    shutil.copy(DATA / "wvs7_de.yaml", tmp_path / "wvs7_de.yaml")
    study = load_study(
        write(tmp_path, GOOD + "languages: [en, de]\ntranslations: {wvs7: {de: wvs7_de.yaml}}\n")
    )
    german = [r for r in plan_study(study).models[0].ratings if r.language == "de"]
    assert len(german) == 19 * 3 * study.repetitions  # items x personas none, CN, US
    q177_cn = next(r for r in german if r.item == "Q177" and r.persona == "CN" and r.rep == 0)
    assert list(q177_cn.request.messages) == [
        {
            "role": "system",
            "content": "Dies ist eine weltweite Studie darüber, was Menschen im Leben wichtig ist.\n"
            "Du bist Staatsangehörige(r) von China\n"
            "Antworte nur mit einer Zahl von 1 bis 10.",
        },
        {
            "role": "user",
            "content": "Auf einer Skala von 1 (niemals gerechtfertigt) bis 10 (immer gerechtfertigt): Ist die "
            "folgende Handlung deiner Meinung nach immer gerechtfertigt, niemals gerechtfertigt oder etwas "
            "dazwischen: Staatliche Leistungen in Anspruch nehmen, auf die man keinen Anspruch hat",
        },
    ]
    # The English prompts are the paper's, unchanged.
    english = next(
        r
        for r in plan_study(study).models[0].ratings
        if r.language == "en" and r.item == "Q177" and r.persona == "US"
    )
    assert list(english.request.messages) == instruments.build_messages(
        instruments.get("wvs7"), "Q177", "en", "us"
    )
    assert "You are an American national" in english.request.messages[0]["content"]
