"""`valuesurvey doctor`: a table of every component, and the commands that fix what is missing."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from valuesurvey.doctor import Need, check_components


def doctor() -> None:
    """Check Python packages, R with lme4/lmerTest/emmeans, rpy2, llama.cpp and the local model,
    Quarto, pandoc and typst. Exits 1 when a required component is missing."""
    components = check_components()
    table = Table(title="valuesurvey doctor")
    for column in ("component", "need", "status", "version", "note"):
        table.add_column(column)
    for component in components:
        status = (
            "[green]found[/]"
            if component.found
            else ("[red]MISSING[/]" if component.need is Need.required else "[yellow]missing[/]")
        )
        table.add_row(component.name, component.need.value, status, component.version, component.note)
    console = Console(width=None if Console().is_terminal else 120)
    console.print(table)
    missing = [
        component for component in components if not component.found and component.need is not Need.optional
    ]
    for component in missing:
        console.print(f"fix {component.name}: {component.fix}")
    if any(not component.ok for component in components):
        console.print("[red]required components are missing[/]; or run: make setup")
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)
