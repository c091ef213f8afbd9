"""The artifact keeps human microdata private: a study run end to end (simulated models, R fits,
figures, the HTML and PDF report) on WVS-7 and MFQ-2 files in the releases' layouts that are NOT
labelled synthetic. Every file of the zip is scanned for the files' respondent ids and for
per-person answer or z-score columns; the models re-fit from the pseudonymised rows give the
shipped estimates; with ``--include-human-data`` the same scan finds the ids (the scan works).
"""

from __future__ import annotations

import io
import json
import re
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest
import yaml
from lmer_agreement import assert_fits_agree

from valuesurvey.humans.synthetic import shipped_files
from valuesurvey.humans.wvs import WVS7_ITEMS
from valuesurvey.pipeline import build_artifact, run_study

pytestmark = pytest.mark.slow

N_PER_COUNTRY = 30
MFQ_ITEMS = [f"mfq2_{k:02d}" for k in range(1, 37)]
#: Columns that hold a person's answers, means or z-scores (file columns and humans-table ids).
ANSWER_COLUMNS = {"rating", "mean_rating", "z", *WVS7_ITEMS, *MFQ_ITEMS, *(f"MFQ_{k}" for k in range(1, 37))}


def _release_like_files(data: Path, rng: np.random.Generator) -> dict[str, list[str]]:
    """WVS-7 and MFQ-2 files in the releases' layouts, labelled like real ones (not synthetic),
    with distinctive respondent ids; returns the ids of each."""
    wvs, _ = pyreadstat.read_sav(shipped_files()["wvs7_sav"], user_missing=True)
    wvs = pd.concat([wvs[wvs["B_COUNTRY_ALPHA"] == c].head(N_PER_COUNTRY) for c in ("CHN", "USA")])
    wvs = wvs.reset_index(drop=True)
    wvs["D_INTERVIEW"] = rng.choice(np.arange(412_000_000, 499_999_999), size=len(wvs), replace=False)
    wvs["version"] = "5-0-0 (2022-12-23)"
    wvs["doi"] = "doi.org/10.14281/18241.20"
    pyreadstat.write_sav(
        wvs, data / "WVS_Cross-National_Wave_7_spss_v5_0.sav", file_label="WVS Wave 7 cross-national (v5)",
        missing_ranges={item: [{"lo": -5.0, "hi": -1.0}] for item in WVS7_ITEMS},
    )  # fmt: skip
    mfq, _ = pyreadstat.read_sav(shipped_files()["mfq2_sav"], user_missing=True)
    mfq = pd.concat([mfq[mfq["nation"] == n].head(N_PER_COUNTRY) for n in (1.0, 2.0)]).reset_index(drop=True)
    letters = np.array(list("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"))
    mfq.insert(0, "ResponseId", ["R_" + "".join(rng.choice(letters, 15)) for _ in range(len(mfq))])
    mfq = mfq.drop(columns=["respondent_id"])
    pyreadstat.write_sav(
        mfq, data / "MFQ2_study.sav", missing_ranges={f"MFQ_{i}": [-99.0] for i in range(1, 37)}
    )
    mapping = yaml.safe_load(shipped_files()["mfq2_mapping"].read_text())
    mapping["id_column"] = "ResponseId"
    (data / "MFQ2_study.mapping.yaml").write_text(yaml.safe_dump(mapping))
    return {"wvs7": [str(int(v)) for v in wvs["D_INTERVIEW"]], "mfq2": list(mfq["ResponseId"])}


def _study(root: Path) -> dict:
    models = [
        {"id": f"sim-{o.lower()}-0{i}", "provider": "simulated", "origin": o, "company": "simulated"}
        for o in ("CN", "US")
        for i in (1, 2, 3)
    ]
    return {
        "name": "private",
        "instruments": ["mfq2", "wvs7"],
        "languages": ["en", "zh"],
        "personas": ["none", "cn", "us"],
        "repetitions": 2,
        "models": models,
        "humans": {
            "wvs7": {"path": "data/WVS_Cross-National_Wave_7_spss_v5_0.sav"},
            "mfq2": {"path": "data/MFQ2_study.sav", "mapping": "data/MFQ2_study.mapping.yaml"},
        },
        "analysis": {"bootstrap": 10, "seed": 3},
        # A declared analysis of the similarity table: its rows carry participants, so they ship
        # pseudonymised and Rscript refits it from them.
        "analyses": [
            {
                "name": "wvs7_by_language",
                "data": "similarity",
                "where": "instrument == 'wvs7' and removed == 'none'",
                "formula": "cosine ~ language + (1 | participant) + (1 | model)",
            }
        ],
        "report": {"formats": ["html", "pdf"], "renderer": "pandoc"},
    }


@pytest.fixture(scope="module")
def private_study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[str]]]:
    root = tmp_path_factory.mktemp("private") / "study"
    (root / "data").mkdir(parents=True)
    ids = _release_like_files(root / "data", np.random.default_rng(11))
    (root / "study.yaml").write_text(yaml.safe_dump(_study(root)), encoding="utf-8")
    summary = run_study(root, progress=False)
    assert summary.ran == ("elicit", "analyze", "figures", "report")
    assert (root / "report" / "private.pdf").exists() and (root / "report" / "private.html").exists()
    return root, ids


@pytest.fixture(scope="module")
def artifact(private_study, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    root, _ = private_study
    return _members(build_artifact(root, out=tmp_path_factory.mktemp("zip") / "artifact.zip"))


def _members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name.split("/", 1)[1]: archive.read(name) for name in archive.namelist()}


# -------------------------------------------------------------------------------- the scan


def _tables(name: str, data: bytes, scratch: Path) -> list[tuple[str, pd.DataFrame]]:
    """Every table a file holds (CSV, parquet, SQLite), by name."""
    if name.endswith(".parquet"):
        return [(name, pd.read_parquet(io.BytesIO(data)))]
    if name.endswith(".csv"):
        return [(name, pd.read_csv(io.BytesIO(data), dtype=str))]
    if name.endswith((".sav", ".dta")):
        path = scratch / f"scan{Path(name).suffix}"
        path.write_bytes(data)
        reader = pyreadstat.read_sav if name.endswith(".sav") else pyreadstat.read_dta
        return [(name, reader(path)[0])]
    if name.endswith(".sqlite"):
        path = scratch / "scan.sqlite"
        path.write_bytes(data)
        with sqlite3.connect(path) as db:
            tables = [row[0] for row in db.execute("select name from sqlite_master where type = 'table'")]
            return [(f"{name}:{t}", pd.read_sql_query(f'select * from "{t}"', db)) for t in tables]
    return []


def _text(name: str, data: bytes, scratch: Path) -> str:
    """Everything a reader (or a program) can read from a file, as text."""
    if name.endswith(".pdf"):
        path = scratch / "scan.pdf"
        path.write_bytes(data)
        return subprocess.run(
            ["pdftotext", str(path), "-"], capture_output=True, text=True, check=True
        ).stdout
    if name.endswith(".png"):
        assert data[:8] == b"\x89PNG\r\n\x1a\n", name
        return "".join(chr(b) if 32 <= b < 127 else " " for b in data)  # text chunks, if any
    if name.endswith((".parquet", ".sqlite", ".sav", ".dta")):
        return "\n".join(frame.astype(str).to_csv(index=False) for _, frame in _tables(name, data, scratch))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pytest.fail(f"{name}: a file type the scan cannot read")


def _tokens(text: str) -> set[str]:
    # ids as whole tokens: "412345678", "412345678.0" (a float in a CSV) or "R_AbC…"
    return set(re.findall(r"(?<![0-9A-Za-z_])(R_[0-9A-Za-z]{15}|\d{6,})(?:\.0+)?(?![0-9A-Za-z_])", text))


def _scan(files: dict[str, bytes], ids: dict[str, list[str]], scratch: Path) -> dict[str, list[str]]:
    """What of the human microdata each file carries: release ids, answer columns of persons."""
    wanted = {i for values in ids.values() for i in values}
    found: dict[str, list[str]] = {}
    for name, data in files.items():
        hits = sorted(_tokens(_text(name, data, scratch)) & wanted)
        if hits:
            found.setdefault(name, []).append(f"{len(hits)} respondent ids, e.g. {hits[0]}")
        for table_name, frame in _tables(name, data, scratch):
            persons = frame
            if "source" in frame.columns:
                persons = frame[frame["source"].astype(str) == "human"]
            if "participant" not in persons.columns or persons["participant"].isna().all():
                continue
            answers = sorted(ANSWER_COLUMNS & set(persons.columns))
            if answers and len(persons):
                found.setdefault(table_name, []).append(f"per-person columns {answers}")
    return found


def test_no_file_of_the_zip_carries_microdata(
    artifact: dict[str, bytes], private_study, tmp_path: Path
) -> None:
    _, ids = private_study
    kinds = {Path(name).suffix for name in artifact}
    assert {".parquet", ".csv", ".json", ".sqlite", ".html", ".pdf", ".png", ".md"} <= kinds
    assert _scan(artifact, ids, tmp_path) == {}
    left_out = [
        "study/data/WVS_Cross-National_Wave_7_spss_v5_0.sav",
        "study/data/MFQ2_study.sav",
        "study/humans/wvs7.parquet",
        "study/humans/mfq2.parquet",
    ]
    for name in left_out:
        assert name.removeprefix("study/") not in {n.removeprefix("study/") for n in artifact}, name


def test_the_scan_finds_microdata_when_they_are_included(private_study, tmp_path: Path) -> None:
    root, ids = private_study
    files = _members(build_artifact(root, include_human_data=True, out=tmp_path / "with.zip"))
    found = _scan(files, ids, tmp_path)
    assert "study/humans/wvs7.parquet" in found and "study/similarity/wvs7_zscores.parquet" in found
    assert any("MFQ2_study.sav" in name for name in found)


def test_pseudonyms_are_consistent_and_keyless(
    artifact: dict[str, bytes], private_study, tmp_path: Path
) -> None:
    root, ids = private_study
    for instrument in ("wvs7", "mfq2"):
        shipped = pd.read_parquet(io.BytesIO(artifact[f"study/similarity/{instrument}.parquet"]))
        original = pd.read_parquet(root / "similarity" / f"{instrument}.parquet")
        assert (
            len(shipped) == len(original)
            and shipped["participant"].nunique() == original["participant"].nunique()
        )
        assert shipped["participant"].str.fullmatch(r"p[0-9a-f]{16}").all()
        assert not set(shipped["participant"]) & set(ids[instrument])
        # the cosines are the originals', person by person (the same multiset per nationality)
        for nat in ("CN", "US"):
            a = np.sort(shipped.loc[shipped["nationality"] == nat, "cosine"].dropna().to_numpy())
            b = np.sort(original.loc[original["nationality"] == nat, "cosine"].dropna().to_numpy())
            np.testing.assert_array_equal(a, b)
        rq = pd.read_csv(
            io.BytesIO(artifact[f"study/similarity/{instrument}_rq.csv"]), dtype={"participant": str}
        )
        assert set(rq["participant"]) <= set(shipped["participant"])
        zscores = pd.read_parquet(io.BytesIO(artifact[f"study/similarity/{instrument}_zscores.parquet"]))
        assert set(zscores["source"]) == {"llm"}
    declared = pd.read_csv(
        io.BytesIO(artifact["study/analyses/wvs7_by_language_rows.csv"]), dtype={"participant": str}
    )
    assert len(declared) == len(pd.read_csv(root / "analyses" / "wvs7_by_language_rows.csv"))
    similarity = pd.read_parquet(io.BytesIO(artifact["study/similarity/wvs7.parquet"]))
    assert set(declared["participant"]) <= set(similarity["participant"])
    # a second build draws a new key: nothing links two artifacts' pseudonyms
    again = _members(build_artifact(root, out=tmp_path / "again.zip"))
    first = set(pd.read_parquet(io.BytesIO(artifact["study/similarity/wvs7.parquet"]))["participant"])
    second = set(pd.read_parquet(io.BytesIO(again["study/similarity/wvs7.parquet"]))["participant"])
    assert not first & second


def test_models_refit_from_the_pseudonymised_rows(artifact: dict[str, bytes], tmp_path: Path) -> None:
    top = tmp_path / "unpacked"
    for name, data in artifact.items():
        (top / name).parent.mkdir(parents=True, exist_ok=True)
        (top / name).write_bytes(data)
    done = subprocess.run(
        ["Rscript", "code/R/run_models.R", "study", "refit"],
        cwd=top,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    refit = sorted((top / "refit").glob("*.csv"))
    assert {p.name for p in refit} >= {
        "rq1_wvs7.csv",
        "rq2_mfq2.csv",
        "rq3_wvs7.csv",
        "table2_mfq2.csv",
        "fit_info.csv",
        "wvs7_by_language.csv",
    }
    for path in refit:
        ours = pd.read_csv(top / "study" / "estimates" / path.name)
        theirs = pd.read_csv(path)
        if "seconds" in ours.columns:
            ours, theirs = ours.drop(columns="seconds"), theirs.drop(columns="seconds")
        if path.name == "coding.csv":  # levels are listed in the order the rows first show them
            keys = ["analysis", "variable", "contrast", "level"]
            ours, theirs = (f.sort_values(keys).reset_index(drop=True) for f in (ours, theirs))
        # variance components (RQ1-RQ3's and the declared analyses') agree as SEs do
        variance = ("estimate",) if path.name.endswith("random_effects.csv") else ()
        assert_fits_agree(theirs, ours, name=path.name, variance=variance)


def test_readme_says_what_is_missing_and_how_to_rebuild(artifact: dict[str, bytes], private_study) -> None:
    root, _ = private_study
    readme = artifact["README.md"].decode()
    manifest = json.loads((root / "manifest.json").read_text())
    digest = manifest["stages"]["humans"]["inputs"]["wvs7_file"]
    for needle in (
        "study/data/WVS_Cross-National_Wave_7_spss_v5_0.sav",
        "study/humans/wvs7.parquet",
        "version 5-0-0 (2022-12-23)",
        digest,
        "code/data/README.md",
        "valuesurvey run study/study.yaml --stages analyze,figures,report --force",
        "Rscript code/R/run_models.R study OUT",
        "pseudonymous participant ids",
        "`study/similarity/wvs7_rq.csv`",
        "`study/similarity/wvs7_zscores.parquet` (LLM rows only)",
        "`study/analyses/wvs7_by_language_rows.csv` (person rows)",
        "the analyses declared in study.yaml",
        "pseudonymous, not anonymous",
    ):
        assert needle in readme, needle
    assert artifact["study/study.yaml"] == (root / "study.yaml").read_bytes()
    assert not any(name.startswith("study/report/_build/") for name in artifact)


def test_cli_artifact_without_human_data(private_study, tmp_path: Path) -> None:
    root, ids = private_study
    out = tmp_path / "cli.zip"
    done = subprocess.run(
        [sys.executable, "-m", "valuesurvey", "artifact", str(root / "study.yaml"), "--out", str(out)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert _scan(_members(out), ids, tmp_path) == {}
