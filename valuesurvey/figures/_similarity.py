"""Seed 001 (the paper): Figures 1–5, human–LLM similarity on the rating instruments."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from valuesurvey.figures._data import StudyTables, item_dimensions
from valuesurvey.figures._style import (
    COUNTRY_NAMES,
    LANGUAGE_COLOURS,
    OKABE_ITO,
    ORIGIN_COLOURS,
)
from valuesurvey.figures._summaries import (
    grouped_mean_ci,
    llm_item_means,
    rq1_subset,
    zscore_within,
)

__all__ = ["figure1", "figure2", "figure3", "figure4", "figure5"]

INSTRUMENT_NAMES = {"mfq2": "MFQ-2", "wvs7": "WVS"}
NATIONALITIES = ("CN", "US")


def _title(instrument: str) -> str:
    return INSTRUMENT_NAMES.get(instrument, instrument)


def _per_participant(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Average cosines per participant first: people, not person × model rows, are the sample."""
    return frame.groupby(["participant", *keys], observed=True, as_index=False)["cosine"].mean()


def _errorbars(ax: Axes, x: np.ndarray, summary: pd.DataFrame) -> None:
    lower = (summary["mean"] - summary["conf_low"]).to_numpy()
    upper = (summary["conf_high"] - summary["mean"]).to_numpy()
    ax.errorbar(x, summary["mean"], yerr=[lower, upper], fmt="none", ecolor="black", capsize=2, lw=0.8)


def figure1(tables: StudyTables, instruments: list[str]) -> Figure:
    """Mean cosine (95% CI) by instrument, human nationality and LLM origin."""
    fig = Figure(figsize=(3.2 * len(instruments) + 0.6, 3.2), layout="constrained")
    axes = fig.subplots(1, len(instruments), squeeze=False)[0]
    for ax, instrument in zip(axes, instruments, strict=True):
        sim = rq1_subset(tables.similarity(instrument))
        summary = grouped_mean_ci(
            _per_participant(sim, ["nationality", "origin"]), ["nationality", "origin"], "cosine"
        )
        for j, origin in enumerate(NATIONALITIES):
            part = summary[summary["origin"] == origin].set_index("nationality").reindex(NATIONALITIES)
            x = np.arange(len(NATIONALITIES)) + (j - 0.5) * 0.38
            ax.bar(x, part["mean"], width=0.36, color=ORIGIN_COLOURS[origin])
            _errorbars(ax, x, part.reset_index())
        ax.set_xticks(np.arange(len(NATIONALITIES)), [f"Humans, {COUNTRY_NAMES[n]}" for n in NATIONALITIES])
        ax.set_title(_title(instrument))
        ax.set_ylabel("Mean cosine similarity")
        ax.axhline(0, color="black", lw=0.6)
    # Above the panels: inside the axes it covered the tallest (WVS) bars and their error bars.
    handles = [Patch(color=ORIGIN_COLOURS[o], label=f"LLM made in {COUNTRY_NAMES[o]}") for o in NATIONALITIES]
    fig.legend(handles=handles, loc="outside upper center", ncols=len(handles), frameon=False)
    return fig


def _normalised_group_means(tables: StudyTables, instrument: str) -> pd.DataFrame:
    """Mean z-scored rating per dimension for humans by nationality and LLMs by origin."""
    humans = tables.humans(instrument).copy()
    humans["z"] = zscore_within(humans, ["participant"])
    humans["group"] = "Human, " + humans["nationality"].map(COUNTRY_NAMES)
    llm = llm_item_means(tables.llm_ratings(), instrument)
    llm = llm[llm["persona"] == "none"]
    if (llm["language"] == "en").any():  # the paper's Figure 2 excludes the language manipulation
        llm = llm[llm["language"] == "en"]
    llm = llm.assign(group="LLM, " + llm["origin"].map(COUNTRY_NAMES))
    both = pd.concat([humans[["group", "item", "z"]], llm[["group", "item", "z"]]], ignore_index=True)
    items = sorted(both["item"].unique())
    both["dimension"] = both["item"].map(item_dimensions(instrument, items))
    return both.groupby(["dimension", "group"], as_index=False)["z"].mean()


GROUP_STYLE = {
    "Human, China": {"facecolor": "#eeeeee", "edgecolor": ORIGIN_COLOURS["CN"], "hatch": ""},
    "Human, USA": {"facecolor": "#eeeeee", "edgecolor": ORIGIN_COLOURS["US"], "hatch": ""},
    "LLM, China": {"facecolor": ORIGIN_COLOURS["CN"], "edgecolor": ORIGIN_COLOURS["CN"], "hatch": ""},
    "LLM, USA": {"facecolor": ORIGIN_COLOURS["US"], "edgecolor": ORIGIN_COLOURS["US"], "hatch": ""},
}


def figure2(tables: StudyTables, instruments: list[str]) -> Figure:
    """Normalised ratings by MFQ-2 dimension / WVS question: humans by nationality, LLMs by origin."""
    fig = Figure(figsize=(7.5, 2.8 * len(instruments) + 0.4), layout="constrained")
    axes = fig.subplots(len(instruments), 1, squeeze=False)[:, 0]
    for ax, instrument in zip(axes, instruments, strict=True):
        means = _normalised_group_means(tables, instrument)
        dimensions = sorted(means["dimension"].unique(), key=_dimension_order(instrument))
        width = 0.8 / len(GROUP_STYLE)
        for j, (group, style) in enumerate(GROUP_STYLE.items()):
            part = means[means["group"] == group].set_index("dimension").reindex(dimensions)
            x = np.arange(len(dimensions)) + (j - 1.5) * width
            ax.bar(x, part["z"], width=width * 0.95, linewidth=1.1, label=group, **style)
        ax.set_xticks(np.arange(len(dimensions)), dimensions, rotation=45 if len(dimensions) > 8 else 0)
        ax.set_ylabel("Mean normalised rating (z)")
        ax.set_title(_title(instrument))
        ax.axhline(0, color="black", lw=0.6)
    axes[0].legend(ncols=4, loc="lower center", bbox_to_anchor=(0.5, 1.08))
    return fig


def _dimension_order(instrument: str):
    from valuesurvey.figures._data import MFQ2_FOUNDATIONS

    if instrument == "mfq2":
        return lambda d: (MFQ2_FOUNDATIONS.index(d) if d in MFQ2_FOUNDATIONS else 99, d)
    return lambda d: d


def _per_model_panel(ax: Axes, tables: StudyTables, instrument: str) -> None:
    sim = rq1_subset(tables.similarity(instrument))
    summary = grouped_mean_ci(sim, ["model", "origin", "nationality"], "cosine")
    models = summary[["model", "origin"]].drop_duplicates().sort_values(["origin", "model"])
    positions = {m: i for i, m in enumerate(models["model"])}
    for i, (_, row) in enumerate(models.iterrows()):
        if row["origin"] == "CN":
            ax.axvspan(i - 0.5, i + 0.5, color="#e6e6e6", zorder=0)
    for j, nat in enumerate(NATIONALITIES):
        part = summary[summary["nationality"] == nat]
        x = part["model"].map(positions).to_numpy() + (j - 0.5) * 0.38
        ax.bar(x, part["mean"], width=0.36, color=ORIGIN_COLOURS[nat], label=f"Humans, {COUNTRY_NAMES[nat]}")
        _errorbars(ax, x, part)
    ax.set_xticks(np.arange(len(positions)), list(positions), rotation=60, ha="right")
    ax.set_xlim(-0.6, len(positions) - 0.4)
    ax.set_ylabel("Cosine similarity")
    ax.axhline(0, color="black", lw=0.6)


def _mean_profile_similarity(tables: StudyTables, instrument: str) -> pd.DataFrame:
    """Cosine of each person's z-vector with mean z-profiles of human and LLM groups."""
    humans = tables.humans(instrument).copy()
    humans["z"] = zscore_within(humans, ["participant"])
    person = humans.pivot_table(index=["participant", "nationality"], columns="item", values="z")
    llm = llm_item_means(tables.llm_ratings(), instrument)
    llm = llm[llm["persona"] == "none"]
    profiles = {
        f"Human, {COUNTRY_NAMES[n]}": humans[humans["nationality"] == n].groupby("item")["z"].mean()
        for n in NATIONALITIES
    }
    for origin in NATIONALITIES:
        profiles[f"LLM, {COUNTRY_NAMES[origin]}"] = llm[llm["origin"] == origin].groupby("item")["z"].mean()
    rows = []
    matrix = person.to_numpy()
    for name, profile in profiles.items():
        vec = profile.reindex(person.columns).to_numpy()
        vec = (vec - np.nanmean(vec)) / np.nanstd(vec, ddof=1)
        ok = ~np.isnan(vec)
        num = np.nansum(matrix[:, ok] * vec[ok], axis=1)
        den = np.sqrt(np.nansum(matrix[:, ok] ** 2, axis=1) * np.sum(vec[ok] ** 2))
        cos = pd.DataFrame({"nationality": person.index.get_level_values("nationality"), "cosine": num / den})
        rows.append(cos.assign(profile=name))
    return pd.concat(rows, ignore_index=True)


def figure3(tables: StudyTables, instruments: list[str]) -> Figure:
    """A–B: cosine of each person to each LLM; C–D: to mean human and LLM profiles."""
    n = len(instruments)
    fig = Figure(figsize=(7.5, 6.2), layout="constrained")
    grid = fig.add_gridspec(2, n, height_ratios=[1.3, 1])
    letters = iter("ABCDEFGH")
    for col, instrument in enumerate(instruments):
        ax = fig.add_subplot(grid[0, col])
        _per_model_panel(ax, tables, instrument)
        ax.set_title(f"{next(letters)}. {_title(instrument)}: each LLM (grey = made in China)", loc="left")
    for col, instrument in enumerate(instruments):
        ax = fig.add_subplot(grid[1, col])
        data = _mean_profile_similarity(tables, instrument)
        summary = grouped_mean_ci(data, ["profile", "nationality"], "cosine")
        profiles = list(GROUP_STYLE)
        for j, nat in enumerate(NATIONALITIES):
            part = summary[summary["nationality"] == nat].set_index("profile").reindex(profiles)
            x = np.arange(len(profiles)) + (j - 0.5) * 0.38
            ax.bar(
                x, part["mean"], width=0.36, color=ORIGIN_COLOURS[nat], label=f"Humans, {COUNTRY_NAMES[nat]}"
            )
            _errorbars(ax, x, part.reset_index())
        ax.set_xticks(np.arange(len(profiles)), profiles, rotation=20)
        ax.set_ylabel("Cosine similarity")
        ax.axhline(0, color="black", lw=0.6)
        ax.set_title(f"{next(letters)}. {_title(instrument)}: mean profiles", loc="left")
        if col == n - 1:
            ax.legend(loc="upper right")
    return fig


PERSONA_NAMES = {"none": "no persona", "cn": "China persona", "us": "USA persona"}


def figure4(tables: StudyTables, instruments: list[str]) -> Figure:
    """Cosine by LLM origin, prompt language and persona, per instrument and human nationality."""
    fig = Figure(figsize=(7.5, 2.9 * len(instruments) + 0.4), layout="constrained")
    axes = fig.subplots(len(instruments), 2, squeeze=False)
    letters = iter("ABCDEFGH")
    for row, instrument in enumerate(instruments):
        sim = tables.similarity(instrument)
        sim = sim[sim["removed"] == "none"]
        keys = ["nationality", "origin", "persona", "language"]
        summary = grouped_mean_ci(_per_participant(sim, keys), keys, "cosine")
        for col, nat in enumerate(NATIONALITIES):
            ax = axes[row, col]
            _figure4_panel(ax, summary[summary["nationality"] == nat])
            ax.set_title(
                f"{next(letters)}. {_title(instrument)}, humans from {COUNTRY_NAMES[nat]}", loc="left", pad=14
            )
    handles = [
        Patch(color=c, label=f"prompt in {'Chinese' if lang == 'zh' else 'English'}")
        for lang, c in LANGUAGE_COLOURS.items()
    ]
    handles.append(Patch(color="#e6d5ec", label="LLMs made in China"))
    fig.legend(handles=handles, loc="outside upper center", ncols=3)
    return fig


def _figure4_panel(ax: Axes, summary: pd.DataFrame) -> None:
    groups = [(o, p) for o in NATIONALITIES for p in ("none", "cn", "us")]
    for i, (origin, _persona) in enumerate(groups):
        if origin == "CN":
            ax.axvspan(i - 0.5, i + 0.5, color="#e6d5ec", zorder=0)  # purple background = made in China
    languages = [lang for lang in LANGUAGE_COLOURS if lang in set(summary["language"])]
    width = 0.8 / max(len(languages), 1)
    for j, lang in enumerate(languages):
        part = summary[summary["language"] == lang].set_index(["origin", "persona"]).reindex(groups)
        x = np.arange(len(groups)) + (j - (len(languages) - 1) / 2) * width
        ax.bar(x, part["mean"], width=width * 0.95, color=LANGUAGE_COLOURS[lang])
        _errorbars(ax, x, part.reset_index())
    ax.set_xticks(np.arange(len(groups)), [PERSONA_NAMES[p] for _, p in groups], rotation=30, ha="right")
    for k, origin in enumerate(NATIONALITIES):  # name each origin block once, above its bars
        ax.text(
            1 + 3 * k,
            1.0,
            f"LLMs made in {COUNTRY_NAMES[origin]}",
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=7,
        )
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.set_ylabel("Mean cosine similarity")
    ax.axhline(0, color="black", lw=0.6)


def removal_deltas(similarity: pd.DataFrame) -> pd.DataFrame:
    """Change in cosine when removing each dimension / item, per person and LLM condition (RQ1 subset)."""
    keys = ["participant", "nationality", "model", "origin", "language", "persona"]
    sim = similarity[similarity["persona"] == "none"]
    if sim["language"].nunique() > 1:
        sim = sim[sim["language"] == sim["nationality"].map({"CN": "zh", "US": "en"})]
    base = sim[sim["removed"] == "none"][[*keys, "cosine"]].rename(columns={"cosine": "base"})
    removed = sim[sim["removed"] != "none"].merge(base, on=keys, how="inner")
    return removed.assign(delta=removed["cosine"] - removed["base"])


def figure5(tables: StudyTables, instruments: list[str]) -> Figure:
    """Change in similarity of LLMs to humans when removing each dimension (MFQ-2) or question (WVS)."""
    heights = []
    data = {}
    for instrument in instruments:
        deltas = removal_deltas(tables.similarity(instrument))
        per_person = deltas.groupby(["participant", "nationality", "removed"], as_index=False)["delta"].mean()
        data[instrument] = grouped_mean_ci(per_person, ["removed", "nationality"], "delta")
        heights.append(max(data[instrument]["removed"].nunique(), 1))
    fig = Figure(figsize=(7.5, 0.9 + 0.22 * max(heights)), layout="constrained")
    axes = fig.subplots(1, len(instruments), squeeze=False)[0]
    for ax, instrument in zip(axes, instruments, strict=True):
        summary = data[instrument]
        levels = sorted(summary["removed"].unique(), key=_dimension_order(instrument), reverse=True)
        for j, nat in enumerate(NATIONALITIES):
            part = summary[summary["nationality"] == nat].set_index("removed").reindex(levels)
            y = np.arange(len(levels)) + (j - 0.5) * 0.38
            err = [
                (part["mean"] - part["conf_low"]).to_numpy(),
                (part["conf_high"] - part["mean"]).to_numpy(),
            ]
            ax.barh(
                y, part["mean"], height=0.36, color=ORIGIN_COLOURS[nat], label=f"Humans, {COUNTRY_NAMES[nat]}"
            )
            ax.errorbar(part["mean"], y, xerr=err, fmt="none", ecolor="black", capsize=1.5, lw=0.7)
        ax.set_yticks(np.arange(len(levels)), levels)
        ax.axvline(0, color="black", lw=0.6)
        ax.grid(axis="x", color="#dddddd")
        ax.grid(axis="y", visible=False)
        ax.set_xlabel("Change in cosine similarity when removed")
        ax.set_title(_title(instrument))
    axes[-1].legend(loc="lower right", facecolor="white", frameon=True, edgecolor=OKABE_ITO["grey"])
    return fig
