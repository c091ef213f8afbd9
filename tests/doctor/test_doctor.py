from __future__ import annotations

from typer.testing import CliRunner

from valuesurvey.cli import app
from valuesurvey.doctor import Need, check_components


def test_doctor_finds_r_with_lme4_lmertest_emmeans():
    components = {component.name: component for component in check_components()}
    r = components["R (>= 4.2)"]
    assert r.found and tuple(int(x) for x in r.version.split(".")[:2]) >= (4, 2)
    for package in ("lme4", "lmerTest", "emmeans"):
        assert components[f"R package {package}"].found, package
    assert components["rpy2 (3.5.x)"].found
    assert all(component.ok for component in components.values())


def test_doctor_cli_exits_zero_when_everything_required_is_there():
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output
    assert "lmerTest" in result.output


def test_doctor_names_the_fix_when_r_is_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no Rscript, no quarto, no pdftotext
    components = {component.name: component for component in check_components()}
    assert not components["R (>= 4.2)"].found
    assert components["R (>= 4.2)"].need is Need.required
    result = CliRunner().invoke(app, ["doctor"])
    assert result.exit_code == 1
    assert "apt-get install r-base-core" in result.output
