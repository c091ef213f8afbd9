"""Options shared by every subcommand, and the one place errors become exit codes."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from rich.console import Console

from valuesurvey.errors import ValuesurveyError

P = ParamSpec("P")
R = TypeVar("R")

#: Exit codes: 0 success; 1 an error (bad input, a broken config, a failed stage); 3 elicitation ran
#: but requests failed or were not sent; 75 another process writes the study (try again later);
#: 128 + N a signal stopped the command (130 for Ctrl-C, 143 for SIGTERM).
EXIT_ERROR = 1
EXIT_REQUESTS_FAILED = 3
#: Width for output that does not go to a terminal: tables are printed whole, never cut to 80 columns.
UNBOUNDED_WIDTH = 10_000

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


def console(*, stderr: bool = False, quiet: bool = False) -> Console:
    """A rich console: the terminal's width on a terminal, unbounded when redirected to a file or a pipe
    (rich would otherwise cut tables to 80 columns there)."""
    probe = Console(stderr=stderr)
    width = None if probe.is_terminal else UNBOUNDED_WIDTH
    return Console(stderr=stderr, quiet=quiet, width=width)


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
    """Turn a :class:`ValuesurveyError` into a one-line message and its exit code (``exit_code`` of the
    error, else 1), without a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except ValuesurveyError as exc:
            raise fail(str(exc).replace("\n", " "), getattr(exc, "exit_code", EXIT_ERROR)) from None
        except KeyboardInterrupt:
            raise fail("interrupted; completed work is saved, rerun the command to resume", 130) from None

    return wrapper
