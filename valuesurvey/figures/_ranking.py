"""Seed 000 (the poster): F1-1, F1-2, F2, F3 and F4, the AI-values ranking study."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from scipy.cluster import hierarchy

from valuesurvey.figures._data import StudyTables, item_dimensions
from valuesurvey.figures._style import COUNTRY_NAMES, DIMENSION_COLOURS, ORIGIN_COLOURS
from valuesurvey.figures._summaries import grouped_mean_ci, model_value_ranks

__all__ = [
    "N_ARCHETYPES",
    "dimension_scores",
    "figure_f1_dimensions",
    "figure_f1_values",
    "figure_f2_top_bottom",
    "figure_f3_dendrogram",
    "figure_f4_heatmap",
    "model_clusters",
    "top_bottom",
]

#: The poster reports four archetypes.
N_ARCHETYPES = 4
RANK_LABEL = "Mean rank (1 = most important)"


def _value_dimensions(tables: StudyTables, values: list[str]) -> dict[str, str]:
    rankings = tables.rankings()
    if "dimension" in rankings.columns:  # a rankings table may carry the dimension itself
        return rankings.drop_duplicates("value").set_index("value")["dimension"].to_dict()
    return item_dimensions("ai_values", values)


def _labels(values: list[str]) -> list[str]:
    return [v.replace("_", " ").capitalize() for v in values]


def dimension_scores(tables: StudyTables) -> pd.DataFrame:
    """Per model: mean rank of the values in each dimension (columns model, origin, dimension, score)."""
    wide = model_value_ranks(tables.rankings())
    values = [c for c in wide.columns if c != "origin"]
    long = wide.reset_index().melt(
        id_vars=["model", "origin"], value_vars=values, var_name="value", value_name="rank"
    )
    long["dimension"] = long["value"].map(_value_dimensions(tables, values))
    return (
        long.groupby(["model", "origin", "dimension"], as_index=False)["rank"]
        .mean()
        .rename(columns={"rank": "score"})
    )


def _dimension_colours(dimensions: list[str]) -> dict[str, str]:
    return {d: DIMENSION_COLOURS[i % len(DIMENSION_COLOURS)] for i, d in enumerate(sorted(dimensions))}


def figure_f1_dimensions(tables: StudyTables) -> Figure:
    """F1-1: mean rank of each dimension across LLMs (95% CI across models)."""
    scores = dimension_scores(tables)
    summary = grouped_mean_ci(scores, ["dimension"], "score").sort_values("mean")
    colours = _dimension_colours(list(summary["dimension"]))
    fig = Figure(figsize=(4.8, 3.0), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(summary))
    ax.barh(y, summary["mean"], color=[colours[d] for d in summary["dimension"]])
    err = [
        (summary["mean"] - summary["conf_low"]).to_numpy(),
        (summary["conf_high"] - summary["mean"]).to_numpy(),
    ]
    ax.errorbar(summary["mean"], y, xerr=err, fmt="none", ecolor="black", capsize=2, lw=0.8)
    ax.set_yticks(y, summary["dimension"])
    ax.invert_yaxis()  # most important on top
    ax.set_xlabel(RANK_LABEL)
    ax.grid(axis="x", color="#dddddd")
    ax.grid(axis="y", visible=False)
    return fig


def figure_f1_values(tables: StudyTables) -> Figure:
    """F1-2: mean rank of each of the values across LLMs, coloured by dimension."""
    wide = model_value_ranks(tables.rankings())
    values = [c for c in wide.columns if c != "origin"]
    long = wide[values].melt(var_name="value", value_name="rank")
    summary = grouped_mean_ci(long, ["value"], "rank").sort_values("mean")
    dims = _value_dimensions(tables, values)
    colours = _dimension_colours(sorted(set(dims.values())))
    fig = Figure(figsize=(5.5, 0.9 + 0.2 * len(summary)), layout="constrained")
    ax = fig.subplots()
    y = np.arange(len(summary))
    ax.barh(y, summary["mean"], color=[colours[dims[v]] for v in summary["value"]])
    err = [
        (summary["mean"] - summary["conf_low"]).to_numpy(),
        (summary["conf_high"] - summary["mean"]).to_numpy(),
    ]
    ax.errorbar(summary["mean"], y, xerr=err, fmt="none", ecolor="black", capsize=1.5, lw=0.7)
    ax.set_yticks(y, _labels(list(summary["value"])))
    ax.invert_yaxis()
    ax.set_xlabel(RANK_LABEL)
    ax.grid(axis="x", color="#dddddd")
    ax.grid(axis="y", visible=False)
    ax.legend(
        handles=[Patch(color=c, label=d) for d, c in colours.items()],
        loc="lower right",
        frameon=True,
        facecolor="white",
    )
    return fig


def top_bottom(tables: StudyTables, k: int = 5) -> pd.DataFrame:
    """Top-k and bottom-k values by origin: columns origin, end ("top"/"bottom"), position, value, mean_rank."""
    wide = model_value_ranks(tables.rankings())
    values = [c for c in wide.columns if c != "origin"]
    rows = []
    for origin, group in wide.groupby("origin"):
        means = group[values].mean().sort_values()
        for end, chosen in (("top", means.head(k)), ("bottom", means.tail(k)[::-1])):
            for position, (value, rank) in enumerate(chosen.items(), start=1):
                rows.append((origin, end, position, value, float(rank)))
    return pd.DataFrame(rows, columns=["origin", "end", "position", "value", "mean_rank"])


def figure_f2_top_bottom(tables: StudyTables, k: int = 5) -> Figure:
    """F2: CN vs US top-k / bottom-k values (dumbbells of each origin's mean rank)."""
    table = top_bottom(tables, k)
    wide = model_value_ranks(tables.rankings())
    by_origin = wide.groupby("origin").mean(numeric_only=True)
    fig = Figure(figsize=(7.5, 3.2), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, end in zip(axes, ("top", "bottom"), strict=True):
        part = table[table["end"] == end]
        sets = [set(part[part["origin"] == o]["value"]) for o in ("CN", "US")]
        union = sorted(set().union(*sets), key=lambda v: by_origin[v].mean())
        y = np.arange(len(union))
        for origin in ("CN", "US"):
            if origin not in by_origin.index:
                continue
            ax.scatter(
                by_origin.loc[origin, union],
                y,
                color=ORIGIN_COLOURS[origin],
                zorder=3,
                label=f"LLMs made in {COUNTRY_NAMES[origin]}",
            )
        if {"CN", "US"} <= set(by_origin.index):
            ax.hlines(y, by_origin.loc["CN", union], by_origin.loc["US", union], color="#999999", lw=1)
        shared = sets[0] & sets[1]
        labels = [
            f"{label} (both)" if v in shared else label
            for v, label in zip(union, _labels(union), strict=True)
        ]
        ax.set_yticks(y, labels)
        ax.invert_yaxis()
        ax.set_xlabel(RANK_LABEL)
        ax.set_title(f"{end.capitalize()} {k}: overlap {len(shared)} of {k}")
        ax.grid(axis="x", color="#dddddd")
        ax.grid(axis="y", visible=False)
    axes[1].legend(loc="lower right", frameon=True, facecolor="white")
    return fig


def _linkage(wide: pd.DataFrame) -> np.ndarray:
    values = [c for c in wide.columns if c != "origin"]
    return hierarchy.linkage(wide[values].to_numpy(), method="ward", optimal_ordering=True)


def model_clusters(tables: StudyTables, k: int = N_ARCHETYPES) -> pd.DataFrame:
    """Ward clustering of models by their value-rank profiles: columns model, origin, cluster (1..k)."""
    wide = model_value_ranks(tables.rankings())
    k = min(k, len(wide))
    labels = hierarchy.fcluster(_linkage(wide), t=k, criterion="maxclust") if len(wide) > 1 else [1]
    return pd.DataFrame({"model": wide.index, "origin": wide["origin"].to_numpy(), "cluster": labels})


def figure_f3_dendrogram(tables: StudyTables, k: int = N_ARCHETYPES) -> Figure:
    """F3: hierarchical clustering (Ward) of LLMs; leaf labels coloured by origin."""
    wide = model_value_ranks(tables.rankings())
    link = _linkage(wide)
    k = min(k, len(wide))
    threshold = link[-(k - 1), 2] if k > 1 else 0  # colour the k clusters
    fig = Figure(figsize=(7.5, 3.4), layout="constrained")
    ax = fig.subplots()
    hierarchy.dendrogram(
        link,
        labels=list(wide.index),
        ax=ax,
        color_threshold=threshold - 1e-9,
        above_threshold_color="#555555",
        leaf_rotation=60,
    )
    for tick in ax.get_xticklabels():
        tick.set_color(ORIGIN_COLOURS[wide.loc[tick.get_text(), "origin"]])
        tick.set_ha("right")
    ax.set_ylabel("Ward distance")
    ax.grid(visible=False)
    ax.legend(
        handles=[Patch(color=ORIGIN_COLOURS[o], label=f"made in {COUNTRY_NAMES[o]}") for o in ("CN", "US")],
        loc="upper right",
    )
    return fig


def figure_f4_heatmap(tables: StudyTables) -> Figure:
    """F4: clustered heatmap of mean ranks (rows LLMs, columns values); cooler = lower priority."""
    wide = model_value_ranks(tables.rankings())
    values = [c for c in wide.columns if c != "origin"]
    row_order = hierarchy.leaves_list(_linkage(wide)) if len(wide) > 1 else [0]
    col_link = hierarchy.linkage(wide[values].T.to_numpy(), method="ward", optimal_ordering=True)
    col_order = hierarchy.leaves_list(col_link)
    matrix = wide[values].iloc[row_order, col_order]
    fig = Figure(figsize=(7.5, 1.6 + 0.22 * len(matrix)), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(
        matrix.to_numpy(), cmap="cividis_r", aspect="auto"
    )  # warm = important, cool = low priority
    ax.set_xticks(
        np.arange(matrix.shape[1]), _labels(list(matrix.columns)), rotation=60, ha="right", fontsize=7
    )
    ax.set_yticks(np.arange(matrix.shape[0]), matrix.index, fontsize=7)
    for tick in ax.get_yticklabels():
        tick.set_color(ORIGIN_COLOURS[wide.loc[tick.get_text(), "origin"]])
    ax.grid(visible=False)
    fig.colorbar(image, ax=ax, label=RANK_LABEL, shrink=0.8)
    return fig
