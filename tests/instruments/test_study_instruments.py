"""Instruments in study.yaml: ``{file: ...}``, item subsets, inert options, reverse keys, Mini-IPIP."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from valuesurvey import instruments
from valuesurvey.errors import ConfigError
from valuesurvey.study import load_study

MFQ2 = instruments.get("mfq2")
SCALE = {
    "id": "my_scale",
    "name": "My scale",
    "version": "1",
    "kind": "rating",
    "citation": "Me (2026).",
    "provenance": {"en": "my own"},
    "scale": {"min": 1, "max": 7, "labels": [{"value": 1, "en": "No"}, {"value": 7, "en": "Yes"}]},
    "prompt": {
        "system": {"en": ["{persona}", "Answer 1 to 7."]},
        "user": {"en": "Rate: {item}"},
        "personas": {"template": {"en": "You live in {country}"}},
    },
    "items": [
        {"id": "a1", "dimension": "A", "en": "I like a."},
        {"id": "a2", "dimension": "A", "reverse": True, "en": "I dislike a."},
        {"id": "b1", "dimension": "B", "en": "I like b."},
    ],
}


def write_study(root: Path, **extra: object) -> Path:
    data = {"name": "s", "models": [{"id": "m"}], "languages": ["en"], **extra}
    (root / "study.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return root / "study.yaml"


def write_scale(path: Path, data: dict | None = None) -> Path:
    path.write_text(yaml.safe_dump(data or SCALE, allow_unicode=True), encoding="utf-8")
    return path


def test_file_entry_takes_its_id_from_the_file_and_resolves_against_the_study(tmp_path: Path) -> None:
    (tmp_path / "scales").mkdir()
    write_scale(tmp_path / "scales" / "mine.yaml")
    study = load_study(write_study(tmp_path, instruments=["mfq2", {"file": "scales/mine.yaml"}]))
    assert study.instruments == ("mfq2", "my_scale")
    assert study.instrument_options["my_scale"] == {"file": "scales/mine.yaml"}
    found = instruments.for_study(study)
    assert found["my_scale"].item("a2").reverse and not found["my_scale"].item("a1").reverse
    assert found["my_scale"].source == str(tmp_path / "scales" / "mine.yaml")


def test_file_entry_errors_name_the_entry(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"study\.yaml: field instruments\[1\]\.file: .*absent\.yaml: cannot read"
    ):
        load_study(write_study(tmp_path, instruments=["mfq2", {"file": "absent.yaml"}]))
    write_scale(tmp_path / "x.yaml", {k: v for k, v in SCALE.items() if k != "id"})
    with pytest.raises(
        ConfigError,
        match=r"field instruments\[0\]\.file: .*x\.yaml: field id: an instrument file needs an id",
    ):
        load_study(write_study(tmp_path, instruments=[{"file": "x.yaml"}]))
    write_scale(tmp_path / "x.yaml")
    with pytest.raises(ConfigError, match=r"instruments\[1\]: instrument 'my_scale' appears twice"):
        load_study(write_study(tmp_path, instruments=[{"file": "x.yaml"}, {"file": "x.yaml"}]))


def test_the_legacy_instrument_options_file_still_works(tmp_path: Path) -> None:
    data = copy.deepcopy(SCALE)
    write_scale(tmp_path / "x.yaml", data)
    study = load_study(
        write_study(tmp_path, instruments=["my_scale"], instrument_options={"my_scale": {"file": "x.yaml"}})
    )
    assert instruments.for_study(study)["my_scale"].item_ids == ("a1", "a2", "b1")


@pytest.mark.parametrize(
    ("entry", "kept", "dimensions"),
    [
        (
            {"mfq2": {"items": ["mfq2_07", "mfq2_01", "mfq2_02"]}},
            ["mfq2_01", "mfq2_02", "mfq2_07"],
            ("Care", "Equality"),
        ),
        ({"mfq2": {"dimensions": ["care", "Purity"]}}, None, ("Care", "Purity")),
    ],
)
def test_item_subsets_keep_published_order_and_change_the_hash(
    tmp_path: Path, entry: dict, kept: list[str] | None, dimensions: tuple[str, ...]
) -> None:
    study = load_study(write_study(tmp_path, instruments=[entry, "wvs7"]))
    assert study.instruments == ("mfq2", "wvs7")
    sub = instruments.for_study(study)["mfq2"]
    expected = kept or [i.id for i in MFQ2.items if i.dimension in dimensions]
    assert list(sub.item_ids) == expected
    assert [sub.item(i).number for i in expected] == [MFQ2.item(i).number for i in expected]
    assert sub.dimensions == dimensions
    assert sub.content_hash != MFQ2.content_hash
    # The full instruments are untouched: same hash as shipped.
    assert instruments.for_study(study)["wvs7"].content_hash == instruments.get("wvs7").content_hash


def test_full_instrument_hash_is_unchanged_by_the_new_forms(tmp_path: Path) -> None:
    study = load_study(write_study(tmp_path, instruments=[{"mfq2": {}}, "wvs7"]))
    assert instruments.for_study(study)["mfq2"].content_hash == MFQ2.content_hash


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            {"mfq2": {"items": ["mfq2_01", "mfq2_99", "care"]}},
            r"study\.yaml: field instruments\.mfq2\.items: unknown items mfq2_99, care; valid: mfq2_01 … mfq2_36",
        ),
        (
            {"mfq2": {"dimensions": ["care", "fairness"]}},
            r"field instruments\.mfq2\.dimensions: unknown dimensions fairness; valid: Care, Equality, "
            r"Proportionality, Loyalty, Authority, Purity",
        ),
        ({"mfq2": {"items": ["mfq2_01"]}}, r"instruments\.mfq2\.items: a subset needs at least 2 items"),
        ({"mfq2": {"items": "mfq2_01"}}, r"instruments\.mfq2\.items: expected a list of items"),
        (
            {"mfq2": {"items": ["mfq2_01", "mfq2_02"], "dimensions": ["care"]}},
            r"instruments\.mfq2: give items or dimensions, not both",
        ),
        ({"ai_values": {"items": ["harm_prevention", "equity"]}}, r"needs a rating instrument"),
        ({"mfq2": ["mfq2_01"]}, r"instruments\[0\]\.mfq2: expected a mapping"),
        ({"mfq2": {}, "wvs7": {}}, r"instruments\[0\]: one instrument per entry"),
    ],
)
def test_subset_errors_are_one_line_naming_the_field(tmp_path: Path, entry: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        load_study(write_study(tmp_path, instruments=[entry]))
    assert "\n" not in str(info.value)


def test_subset_and_instrument_options_may_not_disagree(tmp_path: Path) -> None:
    path = write_study(
        tmp_path,
        instruments=[{"mfq2": {"items": ["mfq2_01", "mfq2_02"]}}],
        instrument_options={"mfq2": {"items": ["mfq2_03", "mfq2_04"]}},
    )
    with pytest.raises(ConfigError, match=r"instruments\[0\]: items of 'mfq2' is also set, differently"):
        load_study(path)
    # Agreeing settings, and a subset written only in instrument_options, are fine.
    path = write_study(
        tmp_path, instruments=["mfq2"], instrument_options={"mfq2": {"items": ["mfq2_03", "mfq2_04"]}}
    )
    assert instruments.for_study(load_study(path))["mfq2"].item_ids == ("mfq2_03", "mfq2_04")


def test_item27_option_is_inert_on_a_subset_without_item_27(tmp_path: Path) -> None:
    entry = {"mfq2": {"dimensions": ["care"], "item27": "paper"}}
    sub = instruments.for_study(load_study(write_study(tmp_path, instruments=[entry])))["mfq2"]
    assert "mfq2_27" not in sub.item_ids
    assert sub.selected_options == {}
    # With item 27 kept, the option applies as before.
    entry = {"mfq2": {"items": ["mfq2_01", "mfq2_27"], "item27": "paper"}}
    sub = instruments.for_study(load_study(write_study(tmp_path, instruments=[entry])))["mfq2"]
    assert sub.selected_options == {"item27": "paper"}
    assert (
        sub.item("mfq2_27").text["en"]
        == instruments.get("mfq2", options={"item27": "paper"}).item("mfq2_27").text["en"]
    )
    # A typo is still an error.
    with pytest.raises(ConfigError, match=r"unknown option\(s\) \['item72'\]"):
        load_study(write_study(tmp_path, instruments=[{"mfq2": {"dimensions": ["care"], "item72": "paper"}}]))


def test_an_exported_mfq2_with_items_removed_loads_and_its_item27_option_is_inert(tmp_path: Path) -> None:
    record = instruments.instrument_record(MFQ2)
    record["items"] = [item for item in record["items"] if item["id"] != "mfq2_27"]
    path = tmp_path / "mfq2_35.yaml"
    path.write_text(yaml.safe_dump(record, allow_unicode=True), encoding="utf-8")
    study = load_study(write_study(tmp_path, instruments=[{"file": "mfq2_35.yaml", "item27": "paper"}]))
    loaded = instruments.for_study(study)["mfq2"]
    assert len(loaded.items) == 35 and loaded.selected_options == {}
    # Removing every item of a dimension from an export drops the dimension (a hand-written file
    # listing a dimension without items fails: test_instrument_file_errors_name_file_and_field).
    record["items"] = [item for item in record["items"] if item["dimension"] != "Purity"]
    path.write_text(yaml.safe_dump(record, allow_unicode=True), encoding="utf-8")
    assert "Purity" not in instruments.load_instrument(path).dimensions
    # The unedited export round-trips to the shipped hash.
    path.write_text(yaml.safe_dump(instruments.instrument_record(MFQ2), allow_unicode=True), encoding="utf-8")
    assert instruments.load_instrument(path).content_hash == MFQ2.content_hash


def _broken(edit) -> dict:
    data = copy.deepcopy(SCALE)
    edit(data)
    return data


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda d: d.update(kind="ranking"),
            r"x\.yaml: field items\.a2\.reverse: a ranking instrument has no scale to reverse",
        ),
        (
            lambda d: d.update(dimensions=["A", "B", "C"]),
            r"x\.yaml: field dimensions: C has no item",
        ),
        (
            lambda d: d["prompt"]["user"].update(en="Rate this."),
            r"x\.yaml: field .*prompt\.user\.en lacks the \{item\} placeholder",
        ),
        (
            lambda d: d["prompt"]["personas"]["template"].update(en="You are a person"),
            r"x\.yaml: field prompt\.personas\.template: .*exactly one placeholder, \{country\}",
        ),
        (
            lambda d: d["items"][1].update(reverse="sometimes"),
            r"x\.yaml: field items\.1\.reverse: ",
        ),
    ],
)
def test_instrument_file_errors_name_file_and_field(tmp_path: Path, edit, message: str) -> None:
    path = write_scale(tmp_path / "x.yaml", _broken(edit))
    with pytest.raises(ConfigError, match=message) as info:
        instruments.load_instrument(path)
    assert "\n" not in str(info.value)
    # The same error through study.yaml.
    with pytest.raises(ConfigError, match=message):
        load_study(write_study(tmp_path, instruments=[{"file": "x.yaml"}]))


def test_reverse_keys_do_not_reach_the_prompt_or_the_hash(tmp_path: Path) -> None:
    plain = _broken(lambda d: d["items"][1].pop("reverse"))
    keyed = instruments.load_instrument(write_scale(tmp_path / "a.yaml"))
    unkeyed = instruments.load_instrument(write_scale(tmp_path / "b.yaml", plain))
    assert keyed.content_hash == unkeyed.content_hash
    assert instruments.build_messages(keyed, "a2", "en", "none") == instruments.build_messages(
        unkeyed, "a2", "en", "none"
    )


def test_mini_ipip_is_the_published_form() -> None:
    ipip = instruments.get("mini_ipip")
    assert (ipip.kind, ipip.scale.min, ipip.scale.max, len(ipip.items)) == ("rating", 1, 5, 20)
    assert ipip.dimensions == (
        "Extraversion",
        "Agreeableness",
        "Conscientiousness",
        "Neuroticism",
        "Intellect",
    )
    assert {dim: len(items) for dim, items in ipip.items_by_dimension().items()} == dict.fromkeys(
        ipip.dimensions, 4
    )
    # Donnellan et al. (2006): items 6-10 and 15-20 are reverse-keyed, 1-5 and 11-14 are not.
    assert [item.number for item in ipip.items if item.reverse] == [6, 7, 8, 9, 10, 15, 16, 17, 18, 19, 20]
    assert ipip.item("mini_ipip_01").text["en"] == "Am the life of the party."
    assert ipip.scale.label(1, "en") == "Very inaccurate" and ipip.scale.label(5, "en") == "Very accurate"
    assert ipip.languages == ("en",)
    assert "public domain" in ipip.citation
    (message,) = [
        m["content"]
        for m in instruments.build_messages(ipip, "mini_ipip_16", "en", "US")
        if m["role"] == "user"
    ]
    assert message.startswith("Describe yourself as you generally are now")
    assert message.endswith("Statement: Keep in the background.")


def test_a_study_asking_mini_ipip_in_zh_fails_on_load_with_the_missing_texts(tmp_path: Path) -> None:
    path = write_study(tmp_path, instruments=["mini_ipip"], languages=["en", "zh"])
    with pytest.raises(
        ConfigError, match=r"study\.yaml: field languages: .*mini_ipip.*zh.*items mini_ipip_01 … mini_ipip_20"
    ):
        load_study(path)
    assert load_study(write_study(tmp_path, instruments=["mini_ipip"])).instruments == ("mini_ipip",)


ROOT = Path(__file__).resolve().parents[2]


def test_the_ipip_example_loads_as_shipped() -> None:
    study = load_study(ROOT / "examples" / "ipip" / "study.yaml")
    assert study.instruments == ("mini_ipip",) and study.languages == ("en",)
    assert instruments.for_study(study)["mini_ipip"].content_hash == instruments.get("mini_ipip").content_hash


def test_the_docs_worked_example_of_an_own_instrument_loads(tmp_path: Path) -> None:
    import re

    text = (ROOT / "docs" / "study-yaml.md").read_text(encoding="utf-8")
    blocks = dict(
        (match.group(1), match.group(2))
        for match in re.finditer(r"```yaml\n# (my_scale\.yaml|study\.yaml)\n(.*?)```", text, flags=re.DOTALL)
    )
    (tmp_path / "my_scale.yaml").write_text(blocks["my_scale.yaml"], encoding="utf-8")
    study_part = yaml.safe_load(blocks["study.yaml"])
    study_part.pop("humans")  # the data file is the user's
    study = load_study(write_study(tmp_path, **study_part))
    mine = instruments.for_study(study)["my_scale"]
    assert study.instruments == ("mfq2", "my_scale")
    assert [i.id for i in mine.items if i.reverse] == ["warm_2", "order_2"]
    assert mine.dimensions == ("Warmth", "Order")


def test_an_edited_instrument_file_or_a_subset_redoes_elicitation(tmp_path: Path) -> None:
    from valuesurvey.manifest import hash_inputs
    from valuesurvey.pipeline._stages import DEFAULT_STAGES

    elicit = next(stage for stage in DEFAULT_STAGES if stage.name == "elicit")

    def hashes(entry: object) -> dict[str, str]:
        study = load_study(write_study(tmp_path, instruments=[entry]))
        return hash_inputs(study, elicit.inputs(study))

    write_scale(tmp_path / "x.yaml")
    base = hashes({"file": "x.yaml"})
    assert hashes({"file": "x.yaml"}) == base
    write_scale(tmp_path / "x.yaml", _broken(lambda d: d["items"][0].update(en="I love a.")))
    edited = hashes({"file": "x.yaml"})
    assert edited["instrument_hashes"] != base["instrument_hashes"]
    full = hashes("mfq2")
    subset = hashes({"mfq2": {"dimensions": ["care"]}})
    assert subset["instrument_hashes"] != full["instrument_hashes"] and subset["study"] != full["study"]


def test_a_subset_takes_the_translation_file_of_the_whole_instrument(tmp_path: Path) -> None:
    import csv

    with (tmp_path / "zh.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item", "text"])
        writer.writerows([item.id, f"官方{item.number}"] for item in MFQ2.items)
    entry = {"mfq2": {"dimensions": ["care"]}}
    study = load_study(
        write_study(tmp_path, instruments=[entry], languages=["en", "zh"], translations={"mfq2": "zh.csv"})
    )
    sub = instruments.for_study(study)["mfq2"]
    assert (
        sub.item("mfq2_07").text["zh"] == "官方7"
        and sub.item("mfq2_07").provenance["zh"] == "official (user file)"
    )
    assert len(sub.items) == 6


def test_an_edited_reverse_key_redoes_the_analysis_but_not_elicitation(tmp_path: Path) -> None:
    from valuesurvey.manifest import hash_inputs
    from valuesurvey.pipeline._stages import DEFAULT_STAGES

    stages = {stage.name: stage for stage in DEFAULT_STAGES}

    def hashes(stage: str) -> dict[str, str]:
        study = load_study(write_study(tmp_path, instruments=[{"file": "x.yaml"}]))
        return hash_inputs(study, stages[stage].inputs(study))

    write_scale(tmp_path / "x.yaml")
    elicit, analyze = hashes("elicit"), hashes("analyze")
    write_scale(tmp_path / "x.yaml", _broken(lambda d: d["items"][0].update(reverse=True)))
    assert hashes("elicit") == elicit
    changed = {key for key, value in hashes("analyze").items() if analyze[key] != value}
    assert changed == {"instrument_scoring"}
