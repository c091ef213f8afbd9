"""The manuscript's title, abstract and limitations are computed from the study: its design
(countries, origins, languages, personas), its instruments, which RQs were fitted and whether human
data were used. Each expectation below is counted from the study's own files, not written in."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from valuesurvey import instruments
from valuesurvey._io import write_csv, write_parquet
from valuesurvey.report.content import ReportContent, country_place, open_study
from valuesurvey.study import ESTIMATE_COLUMNS, ReportSettings, Study, load_study

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analysis"))
from test_scores import _ipip_study  # the English-only Mini-IPIP study of the scoring tests

PAPER_TITLE = "Values of LLMs made in China and the USA, measured with human questionnaires"


def _join(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _origin_counts(study: Study) -> dict[str, int]:
    """Models per origin, as the ratings table records them (one origin per model)."""
    ratings = pd.read_parquet(study.paths.llm_ratings).drop_duplicates("model")
    return {str(k): int(v) for k, v in ratings["origin"].astype(str).value_counts().items()}


def _human_counts(study: Study) -> tuple[list[str], dict[str, int]]:
    """The respondents' countries and how many respondents per instrument, from humans/*.parquet."""
    countries: set[str] = set()
    counts = {}
    for path in sorted(study.paths.humans_dir.glob("*.parquet")):
        humans = pd.read_parquet(path)
        countries |= set(humans["nationality"].astype(str))
        counts[path.stem] = humans["participant"].nunique()
    return [c for c in study.design.codes if c in countries], counts


# ---- (a) the paper's two-country fixture study ------------------------------------------------


def test_the_paper_design_keeps_the_papers_facts(fixture_study: Study) -> None:
    doc = ReportContent(fixture_study)
    text = str(doc.abstract())
    counts = _origin_counts(fixture_study)
    assert set(counts) == {"CN", "US"}
    people, n_people = _human_counts(fixture_study)
    assert people == ["CN", "US"]
    assert text.startswith(
        f"We elicited answers from {sum(counts.values())} large language models ({counts['CN']} made in "
        f"China, {counts['US']} made in the USA) to MFQ-2 (36 items) and WVS-7 (Q177–Q195), in English "
        "and Chinese, with no persona and with personas from China and the USA, and compared them with "
        f"synthetic human respondents from China and the USA ({n_people['mfq2']:,} for MFQ-2, "
        f"{n_people['wvs7']:,} for WVS-7) [@atari2023morality; @haerpfer2022wvs]."
    )
    assert sorted(p.stem for p in fixture_study.paths.estimates_dir.glob("rq[123]_*.csv"))
    for question in ("country of origin (RQ1)", "steer them (RQ2)", "drive the alignment (RQ3)"):
        assert question in text
    assert "not fitted" not in text
    n_values = len(instruments.get("ai_values").items)
    assert (
        f"Following @ma2026divergence, a ranking study asks each model to order {n_values} AI-native values."
        in text
    )
    assert text.endswith(
        "the regressions are fitted both as the paper's linear models and as mixed models with crossed "
        "random effects [@bates2015lme4; @kuznetsova2017lmertest]."
    )
    assert "Following @madethinking2025, we measure the cosine similarity" in text
    # The title: the study's own; the design's title names the same facts as the paper's.
    assert doc.title == fixture_study.title
    assert (
        doc.design_title()
        == "Values of LLMs made in China and the USA, measured with MFQ-2, WVS-7 and AI values"
    )
    assert str(doc.instruments_limitation()) == (
        "Values are operationalised as answers to two widely used questionnaires and one ranking task"
    )
    assert "@sec-ranking" in doc.methods_note() and "@sec-rq1 to @sec-rq3" in doc.methods_note()
    # The figures' captions name the paper's groups as before.
    assert doc._figure_caption("(A, B; grey background: {shaded_origins})") == (
        "(A, B; grey background: LLMs made in China)"
    )
    assert doc._figure_caption("{ranking_groups}: top-5") == "LLMs made in China versus the USA: top-5"


def test_report_title_wins_over_the_study_title(fixture_study: Study) -> None:
    settings = ReportSettings(title="Mine")
    doc = ReportContent(fixture_study.model_copy(update={"report": settings}))
    assert doc.title == "Mine"
    untitled = ReportContent(fixture_study.model_copy(update={"title": None}))
    assert untitled.title == untitled.design_title()


# ---- (b) four countries, a French and a no-country model, no ranking ------------------------

COUNTRIES = ("CN", "US", "TW", "SG")
#: R's terms under sum contrasts (Singapore the reference level; France and none further origins).
SUM_CODED_TERMS = [
    "(Intercept)", "nationalityCN", "nationalityUS", "nationalityTW", "originCN", "originUS", "originTW",
    "originFR", "originnone", "nationalityCN:originCN", "nationalityCN:originUS", "nationalityUS:originUS",
    "nationalityTW:originTW", "nationalityTW:originFR",
]  # fmt: skip
RQ2_TERMS = ["(Intercept)", "language_congruentyes", "persona_congruentyes", "origin_congruentyes"]
ORIGINS = {"sim-cn": "CN", "sim-us": "US", "sim-tw": "TW", "sim-sg": "SG", "sim-fr": "FR", "sim-x": "none"}


def _four_country_study(root: Path) -> Study:
    """Contract-shaped tables of a 4-country study (every RQ fitted with lm and the two-stage check)."""
    rng = np.random.default_rng(3)
    spec = {
        "name": "four",
        "instruments": ["mfq2", "wvs7"],
        "countries": ["CN", "US", {"code": "TW", "languages": ["zh"]}, {"code": "SG", "languages": ["en"]}],
        "languages": ["en", "zh"],
        "personas": ["none", "CN", "TW"],
        "repetitions": 1,
        "models": [{"id": m, "provider": "simulated", "origin": o} for m, o in ORIGINS.items()],
        "humans": {i: {"path": f"raw/{i}.csv", "synthetic": True} for i in ("mfq2", "wvs7")},
        "analysis": {"fits": ["lm", "two_stage"]},
    }
    root.mkdir(parents=True, exist_ok=True)
    (root / "study.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    rows, people = [], []
    for instrument in ("mfq2", "wvs7"):
        items = [item.id for item in instruments.get(instrument).items]
        for model, origin in ORIGINS.items():
            for language in ("en", "zh"):
                for persona in ("none", "CN", "TW"):
                    for item in items:
                        rating = float(rng.integers(1, 6))
                        rows.append(
                            (model, origin, "sim", instrument, language, persona, 0, item, rating, "ok")
                        )
        n = {"CN": 7, "US": 5, "TW": 4, "SG": 3}
        for country in COUNTRIES:
            for p in range(n[country] + (instrument == "wvs7")):
                for item in items:
                    people.append((f"{country}{p}", country, item, float(rng.integers(1, 6)), 1.0))
        humans = pd.DataFrame(people, columns=["participant", "nationality", "item", "rating", "weight"])
        write_parquet(root / "humans" / f"{instrument}.parquet", humans)
        people = []
        for rq in (1, 2, 3):
            terms = RQ2_TERMS if rq == 2 else SUM_CODED_TERMS
            estimates = [
                (f"rq{rq}_{instrument}", fit, term, 0.1, 0.01, 10.0, 10.0, 0.001, 0.08, 0.12, "OLS")
                for fit in ("lm", "two_stage")
                for term in terms
            ]
            write_csv(
                root / "estimates" / f"rq{rq}_{instrument}.csv",
                pd.DataFrame(estimates, columns=list(ESTIMATE_COLUMNS)),
            )
    coding = [
        (f"rq{rq}_{instrument}", variable, "contr_sum", level, contrast, value)
        for rq in (1, 3)
        for instrument in ("mfq2", "wvs7")
        for variable, levels in (
            ("nationality", COUNTRIES),
            ("origin", (*COUNTRIES[:-1], "FR", "none", "SG")),
        )
        for level in levels
        for contrast in levels[:-1]
        for value in [-1.0 if level == levels[-1] else float(level == contrast)]
    ]
    write_csv(
        root / "estimates" / "coding.csv",
        pd.DataFrame(coding, columns=["analysis", "variable", "scheme", "level", "contrast", "value"]),
    )
    columns = [
        "model",
        "origin",
        "company",
        "instrument",
        "language",
        "persona",
        "rep",
        "item",
        "rating",
        "status",
    ]
    ratings = pd.DataFrame(rows, columns=columns).assign(answer_mode="text")
    write_parquet(root / "llm_ratings.parquet", ratings)
    return load_study(root / "study.yaml")


def test_four_countries_with_french_and_no_country_models(tmp_path: Path) -> None:
    study = _four_country_study(tmp_path / "four")
    doc = open_study(study.root)
    text = str(doc.abstract())
    counts = _origin_counts(study)
    people, n_people = _human_counts(study)
    assert people == list(COUNTRIES)
    made = [f"{counts[o]} made in {country_place(o)}" for o in (*COUNTRIES, "FR")]
    assert (
        f"We elicited answers from {sum(counts.values())} large language models ({', '.join(made)}, "
        f"{counts['none']} with no country of origin)"
    ) in text
    assert "with no persona and with personas from China and Taiwan" in text
    assert (
        "compared them with synthetic human respondents from China, the USA, Taiwan and Singapore "
        f"({n_people['mfq2']:,} for MFQ-2, {n_people['wvs7']:,} for WVS-7) [@atari2023morality; @haerpfer2022wvs]."
    ) in text
    assert "(RQ1)" in text and "(RQ2)" in text and "(RQ3)" in text
    # No ranking instrument, no mixed models: no ranking sentence, no lme4 citation.
    assert "ranking" not in text and "@ma2026divergence" not in text and "@bates2015lme4" not in text
    assert text.endswith(
        "the regressions are fitted both as the paper's linear models and with a two-stage by-model check."
    )
    assert "China and the USA" not in text
    n_origins = len({o for o in counts if o != "none"})
    assert doc.title == (
        f"Values of LLMs made in {n_origins} countries, measured with MFQ-2 and WVS-7, compared with "
        "people of China, the USA, Taiwan and Singapore"
    )
    assert "@sec-ranking" not in doc.methods_note()
    # The RQ sections state the study's coding and report its terms, not the paper's CN ones.
    section = doc.rq_section(1)
    assert "× LLM origin (sum coded, Singapore the reference level (−1 in every contrast))" in section
    key = doc.key_terms(1, "rq1_wvs7")
    assert key == (
        "nationalityCN", "nationalityUS", "nationalityTW", "originCN", "originUS", "originTW", "originFR",
        "originnone", "nationalityCN:originCN", "nationalityUS:originUS", "nationalityTW:originTW",
    )  # fmt: skip
    sentence = next(line for line in section.splitlines() if line.startswith("**WVS-7**"))
    for term in key:
        assert doc.term_label("rq1_wvs7", term) + " (lm β = 0.100" in sentence
    assert "nationalityCN:originUS" not in doc.key_terms(3, "rq3_mfq2")
    assert (
        str(doc.instruments_limitation())
        == "Values are operationalised as answers to two widely used questionnaires"
    )
    # Figures 3 and 4 shade every other origin's block (CN, TW, FR in this order: CN US TW SG FR none).
    assert doc._figure_caption("grey background: {shaded_origins}.") == (
        "grey background: LLMs made in China, Taiwan and France."
    )
    assert doc._figure_caption("{ranking_groups}: top-5") == (
        "LLMs made in China, the USA, Taiwan and Singapore: top-5"
    )


# ---- (c) an English-only Mini-IPIP study, with and without human data ------------------------


def test_english_only_mini_ipip_without_human_data(tmp_path: Path) -> None:
    from valuesurvey.analysis import analyze_study

    study, ratings = _ipip_study(tmp_path, humans=False)
    analyze_study(study)
    doc = open_study(study.root)
    text = str(doc.abstract())
    counts = _origin_counts(study)
    n_items = ratings["item"].nunique()
    made = [f"{counts[o]} made in {country_place(o)}" for o in study.design.codes if o in counts]
    assert text.startswith(
        f"We elicited answers from {sum(counts.values())} large language models ({', '.join(made)}) to "
        f"Mini-IPIP ({n_items} items), in English, with no persona and with personas from China and the USA."
    )
    assert "No human data were used, so the similarity analyses (RQ1–RQ3)" in text
    assert "Answers to Mini-IPIP are scored by subscale after reverse keying." in text
    assert text.endswith("Every number, table and figure below is computed from the study directory.")
    for absent in ("@atari2023morality", "@haerpfer2022wvs", "@madethinking2025", "ranking", "regressions"):
        assert absent not in text
    assert doc.title == "LLMs made in China and the USA, measured with Mini-IPIP"
    assert (
        str(doc.instruments_limitation())
        == "The constructs are operationalised as answers to one questionnaire (Mini-IPIP)"
    )
    for rq in (1, 2, 3):
        assert doc.rq_block(rq) == (
            f"RQ{rq} was not fitted in this study: the study has no human data to compare the LLMs with.\n"
        )
    assert doc.methods_note() == "The software and data provenance are reported in @sec-appendix."


def test_english_only_mini_ipip_with_human_data_says_why_no_rq_was_fitted(tmp_path: Path) -> None:
    from valuesurvey.analysis import analyze_study

    study, _ = _ipip_study(tmp_path, humans=True)
    analyze_study(study)
    assert not list(study.paths.estimates_dir.glob("rq*.csv"))  # skipped with a warning (i18b)
    doc = open_study(study.root)
    text = str(doc.abstract())
    _, n_people = _human_counts(study)
    assert (
        f"compared them with {n_people['mini_ipip']:,} synthetic human respondents from China and the USA."
        in text
    )
    assert (
        "RQ1 and RQ3 were not fitted: the language-matched pairs need at least two countries whose survey "
        "language the study prompts in (prompts in English; paired: the USA)."
    ) in text
    assert (
        "RQ2 was not fitted: it contrasts language-congruent with -incongruent pairs, and the study prompts in English only."
        in text
    )
    assert "it contrasts language-congruent with -incongruent pairs" in doc.rq_block(2)
    for rq in (1, 2, 3):
        block = doc.rq_block(rq)
        assert block.startswith(f"RQ{rq} was not fitted in this study: ")
        assert "not drawn" not in block and "the tables this figure needs" not in block


# ---- one real render ----------------------------------------------------------------------------


@pytest.mark.timeout(900)
def test_the_rendered_html_carries_the_computed_title(tmp_path: Path) -> None:
    from valuesurvey.analysis import analyze_study
    from valuesurvey.report import render_report

    study, _ = _ipip_study(tmp_path, humans=False)
    analyze_study(study)
    assert study.title is None and study.report.title is None
    (html,) = render_report(study, formats=("html",), renderer="pandoc")
    page = re.sub(r"\s+", " ", html.read_text(encoding="utf-8"))  # pandoc wraps long lines
    title = "LLMs made in China and the USA, measured with Mini-IPIP"
    assert f"<title>{title}</title>" in page
    assert f'<h1 class="title">{title}</h1>' in page
    assert PAPER_TITLE not in page and "AI-native" not in page and "two widely used" not in page
    assert (
        "No human data were used" in page
        and "operationalised as answers to one questionnaire (Mini-IPIP)" in page
    )
    for rq in (1, 2, 3):
        assert f"RQ{rq} was not fitted in this study" in page
    assert "fig1 similarity" not in page and "fig5 removal" not in page
