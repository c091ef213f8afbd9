"""Options shared by every subcommand, and the one place errors become exit codes."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer

from valuesurvey.errors import ValuesurveyError

P = ParamSpec("P")
R = TypeVar("R")

EXIT_ERROR = 1

StudyFile = Annotated[
    Path,
    typer.Argument(
        help="The study's study.yaml (or the directory that holds it).",
        exists=True,
        dir_okay=True,
        file_okay=True,
        readable=True,
    ),
]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details to stderr.")]


def setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
        force=True,
    )


def fail(message: str, code: int = EXIT_ERROR) -> typer.Exit:
    """Print a one-line error to stderr and return the Exit to raise."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def handle_errors(fn: Callable[P, R]) -> Callable[P, R]:
    """Turn a :class:`ValuesurveyError` into a one-line message and exit code 1 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ValuesurveyError as exc:
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            raise fail("interrupted; completed work is saved, rerun the command to resume", 130) from None

    return wrapper
