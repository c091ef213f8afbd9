"""Country codes for the loaders: every ISO 3166 country (see :mod:`valuesurvey.countries`)."""

from __future__ import annotations

from collections.abc import Iterable

from valuesurvey.countries import Country, lookup, parse_countries

__all__ = ["ALL", "Country", "lookup", "parse_countries", "select_countries"]

#: What a loader's ``countries`` says to keep every country of the file.
ALL = "all"


def select_countries(codes: str | Iterable[object]) -> tuple[Country, ...] | None:
    """The countries a loader keeps; ``None`` for ``"all"`` (every country in the file).

    >>> select_countries("all") is None, [c.alpha2 for c in select_countries("CHN,USA")]
    (True, ['CN', 'US'])
    """
    if isinstance(codes, str) and codes.strip().casefold() == ALL:
        return None
    return parse_countries(codes)
