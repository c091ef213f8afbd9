"""The artifact zip: layout, checksums of every file, human data excluded unless asked for."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import zipfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

from valuesurvey.humans.synthetic import shipped_files
from valuesurvey.pipeline import build_artifact
from valuesurvey.study import load_study


@pytest.fixture
def finished_study(tmp_path: Path) -> Path:
    """A study directory as a finished run leaves it, with one licensed and one synthetic human file."""
    licensed = tmp_path / "elsewhere" / "WVS_real.sav"
    licensed.parent.mkdir()
    licensed.write_bytes(b"pretend licensed microdata")
    root = tmp_path / "study"
    (root / "data").mkdir(parents=True)
    # synthetic files ship only when the file itself says so (here: the shipped file's data_label)
    shutil.copy2(shipped_files()["mfq2_csv"], root / "data" / "mfq2_SYNTHETIC.csv")
    study = {
        "name": "tiny",
        "instruments": ["wvs7", "mfq2"],
        "models": [{"id": "sim-cn-01", "provider": "simulated", "origin": "CN"}],
        "humans": {
            "wvs7": {"path": str(licensed)},
            "mfq2": {"path": "data/mfq2_SYNTHETIC.csv", "synthetic": True},
        },
    }
    (root / "study.yaml").write_text(yaml.safe_dump(study))
    with sqlite3.connect(root / "responses.sqlite") as db:
        db.execute("pragma journal_mode=wal")
        db.execute("create table responses (key text primary key, raw text)")
        db.execute("insert into responses values ('k1', '4')")
    frame = pd.DataFrame({"participant": ["1"], "nationality": ["CN"], "item": ["Q177"], "rating": [1.0]})
    (root / "humans").mkdir()
    frame.to_parquet(root / "humans" / "wvs7.parquet")
    frame.to_parquet(root / "humans" / "mfq2.parquet")
    (root / "estimates").mkdir()
    (root / "estimates" / "rq1_lm.csv").write_text("analysis,term,estimate\nrq1,(Intercept),0.1\n")
    (root / "figures").mkdir()
    (root / "figures" / "fig1.png").write_bytes(b"\x89PNG fake")
    (root / "manifest.json").write_text("{}")
    (root / ".manifest.lock").write_text("")
    return root


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name.split("/", 1)[1]: archive.read(name) for name in archive.namelist()}


def test_layout_and_checksums(finished_study: Path, tmp_path: Path) -> None:
    out = build_artifact(finished_study, out=tmp_path / "a.zip")
    files = _members(out)
    for required in (
        "README.md",
        "SHA256SUMS",
        "code/VERSION.json",
        "code/valuesurvey/study.py",
        "code/valuesurvey/pipeline/artifact.py",
        "code/pyproject.toml",
        "study/study.yaml",
        "study/responses.sqlite",
        "study/estimates/rq1_lm.csv",
        "study/figures/fig1.png",
        "study/manifest.json",
        "environment/pip-freeze.txt",
        "environment/R-sessionInfo.txt",
        "environment/dpkg-packages.txt",
        "environment/platform.json",
    ):
        assert required in files, required
    assert b"lme4" in files["environment/R-sessionInfo.txt"]
    assert b"pandas==" in files["environment/pip-freeze.txt"]
    assert b"r-base-core" in files["environment/dpkg-packages.txt"]
    assert not any(name.endswith((".lock", ".pyc")) for name in files)
    # every file but SHA256SUMS itself is listed, with the right digest
    sums = dict(reversed(line.split("  ", 1)) for line in files["SHA256SUMS"].decode().splitlines())
    assert set(sums) == set(files) - {"SHA256SUMS"}
    for name, digest in sums.items():
        assert hashlib.sha256(files[name]).hexdigest() == digest, name


def test_sqlite_snapshot_is_a_readable_database(finished_study: Path, tmp_path: Path) -> None:
    out = build_artifact(finished_study, out=tmp_path / "a.zip")
    db_path = tmp_path / "copy.sqlite"
    db_path.write_bytes(_members(out)["study/responses.sqlite"])
    with sqlite3.connect(db_path) as db:
        assert db.execute("select raw from responses").fetchall() == [("4",)]


def test_human_microdata_excluded_by_default(finished_study: Path, tmp_path: Path) -> None:
    files = _members(build_artifact(finished_study, out=tmp_path / "a.zip"))
    assert not any("WVS_real" in name for name in files)
    assert "study/humans/wvs7.parquet" not in files
    # synthetic files are ours: always shipped
    assert "study/data/mfq2_SYNTHETIC.csv" in files
    assert "study/humans/mfq2.parquet" in files
    readme = files["README.md"].decode()
    assert "WVS_real.sav" in readme and "study/humans/wvs7.parquet" in readme
    assert "valuesurvey run study/study.yaml --stages analyze --force" in readme
    assert "`estimates/rq1_lm.csv`" in readme
    assert files["study/study.yaml"] == (finished_study / "study.yaml").read_bytes()


def test_include_human_data_copies_and_repoints_external_files(finished_study: Path, tmp_path: Path) -> None:
    files = _members(build_artifact(finished_study, include_human_data=True, out=tmp_path / "a.zip"))
    assert files["study/human-data/wvs7-WVS_real.sav"] == b"pretend licensed microdata"
    assert "study/humans/wvs7.parquet" in files
    shipped = yaml.safe_load(files["study/study.yaml"])
    assert shipped["humans"]["wvs7"]["path"] == "human-data/wvs7-WVS_real.sav"
    assert "study/study.original.yaml" in files
    # the rewritten study.yaml still loads, and points at the shipped copy
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    (unpacked / "study.yaml").write_bytes(files["study/study.yaml"])
    study = load_study(unpacked)
    assert study.resolve(study.humans["wvs7"].path) == unpacked / "human-data" / "wvs7-WVS_real.sav"


def test_default_location_and_no_self_inclusion(finished_study: Path) -> None:
    first = build_artifact(finished_study)
    assert first == finished_study / "tiny-artifact.zip"
    second = build_artifact(finished_study)
    assert not any(name.endswith(".zip") for name in _members(second))
