"""The report's section on the declared analyses: one subsection per analysis with its data, filter,
formula, coding and fit facts, and tables whose numbers are those of estimates/<name>.csv and the
emmeans and contrast files; rendered by the pandoc route (HTML and PDF) and by real Quarto (HTML)."""

from __future__ import annotations

import html as htmllib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from valuesurvey.report import quarto_version
from valuesurvey.report._declared import _num, declared_section
from valuesurvey.study import Study, load_study

SUBSECTIONS = ["similarity_slopes", "mfq_ordinal", "persona_contrast"]


def _text(path: Path) -> str:
    raw = path.read_text(encoding="utf-8")
    return re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", raw)))


def _copy(study: Study, target: Path) -> Study:
    shutil.copytree(study.root, target, ignore=shutil.ignore_patterns("report"))
    return load_study(target / "study.yaml")


def _estimate_cells(study: Study, name: str) -> list[str]:
    tidy = pd.read_csv(study.paths.estimates(name))
    return [_num(v) for v in tidy["estimate"]]


def test_section_prints_spec_coding_and_the_estimates_files(analyzed_study: Study) -> None:
    md = declared_section(analyzed_study)
    assert md.startswith("## Analyses declared in study.yaml {#sec-declared}")
    blocks = re.split(r"^### ", md, flags=re.M)[1:]
    assert [b.split(" ", 1)[0] for b in blocks] == SUBSECTIONS
    sections = dict(zip(SUBSECTIONS, blocks, strict=True))
    for spec in analyzed_study.analyses:
        block = sections[spec.name]
        assert f"`{spec.formula}`" in block
        assert f"{{#tbl-declared-{spec.name.replace('_', '-')}}}" in block
        rows = block.split(f"{{#tbl-declared-{spec.name.replace('_', '-')}}}")[0]
        for cell in _estimate_cells(analyzed_study, spec.name):
            assert f"| {cell} |" in rows, (spec.name, cell)
    slopes = sections["similarity_slopes"]
    assert "rows where `removed == 'none' and persona == 'none'`" in slopes
    assert "Fitted as a linear mixed model (lme4::lmer, REML, lmerTest Satterthwaite df)" in slopes
    assert "(1 + originCN | participant) + (1 + nationalityCN | model)" in slopes  # as fitted
    assert "nationality half-sum, CN = +0.5, US = −0.5" in slopes
    assert "| Language (zh +0.5 / en −0.5) |" in slopes
    info = pd.read_csv(analyzed_study.paths.estimates("declared_fit_info")).set_index("analysis")
    assert f"{int(info.loc['similarity_slopes', 'nobs']):,} rows" in slopes
    singular = bool(info.loc["similarity_slopes", "singular"])
    assert ("**The fit is singular**" in slopes) == singular
    assert ("The fit converged and is not singular." in slopes) == (
        not singular and bool(info.loc["similarity_slopes", "converged"])
    )

    ordinal = sections["mfq_ordinal"]
    assert "cumulative link mixed model (ordinal::clmm, logit link, Laplace approximation)" in ordinal
    assert "| Term | Estimate | SE | z | p | 95% CI |" in ordinal  # Wald z: no df column
    assert "| Threshold 1\\|2 |" in ordinal
    assert "estimated marginal means `~ origin | language` (emmeans, latent scale)" in ordinal
    contrasts = pd.read_csv(analyzed_study.paths.estimates("mfq_ordinal_contrasts"))
    for at, estimate in zip(contrasts["at"], contrasts["estimate"], strict=True):
        assert re.search(rf"\| {re.escape(at)} \| CN - US \| {re.escape(_num(estimate))} \|", ordinal)

    persona = sections["persona_contrast"]
    assert "persona treatment, reference none" in persona
    assert "(trt.vs.ctrl, control none; p adjusted: holm)" in persona
    assert "contrasts of `~ persona` (custom; p adjusted: holm)" in persona
    assert "| cn_minus_us |" in persona and "| persona_vs_none |" in persona


def test_no_section_without_declared_analyses(tmp_path: Path, study_writer) -> None:
    assert declared_section(study_writer(tmp_path, analyses=[])) == ""


def test_not_fitted_and_not_yet_fitted(analyzed_study: Study, tmp_path: Path) -> None:
    study = _copy(analyzed_study, tmp_path / "study")
    # What R writes when the simplification leaves no structure (decl_not_fitted in R/declared.R).
    header = pd.read_csv(study.paths.estimates("persona_contrast")).iloc[:0]
    header.to_csv(study.paths.estimates("persona_contrast"), index=False)
    info = pd.read_csv(study.paths.estimates("declared_fit_info"))
    why = "no random-effect structure converged without a singular fit: no estimates reported"
    info.loc[info["analysis"] == "persona_contrast", ["messages", "converged"]] = [why, False]
    info.to_csv(study.paths.estimates("declared_fit_info"), index=False)
    study.paths.estimates("similarity_slopes").unlink()
    md = declared_section(study)
    persona = md.split("### persona_contrast")[1]
    assert f"**No estimates** (R: “{why}”)" in persona
    assert "{#tbl-declared-persona-contrast}" not in persona and "did not converge" not in persona
    assert "`estimates/similarity_slopes.csv` is absent (run `valuesurvey analyze`)" in md


def _check_rendered_html(study: Study, html: Path) -> None:
    text = _text(html)
    assert "?@" not in text and "??" not in text
    numbered = re.search(r"(\d+(?:\.\d+)*) Analyses declared in study\.yaml", text)
    assert numbered, "the section has no number"
    for k, name in enumerate(SUBSECTIONS, start=1):
        assert f"{numbered.group(1)}.{k} {name}" in text
    tables = re.findall(r"Table (\d+): (similarity_slopes|mfq_ordinal|persona_contrast)", text)
    assert [name for _, name in tables] == [
        "similarity_slopes",
        *["mfq_ordinal"] * 3,  # coefficients, emmeans, contrasts
        *["persona_contrast"] * 5,  # fixed effects, two emmeans with their contrasts
    ]
    first = {name: number for number, name in reversed(tables)}
    for name in SUBSECTIONS:  # the cross-reference in the text resolves to the analysis's table
        assert f"( Table {first[name]} )" in text, name
        for cell in _estimate_cells(study, name):
            assert cell in text


@pytest.mark.slow
def test_pandoc_route_renders_the_section(analyzed_study: Study, tmp_path: Path) -> None:
    from valuesurvey.report import render_report

    study = _copy(analyzed_study, tmp_path / "study")
    html, pdf = render_report(study, formats=("html", "pdf"), renderer="pandoc")
    _check_rendered_html(study, html)
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert "Analyses declared in study.yaml" in text and "Threshold 1|2" in text
    assert "persona_vs_none" in text
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))
    from outline import html_headings, page_problems  # the report tests' page checker

    assert page_problems(pdf, footer=study.synthetic_note, headings=html_headings(html)) == []


@pytest.mark.slow
@pytest.mark.quarto
@pytest.mark.skipif(
    quarto_version() is None or quarto_version() < (1, 4), reason="Quarto >= 1.4 is not installed"
)
def test_quarto_renders_the_section(analyzed_study: Study, tmp_path: Path) -> None:
    from valuesurvey.report import render_report

    study = _copy(analyzed_study, tmp_path / "study")
    (html,) = render_report(study, formats=("html",), renderer="quarto")
    _check_rendered_html(study, html)


def test_rows_with_a_missing_value_are_counted_per_column(tmp_path: Path, study_writer) -> None:
    from valuesurvey.analyses import run_declared_analyses

    analysis = {"name": "valid_only", "data": "ratings", "formula": "rating ~ origin"}
    study = study_writer(tmp_path, analyses=[analysis])
    ratings = pd.read_parquet(study.paths.llm_ratings)
    invalid = ratings.index[:7]
    ratings.loc[invalid, ["rating", "status"]] = [float("nan"), "invalid"]
    ratings.to_parquet(study.paths.llm_ratings)
    run_declared_analyses(study)
    info = pd.read_csv(study.paths.estimates("declared_fit_info")).iloc[0]
    assert (info["n_rows"], info["n_dropped"], info["nobs"]) == (len(ratings), 7, len(ratings) - 7)
    assert f"left out 7 of {len(ratings)} rows with a missing value (rating: 7)" in info["messages"]
    md = declared_section(study)
    assert f"{len(ratings) - 7:,} rows (7 with a missing value left out)" in md
    assert "(rating: 7)" in md
