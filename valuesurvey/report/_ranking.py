"""The ranking study's section of the manuscript, read from the ranking analysis's tables.

Every number here is a cell of ``estimates/ranking_*.csv`` (:func:`valuesurvey.ranking.load_results`);
nothing is recomputed, so the report cannot disagree with the analysis. Values and dimensions are
shown by name (the ``ai_values`` instrument's English text), never by id.

Every sentence with a conclusion is generated from the analysis's facts: a CN-US difference (with
more than two origin groups: a difference between two groups, or among all of them by the omnibus
test) is "detected" only by the Holm-adjusted permutation test, and a difference not detected is
always qualified by the equivalence test ("equivalence shown / not shown within ±Δ") and the
minimum detectable effect, never written as "no difference"; archetypes are named only when the
cluster-validity rule found structure; a mixed model is used for inference only when its fit facts
say it converged and is not singular (``recommended``), and what each fit's facts are is said.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from valuesurvey.design import default_design
from valuesurvey.figures._data import value_names
from valuesurvey.figures._ranking import CLUSTER_METHOD
from valuesurvey.ranking import RankingResults

__all__ = ["INFERENCE_MODEL", "RankingContent"]

#: The mixed model the report may use for inference, when its fit is recommended
#: (see valuesurvey.ranking._mixed).
INFERENCE_MODEL = "lmer_nested"
COUNTRY = {"CN": "China", "US": "USA"}
ALPHA = 0.05
#: Table wording of each conclusion of ``ranking_equivalence`` (Δ filled in).
CONCLUSION_CELLS = {
    "difference": "difference detected",
    "difference_within_margin": "difference detected, within ±{m}",
    "equivalence": "none detected; equivalent within ±{m}",
    "inconclusive": "none detected; equivalence not shown",
    "not_tested": "not tested",
}
RANDOM_NAMES = {
    "model:dimension": "model × dimension",
    "value": "value",
    "model": "model",
    "Residual": "residual",
}


def _fmt():  # imported late: content.py imports this module
    from valuesurvey.report.content import fmt_num, fmt_p

    return fmt_num, fmt_p


@dataclass
class RankingContent:
    """Text, tables and key numbers of the ranking study.

    Parameters
    ----------
    results : RankingResults
        The tables written by :func:`valuesurvey.ranking.analyze_study`.
    """

    results: RankingResults
    names: dict[str, str] = field(default_factory=value_names)

    # ---- small readers ---------------------------------------------------------------------
    def name(self, value_id: str) -> str:
        return self.names.get(value_id, value_id)

    @property
    def groups(self) -> tuple[str, ...]:
        """The origin groups of the analysis, in its order (the ``top_bottom`` groups)."""
        groups = [str(g) for g in dict.fromkeys(self.results.top_bottom["group"]) if g != "all"]
        return tuple(groups) or ("CN", "US")

    @property
    def many(self) -> bool:
        """More than two origin groups: omnibus tests and pairs instead of CN vs US."""
        return len(self.groups) > 2

    @staticmethod
    def country(code: str) -> str:
        """China, USA (the paper's names), else the CLDR name (Taiwan, Singapore)."""
        return COUNTRY.get(code) or default_design().name(code)

    def _made_in(self) -> str:
        """ "LLMs made in China, Taiwan and the USA" style list of the groups."""
        return "LLMs made in " + _list(pd.Series([self._in(g) for g in self.groups]))

    def _in(self, code: str) -> str:
        """A group's country as the object of "made in": "China", "the USA"."""
        name = self.country(code)
        return "the USA" if name == "USA" else name

    @property
    def _pair(self) -> tuple[str, str]:
        """The two groups of a two-group study, in the analysis's order (CN, US in the paper)."""
        first, second = self.groups[:2]
        return first, second

    def versus(self) -> str:
        """ "LLMs made in China and the USA" for the two groups."""
        first, second = self._pair
        return f"LLMs made in {self._in(first)} and {self._in(second)}"

    def _minus(self, dash: str = " − ") -> str:
        """The two-group difference's direction: "CN − US"."""
        return dash.join(self._pair)

    def _names(self, joined: object) -> str:
        if not isinstance(joined, str) or not joined:
            return "none"
        return ", ".join(self.name(v) for v in joined.split(";"))

    def _agreement(self, rater: str) -> pd.Series:
        table = self.results.agreement
        return table[(table["model"] == rater) & (table["scope"] == "across_models")].iloc[0]

    def _within_w(self) -> pd.Series:
        table = self.results.agreement
        return table.loc[table["scope"] == "within_model", "estimate"]

    def _overlap(self, term: str) -> pd.Series:
        if self.many:  # one row per pair: no single overlap (see _overlap_paragraph)
            raise KeyError(term)
        return self.results.overlap.set_index("term").loc[term]

    def _chosen(self) -> pd.Series:
        table = self.results.cluster_selection
        return table[(table["method"] == CLUSTER_METHOD) & table["chosen"].astype(bool)].iloc[0]

    def _stability(self, scheme: str) -> pd.Series:
        table = self.results.cluster_stability
        return table[(table["method"] == CLUSTER_METHOD) & (table["scheme"] == scheme)].iloc[0]

    def _cluster_origin(self, method: str = CLUSTER_METHOD) -> pd.Series:
        table = self.results.cluster_origin
        return table[table["model"] == method].iloc[0]

    def _mixed(self, model: str = INFERENCE_MODEL) -> pd.DataFrame | None:
        mixed = self.results.mixed
        if mixed is None or mixed.empty:
            return None
        part = mixed[mixed["model"] == model]
        return part if len(part) else None

    def _recommended(self) -> pd.DataFrame | None:
        """The inference model's rows when its fit is recommended (converged, not singular)."""
        part = self._mixed()
        if part is None or not _flag(part["recommended"].iloc[0]):
            return None
        if _flag(part["singular"].iloc[0]) or not _flag(part["converged"].iloc[0]):
            return None  # never trust a flag that contradicts the facts
        return part

    def _validity(self, method: str = CLUSTER_METHOD) -> pd.Series:
        table = self.results.cluster_validity
        return table[table["method"] == method].iloc[0]

    def structure(self, method: str = CLUSTER_METHOD) -> bool:
        """Whether the cluster-validity rule found cluster structure (False when not assessed)."""
        try:
            return _flag(self._validity(method)["structure"])
        except (IndexError, KeyError):
            return False

    def _equivalence(self, level: str) -> pd.DataFrame:
        table = self.results.equivalence
        return table[table["level"] == level]

    def _margin(self) -> str:
        margins = self.results.equivalence["margin"].dropna()
        return f"{float(margins.iloc[0]):g}" if len(margins) else "NA"

    def _positions(self) -> str:
        """The margin with its unit: "1 rank position", "0.5 rank positions"."""
        margin = self._margin()
        return f"{margin} rank position" + ("" if margin == "1" else "s")

    # ---- key numbers -------------------------------------------------------------------------
    def key(self, name: str) -> str:
        """One key number as text.

        ``kendall_w`` (across all models), ``kendall_w_cn``, ``kendall_w_us``, ``kendall_w_within``
        (median over models), ``top5_jaccard``, ``bottom5_jaccard``, ``top5_shared``,
        ``bottom5_shared``, ``k``, ``silhouette``, ``ari_models``, ``ari_repetitions``,
        ``cluster_origin_p``, ``cramers_v``, ``valid_rankings``, ``invalid_attempts``,
        ``excluded_models``, ``interaction_p`` (origin × dimension in the recommended mixed model;
        NA when none is recommended), ``structure`` (yes/no), ``cluster_summary`` (a sentence on
        the clustering and its validity), ``mde_d`` (minimum detectable standardised CN-US
        difference), ``equivalence_margin``, ``dimensions_different`` (count by the exact test),
        ``kendall_w_<group>`` for any origin group (``kendall_w_tw``). With more than two origin
        groups the overlap keys are NA (one overlap per pair: ``ranking_overlap.csv``).
        """
        fmt_num, fmt_p = _fmt()
        counts = self.results.counts
        readers: dict[str, Callable[[], str]] = {
            "kendall_w": lambda: fmt_num(self._agreement("all")["estimate"], 2),
            "kendall_w_cn": lambda: fmt_num(self._agreement("CN")["estimate"], 2),
            "kendall_w_us": lambda: fmt_num(self._agreement("US")["estimate"], 2),
            "kendall_w_within": lambda: fmt_num(self._within_w().median(), 2),
            "top5_jaccard": lambda: fmt_num(self._overlap("top5_jaccard")["estimate"], 2),
            "bottom5_jaccard": lambda: fmt_num(self._overlap("bottom5_jaccard")["estimate"], 2),
            "top5_shared": lambda: str(int(self._overlap("top5_jaccard")["statistic"])),
            "bottom5_shared": lambda: str(int(self._overlap("bottom5_jaccard")["statistic"])),
            "k": lambda: str(int(self._chosen()["k"])),
            "silhouette": lambda: fmt_num(self._chosen()["silhouette"], 2),
            "ari_models": lambda: fmt_num(self._stability("models")["ari_mean"], 2),
            "ari_repetitions": lambda: fmt_num(self._stability("repetitions")["ari_mean"], 2),
            "cluster_origin_p": lambda: fmt_p(self._cluster_origin()["p_value"]),
            "cramers_v": lambda: fmt_num(self._cluster_origin()["estimate"], 2),
            "valid_rankings": lambda: f"{int(counts['valid'].sum()):,}",
            "invalid_attempts": lambda: f"{int(counts['invalid_attempts'].sum()):,}",
            "excluded_models": lambda: str(len(self.results.exclusions)),
            "interaction_p": self._interaction_p,
            "structure": lambda: "yes" if self.structure() else "no",
            "cluster_summary": self._cluster_summary,
            "mde_d": lambda: fmt_num(self._equivalence("dimension")["mde_d"].dropna().iloc[0], 2),
            "equivalence_margin": self._margin,
            "dimensions_different": lambda: str(
                int(self._equivalence("dimension")["detected"].map(_flag).sum())
            ),
        }
        for group in self.groups:
            readers.setdefault(
                f"kendall_w_{group.lower()}",
                lambda group=group: fmt_num(self._agreement(group)["estimate"], 2),
            )
        if name not in readers:
            raise KeyError(f"unknown ranking key number {name!r}; known: {', '.join(readers)}")
        try:
            return readers[name]()
        except (IndexError, KeyError):  # the analysis could not compute it (too few models, no R)
            return "NA"

    def _interaction_p(self) -> str:
        _, fmt_p = _fmt()
        mixed = self._recommended()
        if mixed is None:
            return "NA"
        row = mixed[(mixed["component"] == "anova") & (mixed["term"] == "origin:dimension")]
        return fmt_p(row["p_value"].iloc[0]) if len(row) else "NA"

    # ---- paragraphs and tables ---------------------------------------------------------------
    def section(self, table: Callable[..., str]) -> str:
        """The whole section as pandoc markdown; ``table`` is the report's ``markdown_table``."""
        parts = [
            self._data_paragraph(),
            self._hierarchy_paragraph(),
            table(
                self.dimension_table(),
                caption="Dimension scores: mean over models of each model's mean rank "
                "(1 = most important); 95% percentile bootstrap CIs over models.",
                label="tbl-rank-dimensions",
            ),
            table(
                self.value_table(),
                caption="The hierarchy of the values: mean rank over models with 95% bootstrap CIs.",
                label="tbl-rank-values",
            ),
            self._origin_paragraph(),
            *(self._group_tables(table) if self.many else []),
        ]
        if not self.many:
            parts.append(self._origin_table_md(table))
        parts += [
            self._mixed_paragraph(),
        ]
        return self._section_rest(parts, table)

    def _origin_table_md(self, table: Callable[..., str]) -> str:
        return table(
            self.origin_table(),
            caption=f"LLMs made in {self._in(self._pair[0])} versus {self._in(self._pair[1])}, by dimension: "
            f"difference in mean rank ({self._minus()}; negative = ranked higher by {self._pair[0]} models) "
            "with Hedges' g; p-values of Welch's t, "
            "the exact permutation test of the difference and the exact Mann–Whitney test, each "
            f"Holm-adjusted across dimensions; the 90% CI and TOST p of equivalence within ±{self._positions()} "
            "(Holm); the conclusion (a difference is detected by the permutation test)"
            + (
                f"; and the recommended mixed model's contrast ({INFERENCE_MODEL})."
                if self._recommended() is not None
                else "."
            ),
            label="tbl-rank-origin",
        )

    def _group_tables(self, table: Callable[..., str]) -> list[str]:
        """k > 2 origin groups: the omnibus table and the pairwise table."""
        return [
            table(
                self.omnibus_table(),
                caption=f"{self._made_in()}, by dimension: the omnibus permutation tests of any "
                "difference among the groups — Kruskal–Wallis H and one-way ANOVA F, each with its "
                "permutation p-value (the origins permuted over the models; Monte Carlo p-values carry "
                "their 99% interval in `ranking_origin_tests.csv`) and the asymptotic one, Holm-adjusted "
                "across dimensions.",
                label="tbl-rank-omnibus",
            ),
            table(
                self.pairs_table(),
                caption="Every pair of origin groups, by dimension: difference in mean rank (first − "
                "second; negative = ranked higher by the first group's models) with Hedges' g; p-values "
                "of Welch's t, the permutation test and the Mann–Whitney test, each Holm-adjusted across "
                f"dimensions and pairs; the 90% CI and TOST p of equivalence within ±{self._positions()} "
                "(Holm); the conclusion (a difference is detected by the permutation test)"
                + (
                    f"; and the recommended mixed model's contrast ({INFERENCE_MODEL})."
                    if self._recommended() is not None
                    else "."
                ),
                label="tbl-rank-origin",
            ),
        ]

    def _section_rest(self, parts: list[str], table: Callable[..., str]) -> str:
        steps = self.mixed_steps_table()
        if steps is not None:
            parts.append(
                table(
                    steps,
                    caption="The mixed models of the value-level mean ranks: every fit the simplification "
                    "sequence tried, with its optimizer, the optimizer's return code, whether it converged "
                    "and is singular, the estimated SDs, and what the sequence did next.",
                    label="tbl-rank-mixed-steps",
                )
            )
        parts += [
            self._overlap_paragraph(),
            table(
                self.top_bottom_table(),
                caption=f"Top-5 and bottom-5 values of {self._made_in()} (mean rank).",
                label="tbl-topbottom",
            ),
            self._cluster_paragraph(),
            table(
                self.cluster_validity_table(),
                caption="Cluster validity of the Ward clustering for each number of clusters k: mean "
                "silhouette and gap statistic (± its SE); * marks the k chosen by each.",
                label="tbl-rank-cluster-validity",
            ),
        ]
        if self.structure():
            parts.append(
                table(
                    self.archetype_table(),
                    caption="Archetypes (Ward clusters of the models' mean-rank profiles), named after "
                    "their own profile: members, distinctive dimensions, bootstrap stability (mean "
                    "Jaccard of the cluster) and the closest archetype of the poster.",
                    label="tbl-archetypes",
                )
            )
        return "\n\n".join(parts) + "\n"

    def _data_paragraph(self) -> str:
        counts = self.results.counts
        text = (
            f"The analysis used {self.key('valid_rankings')} valid rankings out of "
            f"{int(counts['requests'].sum()):,} requests; {self.key('invalid_attempts')} invalid answers "
            "(not a permutation of the 25 values) were asked again and counted, and each request kept its "
            "last valid attempt."
        )
        if "copies_listing_order" in counts.columns:
            copies = int(counts["copies_listing_order"].sum())
            text += (
                f" {copies:,} valid rankings were identical to the order in which the prompt listed the "
                "values (flagged `copies_listing_order` in `rankings.parquet`, kept)."
            )
        exclusions = self.results.exclusions
        if len(exclusions):
            listed = "; ".join(f"{r.model} ({r.origin}): {r.reason}" for r in exclusions.itertuples())
            text += f" Excluded models ({len(exclusions)}): {listed}."
        else:
            text += " No model was excluded."
        return text

    def _hierarchy_paragraph(self) -> str:
        fmt_num, fmt_p = _fmt()
        first = self.results.hierarchy
        dims = first[first["level"] == "dimension"].sort_values("position")
        order = " > ".join(dims["term"])
        within = self._within_w()
        within_text = (
            f"; within models, across repetitions, the median W is {self.key('kendall_w_within')} "
            f"(range {fmt_num(within.min(), 2)}–{fmt_num(within.max(), 2)})"
            if len(within)
            else ""
        )
        return (
            f"The dimensions rank {order} (@tbl-rank-dimensions; the 25 values in @tbl-rank-values). "
            f"Models agree on the hierarchy: Kendall's W across all models is {self.key('kendall_w')} "
            f"(p {_p_phrase(fmt_p(self._agreement('all')['p_value']))}), {self._group_agreement()}"
            f"{within_text}."
        )

    def _group_agreement(self) -> str:
        if not self.many:
            first, second = self._pair
            return (
                f"{self.key(f'kendall_w_{first.lower()}')} among LLMs made in {self._in(first)} and "
                f"{self.key(f'kendall_w_{second.lower()}')} among LLMs made in {self._in(second)}"
            )
        parts = [
            f"{self.key(f'kendall_w_{g.lower()}')} among LLMs made in {self._in(g)}" for g in self.groups
        ]
        return _list(pd.Series(parts))

    def dimension_table(self) -> pd.DataFrame:
        fmt_num, _ = _fmt()
        hier = self.results.hierarchy
        dims = hier[hier["level"] == "dimension"].sort_values("position")
        scores = self.results.dimension_scores
        by_origin = scores.groupby(["dimension", "origin"])["score"].mean().unstack("origin")
        rows = []
        for row in dims.itertuples():
            rows.append(
                {
                    "Position": int(row.position),
                    "Dimension": row.term,
                    "Mean rank": fmt_num(row.estimate, 2),
                    "95% CI": f"{fmt_num(row.conf_low, 2)}–{fmt_num(row.conf_high, 2)}",
                    **{
                        f"LLMs, {self.country(g)}": fmt_num(
                            by_origin.get(g, pd.Series()).get(row.term, float("nan")), 2
                        )
                        for g in self.groups
                    },
                }
            )
        return pd.DataFrame(rows)

    def value_table(self) -> pd.DataFrame:
        fmt_num, _ = _fmt()
        hier = self.results.hierarchy
        values = hier[hier["level"] == "value"].sort_values("position")
        return pd.DataFrame(
            {
                "Position": values["position"].astype(int).to_numpy(),
                "Value": [self.name(v) for v in values["term"]],
                "Dimension": values["dimension"].to_numpy(),
                "Mean rank": [fmt_num(v, 2) for v in values["estimate"]],
                "95% CI": [
                    f"{fmt_num(lo, 2)}–{fmt_num(hi, 2)}"
                    for lo, hi in zip(values["conf_low"], values["conf_high"], strict=True)
                ],
            }
        )

    def _origin_paragraph(self) -> str:
        if self.many:
            return self._groups_paragraph()
        fmt_num, _ = _fmt()
        dims, values = self._equivalence("dimension"), self._equivalence("value")
        detected = dims[dims["detected"].map(_flag)]
        text = (
            f"{self.versus()} differ (exact permutation test of the difference in mean rank, "
            f"Holm-adjusted p < {ALPHA}) on {len(detected)} of {len(dims)} dimensions"
            + (f" ({', '.join(detected['term'])})" if len(detected) else "")
            + f" and on {int(values['detected'].map(_flag).sum())} of {len(values)} values (@tbl-rank-origin). "
        )
        rest = dims[~dims["detected"].map(_flag) & (dims["conclusion"] != "not_tested")]
        shown = rest[rest["conclusion"] == "equivalence"]
        not_shown = rest[rest["conclusion"] == "inconclusive"]
        if len(shown):
            text += (
                f"{_list(shown['term'])}: no difference detected; equivalence shown within ±{self._positions()} "
                "(TOST, Holm-adjusted p < 0.05). "
            )
        if len(not_shown):
            bounds = not_shown["equivalence_bound"]
            text += (
                f"{_list(not_shown['term'])}: no difference detected; equivalence not shown within "
                f"±{self._positions()} (the data would show equivalence only within ±{fmt_num(bounds.min(), 2)}"
                + (f" to ±{fmt_num(bounds.max(), 2)}" if len(bounds) > 1 else "")
                + "). "
            )
        return text + self._power_sentence(dims, values)

    def _groups_paragraph(self) -> str:
        """k > 2 groups: the omnibus tests, then the pairs, with equivalence and power."""
        tests = self.results.origin_tests
        omnibus = tests[(tests["contrast"] == "omnibus") & (tests["model"] == "kruskal_wallis")]
        dims = omnibus[omnibus["level"] == "dimension"]
        hit = dims[dims["p_holm"] < ALPHA]
        values = omnibus[omnibus["level"] == "value"]
        pairs = self._equivalence("dimension")
        detected = pairs[pairs["detected"].map(_flag)]
        tested = pairs[pairs["conclusion"] != "not_tested"]
        shown = tested[tested["conclusion"].isin(["equivalence", "difference_within_margin"])]
        text = (
            f"The {len(self.groups)} origin groups ({self._made_in()}; models of no country or of a "
            "company-level origin are in no group) differ by the omnibus Kruskal–Wallis permutation test "
            f"(Holm-adjusted p < {ALPHA}) on {len(hit)} of {len(dims)} dimensions"
            + (f" ({', '.join(hit['term'])})" if len(hit) else "")
            + f" and on {int((values['p_holm'] < ALPHA).sum())} of {len(values)} values (@tbl-rank-omnibus; "
            "the ANOVA F permutation test beside it). "
            f"Of the {len(tested)} pairs × dimensions, the permutation test (Holm across dimensions and "
            f"pairs) detects a difference for {len(detected)}"
            + (
                f" ({', '.join(f'{r.contrast}: {r.term}' for r in detected.itertuples())})"
                if len(detected)
                else ""
            )
            + f"; equivalence within ±{self._positions()} is shown for {len(shown)} (@tbl-rank-origin). "
        )
        return text + self._power_sentence(pairs, self._equivalence("value"))

    def _power_sentence(self, dims: pd.DataFrame, values: pd.DataFrame) -> str:
        fmt_num, _ = _fmt()
        tested = dims.dropna(subset=["mde_d"])
        if tested.empty:
            return "Too few models of each origin to test."
        first = tested.iloc[0]
        mde, power = tested["mde"], tested["power_at_margin"]
        value_rest = values[values["conclusion"].isin(["equivalence", "inconclusive"])]
        n_equivalent = int((value_rest["conclusion"] == "equivalence").sum())
        if self.many:
            n = pd.concat([tested[f"n_{g.lower()}"] for g in self.groups]).dropna()
            sizes = f"{int(n.min())} to {int(n.max())} models per group"
            mde_d = tested["mde_d"]
            d_text = f"{fmt_num(mde_d.min(), 2)}–{fmt_num(mde_d.max(), 2)}"
            return (
                f"With {sizes}, the smallest difference a two-sided test of a pair at α = {ALPHA} detects "
                f"with 80% power is d = {d_text} standard deviations, {fmt_num(mde.min(), 2)}–"
                f"{fmt_num(mde.max(), 2)} rank positions; the power to detect a difference of "
                f"{self._positions()} is {_percent(power.min())}–{_percent(power.max())}."
            )
        return (
            f"With {int(first[f'n_{self._pair[0].lower()}'])} and {int(first[f'n_{self._pair[1].lower()}'])} "
            "models, the smallest difference a two-sided "
            f"test at α = {ALPHA} detects with 80% power is d = {fmt_num(first['mde_d'], 2)} standard "
            f"deviations, {fmt_num(mde.min(), 2)}–{fmt_num(mde.max(), 2)} rank positions for these "
            f"dimensions; the power to detect a difference of {self._positions()} is "
            f"{_percent(power.min())}–{_percent(power.max())}. Of the {len(value_rest)} values without a "
            f"detected difference, equivalence within ±{self._margin()} is shown for {n_equivalent}."
        )

    def _mixed_paragraph(self) -> str:
        """What the mixed models' fit facts say, and whether one is used for inference."""
        if self.results.mixed is None or self.results.mixed.empty:
            return "The R mixed models were not fitted."
        parts = [self._record_sentence()]
        nested = self._mixed()
        if nested is None:
            return parts[0]
        row = nested.iloc[0]
        steps = self._steps()
        n_steps = len(steps) if steps is not None else 0
        recommended = self._recommended()
        if recommended is not None:
            parts.append(
                f"The nested model, simplified by the recorded sequence ({n_steps} fits, "
                f"@tbl-rank-mixed-steps), ends with `{row['formula']}`: it converged (optimizer "
                f"{row['optimizer']}, code {_code(row['conv_code'])}) and is not singular "
                f"({self._variance_text(recommended)}). It is the recommended mixed model: its "
                + (
                    "pairwise origin (sum-coded, reference " + self.groups[-1] + ")"
                    if self.many
                    else self._minus()
                )
                + " contrasts are in @tbl-rank-origin"
                + self._interaction_text(recommended)
                + "."
            )
        else:
            parts.append(
                f"No mixed model of the value-level mean ranks is recommended: the recorded simplification "
                f"({n_steps} fits, @tbl-rank-mixed-steps) ends with `{row['formula']}`, which "
                f"{_fit_problem(row)} ({self._variance_text(nested)}); the "
                + ("origin-group" if self.many else self._minus("–"))
                + " inference rests on the model-level exact tests above."
            )
        return " ".join(parts)

    def _record_sentence(self) -> str:
        record = self._mixed("lmer")
        if record is None:
            return ""
        row = record.iloc[0]
        sds = _random_sds(record)
        model_sd = sds.get("model", float("nan"))
        fmt_num, _ = _fmt()
        if _flag(row["singular"]):
            why = f"is singular: its model SD is estimated as {fmt_num(model_sd, 3)}"
            if model_sd < 1e-6:
                why += (
                    " (every ranking is a permutation, so each model's mean rank over all values is the same "
                    "constant and there is no model variance to estimate)"
                )
        elif not _flag(row["converged"]):
            why = f"did not converge (optimizer {row['optimizer']}, code {_code(row['conv_code'])})"
        else:
            why = f"converged and is not singular (model SD {fmt_num(model_sd, 3)})"
        return (
            f"The mixed model as first specified, `{row['formula']}`, {why}; it treats the five values of a "
            "model and dimension as independent rows, so it is kept for the record and not used for inference."
        )

    def _steps(self) -> pd.DataFrame | None:
        steps = self.results.mixed_steps
        if steps is None or steps.empty:
            return None
        part = steps[steps["model"] == INFERENCE_MODEL]
        return part if len(part) else None

    @staticmethod
    def _variance_text(rows: pd.DataFrame) -> str:
        fmt_num, _ = _fmt()
        sds = _random_sds(rows)
        return "SDs: " + ", ".join(f"{RANDOM_NAMES.get(g, g)} {fmt_num(v, 3)}" for g, v in sds.items())

    @staticmethod
    def _interaction_text(rows: pd.DataFrame) -> str:
        fmt_num, fmt_p = _fmt()
        anova = rows[(rows["component"] == "anova") & (rows["term"] == "origin:dimension")]
        if anova.empty:
            return ""
        row = anova.iloc[0]
        return (
            f"; the origin × dimension interaction: F({fmt_num(row['num_df'], 0)}, {fmt_num(row['df'], 1)}) = "
            f"{fmt_num(row['statistic'], 2)}, p {_p_phrase(fmt_p(row['p_value']))}"
        )

    def mixed_steps_table(self) -> pd.DataFrame | None:
        """Every fit of the simplification sequence (and the record fit), or None."""
        steps = self.results.mixed_steps
        if steps is None or steps.empty:
            return None
        return pd.DataFrame(
            {
                "Model": steps["model"].to_numpy(),
                "Step": steps["step"].astype(int).to_numpy(),
                "Random effects": [_random_part(f) for f in steps["formula"]],
                "Optimizer": steps["optimizer"].to_numpy(),
                "Code": [_code(c) for c in steps["conv_code"]],
                "Converged": ["yes" if _flag(v) else "no" for v in steps["converged"]],
                "Singular": ["yes" if _flag(v) else "no" for v in steps["singular"]],
                "SDs": steps["variance"].fillna("").to_numpy(),
                "Action": steps["action"].to_numpy(),
            }
        )

    def origin_table(self) -> pd.DataFrame:
        fmt_num, fmt_p = _fmt()
        tests = self.results.origin_tests
        dims = tests[tests["level"] == "dimension"]
        by_test = {
            name: dims[dims["model"] == name].set_index("term")
            for name in ("welch_t", "permutation", "mann_whitney_u")
        }
        equivalence = self._equivalence("dimension").set_index("term")
        mixed = self._recommended()
        contrasts = (
            mixed[mixed["component"] == "contrast"].assign(
                dimension=lambda d: d["term"].str.split("|").str[-1].str.strip()
            )
            if mixed is not None
            else pd.DataFrame(columns=["dimension"])
        ).set_index("dimension")
        margin = self._margin()
        rows = []
        for dim in by_test["welch_t"].index:
            w = by_test["welch_t"].loc[dim]

            def p_of(name: str, dim: str = dim) -> str:
                table = by_test[name]
                return fmt_p(table.loc[dim, "p_holm"]) if dim in table.index else "NA"

            e = equivalence.loc[dim] if dim in equivalence.index else None
            row = {
                "Dimension": dim,
                self._minus(): fmt_num(w["estimate"], 2),
                "g": fmt_num(w["effect_size"], 2),
                "p (t)": p_of("welch_t"),
                "p (perm.)": p_of("permutation"),
                "p (U)": p_of("mann_whitney_u"),
                "90% CI": "NA"
                if e is None
                else f"{fmt_num(e['conf_low'], 2)} to {fmt_num(e['conf_high'], 2)}",
                "p (TOST)": "NA" if e is None else fmt_p(e["p_holm"]),
                "Conclusion": "NA" if e is None else CONCLUSION_CELLS[str(e["conclusion"])].format(m=margin),
            }
            if dim in contrasts.index:
                c = contrasts.loc[dim]
                row[f"Mixed {self._minus()}"] = fmt_num(c["estimate"], 2)
                row["p (mixed)"] = fmt_p(c["p_holm"])
            rows.append(row)
        return pd.DataFrame(rows)

    def omnibus_table(self) -> pd.DataFrame:
        """k > 2 groups: per dimension, the Kruskal-Wallis and ANOVA F permutation tests."""
        fmt_num, fmt_p = _fmt()
        tests = self.results.origin_tests
        dims = tests[(tests["level"] == "dimension") & (tests["contrast"] == "omnibus")]
        kw = dims[dims["model"] == "kruskal_wallis"].set_index("term")
        f = dims[dims["model"] == "anova_f"].set_index("term")
        rows = []
        for dim in kw.index:
            k, a = kw.loc[dim], f.loc[dim] if dim in f.index else None
            rows.append(
                {
                    "Dimension": dim,
                    **{
                        f"Mean, {g}": fmt_num(k.get(f"mean_{g.lower()}", float("nan")), 2)
                        for g in self.groups
                    },
                    "H": fmt_num(k["statistic"], 2),
                    "p (H, perm.)": fmt_p(k["p_holm"]),
                    "p (H, χ²)": fmt_p(k["p_asymptotic"]),
                    "F": "NA" if a is None else fmt_num(a["statistic"], 2),
                    "p (F, perm.)": "NA" if a is None else fmt_p(a["p_holm"]),
                }
            )
        return pd.DataFrame(rows)

    def pairs_table(self) -> pd.DataFrame:
        """k > 2 groups: every pair per dimension, as :meth:`origin_table` has CN vs US."""
        fmt_num, fmt_p = _fmt()
        tests = self.results.origin_tests
        dims = tests[(tests["level"] == "dimension") & (tests["contrast"] != "omnibus")]
        by_test = {
            name: dims[dims["model"] == name].set_index(["term", "contrast"])
            for name in ("welch_t", "permutation", "mann_whitney_u")
        }
        equivalence = self._equivalence("dimension").set_index(["term", "contrast"])
        mixed = self._recommended()
        contrasts = {}
        if mixed is not None:
            part = mixed[mixed["component"] == "contrast"]
            for term, est, p_holm in zip(part["term"], part["estimate"], part["p_holm"], strict=True):
                pair, dim = (x.strip() for x in str(term).split("|"))
                contrasts[(dim, pair)] = (est, p_holm)
        margin = self._margin()
        rows = []
        for key in by_test["welch_t"].index:
            w = by_test["welch_t"].loc[key]

            def p_of(name: str, key: tuple = key) -> str:
                table = by_test[name]
                return fmt_p(table.loc[key, "p_holm"]) if key in table.index else "NA"

            e = equivalence.loc[key] if key in equivalence.index else None
            row = {
                "Dimension": key[0],
                "Pair": key[1].replace(" - ", " − "),
                "Difference": fmt_num(w["estimate"], 2),
                "g": fmt_num(w["effect_size"], 2),
                "p (t)": p_of("welch_t"),
                "p (perm.)": p_of("permutation"),
                "p (U)": p_of("mann_whitney_u"),
                "90% CI": "NA"
                if e is None
                else f"{fmt_num(e['conf_low'], 2)} to {fmt_num(e['conf_high'], 2)}",
                "p (TOST)": "NA" if e is None else fmt_p(e["p_holm"]),
                "Conclusion": "NA" if e is None else CONCLUSION_CELLS[str(e["conclusion"])].format(m=margin),
            }
            if key in contrasts:
                row["Mixed"] = fmt_num(contrasts[key][0], 2)
                row["p (mixed)"] = fmt_p(contrasts[key][1])
            rows.append(row)
        return pd.DataFrame(rows)

    def _overlap_paragraph(self) -> str:
        _, fmt_p = _fmt()
        if self.many:
            return self._pairs_overlap_paragraph()
        top, bottom = self._overlap("top5_jaccard"), self._overlap("bottom5_jaccard")
        return (
            f"The top-5 lists of {self.versus()} share {self.key('top5_shared')} of 5 values "
            f"(Jaccard {self.key('top5_jaccard')}, hypergeometric p {_p_phrase(fmt_p(top['p_value']))}; "
            f"shared: {self._names(top['shared'])}), the bottom-5 lists {self.key('bottom5_shared')} of 5 "
            f"(Jaccard {self.key('bottom5_jaccard')}, p {_p_phrase(fmt_p(bottom['p_value']))}) "
            "(@tbl-topbottom)."
        )

    def _pairs_overlap_paragraph(self) -> str:
        fmt_num, _ = _fmt()
        overlap = self.results.overlap
        parts = []
        for end in ("top5_jaccard", "bottom5_jaccard"):
            rows = overlap[overlap["term"] == end]
            listed = ", ".join(
                f"{m.replace(' vs ', '–')} {fmt_num(e, 2)}"
                for m, e in zip(rows["model"], rows["estimate"], strict=True)
            )
            parts.append(f"{end[:-8].replace('5', '-5')} lists: {listed}")
        return (
            "Pairwise overlap of the groups' lists (Jaccard index; hypergeometric p-values in "
            f"`ranking_overlap.csv`): {'; '.join(parts)} (@tbl-topbottom)."
        )

    def top_bottom_table(self) -> pd.DataFrame:
        fmt_num, _ = _fmt()
        lists = self.results.top_bottom
        rows = []
        for position in sorted(lists["position"].unique()):
            row: dict[str, object] = {"Position": int(position)}
            for end in ("top", "bottom"):
                for origin in self.groups:
                    hit = lists[
                        (lists["list"] == end) & (lists["group"] == origin) & (lists["position"] == position)
                    ]
                    row[f"{end.capitalize()}, {self.country(origin)}"] = (
                        f"{self.name(hit['value'].iloc[0])} ({fmt_num(hit['mean_rank'].iloc[0], 1)})"
                        if len(hit)
                        else ""
                    )
            rows.append(row)
        return pd.DataFrame(rows)

    def _cluster_summary(self) -> str:
        """One sentence: the clustering's validity and whether it is cluster structure."""
        fmt_num, _ = _fmt()
        v = self._validity()
        evidence = (
            f"silhouette {fmt_num(v['silhouette'], 2)} at k = {int(v['k'])}, the gap statistic "
            + (f"choosing k = {int(v['gap_k'])}" if v["gap_k"] == v["gap_k"] else "not computed")
            + f", bootstrap ARI {fmt_num(v['ari_models'], 2)} resampling models and "
            f"{fmt_num(v['ari_repetitions'], 2)} resampling repetitions"
        )
        if self.structure():
            return f"By the stated validity rule the models fall into {int(v['k'])} clusters ({evidence})"
        return (
            f"By the stated validity rule the models show no cluster structure ({evidence}), so no "
            "archetypes are named"
        )

    def _cluster_paragraph(self) -> str:
        fmt_num, _ = _fmt()
        try:
            v = self._validity()
        except (IndexError, KeyError):
            return "Too few models with valid rankings to cluster."
        rule = (
            "The rule: a partition counts as cluster structure only when the gap "
            "statistic (global 1-SE rule, uniform reference in the data's principal-component box) chooses "
            "k ≥ 2, the mean silhouette is at least 0.25 (below it, no substantial structure) and the mean "
            "bootstrap adjusted Rand index is at least 0.75 when resampling models and when resampling "
            "repetitions."
        )
        head = (
            f"Ward clustering of the models' mean-rank profiles; the silhouette chooses k = {int(v['k'])} "
            f"(silhouette {fmt_num(v['silhouette'], 2)}; best over k {fmt_num(v['silhouette_max'], 2)}; "
            f"@tbl-rank-cluster-validity). {rule} "
        )
        if not self.structure():
            return head + (
                f"By this rule the models show no cluster structure: {v['reason']}. We therefore name no "
                f"archetypes; the dendrogram and the heatmap ({self._figure_refs()}) show the models' "
                "profiles without a partition." + self._alternative_sentence()
            )
        archetypes = self.results.archetypes
        names = "; ".join(archetypes.loc[archetypes["method"] == CLUSTER_METHOD, "archetype"])
        return head + (
            f"All three criteria are met (gap statistic k = {int(v['gap_k'])}; bootstrap ARI "
            f"{self.key('ari_models')} resampling models and {self.key('ari_repetitions')} resampling "
            f"repetitions). The clusters, named after their own profiles, are {names} (@tbl-archetypes, "
            f"{self._figure_refs()}). Whether clusters mix nationalities: Fisher–Freeman–Halton "
            f"{'permutation' if self.many else 'exact'} test "
            f"of cluster × origin, p {_p_phrase(self.key('cluster_origin_p'))} (Cramér's V "
            f"{self.key('cramers_v')})." + self._alternative_sentence()
        )

    def _alternative_sentence(self) -> str:
        try:
            alt = self._validity("spearman")
        except (IndexError, KeyError):
            return ""
        verdict = (
            f"finds cluster structure with {int(alt['k'])} clusters"
            if _flag(alt["structure"])
            else "finds no cluster structure by the same rule"
        )
        return f" The Spearman-distance clustering (the alternative) {verdict}."

    @staticmethod
    def _figure_refs() -> str:
        return "@fig-f3-dendrogram, @fig-f4-heatmap"

    def cluster_validity_table(self) -> pd.DataFrame:
        fmt_num, _ = _fmt()
        table = self.results.cluster_selection
        table = table[table["method"] == CLUSTER_METHOD].sort_values("k")
        return pd.DataFrame(
            {
                "k": table["k"].astype(int).to_numpy(),
                "Silhouette": [
                    fmt_num(v, 2) + (" *" if _flag(c) else "")
                    for v, c in zip(table["silhouette"], table["chosen"], strict=True)
                ],
                "Gap (SE)": [
                    f"{fmt_num(g, 2)} ({fmt_num(se, 2)})" + (" *" if _flag(c) else "")
                    for g, se, c in zip(table["gap"], table["gap_se"], table["chosen_gap"], strict=True)
                ],
            }
        )

    def archetype_table(self) -> pd.DataFrame:
        fmt_num, _ = _fmt()
        table = self.results.archetypes
        table = table[table["method"] == CLUSTER_METHOD].sort_values("cluster")
        return pd.DataFrame(
            {
                "Archetype": table["archetype"].to_numpy(),
                f"Models ({'/'.join(self.groups)})": [
                    "/".join(str(int(row[f"n_{g.lower()}"])) for g in self.groups)
                    for _, row in table.iterrows()
                ],
                "Members": [str(m).replace(";", ", ") for m in table["models"]],
                "Prioritises": [_joined(v) for v in table["prioritised"]],
                "Deprioritises": [_joined(v) for v in table["deprioritised"]],
                "Stability": [fmt_num(v, 2) for v in table["stability_jaccard"]],
                "Closest poster archetype": table["poster_match"].to_numpy(),
            }
        )


def _joined(value: object) -> str:
    return str(value).replace(";", ", ") if isinstance(value, str) and value else "none"


def _p_phrase(p: str) -> str:
    """``= 0.034`` or ``<\u00a00.001``, for "p …" in running text."""
    return p if p.startswith("<") else f"= {p}"


def _flag(value: object) -> bool:
    """A boolean cell as written to CSV and read back (True/False, "True"/"False", NaN = False)."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value) if value == value else False


def _code(value: object) -> str:
    return "NA" if value != value else str(int(value))  # type: ignore[call-overload]


def _percent(value: float) -> str:
    return "NA" if value != value else f"{100 * value:.0f}%"


def _list(names: pd.Series) -> str:
    items = list(names)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _random_part(formula: str) -> str:
    return " + ".join(part.strip() for part in formula.split("+") if "|" in part)


def _random_sds(rows: pd.DataFrame) -> dict[str, float]:
    """Grouping factor to SD, from the ``random`` rows of one fit (term "<group> sd__...")."""
    random = rows[(rows["component"] == "random") & rows["term"].str.contains("sd__", regex=False)]
    return {
        term.split(" sd__")[0]: float(est)
        for term, est in zip(random["term"], random["estimate"], strict=True)
    }


def _fit_problem(row: pd.Series) -> str:
    """What is wrong with a fit that is not recommended, from its facts."""
    problems = []
    if _flag(row["singular"]):
        problems.append("is singular")
    if not _flag(row["converged"]):
        problems.append(f"did not converge (optimizer {row['optimizer']}, code {_code(row['conv_code'])})")
    return " and ".join(problems) if problems else "was not recommended by the sequence"
