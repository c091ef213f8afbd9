"""manifest.json: hashing, merging, currency checks."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from valuesurvey import manifest
from valuesurvey.errors import DataError
from valuesurvey.study import load_study


def test_record_stage_hashes_inputs_and_outputs(study_dir: Path) -> None:
    study = load_study(study_dir)
    out = study_dir / "out.txt"
    out.write_text("result", encoding="utf-8")
    entry = manifest.record_stage(
        study,
        "demo",
        inputs={"source": study_dir / "source.txt", "setting": {"k": 1}},
        outputs=[out],
        seconds=1.23456,
        extra={"rows": 3},
    )
    data = json.loads(study.paths.manifest.read_text())
    assert data["stages"]["demo"] == json.loads(json.dumps(entry))
    assert entry["inputs"]["source"] == manifest.sha256_file(study_dir / "source.txt")
    assert entry["inputs"]["setting"] == manifest.fingerprint({"k": 1})
    assert entry["outputs"] == {"out.txt": manifest.sha256_file(out)}
    assert entry["seconds"] == 1.235
    assert entry["extra"] == {"rows": 3}
    env = data["environment"]
    assert env["code"]["version"] == "0.1.0"
    assert env["python"].count(".") == 2
    # R is installed on the machines this runs on; its version and lme4's are recorded.
    assert env["r"]["R"].startswith("4.")
    assert env["r"]["lme4"]


def test_records_merge_and_keep_other_stages(study_dir: Path) -> None:
    study = load_study(study_dir)
    manifest.record_stage(study, "a", inputs={}, outputs=[], seconds=1)
    manifest.record_stage(study, "b", inputs={}, outputs=[], seconds=2)
    assert set(manifest.read_manifest(study)["stages"]) == {"a", "b"}
    manifest.forget_stage(study, "a")
    assert set(manifest.read_manifest(study)["stages"]) == {"b"}


def test_concurrent_records_lose_nothing(study_dir: Path) -> None:
    study = load_study(study_dir)
    threads = [
        threading.Thread(
            target=manifest.record_stage,
            args=(study, f"s{i}"),
            kwargs={"inputs": {}, "outputs": [], "seconds": i},
        )
        for i in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert set(manifest.read_manifest(study)["stages"]) == {f"s{i}" for i in range(8)}


def test_stage_is_current_tracks_inputs_and_outputs(study_dir: Path) -> None:
    study = load_study(study_dir)
    source = study_dir / "source.txt"
    out = study_dir / "out" / "result.txt"
    out.parent.mkdir()
    out.write_text("r", encoding="utf-8")
    inputs = {"source": source, "n": 3}
    assert not manifest.stage_is_current(study, "s", inputs)
    manifest.record_stage(study, "s", inputs=inputs, outputs=[out.parent], seconds=0)
    assert manifest.stage_is_current(study, "s", inputs)
    assert not manifest.stage_is_current(study, "s", {**inputs, "n": 4})
    source.write_text("changed\n", encoding="utf-8")
    assert not manifest.stage_is_current(study, "s", inputs)
    source.write_text("hello\n", encoding="utf-8")
    assert manifest.stage_is_current(study, "s", inputs)
    out.write_text("edited by hand", encoding="utf-8")
    assert not manifest.stage_is_current(study, "s", inputs)
    assert manifest.stage_is_current(study, "s", inputs, check_outputs=False)
    out.unlink()
    assert not manifest.stage_is_current(study, "s", inputs, check_outputs=True)


def test_directory_hash_sees_names_and_contents(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "a.csv").write_text("1")
    first = manifest.hash_path(folder)
    (folder / ".a.csv.123.tmp").write_text("in progress")  # an atomic write under way is ignored
    assert manifest.hash_path(folder) == first
    (folder / "a.csv").rename(folder / "b.csv")
    assert manifest.hash_path(folder) != first
    assert manifest.hash_path(tmp_path / "nope") == manifest.MISSING


def test_source_fingerprint_changes_with_code(tmp_path: Path) -> None:
    code = tmp_path / "pkg"
    code.mkdir()
    (code / "m.py").write_text("x = 1\n")
    before = manifest.source_fingerprint(code)
    (code / "m.py").write_text("x = 2\n")
    assert manifest.source_fingerprint(code) != before
    assert manifest.source_fingerprint("no_such_subpackage") == manifest.source_fingerprint()


def test_corrupt_manifest_is_a_data_error(study_dir: Path) -> None:
    study = load_study(study_dir)
    study.paths.manifest.write_text("{not json", encoding="utf-8")
    with pytest.raises(DataError, match=r"manifest\.json"):
        manifest.read_manifest(study)
