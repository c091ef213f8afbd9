"""Power of a study's own design: simulate it with stated effects, fit every model, count.

``valuesurvey power STUDY.yaml`` takes the design from the study — its countries (two: the paper's
half-sum coding, RQ1 and RQ2; more: the sum coding the analysis uses, RQ1 only, every sum-coded
contrast reported; see :mod:`valuesurvey.simulation.cosines`), LLMs per origin (study.yaml models, completed by the registry; models of other origins are not
simulated), languages, personas, repetitions, and the number of people per nationality (the analysed people of the last ``analyze``, else the complete people of the humans
tables, else ``--people``) — and simulates cosine tables from :class:`CosineTruth` (effects and
variance components on the cosine scale, by-model and by-participant slopes included; see
:mod:`valuesurvey.simulation.cosines`). Each simulated study is fitted three ways (the paper's lm,
the intercept-only mixed model, the recommended mixed model with its simplification), and per key
term and fit the table reports:

* ``power`` — the share of simulations with p < alpha (for a term whose truth is 0: the
  false-positive rate);
* ``coverage`` — the share of 95% CIs that hold the truth (0.95 for a calibrated fit);
* ``mde`` — the minimum detectable effect at ``target`` power, (t_{1-alpha/2, df} + t_{target, df})
  × the fit's mean SE: what the fit *claims* it could detect; with coverage far below 0.95 the
  claim is false (lm, intercepts), so read mde only where coverage is nominal.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from valuesurvey import _io
from valuesurvey.errors import ConfigError
from valuesurvey.simulation.cosines import CosineDesign, CosineTruth, key_terms, recovery
from valuesurvey.study import Study

__all__ = ["PowerResult", "power_analysis", "power_figure", "power_table", "study_design", "write_power"]

POWER_COLUMNS = [
    "analysis", "term", "fit", "truth", "n_simulations", "power", "coverage", "mean_se", "empirical_sd",
    "df", "mde",
]  # fmt: skip


def _countries(study: Study) -> tuple[str, ...]:
    return study.design.codes


def _origins(study: Study) -> tuple[int, ...]:
    from valuesurvey.elicit.registry import resolve_model

    origins = [resolve_model(spec).origin for spec in study.models]
    return tuple(origins.count(code) for code in _countries(study))


def _people_from_study(study: Study, instrument: str | None) -> tuple[tuple[int, ...], str] | None:
    countries = _countries(study)
    flow_path = study.paths.similarity_dir / "humans_flow.csv"
    if flow_path.exists():
        flow = pd.read_csv(flow_path)
        if instrument:
            flow = flow[flow["instrument"] == instrument]
        if len(flow) and "n_analysed_rq1" in flow:
            chosen = flow["instrument"].iloc[0]
            part = flow[flow["instrument"] == chosen].set_index("nationality")["n_analysed_rq1"]
            return tuple(
                int(part.get(c, 0)) for c in countries
            ), f"analysed people of {chosen} (humans_flow.csv)"
    for candidate in [instrument] if instrument else list(study.instruments):
        path = study.paths.humans(candidate) if candidate else None
        if path is not None and path.exists():
            humans = pd.read_parquet(path)
            complete = humans.groupby("participant").filter(lambda g: g["rating"].notna().all())
            counts = complete.drop_duplicates("participant")["nationality"].value_counts()
            return tuple(
                int(counts.get(c, 0)) for c in countries
            ), f"complete people of {candidate} (humans/)"
    return None


def study_design(
    study: Study, *, people: tuple[int, ...] | None = None, instrument: str | None = None
) -> tuple[CosineDesign, str]:
    """The simulated design of a study and where its human n came from.

    Raises
    ------
    ConfigError
        No people per nationality are known (run ``analyze`` or pass ``people``), or the study lacks
        models of one origin.
    """
    countries = _countries(study)
    models = _origins(study)
    if min(models) < 2:
        listed = ", ".join(f"{c}: {n}" for c, n in zip(countries, models, strict=True))
        raise ConfigError(
            f"{study.paths.study_yaml}: power needs at least 2 models of each origin ({listed})"
        )
    if people is not None:
        source = "--people"
    else:
        found = _people_from_study(study, instrument)
        if found is None:
            raise ConfigError(
                "no human n for the power analysis: run `valuesurvey analyze` first or pass "
                f"--people {','.join(countries)}"
            )
        people, source = found
    if len(people) != len(countries):
        raise ConfigError(
            f"power needs the people of each of {len(countries)} countries ({', '.join(countries)})"
        )
    if min(people) < 2:
        listed = ", ".join(f"{c} {n}" for c, n in zip(countries, people, strict=True))
        raise ConfigError(f"power needs at least 2 people per nationality, got {listed}")
    pairing = study.design.pairing
    if any(c not in pairing for c in countries):
        unpaired = ", ".join(c for c in countries if c not in pairing)
        raise ConfigError(f"{study.paths.study_yaml}: power needs a paired prompt language for {unpaired}")
    design = CosineDesign(
        people=tuple(people),
        models=models,
        languages=study.design.languages,
        repetitions=study.repetitions,
        countries=countries,
        paired=tuple(pairing[c] for c in countries),
    )
    return design, source


def study_analyses(study: Study) -> list[str]:
    """RQ1 always; RQ2 when the study has two countries and asks both countries' personas in both
    paired languages (the k-country simulation covers RQ1 only)."""
    analyses = ["rq1"]
    if len(_countries(study)) != 2:
        return analyses
    first, second = _countries(study)
    pairing = study.design.pairing
    paired = {pairing.get(first), pairing.get(second)}
    languages_ok = len(paired - {None}) == 2 and paired <= set(study.design.languages)
    if languages_ok and {first, second} <= set(study.design.personas):
        analyses.append("rq2")
    return analyses


@dataclass(frozen=True)
class PowerResult:
    """Every fitted term of every simulation, and the summary table."""

    truth: CosineTruth
    design: CosineDesign
    results: pd.DataFrame
    table: pd.DataFrame
    alpha: float
    target: float


def power_table(results: pd.DataFrame, *, alpha: float = 0.05, target: float = 0.8) -> pd.DataFrame:
    """Per analysis × key term × fit: power, coverage, SEs and the minimum detectable effect.

    Examples
    --------
    >>> r = pd.DataFrame({"analysis": "rq1", "model": "lm", "term": "originCN", "seed": [0, 1],
    ...     "truth": 0.1, "estimate": [0.1, 0.12], "std_error": 0.02, "df": 100.0,
    ...     "p_value": [1e-6, 1e-8], "covered": [True, True]})
    >>> row = power_table(r).iloc[0]
    >>> float(row["power"]), round(float(row["mde"]), 4)
    (1.0, 0.0566)
    """
    rows = []
    for (analysis, term, fit), part in results.groupby(["analysis", "term", "model"], sort=False):
        df = float(np.median(part["df"]))
        mean_se = float(part["std_error"].mean())
        mde = (stats.t.ppf(1 - alpha / 2, df) + stats.t.ppf(target, df)) * mean_se
        rows.append(
            {
                "analysis": analysis,
                "term": term,
                "fit": fit,
                "truth": float(part["truth"].iloc[0]),
                "n_simulations": int(part["seed"].nunique()),
                "power": float((part["p_value"] < alpha).mean()),
                "coverage": float(part["covered"].mean()),
                "mean_se": mean_se,
                "empirical_sd": float(part["estimate"].std(ddof=1)) if len(part) > 1 else math.nan,
                "df": df,
                "mde": float(mde),
            }
        )
    return pd.DataFrame(rows, columns=POWER_COLUMNS)


def power_analysis(
    truth: CosineTruth,
    design: CosineDesign,
    *,
    analyses: Sequence[str] = ("rq1",),
    simulations: int = 200,
    seed: int = 20251123,
    alpha: float = 0.05,
    target: float = 0.8,
    fits: Iterable[str] = ("lm", "intercepts", "recommended"),
    progress: Callable[[int], None] | None = None,
) -> PowerResult:
    """Simulate ``simulations`` studies per analysis and fit each with every fit.

    Seeds are ``seed + i``; the same inputs give the same table.
    """
    if simulations < 1:
        raise ValueError("simulations must be at least 1")
    parts = []
    terms = key_terms(design.countries)
    for k, analysis in enumerate(analyses):
        if analysis not in terms:
            raise ValueError(f"power covers {', '.join(terms)}, not {analysis!r}")
        seeds = range(seed + 100_000 * k, seed + 100_000 * k + simulations)
        res = recovery(seeds, truth, design=design, analysis=analysis, fits=fits, progress=progress)
        parts.append(res[res["term"].isin(terms[analysis])].assign(analysis=analysis))
    results = pd.concat(parts, ignore_index=True)
    return PowerResult(
        truth, design, results, power_table(results, alpha=alpha, target=target), alpha, target
    )


def power_figure(result: PowerResult):  # -> matplotlib Figure
    """Power (left) and minimum detectable effect (right) of each key term, per fit."""
    import matplotlib.pyplot as plt

    from valuesurvey.figures._style import OKABE_ITO

    colours = {"lm": OKABE_ITO["grey"], "intercepts": OKABE_ITO["orange"], "recommended": OKABE_ITO["blue"]}
    table = result.table
    labels = [
        f"{a.upper()} {t}" for a, t in dict.fromkeys(zip(table["analysis"], table["term"], strict=True))
    ]
    fits = list(dict.fromkeys(table["fit"]))
    fig, axes = plt.subplots(1, 2, figsize=(7.5, 0.5 * len(labels) + 1.9), sharey=True)
    y = np.arange(len(labels))
    height = 0.8 / max(1, len(fits))
    for j, fit in enumerate(fits):
        part = table[table["fit"] == fit]
        key = [f"{a.upper()} {t}" for a, t in zip(part["analysis"], part["term"], strict=True)]
        pos = y[[labels.index(k) for k in key]] + (j - (len(fits) - 1) / 2) * height
        axes[0].barh(pos, part["power"], height=height, color=colours.get(fit), label=fit)
        axes[1].barh(pos, part["mde"], height=height, color=colours.get(fit))
        for p_, mde, cov in zip(pos, part["mde"], part["coverage"], strict=True):
            axes[1].text(mde, p_, f" CI coverage {cov:.2f}", va="center", fontsize=6)
    axes[0].axvline(result.target, color=OKABE_ITO["black"], linewidth=0.8, linestyle="--")
    axes[0].set_xlim(0, 1)
    axes[0].set_xlabel(f"power (share with p < {result.alpha:g})\ntruth 0: false-positive rate")
    axes[1].set_xlabel(
        f"minimum detectable effect (cosine)\nat {result.target:.0%} power; real only at coverage 0.95"
    )
    axes[1].set_xlim(0, float(table["mde"].max()) * 1.6)
    axes[0].set_yticks(y, labels)
    axes[0].invert_yaxis()
    for ax in axes:
        ax.grid(axis="x", color="#dddddd")
        ax.grid(axis="y", visible=False)
    fig.legend(
        *axes[0].get_legend_handles_labels(), loc="upper center", ncol=len(fits), bbox_to_anchor=(0.5, 0.97)
    )
    fig.suptitle(
        f"Power of the design: {' + '.join(map(str, result.design.people))} people, "
        f"{' + '.join(map(str, result.design.models))} LLMs, {result.table['n_simulations'].max()} "
        "simulations per analysis",
        fontsize=9,
        y=1.02,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    return fig


def write_power(result: PowerResult, out_dir: Path, *, footer: str | None = None) -> list[Path]:
    """``power.csv`` (summary), ``power_simulations.csv`` (every fit), ``power_settings.json`` and
    ``power.png``/``power.svg`` in ``out_dir``."""
    from valuesurvey.figures._style import figure_style, save_figure

    out_dir.mkdir(parents=True, exist_ok=True)
    written = [
        _io.write_csv(out_dir / "power.csv", result.table),
        _io.write_csv(out_dir / "power_simulations.csv", result.results),
        _io.write_json(
            out_dir / "power_settings.json",
            {
                "truth": asdict(result.truth),
                "design": asdict(result.design),
                "alpha": result.alpha,
                "target_power": result.target,
            },
        ),
    ]
    with figure_style():
        written += save_figure(power_figure(result), out_dir, "power", footer=footer)
    return written
