"""``valuesurvey humans``: load and check a human data file, prepare a study's humans, write synthetic files."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from valuesurvey.cli._common import StudyFile, Verbose, handle_errors, setup_logging


class FileFormat(StrEnum):
    auto = "auto"
    sav = "sav"
    dta = "dta"
    csv = "csv"
    rds = "rds"


DataFile = Annotated[
    Path, typer.Argument(help="The human data file (.sav, .dta, .csv or .rds).", exists=True, dir_okay=False)
]
InstrumentOption = Annotated[
    str,
    typer.Option(
        "--instrument",
        "-i",
        help="Which questionnaire: wvs7, mfq2 (their own layouts), or with --items any shipped rating "
        "instrument id (mini_ipip) or instrument file.",
    ),
]
ItemsOption = Annotated[
    bool,
    typer.Option(
        "--items",
        help="The generic layout (study.yaml format: items): a country column and one column per item id.",
    ),
]
MappingOption = Annotated[
    Path | None,
    typer.Option(
        help="YAML column mapping (MFQ-2 files not in the OSF Study-2 layout).", exists=True, dir_okay=False
    ),
]
CountriesOption = Annotated[
    str,
    typer.Option(
        help="Comma-separated ISO 3166 codes (CHN,USA,TWN or CN,US,TW), or all: every country of the file."
    ),
]
FormatOption = Annotated[FileFormat, typer.Option("--format", help="File format; auto = from the suffix.")]
OutOption = Annotated[
    Path | None,
    typer.Option("--out", help="Also write the humans table to this .parquet file.", dir_okay=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the load report as JSON.")]


def humans_load(
    file: DataFile,
    instrument: InstrumentOption,
    items: ItemsOption = False,
    mapping: MappingOption = None,
    countries: CountriesOption = "CHN,USA",
    format: FormatOption = FileFormat.auto,
    out: OutOption = None,
    as_json: JsonOption = False,
    verbose: Verbose = False,
) -> None:
    """Load a human data file, validate it and print its load report."""
    from valuesurvey import _io
    from valuesurvey.errors import ConfigError
    from valuesurvey.humans import load_mfq2, load_wvs7

    setup_logging(verbose)
    if items:
        from valuesurvey import instruments
        from valuesurvey.humans import load_item_responses

        if mapping is not None:
            raise ConfigError("--mapping does not apply to --items: the columns are the item ids")
        path = Path(instrument)
        shipped = instrument in instruments.list_instruments()
        inst = (
            instruments.get(instrument) if shipped or not path.suffix else instruments.load_instrument(path)
        )
        data = load_item_responses(file, inst, countries=countries, format=format.value)
    elif instrument not in ("wvs7", "mfq2"):
        raise ConfigError(
            f"--instrument {instrument!r}: the layout-specific loaders are wvs7 and mfq2; add --items for "
            "a file with a country column and one column per item id"
        )
    elif instrument == "wvs7":
        if mapping is not None:
            raise ConfigError("--mapping applies to MFQ-2 files only; WVS-7 files use the release layout")
        data = load_wvs7(file, countries, format=format.value)
    else:
        data = load_mfq2(file, mapping=mapping, countries=countries, format=format.value)
    if out is not None:
        _io.write_parquet(out, data.table)
    if as_json:
        typer.echo(json.dumps(data.report.to_dict(), indent=2, ensure_ascii=False))
    else:
        typer.echo(data.report.format_text())
        if out is not None:
            typer.echo(f"wrote {out} ({len(data.table)} rows)")


def humans_prepare(study_file: StudyFile, verbose: Verbose = False) -> None:
    """Load every human data file named in study.yaml and write humans/<instrument>.parquet."""
    from valuesurvey.humans import prepare_study_humans
    from valuesurvey.study import load_study

    setup_logging(verbose)
    written = prepare_study_humans(load_study(study_file))
    if not written:
        typer.echo("study.yaml names no human data files (field humans)")
    for instrument, path in written.items():
        typer.echo(f"{instrument}: {path}")


def humans_synthesize(
    out: Annotated[Path, typer.Option("--out", help="Directory for the SYNTHETIC files.", file_okay=False)],
    seed: Annotated[
        int | None, typer.Option(help="Generator seed (default: the shipped files' seed).")
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Write the SYNTHETIC WVS-7 (.sav, .dta) and MFQ-2 (.csv, .sav + mapping) files."""
    from valuesurvey.humans.synthetic import DEFAULT_SEED, write_synthetic_files

    setup_logging(verbose)
    for key, path in write_synthetic_files(out, seed=DEFAULT_SEED if seed is None else seed).items():
        typer.echo(f"{key}: {path}")


def register(app: typer.Typer) -> None:
    """Add ``valuesurvey humans load|prepare|synthesize`` to the main app."""
    group = typer.Typer(
        help="Human microdata: load and validate WVS-7 and MFQ-2 files.", no_args_is_help=True
    )
    group.command("load")(handle_errors(humans_load))
    group.command("prepare")(handle_errors(humans_prepare))
    group.command("synthesize")(handle_errors(humans_synthesize))
    app.add_typer(group, name="humans")
