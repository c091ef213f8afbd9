"""``valuesurvey power STUDY.yaml``: power and minimum detectable effects of the study's own design."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from valuesurvey.cli._common import StudyFile, Verbose, fail, handle_errors, setup_logging

Simulations = Annotated[
    int, typer.Option("--simulations", "-n", min=1, help="Simulated studies per analysis.")
]
People = Annotated[
    str | None,
    typer.Option(
        "--people",
        help="People per nationality of the study's countries, in study order, e.g. 2800,2412 (default: the analysed people of the last analyze, "
        "else the complete people of the humans tables).",
    ),
]
Setting = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        help="Change an effect or SD of the simulation, e.g. --set interaction=0.05 --set "
        "sd_model_slope=0.03 (fields of valuesurvey.simulation.cosines.CosineTruth).",
    ),
]


def _people(text: str | None, countries: tuple[str, ...]) -> tuple[int, ...] | None:
    if text is None:
        return None
    parts = text.split(",")
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != len(countries):
        count = "two" if len(countries) == 2 else str(len(countries))
        example = ",".join(str(n) for n in (2800, 2412, 1223, 2012, 1500, 1800, 900, 1100)[: len(countries)])
        raise fail(
            f"--people must be {count} integers {','.join(countries)} (people per country in study order, "
            f"e.g. {example}), not {text!r}"
        )
    return values


def _settings(pairs: list[str] | None) -> dict[str, float]:
    changes: dict[str, float] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        try:
            changes[name.strip()] = float(value)
        except ValueError:
            raise fail(f"--set expects name=number, not {pair!r}") from None
        if not sep:
            raise fail(f"--set expects name=number, not {pair!r}")
    return changes


@handle_errors
def power(
    study_file: StudyFile,
    simulations: Simulations = 200,
    people: People = None,
    instrument: Annotated[
        str | None, typer.Option(help="Instrument whose human n to use (default: the first with data).")
    ] = None,
    analyses: Annotated[
        str | None, typer.Option(help="Comma-separated analyses: rq1, rq2 (default: those the design has).")
    ] = None,
    setting: Setting = None,
    alpha: Annotated[float, typer.Option(min=0.0001, max=0.5, help="Two-sided test level.")] = 0.05,
    target: Annotated[
        float, typer.Option(min=0.05, max=0.99, help="Power of the minimum detectable effect.")
    ] = 0.8,
    seed: Annotated[int, typer.Option(help="Seed of the first simulated study.")] = 20251123,
    out: Annotated[Path | None, typer.Option(help="Output directory (default: STUDY_DIR/power).")] = None,
    verbose: Verbose = False,
) -> None:
    """Simulate the study's design (its LLMs per origin, languages, personas, repetitions and human n)
    with stated effects and variance components, fit lm, the intercept-only and the recommended
    mixed model to each simulated study, and print power, CI coverage and the minimum detectable
    effect of the key terms per fit. Writes power.csv, power_simulations.csv, power_settings.json
    and power.png/.svg.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from valuesurvey.power import power_analysis, study_analyses, study_design, write_power
    from valuesurvey.simulation.cosines import CosineTruth
    from valuesurvey.study import load_study

    setup_logging(verbose)
    study = load_study(study_file)
    try:
        truth = CosineTruth().with_values(**_settings(setting))
    except ValueError as exc:
        raise fail(f"--set: {exc}") from None
    design, source = study_design(study, people=_people(people, study.design.codes), instrument=instrument)
    chosen = [a.strip() for a in analyses.split(",")] if analyses else study_analyses(study)
    bad = [a for a in chosen if a not in ("rq1", "rq2")]
    if bad:
        raise fail(f"--analyses: {bad[0]!r} is not rq1 or rq2")
    if "rq2" in chosen and len(design.countries) != 2:
        raise fail(
            f"--analyses: rq2 is simulated for two countries only; this study has {len(design.countries)} "
            f"({', '.join(design.countries)}): use rq1"
        )
    console = Console()
    console.print(
        f"design: {' + '.join(map(str, design.people))} people ({' + '.join(design.countries)}; {source}), "
        f"{' + '.join(map(str, design.models))} LLMs ({' + '.join(design.countries)}), "
        f"{design.repetitions} repetitions, "
        f"languages {', '.join(design.languages)}"
    )
    console.print("truth (cosine scale): " + ", ".join(f"{k}={v:g}" for k, v in asdict(truth).items()))
    columns = (
        TextColumn("simulating"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("power", total=simulations * len(chosen))
        result = power_analysis(
            truth,
            design,
            analyses=chosen,
            simulations=simulations,
            seed=seed,
            alpha=alpha,
            target=target,
            progress=lambda n: bar.advance(task, n),
        )
    table = Table(title=f"power at alpha = {alpha:g}, minimum detectable effect at {target:.0%} power")
    for name in ("analysis", "term", "fit", "truth", "power", "coverage", "mean SE", "df", "MDE"):
        table.add_column(name, justify="left" if name in ("analysis", "term", "fit") else "right")
    for row in result.table.itertuples(index=False):
        table.add_row(
            row.analysis, row.term, row.fit, f"{row.truth:g}", f"{row.power:.3f}", f"{row.coverage:.3f}",
            f"{row.mean_se:.4f}", f"{row.df:.1f}", f"{row.mde:.4f}",
        )  # fmt: skip
    console.print(table)
    out_dir = out or study.paths.root / "power"
    written = write_power(result, out_dir, footer="SIMULATED power analysis")
    console.print(
        "coverage far below 0.95 means the fit's SEs are too small and its power and MDE are not real; "
        f"wrote {len(written)} files to {out_dir}"
    )


def register(app: typer.Typer) -> None:
    """Add this command to the main app."""
    app.command("power")(power)
