"""Which humans? The country-level figures, drawn from ``estimates/countries_*.csv``.

``fig_countries_ranked``
    One row per model, ordered by its mean similarity over countries: every country's mean cosine
    to the model as a dot along the row (so the row ranks the countries), the reference country
    and the model's own origin country marked with their 95% CIs, the closest and farthest
    country named.
``fig_countries_distance``
    Each country's mean similarity over models against its cultural distance from the reference,
    the model × country means behind it, and the mixed model's fitted line with its 95% band.

Both show the baseline condition (no persona, English where asked: ``baseline_condition``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from valuesurvey.country_level import CountryTables, baseline_condition, read_country_tables
from valuesurvey.figures._data import StudyTables
from valuesurvey.figures._style import OKABE_ITO, ORIGIN_COLOURS

__all__ = ["country_tables", "figure_distance", "figure_ranked", "ready_instruments"]

INSTRUMENT_NAMES = {"mfq2": "MFQ-2", "wvs7": "WVS-7"}
REFERENCE_COLOUR = OKABE_ITO["black"]
OTHER_COLOUR = "#b0b0b0"
#: Label every country in the scatter up to this many countries; beyond it, only the extremes.
LABEL_ALL_UP_TO = 12


def country_tables(tables: StudyTables) -> CountryTables | None:
    """The study's country-level tables (read once per :class:`StudyTables`)."""
    if "countries" not in tables._cache:
        tables._cache["countries"] = read_country_tables(tables.study)
    return tables._cache["countries"]


def ready_instruments(tables: StudyTables, figure: str) -> list[str]:
    """Instruments this figure can be drawn for (country similarity; for the scatter, distances)."""
    found = country_tables(tables)
    if found is None or found.similarity.empty:
        return []
    instruments = list(dict.fromkeys(found.similarity["instrument"]))
    if figure == "fig_countries_distance":
        instruments = [i for i in instruments if (found.culture["instrument"] == i).any()]
    return instruments


def _origin_colour(origin: str) -> str:
    return ORIGIN_COLOURS.get(str(origin), OKABE_ITO["green"])


def _baseline(found: CountryTables, instrument: str) -> tuple[str, pd.DataFrame]:
    sim = found.similarity
    sim = sim[(sim["instrument"] == instrument) & (sim["removed"] == "none")]
    condition = baseline_condition(sim)
    return condition, sim[sim["condition"] == condition]


def _reference(found: CountryTables, instrument: str) -> str:
    settings = found.settings[found.settings["instrument"] == instrument]
    return str(settings["reference"].iloc[0]) if len(settings) else ""


def _ranked_panel(ax: Axes, rows: pd.DataFrame, reference: str) -> None:
    order = rows.groupby("model")["estimate"].mean().sort_values().index.tolist()
    for y, model in enumerate(order):
        part = rows[rows["model"] == model].sort_values("estimate")
        origin = str(part["origin"].iloc[0])
        ax.scatter(part["estimate"], np.full(len(part), y), s=9, color=OTHER_COLOUR, zorder=2, lw=0)
        for country, colour, marker in (
            (reference, REFERENCE_COLOUR, "D"),
            (origin, _origin_colour(origin), "o"),
        ):
            hit = part[part["country"] == country]
            if hit.empty:
                continue
            low, high = hit["conf_low"].iloc[0], hit["conf_high"].iloc[0]
            offset = 0.18 if marker == "D" else -0.18
            ax.plot([low, high], [y + offset] * 2, color=colour, lw=1.0, zorder=3)
            ax.scatter(hit["estimate"], [y + offset], s=22, marker=marker, color=colour, zorder=4, lw=0)
        first, last = part.iloc[0], part.iloc[-1]
        ax.annotate(first["country"], (first["estimate"], y), xytext=(-3, 0), textcoords="offset points",
                    ha="right", va="center", fontsize=6, color="#555555")  # fmt: skip
        if len(part) > 1:
            ax.annotate(last["country"], (last["estimate"], y), xytext=(3, 0), textcoords="offset points",
                        ha="left", va="center", fontsize=6, color="#555555")  # fmt: skip
    ax.set_yticks(np.arange(len(order)), order, fontsize=7)
    ax.set_ylim(-0.7, len(order) - 0.3)
    ax.grid(axis="x", color="#dddddd", lw=0.6)
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("Mean cosine similarity to the country's people")
    lo, hi = rows["estimate"].min(), rows["estimate"].max()
    pad = 0.12 * (hi - lo if hi > lo else 0.1)
    ax.set_xlim(lo - pad, hi + pad)


def figure_ranked(tables: StudyTables, instruments: list[str]) -> Figure:
    """Ranked dot plot: each model's similarity to every country (baseline condition)."""
    found = country_tables(tables)
    n_models = max(_baseline(found, i)[1]["model"].nunique() for i in instruments)
    fig = Figure(
        figsize=(max(6.0, 3.7 * len(instruments) + 0.4), 0.26 * n_models + 1.6), layout="constrained"
    )
    axes = fig.subplots(1, len(instruments), squeeze=False)[0]
    origins: set[str] = set()
    for ax, instrument in zip(axes, instruments, strict=True):
        condition, rows = _baseline(found, instrument)
        reference = _reference(found, instrument)
        _ranked_panel(ax, rows, reference)
        origins |= set(rows["origin"].astype(str))
        ax.set_title(
            f"{INSTRUMENT_NAMES.get(instrument, instrument)}: {rows['country'].nunique()} countries, {condition}",
            loc="left",
        )
    handles = [
        Line2D([], [], marker="o", ls="", color=OTHER_COLOUR, label="a country"),
        Line2D([], [], marker="D", ls="-", color=REFERENCE_COLOUR, label=f"reference ({_reference(found, instruments[0])}), 95% CI"),
    ]  # fmt: skip
    handles += [
        Line2D([], [], marker="o", ls="-", color=_origin_colour(o), label=f"the model's origin ({o}), 95% CI")
        for o in sorted(origins)
    ]
    fig.legend(handles=handles, loc="outside upper center", ncols=2, frameon=False)
    return fig


def _label_points(ax: Axes, points: pd.DataFrame, reference: str) -> None:
    if len(points) <= LABEL_ALL_UP_TO:
        chosen = points
    else:
        extremes = pd.concat(
            [
                points.nlargest(3, "distance"),
                points.nlargest(2, "similarity"),
                points.nsmallest(2, "similarity"),
            ]
        )
        chosen = pd.concat([extremes, points[points["country"] == reference]]).drop_duplicates("country")
    for row in chosen.itertuples(index=False):
        ax.annotate(row.country, (row.distance, row.similarity), xytext=(3, 3), textcoords="offset points",
                    fontsize=6.5, color="#333333")  # fmt: skip


def _distance_panel(ax: Axes, found: CountryTables, instrument: str) -> None:
    condition, rows = _baseline(found, instrument)
    reference = _reference(found, instrument)
    culture = found.culture[found.culture["instrument"] == instrument][["country", "estimate"]]
    data = rows.merge(culture.rename(columns={"estimate": "distance"}), on="country")
    ax.scatter(data["distance"], data["estimate"], s=5, color="#d0d0d0", lw=0, zorder=1)
    points = data.groupby("country", as_index=False).agg(
        similarity=("estimate", "mean"), distance=("distance", "first")
    )
    colours = [REFERENCE_COLOUR if c == reference else OKABE_ITO["blue"] for c in points["country"]]
    ax.scatter(points["distance"], points["similarity"], s=16, color=colours, zorder=3, lw=0)
    _label_points(ax, points, reference)
    line = found.line[(found.line["instrument"] == instrument) & (found.line["condition"] == condition)]
    slope = found.association
    slope = slope[
        (slope["instrument"] == instrument)
        & (slope["condition"] == condition)
        & (slope["model"] == "all")
        & (slope["metric"] == "slope")
    ]
    if len(line):
        ax.fill_between(
            line["distance"],
            line["conf_low"],
            line["conf_high"],
            color=OKABE_ITO["vermillion"],
            alpha=0.15,
            lw=0,
        )
        ax.plot(line["distance"], line["estimate"], color=OKABE_ITO["vermillion"], lw=1.2, zorder=2)
    if len(slope):
        s = slope.iloc[0]
        text = f"slope {s['estimate']:.2f} [{s['conf_low']:.2f}, {s['conf_high']:.2f}]"
    else:
        text = f"{len(points)} countries: too few for a slope"
    ax.text(0.98, 0.97, text, transform=ax.transAxes, ha="right", va="top", fontsize=7)
    metric = found.culture[found.culture["instrument"] == instrument]["metric"].iloc[0]
    ax.set_xlabel(f"Cultural distance from {reference} ({'F_ST' if metric == 'fst' else 'z-profile RMS'})")
    ax.set_ylabel("Mean cosine similarity")
    ax.set_title(f"{INSTRUMENT_NAMES.get(instrument, instrument)}, {condition}", loc="left")


def figure_distance(tables: StudyTables, instruments: list[str]) -> Figure:
    """Similarity against cultural distance from the reference, with the fitted line."""
    found = country_tables(tables)
    fig = Figure(figsize=(max(5.0, 3.6 * len(instruments) + 0.4), 3.4), layout="constrained")
    axes = fig.subplots(1, len(instruments), squeeze=False)[0]
    for ax, instrument in zip(axes, instruments, strict=True):
        _distance_panel(ax, found, instrument)
    handles = [
        Line2D([], [], marker="o", ls="", color=OKABE_ITO["blue"], label="country (mean over models)"),
        Line2D([], [], marker="o", ls="", color="#d0d0d0", label="model × country"),
        Line2D([], [], color=OKABE_ITO["vermillion"], label="mixed model, 95% band"),
    ]
    fig.legend(handles=handles, loc="outside upper center", ncols=3, frameon=False)
    return fig
