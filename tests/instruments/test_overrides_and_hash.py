"""Translation override files, user instrument files, the content hash."""

from __future__ import annotations

import copy
import csv
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from valuesurvey import instruments
from valuesurvey.errors import ConfigError
from valuesurvey.instruments import DATA_DIR, OFFICIAL_USER_FILE, instrument_from_dict

# Update these only on purpose: a change redoes every study's elicit stage (request keys are pinned
# separately, tests/elicit/test_paper_keys.py). MFQ-2 and WVS-7 changed when personas became a
# template with a {country} slot plus the paper's per-country wordings (same paper prompts and keys).
PINNED_HASHES = {
    "mfq2": "d4bf627b9c90fb7c97b29bec786fb08242953533ef3c0e511339359b434aa2d9",
    "wvs7": "87f6225b5738cbe24f5c4a5d8ef064b9c3857a060716f7f73cd1c46535bd53a1",
    "ai_values": "0f5a7d2a4dd3546022740a0e6c57c459b87d605a9e1d2408ff72de21ced5ebe2",
}


def write_csv(path: Path, rows: list[list[str]], header: tuple[str, ...] = ("item", "text")) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def official_rows(instrument_id: str) -> list[list[str]]:
    inst = instruments.get(instrument_id)
    return [[item.id, f"官方译文{item.number}"] for item in inst.items]


def shipped_dict(instrument_id: str) -> dict:
    return yaml.safe_load((DATA_DIR / f"{instrument_id}.yaml").read_text(encoding="utf-8"))


# ---- translation files -------------------------------------------------------------------------------


@pytest.mark.parametrize("instrument_id", ["mfq2", "wvs7"])
def test_translation_file_replaces_zh_texts_provenance_and_hash(tmp_path: Path, instrument_id: str) -> None:
    path = write_csv(tmp_path / "zh.csv", official_rows(instrument_id))
    ours = instruments.get(instrument_id)
    theirs = instruments.get(instrument_id, overrides={"zh": path})
    for old, new in zip(ours.items, theirs.items, strict=True):
        assert new.text["zh"] == f"官方译文{old.number}"
        assert new.provenance["zh"] == OFFICIAL_USER_FILE == "official (user file)"
        assert (new.text["en"], new.provenance["en"]) == (old.text["en"], old.provenance["en"])
    assert theirs.content_hash != ours.content_hash
    _system, user = instruments.build_messages(theirs, theirs.items[0].id, "zh", "cn")
    assert user["content"].endswith("官方译文1")
    # the English prompts, and so their requests, are unchanged apart from the hash
    assert instruments.build_messages(theirs, theirs.items[0].id, "en", "cn") == instruments.build_messages(
        ours, ours.items[0].id, "en", "cn"
    )


def test_translation_file_with_bom_blank_lines_and_alias_header(tmp_path: Path) -> None:
    rows = official_rows("wvs7")
    body = "\n".join(f"{item},{text}" for item, text in rows[:5]) + "\n\n"
    body += "\n".join(f"{item},{text}" for item, text in rows[5:])
    path = tmp_path / "wvs_zh.csv"
    path.write_text("\ufeffid,Text\n" + body + "\n", encoding="utf-8")
    assert instruments.get("wvs7", overrides={"zh": path}).item("Q195").text["zh"] == "官方译文19"


def test_translation_file_may_override_ai_value_definitions(tmp_path: Path) -> None:
    rows = [
        [item.id, f"名称{item.number}", f"定义{item.number}。"] for item in instruments.get("ai_values").items
    ]
    path = write_csv(tmp_path / "ai_zh.csv", rows, header=("item", "text", "definition"))
    ai = instruments.get("ai_values", overrides={"zh": path})
    assert (ai.item("logic").text["zh"], ai.item("logic").definition["zh"]) == ("名称7", "定义7。")
    assert "- 名称7：定义7。" in instruments.build_ranking_messages(ai, "zh")[1]["content"]


def test_translation_override_and_item27_option_combine(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "zh.csv", official_rows("mfq2"))
    both = instruments.get("mfq2", overrides={"zh": path}, options={"item27": "paper"})
    assert both.item("mfq2_27").text["zh"] == "官方译文27"
    assert both.item("mfq2_27").text["en"].startswith("In a fair society, those who work hard")
    assert both.selected_options == {"item27": "paper"}


def test_missing_item_names_the_file_and_item(tmp_path: Path) -> None:
    rows = official_rows("mfq2")
    del rows[4]
    path = write_csv(tmp_path / "missing.csv", rows)
    with pytest.raises(ConfigError, match=r"missing\.csv: missing item\(s\) mfq2_05; the file needs one row"):
        instruments.get("mfq2", overrides={"zh": path})


def test_unknown_id_names_the_file_and_row(tmp_path: Path) -> None:
    rows = official_rows("mfq2")
    rows.insert(2, ["mfq2_37", "多余的条目"])
    path = write_csv(tmp_path / "unknown.csv", rows)
    with pytest.raises(ConfigError, match=r"unknown\.csv: row 4: unknown item id 'mfq2_37'"):
        instruments.get("mfq2", overrides={"zh": path})


def test_empty_text_names_the_file_and_row(tmp_path: Path) -> None:
    rows = official_rows("wvs7")
    rows[6][1] = "   "
    path = write_csv(tmp_path / "empty.csv", rows)
    with pytest.raises(ConfigError, match=r"empty\.csv: row 8: item 'Q183' has empty text"):
        instruments.get("wvs7", overrides={"zh": path})


def test_repeated_id_names_both_rows(tmp_path: Path) -> None:
    rows = [*official_rows("wvs7"), ["Q177", "重复"]]
    path = write_csv(tmp_path / "dup.csv", rows)
    with pytest.raises(ConfigError, match=r"dup\.csv: row 21: item 'Q177' appears again \(first at row 2\)"):
        instruments.get("wvs7", overrides={"zh": path})


def test_bad_header_missing_file_and_unknown_language(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "header.csv", official_rows("wvs7"), header=("question", "wording"))
    with pytest.raises(ConfigError, match=r"header\.csv: row 1: header must name columns 'item' and 'text'"):
        instruments.get("wvs7", overrides={"zh": path})
    with pytest.raises(ConfigError, match=r"nope\.csv: cannot read translation file"):
        instruments.get("wvs7", overrides={"zh": tmp_path / "nope.csv"})
    with pytest.raises(ConfigError, match="translation for unknown language 'xx-yy-zz'"):
        instruments.get("wvs7", overrides={"xx-yy-zz": path})
    # A CSV adds item texts in any language; the prompt strings of a new language stay missing.
    french = instruments.get("wvs7", overrides={"fr": write_csv(tmp_path / "fr.csv", official_rows("wvs7"))})
    assert french.items[0].text["fr"] == official_rows("wvs7")[0][1]
    assert french.languages == ("en", "zh")
    assert french.missing_texts("fr") == [
        "scale.labels 1 … 10 (2 of 2)", "prompt.system", "prompt.user", "prompt.personas.template",
    ]  # fmt: skip
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("item,text\nQ177,caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1\.csv: translation file is not UTF-8"):
        instruments.get("wvs7", overrides={"zh": latin1})


def test_unknown_option_or_choice() -> None:
    with pytest.raises(ConfigError, match=r"mfq2: unknown option\(s\) \['item28'\]; valid: item27"):
        instruments.get("mfq2", options={"item28": "paper"})
    with pytest.raises(ConfigError, match="mfq2: option item27: unknown choice 'preprint'"):
        instruments.get("mfq2", options={"item27": "preprint"})
    with pytest.raises(ConfigError, match="unknown instrument 'mfq3'"):
        instruments.get("mfq3")


# ---- user instrument files ---------------------------------------------------------------------------


def test_user_replacement_ai_values_file_loads_and_builds_a_ranking_prompt(tmp_path: Path) -> None:
    data = shipped_dict("ai_values")
    data["items"] = data["items"][:10]
    data["dimensions"] = ["Practical", "Epistemic"]
    data["items"][0]["en"] = "Usefulness"
    path = tmp_path / "my_values.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    mine = instruments.load_instrument(path)
    assert (len(mine.items), mine.dimensions, mine.source) == (10, ("Practical", "Epistemic"), str(path))
    user = instruments.build_ranking_messages(mine, "en")[1]["content"]
    assert "Rank the following 10 values" in user and "- Usefulness: " in user
    assert mine.content_hash != instruments.get("ai_values").content_hash


def test_json_instrument_file_round_trips_through_export(tmp_path: Path) -> None:
    import json

    record = instruments.instrument_record(instruments.get("wvs7"))
    path = tmp_path / "wvs7.json"
    path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    reloaded = instruments.load_instrument(path)
    assert reloaded.content_hash == record["content_hash"]
    assert reloaded.items == instruments.get("wvs7").items


def test_exported_paper_wording_can_be_switched_back_to_official(tmp_path: Path) -> None:
    import json

    record = instruments.instrument_record(instruments.get("mfq2", options={"item27": "paper"}))
    path = tmp_path / "mfq2_paper.json"
    path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    paper = instruments.load_instrument(path)
    assert paper.selected_options == {"item27": "paper"}
    assert paper.content_hash == record["content_hash"]
    back = instruments.load_instrument(path, options={"item27": "official"})
    assert back.content_hash == instruments.get("mfq2").content_hash
    assert back.item("mfq2_27").provenance["en"].startswith("official")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["items"].append(dict(d["items"][0])),
            r"field \(top level\): Value error, duplicate item ids",
        ),
        (lambda d: d["items"][3].update(dimension="Fun"), r"dimensions \['Fun'\] not listed"),
        (lambda d: d["items"][2].update(zh=""), r"field items\.2\.text: Value error, zh: text is empty"),
        (lambda d: d["items"][2].pop("definition"), "every value of a ranking instrument needs a definition"),
        (
            lambda d: d["prompt"]["user"].update(en="Rank them: {vals}"),
            r"unknown placeholder\(s\) \['vals'\]",
        ),
        (lambda d: d["prompt"]["user"].update(zh="请排序。"), r"prompt\.user\.zh lacks the \{values\}"),
        (lambda d: d.update(kind="scale"), r"field kind: Input should be 'rating' or 'ranking'"),
        (
            lambda d: d["items"].insert(1, "logic"),
            r"malformed instrument file: field items\.1: expected a mapping",
        ),
    ],
)
def test_malformed_user_instrument_file_names_file_and_field(tmp_path: Path, mutate, message: str) -> None:
    data = shipped_dict("ai_values")
    mutate(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"bad\.yaml: .*{message}"):
        instruments.load_instrument(path)


def test_invalid_yaml_and_non_mapping(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: x\nitems: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.yaml: line \d+: invalid yaml"):
        instruments.load_instrument(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"list\.yaml: expected a mapping"):
        instruments.load_instrument(listing)


# ---- content hash ------------------------------------------------------------------------------------


@pytest.mark.parametrize("instrument_id", ["mfq2", "wvs7", "ai_values"])
def test_hash_is_pinned(instrument_id: str) -> None:
    assert instruments.get(instrument_id).content_hash == PINNED_HASHES[instrument_id]


def test_hash_is_the_same_in_a_fresh_process() -> None:
    code = "from valuesurvey import instruments as i; print(i.get('mfq2').content_hash)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == PINNED_HASHES["mfq2"]


def test_hash_ignores_provenance_citation_and_columns() -> None:
    data = shipped_dict("mfq2")
    data["citation"] = "someone else"
    data["items"][0]["column"] = "renamed"
    data["provenance"] = {"en": "elsewhere", "zh": "elsewhere"}
    assert instrument_from_dict(data).content_hash == PINNED_HASHES["mfq2"]


@pytest.mark.parametrize("instrument_id", ["mfq2", "wvs7", "ai_values"])
def test_hash_changes_whenever_any_text_changes(instrument_id: str) -> None:
    base = shipped_dict(instrument_id)
    seen = {instrument_from_dict(base).content_hash}
    edits = []
    for index, item in enumerate(base["items"]):
        for language in ("en", "zh"):
            edits.append(
                lambda d, i=index, lang=language: d["items"][i].update({lang: d["items"][i][lang] + "!"})
            )
        if "definition" in item:
            edits.append(lambda d, i=index: d["items"][i]["definition"].update(en="Changed."))
        dims = base.get("dimensions") or [i["id"] for i in base["items"]]
        other = dims[1] if item.get("dimension", item["id"]) == dims[0] else dims[0]
        edits.append(lambda d, i=index, dim=other: d["items"][i].update(dimension=dim))
    edits += [
        lambda d: d["scale"]["labels"][0].update(en="Changed"),
        lambda d: d["scale"]["labels"][-1].update(zh="改了"),
        lambda d: d["prompt"]["system"]["en"].append("Be brief."),
        lambda d: d["prompt"]["system"]["zh"].append("简短。"),
        lambda d: d["prompt"]["user"].update(en=d["prompt"]["user"]["en"] + " "),
        lambda d: d.update(version="other"),
    ]
    if "personas" in base["prompt"]:
        wordings = base["prompt"]["personas"]["countries"]
        edits += [
            lambda d: d["prompt"]["personas"]["countries"]["CN"].update(en=wordings["CN"]["en"] + "."),
            lambda d: d["prompt"]["personas"]["countries"]["US"].update(zh="你来自美利坚"),
            lambda d: d["prompt"]["personas"]["template"].update(en="You are {country}"),
            lambda d: d["prompt"]["personas"]["countries"].update(DE={"en": "You are German"}),
        ]
    changed = 0
    for edit in edits:
        data = copy.deepcopy(base)
        edit(data)
        digest = instrument_from_dict(data).content_hash
        if data != base:
            assert digest not in seen, "an edit did not change the hash (or two edits collide)"
            seen.add(digest)
            changed += 1
    assert changed >= len(base["items"]) * 2


def test_hash_covers_selected_options_even_when_texts_coincide() -> None:
    data = shipped_dict("mfq2")
    variant = data["items"][26]["variants"]["paper"]
    variant.update(en=data["items"][26]["en"], zh=data["items"][26]["zh"])
    official = instrument_from_dict(data)
    same_text = instruments._load._customise(official, overrides=None, options={"item27": "paper"})
    assert [i.text for i in same_text.items] == [i.text for i in official.items]
    assert same_text.content_hash != official.content_hash
