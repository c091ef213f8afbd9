"""Seed 001 (the paper): Figures 1–5, human–LLM similarity on the rating instruments."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from valuesurvey.design import canonical_labels
from valuesurvey.figures._data import StudyTables, item_dimensions
from valuesurvey.figures._style import (
    COUNTRY_NAMES,
    LANGUAGE_COLOURS,
    OKABE_ITO,
    country_colours,
)
from valuesurvey.figures._summaries import (
    grouped_mean_ci,
    llm_item_means,
    rq1_subset,
    zscore_within,
)

__all__ = ["figure1", "figure2", "figure3", "figure4", "figure5"]

INSTRUMENT_NAMES = {"mfq2": "MFQ-2", "wvs7": "WVS"}


class _Countries:
    """The study's countries as the figures draw them: people's countries and LLM origins in the
    study's order (origins of no study country after them), a colour per country, readable names."""

    def __init__(self, tables: StudyTables, nationalities: object = (), origins: object = ()) -> None:
        design = tables.study.design
        self.design = design
        present_n = {str(v) for v in nationalities}
        present_o = {str(v) for v in origins}
        self.nationalities = tuple(c for c in design.codes if c in present_n) or design.codes
        levels = design.origin_levels(present_o) if present_o else design.codes
        study_first = [c for c in design.codes if c in levels]
        self.origins = tuple([*study_first, *(o for o in levels if o not in study_first)])
        self.colours = country_colours(list(dict.fromkeys([*design.codes, *self.origins])))
        self.pairing = design.pairing

    def name(self, code: str) -> str:
        return COUNTRY_NAMES.get(code) or self.design.name(code)

    def persona_name(self, persona: str) -> str:
        return "no persona" if persona == "none" else f"{self.name(persona)} persona"


def _offsets(k: int, width: float = 0.76) -> tuple[np.ndarray, float]:
    """Bar offsets of k groups side by side around each tick, and the bar width."""
    w = width / max(k, 1)
    return (np.arange(k) - (k - 1) / 2) * w, w * 0.95


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
    origins: list[str] = []
    groups = _Countries(tables)
    for ax, instrument in zip(axes, instruments, strict=True):
        similarity = tables.similarity(instrument)
        groups = _Countries(tables, similarity["nationality"].unique(), similarity["origin"].unique())
        sim = rq1_subset(similarity, groups.pairing)
        summary = grouped_mean_ci(
            _per_participant(sim, ["nationality", "origin"]), ["nationality", "origin"], "cosine"
        )
        nationalities = groups.nationalities
        offsets, width = _offsets(len(groups.origins))
        for j, origin in enumerate(groups.origins):
            part = summary[summary["origin"] == origin].set_index("nationality").reindex(nationalities)
            x = np.arange(len(nationalities)) + offsets[j]
            ax.bar(x, part["mean"], width=width, color=groups.colours[origin])
            _errorbars(ax, x, part.reset_index())
            origins += [origin] if origin not in origins else []
        ax.set_xticks(
            np.arange(len(nationalities)),
            [f"Humans, {groups.name(n)}" for n in nationalities],
            rotation=20 if len(nationalities) > 2 else 0,
        )
        ax.set_title(_title(instrument))
        ax.set_ylabel("Mean cosine similarity")
        ax.axhline(0, color="black", lw=0.6)
    # Above the panels: inside the axes it covered the tallest (WVS) bars and their error bars.
    handles = [Patch(color=groups.colours[o], label=f"LLM made in {groups.name(o)}") for o in origins]
    fig.legend(handles=handles, loc="outside upper center", ncols=min(len(handles), 4), frameon=False)
    return fig


def _normalised_group_means(tables: StudyTables, instrument: str) -> pd.DataFrame:
    """Mean z-scored rating per dimension for humans by nationality and LLMs by origin."""
    humans = tables.humans(instrument).copy()
    humans["z"] = zscore_within(humans, ["participant"])
    groups = _Countries(tables, humans["nationality"].unique())
    humans["group"] = "Human, " + humans["nationality"].astype(str).map(groups.name)
    llm = llm_item_means(canonical_labels(tables.llm_ratings()), instrument)
    llm = llm[llm["persona"] == "none"]
    if (llm["language"] == "en").any():  # the paper's Figure 2 excludes the language manipulation
        llm = llm[llm["language"] == "en"]
    llm = llm.assign(group="LLM, " + llm["origin"].astype(str).map(groups.name))
    both = pd.concat([humans[["group", "item", "z"]], llm[["group", "item", "z"]]], ignore_index=True)
    items = sorted(both["item"].unique())
    both["dimension"] = both["item"].map(item_dimensions(instrument, items, study=tables.study))
    return both.groupby(["dimension", "group"], as_index=False)["z"].mean()


def group_styles(tables: StudyTables, instrument: str) -> dict[str, dict[str, str]]:
    """Bar style of each human group (grey fill, the country's colour as edge) and LLM group (the
    origin's colour): humans of every country first, then LLMs of every origin, in study order."""
    humans = tables.humans(instrument)
    ratings = tables.llm_ratings()
    origins = ratings.loc[ratings["instrument"] == instrument, "origin"].unique()
    groups = _Countries(tables, humans["nationality"].unique(), origins)
    styles = {}
    for n in groups.nationalities:
        styles[f"Human, {groups.name(n)}"] = {
            "facecolor": "#eeeeee",
            "edgecolor": groups.colours[n],
            "hatch": "",
        }
    for o in groups.origins:
        styles[f"LLM, {groups.name(o)}"] = {
            "facecolor": groups.colours[o],
            "edgecolor": groups.colours[o],
            "hatch": "",
        }
    return styles


def figure2(tables: StudyTables, instruments: list[str]) -> Figure:
    """Normalised ratings by MFQ-2 dimension / WVS question: humans by nationality, LLMs by origin."""
    fig = Figure(figsize=(7.5, 2.8 * len(instruments) + 0.4), layout="constrained")
    axes = fig.subplots(len(instruments), 1, squeeze=False)[:, 0]
    for ax, instrument in zip(axes, instruments, strict=True):
        means = _normalised_group_means(tables, instrument)
        dimensions = sorted(means["dimension"].unique(), key=_dimension_order(instrument))
        styles = group_styles(tables, instrument)
        offsets, width = _offsets(len(styles), 0.8)
        for j, (group, style) in enumerate(styles.items()):
            part = means[means["group"] == group].set_index("dimension").reindex(dimensions)
            x = np.arange(len(dimensions)) + offsets[j]
            ax.bar(x, part["z"], width=width, linewidth=1.1, label=group, **style)
        ax.set_xticks(np.arange(len(dimensions)), dimensions, rotation=45 if len(dimensions) > 8 else 0)
        ax.set_ylabel("Mean normalised rating (z)")
        ax.set_title(_title(instrument))
        ax.axhline(0, color="black", lw=0.6)
    axes[0].legend(ncols=4, loc="lower center", bbox_to_anchor=(0.5, 1.08))  # 4 a row: k countries wrap
    return fig


def _dimension_order(instrument: str):
    from valuesurvey.figures._data import MFQ2_FOUNDATIONS

    if instrument == "mfq2":
        return lambda d: (MFQ2_FOUNDATIONS.index(d) if d in MFQ2_FOUNDATIONS else 99, d)
    return lambda d: d


def _per_model_panel(ax: Axes, tables: StudyTables, instrument: str) -> None:
    similarity = tables.similarity(instrument)
    groups = _Countries(tables, similarity["nationality"].unique(), similarity["origin"].unique())
    sim = rq1_subset(similarity, groups.pairing)
    summary = grouped_mean_ci(sim, ["model", "origin", "nationality"], "cosine")
    models = summary[["model", "origin"]].drop_duplicates()
    order = {o: i for i, o in enumerate(groups.origins)}
    models = models.assign(_o=models["origin"].astype(str).map(order)).sort_values(["_o", "model"])
    positions = {m: i for i, m in enumerate(models["model"])}
    for i, (_, row) in enumerate(models.iterrows()):
        if order.get(str(row["origin"]), 0) % 2 == 0:  # alternate shading marks each origin's block
            ax.axvspan(i - 0.5, i + 0.5, color="#e6e6e6", zorder=0)
    offsets, width = _offsets(len(groups.nationalities))
    for j, nat in enumerate(groups.nationalities):
        part = summary[summary["nationality"] == nat]
        x = part["model"].map(positions).to_numpy() + offsets[j]
        ax.bar(x, part["mean"], width=width, color=groups.colours[nat], label=f"Humans, {groups.name(nat)}")
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
    llm = llm_item_means(canonical_labels(tables.llm_ratings()), instrument)
    llm = llm[llm["persona"] == "none"]
    groups = _Countries(tables, humans["nationality"].unique(), llm["origin"].unique())
    profiles = {
        f"Human, {groups.name(n)}": humans[humans["nationality"] == n].groupby("item")["z"].mean()
        for n in groups.nationalities
    }
    for origin in groups.origins:
        profiles[f"LLM, {groups.name(origin)}"] = llm[llm["origin"] == origin].groupby("item")["z"].mean()
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
        first = _Countries(tables).name(_Countries(tables).origins[0])
        ax.set_title(f"{next(letters)}. {_title(instrument)}: each LLM (grey = made in {first})", loc="left")
    for col, instrument in enumerate(instruments):
        ax = fig.add_subplot(grid[1, col])
        data = _mean_profile_similarity(tables, instrument)
        summary = grouped_mean_ci(data, ["profile", "nationality"], "cosine")
        profiles = list(group_styles(tables, instrument))
        groups = _Countries(tables, data["nationality"].unique())
        offsets, width = _offsets(len(groups.nationalities))
        for j, nat in enumerate(groups.nationalities):
            part = summary[summary["nationality"] == nat].set_index("profile").reindex(profiles)
            x = np.arange(len(profiles)) + offsets[j]
            ax.bar(
                x, part["mean"], width=width, color=groups.colours[nat], label=f"Humans, {groups.name(nat)}"
            )
            _errorbars(ax, x, part.reset_index())
        ax.set_xticks(np.arange(len(profiles)), profiles, rotation=20)
        ax.set_ylabel("Cosine similarity")
        ax.axhline(0, color="black", lw=0.6)
        ax.set_title(f"{next(letters)}. {_title(instrument)}: mean profiles", loc="left")
        if col == n - 1:
            ax.legend(loc="upper right")
    return fig


def figure4(tables: StudyTables, instruments: list[str]) -> Figure:
    """Cosine by LLM origin, prompt language and persona, per instrument and human nationality."""
    design = tables.study.design
    # Two panels a row (one per country of the participants), each as wide as the paper's: with k
    # countries an instrument takes ceil(k / 2) rows and a panel k + 1 origin blocks of k + 1 personas.
    k = len(design.codes)
    per_instrument = max(1, -(-k // 2))
    wide = 1.0 if k <= 2 else 0.6 + 0.2 * k
    fig = Figure(
        figsize=(7.5 * wide, 2.9 * wide * len(instruments) * per_instrument + 0.4), layout="constrained"
    )
    axes = fig.subplots(len(instruments) * per_instrument, 2, squeeze=False)
    letters = iter("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    groups = _Countries(tables)
    for row, instrument in enumerate(instruments):
        sim = canonical_labels(tables.similarity(instrument))
        sim = sim[sim["removed"] == "none"]
        groups = _Countries(tables, sim["nationality"].unique(), sim["origin"].unique())
        keys = ["nationality", "origin", "persona", "language"]
        summary = grouped_mean_ci(_per_participant(sim, keys), keys, "cosine")
        for index in range(2 * per_instrument):
            ax = axes[row * per_instrument + index // 2, index % 2]
            if index >= len(groups.nationalities):
                ax.set_visible(False)
                continue
            nat = groups.nationalities[index]
            _figure4_panel(ax, summary[summary["nationality"] == nat], groups)
            ax.set_title(
                f"{next(letters)}. {_title(instrument)}, humans from {groups.name(nat)}", loc="left", pad=14
            )
    handles = [
        Patch(color=c, label=f"prompt in {language_name(lang)}")
        for lang, c in _language_colours(design.languages).items()
    ]
    shaded = [groups.name(o) for o in groups.origins[::2]]
    handles.append(Patch(color="#e6d5ec", label=f"LLMs made in {', '.join(shaded)}"))
    fig.legend(handles=handles, loc="outside upper center", ncols=min(len(handles), 4))
    return fig


def _language_colours(languages: tuple[str, ...]) -> dict[str, str]:
    """en and zh keep their colours; other languages take unused Okabe–Ito colours."""
    spare = iter(c for k, c in OKABE_ITO.items() if c not in LANGUAGE_COLOURS.values() and k != "black")
    return {lang: LANGUAGE_COLOURS.get(lang) or next(spare, OKABE_ITO["grey"]) for lang in languages}


def language_name(tag: str) -> str:
    """The English name of a language tag (CLDR): English, Chinese, German."""
    from valuesurvey.countries import language_name as cldr_name

    try:
        return cldr_name(tag, "en")
    except Exception:  # an unknown tag is named by itself in a legend
        return tag


def _figure4_panel(ax: Axes, summary: pd.DataFrame, countries: _Countries) -> None:
    personas = countries.design.personas
    groups = [(o, p) for o in countries.origins for p in personas]
    for i, (origin, _persona) in enumerate(groups):
        if countries.origins.index(origin) % 2 == 0:  # purple background: every other origin's block
            ax.axvspan(i - 0.5, i + 0.5, color="#e6d5ec", zorder=0)
    colours = _language_colours(countries.design.languages)
    languages = [lang for lang in colours if lang in set(summary["language"])]
    width = 0.8 / max(len(languages), 1)
    for j, lang in enumerate(languages):
        part = summary[summary["language"] == lang].set_index(["origin", "persona"]).reindex(groups)
        x = np.arange(len(groups)) + (j - (len(languages) - 1) / 2) * width
        ax.bar(x, part["mean"], width=width * 0.95, color=colours[lang])
        _errorbars(ax, x, part.reset_index())
    # Two countries: the paper's labels; more: persona codes below, origin codes above each block.
    few = len(countries.design.codes) <= 2
    labels = [countries.persona_name(p) if few else ("no persona" if p == "none" else p) for _, p in groups]
    ax.set_xticks(np.arange(len(groups)), labels, rotation=30 if few else 90, ha="right" if few else "center")
    block = len(personas)
    for k, origin in enumerate(countries.origins):  # name each origin block once, above its bars
        ax.text(
            (block - 1) / 2 + block * k,
            1.0,
            f"LLMs made in {countries.name(origin)}" if few else f"LLMs: {origin}",
            transform=ax.get_xaxis_transform(),
            ha="center",
            va="bottom",
            fontsize=7,
        )
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.set_ylabel("Mean cosine similarity")
    ax.axhline(0, color="black", lw=0.6)


def removal_deltas(similarity: pd.DataFrame, pairing: dict[str, str] | None = None) -> pd.DataFrame:
    """Change in cosine when removing each dimension / item, per person and LLM condition (RQ1
    subset: persona none, the language the person's country is paired with; default the paper's)."""
    keys = ["participant", "nationality", "model", "origin", "language", "persona"]
    sim = similarity[similarity["persona"] == "none"]
    if sim["language"].nunique() > 1:
        wanted = sim["nationality"].astype(str).map(pairing or {"CN": "zh", "US": "en"})
        sim = sim[sim["language"] == wanted]
    base = sim[sim["removed"] == "none"][[*keys, "cosine"]].rename(columns={"cosine": "base"})
    removed = sim[sim["removed"] != "none"].merge(base, on=keys, how="inner")
    return removed.assign(delta=removed["cosine"] - removed["base"])


def figure5(tables: StudyTables, instruments: list[str]) -> Figure:
    """Change in similarity of LLMs to humans when removing each dimension (MFQ-2) or question (WVS)."""
    heights = []
    data = {}
    for instrument in instruments:
        deltas = removal_deltas(tables.similarity(instrument), tables.study.design.pairing)
        per_person = deltas.groupby(["participant", "nationality", "removed"], as_index=False)["delta"].mean()
        data[instrument] = grouped_mean_ci(per_person, ["removed", "nationality"], "delta")
        heights.append(max(data[instrument]["removed"].nunique(), 1))
    fig = Figure(figsize=(7.5, 0.9 + 0.22 * max(heights)), layout="constrained")
    axes = fig.subplots(1, len(instruments), squeeze=False)[0]
    for ax, instrument in zip(axes, instruments, strict=True):
        summary = data[instrument]
        levels = sorted(summary["removed"].unique(), key=_dimension_order(instrument), reverse=True)
        groups = _Countries(tables, summary["nationality"].unique())
        offsets, height = _offsets(len(groups.nationalities))
        for j, nat in enumerate(groups.nationalities):
            part = summary[summary["nationality"] == nat].set_index("removed").reindex(levels)
            y = np.arange(len(levels)) + offsets[j]
            err = [
                (part["mean"] - part["conf_low"]).to_numpy(),
                (part["conf_high"] - part["mean"]).to_numpy(),
            ]
            ax.barh(
                y, part["mean"], height=height, color=groups.colours[nat], label=f"Humans, {groups.name(nat)}"
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
