"""Seed 000 (the poster): F1-1, F1-2, F2, F3 and F4, the AI-values ranking study.

Every figure draws what the ranking analysis wrote (``estimates/ranking_*.csv``, read with
:func:`valuesurvey.ranking.load_results`): the hierarchy with its bootstrap CIs, the top/bottom lists
and their overlap, the Ward linkage, the clusters with their archetype names and the dendrogram's
leaf order. Nothing is recomputed here, so the figures cannot disagree with the analysis. When the
cluster-validity rule found no cluster structure (``ranking_cluster_validity.csv``), F3 and F4 show
no clusters or archetype names: branches are grey, and the strip beside the heatmap shows origin.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from scipy.cluster import hierarchy

from valuesurvey.figures._data import StudyTables, value_names
from valuesurvey.figures._style import COUNTRY_NAMES, DIMENSION_COLOURS, OKABE_ITO, country_colours
from valuesurvey.ranking import RankingResults

__all__ = [
    "CLUSTER_METHOD",
    "archetype_colours",
    "figure_f1_dimensions",
    "figure_f1_values",
    "figure_f2_top_bottom",
    "figure_f3_dendrogram",
    "figure_f4_heatmap",
    "has_structure",
    "linkage_matrix",
]

#: The clustering the figures (and the report's main table) show; "spearman" is the alternative.
CLUSTER_METHOD = "ward"
RANK_LABEL = "Mean rank (1 = most important)"
ARCHETYPE_PALETTE = (
    OKABE_ITO["green"],
    OKABE_ITO["purple"],
    OKABE_ITO["orange"],
    OKABE_ITO["sky"],
    OKABE_ITO["black"],
    OKABE_ITO["grey"],
    "#8C6D31",  # brown: Okabe-Ito yellow is unreadable as label text on white
)


def _results(tables: StudyTables) -> RankingResults:
    results = tables.ranking()
    if results is None:  # available_figures only offers ranking figures when the tables exist
        raise ValueError("no ranking estimates in the study directory")
    return results


class _Origins:
    """The origin groups of the ranking analysis (its ``top_bottom`` groups, in its order), a colour
    per origin (the study's per-country colours; none and company labels grey) and their names."""

    def __init__(self, tables: StudyTables, results: RankingResults) -> None:
        self.design = tables.study.design
        groups = [g for g in dict.fromkeys(results.top_bottom["group"]) if g != "all"]
        self.groups = tuple(groups) or self.design.codes
        present = [str(o) for o in dict.fromkeys(results.mean_ranks["origin"])]
        self.colours = country_colours(list(dict.fromkeys([*self.design.codes, *self.groups, *present])))
        self.present = tuple(o for o in self.colours if o in present)

    @property
    def paper(self) -> bool:
        return self.groups == ("CN", "US")

    def name(self, code: str) -> str:
        return COUNTRY_NAMES.get(code) or self.design.name(code)

    def label(self, code: str) -> str:
        """``LLMs made in China``; ``LLMs of no country``, ``LLMs of X (company)``."""
        if len(code) == 2:
            return f"LLMs made in {self.name(code)}"
        return f"LLMs of {self.name(code)}"

    def handles(self) -> list[Patch]:
        codes = self.groups if self.paper else self.present
        return [Patch(color=self.colours[o], label=self.label(o)) for o in codes]

    def axis_note(self) -> str:
        if self.paper:
            return "CN = made in China, US = made in the USA"
        return ", ".join(f"{o} = {self.name(o)}" for o in self.present if len(o) == 2)


def _dimension_colours(dimensions: list[str]) -> dict[str, str]:
    return {d: DIMENSION_COLOURS[i % len(DIMENSION_COLOURS)] for i, d in enumerate(sorted(dimensions))}


def _outside_legend(fig: Figure, handles: list, ncols: int) -> None:
    # Above the axes, so the legend never covers bars or labels.
    fig.legend(handles=handles, loc="outside upper center", ncols=ncols, frameon=False)


def _hierarchy_bars(ax: Axes, part: pd.DataFrame, labels: list[str], colours: list[str]) -> None:
    y = np.arange(len(part))
    ax.barh(y, part["estimate"], color=colours)
    err = [
        (part["estimate"] - part["conf_low"]).to_numpy(),
        (part["conf_high"] - part["estimate"]).to_numpy(),
    ]
    ax.errorbar(part["estimate"], y, xerr=err, fmt="none", ecolor="black", capsize=1.5, lw=0.7)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()  # most important on top
    ax.set_xlabel(RANK_LABEL)
    ax.grid(axis="x", color="#dddddd")
    ax.grid(axis="y", visible=False)


def figure_f1_dimensions(tables: StudyTables) -> Figure:
    """F1-1: mean rank of each dimension across LLMs, with the analysis's bootstrap 95% CI."""
    hier = _results(tables).hierarchy
    part = hier[hier["level"] == "dimension"].sort_values("position")
    colours = _dimension_colours(list(part["term"]))
    fig = Figure(figsize=(4.8, 3.0), layout="constrained")
    _hierarchy_bars(fig.subplots(), part, list(part["term"]), [colours[d] for d in part["term"]])
    return fig


def figure_f1_values(tables: StudyTables) -> Figure:
    """F1-2: mean rank of each value across LLMs (bootstrap 95% CI), coloured by dimension."""
    hier = _results(tables).hierarchy
    part = hier[hier["level"] == "value"].sort_values("position")
    names = value_names()
    colours = _dimension_colours(list(hier.loc[hier["level"] == "dimension", "term"]))
    fig = Figure(figsize=(5.5, 1.3 + 0.2 * len(part)), layout="constrained")
    labels = [names.get(v, v) for v in part["term"]]
    _hierarchy_bars(fig.subplots(), part, labels, [colours[d] for d in part["dimension"]])
    _outside_legend(fig, [Patch(color=c, label=d) for d, c in colours.items()], ncols=len(colours))
    return fig


def figure_f2_top_bottom(tables: StudyTables) -> Figure:
    """F2: top-5 / bottom-5 values of the origin groups (dumbbells of each group's mean rank from the
    smallest to the largest; two groups: CN vs US)."""
    results = _results(tables)
    origins = _Origins(tables, results)
    groups = list(origins.groups)
    lists = results.top_bottom
    by_origin = results.mean_ranks.groupby(["origin", "value"])["mean_rank"].mean().unstack("value")
    overlap = results.overlap
    names = value_names()
    fig = Figure(figsize=(7.5, 3.3), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, end in zip(axes, ("top", "bottom"), strict=True):
        part = lists[(lists["list"] == end) & lists["group"].isin(groups)]
        k = int(part["position"].max()) if len(part) else 0
        sets = {o: set(part.loc[part["group"] == o, "value"]) for o in groups}
        union = sorted(set().union(*sets.values()), key=lambda v: by_origin[v].mean())
        y = np.arange(len(union))
        drawn = [o for o in groups if o in by_origin.index]
        if len(drawn) >= 2:
            span = by_origin.loc[drawn, union]
            ax.hlines(y, span.min(axis=0), span.max(axis=0), color="#999999", lw=1)
        for origin in drawn:
            ax.scatter(by_origin.loc[origin, union], y, color=origins.colours[origin], zorder=3)
        shared = set.intersection(*sets.values()) if sets else set()
        mark = " (both)" if len(groups) == 2 else " (all)"
        ax.set_yticks(y, [names.get(v, v) + (mark if v in shared else "") for v in union])
        ax.invert_yaxis()
        ax.set_xlabel(RANK_LABEL)
        rows = overlap.loc[overlap["term"] == f"{end}{k}_jaccard", "estimate"]
        if len(groups) == 2:
            jaccard = f", Jaccard {rows.iloc[0]:.2f}" if len(rows) else ""
            ax.set_title(f"{end.capitalize()} {k}: {len(shared)} of {k} shared{jaccard}")
        else:
            jaccard = f", mean pairwise Jaccard {rows.mean():.2f}" if len(rows) else ""
            ax.set_title(f"{end.capitalize()} {k}: {len(shared)} of {k} shared by all{jaccard}", fontsize=9)
        ax.grid(axis="x", color="#dddddd")
        ax.grid(axis="y", visible=False)
    handles = [Patch(color=origins.colours[o], label=origins.label(o)) for o in groups]
    _outside_legend(fig, handles, ncols=min(4, len(handles)))
    return fig


def linkage_matrix(linkage: pd.DataFrame) -> tuple[np.ndarray, list[str]]:
    """scipy's linkage matrix and its leaf names from the analysis's ``ranking_linkage`` rows.

    Leaves are numbered in order of first appearance; node ``k`` of the table is scipy's cluster
    ``n_leaves + step - 1``. Left/right are kept, so the dendrogram's leaf order is the analysis's.

    Examples
    --------
    >>> table = pd.DataFrame({"step": [1, 2], "node": ["node3", "node4"], "left": ["a", "c"],
    ...                       "right": ["b", "node3"], "height": [1.0, 2.0], "size": [2, 3]})
    >>> z, leaves = linkage_matrix(table)
    >>> leaves, z[:, :2].tolist()
    (['a', 'b', 'c'], [[0.0, 1.0], [2.0, 3.0]])
    """
    rows = linkage.sort_values("step")
    nodes = set(rows["node"])
    leaves: list[str] = []
    for pair in zip(rows["left"], rows["right"], strict=True):
        leaves += [name for name in pair if name not in nodes and name not in leaves]
    index = {name: i for i, name in enumerate(leaves)}
    for step, node in zip(rows["step"], rows["node"], strict=True):
        index[node] = len(leaves) + int(step) - 1
    z = np.array(
        [
            [index[left], index[right], height, size]
            for left, right, height, size in zip(
                rows["left"], rows["right"], rows["height"], rows["size"], strict=True
            )
        ],
        dtype=float,
    )
    return z, leaves


def _clusters(results: RankingResults) -> pd.DataFrame:
    clusters = results.clusters
    return clusters[clusters["method"] == CLUSTER_METHOD].sort_values("leaf_order").set_index("model")


def has_structure(results: RankingResults) -> bool:
    """Whether the analysis's validity rule found cluster structure for :data:`CLUSTER_METHOD`."""
    validity = results.cluster_validity
    if validity is None or validity.empty or "structure" not in validity.columns:
        return False
    row = validity[validity["method"] == CLUSTER_METHOD]
    return bool(len(row)) and str(row["structure"].iloc[0]).strip().lower() == "true"


NO_STRUCTURE = "no cluster structure by the validity rule: no archetypes"


def archetype_colours(clusters: pd.DataFrame) -> dict[str, str]:
    """One colour per archetype name, in cluster-number order."""
    names = clusters.sort_values("cluster")["archetype"].drop_duplicates()
    return {n: ARCHETYPE_PALETTE[i % len(ARCHETYPE_PALETTE)] for i, n in enumerate(names)}


def _legend_handles(colours: dict[str, str]) -> list[Patch]:
    return [Patch(color=c, label=name) for name, c in colours.items()]


def figure_f3_dendrogram(tables: StudyTables) -> Figure:
    """F3: the analysis's Ward dendrogram; with cluster structure, branches and labels coloured by
    archetype; without, grey branches and labels coloured by origin."""
    results = _results(tables)
    origins = _Origins(tables, results)
    clusters = _clusters(results)
    structure = has_structure(results)
    colours = archetype_colours(clusters) if structure else {}
    linkage = results.linkage[results.linkage["method"] == CLUSTER_METHOD]
    fig = Figure(figsize=(7.5, 3.8), layout="constrained")
    ax = fig.subplots()
    if len(linkage) == 0:  # a single model: nothing to join
        ax.text(0.5, 0.5, "one model: no clustering", ha="center", transform=ax.transAxes)
        return fig
    z, leaves = linkage_matrix(linkage)

    def label_colour(model: str) -> str:
        if structure:
            return colours[clusters.loc[model, "archetype"]]
        return origins.colours[str(clusters.loc[model, "origin"])]

    leaf_colour = [label_colour(m) for m in leaves]
    _, nodes = hierarchy.to_tree(z, rd=True)

    def link_colour(node: int) -> str:
        members = {leaf_colour[i] for i in nodes[node].pre_order()}
        return members.pop() if structure and len(members) == 1 else "#555555"  # one archetype below

    hierarchy.dendrogram(
        z,
        labels=[f"{m} ({clusters.loc[m, 'origin']})" for m in leaves],
        ax=ax,
        link_color_func=link_colour,
        leaf_rotation=60,
    )
    for tick in ax.get_xticklabels():
        model = tick.get_text().rsplit(" (", 1)[0]
        tick.set_color(label_colour(model))
        tick.set_ha("right")
        tick.set_rotation_mode("anchor")
    ax.set_ylabel("Ward distance")
    ax.set_xlabel(f"LLM (origin: {origins.axis_note()})")
    ax.grid(visible=False)
    if structure:
        _outside_legend(fig, _legend_handles(colours), ncols=min(4, len(colours)))
    else:
        ax.set_title(NO_STRUCTURE, fontsize=9)
        handles = origins.handles()
        _outside_legend(fig, handles, ncols=min(4, len(handles)))
    return fig


def figure_f4_heatmap(tables: StudyTables) -> Figure:
    """F4: heatmap of mean ranks, rows in the dendrogram's leaf order, columns in hierarchy order;
    the strip beside it shows the archetypes (with cluster structure) or the origin (without)."""
    results = _results(tables)
    origins = _Origins(tables, results)
    clusters = _clusters(results)
    structure = has_structure(results)
    if structure:
        colours = archetype_colours(clusters)
        strip_of = clusters["archetype"]
    else:
        colours = {
            origins.label(o): origins.colours[o]
            for o in (origins.groups if origins.paper else origins.present)
        }
        strip_of = clusters["origin"].map(lambda o: origins.label(str(o)))
    hier = results.hierarchy
    value_order = list(hier[hier["level"] == "value"].sort_values("position")["term"])
    wide = results.mean_ranks.pivot_table(index="model", columns="value", values="mean_rank")
    matrix = wide.loc[list(clusters.index), value_order]
    names = value_names()
    fig = Figure(figsize=(7.5, 2.2 + 0.22 * len(matrix)), layout="constrained")
    strip_ax, ax = fig.subplots(1, 2, width_ratios=[0.6, 25], sharey=True)
    strip_codes = [list(colours).index(strip_of.loc[m]) for m in matrix.index]
    strip_ax.imshow(
        np.array(strip_codes)[:, None],
        cmap=_listed(list(colours.values())),
        vmin=-0.5,
        vmax=len(colours) - 0.5,
        aspect="auto",
    )
    strip_ax.set_xticks([])
    strip_ax.set_yticks(np.arange(len(matrix)), [f"{m} ({clusters.loc[m, 'origin']})" for m in matrix.index])
    strip_ax.tick_params(axis="y", labelsize=7)
    for tick, model in zip(strip_ax.get_yticklabels(), matrix.index, strict=True):
        tick.set_color(origins.colours[str(clusters.loc[model, "origin"])])
    strip_ax.grid(visible=False)
    image = ax.imshow(matrix.to_numpy(), cmap="cividis_r", aspect="auto")  # warm = important
    ax.set_xticks(
        np.arange(matrix.shape[1]),
        [names.get(v, v) for v in matrix.columns],
        rotation=60,
        ha="right",
        rotation_mode="anchor",
        fontsize=7,
    )
    ax.tick_params(axis="y", left=False, labelleft=False)
    ax.grid(visible=False)
    if not structure:
        ax.set_title(NO_STRUCTURE, fontsize=9)
    fig.colorbar(image, ax=ax, label=RANK_LABEL, shrink=0.8)
    _outside_legend(fig, _legend_handles(colours), ncols=min(4, len(colours)))
    return fig


def _listed(colours: list[str]):
    from matplotlib.colors import ListedColormap

    return ListedColormap(colours)
