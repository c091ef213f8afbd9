"""``valuesurvey cache stats|prune``: the response cache shared across studies."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from valuesurvey.cli._common import Verbose, console, handle_errors, setup_logging

app = typer.Typer(
    help="The response cache shared across studies (cache: in study.yaml, or $VALUESURVEY_CACHE): a "
    "study reuses every answer it holds instead of paying for it again.",
    no_args_is_help=True,
)

CacheDir = Annotated[
    Path | None,
    typer.Option(
        "--cache",
        help="The cache directory (default: $VALUESURVEY_CACHE, or the cache: of --study).",
        file_okay=False,
    ),
]
StudyOption = Annotated[
    Path | None,
    typer.Option(
        "--study", help="Use the cache directory named by this study.yaml's cache: field.", exists=True
    ),
]
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _duration(text: str | None) -> timedelta | None:
    """``30d``, ``12h``, ``90m``, ``2w`` as a timedelta (``None`` stays ``None``)."""
    if text is None:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*", text)
    if not match:
        from valuesurvey.errors import ConfigError

        raise ConfigError(f"duration {text!r}: expected a number and a unit (m, h, d, w), e.g. 30d")
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


def _directory(cache: Path | None, study: Path | None) -> Path:
    from valuesurvey.elicit.cache import CACHE_ENV, cache_dir_for
    from valuesurvey.errors import ConfigError

    if cache is not None:
        return cache
    if study is not None:
        from valuesurvey.study import load_study

        found = cache_dir_for(load_study(study), environ={})
        if found is None:
            raise ConfigError(f"{study}: the study names no cache directory (field cache)")
        return found
    found = cache_dir_for(None)
    if found is None:
        raise ConfigError(f"no response cache: give --cache DIR or --study STUDY.yaml, or set {CACHE_ENV}")
    return found


def stats(cache: CacheDir = None, study: StudyOption = None, verbose: Verbose = False) -> None:
    """Entries, reuses, studies and sizes per provider and API model."""
    from valuesurvey.cli.elicit import _table
    from valuesurvey.elicit.cache import ResponseCache
    from valuesurvey.errors import DataError

    setup_logging(verbose)
    directory = _directory(cache, study)
    if not directory.is_dir():
        raise DataError("no such cache directory", path=directory)
    with ResponseCache.open(directory) as opened:
        frame = opened.stats()
        size = opened.file_bytes()
        total = opened.count()
    out = console()
    if len(frame):
        out.print(_table(frame, f"response cache {directory}"))
    hits = int(frame["hits"].sum()) if len(frame) else 0
    out.print(f"{total:,} entries, reused {hits:,} times, {size / 1e6:.1f} MB on disk ({opened.path})")


def prune(
    cache: CacheDir = None,
    study: StudyOption = None,
    older_than: Annotated[
        str | None, typer.Option("--older-than", help="Entries added longer ago than this (30d, 12h, 2w).")
    ] = None,
    unused_for: Annotated[
        str | None, typer.Option("--unused-for", help="Entries not reused for this long (30d, 12h, 2w).")
    ] = None,
    provider: Annotated[str | None, typer.Option("--provider", help="Only this provider's entries.")] = None,
    api_model: Annotated[
        str | None, typer.Option("--api-model", help="Only this API model's entries (e.g. deepseek-chat).")
    ] = None,
    everything: Annotated[
        bool, typer.Option("--all", help="Every entry (needed when no filter is given).")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be deleted; delete nothing.")
    ] = False,
    verbose: Verbose = False,
) -> None:
    """Delete cache entries that match every filter given (then shrink the file)."""
    from valuesurvey.elicit.cache import ResponseCache
    from valuesurvey.errors import ConfigError, DataError

    setup_logging(verbose)
    filters = (older_than, unused_for, provider, api_model)
    if all(f is None for f in filters) and not everything:
        raise ConfigError(
            "prune needs a filter (--older-than, --unused-for, --provider, --api-model) or --all"
        )
    directory = _directory(cache, study)
    if not directory.is_dir():
        raise DataError("no such cache directory", path=directory)
    with ResponseCache.open(directory) as opened:
        count = opened.prune(
            older_than=_duration(older_than),
            unused_for=_duration(unused_for),
            provider=provider,
            api_model=api_model,
            dry_run=dry_run,
        )
        left = opened.count()
    verb = "would delete" if dry_run else "deleted"
    console().print(f"{verb} {count:,} entries; {left:,} entries in {directory}")


app.command("stats")(handle_errors(stats))
app.command("prune")(handle_errors(prune))


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="cache")
