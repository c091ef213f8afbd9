"""The ``valuesurvey`` command: one thin subcommand per pipeline stage.

Each module in this package registers its commands on the app; the commands parse options,
call library code and return an exit code.
"""

from __future__ import annotations

import typer

from valuesurvey.cli import analyze, cache, doctor, elicit, humans, instruments, pipeline, power, report

app = typer.Typer(
    name="valuesurvey",
    help="Measure LLM values with human questionnaires, compare with human microdata, fit lme4 models, "
    "render a Quarto report.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

for module in (doctor, instruments, elicit, cache, humans, analyze, power, report, pipeline):
    module.register(app)


def main() -> None:
    app()
