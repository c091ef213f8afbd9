"""The country-level section of the manuscript ("Which humans?"), read from ``estimates/countries_*.csv``.

Every number is a cell of those tables or a ranking of them; nothing is re-estimated, so the text
cannot disagree with the analysis. The headline numbers use the baseline condition (no persona,
English prompts where asked). What could not be estimated is said with its reason: countries with
fewer usable people than ``min_n`` (with their n), items not asked in a country (WVS code −4),
LLM conditions left out, and an association that needs more countries than the study has. A
mixed-model slope is called evidence only when its fit converged and is not singular.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from valuesurvey.country_level import CountryTables, baseline_condition, read_country_tables

__all__ = ["CountryContent"]

INSTRUMENT_NAMES = {"mfq2": "MFQ-2", "wvs7": "WVS-7"}
DISTANCE_TEXT = {
    "fst": "the cultural fixation index over the items both countries asked (CF_ST "
    "[@muthukrishna2020beyond], estimated with Hudson's F_ST, which small samples do not inflate)",
    "profile": "the root mean square difference of the countries' mean within-person z-score profiles",
}
#: Countries named in a list before "and N more".
LIST_AT_MOST = 12


def _fmt():
    from valuesurvey.report.content import fmt_num, fmt_p, markdown_table

    return fmt_num, fmt_p, markdown_table


def country_name(code: object) -> str:
    """The English (CLDR) name of a country code, with the code: ``Jordan (JO)``.

    >>> country_name("JO"), country_name("XI")
    ('Jordan (JO)', 'Northern Ireland (XI)')
    """
    from valuesurvey.countries import lookup

    found = lookup(str(code))
    return f"{found.name('en')} ({code})" if found is not None else str(code)


def _listing(names: list[str]) -> str:
    if len(names) > LIST_AT_MOST:
        names = [*names[:LIST_AT_MOST], f"{len(names) - LIST_AT_MOST} more"]
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _condition_text(condition: str) -> str:
    """``en/none`` → "English prompts, no persona"."""
    from valuesurvey.countries import UnknownLanguageError, language_name

    language, _, persona = condition.partition("/")
    try:
        spoken = language_name(language)
    except UnknownLanguageError:
        spoken = language
    return f"{spoken} prompts, " + ("no persona" if persona == "none" else f"persona {persona}")


@dataclass
class _Instrument:
    """One instrument's rows of every table, and its baseline condition."""

    name: str
    tables: CountryTables
    instrument: str

    def rows(self, table: str) -> pd.DataFrame:
        frame = getattr(self.tables, table)
        return frame[frame["instrument"] == self.instrument] if "instrument" in frame else frame

    @property
    def settings(self) -> pd.Series:
        return self.rows("settings").iloc[0]

    @property
    def condition(self) -> str | None:
        sim = self.rows("similarity")
        return baseline_condition(sim[sim["removed"] == "none"])

    def baseline(self) -> pd.DataFrame:
        sim = self.rows("similarity")
        return sim[(sim["removed"] == "none") & (sim["condition"] == self.condition)]


class CountryContent:
    """Text and tables of the country-level section, for the manuscript's code cells.

    Parameters
    ----------
    doc : ReportContent
        The manuscript's content (its study and tables).
    """

    def __init__(self, doc) -> None:  # a ReportContent (content.py imports nothing from here)
        self.doc = doc
        cache = doc.tables._cache
        if "countries" not in cache:
            cache["countries"] = read_country_tables(doc.study)
        self.tables: CountryTables | None = cache["countries"]

    def instruments(self) -> list[_Instrument]:
        if self.tables is None:
            return []
        ids = list(dict.fromkeys(self.tables.coverage["instrument"]))
        return [_Instrument(INSTRUMENT_NAMES.get(i, i), self.tables, i) for i in ids]

    # ---- the section --------------------------------------------------------------------------
    def section(self) -> str:
        """The whole section: method, coverage, headline numbers, association, per-model table."""
        if self.tables is None:
            if self.doc.study.analysis.countries is None:
                return (
                    "The study did not ask for the country-level analysis (`analysis.countries` in "
                    "study.yaml), so LLMs are compared with each country's people only as RQ1–RQ3 do.\n"
                )
            return "The country-level analysis has not written its tables (`valuesurvey analyze`).\n"
        parts = []
        for inst in self.instruments():
            parts.append(f"**{inst.name}.** " + self.method(inst))
            parts.append(self.coverage(inst))
            if inst.condition is None:
                parts.append(f"No country of {inst.name} had enough usable people to be estimated.")
                continue
            parts.append(self.headline(inst))
            parts.append(self.association(inst))
            parts.append(self.distributions(inst))
            parts.append(self.model_table(inst))
        return "\n\n".join(p for p in parts if p) + "\n"

    def method(self, inst: _Instrument) -> str:
        s = inst.settings
        reference = country_name(s["reference"])
        weights = (
            "people weighted by their survey weights, W_WEIGHT"
            if _yes(s["weights"]) == "yes"
            else "unweighted"
        )
        sources = sorted(set(inst.rows("distributions")["llm_source"].dropna()))
        source = " and ".join(
            {"repetitions": "its repetitions", "logprobs": "its scale-point probabilities"}[x]
            for x in sources
        )
        return (
            f"Every LLM condition was compared with the people of each country with human data: the mean "
            f"cosine of the country's people to the LLM ({weights}), with a 95% percentile interval from "
            f"{int(s['n_bootstrap'])} resamples of people within the country; per item, the Wasserstein-1 "
            "distance (scale normalised to 0–1, as WorldValuesBench) and the Jensen–Shannon distance "
            f"(base 2, as GlobalOpinionQA) between the LLM's answer distribution (from {source or 'its answers'}) "
            f"and the country's answer distribution [@zhao2024worldvaluesbench; @durmus2023globalopinionqa]. "
            f"Each country's cultural distance from {reference} is {DISTANCE_TEXT.get(str(s['distance']), s['distance'])}, "
            "computed from the same human data [@atari2023which]."
        )

    def coverage(self, inst: _Instrument) -> str:
        cov = inst.rows("coverage")
        done = cov[cov["status"] == "analysed"]
        parts = [
            f"{len(done)} of {len(cov)} countries were estimated"
            + (f" ({_range(done['n'])} usable people each)" if len(done) else "")
            + "."
        ]
        small = cov[cov["status"] == "below_min_n"]
        if len(small):
            names = [f"{country_name(r.country)}, n = {int(r.n)}" for r in small.itertuples(index=False)]
            parts.append(
                f"Reported but not estimated, with fewer than {int(inst.settings['min_n'])} usable people: "
                + "; ".join(names)
                + "."
            )
        other = cov[~cov["status"].isin(["analysed", "below_min_n"])]
        for row in other.itertuples(index=False):
            parts.append(f"{country_name(row.country)}: {row.reason}.")
        exclusions = inst.rows("exclusions")
        absent = exclusions[
            (exclusions["kind"] == "country") & (exclusions["reason"].str.startswith("no respondents"))
        ]
        if len(absent):
            parts.append(
                "Requested but absent from the human data: "
                + _listing([country_name(c) for c in absent["country"]])
                + "."
            )
        not_asked = cov[cov["items_not_asked"].notna() & (cov["items_not_asked"].astype(str) != "")]
        if len(not_asked):
            bits = [
                f"{_listing(str(r.items_not_asked).split(';'))} in {country_name(r.country)}"
                for r in not_asked.itertuples(index=False)
            ]
            parts.append(
                "Items never asked in a country (WVS code −4: no valid answer) were left out for that country "
                "only, for its cosines, distances and cultural distance: " + "; ".join(bits) + "."
            )
        zero = int(done["n_zero_variance"].sum()) if len(done) else 0
        if zero:
            parts.append(
                f"{zero:,} respondents of the estimated countries gave every item the same answer; their "
                "vectors cannot be z-scored, so they count in the answer distributions but not in the cosines."
            )
        llm = exclusions[exclusions["kind"] == "llm_condition"]
        if len(llm):
            who = sorted({f"{m} ({c})" for m, c in zip(llm["model"], llm["condition"], strict=True)})
            parts.append("LLM conditions left out (an item without any valid rating): " + _listing(who) + ".")
        return " ".join(parts)

    def _ranks(self, inst: _Instrument) -> pd.DataFrame:
        rows = inst.baseline().copy()
        rows["rank"] = rows.groupby("model")["estimate"].rank(ascending=False, method="min")
        return rows

    def headline(self, inst: _Instrument) -> str:
        fmt_num, _, _ = _fmt()
        rows = self._ranks(inst)
        k, models = rows["country"].nunique(), rows["model"].nunique()
        reference = str(inst.settings["reference"])
        means = rows.groupby("country")["estimate"].mean().sort_values(ascending=False)
        text = [
            f"In the baseline condition ({_condition_text(inst.condition)}), averaged over the {models} "
            f"models, LLMs were most similar to the people of {country_name(means.index[0])} (mean cosine "
            f"{fmt_num(means.iloc[0])}) and least similar to those of {country_name(means.index[-1])} "
            f"({fmt_num(means.iloc[-1])})."
        ]
        if reference in means.index:
            position = int(list(means.index).index(reference)) + 1
            text.append(f"{country_name(reference)}, the reference, ranked {position} of {k}.")
        closest = rows.loc[rows.groupby("model")["estimate"].idxmax(), "country"].value_counts()
        text.append(
            "Each model's closest country: "
            + _listing([f"{country_name(c)} for {n} model{'s' if n > 1 else ''}" for c, n in closest.items()])
            + "."
        )
        own = rows[rows["country"] == rows["origin"].astype(str)]
        if len(own):
            per_origin = own.groupby("origin")["rank"].median()
            text.append(
                "A model's own country of origin ranked (median over its models) "
                + _listing(
                    [
                        f"{fmt_num(r, 0)} of {k} for models made in {country_name(o)}"
                        for o, r in per_origin.items()
                    ]
                )
                + "."
            )
        return " ".join(text)

    def association(self, inst: _Instrument) -> str:
        fmt_num, fmt_p, _ = _fmt()
        reference = country_name(inst.settings["reference"])
        assoc = inst.rows("association")
        assoc = assoc[assoc["condition"] == inst.condition]
        if assoc.empty:
            n = inst.rows("culture")["country"].nunique()
            return (
                f"With {n} countr{'y' if n == 1 else 'ies'} with a cultural distance from {reference}, the "
                f"association of similarity with cultural distance is not estimated: a slope needs at least "
                "3 countries."
            )
        overall = assoc[(assoc["model"] == "all") & (assoc["metric"] == "slope")].iloc[0]
        fit = inst.rows("fit")
        fit = fit[fit["condition"] == inst.condition].iloc[0]
        steps = inst.rows("steps")
        steps = steps[steps["condition"] == inst.condition]
        chosen = steps[steps["chosen"].map(_yes) == "yes"]
        structure = str(chosen["formula"].iloc[0]) if len(chosen) else "the model"
        recommended = _yes(fit["converged"]) == "yes" and _yes(fit["singular"]) == "no"
        excludes = overall["conf_low"] > 0 or overall["conf_high"] < 0
        numbers = (
            f"slope {fmt_num(overall['estimate'])} per unit of distance (95% CI {fmt_num(overall['conf_low'])} "
            f"to {fmt_num(overall['conf_high'])}, Satterthwaite df {fmt_num(overall['df'], 1)}, p "
            f"{_p_phrase(fmt_p(overall['p_value']))}; `{structure}` over {int(fit['n_countries'])} countries "
            f"and {int(fit['n_models'])} models, chosen after {len(steps)} fit(s), @tbl-countries-steps)"
        )
        if not recommended:
            text = [
                f"The mixed model of similarity on cultural distance from {reference} is singular or did not "
                f"converge even in its simplest structure ({numbers}): it is reported for the record and not "
                "used as evidence; the per-model and two-stage estimates below are."
            ]
        elif excludes:
            direction = "fell" if overall["estimate"] < 0 else "rose"
            text = [f"Similarity {direction} with cultural distance from {reference}: {numbers}."]
        else:
            text = [
                f"No association of similarity with cultural distance from {reference} was detected: "
                f"{numbers}; the interval includes 0."
            ]
        two = assoc[(assoc["model"] == "all") & (assoc["metric"] == "slope_two_stage")]
        if len(two):
            t = two.iloc[0]
            text.append(
                f"The two-stage check, the mean of the per-model slopes, is {fmt_num(t['estimate'])} "
                f"(95% CI {fmt_num(t['conf_low'])} to {fmt_num(t['conf_high'])})."
            )
        per_model = assoc[(assoc["model"] != "all") & (assoc["metric"] == "slope")]
        if len(per_model):
            negative = int((per_model["conf_high"] < 0).sum())
            positive = int((per_model["conf_low"] > 0).sum())
            text.append(
                f"Per model (lm over countries), the slope's 95% CI excludes 0 for "
                f"{negative + positive} of {len(per_model)} models ({negative} negative, {positive} positive)."
            )
        corr = assoc[(assoc["model"] == "all") & (assoc["metric"] == "correlation")]
        if len(corr):
            c = corr.iloc[0]
            text.append(
                f"Across countries, the mean similarity over models correlates r = {fmt_num(c['estimate'], 2)} "
                f"with the distance (95% CI {fmt_num(c['conf_low'], 2)} to {fmt_num(c['conf_high'], 2)})."
            )
        text.append(
            f"{self.doc.ref('fig_countries_distance')} shows the relation; {self.doc.ref('fig_countries_ranked')} each model's ranking of the countries."
        )
        return " ".join(text)

    def distributions(self, inst: _Instrument) -> str:
        fmt_num, _, _ = _fmt()
        dist = inst.rows("distributions")
        dist = dist[dist["condition"] == inst.condition]
        summary = dist[dist["item"] == "all"]
        text = []
        for metric, name in (("wasserstein", "Wasserstein-1"), ("jensen_shannon", "Jensen–Shannon")):
            by_country = (
                summary[summary["metric"] == metric].groupby("country")["estimate"].mean().sort_values()
            )
            if by_country.empty:
                continue
            text.append(
                f"{name} distance between the answer distributions, averaged over items and models: smallest "
                f"for {country_name(by_country.index[0])} ({fmt_num(by_country.iloc[0])}), largest for "
                f"{country_name(by_country.index[-1])} ({fmt_num(by_country.iloc[-1])})."
            )
        items = dist[(dist["item"] != "all") & (dist["metric"] == "wasserstein")]
        if len(items):
            worst = items.groupby("item")["estimate"].mean().sort_values()
            text.append(
                f"The item whose answers LLMs matched worst (mean Wasserstein-1 over countries and models) is "
                f"{worst.index[-1]} ({fmt_num(worst.iloc[-1])}); best {worst.index[0]} ({fmt_num(worst.iloc[0])})."
            )
        return " ".join(text)

    def model_table(self, inst: _Instrument) -> str:
        fmt_num, _, markdown_table = _fmt()
        rows = self._ranks(inst)
        k = rows["country"].nunique()
        reference = str(inst.settings["reference"])
        assoc = inst.rows("association")
        slopes = assoc[(assoc["condition"] == inst.condition) & (assoc["metric"] == "slope")].set_index(
            "model"
        )
        out = []
        for model, part in rows.groupby("model", sort=False):
            part = part.sort_values("estimate", ascending=False)
            origin = str(part["origin"].iloc[0])
            ref_rank = part.loc[part["country"] == reference, "rank"]
            own_rank = part.loc[part["country"] == origin, "rank"]
            best, worst = part.iloc[0], part.iloc[-1]
            slope = slopes.loc[model] if model in slopes.index else None
            out.append(
                {
                    "Model": model,
                    "Origin": origin,
                    "Closest": f"{best['country']} {fmt_num(best['estimate'])}",
                    "Farthest": f"{worst['country']} {fmt_num(worst['estimate'])}",
                    f"{reference} rank": f"{int(ref_rank.iloc[0])}/{k}" if len(ref_rank) else "–",
                    "Origin rank": f"{int(own_rank.iloc[0])}/{k}" if len(own_rank) else "–",
                    "Slope [95% CI]": (
                        f"{fmt_num(slope['estimate'], 2)} [{fmt_num(slope['conf_low'], 2)}, "
                        f"{fmt_num(slope['conf_high'], 2)}]"
                        if slope is not None
                        else "–"
                    ),
                }
            )
        table = pd.DataFrame(out)
        order = rows.groupby("model")["estimate"].mean().sort_values(ascending=False).index
        table = table.set_index("Model").loc[order].reset_index()
        return (
            f"Per model (@tbl-countries-{inst.instrument}): the closest and farthest country with its mean "
            f"cosine, the ranks of the reference and of the model's own country among the {k}, and the "
            "slope of similarity on cultural distance over countries (lm; – with fewer than 3 countries).\n\n"
            + markdown_table(
                table,
                caption=f"{inst.name}, {_condition_text(inst.condition)}: each model's similarity to the "
                "countries' people (mean cosine), ranked.",
                label=f"tbl-countries-{inst.instrument}",
            )
        )

    # ---- appendix -----------------------------------------------------------------------------
    def steps_table(self) -> str:
        """The mixed models' simplification records (@tbl-countries-steps)."""
        if self.tables is None or self.tables.steps.empty:
            return ""
        _, _, markdown_table = _fmt()
        steps = self.tables.steps.copy()
        shown = pd.DataFrame(
            {
                "Instrument": steps["instrument"].map(lambda i: INSTRUMENT_NAMES.get(i, i)),
                "Condition": steps["condition"],
                "Step": steps["step"].astype(int),
                "Random effects": steps["structure"],
                "Optimizer": steps["optimizer"],
                "Converged": steps["converged"].map(_yes),
                "Singular": steps["singular"].map(_yes),
                "Action": steps["action"],
            }
        )
        return markdown_table(
            shown,
            caption="Country level: every mixed model of similarity on cultural distance that was fitted, in "
            "order (maximal: correlated by-model intercept and slope and a country intercept; "
            "uncorrelated; intercepts only; country only), and what was done with it.",
            label="tbl-countries-steps",
        )


def _range(values: pd.Series) -> str:
    low, high = int(values.min()), int(values.max())
    return f"n = {low:,}" if low == high else f"n = {low:,}–{high:,}"


def _yes(value: object) -> str:
    return "yes" if str(value).strip().lower() in ("true", "1", "yes") else "no"


def _p_phrase(p: str) -> str:
    return p if p.startswith("<") else f"= {p}"
