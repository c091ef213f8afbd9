"""What the manuscript's code cells call: every number, table and figure, as pandoc markdown.

The Quarto sources in ``reports/`` stay short: a cell prints ``doc.rq_section(1)`` with
``output: asis`` and Quarto (or our fallback renderer) resolves the cross-references in it. Each
method reads only the study directory; a missing instrument or analysis becomes a sentence.
Figures are referenced relative to the working directory, in ``_figures/`` (the render step stages
a copy there; a by-hand ``quarto render`` gets one on first use).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from valuesurvey._io import atomic_path, sha256_file
from valuesurvey.errors import DataError
from valuesurvey.figures import FIGURES, available_figures
from valuesurvey.figures._data import StudyTables, synthetic_label
from valuesurvey.report._inference import FIT_NAMES, InferenceTables, exclusion_table
from valuesurvey.report._ranking import RankingContent
from valuesurvey.report._terms import VariableCoding, coding_from_table, country_name, split_term, term_label
from valuesurvey.study import Study, load_study

__all__ = [
    "KEY_TERMS",
    "Inline",
    "ReportContent",
    "compact_items",
    "fmt_num",
    "fmt_p",
    "markdown_table",
    "open_study",
]

STUDY_ENV = "VALUESURVEY_STUDY"
#: Where the figures are, relative to the manuscript's folder (the render step stages them there).
FIGURES_DIR = "_figures"
#: Short names; the item set actually used is stated by ``ReportContent.instrument_list`` and the
#: instruments table (a study may ask a subset or a replacement file).
INSTRUMENT_NAMES = {"mfq2": "MFQ-2", "wvs7": "WVS-7", "ai_values": "AI values", "mini_ipip": "Mini-IPIP"}
#: The terms each research question's key sentence reports, by R's names (R/rq_models.R coding).
KEY_TERMS = {
    1: ("nationalityCN", "originCN", "nationalityCN:originCN"),
    2: ("language_congruentyes", "persona_congruentyes", "origin_congruentyes"),
    3: ("nationalityCN", "originCN", "nationalityCN:originCN"),
}
#: Instruments that measure values (the paper's and the poster's): a title says "Values of LLMs".
VALUE_INSTRUMENTS = {"mfq2", "wvs7", "ai_values"}
#: The human data each paper instrument's comparison draws on (reports/references.bib).
CITATIONS = {"mfq2": "atari2023morality", "wvs7": "haerpfer2022wvs"}
#: Titles and the abstract name up to this many countries; more are counted.
MAX_NAMED_COUNTRIES = 4
#: The research questions as the abstract asks them.
RQ_QUESTIONS = {
    1: "whether LLMs resemble the people of their country of origin (RQ1)",
    2: "whether prompt language and persona steer them (RQ2)",
    3: "which dimensions or questions drive the alignment (RQ3)",
}
#: Each RQ's figures and what they show (the sentence before its tables).
RQ_FIGURES = {
    1: (
        ("fig1_similarity", "Mean similarity by human nationality and LLM origin"),
        ("fig2_normalised", "the normalised ratings behind it"),
        ("fig3_per_model", "each LLM separately"),
    ),
    2: (("fig4_conditions", "Similarity by LLM origin, prompt language and persona"),),
    3: (("fig5_removal", "Change in similarity when each dimension or question is removed"),),
}
#: The ranking study's figures, in the order the section shows them.
RANKING_FIGURES = ("f1_1_dimensions", "f1_2_values", "f2_top_bottom", "f3_dendrogram", "f4_heatmap")
RQ_TEXT = {
    1: "cosine similarity regressed on participant nationality × LLM origin",
    2: "cosine similarity regressed on the congruence of participant nationality with prompt language, "
    "persona and LLM origin (congruent = +0.5)",
    3: "cosine similarity regressed on nationality × origin × the dimension or question removed",
}


class Inline(str):
    """A string whose plain-text repr has no quotes, so inline ``{python}`` output reads as text."""

    def __repr__(self) -> str:
        return str(self)

    def _repr_markdown_(self) -> str:
        return str(self)


def fmt_num(value: float, digits: int = 3) -> str:
    """Format an estimate for text and tables.

    Examples
    --------
    >>> fmt_num(0.20712), fmt_num(-0.0304), fmt_num(float("nan"))
    ('0.207', '-0.030', 'NA')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "NA"
    return f"{value:.{digits}f}"


def fmt_p(p: float) -> str:
    """Format a p-value: three decimals, or ``<\u00a00.001`` (a non-breaking space: never wraps).

    Examples
    --------
    >>> fmt_p(0.04567), fmt_p(1e-20)
    ('0.046', '<\xa00.001')
    """
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "NA"
    return "<\u00a00.001" if p < 0.001 else f"{p:.3f}"


MAX_COLUMN_DASHES = 24


def markdown_table(frame: pd.DataFrame, *, caption: str | None = None, label: str | None = None) -> str:
    """A pandoc/Quarto pipe table; a caption line ``: caption {#tbl-label}`` makes it cross-referable.

    Examples
    --------
    >>> print(markdown_table(pd.DataFrame({"a": ["x"], "b": [1]}), caption="Demo", label="tbl-demo"))
    | a | b |
    |:--|--:|
    | x | 1 |
    <BLANKLINE>
    : Demo {#tbl-demo}
    """

    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(cell(c) for c in frame.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    # When a table is wider than the page, pandoc (and Quarto) size its columns in proportion to the
    # dashes of this line: give each column as many dashes as its longest cell, up to a cap so that a
    # long label wraps instead of squeezing the numbers.
    widths = [
        min(MAX_COLUMN_DASHES, max(3, len(cell(column)), *(len(cell(value)) for value in frame[column])))
        for column in frame.columns
    ]
    aligns = (
        "|"
        + "|".join(
            "-" * (width - 1) + ":"
            if pd.api.types.is_numeric_dtype(frame[column])
            else ":" + "-" * (width - 1)
            for column, width in zip(frame.columns, widths, strict=True)
        )
        + "|"
    )
    text = "\n".join([header, aligns, *body])
    if caption:
        text += f"\n\n: {caption}" + (f" {{#{label}}}" if label else "")
    return text


def open_study(study_dir: str | os.PathLike[str] | None = None) -> ReportContent:
    """The report's content for ``study_dir`` (or the ``VALUESURVEY_STUDY`` environment variable)."""
    location = study_dir or os.environ.get(STUDY_ENV)
    if not location:
        from valuesurvey.errors import ConfigError

        raise ConfigError(f"no study: pass the Quarto param study_dir or set {STUDY_ENV}")
    return ReportContent(load_study(location))


@dataclass
class ReportContent:
    """The manuscript's content for one study directory."""

    study: Study
    tables: StudyTables = field(init=False)

    def __post_init__(self) -> None:
        self.tables = StudyTables(self.study)
        self.inference = InferenceTables(self.study)
        self._figures = available_figures(self.tables)

    # ---- facts used inline ------------------------------------------------------------------
    @property
    def title(self) -> str:
        """``report.title``, else the study's ``title``, else :meth:`design_title`."""
        return self.study.report.title or self.study.title or self.design_title()

    def design_title(self) -> str:
        """A title from the design: what was asked, of LLMs made where, compared with whom.

        The paper's design reads "Values of LLMs made in China and the USA, measured with MFQ-2,
        WVS-7 and AI values"; "Values" only when every instrument is a values instrument.
        """
        instruments = list(self.study.instruments)
        names = [self.instrument_names.get(i, i) for i in instruments]
        origins = self._country_origins()
        who = "LLMs"
        if 0 < len(origins) <= MAX_NAMED_COUNTRIES:
            who += f" made in {_join(country_place(o) for o in origins)}"
        elif origins:
            who += f" made in {len(origins)} countries"
        head = f"Values of {who}" if set(instruments) <= VALUE_INSTRUMENTS else who
        title = f"{head}, measured with {_join(names)}"
        people = self.human_countries()
        if people and people != origins:
            shown = (
                _join(country_place(c) for c in people)
                if len(people) <= MAX_NAMED_COUNTRIES
                else f"{len(people)} countries"
            )
            title += f", compared with people of {shown}"
        return title

    def _country_origins(self) -> list[str]:
        """The LLMs' countries of origin (not ``none`` or a company), in the design's order."""
        present = [str(o) for o in self.models()["origin"]]
        countries = [o for o in present if o != "none" and not o.startswith("company:") and o != "nan"]
        return _design_order(self.study, countries)

    def human_countries(self) -> list[str]:
        """The countries of the human respondents in ``humans/`` (rating instruments), in the
        design's order; empty when the study used no human data."""
        found: list[str] = []
        for instrument in self.rating_instruments():
            humans = self.tables.humans(instrument)
            if humans is not None:
                found += [str(n) for n in humans["nationality"].dropna().unique()]
        return _design_order(self.study, found)

    def n_human_respondents(self) -> dict[str, int]:
        """Participants in ``humans/<instrument>.parquet``, per rating instrument with human data
        (per instrument: the same people may have answered several)."""
        counts = {}
        for instrument in self.rating_instruments():
            humans = self.tables.humans(instrument)
            if humans is not None:
                counts[instrument] = int(humans["participant"].nunique())
        return counts

    def instrument_kind(self, instrument: str) -> str:
        """``rating`` or ``ranking``: the instrument's own kind (``ai_values`` ranks if unloadable)."""
        inst = self.study_instruments().get(instrument)
        if inst is None:
            return "ranking" if instrument == "ai_values" else "rating"
        return str(inst.kind)

    def rating_instruments(self) -> list[str]:
        return [i for i in self.study.instruments if self.instrument_kind(i) == "rating"]

    def ranking_instruments(self) -> list[str]:
        return [i for i in self.study.instruments if self.instrument_kind(i) != "rating"]

    def fitted_rqs(self) -> list[int]:
        """The research questions with an estimates file (``estimates/rq<n>_<instrument>.csv``)."""
        return [
            rq
            for rq in RQ_QUESTIONS
            if any(self.estimates(f"rq{rq}_{i}") is not None for i in self.rating_instruments())
        ]

    def rq_not_fitted_reason(self, rq: int) -> str | None:
        """Why RQ ``rq`` has no estimates, from the design and the tables (``None``: it was fitted)."""
        if rq in self.fitted_rqs():
            return None
        rating = self.rating_instruments()
        if not rating:
            return "the study has no rating questionnaire"
        people = self.human_countries()
        if not people:
            return "the study has no human data to compare the LLMs with"
        origins = {str(o) for o in self.models()["origin"]}
        if len(people) < 2 or len(origins) < 2:
            return (
                f"the analysis needs at least two nationalities and two LLM origins (the human data have "
                f"{len(people)}, the LLMs {len(origins)})"
            )
        languages = _join(language_label(x) for x in self.study.languages)
        if rq == 2 and len(self.study.languages) < 2:
            return (
                "it contrasts language-congruent with -incongruent pairs, and the study prompts in "
                f"{languages} only"
            )
        paired = [c for c in people if self.study.design.paired_language(c) is not None]
        if rq in (1, 3) and len(paired) < 2:
            return (
                "the language-matched pairs need at least two countries whose survey language the "
                f"study prompts in (prompts in {languages}; paired: {_join(country_place(c) for c in paired) or 'none'})"
            )
        if not any(self.study.paths.similarity(i).exists() for i in rating):
            return "the similarity analysis has not run (`valuesurvey analyze`)"
        return f"the study directory has no `estimates/rq{rq}_*.csv` (`valuesurvey analyze`)"

    def abstract(self) -> Inline:
        """The abstract, one paragraph computed from the design, the instruments and the tables."""
        study = self.study
        models = self.models()
        rating = self.rating_instruments()
        sentences = []
        who = f"{len(models)} large language models ({self._origin_counts(models)})"
        cites = " [" + "; ".join("@" + CITATIONS[i] for i in rating if i in CITATIONS) + "]"
        cites = cites if len(cites) > 3 else ""
        people = self.human_countries()
        if rating:
            asked = (
                f"We elicited answers from {who} to {_join(self._instrument_entry(i) for i in rating)}, "
                f"in {_join(language_label(x) for x in study.languages)}, {self._personas_phrase()}"
            )
            if people:
                shown = (
                    _join(country_place(c) for c in people)
                    if len(people) <= MAX_NAMED_COUNTRIES
                    else f"{len(people)} countries"
                )
                synthetic = all(
                    self.human_source(i).startswith("synthetic")
                    for i in rating
                    if self.tables.humans(i) is not None
                )
                counts = self.n_human_respondents()
                kind = f"{'synthetic ' if synthetic else ''}human respondents from {shown}"
                if len(counts) == 1:
                    asked += f", and compared them with {next(iter(counts.values())):,} {kind}{cites}."
                else:
                    each = ", ".join(
                        f"{n:,} for {self.instrument_names.get(i, i)}" for i, n in counts.items()
                    )
                    asked += f", and compared them with {kind} ({each}){cites}."
                sentences.append(asked)
            else:
                sentences.append(asked + cites + ".")
                sentences.append(
                    "No human data were used, so the similarity analyses (RQ1–RQ3), which compare LLMs "
                    "with people, were not run."
                )
        else:
            sentences.append(f"We elicited rankings from {who}.")
        fitted = self.fitted_rqs()
        if people:
            method = (
                "Following @madethinking2025, we measure the cosine similarity of each person's "
                "z-scored answers with each LLM's"
            )
            if fitted:
                method += ", and ask " + _join(RQ_QUESTIONS[rq] for rq in fitted)
            sentences.append(method + ".")
            reasons: dict[str, list[int]] = {}
            for rq in RQ_QUESTIONS:
                reason = self.rq_not_fitted_reason(rq)
                if reason is not None:
                    reasons.setdefault(reason, []).append(rq)
            for reason, rqs in reasons.items():
                sentences.append(
                    f"{_join(f'RQ{rq}' for rq in rqs)} {'was' if len(rqs) == 1 else 'were'} not fitted: {reason}."
                )
        for instrument in self.ranking_instruments():
            inst = self.study_instruments().get(instrument)
            n = len(inst.items) if inst is not None else None
            count = f"{n} " if n else ""
            if instrument == "ai_values":
                sentences.append(
                    f"Following @ma2026divergence, a ranking study asks each model to order {count}AI-native values."
                )
            else:
                name = self.instrument_names.get(instrument, instrument)
                sentences.append(f"A ranking study asks each model to order the {count}values of {name}.")
        scored = [i for i in rating if self._has_subscale_scores(i)]
        if scored:
            sentences.append(
                f"Answers to {_join(self.instrument_names.get(i, i) for i in scored)} are scored by "
                "subscale after reverse keying."
            )
        closing = "Every number, table and figure below is computed from the study directory"
        fits = self._fits_phrase(fitted)
        if fits:
            closing += f"; the regressions are fitted {fits}"
        sentences.append(closing + ".")
        return Inline(" ".join(sentences))

    def _instrument_entry(self, instrument: str) -> str:
        return f"{self.instrument_names.get(instrument, instrument)} ({self.item_set(instrument)})"

    def _personas_phrase(self) -> str:
        countries = [p for p in self.study.personas if p != "none"]
        phrase = "with no persona" if "none" in self.study.personas else ""
        if countries:
            named = f"personas from {_join(country_place(p) for p in countries)}"
            phrase = f"{phrase} and with {named}" if phrase else f"with {named}"
        return phrase

    def _has_subscale_scores(self, instrument: str) -> bool:
        from valuesurvey.report._scores import scores_section

        if not (self.study.paths.scores_dir / f"{instrument}_llm.csv").exists():
            return False
        return f"{{#tbl-scores-{instrument}}}" in scores_section(self.study)

    def _fits_used(self, rqs: list[int]) -> set[str]:
        """The fits (``model`` column: lm, lm_weighted, lmer, two_stage) in the RQs' estimates."""
        used: set[str] = set()
        for rq in rqs:
            for instrument in self.rating_instruments():
                est = self.estimates(f"rq{rq}_{instrument}")
                if est is not None:
                    used |= {str(m) for m in est["model"].unique()}
        return used

    def _fits_phrase(self, fitted: list[int]) -> str:
        """How the regressions were fitted, from the ``model`` column of the RQ estimates."""
        used = self._fits_used(fitted)
        ways = []
        if used & {"lm", "lm_weighted"}:
            ways.append("as the paper's linear models")
        if "lmer" in used:
            ways.append(
                "as mixed models with crossed random effects [@bates2015lme4; @kuznetsova2017lmertest]"
            )
        if "two_stage" in used:
            ways.append("with a two-stage by-model check")
        if len(ways) == 2:
            return f"both {ways[0]} and {ways[1]}"
        return _join(ways)

    def methods_note(self) -> Inline:
        """Where the design's analyses are reported: similarity (when run), ranking, appendix."""
        if self.ranking_instruments():
            where = "the ranking study is reported in @sec-ranking and the software and data provenance in @sec-appendix"
        else:
            where = "the software and data provenance are reported in @sec-appendix"
        if self.human_countries() and self.rating_instruments():
            return Inline(
                "The similarity analyses (@sec-rq1 to @sec-rq3) use z-scores within each person and "
                f"within each LLM × condition and the cosine of the z-vectors; {where}."
            )
        return Inline(f"{where[0].upper()}{where[1:]}.")

    def instruments_limitation(self) -> Inline:
        """The limitation on measurement: what the answers are answers to, from the instruments."""
        rating = self.rating_instruments()
        widely = [i for i in rating if i in CITATIONS]
        own = [i for i in rating if i not in CITATIONS]
        parts = []
        if widely:
            parts.append(f"{_count_word(len(widely))} widely used questionnaire{'s' * (len(widely) > 1)}")
        if own:
            further = "further " if widely else ""
            names = _join(self.instrument_names.get(i, i) for i in own)
            parts.append(f"{_count_word(len(own))} {further}questionnaire{'s' * (len(own) > 1)} ({names})")
        ranking = self.ranking_instruments()
        if ranking:
            parts.append(f"{_count_word(len(ranking))} ranking task{'s' * (len(ranking) > 1)}")
        subject = "Values are" if set(self.study.instruments) <= VALUE_INSTRUMENTS else "The constructs are"
        return Inline(f"{subject} operationalised as answers to {_join(parts)}")

    def synthetic_banner(self) -> Inline:
        """The synthetic-data note: a callout here, and a Div that ``reports/valuesurvey.lua`` turns
        into the HTML page's top banner and the PDF's footer on every page."""
        note = synthetic_label(self.study, self.tables)
        if not note:
            return Inline("")
        return Inline(f"::: {{.synthetic-note}}\n{note}\n:::\n\n::: {{.callout-warning}}\n**{note}**\n:::\n")

    def n_models(self, origin: str | None = None) -> Inline:
        models = self.models()
        return Inline(str(len(models) if origin is None else int((models["origin"] == origin).sum())))

    def n_participants(self, instrument: str, nationality: str | None = None) -> Inline:
        humans = self.tables.humans(instrument)
        if humans is None:
            return Inline("0")
        if nationality:
            humans = humans[humans["nationality"] == nationality]
        return Inline(f"{humans['participant'].nunique():,}")

    def instrument_list(self) -> Inline:
        """The instruments with the item sets the study used, e.g. "WVS-7 (Q177–Q195)"."""
        return Inline(
            ", ".join(
                f"{self.instrument_names.get(i, i)} ({self.item_set(i)})" for i in self.study.instruments
            )
        )

    def study_instruments(self) -> dict[str, Any]:
        """The study's instruments as elicited (``instruments.for_study``: options, replacement and
        translation files applied); an instrument that cannot be loaded is missing."""
        if "instruments" not in self.tables._cache:
            from valuesurvey import instruments

            try:
                found = dict(instruments.for_study(self.study))
            except Exception as exc:  # a replacement file moved away: say so instead of failing
                self.tables._cache["instruments_error"] = str(exc)
                found = {}
            self.tables._cache["instruments"] = found
        return self.tables._cache["instruments"]

    @property
    def instrument_names(self) -> dict[str, str]:
        """Display names: the paper's short ones, else the instrument's own ``name`` (a user's file)."""
        own = {i: str(inst.name) for i, inst in self.study_instruments().items() if i not in INSTRUMENT_NAMES}
        return {**own, **INSTRUMENT_NAMES}

    def item_set(self, instrument: str) -> str:
        """The items used: "Q177–Q195" or "36 items" only when all the shipped items are used, else
        the count and the ids ("8 items: Q177–Q180, Q182, …"); "25 values" for a ranking task."""
        from valuesurvey import instruments

        inst = self.study_instruments().get(instrument)
        if inst is None:
            return "items not loadable"
        ids = [item.id for item in inst.items]
        if inst.kind != "rating":
            return f"{len(ids)} values"
        try:
            shipped = [item.id for item in instruments.get(instrument).items]
        except Exception:  # a user's own instrument id: nothing to compare with
            shipped = None
        if ids == shipped:
            return compact_items(ids) if instrument == "wvs7" else f"{len(ids)} items"
        return f"{len(ids)} items: {compact_items(ids)}"

    def models(self) -> pd.DataFrame:
        """Models with origin and company, from study.yaml completed by the ratings/rankings tables."""
        rows = [(m.display_name or m.id, m.id, m.origin, m.company) for m in self.study.models]
        frame = pd.DataFrame(rows, columns=["name", "model", "origin", "company"])
        for data in (self.tables.llm_ratings(), self.tables.rankings()):
            if data is not None:
                known = data.drop_duplicates("model").set_index("model")
                frame["origin"] = frame["origin"].fillna(frame["model"].map(known["origin"]))
                frame["company"] = frame["company"].fillna(frame["model"].map(known["company"]))
        frame["origin"] = frame["origin"].astype(str)
        return frame

    # ---- figures -----------------------------------------------------------------------------
    def has_figure(self, name: str) -> bool:
        return name in self._figures

    def figure_path(self, name: str) -> str:
        """The figure's path relative to the working directory (the manuscript's folder).

        ``valuesurvey report`` stages a copy of the study's figures in ``_figures/``; a by-hand
        ``quarto render`` of the repository's manuscript gets the same copy here, made on first
        use, because Quarto and typst refuse figures outside the project.
        """
        local = Path(FIGURES_DIR) / f"{name}.png"
        source = self.study.paths.figures_dir / f"{name}.png"
        if source.is_file() and (not local.is_file() or sha256_file(local) != sha256_file(source)):
            with atomic_path(local) as tmp:
                shutil.copyfile(source, tmp)
        return local.as_posix()

    def ref(self, name: str) -> Inline:
        """A cross-reference to a figure, or words saying it was not drawn."""
        if self.has_figure(name):
            return Inline("@fig-" + name.replace("_", "-"))
        return Inline("not drawn (its tables are not in the study)")

    def figure(self, name: str, label: str | None = None) -> str:
        """Markdown for one figure with its caption, or a sentence saying why it is absent."""
        spec = next(s for s in FIGURES if s.name == name)
        if not self.has_figure(name):
            return f"*({name.replace('_', ' ')}: the tables this figure needs are not in the study.)*\n"
        caption = self._figure_caption(spec.caption)
        return f"![{caption}]({self.figure_path(name)}){{#{label or 'fig-' + name.replace('_', '-')} width=100%}}\n"

    def _figure_caption(self, caption: str) -> str:
        """A caption with the study's groups filled in: ``{shaded_origins}`` (every other origin's
        block, as figures 3 and 4 shade them: "LLMs made in China" in the paper) and
        ``{ranking_groups}`` ("LLMs made in China versus the USA")."""
        if "{" not in caption:
            return caption
        fields: dict[str, str] = {}
        if "{shaded_origins}" in caption:
            fields["shaded_origins"] = _origins_phrase(self._figure_origins()[::2])
        if "{ranking_groups}" in caption:
            ranking = self.ranking()
            groups = list(ranking.groups) if ranking is not None else list(self.study.design.codes)
            places = [country_place(g) for g in groups]
            fields["ranking_groups"] = "LLMs made in " + (
                " versus ".join(places) if len(places) == 2 else _join(places)
            )
        return caption.format_map(fields)

    def _figure_origins(self) -> list[str]:
        """The models' origins in the figures' order: the study's countries first, then the others."""
        design = self.study.design
        levels = design.origin_levels({str(o) for o in self.models()["origin"]})
        first = [c for c in design.codes if c in levels]
        return [*first, *(o for o in levels if o not in first)]

    # ---- design ------------------------------------------------------------------------------
    def _origin_counts(self, models: pd.DataFrame) -> str:
        """``3 made in China, 2 made in the USA, 1 with no country`` in the study's order."""
        present = [str(o) for o in models["origin"]]
        order = self.study.design.origin_levels(present)
        order = [
            *(c for c in self.study.design.codes if c in order),
            *(o for o in order if o not in self.study.design.codes),
        ]
        words = []
        for origin in order:
            n = present.count(origin)
            if origin == "none":
                words.append(f"{n} with no country of origin")
            elif origin.startswith("company:"):
                words.append(f"{n} labelled by company only ({country_name(origin)})")
            else:
                words.append(f"{n} made in {country_place(origin)}")
        return ", ".join(words)

    def countries_sentence(self) -> str:
        """Which countries, survey languages and prompt languages the study used, the pairing of
        the language-matched analyses and the coding of nationality and origin."""
        design = self.study.design
        described = []
        for country in design.countries:
            paired = design.paired_language(country.code)
            pairing = f"paired with {paired} prompts" if paired else "in no language-matched analysis"
            described.append(
                f"{country_name(country.code)} ({country.code}; survey language {', '.join(country.languages)}; {pairing})"
            )
        k = len(design.codes)
        if k == 2:
            coding = (
                f"nationality and LLM origin are half-sum coded, {country_name(design.codes[0])} = +0.5 and "
                f"{country_name(design.codes[1])} = −0.5 (the paper's coding)"
            )
        else:
            coding = (
                f"nationality and LLM origin are sum-coded (each level's deviation from the unweighted mean "
                f"of the levels) with {country_name(design.reference)} as the reference level (−1 in every "
                "contrast); origins that are no country of the study are further levels"
            )
        return (
            f"The study compares {k} countries: {'; '.join(described)}. "
            f"Prompts were in {', '.join(design.languages)}; in the language-matched analyses (RQ1, RQ3) "
            f"participants are paired with LLM answers in their country's survey language; {coding}. "
            "RQ2's congruences compare the participant's country with the prompt language's pairing, the "
            "persona's country and the LLM's origin."
        )

    def design_section(self) -> str:
        study = self.study
        models = self.models()
        parts = [
            f"We elicited responses from {len(models)} LLMs ({self._origin_counts(models)}; @tbl-models) "
            f"on {self.instrument_list()}. "
            f"Each rating questionnaire was presented in {len(study.languages)} language(s) "
            f"({', '.join(study.languages)}) × {len(study.personas)} persona condition(s) "
            f"({', '.join(study.personas)}), {study.repetitions} repetitions per condition "
            f"(answer mode: {study.answer_mode}).",
            self.countries_sentence(),
        ]
        if "ai_values" in study.instruments:
            parts.append(
                f"In the ranking study each model ranked the values {study.ranking.repetitions} times per "
                f"language ({', '.join(study.ranking.languages)}), with no persona."
            )
        table = models.rename(columns={"name": "Model", "origin": "Origin", "company": "Company"})[
            ["Model", "Origin", "Company"]
        ]
        table["Origin"] = table["Origin"].astype(str).map(country_name)
        parts.append(
            markdown_table(table, caption="LLMs by country of origin and company.", label="tbl-models")
        )
        parts.append(self._humans_paragraph())
        parts.append(self.provenance_section())
        parts.append(self._exclusions_paragraph())
        return "\n\n".join(p for p in parts if p) + "\n"

    def _humans_paragraph(self) -> str:
        table = self.inference.humans_table(self.instrument_names, self.tables.humans, self.human_source)
        if table.empty:
            return "No human data are in the study directory, so the similarity analyses are skipped."
        text = (
            "Human participants per instrument and country (@tbl-humans): loaded from the file, with "
            "every item answered (complete), with ratings that vary (z-scorable), and analysed (RQ1 / RQ2 / "
            "RQ3 where they differ). " + self.inference.weights_sentence()
        )
        return (
            text
            + "\n\n"
            + markdown_table(
                table,
                caption="Human participants per instrument and country: loaded, complete, z-scorable, analysed.",
                label="tbl-humans",
            )
        )

    def _exclusions_paragraph(self) -> str:
        from valuesurvey.analysis._exclusions import EXCLUSION_RULE

        exclusions = self.tables.exclusions()
        kept = self.inference.kept_sentence(self.instrument_names)
        if exclusions is None or exclusions.empty:
            return " ".join(p for p in ("No LLM or participant was excluded.", kept) if p)
        return (
            f"Exclusion rule. {EXCLUSION_RULE} Each analysis therefore crosses every person it keeps with "
            f"every LLM condition it keeps (@tbl-exclusions). {kept}\n\n"
            + markdown_table(
                _exclusion_summary(exclusions),
                caption="Exclusions and why, per analysis.",
                label="tbl-exclusions",
            )
        )

    # ---- RQ1–RQ3 -----------------------------------------------------------------------------
    def estimates(self, analysis: str) -> pd.DataFrame | None:
        return self.tables.estimates(analysis)

    def term_row(self, analysis: str, fit: str, term: str) -> pd.Series | None:
        est = self.estimates(analysis)
        if est is None:
            return None
        hit = est[(est["model"] == fit) & (est["term"] == term)]
        return hit.iloc[0] if len(hit) else None

    def beta(self, analysis: str, fit: str, term: str) -> Inline:
        row = self.term_row(analysis, fit, term)
        return Inline("NA" if row is None else fmt_num(row["estimate"]))

    def coding(self, analysis: str) -> dict[str, VariableCoding]:
        """The factor coding of ``analysis`` from ``estimates/coding.csv`` (R's defaults if absent)."""
        if "coding" not in self.tables._cache:
            path = self.study.paths.estimates("coding")
            self.tables._cache["coding"] = pd.read_csv(path) if path.exists() else None
        return coding_from_table(self.tables._cache["coding"], analysis)

    def term_label(self, analysis: str, term: str) -> str:
        return term_label(term, self.coding(analysis))

    def side_by_side(self, analysis: str, terms: list[str] | None = None) -> pd.DataFrame:
        """Table-2 style: one row per term (all, or ``terms``), lm and lmer columns side by side."""
        est = self.estimates(analysis)
        if terms is None:
            terms = list(dict.fromkeys(est["term"]))
        out = pd.DataFrame({"Term": [self.term_label(analysis, t) for t in terms]})
        for fit in ("lm", "lm_weighted", "lmer", "two_stage"):
            part = est[est["model"] == fit].set_index("term").reindex(terms)
            if part["estimate"].isna().all():
                continue
            name = {"lm_weighted": "lm (w)", "two_stage": "2-stage"}.get(fit, fit)
            out[f"{name} β"] = [fmt_num(v) for v in part["estimate"]]
            out[f"{name} SE"] = [fmt_num(v) for v in part["std_error"]]
            if fit == "lmer":
                out["lmer df"] = [fmt_num(v, 1) for v in part["df"]]
                if "std_estimate" in part.columns:
                    out["lmer d"] = [fmt_num(v, 2) for v in part["std_estimate"]]
            out[f"{name} p"] = [fmt_p(v) for v in part["p_value"]]
        return out

    def key_terms(self, rq: int, analysis: str) -> tuple[str, ...]:
        """The terms an RQ's key sentence reports, from the analysis's coding: the paper's three
        (``nationalityCN``, ``originCN``, their interaction) for two countries; with sum contrasts
        every nationality and origin main effect and the same-country interactions."""
        if rq == 2:
            return KEY_TERMS[2]
        coding = self.coding(analysis)
        nationality, origin = coding.get("nationality"), coding.get("origin")
        if (
            nationality is not None
            and origin is not None
            and nationality.scheme == origin.scheme == "half_sum"
            and nationality.positive
            and origin.positive
        ):
            n, o = f"nationality{nationality.positive}", f"origin{origin.positive}"
            return (n, o, f"{n}:{o}")
        est = self.estimates(analysis)
        if est is None:
            return KEY_TERMS[rq]
        mains, same = [], []
        for term in dict.fromkeys(est["term"]):
            parts = split_term(term, coding)
            variables = [v for v, _ in parts]
            if variables in (["nationality"], ["origin"]):
                mains.append(term)
            elif variables == ["nationality", "origin"] and parts[0][1] == parts[1][1]:
                same.append(term)
        return tuple(sorted(mains, key=lambda t: not t.startswith("nationality")) + same) or KEY_TERMS[rq]

    def _key_sentence(self, rq: int, analysis: str) -> str:
        bits = []
        for term in self.key_terms(rq, analysis):
            lm, lmer = self.term_row(analysis, "lm", term), self.term_row(analysis, "lmer", term)
            if lmer is not None and not self._lmer_recommended(analysis):
                lmer = None  # shown in the table, never quoted as a result
            fits = [
                f"{name} β = {fmt_num(r['estimate'])}, p {_p_text(r['p_value'])}"
                for name, r in (("lm", lm), ("lmer", lmer))
                if r is not None
            ]
            if lmer is not None and "std_estimate" in lmer.index and not pd.isna(lmer["std_estimate"]):
                fits[-1] += f", d = {fmt_num(lmer['std_estimate'], 2)}"
            if fits:
                bits.append(f"{self.term_label(analysis, term)} ({'; '.join(fits)})")
        return "Key effects: " + "; ".join(bits) + "." if bits else ""

    def _removal_table(self, analysis: str) -> pd.DataFrame:
        """RQ3 in the body: per removed dimension or question, its interactions with nationality and origin."""
        est = self.estimates(analysis)
        coding = self.coding(analysis)
        rows: dict[str, dict[str, str]] = {}
        for term in dict.fromkeys(est["term"]):
            parts = split_term(term, coding)
            if len(parts) != 2 or parts[1][0] != "removed" or parts[0][0] not in ("nationality", "origin"):
                continue
            prefix = "Nationality ×" if parts[0][0] == "nationality" else "LLM origin ×"
            row = rows.setdefault(parts[1][1], {"Removed": parts[1][1]})
            for fit in ("lm", "lmer"):
                hit = self.term_row(analysis, fit, term)
                if hit is not None:
                    row[f"{prefix} removed: {fit} β"] = fmt_num(hit["estimate"])
            hit = self.term_row(analysis, "lmer", term) if self._lmer_recommended(analysis) else None
            hit = self.term_row(analysis, "lm", term) if hit is None else hit
            if hit is not None:
                row[f"{prefix} removed: p"] = fmt_p(hit["p_value"])
                if "p_holm" in hit.index and not pd.isna(hit["p_holm"]):
                    row[f"{prefix} removed: p Holm"] = fmt_p(hit["p_holm"])
        return pd.DataFrame(list(rows.values())).fillna("")

    def _lmer_recommended(self, analysis: str) -> bool:
        """Quote the mixed model only when its record says converged and not singular (a study
        without fit_info.csv is taken at its word that the lmer fit is the one recommended)."""
        if self.inference.fit_info() is None:
            return True
        return self.inference.recommended_ok(analysis)

    def rq_block(self, rq: int) -> str:
        """An RQ's section body: what its figures show, its text and tables, its figures; one
        sentence saying why instead when it was not fitted (with any of its figures still drawn)."""
        reason = self.rq_not_fitted_reason(rq)
        figures = RQ_FIGURES[rq]
        if reason is not None:
            drawn = [name for name, _ in figures if self.has_figure(name)]
            text = f"RQ{rq} was not fitted in this study: {reason}.\n"
            return text + "".join("\n" + self.figure(name) for name in drawn)
        intro = "; ".join(f"{what}: {self.ref(name)}" for name, what in figures) + "."
        return "\n".join([intro, "", self.rq_section(rq), *(self.figure(name) for name, _ in figures)])

    def _rq_model_text(self, rq: int) -> str:
        """RQ_TEXT with the study's coding of nationality and origin (the paper's ±0.5 for two
        countries; sum contrasts with the reference level for more)."""
        if rq == 2:
            return RQ_TEXT[2]
        design = self.study.design
        if len(design.codes) == 2:
            coding = f"sum coded, {country_name(design.codes[0])} = +0.5"
        else:
            coding = f"sum coded, {country_name(design.reference)} the reference level (−1 in every contrast)"
        if rq == 1:
            return f"{RQ_TEXT[1]} ({coding})"
        if len(design.codes) == 2:  # the paper's wording: its nationality coding is RQ1's
            return f"{RQ_TEXT[3]} (treatment coded, none removed = 0)"
        return f"{RQ_TEXT[3]} ({coding}; the removal treatment coded, none removed = 0)"

    def rq_section(self, rq: int) -> str:
        """Text and Table-2-style tables (every fit side by side) for one research question."""
        used = self._fits_used([rq])
        fits = [
            text
            for fit, text in (
                ("lm", "the paper's linear model exactly as published (lm)"),
                ("lm_weighted", "the same model with survey weights (lm (w))"),
                (
                    "lmer",
                    "the recommended mixed model (lmer: random effects the design justifies, simplified "
                    "only as recorded, lmerTest Satterthwaite df)",
                ),
                (
                    "two_stage",
                    "the two-stage by-model check (2-stage: per-LLM contrasts, then a test across LLMs)",
                ),
            )
            if fit in used or not used
        ]
        mixed = "lmer" in used or not used
        parts = [
            f"Model: {self._rq_model_text(rq)}. Fits, side by side: {_join(fits)}"
            + ("; d is the lmer estimate in SDs of the cosine around the fixed effects." if mixed else ".")
            + (
                " RQ2's mixed model adds the nationality and LLM origin main effects."
                if rq == 2 and mixed
                else ""
            )
        ]
        found = False
        for instrument in self.tables.rating_instruments():
            analysis = f"rq{rq}_{instrument}"
            label = f"tbl-rq{rq}-{instrument}"
            if self.estimates(analysis) is None:
                parts.append(
                    f"No estimates for {self.instrument_names.get(instrument, instrument)} (`estimates/{analysis}.csv` is absent)."
                )
                continue
            found = True
            name = self.instrument_names.get(instrument, instrument)
            parts.append(f"**{name}** (@{label}). {self._key_sentence(rq, analysis)}")
            parts.append(self._inference_paragraph(rq, analysis, instrument, name))
            terms = None
            if rq == 3:  # the full RQ3 table has 4 × (levels + 1) rows: the appendix holds it
                terms = [
                    t
                    for t in ("(Intercept)", *self.key_terms(3, analysis))
                    if self.term_row(analysis, "lm", t) is not None
                ]
                terms = terms or None
            parts.append(
                markdown_table(
                    self.side_by_side(analysis, terms),
                    caption=f"RQ{rq}, {name}: lm and lmer estimates{' (main effects)' if rq == 3 else ''}"
                    " with the two-stage check. " + self._coding_note(analysis),
                    label=label,
                )
            )
            parts.append(self._simplification_block(rq, analysis, instrument, name))
            if rq in (1, 2):
                parts.append(self._simple_effects_block(rq, analysis, instrument, name))
            if rq == 3:
                parts.append(self._removal_paragraph(analysis, instrument, name))
        if not found:
            return f"RQ{rq} was not analysed in this study: no `estimates/rq{rq}_*.csv`.\n"
        return "\n\n".join(p for p in parts if p) + "\n"

    def _inference_paragraph(self, rq: int, analysis: str, instrument: str, name: str) -> str:
        est = self.estimates(analysis)
        record = f"@tbl-simplification-rq{rq}-{instrument}"
        if self.inference.simplification_table(analysis).empty:
            record = "no simplification record in this study directory"
        bits = [self.inference.recommended_sentence(analysis, record)]
        if self._lmer_recommended(analysis):
            bits.append(
                self.inference.uncertainty_sentence(
                    est, list(self.key_terms(rq, analysis)), lambda t: self.term_label(analysis, t)
                )
            )
        bits.append(
            self.inference.two_stage_sentence(
                est, list(self.key_terms(rq, analysis)), lambda t: self.term_label(analysis, t)
            )
        )
        return " ".join(b for b in bits if b)

    def _simplification_block(self, rq: int, analysis: str, instrument: str, name: str) -> str:
        table = self.inference.simplification_table(analysis)
        if table.empty:
            return ""
        what = (
            "the levels whose structure was simplified, and level none"
            if "Level" in table.columns
            else "every attempt"
        )
        return markdown_table(
            table,
            caption=f"RQ{rq}, {name}: the random-effects simplification record ({what}; "
            "‖ = correlations not estimated).",
            label=f"tbl-simplification-rq{rq}-{instrument}",
        )

    def _simple_effects_block(self, rq: int, analysis: str, instrument: str, name: str) -> str:
        fit = "lmer" if self._lmer_recommended(analysis) else "lm"
        table = self.inference.simple_effects_table(instrument, analysis, fit)
        if table.empty:
            return ""
        what = (
            "nationality within each LLM origin and origin within each nationality"
            if rq == 1
            else ("each congruence within the levels of the other two")
        )
        return (
            f"Simple effects ({what}; {FIT_NAMES[fit]}, @tbl-simple-rq{rq}-{instrument}).\n\n"
            + markdown_table(
                table,
                caption=f"RQ{rq}, {name}: simple effects from the {FIT_NAMES[fit]} fit (emmeans-style contrasts).",
                label=f"tbl-simple-rq{rq}-{instrument}",
            )
        )

    def inference_limitations(self) -> Inline:
        """The limitations paragraph on inference, from the fits (no fixed sentence)."""
        analyses = [f"rq{rq}_{i}" for rq in (1, 2, 3) for i in self.tables.rating_instruments()]
        return Inline(self.inference.limitations_sentence(analyses))

    def _coding_note(self, analysis: str) -> str:
        coding = self.coding(analysis)
        used = {
            variable for term in self.estimates(analysis)["term"] for variable, _ in split_term(term, coding)
        }
        notes = []
        for variable in sorted(used & set(coding)):
            c = coding[variable]
            if c.scheme == "half_sum":
                notes.append(f"{variable} {c.positive} = +0.5, {c.negative} = −0.5")
            else:
                notes.append(f"{variable} treatment coded, {c.positive} = 0")
        return ("Coding: " + "; ".join(notes) + ".") if notes else ""

    def _removal_paragraph(self, analysis: str, instrument: str, name: str) -> str:
        table = self._removal_table(analysis)
        if table.empty:
            return ""
        source = "the recommended lmer fit" if self._lmer_recommended(analysis) else "lm"
        holm = (
            " and Holm-adjusted over the family of these interactions (BH in the estimates file)"
            if any(c.endswith("p Holm") for c in table.columns)
            else ""
        )
        return (
            f"Interactions of each removed {'dimension' if instrument == 'mfq2' else 'question'} with "
            f"nationality and LLM origin (@tbl-rq3-removed-{instrument}; p from {source}, unadjusted{holm}). "
            f"The full model is in @tbl-rq3-full-{instrument} of the appendix.\n\n"
            + markdown_table(
                table,
                caption=f"RQ3, {name}: change in the nationality and origin effects when each is removed.",
                label=f"tbl-rq3-removed-{instrument}",
            )
        )

    def rq3_full_tables(self) -> str:
        """The appendix: every term of each RQ3 model, lm and lmer side by side."""
        parts = []
        for instrument in self.tables.rating_instruments():
            analysis = f"rq3_{instrument}"
            if self.estimates(analysis) is None:
                continue
            name = self.instrument_names.get(instrument, instrument)
            parts.append(
                markdown_table(
                    self.side_by_side(analysis),
                    caption=f"RQ3, {name}: every term of the lm and lmer fits. {self._coding_note(analysis)}",
                    label=f"tbl-rq3-full-{instrument}",
                )
            )
        return "\n\n".join(parts) + "\n" if parts else "No RQ3 estimates are in the study directory.\n"

    # ---- ranking study -----------------------------------------------------------------------
    def ranking(self) -> RankingContent | None:
        """The ranking study's text and tables (from ``estimates/ranking_*.csv``), or ``None``."""
        results = self.tables.ranking()
        return None if results is None else RankingContent(results)

    def ranking_key(self, name: str) -> Inline:
        """A key number of the ranking study for inline text (see :meth:`RankingContent.key`)."""
        ranking = self.ranking()
        return Inline("NA" if ranking is None else ranking.key(name))

    def ranking_block(self) -> str:
        """The ranking study's section body: what its figures show with the key numbers, its text
        and tables, its figures; one sentence instead when the study has no ranking results."""
        ranking = self.ranking()
        if ranking is None:
            return self.ranking_section()
        ref = self.ref
        overlap = (
            f"the pairwise overlaps of the {len(ranking.groups)} origin groups' top-5 lists are in "
            f"`ranking_overlap.csv` ({ref('f2_top_bottom')})"
            if ranking.many
            else f"the top-5 values of {ranking.versus()} share {ranking.key('top5_shared')} of 5 (Jaccard "
            f"{ranking.key('top5_jaccard')}; {ref('f2_top_bottom')})"
        )
        intro = (
            "Dimension scores are mean ranks (1 = most important) over each model's valid rankings "
            f"({ref('f1_1_dimensions')}, {ref('f1_2_values')}). Models largely agree (Kendall's W = "
            f"{ranking.key('kendall_w')}); {overlap}. {ranking.key('cluster_summary')} "
            f"({ref('f3_dendrogram')}, {ref('f4_heatmap')})."
        )
        figures = [self.figure(name) for name in RANKING_FIGURES]
        return "\n".join([intro, "", ranking.section(markdown_table), *figures])

    def ranking_section(self) -> str:
        ranking = self.ranking()
        if ranking is None:
            if "ai_values" not in self.study.instruments:
                return "The study has no ranking task (`ai_values`), so this section is empty.\n"
            return "The ranking analysis has not written its tables (`valuesurvey analyze`).\n"
        return ranking.section(markdown_table)

    def ranking_files_table(self) -> str:
        """The appendix: every ranking estimates file with its size and columns."""
        names = self.tables.estimate_names("ranking_")
        if not names:
            return ""
        rows = []
        for name in names:
            frame = pd.read_csv(self.study.paths.estimates(name))
            columns = [c for c in frame.columns if c != "analysis"]
            shown = ", ".join(columns[:6]) + (", …" if len(columns) > 6 else "")
            rows.append((f"estimates/{name}.csv", len(frame), shown))
        return markdown_table(
            pd.DataFrame(rows, columns=["File", "Rows", "Columns"]),
            caption="Ranking-study estimates files written by the ranking analysis.",
            label="tbl-ranking-files",
        )

    # ---- appendix ----------------------------------------------------------------------------
    def versions_table(self) -> str:
        manifest = self.tables.manifest() or {}
        env = manifest.get("environment") or {}
        rows = [("valuesurvey", _package_version())]
        code = env.get("code") or {}
        if isinstance(code, dict):
            rows += [(f"code {k}", str(v)) for k, v in code.items()]
        if env.get("python"):
            rows.append(("Python", str(env["python"])))
        for name, version in (env.get("r") or {}).items():
            rows.append((name, str(version)))
        for key, value in (manifest.get("versions") or {}).items():
            rows.append((key, str(value)))
        if len(rows) == 1:
            rows.append(("manifest.json", "absent: versions of R and lme4 not recorded"))
        return markdown_table(
            pd.DataFrame(rows, columns=["Component", "Version"]),
            caption="Software versions (from manifest.json).",
            label="tbl-versions",
        )

    # ---- provenance --------------------------------------------------------------------------
    def load_report(self, instrument: str) -> dict[str, Any] | None:
        """``humans/<instrument>_load_report.json`` as the humans stage wrote it, or ``None``."""
        path = self.study.paths.humans_dir / f"{instrument}_load_report.json"
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"invalid JSON at line {exc.lineno}", path=path) from exc

    def _weighting(self, instrument: str, report: dict[str, Any] | None) -> str:
        settings_path = self.study.paths.similarity_dir / "rq_settings.csv"
        if settings_path.exists():
            settings = pd.read_csv(settings_path)
            if "weights" in settings.columns:
                used = (
                    settings.loc[settings["instrument"] == instrument, "weights"]
                    .dropna()
                    .astype(str)
                    .unique()
                )
                if len(used):
                    return ", ".join(used)
        if report is None:
            return "none (the models are unweighted)"
        column = report.get("weight_column")
        return (
            f"none (the models are unweighted; {column} not applied)" if column else "none (no weight column)"
        )

    def human_source(self, instrument: str) -> str:
        """What the human data of ``instrument`` are: the file's own label decides where the load
        report recorded it (a file labelled synthetic is synthetic whatever study.yaml says);
        otherwise the study.yaml flag, said to be unchecked."""
        spec = self.study.humans.get(instrument)
        flagged = spec is not None and spec.synthetic
        in_file = (self.load_report(instrument) or {}).get("synthetic_in_file")
        if in_file:
            return "synthetic (file label)"
        if in_file is None:
            return "synthetic (study.yaml)" if flagged else "microdata (not checked in the file)"
        return "synthetic (study.yaml; the file has no label)" if flagged else "microdata"

    def provenance_rows(self) -> pd.DataFrame:
        """One row per human data file: what the humans stage's load report says about it."""
        hashes = ((self.tables.manifest() or {}).get("stages") or {}).get("humans", {}).get("inputs", {})
        rows = []
        for instrument in self.tables.rating_instruments():
            report = self.load_report(instrument)
            spec = self.study.humans.get(instrument)
            if report is None:
                if self.tables.humans(instrument) is None:
                    continue
                rows.append(
                    (self.instrument_names.get(instrument, instrument), f"humans/{instrument}.parquet", "no load report "
                     "(the table was put into the study directory)", "not stated", "unknown",
                     "yes" if spec is not None and spec.synthetic else "no", self._weighting(instrument, None), "", "")
                )  # fmt: skip
                continue
            in_file = report.get("synthetic_in_file")
            evidence = str(report.get("synthetic_evidence") or "")
            file_says = "not recorded" if in_file is None else "no"
            if in_file:
                file_says = (
                    "yes (" + (evidence.split(" '")[0] or "label") + ")"
                )  # "file label", "column data_label"
            digest = str(hashes.get(f"{instrument}_file", ""))[:16]
            rows.append(
                (
                    self.instrument_names.get(instrument, instrument),
                    Path(str(report.get("file", ""))).name,
                    report.get("layout") or report.get("format", ""),
                    report.get("release") or "not stated in the file",
                    file_says,
                    "yes" if report.get("synthetic_flag", spec is not None and spec.synthetic) else "no",
                    self._weighting(instrument, report),
                    digest,
                    evidence,
                )
            )
        columns = ["Instrument", "File", "Layout", "Release", "Synthetic (file)", "Synthetic (study.yaml)",
                   "Weighting", "sha256 (16)", "Evidence"]  # fmt: skip
        return pd.DataFrame(rows, columns=columns)

    def provenance_warnings(self) -> list[str]:
        """The humans stage's warnings (the synthetic flag disagrees with the file, …)."""
        found = []
        for instrument in self.tables.rating_instruments():
            report = self.load_report(instrument) or {}
            found += [
                f"{self.instrument_names.get(instrument, instrument)}: {w}"
                for w in report.get("warnings") or []
            ]
        return found

    def provenance_section(self) -> str:
        """The data provenance table (@tbl-provenance), one column per file, with the evidence of
        synthetic files and the load reports' warnings."""
        rows = self.provenance_rows()
        if rows.empty:
            return ""
        shown = rows.drop(columns="Evidence").assign(
            File=rows["File"].str.replace("_", "_\u200b", regex=False)  # long file names may wrap
        )
        shown = shown.set_index("Instrument").T.reset_index(names="")
        shown.columns = [str(c) for c in shown.columns]
        text = (
            "Where the human data come from, as the humans stage read them: file, layout, the release "
            "the file states, whether the file itself and study.yaml say it is synthetic, and the "
            "weighting of the analyses (@tbl-provenance).\n\n"
            + markdown_table(shown, caption="Human data files as loaded.", label="tbl-provenance")
        )
        for name, evidence in zip(rows["Instrument"], rows["Evidence"], strict=True):
            if evidence:
                text += f"\n\n{name}: the file says it is synthetic, {evidence}."
        for warning in self.provenance_warnings():
            text += f"\n\n**Warning:** {warning}."
        return text

    def instruments_table(self) -> str:
        """Items, sources and content hashes of the instruments as elicited (@tbl-instruments)."""
        found = self.study_instruments()
        rows = []
        for instrument in self.study.instruments:
            inst = found.get(instrument)
            options = dict(self.study.instrument_options.get(instrument, {}))
            replacement = options.pop("file", None)
            if replacement is not None:
                path = self.study.resolve(Path(str(replacement)))
                source = f"user file {path.name} (sha256 {_file_digest(path)})"
            else:
                source = "shipped with valuesurvey"
            if instrument in self.study.translations:
                path = self.study.resolve(Path(self.study.translations[instrument]))
                source += f"; zh texts from {path.name} (sha256 {_file_digest(path)})"
            if options:
                source += "; " + ", ".join(
                    f"{k}: {compact_items(list(map(str, v))) if isinstance(v, list | tuple) else v}"
                    for k, v in options.items()
                )
            digest = (
                str(inst.content_hash).removeprefix("sha256:")[:16] if inst is not None else "not loadable"
            )
            rows.append(
                (self.instrument_names.get(instrument, instrument), self.item_set(instrument), source, digest)
            )
        text = markdown_table(
            pd.DataFrame(rows, columns=["Instrument", "Items used", "Source", "Content hash (16)"]),
            caption="Instruments as elicited: items, source files and content hashes (of every text a prompt uses).",
            label="tbl-instruments",
        )
        error = self.tables._cache.get("instruments_error")
        return text + (f"\n\n**Warning:** the instruments could not be loaded: {error}." if error else "")

    def hashes_table(self) -> str:
        rows = []
        root = self.study.root
        files = [self.study.paths.llm_ratings, self.study.paths.rankings]
        for folder in (
            self.study.paths.humans_dir,
            self.study.paths.similarity_dir,
            self.study.paths.estimates_dir,
        ):
            if folder.is_dir():
                files += sorted(p for p in folder.iterdir() if p.suffix in {".parquet", ".csv"})
        for path in files:
            if path.exists():
                rows.append((path.relative_to(root).as_posix(), sha256_file(path)[:16]))
        return markdown_table(
            pd.DataFrame(rows, columns=["File", "sha256 (first 16 hex digits)"]),
            caption="Data file hashes.",
            label="tbl-hashes",
        )

    def elicitation_table(self) -> str:
        summary = _elicitation_summary(self.study, self.tables)
        if summary is None or summary.empty:
            return "No elicitation records are in the study directory."
        shown = summary.copy()
        for column in shown.columns:
            if pd.api.types.is_float_dtype(shown[column]):
                shown[column] = [fmt_num(v, 4 if column == "cost_usd" else 0) for v in shown[column]]
        return markdown_table(
            shown.astype(str),
            caption="Elicitation statistics per model: requests, retries, refusals, invalid answers, tokens and cost.",
            label="tbl-elicitation",
        )


def _join(words: Any) -> str:
    """``a``, ``a and b``, ``a, b and c``.

    >>> _join(["China"]), _join(["China", "the USA"]), _join("abc")
    ('China', 'China and the USA', 'a, b and c')
    """
    items = [str(w) for w in words]
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} and {items[-1]}"


def _origin_phrase(origin: str) -> str:
    """LLMs of one origin: "LLMs made in China", "LLMs with no country of origin".

    >>> _origin_phrase("CN"), _origin_phrase("none")
    ('LLMs made in China', 'LLMs with no country of origin')
    """
    if origin == "none":
        return "LLMs with no country of origin"
    if origin.startswith("company:"):
        return f"LLMs labelled by company only ({country_name(origin)})"
    return f"LLMs made in {country_place(origin)}"


def _origins_phrase(origins: list[str]) -> str:
    """LLMs of several origins: "LLMs made in China and Taiwan, LLMs with no country of origin".

    >>> _origins_phrase(["CN"]), _origins_phrase(["CN", "TW", "none"])
    ('LLMs made in China', 'LLMs made in China and Taiwan and LLMs with no country of origin')
    """
    countries = [o for o in origins if o != "none" and not o.startswith("company:")]
    phrases = [f"LLMs made in {_join(country_place(c) for c in countries)}"] if countries else []
    phrases += [_origin_phrase(o) for o in origins if o not in countries]
    return _join(phrases)


def _count_word(n: int) -> str:
    return {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}.get(n, str(n))


def country_place(code: str) -> str:
    """A country as the object of "made in" or "people of": "the USA", "China", "the United Kingdom".

    >>> country_place("US"), country_place("CN"), country_place("GB"), country_place("FR")
    ('the USA', 'China', 'the United Kingdom', 'France')
    """
    name = country_name(code)
    definite = name == "USA" or name.startswith("United ") or name.endswith((" Republic", " Islands"))
    return f"the {name}" if definite or name in ("Netherlands", "Philippines") else name


def language_label(tag: str) -> str:
    """A prompt language's English name (CLDR), e.g. "English", "Chinese"."""
    from valuesurvey.countries import language_name

    try:
        return language_name(tag)
    except Exception:  # an unknown tag: the tag itself
        return tag


def _design_order(study: Study, codes: list[str]) -> list[str]:
    """Distinct ``codes`` in the order of the study's countries, others after them, sorted."""
    distinct = set(codes)
    ordered = [c for c in study.design.codes if c in distinct]
    return ordered + sorted(distinct - set(ordered))


def _exclusion_summary(exclusions: pd.DataFrame) -> pd.DataFrame:
    """One row per instrument × analysis × kind × reason: how many, and which LLMs or countries."""
    return exclusion_table(exclusions, INSTRUMENT_NAMES)


def _p_text(p: float) -> str:
    text = fmt_p(p)
    return text if text.startswith("<") else f"= {text}"


def _package_version() -> str:
    from valuesurvey import __version__

    return __version__


def _file_digest(path: Path) -> str:
    return sha256_file(path)[:16] if path.is_file() else "file missing"


def compact_items(ids: list[str]) -> str:
    """Item ids as ranges of consecutive numbers with one prefix.

    Examples
    --------
    >>> compact_items([f"Q{n}" for n in range(177, 196)])
    'Q177–Q195'
    >>> compact_items(["Q177", "Q178", "Q179", "Q182", "Q190", "Q191"])
    'Q177–Q179, Q182, Q190–Q191'
    >>> compact_items(["mfq2_01", "mfq2_02", "care"])
    'mfq2_01–mfq2_02, care'
    """
    parts: list[str] = []
    run: list[tuple[str, int, str]] = []

    def flush() -> None:
        if run:
            parts.append(run[0][2] if len(run) == 1 else f"{run[0][2]}–{run[-1][2]}")
            run.clear()

    for item in ids:
        match = re.fullmatch(r"(.*?)(\d+)", item)
        if match is None:
            flush()
            parts.append(item)
            continue
        prefix, number = match.group(1), int(match.group(2))
        if run and (run[-1][0] != prefix or run[-1][1] + 1 != number):
            flush()
        run.append((prefix, number, item))
    flush()
    return ", ".join(parts)


def _elicitation_summary(study: Study, tables: StudyTables) -> pd.DataFrame | None:
    try:
        from valuesurvey.elicit import elicitation_summary

        if study.paths.responses.exists():
            return elicitation_summary(study)
    except ImportError:
        pass
    frames = [f for f in (tables.llm_ratings(), tables.rankings()) if f is not None]
    if not frames:
        return None
    rows = pd.concat([f[["model", "status"]] for f in frames], ignore_index=True)
    counts = rows.pivot_table(index="model", columns="status", aggfunc="size", fill_value=0)
    out = pd.DataFrame({"model": counts.index, "requests": counts.sum(axis=1).to_numpy()})
    for status in ("ok", "refusal", "invalid", "nonsense", "error"):
        out[status] = counts[status].to_numpy() if status in counts.columns else 0
    out["note"] = "from status columns (responses.sqlite absent)"
    return out
