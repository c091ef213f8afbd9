"""The run/resume/artifact commands, called as functions (no subprocess)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest
import typer

from valuesurvey.cli import pipeline as cli


def test_resume_without_run_exits_with_one_line(study_dir: Path, capsys) -> None:
    command = __import__("valuesurvey.cli._common", fromlist=["handle_errors"]).handle_errors(cli.resume)
    with pytest.raises(typer.Exit) as info:
        command(study_dir / "study.yaml", quiet=True)
    assert info.value.exit_code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "no run to resume" in err and "\n" not in err


def test_unknown_stage_names_valid_stages(study_dir: Path, capsys) -> None:
    command = __import__("valuesurvey.cli._common", fromlist=["handle_errors"]).handle_errors(cli.run)
    with pytest.raises(typer.Exit):
        command(study_dir, stages="elicit,plot", quiet=True)
    assert "valid stages: elicit, analyze, figures, report" in capsys.readouterr().err


def test_artifact_command_writes_zip(study_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "paper.zip"
    cli.artifact(study_dir, out=out)
    assert f"artifact: {out.resolve()}" in capsys.readouterr().out
    with zipfile.ZipFile(out) as archive:
        assert "tiny-artifact/SHA256SUMS" in archive.namelist()
