"""The country-level analysis of one instrument, and the stage that runs it for a study."""

from __future__ import annotations

import itertools
import logging
import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from valuesurvey.country_level._compute import (
    DISTANCE_METRICS,
    MIN_ITEMS,
    CountryEstimate,
    Levels,
    country_seed,
    estimate_country,
)
from valuesurvey.country_level._culture import CulturalDistance, fst_distance, profile_distance
from valuesurvey.country_level._inputs import (
    CountryRespondents,
    LLMConditions,
    llm_conditions,
    respondents_by_country,
)
from valuesurvey.country_level._tables import (
    COUNTRY_TABLES,
    CountryTables,
    condition_label,
    write_country_tables,
)
from valuesurvey.study import Study

__all__ = ["CountryLevelConfig", "analyze_countries", "country_level", "fit_associations"]

log = logging.getLogger(__name__)

CONF_LEVEL = 0.95
#: Fewest countries (the reference included) for a slope of similarity on cultural distance.
MIN_COUNTRIES = 3


@dataclass(frozen=True)
class CountryLevelConfig:
    """The analysis's settings (``analysis.countries`` and ``analysis.country_level`` of a study)."""

    countries: Literal["all"] | tuple[str, ...] = "all"
    reference: str = "US"
    min_n: int = 100
    weights: bool = False
    distance: Literal["fst", "profile"] = "fst"
    removals: bool = False
    n_boot: int = 1000
    seed: int = 20251123
    #: Countries estimated at once (threads); 0: one per core, at most 4.
    workers: int = 0

    @classmethod
    def from_study(cls, study: Study, instrument: str | None = None) -> CountryLevelConfig:
        """The study's settings; unless ``analysis.country_level.weights`` says otherwise, people
        are weighted when ``humans.<instrument>.weights`` names a weight column (as the RQ fits)."""
        settings = study.analysis.country_level
        weights = settings.weights
        if weights is None:
            spec = study.humans.get(instrument) if instrument is not None else None
            weights = spec is not None and spec.weighted
        return cls(
            countries=study.analysis.countries or "all",
            reference=settings.reference,
            min_n=settings.min_n,
            weights=weights,
            distance=settings.distance,
            removals=settings.removals,
            n_boot=settings.bootstrap,
            seed=study.analysis.seed,
        )


def _workers(config: CountryLevelConfig) -> int:
    return config.workers if config.workers > 0 else max(1, min(4, os.cpu_count() or 1))


def _frame(columns: tuple[str, ...], data: Mapping[str, object]) -> pd.DataFrame:
    return pd.DataFrame(data).reindex(columns=list(columns))


def _block(columns: tuple[str, ...], data: Mapping[str, object]) -> dict[str, np.ndarray]:
    """One batch of a table's rows as arrays (scalars repeated): rows are collected as arrays and
    made a DataFrame once, since building a frame per country costs more than the estimates."""
    n = max((len(v) for v in data.values() if isinstance(v, np.ndarray | list)), default=1)
    block = {}
    for column in columns:
        value = data.get(column, None)
        array = np.asarray(value) if isinstance(value, np.ndarray | list) else np.full(n, value, dtype=object)
        block[column] = array
    return block


def _assemble(blocks: list[dict[str, np.ndarray]], columns: tuple[str, ...]) -> pd.DataFrame:
    if not blocks:
        return pd.DataFrame(columns=list(columns))
    return pd.DataFrame({c: np.concatenate([b[c] for b in blocks]) for c in columns}, columns=list(columns))


class _Builder:
    """Collects one instrument's rows while the countries are estimated."""

    def __init__(self, instrument: str, items: Sequence[str], llms: LLMConditions, levels: Levels, config):
        self.instrument, self.items, self.llms, self.levels, self.config = (
            instrument,
            list(items),
            llms,
            levels,
            config,
        )
        keys = llms.keys
        self.conditions = [
            condition_label(lang, p) for lang, p in zip(keys["language"], keys["persona"], strict=True)
        ]
        self.parts: dict[str, list[dict[str, np.ndarray]]] = {stem: [] for stem in COUNTRY_TABLES}
        self.exclusions: list[dict[str, object]] = []

    def exclude(self, kind: str, reason: str, **keys: object) -> None:
        self.exclusions.append({"instrument": self.instrument, "kind": kind, "reason": reason, **keys})

    def _keys(self, index: np.ndarray) -> dict[str, object]:
        keys = self.llms.keys
        return {
            "model": keys["model"].to_numpy()[index],
            "condition": np.asarray(self.conditions, dtype=object)[index],
            "instrument": self.instrument,
            "origin": keys["origin"].to_numpy()[index],
            "language": keys["language"].to_numpy()[index],
            "persona": keys["persona"].to_numpy()[index],
        }

    def coverage(self, estimate: CountryEstimate) -> None:
        not_asked = [item for item, asked in zip(self.items, estimate.asked, strict=True) if not asked]
        n_used = int(estimate.level_n[0]) if estimate.level_n is not None else 0
        self.parts["countries_coverage"].append(
            _block(
                COUNTRY_TABLES["countries_coverage"],
                {
                    "instrument": [self.instrument],
                    "country": estimate.country,
                    "n_respondents": estimate.n_respondents,
                    "n_complete": estimate.n_complete,
                    "n_zero_variance": estimate.n_zero_variance,
                    "n": n_used,
                    "status": estimate.status,
                    "items_asked": int(estimate.asked.sum()),
                    "items_not_asked": ";".join(not_asked),
                    "reason": estimate.reason,
                },
            )
        )
        for item in not_asked:
            self.exclude(
                "item",
                "not asked in this country (no valid answer; WVS code -4)",
                country=estimate.country,
                item=item,
                n=estimate.n_respondents,
            )
        if estimate.status != "analysed":
            self.exclude(
                "country", f"{estimate.status}: {estimate.reason}", country=estimate.country, n=n_used
            )

    def similarity(self, estimate: CountryEstimate) -> None:
        for level, name in enumerate(self.levels.names):
            if not estimate.level_applicable[level]:
                removed = self.levels.removed[level]
                asked_removed = [
                    i for i, r, a in zip(self.items, removed, estimate.asked, strict=True) if r and a
                ]
                reason = (
                    f"leaves fewer than {MIN_ITEMS} of the items asked here"
                    if asked_removed
                    else "not asked here, so removing it changes nothing"
                )
                self.exclude("removal_level", reason, country=estimate.country, item=name)
                continue
            ok = estimate.llm_ok[level]
            for index in np.flatnonzero(~ok):
                self.exclude(
                    "llm_zero_variance",
                    "the LLM gave every remaining item the same mean rating",
                    country=estimate.country,
                    model=self.llms.keys["model"].iloc[index],
                    condition=self.conditions[index],
                    item=name,
                )
            index = np.flatnonzero(ok)
            self.parts["countries_similarity"].append(
                _block(
                    COUNTRY_TABLES["countries_similarity"],
                    {
                        **self._keys(index),
                        "country": estimate.country,
                        "n": int(estimate.level_n[level]),
                        "metric": "mean_cosine",
                        "estimate": estimate.cosine[level, index],
                        "conf_low": estimate.cosine_ci[0, level, index],
                        "conf_high": estimate.cosine_ci[1, level, index],
                        "removed": name,
                        "n_bootstrap": self.config.n_boot,
                        "weighted": self.config.weights,
                    },
                )
            )

    def distributions(self, estimate: CountryEstimate) -> None:
        asked = np.flatnonzero(estimate.asked)
        conditions = np.arange(len(self.llms))
        grid_c, grid_j = np.repeat(conditions, len(asked)), np.tile(asked, len(conditions))
        for metric in DISTANCE_METRICS:
            per_item = _block(
                COUNTRY_TABLES["countries_distributions"],
                {
                    **self._keys(grid_c),
                    "country": estimate.country,
                    "n": estimate.item_n[grid_j],
                    "metric": metric,
                    "estimate": estimate.distances[metric][grid_c, grid_j],
                    "conf_low": estimate.distance_ci[metric][0, grid_c, grid_j],
                    "conf_high": estimate.distance_ci[metric][1, grid_c, grid_j],
                    "item": np.asarray(self.items, dtype=object)[grid_j],
                    "llm_source": self.llms.sources[grid_c],
                    "n_llm": self.llms.n_answers[grid_c, grid_j],
                },
            )
            summary = _block(
                COUNTRY_TABLES["countries_distributions"],
                {
                    **self._keys(conditions),
                    "country": estimate.country,
                    "n": estimate.n_respondents,
                    "metric": metric,
                    "estimate": estimate.mean_distance[metric],
                    "conf_low": estimate.mean_distance_ci[metric][0],
                    "conf_high": estimate.mean_distance_ci[metric][1],
                    "item": "all",
                    "llm_source": self.llms.sources,
                    "n_llm": self.llms.n_answers[:, asked].min(axis=1),
                },
            )
            self.parts["countries_distributions"] += [summary, per_item]

    def culture(self, country: str, n: int, distance: CulturalDistance, reference: CountryEstimate) -> None:
        self.parts["countries_culture"].append(
            _block(
                COUNTRY_TABLES["countries_culture"],
                {
                    "model": ["humans"],
                    "condition": "humans",
                    "country": country,
                    "n": n,
                    "metric": self.config.distance,
                    "estimate": distance.estimate,
                    "conf_low": distance.conf_low,
                    "conf_high": distance.conf_high,
                    "instrument": self.instrument,
                    "reference": reference.country,
                    "n_reference": reference.n_respondents,
                    "n_items": distance.n_items,
                },
            )
        )

    def tables(self) -> CountryTables:
        out = {stem: _assemble(self.parts[stem], columns) for stem, columns in COUNTRY_TABLES.items()}
        out["countries_exclusions"] = pd.DataFrame(
            self.exclusions, columns=list(COUNTRY_TABLES["countries_exclusions"])
        )
        out = {name: frame.infer_objects() for name, frame in out.items()}
        return CountryTables(**{name.removeprefix("countries_"): frame for name, frame in out.items()})


def _selected(config: CountryLevelConfig, available: Sequence[str]) -> tuple[list[str], list[str]]:
    """(countries to estimate, requested countries without respondents)."""
    if config.countries == "all":
        chosen, absent = sorted(available), []
    else:
        chosen = [c for c in config.countries if c in available]
        absent = [c for c in config.countries if c not in available]
    if config.reference in available and config.reference not in chosen:
        chosen.append(config.reference)  # distances are measured from it
    return chosen, absent


def country_level(
    humans: pd.DataFrame,
    ratings: pd.DataFrame,
    *,
    instrument: str,
    items: Sequence[str],
    scale: tuple[int, int],
    removals: Mapping[str, Sequence[str]] | None = None,
    config: CountryLevelConfig = CountryLevelConfig(),
    source: object = "humans table",
) -> CountryTables:
    """The country-level analysis of one instrument (every table except the R association).

    Parameters
    ----------
    humans : DataFrame
        The humans table (participant, nationality, item, rating, weight).
    ratings : DataFrame
        ``llm_ratings.parquet``.
    instrument, items, scale
        The instrument's id, items (in order) and scale end points.
    removals : mapping, optional
        Removal level → items removed (``none`` first), used when ``config.removals``.
    config : CountryLevelConfig
    source : object
        The humans table's file, named in errors.

    Returns
    -------
    CountryTables
        similarity, distributions, culture, coverage, exclusions and settings filled; association,
        line, steps and fit empty (:func:`fit_associations` fills them).
    """
    started = time.perf_counter()
    people = respondents_by_country(humans, items, scale, source=source)
    llms = llm_conditions(ratings, items, scale, instrument=instrument)
    chosen_levels = dict(removals) if (config.removals and removals) else {"none": ()}
    levels = Levels.from_removals(items, chosen_levels)
    build = _Builder(instrument, items, llms, levels, config)
    for _, row in llms.incomplete.drop_duplicates([*llms.keys.columns, "item"]).iterrows():
        build.exclude(
            "llm_condition",
            f"no valid rating of {row['item']} ({row['reason']}): the condition is left out",
            model=row["model"],
            condition=condition_label(row["language"], row["persona"]),
            item=row["item"],
        )
    chosen, absent = _selected(config, list(people))
    for country in absent:
        build.exclude("country", "no respondents in the human data", country=country, n=0)

    def estimate(country: str) -> CountryEstimate:
        return estimate_country(
            people[country],
            llms,
            levels,
            scale=scale,
            n_boot=config.n_boot,
            seed=country_seed(config.seed, instrument, country),
            weighted=config.weights,
            min_n=config.min_n,
        )

    reference: tuple[CountryEstimate, CountryRespondents] | None = None
    first = [config.reference] if config.reference in chosen else []
    others = [c for c in chosen if c != config.reference]
    # Countries are independent: numpy releases the GIL in its loops, so threads share the cores.
    workers = _workers(config)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        later = pool.map(estimate, others) if workers > 1 else map(estimate, others)
        estimates = itertools.chain(map(estimate, first), later)
        for country, result in zip([*first, *others], estimates, strict=True):
            build.coverage(result)
            if result.status != "analysed":
                continue
            build.similarity(result)
            build.distributions(result)
            if country == config.reference:
                reference = (result, people[country])
            if reference is not None:
                distance = _distance(result, people[country], reference, config)
                build.culture(country, result.n_respondents, distance, reference[0])
            if country != config.reference:
                result.replicate_distribution = None  # free them
    if reference is None:
        why = (
            "has no respondents" if config.reference not in people else "is not estimated (see its coverage)"
        )
        build.exclude(
            "reference",
            f"the reference country {config.reference} {why}: no cultural distances",
            country=config.reference,
        )
    tables = build.tables()
    tables.settings = _frame(
        COUNTRY_TABLES["countries_settings"],
        {
            "instrument": [instrument],
            "countries": "all" if config.countries == "all" else ";".join(config.countries),
            "reference": config.reference,
            "distance": config.distance,
            "weights": config.weights,
            "min_n": config.min_n,
            "n_bootstrap": config.n_boot,
            "seed": config.seed,
            "removals": config.removals,
            "conf_level": CONF_LEVEL,
        },
    )
    log.info(
        "%s: country level, %d countries × %d LLM conditions × %d levels in %.1f s",
        instrument,
        len(chosen),
        len(llms),
        len(levels.names),
        time.perf_counter() - started,
    )
    return tables


def _distance(
    estimate: CountryEstimate,
    respondents: CountryRespondents,
    reference: tuple[CountryEstimate, CountryRespondents],
    config: CountryLevelConfig,
) -> CulturalDistance:
    if config.distance == "fst":
        return fst_distance(estimate, reference[0])
    return profile_distance(
        respondents,
        reference[1],
        estimate.asked & reference[0].asked,
        weighted=config.weights,
        n_boot=config.n_boot,
        country_seed=country_seed(config.seed, "profile", respondents.country),
        reference_seed=country_seed(config.seed, "profile", reference[1].country),
    )


def fit_associations(tables: CountryTables, *, session: object | None = None) -> CountryTables:
    """Fill the association, line, steps and fit tables: per instrument and condition, the slope of
    similarity (``removed == "none"``) on cultural distance, in R (``R/country_models.R``)."""
    sim = tables.similarity[tables.similarity["removed"] == "none"]
    parts: dict[str, list[pd.DataFrame]] = {"association": [], "line": [], "steps": [], "fit": []}
    exclusions = [tables.exclusions] if not tables.exclusions.empty else []
    for (instrument, condition), rows in sim.groupby(["instrument", "condition"], sort=False):
        culture = tables.culture[tables.culture["instrument"] == instrument][["country", "estimate"]]
        data = rows.merge(culture.rename(columns={"estimate": "distance"}), on="country")
        data = data.rename(columns={"estimate": "similarity"})
        n_countries = data["country"].nunique()
        if n_countries < MIN_COUNTRIES:
            exclusions.append(
                pd.DataFrame(
                    {
                        "instrument": [instrument],
                        "kind": "association",
                        "condition": condition,
                        "n": n_countries,
                        "reason": f"{n_countries} countries with a cultural distance; the slope needs at least "
                        f"{MIN_COUNTRIES}",
                    }
                )
            )
            continue
        fitted = _fit_r(data[["model", "country", "similarity", "distance"]], session)
        language, persona = rows["language"].iloc[0], rows["persona"].iloc[0]
        keys = {"instrument": instrument, "condition": condition, "language": language, "persona": persona}
        origins = rows.drop_duplicates("model").set_index("model")["origin"]
        tidy = fitted["tidy"]
        undefined = tidy["estimate"].isna()
        for _, row in tidy[undefined].iterrows():
            exclusions.append(
                pd.DataFrame(
                    {
                        "instrument": [instrument],
                        "kind": "association",
                        "model": row["model"],
                        "condition": condition,
                        "reason": f"{row['metric']} not defined: {row['method']}",
                    }
                )
            )
        tidy = tidy[~undefined]
        per_model = data.groupby("model")["country"].nunique()
        parts["association"].append(
            tidy.assign(
                **keys,
                country="all",
                origin=tidy["model"].map(origins).fillna("all"),
                n=tidy["model"].map(per_model).fillna(n_countries).astype(int),
            )
        )
        line = fitted["line"]
        parts["line"].append(
            line.assign(**keys, model="all", country="all", n=n_countries, metric="fitted_similarity")
        )
        parts["steps"].append(fitted["steps"].assign(instrument=instrument, condition=condition))
        parts["fit"].append(fitted["glance"].assign(instrument=instrument, condition=condition))
    for name, frames in parts.items():
        stem = CountryTables.stem(name)
        columns = list(COUNTRY_TABLES[stem])
        table = (
            pd.concat(frames, ignore_index=True).reindex(columns=columns)
            if frames
            else pd.DataFrame(columns=columns)
        )
        setattr(tables, name, table)
    if exclusions:
        tables.exclusions = pd.concat(exclusions, ignore_index=True).reindex(
            columns=list(COUNTRY_TABLES["countries_exclusions"])
        )
    return tables


def _fit_r(data: pd.DataFrame, session: object | None) -> dict[str, pd.DataFrame]:
    from valuesurvey.rbridge import get_session

    session = session or get_session()
    control = session.call("vs_country_control", conf_level=CONF_LEVEL, min_countries=MIN_COUNTRIES)
    return session.call("vs_country_association", data, control=control)


def analyze_countries(
    study: Study,
    designs: Mapping[str, object],
    humans_paths: Mapping[str, Path],
    ratings: pd.DataFrame,
) -> list[Path]:
    """The analysis stage's country level: every instrument with human data, then the R models.

    Parameters
    ----------
    study : Study
        Its ``analysis.countries`` and ``analysis.country_level`` are the settings.
    designs : mapping
        Instrument id → its :class:`valuesurvey.analysis.InstrumentDesign` (items, removal levels).
    humans_paths : mapping
        Instrument id → its humans table (``humans/<instrument>.parquet``).
    ratings : DataFrame
        ``llm_ratings.parquet``.

    Returns
    -------
    list of Path
        The ``estimates/countries_*.csv`` written.
    """
    from valuesurvey import instruments

    found = instruments.for_study(study)
    parts = []
    for instrument, path in humans_paths.items():
        if instrument not in designs:
            continue
        config = CountryLevelConfig.from_study(study, instrument)
        design, scale = designs[instrument], found[instrument].scale
        humans = pd.read_parquet(path, columns=["participant", "nationality", "item", "rating", "weight"])
        parts.append(
            country_level(
                humans,
                ratings,
                instrument=instrument,
                items=design.items,
                scale=(int(scale.min), int(scale.max)),
                removals=design.removals,
                config=config,
                source=path,
            )
        )
    tables = fit_associations(CountryTables.concat(parts) if parts else CountryTables.empty())
    return write_country_tables(study, tables)
