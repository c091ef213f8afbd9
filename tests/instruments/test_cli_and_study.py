"""``valuesurvey instruments list|show|export`` and instruments resolved for a study.yaml."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from valuesurvey import instruments
from valuesurvey.cli import app
from valuesurvey.errors import ConfigError
from valuesurvey.study import load_study

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, ["instruments", *args], env={"COLUMNS": "200"})


def test_list_shows_the_three_instruments_with_counts_languages_and_hash() -> None:
    result = invoke("list")
    assert result.exit_code == 0, result.output
    rows = {
        match.group(1): match.groups()
        for match in re.finditer(
            r"│ (\w+)\s+│ (\w+)\s+│\s+(\d+) │\s+(\d+) │ (\S+)\s+│ ([0-9a-f]+)", result.output
        )
    }
    assert rows["mfq2"][1:5] == ("rating", "36", "6", "en,zh")
    assert rows["wvs7"][1:5] == ("rating", "19", "19", "en,zh")
    assert rows["ai_values"][1:5] == ("ranking", "25", "5", "en,zh")
    assert instruments.get("mfq2").content_hash.startswith(rows["mfq2"][5])


def test_show_mfq2_in_chinese_with_persona_prints_items_and_the_prompt() -> None:
    result = invoke("show", "mfq2", "--lang", "zh", "--persona", "cn")
    assert result.exit_code == 0, result.output
    assert "mfq2_36" in result.output and "project translation" in result.output
    assert "你来自中国\n请只用1到5之间的一个数字作答。" in result.output
    assert "陈述：关爱受过苦难的人是一种重要的美德。" in result.output


def test_show_ai_values_prints_the_ranking_prompt_and_the_operationalization_note() -> None:
    result = invoke("show", "ai_values", "--lang", "en")
    assert result.exit_code == 0, result.output
    assert "operationalization" in result.output
    assert "Rank the following 25 values" in result.output


def test_show_with_option_and_translation(tmp_path: Path) -> None:
    path = tmp_path / "zh.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item", "text"])
        writer.writerows([item.id, f"译文{item.number}"] for item in instruments.get("mfq2").items)
    result = invoke("show", "mfq2", "-l", "zh", "-i", "mfq2_27", "-o", "item27=paper", "-t", f"zh={path}")
    assert result.exit_code == 0, result.output
    assert "item27=paper" in result.output
    assert "official (user file)" in result.output
    assert "陈述：译文27" in result.output


def test_export_csv_to_file_and_json_to_stdout(tmp_path: Path) -> None:
    out = tmp_path / "wvs7.csv"
    result = invoke("export", "wvs7", "--format", "csv", "--out", str(out))
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert list(table.columns) == list(instruments.ITEM_COLUMNS)
    assert table["item"].tolist() == [f"Q{n}" for n in range(177, 196)]
    result = invoke("export", "wvs7", "--format", "json")
    record = json.loads(result.stdout)
    assert record["content_hash"] == instruments.get("wvs7").content_hash
    assert len(record["items"]) == 19


def test_exported_yaml_loads_back_as_a_user_instrument(tmp_path: Path) -> None:
    out = tmp_path / "ai.yaml"
    assert invoke("export", "ai_values", "--format", "yaml", "--out", str(out)).exit_code == 0
    assert instruments.load_instrument(out).content_hash == instruments.get("ai_values").content_hash
    result = invoke("show", str(out), "--lang", "zh")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("show", "mfq3"), "error: unknown instrument 'mfq3'"),
        (("show", "mfq2", "--item", "mfq2_99"), "error: mfq2: unknown item 'mfq2_99'"),
        (("show", "mfq2", "--option", "item27"), "error: --option 'item27': expected NAME=VALUE"),
        (("export", "mfq2", "-t", "zh=/nonexistent/zh.csv"), "error: /nonexistent/zh.csv: cannot read"),
    ],
)
def test_errors_are_one_line_with_exit_code_1(args: tuple[str, ...], message: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def write_study(root: Path, extra: dict) -> Path:
    data = {"name": "s", "models": [{"id": "m"}], "instruments": ["mfq2", "wvs7", "ai_values"], **extra}
    (root / "study.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    return root / "study.yaml"


def test_for_study_applies_translations_options_and_replacement_file(tmp_path: Path) -> None:
    with (tmp_path / "wvs_zh.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["item", "text"])
        writer.writerows([f"Q{n}", f"官方{n}"] for n in range(177, 196))
    data = yaml.safe_load((instruments.DATA_DIR / "ai_values.yaml").read_text(encoding="utf-8"))
    data["items"][0]["en"] = "Usefulness"
    (tmp_path / "values.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    study = load_study(
        write_study(
            tmp_path,
            {
                "translations": {"wvs7": "wvs_zh.csv"},
                "instrument_options": {"mfq2": {"item27": "paper"}, "ai_values": {"file": "values.yaml"}},
            },
        )
    )
    resolved = instruments.for_study(study)
    assert list(resolved) == ["mfq2", "wvs7", "ai_values"]
    assert resolved["mfq2"].selected_options == {"item27": "paper"}
    assert resolved["wvs7"].item("Q195").text["zh"] == "官方195"
    assert resolved["wvs7"].item("Q195").provenance["zh"] == "official (user file)"
    assert resolved["ai_values"].item("helpfulness").text["en"] == "Usefulness"


def test_for_study_replacement_file_must_keep_the_id(tmp_path: Path) -> None:
    data = yaml.safe_load((instruments.DATA_DIR / "ai_values.yaml").read_text(encoding="utf-8"))
    data["id"] = "my_values"
    (tmp_path / "values.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    # Loading the study loads its instruments (to check their texts), so the error comes at once.
    with pytest.raises(ConfigError, match=r"values\.yaml: field id: is 'my_values' but study\.yaml uses it"):
        load_study(write_study(tmp_path, {"instrument_options": {"ai_values": {"file": "values.yaml"}}}))
