"""The ranking study's section of the manuscript, read from the ranking analysis's tables.

Every number here is a cell of ``estimates/ranking_*.csv`` (:func:`valuesurvey.ranking.load_results`);
nothing is recomputed, so the report cannot disagree with the analysis. Values and dimensions are
shown by name (the ``ai_values`` instrument's English text), never by id.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from valuesurvey.figures._data import value_names
from valuesurvey.figures._ranking import CLUSTER_METHOD
from valuesurvey.ranking import RankingResults

__all__ = ["INFERENCE_MODEL", "RankingContent"]

#: The mixed model the report uses for inference (see valuesurvey.ranking._mixed).
INFERENCE_MODEL = "lmer_nested"
COUNTRY = {"CN": "China", "US": "USA"}


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

    # ---- key numbers -------------------------------------------------------------------------
    def key(self, name: str) -> str:
        """One key number as text.

        ``kendall_w`` (across all models), ``kendall_w_cn``, ``kendall_w_us``, ``kendall_w_within``
        (median over models), ``top5_jaccard``, ``bottom5_jaccard``, ``top5_shared``,
        ``bottom5_shared``, ``k``, ``silhouette``, ``ari_models``, ``ari_repetitions``,
        ``cluster_origin_p``, ``cramers_v``, ``valid_rankings``, ``invalid_attempts``,
        ``excluded_models``, ``interaction_p`` (origin × dimension in the mixed model).
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
        }
        if name not in readers:
            raise KeyError(f"unknown ranking key number {name!r}; known: {', '.join(readers)}")
        try:
            return readers[name]()
        except (IndexError, KeyError):  # the analysis could not compute it (too few models, no R)
            return "NA"

    def _interaction_p(self) -> str:
        _, fmt_p = _fmt()
        mixed = self._mixed()
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
            table(
                self.origin_table(),
                caption="LLMs made in China versus the USA, by dimension: difference in mean rank "
                "(CN − US; negative = ranked higher by CN models), Welch t with Hedges' g, Mann–Whitney U "
                f"with rank-biserial r, and the mixed model's contrast ({INFERENCE_MODEL}); p Holm-adjusted.",
                label="tbl-rank-origin",
            ),
            self._overlap_paragraph(),
            table(
                self.top_bottom_table(),
                caption="Top-5 and bottom-5 values of LLMs made in China and the USA (mean rank).",
                label="tbl-topbottom",
            ),
            self._cluster_paragraph(),
            table(
                self.archetype_table(),
                caption="Archetypes (Ward clusters of the models' mean-rank profiles): members, "
                "distinctive dimensions and bootstrap stability (mean Jaccard of the cluster).",
                label="tbl-archetypes",
            ),
        ]
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
            f"(p {_p_phrase(fmt_p(self._agreement('all')['p_value']))}), {self.key('kendall_w_cn')} among "
            f"LLMs made in China and {self.key('kendall_w_us')} among LLMs made in the USA{within_text}."
        )

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
                    "LLMs, China": fmt_num(by_origin.get("CN", pd.Series()).get(row.term, float("nan")), 2),
                    "LLMs, USA": fmt_num(by_origin.get("US", pd.Series()).get(row.term, float("nan")), 2),
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
        tests = self.results.origin_tests
        dims = tests[(tests["level"] == "dimension") & (tests["model"] == "welch_t")]
        values = tests[(tests["level"] == "value") & (tests["model"] == "welch_t")]
        n_sig = int((dims["p_holm"] < 0.05).sum())
        n_sig_values = int((values["p_holm"] < 0.05).sum())
        text = (
            f"LLMs made in China and the USA differ (Welch t, Holm-adjusted p < 0.05) on {n_sig} of "
            f"{len(dims)} dimensions and on {n_sig_values} of {len(values)} values (@tbl-rank-origin). "
        )
        return text + self._mixed_sentence()

    def _mixed_sentence(self) -> str:
        mixed = self._mixed()
        if mixed is None:
            return "The R mixed models were not fitted."
        formula = mixed["formula"].iloc[0]
        anova = mixed[(mixed["component"] == "anova") & (mixed["term"] == "origin:dimension")]
        f_text = ""
        if len(anova):
            fmt_num, fmt_p = _fmt()
            row = anova.iloc[0]
            f_text = (
                f" The origin × dimension interaction: F({fmt_num(row['num_df'], 0)}, "
                f"{fmt_num(row['df'], 1)}) = {fmt_num(row['statistic'], 2)}, p "
                f"{_p_phrase(fmt_p(row['p_value']))}."
            )
        return (
            f"For inference we report the mixed model `{formula}` ({INFERENCE_MODEL}). The model "
            "`mean_rank ~ origin * dimension + (1 | model)` is singular by construction: every ranking is "
            "a permutation, so each model's mean rank over all values is the same constant, the model "
            "variance is zero and the origin main effect is zero; it also treats the five values of a "
            "model and dimension as independent. The model × dimension intercept makes the model the "
            "unit of the origin comparison within a dimension, and values are crossed." + f_text
        )

    def origin_table(self) -> pd.DataFrame:
        fmt_num, fmt_p = _fmt()
        tests = self.results.origin_tests
        dims = tests[tests["level"] == "dimension"]
        welch = dims[dims["model"] == "welch_t"].set_index("term")
        mwu = dims[dims["model"] == "mann_whitney_u"].set_index("term")
        mixed = self._mixed()
        contrasts = (
            mixed[mixed["component"] == "contrast"].assign(
                dimension=lambda d: d["term"].str.split("|").str[-1].str.strip()
            )
            if mixed is not None
            else pd.DataFrame(columns=["dimension"])
        ).set_index("dimension")
        rows = []
        for dim in welch.index:
            w, u = welch.loc[dim], mwu.loc[dim] if dim in mwu.index else None
            row = {
                "Dimension": dim,
                "CN − US": fmt_num(w["estimate"], 2),
                "t": fmt_num(w["statistic"], 2),
                "p (t)": fmt_p(w["p_holm"]),
                "g": fmt_num(w["effect_size"], 2),
                "U": "NA" if u is None else fmt_num(u["statistic"], 0),
                "p (U)": "NA" if u is None else fmt_p(u["p_holm"]),
                "r": "NA" if u is None else fmt_num(u["effect_size"], 2),
            }
            if dim in contrasts.index:
                c = contrasts.loc[dim]
                row["Mixed CN − US"] = fmt_num(c["estimate"], 2)
                row["p (mixed)"] = fmt_p(c["p_holm"])
            rows.append(row)
        return pd.DataFrame(rows)

    def _overlap_paragraph(self) -> str:
        _, fmt_p = _fmt()
        top, bottom = self._overlap("top5_jaccard"), self._overlap("bottom5_jaccard")
        return (
            f"The top-5 lists of LLMs made in China and the USA share {self.key('top5_shared')} of 5 values "
            f"(Jaccard {self.key('top5_jaccard')}, hypergeometric p {_p_phrase(fmt_p(top['p_value']))}; "
            f"shared: {self._names(top['shared'])}), the bottom-5 lists {self.key('bottom5_shared')} of 5 "
            f"(Jaccard {self.key('bottom5_jaccard')}, p {_p_phrase(fmt_p(bottom['p_value']))}) "
            "(@tbl-topbottom)."
        )

    def top_bottom_table(self) -> pd.DataFrame:
        fmt_num, _ = _fmt()
        lists = self.results.top_bottom
        rows = []
        for position in sorted(lists["position"].unique()):
            row: dict[str, object] = {"Position": int(position)}
            for end in ("top", "bottom"):
                for origin in ("CN", "US"):
                    hit = lists[
                        (lists["list"] == end) & (lists["group"] == origin) & (lists["position"] == position)
                    ]
                    row[f"{end.capitalize()}, {COUNTRY[origin]}"] = (
                        f"{self.name(hit['value'].iloc[0])} ({fmt_num(hit['mean_rank'].iloc[0], 1)})"
                        if len(hit)
                        else ""
                    )
            rows.append(row)
        return pd.DataFrame(rows)

    def _cluster_paragraph(self) -> str:
        archetypes = self.results.archetypes
        names = "; ".join(archetypes.loc[archetypes["method"] == CLUSTER_METHOD, "archetype"])
        alt = ""
        try:
            alt_k = int(self._cluster_origin("spearman")["k"])
            alt = f" The Spearman-distance clustering (the alternative) finds {alt_k} clusters."
        except IndexError:
            pass
        return (
            f"Ward clustering of the models' mean-rank profiles; the silhouette chooses "
            f"k = {self.key('k')} (silhouette {self.key('silhouette')}). The archetypes are {names} "
            f"(@tbl-archetypes, {self._figure_refs()}). Stability by bootstrap: mean adjusted Rand index "
            f"{self.key('ari_models')} resampling models and {self.key('ari_repetitions')} resampling "
            "repetitions. Whether clusters mix nationalities: Fisher–Freeman–Halton exact test of "
            f"cluster × origin, p {_p_phrase(self.key('cluster_origin_p'))} (Cramér's V "
            f"{self.key('cramers_v')})." + alt
        )

    @staticmethod
    def _figure_refs() -> str:
        return "@fig-f3-dendrogram, @fig-f4-heatmap"

    def archetype_table(self) -> pd.DataFrame:
        fmt_num, _ = _fmt()
        table = self.results.archetypes
        table = table[table["method"] == CLUSTER_METHOD].sort_values("cluster")
        return pd.DataFrame(
            {
                "Archetype": table["archetype"].to_numpy(),
                "Models (CN/US)": [
                    f"{int(c)}/{int(u)}" for c, u in zip(table["n_cn"], table["n_us"], strict=True)
                ],
                "Members": [str(m).replace(";", ", ") for m in table["models"]],
                "Prioritises": [_joined(v) for v in table["prioritised"]],
                "Deprioritises": [_joined(v) for v in table["deprioritised"]],
                "Stability": [fmt_num(v, 2) for v in table["stability_jaccard"]],
            }
        )


def _joined(value: object) -> str:
    return str(value).replace(";", ", ") if isinstance(value, str) and value else "none"


def _p_phrase(p: str) -> str:
    """``= 0.034`` or ``<\u00a00.001``, for "p …" in running text."""
    return p if p.startswith("<") else f"= {p}"
