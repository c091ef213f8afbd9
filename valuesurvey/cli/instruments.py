"""``valuesurvey instruments list|show|export``: inspect the questionnaires and the prompts built from them."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console
from rich.table import Table

from valuesurvey.cli._common import handle_errors
from valuesurvey.errors import ConfigError

HASH_SHOWN = 16


class ExportFormat(StrEnum):
    csv = "csv"
    json = "json"
    yaml = "yaml"


InstrumentArg = Annotated[
    str,
    typer.Argument(
        help="An instrument id (mfq2, wvs7, ai_values) or the path of a YAML/JSON instrument file."
    ),
]
Translations = Annotated[
    list[str] | None,
    typer.Option(
        "--translation",
        "-t",
        metavar="LANG=CSV",
        help="A translation file (columns item,text) replacing one language's texts, e.g. zh=mfq2_zh.csv.",
    ),
]
Choices = Annotated[
    list[str] | None,
    typer.Option("--option", "-o", metavar="NAME=CHOICE", help="A wording option, e.g. item27=paper."),
]


def _pairs(values: list[str] | None, what: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values or []:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip() or not rest.strip():
            raise ConfigError(f"{what} {value!r}: expected NAME=VALUE")
        pairs[key.strip()] = rest.strip()
    return pairs


def _resolve(instrument: str, translations: list[str] | None, options: list[str] | None):
    from valuesurvey import instruments

    overrides = {lang: Path(path) for lang, path in _pairs(translations, "--translation").items()}
    choices = _pairs(options, "--option")
    path = Path(instrument)
    if instrument not in instruments.list_instruments() and path.suffix.lower() in {".yaml", ".yml", ".json"}:
        return instruments.load_instrument(path, overrides=overrides, options=choices)
    return instruments.get(instrument, overrides=overrides, options=choices)


def list_() -> None:
    """List the shipped instruments: kind, items, dimensions, languages and content hash."""
    from valuesurvey import instruments

    table = Table(title="valuesurvey instruments")
    for column in ("id", "kind", "items", "dimensions", "languages", "hash"):
        table.add_column(column, justify="right" if column in {"items", "dimensions"} else "left")
    for instrument_id in instruments.list_instruments():
        inst = instruments.get(instrument_id)
        table.add_row(
            inst.id,
            inst.kind,
            str(len(inst.items)),
            str(len(inst.dimensions)),
            ",".join(inst.languages),
            inst.content_hash[:HASH_SHOWN],
        )
    Console().print(table)


def show(
    instrument: InstrumentArg,
    lang: Annotated[
        str, typer.Option("--lang", "-l", help="Language of texts and prompt (a BCP-47 tag: en, zh, ...).")
    ] = "en",
    persona: Annotated[
        str,
        typer.Option(
            "--persona",
            "-p",
            help="Persona of the example prompt (rating only): none or a country (CN, DE, ...).",
        ),
    ] = "none",
    item: Annotated[
        str | None, typer.Option("--item", "-i", help="Item of the example prompt (default the first).")
    ] = None,
    translations: Translations = None,
    options: Choices = None,
) -> None:
    """Print an instrument's items in one language and an example prompt."""
    from valuesurvey import instruments

    inst = _resolve(instrument, translations, options)
    console = Console()
    language = lang
    console.print(f"[bold]{inst.name}[/bold] ({inst.id}, version {inst.version}, {inst.kind})")
    console.print(f"scale {inst.scale.min}-{inst.scale.max}; content hash {inst.content_hash}")
    if inst.selected_options:
        console.print("options: " + ", ".join(f"{k}={v}" for k, v in inst.selected_options.items()))
    if inst.operationalization:
        console.print("[yellow]This instrument is this project's operationalization, not a published one.[/]")
    if inst.rationale is not None:
        console.print(inst.rationale[language], markup=False, highlight=False)
    table = Table(show_lines=False)
    for column in ("#", "id", "dimension", "text", "provenance"):
        table.add_column(column, overflow="fold")
    for entry in inst.items:
        text = entry.text[language]
        if entry.definition is not None:
            text += f" — {entry.definition[language]}"
        table.add_row(str(entry.number), entry.id, entry.dimension, text, entry.provenance[language])
    console.print(table)
    if inst.kind == "ranking":
        messages = instruments.build_ranking_messages(inst, language)
        heading = f"example prompt ({language}, no persona)"
    else:
        item_id = item or inst.items[0].id
        messages = instruments.build_messages(inst, item_id, language, persona)
        heading = f"example prompt ({item_id}, {language}, persona {persona})"
    console.rule(heading)
    for message in messages:
        console.print(f"[bold]{message['role']}[/bold]", highlight=False)
        console.print(message["content"], markup=False, highlight=False)


def export(
    instrument: InstrumentArg,
    fmt: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="csv: one row per item; json/yaml: everything.")
    ] = ExportFormat.csv,
    out: Annotated[
        Path | None, typer.Option("--out", help="File to write (default: standard output).")
    ] = None,
    translations: Translations = None,
    options: Choices = None,
) -> None:
    """Export an instrument's items (csv) or the whole instrument with its hash (json, yaml)."""
    from valuesurvey import _io, instruments

    inst = _resolve(instrument, translations, options)
    if fmt is ExportFormat.csv:
        text = instruments.items_table(inst).to_csv(index=False)
    elif fmt is ExportFormat.json:
        text = json.dumps(instruments.instrument_record(inst), indent=2, ensure_ascii=False) + "\n"
    else:
        text = yaml.safe_dump(
            instruments.instrument_record(inst), allow_unicode=True, sort_keys=False, width=100
        )
    if out is None:
        typer.echo(text, nl=False)
        return
    _io.write_text(out, text)
    typer.echo(f"wrote {out}", err=True)


def register(app: typer.Typer) -> None:
    """Add ``instruments list|show|export`` to the main app."""
    group = typer.Typer(help="Inspect questionnaires and the prompts built from them.", no_args_is_help=True)
    group.command(name="list")(handle_errors(list_))
    group.command(name="show")(handle_errors(show))
    group.command(name="export")(handle_errors(export))
    app.add_typer(group, name="instruments")
