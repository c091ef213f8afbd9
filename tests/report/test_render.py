"""Render the fixture study without Quarto and check what the reader gets."""

from __future__ import annotations

import html as htmllib
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from outline import html_headings, page_problems

from valuesurvey.figures import FIGURES
from valuesurvey.report.content import fmt_num, fmt_p
from valuesurvey.study import Study


def _text(path: Path) -> str:
    raw = path.read_text(encoding="utf-8")
    return re.sub(r"\s+", " ", htmllib.unescape(re.sub(r"<[^>]+>", " ", raw)))


def test_outputs_land_in_report_dir(fixture_study: Study, rendered: dict[str, Path]) -> None:
    assert rendered["html"] == fixture_study.paths.report_dir / "fixture.html"
    assert rendered["pdf"].read_bytes()[:5] == b"%PDF-"


def test_every_figure_is_embedded_with_a_number(rendered: dict[str, Path]) -> None:
    raw = rendered["html"].read_text(encoding="utf-8")
    for number, spec in enumerate(FIGURES, start=1):
        ident = "fig-" + spec.name.replace("_", "-")
        block = re.search(rf'<figure id="{ident}".*?</figure>', raw, re.S)
        assert block, ident
        assert 'src="data:image/png;base64,' in block.group(0), f"{ident} is not self-contained"
        assert f"Figure {number}:" in block.group(0)


def test_tables_of_both_fits_and_appendix_present(rendered: dict[str, Path]) -> None:
    raw = rendered["html"].read_text(encoding="utf-8")
    for ident in (
        "tbl-models",
        "tbl-humans",
        "tbl-exclusions",
        "tbl-topbottom",
        "tbl-archetypes",
        "tbl-rank-dimensions",
        "tbl-rank-values",
        "tbl-rank-origin",
        "tbl-versions",
        "tbl-hashes",
        "tbl-elicitation",
    ):
        assert f'id="{ident}"' in raw, ident
    for rq in (1, 2, 3):
        for instrument in ("mfq2", "wvs7"):
            block = re.search(rf'<div id="tbl-rq{rq}-{instrument}".*?</table>', raw, re.S)
            assert block, (rq, instrument)
            assert "lm β" in block.group(0) and "lmer β" in block.group(0)


def test_no_unresolved_reference_or_missing_figure(rendered: dict[str, Path]) -> None:
    text = _text(rendered["html"])
    assert "?@" not in text and "??" not in text
    assert "not drawn" not in text and "not in the study" not in text
    assert "Figure 1" in text and "Table 1" in text and "Section 2.1" in text
    assert re.search(r"Atari et al\.\s+2023", text)  # citeproc resolved the citation


def test_key_numbers_equal_the_estimates_csv(fixture_study: Study, rendered: dict[str, Path]) -> None:
    text = _text(rendered["html"])
    for instrument in ("mfq2", "wvs7"):
        est = pd.read_csv(fixture_study.paths.estimates(f"rq1_{instrument}"))
        for fit in ("lm", "lmer"):
            row = est[(est["model"] == fit) & (est["term"] == "nationalityCN")].iloc[0]
            p = fmt_p(row["p_value"])
            expected = f"{fit} β = {fmt_num(row['estimate'])}, p {p if p.startswith('<') else '= ' + p}"
            assert expected.replace("\xa0", " ") in text, expected  # _text folds the nbsp
    sentence = re.search(r"Key effects: Nationality \(China \+0\.5 / USA −0\.5\) \(lm β = ([-0-9.]+)", text)
    est = pd.read_csv(fixture_study.paths.estimates("rq1_mfq2"))
    lm = est[(est["model"] == "lm") & (est["term"] == "nationalityCN")].iloc[0]
    assert sentence and sentence.group(1) == fmt_num(lm["estimate"])
    est2 = pd.read_csv(fixture_study.paths.estimates("rq2_wvs7"))
    row = est2[(est2["model"] == "lmer") & (est2["term"] == "persona_congruentyes")].iloc[0]
    assert "Persona congruent (+0.5) (lm β = " in text and f"lmer β = {fmt_num(row['estimate'])}" in text
    n_cn = (
        pd.read_parquet(fixture_study.paths.humans("mfq2"))
        .query("nationality == 'CN'")["participant"]
        .nunique()
    )
    assert (
        f"| MFQ-2 | China | {n_cn} |"
        in (fixture_study.paths.report_dir / "_build/reports/manuscript.md").read_text()
    )


def test_synthetic_banner(rendered: dict[str, Path]) -> None:
    raw = rendered["html"].read_text(encoding="utf-8")
    body = raw[raw.index("<body") :]
    banner = body.index("SIMULATED DATA: fixture study for tests")
    assert 'class="synthetic-banner"' in body[:banner] and banner < body.index("Abstract")
    assert body.count("SIMULATED DATA: fixture study for tests") == 2  # top banner and callout
    assert re.search(r"\.synthetic-banner\s*\{[^}]*position:\s*fixed", raw)  # stays in view


def test_tables_show_readable_terms(rendered: dict[str, Path]) -> None:
    text = _text(rendered["html"])
    for label in (
        "Nationality (China +0.5 / USA −0.5)",
        "LLM origin (China +0.5 / USA −0.5)",
        "Nationality × LLM origin",
        "Language congruent (+0.5)",
        "Origin congruent (+0.5)",
        "Nationality × LLM origin × Removed: Care",
        "Intercept",
        "Coding: nationality CN = +0.5, US = −0.5",
    ):
        assert label in text, label
    for raw_name in (
        "nationalityCN",
        "originCN",
        "language_congruentyes",
        "removedCare",
        "(Intercept)",
    ):
        assert raw_name not in text, raw_name
    assert not re.search(r"\bnan\b", text)
    raw = rendered["html"].read_text(encoding="utf-8")
    body = re.search(r'<div id="tbl-rq3-wvs7".*?</table>', raw, re.S).group(0)
    assert "Removed" not in body  # the body keeps the main effects; removals get their own table
    assert 'id="tbl-rq3-removed-wvs7"' in raw and 'id="tbl-rq3-full-wvs7"' in raw


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_synthetic_note_on_every_pdf_page(rendered: dict[str, Path]) -> None:
    info = subprocess.run(["pdfinfo", str(rendered["pdf"])], capture_output=True, text=True, check=True)
    pages = int(re.search(r"Pages:\s+(\d+)", info.stdout).group(1))
    assert pages > 3
    for page in range(1, pages + 1):
        text = subprocess.run(
            ["pdftotext", "-f", str(page), "-l", str(page), str(rendered["pdf"]), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        # pdftotext may interleave the footer with a table's columns: check every word is there
        for word in ["SIMULATED", "DATA:", "fixture", "study", "for", "tests"]:
            assert word in text, (page, word)


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_pdf_text_contains_the_tables(fixture_study: Study, rendered: dict[str, Path]) -> None:
    text = subprocess.run(
        ["pdftotext", "-layout", str(rendered["pdf"]), "-"], capture_output=True, text=True, check=True
    ).stdout
    text = text.replace("\u2212", "-")  # typst typesets a leading hyphen-minus as a minus sign
    assert "?@" not in text and "??" not in text
    for caption in (
        "RQ1, MFQ-2: lm and lmer estimates",
        "RQ2, WVS-7",
        "RQ3, MFQ-2",
        "Software versions",
        "Elicitation statistics",
    ):
        assert caption in text, caption
    est = pd.read_csv(fixture_study.paths.estimates("rq2_mfq2"))
    for value in est[est["model"] == "lmer"]["estimate"].head(4):
        assert fmt_num(value) in text
    assert len(re.findall(r"Figure \d+:", text)) >= len(FIGURES)


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_pdf_pages_break_cleanly(rendered: dict[str, Path]) -> None:
    """Paging through the PDF: no table runs past a page's bottom into the footer, no page holds
    only a heading or ends with one (test_quarto.py checks Quarto's PDF the same way)."""
    headings = html_headings(rendered["html"])
    assert "Full RQ3 models" in headings
    problems = page_problems(
        rendered["pdf"], footer="SIMULATED DATA: fixture study for tests", headings=headings
    )
    assert problems == []
