from __future__ import annotations

import pytest

from valuesurvey.errors import ConfigError
from valuesurvey.study import load_study

GOOD = "name: demo\nmodels:\n  - id: sim-cn-01\n"


def write(tmp_path, text):
    path = tmp_path / "study.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_study_resolves_paths_against_its_folder(tmp_path):
    study = load_study(write(tmp_path, GOOD + "humans:\n  wvs7: {path: data/w.sav}\n"))
    assert study.root == tmp_path.resolve()
    assert study.resolve(study.humans["wvs7"].path) == tmp_path.resolve() / "data" / "w.sav"
    assert load_study(tmp_path).name == "demo"  # a directory holding study.yaml works too


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name: x\nmodels: [\n", r"study.yaml: line 3 invalid YAML"),
        ("- just a list\n", r"expected a mapping of study fields"),
        (GOOD + "repetitions: 0\n", r"field repetitions: Input should be greater than or equal to 1"),
        (GOOD + "languages: [en, fr]\n", r"field languages: instrument mfq2 has no complete 'fr' texts"),
        (GOOD + "languages: [en, xx-yy-zz]\n", r"field languages: Value error, unknown language 'xx-yy-zz'"),
        (GOOD + "surprise: 1\n", r"field surprise: Extra inputs are not permitted"),
        ("name: x\nmodels:\n  - id: a\n  - id: a\n", r"model id 'a' appears twice"),
        (GOOD + "humans:\n  mfq2: {path: m.csv}\ninstruments: [wvs7]\n", r"not in 'instruments'"),
    ],
)
def test_broken_study_files_give_one_line_errors_naming_file_and_field(tmp_path, text, message):
    with pytest.raises(ConfigError, match=message) as info:
        load_study(write(tmp_path, text))
    assert "\n" not in str(info.value)
    assert str(tmp_path / "study.yaml") in str(info.value)


def test_missing_study_file(tmp_path):
    with pytest.raises(ConfigError, match=r"cannot read study file"):
        load_study(tmp_path / "nope.yaml")
